/*
 * test_oom_redis.c - the redis:// value path (signing, compression, the client-side cache)
 * under allocation failures, against a real redis-server: libcashews's allocations and
 * OpenSSL's (CRYPTO_set_mem_functions: the HMAC contexts) fail, the k-th one for every k
 * (of each OpenSSL call, the first, the last and every 8th: fault_alloc.h).
 *
 * The script sets up a cache (the codec's OpenSSL objects are made there), stores and reads
 * values above and below compress_min_size, overwrites one, increments a counter and runs a
 * cached function. Every call answers as it would or CW_ENOMEM; a read that answers CW_OK
 * gives exactly the bytes stored; a write that failed left the key as it was or (when the
 * failure came after the command went out) with the new value, never anything else. Then,
 * allocations working again, a fresh cache reads back exactly that, and every block of
 * libcashews is back once everything is freed (the ASan run also checks OpenSSL's).
 * zlib allocates through libcashews's allocator, so its failures are in the sweep; zstd and
 * hiredis allocate with malloc() of their own and are not.
 */
#define FA_WITH_OPENSSL 1
#include "cw_test.h"
#include "fault_alloc.h"
#include "redis_server.h"

#include <cashews/func.h>

static cw_redis_server rs;

enum { NKEYS = 3 };
static const char *const names[NKEYS] = { "big", "small", "fn" };

typedef struct model {
    char val[NKEYS][4096];
    long len[NKEYS];       /* -1: absent */
    char alt[NKEYS][4096]; /* with maybe: the other value it may hold */
    long alt_len[NKEYS];
    int maybe[NKEYS];
    int64_t n;             /* counter; -2: absent; -1: absent or n_alt (a failed increment) */
    int64_t n_alt;
} model;

static void fill(char *buf, size_t n, int seed)
{
    for (size_t i = 0; i < n; i++) buf[i] = (char)('a' + (i / 7 + (size_t)seed) % 26); /* compressible */
}

static int set_one(cw_cache *c, model *m, int i, const char *v, size_t n)
{
    cw_status st = cw_set(c, names[i], v, n, 60000);
    if (st != CW_OK && st != CW_ENOMEM) {
        fprintf(stderr, "set %s -> %s: %s\n", names[i], cw_strerror(st), cw_cache_errmsg(c));
        return 1;
    }
    if (st == CW_OK) {
        memcpy(m->val[i], v, n);
        m->len[i] = (long)n;
        m->maybe[i] = 0;
    } else if (!m->maybe[i]) { /* it may have gone out before the failure */
        memcpy(m->alt[i], v, n);
        m->alt_len[i] = (long)n;
        m->maybe[i] = 1;
    } else {
        return 0; /* two uncertain writes in a row: the script never does that */
    }
    return 0;
}

/* A read of key i: OK with the model's bytes (or the alternative), NOTFOUND when the model
 * allows it, or (armed) CW_ENOMEM. */
static int get_one(cw_cache *c, const model *m, int i, int armed)
{
    cw_value v = { 0 };
    cw_status st = cw_get(c, names[i], &v);
    int ok = 0;
    if (st == CW_OK) {
        ok = (m->len[i] == (long)v.len && memcmp(m->val[i], v.data, v.len) == 0) ||
             (m->maybe[i] && m->alt_len[i] == (long)v.len && memcmp(m->alt[i], v.data, v.len) == 0);
    } else if (st == CW_NOTFOUND) {
        ok = m->len[i] < 0 || (m->maybe[i] && m->alt_len[i] < 0);
    } else {
        ok = armed && st == CW_ENOMEM;
    }
    if (!ok)
        fprintf(stderr, "get %s -> %s (%zu bytes; model %ld%s): %s\n", names[i], cw_strerror(st), v.len,
                m->len[i], m->maybe[i] ? ", uncertain" : "", cw_cache_errmsg(c));
    cw_value_free(&v);
    return !ok;
}

static int fn_loader(void *ud, const cw_arg *args, size_t nargs, cw_value *out)
{
    char buf[2048];
    fill(buf, sizeof buf, (int)args[0].v.i);
    return cw_value_set(out, buf, sizeof buf);
}

