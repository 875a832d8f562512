/* test_cached.c - the cached-function object and the simple strategy: TTLs, default keys,
 * conditions, time conditions, cached errors, codecs, lock=true, stacking, invalidation. */
#include "func_helpers.h"

static int simple_loads_once_then_hits(void)
{
    cw_fake_clock fc;
    cw_cache *c = helper_cache(&fc);
    CHECK(c);
    counter n = { 0 };
    cw_func *f = CW_FUNC(c, count_loader, .loader_ud = &n, .args = "id", .key = "user:{id}", .ttl = "1h");
    CHECK(f);
    cw_value v = { 0 };
    CHECK_CALL_VAL(f, v, "v1:42", CW_ARG_INT(42));
    CHECK_CALL_VAL(f, v, "v1:42", CW_ARG_INT(42));
    CHECK_CALL_VAL(f, v, "v2:7", CW_ARG_INT(7));
    CHECK_EQ_INT(atomic_load(&n.calls), 2);
    /* The value sits under the template's key, with the TTL. */
    cw_value raw = { 0 };
    CHECK_OK(cw_get(c, "user:42", &raw));
    CHECK_VAL(raw, "v1:42");
    int64_t left = 0;
    CHECK_OK(cw_get_expire(c, "user:42", &left));
    CHECK_EQ_INT(left, 3600000);
    /* After the TTL the loader runs again. */
    cw_fake_clock_advance(&fc, 3600001);
    CHECK_CALL_VAL(f, v, "v3:42", CW_ARG_INT(42));
    cw_value_free(&v);
    cw_value_free(&raw);
    cw_func_free(f);
    cw_cache_free(c);
    return 0;
}

static cw_status ttl_by_id(void *ud, const cw_arg *args, size_t nargs, int64_t *ttl)
{
    (void)ud;
    (void)nargs;
    *ttl = args[0].v.i > 10 ? 7200000 : 3600000; /* the seed's "2h" if item_id > 10 else "1h" */
    return CW_OK;
}

static int ttl_forms(void)
{
    cw_fake_clock fc;
    cw_cache *c = helper_cache(&fc);
    counter n = { 0 };
    cw_func *a = CW_FUNC(c, count_loader, .loader_ud = &n, .args = "id", .key = "a:{id}", .ttl_ms = 1500);
    cw_func *b = CW_FUNC(c, count_loader, .loader_ud = &n, .args = "id", .key = "b:{id}", .ttl_fn = ttl_by_id);
    cw_func *d = CW_FUNC(c, count_loader, .loader_ud = &n, .args = "id", .key = "d:{id}", .ttl = "1d2h3m50s");
    CHECK(a && b && d);
    cw_value v = { 0 };
    int64_t left = 0;
    CHECK_OK(CW_CALL(a, &v, CW_ARG_INT(1)));
    CHECK_OK(cw_get_expire(c, "a:1", &left));
    CHECK_EQ_INT(left, 1500);
    CHECK_OK(CW_CALL(b, &v, CW_ARG_INT(5)));
    CHECK_OK(CW_CALL(b, &v, CW_ARG_INT(50)));
    CHECK_OK(cw_get_expire(c, "b:5", &left));
    CHECK_EQ_INT(left, 3600000);
    CHECK_OK(cw_get_expire(c, "b:50", &left));
    CHECK_EQ_INT(left, 7200000);
    CHECK_OK(CW_CALL(d, &v, CW_ARG_INT(1)));
    CHECK_OK(cw_get_expire(c, "d:1", &left));
    CHECK_EQ_INT(left, ((26 * 60 + 3) * 60 + 50) * 1000LL);
    cw_value_free(&v);
    cw_func_free(a);
    cw_func_free(b);
    cw_func_free(d);
    cw_cache_free(c);
    return 0;
}

/* The seed's callable ttl gets result=: long-lived for big results, short for small ones;
 * NULL before there is a result (the lock's TTL). */
typedef struct ttl_seen {
    int calls, without_result;
} ttl_seen;

static cw_status ttl_by_result(void *ud, const cw_arg *args, size_t nargs, int status, const cw_value *result,
                               int64_t *ttl)
{
    ttl_seen *s = ud;
    s->calls++;
    if (!result) {
        s->without_result++;
        *ttl = 1000;
        return CW_OK;
    }
    if (status != CW_OK) return CW_EINVAL;
    *ttl = result->len > 4 ? 7200000 : 60000;
    return CW_OK;
}

