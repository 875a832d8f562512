/* test_bloom.c - bloom: sizing from capacity and false-positive percent; set and check; no
 * false negatives; "maybe" answered by the loader unless no_check; the false-positive rate. */
#include "func_helpers.h"

static int exists_loader(void *ud, const cw_arg *args, size_t nargs, cw_value *out)
{
    (void)nargs;
    atomic_fetch_add((atomic_int *)ud, 1);
    /* The "database": emails of users 0..999 exist. */
    int id = -1;
    sscanf(args[0].v.s, "user%d@example.com", &id);
    return cw_value_set(out, id >= 0 && id < 1000 ? "1" : "0", 1);
}

static int never_false_negative_and_few_false_positives(void)
{
    cw_fake_clock fc;
    cw_cache *c = helper_cache(&fc);
    atomic_int calls = 0;
    cw_func *f = CW_FUNC(c, exists_loader, .strategy = CW_BLOOM, .loader_ud = &calls, .args = "email",
                         .capacity = 1000, .false_positives = 1);
    CHECK(f);
    char email[64];
    for (int i = 0; i < 1000; i++) {
        snprintf(email, sizeof email, "user%d@example.com", i);
        CHECK_OK(cw_bloom_set(f, (cw_arg[]){ CW_ARG_STR(email) }, 1));
    }
    /* m = ceil(-1000 ln 0.01 / ln(2)^2) = 9586 bits: the bitmap key says so. */
    CHECK_OK(cw_exists(c, "bloom:exists_loader:email:{email}:9586"));
    int maybe = 0;
    for (int i = 0; i < 1000; i++) {
        snprintf(email, sizeof email, "user%d@example.com", i);
        CHECK_OK(cw_bloom_check(f, (cw_arg[]){ CW_ARG_STR(email) }, 1, &maybe));
        CHECK_EQ_INT(maybe, 1);
    }
    int fp = 0;
    for (int i = 1000; i < 11000; i++) {
        snprintf(email, sizeof email, "user%d@example.com", i);
        CHECK_OK(cw_bloom_check(f, (cw_arg[]){ CW_ARG_STR(email) }, 1, &maybe));
        fp += maybe;
    }
    CHECK(fp < 250); /* about 1 % of 10000 expected; 2.5 % is far outside chance */
    /* Calls: "0" without the loader when a bit is clear; the loader checks a "maybe". */
    cw_value v = { 0 };
    int before = atomic_load(&calls), clear = 0;
    for (int i = 1000; i < 1100; i++) {
        snprintf(email, sizeof email, "user%d@example.com", i);
        CHECK_OK(CW_CALL(f, &v, CW_ARG_STR(email)));
        CHECK_VAL(v, "0");
        CHECK_OK(cw_bloom_check(f, (cw_arg[]){ CW_ARG_STR(email) }, 1, &maybe));
        clear += !maybe;
    }
    CHECK_EQ_INT(atomic_load(&calls) - before, 100 - clear);
    CHECK_OK(CW_CALL(f, &v, CW_ARG_STR("user5@example.com")));
    CHECK_VAL(v, "1");
    cw_value_free(&v);
    cw_func_free(f);
    cw_cache_free(c);
    return 0;
}

static int no_check_answers_maybe(void)
{
    cw_fake_clock fc;
    cw_cache *c = helper_cache(&fc);
    atomic_int calls = 0;
    cw_func *f = CW_FUNC(c, exists_loader, .strategy = CW_BLOOM, .loader_ud = &calls, .args = "email",
                         .key = "e:{email}", .capacity = 100, .no_check = 1);
    CHECK(f);
    cw_value v = { 0 };
    CHECK_OK(CW_CALL(f, &v, CW_ARG_STR("nobody@example.com")));
    CHECK_VAL(v, "0");
    CHECK_OK(cw_bloom_set(f, (cw_arg[]){ CW_ARG_STR("nobody@example.com") }, 1));
    CHECK_OK(CW_CALL(f, &v, CW_ARG_STR("nobody@example.com")));
    CHECK_VAL(v, "1");
    CHECK_EQ_INT(atomic_load(&calls), 0);
    /* Only bloom functions have a filter. */
    counter n = { 0 };
    cw_func *g = CW_FUNC(c, count_loader, .loader_ud = &n, .ttl = "1h");
    int maybe;
    CHECK_ST(cw_bloom_check(g, NULL, 0, &maybe), CW_EINVAL);
    CHECK_ST(cw_bloom_set(g, NULL, 0), CW_EINVAL);
    CHECK(!CW_FUNC(c, exists_loader, .strategy = CW_BLOOM, .args = "e", .capacity = 10, .false_positives = 100));
    cw_value_free(&v);
    cw_func_free(f);
    cw_func_free(g);
    cw_cache_free(c);
    return 0;
}

static const cw_test tests[] = {
    CW_TEST(never_false_negative_and_few_false_positives),
    CW_TEST(no_check_answers_maybe),
    { 0 },
};

int main(int argc, char **argv) { return cw_test_main(tests, argc, argv); }
