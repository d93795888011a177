/* What the exec gate (`[capture] probe_before_exec`) costs a program start: N fork + execve + wait
 * of a small program, timed inside; prints microseconds per exec.
 *   exec_loop N PROGRAM same       — the same file every time (known to the sensor after its first
 *                                    exec: an ignore mark, the kernel does not ask again)
 *   exec_loop N PROGRAM fresh DIR  — a new copy of PROGRAM in DIR before each exec (every exec is a
 *                                    file the sensor has never seen: held until looked at); the
 *                                    copy is made in every column, so the difference is the gate's
 * Build: cc -O2 -o exec_loop exec_loop.c */
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/sendfile.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

static void copy(const char *from, const char *to) {
    int in = open(from, O_RDONLY), out = open(to, O_WRONLY | O_CREAT | O_TRUNC, 0755);
    struct stat st;
    if (in < 0 || out < 0 || fstat(in, &st) != 0) { perror("copy"); exit(1); }
    off_t off = 0;
    while (off < st.st_size) if (sendfile(out, in, &off, st.st_size - off) <= 0) { perror("sendfile"); exit(1); }
    close(in);
    close(out);
}

static void run(const char *path) {
    pid_t p = fork();
    if (p == 0) { execl(path, path, (char *)NULL); _exit(127); }
    int st;
    waitpid(p, &st, 0);
    if (!WIFEXITED(st) || WEXITSTATUS(st) != 0) { fprintf(stderr, "exec_loop: %s failed\n", path); exit(1); }
}

int main(int argc, char **argv) {
    if (argc < 4) { fprintf(stderr, "usage: exec_loop N PROGRAM same|fresh [DIR]\n"); return 2; }
    long n = atol(argv[1]);
    int fresh = strcmp(argv[3], "fresh") == 0;
    char path[4096];
    struct timespec a, b;
    for (int i = 0; i < 5; i++) run(argv[2]); /* warm-up */
    clock_gettime(CLOCK_MONOTONIC, &a);
    for (long i = 0; i < n; i++) {
        if (fresh) {
            snprintf(path, sizeof path, "%s/exec-%ld-%ld", argv[4], (long)getpid(), i);
            copy(argv[2], path);
            run(path);
            unlink(path);
        } else {
            run(argv[2]);
        }
    }
    clock_gettime(CLOCK_MONOTONIC, &b);
    printf("%.1f\n", ((b.tv_sec - a.tv_sec) * 1e9 + (b.tv_nsec - a.tv_nsec)) / n / 1e3);
    return 0;
}