static int ttl_from_the_result(void)
{
    cw_fake_clock fc;
    cw_cache *c = helper_cache(&fc);
    counter n = { 0 };
    ttl_seen seen = { 0 };
    cw_func *f = CW_FUNC(c, count_loader, .loader_ud = &n, .args = "id", .key = "r:{id}",
                         .ttl_result_fn = ttl_by_result, .ttl_ud = &seen);
    static const int errs[] = { CW_USER_ERROR };
    cw_func *fo = CW_FUNC(c, count_loader, .loader_ud = &n, .strategy = CW_FAILOVER, .args = "id", .key = "r:{id}",
                          .ttl_result_fn = ttl_by_result, .ttl_ud = &seen, .errors = errs, .nerrors = 1);
    CHECK(f && fo);
    cw_value v = { 0 };
    int64_t left = 0;
    CHECK_CALL_VAL(f, v, "v1:7", CW_ARG_INT(7));     /* 4 bytes: short */
    CHECK_CALL_VAL(f, v, "v2:123", CW_ARG_INT(123)); /* 6 bytes: long */
    CHECK_OK(cw_get_expire(c, "r:7", &left));
    CHECK_EQ_INT(left, 60000);
    CHECK_OK(cw_get_expire(c, "r:123", &left));
    CHECK_EQ_INT(left, 7200000);
    CHECK_CALL_VAL(fo, v, "v3:123", CW_ARG_INT(123));
    CHECK_OK(cw_get_expire(c, "fail:r:123", &left));
    CHECK_EQ_INT(left, 7200000);
    CHECK(seen.calls > seen.without_result);
    /* One TTL callback or the other. */
    CHECK_ST(cw_func_new(&(cw_func *){ NULL }, c, &(cw_func_options){ .loader = count_loader, .key = "x",
             .ttl_fn = ttl_by_id, .ttl_result_fn = ttl_by_result }), CW_EINVAL);
    CHECK(strstr(cw_cache_errmsg(c), "one of .ttl_fn and .ttl_result_fn"));
    cw_value_free(&v);
    cw_func_free(f);
    cw_func_free(fo);
    cw_cache_free(c);
    return 0;
}

static int default_key_has_name_and_every_argument(void)
{
    cw_fake_clock fc;
    cw_cache *c = helper_cache(&fc);
    counter n = { 0 };
    cw_func *f = CW_FUNC(c, count_loader, .name = "app.get_name", .loader_ud = &n, .args = "user, version", .ttl = "3h");
    cw_func *g = CW_FUNC(c, count_loader, .loader_ud = &n, .args = "user, version", .ttl = "3h");
    CHECK(f && g);
    CHECK_STR(cw_func_template(f), "app.get_name:user:{user}:version:{version}");
    CHECK_STR(cw_func_template(g), "count_loader:user:{user}:version:{version}");
    cw_value k = { 0 };
    CHECK_OK(cw_func_key(f, (cw_arg[]){ CW_ARG_STR("me"), CW_ARG_STR("v2") }, 2, &k));
    CHECK_VAL(k, "app.get_name:user:me:version:v2");
    /* None formats as "": the seed's "user:me::version". */
    CHECK_OK(cw_func_key(f, (cw_arg[]){ CW_ARG_STR("me"), CW_ARG_NULL }, 2, &k));
    CHECK_VAL(k, "app.get_name:user:me:version:");
    /* Two argument lists never collide: each value sits after its name. */
    cw_value v = { 0 };
    CHECK_CALL_VAL(f, v, "v1:a:b", CW_ARG_STR("a"), CW_ARG_STR("b"));
    CHECK_CALL_VAL(f, v, "v2:a:", CW_ARG_STR("a"), CW_ARG_STR(""));
    CHECK_CALL_VAL(g, v, "v3:a:b", CW_ARG_STR("a"), CW_ARG_STR("b"));
    /* With a prefix (the seed's prefix="v2"). */
    cw_func *p = CW_FUNC(c, count_loader, .loader_ud = &n, .args = "id", .prefix = "v2", .ttl = "1h");
    CHECK(p);
    CHECK_STR(cw_func_template(p), "v2:count_loader:id:{id}");
    cw_value_free(&k);
    cw_value_free(&v);
    cw_func_free(f);
    cw_func_free(g);
    cw_func_free(p);
    cw_cache_free(c);
    return 0;
}

static int skip_test(void *ud, int status, const cw_value *r, const cw_arg *args, size_t nargs, const char *key)
{
    (void)ud; (void)args; (void)nargs;
    CHECK(key && strncmp(key, "cond:", 5) == 0);
    return status == CW_OK && !(r->len >= 4 && memcmp(r->data, "test", 4) == 0);
}

