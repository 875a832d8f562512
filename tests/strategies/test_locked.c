/* test_locked.c - locked: one loader at a time per key; others wait (twice the TTL, or
 * .lock_wait, trying every .lock_step) or fail with CW_ELOCKED; the lock is released after
 * the call, also when the loader fails; under a disable the loader answers. */
#include <pthread.h>

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
    CHECK_ST(CW_CALL(w, &v, CW_ARG_INT(1)), CW_ELOCKED); /* waited 2 x 40 ms (real time) */
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

typedef struct waiter {
    cw_func *f;
    int status;
    cw_value v;
} waiter;

static void *wait_call(void *p)
{
    waiter *w = p;
    w->status = CW_CALL(w->f, &w->v, CW_ARG_INT(1));
    return NULL;
}

static int64_t real_ms(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (int64_t)ts.tv_sec * 1000 + ts.tv_nsec / 1000000;
}

/* A holder took the lock when the waiter started and died: its lock expires one TTL later,
 * and the waiter, which by default waits twice the TTL, takes it (it used to wait exactly
 * the TTL, racing the expiry and often losing). The fake clock decides the expiry: it moves
 * past the TTL only after the waiter has waited longer than one TTL of real time. */
static int waiter_takes_the_lock_a_dead_holder_leaves(void)
{
    cw_fake_clock fc;
    cw_cache *c = helper_cache(&fc);
    counter n = { 0 };
    cw_func *f = CW_FUNC(c, count_loader, .strategy = CW_LOCKED, .loader_ud = &n, .args = "id",
                         .key = "job:{id}", .ttl = "1s");
    CHECK(f);
    CHECK_OK(cw_set_lock(c, "locked:job:1", "dead", 4, 1000)); /* the holder */
    waiter w = { f, -1, { 0 } };
    pthread_t th;
    int64_t t0 = real_ms();
    CHECK_EQ_INT(pthread_create(&th, NULL, wait_call, &w), 0);
    helper_sleep_ms(1300);
    cw_fake_clock_advance(&fc, 1001);
    pthread_join(th, NULL);
    CHECK_EQ_INT(w.status, CW_OK);
    CHECK_VAL(w.v, "v1:1");
    CHECK(real_ms() - t0 < 2500);
    cw_value_free(&w.v);
    cw_func_free(f);
    cw_cache_free(c);
    return 0;
}

static cw_status count_set_lock(cw_call *call, void *ud)
{
    if (cw_call_command(call) == CW_CMD_SET_LOCK) atomic_fetch_add((atomic_int *)ud, 1);
    return cw_call_next(call);
}

/* .lock_wait bounds the wait; .lock_step paces the attempts (each waits a whole step). */
static int lock_wait_and_step(void)
{
    cw_fake_clock fc;
    cw_cache *c = helper_cache(&fc);
    atomic_int attempts = 0;
    CHECK_OK(cw_cache_add_middleware(c, count_set_lock, &attempts));
    counter n = { 0 };
    cw_func *f = CW_FUNC(c, count_loader, .strategy = CW_LOCKED, .loader_ud = &n, .args = "id",
                         .key = "job:{id}", .ttl = "10s", .lock_wait = "200ms", .lock_step = "50ms");
    CHECK(f);
    CHECK_OK(cw_set_lock(c, "locked:job:1", "other", 5, 60000));
    atomic_store(&attempts, 0);
    cw_value v = { 0 };
    int64_t t0 = real_ms();
    CHECK_ST(CW_CALL(f, &v, CW_ARG_INT(1)), CW_ELOCKED);
    int64_t took = real_ms() - t0;
    CHECK(took >= 200);
    CHECK(atomic_load(&attempts) >= 2);
    CHECK(atomic_load(&attempts) <= took / 50 + 2); /* the default back-off tries ~9 times */
    CHECK_ST(cw_func_new(&(cw_func *){ NULL }, c, &(cw_func_options){ .strategy = CW_LOCKED,
             .loader = count_loader, .key = "x", .lock_step = "soon" }), CW_EINVAL);
    CHECK(strstr(cw_cache_errmsg(c), "lock_step"));
    CHECK_EQ_INT(atomic_load(&n.calls), 0);
    cw_value_free(&v);
    cw_func_free(f);
    cw_cache_free(c);
    return 0;
}

/* Under a full disable the lock cannot be taken: the loader answers (docs/STRATEGIES.md),
 * as it does for every other strategy. */
static int disabled_cache_lets_the_loader_answer(void)
{
    cw_fake_clock fc;
    cw_cache *c = helper_cache(&fc);
    counter n = { 0 };
    cw_func *f = CW_FUNC(c, count_loader, .strategy = CW_LOCKED, .loader_ud = &n, .args = "id",
                         .key = "job:{id}", .ttl = "10s");
    CHECK(f);
    cw_value v = { 0 };
    cw_cache_disable(c, CW_CMD_ALL);
    CHECK_CALL_VAL(f, v, "v1:1", CW_ARG_INT(1));
    cw_cache_enable(c, CW_CMD_ALL);
    CHECK_OK(cw_disabling_begin(c, CW_CMD_ALL));
    CHECK_CALL_VAL(f, v, "v2:1", CW_ARG_INT(1));
    CHECK_OK(cw_disabling_end(c));
    int locked = 1;
    CHECK_OK(cw_is_locked(c, "locked:job:1", 0, 0, &locked));
    CHECK_EQ_INT(locked, 0);
    cw_value_free(&v);
    cw_func_free(f);
    cw_cache_free(c);
    return 0;
}

static const cw_test tests[] = {
    CW_TEST(waits_or_fails_while_held),
    CW_TEST(default_ttl_is_ten_seconds),
    CW_TEST(waiter_takes_the_lock_a_dead_holder_leaves),
    CW_TEST(lock_wait_and_step),
    CW_TEST(disabled_cache_lets_the_loader_answer),
    { 0 },
};

int main(int argc, char **argv) { return cw_test_main(tests, argc, argv); }
