/*
 * test_oom_strategies.c - cached functions of every strategy under allocation failures
 * (issue 13, "Out-of-memory"; the sweep of tests/backends/test_mem.c, one level up).
 *
 * For each case, a script (create the function, call it on a few arguments with hits, misses,
 * refreshes past its early/soft TTL, an invalidation, a stacked function and tags) runs once
 * counting the allocations, then once for every k with the k-th one failing. Every call must
 * answer CW_OK with exactly the loader's value for its arguments, CW_ENOMEM, or a status its
 * strategy gives anyway (a rate limit's CW_ERATELIMIT, ...); nothing may crash. Then, with
 * allocations working again, the same cache must serve every argument the loader's value (what
 * the faulty run cached is right), and once the function and the cache are freed, every block
 * libcashews allocated is back (the ASan run also sees leaks in threads and libraries).
 * The loader's own cw_value_set() fails too, like any loader's allocation would.
 */
#include "cw_test.h"
#include "fault_alloc.h"

#include <cashews/func.h>

static cw_fake_clock clk;

/* "v:<arg>" for one int argument, padded with '.' to the length ud points to (if any):
 * deterministic, so a value tells what it was computed for. */
static size_t value_for(long long x, const void *ud, char *buf, size_t size)
{
    size_t n = (size_t)snprintf(buf, size, "v:%lld", x), want = ud ? *(const size_t *)ud : 0;
    while (n < want && n + 1 < size) buf[n++] = '.';
    buf[n] = 0;
    return n;
}

static int loader(void *ud, const cw_arg *args, size_t nargs, cw_value *out)
{
    char buf[512];
    size_t n = value_for(nargs ? (long long)args[0].v.i : -1LL, ud, buf, sizeof buf);
    return cw_value_set(out, buf, n);
}

static const size_t large = 300; /* out of a mem:// cell */

static int iter_loader(void *ud, const cw_arg *args, size_t nargs, cw_emitter *em)
{
    (void)ud;
    char buf[64];
    for (int i = 0; i < 3; i++) {
        int n = snprintf(buf, sizeof buf, "c%d:%lld;", i, nargs ? (long long)args[0].v.i : -1LL);
        int st = cw_emit(em, buf, (size_t)n);
        if (st) return st;
    }
    return CW_OK;
}

typedef struct chunks {
    char text[256];
    size_t len;
} chunks;

static int collect(void *ud, const void *chunk, size_t len)
{
    chunks *c = ud;
    if (c->len + len < sizeof c->text) {
        memcpy(c->text + c->len, chunk, len);
        c->len += len;
    }
    return 0;
}

typedef struct scase {
    const char *name;
    cw_func_options o;
    int wrap;         /* stack a failover function over this one */
    int extra[3];     /* statuses this strategy may give besides CW_OK and CW_ENOMEM */
} scase;

static const char *const tags[] = { "oom:{x}", "all" };

static const scase cases[] = {
    { "simple", { .ttl = "10s" }, 0, { 0 } },
    { "simple (300-byte values)", { .ttl = "10s", .loader_ud = (void *)&large }, 0, { 0 } },
    { "simple+tags+lock", { .ttl = "10s", .key = "s:{x}", .tags = tags, .ntags = 2, .lock = 1 }, 0, { 0 } },
    { "simple+not_empty+invalidate", { .ttl = "10s", .condition = CW_COND_NOT_EMPTY,
                                       .invalidate = (const char *const[]){ "other:{x}" }, .ninvalidate = 1 }, 0, { 0 } },
    { "failover(simple)", { .ttl = "10s" }, 1, { 0 } },
    { "hit", { .strategy = CW_HIT, .ttl = "10s", .cache_hits = 3, .update_after = 2 }, 0, { 0 } },
    { "early", { .strategy = CW_EARLY, .ttl = "3s", .early_ttl = "1s" }, 0, { 0 } },
    { "soft", { .strategy = CW_SOFT, .ttl = "3s", .soft_ttl = "1s" }, 0, { 0 } },
    { "locked", { .strategy = CW_LOCKED, .ttl = "2s" }, 0, { CW_ELOCKED } },
    { "rate_limit", { .strategy = CW_RATE_LIMIT, .ttl = "1s", .limit = 3, .period = "1s" }, 0, { CW_ERATELIMIT } },
    { "slice_rate_limit", { .strategy = CW_SLICE_RATE_LIMIT, .limit = 3, .period = "1s" }, 0, { CW_ERATELIMIT } },
    { "circuit_breaker", { .strategy = CW_CIRCUIT_BREAKER, .ttl = "1s", .errors_rate = 50, .period = "1s" }, 0,
      { CW_ECIRCUITOPEN } },
    { "bloom", { .strategy = CW_BLOOM, .ttl = "10s", .capacity = 100 }, 0, { 0 } },
    { "iterator", { .strategy = CW_ITERATOR, .ttl = "10s" }, 0, { 0 } },
};

