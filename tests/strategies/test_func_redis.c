/* test_func_redis.c - the strategies unchanged on redis:// (a real redis-server from the
 * harness): they only use the cache's commands, so what works on mem:// must work here. The
 * fake clock drives what the library computes (refresh instants, windows); Redis's own
 * expiry runs on real time, so these tests do not wait for TTLs. */
#include <pthread.h>

#include "func_helpers.h"
#include "redis_server.h"

static cw_redis_server rs;
static char url[128];

static cw_cache *redis_cache(cw_fake_clock *fc)
{
    cw_fake_clock_init(fc);
    cw_cache_options o = { 0 };
    o.clock = cw_fake_clock_now;
    o.clock_ud = fc;
    cw_cache *c = NULL;
    if (cw_cache_new(&c, &o) != CW_OK) return NULL;
    if (cw_cache_setup(c, url, NULL, NULL) != CW_OK || cw_clear(c) != CW_OK) {
        cw_cache_free(c);
        return NULL;
    }
    return c;
}

static int simple_errors_and_detect(void)
{
    cw_fake_clock fc;
    cw_cache *c = redis_cache(&fc);
    CHECK(c);
    counter n = { 0 };
    static const int codes[] = { CW_USER_ERROR };
    cw_func *f = CW_FUNC(c, count_loader, .loader_ud = &n, .args = "id", .key = "user:{id}", .ttl = "1h",
                         .cache_errors = codes, .ncache_errors = 1);
    CHECK(f);
    cw_value v = { 0 };
    cw_detector d = { 0 };
    CHECK_OK(cw_detect_begin(c, &d));
    CHECK_CALL_VAL(f, v, "v1:1", CW_ARG_INT(1));
    CHECK_CALL_VAL(f, v, "v1:1", CW_ARG_INT(1));
    CHECK_OK(cw_detect_end(c));
    CHECK_EQ_INT(d.ncalls, 2);
    CHECK_STR(d.calls[1].backend, "redis");
    CHECK_EQ_INT(d.calls[1].from_cache, 1);
    n.fail = CW_USER_ERROR;
    CHECK_ST(CW_CALL(f, &v, CW_ARG_INT(2)), CW_USER_ERROR);
    CHECK_ST(CW_CALL(f, &v, CW_ARG_INT(2)), CW_USER_ERROR);
    CHECK_EQ_INT(atomic_load(&n.calls), 2);
    cw_detector_free(&d);
    cw_value_free(&v);
    cw_func_free(f);
    cw_cache_free(c);
    return 0;
}

static int hit_early_soft(void)
{
    cw_fake_clock fc;
    cw_cache *c = redis_cache(&fc);
    CHECK(c);
    counter nh = { 0 }, ne = { 0 }, ns = { 0 };
    cw_func *h = CW_FUNC(c, count_loader, .strategy = CW_HIT, .loader_ud = &nh, .key = "h", .ttl = "1h",
                         .cache_hits = 2, .update_after = 1);
    cw_func *e = CW_FUNC(c, count_loader, .strategy = CW_EARLY, .loader_ud = &ne, .key = "e", .ttl = "1h",
                         .early_ttl = "1m");
    cw_func *s = CW_FUNC(c, count_loader, .strategy = CW_SOFT, .loader_ud = &ns, .key = "s", .ttl = "1h",
                         .soft_ttl = "1m");
    CHECK(h && e && s);
    cw_value v = { 0 };
    CHECK_OK(cw_func_call(h, NULL, 0, &v));
    CHECK_OK(cw_func_call(h, NULL, 0, &v)); /* hit 1 = update_after: background refresh */
    CHECK_VAL(v, "v1");
    CHECK(helper_wait_value(c, "hit:h", "v2"));
    CHECK_OK(cw_func_call(e, NULL, 0, &v));
    CHECK_OK(cw_func_call(s, NULL, 0, &v));
    cw_fake_clock_advance(&fc, 61000);
    CHECK_OK(cw_func_call(e, NULL, 0, &v));
    CHECK_VAL(v, "v1");
    CHECK(helper_wait_value(c, "early:e", "v2"));
    ns.fail = CW_USER_ERROR;
    CHECK_OK(cw_func_call(s, NULL, 0, &v)); /* stale, loader fails: the stored value */
    CHECK_VAL(v, "v1");
    ns.fail = 0;
    CHECK_OK(cw_func_call(s, NULL, 0, &v));
    CHECK_VAL(v, "v3");
    cw_value_free(&v);
    cw_func_free(h);
    cw_func_free(e);
    cw_func_free(s);
    cw_cache_free(c);
    return 0;
}

