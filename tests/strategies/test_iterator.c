/* test_iterator.c - iterator: chunks reach the consumer as they come, are cached, and are
 * replayed; stopped or failed streams are not cached; cached errors end a replay; locked
 * iterators hold their lock while the chunks flow, alone or under a caching iterator. */
#include "func_helpers.h"

typedef struct pages {
    atomic_int calls;
    int n;      /* chunks to emit */
    int fail;   /* after them, return this */
    cw_fake_clock *clock;
} pages;

static int page_loader(void *ud, const cw_arg *args, size_t nargs, cw_emitter *em)
{
    (void)nargs;
    pages *p = ud;
    int call = atomic_fetch_add(&p->calls, 1) + 1;
    for (int i = 0; i < p->n; i++) {
        char buf[64];
        int len = snprintf(buf, sizeof buf, "%s-p%d-c%d", args[0].v.s, i, call);
        if (p->clock) cw_fake_clock_advance(p->clock, 1000);
        int st = cw_emit(em, buf, (size_t)len);
        if (st) return st;
    }
    return p->fail;
}

typedef struct sink {
    char got[512];
    int chunks;
    int stop_after; /* 0: never */
} sink;

static int collect(void *ud, const void *chunk, size_t len)
{
    sink *s = ud;
    size_t n = strlen(s->got);
    snprintf(s->got + n, sizeof s->got - n, "%s%.*s", n ? "," : "", (int)len, (const char *)chunk);
    s->chunks++;
    return s->stop_after && s->chunks >= s->stop_after;
}

static int caches_and_replays_chunks(void)
{
    cw_fake_clock fc;
    cw_cache *c = helper_cache(&fc);
    pages p = { .n = 3, .clock = &fc };
    cw_func *f = cw_func_make(c, &(cw_func_options){ .strategy = CW_ITERATOR, .iter_loader = page_loader,
                                                     .loader_ud = &p, .args = "name", .key = "get:{name}",
                                                     .ttl = "10m" });
    CHECK(f);
    sink s = { 0 };
    CHECK_OK(cw_func_iterate(f, (cw_arg[]){ CW_ARG_STR("a") }, 1, collect, &s));
    CHECK_STR(s.got, "a-p0-c1,a-p1-c1,a-p2-c1");
    sink r = { 0 };
    CHECK_OK(cw_func_iterate(f, (cw_arg[]){ CW_ARG_STR("a") }, 1, collect, &r));
    CHECK_STR(r.got, "a-p0-c1,a-p1-c1,a-p2-c1");
    CHECK_EQ_INT(atomic_load(&p.calls), 1);
    /* The marker expires no later than the chunks: TTL minus the 3 s the stream took. */
    int64_t left = 0;
    CHECK_OK(cw_get_expire(c, "get:a", &left));
    CHECK_EQ_INT(left, 600000 - 3000);
    CHECK_OK(cw_get_expire(c, "get:a:0", &left));
    CHECK_EQ_INT(left, 600000 - 2000); /* stored 1 s into the stream, 2 s ago */
    /* A consumer that stops replay early gets CW_ESTATE. */
    sink st = { .stop_after = 2 };
    CHECK_ST(cw_func_iterate(f, (cw_arg[]){ CW_ARG_STR("a") }, 1, collect, &st), CW_ESTATE);
    CHECK_STR(st.got, "a-p0-c1,a-p1-c1");
    /* cw_func_call is refused on iterators. */
    cw_value v = { 0 };
    CHECK_ST(CW_CALL(f, &v, CW_ARG_STR("a")), CW_EINVAL);
    /* Evicted chunks make the next call load again. */
    CHECK_OK(cw_delete(c, "get:a:0"));
    sink e = { 0 };
    CHECK_OK(cw_func_iterate(f, (cw_arg[]){ CW_ARG_STR("a") }, 1, collect, &e));
    CHECK_STR(e.got, "a-p0-c2,a-p1-c2,a-p2-c2");
    cw_func_free(f);
    cw_cache_free(c);
    return 0;
}

