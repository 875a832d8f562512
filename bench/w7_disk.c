/*
 * w7_disk.c - W7 of bench/BENCHMARKS.md: disk:// get/set through the public cache API.
 *
 * A fresh temporary directory with the default parameters (8 shards, least-recently-stored,
 * 1 GiB limit); 10,000 cw_set of distinct 64-byte values, then 100,000 uniformly random
 * cw_get of those keys. Each set is its own transaction (autocommit, like the raw SQLite
 * floor of bench/floor_sqlite.c, whose values never expire: ours are stored with
 * CW_NO_EXPIRY). Keys are formatted and the random sequence drawn before timing.
 */
#include "bench.h"

#ifdef CW_HAVE_DISK /* without the disk backend bench_w7 stays undefined: "not built" */

#include <ftw.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

static int bench_mkdtemp(char *buf, size_t size, const char *base, const char *tag)
{
    int n = snprintf(buf, size, "%s/cw-bench-%s-XXXXXX", base, tag);
    if (n < 0 || (size_t)n >= size) return -1;
    return mkdtemp(buf) ? 0 : -1;
}

static int rm_one(const char *path, const struct stat *sb, int flag, struct FTW *ftw)
{
    (void)sb; (void)flag; (void)ftw;
    return remove(path);
}

static void bench_rmtree(const char *path) { nftw(path, rm_one, 8, FTW_DEPTH | FTW_PHYS); }

enum { W7_KEYS = 10000, W7_GETS = 100000, W7_VALUE = 64 };

int bench_w7(const bench_args *a)
{
    char dir[512];
    if (bench_mkdtemp(dir, sizeof dir, a->tmpdir, "w7") != 0) {
        printf("# W7: cannot create a directory in %s\n", a->tmpdir);
        return 1;
    }
    char url[600];
    snprintf(url, sizeof url, "disk://?directory=%s", dir);
    cw_cache *c = NULL;
    char err[CW_ERRMSG_SIZE] = "";
    if (cw_cache_new(&c, NULL) != CW_OK || cw_cache_setup(c, url, NULL, err) != CW_OK) {
        printf("# W7: setup %s failed: %s\n", url, err);
        cw_cache_free(c);
        bench_rmtree(dir);
        return 1;
    }
    char (*keys)[16] = malloc(sizeof *keys * W7_KEYS);
    uint32_t *order = malloc(sizeof *order * W7_GETS);
    if (!keys || !order) {
        free(keys);
        free(order);
        cw_cache_free(c);
        bench_rmtree(dir);
        return 1;
    }
    for (int i = 0; i < W7_KEYS; i++) snprintf(keys[i], sizeof keys[i], "key:%d", i);
    uint64_t seed = 7;
    for (int i = 0; i < W7_GETS; i++) order[i] = (uint32_t)(bench_rng(&seed) % W7_KEYS);
    unsigned char value[W7_VALUE];
    memset(value, 'v', sizeof value);

    int rc = 0;
    double t0 = bench_now();
    for (int i = 0; i < W7_KEYS && rc == 0; i++)
        if (cw_set(c, keys[i], value, sizeof value, CW_NO_EXPIRY) != CW_OK) rc = 1;
    double set_s = bench_now() - t0;

    cw_value v = { 0 };
    uint64_t hits = 0;
    t0 = bench_now();
    for (int i = 0; i < W7_GETS && rc == 0; i++) {
        if (cw_get(c, keys[order[i]], &v) == CW_OK) hits += v.len == W7_VALUE && v.data[0] == 'v';
    }
    double get_s = bench_now() - t0;
    if (rc != 0) printf("# W7: set failed: %s\n", cw_cache_errmsg(c));
    else if (hits != W7_GETS) {
        printf("# W7: only %llu of %d gets hit\n", (unsigned long long)hits, W7_GETS);
        rc = 1;
    }
    if (rc == 0) {
        bench_emit("W7", "disk", "set", 1, W7_KEYS, set_s, -1, -1, -1);
        bench_emit("W7", "disk", "get", 1, W7_GETS, get_s, -1, -1, -1);
    }
    cw_value_free(&v);
    free(keys);
    free(order);
    cw_cache_free(c);
    bench_rmtree(dir);
    return rc;
}

#endif /* CW_HAVE_DISK */
