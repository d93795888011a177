/* Test fixture: a plugin built as a vendor built it against an OLD exporter.h (compiled with
 * -I Fixtures/abi/1.0 or -I Fixtures/abi/1.1; it uses only what 1.0 has). It appends each
 * event's JSON as one line to `path`.
 *
 * Its table is placed at the very end of a readable page, followed by an inaccessible page:
 * a host that reads past `struct_size` (a newer, larger table) crashes right there, instead of
 * silently taking whatever follows as function pointers.
 *
 *   -DTABLE_SIZE=n   claim n as struct_size (default: sizeof the table in the header used)
 *   -DPLUGIN_NAME=s  the plugin's name (default "oldabi")
 *   -DNEEDS_MINOR=n  ABI 1.2 and later: declare min_host_abi = {major, n}
 */
#define _DEFAULT_SOURCE /* MAP_ANONYMOUS under -std=c99 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <unistd.h>
#include "oisp/exporter.h"

#ifndef PLUGIN_NAME
#define PLUGIN_NAME "oldabi"
#endif
#ifndef TABLE_SIZE
#define TABLE_SIZE sizeof(oisp_exporter_plugin)
#endif

struct oisp_exporter_instance { FILE *out; char err[128]; };

static oisp_export_result c(const oisp_exporter_config *cfg, const oisp_host_api *h, oisp_exporter_instance **o) {
    (void)h;
    oisp_exporter_instance *in = calloc(1, sizeof *in);
    *o = in;
    if (!in) return OISP_EXPORT_PERMANENT;
    const char *path = 0;
    for (size_t i = 0; i < cfg->entry_count; i++)
        if (!strcmp(cfg->entries[i].key, "path")) path = cfg->entries[i].value;
    if (!path) { strcpy(in->err, "key 'path' is required"); return OISP_EXPORT_INVALID_CONFIG; }
    in->out = fopen(path, "a");
    if (!in->out) { strcpy(in->err, "cannot open path"); return OISP_EXPORT_INVALID_CONFIG; }
    return OISP_EXPORT_OK;
}
static oisp_export_result e(oisp_exporter_instance *in, const oisp_batch *b, oisp_export_status *s) {
    (void)s;
    for (size_t i = 0; i < b->count; i++) {
        fwrite(b->records[i].json.ptr, 1, b->records[i].json.len, in->out);
        fputc('\n', in->out);
    }
    if (fflush(in->out) != 0) { strcpy(in->err, "write failed"); return OISP_EXPORT_RETRY; }
    return OISP_EXPORT_OK;
}
static void d(oisp_exporter_instance *in) { if (!in) return; if (in->out) fclose(in->out); free(in); }
static const char *l(oisp_exporter_instance *in) { return in && in->err[0] ? in->err : 0; }

static const oisp_exporter_plugin t = {
    .struct_size = TABLE_SIZE, .abi_major = OISP_EXPORTER_ABI_MAJOR, .abi_minor = OISP_EXPORTER_ABI_MINOR,
    .name = PLUGIN_NAME, .version = "0.0.1", .description = "old-ABI test fixture",
    .on_create = c, .on_export = e, .on_destroy = d, .last_error = l,
#if defined(NEEDS_MINOR) && OISP_EXPORTER_ABI_MINOR >= 2
    .min_host_abi = { OISP_EXPORTER_ABI_MAJOR, NEEDS_MINOR },
#endif
};

const oisp_exporter_plugin *oisp_exporter_entry(uint32_t ma, uint32_t mi) {
    static oisp_exporter_plugin *guarded;
    (void)mi;
    if (ma != OISP_EXPORTER_ABI_MAJOR) return 0;
    if (!guarded) {
        size_t pg = (size_t)sysconf(_SC_PAGESIZE);
        char *m = mmap(0, 2 * pg, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
        if (m == MAP_FAILED) return 0;
        guarded = (oisp_exporter_plugin *)(m + pg - sizeof t);
        memcpy(guarded, &t, sizeof t);
        mprotect(m, pg, PROT_READ);
        mprotect(m + pg, pg, PROT_NONE); /* one byte past the table faults */
    }
    return guarded;
}
