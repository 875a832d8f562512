/*
 * failover.c - the seed's cache.failover: run the loader every time; store its good results;
 * when it fails with one of the function's errors (.errors, else the cache's default set,
 * else every error) serve the last good value instead, if there is one.
 */
#include "strategies/strategy.h"

int cw__failover_call(cw_func *f, const cw_arg *args, size_t nargs, cw_value *out, int *from_cache)
{
    cw__buf kb;
    cw__buf_init(&kb);
    int64_t ttl = 0, took = 0;
    int st = cw__key(f, args, nargs, &kb);
    if (!st) st = cw__ttl(f, args, nargs, &ttl);
    if (!st) st = cw__routed(f, kb.p);
    if (st) goto done;
    st = cw__load(f, args, nargs, out, &took, from_cache);
    if (st == CW_OK) {
        /* Only values: a stored error would be served as a fallback "good" result. And only
         * a loader's: a value the wrapped function served from its cache is not stored again. */
        if (!*from_cache && cw__decide(f, st, out, args, nargs, kb.p, took) == 1 &&
            (!f->ttl_rfn || cw__ttl_of(f, args, nargs, st, out, &ttl) == CW_OK))
            cw__store(f, kb.p, out, 0, ttl, 0, args, nargs);
        cw__detect(f, kb.p, args, nargs, *from_cache, st, out, 0);
        goto done;
    }
    if (!cw__code_in(f->errors, f->nerrors, st)) goto done;
    int hit = 0, failed = st;
    /* The fallback read ignores invalidate_further: serving the last value is the point. */
    cw__env_meta m;
    cw_status gs = cw__get_meta(f->c, kb.p, out, &m);
    if (gs == CW_OK) {
        int err = 0;
        gs = cw__decode(f->fx, m.codec, out, &err);
        hit = gs == CW_OK && err == 0;
    }
    st = hit ? CW_OK : failed;
    *from_cache = hit;
    cw__detect(f, kb.p, args, nargs, hit, st, out, hit ? failed : 0);
done:
    cw__buf_free(&kb);
    return st;
}
