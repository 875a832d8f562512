/* test_failover.c - failover: serve the last good value when the loader fails with one of
 * the listed errors; default error sets; failover over slice_rate_limit. */
#include "func_helpers.h"

enum { E_DOWN = CW_USER_ERROR + 1, E_BUG = CW_USER_ERROR + 2 };

static int serves_last_good_value_on_listed_errors(void)
{
    cw_fake_clock fc;
    cw_cache *c = helper_cache(&fc);
    counter n = { 0 };
    static const int errs[] = { E_DOWN };
    cw_func *f = CW_FUNC(c, count_loader, .strategy = CW_FAILOVER, .loader_ud = &n, .args = "name",
                         .ttl = "2h", .errors = errs, .nerrors = 1);
    CHECK(f);
    CHECK_STR(cw_func_template(f), "fail:count_loader:name:{name}");
    cw_value v = { 0 };
    n.fail = E_DOWN; /* nothing good yet: the error comes through */
    CHECK_ST(CW_CALL(f, &v, CW_ARG_STR("a")), E_DOWN);
    n.fail = 0;
    CHECK_CALL_VAL(f, v, "v2:a", CW_ARG_STR("a"));
    CHECK_CALL_VAL(f, v, "v3:a", CW_ARG_STR("a")); /* the loader runs every time */
    n.fail = E_DOWN;
    CHECK_CALL_VAL(f, v, "v3:a", CW_ARG_STR("a"));
    n.fail = E_BUG; /* not listed */
    CHECK_ST(CW_CALL(f, &v, CW_ARG_STR("a")), E_BUG);
    n.fail = E_DOWN; /* the fallback lives for the TTL */
    cw_fake_clock_advance(&fc, 2 * 3600000 + 1);
    CHECK_ST(CW_CALL(f, &v, CW_ARG_STR("a")), E_DOWN);
    CHECK_EQ_INT(atomic_load(&n.calls), 6);
    cw_value_free(&v);
    cw_func_free(f);
    cw_cache_free(c);
    return 0;
}

static int default_errors(void)
{
    cw_fake_clock fc;
    cw_cache *c = helper_cache(&fc);
    counter n = { 0 };
    cw_func *all = CW_FUNC(c, count_loader, .strategy = CW_FAILOVER, .loader_ud = &n, .key = "all", .ttl = "1h");
    static const int errs[] = { E_DOWN };
    CHECK_OK(cw_set_default_fail_errors(c, errs, 1));
    cw_func *some = CW_FUNC(c, count_loader, .strategy = CW_FAILOVER, .loader_ud = &n, .key = "some", .ttl = "1h");
    CHECK(all && some);
    cw_value v = { 0 };
    CHECK_OK(cw_func_call(all, NULL, 0, &v));
    CHECK_OK(cw_func_call(some, NULL, 0, &v));
    n.fail = E_BUG;
    CHECK_OK(cw_func_call(all, NULL, 0, &v)); /* created before: every error */
    CHECK_VAL(v, "v1");
    CHECK_ST(cw_func_call(some, NULL, 0, &v), E_BUG);
    n.fail = E_DOWN;
    CHECK_OK(cw_func_call(some, NULL, 0, &v));
    CHECK_VAL(v, "v2");
    CHECK_OK(cw_set_default_fail_errors(c, NULL, 0));
    cw_value_free(&v);
    cw_func_free(all);
    cw_func_free(some);
    cw_cache_free(c);
    return 0;
}

static int failover_over_slice_rate_limit(void)
{
    cw_fake_clock fc;
    cw_cache *c = helper_cache(&fc);
    counter n = { 0 };
    /* @cache.failover(ttl="10m", exceptions=(RateLimitError,)) over
     * @cache.slice_rate_limit(limit=2, period="10m") */
    cw_func *limited = CW_FUNC(c, count_loader, .strategy = CW_SLICE_RATE_LIMIT, .loader_ud = &n,
                               .args = "name", .limit = 2, .period = "10m");
    CHECK(limited);
    static const int rl[] = { CW_ERATELIMIT };
    cw_func *f = cw_func_make(c, &(cw_func_options){ .strategy = CW_FAILOVER, .wraps = limited, .ttl = "10m",
                                                     .errors = rl, .nerrors = 1 });
    CHECK(f);
    cw_value v = { 0 };
    CHECK_CALL_VAL(f, v, "v1:x", CW_ARG_STR("x"));
    CHECK_CALL_VAL(f, v, "v2:x", CW_ARG_STR("x"));
    CHECK_CALL_VAL(f, v, "v2:x", CW_ARG_STR("x")); /* rate limited: the last good value */
    CHECK_ST(CW_CALL(limited, &v, CW_ARG_STR("x")), CW_ERATELIMIT);
    CHECK_EQ_INT(atomic_load(&n.calls), 2);
    CHECK_CALL_VAL(f, v, "v3:y", CW_ARG_STR("y")); /* another key, its own window */
    cw_value_free(&v);
    cw_func_free(f);
    cw_func_free(limited);
    cw_cache_free(c);
    return 0;
}

/* failover over a simple cache: a value the inner cache served is not written to the fail
 * key (the seed's failover stores only values that came from the loader). */
static int failover_does_not_store_inner_hits(void)
{
    cw_fake_clock fc;
    cw_cache *c = helper_cache(&fc);
    counter n = { 0 };
    cw_func *inner = CW_FUNC(c, count_loader, .loader_ud = &n, .args = "id", .key = "in:{id}", .ttl = "1m");
    CHECK(inner);
    cw_func *fo = cw_func_make(c, &(cw_func_options){ .strategy = CW_FAILOVER, .wraps = inner,
                                                      .key = "f:{id}", .ttl = "1h" });
    CHECK(fo);
    cw_value v = { 0 };
    CHECK_CALL_VAL(inner, v, "v1:1", CW_ARG_INT(1));
    CHECK_CALL_VAL(fo, v, "v1:1", CW_ARG_INT(1));
    CHECK_EQ_INT(cw_exists(c, "fail:f:1"), CW_NOTFOUND);
    cw_fake_clock_advance(&fc, 60001); /* the inner value expired: the loader answers, stored */
    CHECK_CALL_VAL(fo, v, "v2:1", CW_ARG_INT(1));
    CHECK_OK(cw_exists(c, "fail:f:1"));
    cw_value_free(&v);
    cw_func_free(fo);
    cw_func_free(inner);
    cw_cache_free(c);
    return 0;
}

static const cw_test tests[] = {
    CW_TEST(failover_does_not_store_inner_hits),
    CW_TEST(serves_last_good_value_on_listed_errors),
    CW_TEST(default_errors),
    CW_TEST(failover_over_slice_rate_limit),
    { 0 },
};

int main(int argc, char **argv) { return cw_test_main(tests, argc, argv); }
