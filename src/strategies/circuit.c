/*
 * circuit.c - the seed's cache.circuit_breaker. The loader's result is not cached; the
 * breaker decides whether the loader may run.
 *
 * State lives in the cache, so every process sharing it shares the breaker:
 *   KEY:total, KEY:fails  sliding windows (cw_slice_incr) of every call and of the calls
 *                         that failed with one of .errors, over .period;
 *   KEY:open              present while open (.ttl): calls fail with CW_ECIRCUITOPEN;
 *   KEY:half_open         present for .ttl + .half_open_ttl from the opening: once KEY:open
 *                         expired, the breaker is half-open;
 *   KEY:probes            counts half-open calls; 1 in half_open_every is let through as a
 *                         probe (the first one always), the others fail with
 *                         CW_ECIRCUITOPEN. A probe that fails opens the breaker again.
 * A failure opens it when the window holds at least .min_calls calls and failures are at
 * least .errors_rate percent of them. The counting is a counter, not a random draw, so
 * tests are deterministic.
 */
#include <stdint.h>

#include "strategies/strategy.h"

static cw_status suffixed(cw__buf *b, const char *key, const char *suffix)
{
    b->len = 0;
    return cw__key_suffix(b, key, suffix);
}

static void open_breaker(cw_func *f, const char *key, cw__buf *tmp)
{
    if (!suffixed(tmp, key, ":open")) cw_set(f->c, tmp->p, "1", 1, f->ttl_ms);
    if (f->half_open_ms) {
        if (!suffixed(tmp, key, ":half_open")) cw_set(f->c, tmp->p, "1", 1, f->ttl_ms + f->half_open_ms);
        if (!suffixed(tmp, key, ":probes")) cw_delete(f->c, tmp->p);
    }
}

int cw__circuit_call(cw_func *f, const cw_arg *args, size_t nargs, cw_value *out, int *from_cache)
{
    cw__buf kb, tmp;
    cw__buf_init(&kb);
    cw__buf_init(&tmp);
    int st = cw__key(f, args, nargs, &kb);
    if (!st) st = cw__routed(f, kb.p);
    if (st) goto done;
    if (!suffixed(&tmp, kb.p, ":open") && cw_exists(f->c, tmp.p) == CW_OK) {
        st = cw__fail(f->c, CW_ECIRCUITOPEN, "%s: circuit breaker \"%s\" is open", f->name, kb.p);
        goto done;
    }
    int probing = 0;
    if (f->half_open_ms && !suffixed(&tmp, kb.p, ":half_open") && cw_exists(f->c, tmp.p) == CW_OK) {
        int64_t n = 0;
        if (!suffixed(&tmp, kb.p, ":probes") && cw_incr(f->c, tmp.p, 1, f->half_open_ms, &n) == CW_OK &&
            (n - 1) % f->half_open_every != 0) {
            st = cw__fail(f->c, CW_ECIRCUITOPEN, "%s: circuit breaker \"%s\" is half-open", f->name, kb.p);
            goto done;
        }
        probing = 1;
    }
    st = cw__load(f, args, nargs, out, NULL, from_cache);
    int failed = cw__code_in(f->errors, f->nerrors, st);
    int64_t total = 0, fails = 0;
    if (!suffixed(&tmp, kb.p, ":total"))
        cw_slice_incr(f->c, tmp.p, f->period_ms, INT64_MAX, f->period_ms, &total);
    if (!failed) goto done;
    if (probing) {
        open_breaker(f, kb.p, &tmp);
        goto done;
    }
    if (!suffixed(&tmp, kb.p, ":fails") &&
        cw_slice_incr(f->c, tmp.p, f->period_ms, INT64_MAX, f->period_ms, &fails) == CW_OK &&
        total >= f->min_calls && fails * 100 >= (int64_t)f->errors_rate * total)
        open_breaker(f, kb.p, &tmp);
done:
    cw__buf_free(&kb);
    cw__buf_free(&tmp);
    return st;
}
