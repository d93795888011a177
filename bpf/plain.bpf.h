/* Plain HTTP to local model servers (Ollama, vLLM, llama.cpp, LM Studio, LiteLLM): included at
 * the end of oisp.bpf.c (uses its maps and helpers).
 *
 * Two ways in, chosen by the loader for the kernel it runs on (only one is loaded):
 * - 6.3 and later: the sock_send_length / sock_recv_length tracepoints, which fire inside every
 *   socket send and receive and nowhere else (plain_sock_send / plain_sock_recv). A TCP socket
 *   whose local or remote port is listed is emitted; any other socket costs one bitmap test, any
 *   other syscall nothing at all. Stateless: connections opened before the sensor started need no
 *   seeding.
 * - before 6.3 (6.1): raw tracepoints on every syscall's entry and exit. A TCP connection whose
 *   remote port (connect) or local port (accept4) is listed is remembered by (tgid, fd) in
 *   `plain_fds` until it is closed; reads and writes on it are emitted. For any other fd a data
 *   syscall costs one hash look-up, any other syscall one compare, and every syscall the kernel's
 *   syscall-tracepoint path (measured: most of the cost). Connections opened before the sensor
 *   started are added from user space (/proc).
 * Both emit read/write/recvfrom/sendto and the vectored readv/writev/recvmsg/sendmsg (Node's
 * fetch writes a request's head and body with one writev) like TLS plaintext, stack
 * OISP_STACK_PLAIN; a vectored call's first OISP_MAX_IOV buffers, each as its own record. */
#ifndef OISP_PLAIN_BPF_H
#define OISP_PLAIN_BPF_H

struct {
    __uint(type, BPF_MAP_TYPE_HASH);
    __uint(max_entries, 64);
    __type(key, __u16);
    __type(value, __u8);
} plain_ports SEC(".maps");

struct plain_fd_key {
    __u32 tgid;
    __s32 fd;
};

struct {
    __uint(type, BPF_MAP_TYPE_LRU_HASH);
    __uint(max_entries, 16384);
    __type(key, struct plain_fd_key);
    __type(value, __u64); /* the connection's handle in records */
} plain_fds SEC(".maps");

struct plain_call {
    __u64 handle;
    __u64 buf;  /* the buffer, or a vectored call's iovec array */
    __u64 iovcnt; /* 0: one buffer; else the iovec array's length */
};

#define OISP_MAX_IOV 8

struct oisp_user_iovec {
    __u64 base;
    __u64 len;
};

/* One buffer of a vectored call, as a function the verifier checks once (a global function: its
 * caller's loop then costs a call per buffer, not a copy of emit_plaintext's loop). */
__attribute__((noinline)) int oisp_emit_plain(__u64 handle, __u64 buf, __u64 n, __u32 direction, __u32 stack) {
    struct oisp_config *c = get_config();
    if (!c) return 0;
    return emit_plaintext(handle, buf, n, direction, stack, c);
}

/* A vectored call moved `total` bytes through the `cnt` buffers of the iovec array at `iov` (user
 * memory; a Rust `&[IoSlice]` has the same layout): each buffer's part is emitted in order, as its own record, within one max_capture_bytes
 * budget for the whole call and the first OISP_MAX_IOV buffers; what is left is marked truncated. */
static __always_inline int emit_iov(__u64 handle, __u64 iov, __u64 cnt, __u64 total, __u32 direction, __u32 stack,
                                    struct oisp_config *c) {
    __u64 budget = c->max_capture_bytes;
    for (int i = 0; i < OISP_MAX_IOV; i++) {
        if ((__u64)i >= cnt || total == 0 || budget == 0) break;
        struct oisp_user_iovec v;
        if (bpf_probe_read_user(&v, sizeof(v), (void *)(iov + (__u64)i * sizeof(v))) != 0) break;
        __u64 n = v.len < total ? v.len : total;
        __u64 take = n < budget ? n : budget;
        if (take) oisp_emit_plain(handle, v.base, take, direction, stack);
        total -= take;
        budget -= take;
    }
    if (total) { /* bytes past the budget or the last buffer read: a marker, as for a cut chunk */
        struct quiet_key k = { .tgid = bpf_get_current_pid_tgid() >> 32, .handle = handle };
        if (bpf_map_lookup_elem(&quiet_conns, &k)) return 0;
        submit_empty(handle, direction, stack, total, OISP_FLAG_TRUNCATED, c);
    }
    return 0;
}