static int conditions(void)
{
    cw_fake_clock fc;
    cw_cache *c = helper_cache(&fc);
    counter empty = { .value = "" }, n = { 0 };
    cw_func *ne = CW_FUNC(c, count_loader, .loader_ud = &empty, .key = "ne", .ttl = "1h",
                          .condition = CW_COND_NOT_EMPTY);
    cw_func *al = CW_FUNC(c, count_loader, .loader_ud = &empty, .key = "al", .ttl = "1h");
    cw_func *fn = CW_FUNC(c, count_loader, .loader_ud = &n, .args = "s", .key = "cond:{s}", .ttl = "1h",
                          .condition_fn = skip_test);
    CHECK(ne && al && fn);
    cw_value v = { 0 };
    CHECK_OK(cw_func_call(ne, NULL, 0, &v));
    CHECK_OK(cw_func_call(ne, NULL, 0, &v));
    CHECK_EQ_INT(atomic_load(&empty.calls), 2); /* empty results are not stored */
    CHECK_EQ_INT(v.len, 0);
    CHECK_OK(cw_func_call(al, NULL, 0, &v));
    CHECK_OK(cw_func_call(al, NULL, 0, &v));
    CHECK_EQ_INT(atomic_load(&empty.calls), 3); /* the default stores them (the seed's None) */
    n.value = "test";
    CHECK_OK(CW_CALL(fn, &v, CW_ARG_STR("x")));
    CHECK_OK(CW_CALL(fn, &v, CW_ARG_STR("x")));
    CHECK_EQ_INT(atomic_load(&n.calls), 2);
    n.value = "good";
    CHECK_OK(CW_CALL(fn, &v, CW_ARG_STR("x")));
    CHECK_OK(CW_CALL(fn, &v, CW_ARG_STR("x")));
    CHECK_EQ_INT(atomic_load(&n.calls), 3);
    cw_value_free(&v);
    cw_func_free(ne);
    cw_func_free(al);
    cw_func_free(fn);
    cw_cache_free(c);
    return 0;
}

enum { E_MINE = CW_USER_ERROR + 1, E_OTHER = CW_USER_ERROR + 2 };

static int cached_errors(void)
{
    cw_fake_clock fc;
    cw_cache *c = helper_cache(&fc);
    counter n = { .fail = E_MINE };
    static const int codes[] = { E_MINE };
    cw_func *w = CW_FUNC(c, count_loader, .loader_ud = &n, .key = "w", .ttl = "1h", .cache_errors = codes,
                         .ncache_errors = 1);
    cw_func *o = CW_FUNC(c, count_loader, .loader_ud = &n, .key = "o", .ttl = "1h", .cache_errors = codes,
                         .ncache_errors = 1, .only_errors = 1);
    CHECK(w && o);
    cw_value v = { 0 };
    CHECK_ST(cw_func_call(w, NULL, 0, &v), E_MINE);
    CHECK_ST(cw_func_call(w, NULL, 0, &v), E_MINE); /* replayed from the cache */
    CHECK_EQ_INT(atomic_load(&n.calls), 1);
    n.fail = E_OTHER; /* not listed: never stored */
    CHECK_ST(cw_func_call(o, NULL, 0, &v), E_OTHER);
    CHECK_ST(cw_func_call(o, NULL, 0, &v), E_OTHER);
    CHECK_EQ_INT(atomic_load(&n.calls), 3);
    n.fail = 0; /* only_errors: values are not stored */
    CHECK_OK(cw_func_call(o, NULL, 0, &v));
    CHECK_OK(cw_func_call(o, NULL, 0, &v));
    CHECK_EQ_INT(atomic_load(&n.calls), 5);
    n.fail = E_MINE;
    CHECK_ST(cw_func_call(o, NULL, 0, &v), E_MINE);
    CHECK_ST(cw_func_call(o, NULL, 0, &v), E_MINE);
    CHECK_EQ_INT(atomic_load(&n.calls), 6);
    cw_value_free(&v);
    cw_func_free(w);
    cw_func_free(o);
    cw_cache_free(c);
    return 0;
}

static int time_condition(void)
{
    cw_fake_clock fc;
    cw_cache *c = helper_cache(&fc);
    counter n = { .clock = &fc, .advance_ms = 1000 };
    cw_func *f = CW_FUNC(c, count_loader, .loader_ud = &n, .key = "slow", .ttl = "1h", .time_condition = "3s");
    CHECK(f);
    cw_value v = { 0 };
    CHECK_OK(cw_func_call(f, NULL, 0, &v)); /* fast: 1 s, not stored */
    CHECK_OK(cw_func_call(f, NULL, 0, &v));
    CHECK_VAL(v, "v2");
    CHECK_EQ_INT(cw_exists(c, "slow"), CW_NOTFOUND);
    n.advance_ms = 3000; /* slow enough */
    CHECK_OK(cw_func_call(f, NULL, 0, &v));
    CHECK_OK(cw_func_call(f, NULL, 0, &v));
    CHECK_VAL(v, "v3");
    CHECK_EQ_INT(atomic_load(&n.calls), 3);
    cw_value_free(&v);
    cw_func_free(f);
    cw_cache_free(c);
    return 0;
}

