/* Plain HTTP to local model servers (Ollama, vLLM, llama.cpp, LM Studio, LiteLLM): included at
 * the end of oisp.bpf.c (uses its maps and helpers).
 *
 * A TCP connection whose remote port (connect) or local port (accept4) is in `plain_ports` is
 * remembered by (tgid, fd) in `plain_fds` until it is closed; reads and writes on it
 * (read/write/recvfrom/sendto) are emitted like TLS plaintext, stack OISP_STACK_PLAIN. For any
 * other fd a data syscall costs one hash look-up in the kernel and nothing in user space; any
 * other syscall, one compare.
 * Connections opened before the sensor started are added from user space (/proc). */
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
    __u64 buf;
};

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

static __always_inline int plain_enter(__s32 fd, __u64 buf) {
    struct oisp_config *c = get_config();
    if (!c || !c->capture_plain) return 0;
    __u64 id = bpf_get_current_pid_tgid();
    struct plain_fd_key k = { .tgid = id >> 32, .fd = fd };
    __u64 *h = bpf_map_lookup_elem(&plain_fds, &k);
    if (!h || !wanted(c, id >> 32)) return 0;
    struct plain_call call = { .handle = *h, .buf = buf };
    bpf_map_update_elem(&plain_calls, &id, &call, BPF_ANY);
    return 0;
}

static __always_inline int plain_exit(long ret, __u32 direction) {
    __u64 id = bpf_get_current_pid_tgid();
    struct plain_call *p = bpf_map_lookup_elem(&plain_calls, &id);
    if (!p) return 0;
    struct plain_call call = *p;
    bpf_map_delete_elem(&plain_calls, &id);
    struct oisp_config *c = get_config();
    if (!c || ret <= 0) return 0;
    return emit_plaintext(call.handle, call.buf, (__u64)ret, direction, OISP_STACK_PLAIN, c);
}

/* One raw tracepoint each on sys_enter and sys_exit, not the per-syscall tracepoints: those build a
 * perf record of the arguments before any program runs (~0.4 µs on every read and write on the
 * node, measured); a raw tracepoint hands over the registers, and every syscall but the five
 * below returns after one compare. x86_64 numbers and argument registers (di, si, dx). */
#define NR_read 0
#define NR_write 1
#define NR_close 3
#define NR_sendto 44
#define NR_recvfrom 45

SEC("raw_tracepoint/sys_enter")
int plain_sys_enter(struct bpf_raw_tracepoint_args *ctx) {
    long id = (long)ctx->args[1];
    if (id != NR_write && id != NR_read && id != NR_sendto && id != NR_recvfrom && id != NR_close) return 0;
    struct pt_regs *regs = (struct pt_regs *)ctx->args[0];
    __s32 fd = (__s32)BPF_CORE_READ(regs, di);
    if (id == NR_close) {
        struct oisp_config *c = get_config();
        if (!c || !c->capture_plain) return 0;
        struct plain_fd_key k = { .tgid = bpf_get_current_pid_tgid() >> 32, .fd = fd };
        bpf_map_delete_elem(&plain_fds, &k);
        return 0;
    }
    return plain_enter(fd, BPF_CORE_READ(regs, si));
}

SEC("raw_tracepoint/sys_exit")
int plain_sys_exit(struct bpf_raw_tracepoint_args *ctx) {
    struct pt_regs *regs = (struct pt_regs *)ctx->args[0];
    long id = BPF_CORE_READ(regs, orig_ax);
    if (id != NR_write && id != NR_read && id != NR_sendto && id != NR_recvfrom) return 0;
    return plain_exit((long)ctx->args[1], id == NR_write || id == NR_sendto ? OISP_DIR_WRITE : OISP_DIR_READ);
}

#endif
