/* test_hit.c - hit: a value serves cache_hits hits, then reloads; update_after refreshes it in
 * the background before it runs out. */
#include "func_helpers.h"

static int expires_after_cache_hits(void)
{
    cw_fake_clock fc;
    cw_cache *c = helper_cache(&fc);
    counter n = { 0 };
    cw_func *f = CW_FUNC(c, count_loader, .strategy = CW_HIT, .loader_ud = &n, .args = "name", .ttl = "2h",
                         .cache_hits = 3);
    CHECK(f);
    CHECK_STR(cw_func_template(f), "hit:count_loader:name:{name}");
    cw_value v = { 0 };
    CHECK_CALL_VAL(f, v, "v1:a", CW_ARG_STR("a")); /* miss */
    for (int i = 0; i < 3; i++) CHECK_CALL_VAL(f, v, "v1:a", CW_ARG_STR("a"));
    CHECK_CALL_VAL(f, v, "v2:a", CW_ARG_STR("a")); /* the 4th hit reloads */
    CHECK_CALL_VAL(f, v, "v2:a", CW_ARG_STR("a"));
    /* The counter lives beside the value, with its TTL. */
    int64_t left = 0;
    CHECK_OK(cw_get_expire(c, "hit:count_loader:name:a:counter", &left));
    CHECK(left > 0 && left <= 2 * 3600000);
    cw_fake_clock_advance(&fc, 2 * 3600000 + 1);
    CHECK_CALL_VAL(f, v, "v3:a", CW_ARG_STR("a"));
    CHECK_EQ_INT(atomic_load(&n.calls), 3);
    /* cw_func_invalidate drops the value and its counter. */
    CHECK_OK(cw_func_invalidate(f, (cw_arg[]){ CW_ARG_STR("a") }, 1));
    CHECK_EQ_INT(cw_exists(c, "hit:count_loader:name:a:counter"), CW_NOTFOUND);
    CHECK_CALL_VAL(f, v, "v4:a", CW_ARG_STR("a"));
    cw_value_free(&v);
    cw_func_free(f);
    cw_cache_free(c);
    return 0;
}

static int update_after_refreshes_in_background(void)
{
    cw_fake_clock fc;
    cw_cache *c = helper_cache(&fc);
    counter n = { 0 };
    cw_func *f = CW_FUNC(c, count_loader, .strategy = CW_HIT, .loader_ud = &n, .key = "h:{id}", .args = "id",
                         .ttl = "2h", .cache_hits = 100, .update_after = 2);
    CHECK(f);
    cw_value v = { 0 };
    CHECK_CALL_VAL(f, v, "v1:1", CW_ARG_INT(1));
    CHECK_CALL_VAL(f, v, "v1:1", CW_ARG_INT(1)); /* hit 1 */
    CHECK_CALL_VAL(f, v, "v1:1", CW_ARG_INT(1)); /* hit 2: served, refresh queued */
    CHECK(helper_wait_value(c, "hit:h:1", "v2:1")); /* the strategy's prefix, as the seed */
    CHECK_CALL_VAL(f, v, "v2:1", CW_ARG_INT(1));
    CHECK_EQ_INT(atomic_load(&n.calls), 2);
    cw_value_free(&v);
    cw_func_free(f);
    cw_cache_free(c);
    return 0;
}

static int bad_parameters(void)
{
    cw_fake_clock fc;
    cw_cache *c = helper_cache(&fc);
    counter n = { 0 };
    CHECK(!CW_FUNC(c, count_loader, .strategy = CW_HIT, .loader_ud = &n, .ttl = "1h", .cache_hits = 2, .update_after = 3));
    CHECK(strstr(cw_cache_errmsg(c), "update_after"));
    CHECK(!CW_FUNC(c, count_loader, .strategy = CW_HIT, .loader_ud = &n, .cache_hits = 2));
    cw_cache_free(c);
    return 0;
}

static const cw_test tests[] = {
    CW_TEST(expires_after_cache_hits),
    CW_TEST(update_after_refreshes_in_background),
    CW_TEST(bad_parameters),
    { 0 },
};

int main(int argc, char **argv) { return cw_test_main(tests, argc, argv); }
