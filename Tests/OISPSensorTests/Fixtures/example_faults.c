/* Test harness: loads an exporter .so (argv[1]) the way the host does and drives it through the
 * faults a disk gives, which a sensor run cannot produce on demand. It is linked with -rdynamic,
 * so its own write(), fsync() and calloc() take the place of libc's for the plugin:
 *   - a write that stops half-way through a record, then fails (disk full);
 *   - an fsync that fails (EIO);
 *   - a calloc that fails (out of memory) in on_create.
 * Usage: example_faults PLUGIN.so DIR [--no-calloc]. Prints one "ok ..." line per check, or
 * "FAIL ..." and exits 1. --no-calloc skips the calloc check (a Swift plugin allocates through
 * the Swift runtime, not calloc). */
#define _GNU_SOURCE
#include <dlfcn.h>
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/syscall.h>
#include <unistd.h>
#include "oisp/exporter.h"

static long write_budget = -1; /* bytes plugin writes may still take; -1: unlimited */
static int fail_fsync, fail_calloc;

ssize_t write(int fd, const void *buf, size_t n) {
    if (write_budget >= 0 && fd > 2) {
        if (write_budget == 0) { errno = ENOSPC; return -1; }
        if ((long)n > write_budget) n = (size_t)write_budget; /* a short write, as at a full disk */
        write_budget -= (long)n;
    }
    return syscall(SYS_write, fd, buf, n);
}
int fsync(int fd) {
    if (fail_fsync) { errno = EIO; return -1; }
    return (int)syscall(SYS_fsync, fd);
}
extern void *__libc_calloc(size_t, size_t);
void *calloc(size_t n, size_t size) {
    if (fail_calloc) { fail_calloc = 0; errno = ENOMEM; return NULL; }
    return __libc_calloc(n, size);
}

static void hlog(void *c, oisp_log_level l, const char *m, size_t n) { (void)c; (void)l; (void)m; (void)n; }
static void hcount(void *c, const char *n, uint64_t d) { (void)c; (void)n; (void)d; }
static int64_t hnow(void *c) { (void)c; return 0; }
static const oisp_host_api host = { sizeof host, 0, hlog, hcount, hnow };

static int failures;
#define CHECK(cond, ...) do { if (cond) { printf("ok "); printf(__VA_ARGS__); printf("\n"); } \
                              else { printf("FAIL "); printf(__VA_ARGS__); printf("\n"); failures++; } } while (0)

static char *slurp(const char *path) {
    FILE *f = fopen(path, "rb");
    if (!f) return strdup("");
    static char buf[65536];
    size_t n = fread(buf, 1, sizeof buf - 1, f);
    buf[n] = 0;
    fclose(f);
    return buf;
}

int main(int argc, char **argv) {
    if (argc < 3 || argc > 4) { fprintf(stderr, "usage: %s PLUGIN.so DIR [--no-calloc]\n", argv[0]); return 2; }
    int check_calloc = !(argc == 4 && !strcmp(argv[3], "--no-calloc"));
    void *h = dlopen(argv[1], RTLD_NOW | RTLD_LOCAL);
    if (!h) { printf("FAIL dlopen: %s\n", dlerror()); return 1; }
    oisp_exporter_entry_fn entry = (oisp_exporter_entry_fn)dlsym(h, OISP_EXPORTER_ENTRY_SYMBOL);
    if (!entry) { printf("FAIL no entry symbol\n"); return 1; }
    const oisp_exporter_plugin *p = entry(OISP_EXPORTER_ABI_MAJOR, OISP_EXPORTER_ABI_MINOR);
    if (!p) { printf("FAIL plugin declined\n"); return 1; }

    char path[4096];
    snprintf(path, sizeof path, "%s/out.jsonl", argv[2]);
    oisp_config_entry e = { "path", path };
    oisp_exporter_config cfg = { sizeof cfg, "cfile", "{}", 2, &e, 1 };

    /* out of memory in on_create: still an instance, with an error text, and destroy is safe */
    oisp_exporter_instance *oom = NULL;
    oisp_export_result rc;
    const char *why;
    if (check_calloc) {
        fail_calloc = 1;
        rc = p->on_create(&cfg, &host, &oom);
        fail_calloc = 0;
        why = oom ? p->last_error(oom) : NULL;
        CHECK(rc != OISP_EXPORT_OK && oom && why && strstr(why, "out of memory"),
              "calloc failure: result %d, instance %s, last_error \"%s\"", (int)rc, oom ? "handed back" : "NULL", why ? why : "(null)");
        if (oom) p->on_destroy(oom);
    }

    oisp_exporter_instance *in = NULL;
    rc = p->on_create(&cfg, &host, &in);
    if (rc != OISP_EXPORT_OK) { printf("FAIL create: %s\n", in ? p->last_error(in) : "?"); return 1; }

    const char *json[3] = { "{\"n\":1,\"pad\":\"aaaaaaaaaa\"}", "{\"n\":2,\"pad\":\"bbbbbbbbbb\"}", "{\"n\":3,\"pad\":\"cccccccccc\"}" };
    oisp_record recs[3];
    memset(recs, 0, sizeof recs);
    for (int i = 0; i < 3; i++) {
        recs[i].struct_size = sizeof recs[i];
        recs[i].event_type = "ai.request";
        recs[i].json.ptr = (const uint8_t *)json[i];
        recs[i].json.len = strlen(json[i]);
    }
    oisp_batch b = { sizeof b, 7, 1, 0, recs, 3, 0 };
    oisp_export_status st = { sizeof st, 0, 0, 0 };

    /* the disk fills half-way through record 2: RETRY, record 1 accepted, no torn line */
    write_budget = (long)strlen(json[0]) + 1 + 10;
    rc = p->on_export(in, &b, &st);
    write_budget = -1;
    why = rc != OISP_EXPORT_OK ? p->last_error(in) : NULL;
    char expect1[128];
    snprintf(expect1, sizeof expect1, "%s\n", json[0]);
    const char *got = slurp(path);
    CHECK(rc == OISP_EXPORT_RETRY && st.accepted == 1, "partial write: result %d (want RETRY), accepted %zu (want 1)", (int)rc, st.accepted);
    CHECK(why && strstr(why, "write") && strstr(why, strerror(ENOSPC)), "partial write: last_error \"%s\"", why ? why : "(null)");
    CHECK(strcmp(got, expect1) == 0, "partial write: the file holds only whole lines (%zu bytes, want %zu)", strlen(got), strlen(expect1));

    /* the host's retry: records[accepted..] of the same batch */
    oisp_batch retry = { sizeof retry, 7, 2, 0, recs + 1, 2, 1 };
    memset(&st, 0, sizeof st);
    st.struct_size = sizeof st;
    rc = p->on_export(in, &retry, &st);
    char expect3[256];
    snprintf(expect3, sizeof expect3, "%s\n%s\n%s\n", json[0], json[1], json[2]);
    got = slurp(path);
    CHECK(rc == OISP_EXPORT_OK && strcmp(got, expect3) == 0, "retry: result %d, every record exactly once, each a whole line", (int)rc);

    /* fsync fails: an error result WITH an error text */
    if (p->on_flush) {
        fail_fsync = 1;
        rc = p->on_flush(in, 1000);
        fail_fsync = 0;
        why = rc != OISP_EXPORT_OK ? p->last_error(in) : NULL;
        CHECK(rc != OISP_EXPORT_OK && why && strstr(why, "fsync"), "fsync failure: result %d, last_error \"%s\"", (int)rc, why ? why : "(null)");
    }
    p->on_destroy(in);
    return failures ? 1 : 0;
}
