/* test_func_mt.c - cached functions under concurrency (also run under ThreadSanitizer):
 * 16 concurrent misses of one key run the loader once (single flight); lock=true does the
 * same across functions that do not share a single flight (as separate processes would);
 * locked runs one loader at a time; early refreshes once under a crowd of stale hits; the
 * background pool shuts down cleanly with work in hand. */
#include <pthread.h>

#include "func_helpers.h"

#define NTHREADS 16

typedef struct crowd {
    cw_func *f[2];
    pthread_barrier_t go;
    atomic_int ok, same;
    const char *want;
    int64_t arg;
} crowd;

static void *crowd_call(void *arg)
{
    crowd *cr = ((void **)arg)[0];
    intptr_t idx = (intptr_t)((void **)arg)[1];
    cw_value v = { 0 };
    pthread_barrier_wait(&cr->go);
    cw_func *f = cr->f[idx % 2] ? cr->f[idx % 2] : cr->f[0];
    if (CW_CALL(f, &v, CW_ARG_INT(cr->arg)) == CW_OK) {
        atomic_fetch_add(&cr->ok, 1);
        if (cr->want && v.len == strlen(cr->want) && memcmp(v.data, cr->want, v.len) == 0)
            atomic_fetch_add(&cr->same, 1);
    }
    cw_value_free(&v);
    return NULL;
}

static int run_crowd(crowd *cr)
{
    pthread_t th[NTHREADS];
    void *args[NTHREADS][2];
    pthread_barrier_init(&cr->go, NULL, NTHREADS);
    for (intptr_t i = 0; i < NTHREADS; i++) {
        args[i][0] = cr;
        args[i][1] = (void *)i;
        if (pthread_create(&th[i], NULL, crowd_call, args[i]) != 0) return 1;
    }
    for (int i = 0; i < NTHREADS; i++) pthread_join(th[i], NULL);
    pthread_barrier_destroy(&cr->go);
    return 0;
}

static int sixteen_concurrent_misses_load_once(void)
{
    cw_cache *c = NULL;
    CHECK_OK(cw_cache_new_default(&c));
    counter n = { .sleep_ms = 50 };
    cw_func *f = CW_FUNC(c, count_loader, .loader_ud = &n, .args = "id", .key = "user:{id}", .ttl = "1h");
    CHECK(f);
    crowd cr = { .f = { f, NULL }, .want = "v1:7", .arg = 7 };
    CHECK_EQ_INT(run_crowd(&cr), 0);
    CHECK_EQ_INT(atomic_load(&n.calls), 1);
    CHECK_EQ_INT(atomic_load(&cr.ok), NTHREADS);
    CHECK_EQ_INT(atomic_load(&cr.same), NTHREADS);
    /* A failing loader: everyone waiting on it gets its error, and nothing sticks. */
    counter bad = { .sleep_ms = 30, .fail = CW_USER_ERROR + 3 };
    cw_func *g = CW_FUNC(c, count_loader, .loader_ud = &bad, .args = "id", .key = "bad:{id}", .ttl = "1h");
    CHECK(g);
    crowd cb = { .f = { g, NULL }, .arg = 1 };
    CHECK_EQ_INT(run_crowd(&cb), 0);
    CHECK_EQ_INT(atomic_load(&cb.ok), 0);
    CHECK(atomic_load(&bad.calls) >= 1 && atomic_load(&bad.calls) < NTHREADS);
    cw_func_free(f);
    cw_func_free(g);
    cw_cache_free(c);
    return 0;
}

static int lock_true_across_functions(void)
{
    cw_cache *c = NULL;
    CHECK_OK(cw_cache_new_default(&c));
    counter n = { .sleep_ms = 50 };
    /* Two functions on one key without a shared single flight: only the cache lock keeps
     * the loader to one run, and the others read the value it stored. */
    cw_func *a = CW_FUNC(c, count_loader, .loader_ud = &n, .args = "id", .key = "shared:{id}", .ttl = "1h",
                         .lock = 1, .lock_ttl = "5s", .no_single_flight = 1);
    cw_func *b = CW_FUNC(c, count_loader, .loader_ud = &n, .args = "id", .key = "shared:{id}", .ttl = "1h",
                         .lock = 1, .lock_ttl = "5s", .no_single_flight = 1);
    CHECK(a && b);
    crowd cr = { .f = { a, b }, .want = "v1:3", .arg = 3 };
    CHECK_EQ_INT(run_crowd(&cr), 0);
    CHECK_EQ_INT(atomic_load(&n.calls), 1);
    CHECK_EQ_INT(atomic_load(&cr.same), NTHREADS);
    cw_func_free(a);
    cw_func_free(b);
    cw_cache_free(c);
    return 0;
}