/* A user `struct msghdr` (x86_64): its iovec array and length. */
static __always_inline void msghdr_iov(__u64 msg, __u64 *iov, __u64 *cnt) {
    __u64 f[2] = {};
    if (bpf_probe_read_user(f, sizeof(f), (void *)(msg + 16)) != 0) f[1] = 0; /* msg_iov, msg_iovlen */
    *iov = f[0];
    *cnt = f[1];
}

/* In-flight data syscalls on such fds, by pid_tgid. */
struct {
    __uint(type, BPF_MAP_TYPE_HASH);
    __uint(max_entries, 16384);
    __type(key, __u64);
    __type(value, struct plain_call);
} plain_calls SEC(".maps");

/* The socket behind `fd` in the current task, or NULL when it is not a socket. A socket's file
 * has private_data = the struct socket, whose `file` points back at it: that check tells a
 * socket from any other file without the address of socket_file_ops. */
static __always_inline struct sock *fd_sock(int fd) {
    struct task_struct *task = (struct task_struct *)bpf_get_current_task();
    struct fdtable *fdt = BPF_CORE_READ(task, files, fdt);
    if (!fdt || fd < 0) return 0;
    unsigned int max = BPF_CORE_READ(fdt, max_fds);
    if ((unsigned int)fd >= max) return 0;
    struct file **fds = BPF_CORE_READ(fdt, fd);
    struct file *f = 0;
    if (bpf_probe_read_kernel(&f, sizeof(f), &fds[fd]) != 0 || !f) return 0;
    struct socket *so = (struct socket *)BPF_CORE_READ(f, private_data);
    if (!so || BPF_CORE_READ(so, file) != f) return 0;
    return BPF_CORE_READ(so, sk);
}

static __always_inline int plain_port(__u16 port) {
    return port && bpf_map_lookup_elem(&plain_ports, &port) != 0;
}

/* Remembers (tgid, fd) as a plain-HTTP connection; the handle is unique per connection. */
static __always_inline void plain_add(__u32 tgid, __s32 fd) {
    struct plain_fd_key k = { .tgid = tgid, .fd = fd };
    __u64 handle = (bpf_ktime_get_ns() << 16) | ((__u64)fd & 0xffff);
    bpf_map_update_elem(&plain_fds, &k, &handle, BPF_ANY);
}

/* accept4 returned `fd`: kept when its local port is listed. */
static __always_inline void plain_accepted(__s32 fd) {
    struct sock *sk = fd_sock(fd);
    if (!sk) return;
    __u16 family = BPF_CORE_READ(sk, __sk_common.skc_family);
    if (family != AF_INET && family != AF_INET6) return;
    if (!plain_port(BPF_CORE_READ(sk, __sk_common.skc_num))) return;
    plain_add(bpf_get_current_pid_tgid() >> 32, fd);
}

static __always_inline int plain_exit(long ret, __u32 direction) {
    __u64 id = bpf_get_current_pid_tgid();
    struct plain_call *p = bpf_map_lookup_elem(&plain_calls, &id);
    if (!p) return 0;
    struct plain_call call = *p;
    bpf_map_delete_elem(&plain_calls, &id);
    struct oisp_config *c = get_config();
    if (!c || ret <= 0) return 0;
    if (call.iovcnt) return emit_iov(call.handle, call.buf, call.iovcnt, (__u64)ret, direction, OISP_STACK_PLAIN, c);
    return emit_plaintext(call.handle, call.buf, (__u64)ret, direction, OISP_STACK_PLAIN, c);
}

/* One raw tracepoint each on sys_enter and sys_exit, not the per-syscall tracepoints: those build a
 * perf record of the arguments before any program runs (~0.4 µs on every read and write on the
 * node, measured); a raw tracepoint hands over the registers, and every syscall but the nine
 * below returns after a few compares. x86_64 numbers and argument registers (di, si, dx). */
#define NR_read 0
#define NR_write 1
#define NR_close 3
#define NR_readv 19
#define NR_writev 20
#define NR_sendto 44
#define NR_recvfrom 45
#define NR_sendmsg 46
#define NR_recvmsg 47

static __always_inline int plain_data_nr(long nr) {
    return nr == NR_write || nr == NR_read || nr == NR_sendto || nr == NR_recvfrom || nr == NR_writev || nr == NR_readv ||
           nr == NR_sendmsg || nr == NR_recvmsg;
}

