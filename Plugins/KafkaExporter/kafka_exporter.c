/*
 * oisp-sensor Kafka exporter (liboisp-exporter-kafka.so), built on librdkafka.
 * It sees only oisp/exporter.h. At-least-once: an export call returns OK only after every
 * record of its batch has a successful delivery report; a broker that is down or times out
 * gives RETRY (the host retries the batch), a record the broker can never take gives PERMANENT.
 *
 * Its options — type, default and help — are the plugin table's config_schema below, the one
 * place they are written (`oisp plugins describe kafka`; librdkafka properties pass through
 * under [export.kafka.librdkafka]).
 */
#include <librdkafka/rdkafka.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <time.h>

#include "oisp/exporter.h"

enum key_mode { KEY_EVENT_ID, KEY_HOST, KEY_PID, KEY_NONE };

/* One export call's delivery state: a counter the call waits on, one slot per message. */
struct batch_state {
    size_t reported; /* delivery reports received, atomic */
};

/* Delivery state of one record of the batch in flight. */
struct slot {
    int done;
    rd_kafka_resp_err_t err;
    struct batch_state *batch;
};

struct oisp_exporter_instance {
    rd_kafka_t *rk;
    rd_kafka_topic_t *rkt;
    char topic[256];
    enum key_mode key_mode;
    int timeout_ms;
    const oisp_host_api *host;
    char error[1024];
};

/* on_export runs on several host threads at once (OISP_EXPORTER_CAP_CONCURRENT_EXPORT): an
 * export's error text is kept per thread, and last_error, which the host calls on the thread
 * whose call failed right after it returned, reads that thread's text. */
static _Thread_local char thread_error[1024];
static _Thread_local int thread_error_set;

/* on_create's errors: the instance is not shared yet */
static void set_error(oisp_exporter_instance *in, const char *fmt, const char *a, const char *b) {
    snprintf(in->error, sizeof in->error, fmt, a ? a : "", b ? b : "");
}

/* on_export's errors: this thread's own text, never the shared instance buffer */
static void set_export_error(const char *fmt, const char *a) {
    snprintf(thread_error, sizeof thread_error, fmt, a ? a : "");
    thread_error_set = 1;
}

static void host_log(oisp_exporter_instance *in, oisp_log_level lvl, const char *msg) {
    if (in->host) in->host->callback_log(in->host->host_ctx, lvl, msg, strlen(msg));
}

static void on_delivery(rd_kafka_t *rk, const rd_kafka_message_t *m, void *opaque) {
    (void)rk;
    (void)opaque;
    struct slot *s = m->_private;
    if (!s) return;
    /* any thread's rd_kafka_poll may serve this report: publish err before done */
    s->err = m->err;
    __atomic_store_n(&s->done, 1, __ATOMIC_RELEASE);
    __atomic_add_fetch(&s->batch->reported, 1, __ATOMIC_RELEASE);
}

static void on_log(const rd_kafka_t *rk, int level, const char *fac, const char *buf) {
    oisp_exporter_instance *in = rd_kafka_opaque(rk);
    if (!in || level > 4) return; /* warnings and worse only */
    char msg[1200];
    snprintf(msg, sizeof msg, "librdkafka %s: %s", fac, buf);
    host_log(in, level <= 3 ? OISP_LOG_ERROR : OISP_LOG_WARN, msg);
}

static int set(rd_kafka_conf_t *conf, oisp_exporter_instance *in, const char *k, const char *v) {
    char err[512];
    if (rd_kafka_conf_set(conf, k, v, err, sizeof err) != RD_KAFKA_CONF_OK) {
        snprintf(in->error, sizeof in->error, "librdkafka property '%s' = '%s': %s", k, v, err);
        return -1;
    }
    return 0;
}

static const char *get(const oisp_exporter_config *c, const char *key) {
    for (size_t i = 0; i < c->entry_count; i++)
        if (strcmp(c->entries[i].key, key) == 0) return c->entries[i].value;
    return NULL;
}

