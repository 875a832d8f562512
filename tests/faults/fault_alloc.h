/*
 * fault_alloc.h - out-of-memory testing the way SQLite does it: run a script once counting
 * allocations, then once for every k with the k-th allocation failing (once; the ones after it
 * succeed again), and check that every call answered cleanly and nothing leaked.
 *
 * fa_install() puts counting allocators under libcashews (cw_set_allocators, for the whole
 * process: installed once, before any other call) and, on request, under SQLite
 * (SQLITE_CONFIG_MALLOC) and OpenSSL (CRYPTO_set_mem_functions), so that their allocations
 * count and fail too. fa_arm(k) makes the k-th allocation from now fail (-1: none);
 * fa_live() counts libcashews's blocks still allocated, so a test can see a leak without a
 * sanitizer (the ASan run of the suite sees the rest, SQLite's and OpenSSL's included).
 * The counting run (fa_arm(-1)) also records where each allocation came from: libcashews, or
 * a library (SQLite, OpenSSL) called from which place in libcashews (the first return
 * address in this executable above the library's frames). A library allocates hundreds of
 * times inside one call (opening a database, parsing a schema), and every failure in that
 * call reaches libcashews the same way, as that call's out-of-memory error; fa_sampled()
 * lets a sweep fail every allocation of libcashews, and of each library call the first, the
 * last and every stride-th one, where failing all of them would take minutes.
 * Header-only: each test binary has its own counters.
 */
#ifndef CW_FAULT_ALLOC_H
#define CW_FAULT_ALLOC_H

#include <dlfcn.h>
#include <execinfo.h>
#include <stdatomic.h>
#include <stdlib.h>
#include <string.h>

#include <cashews.h>

#ifdef FA_WITH_SQLITE
#include <sqlite3.h>
#endif

/* Of a library's allocations inside one call, a sweep fails the first, the last and every
 * FA_LIB_STRIDE-th (fa_sampled); the sanitizer builds run several times slower and sample
 * more sparsely. */
#if defined(__SANITIZE_ADDRESS__) || defined(__SANITIZE_THREAD__)
#define FA_LIB_STRIDE 32
#elif defined(__has_feature)
#if __has_feature(address_sanitizer) || __has_feature(thread_sanitizer)
#define FA_LIB_STRIDE 32
#endif
#endif
#ifndef FA_LIB_STRIDE
#define FA_LIB_STRIDE 8
#endif
#ifdef FA_WITH_OPENSSL
#include <openssl/crypto.h>
#endif

static _Atomic long fa_count = 0;   /* allocations since fa_arm() */
static _Atomic long fa_fail_at = -1; /* the one that fails */
static _Atomic int fa_failed = 0;   /* it happened */
static _Atomic long fa_blocks = 0;  /* libcashews's live blocks */

enum { FA_MAX_RECORD = 1 << 16 };
/* per allocation of the counting run: NULL for libcashews's, else the place in libcashews
 * that called the library */
static void *fa_site[FA_MAX_RECORD];
static const void *fa_exe_base;
static _Atomic int fa_recording; /* in the counting run */

/* The first return address in this executable above a library's frames (see above). */
static inline void *fa_caller_site(void)
{
    void *frames[48];
    int n = backtrace(frames, 48), in_lib = 0;
    for (int i = 1; i < n; i++) {
        Dl_info di;
        int mine = dladdr(frames[i], &di) && di.dli_fbase == fa_exe_base;
        if (!mine) in_lib = 1;
        else if (in_lib) return frames[i];
    }
    return (void *)1; /* unknown: a place of its own */
}

static inline int fa_fail_now_from(int lib)
{
    long n = atomic_fetch_add(&fa_count, 1);
    if (atomic_load(&fa_recording) && n < FA_MAX_RECORD) fa_site[n] = lib ? fa_caller_site() : NULL;
    if (n != atomic_load(&fa_fail_at)) return 0;
    atomic_store(&fa_failed, 1);
    return 1;
}

static inline int fa_fail_now(void) { return fa_fail_now_from(1); }

static inline void *fa_malloc(size_t n)
{
    void *p = fa_fail_now_from(0) ? NULL : malloc(n);
    if (p) atomic_fetch_add(&fa_blocks, 1);
    return p;
}
static inline void *fa_calloc(size_t n, size_t s)
{
    void *p = fa_fail_now_from(0) ? NULL : calloc(n, s);
    if (p) atomic_fetch_add(&fa_blocks, 1);
    return p;
}
static inline void *fa_realloc(void *p, size_t n)
{
    void *q = fa_fail_now_from(0) ? NULL : realloc(p, n);
    if (q && !p) atomic_fetch_add(&fa_blocks, 1);
    return q;
}
static inline void fa_free(void *p)
{
    if (p) atomic_fetch_sub(&fa_blocks, 1);
    free(p);
}