static cw_status open_cache(const char *params, cw_cache **c)
{
    char url[300];
    snprintf(url, sizeof url, "redis://127.0.0.1:%d/?%s", rs.port, params);
    *c = NULL;
    cw_status st = cw_cache_new(c, NULL);
    if (st == CW_OK) st = cw_cache_setup(*c, url, NULL, NULL);
    if (st != CW_OK) {
        cw_cache_free(*c);
        *c = NULL;
    }
    return st;
}

/* Setting a cache up: the codec's OpenSSL objects are made there (no connection yet). */
static int setup_sweep(const char *params)
{
    long total = -1, fails = 0;
    for (long k = -1; k < total || total < 0; k++) {
        if (!fa_sampled(k, total, FA_LIB_STRIDE)) continue;
        long live0 = fa_live();
        cw_cache *c = NULL;
        fa_arm(k);
        cw_status st = open_cache(params, &c);
        long used = fa_disarm();
        if (st != CW_OK && st != CW_ENOMEM) fprintf(stderr, "setup %s -> %s\n", params, cw_strerror(st));
        CHECK(st == CW_OK || st == CW_ENOMEM);
        if (k < 0) total = used;
        else fails += fa_did_fail();
        cw_cache_free(c);
        CHECK_OK(open_cache(params, &c));
        cw_cache_free(c);
        CHECK_EQ_INT(fa_live(), live0);
    }
    printf("  setup %s: %ld allocations, %ld failed once each\n", params, total, fails);
    CHECK(total > 5 && fails > 2);
    return 0;
}

/* The commands, on a cache set up (and connected) beforehand. */
static int script(cw_cache *c, model *m)
{
    char big[3000];
    fill(big, sizeof big, 1);
    CHECK(set_one(c, m, 0, big, sizeof big) == 0);
    CHECK(get_one(c, m, 0, 1) == 0);
    CHECK(set_one(c, m, 1, "tiny", 4) == 0);
    CHECK(get_one(c, m, 1, 1) == 0);
    CHECK(get_one(c, m, 0, 1) == 0); /* again: from the client-side cache when on */
    fill(big, sizeof big, 2);
    if (!m->maybe[0]) CHECK(set_one(c, m, 0, big, 2500) == 0);
    CHECK(get_one(c, m, 0, 1) == 0);
    int64_t got = 0;
    cw_status st = cw_incr(c, "n", 3, 60000, &got);
    CHECK(st == CW_OK || st == CW_ENOMEM);
    if (st == CW_OK) {
        m->n = 3;
        CHECK_EQ_INT(got, 3);
    } else {
        m->n = -1;
        m->n_alt = 3;
    }
    cw_func *f = NULL;
    cw_func_options o = { .loader = fn_loader, .args = "x", .key = "fn", .ttl = "1m", .name = "fn" };
    st = cw_func_new(&f, c, &o);
    CHECK(st == CW_OK || st == CW_ENOMEM);
    if (f) {
        cw_value v = { 0 };
        for (int i = 0; i < 2; i++) {
            st = CW_CALL(f, &v, CW_ARG_INT(7));
            CHECK(st == CW_OK || st == CW_ENOMEM);
            char want[2048];
            fill(want, sizeof want, 7);
            if (st == CW_OK) CHECK(v.len == sizeof want && memcmp(v.data, want, v.len) == 0);
        }
        cw_value_free(&v);
        cw_func_free(f);
    }
    return 0;
}

/* With allocations working: c and a fresh cache (another connection, an empty client-side
 * cache) read back what the model says. */