/* Fluent Bit's booleans, as the host checks them against the schema: true/false or On/Off. */
static int is_true(const char *v) { return v && (!strcasecmp(v, "true") || !strcasecmp(v, "on")); }
static int is_false(const char *v) { return v && (!strcasecmp(v, "false") || !strcasecmp(v, "off")); }

static oisp_export_result kafka_create(const oisp_exporter_config *c, const oisp_host_api *host,
                                       oisp_exporter_instance **out) {
    oisp_exporter_instance *in = calloc(1, sizeof *in);
    if (!in) return OISP_EXPORT_PERMANENT;
    *out = in;
    in->host = host;
    const char *brokers = get(c, "brokers");
    const char *topic = get(c, "topic");
    if (!brokers || !*brokers) { set_error(in, "key 'brokers': required (array or comma-separated host:port list)%s%s", NULL, NULL); return OISP_EXPORT_INVALID_CONFIG; }
    if (!topic || !*topic) topic = "oisp-events";
    snprintf(in->topic, sizeof in->topic, "%s", topic);
    const char *km = get(c, "key_mode");
    in->key_mode = KEY_HOST;
    if (km) {
        if (!strcmp(km, "event_id")) in->key_mode = KEY_EVENT_ID;
        else if (!strcmp(km, "host")) in->key_mode = KEY_HOST;
        else if (!strcmp(km, "pid")) in->key_mode = KEY_PID;
        else if (!strcmp(km, "none")) in->key_mode = KEY_NONE;
        else { set_error(in, "key 'key_mode': expected event_id, host, pid or none, got '%s'%s", km, NULL); return OISP_EXPORT_INVALID_CONFIG; }
    }
    const char *to = get(c, "timeout_ms");
    in->timeout_ms = to ? atoi(to) : 30000;
    if (in->timeout_ms <= 0) in->timeout_ms = 30000;

    rd_kafka_conf_t *conf = rd_kafka_conf_new();
    char buf[64];
    const char *comp = get(c, "compression");
    if (comp && strcmp(comp, "snappy") && strcmp(comp, "gzip") && strcmp(comp, "lz4") && strcmp(comp, "zstd") && strcmp(comp, "none")) {
        set_error(in, "key 'compression': expected snappy, gzip, lz4, zstd or none, got '%s'%s", comp, NULL);
        rd_kafka_conf_destroy(conf);
        return OISP_EXPORT_INVALID_CONFIG;
    }
    /* acks and idempotence, as the Java producer settles them: idempotence is on by default,
     * but an explicit acks other than all turns it off (it needs acks=all); asking for both is
     * a contradiction and is refused by key. */
    const char *acks = get(c, "acks") ? get(c, "acks") : "all";
    int acks_all = !strcmp(acks, "all") || !strcmp(acks, "-1");
    const char *idem_v = get(c, "idempotence");
    int idem = idem_v ? is_true(idem_v) : acks_all;
    if (idem_v && idem && !acks_all) {
        set_error(in, "key 'acks': idempotence = true needs acks = \"all\", got '%s'%s", acks, NULL);
        rd_kafka_conf_destroy(conf);
        return OISP_EXPORT_INVALID_CONFIG;
    }
    if (!idem_v && !acks_all) {
        char m[160];
        snprintf(m, sizeof m, "kafka exporter: acks = %s, so the idempotent producer is off (it needs acks = all)", acks);
        host_log(in, OISP_LOG_INFO, m);
    }
    if (set(conf, in, "bootstrap.servers", brokers) ||
        set(conf, in, "compression.codec", comp ? comp : "snappy") ||
        set(conf, in, "acks", acks) ||
        set(conf, in, "enable.idempotence", idem ? "true" : "false") ||
        set(conf, in, "linger.ms", get(c, "linger_ms") ? get(c, "linger_ms") : "5") ||
        (snprintf(buf, sizeof buf, "%d", in->timeout_ms), set(conf, in, "message.timeout.ms", buf)) ||
        set(conf, in, "client.id", "oisp-sensor")) {
        rd_kafka_conf_destroy(conf);
        return OISP_EXPORT_INVALID_CONFIG;
    }
    if (get(c, "batch_size") && set(conf, in, "batch.num.messages", get(c, "batch_size"))) { rd_kafka_conf_destroy(conf); return OISP_EXPORT_INVALID_CONFIG; }
    /* `tls = true`, or a table: tls = { enabled = true, ca_file = "…", verify = false } */
    int tls = is_true(get(c, "tls")) || is_true(get(c, "tls.enabled"));
    const char *mech = get(c, "sasl_mechanism");
    if (mech || tls) {
        if (set(conf, in, "security.protocol", mech ? (tls ? "sasl_ssl" : "sasl_plaintext") : "ssl")) { rd_kafka_conf_destroy(conf); return OISP_EXPORT_INVALID_CONFIG; }
    }
    if (mech && (set(conf, in, "sasl.mechanism", mech) ||
                 (get(c, "sasl_username") && set(conf, in, "sasl.username", get(c, "sasl_username"))) ||
                 (get(c, "sasl_password") && set(conf, in, "sasl.password", get(c, "sasl_password"))))) {
        rd_kafka_conf_destroy(conf);
        return OISP_EXPORT_INVALID_CONFIG;
    }
    const char *ca = get(c, "ca_file") ? get(c, "ca_file") : get(c, "tls.ca_file");
    if (ca && set(conf, in, "ssl.ca.location", ca)) { rd_kafka_conf_destroy(conf); return OISP_EXPORT_INVALID_CONFIG; }
    /* certificates are verified unless the config says tls_verify = false (as the other exporters) */
    const char *verify = get(c, "tls_verify") ? get(c, "tls_verify") : get(c, "tls.verify");
    if (verify && !is_true(verify) && !is_false(verify)) {
        set_error(in, "key 'tls_verify': expected a boolean (true/false or On/Off), got '%s'%s", verify, NULL);
        rd_kafka_conf_destroy(conf);
        return OISP_EXPORT_INVALID_CONFIG;
    }
    if (verify && is_false(verify) && set(conf, in, "enable.ssl.certificate.verification", "false")) {
        rd_kafka_conf_destroy(conf);
        return OISP_EXPORT_INVALID_CONFIG;
    }
    /* [export.kafka.librdkafka] pass-through */
    for (size_t i = 0; i < c->entry_count; i++) {
        const char *k = c->entries[i].key;
        if (strncmp(k, "librdkafka.", 11) == 0 && set(conf, in, k + 11, c->entries[i].value)) {
            rd_kafka_conf_destroy(conf);
            return OISP_EXPORT_INVALID_CONFIG;
        }
    }
    rd_kafka_conf_set_dr_msg_cb(conf, on_delivery);
    rd_kafka_conf_set_log_cb(conf, on_log);
    rd_kafka_conf_set_opaque(conf, in);
    char err[512];
    in->rk = rd_kafka_new(RD_KAFKA_PRODUCER, conf, err, sizeof err);
    if (!in->rk) {
        set_error(in, "creating the Kafka producer failed: %s%s", err, NULL);
        return OISP_EXPORT_INVALID_CONFIG;
    }
    in->rkt = rd_kafka_topic_new(in->rk, in->topic, NULL);
    char msg[512];
    snprintf(msg, sizeof msg, "kafka exporter: topic %s, brokers %s, compression %s", in->topic, brokers, comp ? comp : "snappy");
    host_log(in, OISP_LOG_INFO, msg);
    return OISP_EXPORT_OK;
}