static __always_inline int plain_write_nr(long nr) {
    return nr == NR_write || nr == NR_sendto || nr == NR_writev || nr == NR_sendmsg;
}

/* A data syscall's buffer: for a vectored one its iovec array and length (*cnt > 0). */
static __always_inline __u64 plain_buffer(long nr, __u64 si, __u64 dx, __u64 *cnt) {
    *cnt = 0;
    if (nr == NR_writev || nr == NR_readv) {
        *cnt = dx;
        return dx ? si : 0;
    }
    if (nr == NR_sendmsg || nr == NR_recvmsg) {
        __u64 iov = 0;
        msghdr_iov(si, &iov, cnt);
        return *cnt ? iov : 0;
    }
    return si;
}

/* A data syscall on `fd` begins: remembered when fd is a listed connection (the buffer, or a
 * vectored call's iovec array, read at exit). */
static __always_inline int plain_enter(__s32 fd, long nr, __u64 si, __u64 dx) {
    struct oisp_config *c = get_config();
    if (!c || !c->capture_plain) return 0;
    __u64 id = bpf_get_current_pid_tgid();
    struct plain_fd_key k = { .tgid = id >> 32, .fd = fd };
    __u64 *h = bpf_map_lookup_elem(&plain_fds, &k);
    if (!h || !wanted(c, id >> 32)) return 0;
    struct plain_call call = { .handle = *h };
    call.buf = plain_buffer(nr, si, dx, &call.iovcnt);
    if (!call.buf) return 0;
    bpf_map_update_elem(&plain_calls, &id, &call, BPF_ANY);
    return 0;
}

SEC("raw_tracepoint/sys_enter")
int plain_sys_enter(struct bpf_raw_tracepoint_args *ctx) {
    long id = (long)ctx->args[1];
    if (id != NR_close && !plain_data_nr(id)) return 0;
    struct pt_regs *regs = (struct pt_regs *)ctx->args[0];
    __s32 fd = (__s32)BPF_CORE_READ(regs, di);
    if (id == NR_close) {
        struct oisp_config *c = get_config();
        if (!c || !c->capture_plain) return 0;
        struct plain_fd_key k = { .tgid = bpf_get_current_pid_tgid() >> 32, .fd = fd };
        __u64 *h = bpf_map_lookup_elem(&plain_fds, &k);
        if (!h) return 0;
        __u64 handle = *h;
        bpf_map_delete_elem(&plain_fds, &k);
        return emit_closed(handle, OISP_STACK_PLAIN); /* the connection's end: see emit_closed */
    }
    return plain_enter(fd, id, BPF_CORE_READ(regs, si), BPF_CORE_READ(regs, dx));
}

SEC("raw_tracepoint/sys_exit")
int plain_sys_exit(struct bpf_raw_tracepoint_args *ctx) {
    struct pt_regs *regs = (struct pt_regs *)ctx->args[0];
    long id = BPF_CORE_READ(regs, orig_ax);
    if (!plain_data_nr(id)) return 0;
    return plain_exit((long)ctx->args[1], plain_write_nr(id) ? OISP_DIR_WRITE : OISP_DIR_READ);
}

/* The listed ports as a bitmap (one array element: the look-up is inlined, the test one load). */
struct plain_port_bits {
    __u64 w[1024];
};

struct {
    __uint(type, BPF_MAP_TYPE_ARRAY);
    __uint(max_entries, 1);
    __type(key, __u32);
    __type(value, struct plain_port_bits);
} plain_port_set SEC(".maps");

#define OISP_MSG_PEEK 2
#define OISP_IPPROTO_TCP 6

static __always_inline int port_listed(struct plain_port_bits *b, __u16 port) {
    return (b->w[(port >> 6) & 1023] >> (port & 63)) & 1;
}

/* Connects and accepts without syscall tracepoints (6.3+; the loader attaches these with the
 * socket tracepoints): TCP's own state changes. A syscall tracepoint would put every syscall of
 * every process on the kernel's slow path while attached (measured: +85–170 ns a getppid).
 * - connect: CLOSE → SYN_SENT runs in the connecting task (tcp_v4/v6_connect): its identity and
 *   the peer are kept on the socket (socket-local storage) and emitted when the handshake ends —
 *   SYN_SENT → ESTABLISHED (ret 0) or → CLOSE (ret -sk_err: ECONNREFUSED, ETIMEDOUT, …) —
 *   before any byte of the connection can be written.
 * - accept: SYN_RECV → ESTABLISHED runs in softirq (no task): the peer is kept on the new socket
 *   and emitted by the first send or receive on it (plain_sock_*), in the process doing it (the
 *   accepting one, nearly always); a connection never read or written has no accept event.
 * Only TCP (a UDP connect, e.g. a DNS resolver's, is no network.connect). fd is -1 (unknown). A
 * connect refused before the handshake starts (no route, a cgroup connect hook) is not seen. */
