// SPDX-License-Identifier: GPL-2.0
/* oisp-sensor kernel side: TLS plaintext at the SSL_read/SSL_write boundary (uprobes), process
 * lifecycle and connects (tracepoints). Only uprobes and tracepoints are used, so it runs on
 * kernels without kprobe or fentry support. Records go to one ring buffer with batched wake-ups. */
#include "vmlinux.h"
#include <bpf/bpf_helpers.h>
#include <bpf/bpf_tracing.h>
#include <bpf/bpf_core_read.h>
#include <bpf/bpf_endian.h>
#include "oisp.h"

char LICENSE[] SEC("license") = "GPL";

#define AF_INET 2
#define AF_INET6 10

struct {
    __uint(type, BPF_MAP_TYPE_RINGBUF);
    __uint(max_entries, 16 * 1024 * 1024);
} events SEC(".maps");

struct {
    __uint(type, BPF_MAP_TYPE_ARRAY);
    __uint(max_entries, 1);
    __type(key, __u32);
    __type(value, struct oisp_config);
} oisp_cfg SEC(".maps");

/* Index 0: ring-buffer records that could not be written (buffer full). Index 1: plaintext
 * records not sent because their connection is quiet (see quiet_conns). */
struct {
    __uint(type, BPF_MAP_TYPE_PERCPU_ARRAY);
    __uint(max_entries, 2);
    __type(key, __u32);
    __type(value, __u64);
} lost SEC(".maps");

struct ssl_args {
    __u64 ssl;
    __u64 buf;
    __u64 out_len; /* size_t* for the _ex variants, else 0 */
    __u32 stack;   /* enum oisp_stack of the library whose entry probe fired */
    __u32 iovcnt;  /* a vectored write (rustls): `buf` is an iovec array of this length */
    __u32 bound;   /* static BoringSSL: a socket send inside this call bound the socket (sock_tls) */
    __u32 counted; /* static BoringSSL: counted in tls_pending (taken back at the exit) */
};

/* In-flight SSL calls, keyed by pid_tgid (one call per thread at a time). */
struct {
    __uint(type, BPF_MAP_TYPE_HASH);
    __uint(max_entries, 16384);
    __type(key, __u64);
    __type(value, struct ssl_args);
} write_args SEC(".maps");

struct {
    __uint(type, BPF_MAP_TYPE_HASH);
    __uint(max_entries, 16384);
    __type(key, __u64);
    __type(value, struct ssl_args);
} read_args SEC(".maps");

struct connect_args {
    __s32 fd;
    __u32 pad;
    __u64 uaddr;
};

struct {
    __uint(type, BPF_MAP_TYPE_HASH);
    __uint(max_entries, 16384);
    __type(key, __u64);
    __type(value, struct connect_args);
} connect_args_map SEC(".maps");

/* Scratch space for one record (too big for the BPF stack). */
struct {
    __uint(type, BPF_MAP_TYPE_PERCPU_ARRAY);
    __uint(max_entries, 1);
    __type(key, __u32);
    __type(value, struct oisp_ssl_data);
} scratch SEC(".maps");

static __always_inline struct oisp_config *get_config(void) {
    __u32 k = 0;
    return bpf_map_lookup_elem(&oisp_cfg, &k);
}

static __always_inline int wanted(struct oisp_config *c, __u32 pid) {
    return !c->target_pid || c->target_pid == pid;
}

static __always_inline void count_lost(void) {
    __u32 k = 0;
    __u64 *v = bpf_map_lookup_elem(&lost, &k);
    if (v) *v += 1;
}

/* Submit with batched wake-ups: wake the consumer only once enough data is pending. */
static __always_inline void submit(void *data, __u64 size, struct oisp_config *c) {
    __u64 flags = BPF_RB_NO_WAKEUP;
    if (bpf_ringbuf_query(&events, BPF_RB_AVAIL_DATA) + size >= c->wakeup_bytes) flags = BPF_RB_FORCE_WAKEUP;
    if (bpf_ringbuf_output(&events, data, size, flags) != 0) count_lost();
}

static __always_inline void fill_header(struct oisp_ev_header *h, __u32 kind) {
    __u64 id = bpf_get_current_pid_tgid();
    h->kind = kind;
    h->pid = id >> 32;
    h->tid = (__u32)id;
    h->uid = (__u32)bpf_get_current_uid_gid();
    h->ts_ns = bpf_ktime_get_ns();
    bpf_get_current_comm(&h->comm, sizeof(h->comm));
}

