/* Test fixture: an exporter that answers RETRY for the first `fail_times` export calls (or
 * PERMANENT for every call when `mode = "permanent"`), then appends each event's JSON as one
 * line to `path`, and each call's "batch_id attempt count result" to `path`.calls. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include "oisp/exporter.h"

#include <unistd.h>
struct oisp_exporter_instance { FILE *out; FILE *calls; long fail_times; int permanent; int hang; int garbage; long calls_made; char err[128]; };

static oisp_export_result c(const oisp_exporter_config *cfg, const oisp_host_api *h, oisp_exporter_instance **o) {
    (void)h;
    oisp_exporter_instance *in = calloc(1, sizeof *in);
    *o = in;
    const char *path = 0;
    for (size_t i = 0; i < cfg->entry_count; i++) {
        if (!strcmp(cfg->entries[i].key, "path")) path = cfg->entries[i].value;
        if (!strcmp(cfg->entries[i].key, "fail_times")) in->fail_times = atol(cfg->entries[i].value);
        if (!strcmp(cfg->entries[i].key, "mode")) {
            in->permanent = !strcmp(cfg->entries[i].value, "permanent");
            in->hang = !strcmp(cfg->entries[i].value, "hang");
            in->garbage = !strcmp(cfg->entries[i].value, "garbage");
        }
        if (!strcmp(cfg->entries[i].key, "fail_create")) { strcpy(in->err, "fail_create was set"); return OISP_EXPORT_INVALID_CONFIG; }
    }
    if (!path) { strcpy(in->err, "key 'path' is required"); return OISP_EXPORT_INVALID_CONFIG; }
    char cp[4096];
    snprintf(cp, sizeof cp, "%s.calls", path);
    in->out = fopen(path, "a");
    in->calls = fopen(cp, "a");
    return in->out && in->calls ? OISP_EXPORT_OK : OISP_EXPORT_INVALID_CONFIG;
}
static oisp_export_result e(oisp_exporter_instance *in, const oisp_batch *b, oisp_export_status *s) {
    (void)s;
    in->calls_made++;
    if (in->hang) { for (;;) sleep(3600); }
    if (in->garbage) { strcpy(in->err, "plugin bug"); return (oisp_export_result)42; }
    oisp_export_result r = OISP_EXPORT_OK;
    if (in->permanent) { r = OISP_EXPORT_PERMANENT; strcpy(in->err, "backend said 400 Bad Request"); }
    else if (in->calls_made <= in->fail_times) { r = OISP_EXPORT_RETRY; strcpy(in->err, "backend unavailable (503)"); }
    fprintf(in->calls, "%llu %u %zu %d\n", (unsigned long long)b->batch_id, b->attempt, b->count, (int)r);
    fflush(in->calls);
    if (r != OISP_EXPORT_OK) return r;
    for (size_t i = 0; i < b->count; i++) {
        fwrite(b->records[i].json.ptr, 1, b->records[i].json.len, in->out);
        fputc('\n', in->out);
    }
    fflush(in->out);
    return OISP_EXPORT_OK;
}
static void d(oisp_exporter_instance *in) { if (!in) return; if (in->out) fclose(in->out); if (in->calls) fclose(in->calls); free(in); }
static const char *l(oisp_exporter_instance *in) { return in && in->err[0] ? in->err : 0; }
static const oisp_exporter_plugin t = {
    .struct_size = sizeof(oisp_exporter_plugin), .abi_major = OISP_EXPORTER_ABI_MAJOR, .abi_minor = OISP_EXPORTER_ABI_MINOR,
    .name = "flaky", .version = "1.0.0", .on_create = c, .on_export = e, .on_destroy = d, .last_error = l };
const oisp_exporter_plugin *oisp_exporter_entry(uint32_t ma, uint32_t mi) { (void)mi; return ma == OISP_EXPORTER_ABI_MAJOR ? &t : 0; }
