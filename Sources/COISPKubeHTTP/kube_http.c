#include "oisp_kube_http.h"

#include <curl/curl.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

struct oisp_kube_http {
    CURL *curl;
};

static pthread_once_t init_once = PTHREAD_ONCE_INIT;
static void global_init(void) { curl_global_init(CURL_GLOBAL_DEFAULT); }

typedef struct {
    oisp_kube_response *rs;
    size_t cap;
    size_t max;
} sink;

static size_t on_body(char *ptr, size_t size, size_t n, void *ud) {
    sink *s = ud;
    size_t len = size * n;
    if (s->max && s->rs->body_len + len > s->max) return 0; /* aborts with CURLE_WRITE_ERROR */
    if (s->rs->body_len + len + 1 > s->cap) {
        size_t cap = s->cap ? s->cap : 65536;
        while (cap < s->rs->body_len + len + 1) cap *= 2;
        uint8_t *b = realloc(s->rs->body, cap);
        if (!b) return 0;
        s->rs->body = b;
        s->cap = cap;
    }
    memcpy(s->rs->body + s->rs->body_len, ptr, len);
    s->rs->body_len += len;
    s->rs->body[s->rs->body_len] = 0;
    return len;
}

oisp_kube_http *oisp_kube_http_new(void) {
    pthread_once(&init_once, global_init);
    oisp_kube_http *h = calloc(1, sizeof *h);
    if (!h) return NULL;
    h->curl = curl_easy_init();
    if (!h->curl) { free(h); return NULL; }
    return h;
}

int oisp_kube_http_get(oisp_kube_http *h, const oisp_kube_get *rq, oisp_kube_response *rs) {
    memset(rs, 0, sizeof *rs);
    CURL *c = h->curl;
    curl_easy_reset(c);
    sink s = {rs, 0, rq->max_body_bytes};
    struct curl_slist *hdrs = NULL;
    char *auth = NULL;
    hdrs = curl_slist_append(hdrs, "Accept: application/json");
    if (rq->bearer_token && rq->bearer_token[0]) {
        size_t n = strlen(rq->bearer_token) + 32;
        auth = malloc(n);
        if (auth) {
            snprintf(auth, n, "Authorization: Bearer %s", rq->bearer_token);
            hdrs = curl_slist_append(hdrs, auth);
        }
    }
    curl_easy_setopt(c, CURLOPT_URL, rq->url);
    curl_easy_setopt(c, CURLOPT_HTTPGET, 1L);
    curl_easy_setopt(c, CURLOPT_HTTPHEADER, hdrs);
    curl_easy_setopt(c, CURLOPT_WRITEFUNCTION, on_body);
    curl_easy_setopt(c, CURLOPT_WRITEDATA, &s);
    curl_easy_setopt(c, CURLOPT_NOSIGNAL, 1L);
    curl_easy_setopt(c, CURLOPT_ACCEPT_ENCODING, ""); /* gzip when the server offers it */
    curl_easy_setopt(c, CURLOPT_PROTOCOLS_STR, "http,https");
    curl_easy_setopt(c, CURLOPT_ERRORBUFFER, rs->error);
    if (rq->timeout_ms > 0) {
        curl_easy_setopt(c, CURLOPT_TIMEOUT_MS, rq->timeout_ms);
        curl_easy_setopt(c, CURLOPT_CONNECTTIMEOUT_MS, rq->timeout_ms);
    }
    if (rq->ca_file && rq->ca_file[0]) curl_easy_setopt(c, CURLOPT_CAINFO, rq->ca_file);
    if (!rq->tls_verify) {
        curl_easy_setopt(c, CURLOPT_SSL_VERIFYPEER, 0L);
        curl_easy_setopt(c, CURLOPT_SSL_VERIFYHOST, 0L);
    }
    CURLcode rc = curl_easy_perform(c);
    rs->curl_code = (int)rc;
    if (rc != CURLE_OK && !rs->error[0]) snprintf(rs->error, sizeof rs->error, "%s", curl_easy_strerror(rc));
    curl_easy_getinfo(c, CURLINFO_RESPONSE_CODE, &rs->status);
    curl_easy_setopt(c, CURLOPT_ERRORBUFFER, NULL);
    curl_easy_setopt(c, CURLOPT_HTTPHEADER, NULL);
    curl_slist_free_all(hdrs);
    if (auth) { memset(auth, 0, strlen(auth)); free(auth); }
    return (int)rc;
}

void oisp_kube_response_free(oisp_kube_response *rs) {
    free(rs->body);
    rs->body = NULL;
    rs->body_len = 0;
}

void oisp_kube_http_free(oisp_kube_http *h) {
    if (!h) return;
    curl_easy_cleanup(h->curl);
    free(h);
}
