/* test_early.c - early: serve the current value and refresh it in the background once
 * early_ttl has passed; one refresh at a time; inline refresh for uncopyable arguments. */
#include "func_helpers.h"

static int refreshes_in_background_after_early_ttl(void)
{
    cw_fake_clock fc;
    cw_cache *c = helper_cache(&fc);
    counter n = { 0 };
    cw_func *f = CW_FUNC(c, count_loader, .strategy = CW_EARLY, .loader_ud = &n, .args = "name", .key = "e:{name}",
                         .ttl = "10m", .early_ttl = "7m");
    CHECK(f);
    CHECK_STR(cw_func_template(f), "early:e:{name}");
    cw_value v = { 0 };
    CHECK_CALL_VAL(f, v, "v1:a", CW_ARG_STR("a"));
    cw_fake_clock_advance(&fc, 6 * 60000);
    CHECK_CALL_VAL(f, v, "v1:a", CW_ARG_STR("a")); /* before early_ttl: plain hit */
    CHECK_EQ_INT(atomic_load(&n.calls), 1);
    cw_fake_clock_advance(&fc, 2 * 60000);
    CHECK_CALL_VAL(f, v, "v1:a", CW_ARG_STR("a")); /* stale: served at once, refresh queued */
    CHECK(helper_wait_value(c, "early:e:a", "v2:a"));
    CHECK_CALL_VAL(f, v, "v2:a", CW_ARG_STR("a"));
    CHECK_EQ_INT(atomic_load(&n.calls), 2);
    /* The refresh stored a new refresh instant and the full TTL. */
    int64_t left = 0;
    CHECK_OK(cw_get_expire(c, "early:e:a", &left));
    CHECK_EQ_INT(left, 10 * 60000);
    /* Its lock goes once the refresh ends: the next stale hit may refresh again. */
    int locked = 1;
    for (int i = 0; i < 3000 && locked; i++) {
        CHECK_OK(cw_is_locked(c, "early:e:a:lock", 0, 0, &locked));
        if (locked) helper_sleep_ms(1);
    }
    CHECK_EQ_INT(locked, 0);
    cw_value_free(&v);
    cw_func_free(f);
    cw_cache_free(c);
    return 0;
}

static int one_refresh_at_a_time(void)
{
    cw_fake_clock fc;
    cw_cache *c = helper_cache(&fc);
    counter n = { 0 };
    cw_func *f = CW_FUNC(c, count_loader, .strategy = CW_EARLY, .loader_ud = &n, .key = "one", .ttl = "9m");
    CHECK(f);
    cw_value v = { 0 };
    CHECK_OK(cw_func_call(f, NULL, 0, &v));
    cw_fake_clock_advance(&fc, 3 * 60000); /* default early_ttl: a third of the TTL */
    n.sleep_ms = 30;                       /* the refresh takes a while */
    for (int i = 0; i < 20; i++) {
        CHECK_OK(cw_func_call(f, NULL, 0, &v));
        CHECK_VAL(v, "v1");
    }
    CHECK(helper_wait_value(c, "early:one", "v2"));
    CHECK_EQ_INT(atomic_load(&n.calls), 2);
    cw_value_free(&v);
    cw_func_free(f);
    cw_cache_free(c);
    return 0;
}

/* An object without clone: a background task cannot keep it, so the refresh runs inline. */
static int obj_text(const void *obj, const char *path, char *buf, size_t size)
{
    (void)path;
    return snprintf(buf, size, "%s", (const char *)obj);
}
static const cw_arg_class plain = { "plain", obj_text, NULL, NULL };

static int uncopyable_arguments_refresh_inline(void)
{
    cw_fake_clock fc;
    cw_cache *c = helper_cache(&fc);
    counter n = { 0 };
    cw_func *f = CW_FUNC(c, count_loader, .strategy = CW_EARLY, .loader_ud = &n, .args = "o", .key = "o:{o}",
                         .ttl = "10m", .early_ttl = "1m");
    CHECK(f);
    cw_value v = { 0 };
    char obj[] = "thing";
    CHECK_CALL_VAL(f, v, "v1", CW_ARG_OBJ(obj, &plain));
    cw_fake_clock_advance(&fc, 61000);
    CHECK_CALL_VAL(f, v, "v2", CW_ARG_OBJ(obj, &plain)); /* refreshed on this thread */
    CHECK_CALL_VAL(f, v, "v2", CW_ARG_OBJ(obj, &plain));
    cw_value_free(&v);
    cw_func_free(f);
    cw_cache_free(c);
    return 0;
}

static int free_with_refresh_pending(void)
{
    cw_fake_clock fc;
    cw_cache *c = helper_cache(&fc);
    counter n = { 0 };
    cw_func *f = CW_FUNC(c, count_loader, .strategy = CW_EARLY, .loader_ud = &n, .args = "id", .ttl = "3m");
    CHECK(f);
    cw_value v = { 0 };
    for (int i = 0; i < 50; i++) CHECK_OK(CW_CALL(f, &v, CW_ARG_INT(i)));
    cw_fake_clock_advance(&fc, 61000);
    n.sleep_ms = 5;
    for (int i = 0; i < 50; i++) CHECK_OK(CW_CALL(f, &v, CW_ARG_INT(i)));
    /* Freeing waits for the running refreshes and drops the queued ones: no leak, no crash. */
    cw_func_free(f);
    CHECK(atomic_load(&n.calls) >= 50 && atomic_load(&n.calls) <= 100);
    cw_value_free(&v);
    cw_cache_free(c);
    return 0;
}

static const cw_test tests[] = {
    CW_TEST(refreshes_in_background_after_early_ttl),
    CW_TEST(one_refresh_at_a_time),
    CW_TEST(uncopyable_arguments_refresh_inline),
    CW_TEST(free_with_refresh_pending),
    { 0 },
};

int main(int argc, char **argv) { return cw_test_main(tests, argc, argv); }
