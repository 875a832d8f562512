/*
 * w56_redis.c - W5 (Redis get/set over one connection) and W6 (the client-side cache's hit
 * path), see bench/BENCHMARKS.md. Each starts its own redis-server on a free loopback
 * port (the test harness's starter, compiled in here). W5 also runs, in the same run and
 * against the same server, the baseline `redis-benchmark -c 1 -P 1 -n 100000 -d 64 -t set,get`
 * and prints its figures as JSON lines with backend "redis-benchmark".
 */
#include "bench.h"

#ifdef CW_HAVE_REDIS /* without the backend, bench.c reports W5/W6 as not built */

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

/* The harness's server starter is a test file, not part of the library: compiled in here. */
#include "redis_server.c"

#define N_OPS 100000
#define W6_KEYS 1000
#define WARMUP 5000

static cw_cache *open_cache(int port, const char *query)
{
    cw_cache *c = NULL;
    char url[256], err[CW_ERRMSG_SIZE] = "";
    snprintf(url, sizeof url, "redis://127.0.0.1:%d?%s", port, query);
    if (cw_cache_new(&c, NULL) != CW_OK) return NULL;
    if (cw_cache_setup(c, url, NULL, err) != CW_OK) {
        printf("# setup %s failed: %s\n", url, err);
        cw_cache_free(c);
        return NULL;
    }
    return c;
}

/* Keys "key:<id>", formatted before timing. */
static char (*make_keys(size_t n))[16]
{
    char (*keys)[16] = malloc(n * sizeof *keys);
    if (!keys) return NULL;
    for (size_t i = 0; i < n; i++) snprintf(keys[i], sizeof keys[i], "key:%zu", i);
    return keys;
}

/* redis-benchmark's CSV: "SET","rps","avg","min","p50","p95","p99","max" (ms). */
typedef struct rb_fig {
    double rps, p50_ms, p99_ms;
} rb_fig;

static void baseline(int port, rb_fig *set, rb_fig *get)
{
    char cmd[256];
    snprintf(cmd, sizeof cmd,
             "redis-benchmark -h 127.0.0.1 -p %d -c 1 -P 1 -n %d -d 64 -t set,get --csv 2>/dev/null",
             port, N_OPS);
    FILE *p = popen(cmd, "r");
    if (!p) {
        printf("# redis-benchmark could not run\n");
        return;
    }
    char line[512];
    while (fgets(line, sizeof line, p)) {
        char test[16];
        double rps, avg, mn, p50, p95, p99, mx;
        if (sscanf(line, "\"%15[^\"]\",\"%lf\",\"%lf\",\"%lf\",\"%lf\",\"%lf\",\"%lf\",\"%lf\"", test,
                   &rps, &avg, &mn, &p50, &p95, &p99, &mx) != 8 || rps <= 0)
            continue;
        rb_fig f = { rps, p50, p99 };
        if (strcmp(test, "SET") == 0) *set = f;
        else if (strcmp(test, "GET") == 0) *get = f;
    }
    if (pclose(p) != 0 && set->rps == 0) printf("# redis-benchmark failed (is redis-tools installed?)\n");
}

