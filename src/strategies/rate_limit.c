/*
 * rate_limit.c - the seed's cache.rate_limit and cache.slice_rate_limit. Neither caches the
 * result: they decide whether the loader may run.
 *
 * Fixed window (rate_limit): KEY counts calls with cw_incr, created with the period as TTL,
 * so the window starts at the first call. Past .limit calls the call is refused; the call
 * that first goes over the limit stretches the key's TTL to the ban (.ttl, by default the
 * period, as the seed), so the counter, and the refusal, last that long.
 *
 * Sliding window (slice_rate_limit): cw_slice_incr records the call's instant in KEY unless
 * limit + 1 instants already sit in the last period (the seed's maxvalue=limit+1); more than
 * .limit in the window means refused.
 *
 * A refused call returns CW_ERATELIMIT, or what .action returns (it may fill the value).
 */
#include "strategies/strategy.h"

static int refuse(cw_func *f, const cw_arg *args, size_t nargs, cw_value *out)
{
    if (f->action) return f->action(f->action_ud, args, nargs, out);
    return cw__fail(f->c, CW_ERATELIMIT, "%s: rate limit of %lld calls per %lld ms reached", f->name,
                    (long long)f->limit, (long long)f->period_ms);
}

int cw__rate_limit_call(cw_func *f, const cw_arg *args, size_t nargs, cw_value *out, int *from_cache)
{
    cw__buf kb;
    cw__buf_init(&kb);
    int64_t count = 0;
    int st = cw__key(f, args, nargs, &kb);
    if (st) goto done;
    /* A failing cache lets the call through: the limit protects, it must not break. */
    cw_status cs = cw_incr(f->c, kb.p, 1, f->period_ms, &count);
    if (cs != CW_OK && (st = cw__cache_failed(f, kb.p, cs))) goto done;
    if (cs != CW_OK) count = 0;
    if (count > f->limit) {
        if (f->ttl_ms > 0 && count == f->limit + 1) cw_expire(f->c, kb.p, f->ttl_ms);
        st = refuse(f, args, nargs, out);
        goto done;
    }
    st = cw__load(f, args, nargs, out, NULL, from_cache);
done:
    cw__buf_free(&kb);
    return st;
}

int cw__slice_rate_limit_call(cw_func *f, const cw_arg *args, size_t nargs, cw_value *out,
                              int *from_cache)
{
    cw__buf kb;
    cw__buf_init(&kb);
    int64_t count = 0;
    int st = cw__key(f, args, nargs, &kb);
    if (st) goto done;
    cw_status cs = cw_slice_incr(f->c, kb.p, f->period_ms, f->limit + 1, f->period_ms, &count);
    if (cs != CW_OK && (st = cw__cache_failed(f, kb.p, cs))) goto done;
    if (cs != CW_OK) count = 0;
    if (count > f->limit) {
        st = refuse(f, args, nargs, out);
        goto done;
    }
    st = cw__load(f, args, nargs, out, NULL, from_cache);
done:
    cw__buf_free(&kb);
    return st;
}