static int tags_and_bloom(void)
{
    cw_fake_clock fc;
    cw_cache *c = redis_cache(&fc);
    CHECK(c);
    counter n = { 0 };
    cw_func *items = CW_FUNC(c, count_loader, .loader_ud = &n, .args = "page", .key = "items:{page}", .ttl = "1h",
                             .tags = (const char *const[]){ "items" }, .ntags = 1);
    cw_func *bloom = CW_FUNC(c, count_loader, .strategy = CW_BLOOM, .loader_ud = &n, .args = "id", .capacity = 100,
                             .no_check = 1);
    CHECK(items && bloom);
    cw_value v = { 0 };
    for (int p = 0; p < 5; p++) CHECK_OK(CW_CALL(items, &v, CW_ARG_INT(p)));
    uint64_t deleted = 0;
    CHECK_OK(cw_delete_tags(c, (const char *const[]){ "items" }, 1, &deleted));
    CHECK_EQ_INT(deleted, 5);
    for (int i = 0; i < 100; i++) CHECK_OK(cw_bloom_set(bloom, (cw_arg[]){ CW_ARG_INT(i) }, 1));
    int maybe = 0, fp = 0;
    for (int i = 0; i < 100; i++) {
        CHECK_OK(cw_bloom_check(bloom, (cw_arg[]){ CW_ARG_INT(i) }, 1, &maybe));
        CHECK_EQ_INT(maybe, 1);
    }
    for (int i = 100; i < 1100; i++) {
        CHECK_OK(cw_bloom_check(bloom, (cw_arg[]){ CW_ARG_INT(i) }, 1, &maybe));
        fp += maybe;
    }
    CHECK(fp < 40);
    cw_value_free(&v);
    cw_func_free(items);
    cw_func_free(bloom);
    cw_cache_free(c);
    return 0;
}

static int limits_and_breaker(void)
{
    cw_fake_clock fc;
    cw_cache *c = redis_cache(&fc);
    CHECK(c);
    counter n = { 0 };
    cw_func *rl = CW_FUNC(c, count_loader, .strategy = CW_RATE_LIMIT, .loader_ud = &n, .key = "r", .limit = 2,
                          .period = "1m");
    cw_func *srl = CW_FUNC(c, count_loader, .strategy = CW_SLICE_RATE_LIMIT, .loader_ud = &n, .key = "s", .limit = 2,
                           .period = "1m");
    cw_func *cb = CW_FUNC(c, count_loader, .strategy = CW_CIRCUIT_BREAKER, .loader_ud = &n, .key = "c",
                          .errors_rate = 50, .min_calls = 2, .period = "1m", .ttl = "1m");
    CHECK(rl && srl && cb);
    cw_value v = { 0 };
    CHECK_OK(cw_func_call(rl, NULL, 0, &v));
    CHECK_OK(cw_func_call(rl, NULL, 0, &v));
    CHECK_ST(cw_func_call(rl, NULL, 0, &v), CW_ERATELIMIT);
    CHECK_OK(cw_func_call(srl, NULL, 0, &v));
    cw_fake_clock_advance(&fc, 1);
    CHECK_OK(cw_func_call(srl, NULL, 0, &v));
    cw_fake_clock_advance(&fc, 1);
    CHECK_ST(cw_func_call(srl, NULL, 0, &v), CW_ERATELIMIT);
    CHECK_OK(cw_func_call(cb, NULL, 0, &v));
    n.fail = CW_USER_ERROR;
    cw_fake_clock_advance(&fc, 1);
    CHECK_ST(cw_func_call(cb, NULL, 0, &v), CW_USER_ERROR);
    CHECK_ST(cw_func_call(cb, NULL, 0, &v), CW_ECIRCUITOPEN);
    cw_value_free(&v);
    cw_func_free(rl);
    cw_func_free(srl);
    cw_func_free(cb);
    cw_cache_free(c);
    return 0;
}

typedef struct crowd {
    cw_func *f;
    pthread_barrier_t go;
    atomic_int same;
} crowd;

static void *crowd_call(void *p)
{
    crowd *cr = p;
    cw_value v = { 0 };
    pthread_barrier_wait(&cr->go);
    if (CW_CALL(cr->f, &v, CW_ARG_INT(9)) == CW_OK && v.len == 4 && memcmp(v.data, "v1:9", 4) == 0)
        atomic_fetch_add(&cr->same, 1);
    cw_value_free(&v);
    return NULL;
}

static int sixteen_misses_one_load(void)
{
    cw_fake_clock fc;
    cw_cache *c = redis_cache(&fc);
    CHECK(c);
    counter n = { .sleep_ms = 50 };
    cw_func *f = CW_FUNC(c, count_loader, .loader_ud = &n, .args = "id", .key = "crowd:{id}", .ttl = "1h");
    CHECK(f);
    crowd cr = { .f = f };
    pthread_t th[16];
    pthread_barrier_init(&cr.go, NULL, 16);
    for (int i = 0; i < 16; i++) CHECK_EQ_INT(pthread_create(&th[i], NULL, crowd_call, &cr), 0);
    for (int i = 0; i < 16; i++) pthread_join(th[i], NULL);
    pthread_barrier_destroy(&cr.go);
    CHECK_EQ_INT(atomic_load(&n.calls), 1);
    CHECK_EQ_INT(atomic_load(&cr.same), 16);
    cw_func_free(f);
    cw_cache_free(c);
    return 0;
}

static const cw_test tests[] = {
    CW_TEST(simple_errors_and_detect),
    CW_TEST(hit_early_soft),
    CW_TEST(tags_and_bloom),
    CW_TEST(limits_and_breaker),
    CW_TEST(sixteen_misses_one_load),
    { 0 },
};

int main(int argc, char **argv)
{
    if (cw_redis_server_start(&rs, NULL) != 0) {
        fprintf(stderr, "test_func_redis: cannot start redis-server\n");
        printf("0 passed, 1 failed\n");
        return 1;
    }
    snprintf(url, sizeof url, "redis://127.0.0.1:%d?allow_flushdb=1", rs.port);
    int rc = cw_test_main(tests, argc, argv);
    cw_redis_server_stop(&rs);
    return rc;
}
