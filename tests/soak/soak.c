/*
 * soak.c - `make soak [SOAK_SECONDS=N]` (issue 13, "Soak"): several threads of random commands
 * and cached-function calls, values of 1 B to 1 MiB (log-uniform: most small, some huge) with
 * random TTLs, on three backends of one cache at once:
 *
 *   m:  mem://  with a byte limit (max_bytes=16m)
 *   r:  redis:// with the client-side cache (100 entries; a real redis-server the harness starts)
 *   d:  disk:// with a size limit (size_limit=32m)
 * 2000 keys a backend, about 150 MB of values: the limits evict all the time.
 *
 * plus counters that must not be evicted on unbounded backends (mc: mem, dc: disk; Redis has
 * no limit: r:ctr:). For N seconds (default 60; `make test` runs 20), while the main thread
 * samples the process's RSS every second and runs cw_cache_maintain() as an application
 * would. It fails (exit 1) when:
 *   - a call answers anything but its expected statuses (CW_OK, CW_NOTFOUND, CW_NOTSTORED);
 *   - a value read back is not whole: every value carries its own seed and length, so any
 *     read can be checked whichever write it came from; a cached function's value must be
 *     exactly its loader's for the argument;
 *   - a counter differs from the increments acknowledged (per thread, and one shared by all);
 *   - RSS grows in the second half: the mean of the last quarter's samples more than 5%
 *     above the mean of the third quarter's.
 * It prints the RSS curve (every sample, and start / middle / end) and the calls by outcome.
 */
#include <malloc.h>
#include <math.h>
#include <pthread.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include <cashews.h>
#include <cashews/func.h>

#include "redis_server.h"

enum { THREADS = 3, KEYS = 2000, FARGS = 300, MAX_VALUE = 1 << 20, MAX_SAMPLES = 4096 };
static const char *const backends[3] = { "m:", "r:", "d:" };
static const char *const counter_prefix[3] = { "mc:", "r:ctr:", "dc:" };

typedef struct soak {
    cw_cache *c;
    cw_func *funcs[3];
    atomic_int stop;
    _Atomic uint64_t calls, hits, misses, unexpected, corrupt;
    _Atomic int64_t shared[3]; /* increments acknowledged on the shared counters */
    char first_error[512];
    pthread_mutex_t mu;
} soak;

typedef struct worker {
    soak *s;
    int id;
    uint64_t rng;
    int64_t mine[3]; /* increments acknowledged on this thread's counters */
    cw_value v;
    unsigned char *buf;
} worker;

static uint64_t next(uint64_t *s)
{
    uint64_t z = (*s += 0x9E3779B97F4A7C15ull);
    z = (z ^ (z >> 30)) * 0xBF58476D1CE4E5B9ull;
    z = (z ^ (z >> 27)) * 0x94D049BB133111EBull;
    return z ^ (z >> 31);
}

/* 1 B to 1 MiB, log-uniform. */
static size_t value_size(uint64_t r)
{
    double u = (double)(r >> 11) / 9007199254740992.0;
    size_t n = (size_t)exp(u * log((double)MAX_VALUE));
    return n < 1 ? 1 : n > MAX_VALUE ? MAX_VALUE : n;
}

/* A self-describing value: up to 12 bytes of header (seed, length), then bytes from the
 * seed. Values shorter than the header are a prefix of it and checked as such. */
static size_t make_value(unsigned char *p, size_t n, uint64_t seed)
{
    unsigned char hdr[12];
    memcpy(hdr, &seed, 8);
    uint32_t n32 = (uint32_t)n;
    memcpy(hdr + 8, &n32, 4);
    memcpy(p, hdr, n < 12 ? n : 12);
    for (size_t i = 12; i < n; i++) p[i] = (unsigned char)(seed + i * 131 + (i >> 8));
    return n;
}

static int value_ok(const unsigned char *p, size_t n)
{
    if (n < 12) return 1; /* too short to say more than "some bytes" */
    uint64_t seed;
    uint32_t n32;
    memcpy(&seed, p, 8);
    memcpy(&n32, p + 8, 4);
    if (n32 != n) return 0;
    for (size_t i = 12; i < n; i++)
        if (p[i] != (unsigned char)(seed + i * 131 + (i >> 8))) return 0;
    return 1;
}

