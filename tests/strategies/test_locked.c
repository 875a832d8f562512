/* test_locked.c - locked: one loader at a time per key; others wait up to the TTL or fail with
 * CW_ELOCKED; the lock is released after the call, also when the loader fails. */
#include "func_helpers.h"

static int waits_or_fails_while_held(void)
{
    cw_fake_clock fc;
    cw_cache *c = helper_cache(&fc);
    counter n = { 0 };
    cw_func *nw = CW_FUNC(c, count_loader, .strategy = CW_LOCKED, .loader_ud = &n, .args = "id", .key = "job:{id}",
                          .ttl = "10s", .no_wait = 1);
    cw_func *w = CW_FUNC(c, count_loader, .strategy = CW_LOCKED, .loader_ud = &n, .args = "id", .key = "job:{id}",
                         .ttl = "40ms");
    CHECK(nw && w);
    CHECK_STR(cw_func_template(nw), "locked:job:{id}");
    cw_value v = { 0 };
    CHECK_CALL_VAL(nw, v, "v1:1", CW_ARG_INT(1));
    CHECK_CALL_VAL(nw, v, "v2:1", CW_ARG_INT(1)); /* nothing cached: the loader runs each time */
    int locked = 1;
    CHECK_OK(cw_is_locked(c, "locked:job:1", 0, 0, &locked));
    CHECK_EQ_INT(locked, 0);
    /* Someone else holds it. */
    CHECK_OK(cw_set_lock(c, "locked:job:1", "other", 5, 60000));
    CHECK_ST(CW_CALL(nw, &v, CW_ARG_INT(1)), CW_ELOCKED);
    CHECK_ST(CW_CALL(w, &v, CW_ARG_INT(1)), CW_ELOCKED); /* waited its 40 ms (real time) */
    CHECK_CALL_VAL(nw, v, "v3:2", CW_ARG_INT(2));          /* other keys are free */
    CHECK_OK(cw_unlock(c, "locked:job:1", "other", 5));
    CHECK_CALL_VAL(w, v, "v4:1", CW_ARG_INT(1));
    /* Released after a failing loader too. */
    n.fail = CW_USER_ERROR;
    CHECK_ST(CW_CALL(nw, &v, CW_ARG_INT(1)), CW_USER_ERROR);
    CHECK_OK(cw_is_locked(c, "locked:job:1", 0, 0, &locked));
    CHECK_EQ_INT(locked, 0);
    CHECK_EQ_INT(atomic_load(&n.calls), 5);
    cw_value_free(&v);
    cw_func_free(nw);
    cw_func_free(w);
    cw_cache_free(c);
    return 0;
}

static int default_ttl_is_ten_seconds(void)
{
    cw_fake_clock fc;
    cw_cache *c = helper_cache(&fc);
    counter n = { 0 };
    cw_func *f = CW_FUNC(c, count_loader, .strategy = CW_LOCKED, .loader_ud = &n, .key = "d");
    CHECK(f);
    cw_value v = { 0 };
    CHECK_OK(cw_func_call(f, NULL, 0, &v));
    cw_value_free(&v);
    cw_func_free(f);
    cw_cache_free(c);
    return 0;
}

static const cw_test tests[] = {
    CW_TEST(waits_or_fails_while_held),
    CW_TEST(default_ttl_is_ten_seconds),
    { 0 },
};

int main(int argc, char **argv) { return cw_test_main(tests, argc, argv); }
