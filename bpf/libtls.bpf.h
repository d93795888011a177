/* GnuTLS, NSS and stripped BoringSSL plaintext: included at the end of oisp.bpf.c (uses its maps and helpers).
 *
 * Both libraries have OpenSSL's shape at the boundary — (handle, buffer, length) in, bytes
 * transferred (or < 0) out — so only the entry differs: it records the stack, and the exit
 * programs of oisp.bpf.c (ssl_write_exit / ssl_read_exit) emit the bytes.
 *
 *   GnuTLS (libgnutls.so.30): ssize_t gnutls_record_send(gnutls_session_t, const void *, size_t)
 *                             ssize_t gnutls_record_recv(gnutls_session_t, void *, size_t)
 *   NSS (libnspr4.so):        PRInt32 PR_Write(PRFileDesc *, const void *, PRInt32)
 *                             PRInt32 PR_Read(PRFileDesc *, void *, PRInt32)
 *                             PRInt32 PR_Send(PRFileDesc *, const void *, PRInt32, PRIntn, PRIntervalTime)
 *                             PRInt32 PR_Recv(PRFileDesc *, void *, PRInt32, PRIntn, PRIntervalTime)
 *
 * NSPR's PR_Write/PR_Read serve files, pipes and plain sockets too. NSS puts its SSL layer on
 * top of the socket (SSL_ImportFD pushes an I/O layer), and a layer's methods table says
 * PR_DESC_LAYERED, where a file says PR_DESC_FILE and a plain socket PR_DESC_SOCKET_TCP. So only
 * calls on a layered descriptor are kept: PRFileDesc starts with `const PRIOMethods *methods`,
 * and PRIOMethods with `PRDescType file_type` (both public, stable NSPR ABI).
 *
 *   BoringSSL linked into a stripped executable (Chromium, Bun): int SSL_write(SSL *, const void *, int)
 *                             int SSL_read(SSL *, void *, int)
 * attached by file offset (oisp_boringssl_inspect finds the entries, oisp_bpf_attach_offsets
 * attaches); OpenSSL's signature, so only the stack recorded at the entry differs. */
#ifndef OISP_LIBTLS_BPF_H
#define OISP_LIBTLS_BPF_H

#define NSPR_PR_DESC_LAYERED 4

SEC("uprobe")
int BPF_KPROBE(gnutls_send_enter, void *session, const void *buf, size_t n) {
    return enter_stack(&write_args, (__u64)session, (__u64)buf, 0, OISP_STACK_GNUTLS);
}
SEC("uprobe")
int BPF_KPROBE(gnutls_recv_enter, void *session, void *buf, size_t n) {
    return enter_stack(&read_args, (__u64)session, (__u64)buf, 0, OISP_STACK_GNUTLS);
}

/* Whether an NSPR descriptor is a layered one (the SSL layer, or a layer above it). */
static __always_inline int nspr_layered(__u64 fd) {
    __u64 methods = 0;
    __s32 type = 0;
    if (!fd || bpf_probe_read_user(&methods, sizeof(methods), (void *)fd) != 0 || !methods) return 0;
    if (bpf_probe_read_user(&type, sizeof(type), (void *)methods) != 0) return 0;
    return type == NSPR_PR_DESC_LAYERED;
}

SEC("uprobe")
int BPF_KPROBE(nss_write_enter, void *fd, const void *buf, int n) {
    if (!nspr_layered((__u64)fd)) return 0;
    return enter_stack(&write_args, (__u64)fd, (__u64)buf, 0, OISP_STACK_NSS);
}
SEC("uprobe")
int BPF_KPROBE(nss_read_enter, void *fd, void *buf, int n) {
    if (!nspr_layered((__u64)fd)) return 0;
    return enter_stack(&read_args, (__u64)fd, (__u64)buf, 0, OISP_STACK_NSS);
}

/* void gnutls_deinit(gnutls_session_t) */
SEC("uprobe")
int BPF_KPROBE(gnutls_deinit_enter, void *session) { return emit_closed((__u64)session, OISP_STACK_GNUTLS); }

/* PRStatus PR_Close(PRFileDesc *), on the SSL layer */
SEC("uprobe")
int BPF_KPROBE(nss_close_enter, void *fd) {
    if (!nspr_layered((__u64)fd)) return 0;
    return emit_closed((__u64)fd, OISP_STACK_NSS);
}

SEC("uprobe")
int BPF_KPROBE(boringssl_write_enter, void *ssl, const void *buf, int num) {
    /* counted only when the call was recorded, and marked so on its entry: the exit, or the
     * thread's exit, takes back what was counted */
    if (enter_counted(&write_args, (__u64)ssl, (__u64)buf, 0, OISP_STACK_BORINGSSL, 1)) tls_pending_add(1);
    return 0;
}
SEC("uprobe")
int BPF_KPROBE(boringssl_read_enter, void *ssl, void *buf, int num) {
    return enter_stack(&read_args, (__u64)ssl, (__u64)buf, 0, OISP_STACK_BORINGSSL);
}

#endif
