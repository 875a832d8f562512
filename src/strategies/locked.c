/*
 * locked.c - the seed's cache.locked: one loader at a time per key, across every process
 * sharing the backend. The call takes the lock KEY (prefix "locked") for the TTL (10 s by
 * default, the seed's max_lock_ttl), runs the loader and releases it. Other callers wait for
 * it, trying again every .lock_step, up to .lock_wait (by default twice the TTL: a holder
 * that dies frees the lock when it expires, within one TTL of the waiter's start) or, with
 * .no_wait, fail at once with CW_ELOCKED. Nothing is cached: stack it under a caching
 * strategy. Under a disable the lock cannot be taken: the loader answers, as it does for
 * every strategy when the cache is off.
 *
 * Over an iterator loader (.iter_loader, or .wraps of an iterator function) the function is
 * an iterator itself (cw_func_iterate): the lock is held while the chunks flow, as the seed's
 * locked async generator holds it.
 *
 * cw__func_lock is also the wait of .lock = 1 (cached.c).
 */
#include <time.h>

#include "strategies/strategy.h"

static int64_t mono_ms(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (int64_t)ts.tv_sec * 1000 + ts.tv_nsec / 1000000;
}

cw_status cw__func_lock(cw_func *f, const char *key, int64_t ttl_ms, cw_lock_guard *g)
{
    int64_t wait = f->lock_wait_ms ? f->lock_wait_ms : ttl_ms > INT64_MAX / 2 ? INT64_MAX : 2 * ttl_ms;
    if (f->no_wait) wait = 0;
    /* Without a step, cw_lock's own back-off (1 ms doubling to 64 ms) paces the attempts. */
    if (!f->lock_step_ms || !wait) return cw_lock(f->c, key, ttl_ms, wait, g);
    int64_t start = mono_ms();
    for (;;) {
        cw_status st = cw_lock(f->c, key, ttl_ms, 0, g);
        int64_t left = wait - (mono_ms() - start);
        if (st != CW_ELOCKED || left <= 0) return st;
        int64_t ms = f->lock_step_ms < left ? f->lock_step_ms : left;
        struct timespec ts = { (time_t)(ms / 1000), (long)(ms % 1000) * 1000000L };
        while (nanosleep(&ts, &ts) != 0) {}
    }
}

int cw__locked_iterate(cw_func *f, const cw_arg *args, size_t nargs, cw_chunk_fn fn, void *ud)
{
    cw__buf kb;
    cw__buf_init(&kb);
    int st = cw__key(f, args, nargs, &kb);
    if (st) goto done;
    cw_lock_guard g;
    cw_status ls = cw__func_lock(f, kb.p, f->ttl_ms, &g);
    if (ls != CW_OK && ls != CW_EDISABLED) {
        st = ls;
        goto done;
    }
    st = cw__iterate_through(f, args, nargs, fn, ud);
    if (ls == CW_OK) cw_lock_release(&g);
    cw__detect(f, kb.p, args, nargs, 0, st, NULL, 0);
done:
    cw__buf_free(&kb);
    return st;
}

int cw__locked_call(cw_func *f, const cw_arg *args, size_t nargs, cw_value *out, int *from_cache)
{
    cw__buf kb;
    cw__buf_init(&kb);
    int st = cw__key(f, args, nargs, &kb);
    if (st) goto done;
    cw_lock_guard g;
    st = cw__func_lock(f, kb.p, f->ttl_ms, &g);
    if (st == CW_EDISABLED) {
        /* No lock under a disable: the loader answers (the seed's full disable calls the
         * function directly). */
        st = cw__load(f, args, nargs, out, NULL, from_cache);
        cw__detect(f, kb.p, args, nargs, *from_cache, st, out, 0);
        goto done;
    }
    if (st) goto done;
    st = cw__load(f, args, nargs, out, NULL, from_cache);
    cw_lock_release(&g);
    cw__detect(f, kb.p, args, nargs, *from_cache, st, out, 0);
done:
    cw__buf_free(&kb);
    return st;
}