/* A codec that reverses the bytes: stored data differs from what calls return. */
static cw_status rev(void *ud, const void *in, size_t len, cw_value *out)
{
    (*(int *)ud)++;
    cw_status st = cw_value_set(out, in, len);
    for (size_t i = 0; !st && i < len / 2; i++) {
        unsigned char t = out->data[i];
        out->data[i] = out->data[len - 1 - i];
        out->data[len - 1 - i] = t;
    }
    return st;
}

static int codecs(void)
{
    cw_fake_clock fc;
    cw_cache *c = helper_cache(&fc);
    int uses = 0;
    counter n = { .value = "abc" };
    cw_func *bad = CW_FUNC(c, count_loader, .loader_ud = &n, .key = "k", .ttl = "1h", .codec = 200);
    CHECK(bad == NULL); /* unknown codec: refused at creation */
    CHECK(strstr(cw_cache_errmsg(c), "codec 200"));
    cw_codec codec = { "reverse", rev, rev, &uses };
    CHECK_ST(cw_register_codec(c, 5, &codec), CW_EINVAL);
    CHECK_OK(cw_register_codec(c, 200, &codec));
    cw_func *f = CW_FUNC(c, count_loader, .loader_ud = &n, .key = "k", .ttl = "1h", .codec = 200);
    CHECK(f);
    cw_value v = { 0 }, raw = { 0 };
    CHECK_OK(cw_func_call(f, NULL, 0, &v));
    CHECK_VAL(v, "abc");
    CHECK_OK(cw_get(c, "k", &raw));
    CHECK_VAL(raw, "cba");
    CHECK_OK(cw_func_call(f, NULL, 0, &v));
    CHECK_VAL(v, "abc");
    CHECK_EQ_INT(atomic_load(&n.calls), 1);
    CHECK_EQ_INT(uses, 2);
    cw_value_free(&v);
    cw_value_free(&raw);
    cw_func_free(f);
    cw_cache_free(c);
    return 0;
}

static int lock_true_runs_one_loader_and_unlocks(void)
{
    cw_fake_clock fc;
    cw_cache *c = helper_cache(&fc);
    counter n = { 0 };
    cw_func *f = CW_FUNC(c, count_loader, .loader_ud = &n, .args = "id", .key = "lk:{id}", .ttl = "1m", .lock = 1);
    CHECK(f);
    cw_value v = { 0 };
    CHECK_CALL_VAL(f, v, "v1:1", CW_ARG_INT(1));
    int locked = 1;
    CHECK_OK(cw_is_locked(c, "lk:1:lock", 0, 0, &locked));
    CHECK_EQ_INT(locked, 0);
    CHECK_CALL_VAL(f, v, "v1:1", CW_ARG_INT(1));
    /* Another process holds the lock and never stores: after waiting the lock's TTL (real
     * time, so a short one) the caller loads anyway. */
    cw_func *g = CW_FUNC(c, count_loader, .loader_ud = &n, .args = "id", .key = "lk:{id}", .ttl = "1m",
                         .lock = 1, .lock_ttl = "30ms");
    CHECK(g);
    CHECK_OK(cw_set_lock(c, "lk:2:lock", "x", 1, 60000));
    CHECK_CALL_VAL(g, v, "v2:2", CW_ARG_INT(2));
    CHECK_EQ_INT(atomic_load(&n.calls), 2);
    cw_value_free(&v);
    cw_func_free(f);
    cw_func_free(g);
    cw_cache_free(c);
    return 0;
}

/* Stacking: .wraps makes a function the loader of another. The seed stores only what a
 * loader produced: a value the wrapped function served from its own cache is passed on,
 * never stored again by the outer layer. */