/* Records an SSL call in flight; returns whether it did. `count`: a static BoringSSL write, counted
 * in tls_pending (and marked so on its entry) while sockets are bound at all. */
static __always_inline int enter_counted(void *map, __u64 ssl, __u64 buf, __u64 out_len, __u32 stack, int count) {
    struct oisp_config *c = get_config();
    if (!c || !c->capture_ssl) return 0;
    __u64 id = bpf_get_current_pid_tgid();
    if (!wanted(c, id >> 32)) return 0;
    struct ssl_args a = { .ssl = ssl, .buf = buf, .out_len = out_len, .stack = stack, .counted = count && c->bind_sockets };
    return bpf_map_update_elem(map, &id, &a, BPF_ANY) == 0 && a.counted;
}

static __always_inline int enter_stack(void *map, __u64 ssl, __u64 buf, __u64 out_len, __u32 stack) {
    enter_counted(map, ssl, buf, out_len, stack, 0);
    return 0;
}

/* Static BoringSSL writes in flight (entered, not yet returned) plus writes returned whose socket
 * send is still to come (`tls_binds`: static BoringSSL, rustls), node-wide: while there are none,
 * a socket send pays one array read for them (`sock_of_tls`). */
struct {
    __uint(type, BPF_MAP_TYPE_ARRAY);
    __uint(max_entries, 1);
    __type(key, __u32);
    __type(value, __u64);
} tls_pending SEC(".maps");

static __always_inline void tls_pending_add(__s64 n) {
    __u32 zero = 0;
    __u64 *v = bpf_map_lookup_elem(&tls_pending, &zero);
    if (v) __sync_fetch_and_add(v, n);
}

struct tls_bind {
    __u64 handle;
    __u64 ts_ns;
    __u64 len; /* plaintext bytes the write took: its records on the wire are no fewer */
    __u32 stack;
    __u32 pad;
};

/* A write of a library without a close probe that returned without sending (static BoringSSL on
 * a corked socket; rustls, which does no I/O), by thread: consumed by the thread's next socket
 * send (within OISP_BIND_WINDOW_NS), which binds that socket to the connection. */
struct {
    __uint(type, BPF_MAP_TYPE_HASH);
    __uint(max_entries, 16384);
    __type(key, __u64);
    __type(value, struct tls_bind);
} tls_binds SEC(".maps");

#define OISP_BIND_WINDOW_NS (20ULL * 1000 * 1000)

/* Counted in tls_pending while in the map: added here when new, taken back by the send that
 * consumes it or by the thread's exit (handle_exit). Only while sockets are bound at all. */
static __always_inline void tls_bind_later(__u64 id, __u64 handle, __u64 len, __u32 stack) {
    struct oisp_config *c = get_config();
    if (!c || !c->bind_sockets) return;
    struct tls_bind b = { .handle = handle, .ts_ns = bpf_ktime_get_ns(), .len = len, .stack = stack };
    int fresh = !bpf_map_lookup_elem(&tls_binds, &id);
    if (bpf_map_update_elem(&tls_binds, &id, &b, BPF_ANY) == 0 && fresh) tls_pending_add(1);
}

static __always_inline int enter(void *map, __u64 ssl, __u64 buf, __u64 out_len) {
    return enter_stack(map, ssl, buf, out_len, OISP_STACK_OPENSSL);
}

/* Connections user space has found to carry nothing it decodes (this process is the server side
 * of HTTP, or the protocol is not HTTP), by (tgid, handle): their plaintext is not sent, which
 * spares the ring buffer, the copy and the sensor's work on half of every loopback call. A write
 * that starts a request (the handle was reused for a client connection) ends the quiet. */
struct quiet_key {
    __u32 tgid;
    __u32 pad;
    __u64 handle;
};

struct {
    __uint(type, BPF_MAP_TYPE_LRU_HASH);
    __uint(max_entries, 16384);
    __type(key, struct quiet_key);
    __type(value, __u8);
} quiet_conns SEC(".maps");

#define WORD4(a, b, c, d) ((__u32)(a) | (__u32)(b) << 8 | (__u32)(c) << 16 | (__u32)(d) << 24)