#define OISP_TCP_ESTABLISHED 1
#define OISP_TCP_SYN_SENT 2
#define OISP_TCP_SYN_RECV 3
#define OISP_TCP_FIN_WAIT1 4
#define OISP_TCP_CLOSE 7
#define OISP_TCP_CLOSE_WAIT 8
#define OISP_TCP_LAST_ACK 9
#define OISP_ECANCELED 125

struct {
    __uint(type, BPF_MAP_TYPE_SK_STORAGE);
    __uint(map_flags, BPF_F_NO_PREALLOC);
    __type(key, int);
    __type(value, struct oisp_connect);
} net_pending SEC(".maps");

/* A TLS connection whose library has no close probe (static BoringSSL: Bun; rustls), on the
 * socket it writes to, so that the socket's close by the process is the connection's end. The
 * socket is the one a thread sends on inside the connection's SSL_write (a BIO that writes
 * through), or else with its next send after the write returned (a corked socket, as Bun's,
 * whose bytes leave at the uncork: one socket is corked at a time, so the thread's next send is
 * that one's; rustls, whose caller sends the records its write made, as `Stream` and
 * tokio-rustls do right after), within 20 ms, of at least the bytes the write took. A send by another thread, or later,
 * binds nothing: the idle sweep remains. A socket seen with two connections (a send that was
 * not the written one's) is left unbound for good: a wrong binding would end a live connection. */
struct tls_of_sock {
    __u64 handle;
    __u32 tgid;
    __u32 stack;
    __u32 ambiguous;
    __u32 pad;
};

struct {
    __uint(type, BPF_MAP_TYPE_SK_STORAGE);
    __uint(map_flags, BPF_F_NO_PREALLOC);
    __type(key, int);
    __type(value, struct tls_of_sock);
} sock_tls SEC(".maps");

/* Whether the send's first bytes are a TLS record's header (content type 20–23, version 3.x). */
static __always_inline int sends_tls_record(void) {
    struct pt_regs *regs = (struct pt_regs *)bpf_task_pt_regs(bpf_get_current_task_btf());
    long nr = BPF_CORE_READ(regs, orig_ax);
    if (!plain_write_nr(nr)) return 0;
    __u64 cnt = 0, buf = plain_buffer(nr, BPF_CORE_READ(regs, si), BPF_CORE_READ(regs, dx), &cnt);
    if (buf && cnt && bpf_probe_read_user(&buf, sizeof(buf), (void *)buf) != 0) return 0; /* iov[0].iov_base */
    __u8 h[2] = {};
    if (!buf || bpf_probe_read_user(h, sizeof(h), (void *)buf) != 0) return 0;
    return h[0] >= 20 && h[0] <= 23 && h[1] == 3;
}

static __always_inline void sock_of_tls(struct sock *sk, int ret) {
    __u32 zero = 0;
    __u64 *n = bpf_map_lookup_elem(&tls_pending, &zero);
    if (!n || !*n) return;
    __u64 id = bpf_get_current_pid_tgid(), handle = 0;
    __u32 stack = OISP_STACK_BORINGSSL;
    struct ssl_args *a = bpf_map_lookup_elem(&write_args, &id);
    if (a && a->stack == OISP_STACK_BORINGSSL) {
        if (ret <= 0) return;
        handle = a->ssl;
        a->bound = 1;
    } else {
        struct tls_bind *b = bpf_map_lookup_elem(&tls_binds, &id);
        if (!b) return;
        /* the thread's next send attempt takes it, sent or not (a failed one, EAGAIN, must not
         * leave it for a later send on another socket) */
        if (ret > 0 && (__u64)ret >= b->len && bpf_ktime_get_ns() - b->ts_ns <= OISP_BIND_WINDOW_NS && sends_tls_record())
            handle = b->handle;
        stack = b->stack;
        if (bpf_map_delete_elem(&tls_binds, &id) == 0) tls_pending_add(-1);
    }
    if (!handle) return;
    __u16 family = sk->__sk_common.skc_family;
    if ((family != AF_INET && family != AF_INET6) || sk->sk_protocol != OISP_IPPROTO_TCP) return;
    struct tls_of_sock *t = bpf_sk_storage_get(&sock_tls, sk, 0, BPF_SK_STORAGE_GET_F_CREATE);
    if (!t || t->ambiguous) return;
    if (t->handle && (t->handle != handle || t->tgid != id >> 32)) {
        t->handle = 0;
        t->ambiguous = 1;
        return;
    }
    t->handle = handle;
    t->tgid = id >> 32;
    t->stack = stack;
}

