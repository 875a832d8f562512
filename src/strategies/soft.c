/*
 * soft.c - the seed's cache.soft: values carry a soft expiry (now + soft_ttl, in the
 * envelope's refresh_at) under their hard TTL. Before it, a hit is served. After it, the
 * caller recomputes (the seed's soft strategy is synchronous: the caller gets the new value);
 * if the loader fails with one of .errors (every error by default) the stale value is served
 * until the hard TTL drops it. Concurrent stale callers share one recompute (single flight).
 */
#include "strategies/strategy.h"

typedef struct soft_ctx {
    cw_func *f;
    const cw_arg *args;
    size_t nargs;
    const char *key;
    int64_t ttl, sms;
    const cw_value *stale; /* NULL: nothing to fall back on */
    int stale_err;         /* the stale outcome was a cached error */
    int error;             /* the loader's error the stale outcome was served for */
} soft_ctx;

static int soft_fill(void *vctx, cw_value *out, int *from_cache)
{
    soft_ctx *x = vctx;
    int st = cw__load_store(x->f, x->args, x->nargs, x->key, x->ttl, x->sms, out, from_cache);
    if (st != CW_OK && x->stale && cw__code_in(x->f->errors, x->f->nerrors, st)) {
        *from_cache = 1;
        x->error = st;
        if (x->stale_err) return x->stale_err;
        if (cw_value_set(out, x->stale->data, x->stale->len)) return CW_ENOMEM;
        return CW_OK;
    }
    return st;
}

int cw__soft_call(cw_func *f, const cw_arg *args, size_t nargs, cw_value *out, int *from_cache)
{
    cw__buf kb;
    cw__buf_init(&kb);
    cw_value stale = { 0 };
    int64_t ttl = 0;
    int hit = 0;
    cw__env_meta m = { 0 };
    int st = cw__key(f, args, nargs, &kb);
    if (!st) st = cw__ttl(f, args, nargs, &ttl);
    if (st) goto done;
    int64_t sms = f->soft_ttl_ms ? f->soft_ttl_ms : ttl == CW_NO_EXPIRY ? 0 : (ttl / 3 > 0 ? ttl / 3 : 1);
    st = cw__read(f, kb.p, out, &m, &hit);
    if (hit && !(m.refresh_at_ms && cw_cache_now_ms(f->c) >= m.refresh_at_ms)) {
        *from_cache = 1;
        cw__detect(f, kb.p, args, nargs, 1, st, out, 0);
        goto done;
    }
    if (!hit && st) goto done;
    /* Stale: keep a copy to fall back on, the loader writes into out. */
    if (hit && cw_value_set(&stale, out->data, out->len)) { st = CW_ENOMEM; goto done; }
    soft_ctx x = { f, args, nargs, kb.p, ttl, sms, hit ? &stale : NULL, hit ? st : 0, 0 };
    st = cw__single_flight(f, kb.p, soft_fill, &x, out, from_cache);
    cw__detect(f, kb.p, args, nargs, *from_cache, st, out, x.error);
done:
    cw_value_free(&stale);
    cw__buf_free(&kb);
    return st;
}
