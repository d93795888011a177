#include "oisp_http.h"

#include <curl/curl.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

struct oisp_http { CURL *curl; };

struct buf { char *p; size_t n, cap, max; int over; };

static int grow(struct buf *b, size_t add) {
    if (b->n + add + 1 <= b->cap) return 0;
    size_t cap = b->cap ? b->cap * 2 : 4096;
    while (cap < b->n + add + 1) cap *= 2;
    char *p = realloc(b->p, cap);
    if (!p) return -1;
    b->p = p;
    b->cap = cap;
    return 0;
}

static size_t on_data(char *ptr, size_t size, size_t nmemb, void *ud) {
    struct buf *b = ud;
    size_t n = size * nmemb;
    if (b->max && b->n + n > b->max) { b->over = 1; return 0; } /* aborts with CURLE_WRITE_ERROR */
    if (grow(b, n)) return 0;
    memcpy(b->p + b->n, ptr, n);
    b->n += n;
    b->p[b->n] = 0;
    return n;
}

static pthread_once_t init_once = PTHREAD_ONCE_INIT;
static void curl_init(void) { curl_global_init(CURL_GLOBAL_DEFAULT); }
static void global_init(void) { pthread_once(&init_once, curl_init); }

oisp_http *oisp_http_new(void) {
    global_init();
    oisp_http *h = calloc(1, sizeof *h);
    if (!h) return NULL;
    h->curl = curl_easy_init();
    if (!h->curl) { free(h); return NULL; }
    return h;
}

int oisp_http_perform(oisp_http *h, const oisp_http_request *rq, oisp_http_response *rs) {
    memset(rs, 0, sizeof *rs);
    CURL *c = h->curl;
    curl_easy_reset(c);
    struct buf body = {0}, hdrs = {0};
    body.max = rq->max_body_bytes;
    struct curl_slist *list = NULL;
    for (size_t i = 0; i < rq->header_count; i++) list = curl_slist_append(list, rq->headers[i]);
    /* No "Expect: 100-continue" round trip; but with SigV4 leave the header list alone: curl
     * signs the blank "Expect:" line too, which the server never sees. */
    if (!rq->aws_sigv4) list = curl_slist_append(list, "Expect:");
    char errbuf[CURL_ERROR_SIZE] = {0};
    curl_easy_setopt(c, CURLOPT_URL, rq->url);
    curl_easy_setopt(c, CURLOPT_ERRORBUFFER, errbuf);
    curl_easy_setopt(c, CURLOPT_NOSIGNAL, 1L);
    curl_easy_setopt(c, CURLOPT_HTTPHEADER, list);
    curl_easy_setopt(c, CURLOPT_WRITEFUNCTION, on_data);
    curl_easy_setopt(c, CURLOPT_WRITEDATA, &body);
    curl_easy_setopt(c, CURLOPT_HEADERFUNCTION, on_data);
    curl_easy_setopt(c, CURLOPT_HEADERDATA, &hdrs);
    curl_easy_setopt(c, CURLOPT_TIMEOUT_MS, rq->timeout_ms > 0 ? rq->timeout_ms : 30000L);
    curl_easy_setopt(c, CURLOPT_CONNECTTIMEOUT_MS, rq->timeout_ms > 0 && rq->timeout_ms < 10000 ? rq->timeout_ms : 10000L);
    const char *m = rq->method ? rq->method : "POST";
    if (!strcmp(m, "POST") || !strcmp(m, "PUT")) {
        curl_easy_setopt(c, CURLOPT_POST, 1L);
        curl_easy_setopt(c, CURLOPT_POSTFIELDS, rq->body ? (const char *)rq->body : "");
        curl_easy_setopt(c, CURLOPT_POSTFIELDSIZE_LARGE, (curl_off_t)rq->body_len);
        if (!strcmp(m, "PUT")) curl_easy_setopt(c, CURLOPT_CUSTOMREQUEST, "PUT");
    } else if (!strcmp(m, "HEAD")) {
        curl_easy_setopt(c, CURLOPT_NOBODY, 1L);
    } else if (strcmp(m, "GET")) {
        curl_easy_setopt(c, CURLOPT_CUSTOMREQUEST, m);
    }
    switch (rq->http_version) {
    case OISP_HTTP_1_1: curl_easy_setopt(c, CURLOPT_HTTP_VERSION, (long)CURL_HTTP_VERSION_1_1); break;
    case OISP_HTTP_2_PRIOR_KNOWLEDGE:
        curl_easy_setopt(c, CURLOPT_HTTP_VERSION, (long)CURL_HTTP_VERSION_2_PRIOR_KNOWLEDGE);
        /* libcurl 7.88 fails ("HTTP2 framing layer") when reusing an h2c prior-knowledge
         * connection after a gRPC exchange; a new connection per batch is reliable. */
        curl_easy_setopt(c, CURLOPT_FORBID_REUSE, 1L);
        break;
    case OISP_HTTP_2_TLS: curl_easy_setopt(c, CURLOPT_HTTP_VERSION, (long)CURL_HTTP_VERSION_2TLS); break;
    default: break;
    }
    if (rq->ca_file) curl_easy_setopt(c, CURLOPT_CAINFO, rq->ca_file);
    if (rq->cert_file) curl_easy_setopt(c, CURLOPT_SSLCERT, rq->cert_file);
    if (rq->key_file) curl_easy_setopt(c, CURLOPT_SSLKEY, rq->key_file);
    if (rq->insecure_skip_verify) {
        curl_easy_setopt(c, CURLOPT_SSL_VERIFYPEER, 0L);
        curl_easy_setopt(c, CURLOPT_SSL_VERIFYHOST, 0L);
    }
    if (rq->userpwd) curl_easy_setopt(c, CURLOPT_USERPWD, rq->userpwd);
    if (rq->aws_sigv4) curl_easy_setopt(c, CURLOPT_AWS_SIGV4, rq->aws_sigv4);
    CURLcode rc = curl_easy_perform(c);
    rs->curl_code = (int)rc;
    curl_easy_getinfo(c, CURLINFO_RESPONSE_CODE, &rs->status);
    if (rc != CURLE_OK && body.over) {
        snprintf(rs->error, sizeof rs->error, "response body larger than %zu bytes", rq->max_body_bytes);
    } else if (rc != CURLE_OK) {
        const char *e = errbuf[0] ? errbuf : curl_easy_strerror(rc);
        strncpy(rs->error, e, sizeof rs->error - 1);
    }
    if (!body.p) { grow(&body, 0); body.p[0] = 0; }
    if (!hdrs.p) { grow(&hdrs, 0); hdrs.p[0] = 0; }
    rs->body = (uint8_t *)body.p;
    rs->body_len = body.n;
    rs->headers = hdrs.p;
    rs->headers_len = hdrs.n;
    curl_slist_free_all(list);
    return (int)rc;
}

void oisp_http_response_free(oisp_http_response *rs) {
    free(rs->body);
    free(rs->headers);
    rs->body = NULL;
    rs->headers = NULL;
}

void oisp_http_free(oisp_http *h) {
    if (!h) return;
    curl_easy_cleanup(h->curl);
    free(h);
}