static __always_inline void net_peer(struct sock *sk, struct oisp_connect *e) {
    __u16 family = sk->__sk_common.skc_family;
    e->family = family;
    e->port = bpf_ntohs(sk->__sk_common.skc_dport);
    if (family == AF_INET) {
        __u32 a = sk->__sk_common.skc_daddr;
        __builtin_memcpy(e->addr, &a, 4);
    } else {
        BPF_CORE_READ_INTO(&e->addr, sk, __sk_common.skc_v6_daddr.in6_u.u6_addr8);
    }
}

SEC("tp_btf/inet_sock_set_state")
int BPF_PROG(net_sock_state, struct sock *sk, int oldstate, int newstate) {
    if (!sk || sk->sk_protocol != OISP_IPPROTO_TCP) return 0;
    __u16 family = sk->__sk_common.skc_family;
    if (family != AF_INET && family != AF_INET6) return 0;
    struct oisp_config *c = get_config();
    if (!c) return 0;
    /* A TLS connection bound to this socket (`sock_tls`), closed by its own process */
    if (sk->sk_bpf_storage && (oldstate == OISP_TCP_ESTABLISHED || oldstate == OISP_TCP_CLOSE_WAIT) &&
        (newstate == OISP_TCP_FIN_WAIT1 || newstate == OISP_TCP_CLOSE || newstate == OISP_TCP_LAST_ACK)) {
        struct tls_of_sock *t = bpf_sk_storage_get(&sock_tls, sk, 0, 0);
        if (t && t->handle && t->tgid == bpf_get_current_pid_tgid() >> 32) {
            emit_closed(t->handle, t->stack);
            t->handle = 0;
        }
    }
    /* A plain-HTTP connection this process closes (FIN, or RST over unread data): its end, in
     * the closing task (a close by the peer runs in softirq, in no task of the connection's). */
    if (c->capture_plain && (oldstate == OISP_TCP_ESTABLISHED || oldstate == OISP_TCP_CLOSE_WAIT) &&
        (newstate == OISP_TCP_FIN_WAIT1 || newstate == OISP_TCP_CLOSE || newstate == OISP_TCP_LAST_ACK)) {
        __u32 zero = 0;
        struct plain_port_bits *pb = bpf_map_lookup_elem(&plain_port_set, &zero);
        if (pb && (port_listed(pb, sk->__sk_common.skc_num) || port_listed(pb, bpf_ntohs(sk->__sk_common.skc_dport))))
            emit_closed(bpf_get_socket_cookie(sk), OISP_STACK_PLAIN);
    }
    if (!c->capture_network) return 0;
    if (newstate == OISP_TCP_SYN_SENT) { /* in the connecting task */
        if (!wanted(c, bpf_get_current_pid_tgid() >> 32)) return 0;
        struct oisp_connect *e = bpf_sk_storage_get(&net_pending, sk, 0, BPF_SK_STORAGE_GET_F_CREATE);
        if (!e) return 0;
        fill_header(&e->h, OISP_EV_CONNECT);
        e->fd = -1;
        e->ret = -115; /* EINPROGRESS until the handshake ends */
        net_peer(sk, e);
        return 0;
    }
    if (oldstate == OISP_TCP_SYN_SENT && newstate == OISP_TCP_SYN_RECV) return 0; /* simultaneous open: still ours */
    if (oldstate == OISP_TCP_SYN_SENT || (oldstate == OISP_TCP_SYN_RECV && newstate == OISP_TCP_ESTABLISHED)) {
        struct oisp_connect *p = bpf_sk_storage_get(&net_pending, sk, 0, 0);
        if (p && p->h.kind == OISP_EV_CONNECT) {
            struct oisp_connect e = *p;
            bpf_sk_storage_delete(&net_pending, sk);
            if (newstate == OISP_TCP_ESTABLISHED) {
                e.ret = 0;
            } else {
                /* the peer's or the stack's reason (ECONNREFUSED, ETIMEDOUT, …); none: the
                 * application closed the socket while it connected (a timeout of its own, the
                 * loser of a happy-eyeballs race) */
                int err = sk->sk_err;
                e.ret = -(err > 0 ? err : OISP_ECANCELED);
            }
            submit(&e, sizeof(e), c);
            return 0;
        }
        if (oldstate == OISP_TCP_SYN_SENT) return 0;
    }
    if (oldstate == OISP_TCP_SYN_RECV && newstate == OISP_TCP_ESTABLISHED) { /* softirq: no task yet */
        struct oisp_connect *e = bpf_sk_storage_get(&net_pending, sk, 0, BPF_SK_STORAGE_GET_F_CREATE);
        if (!e) return 0;
        e->h.kind = OISP_EV_ACCEPT;
        e->h.ts_ns = bpf_ktime_get_ns();
        e->fd = -1;
        e->ret = 0;
        net_peer(sk, e);
    }
    return 0;
}