#ifdef FA_WITH_SQLITE
/* SQLite wants each block's size back: keep it in a 16-byte header. */
static inline void *fa_sq_malloc(int n)
{
    if (fa_fail_now()) return NULL;
    unsigned char *p = malloc((size_t)n + 16);
    if (!p) return NULL;
    memcpy(p, &n, sizeof n);
    return p + 16;
}
static inline void fa_sq_free(void *p)
{
    if (p) free((unsigned char *)p - 16);
}
static inline int fa_sq_size(void *p)
{
    int n = 0;
    if (p) memcpy(&n, (unsigned char *)p - 16, sizeof n);
    return n;
}
static inline void *fa_sq_realloc(void *p, int n)
{
    if (!p) return fa_sq_malloc(n);
    if (fa_fail_now()) return NULL;
    unsigned char *q = realloc((unsigned char *)p - 16, (size_t)n + 16);
    if (!q) return NULL;
    memcpy(q, &n, sizeof n);
    return q + 16;
}
static inline int fa_sq_roundup(int n) { return (n + 7) & ~7; }
static inline int fa_sq_init(void *ud) { (void)ud; return SQLITE_OK; }
static inline void fa_sq_shutdown(void *ud) { (void)ud; }
#endif

#ifdef FA_WITH_OPENSSL
static inline void *fa_ssl_malloc(size_t n, const char *file, int line)
{
    (void)file; (void)line;
    return fa_fail_now() ? NULL : malloc(n);
}
static inline void *fa_ssl_realloc(void *p, size_t n, const char *file, int line)
{
    (void)file; (void)line;
    return fa_fail_now() ? NULL : realloc(p, n);
}
static inline void fa_ssl_free(void *p, const char *file, int line)
{
    (void)file; (void)line;
    free(p);
}
#endif

/* Install the counting allocators: first thing in main(). 0 on success. */
static inline int fa_install(void)
{
#ifdef FA_WITH_OPENSSL
    if (!CRYPTO_set_mem_functions(fa_ssl_malloc, fa_ssl_realloc, fa_ssl_free)) return -1;
#endif
#ifdef FA_WITH_SQLITE
    static const sqlite3_mem_methods m = { fa_sq_malloc, fa_sq_free, fa_sq_realloc, fa_sq_size,
                                           fa_sq_roundup, fa_sq_init, fa_sq_shutdown, NULL };
    sqlite3_shutdown();
    if (sqlite3_config(SQLITE_CONFIG_MALLOC, &m) != SQLITE_OK || sqlite3_initialize() != SQLITE_OK) return -1;
#endif
    static const cw_allocators a = { fa_malloc, fa_calloc, fa_realloc, fa_free };
    cw_set_allocators(&a);
    Dl_info di;
    if (!dladdr((void *)fa_caller_site, &di)) return -1;
    fa_exe_base = di.dli_fbase;
    void *warm[2];
    backtrace(warm, 2); /* loads the unwinder now, not inside a counted call */
    return 0;
}

/* From now on count allocations; the k-th fails (k < 0: none, and this is the counting run
 * whose allocations fa_sampled() knows). */
static inline void fa_arm(long k)
{
    atomic_store(&fa_fail_at, -1);
    atomic_store(&fa_count, 0);
    atomic_store(&fa_failed, 0);
    atomic_store(&fa_recording, k < 0);
    atomic_store(&fa_fail_at, k);
}
/* Stop failing; the allocations counted since fa_arm(). */
static inline long fa_disarm(void)
{
    atomic_store(&fa_fail_at, -1);
    atomic_store(&fa_recording, 0);
    return atomic_load(&fa_count);
}
static inline int fa_did_fail(void) { return atomic_load(&fa_failed); }
/* Should a sweep fail allocation k of the counting run's @total? Every one of libcashews's; of
 * each library call, the first, the last and every stride-th (stride 1: all). */
static inline int fa_sampled(long k, long total, long stride)
{
    if (k < 0 || k >= FA_MAX_RECORD || !fa_site[k] || k % stride == 0) return 1;
    return k == 0 || fa_site[k - 1] != fa_site[k] || k + 1 >= total || fa_site[k + 1] != fa_site[k];
}
static inline long fa_live(void) { return atomic_load(&fa_blocks); }

#endif
