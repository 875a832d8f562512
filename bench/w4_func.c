/*
 * w4_func.c - workload W4 of bench/BENCHMARKS.md: the hit path of a cached function with
 * key template "user:{id}", ids 0..999 all cached in mem://. Timed all in: the key formatted
 * from an integer argument, the lookup, and the value (64 bytes) copied into the caller's
 * reused cw_value. 1 and 2 threads share the function; ids are drawn before timing.
 */
#include "bench.h"

#include <pthread.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <cashews/func.h>

enum { W4_IDS = 1000, W4_OPS = 10000000, W4_VALUE = 64, W4_MAX_THREADS = 2 };

/* Counts its runs: a call that loads is not a hit. */
static int load_user(void *ud, const cw_arg *args, size_t nargs, cw_value *out)
{
    (void)nargs;
    atomic_fetch_add_explicit((atomic_ullong *)ud, 1, memory_order_relaxed);
    char val[W4_VALUE + 1];
    int n = snprintf(val, sizeof val, "{\"id\":%lld,\"name\":\"user\"}", (long long)args[0].v.i);
    memset(val + n, ' ', (size_t)(W4_VALUE - n));
    return cw_value_set(out, val, W4_VALUE);
}

typedef struct w4_run {
    cw_func *f;
    const uint32_t *ids;
    size_t n;
    pthread_barrier_t *go;
    double t0, t1;
    uint64_t ok;
} w4_run;

static void *w4_main(void *p)
{
    w4_run *r = p;
    cw_value v = { 0 };
    uint64_t ok = 0;
    pthread_barrier_wait(r->go);
    r->t0 = bench_now();
    for (size_t i = 0; i < r->n; i++)
        ok += CW_CALL(r->f, &v, CW_ARG_INT(r->ids[i])) == CW_OK && v.len == W4_VALUE;
    r->t1 = bench_now();
    r->ok = ok;
    cw_value_free(&v);
    return NULL;
}

static int w4_threads(cw_func *f, atomic_ullong *loads, const uint32_t *ids, int nthreads)
{
    pthread_t th[W4_MAX_THREADS];
    w4_run runs[W4_MAX_THREADS];
    pthread_barrier_t go;
    pthread_barrier_init(&go, NULL, (unsigned)nthreads);
    size_t per = W4_OPS / (size_t)nthreads;
    for (int t = 0; t < nthreads; t++) {
        runs[t] = (w4_run){ f, ids + (size_t)t * per, per, &go, 0, 0, 0 };
        if (pthread_create(&th[t], NULL, w4_main, &runs[t]) != 0) return 1;
    }
    double t0 = 1e300, t1 = 0;
    uint64_t ok = 0, loads0 = atomic_load(loads);
    for (int t = 0; t < nthreads; t++) {
        pthread_join(th[t], NULL);
        if (runs[t].t0 < t0) t0 = runs[t].t0;
        if (runs[t].t1 > t1) t1 = runs[t].t1;
        ok += runs[t].ok;
    }
    pthread_barrier_destroy(&go);
    uint64_t ops = per * (size_t)nthreads, loaded = atomic_load(loads) - loads0;
    bench_emit("W4", "mem", "get", nthreads, ops, t1 - t0, 1.0 - (double)loaded / (double)ops, -1, -1);
    return ok == ops ? 0 : 1;
}

int bench_w4(const bench_args *a)
{
    (void)a;
    cw_cache *c = NULL;
    char err[CW_ERRMSG_SIZE] = "";
    if (cw_cache_new(&c, NULL) != CW_OK || cw_cache_setup(c, "mem://?size=100000", NULL, err) != CW_OK) {
        printf("# W4: cannot set up mem://: %s\n", err);
        cw_cache_free(c);
        return 1;
    }
    atomic_ullong loads = 0;
    cw_func *f = CW_FUNC(c, load_user, .loader_ud = &loads, .args = "id", .key = "user:{id}", .ttl = "1h");
    uint32_t *ids = malloc(W4_OPS * sizeof *ids);
    int rc = 1;
    if (!f || !ids) {
        printf("# W4: %s\n", f ? "out of memory" : cw_cache_errmsg(c));
        goto out;
    }
    uint64_t seed = 4;
    for (size_t i = 0; i < W4_OPS; i++) ids[i] = (uint32_t)(bench_rng(&seed) % W4_IDS);
    /* Warm-up, not timed: every id loaded once (all later calls hit), then a pass of hits. */
    cw_value v = { 0 };
    for (int id = 0; id < W4_IDS; id++) CW_CALL(f, &v, CW_ARG_INT(id));
    for (size_t i = 0; i < W4_OPS / 10; i++) CW_CALL(f, &v, CW_ARG_INT(ids[i]));
    cw_value_free(&v);
    rc = w4_threads(f, &loads, ids, 1) | w4_threads(f, &loads, ids, 2);
out:
    free(ids);
    cw_func_free(f);
    cw_cache_free(c);
    return rc;
}
