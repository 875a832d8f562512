/*
 * early.c - the seed's cache.early: values carry a refresh instant (now + early_ttl when
 * stored, in the envelope's refresh_at). A hit past that instant still returns the stored
 * value at once, and starts one background refresh: the first caller to take KEY:lock (a
 * cache lock lasting early_ttl, so one refresh at a time across processes) queues it on the
 * pool, which also refuses a second task for a key it holds. A miss loads on the caller's
 * thread (with single flight). early_ttl defaults to a third of the TTL, as in the seed.
 */
#include <string.h>

#include "strategies/strategy.h"

#define LOCK_VALUE "1"

typedef struct early_task {
    cw_arg *args;
    size_t nargs;
    int64_t ttl_ms, early_ms;
    char *lock_key;
} early_task;

static int64_t early_ms(const cw_func *f, int64_t ttl)
{
    if (f->early_ttl_ms) return f->early_ttl_ms;
    if (ttl == CW_NO_EXPIRY) return 0; /* never stale */
    return ttl / 3 > 0 ? ttl / 3 : 1;
}

static int early_refresh(cw_func *f, const cw_arg *args, size_t nargs, const char *key,
                         int64_t ttl, int64_t ems, cw_value *out, int *from_cache)
{
    return cw__load_store(f, args, nargs, key, ttl, ems, out, from_cache);
}

static void early_task_run(cw__task *t)
{
    early_task *e = t->ctx;
    cw_value v = { 0 };
    int fc;
    early_refresh(t->f, e->args, e->nargs, t->key, e->ttl_ms, e->early_ms, &v, &fc);
    cw_value_free(&v);
}

static void early_task_drop(cw__task *t, int ran)
{
    early_task *e = t->ctx;
    /* Ran or not, the refresh is over: let the next stale hit start another (the seed
     * deletes the lock in a finally). */
    cw_unlock(t->f->c, e->lock_key, LOCK_VALUE, 1);
    cw__args_free(e->args, e->nargs);
    cw_free(e->lock_key);
    cw_free(e);
}

/* Start a refresh of a stale value unless one runs. Returns 1 when it ran inline and
 * replaced @out with the fresh value. */
static int maybe_refresh(cw_func *f, const cw_arg *args, size_t nargs, const char *key,
                         int64_t ttl, int64_t ems, cw_value *out)
{
    cw__buf lk;
    cw__buf_init(&lk);
    int inline_done = 0;
    if (cw__key_suffix(&lk, key, ":lock") ||
        cw_set_lock(f->c, lk.p, LOCK_VALUE, 1, ems > 0 ? ems : 1000) != CW_OK) {
        cw__buf_free(&lk);
        return 0;
    }
    cw__task *t = cw_calloc(1, sizeof *t);
    early_task *e = cw_calloc(1, sizeof *e);
    cw_status st = t && e ? cw__args_clone(args, nargs, &e->args) : CW_ENOMEM;
    if (st == CW_OK) {
        e->nargs = nargs;
        e->ttl_ms = ttl;
        e->early_ms = ems;
        e->lock_key = cw__strndup(lk.p, lk.len);
        t->key = cw__strdup(key);
        if (e->lock_key && t->key) {
            t->f = f;
            t->run = early_task_run;
            t->drop = early_task_drop;
            t->ctx = e;
            if (cw__pool_submit(f->fx, t) == CW_OK) { cw__buf_free(&lk); return 0; }
        }
        cw_free(t->key);
        cw_free(e->lock_key);
        cw__args_free(e->args, nargs);
    } else if (st == CW_ENOTSUP) {
        /* Arguments that cannot outlive the call: refresh here, hand out the new value. */
        cw_value v = { 0 };
        int fc;
        if (early_refresh(f, args, nargs, key, ttl, ems, &v, &fc) == CW_OK && cw_value_set(out, v.data, v.len) == CW_OK)
            inline_done = 1;
        cw_value_free(&v);
    }
    cw_free(t);
    cw_free(e);
    cw_unlock(f->c, lk.p, LOCK_VALUE, 1);
    cw__buf_free(&lk);
    return inline_done;
}

typedef struct early_ctx {
    cw_func *f;
    const cw_arg *args;
    size_t nargs;
    const char *key;
    int64_t ttl, ems;
} early_ctx;

static int early_fill(void *vctx, cw_value *out, int *from_cache)
{
    early_ctx *x = vctx;
    return early_refresh(x->f, x->args, x->nargs, x->key, x->ttl, x->ems, out, from_cache);
}

int cw__early_call(cw_func *f, const cw_arg *args, size_t nargs, cw_value *out, int *from_cache)
{
    cw__buf kb;
    cw__buf_init(&kb);
    int64_t ttl = 0;
    int hit = 0;
    cw__env_meta m = { 0 };
    int st = cw__key(f, args, nargs, &kb);
    if (!st) st = cw__ttl(f, args, nargs, &ttl);
    if (st) goto done;
    int64_t ems = early_ms(f, ttl);
    st = cw__read(f, kb.p, out, &m, &hit);
    if (hit) {
        int fresh = 0;
        if (m.refresh_at_ms && cw_cache_now_ms(f->c) >= m.refresh_at_ms)
            fresh = maybe_refresh(f, args, nargs, kb.p, ttl, ems, out);
        if (fresh) st = CW_OK;
        *from_cache = !fresh;
        cw__detect(f, kb.p, args, nargs, !fresh, st, out, 0);
        goto done;
    }
    if (st) goto done;
    early_ctx x = { f, args, nargs, kb.p, ttl, ems };
    st = cw__single_flight(f, kb.p, early_fill, &x, out, from_cache);
    cw__detect(f, kb.p, args, nargs, *from_cache, st, out, 0);
done:
    cw__buf_free(&kb);
    return st;
}
