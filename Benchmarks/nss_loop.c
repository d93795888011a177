/* Capture benchmark client for NSS (Firefox's and Thunderbird's TLS): N × (PR_Write of one 1 KiB
 * HTTP/1.1 request on the client, PR_Read of it on the server) over a loopback TCP connection
 * (non-blocking) after a TLS handshake, in one thread. The server's
 * certificate is `bench` in the NSS database DBDIR (run.sh makes it with certutil). Prints
 * nanoseconds per PR_Write/PR_Read call.
 * Build: cc -O2 -o nss_loop nss_loop.c $(pkg-config --cflags --libs nss)
 * Usage: nss_loop N DBDIR */
#include <cert.h>
#include <keyhi.h>
#include <nspr.h>
#include <nss.h>
#include <pk11pub.h>
#include <ssl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

static SECStatus accept_any_cert(void *arg, PRFileDesc *fd) { (void)arg; (void)fd; return SECSuccess; }

#include "http_request.h"

static int fail(const char *what) {
    fprintf(stderr, "%s failed: NSS error %d\n", what, PR_GetError());
    return 1;
}

int main(int argc, char **argv) {
    if (argc < 3) { fprintf(stderr, "usage: nss_loop N DBDIR\n"); return 2; }
    int n = atoi(argv[1]);
    char db[4096];
    snprintf(db, sizeof db, "sql:%s", argv[2]);
    if (NSS_Init(db) != SECSuccess || NSS_SetDomesticPolicy() != SECSuccess) return fail("NSS_Init");
    if (SSL_ConfigServerSessionIDCache(0, 0, 0, NULL) != SECSuccess) return fail("session cache");
    CERTCertificate *cert = PK11_FindCertFromNickname("bench", NULL);
    if (!cert) return fail("finding certificate 'bench'");
    SECKEYPrivateKey *key = PK11_FindKeyByAnyCert(cert, NULL);
    if (!key) return fail("finding its key");
    /* a loopback TCP connection (NSS keys its session cache by the peer's IP address: a Unix
     * socket pair, which PR_NewTCPSocketPair makes here, has none) */
    PRFileDesc *pair[2], *listener = PR_NewTCPSocket();
    PRNetAddr addr;
    PR_InitializeNetAddr(PR_IpAddrLoopback, 0, &addr);
    if (!listener || PR_Bind(listener, &addr) != PR_SUCCESS || PR_Listen(listener, 1) != PR_SUCCESS ||
        PR_GetSockName(listener, &addr) != PR_SUCCESS) return fail("listen");
    pair[1] = PR_NewTCPSocket();
    if (!pair[1] || PR_Connect(pair[1], &addr, PR_SecondsToInterval(5)) != PR_SUCCESS) return fail("connect");
    pair[0] = PR_Accept(listener, NULL, PR_SecondsToInterval(5));
    if (!pair[0]) return fail("accept");
    PR_Close(listener);
    PRSocketOptionData nb = { .option = PR_SockOpt_Nonblocking, .value.non_blocking = PR_TRUE };
    PR_SetSocketOption(pair[0], &nb);
    PR_SetSocketOption(pair[1], &nb);
    PRFileDesc *s = SSL_ImportFD(NULL, pair[0]), *c = SSL_ImportFD(NULL, pair[1]);
    if (!s || !c) return fail("SSL_ImportFD");
    if (SSL_ConfigServerCert(s, cert, key, NULL, 0) != SECSuccess) return fail("SSL_ConfigServerCert");
    SSL_BadCertHook(c, accept_any_cert, NULL);
    SSL_SetURL(c, "localhost");
    if (SSL_ResetHandshake(s, PR_TRUE) != SECSuccess || SSL_ResetHandshake(c, PR_FALSE) != SECSuccess) return fail("SSL_ResetHandshake");
    int cdone = 0, sdone = 0;
    for (int i = 0; i < 1000 && !(cdone && sdone); i++) {
        if (!cdone) {
            if (SSL_ForceHandshake(c) == SECSuccess) cdone = 1;
            else if (PR_GetError() != PR_WOULD_BLOCK_ERROR) return fail("client handshake");
        }
        if (!sdone) {
            if (SSL_ForceHandshake(s) == SECSuccess) sdone = 1;
            else if (PR_GetError() != PR_WOULD_BLOCK_ERROR) return fail("server handshake");
        }
    }
    if (!(cdone && sdone)) { fprintf(stderr, "handshake did not finish\n"); return 1; }
    char buf[1024], in[1024];
    http_request(buf, sizeof buf);
    struct timespec t0, t1;
    clock_gettime(CLOCK_MONOTONIC, &t0);
    for (int i = 0; i < n; i++) {
        if (PR_Write(c, buf, sizeof buf) != (PRInt32)sizeof buf) return fail("PR_Write");
        PRInt32 got = 0;
        while (got < (PRInt32)sizeof in) {
            PRInt32 r = PR_Read(s, in + got, (PRInt32)sizeof in - got);
            if (r > 0) { got += r; continue; }
            if (r < 0 && PR_GetError() == PR_WOULD_BLOCK_ERROR) continue; /* the bytes are on their way */
            return fail("PR_Read");
        }
    }
    clock_gettime(CLOCK_MONOTONIC, &t1);
    double ns = (t1.tv_sec - t0.tv_sec) * 1e9 + (t1.tv_nsec - t0.tv_nsec);
    printf("%.1f\n", ns / (2.0 * n)); /* per PR_Write/PR_Read call (one of each per iteration) */
    PR_Close(c);
    PR_Close(s);
    SECKEY_DestroyPrivateKey(key);
    CERT_DestroyCertificate(cert);
    NSS_Shutdown();
    return 0;
}