/* The first four bytes of a request line or of HTTP/2's preface (AIDecoder's startsRequest). */
static __always_inline int starts_request(__u32 w) {
    return w == WORD4('G', 'E', 'T', ' ') || w == WORD4('P', 'O', 'S', 'T') || w == WORD4('P', 'U', 'T', ' ') ||
           w == WORD4('P', 'A', 'T', 'C') || w == WORD4('D', 'E', 'L', 'E') || w == WORD4('H', 'E', 'A', 'D') ||
           w == WORD4('O', 'P', 'T', 'I') || w == WORD4('P', 'R', 'I', ' ');
}

/* Whether this call's plaintext is kept back: the connection is quiet and this is not a write
 * that starts a request (which ends the quiet). */
static __always_inline int quiet(__u64 handle, __u64 buf, __u64 total, __u32 direction) {
    struct quiet_key k = { .tgid = bpf_get_current_pid_tgid() >> 32, .handle = handle };
    if (!bpf_map_lookup_elem(&quiet_conns, &k)) return 0;
    __u32 w = 0;
    if (direction == OISP_DIR_WRITE && total >= 4 && bpf_probe_read_user(&w, sizeof(w), (void *)buf) == 0 && starts_request(w)) {
        bpf_map_delete_elem(&quiet_conns, &k);
        return 0;
    }
    __u32 one = 1;
    __u64 *n = bpf_map_lookup_elem(&lost, &one);
    if (n) *n += 1;
    return 1;
}

/* Emits `total` bytes of plaintext at user address `buf` as oisp_ssl_data records of up to
 * OISP_CHUNK_MAX bytes each (at most max_capture_bytes, then an empty record flagged truncated).
 * Shared by every TLS stack's exit probe; `handle` identifies the connection in the process. */
static __always_inline int emit_plaintext(__u64 handle, __u64 buf, __u64 total, __u32 direction, __u32 stack,
                                          struct oisp_config *c) {
    if (total == 0 || quiet(handle, buf, total, direction)) return 0;
    struct ssl_args args = { .ssl = handle, .buf = buf }; /* the loop below reads args.ssl / args.buf */

    __u32 zero = 0;
    struct oisp_ssl_data *d = bpf_map_lookup_elem(&scratch, &zero);
    if (!d) return 0;
    fill_header(&d->h, OISP_EV_SSL_DATA);
    d->ssl = args.ssl;
    d->direction = direction;
    d->stack = stack;
    d->total_len = total > 0xffffffffULL ? 0xffffffffU : (__u32)total;
    __u64 limit = c->max_capture_bytes;
    d->flags = total > limit ? OISP_FLAG_TRUNCATED : 0;
    /* A call over the limit keeps its first bytes and its last ones: a request body's last
     * members (model, stream, tools) follow its messages in the OpenAI and Anthropic SDKs. */
    __u64 tail = 0;
    if (total > limit && total <= 0xffffffffULL) { /* offsets are 32-bit */
        tail = limit / 4;
        if (tail > (__u64)OISP_TAIL_CHUNKS * OISP_CHUNK_MAX) tail = (__u64)OISP_TAIL_CHUNKS * OISP_CHUNK_MAX;
    }
    __u64 want = total > limit ? limit - tail : total;

    for (int i = 0; i < OISP_MAX_CHUNKS; i++) {
        __u64 off = (__u64)i * OISP_CHUNK_MAX;
        if (off >= want) break;
        __u64 n = want - off;
        if (n > OISP_CHUNK_MAX) n = OISP_CHUNK_MAX;
        d->offset = (__u32)off;
        d->len = (__u32)n;
        /* Bound n for the verifier: 1..OISP_CHUNK_MAX. clang knows this already and would drop
         * the mask and check, passing a loop-carried register that older verifiers (6.1) cannot
         * bound ("R2 min value is negative"); barrier_var keeps them on the size register. */
        barrier_var(n);
        n &= (OISP_CHUNK_MAX * 2 - 1);
        if (n == 0 || n > OISP_CHUNK_MAX) break;
        if (bpf_probe_read_user(d->data, n, (void *)(args.buf + off)) != 0) {
            /* unreadable from here on: one empty record says the call's bytes from `off` to
             * `total` are left out (as the cut below does) */
            d->len = 0;
            d->flags |= OISP_FLAG_TRUNCATED;
            submit(d, offsetof(struct oisp_ssl_data, data), c);
            return 0;
        }
        submit(d, offsetof(struct oisp_ssl_data, data) + n, c);
    }
    if (want < total) {
        /* Mark the cut with an empty record carrying the truncation flag at the cut offset: the
         * call's bytes from there to total_len are left out (user space skips them in order),
         * up to the tail's first record when one follows (OISP_FLAG_TAIL). */
        d->offset = (__u32)want;
        d->len = 0;
        d->flags |= OISP_FLAG_TRUNCATED | (tail ? OISP_FLAG_TAIL : 0);
        submit(d, offsetof(struct oisp_ssl_data, data), c);
        d->flags &= ~OISP_FLAG_TAIL;
    }
    __u64 from = total - tail;
    for (int i = 0; i < OISP_TAIL_CHUNKS; i++) {
        __u64 off = from + (__u64)i * OISP_CHUNK_MAX;
        if (tail == 0 || off >= total) break;
        __u64 n = total - off;
        if (n > OISP_CHUNK_MAX) n = OISP_CHUNK_MAX;
        d->offset = (__u32)off;
        d->len = (__u32)n;
        barrier_var(n); /* as above, for older verifiers */
        n &= (OISP_CHUNK_MAX * 2 - 1);
        if (n == 0 || n > OISP_CHUNK_MAX) break;
        if (bpf_probe_read_user(d->data, n, (void *)(args.buf + off)) != 0) {
            d->len = 0;
            submit(d, offsetof(struct oisp_ssl_data, data), c);
            return 0;
        }
        submit(d, offsetof(struct oisp_ssl_data, data) + n, c);
    }
    return 0;
}