int bench_w5(const bench_args *a)
{
    (void)a;
    cw_redis_server rs;
    if (cw_redis_server_start(&rs, NULL) != 0) return 1;
    int rc = 1;
    char (*keys)[16] = make_keys(N_OPS);
    double *lat = malloc(N_OPS * sizeof *lat);
    cw_cache *c = open_cache(rs.port, "max_connections=1");
    cw_value v = { 0 };
    if (!keys || !lat || !c) goto out;
    char val[64];
    memset(val, 'v', sizeof val);

    /* The baseline runs first against the same server; its lines are printed after ours
     * (checkers read the first W5 get/set lines as ours). */
    rb_fig base_set = { 0, 0, 0 }, base_get = { 0, 0, 0 };
    baseline(rs.port, &base_set, &base_get);

    for (int i = 0; i < WARMUP; i++) {
        if (cw_set(c, keys[i], val, sizeof val, CW_NO_EXPIRY) != CW_OK) goto fail;
        if (cw_get(c, keys[i], &v) != CW_OK) goto fail;
    }
    double t0 = bench_now(), total = 0;
    for (int i = 0; i < N_OPS; i++) {
        double s = bench_now();
        if (cw_set(c, keys[i], val, sizeof val, CW_NO_EXPIRY) != CW_OK) goto fail;
        lat[i] = bench_now() - s;
    }
    total = bench_now() - t0;
    double set_ns = total * 1e9 / N_OPS;
    bench_emit("W5", "redis", "set", 1, N_OPS, total, -1, bench_quantile(lat, N_OPS, 0.5) * 1e9,
               bench_quantile(lat, N_OPS, 0.99) * 1e9);
    t0 = bench_now();
    for (int i = 0; i < N_OPS; i++) {
        double s = bench_now();
        if (cw_get(c, keys[i], &v) != CW_OK) goto fail;
        lat[i] = bench_now() - s;
    }
    total = bench_now() - t0;
    double get_ns = total * 1e9 / N_OPS;
    bench_emit("W5", "redis", "get", 1, N_OPS, total, -1, bench_quantile(lat, N_OPS, 0.5) * 1e9,
               bench_quantile(lat, N_OPS, 0.99) * 1e9);
    if (base_set.rps > 0)
        bench_emit("W5", "redis-benchmark", "set", 1, N_OPS, N_OPS / base_set.rps, -1,
                   base_set.p50_ms * 1e6, base_set.p99_ms * 1e6);
    if (base_get.rps > 0)
        bench_emit("W5", "redis-benchmark", "get", 1, N_OPS, N_OPS / base_get.rps, -1,
                   base_get.p50_ms * 1e6, base_get.p99_ms * 1e6);
    if (base_set.rps > 0 && base_get.rps > 0)
        printf("# W5 vs redis-benchmark per request: set %.3fx, get %.3fx (target <= 1.15)\n",
               set_ns * base_set.rps / 1e9, get_ns * base_get.rps / 1e9);
    rc = 0;
    goto out;
fail:
    printf("# W5: a command failed: %s\n", cw_cache_errmsg(c));
out:
    cw_value_free(&v);
    cw_cache_free(c);
    free(keys);
    free(lat);
    cw_redis_server_stop(&rs);
    return rc;
}

int bench_w6(const bench_args *a)
{
    (void)a;
    cw_redis_server rs;
    if (cw_redis_server_start(&rs, NULL) != 0) return 1;
    int rc = 1;
    char (*keys)[16] = make_keys(W6_KEYS);
    uint32_t *order = malloc(N_OPS * sizeof *order);
    cw_cache *c = open_cache(rs.port, "client_side=1");
    cw_value v = { 0 };
    if (!keys || !order || !c) goto out;
    char val[64];
    memset(val, 'v', sizeof val);
    uint64_t seed = 6;
    for (int i = 0; i < N_OPS; i++) order[i] = (uint32_t)(bench_rng(&seed) % W6_KEYS);
    for (int i = 0; i < W6_KEYS; i++)
        if (cw_set(c, keys[i], val, sizeof val, CW_NO_EXPIRY) != CW_OK) goto fail;
    /* Warm-up: the first get of each key goes to Redis and fills the local copy. */
    for (int r = 0; r < 3; r++)
        for (int i = 0; i < W6_KEYS; i++)
            if (cw_get(c, keys[i], &v) != CW_OK) goto fail;
    uint64_t hits = 0;
    double t0 = bench_now();
    for (int i = 0; i < N_OPS; i++) hits += cw_get(c, keys[order[i]], &v) == CW_OK;
    double total = bench_now() - t0;
    bench_emit("W6", "redis", "get", 1, N_OPS, total, (double)hits / N_OPS, -1, -1);
    rc = 0;
    goto out;
fail:
    printf("# W6: a command failed: %s\n", cw_cache_errmsg(c));
out:
    cw_value_free(&v);
    cw_cache_free(c);
    free(keys);
    free(order);
    cw_redis_server_stop(&rs);
    return rc;
}

#endif /* CW_HAVE_REDIS */
