/* A small libcurl wrapper shared by the HTTP-based exporter plugins (OTLP, HTTP, S3,
 * Elasticsearch, Loki) and the core's kubelet client. It exists because curl_easy_setopt is
 * variadic and cannot be called from Swift. One handle per user keeps connections alive between
 * calls; a handle is not thread-safe. Not part of the exporter ABI: plugins link it as a helper. */
#ifndef OISP_HTTP_H
#define OISP_HTTP_H
#include <stddef.h>
#include <stdint.h>

#ifdef __cplusplus
extern "C" {
#endif

typedef struct oisp_http oisp_http;

enum { OISP_HTTP_DEFAULT = 0, OISP_HTTP_1_1 = 1, OISP_HTTP_2_PRIOR_KNOWLEDGE = 2, OISP_HTTP_2_TLS = 3 };

typedef struct oisp_http_request {
    const char *method;               /* "POST", "PUT", "GET", "HEAD", "DELETE" */
    const char *url;
    const char *const *headers;       /* "Name: value" lines */
    size_t header_count;
    const uint8_t *body;
    size_t body_len;
    int http_version;                 /* OISP_HTTP_* */
    long timeout_ms;
    const char *ca_file;              /* NULL: system CAs */
    const char *cert_file;            /* client certificate (mTLS) */
    const char *key_file;
    int insecure_skip_verify;         /* 1: do not verify the server certificate (off by default) */
    const char *userpwd;              /* "user:password" (basic auth, or AWS key id:secret) */
    const char *aws_sigv4;            /* e.g. "aws:amz:us-east-1:s3" → curl signs the request */
    size_t max_body_bytes;            /* a larger response body fails the call (0: no limit) */
} oisp_http_request;

typedef struct oisp_http_response {
    long status;                      /* HTTP status, 0 when no response */
    uint8_t *body;                    /* malloc'd, NUL-terminated */
    size_t body_len;
    char *headers;                    /* malloc'd: every header and trailer line, "name: value\n" */
    size_t headers_len;
    int curl_code;                    /* CURLcode; 0 = transfer completed */
    char error[256];
} oisp_http_response;

oisp_http *oisp_http_new(void);
/** Performs one request; returns curl_code. The response must be freed. */
int oisp_http_perform(oisp_http *h, const oisp_http_request *rq, oisp_http_response *rs);
void oisp_http_response_free(oisp_http_response *rs);
void oisp_http_free(oisp_http *h);

#ifdef __cplusplus
}
#endif
#endif