static int verify(const char *params, cw_cache *c0, const model *m)
{
    cw_cache *fresh = NULL;
    CHECK_OK(open_cache(params, &fresh));
    cw_cache *both[2] = { c0, fresh };
    for (int j = 0; j < 2; j++) {
        cw_cache *c = both[j];
        for (int i = 0; i < 2; i++) CHECK(get_one(c, m, i, 0) == 0);
        cw_value v = { 0 };
        cw_status st = cw_get_raw(c, "n", &v);
        if (m->n >= 0 || (m->n == -1 && st == CW_OK)) {
            CHECK_OK(st);
            int64_t n = strtoll((const char *)v.data, NULL, 10);
            CHECK(n == (m->n >= 0 ? m->n : m->n_alt));
        } else {
            CHECK_ST(st, CW_NOTFOUND);
        }
        char want[2048];
        fill(want, sizeof want, 7);
        st = cw_get(c, "fn", &v); /* what the function stored, if anything, is whole */
        CHECK(st == CW_NOTFOUND || st == CW_OK);
        if (st == CW_OK) CHECK(v.len == sizeof want && memcmp(v.data, want, v.len) == 0);
        cw_value_free(&v);
    }
    cw_cache_free(fresh);
    return 0;
}

static int sweep(const char *params)
{
    long total = -1, fails = 0, live_start = fa_live();
    /* The client-side cache drops local copies when Redis's invalidations arrive, on its
     * own thread: its blocks are counted once the cache is freed, not after each run. */
    int async = strstr(params, "client_side=1") != NULL;
    static model m;
    cw_cache *c = NULL;
    CHECK_OK(open_cache(params, &c));
    /* warm up: OpenSSL's first use loads its providers (thousands of allocations, once) */
    memset(&m, 0, sizeof m);
    CHECK(script(c, &m) == 0);
    for (long k = -1; k < total || total < 0; k++) {
        if (!fa_sampled(k, total, FA_LIB_STRIDE)) continue;
        CHECK_OK(cw_clear(c));
        long live0 = fa_live();
        memset(&m, 0, sizeof m);
        for (int i = 0; i < NKEYS; i++) m.len[i] = m.alt_len[i] = -1;
        m.n = -2;
        fa_arm(k);
        int bad = script(c, &m);
        long used = fa_disarm();
        if (bad) fprintf(stderr, "%s: with allocation %ld of %ld failing\n", params, k, total);
        CHECK(!bad);
        if (k < 0) total = used;
        else fails += fa_did_fail();
        bad = verify(params, c, &m);
        if (bad) fprintf(stderr, "%s: after allocation %ld of %ld failed\n", params, k, total);
        CHECK(!bad);
        CHECK_OK(cw_clear(c));
        if (!async && fa_live() != live0) {
            fprintf(stderr, "%s: %ld block(s) leaked with allocation %ld failing\n", params, fa_live() - live0, k);
            return 1;
        }
    }
    cw_cache_free(c);
    CHECK_EQ_INT(fa_live(), live_start);
    printf("  %s: %ld allocations, %ld failed once each\n", params, total, fails);
    CHECK(total > 20 && fails > 10);
    return 0;
}

static int redis_value_path_survives_each_failed_allocation(void)
{
    static const char *const configs[] = {
        "secret=s3cret&digestmod=sha256&compress_type=gzip&compress_min_size=64&allow_flushdb=1",
        "secret=s3cret&digestmod=md5&compress_type=zstd&compress_min_size=64&allow_flushdb=1",
        "secret=s3cret&digestmod=xxh3&compress_type=zlib&compress_min_size=64&client_side=1",
    };
    cw_cache *warm = NULL; /* OpenSSL's first use loads its providers: thousands of allocations, once */
    CHECK_OK(open_cache(configs[0], &warm));
    cw_cache_free(warm);
    for (size_t i = 0; i < sizeof configs / sizeof *configs; i++) {
        CHECK(setup_sweep(configs[i]) == 0);
        CHECK(sweep(configs[i]) == 0);
    }
    return 0;
}

static const cw_test tests[] = { CW_TEST(redis_value_path_survives_each_failed_allocation), { 0 } };

int main(int argc, char **argv)
{
    if (fa_install() != 0) return 1;
    if (cw_redis_server_start(&rs, NULL) != 0) return 1;
    int rc = cw_test_main(tests, argc, argv);
    cw_redis_server_stop(&rs);
    return rc;
}