static int stacking_and_loader_adapter(void)
{
    cw_fake_clock fc;
    cw_cache *c = helper_cache(&fc);
    counter n = { 0 };
    cw_func *inner = CW_FUNC(c, count_loader, .loader_ud = &n, .args = "id", .key = "in:{id}", .ttl = "1m");
    CHECK(inner);
    cw_func *outer = cw_func_make(c, &(cw_func_options){ .wraps = inner, .key = "out:{id}", .ttl = "1h" });
    CHECK(outer);
    cw_func *adapter = CW_FUNC(c, cw_func_loader, .loader_ud = inner, .args = "id", .key = "ad:{id}", .ttl = "1h");
    CHECK(adapter);
    cw_value v = { 0 };
    CHECK_CALL_VAL(outer, v, "v1:3", CW_ARG_INT(3));   /* the inner layer loads: both store */
    CHECK_OK(cw_exists(c, "in:3"));
    CHECK_OK(cw_exists(c, "out:3"));
    /* Only .wraps counts (README, Choices): a loader that calls a cached function is a
     * loader, and what it returns is stored even when that function hit (the seed's
     * failover and upper caches skip storing after any cached hit during the call). */
    CHECK_CALL_VAL(adapter, v, "v1:3", CW_ARG_INT(3)); /* inner hit */
    CHECK_OK(cw_exists(c, "ad:3"));
    cw_fake_clock_advance(&fc, 60001);                  /* inner expired, outers not */
    CHECK_CALL_VAL(outer, v, "v1:3", CW_ARG_INT(3));
    CHECK_EQ_INT(atomic_load(&n.calls), 1);
    CHECK_STR(cw_func_template(outer), "out:{id}");
    /* The inner cache answers: the outer layer passes the value on without storing it. */
    CHECK_CALL_VAL(inner, v, "v2:4", CW_ARG_INT(4));
    cw_detector d = { 0 };
    CHECK_OK(cw_detect_begin(c, &d));
    CHECK_CALL_VAL(outer, v, "v2:4", CW_ARG_INT(4));
    CHECK_OK(cw_detect_end(c));
    CHECK_EQ_INT(cw_exists(c, "out:4"), CW_NOTFOUND);
    CHECK_EQ_INT(d.ncalls, 2);
    CHECK_STR(d.calls[1].key, "out:4");
    CHECK_EQ_INT(d.calls[1].from_cache, 1); /* the outer call too was answered from a cache */
    cw_detector_free(&d);
    cw_value_free(&v);
    cw_func_free(adapter);
    cw_func_free(outer);
    cw_func_free(inner);
    cw_cache_free(c);
    return 0;
}

static int creation_errors_name_the_problem(void)
{
    cw_fake_clock fc;
    cw_cache *c = helper_cache(&fc);
    counter n = { 0 };
    struct { cw_func_options o; const char *msg; } cases[] = {
        { { .loader = count_loader, .key = "k" }, "needs a TTL" },
        { { .key = "k", .ttl = "1h" }, "exactly one of .loader" },
        { { .loader = count_loader, .args = "id", .key = "u:{uid}", .ttl = "1h" }, "unknown argument \"uid\"" },
        { { .loader = count_loader, .args = "id", .key = "u:{id:nope}", .ttl = "1h" }, "unknown formatter \"nope\"" },
        { { .loader = count_loader, .args = "id", .key = "u:{id:hash(crc)}", .ttl = "1h" }, "hash algorithm" },
        { { .loader = count_loader, .args = "id", .key = "u:{id:jwt}", .ttl = "1h" }, "jwt takes 1 to 1" },
        { { .loader = count_loader, .args = "id", .key = "u:{id", .ttl = "1h" }, "unclosed" },
        { { .loader = count_loader, .args = "id", .key = "u:}", .ttl = "1h" }, "'}' without '{'" },
        { { .loader = count_loader, .args = "id", .ttl = "forever" }, "not a duration" },
        { { .loader = count_loader, .args = "id id", .ttl = "1h" }, "bad argument list" },
        { { .loader = count_loader, .args = "id,id", .ttl = "1h" }, "named twice" },
        { { .loader = count_loader, .args = "1d", .ttl = "1h" }, "not an identifier" },
        { { .loader = count_loader, .strategy = CW_HIT, .ttl = "1h" }, "cache_hits" },
        { { .loader = count_loader, .strategy = CW_RATE_LIMIT, .limit = 1 }, "period" },
        { { .loader = count_loader, .strategy = CW_CIRCUIT_BREAKER, .errors_rate = 100, .period = "1m", .ttl = "1m" }, "errors_rate" },
        { { .loader = count_loader, .strategy = CW_BLOOM, .capacity = 0 }, "capacity" },
        { { .loader = count_loader, .tags = (const char *const[]){ "t:{nope}" }, .ntags = 1, .ttl = "1h" }, "unknown argument" },
        { { .loader = count_loader, .strategy = (cw_strategy)99, .ttl = "1h" }, "unknown strategy" },
        /* the seed: "ttl can't be None with lock" */
        { { .loader = count_loader, .key = "k", .ttl_ms = CW_NO_EXPIRY, .lock = 1 }, ".lock needs an expiry" },
        /* k = round(-ln(0.8) / ln 2) = 0 hash functions: the seed asserts k > 0 */
        { { .loader = count_loader, .strategy = CW_BLOOM, .capacity = 100, .false_positives = 80 }, "too high" },
    };
    for (size_t i = 0; i < sizeof cases / sizeof cases[0]; i++) {
        cases[i].o.loader_ud = &n;
        cw_func *f = NULL;
        CHECK_ST(cw_func_new(&f, c, &cases[i].o), CW_EINVAL);
        CHECK(f == NULL);
        if (!strstr(cw_cache_errmsg(c), cases[i].msg)) {
            fprintf(stderr, "case %zu: \"%s\" lacks \"%s\"\n", i, cw_cache_errmsg(c), cases[i].msg);
            return 1;
        }
    }
    /* No expiry with a lock of its own is fine; so is the highest rate that still hashes. */
    cw_func *nx = CW_FUNC(c, count_loader, .loader_ud = &n, .key = "nx", .ttl_ms = CW_NO_EXPIRY, .lock = 1,
                          .lock_ttl = "5s");
    CHECK(nx);
    cw_func_free(nx);
    cw_func *bl = CW_FUNC(c, count_loader, .loader_ud = &n, .strategy = CW_BLOOM, .capacity = 100,
                          .false_positives = 70);
    CHECK(bl);
    cw_func_free(bl);
    cw_func *f = CW_FUNC(c, count_loader, .loader_ud = &n, .args = "a, b", .key = "{a}", .ttl = "1h");
    CHECK(f);
    cw_value v = { 0 };
    CHECK_ST(CW_CALL(f, &v, CW_ARG_INT(1)), CW_EINVAL); /* wrong argument count */
    CHECK(strstr(cw_cache_errmsg(c), "takes 2 arguments, got 1"));
    CHECK_EQ_INT(atomic_load(&n.calls), 0);
    cw_func_free(f);
    cw_cache_free(c);
    return 0;
}

