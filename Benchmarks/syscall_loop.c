/* What a sensor's hooks cost every process on the node: N getppid() calls (a syscall that does
 * almost nothing), timed inside; prints nanoseconds per call. A syscall tracepoint attached by
 * anyone puts every syscall of every process on the kernel's slow path; socket and TCP-state
 * tracepoints and uprobes do not touch this loop.
 * Build: cc -O2 -o syscall_loop syscall_loop.c */
#include <stdio.h>
#include <stdlib.h>
#include <sys/syscall.h>
#include <time.h>
#include <unistd.h>

int main(int argc, char **argv) {
    long n = argc > 1 ? atol(argv[1]) : 1000000;
    struct timespec a, b;
    for (long i = 0; i < n / 10; i++) syscall(SYS_getppid); /* warm-up */
    clock_gettime(CLOCK_MONOTONIC, &a);
    for (long i = 0; i < n; i++) syscall(SYS_getppid);
    clock_gettime(CLOCK_MONOTONIC, &b);
    printf("%.0f\n", ((b.tv_sec - a.tv_sec) * 1e9 + (b.tv_nsec - a.tv_nsec)) / n);
    return 0;
}