static int stopped_or_failed_streams_are_not_cached(void)
{
    cw_fake_clock fc;
    cw_cache *c = helper_cache(&fc);
    pages p = { .n = 3 };
    cw_func *f = cw_func_make(c, &(cw_func_options){ .strategy = CW_ITERATOR, .iter_loader = page_loader,
                                                     .loader_ud = &p, .args = "name", .ttl = "10m" });
    CHECK(f);
    sink s = { .stop_after = 1 };
    CHECK_ST(cw_func_iterate(f, (cw_arg[]){ CW_ARG_STR("b") }, 1, collect, &s), CW_ESTATE);
    CHECK_STR(s.got, "b-p0-c1");
    sink t = { 0 };
    CHECK_OK(cw_func_iterate(f, (cw_arg[]){ CW_ARG_STR("b") }, 1, collect, &t));
    CHECK_STR(t.got, "b-p0-c2,b-p1-c2,b-p2-c2");
    p.fail = CW_USER_ERROR + 5;
    sink u = { 0 };
    CHECK_ST(cw_func_iterate(f, (cw_arg[]){ CW_ARG_STR("x") }, 1, collect, &u), CW_USER_ERROR + 5);
    sink w = { 0 };
    CHECK_ST(cw_func_iterate(f, (cw_arg[]){ CW_ARG_STR("x") }, 1, collect, &w), CW_USER_ERROR + 5);
    CHECK_EQ_INT(atomic_load(&p.calls), 4);
    cw_func_free(f);
    cw_cache_free(c);
    return 0;
}

static int cached_error_ends_the_replay(void)
{
    cw_fake_clock fc;
    cw_cache *c = helper_cache(&fc);
    pages p = { .n = 2, .fail = CW_USER_ERROR + 7 };
    static const int codes[] = { CW_USER_ERROR + 7 };
    cw_func *f = cw_func_make(c, &(cw_func_options){ .strategy = CW_ITERATOR, .iter_loader = page_loader,
                                                     .loader_ud = &p, .args = "name", .ttl = "10m",
                                                     .cache_errors = codes, .ncache_errors = 1 });
    CHECK(f);
    sink s = { 0 };
    CHECK_ST(cw_func_iterate(f, (cw_arg[]){ CW_ARG_STR("z") }, 1, collect, &s), CW_USER_ERROR + 7);
    sink r = { 0 };
    CHECK_ST(cw_func_iterate(f, (cw_arg[]){ CW_ARG_STR("z") }, 1, collect, &r), CW_USER_ERROR + 7);
    CHECK_STR(r.got, "z-p0-c1,z-p1-c1");
    CHECK_EQ_INT(atomic_load(&p.calls), 1);
    cw_func_free(f);
    cw_cache_free(c);
    return 0;
}

static int only_p0(void *ud, int status, const cw_value *r, const cw_arg *args, size_t nargs, const char *key)
{
    (void)ud; (void)status; (void)args; (void)nargs; (void)key;
    return strstr((const char *)r->data, "-p0-") != NULL;
}

static int condition_per_chunk(void)
{
    cw_fake_clock fc;
    cw_cache *c = helper_cache(&fc);
    pages p = { .n = 3 };
    cw_func *f = cw_func_make(c, &(cw_func_options){ .strategy = CW_ITERATOR, .iter_loader = page_loader,
                                                     .loader_ud = &p, .args = "name", .ttl = "10m",
                                                     .condition_fn = only_p0 });
    CHECK(f);
    sink s = { 0 }, r = { 0 };
    CHECK_OK(cw_func_iterate(f, (cw_arg[]){ CW_ARG_STR("q") }, 1, collect, &s));
    CHECK_OK(cw_func_iterate(f, (cw_arg[]){ CW_ARG_STR("q") }, 1, collect, &r));
    CHECK_STR(r.got, "q-p0-c1"); /* the seed: replay ends at the first chunk not stored */
    cw_func_free(f);
    cw_cache_free(c);
    return 0;
}

typedef struct lock_probe {
    sink s;
    cw_cache *c;
    const char *lock_key;
    int locked_seen; /* chunks that saw the lock held */
} lock_probe;

static int collect_checking_lock(void *ud, const void *chunk, size_t len)
{
    lock_probe *p = ud;
    int locked = 0;
    if (cw_is_locked(p->c, p->lock_key, 0, 0, &locked) == CW_OK && locked) p->locked_seen++;
    return collect(&p->s, chunk, len);
}

/* The seed's locked over an async generator: one stream at a time per key, the lock held
 * until the last chunk is consumed; under iterator, only loads take it. */