typedef struct overlap {
    atomic_int now, max, calls;
} overlap;

static int overlap_loader(void *ud, const cw_arg *args, size_t nargs, cw_value *out)
{
    (void)args; (void)nargs;
    overlap *o = ud;
    int cur = atomic_fetch_add(&o->now, 1) + 1;
    int m = atomic_load(&o->max);
    while (cur > m && !atomic_compare_exchange_weak(&o->max, &m, cur)) {}
    helper_sleep_ms(5);
    atomic_fetch_sub(&o->now, 1);
    atomic_fetch_add(&o->calls, 1);
    return cw_value_set(out, "done", 4);
}

static int locked_runs_one_at_a_time(void)
{
    cw_cache *c = NULL;
    CHECK_OK(cw_cache_new_default(&c));
    overlap o = { 0 };
    cw_func *f = CW_FUNC(c, overlap_loader, .strategy = CW_LOCKED, .loader_ud = &o, .args = "id", .ttl = "5s");
    CHECK(f);
    crowd cr = { .f = { f, NULL }, .want = "done", .arg = 1 };
    CHECK_EQ_INT(run_crowd(&cr), 0);
    CHECK_EQ_INT(atomic_load(&o.max), 1);
    CHECK_EQ_INT(atomic_load(&o.calls), NTHREADS);
    CHECK_EQ_INT(atomic_load(&cr.same), NTHREADS);
    cw_func_free(f);
    cw_cache_free(c);
    return 0;
}

static int early_refreshes_once_under_a_crowd(void)
{
    cw_fake_clock fc;
    cw_cache *c = helper_cache(&fc);
    counter n = { 0 };
    cw_func *f = CW_FUNC(c, count_loader, .strategy = CW_EARLY, .loader_ud = &n, .args = "id", .key = "e:{id}",
                         .ttl = "10m", .early_ttl = "1m");
    CHECK(f);
    cw_value v = { 0 };
    CHECK_OK(CW_CALL(f, &v, CW_ARG_INT(1)));
    cw_fake_clock_advance(&fc, 61000);
    n.sleep_ms = 40;
    crowd cr = { .f = { f, NULL }, .want = "v1:1", .arg = 1 };
    CHECK_EQ_INT(run_crowd(&cr), 0);
    CHECK_EQ_INT(atomic_load(&cr.same), NTHREADS); /* all served the current value */
    CHECK(helper_wait_value(c, "early:e:1", "v2:1"));
    CHECK_EQ_INT(atomic_load(&n.calls), 2);
    cw_value_free(&v);
    cw_func_free(f);
    cw_cache_free(c);
    return 0;
}

static int pool_shuts_down_with_work_in_hand(void)
{
    for (int round = 0; round < 3; round++) {
        cw_fake_clock fc;
        cw_cache *c = helper_cache(&fc);
        counter n = { 0 };
        cw_func *f = CW_FUNC(c, count_loader, .strategy = CW_HIT, .loader_ud = &n, .args = "id", .ttl = "1h",
                             .cache_hits = 10, .update_after = 1);
        CHECK(f);
        cw_value v = { 0 };
        for (int i = 0; i < 40; i++) CHECK_OK(CW_CALL(f, &v, CW_ARG_INT(i)));
        n.sleep_ms = 2;
        for (int i = 0; i < 40; i++) CHECK_OK(CW_CALL(f, &v, CW_ARG_INT(i))); /* 40 refreshes queued */
        if (round == 1) helper_sleep_ms(5);
        cw_func_free(f); /* waits for the running ones, drops the rest */
        int calls = atomic_load(&n.calls);
        helper_sleep_ms(5);
        CHECK_EQ_INT(atomic_load(&n.calls), calls); /* nothing runs after the free */
        cw_value_free(&v);
        cw_cache_free(c); /* joins the pool's threads */
    }
    return 0;
}

static const cw_test tests[] = {
    CW_TEST(sixteen_concurrent_misses_load_once),
    CW_TEST(lock_true_across_functions),
    CW_TEST(locked_runs_one_at_a_time),
    CW_TEST(early_refreshes_once_under_a_crowd),
    CW_TEST(pool_shuts_down_with_work_in_hand),
    { 0 },
};

int main(int argc, char **argv) { return cw_test_main(tests, argc, argv); }