static int invalidate_further_and_invalidate(void)
{
    cw_fake_clock fc;
    cw_cache *c = helper_cache(&fc);
    counter n = { 0 };
    cw_func *items = CW_FUNC(c, count_loader, .loader_ud = &n, .args = "page", .key = "items:page:{page}", .ttl = "1h");
    CHECK(items);
    cw_value v = { 0 };
    CHECK_CALL_VAL(items, v, "v1:1", CW_ARG_INT(1));
    CHECK_CALL_VAL(items, v, "v2:2", CW_ARG_INT(2));
    /* invalidate_further: the next calls on this thread skip the cache and refresh it. */
    CHECK_OK(cw_invalidate_further_begin(c));
    CHECK_CALL_VAL(items, v, "v3:1", CW_ARG_INT(1));
    CHECK_OK(cw_invalidate_further_end(c));
    CHECK_ST(cw_invalidate_further_end(c), CW_ESTATE);
    CHECK_CALL_VAL(items, v, "v3:1", CW_ARG_INT(1));
    /* A wrapped function that invalidates "items:page:*" after it ran. */
    counter m = { .value = "created" };
    cw_func *create = CW_FUNC(c, count_loader, .loader_ud = &m, .strategy = CW_NO_CACHE, .args = "item",
                              .invalidate = (const char *const[]){ "items:page:*" }, .ninvalidate = 1);
    CHECK(create);
    CHECK_CALL_VAL(create, v, "created:x", CW_ARG_STR("x"));
    CHECK_EQ_INT(cw_exists(c, "items:page:1"), CW_NOTFOUND);
    CHECK_EQ_INT(cw_exists(c, "items:page:2"), CW_NOTFOUND);
    CHECK_CALL_VAL(items, v, "v4:1", CW_ARG_INT(1));
    /* Filled from the arguments, with glob characters in values escaped. */
    cw_func *one = CW_FUNC(c, count_loader, .loader_ud = &m, .strategy = CW_NO_CACHE, .args = "page",
                           .invalidate = (const char *const[]){ "items:page:{page}" }, .ninvalidate = 1);
    CHECK(one);
    CHECK_CALL_VAL(items, v, "v5:2", CW_ARG_INT(2));
    CHECK_OK(CW_CALL(one, &v, CW_ARG_INT(1)));
    CHECK_EQ_INT(cw_exists(c, "items:page:1"), CW_NOTFOUND);
    CHECK_OK(cw_exists(c, "items:page:2"));
    /* cw_func_invalidate: the key for those arguments. */
    CHECK_OK(cw_func_invalidate(items, (cw_arg[]){ CW_ARG_INT(2) }, 1));
    CHECK_EQ_INT(cw_exists(c, "items:page:2"), CW_NOTFOUND);
    CHECK_OK(cw_func_invalidate(items, (cw_arg[]){ CW_ARG_INT(2) }, 1));
    cw_value_free(&v);
    cw_func_free(items);
    cw_func_free(create);
    cw_func_free(one);
    cw_cache_free(c);
    return 0;
}

/* The seed's @cache.invalidate(template, args_map, defaults): template fields filled from a
 * renamed argument or a fixed default (a default wins over an argument of its name). */
