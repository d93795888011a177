/* Capture benchmark client for GnuTLS: N × (gnutls_record_send 1 KiB on the client,
 * gnutls_record_recv it on the server) over an in-memory transport (push/pull callbacks, no
 * syscalls) after a TLS handshake with a self-signed ECDSA certificate made at start — only
 * libgnutls's own work plus whatever probes are attached. Prints nanoseconds per record call.
 * Build: cc -O2 -o gnutls_loop gnutls_loop.c -lgnutls */
#include <errno.h>
#include <gnutls/gnutls.h>
#include <gnutls/x509.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/types.h>
#include <time.h>

typedef struct { unsigned char data[1 << 20]; size_t r, w; } pipe_t;
static pipe_t c2s, s2c;
typedef struct { gnutls_session_t self; pipe_t *out, *in; } end_t;

static ssize_t push(gnutls_transport_ptr_t p, const void *d, size_t n) {
    end_t *e = p;
    if (e->out->r == e->out->w) e->out->r = e->out->w = 0;
    if (n > sizeof e->out->data - e->out->w) { gnutls_transport_set_errno(e->self, EAGAIN); return -1; }
    memcpy(e->out->data + e->out->w, d, n);
    e->out->w += n;
    return (ssize_t)n;
}

static ssize_t pull(gnutls_transport_ptr_t p, void *d, size_t n) {
    end_t *e = p;
    size_t have = e->in->w - e->in->r;
    if (have == 0) { gnutls_transport_set_errno(e->self, EAGAIN); return -1; }
    if (n > have) n = have;
    memcpy(d, e->in->data + e->in->r, n);
    e->in->r += n;
    return (ssize_t)n;
}

#define CHECK(x) do { int r_ = (x); if (r_ < 0) { fprintf(stderr, "%s: %s\n", #x, gnutls_strerror(r_)); return 1; } } while (0)

#include "http_request.h"

int main(int argc, char **argv) {
    int n = argc > 1 ? atoi(argv[1]) : 100000;
    gnutls_x509_privkey_t key;
    gnutls_x509_crt_t crt;
    CHECK(gnutls_global_init());
    CHECK(gnutls_x509_privkey_init(&key));
    CHECK(gnutls_x509_privkey_generate(key, GNUTLS_PK_ECDSA, GNUTLS_CURVE_TO_BITS(GNUTLS_ECC_CURVE_SECP256R1), 0));
    CHECK(gnutls_x509_crt_init(&crt));
    CHECK(gnutls_x509_crt_set_version(crt, 3));
    CHECK(gnutls_x509_crt_set_serial(crt, "\x01", 1));
    CHECK(gnutls_x509_crt_set_activation_time(crt, time(NULL) - 60));
    CHECK(gnutls_x509_crt_set_expiration_time(crt, time(NULL) + 3600));
    CHECK(gnutls_x509_crt_set_dn_by_oid(crt, GNUTLS_OID_X520_COMMON_NAME, 0, "bench", 5));
    CHECK(gnutls_x509_crt_set_key(crt, key));
    CHECK(gnutls_x509_crt_sign2(crt, crt, key, GNUTLS_DIG_SHA256, 0));
    gnutls_certificate_credentials_t sc, cc;
    CHECK(gnutls_certificate_allocate_credentials(&sc));
    CHECK(gnutls_certificate_allocate_credentials(&cc));
    CHECK(gnutls_certificate_set_x509_key(sc, &crt, 1, key));
    gnutls_session_t s, c; /* the client does not verify (no gnutls_session_set_verify_cert) */
    CHECK(gnutls_init(&s, GNUTLS_SERVER | GNUTLS_NONBLOCK));
    CHECK(gnutls_init(&c, GNUTLS_CLIENT | GNUTLS_NONBLOCK));
    CHECK(gnutls_set_default_priority(s));
    CHECK(gnutls_set_default_priority(c));
    CHECK(gnutls_credentials_set(s, GNUTLS_CRD_CERTIFICATE, sc));
    CHECK(gnutls_credentials_set(c, GNUTLS_CRD_CERTIFICATE, cc));
    end_t se = { s, &s2c, &c2s }, ce = { c, &c2s, &s2c };
    gnutls_transport_set_ptr(s, &se);
    gnutls_transport_set_ptr(c, &ce);
    gnutls_transport_set_push_function(s, push);
    gnutls_transport_set_push_function(c, push);
    gnutls_transport_set_pull_function(s, pull);
    gnutls_transport_set_pull_function(c, pull);
    int cdone = 0, sdone = 0;
    for (int i = 0; i < 100 && !(cdone && sdone); i++) {
        if (!cdone) { int r = gnutls_handshake(c); if (r == 0) cdone = 1; else if (gnutls_error_is_fatal(r)) { fprintf(stderr, "client handshake: %s\n", gnutls_strerror(r)); return 1; } }
        if (!sdone) { int r = gnutls_handshake(s); if (r == 0) sdone = 1; else if (gnutls_error_is_fatal(r)) { fprintf(stderr, "server handshake: %s\n", gnutls_strerror(r)); return 1; } }
    }
    if (!(cdone && sdone)) { fprintf(stderr, "handshake did not finish\n"); return 1; }
    char buf[1024], in[1024];
    http_request(buf, sizeof buf);
    struct timespec t0, t1;
    clock_gettime(CLOCK_MONOTONIC, &t0);
    for (int i = 0; i < n; i++) {
        if (gnutls_record_send(c, buf, sizeof buf) != (ssize_t)sizeof buf) { fprintf(stderr, "send failed\n"); return 1; }
        size_t got = 0;
        while (got < sizeof in) {
            ssize_t r = gnutls_record_recv(s, in + got, sizeof in - got);
            if (r <= 0) { fprintf(stderr, "recv failed: %s\n", gnutls_strerror((int)r)); return 1; }
            got += (size_t)r;
        }
    }
    clock_gettime(CLOCK_MONOTONIC, &t1);
    double ns = (t1.tv_sec - t0.tv_sec) * 1e9 + (t1.tv_nsec - t0.tv_nsec);
    printf("%.1f\n", ns / (2.0 * n)); /* per record call (one send + one recv per iteration) */
    return 0;
}