static int locked_iterators(void)
{
    cw_fake_clock fc;
    cw_cache *c = helper_cache(&fc);
    pages p = { .n = 3 };
    cw_func *lk = cw_func_make(c, &(cw_func_options){ .strategy = CW_LOCKED, .iter_loader = page_loader,
                                                      .loader_ud = &p, .args = "name", .key = "s:{name}",
                                                      .ttl = "10s", .no_wait = 1 });
    CHECK(lk);
    lock_probe probe = { .c = c, .lock_key = "locked:s:a" };
    CHECK_OK(cw_func_iterate(lk, (cw_arg[]){ CW_ARG_STR("a") }, 1, collect_checking_lock, &probe));
    CHECK_STR(probe.s.got, "a-p0-c1,a-p1-c1,a-p2-c1");
    CHECK_EQ_INT(probe.locked_seen, 3);
    int locked = 1;
    CHECK_OK(cw_is_locked(c, "locked:s:a", 0, 0, &locked));
    CHECK_EQ_INT(locked, 0);
    /* Held by another: no stream. */
    CHECK_OK(cw_set_lock(c, "locked:s:a", "other", 5, 60000));
    sink none = { 0 };
    CHECK_ST(cw_func_iterate(lk, (cw_arg[]){ CW_ARG_STR("a") }, 1, collect, &none), CW_ELOCKED);
    CHECK_EQ_INT(none.chunks, 0);
    CHECK_OK(cw_unlock(c, "locked:s:a", "other", 5));
    /* A caching iterator over it: the first call streams under the lock, the next replays. */
    cw_func *it = cw_func_make(c, &(cw_func_options){ .strategy = CW_ITERATOR, .wraps = lk, .key = "get:{name}",
                                                      .ttl = "10m" });
    CHECK(it);
    lock_probe q = { .c = c, .lock_key = "locked:s:b" };
    CHECK_OK(cw_func_iterate(it, (cw_arg[]){ CW_ARG_STR("b") }, 1, collect_checking_lock, &q));
    CHECK_STR(q.s.got, "b-p0-c2,b-p1-c2,b-p2-c2");
    CHECK_EQ_INT(q.locked_seen, 3);
    lock_probe r = { .c = c, .lock_key = "locked:s:b" };
    CHECK_OK(cw_func_iterate(it, (cw_arg[]){ CW_ARG_STR("b") }, 1, collect_checking_lock, &r));
    CHECK_STR(r.s.got, "b-p0-c2,b-p1-c2,b-p2-c2");
    CHECK_EQ_INT(r.locked_seen, 0);
    CHECK_EQ_INT(atomic_load(&p.calls), 2);
    /* A stopped consumer ends the stream and frees the lock. */
    sink st = { .stop_after = 1 };
    CHECK_ST(cw_func_iterate(lk, (cw_arg[]){ CW_ARG_STR("a") }, 1, collect, &st), CW_ESTATE);
    CHECK_OK(cw_is_locked(c, "locked:s:a", 0, 0, &locked));
    CHECK_EQ_INT(locked, 0);
    /* Iterators are iterated, not called; only iterator and locked functions take one. */
    cw_value v = { 0 };
    CHECK_ST(CW_CALL(lk, &v, CW_ARG_STR("a")), CW_EINVAL);
    CHECK(strstr(cw_cache_errmsg(c), "call cw_func_iterate()"));
    cw_func *bad = NULL;
    CHECK_ST(cw_func_new(&bad, c, &(cw_func_options){ .iter_loader = page_loader, .key = "k", .ttl = "1h" }), CW_EINVAL);
    CHECK(strstr(cw_cache_errmsg(c), "only iterator and locked functions"));
    CHECK_ST(cw_func_new(&bad, c, &(cw_func_options){ .wraps = lk, .key = "k", .ttl = "1h" }), CW_EINVAL);
    CHECK_ST(cw_func_new(&bad, c, &(cw_func_options){ .strategy = CW_ITERATOR, .loader = count_loader, .key = "k",
                                                      .ttl = "1h" }), CW_EINVAL);
    CHECK(strstr(cw_cache_errmsg(c), "needs .iter_loader or an iterator function"));
    cw_func_free(it);
    cw_func_free(lk);
    cw_cache_free(c);
    return 0;
}

static const cw_test tests[] = {
    CW_TEST(locked_iterators),
    CW_TEST(caches_and_replays_chunks),
    CW_TEST(stopped_or_failed_streams_are_not_cached),
    CW_TEST(cached_error_ends_the_replay),
    CW_TEST(condition_per_chunk),
    { 0 },
};

int main(int argc, char **argv) { return cw_test_main(tests, argc, argv); }
