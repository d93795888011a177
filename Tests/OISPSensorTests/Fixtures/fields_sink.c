/* Test fixture (ABI 1.3, OISP_EXPORTER_CAP_RECORD_FIELDS): a sink that builds its output from the record fields alone (no JSON
 * parser): per record one line of "name=value" pairs (tab-separated, in the host's order), then a
 * tab and the record's JSON, so a test can check every field against the JSON it came from.
 * `gen_ai.usage.input_tokens` is also read through oisp_batch_field and must agree.
 * Built with -DNO_FIELDS_CAP it does not ask for fields, and writes "-", a tab and the JSON for
 * each record it gets without them (with them: an error). */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include "oisp/exporter.h"
#ifndef PLUGIN_NAME
#define PLUGIN_NAME "fieldsink"
#endif

struct oisp_exporter_instance { FILE *out; };
static _Thread_local char err[128];

static oisp_export_result c(const oisp_exporter_config *cfg, const oisp_host_api *h, oisp_exporter_instance **o) {
    (void)h;
    oisp_exporter_instance *in = calloc(1, sizeof *in);
    *o = in;
    if (!in) { strcpy(err, "out of memory"); return OISP_EXPORT_PERMANENT; }
    const char *path = 0;
    for (size_t i = 0; i < cfg->entry_count; i++) if (!strcmp(cfg->entries[i].key, "path")) path = cfg->entries[i].value;
    if (!path || !(in->out = fopen(path, "a"))) { strcpy(err, "key 'path': cannot open"); return OISP_EXPORT_INVALID_CONFIG; }
    return OISP_EXPORT_OK;
}

static oisp_export_result e(oisp_exporter_instance *in, const oisp_batch *b, oisp_export_status *s) {
    (void)s;
#ifdef NO_FIELDS_CAP
    if (b->fields) { strcpy(err, "fields sent to a plugin that did not ask for them"); return OISP_EXPORT_PERMANENT; }
    for (size_t i = 0; i < b->count; i++) {
        if (oisp_batch_field(b, i, "host.name").ptr) { strcpy(err, "oisp_batch_field found a field"); return OISP_EXPORT_PERMANENT; }
        fputs("-\t", in->out);
        fwrite(b->records[i].json.ptr, 1, b->records[i].json.len, in->out);
        fputc('\n', in->out);
    }
    fflush(in->out);
    return OISP_EXPORT_OK;
#endif
    if (b->struct_size < offsetof(oisp_batch, fields) + sizeof b->fields || !b->fields) {
        strcpy(err, "host sends no fields (older than ABI 1.3)");
        return OISP_EXPORT_PERMANENT;
    }
    for (size_t i = 0; i < b->count; i++) {
        const oisp_record_fields *f = &b->fields[i];
        int tokens_seen = 0;
        for (size_t k = 0; k < f->count; k++) {
            fprintf(in->out, "%s%s=%.*s", k ? "\t" : "", f->items[k].name, (int)f->items[k].value.len, (const char *)f->items[k].value.ptr);
            if (!strcmp(f->items[k].name, "gen_ai.usage.input_tokens")) tokens_seen = 1;
        }
        oisp_bytes t = oisp_batch_field(b, i, "gen_ai.usage.input_tokens");
        if ((t.ptr != 0) != tokens_seen) { strcpy(err, "oisp_batch_field disagrees with the field list"); return OISP_EXPORT_PERMANENT; }
        fputc('\t', in->out);
        fwrite(b->records[i].json.ptr, 1, b->records[i].json.len, in->out);
        fputc('\n', in->out);
    }
    fflush(in->out);
    return OISP_EXPORT_OK;
}
static void d(oisp_exporter_instance *in) { if (in) { if (in->out) fclose(in->out); free(in); } }
static const char *l(oisp_exporter_instance *in) { (void)in; return err[0] ? err : 0; }
static const oisp_exporter_plugin t = {
    .struct_size = sizeof(oisp_exporter_plugin), .abi_major = OISP_EXPORTER_ABI_MAJOR, .abi_minor = OISP_EXPORTER_ABI_MINOR,
    .name = PLUGIN_NAME, .version = "1.0.0", .on_create = c, .on_export = e, .on_destroy = d, .last_error = l,
#ifdef NO_FIELDS_CAP
    .capabilities = 0,
#else
    .capabilities = OISP_EXPORTER_CAP_RECORD_FIELDS,
#endif
    .min_host_abi = { 1, 3 } };
OISP_EXPORT_API const oisp_exporter_plugin *oisp_exporter_entry(uint32_t ma, uint32_t mi) { (void)mi; return ma == OISP_EXPORTER_ABI_MAJOR ? &t : 0; }
