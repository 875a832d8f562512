/*
 * test_size_mt.c - mem://?size=N is a bound under contention: 16 threads insert new keys
 * while another polls cw_get_keys_count(); the count must never be seen above N (it once
 * reached 1,018 of 1,000 before settling), and the keys really held, counted by a scan at
 * the end, are within it too.
 */
#include <pthread.h>
#include <sched.h>

#include "cw_test.h"

enum { THREADS = 16, SIZE = 1000 };

typedef struct shared {
    cw_cache *c;
    atomic_int writers_left;
    atomic_int failures;
    atomic_int watching; /* the watcher has polled once: writers start then */
    int per_thread;      /* keys each writer inserts */
    uint64_t max_seen;
    uint64_t polls;
} shared;

typedef struct writer {
    shared *sh;
    int id;
} writer;

static void *write_keys(void *arg)
{
    writer *w = arg;
    char key[48];
    while (!atomic_load(&w->sh->watching)) sched_yield();
    for (int i = 0; i < w->sh->per_thread; i++) {
        snprintf(key, sizeof key, "t%d:key:%d", w->id, i);
        if (cw_set(w->sh->c, key, "a value long enough", 19, CW_NO_EXPIRY) != CW_OK)
            atomic_fetch_add(&w->sh->failures, 1);
    }
    atomic_fetch_sub(&w->sh->writers_left, 1);
    return NULL;
}

static void *watch_count(void *arg)
{
    shared *sh = arg;
    while (atomic_load(&sh->writers_left) > 0) {
        uint64_t n = 0;
        if (cw_get_keys_count(sh->c, &n) != CW_OK) atomic_fetch_add(&sh->failures, 1);
        if (n > sh->max_seen) sh->max_seen = n;
        sh->polls++;
        atomic_store(&sh->watching, 1);
    }
    return NULL;
}

static int count_key(void *ud, const char *key, size_t klen, const void *val, size_t vlen)
{
    (*(uint64_t *)ud)++;
    return 0;
}

static int one_round(const char *url, uint64_t size, int per_thread)
{
    shared sh = { .per_thread = per_thread };
    CHECK_OK(cw_cache_new(&sh.c, NULL));
    CHECK_OK(cw_cache_setup(sh.c, url, NULL, NULL));
    atomic_init(&sh.writers_left, THREADS);
    atomic_init(&sh.failures, 0);
    atomic_init(&sh.watching, 0);
    pthread_t th[THREADS], watcher;
    writer w[THREADS];
    CHECK_EQ_INT(pthread_create(&watcher, NULL, watch_count, &sh), 0);
    for (int i = 0; i < THREADS; i++) {
        w[i] = (writer){ &sh, i };
        CHECK_EQ_INT(pthread_create(&th[i], NULL, write_keys, &w[i]), 0);
    }
    for (int i = 0; i < THREADS; i++) pthread_join(th[i], NULL);
    pthread_join(watcher, NULL);
    CHECK_EQ_INT(atomic_load(&sh.failures), 0);
    CHECK(sh.polls > 0);
    if (sh.max_seen > size) fprintf(stderr, "%s: keys_count reached %llu\n", url, (unsigned long long)sh.max_seen);
    CHECK(sh.max_seen <= size);
    uint64_t n = 0, scanned = 0;
    CHECK_OK(cw_get_keys_count(sh.c, &n));
    CHECK_OK(cw_scan(sh.c, "*", 100, count_key, &scanned));
    CHECK(n <= size);
    CHECK(scanned <= size);
    CHECK(n >= size / 2); /* the cache is full, not emptied by the bound */
    cw_cache_free(sh.c);
    return 0;
}

static int size_holds_under_contention_mt(void)
{
    CHECK_EQ_INT(one_round("mem://?size=1000&check_interval=0", SIZE, 20000), 0);
    /* few keys a shard: a thread often finds its own shard with nothing to evict */
    CHECK_EQ_INT(one_round("mem://?size=64&check_interval=0", 64, 5000), 0);
    CHECK_EQ_INT(one_round("mem://?size=1&check_interval=0", 1, 2000), 0);
    return 0;
}

static const cw_test tests[] = { CW_TEST(size_holds_under_contention_mt), { 0 } };

int main(int argc, char **argv) { return cw_test_main(tests, argc, argv); }
