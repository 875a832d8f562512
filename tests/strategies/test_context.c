/* test_context.c - detect: which calls came from the cache, with key, strategy, TTL,
 * backend, template, value and the error a fallback answered (the seed's X-From-Cache
 * middleware); scopes are per thread and per cache. */
#include "func_helpers.h"

static int detect_records_calls(void)
{
    cw_fake_clock fc;
    cw_cache *c = helper_cache(&fc);
    counter n = { 0 };
    cw_func *f = CW_FUNC(c, count_loader, .loader_ud = &n, .args = "id", .key = "user:{id}", .ttl = "10s");
    static const int errs[] = { CW_USER_ERROR };
    cw_func *fo = CW_FUNC(c, count_loader, .strategy = CW_FAILOVER, .loader_ud = &n, .key = "fail:key", .prefix = "",
                          .ttl = "10s", .errors = errs, .nerrors = 1);
    CHECK(f && fo);
    cw_value v = { 0 };
    CHECK_OK(CW_CALL(f, &v, CW_ARG_INT(1))); /* before the scope: not recorded */
    cw_detector d = { 0 };
    CHECK_OK(cw_detect_begin(c, &d));
    CHECK_OK(CW_CALL(f, &v, CW_ARG_INT(1)));
    CHECK_OK(CW_CALL(f, &v, CW_ARG_INT(2)));
    CHECK_OK(cw_func_call(fo, NULL, 0, &v));
    n.fail = CW_USER_ERROR;
    CHECK_OK(cw_func_call(fo, NULL, 0, &v));
    CHECK_OK(cw_detect_end(c));
    CHECK_ST(cw_detect_end(c), CW_ESTATE);
    n.fail = 0;
    CHECK_OK(CW_CALL(f, &v, CW_ARG_INT(1))); /* after: not recorded */
    CHECK_EQ_INT(d.ncalls, 4);
    CHECK_STR(d.calls[0].key, "user:1");
    CHECK_EQ_INT(d.calls[0].from_cache, 1);
    CHECK_STR(d.calls[0].strategy, "simple");
    CHECK_STR(d.calls[0].backend, "mem");
    CHECK_EQ_INT(d.calls[0].ttl_ms, 10000);
    CHECK_STR(d.calls[1].key, "user:2");
    CHECK_EQ_INT(d.calls[1].from_cache, 0);
    CHECK_STR(d.calls[3].strategy, "failover");
    CHECK_EQ_INT(d.calls[2].from_cache, 0);
    CHECK_EQ_INT(d.calls[3].from_cache, 1); /* served the last good value */
    /* The seed's detect also has the template, the value and the error a fallback served. */
    CHECK_STR(d.calls[0].key_template, "user:{id}");
    CHECK_VAL(d.calls[0].value, "v1:1");
    CHECK_VAL(d.calls[1].value, "v2:2");
    CHECK_EQ_INT(d.calls[0].error, 0);
    CHECK_STR(d.calls[3].key_template, "fail:key");
    CHECK_VAL(d.calls[3].value, "v3");
    CHECK_EQ_INT(d.calls[3].error, CW_USER_ERROR);
    const cw_detect_call *first = cw_detector_first_hit(&d);
    CHECK(first && strcmp(first->key, "user:1") == 0);
    /* As the seed's middleware: the key and its remaining TTL for the response headers. */
    int64_t left = 0;
    CHECK_OK(cw_get_expire(c, first->key, &left));
    CHECK_EQ_INT(left, 10000);
    cw_detector_free(&d);
    cw_detector_free(&d);
    cw_value_free(&v);
    cw_func_free(f);
    cw_func_free(fo);
    cw_cache_free(c);
    return 0;
}

static int nested_detectors_and_other_caches(void)
{
    cw_fake_clock fc, fc2;
    cw_cache *c = helper_cache(&fc), *c2 = helper_cache(&fc2);
    counter n = { 0 };
    cw_func *f = CW_FUNC(c, count_loader, .loader_ud = &n, .key = "a", .ttl = "1m");
    cw_func *g = CW_FUNC(c2, count_loader, .loader_ud = &n, .key = "b", .ttl = "1m");
    CHECK(f && g);
    cw_value v = { 0 };
    cw_detector outer = { 0 }, inner = { 0 };
    CHECK_OK(cw_detect_begin(c, &outer));
    CHECK_OK(cw_func_call(f, NULL, 0, &v));
    CHECK_OK(cw_detect_begin(c, &inner));
    CHECK_OK(cw_func_call(f, NULL, 0, &v));
    CHECK_OK(cw_func_call(g, NULL, 0, &v)); /* another cache: neither detector */
    CHECK_OK(cw_detect_end(c));
    CHECK_OK(cw_detect_end(c));
    CHECK_EQ_INT(outer.ncalls, 2);
    CHECK_EQ_INT(inner.ncalls, 1);
    CHECK_EQ_INT(inner.calls[0].from_cache, 1);
    CHECK(cw_detector_first_hit(&outer) == &outer.calls[1]);
    cw_detector_free(&outer);
    cw_detector_free(&inner);
    cw_value_free(&v);
    cw_func_free(f);
    cw_func_free(g);
    cw_cache_free(c);
    cw_cache_free(c2);
    return 0;
}

static int scopes_are_bounded(void)
{
    cw_fake_clock fc;
    cw_cache *c = helper_cache(&fc);
    cw_detector d = { 0 };
    int opened = 0;
    while (cw_detect_begin(c, &d) == CW_OK) opened++;
    CHECK_EQ_INT(opened, 32);
    CHECK(strstr(cw_cache_errmsg(c), "nested"));
    while (opened--) CHECK_OK(cw_detect_end(c));
    CHECK_ST(cw_detect_begin(c, NULL), CW_EINVAL);
    cw_cache_free(c);
    return 0;
}

static const cw_test tests[] = {
    CW_TEST(detect_records_calls),
    CW_TEST(nested_detectors_and_other_caches),
    CW_TEST(scopes_are_bounded),
    { 0 },
};

int main(int argc, char **argv) { return cw_test_main(tests, argc, argv); }