/* The first send or receive on an accepted socket: its accept, in the accepting process. */
static __always_inline void net_accepted(struct sock *sk, struct oisp_config *c) {
    struct oisp_connect *p = bpf_sk_storage_get(&net_pending, sk, 0, 0);
    if (!p || p->h.kind != OISP_EV_ACCEPT) return;
    struct oisp_connect e = *p;
    bpf_sk_storage_delete(&net_pending, sk);
    if (!wanted(c, bpf_get_current_pid_tgid() >> 32)) return;
    __u64 ts = e.h.ts_ns;
    fill_header(&e.h, OISP_EV_ACCEPT);
    e.h.ts_ns = ts; /* when the connection was established */
    submit(&e, sizeof(e), c);
}

/* One socket send or receive of `ret` bytes: emitted when the socket is TCP with a listed port
 * and the call is a read/write/recvfrom/sendto (its buffer is the syscall's second argument) or
 * a readv/writev/recvmsg/sendmsg (the buffers of its iovec array). */
static __always_inline int plain_sock(struct sock *sk, int ret, int flags, __u32 direction) {
    if (!sk) return 0;
    if (sk->sk_bpf_storage) { /* only sockets with something pending (an accept to report) */
        struct oisp_config *nc = get_config();
        if (nc && nc->capture_network) net_accepted(sk, nc);
    }
    if (direction == OISP_DIR_WRITE) sock_of_tls(sk, ret);
    if (ret <= 0) return 0;
    __u32 zero = 0;
    struct plain_port_bits *pb = bpf_map_lookup_elem(&plain_port_set, &zero);
    if (!pb) return 0;
    if (!port_listed(pb, sk->__sk_common.skc_num) && !port_listed(pb, bpf_ntohs(sk->__sk_common.skc_dport))) return 0;
    __u16 family = sk->__sk_common.skc_family;
    if ((family != AF_INET && family != AF_INET6) || sk->sk_protocol != OISP_IPPROTO_TCP) return 0;
    if (direction == OISP_DIR_READ && (flags & OISP_MSG_PEEK)) return 0; /* read again later */
    struct oisp_config *c = get_config();
    if (!c || !c->capture_plain) return 0;
    if (!wanted(c, bpf_get_current_pid_tgid() >> 32)) return 0;
    struct pt_regs *regs = (struct pt_regs *)bpf_task_pt_regs(bpf_get_current_task_btf());
    long nr = BPF_CORE_READ(regs, orig_ax);
    if (!plain_data_nr(nr)) return 0;
    /* the socket's cookie names the connection: unique for the boot, never reused, not an address */
    __u64 cookie = bpf_get_socket_cookie(sk), cnt = 0;
    __u64 buf = plain_buffer(nr, BPF_CORE_READ(regs, si), BPF_CORE_READ(regs, dx), &cnt);
    if (!buf) return 0;
    if (cnt) return emit_iov(cookie, buf, cnt, (__u64)ret, direction, OISP_STACK_PLAIN, c);
    return emit_plaintext(cookie, buf, (__u64)ret, direction, OISP_STACK_PLAIN, c);
}

SEC("tp_btf/sock_send_length")
int BPF_PROG(plain_sock_send, struct sock *sk, int ret, int flags) { return plain_sock(sk, ret, flags, OISP_DIR_WRITE); }

SEC("tp_btf/sock_recv_length")
int BPF_PROG(plain_sock_recv, struct sock *sk, int ret, int flags) { return plain_sock(sk, ret, flags, OISP_DIR_READ); }

#endif
