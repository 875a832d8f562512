/*
 * test_disk_mt.c - the disk:// backend under threads (also run under ThreadSanitizer):
 * incr and locks stay exact with many threads on one instance and with two instances on one
 * directory (as two processes would be, with their own connections and write mutexes), and
 * a mix of every command with LRU eviction keeps the accounting exact.
 * No fork here (see test_disk.c for processes).
 */
#include "cw_test.h"

#include <cashews/disk.h>
#include <pthread.h>
#include <sched.h>

#include "core/internal.h"

#define OPS cw__disk_ops

static cw_fake_clock clk;

static cw_backend *open_url(const char *fmt, const char *dir)
{
    char url[600], err[CW_ERRMSG_SIZE] = "";
    snprintf(url, sizeof url, fmt, dir);
    cw_url u;
    if (cw_url_parse(url, NULL, &u, err) != CW_OK) return NULL;
    cw_backend_env env = { cw_fake_clock_now, &clk, NULL, NULL };
    cw_backend *b = NULL;
    if (OPS.open(&b, &u, &env, err) != CW_OK) fprintf(stderr, "open %s: %s\n", url, err);
    cw_url_free(&u);
    return b;
}

enum { INCRS = 150, LOCKS = 30 };

typedef struct worker {
    cw_backend *b;
    int id;
    int rc; /* 0 ok, else the step that failed */
} worker;

/* incr a counter; then, under a lock taken with set-if-absent and released with
 * delete_if_equal, a non-atomic read-modify-write that would lose updates without it. */
static void *hammer(void *arg)
{
    worker *w = arg;
    char token[16];
    snprintf(token, sizeof token, "t%d", w->id);
    size_t tl = strlen(token);
    for (int i = 0; i < INCRS; i++)
        if (OPS.incr(w->b, "total", 5, 1, CW_NO_EXPIRY, NULL) != CW_OK) { w->rc = 1; return NULL; }
    cw_value v = { 0 };
    for (int i = 0; i < LOCKS; i++) {
        cw_status st;
        while ((st = OPS.set(w->b, "lock", 4, token, tl, 10000, CW_SET_IF_ABSENT)) == CW_NOTSTORED)
            sched_yield();
        if (st != CW_OK) { w->rc = 2; break; }
        long n = 0;
        if (OPS.get(w->b, "guarded", 7, &v) == CW_OK) n = strtol((const char *)v.data, NULL, 10);
        char buf[24];
        int len = snprintf(buf, sizeof buf, "%ld", n + 1);
        if (OPS.set(w->b, "guarded", 7, buf, (size_t)len, CW_NO_EXPIRY, CW_SET_ALWAYS) != CW_OK) {
            w->rc = 3;
            break;
        }
        if (OPS.delete_if_equal(w->b, "lock", 4, token, tl) != CW_OK) { w->rc = 4; break; }
    }
    cw_value_free(&v);
    return NULL;
}

static long read_long(cw_backend *b, const char *k)
{
    cw_value v = { 0 };
    long n = -1;
    if (OPS.get(b, k, strlen(k), &v) == CW_OK) n = strtol((const char *)v.data, NULL, 10);
    cw_value_free(&v);
    return n;
}

static int run_hammer(cw_backend **bs, int nb, int per)
{
    pthread_t t[8];
    worker w[8];
    int n = nb * per;
    for (int i = 0; i < n; i++) {
        w[i] = (worker){ bs[i % nb], i, 0 };
        CHECK(pthread_create(&t[i], NULL, hammer, &w[i]) == 0);
    }
    for (int i = 0; i < n; i++) pthread_join(t[i], NULL);
    for (int i = 0; i < n; i++) CHECK_EQ_INT(w[i].rc, 0);
    CHECK_EQ_INT(read_long(bs[0], "total"), (long)n * INCRS);
    CHECK_EQ_INT(read_long(bs[nb - 1], "guarded"), (long)n * LOCKS);
    CHECK_ST(OPS.exists(bs[0], "lock", 4), CW_NOTFOUND);
    return 0;
}

static int mt_threads_one_instance(void)
{
    char dir[256];
    CHECK(cw_test_mkdtemp(dir, sizeof dir, "diskmt") == 0);
    cw_backend *b = open_url("disk://?directory=%s&shards=2", dir);
    CHECK(b != NULL);
    int rc = run_hammer(&b, 1, 4);
    OPS.close(b);
    cw_test_rmtree(dir);
    return rc;
}

static int mt_two_instances_one_directory(void)
{
    char dir[256];
    CHECK(cw_test_mkdtemp(dir, sizeof dir, "diskmt") == 0);
    cw_backend *bs[2];
    bs[0] = open_url("disk://?directory=%s&shards=2&timeout=20", dir);
    bs[1] = open_url("disk://?directory=%s&timeout=20", dir);
    CHECK(bs[0] != NULL && bs[1] != NULL);
    int rc = run_hammer(bs, 2, 2);
    OPS.close(bs[0]);
    OPS.close(bs[1]);
    cw_test_rmtree(dir);
    return rc;
}

