/* Capture benchmark client: N × (SSL_write 1 KiB on the client, SSL_read it on the server) over
 * an in-memory BIO pair — only libssl's own work plus whatever probes are attached.
 * Prints nanoseconds per SSL call. Build: cc -O2 -o ssl_loop ssl_loop.c -lssl -lcrypto */
#include <openssl/err.h>
#include <openssl/ssl.h>
#include <stdio.h>
#include <stdlib.h>
#include <time.h>

static EVP_PKEY *make_key(void) { return EVP_RSA_gen(2048); }

static X509 *make_cert(EVP_PKEY *k) {
    X509 *x = X509_new();
    ASN1_INTEGER_set(X509_get_serialNumber(x), 1);
    X509_gmtime_adj(X509_getm_notBefore(x), 0);
    X509_gmtime_adj(X509_getm_notAfter(x), 3600);
    X509_set_pubkey(x, k);
    X509_NAME_add_entry_by_txt(X509_get_subject_name(x), "CN", MBSTRING_ASC, (const unsigned char *)"bench", -1, -1, 0);
    X509_set_issuer_name(x, X509_get_subject_name(x));
    X509_sign(x, k, EVP_sha256());
    return x;
}

#include "http_request.h"

int main(int argc, char **argv) {
    int n = argc > 1 ? atoi(argv[1]) : 100000;
    EVP_PKEY *k = make_key();
    X509 *cert = make_cert(k);
    SSL_CTX *sc = SSL_CTX_new(TLS_server_method()), *cc = SSL_CTX_new(TLS_client_method());
    SSL_CTX_use_certificate(sc, cert);
    SSL_CTX_use_PrivateKey(sc, k);
    SSL *s = SSL_new(sc), *c = SSL_new(cc);
    BIO *b1, *b2;
    BIO_new_bio_pair(&b1, 1 << 20, &b2, 1 << 20);
    SSL_set_bio(c, b1, b1);
    SSL_set_bio(s, b2, b2);
    SSL_set_connect_state(c);
    SSL_set_accept_state(s);
    for (int i = 0; i < 100 && (!SSL_is_init_finished(c) || !SSL_is_init_finished(s)); i++) { SSL_do_handshake(c); SSL_do_handshake(s); }
    char buf[1024], in[1024];
    http_request(buf, sizeof buf);
    struct timespec t0, t1;
    clock_gettime(CLOCK_MONOTONIC, &t0);
    for (int i = 0; i < n; i++) {
        if (SSL_write(c, buf, sizeof buf) != sizeof buf) { fprintf(stderr, "write failed\n"); return 1; }
        int got = 0;
        while (got < (int)sizeof buf) { int r = SSL_read(s, in + got, sizeof in - got); if (r <= 0) { fprintf(stderr, "read failed\n"); return 1; } got += r; }
    }
    clock_gettime(CLOCK_MONOTONIC, &t1);
    double ns = (t1.tv_sec - t0.tv_sec) * 1e9 + (t1.tv_nsec - t0.tv_nsec);
    printf("%.1f\n", ns / (2.0 * n)); /* per SSL call (one write + one read per iteration) */
    return 0;
}