static __always_inline int leave(void *map, int ret, __u32 direction) {
    __u64 id = bpf_get_current_pid_tgid();
    struct ssl_args *a = bpf_map_lookup_elem(map, &id);
    if (!a) return 0;
    struct ssl_args args = *a;
    bpf_map_delete_elem(map, &id);
    if (args.stack == OISP_STACK_BORINGSSL && direction == OISP_DIR_WRITE) {
        /* no send inside the call (a corked socket, as Bun's: the bytes leave at its uncork): the
         * thread's next send, soon, is this connection's */
        if (!args.bound && ret > 0) tls_bind_later(id, args.ssl, (__u64)ret, OISP_STACK_BORINGSSL);
        if (args.counted) tls_pending_add(-1);
    }
    struct oisp_config *c = get_config();
    if (!c) return 0;

    __u64 total = 0;
    if (args.out_len) {
        if (ret != 1) return 0; /* _ex: 1 on success, bytes in *out_len */
        bpf_probe_read_user(&total, sizeof(total), (void *)args.out_len);
    } else {
        if (ret <= 0) return 0;
        total = (__u64)ret;
    }
    return emit_plaintext(args.ssl, args.buf, total, direction, args.stack, c);
}

SEC("uprobe")
int BPF_KPROBE(ssl_write_enter, void *ssl, const void *buf, int num) { return enter(&write_args, (__u64)ssl, (__u64)buf, 0); }
SEC("uretprobe")
int BPF_KRETPROBE(ssl_write_exit, int ret) { return leave(&write_args, ret, OISP_DIR_WRITE); }

SEC("uprobe")
int BPF_KPROBE(ssl_read_enter, void *ssl, void *buf, int num) { return enter(&read_args, (__u64)ssl, (__u64)buf, 0); }
SEC("uretprobe")
int BPF_KRETPROBE(ssl_read_exit, int ret) { return leave(&read_args, ret, OISP_DIR_READ); }

SEC("uprobe")
int BPF_KPROBE(ssl_write_ex_enter, void *ssl, const void *buf, size_t num, size_t *written) {
    return enter(&write_args, (__u64)ssl, (__u64)buf, (__u64)written);
}
SEC("uretprobe")
int BPF_KRETPROBE(ssl_write_ex_exit, int ret) { return leave(&write_args, ret, OISP_DIR_WRITE); }

/* OpenSSL 3.3+'s ssl_write_internal (SSL_write_ex2's arguments): `written` after `flags`. Exit:
 * ssl_write_ex_exit. */