/* The cached functions' loader: the value for argument x is make_value(size(x), x). */
static int loader(void *ud, const cw_arg *args, size_t nargs, cw_value *out)
{
    (void)ud;
    (void)nargs;
    uint64_t x = (uint64_t)args[0].v.i, r = x * 0x9E3779B97F4A7C15ull;
    size_t n = value_size(next(&r)) / 4 + 1; /* up to 256 KiB */
    unsigned char *p = malloc(n);
    if (!p) return CW_ENOMEM;
    make_value(p, n, x);
    int st = cw_value_set(out, p, n);
    free(p);
    return st;
}

static void unexpected(worker *w, const char *what, const char *key, int st)
{
    soak *s = w->s;
    if (atomic_fetch_add(&s->unexpected, 1) == 0) {
        pthread_mutex_lock(&s->mu);
        snprintf(s->first_error, sizeof s->first_error, "%s %s -> %s: %s", what, key, cw_strerror(st),
                 cw_cache_errmsg(s->c));
        pthread_mutex_unlock(&s->mu);
    }
}

static void expect(worker *w, const char *what, const char *key, int st, int also)
{
    atomic_fetch_add(&w->s->calls, 1);
    if (st == CW_OK || st == CW_NOTFOUND || st == CW_NOTSTORED || (also && st == also)) return;
    unexpected(w, what, key, st);
}

static int64_t random_ttl(uint64_t r)
{
    static const int64_t ttls[] = { CW_NO_EXPIRY, 100, 1000, 5000, 30000, CW_NO_EXPIRY };
    return ttls[r % (sizeof ttls / sizeof *ttls)];
}

static void one_call(worker *w)
{
    soak *s = w->s;
    uint64_t r = next(&w->rng);
    int b = (int)(r % 3), op = (int)((r >> 8) % 100);
    char key[64];
    snprintf(key, sizeof key, "%sk:%u", backends[b], (unsigned)((r >> 20) % KEYS));
    int st;
    if (op < 30) { /* set */
        size_t n = make_value(w->buf, value_size(next(&w->rng)), next(&w->rng));
        st = cw_set(s->c, key, w->buf, n, random_ttl(r >> 40));
        expect(w, "set", key, st, 0);
    } else if (op < 60) { /* get */
        st = cw_get(s->c, key, &w->v);
        expect(w, "get", key, st, 0);
        if (st == CW_OK) {
            atomic_fetch_add(&s->hits, 1);
            if (!value_ok(w->v.data, w->v.len)) {
                atomic_fetch_add(&s->corrupt, 1);
                unexpected(w, "get (bytes)", key, CW_ECORRUPT);
            }
        } else {
            atomic_fetch_add(&s->misses, 1);
        }
    } else if (op < 67) {
        expect(w, "delete", key, cw_delete(s->c, key), 0);
    } else if (op < 72) { /* counters: this thread's, and the shared one */
        int64_t by = 1 + (int64_t)((r >> 40) % 5), got = 0;
        char ck[64];
        snprintf(ck, sizeof ck, "%st%d", counter_prefix[b], w->id);
        st = cw_incr(s->c, ck, by, CW_NO_EXPIRY, &got);
        expect(w, "incr", ck, st, 0);
        if (st == CW_OK) w->mine[b] += by;
        snprintf(ck, sizeof ck, "%sall", counter_prefix[b]);
        st = cw_incr(s->c, ck, by, CW_NO_EXPIRY, &got);
        expect(w, "incr", ck, st, 0);
        if (st == CW_OK) atomic_fetch_add(&s->shared[b], by);
    } else if (op < 90) { /* a cached function */
        int64_t x = (int64_t)((r >> 24) % FARGS);
        st = CW_CALL(s->funcs[b], &w->v, CW_ARG_INT(x));
        expect(w, "cached call", backends[b], st, 0);
        if (st == CW_OK) {
            cw_value want = { 0 };
            cw_arg a = CW_ARG_INT(x);
            if (loader(NULL, &a, 1, &want) != CW_OK || want.len != w->v.len ||
                memcmp(want.data, w->v.data, want.len) != 0) {
                atomic_fetch_add(&s->corrupt, 1);
                unexpected(w, "cached call (bytes)", backends[b], CW_ECORRUPT);
            }
            cw_value_free(&want);
        }
    } else if (op < 94) {
        expect(w, "expire", key, cw_expire(s->c, key, random_ttl(r >> 44) == CW_NO_EXPIRY ? 2000 : random_ttl(r >> 44)),
               0);
    } else if (op < 98) { /* batches of three keys */
        char k3[3][64];
        const char *keys[3];
        const void *vals[3];
        size_t lens[3];
        size_t off = 0;
        for (int i = 0; i < 3; i++) {
            snprintf(k3[i], sizeof k3[i], "%sk:%u", backends[b], (unsigned)(next(&w->rng) % KEYS));
            keys[i] = k3[i];
            size_t n = value_size(next(&w->rng)) / 8 + 1;
            vals[i] = w->buf + off;
            lens[i] = make_value(w->buf + off, n, next(&w->rng));
            off += n;
        }
        if (op < 96) {
            expect(w, "set_many", keys[0], cw_set_many(s->c, 3, keys, vals, lens, random_ttl(r >> 44)), 0);
        } else {
            cw_value outs[3] = { { 0 }, { 0 }, { 0 } };
            cw_status sts[3];
            expect(w, "get_many", keys[0], cw_get_many(s->c, 3, keys, outs, sts), 0);
            for (int i = 0; i < 3; i++) {
                if (sts[i] == CW_OK && !value_ok(outs[i].data, outs[i].len)) {
                    atomic_fetch_add(&s->corrupt, 1);
                    unexpected(w, "get_many (bytes)", keys[i], CW_ECORRUPT);
                }
                cw_value_free(&outs[i]);
            }
        }
    } else {
        char pattern[64];
        uint64_t deleted = 0;
        snprintf(pattern, sizeof pattern, "%sk:%u*", backends[b], (unsigned)((r >> 30) % 40));
        expect(w, "delete_match", pattern, cw_delete_match(s->c, pattern, &deleted), 0);
    }
}