static long now_ms(void) {
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return ts.tv_sec * 1000L + ts.tv_nsec / 1000000L;
}

/* A record that can never be taken however often it is sent (over message.max.bytes, by
 * librdkafka's own check or the broker's; a record the broker calls invalid): it is refused on
 * its own and the rest of its batch goes on (ABI 1.1 `rejected`). */
static int record_refused(rd_kafka_resp_err_t e) {
    switch (e) {
    case RD_KAFKA_RESP_ERR_MSG_SIZE_TOO_LARGE:
    case RD_KAFKA_RESP_ERR_INVALID_MSG:
    case RD_KAFKA_RESP_ERR_INVALID_RECORD:
        return 1;
    default:
        return 0;
    }
}

/* Whether a failure that concerns the whole batch may pass (broker down, leader moving) or not
 * (no rights on the topic, a bad argument). */
static int retriable(rd_kafka_resp_err_t e) {
    switch (e) {
    case RD_KAFKA_RESP_ERR_TOPIC_AUTHORIZATION_FAILED:
    case RD_KAFKA_RESP_ERR__INVALID_ARG:
        return 0;
    default:
        return 1;
    }
}

static oisp_export_result kafka_export(oisp_exporter_instance *in, const oisp_batch *b, oisp_export_status *st) {
    /* Payloads are handed to librdkafka without copying: the host keeps every record valid for
     * the whole call, and this call returns only after each message's delivery report (success,
     * failure or purge) has arrived, so librdkafka never holds a pointer past the call. */
    struct slot *slots = calloc(b->count ? b->count : 1, sizeof *slots);
    if (!slots) return OISP_EXPORT_RETRY;
    struct batch_state state = {0};
    for (size_t i = 0; i < b->count; i++) slots[i].batch = &state;
    size_t queued = 0; /* messages given to librdkafka: each gets one delivery report */
    size_t tried = 0;  /* records[0..tried) were produced or refused */
    rd_kafka_resp_err_t produce_err = RD_KAFKA_RESP_ERR_NO_ERROR;
    for (size_t i = 0; i < b->count; i++) {
        const oisp_record *r = &b->records[i];
        const void *key = NULL;
        size_t keylen = 0;
        char pidkey[32];
        switch (in->key_mode) {
        case KEY_EVENT_ID: key = r->event_id.ptr; keylen = r->event_id.len; break;
        case KEY_HOST: {
            /* partition key is "host/pid": the host part keeps a node's events together */
            const char *pk = (const char *)r->partition_key.ptr;
            size_t n = r->partition_key.len, h = 0;
            while (h < n && pk[h] != '/') h++;
            key = pk; keylen = h;
            break;
        }
        case KEY_PID: {
            const char *pk = (const char *)r->partition_key.ptr;
            size_t n = r->partition_key.len, h = 0;
            while (h < n && pk[h] != '/') h++;
            size_t len = h < n ? n - h - 1 : 0;
            if (len >= sizeof pidkey) len = sizeof pidkey - 1;
            memcpy(pidkey, pk + (h < n ? h + 1 : n), len);
            pidkey[len] = 0;
            key = pidkey; keylen = len;
            break;
        }
        case KEY_NONE: break;
        }
        rd_kafka_resp_err_t e;
        for (;;) {
            e = rd_kafka_producev(in->rk, RD_KAFKA_V_RKT(in->rkt), RD_KAFKA_V_VALUE((void *)r->json.ptr, r->json.len),
                                  RD_KAFKA_V_KEY(key, keylen), RD_KAFKA_V_MSGFLAGS(0),
                                  RD_KAFKA_V_HEADER("event_type", r->event_type, -1),
                                  RD_KAFKA_V_HEADER("oisp_version", "0.1", -1),
                                  RD_KAFKA_V_OPAQUE(&slots[i]), RD_KAFKA_V_END);
            if (e != RD_KAFKA_RESP_ERR__QUEUE_FULL) break;
            rd_kafka_poll(in->rk, 50); /* local queue full: let deliveries drain */
        }
        if (e && record_refused(e)) { /* refused before sending: no report will come */
            slots[i].err = e;
            slots[i].done = 1;
            tried++;
            continue;
        }
        if (e) { produce_err = e; break; }
        queued++;
        tried++;
    }
    /* Wait for every delivery report of this batch, bounded by timeout_ms. */
    long deadline = now_ms() + in->timeout_ms + 1000;
    size_t done = 0;
    while ((done = __atomic_load_n(&state.reported, __ATOMIC_ACQUIRE)) < queued && now_ms() < deadline)
        rd_kafka_poll(in->rk, 20);
    oisp_export_result res = OISP_EXPORT_OK;
    thread_error_set = 0;
    if (done < queued) {
        /* Not confirmed in time: purge what is still queued or in flight so it is not sent after
         * the retry. Purged messages still get (failed) delivery reports, which point into
         * `slots` and whose payloads are the host's records: wait for every one before
         * returning (librdkafka reports each message exactly once; purged ones at once). */
        rd_kafka_purge(in->rk, RD_KAFKA_PURGE_F_QUEUE | RD_KAFKA_PURGE_F_INFLIGHT);
        long warn_at = now_ms() + 5000;
        while (__atomic_load_n(&state.reported, __ATOMIC_ACQUIRE) < queued) {
            rd_kafka_poll(in->rk, 20);
            if (warn_at && now_ms() > warn_at) {
                host_log(in, OISP_LOG_WARN, "kafka exporter: still waiting for purged messages' delivery reports");
                warn_at = 0;
            }
        }
        set_export_error("delivery not confirmed within timeout_ms (brokers unreachable?)%s", NULL);
        res = OISP_EXPORT_RETRY;
    }
    /* settled: delivered, or refused for good (counted as rejected, never resent) */
    size_t accepted = 0, rejected = 0;
    while (accepted < tried && __atomic_load_n(&slots[accepted].done, __ATOMIC_ACQUIRE) &&
           (slots[accepted].err == RD_KAFKA_RESP_ERR_NO_ERROR || record_refused(slots[accepted].err)))
        accepted++;
    if (res == OISP_EXPORT_OK) {
        for (size_t i = 0; i < tried; i++) {
            if (slots[i].err && !record_refused(slots[i].err)) {
                set_export_error("delivery failed: %s", rd_kafka_err2str(slots[i].err));
                res = retriable(slots[i].err) ? OISP_EXPORT_RETRY : OISP_EXPORT_PERMANENT;
                break;
            }
        }
    }
    if (res == OISP_EXPORT_OK && produce_err) {
        set_export_error("produce failed: %s", rd_kafka_err2str(produce_err));
        res = retriable(produce_err) ? OISP_EXPORT_RETRY : OISP_EXPORT_PERMANENT;
    }
    if (res == OISP_EXPORT_OK) accepted = tried; /* every record settled */
    if (res == OISP_EXPORT_OK || res == OISP_EXPORT_RETRY) {
        const oisp_record *first = NULL;
        rd_kafka_resp_err_t why = RD_KAFKA_RESP_ERR_NO_ERROR;
        for (size_t i = 0; i < accepted; i++)
            if (slots[i].err) { if (!first) { first = &b->records[i]; why = slots[i].err; } rejected++; }
        /* min_host_abi is 1.1, so the host's status has `rejected` (a 1.0 host refuses us) */
        if (rejected) {
            st->rejected = rejected;
            if (res == OISP_EXPORT_OK) {
                snprintf(thread_error, sizeof thread_error, "%zu record(s) refused for good: %s (first: event %.*s, %zu bytes)",
                         rejected, rd_kafka_err2str(why), (int)first->event_id.len, (const char *)first->event_id.ptr, first->json.len);
                thread_error_set = 1;
            }
        }
    }
    if (res == OISP_EXPORT_RETRY) st->accepted = accepted;
    if (res == OISP_EXPORT_OK) in->host->callback_counter_add(in->host->host_ctx, "kafka_messages", tried - rejected);
    free(slots);
    return res;
}