SEC("uprobe")
int BPF_KPROBE(ssl_write_ex2_enter, void *ssl, const void *buf, size_t num, __u64 flags, size_t *written) {
    return enter(&write_args, (__u64)ssl, (__u64)buf, (__u64)written);
}

SEC("uprobe")
int BPF_KPROBE(ssl_read_ex_enter, void *ssl, void *buf, size_t num, size_t *readbytes) {
    return enter(&read_args, (__u64)ssl, (__u64)buf, (__u64)readbytes);
}
SEC("uretprobe")
int BPF_KRETPROBE(ssl_read_ex_exit, int ret) { return leave(&read_args, ret, OISP_DIR_READ); }

/* A connection's end, where the library says so: an empty record flagged closed, so the decoder
 * reports what the connection left open (an answer cut short by a client that hung up while its
 * process lives on) and forgets it, and the handle (an address malloc reuses) starts afresh. */
/* A record without data: a cut's marker (OISP_FLAG_TRUNCATED, `total` bytes left out) or a
 * connection's end (OISP_FLAG_CLOSED). */
static __always_inline void submit_empty(__u64 handle, __u32 direction, __u32 stack, __u64 total, __u32 flags,
                                         struct oisp_config *c) {
    __u32 zero = 0;
    struct oisp_ssl_data *d = bpf_map_lookup_elem(&scratch, &zero);
    if (!d) return;
    fill_header(&d->h, OISP_EV_SSL_DATA);
    d->ssl = handle;
    d->direction = direction;
    d->stack = stack;
    d->total_len = total > 0xffffffffULL ? 0xffffffffU : (__u32)total;
    d->offset = 0;
    d->len = 0;
    d->flags = flags;
    submit(d, offsetof(struct oisp_ssl_data, data), c);
}

static __always_inline int emit_closed(__u64 handle, __u32 stack) {
    struct oisp_config *c = get_config();
    __u64 id = bpf_get_current_pid_tgid();
    if (!c || !(stack == OISP_STACK_PLAIN ? c->capture_plain : c->capture_ssl) || !handle || !wanted(c, id >> 32)) return 0;
    struct quiet_key k = { .tgid = id >> 32, .handle = handle };
    bpf_map_delete_elem(&quiet_conns, &k);
    submit_empty(handle, OISP_DIR_WRITE, stack, 0, OISP_FLAG_CLOSED, c);
    return 0;
}

/* void SSL_free(SSL *) */
SEC("uprobe")
int BPF_KPROBE(ssl_free_enter, void *ssl) { return emit_closed((__u64)ssl, OISP_STACK_OPENSSL); }

/* Programs that do nothing: attached instead of the real ones by the benchmark, to measure the
 * kernel's own uprobe trap cost. */
SEC("uprobe")
int BPF_KPROBE(noop_enter) { return 0; }
SEC("uretprobe")
int BPF_KRETPROBE(noop_exit) { return 0; }

/* Plain HTTP to local model servers: socket syscalls on a list of ports (the connect/accept
 * handlers below feed its connection table). */
#include "plain.bpf.h"

/* rustls: each process's connections and their buffer offset (see rustls.bpf.h), here so that
 * exec and exit can forget a process's. */
#define RUSTLS_RING 64 /* a power of two */
#define RUSTLS_PROBES 8 /* slots tried from the one an address picks */
#define RUSTLS_MAX_K 65536 /* a field offset inside the connection, not the distance to another object */

struct rustls_proc {
    __u64 conn[RUSTLS_RING]; /* connections that wrote, each in the slot its address picks */
    __u64 k;                 /* buffer - connection: the candidate, then the trusted value */
    __u64 k_from;            /* the connection the candidate was seen on */
    __u64 challenger;        /* another offset seen once: replaces the candidate if seen again */
    __u64 last_rd, last_conn; /* the last buffer scanned for, and its connection (0: none) */
    __u32 trusted;           /* the candidate seen again on another connection */
    __u32 pad;
};

struct {
    __uint(type, BPF_MAP_TYPE_LRU_HASH);
    __uint(max_entries, 4096);
    __type(key, __u32); /* tgid */
    __type(value, struct rustls_proc);
} rustls_procs SEC(".maps");

