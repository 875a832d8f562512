/* test_soft.c - soft: recompute after soft_ttl on the caller's thread; fall back to the stored
 * value when that fails with a listed error, until the hard TTL. */
#include "func_helpers.h"

enum { E_DOWN = CW_USER_ERROR + 1, E_BUG = CW_USER_ERROR + 2 };

static int recomputes_after_soft_ttl_and_falls_back(void)
{
    cw_fake_clock fc;
    cw_cache *c = helper_cache(&fc);
    counter n = { 0 };
    static const int errs[] = { E_DOWN };
    cw_func *f = CW_FUNC(c, count_loader, .strategy = CW_SOFT, .loader_ud = &n, .key = "s", .ttl = "10m",
                         .soft_ttl = "7m", .errors = errs, .nerrors = 1);
    CHECK(f);
    cw_value v = { 0 };
    CHECK_OK(cw_func_call(f, NULL, 0, &v));
    CHECK_VAL(v, "v1");
    cw_fake_clock_advance(&fc, 6 * 60000);
    CHECK_OK(cw_func_call(f, NULL, 0, &v));
    CHECK_VAL(v, "v1");
    cw_fake_clock_advance(&fc, 2 * 60000); /* 8 min: recompute, the caller gets it */
    CHECK_OK(cw_func_call(f, NULL, 0, &v));
    CHECK_VAL(v, "v2");
    cw_fake_clock_advance(&fc, 8 * 60000); /* stale again, and the loader fails */
    n.fail = E_DOWN;
    CHECK_OK(cw_func_call(f, NULL, 0, &v));
    CHECK_VAL(v, "v2");
    n.fail = E_BUG; /* not listed */
    CHECK_ST(cw_func_call(f, NULL, 0, &v), E_BUG);
    n.fail = E_DOWN;
    cw_fake_clock_advance(&fc, 2 * 60000 + 1); /* past the hard TTL: nothing to fall back on */
    CHECK_ST(cw_func_call(f, NULL, 0, &v), E_DOWN);
    CHECK_EQ_INT(atomic_load(&n.calls), 5);
    cw_value_free(&v);
    cw_func_free(f);
    cw_cache_free(c);
    return 0;
}

static int every_error_by_default_and_default_soft_ttl(void)
{
    cw_fake_clock fc;
    cw_cache *c = helper_cache(&fc);
    counter n = { 0 };
    cw_func *f = CW_FUNC(c, count_loader, .strategy = CW_SOFT, .loader_ud = &n, .args = "id", .ttl = "9m");
    CHECK(f);
    CHECK_STR(cw_func_template(f), "soft:count_loader:id:{id}");
    cw_value v = { 0 };
    CHECK_CALL_VAL(f, v, "v1:1", CW_ARG_INT(1));
    cw_fake_clock_advance(&fc, 3 * 60000 - 1);
    CHECK_CALL_VAL(f, v, "v1:1", CW_ARG_INT(1));
    cw_fake_clock_advance(&fc, 1);
    n.fail = E_BUG;
    CHECK_CALL_VAL(f, v, "v1:1", CW_ARG_INT(1));
    CHECK_EQ_INT(atomic_load(&n.calls), 2);
    cw_value_free(&v);
    cw_func_free(f);
    cw_cache_free(c);
    return 0;
}

static const cw_test tests[] = {
    CW_TEST(recomputes_after_soft_ttl_and_falls_back),
    CW_TEST(every_error_by_default_and_default_soft_ttl),
    { 0 },
};

int main(int argc, char **argv) { return cw_test_main(tests, argc, argv); }
