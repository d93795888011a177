/* LD_PRELOAD shim counting malloc/calloc/realloc/posix_memalign calls; prints the total at exit.
 * Used by Benchmarks/run.sh to report allocations per event (slope between two input sizes). */
#define _GNU_SOURCE
#include <dlfcn.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <unistd.h>

static atomic_ulong calls;
static void *(*real_malloc)(size_t);
static void *(*real_calloc)(size_t, size_t);
static void *(*real_realloc)(void *, size_t);
static int (*real_memalign)(void **, size_t, size_t);
static char boot[1 << 16];
static size_t boot_used;

static void *boot_alloc(size_t n) { void *p = boot + boot_used; boot_used += (n + 15) & ~15UL; return p; }

void *malloc(size_t n) {
    if (!real_malloc) real_malloc = dlsym(RTLD_NEXT, "malloc");
    atomic_fetch_add(&calls, 1);
    return real_malloc(n);
}
void *calloc(size_t a, size_t b) {
    if (!real_calloc) { if (!real_malloc) return boot_alloc(a * b); real_calloc = dlsym(RTLD_NEXT, "calloc"); }
    atomic_fetch_add(&calls, 1);
    return real_calloc(a, b);
}
void *realloc(void *p, size_t n) {
    if (!real_realloc) real_realloc = dlsym(RTLD_NEXT, "realloc");
    atomic_fetch_add(&calls, 1);
    return real_realloc(p, n);
}
int posix_memalign(void **p, size_t a, size_t n) {
    if (!real_memalign) real_memalign = dlsym(RTLD_NEXT, "posix_memalign");
    atomic_fetch_add(&calls, 1);
    return real_memalign(p, a, n);
}
void free(void *p) {
    static void (*real_free)(void *);
    if ((char *)p >= boot && (char *)p < boot + sizeof boot) return;
    if (!real_free) real_free = dlsym(RTLD_NEXT, "free");
    real_free(p);
}
__attribute__((destructor)) static void report(void) {
    char buf[64];
    int n = snprintf(buf, sizeof buf, "malloc_calls=%lu\n", (unsigned long)atomic_load(&calls));
    (void)!write(2, buf, n);
}
