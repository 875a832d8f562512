/*
 * hit.c - the seed's cache.hit: a value serves at most cache_hits hits, counted in a
 * counter key beside it (KEY:counter, created with the value's TTL). When the count passes
 * cache_hits the next call loads again; at exactly update_after hits a background refresh
 * replaces the value early (and resets the counter), so a popular key rarely misses.
 */
#include <string.h>

#include "strategies/strategy.h"

typedef struct hit_task {
    cw_arg *args;
    size_t nargs;
    int64_t ttl_ms;
} hit_task;

/* Load and, when the conditions allow, store the value and reset the counter. */
static int hit_refresh(cw_func *f, const cw_arg *args, size_t nargs, const char *key, int64_t ttl,
                       cw_value *out, int *from_cache)
{
    int64_t took = 0;
    int st = cw__load(f, args, nargs, out, &took, from_cache);
    int what = *from_cache ? 0 : cw__decide(f, st, out, args, nargs, key, took);
    if (what && f->ttl_rfn && cw__ttl_of(f, args, nargs, st, out, &ttl) != CW_OK) what = 0;
    if (what) {
        cw__buf ck;
        cw__buf_init(&ck);
        if (!cw__key_suffix(&ck, key, ":counter")) cw_delete(f->c, ck.p);
        cw__buf_free(&ck);
        cw__store(f, key, what == 1 ? out : NULL, what == 2 ? st : 0, ttl, 0, args, nargs);
    }
    return st;
}

static void hit_task_run(cw__task *t)
{
    hit_task *h = t->ctx;
    cw_value v = { 0 };
    int fc;
    hit_refresh(t->f, h->args, h->nargs, t->key, h->ttl_ms, &v, &fc);
    cw_value_free(&v);
}

static void hit_task_drop(cw__task *t, int ran)
{
    hit_task *h = t->ctx;
    cw__args_free(h->args, h->nargs);
    cw_free(h);
}

/* Queue a refresh; when the arguments cannot be copied, refresh on this thread. */
static void start_refresh(cw_func *f, const cw_arg *args, size_t nargs, const char *key, int64_t ttl)
{
    cw__task *t = cw_calloc(1, sizeof *t);
    hit_task *h = cw_calloc(1, sizeof *h);
    cw_status st = t && h ? cw__args_clone(args, nargs, &h->args) : CW_ENOMEM;
    if (st == CW_OK && (t->key = cw__strdup(key))) {
        h->nargs = nargs;
        h->ttl_ms = ttl;
        *t = (cw__task){ NULL, f, t->key, hit_task_run, hit_task_drop, h };
        if (cw__pool_submit(f->fx, t) == CW_OK) return;
        cw__args_free(h->args, nargs);
        cw_free(t->key);
        cw_free(t);
        cw_free(h);
        return;
    }
    if (st == CW_OK) cw__args_free(h->args, nargs);
    cw_free(t);
    cw_free(h);
    if (st == CW_ENOTSUP) {
        cw_value v = { 0 };
        int fc;
        hit_refresh(f, args, nargs, key, ttl, &v, &fc);
        cw_value_free(&v);
    }
}

typedef struct hit_ctx {
    cw_func *f;
    const cw_arg *args;
    size_t nargs;
    const char *key;
    int64_t ttl;
} hit_ctx;

static int hit_fill(void *vctx, cw_value *out, int *from_cache)
{
    hit_ctx *x = vctx;
    return hit_refresh(x->f, x->args, x->nargs, x->key, x->ttl, out, from_cache);
}

int cw__hit_call(cw_func *f, const cw_arg *args, size_t nargs, cw_value *out, int *from_cache)
{
    cw__buf kb, ck;
    cw__buf_init(&kb);
    cw__buf_init(&ck);
    int64_t ttl = 0, hits = 0;
    int hit = 0;
    int st = cw__key(f, args, nargs, &kb);
    if (!st) st = cw__ttl(f, args, nargs, &ttl);
    if (!st) st = cw__key_suffix(&ck, kb.p, ":counter");
    if (st) goto done;
    st = cw__read(f, kb.p, out, NULL, &hit);
    if (!hit && st) goto done;
    /* The seed counts every call, hits and misses alike; a store resets the count. */
    if (cw_incr(f->c, ck.p, 1, ttl, &hits) != CW_OK) hits = 0;
    if (hit && hits > 0 && hits <= f->cache_hits) {
        if (f->update_after && hits == f->update_after) start_refresh(f, args, nargs, kb.p, ttl);
        *from_cache = 1;
        cw__detect(f, kb.p, args, nargs, 1, st, out, 0);
        goto done;
    }
    hit_ctx x = { f, args, nargs, kb.p, ttl };
    st = cw__single_flight(f, kb.p, hit_fill, &x, out, from_cache);
    cw__detect(f, kb.p, args, nargs, *from_cache, st, out, 0);
done:
    cw__buf_free(&kb);
    cw__buf_free(&ck);
    return st;
}