/* ---- every command at once, with LRU eviction ------------------------------------------- */

typedef struct mix {
    cw_backend *b;
    int id;
    int rc;
    _Atomic uint64_t *evicted;
} mix;

static void count_evict(void *ud, const char *key, size_t klen, uint64_t bytes)
{
    atomic_fetch_add((_Atomic uint64_t *)ud, 1);
}

static int scan_noop(void *ud, const char *key, size_t klen, const void *val, size_t vlen)
{
    (*(int *)ud)++;
    return 0;
}

static void *mixer(void *arg)
{
    mix *m = arg;
    char k[32], val[80];
    cw_value v = { 0 };
    memset(val, 'a' + m->id, sizeof val);
    for (int i = 0; i < 300 && !m->rc; i++) {
        snprintf(k, sizeof k, "m%d:%d", m->id, i % 50);
        cw_status st = OPS.set(m->b, k, strlen(k), val, 40 + (size_t)(i % 40),
                               i % 2 ? 60000 : CW_NO_EXPIRY, CW_SET_ALWAYS);
        if (st != CW_OK) m->rc = 1;
        st = OPS.get(m->b, k, strlen(k), &v);
        if (st != CW_OK && st != CW_NOTFOUND) m->rc = 2; /* may be evicted already */
        if (i % 7 == 0 && OPS.del(m->b, k, strlen(k)) == CW_EBACKEND) m->rc = 3;
        if (i % 11 == 0) {
            int n = 0;
            if (OPS.scan(m->b, "m*", 2, 16, i % 2, scan_noop, &n) != CW_OK) m->rc = 4;
        }
        if (i % 13 == 0) {
            const char *mem[] = { "x", "y" };
            size_t ml[] = { 1, 1 };
            size_t popped = 0;
            if (OPS.set_add(m->b, "tags", 4, 2, mem, ml, 60000) != CW_OK) m->rc = 5;
            if (OPS.set_pop(m->b, "tags", 4, 1, NULL, NULL, &popped) != CW_OK) m->rc = 6;
        }
        if (i % 17 == 0 && OPS.incr(m->b, "hits", 4, 1, CW_NO_EXPIRY, NULL) != CW_OK) m->rc = 7;
        if (i % 50 == 49) {
            uint64_t d = 0;
            snprintf(k, sizeof k, "m%d:1*", m->id);
            if (OPS.delete_match(m->b, k, strlen(k), &d) != CW_OK) m->rc = 8;
        }
    }
    cw_value_free(&v);
    return NULL;
}

static int mt_mixed_commands_with_eviction(void)
{
    char dir[256];
    CHECK(cw_test_mkdtemp(dir, sizeof dir, "diskmt") == 0);
    cw_backend *b = open_url("disk://?directory=%s&shards=2&size_limit=6k"
                             "&eviction_policy=least-recently-used", dir);
    CHECK(b != NULL);
    _Atomic uint64_t evicted = 0;
    CHECK_OK(cw_disk_set_eviction_callback(b, count_evict, (void *)&evicted));
    pthread_t t[4];
    mix m[4];
    for (int i = 0; i < 4; i++) {
        m[i] = (mix){ b, i, 0, &evicted };
        CHECK(pthread_create(&t[i], NULL, mixer, &m[i]) == 0);
    }
    for (int i = 0; i < 4; i++) pthread_join(t[i], NULL);
    for (int i = 0; i < 4; i++) CHECK_EQ_INT(m[i].rc, 0);
    cw_disk_stats s;
    CHECK_OK(cw_disk_get_stats(b, &s));
    CHECK(atomic_load(&evicted) > 0);
    CHECK_EQ_INT(s.evictions, atomic_load(&evicted));
    CHECK_EQ_INT(s.evictions_total, s.evictions);
    CHECK(s.bytes <= 6 * 1024);
    /* the running totals equal what a full scan finds */
    int n = 0;
    CHECK_OK(OPS.scan(b, "*", 1, 100, 0, scan_noop, &n));
    CHECK_EQ_INT(s.keys, (uint64_t)n);
    OPS.close(b);
    cw_test_rmtree(dir);
    return 0;
}

static const cw_test tests[] = {
    CW_TEST(mt_threads_one_instance),
    CW_TEST(mt_two_instances_one_directory),
    CW_TEST(mt_mixed_commands_with_eviction),
    { 0 },
};

int main(int argc, char **argv)
{
    cw_fake_clock_init(&clk);
    return cw_test_main(tests, argc, argv);
}