static void *worker_main(void *arg)
{
    worker *w = arg;
    while (!atomic_load(&w->s->stop)) one_call(w);
    return NULL;
}

static uint64_t rss_bytes(void)
{
    FILE *f = fopen("/proc/self/statm", "r");
    unsigned long size = 0, resident = 0;
    if (f) {
        if (fscanf(f, "%lu %lu", &size, &resident) != 2) resident = 0;
        fclose(f);
    }
    return (uint64_t)resident * (uint64_t)sysconf(_SC_PAGESIZE);
}

/* Mean of v[from, to). */
static double mean(const double *v, int from, int to)
{
    double sum = 0;
    for (int i = from; i < to; i++) sum += v[i];
    return to > from ? sum / (to - from) : 0;
}

static int check_counter(soak *s, const char *key, int64_t want)
{
    cw_value v = { 0 };
    cw_status st = cw_get_raw(s->c, key, &v);
    int64_t got = st == CW_OK ? strtoll((const char *)v.data, NULL, 10) : 0;
    cw_value_free(&v);
    if ((st == CW_OK || (st == CW_NOTFOUND && want == 0)) && got == want) return 0;
    fprintf(stderr, "soak: counter %s is %lld (%s), %lld increments were acknowledged\n", key, (long long)got,
            cw_strerror(st), (long long)want);
    return 1;
}