/* A zeroed rustls_proc to insert from (too large for the BPF stack). Never written. */
struct {
    __uint(type, BPF_MAP_TYPE_ARRAY);
    __uint(max_entries, 1);
    __type(key, __u32);
    __type(value, struct rustls_proc);
} rustls_zero SEC(".maps");

SEC("tracepoint/sched/sched_process_exec")
int handle_exec(struct trace_event_raw_sched_process_exec *ctx) {
    __u32 me = bpf_get_current_pid_tgid() >> 32;
    bpf_map_delete_elem(&rustls_procs, &me); /* a new program in this process */
    struct oisp_config *c = get_config();
    if (!c || !c->capture_process) return 0;
    struct oisp_exec e = {};
    fill_header(&e.h, OISP_EV_EXEC);
    struct task_struct *task = (struct task_struct *)bpf_get_current_task();
    e.ppid = BPF_CORE_READ(task, real_parent, tgid);
    unsigned int off = ctx->__data_loc_filename & 0xFFFF;
    bpf_probe_read_kernel_str(e.filename, sizeof(e.filename), (void *)ctx + off);
    /* exec events always wake the consumer: it attaches to new binaries */
    if (bpf_ringbuf_output(&events, &e, sizeof(e), BPF_RB_FORCE_WAKEUP) != 0) count_lost();
    return 0;
}

SEC("tracepoint/sched/sched_process_exit")
int handle_exit(struct trace_event_raw_sched_process_template *ctx) {
    __u64 id = bpf_get_current_pid_tgid();
    /* the thread's calls that will never return and its write never sent: their counts back */
    struct ssl_args *w = bpf_map_lookup_elem(&write_args, &id);
    if (w) {
        if (w->counted) tls_pending_add(-1);
        bpf_map_delete_elem(&write_args, &id);
    }
    bpf_map_delete_elem(&read_args, &id);
    if (bpf_map_lookup_elem(&tls_binds, &id) && bpf_map_delete_elem(&tls_binds, &id) == 0) tls_pending_add(-1);
    if ((__u32)id != (id >> 32)) return 0; /* threads: only the group leader's exit */
    __u32 tgid = id >> 32;
    bpf_map_delete_elem(&rustls_procs, &tgid);
    struct oisp_config *c = get_config();
    if (!c || !c->capture_process) return 0;
    struct oisp_exit e = {};
    fill_header(&e.h, OISP_EV_EXIT);
    struct task_struct *task = (struct task_struct *)bpf_get_current_task();
    e.ppid = BPF_CORE_READ(task, real_parent, tgid);
    e.exit_code = BPF_CORE_READ(task, exit_code);
    submit(&e, sizeof(e), c);
    return 0;
}

struct accept_args {
    __u64 uaddr;
};

struct {
    __uint(type, BPF_MAP_TYPE_HASH);
    __uint(max_entries, 16384);
    __type(key, __u64);
    __type(value, struct accept_args);
} accept_args_map SEC(".maps");

SEC("tracepoint/syscalls/sys_enter_accept4")
int handle_accept_enter(struct trace_event_raw_sys_enter *ctx) {
    struct oisp_config *c = get_config();
    if (!c || !(c->capture_network || c->capture_plain)) return 0;
    __u64 id = bpf_get_current_pid_tgid();
    if (!wanted(c, id >> 32)) return 0;
    struct accept_args a = { .uaddr = (__u64)ctx->args[1] };
    /* without a peer address (uaddr 0) only the plain-HTTP table wants the new fd */
    if (!a.uaddr && !c->capture_plain) return 0;
    bpf_map_update_elem(&accept_args_map, &id, &a, BPF_ANY);
    return 0;
}

