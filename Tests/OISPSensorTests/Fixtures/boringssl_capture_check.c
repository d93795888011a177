/* Manual check tool for BoringSSL capture in stripped executables (not part of the build): loads
 * the BPF object, finds SSL_write/SSL_read in the executable (oisp_boringssl_inspect), attaches
 * uprobe + uretprobe at their offsets, runs a command, and prints every captured plaintext record
 * (printable bytes as is, others as \xNN) plus a per-connection tally. The probes sit on the
 * file's inode, so every process running it is covered (Chromium's network service included).
 *
 *   gcc -O2 -I Sources/COISPBPF/include -o boringssl_capture_check \
 *       Tests/OISPSensorTests/Fixtures/boringssl_capture_check.c Sources/COISPBPF/loader.c \
 *       Sources/COISPBPF/boringssl.c -lbpf -lelf -lz -lcapstone
 *   sudo ./boringssl_capture_check oisp.bpf.o BUN -- BUN -e 'await fetch(...)'
 *   sudo ./boringssl_capture_check oisp.bpf.o /usr/lib/chromium/chromium -- /usr/bin/chromium --headless ...
 *   ./boringssl_capture_check --inspect FILE...   (discovery only: offsets, evidence, time)
 *
 * With BORINGSSL_NOOP=1 in the environment the probes run noop_enter/noop_exit (nothing should
 * be captured). With BORINGSSL_DUMP=DIR each connection's plaintext is also appended, raw, to
 * DIR/<pid>-<handle>.{write,read}.
 * Exit status: 0 when at least one BoringSSL write and one BoringSSL read record were captured. */
#include "oisp_bpf_loader.h"
#include "oisp_boringssl.h"
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
    if (d->stack != OISP_STACK_BORINGSSL) return 0;
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
    const char *dir = getenv("BORINGSSL_DUMP");
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

static int inspect_only(int argc, char **argv) {
    int bad = 0;
    for (int i = 2; i < argc; i++) {
        oisp_boringssl_info info;
        char err[512];
        int rc = oisp_boringssl_inspect(argv[i], &info, err, sizeof err);
        printf("%s: %s%s\n", argv[i], rc == OISP_BORINGSSL_OK ? "ok" : "error: ", rc == OISP_BORINGSSL_OK ? "" : err);
        printf("  source \"%s\", %u ERR_put_error sites in %u functions, %u SSL_peek bodies; build id %s; %.1f ms over %llu MiB of code\n",
               info.source, info.sites, info.functions, info.peek_copies, info.build_id[0] ? info.build_id : "-",
               info.elapsed_ms, (unsigned long long)(info.text_bytes >> 20));
        if (rc == OISP_BORINGSSL_OK)
            printf("  SSL_write vaddr 0x%llx file offset 0x%llx (line %u, %u callers); SSL_read vaddr 0x%llx file offset 0x%llx (line %u, %u callers)\n",
                   (unsigned long long)info.write.vaddr, (unsigned long long)info.write.entry, info.write.line,
                   info.write.callers, (unsigned long long)info.read.vaddr, (unsigned long long)info.read.entry,
                   info.read.line, info.read.callers);
        bad |= rc != OISP_BORINGSSL_OK;
    }
    return bad;
}

int main(int argc, char **argv) {
    if (argc >= 3 && strcmp(argv[1], "--inspect") == 0) return inspect_only(argc, argv);
    if (argc < 5 || strcmp(argv[3], "--") != 0) {
        fprintf(stderr, "usage: %s BPF_OBJECT EXECUTABLE -- COMMAND [ARGS...]\n       %s --inspect FILE...\n", argv[0], argv[0]);
        return 2;
    }
    char err[512];
    oisp_boringssl_info info;
    int rc = oisp_boringssl_inspect(argv[2], &info, err, sizeof err);
    if (rc != OISP_BORINGSSL_OK) { fprintf(stderr, "inspect: %d %s\n", rc, err); return 1; }
    printf("inspect: %s in %.1f ms; SSL_write at file offset 0x%llx (line %u), SSL_read at 0x%llx (line %u)\n",
           info.source, info.elapsed_ms, (unsigned long long)info.write.entry, info.write.line,
           (unsigned long long)info.read.entry, info.read.line);
    if (oisp_bpf_ensure_tracefs(err, sizeof err) != 0) { fprintf(stderr, "%s\n", err); return 1; }
    const char *noop = getenv("BORINGSSL_NOOP");
    oisp_bpf_options o = { .max_capture_bytes = 65536, .capture_ssl = 1, .wakeup_bytes = 1,
                           .noop_ssl_probes = noop && noop[0] == '1' };
    oisp_bpf *b = oisp_bpf_open(argv[1], &o, err, sizeof err);
    if (!b) { fprintf(stderr, "open: %s\n", err); return 1; }
    int n = oisp_bpf_attach_offsets(b, argv[2], info.write.entry, info.read.entry, err, sizeof err);
    if (n < 0) { fprintf(stderr, "attach: %s\n", err); oisp_bpf_close(b); return 1; }
    printf("attached %d functions (uprobe + uretprobe each)\n", n);
    fflush(stdout);

    pid_t child = fork();
    if (child == 0) {
        execvp(argv[4], argv + 4);
        perror("execvp");
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
