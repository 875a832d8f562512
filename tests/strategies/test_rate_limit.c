/* test_rate_limit.c - rate_limit (fixed window, ban) and slice_rate_limit (sliding window),
 * with the default error and a user action. */
#include "func_helpers.h"

static int fixed_window(void)
{
    cw_fake_clock fc;
    cw_cache *c = helper_cache(&fc);
    counter n = { 0 };
    cw_func *f = CW_FUNC(c, count_loader, .strategy = CW_RATE_LIMIT, .loader_ud = &n, .args = "user",
                         .key = "{user}", .limit = 3, .period = "1m");
    CHECK(f);
    CHECK_STR(cw_func_template(f), "rate_limit:{user}");
    cw_value v = { 0 };
    for (int i = 0; i < 3; i++) CHECK_OK(CW_CALL(f, &v, CW_ARG_STR("a")));
    CHECK_ST(CW_CALL(f, &v, CW_ARG_STR("a")), CW_ERATELIMIT);
    CHECK(strstr(cw_cache_errmsg(c), "rate limit of 3 calls"));
    CHECK_OK(CW_CALL(f, &v, CW_ARG_STR("b"))); /* per key */
    cw_fake_clock_advance(&fc, 59999);
    CHECK_ST(CW_CALL(f, &v, CW_ARG_STR("a")), CW_ERATELIMIT);
    cw_fake_clock_advance(&fc, 1); /* the window (from the first call) is over */
    CHECK_OK(CW_CALL(f, &v, CW_ARG_STR("a")));
    CHECK_EQ_INT(atomic_load(&n.calls), 5);
    cw_value_free(&v);
    cw_func_free(f);
    cw_cache_free(c);
    return 0;
}

static int ban_lasts_the_ttl(void)
{
    cw_fake_clock fc;
    cw_cache *c = helper_cache(&fc);
    counter n = { 0 };
    /* no more than 10 calls per minute or ban for 10 minutes */
    cw_func *f = CW_FUNC(c, count_loader, .strategy = CW_RATE_LIMIT, .loader_ud = &n, .key = "ban", .limit = 10,
                         .period = "1m", .ttl = "10m");
    CHECK(f);
    cw_value v = { 0 };
    for (int i = 0; i < 10; i++) CHECK_OK(cw_func_call(f, NULL, 0, &v));
    CHECK_ST(cw_func_call(f, NULL, 0, &v), CW_ERATELIMIT);
    cw_fake_clock_advance(&fc, 2 * 60000);
    CHECK_ST(cw_func_call(f, NULL, 0, &v), CW_ERATELIMIT);
    cw_fake_clock_advance(&fc, 8 * 60000);
    CHECK_OK(cw_func_call(f, NULL, 0, &v));
    CHECK_EQ_INT(atomic_load(&n.calls), 11);
    cw_value_free(&v);
    cw_func_free(f);
    cw_cache_free(c);
    return 0;
}

/* Without .ttl the ban lasts the period (the seed's ttl = ttl or period), counted from the
 * first refused call, not from the start of the window. */
static int ban_defaults_to_the_period(void)
{
    cw_fake_clock fc;
    cw_cache *c = helper_cache(&fc);
    counter n = { 0 };
    cw_func *f = CW_FUNC(c, count_loader, .strategy = CW_RATE_LIMIT, .loader_ud = &n, .key = "p", .limit = 2,
                         .period = "1m");
    CHECK(f);
    cw_value v = { 0 };
    CHECK_OK(cw_func_call(f, NULL, 0, &v));
    CHECK_OK(cw_func_call(f, NULL, 0, &v));
    cw_fake_clock_advance(&fc, 50000);
    CHECK_ST(cw_func_call(f, NULL, 0, &v), CW_ERATELIMIT); /* banned until 50 s + 1 min */
    cw_fake_clock_advance(&fc, 15000);                     /* the window is over, the ban not */
    CHECK_ST(cw_func_call(f, NULL, 0, &v), CW_ERATELIMIT);
    cw_fake_clock_advance(&fc, 45000);
    CHECK_OK(cw_func_call(f, NULL, 0, &v));
    CHECK_EQ_INT(atomic_load(&n.calls), 3);
    cw_value_free(&v);
    cw_func_free(f);
    cw_cache_free(c);
    return 0;
}

static int slow_down(void *ud, const cw_arg *args, size_t nargs, cw_value *out)
{
    (*(int *)ud)++;
    (void)args; (void)nargs;
    return cw_value_set(out, "slow down", 9);
}

static int action_instead_of_error(void)
{
    cw_fake_clock fc;
    cw_cache *c = helper_cache(&fc);
    counter n = { 0 };
    int acted = 0;
    cw_func *f = CW_FUNC(c, count_loader, .strategy = CW_RATE_LIMIT, .loader_ud = &n, .key = "act", .limit = 1,
                         .period = "1m", .action = slow_down, .action_ud = &acted);
    CHECK(f);
    cw_value v = { 0 };
    CHECK_OK(cw_func_call(f, NULL, 0, &v));
    CHECK_OK(cw_func_call(f, NULL, 0, &v));
    CHECK_VAL(v, "slow down");
    CHECK_EQ_INT(acted, 1);
    CHECK_EQ_INT(atomic_load(&n.calls), 1);
    cw_value_free(&v);
    cw_func_free(f);
    cw_cache_free(c);
    return 0;
}

static int sliding_window(void)
{
    cw_fake_clock fc;
    cw_cache *c = helper_cache(&fc);
    counter n = { 0 };
    cw_func *f = CW_FUNC(c, count_loader, .strategy = CW_SLICE_RATE_LIMIT, .loader_ud = &n, .key = "s", .limit = 2,
                         .period = "10s");
    CHECK(f);
    CHECK_STR(cw_func_template(f), "srl:s");
    cw_value v = { 0 };
    CHECK_OK(cw_func_call(f, NULL, 0, &v));     /* t = 0 */
    cw_fake_clock_advance(&fc, 6000);
    CHECK_OK(cw_func_call(f, NULL, 0, &v));     /* t = 6 s */
    CHECK_ST(cw_func_call(f, NULL, 0, &v), CW_ERATELIMIT);
    cw_fake_clock_advance(&fc, 4001);           /* t = 10.001 s: the first call left the window */
    /* ...but the refused call still counts (the seed's limit + 1 slot): refused again. */
    CHECK_ST(cw_func_call(f, NULL, 0, &v), CW_ERATELIMIT);
    cw_fake_clock_advance(&fc, 10001);          /* a quiet period: every instant left */
    CHECK_OK(cw_func_call(f, NULL, 0, &v));
    CHECK_OK(cw_func_call(f, NULL, 0, &v));
    CHECK_ST(cw_func_call(f, NULL, 0, &v), CW_ERATELIMIT);
    CHECK_EQ_INT(atomic_load(&n.calls), 4);
    /* Unlike the fixed window, a burst at the end of one period is not followed by a fresh
     * allowance at the start of the next. */
    cw_value_free(&v);
    cw_func_free(f);
    cw_cache_free(c);
    return 0;
}

static const cw_test tests[] = {
    CW_TEST(fixed_window),
    CW_TEST(ban_lasts_the_ttl),
    CW_TEST(ban_defaults_to_the_period),
    CW_TEST(action_instead_of_error),
    CW_TEST(sliding_window),
    { 0 },
};

int main(int argc, char **argv) { return cw_test_main(tests, argc, argv); }
