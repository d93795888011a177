/* Test fixture: an exporter that dereferences a null pointer in on_export (SIGSEGV: the whole
 * sensor dies, as with any in-process plugin) while the file named by `poison` exists; otherwise
 * it appends each event's JSON as one line to `path`. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>
#include "oisp/exporter.h"

struct oisp_exporter_instance { FILE *out; char poison[4096]; char err[128]; };

static oisp_export_result c(const oisp_exporter_config *cfg, const oisp_host_api *h, oisp_exporter_instance **o) {
    (void)h;
    oisp_exporter_instance *in = calloc(1, sizeof *in);
    *o = in;
    const char *path = 0;
    for (size_t i = 0; i < cfg->entry_count; i++) {
        if (!strcmp(cfg->entries[i].key, "path")) path = cfg->entries[i].value;
        if (!strcmp(cfg->entries[i].key, "poison")) snprintf(in->poison, sizeof in->poison, "%s", cfg->entries[i].value);
    }
    if (!path) { strcpy(in->err, "key 'path' is required"); return OISP_EXPORT_INVALID_CONFIG; }
    in->out = fopen(path, "a");
    return in->out ? OISP_EXPORT_OK : OISP_EXPORT_INVALID_CONFIG;
}
static oisp_export_result e(oisp_exporter_instance *in, const oisp_batch *b, oisp_export_status *s) {
    (void)s;
    if (in->poison[0] && access(in->poison, F_OK) == 0) {
        volatile int *null = 0;
        *null = 1; /* SIGSEGV */
    }
    for (size_t i = 0; i < b->count; i++) {
        fwrite(b->records[i].json.ptr, 1, b->records[i].json.len, in->out);
        fputc('\n', in->out);
    }
    fflush(in->out);
    return OISP_EXPORT_OK;
}
static void d(oisp_exporter_instance *in) { if (!in) return; if (in->out) fclose(in->out); free(in); }
static const char *l(oisp_exporter_instance *in) { return in && in->err[0] ? in->err : 0; }
static const oisp_exporter_plugin t = {
    .struct_size = sizeof(oisp_exporter_plugin), .abi_major = OISP_EXPORTER_ABI_MAJOR, .abi_minor = OISP_EXPORTER_ABI_MINOR,
    .name = "crashy", .version = "1.0.0", .on_create = c, .on_export = e, .on_destroy = d, .last_error = l };
const oisp_exporter_plugin *oisp_exporter_entry(uint32_t ma, uint32_t mi) { (void)mi; return ma == OISP_EXPORTER_ABI_MAJOR ? &t : 0; }
