/* Manual check tool for Go crypto/tls capture (not part of the build): loads the BPF object,
 * inspects a Go executable, attaches the Go TLS uprobes, runs a command, and prints every
 * captured plaintext record (printable bytes as is, others as \xNN) plus a per-connection tally.
 *
 *   gcc -O2 -I Sources/COISPBPF/include -o gotls_capture_check \
 *       Tests/OISPSensorTests/Fixtures/gotls_capture_check.c Sources/COISPBPF/loader.c \
 *       Sources/COISPBPF/gotls.c -lbpf -lelf -lz -lcapstone
 *   sudo ./gotls_capture_check oisp.bpf.o ./go_client -- ./go_client 8443 both
 *
 * With GOTLS_NOOP=1 in the environment the probes run noop_enter (nothing should be captured).
 * With GOTLS_DUMP=DIR each connection's plaintext is also appended, raw, to
 * DIR/<pid>-<handle>.{write,read} (e.g. to decode the HTTP/2 frames). 
 * Exit status: 0 when at least one Go write and one Go read record were captured. */
#include "oisp_bpf_loader.h"
#include "oisp_gotls.h"

#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#define MAX_CONNS 64

static struct conn {
    uint32_t pid;
    uint64_t handle;
    uint64_t bytes[2], records[2];
} conns[MAX_CONNS];
static int nconns;

static int on_record(void *ctx, const void *data, size_t len) {
    (void)ctx;
    const struct oisp_ssl_data *d = data;
    if (len < offsetof(struct oisp_ssl_data, data) || d->h.kind != OISP_EV_SSL_DATA) return 0;
    size_t n = d->len;
    if (n > len - offsetof(struct oisp_ssl_data, data)) n = len - offsetof(struct oisp_ssl_data, data);
    printf("--- pid %u tid %u %s stack=%u handle=0x%llx %s total=%u off=%u len=%u%s\n", d->h.pid, d->h.tid, d->h.comm,
           d->stack, (unsigned long long)d->ssl, d->direction == OISP_DIR_WRITE ? "WRITE" : "READ", d->total_len,
           d->offset, d->len, (d->flags & OISP_FLAG_TRUNCATED) ? " truncated" : "");
    for (size_t i = 0; i < n; i++) {
        unsigned char c = d->data[i];
        if (c == '\n') fputs("\\n\n", stdout);
        else if (c == '\r') fputs("\\r", stdout);
        else if (c >= 0x20 && c < 0x7f && c != '\\') putchar(c);
        else printf("\\x%02x", c);
    }
    putchar('\n');
    const char *dir = getenv("GOTLS_DUMP");
    if (dir && *dir) {
        char path[4096];
        snprintf(path, sizeof path, "%s/%u-%llx.%s", dir, d->h.pid, (unsigned long long)d->ssl,
                 d->direction == OISP_DIR_WRITE ? "write" : "read");
        FILE *f = fopen(path, "ab");
        if (f) { fwrite(d->data, 1, n, f); fclose(f); }
    }
    int k;
    for (k = 0; k < nconns; k++)
        if (conns[k].pid == d->h.pid && conns[k].handle == d->ssl) break;
    if (k == nconns && nconns < MAX_CONNS) conns[nconns++] = (struct conn){ .pid = d->h.pid, .handle = d->ssl };
    if (k < MAX_CONNS) {
        conns[k].bytes[d->direction & 1] += n;
        conns[k].records[d->direction & 1]++;
    }
    return 0;
}

int main(int argc, char **argv) {
    if (argc < 5 || strcmp(argv[3], "--") != 0) {
        fprintf(stderr, "usage: %s BPF_OBJECT GO_EXECUTABLE -- COMMAND [ARGS...]\n", argv[0]);
        return 2;
    }
    char err[512];
    oisp_gotls_info info;
    int rc = oisp_gotls_inspect(argv[2], &info, err, sizeof err);
    if (rc != OISP_GOTLS_OK) { fprintf(stderr, "inspect: %d %s\n", rc, err); return 1; }
    printf("inspect: %s via %s; Write entry 0x%llx (%u RETs), Read entry 0x%llx (%u RETs)\n", info.go_version,
           info.found_via, (unsigned long long)info.write.entry, info.write.nrets, (unsigned long long)info.read.entry,
           info.read.nrets);
    if (oisp_bpf_ensure_tracefs(err, sizeof err) != 0) { fprintf(stderr, "%s\n", err); return 1; }
    const char *noop = getenv("GOTLS_NOOP");
    oisp_bpf_options o = { .max_capture_bytes = 65536, .capture_ssl = 1, .wakeup_bytes = 1,
                           .noop_ssl_probes = noop && noop[0] == '1' };
    oisp_bpf *b = oisp_bpf_open(argv[1], &o, err, sizeof err);
    if (!b) { fprintf(stderr, "open: %s\n", err); return 1; }
    int n = oisp_bpf_attach_go(b, argv[2], &info, err, sizeof err);
    if (n < 0) { fprintf(stderr, "attach: %s\n", err); oisp_bpf_close(b); return 1; }
    printf("attached %d uprobes\n", n);
    fflush(stdout);

    pid_t child = fork();
    if (child == 0) {
        execv(argv[4], argv + 4);
        perror("execv");
        _exit(127);
    }
    int status = 0, done = 0;
    for (int drain = 0; drain < 3;) {
        oisp_bpf_poll(b, 100, on_record, NULL);
        if (!done && waitpid(child, &status, WNOHANG) == child) done = 1;
        if (done) drain++;
    }
    fflush(stdout);
    int wrote = 0, read = 0;
    for (int k = 0; k < nconns; k++) {
        printf("conn pid %u handle 0x%llx: write %llu B in %llu records, read %llu B in %llu records\n", conns[k].pid,
               (unsigned long long)conns[k].handle, (unsigned long long)conns[k].bytes[0],
               (unsigned long long)conns[k].records[0], (unsigned long long)conns[k].bytes[1],
               (unsigned long long)conns[k].records[1]);
        wrote |= conns[k].records[0] > 0;
        read |= conns[k].records[1] > 0;
    }
    printf("child exit status %d, lost records %llu\n", WIFEXITED(status) ? WEXITSTATUS(status) : -1,
           (unsigned long long)oisp_bpf_lost(b));
    oisp_bpf_close(b);
    return wrote && read ? 0 : 1;
}