static int invalidate_with_argument_map_and_defaults(void)
{
    cw_fake_clock fc;
    cw_cache *c = helper_cache(&fc);
    counter m = { .value = "done" };
    const char *keys[] = { "items:3:v2", "items:3:v1", "x:all", "x:3", "a:3:all", "a:3:3", "i:3", "i:book" };
    for (size_t i = 0; i < 8; i++) CHECK_OK(cw_set(c, keys[i], "1", 1, 60000));
    cw_func *f = CW_FUNC(c, count_loader, .loader_ud = &m, .strategy = CW_NO_CACHE, .args = "item, page",
                         .invalidate = (const char *const[]){ "items:{p}:{version}", "x:{page}", "a:{p}:{page}",
                                                              "i:{item}" },
                         .ninvalidate = 4,
                         .invalidate_args = (const char *const[]){ "p = page", "item=page" }, .ninvalidate_args = 2,
                         .invalidate_defaults = (const char *const[]){ "version=v2", "page=all" },
                         .ninvalidate_defaults = 2);
    CHECK(f);
    cw_value v = { 0 };
    CHECK_OK(CW_CALL(f, &v, CW_ARG_STR("book"), CW_ARG_INT(3)));
    CHECK_EQ_INT(cw_exists(c, "items:3:v2"), CW_NOTFOUND);
    CHECK_OK(cw_exists(c, "items:3:v1"));
    CHECK_EQ_INT(cw_exists(c, "x:all"), CW_NOTFOUND); /* the default, not the argument */
    CHECK_OK(cw_exists(c, "x:3"));
    CHECK_EQ_INT(cw_exists(c, "a:3:all"), CW_NOTFOUND);
    CHECK_OK(cw_exists(c, "a:3:3"));
    CHECK_EQ_INT(cw_exists(c, "i:3"), CW_NOTFOUND); /* a mapping wins over the argument "item" */
    CHECK_OK(cw_exists(c, "i:book"));
    struct { cw_func_options o; const char *msg; } bad[] = {
        { { .invalidate = (const char *const[]){ "i:{p}" }, .ninvalidate = 1,
            .invalidate_args = (const char *const[]){ "p" }, .ninvalidate_args = 1 }, "is not \"field=...\"" },
        { { .invalidate = (const char *const[]){ "i:{p}" }, .ninvalidate = 1,
            .invalidate_args = (const char *const[]){ "p=nope" }, .ninvalidate_args = 1 }, "no argument \"nope\"" },
        { { .invalidate = (const char *const[]){ "i:{p}" }, .ninvalidate = 1,
            .invalidate_defaults = (const char *const[]){ "1p=x" }, .ninvalidate_defaults = 1 }, "not an identifier" },
        { { .invalidate = (const char *const[]){ "i:{q}" }, .ninvalidate = 1,
            .invalidate_defaults = (const char *const[]){ "p=x" }, .ninvalidate_defaults = 1 }, "unknown argument \"q\"" },
        { { .invalidate_defaults = (const char *const[]){ "p=x" }, .ninvalidate_defaults = 1 }, "need .invalidate" },
    };
    for (size_t i = 0; i < sizeof bad / sizeof bad[0]; i++) {
        bad[i].o.strategy = CW_NO_CACHE;
        bad[i].o.loader = count_loader;
        bad[i].o.loader_ud = &m;
        bad[i].o.args = "page";
        cw_func *g = NULL;
        CHECK_ST(cw_func_new(&g, c, &bad[i].o), CW_EINVAL);
        if (!strstr(cw_cache_errmsg(c), bad[i].msg)) {
            fprintf(stderr, "case %zu: \"%s\" lacks \"%s\"\n", i, cw_cache_errmsg(c), bad[i].msg);
            return 1;
        }
    }
    cw_value_free(&v);
    cw_func_free(f);
    cw_cache_free(c);
    return 0;
}

static int disabled_cache_still_answers(void)
{
    cw_fake_clock fc;
    cw_cache *c = helper_cache(&fc);
    counter n = { 0 };
    cw_func *f = CW_FUNC(c, count_loader, .loader_ud = &n, .key = "d", .ttl = "1h");
    CHECK(f);
    cw_value v = { 0 };
    cw_cache_disable(c, CW_CMD_ALL);
    CHECK_OK(cw_func_call(f, NULL, 0, &v));
    CHECK_OK(cw_func_call(f, NULL, 0, &v));
    CHECK_VAL(v, "v2");
    cw_cache_enable(c, CW_CMD_ALL);
    CHECK_OK(cw_disabling_begin(c, CW_CMD_BIT(CW_CMD_GET)));
    CHECK_OK(cw_func_call(f, NULL, 0, &v)); /* get disabled: loads, but set still stores */
    CHECK_OK(cw_disabling_end(c));
    CHECK_OK(cw_func_call(f, NULL, 0, &v));
    CHECK_VAL(v, "v3");
    cw_value_free(&v);
    cw_func_free(f);
    cw_cache_free(c);
    return 0;
}

static int one_chunk(void *ud, const cw_arg *args, size_t nargs, cw_emitter *em)
{
    atomic_fetch_add(&((counter *)ud)->calls, 1);
    return cw_emit(em, "c", 1);
}

