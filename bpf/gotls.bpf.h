/* Go crypto/tls plaintext: included at the end of oisp.bpf.c (uses its maps and helpers).
 *
 * Go moves goroutine stacks, and a uretprobe's rewritten return address breaks that, so user
 * space (Sources/COISPBPF/gotls.c) finds the entry and every RET instruction of
 *   crypto/tls.(*Conn).Write(b []byte) (n int, err error)
 *   crypto/tls.(*Conn).Read(b []byte) (n int, err error)
 * and puts a plain uprobe on each. Go 1.17+ register ABI on amd64: receiver in RAX, b.ptr in
 * RBX, b.len in RCX; the result n in RAX at RET; the current goroutine (runtime.g) in R14.
 *
 * In-flight calls are keyed by (tgid, g pointer), not by pid_tgid: a goroutine blocked in Read or
 * Write is parked by the netpoller and may resume on another OS thread, so the thread that hits
 * a RET is not necessarily the one that hit the entry. The g pointer is stable for the
 * goroutine's life (stack copies move the stack, not the g), needs no version-specific struct
 * offset (unlike g.goid), and a g is only reused after its goroutine exits, which cannot happen
 * while it is inside the call. The entry probe may fire twice for one call (the prologue's stack
 * check calls runtime.morestack, then re-enters at the entry with the same arguments); the second
 * hit overwrites the first with the same values. LRU maps drop calls that never return (panics). */
#ifndef OISP_GOTLS_BPF_H
#define OISP_GOTLS_BPF_H

struct go_call_key {
    __u32 tgid;
    __u32 pad;
    __u64 g;     /* runtime.g of the calling goroutine (R14) */
};

struct go_tls_args {
    __u64 conn;  /* *tls.Conn (RAX): the connection handle in records */
    __u64 buf;   /* b's data pointer (RBX) */
    __u64 len;   /* len(b) (RCX): n is clamped to it */
};

struct {
    __uint(type, BPF_MAP_TYPE_LRU_HASH);
    __uint(max_entries, 16384);
    __type(key, struct go_call_key);
    __type(value, struct go_tls_args);
} go_read_args SEC(".maps");

/* x86_64 only: pt_regs fields read straight from the context (CO-RE field relocations through
 * vmlinux.h; the uprobe context is the user registers). */
static __always_inline int go_enter(void *map, struct pt_regs *ctx) {
    struct oisp_config *c = get_config();
    if (!c || !c->capture_ssl) return 0;
    __u64 id = bpf_get_current_pid_tgid();
    if (!wanted(c, id >> 32)) return 0;
    struct go_call_key k = { .tgid = id >> 32, .pad = 0, .g = ctx->r14 };
    if (!k.g) return 0;
    struct go_tls_args a = { .conn = ctx->ax, .buf = ctx->bx, .len = ctx->cx };
    if (!a.buf || !a.len) return 0;
    bpf_map_update_elem(map, &k, &a, BPF_ANY);
    return 0;
}

static __always_inline int go_ret(void *map, struct pt_regs *ctx, __u32 direction) {
    __u64 id = bpf_get_current_pid_tgid();
    struct go_call_key k = { .tgid = id >> 32, .pad = 0, .g = ctx->r14 };
    struct go_tls_args *a = bpf_map_lookup_elem(map, &k);
    if (!a) return 0;
    struct go_tls_args args = *a;
    bpf_map_delete_elem(map, &k);
    struct oisp_config *c = get_config();
    if (!c) return 0;
    __s64 n = (__s64)ctx->ax;
    if (n <= 0) return 0; /* error or nothing transferred */
    __u64 total = (__u64)n;
    if (total > args.len) total = args.len;
    return emit_plaintext(args.conn, args.buf, total, direction, OISP_STACK_GO, c);
}

/* Write is captured at its entry: b holds every byte the call will send (Go's Write sends all of
 * b or fails), so one probe serves where Read needs one per RET. That matters beyond the trap
 * count: a Go client exec'd after start is probed within milliseconds, and one probe attaches
 * before its first request where eight would not. */
SEC("uprobe")
int go_tls_write_enter(struct pt_regs *ctx) {
    struct oisp_config *c = get_config();
    if (!c || !c->capture_ssl) return 0;
    __u64 id = bpf_get_current_pid_tgid();
    if (!wanted(c, id >> 32)) return 0;
    __u64 buf = ctx->bx, len = ctx->cx;
    if (!buf || !len) return 0;
    return emit_plaintext(ctx->ax, buf, len, OISP_DIR_WRITE, OISP_STACK_GO, c);
}

/* (*Conn).Close(): the connection's end (receiver in RAX). The entry may fire twice (morestack,
 * see above); the second close finds nothing left to close. */
SEC("uprobe")
int go_tls_close_enter(struct pt_regs *ctx) { return emit_closed(ctx->ax, OISP_STACK_GO); }

SEC("uprobe")
int go_tls_read_enter(struct pt_regs *ctx) { return go_enter(&go_read_args, ctx); }
SEC("uprobe")
int go_tls_read_ret(struct pt_regs *ctx) { return go_ret(&go_read_args, ctx, OISP_DIR_READ); }

#endif
