/* Capture benchmark client for plain HTTP capture: one loopback TCP connection (connect +
 * accept4, as servers do, made after start) then N × (write 1 KiB on the client, read it on the
 * server) — the socket syscalls the sensor's tracepoints see. Port 0 = an ephemeral port (never
 * one of [capture] plain_http_ports); otherwise the server listens on that port.
 * Prints nanoseconds per syscall (one write + one read per iteration).
 * Build: cc -O2 -o plain_loop plain_loop.c */
#define _GNU_SOURCE
#include <arpa/inet.h>
#include <netinet/in.h>
#include <stdio.h>
#include <stdlib.h>
#include <sys/socket.h>
#include <time.h>
#include <unistd.h>

#include "http_request.h"

int main(int argc, char **argv) {
    int n = argc > 1 ? atoi(argv[1]) : 100000;
    int port = argc > 2 ? atoi(argv[2]) : 0;
    int l = socket(AF_INET, SOCK_STREAM, 0), one = 1;
    setsockopt(l, SOL_SOCKET, SO_REUSEADDR, &one, sizeof one);
    struct sockaddr_in a = { .sin_family = AF_INET, .sin_port = htons(port), .sin_addr.s_addr = htonl(INADDR_LOOPBACK) };
    socklen_t al = sizeof a;
    if (bind(l, (struct sockaddr *)&a, sizeof a) || listen(l, 1) || getsockname(l, (struct sockaddr *)&a, &al)) { perror("listen"); return 1; }
    int c = socket(AF_INET, SOCK_STREAM, 0);
    if (connect(c, (struct sockaddr *)&a, sizeof a)) { perror("connect"); return 1; }
    int s = accept4(l, NULL, NULL, 0);
    if (s < 0) { perror("accept4"); return 1; }
    char buf[1024], in[1024];
    http_request(buf, sizeof buf);
    struct timespec t0, t1;
    clock_gettime(CLOCK_MONOTONIC, &t0);
    for (int i = 0; i < n; i++) {
        if (write(c, buf, sizeof buf) != sizeof buf) { perror("write"); return 1; }
        size_t got = 0;
        while (got < sizeof in) { ssize_t r = read(s, in + got, sizeof in - got); if (r <= 0) { perror("read"); return 1; } got += (size_t)r; }
    }
    clock_gettime(CLOCK_MONOTONIC, &t1);
    double ns = (t1.tv_sec - t0.tv_sec) * 1e9 + (t1.tv_nsec - t0.tv_nsec);
    printf("%.1f\n", ns / (2.0 * n));
    return 0;
}
