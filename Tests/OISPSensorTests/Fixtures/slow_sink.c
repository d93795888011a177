/* Test fixture (ABI 1.2): a sink whose FIRST export call stalls for `stall_ms` before it
 * delivers, as a backend that stores a batch and answers too late does. Each call appends
 * "batch_id attempt record_offset count thread" to `path`.calls; each record's JSON goes to
 * `path` as one line. With stall_ms past timeout_ms + grace the host abandons the call and
 * parks the instance; the stalled call then delivers, and the host's retry delivers the same
 * batch again: at-least-once, which a sink de-duplicates by batch id or event id.
 * With `accept_first = n` the first call instead delivers n records and answers RETRY with
 * status->accepted = n: the host's retry must carry the rest, record_offset n, same batch_id. */
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include "oisp/exporter.h"

struct oisp_exporter_instance { FILE *out; FILE *calls; long stall_ms; long accept_first; int calls_made; pthread_mutex_t mu; };
static _Thread_local char err[128];

static oisp_export_result c(const oisp_exporter_config *cfg, const oisp_host_api *h, oisp_exporter_instance **o) {
    (void)h;
    oisp_exporter_instance *in = calloc(1, sizeof *in);
    *o = in;
    if (!in) { strcpy(err, "out of memory"); return OISP_EXPORT_PERMANENT; }
    pthread_mutex_init(&in->mu, 0);
    const char *path = 0;
    for (size_t i = 0; i < cfg->entry_count; i++) {
        if (!strcmp(cfg->entries[i].key, "path")) path = cfg->entries[i].value;
        if (!strcmp(cfg->entries[i].key, "stall_ms")) in->stall_ms = atol(cfg->entries[i].value);
        if (!strcmp(cfg->entries[i].key, "accept_first")) in->accept_first = atol(cfg->entries[i].value);
    }
    if (!path) { strcpy(err, "key 'path' is required"); return OISP_EXPORT_INVALID_CONFIG; }
    char cp[4096];
    snprintf(cp, sizeof cp, "%s.calls", path);
    in->out = fopen(path, "a");
    in->calls = fopen(cp, "a");
    if (!in->out || !in->calls) { strcpy(err, "cannot open path"); return OISP_EXPORT_INVALID_CONFIG; }
    return OISP_EXPORT_OK;
}

static oisp_export_result e(oisp_exporter_instance *in, const oisp_batch *b, oisp_export_status *s) {
    size_t off = b->struct_size >= offsetof(oisp_batch, record_offset) + sizeof b->record_offset ? b->record_offset : 0;
    pthread_mutex_lock(&in->mu);
    int first = in->calls_made++ == 0;
    fprintf(in->calls, "%llu %u %zu %zu %lu\n", (unsigned long long)b->batch_id, b->attempt, off, b->count,
            (unsigned long)pthread_self());
    fflush(in->calls);
    pthread_mutex_unlock(&in->mu);
    if (first && in->stall_ms > 0) {
        struct timespec ts = { in->stall_ms / 1000, (in->stall_ms % 1000) * 1000000L };
        nanosleep(&ts, 0);
    }
    size_t n = b->count;
    if (first && in->accept_first > 0 && (size_t)in->accept_first < n) n = (size_t)in->accept_first;
    pthread_mutex_lock(&in->mu);
    for (size_t i = 0; i < n; i++) {
        fwrite(b->records[i].json.ptr, 1, b->records[i].json.len, in->out);
        fputc('\n', in->out);
    }
    fflush(in->out);
    pthread_mutex_unlock(&in->mu);
    if (n < b->count) {
        s->accepted = n;
        snprintf(err, sizeof err, "backend took %zu of %zu records", n, b->count);
        return OISP_EXPORT_RETRY;
    }
    return OISP_EXPORT_OK;
}
static void d(oisp_exporter_instance *in) {
    if (!in) return;
    if (in->out) fclose(in->out);
    if (in->calls) fclose(in->calls);
    pthread_mutex_destroy(&in->mu);
    free(in);
}
static const char *l(oisp_exporter_instance *in) { (void)in; return err[0] ? err : 0; }
static const oisp_exporter_plugin t = {
    .struct_size = sizeof(oisp_exporter_plugin), .abi_major = OISP_EXPORTER_ABI_MAJOR, .abi_minor = OISP_EXPORTER_ABI_MINOR,
    .name = "slowsink", .version = "1.0.0", .on_create = c, .on_export = e, .on_destroy = d, .last_error = l,
    .min_host_abi = { 1, 2 } };
OISP_EXPORT_API const oisp_exporter_plugin *oisp_exporter_entry(uint32_t ma, uint32_t mi) { (void)mi; return ma == OISP_EXPORTER_ABI_MAJOR ? &t : 0; }
