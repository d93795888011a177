/* rustls plaintext (Rust programs that keep their symbols): included at the end of oisp.bpf.c.
 *
 * rustls does no I/O of its own; its plaintext boundary is two Rust functions (rustls::conn):
 *   <Writer as std::io::Write>::write(&mut self, buf: &[u8]) -> io::Result<usize>
 *   <Reader as std::io::Read>::read(&mut self, buf: &mut [u8]) -> io::Result<usize>
 *   <Writer as std::io::Write>::write_vectored(&mut self, bufs: &[IoSlice]) -> io::Result<usize>
 * found by their mangled names (Sources/COISPBPF/include/oisp_rustls.h), probed at entry and
 * return. How the io::Result comes back depends on the compiler, so discovery reads it from the
 * code and attaches one of two entry programs:
 *   registers: self in rdi, buf in rsi; the result in rax (0 = Ok) and rdx (bytes)
 *   sret:      the result's slot in rdi, self in rsi, buf in rdx; the slot holds
 *              { tag (0 = Ok), bytes } when the function returns
 *
 * The connection: a Writer holds `&mut dyn PlaintextSink`, whose data pointer is the connection
 * (ConnectionCommon) itself: that address is the handle of its records, and each process keeps
 * up to RUSTLS_RING connections that wrote (a slot chosen by address). A Reader holds only `&mut ChunkVecBuffer`, the
 * received-plaintext buffer inside its connection, at an offset K fixed by the rustls version and
 * the compiler. Connection objects do not overlap, so the connection a buffer lies in is the
 * highest connection address at or below it (within RUSTLS_MAX_K), if that connection wrote (a
 * client writes its request first): a read is paired with its own connection whatever thread
 * runs it (async runtimes move tasks between threads). The first pairing gives K's candidate; a
 * later pairing at another offset is refused (a server-side connection, which never wrote, lying
 * above a client's) unless that offset comes twice, when it replaces the candidate; once a
 * second connection agrees with the candidate, K is trusted: from then on a read's
 * handle is its buffer's address minus K, for any number of connections, and the ring is no
 * longer kept. */
#ifndef OISP_RUSTLS_BPF_H
#define OISP_RUSTLS_BPF_H

static __always_inline int rustls_write(__u64 self, __u64 buf, __u64 sret, __u64 iovcnt) {
    struct oisp_config *c = get_config();
    __u64 id = bpf_get_current_pid_tgid();
    if (!c || !c->capture_ssl || !wanted(c, id >> 32)) return 0;
    __u64 conn = 0;
    if (bpf_probe_read_user(&conn, sizeof(conn), (void *)self) != 0 || !conn) return 0;
    __u32 tgid = id >> 32;
    struct rustls_proc *p = bpf_map_lookup_elem(&rustls_procs, &tgid);
    if (!p) {
        __u32 zero = 0;
        struct rustls_proc *np = bpf_map_lookup_elem(&rustls_zero, &zero);
        if (np) bpf_map_update_elem(&rustls_procs, &tgid, np, BPF_NOEXIST);
        p = bpf_map_lookup_elem(&rustls_procs, &tgid);
    }
    if (p && !p->trusted) { /* once K is trusted a read needs no ring */
        /* the slot the address picks, or one of the next few (open addressing: no shared cursor
         * to race on); when all are taken, the first is overwritten */
        __u32 h = (__u32)((conn >> 4) ^ (conn >> 13));
        int done = 0, added = 0;
        for (int i = 0; i < RUSTLS_PROBES && !done; i++) {
            __u64 *slot = &p->conn[(h + i) & (RUSTLS_RING - 1)];
            if (*slot == conn) done = 1;
            else if (*slot == 0) { *slot = conn; done = added = 1; }
        }
        if (!done) { p->conn[h & (RUSTLS_RING - 1)] = conn; added = 1; }
        if (added) p->last_rd = 0; /* a new connection: the remembered read may pair otherwise now */
    }
    struct ssl_args a = { .ssl = conn, .buf = buf, .out_len = sret, .stack = OISP_STACK_RUSTLS,
                          .iovcnt = iovcnt > OISP_MAX_IOV ? OISP_MAX_IOV : (__u32)iovcnt };
    bpf_map_update_elem(&write_args, &id, &a, BPF_ANY);
    return 0;
}

/* The ring's scan, one slot a call of bpf_loop: the verifier checks the callback once, where an
 * unrolled or bounded loop over the slots made it walk every path (seconds at load). */
struct rustls_scan {
    struct rustls_proc *p;
    __u64 rd;
    __u64 best;
};

static long rustls_scan_slot(__u32 i, void *ctx) {
    struct rustls_scan *s = ctx;
    __u64 q = s->p->conn[i & (RUSTLS_RING - 1)];
    if (q && q <= s->rd && s->rd - q < RUSTLS_MAX_K && q > s->best) s->best = q;
    return 0;
}