static int allowed(const scase *sc, int st)
{
    if (st == CW_OK || st == CW_ENOMEM) return 1;
    for (int i = 0; i < 3; i++)
        if (sc->extra[i] && sc->extra[i] == st) return 1;
    return 0;
}

static cw_func *make(cw_cache *c, const scase *sc, cw_func **inner, cw_status *st)
{
    cw_func_options o = sc->o;
    o.args = "x";
    o.name = sc->name;
    if (o.strategy == CW_ITERATOR) o.iter_loader = iter_loader;
    else o.loader = loader;
    o.loader_ud = sc->o.loader_ud;
    *inner = NULL;
    cw_func *f = NULL;
    *st = cw_func_new(&f, c, &o);
    if (*st != CW_OK || !sc->wrap) return f;
    cw_func_options w = { .strategy = CW_FAILOVER, .ttl = "1m", .wraps = f, .name = "outer" };
    cw_func *outer = NULL;
    *st = cw_func_new(&outer, c, &w);
    if (*st != CW_OK) {
        cw_func_free(f);
        return NULL;
    }
    *inner = f;
    return outer;
}

/* Elements cw_bloom_set() added (so that "0", "never set", is wrong for them). */
static int bloom_added[4];

/* One call on x; the answer must be allowed and, when OK, the loader's for x (or, for a
 * bloom function, "0" for an element never added). */
static int call_one(const scase *sc, cw_func *f, long long x, cw_value *v)
{
    char want[512];
    int st;
    if (sc->o.strategy == CW_ITERATOR) {
        chunks got = { "", 0 };
        st = cw_func_iterate(f, (cw_arg[]){ CW_ARG_INT(x) }, 1, collect, &got);
        snprintf(want, sizeof want, "c0:%lld;c1:%lld;c2:%lld;", x, x, x);
        if (st == CW_OK && (got.len != strlen(want) || memcmp(got.text, want, got.len) != 0)) {
            fprintf(stderr, "%s: iterate(%lld) gave \"%.*s\"\n", sc->name, x, (int)got.len, got.text);
            return 1;
        }
    } else {
        st = CW_CALL(f, v, CW_ARG_INT(x));
        value_for(x, sc->o.loader_ud, want, sizeof want);
        if (st == CW_OK && sc->o.strategy == CW_BLOOM && !bloom_added[x] && v->len == 1 && v->data[0] == '0')
            return 0;
        if (st == CW_OK) CHECK_VAL(*v, want);
    }
    if (!allowed(sc, st)) {
        fprintf(stderr, "%s: call(%lld) -> %s (%d)\n", sc->name, x, cw_strerror(st), st);
        return 1;
    }
    return 0;
}