static int ignore_chunk(void *ud, const void *chunk, size_t len) { return 0; }

/* A key no backend serves is a misconfiguration, not an outage: every strategy fails with
 * CW_ESTATE and the loader does not run (before, it ran and returned OK, never caching). */
static int no_backend_for_the_key_fails(void)
{
    cw_fake_clock fc;
    cw_fake_clock_init(&fc);
    cw_cache_options co = { .clock = cw_fake_clock_now, .clock_ud = &fc };
    cw_cache *c = NULL;
    CHECK_OK(cw_cache_new(&c, &co));
    CHECK_OK(cw_cache_setup(c, "mem://", &(cw_setup_options){ .prefix = "app:" }, NULL));
    counter n = { 0 };
    static const cw_strategy strategies[] = { CW_SIMPLE, CW_FAILOVER, CW_HIT, CW_EARLY, CW_SOFT,
                                              CW_LOCKED, CW_RATE_LIMIT, CW_SLICE_RATE_LIMIT,
                                              CW_CIRCUIT_BREAKER, CW_BLOOM };
    cw_value v = { 0 };
    for (size_t i = 0; i < sizeof strategies / sizeof strategies[0]; i++) {
        cw_func_options o = { .strategy = strategies[i], .loader = count_loader, .loader_ud = &n,
                              .args = "id", .key = "other:{id}", .prefix = "", .ttl = "1h",
                              .cache_hits = 3, .limit = 5, .period = "1m", .errors_rate = 50,
                              .capacity = 100 };
        cw_func *f = cw_func_make(c, &o);
        CHECK(f);
        int st = CW_CALL(f, &v, CW_ARG_INT(1));
        if (st != CW_ESTATE || !strstr(cw_cache_errmsg(c), "no backend")) {
            fprintf(stderr, "strategy %d: %d \"%s\"\n", (int)strategies[i], st, cw_cache_errmsg(c));
            return 1;
        }
        cw_func_free(f);
    }
    cw_func *it = cw_func_make(c, &(cw_func_options){ .strategy = CW_ITERATOR, .iter_loader = one_chunk,
                                                      .loader_ud = &n, .key = "other:it", .ttl = "1h" });
    CHECK(it);
    CHECK_ST(cw_func_iterate(it, NULL, 0, ignore_chunk, NULL), CW_ESTATE);
    cw_func_free(it);
    CHECK_EQ_INT(atomic_load(&n.calls), 0);
    /* The same function keyed under the prefix works. */
    cw_func *ok = CW_FUNC(c, count_loader, .loader_ud = &n, .args = "id", .key = "app:{id}", .ttl = "1h");
    CHECK(ok);
    CHECK_CALL_VAL(ok, v, "v1:1", CW_ARG_INT(1));
    CHECK_CALL_VAL(ok, v, "v1:1", CW_ARG_INT(1));
    cw_value_free(&v);
    cw_func_free(ok);
    cw_cache_free(c);
    return 0;
}

static int value_buffer_is_reused(void)
{
    cw_fake_clock fc;
    cw_cache *c = helper_cache(&fc);
    counter n = { .value = "a value of some length" };
    cw_func *f = CW_FUNC(c, count_loader, .loader_ud = &n, .args = "id", .key = "user:{id}", .ttl = "1h");
    CHECK(f);
    cw_value v = { 0 };
    CHECK_OK(CW_CALL(f, &v, CW_ARG_INT(1)));
    unsigned char *buf = v.data;
    for (int i = 0; i < 10; i++) CHECK_OK(CW_CALL(f, &v, CW_ARG_INT(1)));
    CHECK(v.data == buf);
    CHECK_VAL(v, "a value of some length:1");
    cw_value_free(&v);
    cw_func_free(f);
    cw_cache_free(c);
    return 0;
}

static const cw_test tests[] = {
    CW_TEST(simple_loads_once_then_hits),
    CW_TEST(ttl_forms),
    CW_TEST(ttl_from_the_result),
    CW_TEST(default_key_has_name_and_every_argument),
    CW_TEST(conditions),
    CW_TEST(cached_errors),
    CW_TEST(time_condition),
    CW_TEST(codecs),
    CW_TEST(lock_true_runs_one_loader_and_unlocks),
    CW_TEST(stacking_and_loader_adapter),
    CW_TEST(creation_errors_name_the_problem),
    CW_TEST(invalidate_further_and_invalidate),
    CW_TEST(invalidate_with_argument_map_and_defaults),
    CW_TEST(disabled_cache_still_answers),
    CW_TEST(value_buffer_is_reused),
    CW_TEST(no_backend_for_the_key_fails),
    { 0 },
};

int main(int argc, char **argv) { return cw_test_main(tests, argc, argv); }