static oisp_export_result kafka_flush(oisp_exporter_instance *in, uint32_t timeout_ms) {
    return rd_kafka_flush(in->rk, (int)timeout_ms) == RD_KAFKA_RESP_ERR_NO_ERROR ? OISP_EXPORT_OK : OISP_EXPORT_RETRY;
}

static void kafka_destroy(oisp_exporter_instance *in) {
    if (!in) return;
    if (in->rk) {
        rd_kafka_flush(in->rk, 5000);
        if (in->rkt) rd_kafka_topic_destroy(in->rkt);
        rd_kafka_destroy(in->rk);
    }
    free(in);
}

static const char *kafka_last_error(oisp_exporter_instance *in) {
    if (thread_error_set) return thread_error;
    return in && in->error[0] ? in->error : NULL;
}

static const oisp_exporter_plugin plugin = {
    .struct_size = sizeof(oisp_exporter_plugin),
    .abi_major = OISP_EXPORTER_ABI_MAJOR,
    .abi_minor = OISP_EXPORTER_ABI_MINOR,
    .name = "kafka",
    .version = "0.1.0",
    .description = "Apache Kafka producer (librdkafka), at-least-once, one message per event",
    /* The option table: every key it reads, once, with type, default and help. "additionalProperties":
     * false lets the host warn about any other key; the types let it refuse a wrong value with
     * file:line; `oisp plugins describe kafka` prints it. */
    .config_schema = "{\"type\":\"object\",\"required\":[\"brokers\"],\"additionalProperties\":false,\"properties\":{"
                     "\"brokers\":{\"type\":[\"array\",\"string\"],\"description\":\"Bootstrap brokers: an array or a comma-separated host:port list\"},"
                     "\"topic\":{\"type\":\"string\",\"default\":\"oisp-events\",\"description\":\"Topic to produce to\"},"
                     "\"compression\":{\"enum\":[\"snappy\",\"gzip\",\"lz4\",\"zstd\",\"none\"],\"default\":\"none\",\"description\":\"Message compression\"},"
                     "\"key_mode\":{\"enum\":[\"event_id\",\"host\",\"pid\",\"none\"],\"default\":\"host\",\"description\":\"Message key (partitioning)\"},"
                     "\"linger_ms\":{\"type\":\"integer\",\"minimum\":0,\"default\":\"5\",\"description\":\"librdkafka linger.ms\"},"
                     "\"acks\":{\"enum\":[\"all\",\"-1\",\"0\",\"1\"],\"default\":\"all\",\"description\":\"Broker acknowledgements\"},"
                     "\"idempotence\":{\"type\":\"boolean\",\"description\":\"Idempotent producer; default on when acks = all\"},"
                     "\"sasl_mechanism\":{\"type\":\"string\",\"description\":\"SASL mechanism (PLAIN, SCRAM-SHA-256, SCRAM-SHA-512)\"},"
                     "\"sasl_username\":{\"type\":\"string\",\"description\":\"SASL user\"},"
                     "\"sasl_password\":{\"type\":\"string\",\"description\":\"SASL password (use ${ENV})\"},"
                     "\"tls_verify\":{\"type\":\"boolean\",\"default\":\"true\",\"description\":\"Verify the broker's certificate\"},"
                     "\"ca_file\":{\"type\":\"string\",\"description\":\"CA bundle (PEM)\"},"
                     "\"tls\":{\"type\":[\"boolean\",\"object\"],\"default\":\"false\",\"description\":\"TLS to the brokers (true), or a table of TLS settings\","
                     "\"additionalProperties\":false,\"properties\":{\"enabled\":{\"type\":\"boolean\",\"description\":\"TLS on\"},"
                     "\"ca_file\":{\"type\":\"string\",\"description\":\"CA bundle (PEM)\"},\"verify\":{\"type\":\"boolean\",\"description\":\"Verify the broker's certificate\"}}},"
                     "\"librdkafka\":{\"type\":\"object\",\"description\":\"librdkafka properties passed through as they are\"}}}",
    .capabilities = OISP_EXPORTER_CAP_CONCURRENT_EXPORT, /* librdkafka's producer is thread-safe */
    .on_create = kafka_create,
    .on_export = kafka_export,
    .on_flush = kafka_flush,
    .on_destroy = kafka_destroy,
    .last_error = kafka_last_error,
    .min_host_abi = {1, 1}, /* writes status->rejected unconditionally */
};

OISP_EXPORT_API const oisp_exporter_plugin *oisp_exporter_entry(uint32_t host_abi_major, uint32_t host_abi_minor) {
    (void)host_abi_minor;
    return host_abi_major == OISP_EXPORTER_ABI_MAJOR ? &plugin : NULL;
}
