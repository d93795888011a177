/* Test peer: an NSS (libnss3/libnspr4) HTTPS client, the TLS stack of Firefox and
 * Thunderbird. POSTs a JSON body to https://127.0.0.1:PORT/PATH with PR_Write and reads the answer
 * with PR_Read; the self-signed test certificate is accepted by a bad-cert hook.
 * Build: gcc nss_client.c $(pkg-config --cflags --libs nss) -o nss_client
 * Usage: nss_client PORT PATH BODY [HEADER...] */
#include <nspr.h>
#include <nss.h>
#include <ssl.h>
#include <sslproto.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

static SECStatus accept_any_cert(void *arg, PRFileDesc *fd) { (void)arg; (void)fd; return SECSuccess; }

int main(int argc, char **argv) {
    if (argc < 4) { fprintf(stderr, "usage: nss_client PORT PATH BODY [HEADER...]\n"); return 2; }
    if (NSS_NoDB_Init(NULL) != SECSuccess || NSS_SetDomesticPolicy() != SECSuccess) { fprintf(stderr, "NSS init failed\n"); return 1; }
    PRFileDesc *tcp = PR_NewTCPSocket();
    PRNetAddr addr;
    PR_InitializeNetAddr(PR_IpAddrLoopback, (PRUint16)atoi(argv[1]), &addr);
    PRFileDesc *ssl = SSL_ImportFD(NULL, tcp);
    if (!ssl) { fprintf(stderr, "SSL_ImportFD failed\n"); return 1; }
    SSL_OptionSet(ssl, SSL_SECURITY, PR_TRUE);
    SSL_OptionSet(ssl, SSL_HANDSHAKE_AS_CLIENT, PR_TRUE);
    SSL_BadCertHook(ssl, accept_any_cert, NULL);
    SSL_SetURL(ssl, "localhost");
    if (PR_Connect(ssl, &addr, PR_SecondsToInterval(10)) != PR_SUCCESS) { fprintf(stderr, "connect failed: %d\n", PR_GetError()); return 1; }
    if (SSL_ResetHandshake(ssl, PR_FALSE) != SECSuccess || SSL_ForceHandshake(ssl) != SECSuccess) {
        fprintf(stderr, "handshake failed: %d\n", PR_GetError());
        return 1;
    }
    char req[8192];
    int n = snprintf(req, sizeof req, "POST %s HTTP/1.1\r\nHost: 127.0.0.1\r\nContent-Type: application/json\r\nConnection: close\r\n", argv[2]);
    for (int i = 4; i < argc; i++) n += snprintf(req + n, sizeof req - (size_t)n, "%s\r\n", argv[i]);
    n += snprintf(req + n, sizeof req - (size_t)n, "Content-Length: %zu\r\n\r\n%s", strlen(argv[3]), argv[3]);
    if (PR_Write(ssl, req, n) != n) { fprintf(stderr, "write failed: %d\n", PR_GetError()); return 1; }
    char buf[4096];
    PRInt32 r;
    while ((r = PR_Read(ssl, buf, sizeof buf)) > 0) fwrite(buf, 1, (size_t)r, stdout);
    PR_Close(ssl);
    NSS_Shutdown();
    return 0;
}
