/* Test peer: an HTTPS client on OpenSSL, built here against Debian's static libssl.a/libcrypto.a
 * and then stripped: the shape of a program that vendors OpenSSL (a Rust CLI with openssl-sys's
 * `vendored` feature, a C++ agent) and ships without symbols. POSTs a JSON body to
 * https://127.0.0.1:PORT/PATH with SSL_write_ex (or SSL_write with --legacy), reads the answer with
 * SSL_read_ex (SSL_read) until the server closes, and prints it.
 * Build: gcc -O2 openssl_client.c -Wl,-Bstatic -lssl -lcrypto -Wl,-Bdynamic -o openssl_client && strip openssl_client
 * Usage: openssl_client [--legacy] PORT PATH BODY [HEADER...] */
#include <arpa/inet.h>
#include <netinet/in.h>
#include <openssl/err.h>
#include <openssl/ssl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <unistd.h>

int main(int argc, char **argv) {
    int legacy = argc > 1 && strcmp(argv[1], "--legacy") == 0;
    if (legacy) { argc--; argv++; }
    if (argc < 4) { fprintf(stderr, "usage: openssl_client [--legacy] PORT PATH BODY [HEADER...]\n"); return 2; }
    int fd = socket(AF_INET, SOCK_STREAM, 0);
    struct sockaddr_in a = { .sin_family = AF_INET, .sin_port = htons((unsigned short)atoi(argv[1])) };
    inet_pton(AF_INET, "127.0.0.1", &a.sin_addr);
    if (fd < 0 || connect(fd, (struct sockaddr *)&a, sizeof a) != 0) { perror("connect"); return 1; }
    SSL_CTX *ctx = SSL_CTX_new(TLS_client_method());
    SSL *ssl = ctx ? SSL_new(ctx) : NULL;
    if (!ssl || !SSL_set_fd(ssl, fd) || SSL_connect(ssl) != 1) { ERR_print_errors_fp(stderr); return 1; }
    char head[4096];
    int n = snprintf(head, sizeof head, "POST %s HTTP/1.1\r\nHost: api.openai.com\r\nContent-Type: application/json\r\nContent-Length: %zu\r\nConnection: close\r\n",
                     argv[2], strlen(argv[3]));
    for (int i = 4; i < argc && n < (int)sizeof head - 3; i++) n += snprintf(head + n, sizeof head - (size_t)n, "%s\r\n", argv[i]);
    n += snprintf(head + n, sizeof head - (size_t)n, "\r\n");
    const char *parts[2] = { head, argv[3] };
    for (int i = 0; i < 2; i++) {
        size_t len = strlen(parts[i]), written = 0;
        int ok = legacy ? SSL_write(ssl, parts[i], (int)len) == (int)len : SSL_write_ex(ssl, parts[i], len, &written) == 1 && written == len;
        if (!ok) { ERR_print_errors_fp(stderr); return 1; }
    }
    char buf[16384];
    for (;;) {
        size_t got = 0;
        int r = legacy ? SSL_read(ssl, buf, sizeof buf) : (SSL_read_ex(ssl, buf, sizeof buf, &got) == 1 ? (int)got : 0);
        if (r <= 0) break;
        fwrite(buf, 1, (size_t)r, stdout);
    }
    SSL_shutdown(ssl);
    SSL_free(ssl);
    SSL_CTX_free(ctx);
    close(fd);
    return 0;
}
