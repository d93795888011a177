/* The request every capture benchmark loop writes: one whole HTTP/1.1 request of `size` bytes,
 * what a real client writes, so the capture path is the one AI traffic takes (the decoder parses
 * it; the reading side is the server's, which the sensor keeps quiet in the kernel as it does on
 * a node; bytes that are not HTTP would go quiet after the first write on both sides). */
#ifndef OISP_BENCH_HTTP_REQUEST_H
#define OISP_BENCH_HTTP_REQUEST_H
#include <stdio.h>

static void http_request(char *buf, int size) {
    int body = size - 100, n;
    for (;;) {
        n = snprintf(buf, (size_t)size, "POST /bench HTTP/1.1\r\nHost: bench\r\nContent-Length: %d\r\n\r\n", body);
        if (n + body == size) break;
        body = size - n;
    }
    for (int i = n; i < size; i++) buf[i] = (char)('a' + i % 26);
}

#endif
