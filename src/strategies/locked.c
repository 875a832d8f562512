/*
 * locked.c - the seed's cache.locked: one loader at a time per key, across every process
 * sharing the backend. The call takes the lock KEY (prefix "locked") for the TTL (10 s by
 * default, the seed's max_lock_ttl), runs the loader and releases it. Other callers wait for
 * it up to the TTL (a holder that dies frees the lock when it expires) or, with .no_wait,
 * fail at once with CW_ELOCKED. Nothing is cached: stack it under a caching strategy.
 */
#include "strategies/strategy.h"

int cw__locked_call(cw_func *f, const cw_arg *args, size_t nargs, cw_value *out, int *from_cache)
{
    cw__buf kb;
    cw__buf_init(&kb);
    int st = cw__key(f, args, nargs, &kb);
    if (st) goto done;
    cw_lock_guard g;
    st = cw_lock(f->c, kb.p, f->ttl_ms, f->no_wait ? 0 : f->ttl_ms, &g);
    if (st) goto done;
    st = cw__load(f, args, nargs, out, NULL, from_cache);
    cw_lock_release(&g);
    cw__detect(f, kb.p, args, nargs, *from_cache, st);
done:
    cw__buf_free(&kb);
    return st;
}