static __always_inline int rustls_read(__u64 self, __u64 buf, __u64 sret) {
    __u64 rd = 0;
    if (bpf_probe_read_user(&rd, sizeof(rd), (void *)self) != 0 || !rd) return 0;
    __u32 tgid = bpf_get_current_pid_tgid() >> 32;
    __u64 handle = rd; /* unpaired: a buffer of no connection that wrote */
    struct rustls_proc *p = bpf_map_lookup_elem(&rustls_procs, &tgid);
    if (p && p->trusted) {
        if (rd >= p->k) handle = rd - p->k;
    } else if (p && p->last_rd == rd) {
        /* the same buffer as the last read's, and no connection new since: the same answer
         * without a scan (a one-connection client's reads, a server's) */
        if (p->last_conn) handle = p->last_conn;
    } else if (p) {
        struct rustls_scan scan = { .p = p, .rd = rd, .best = 0 };
        bpf_loop(RUSTLS_RING, rustls_scan_slot, &scan, 0);
        __u64 best = scan.best;
        if (best) {
            __u64 cand = rd - best;
            if (!p->k) { /* the process's first pairing: K's candidate */
                p->k = cand;
                p->k_from = best;
                handle = best;
            } else if (p->k == cand) {
                handle = best;
                if (p->k_from != best) p->trusted = 1;
            } else if (p->challenger == cand) {
                /* another offset, seen twice: the candidate was the odd one (a first pairing
                 * made through a connection that had not written): it takes its place */
                p->k = cand;
                p->k_from = best;
                p->challenger = 0;
                handle = best;
            } else {
                /* another offset than the candidate's: a connection that never wrote (a
                 * server-side read) lying above one that did, or a stale entry: unpaired */
                p->challenger = cand;
            }
            if (handle == best) {
                p->last_rd = rd;
                p->last_conn = best;
            }
        } else {
            p->last_rd = rd; /* in no connection that wrote: unpaired */
            p->last_conn = 0;
        }
    }
    return enter_stack(&read_args, handle, buf, sret, OISP_STACK_RUSTLS);
}

/* The io::Result<usize> of the call that is returning: Ok's byte count, or 0. */
static __always_inline int rustls_leave(struct pt_regs *ctx, void *map, __u32 direction) {
    __u64 id = bpf_get_current_pid_tgid();
    struct ssl_args *a = bpf_map_lookup_elem(map, &id);
    if (!a) return 0;
    struct ssl_args args = *a;
    bpf_map_delete_elem(map, &id);
    if (args.stack != OISP_STACK_RUSTLS) return 0;
    struct oisp_config *c = get_config();
    if (!c) return 0;
    __u64 r[2] = {};
    if (args.out_len) { /* sret: the slot the caller passed */
        if (bpf_probe_read_user(r, sizeof(r), (void *)args.out_len) != 0) return 0;
    } else {
        r[0] = PT_REGS_RC(ctx);
        r[1] = PT_REGS_PARM3(ctx); /* rdx, the second return register */
    }
    if ((r[0] & 0xff) != 0 || r[1] == 0) return 0; /* Err, or nothing moved */
    /* rustls does no I/O: the caller sends the records this write made, next (its socket's
     * close is then the connection's end: sock_of_tls) */
    if (direction == OISP_DIR_WRITE) tls_bind_later(id, args.ssl, r[1], OISP_STACK_RUSTLS);
    if (args.iovcnt) return emit_iov(args.ssl, args.buf, args.iovcnt, r[1], direction, OISP_STACK_RUSTLS, c);
    return emit_plaintext(args.ssl, args.buf, r[1], direction, OISP_STACK_RUSTLS, c);
}

SEC("uprobe")
int BPF_KPROBE(rustls_write_enter, void *self, const void *buf) { return rustls_write((__u64)self, (__u64)buf, 0, 0); }
SEC("uprobe")
int BPF_KPROBE(rustls_write_enter_sret, void *ret, void *self, const void *buf) {
    return rustls_write((__u64)self, (__u64)buf, (__u64)ret, 0);
}
/* <Writer as Write>::write_vectored(&mut self, bufs: &[IoSlice]): a slice of iovecs (hyper writes
 * a request's head and body this way over tokio-rustls) */
SEC("uprobe")
int BPF_KPROBE(rustls_writev_enter, void *self, const void *iov, __u64 cnt) { return rustls_write((__u64)self, (__u64)iov, 0, cnt); }
SEC("uprobe")
int BPF_KPROBE(rustls_writev_enter_sret, void *ret, void *self, const void *iov, __u64 cnt) {
    return rustls_write((__u64)self, (__u64)iov, (__u64)ret, cnt);
}
SEC("uretprobe")
int BPF_KRETPROBE(rustls_write_exit) { return rustls_leave(ctx, &write_args, OISP_DIR_WRITE); }

SEC("uprobe")
int BPF_KPROBE(rustls_read_enter, void *self, void *buf) { return rustls_read((__u64)self, (__u64)buf, 0); }
SEC("uprobe")
int BPF_KPROBE(rustls_read_enter_sret, void *ret, void *self, void *buf) {
    return rustls_read((__u64)self, (__u64)buf, (__u64)ret);
}
SEC("uretprobe")
int BPF_KRETPROBE(rustls_read_exit) { return rustls_leave(ctx, &read_args, OISP_DIR_READ); }

#endif