SEC("tracepoint/syscalls/sys_exit_accept4")
int handle_accept_exit(struct trace_event_raw_sys_exit *ctx) {
    __u64 id = bpf_get_current_pid_tgid();
    struct accept_args *a = bpf_map_lookup_elem(&accept_args_map, &id);
    if (!a) return 0;
    __u64 uaddr = a->uaddr;
    bpf_map_delete_elem(&accept_args_map, &id);
    struct oisp_config *c = get_config();
    if (!c || ctx->ret < 0) return 0;
    if (c->capture_plain) plain_accepted((__s32)ctx->ret);
    if (!c->capture_network || !uaddr) return 0;
    struct oisp_connect e = {};
    fill_header(&e.h, OISP_EV_ACCEPT);
    e.fd = (__s32)ctx->ret;
    e.ret = 0;
    __u16 family = 0;
    bpf_probe_read_user(&family, sizeof(family), (void *)uaddr);
    if (family == AF_INET) {
        struct sockaddr_in sa = {};
        bpf_probe_read_user(&sa, sizeof(sa), (void *)uaddr);
        e.port = __builtin_bswap16(sa.sin_port);
        __builtin_memcpy(e.addr, &sa.sin_addr, 4);
    } else if (family == AF_INET6) {
        struct sockaddr_in6 sa = {};
        bpf_probe_read_user(&sa, sizeof(sa), (void *)uaddr);
        e.port = __builtin_bswap16(sa.sin6_port);
        __builtin_memcpy(e.addr, &sa.sin6_addr, 16);
    } else {
        return 0;
    }
    e.family = family;
    submit(&e, sizeof(e), c);
    return 0;
}

SEC("tracepoint/syscalls/sys_enter_connect")
int handle_connect_enter(struct trace_event_raw_sys_enter *ctx) {
    struct oisp_config *c = get_config();
    if (!c || !(c->capture_network || c->capture_plain)) return 0;
    __u64 id = bpf_get_current_pid_tgid();
    if (!wanted(c, id >> 32)) return 0;
    struct connect_args a = { .fd = (__s32)ctx->args[0], .uaddr = (__u64)ctx->args[1] };
    bpf_map_update_elem(&connect_args_map, &id, &a, BPF_ANY);
    return 0;
}

SEC("tracepoint/syscalls/sys_exit_connect")
int handle_connect_exit(struct trace_event_raw_sys_exit *ctx) {
    __u64 id = bpf_get_current_pid_tgid();
    struct connect_args *a = bpf_map_lookup_elem(&connect_args_map, &id);
    if (!a) return 0;
    struct connect_args args = *a;
    bpf_map_delete_elem(&connect_args_map, &id);
    struct oisp_config *c = get_config();
    if (!c) return 0;
    struct oisp_connect e = {};
    fill_header(&e.h, OISP_EV_CONNECT);
    e.fd = args.fd;
    e.ret = (__s32)ctx->ret;
    __u16 family = 0;
    bpf_probe_read_user(&family, sizeof(family), (void *)args.uaddr);
    if (family == AF_INET) {
        struct sockaddr_in sa = {};
        bpf_probe_read_user(&sa, sizeof(sa), (void *)args.uaddr);
        e.port = __builtin_bswap16(sa.sin_port);
        __builtin_memcpy(e.addr, &sa.sin_addr, 4);
    } else if (family == AF_INET6) {
        struct sockaddr_in6 sa = {};
        bpf_probe_read_user(&sa, sizeof(sa), (void *)args.uaddr);
        e.port = __builtin_bswap16(sa.sin6_port);
        __builtin_memcpy(e.addr, &sa.sin6_addr, 16);
    } else {
        return 0; /* unix sockets etc. */
    }
    e.family = family;
    /* EINPROGRESS: a non-blocking connect under way */
    if (c->capture_plain && (e.ret == 0 || e.ret == -115) && plain_port(e.port)) plain_add(e.h.pid, e.fd);
    if (c->capture_network) submit(&e, sizeof(e), c);
    return 0;
}

/* Go crypto/tls: uprobes at function entry and at every RET (no uretprobes in Go). */
#include "gotls.bpf.h"
/* GnuTLS and NSS: entry probes of their own, the SSL exit programs above. */
#include "libtls.bpf.h"
/* rustls: Writer::write and Reader::read of Rust programs with symbols. */
#include "rustls.bpf.h"

#ifdef OISP_TEST_REJECTED_PROGRAM
/* Built only by the tests (-DOISP_TEST_REJECTED_PROGRAM): a program every verifier rejects (a
 * scalar used as a pointer), to prove that one rejected program is reported by `check` and that
 * `record` goes on capturing with the others. */
SEC("tracepoint/syscalls/sys_enter_getppid")
int oisp_test_rejected(void *ctx) {
    __u64 *p = (__u64 *)bpf_get_current_pid_tgid();
    return (int)*p;
}
#endif
