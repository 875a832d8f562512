/*
 * test_cache_mt.c - the core under contention (also run under ThreadSanitizer): thread
 * scopes stay per thread, error details stay per thread, a setup can replace routes while
 * other threads run commands, and incr/lock totals are exact through the full core path.
 */
#include <pthread.h>

#include "cw_test.h"

enum { THREADS = 4, ITERS = 2000 };

typedef struct worker {
    cw_cache *c;
    int id;
    int failures;
    int64_t holders_max;
} worker;

static void *scoped_worker(void *arg)
{
    worker *w = arg;
    cw_value v = { 0 };
    char key[32];
    snprintf(key, sizeof key, "w%d", w->id);
    for (int i = 0; i < ITERS; i++) {
        int disable = (i + w->id) % 2;
        if (disable) cw_disabling_begin(w->c, CW_CMD_BIT(CW_CMD_GET));
        cw_status st = cw_get(w->c, key, &v);
        if (disable ? st != CW_EDISABLED : st != CW_OK) w->failures++;
        if (disable) cw_disabling_end(w->c);
        /* error detail is this thread's own */
        cw_get(w->c, "", &v);
        if (!strstr(cw_cache_errmsg(w->c), "empty")) w->failures++;
    }
    cw_value_free(&v);
    return NULL;
}

static int scopes_are_per_thread(void)
{
    cw_cache *c = NULL;
    CHECK_OK(cw_cache_new_default(&c));
    worker w[THREADS];
    pthread_t th[THREADS];
    for (int i = 0; i < THREADS; i++) {
        char key[32];
        snprintf(key, sizeof key, "w%d", i);
        CHECK_OK(cw_set(c, key, "v", 1, CW_NO_EXPIRY));
        w[i] = (worker){ c, i, 0, 0 };
    }
    for (int i = 0; i < THREADS; i++) CHECK_EQ_INT(pthread_create(&th[i], NULL, scoped_worker, &w[i]), 0);
    for (int i = 0; i < THREADS; i++) pthread_join(th[i], NULL);
    for (int i = 0; i < THREADS; i++) CHECK_EQ_INT(w[i].failures, 0);
    cw_cache_free(c);
    return 0;
}

static _Atomic int holders;
static long guarded_counter; /* plain: only the cache lock protects it */

static void *incr_lock_worker(void *arg)
{
    worker *w = arg;
    for (int i = 0; i < ITERS; i++) {
        if (cw_incr(w->c, "total", 1, CW_NO_EXPIRY, NULL) != CW_OK) w->failures++;
        cw_lock_guard g;
        if (i % 8 == 0) {
            if (cw_lock(w->c, "excl", 10000, 5000, &g) != CW_OK) { w->failures++; continue; }
            int h = ++holders;
            if (h > w->holders_max) w->holders_max = h;
            long before = guarded_counter;
            guarded_counter = before + 1;
            --holders;
            if (cw_lock_release(&g) != CW_OK) w->failures++;
        }
    }
    return NULL;
}

static int incr_and_locks_exact_through_core(void)
{
    cw_cache *c = NULL;
    CHECK_OK(cw_cache_new_default(&c));
    worker w[THREADS];
    pthread_t th[THREADS];
    guarded_counter = 0;
    for (int i = 0; i < THREADS; i++) w[i] = (worker){ c, i, 0, 0 };
    for (int i = 0; i < THREADS; i++) CHECK_EQ_INT(pthread_create(&th[i], NULL, incr_lock_worker, &w[i]), 0);
    for (int i = 0; i < THREADS; i++) pthread_join(th[i], NULL);
    for (int i = 0; i < THREADS; i++) {
        CHECK_EQ_INT(w[i].failures, 0);
        CHECK_EQ_INT(w[i].holders_max, 1);
    }
    int64_t total = 0;
    CHECK_OK(cw_incr(c, "total", 0, CW_NO_EXPIRY, &total));
    CHECK_EQ_INT(total, THREADS * ITERS);
    CHECK_EQ_INT(guarded_counter, THREADS * (ITERS / 8));
    cw_cache_free(c);
    return 0;
}

static _Atomic int stop_readers;

static void *route_reader(void *arg)
{
    worker *w = arg;
    cw_value v = { 0 };
    while (!stop_readers) {
        cw_status st = cw_get(w->c, "p1:key", &v);
        if (st != CW_OK && st != CW_NOTFOUND) w->failures++;
        st = cw_set(w->c, "p1:key", "x", 1, 1000);
        if (st != CW_OK) w->failures++;
    }
    cw_value_free(&v);
    return NULL;
}

static int setup_while_commands_run(void)
{
    cw_cache *c = NULL;
    CHECK_OK(cw_cache_new_default(&c));
    worker w[2] = { { c, 0, 0, 0 }, { c, 1, 0, 0 } };
    pthread_t th[2];
    stop_readers = 0;
    for (int i = 0; i < 2; i++) CHECK_EQ_INT(pthread_create(&th[i], NULL, route_reader, &w[i]), 0);
    for (int i = 0; i < 20; i++) {
        char prefix[8];
        snprintf(prefix, sizeof prefix, "p%d", i % 3);
        cw_setup_options so = { .prefix = prefix };
        CHECK_OK(cw_cache_setup(c, "mem://?size=100&check_interval=0", &so, NULL));
    }
    stop_readers = 1;
    for (int i = 0; i < 2; i++) pthread_join(th[i], NULL);
    CHECK_EQ_INT(w[0].failures + w[1].failures, 0);
    cw_cache_free(c);
    return 0;
}

static const cw_test tests[] = {
    CW_TEST(scopes_are_per_thread), CW_TEST(incr_and_locks_exact_through_core),
    CW_TEST(setup_while_commands_run), { 0 }
};

int main(int argc, char **argv) { return cw_test_main(tests, argc, argv); }