/* The script run under a failing allocation. */
static int script(cw_cache *c, const scase *sc)
{
    cw_status st;
    cw_func *inner, *f = make(c, sc, &inner, &st);
    CHECK(st == CW_OK || st == CW_ENOMEM);
    if (!f) return 0;
    cw_value v = { 0 };
    memset(bloom_added, 0, sizeof bloom_added);
    for (long long x = 1; x <= 2 && sc->o.strategy == CW_BLOOM; x++) {
        st = cw_bloom_set(f, (cw_arg[]){ CW_ARG_INT(x) }, 1);
        CHECK(st == CW_OK || st == CW_ENOMEM);
        bloom_added[x] = st == CW_OK;
    }
    static const long long xs[] = { 1, 1, 2, 1, 3, 2 };
    for (size_t i = 0; i < sizeof xs / sizeof *xs; i++) CHECK(call_one(sc, f, xs[i], &v) == 0);
    cw_fake_clock_advance(&clk, 1500); /* past early_ttl / soft_ttl, into a new period */
    for (size_t i = 0; i < 3; i++) CHECK(call_one(sc, f, xs[i], &v) == 0);
    st = cw_func_invalidate(f, (cw_arg[]){ CW_ARG_INT(2) }, 1);
    CHECK(st == CW_OK || st == CW_ENOMEM);
    CHECK(call_one(sc, f, 2, &v) == 0);
    if (sc->o.ntags) {
        uint64_t n = 0;
        st = cw_delete_tags(c, (const char *const[]){ "oom:1" }, 1, &n);
        CHECK(st == CW_OK || st == CW_ENOMEM);
        CHECK(call_one(sc, f, 1, &v) == 0);
    }
    cw_value_free(&v);
    cw_func_free(f);
    cw_func_free(inner);
    return 0;
}

/* With allocations working: every argument gets the loader's value. Rate limits may still
 * be over their limit, and a circuit may be open, from the faulty run: time moves past both. */
static int verify(cw_cache *c, const scase *sc)
{
    cw_status st;
    cw_fake_clock_advance(&clk, 2500);
    cw_func *inner, *f = make(c, sc, &inner, &st);
    CHECK_OK(st);
    cw_value v = { 0 };
    for (long long x = 1; x <= 3 && sc->o.strategy == CW_BLOOM; x++) {
        CHECK_OK(cw_bloom_set(f, (cw_arg[]){ CW_ARG_INT(x) }, 1));
        bloom_added[x] = 1;
    }
    for (long long x = 1; x <= 3; x++) {
        CHECK(call_one(sc, f, x, &v) == 0);
        if (sc->o.strategy != CW_ITERATOR) CHECK(v.len > 0); /* OK, not an allowed failure */
    }
    cw_value_free(&v);
    cw_func_free(f);
    cw_func_free(inner);
    return 0;
}

static int sweep(const scase *sc)
{
    long total = -1, failed_runs = 0;
    for (long k = -1; k < total || total < 0; k++) {
        long live0 = fa_live();
        cw_cache_options o = { 0 };
        o.clock = cw_fake_clock_now;
        o.clock_ud = &clk;
        cw_cache *c = NULL;
        CHECK_OK(cw_cache_new(&c, &o));
        CHECK_OK(cw_cache_setup(c, "mem://?size=100&check_interval=0", NULL, NULL));
        fa_arm(k);
        int bad = script(c, sc);
        long used = fa_disarm();
        if (bad) fprintf(stderr, "%s: with allocation %ld of %ld failing\n", sc->name, k, total);
        CHECK(!bad);
        if (k < 0) total = used;
        else failed_runs += fa_did_fail();
        bad = verify(c, sc);
        if (bad) fprintf(stderr, "%s: after allocation %ld of %ld failed\n", sc->name, k, total);
        CHECK(!bad);
        cw_cache_free(c);
        if (fa_live() != live0) {
            fprintf(stderr, "%s: %ld block(s) leaked with allocation %ld of %ld failing\n", sc->name,
                    fa_live() - live0, k, total);
            return 1;
        }
    }
    printf("  %-28s %4ld allocations, each failed once\n", sc->name, total);
    CHECK(total > 10 && failed_runs > total / 2);
    return 0;
}

static int every_strategy_survives_each_failed_allocation(void)
{
    cw_fake_clock_init(&clk);
    for (size_t i = 0; i < sizeof cases / sizeof *cases; i++) CHECK(sweep(&cases[i]) == 0);
    return 0;
}

static const cw_test tests[] = { CW_TEST(every_strategy_survives_each_failed_allocation), { 0 } };

int main(int argc, char **argv)
{
    if (fa_install() != 0) return 1;
    return cw_test_main(tests, argc, argv);
}
