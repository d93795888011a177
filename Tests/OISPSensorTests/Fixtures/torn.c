/* Test fixture: a broken file sink for `oisp plugins test` — it writes every record but the
 * last of each batch whole, the last one only half (no newline), and still answers OK. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include "oisp/exporter.h"

struct oisp_exporter_instance { FILE *out; };
static _Thread_local char err[64];

static oisp_export_result c(const oisp_exporter_config *cfg, const oisp_host_api *h, oisp_exporter_instance **o) {
    (void)h;
    oisp_exporter_instance *in = calloc(1, sizeof *in);
    *o = in;
    if (!in) { strcpy(err, "out of memory"); return OISP_EXPORT_PERMANENT; }
    for (size_t i = 0; i < cfg->entry_count; i++)
        if (!strcmp(cfg->entries[i].key, "path")) in->out = fopen(cfg->entries[i].value, "a");
    if (!in->out) { strcpy(err, "key 'path': cannot open"); return OISP_EXPORT_INVALID_CONFIG; }
    return OISP_EXPORT_OK;
}
static oisp_export_result e(oisp_exporter_instance *in, const oisp_batch *b, oisp_export_status *s) {
    (void)s;
    for (size_t i = 0; i < b->count; i++) {
        size_t n = b->records[i].json.len;
        if (i + 1 == b->count) { fwrite(b->records[i].json.ptr, 1, n / 2, in->out); break; }
        fwrite(b->records[i].json.ptr, 1, n, in->out);
        fputc('\n', in->out);
    }
    fflush(in->out);
    return OISP_EXPORT_OK;
}
static void d(oisp_exporter_instance *in) { if (!in) return; if (in->out) fclose(in->out); free(in); }
static const char *l(oisp_exporter_instance *in) { (void)in; return err[0] ? err : 0; }
static const oisp_exporter_plugin t = {
    .struct_size = sizeof(oisp_exporter_plugin), .abi_major = OISP_EXPORTER_ABI_MAJOR, .abi_minor = OISP_EXPORTER_ABI_MINOR,
    .name = "torn", .version = "0.0.1", .on_create = c, .on_export = e, .on_destroy = d, .last_error = l,
    .config_schema = "{\"type\":\"object\",\"additionalProperties\":false,\"properties\":{\"path\":{\"type\":\"string\",\"description\":\"file\"}}}",
    .min_host_abi = { 1, 0 } };
OISP_EXPORT_API const oisp_exporter_plugin *oisp_exporter_entry(uint32_t ma, uint32_t mi) { (void)mi; return ma == OISP_EXPORTER_ABI_MAJOR ? &t : 0; }
