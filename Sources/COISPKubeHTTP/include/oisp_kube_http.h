/* A GET over libcurl for the core's Kubernetes metadata source (the kubelet's /pods). The
 * exporter plugins have their own wrapper (Plugins/Shared/COISPHTTP); the core does not import
 * plugin code, so it has this one. curl_easy_setopt is variadic and cannot be called from Swift. */
#ifndef OISP_KUBE_HTTP_H
#define OISP_KUBE_HTTP_H
#include <stddef.h>
#include <stdint.h>

#ifdef __cplusplus
extern "C" {
#endif

typedef struct oisp_kube_http oisp_kube_http;

typedef struct oisp_kube_get {
    const char *url;
    const char *bearer_token;     /* NULL or "": no Authorization header */
    const char *ca_file;          /* NULL: the system CAs */
    int tls_verify;               /* 0: do not verify the server certificate */
    long timeout_ms;
    size_t max_body_bytes;        /* a larger body fails the call (0: no limit) */
} oisp_kube_get;

typedef struct oisp_kube_response {
    long status;                  /* HTTP status, 0 when no response */
    uint8_t *body;                /* malloc'd; OWNERSHIP: the caller frees with oisp_kube_response_free */
    size_t body_len;
    int curl_code;                /* CURLcode; 0 = transfer completed */
    char error[256];              /* curl's message when curl_code != 0 */
} oisp_kube_response;

/** A handle that keeps its connection alive between calls; NULL when libcurl fails to start. */
oisp_kube_http *oisp_kube_http_new(void);
/** Performs one GET; returns curl_code (0: a response was read, whatever its status). Not
 * thread-safe per handle. */
int oisp_kube_http_get(oisp_kube_http *h, const oisp_kube_get *rq, oisp_kube_response *rs);
void oisp_kube_response_free(oisp_kube_response *rs);
void oisp_kube_http_free(oisp_kube_http *h);

#ifdef __cplusplus
}
#endif
#endif