int main(int argc, char **argv)
{
    int seconds = argc > 1 ? atoi(argv[1]) : 60;
    if (seconds < 4) seconds = 4;
    /* glibc raises its mmap threshold each time a large mmapped block is freed, after which
     * 1 MiB values come from the arenas, and what they leave behind stays resident: RSS then
     * wanders by +-5% around its plateau whatever the library does. Pinned, large blocks go
     * back to the system when freed, and RSS follows what is allocated (the malloc'd curve
     * printed beside it shows the same without the pin). */
    mallopt(M_MMAP_THRESHOLD, 256 * 1024);
    cw_redis_server rs;
    if (cw_redis_server_start(&rs, NULL) != 0) return 1;
    soak s;
    memset(&s, 0, sizeof s);
    pthread_mutex_init(&s.mu, NULL);
    char url[256], err[CW_ERRMSG_SIZE];
    if (cw_cache_new(&s.c, NULL) != CW_OK) return 1;
    snprintf(url, sizeof url, "redis://127.0.0.1:%d/?client_side=1&client_side_size=100", rs.port);
    struct { const char *url, *prefix; } setups[] = {
        { "mem://?size=20000&max_bytes=16m", "m:" },
        { url, "r:" },
        { "disk://?size_limit=32m&shards=4", "d:" },
        { "mem://?size=1000", "mc:" },
        { "disk://?shards=1&eviction_policy=none", "dc:" },
    };
    for (size_t i = 0; i < sizeof setups / sizeof *setups; i++) {
        cw_setup_options o = { .prefix = setups[i].prefix };
        if (cw_cache_setup(s.c, setups[i].url, &o, err) != CW_OK) {
            fprintf(stderr, "soak: setup %s: %s\n", setups[i].url, err);
            return 1;
        }
    }
    static const char *const tmpl[3] = { "m:f:{x}", "r:f:{x}", "d:f:{x}" };
    static const char *const ttls[3] = { "20s", "5s", "1m" };
    for (int b = 0; b < 3; b++) {
        cw_func_options o = { .loader = loader, .args = "x", .key = tmpl[b], .ttl = ttls[b], .name = tmpl[b] };
        if (cw_func_new(&s.funcs[b], s.c, &o) != CW_OK) {
            fprintf(stderr, "soak: cw_func_new: %s\n", cw_cache_errmsg(s.c));
            return 1;
        }
    }
    worker w[THREADS];
    pthread_t th[THREADS];
    for (int i = 0; i < THREADS; i++) {
        memset(&w[i], 0, sizeof w[i]);
        w[i].s = &s;
        w[i].id = i;
        w[i].rng = 0x5EED0000u + (uint64_t)i;
        w[i].buf = malloc(MAX_VALUE * 2);
        if (!w[i].buf || pthread_create(&th[i], NULL, worker_main, &w[i]) != 0) return 1;
    }
    static double rss[MAX_SAMPLES], heap[MAX_SAMPLES];
    int n = 0;
    struct timespec t0, now;
    clock_gettime(CLOCK_MONOTONIC, &t0);
    for (;;) {
        struct timespec one = { 1, 0 };
        nanosleep(&one, NULL);
        cw_status st = cw_cache_maintain(s.c);
        if (st != CW_OK) {
            fprintf(stderr, "soak: maintain: %s\n", cw_cache_errmsg(s.c));
            atomic_fetch_add(&s.unexpected, 1);
        }
        if (n < MAX_SAMPLES) {
            struct mallinfo2 mi = mallinfo2(); /* malloc's bytes in use: tells a leak from fragmentation */
            heap[n] = (double)(mi.uordblks + mi.hblkhd) / (1 << 20);
            rss[n++] = (double)rss_bytes() / (1 << 20);
        }
        clock_gettime(CLOCK_MONOTONIC, &now);
        if (n >= seconds || now.tv_sec - t0.tv_sec >= 2 * seconds) break;
    }
    atomic_store(&s.stop, 1);
    for (int i = 0; i < THREADS; i++) pthread_join(th[i], NULL);

    int bad = 0;
    for (int b = 0; b < 3; b++) {
        char ck[64];
        for (int i = 0; i < THREADS; i++) {
            snprintf(ck, sizeof ck, "%st%d", counter_prefix[b], i);
            bad |= check_counter(&s, ck, w[i].mine[b]);
        }
        snprintf(ck, sizeof ck, "%sall", counter_prefix[b]);
        bad |= check_counter(&s, ck, atomic_load(&s.shared[b]));
    }
    printf("soak: %d s, %d threads on mem:// (max_bytes=16m), redis:// (client-side cache of 100), disk://"
           " (size_limit=32m)\n", seconds, THREADS);
    printf("soak: %llu calls, %llu hits, %llu misses, %llu unexpected answers, %llu damaged values\n",
           (unsigned long long)s.calls, (unsigned long long)s.hits, (unsigned long long)s.misses,
           (unsigned long long)s.unexpected, (unsigned long long)s.corrupt);
    printf("soak: RSS MB each second:");
    for (int i = 0; i < n; i++) printf(" %.0f", rss[i]);
    printf("\nsoak: malloc'd MB in use each second:");
    for (int i = 0; i < n; i++) printf(" %.0f", heap[i]);
    printf("\n");
    /* "middle": the mean of the third quarter, "end": of the last; a single sample swings by
     * several MB with 1 MiB values in flight on every thread */
    double start = rss[0], mid = mean(rss, n / 2, 3 * n / 4), end = mean(rss, 3 * n / 4, n);
    printf("soak: RSS start %.1f MB, middle %.1f MB, end %.1f MB: %+.1f%% over the second half (limit +5%%)\n",
           start, mid, end, (end / mid - 1) * 100);
    if (s.unexpected) {
        fprintf(stderr, "soak: %llu unexpected answers; the first: %s\n", (unsigned long long)s.unexpected,
                s.first_error);
        bad = 1;
    }
    if (end > mid * 1.05) {
        fprintf(stderr, "soak: RSS grew by more than 5%% in the second half\n");
        bad = 1;
    }
    for (int b = 0; b < 3; b++) cw_func_free(s.funcs[b]);
    cw_cache_free(s.c);
    for (int i = 0; i < THREADS; i++) {
        cw_value_free(&w[i].v);
        free(w[i].buf);
    }
    cw_redis_server_stop(&rs);
    printf("soak: %s\n", bad ? "FAILED" : "passed");
    return bad;
}
