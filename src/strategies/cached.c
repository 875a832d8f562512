/*
 * cached.c - the cached-function object (the seed's decorator) and the pieces every caching
 * strategy shares: the key of a call, reading a cached outcome, the miss path (load, decide
 * with the conditions, store with tags), single flight for concurrent misses, lock=true, and
 * the simple strategy itself.
 *
 * The hit path of the simple strategy (W4) is: format the key into a buffer on the stack,
 * one cw__get_meta() into the caller's value (reused, so no allocation when it fits), and
 * nothing else unless a thread scope (detect, invalidate_further) is open on the cache.
 *
 * Single flight (the seed's thunder protection, on by default): concurrent misses of one key
 * in this process elect a leader that runs the miss path; the others sleep on the
 * function's condition variable and copy the leader's outcome. The leader stores the value
 * before it leaves, so callers arriving after it hit the cache. lock=true adds a lock in the
 * cache itself (cw_lock) around the miss path, for several processes sharing a backend.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "strategies/strategy.h"

struct cw__flight {
    cw__flight *next;
    char *key;
    int done;
    int status;
    int from_cache;
    int refs; /* the leader and every waiter */
    cw_value val;
};

static const char *const strategy_names[] = {
    "simple", "failover", "hit", "early", "soft", "iterator", "locked",
    "rate_limit", "slice_rate_limit", "circuit_breaker", "bloom", "no_cache",
};
static const char *const default_prefix[] = {
    "", "fail", "hit", "early", "soft", "", "locked", "rate_limit", "srl", "circuit_breaker",
    "bloom", "",
};

/* ---- small shared helpers ---- */

int cw__code_in(const int *codes, size_t n, int code)
{
    if (code == CW_OK) return 0;
    if (!codes) return 1;
    for (size_t i = 0; i < n; i++)
        if (codes[i] == code) return 1;
    return 0;
}

cw_status cw__key(cw_func *f, const cw_arg *args, size_t nargs, cw__buf *kb)
{
    return cw__tmpl_format(f->fx, &f->key, args, nargs, 0, kb);
}

cw_status cw__key_suffix(cw__buf *kb, const char *key, const char *suffix)
{
    cw_status st = cw__buf_puts(kb, key);
    return st ? st : cw__buf_puts(kb, suffix);
}

cw_status cw__ttl_of(cw_func *f, const cw_arg *args, size_t nargs, int status, const cw_value *result,
                     int64_t *ttl_ms)
{
    if (!f->ttl_fn && !f->ttl_rfn) {
        *ttl_ms = f->ttl_ms;
        return CW_OK;
    }
    int64_t t = 0;
    cw_status st = f->ttl_rfn ? f->ttl_rfn(f->ttl_ud, args, nargs, status, status == CW_OK ? result : NULL, &t)
                              : f->ttl_fn(f->ttl_ud, args, nargs, &t);
    if (st) return cw__fail(f->c, st, "%s: the TTL callback failed", f->name);
    if (t <= 0 && t != CW_NO_EXPIRY)
        return cw__fail(f->c, CW_EINVAL, "%s: the TTL callback gave %lld ms", f->name, (long long)t);
    *ttl_ms = t;
    return CW_OK;
}

cw_status cw__ttl(cw_func *f, const cw_arg *args, size_t nargs, int64_t *ttl_ms)
{
    return cw__ttl_of(f, args, nargs, CW_OK, NULL, ttl_ms);
}

CW__COLD void cw__detect_slow(cw_func *f, const char *key, const cw_arg *args, size_t nargs, int from_cache,
                              int st, const cw_value *val, int error)
{
    int64_t ttl = 0;
    /* The seed's detect has the TTL computed with the result. */
    if (cw__ttl_of(f, args, nargs, st, val, &ttl)) ttl = 0;
    cw_detect_call call = { .key = (char *)key, .strategy = f->sname, .ttl_ms = ttl, .from_cache = from_cache,
                            .status = st, .key_template = f->key.src, .error = error };
    if (st == CW_OK && val) call.value = *val;
    cw__detect_record(f->c, &call);
}

static CW__ALWAYS_INLINE int call_func(cw_func *f, const cw_arg *args, size_t nargs, cw_value *out,
                                       int *from_cache);

int cw__load(cw_func *f, const cw_arg *args, size_t nargs, cw_value *out, int64_t *took_ms,
             int *from_cache)
{
    int64_t t0 = f->time_cond_ms ? cw_cache_now_ms(f->c) : 0;
    int fc = 0;
    int st = f->wraps ? call_func(f->wraps, args, nargs, out, &fc)
                      : f->loader(f->loader_ud, args, nargs, out);
    if (took_ms) *took_ms = f->time_cond_ms ? cw_cache_now_ms(f->c) - t0 : 0;
    if (from_cache) *from_cache = fc;
    return st;
}

cw_status cw__routed(cw_func *f, const char *key)
{
    if (*cw__backend_scheme(f->c, key)) return CW_OK;
    return cw__fail(f->c, CW_ESTATE,
                    "%s: no backend serves key \"%.64s\": call cw_cache_setup() for it (a cached"
                    " function does not run uncached)", f->name, key);
}

CW__COLD cw_status cw__cache_failed(cw_func *f, const char *key, cw_status st)
{
    if (st == CW_ENOMEM) return st;
    return cw__routed(f, key);
}

int cw__read(cw_func *f, const char *key, cw_value *out, cw__env_meta *meta, int *hit)
{
    *hit = 0;
    if (atomic_load_explicit(&f->fx->nscopes, memory_order_relaxed) && cw__invalidating_further(f->c))
        return CW_OK;
    cw__env_meta m;
    cw_status st = cw__get_meta(f->c, key, out, &m);
    /* A cache that fails (down, disabled) is a miss: the loader still answers. */
    if (st != CW_OK) return st == CW_NOTFOUND ? CW_OK : cw__cache_failed(f, key, st);
    if (meta) *meta = m;
    if (m.codec == CW__CODEC_RAW) {
        *hit = 1;
        return CW_OK;
    }
    int err = 0;
    st = cw__decode(f->fx, m.codec, out, &err);
    if (st == CW_NOTFOUND) return CW_OK;
    if (st) return st;
    *hit = 1;
    return err;
}

int cw__decide(cw_func *f, int st, const cw_value *val, const cw_arg *args, size_t nargs,
               const char *key, int64_t took_ms)
{
    if (took_ms < f->time_cond_ms) return 0;
    if (st == CW_OK) {
        if (f->only_errors) return 0;
        if (f->cond_fn) return f->cond_fn(f->cond_ud, st, val, args, nargs, key) ? 1 : 0;
        if (f->cond == CW_COND_NOT_EMPTY && val->len == 0) return 0;
        return 1;
    }
    if (!f->ncache_errors || !cw__code_in(f->cache_errors, f->ncache_errors, st)) return 0;
    static const cw_value empty = { 0 };
    if (f->cond_fn && !f->cond_fn(f->cond_ud, st, &empty, args, nargs, key)) return 0;
    return 2;
}

cw_status cw__store_bytes(cw_func *f, const char *key, const void *data, size_t len, uint8_t codec,
                          int64_t ttl_ms, int64_t refresh_at_ms, const cw_arg *args, size_t nargs)
{
    cw__env_meta m = { codec, 0, refresh_at_ms };
    cw_status st = CW_OK;
    char *tagbuf[8];
    char **tags = f->ntags <= 8 ? tagbuf : cw_calloc(f->ntags, sizeof *tags);
    size_t ntags = 0;
    if (!tags) st = CW_ENOMEM;
    for (size_t i = 0; !st && i < f->ntags; i++) {
        cw__buf tb;
        cw__buf_init(&tb);
        st = cw__tmpl_format(f->fx, &f->tags[i], args, nargs, 0, &tb);
        if (!st && !(tags[ntags++] = cw__strndup(tb.p, tb.len))) { ntags--; st = CW_ENOMEM; }
        cw__buf_free(&tb);
    }
    if (!st) {
        cw_set_options so = { .ttl_ms = ttl_ms, .tags = (const char *const *)tags, .ntags = ntags };
        st = cw__set_meta(f->c, key, data, len, &m, &so);
    }
    for (size_t i = 0; i < ntags; i++) cw_free(tags[i]);
    if (tags != tagbuf) cw_free(tags);
    return st;
}

cw_status cw__store(cw_func *f, const char *key, const cw_value *val, int err, int64_t ttl_ms,
                    int64_t refresh_at_ms, const cw_arg *args, size_t nargs)
{
    if (err) {
        char num[24];
        size_t len = (size_t)snprintf(num, sizeof num, "%d", err);
        return cw__store_bytes(f, key, num, len, CW__CODEC_ERROR, ttl_ms, refresh_at_ms, args, nargs);
    }
    const void *data = NULL;
    size_t len = 0;
    cw_value tmp = { 0 };
    cw_status st = cw__encode(f->fx, f->codec, val, &tmp, &data, &len);
    if (!st) st = cw__store_bytes(f, key, data, len, f->codec, ttl_ms, refresh_at_ms, args, nargs);
    cw_value_free(&tmp);
    return st;
}

int cw__load_store(cw_func *f, const cw_arg *args, size_t nargs, const char *key, int64_t ttl_ms,
                   int64_t refresh_after_ms, cw_value *out, int *from_cache)
{
    int64_t took = 0;
    int fc = 0;
    int st = cw__load(f, args, nargs, out, &took, &fc);
    if (from_cache) *from_cache = fc;
    int what = fc ? 0 : cw__decide(f, st, out, args, nargs, key, took);
    /* The seed computes a callable TTL with the result: a failing callback stores nothing. */
    if (what && f->ttl_rfn && cw__ttl_of(f, args, nargs, st, out, &ttl_ms) != CW_OK) what = 0;
    if (what) {
        int64_t at = refresh_after_ms > 0 ? cw_cache_now_ms(f->c) + refresh_after_ms : 0;
        /* A failed store does not fail the call: the caller has its value. */
        cw__store(f, key, what == 1 ? out : NULL, what == 2 ? st : 0, ttl_ms, at, args, nargs);
    }
    return st;
}

/* ---- single flight ---- */

static void flight_free(cw__flight *fl)
{
    cw_free(fl->key);
    cw_value_free(&fl->val);
    cw_free(fl);
}

int cw__single_flight(cw_func *f, const char *key, cw__sf_fn fn, void *ctx, cw_value *out,
                      int *from_cache)
{
    if (!f->single_flight) return fn(ctx, out, from_cache);
    pthread_mutex_lock(&f->sf_mu);
    cw__flight *fl = f->flights;
    while (fl && strcmp(fl->key, key) != 0) fl = fl->next;
    if (fl) {
        fl->refs++;
        while (!fl->done) pthread_cond_wait(&f->sf_cv, &f->sf_mu);
        int st = fl->status;
        *from_cache = fl->from_cache;
        if (st == CW_OK && cw_value_set(out, fl->val.data, fl->val.len)) st = CW_ENOMEM;
        if (--fl->refs == 0) flight_free(fl);
        pthread_mutex_unlock(&f->sf_mu);
        return st;
    }
    fl = cw_calloc(1, sizeof *fl);
    if (fl && !(fl->key = cw__strdup(key))) { cw_free(fl); fl = NULL; }
    if (!fl) {
        /* No memory for the flight: run unprotected rather than fail. */
        pthread_mutex_unlock(&f->sf_mu);
        return fn(ctx, out, from_cache);
    }
    fl->refs = 1;
    fl->next = f->flights;
    f->flights = fl;
    pthread_mutex_unlock(&f->sf_mu);

    int st = fn(ctx, out, from_cache);

    pthread_mutex_lock(&f->sf_mu);
    for (cw__flight **pp = &f->flights; *pp; pp = &(*pp)->next)
        if (*pp == fl) { *pp = fl->next; break; }
    fl->done = 1;
    fl->status = st;
    fl->from_cache = *from_cache;
    if (st == CW_OK && fl->refs > 1 && cw_value_set(&fl->val, out->data, out->len)) fl->status = CW_ENOMEM;
    if (--fl->refs == 0) flight_free(fl);
    else pthread_cond_broadcast(&f->sf_cv);
    pthread_mutex_unlock(&f->sf_mu);
    return st;
}

/* ---- argument copies for background work ---- */

cw_status cw__args_clone(const cw_arg *args, size_t nargs, cw_arg **out)
{
    size_t bytes = nargs * sizeof(cw_arg);
    for (size_t i = 0; i < nargs; i++) {
        const cw_arg *a = &args[i];
        if (a->type == CW_T_STR && a->v.s) bytes += (a->len == (size_t)-1 ? strlen(a->v.s) : a->len) + 1;
        else if (a->type == CW_T_BYTES) bytes += a->len;
        else if (a->type == CW_T_OBJ && (!a->cls || !a->cls->clone || !a->cls->release)) return CW_ENOTSUP;
    }
    cw_arg *c = cw_malloc(bytes);
    if (!c) return CW_ENOMEM;
    char *w = (char *)(c + nargs);
    for (size_t i = 0; i < nargs; i++) {
        c[i] = args[i];
        if (args[i].type == CW_T_STR && args[i].v.s) {
            size_t n = args[i].len == (size_t)-1 ? strlen(args[i].v.s) : args[i].len;
            memcpy(w, args[i].v.s, n);
            w[n] = 0;
            c[i].v.s = w;
            c[i].len = n;
            w += n + 1;
        } else if (args[i].type == CW_T_BYTES && args[i].len) {
            memcpy(w, args[i].v.b, args[i].len);
            c[i].v.b = w;
            w += args[i].len;
        } else if (args[i].type == CW_T_OBJ) {
            c[i].v.obj = args[i].cls->clone(args[i].v.obj);
            if (!c[i].v.obj) {
                c[i].type = CW_T_NULL;
                cw__args_free(c, i);
                return CW_ENOMEM;
            }
        }
    }
    *out = c;
    return CW_OK;
}

void cw__args_free(cw_arg *args, size_t nargs)
{
    if (!args) return;
    for (size_t i = 0; i < nargs; i++)
        if (args[i].type == CW_T_OBJ) args[i].cls->release((void *)args[i].v.obj);
    cw_free(args);
}

/* ---- the simple strategy ---- */

typedef struct simple_ctx {
    cw_func *f;
    const cw_arg *args;
    size_t nargs;
    const char *key;
    int64_t ttl_ms;
} simple_ctx;

static int simple_fill(void *vctx, cw_value *out, int *from_cache)
{
    simple_ctx *x = vctx;
    cw_func *f = x->f;
    if (!f->lock) return cw__load_store(f, x->args, x->nargs, x->key, x->ttl_ms, 0, out, from_cache);
    /* lock=true: one loader per key across processes. Whoever waited re-reads the cache
     * first: the holder has usually stored the value by then. */
    cw__buf lk;
    cw__buf_init(&lk);
    int st = cw__key_suffix(&lk, x->key, ":lock");
    if (st) return st;
    int64_t lttl = f->lock_ttl_ms ? f->lock_ttl_ms : x->ttl_ms > 0 ? x->ttl_ms : 10000;
    cw_lock_guard g;
    cw_status ls = cw__func_lock(f, lk.p, lttl, &g);
    if (ls == CW_OK || ls == CW_ELOCKED) {
        int hit;
        st = cw__read(f, x->key, out, NULL, &hit);
        if (hit) {
            *from_cache = 1;
            goto done;
        }
    }
    /* Not taken after waiting (.lock_wait), or the cache failed: load anyway. */
    st = cw__load_store(f, x->args, x->nargs, x->key, x->ttl_ms, 0, out, from_cache);
done:
    if (ls == CW_OK) cw_lock_release(&g);
    cw__buf_free(&lk);
    return st;
}

int cw__simple_call(cw_func *f, const cw_arg *args, size_t nargs, cw_value *out, int *from_cache)
{
    cw__buf kb;
    cw__buf_init(&kb);
    int hit = 0;
    int st = cw__key(f, args, nargs, &kb);
    if (st) goto done;
    st = cw__read(f, kb.p, out, NULL, &hit);
    if (hit) {
        *from_cache = 1;
        cw__detect(f, kb.p, args, nargs, 1, st, out, 0);
        goto done;
    }
    if (st) goto done;
    simple_ctx x = { f, args, nargs, kb.p, 0 };
    if ((st = cw__ttl(f, args, nargs, &x.ttl_ms))) goto done;
    st = cw__single_flight(f, kb.p, simple_fill, &x, out, from_cache);
    cw__detect(f, kb.p, args, nargs, *from_cache, st, out, 0);
done:
    cw__buf_free(&kb);
    return st;
}

static int no_cache_call(cw_func *f, const cw_arg *args, size_t nargs, cw_value *out, int *from_cache)
{
    return cw__load(f, args, nargs, out, NULL, from_cache);
}

/* ---- creation ---- */

static cw_status parse_ms(cw_cache *c, const char *name, const char *what, const char *text,
                          int64_t *ms)
{
    if (!text) return CW_OK;
    if (cw_ttl_parse(text, ms) != CW_OK)
        return cw__fail(c, CW_EINVAL, "%s: %s \"%s\" is not a duration (\"90\", \"1.5\", \"10m\", \"250ms\")",
                        name, what, text);
    return CW_OK;
}

static cw_status copy_codes(const int *codes, size_t n, int **out)
{
    *out = NULL;
    if (!n) return CW_OK;
    *out = cw_malloc(n * sizeof **out);
    if (!*out) return CW_ENOMEM;
    memcpy(*out, codes, n * sizeof **out);
    return CW_OK;
}

/* Split "a, b,c" into names, checking each is an identifier and unique. */
static cw_status parse_argnames(cw_cache *c, const char *fname, const char *spec, cw_func *f)
{
    const char *p = spec;
    for (;;) {
        while (*p == ' ' || *p == '\t') p++;
        if (!*p) break;
        const char *s = p;
        while (*p && *p != ',' && *p != ' ' && *p != '\t') p++;
        size_t n = (size_t)(p - s);
        if (!n) return cw__fail(c, CW_EINVAL, "%s: empty argument name in \"%s\"", fname, spec);
        for (size_t i = 0; i < n; i++) {
            char ch = s[i];
            int ok = (ch >= 'a' && ch <= 'z') || (ch >= 'A' && ch <= 'Z') || ch == '_' || (i && ch >= '0' && ch <= '9');
            if (!ok) return cw__fail(c, CW_EINVAL, "%s: argument name \"%.*s\" is not an identifier", fname, (int)n, s);
        }
        for (size_t i = 0; i < f->nargs; i++)
            if (strlen(f->argn[i]) == n && memcmp(f->argn[i], s, n) == 0)
                return cw__fail(c, CW_EINVAL, "%s: argument \"%.*s\" named twice", fname, (int)n, s);
        char **na = cw_realloc(f->argn, (f->nargs + 1) * sizeof *na);
        if (!na) return CW_ENOMEM;
        f->argn = na;
        if (!(f->argn[f->nargs] = cw__strndup(s, n))) return CW_ENOMEM;
        f->nargs++;
        while (*p == ' ' || *p == '\t') p++;
        if (*p == ',') {
            p++;
            while (*p == ' ' || *p == '\t') p++;
            if (!*p) return cw__fail(c, CW_EINVAL, "%s: empty argument name in \"%s\"", fname, spec);
        } else if (*p) {
            return cw__fail(c, CW_EINVAL, "%s: bad argument list \"%s\"", fname, spec);
        }
    }
    return CW_OK;
}

/* The seed's default key template: NAME:arg:{arg}:... (braces in NAME escaped). */
static cw_status default_template(const cw_func *f, cw__buf *b)
{
    cw_status st = CW_OK;
    for (const char *p = f->name; *p && !st; p++) {
        if (*p == '{') st = cw__buf_puts(b, "{{");
        else if (*p == '}') st = cw__buf_puts(b, "}}");
        else st = cw__buf_put(b, p, 1);
    }
    for (size_t i = 0; i < f->nargs && !st; i++) {
        st = cw__buf_puts(b, ":");
        if (!st) st = cw__buf_puts(b, f->argn[i]);
        if (!st) st = cw__buf_puts(b, ":{");
        if (!st) st = cw__buf_puts(b, f->argn[i]);
        if (!st) st = cw__buf_puts(b, "}");
    }
    return st;
}

static int is_caching(cw_strategy s)
{
    return s == CW_SIMPLE || s == CW_FAILOVER || s == CW_HIT || s == CW_EARLY || s == CW_SOFT ||
           s == CW_ITERATOR;
}

static cw_status build(cw_func *f, const cw_func_options *o)
{
    cw_cache *c = f->c;
    cw_status st;
    f->strategy = o->strategy;
    f->sname = strategy_names[o->strategy];
    const char *name = o->name ? o->name : o->loader_name ? o->loader_name : o->wraps ? o->wraps->name : NULL;
    if (!(f->name = cw__strdup(name ? name : f->sname))) return CW_ENOMEM;
    const char *fname = f->name;

    /* The loader: a value loader, an iterator loader (iterator and locked functions), or
     * another function (.wraps) giving the same kind. */
    int may_iterate = o->strategy == CW_ITERATOR || o->strategy == CW_LOCKED;
    int nload = (o->loader != NULL) + (o->wraps != NULL) + (o->iter_loader != NULL);
    if (nload != 1)
        return cw__fail(c, CW_EINVAL, "%s: give exactly one of .loader%s and .wraps", fname,
                        may_iterate ? ", .iter_loader" : "");
    if (o->wraps && o->wraps->c != c)
        return cw__fail(c, CW_EINVAL, "%s: .wraps belongs to another cache", fname);
    f->iterable = o->iter_loader != NULL || (o->wraps && o->wraps->iterable);
    if (f->iterable && !may_iterate)
        return cw__fail(c, CW_EINVAL, "%s: only iterator and locked functions take an iterator (.iter_loader, or"
                        " .wraps of an iterator function)", fname);
    if (o->strategy == CW_ITERATOR && !f->iterable)
        return cw__fail(c, CW_EINVAL, "%s: an iterator function needs .iter_loader or an iterator function in .wraps",
                        fname);
    f->loader = o->loader;
    f->loader_ud = o->loader_ud;
    f->wraps = o->wraps;
    f->iter_loader = o->iter_loader;

    /* Arguments: given, or the wrapped function's. */
    if (o->args) {
        if ((st = parse_argnames(c, fname, o->args, f))) return st;
    } else if (o->wraps) {
        for (size_t i = 0; i < o->wraps->nargs; i++) {
            char **na = cw_realloc(f->argn, (f->nargs + 1) * sizeof *na);
            if (!na) return CW_ENOMEM;
            f->argn = na;
            if (!(f->argn[f->nargs] = cw__strdup(o->wraps->argn[i]))) return CW_ENOMEM;
            f->nargs++;
        }
    }
    if (o->wraps && f->nargs != o->wraps->nargs)
        return cw__fail(c, CW_EINVAL, "%s: takes %zu arguments but wraps %s, which takes %zu", fname,
                        f->nargs, o->wraps->name, o->wraps->nargs);

    /* Durations. */
    f->ttl_fn = o->ttl_fn;
    f->ttl_rfn = o->ttl_result_fn;
    f->ttl_ud = o->ttl_ud;
    if (o->ttl_fn && o->ttl_result_fn)
        return cw__fail(c, CW_EINVAL, "%s: give one of .ttl_fn and .ttl_result_fn", fname);
    if (!o->ttl_fn && !o->ttl_result_fn) {
        if (o->ttl_ms) {
            if (o->ttl_ms <= 0 && o->ttl_ms != CW_NO_EXPIRY)
                return cw__fail(c, CW_EINVAL, "%s: ttl_ms %lld (must be > 0 or CW_NO_EXPIRY)", fname, (long long)o->ttl_ms);
            f->ttl_ms = o->ttl_ms;
        } else if ((st = parse_ms(c, fname, "ttl", o->ttl, &f->ttl_ms))) {
            return st;
        }
    }
    int has_ttl = f->ttl_fn || f->ttl_rfn || f->ttl_ms, ttl_callback = f->ttl_fn || f->ttl_rfn;
    if (is_caching(o->strategy) && !has_ttl)
        return cw__fail(c, CW_EINVAL, "%s: a %s cache needs a TTL (.ttl, .ttl_ms, .ttl_fn or .ttl_result_fn)",
                        fname, f->sname);
    if ((st = parse_ms(c, fname, "time_condition", o->time_condition, &f->time_cond_ms)) ||
        (st = parse_ms(c, fname, "lock_ttl", o->lock_ttl, &f->lock_ttl_ms)) ||
        (st = parse_ms(c, fname, "lock_wait", o->lock_wait, &f->lock_wait_ms)) ||
        (st = parse_ms(c, fname, "lock_step", o->lock_step, &f->lock_step_ms)) ||
        (st = parse_ms(c, fname, "early_ttl", o->early_ttl, &f->early_ttl_ms)) ||
        (st = parse_ms(c, fname, "soft_ttl", o->soft_ttl, &f->soft_ttl_ms)) ||
        (st = parse_ms(c, fname, "period", o->period, &f->period_ms)) ||
        (st = parse_ms(c, fname, "half_open_ttl", o->half_open_ttl, &f->half_open_ms)))
        return st;

    /* Conditions. */
    if ((unsigned)o->condition > CW_COND_NOT_EMPTY)
        return cw__fail(c, CW_EINVAL, "%s: unknown condition %d", fname, (int)o->condition);
    f->cond = o->condition;
    f->cond_fn = o->condition_fn;
    f->cond_ud = o->condition_ud;
    if (o->ncache_errors && !o->cache_errors) return cw__fail(c, CW_EINVAL, "%s: cache_errors is NULL", fname);
    if (o->only_errors && !o->ncache_errors)
        return cw__fail(c, CW_EINVAL, "%s: only_errors needs cache_errors", fname);
    if ((st = copy_codes(o->cache_errors, o->ncache_errors, &f->cache_errors))) return st;
    f->ncache_errors = o->ncache_errors;
    f->only_errors = o->only_errors;
    f->lock = o->lock;
    /* A lock must expire (a holder that dies would block the key for good): the seed refuses
     * lock=True without a TTL; an explicit .lock_ttl gives the lock its own. */
    if (o->lock && f->ttl_ms == CW_NO_EXPIRY && !f->lock_ttl_ms)
        return cw__fail(c, CW_EINVAL, "%s: .lock needs an expiry: a TTL other than CW_NO_EXPIRY, or .lock_ttl",
                        fname);
    f->single_flight = !o->no_single_flight;
    f->codec = o->codec;
    if (o->codec >= 2 && o->codec < 128)
        return cw__fail(c, CW_EINVAL, "%s: codec %u is reserved", fname, (unsigned)o->codec);
    if (o->codec >= 128 && !atomic_load(&f->fx->codecs[o->codec]))
        return cw__fail(c, CW_EINVAL, "%s: codec %u is not registered", fname, (unsigned)o->codec);
    if (o->codec == CW__CODEC_ERROR) return cw__fail(c, CW_EINVAL, "%s: codec 1 is reserved", fname);

    /* Errors that trigger failover / soft fallback / circuit counting. */
    if (o->nerrors && !o->errors) return cw__fail(c, CW_EINVAL, "%s: errors is NULL", fname);
    if (o->nerrors) {
        if ((st = copy_codes(o->errors, o->nerrors, &f->errors))) return st;
        f->nerrors = o->nerrors;
    } else if (o->strategy == CW_FAILOVER || o->strategy == CW_CIRCUIT_BREAKER) {
        pthread_mutex_lock(&f->fx->mu);
        st = copy_codes(f->fx->fail_codes, f->fx->nfail, &f->errors);
        f->nerrors = f->fx->nfail;
        pthread_mutex_unlock(&f->fx->mu);
        if (st) return st;
    }

    /* Strategy parameters. */
    switch (o->strategy) {
    case CW_HIT:
        if (o->cache_hits <= 0) return cw__fail(c, CW_EINVAL, "%s: hit needs cache_hits > 0", fname);
        if (o->update_after < 0 || o->update_after > o->cache_hits)
            return cw__fail(c, CW_EINVAL, "%s: update_after must be within 0..cache_hits", fname);
        f->cache_hits = o->cache_hits;
        f->update_after = o->update_after;
        break;
    case CW_LOCKED:
        if (ttl_callback) return cw__fail(c, CW_EINVAL, "%s: locked takes a fixed TTL", fname);
        if (!f->ttl_ms || f->ttl_ms == CW_NO_EXPIRY) f->ttl_ms = 10000; /* the seed's max_lock_ttl */
        f->no_wait = o->no_wait;
        break;
    case CW_RATE_LIMIT:
    case CW_SLICE_RATE_LIMIT:
        if (o->limit <= 0) return cw__fail(c, CW_EINVAL, "%s: a rate limit needs limit > 0", fname);
        if (!f->period_ms) return cw__fail(c, CW_EINVAL, "%s: a rate limit needs a period", fname);
        if (ttl_callback) return cw__fail(c, CW_EINVAL, "%s: the ban takes a fixed TTL", fname);
        if (f->ttl_ms == CW_NO_EXPIRY) return cw__fail(c, CW_EINVAL, "%s: the ban needs a finite TTL", fname);
        /* The fixed window bans for .ttl, by default the period (the seed's ttl or period). */
        if (o->strategy == CW_RATE_LIMIT && !f->ttl_ms) f->ttl_ms = f->period_ms;
        f->limit = o->limit;
        f->action = o->action;
        f->action_ud = o->action_ud;
        break;
    case CW_CIRCUIT_BREAKER:
        if (o->errors_rate <= 0 || o->errors_rate >= 100)
            return cw__fail(c, CW_EINVAL, "%s: errors_rate must be within 1..99", fname);
        if (!f->period_ms) return cw__fail(c, CW_EINVAL, "%s: a circuit breaker needs a period", fname);
        if (ttl_callback || !f->ttl_ms || f->ttl_ms == CW_NO_EXPIRY)
            return cw__fail(c, CW_EINVAL, "%s: a circuit breaker needs a fixed, finite TTL", fname);
        if (o->min_calls < 0) return cw__fail(c, CW_EINVAL, "%s: min_calls < 0", fname);
        if (o->half_open_pct < 0 || o->half_open_pct > 100)
            return cw__fail(c, CW_EINVAL, "%s: half_open_pct must be within 0..100", fname);
        f->errors_rate = o->errors_rate;
        f->min_calls = o->min_calls ? o->min_calls : 1;
        {
            int pct = o->half_open_pct ? o->half_open_pct : 10;
            f->half_open_every = (100 + pct - 1) / pct;
        }
        break;
    default:
        break;
    }

    /* Keys: the template (given or default), then the prefix. */
    cw__buf tb;
    cw__buf_init(&tb);
    const char *prefix = o->prefix ? o->prefix : default_prefix[o->strategy];
    st = o->key ? cw__buf_puts(&tb, o->key) : default_template(f, &tb);
    if (!st) st = cw__tmpl_parse(f->fx, tb.p, f->argn, f->nargs, 0, &f->bare);
    if (!st && *prefix) {
        cw__buf pb;
        cw__buf_init(&pb);
        for (const char *p = prefix; *p && !st; p++)
            st = *p == '{' ? cw__buf_puts(&pb, "{{") : *p == '}' ? cw__buf_puts(&pb, "}}") : cw__buf_put(&pb, p, 1);
        if (!st) st = cw__buf_puts(&pb, ":");
        if (!st) st = cw__buf_put(&pb, tb.p, tb.len);
        if (!st) st = cw__tmpl_parse(f->fx, pb.p, f->argn, f->nargs, 0, &f->key);
        cw__buf_free(&pb);
    } else if (!st) {
        st = cw__tmpl_parse(f->fx, tb.p, f->argn, f->nargs, 0, &f->key);
    }
    cw__buf_free(&tb);
    if (st) return st;

    /* Tags: parsed against the arguments, and registered with the key template. */
    if (o->ntags && !o->tags) return cw__fail(c, CW_EINVAL, "%s: tags is NULL", fname);
    if (o->ntags) {
        if (!(f->tags = cw_calloc(o->ntags, sizeof *f->tags))) return CW_ENOMEM;
        for (size_t i = 0; i < o->ntags; i++) {
            if ((st = cw__tmpl_parse(f->fx, o->tags[i], f->argn, f->nargs, 0, &f->tags[i]))) return st;
            f->ntags++;
            if (!f->tags[i].nsegs) return cw__fail(c, CW_EINVAL, "%s: tag %zu is empty", fname, i);
            if ((st = cw_register_tag(c, o->tags[i], f->key.src))) return st;
        }
    }
    if ((st = cw__invalidate_setup(f, o))) return st;
    if (o->strategy == CW_BLOOM && (st = cw__bloom_setup(f, o))) return st;
    return CW_OK;
}

cw_status cw_func_new(cw_func **out, cw_cache *c, const cw_func_options *o)
{
    if (!out) return CW_EINVAL;
    *out = NULL;
    if (!c) return CW_EINVAL;
    if (!o) return cw__fail(c, CW_EINVAL, "cached function options are NULL");
    if ((unsigned)o->strategy > CW_NO_CACHE) return cw__fail(c, CW_EINVAL, "unknown strategy %d", (int)o->strategy);
    cw__funcs *fx = cw__funcs_of(c, 1);
    if (!fx) return cw__fail(c, CW_ENOMEM, "out of memory");
    cw_func *f = cw_calloc(1, sizeof *f);
    if (!f) return cw__fail(c, CW_ENOMEM, "out of memory");
    f->c = c;
    f->fx = fx;
    if (pthread_mutex_init(&f->sf_mu, NULL) != 0) { cw_free(f); return cw__fail(c, CW_ENOMEM, "cannot create a mutex"); }
    if (pthread_cond_init(&f->sf_cv, NULL) != 0) {
        pthread_mutex_destroy(&f->sf_mu);
        cw_free(f);
        return cw__fail(c, CW_ENOMEM, "cannot create a condition variable");
    }
    cw_status st = build(f, o);
    if (st) {
        if (st == CW_ENOMEM) cw__fail(c, st, "out of memory creating a cached function");
        cw_func_free(f);
        return st;
    }
    *out = f;
    return CW_OK;
}

cw_func *cw_func_make(cw_cache *c, const cw_func_options *o)
{
    cw_func *f = NULL;
    return cw_func_new(&f, c, o) == CW_OK ? f : NULL;
}

void cw_func_free(cw_func *f)
{
    if (!f) return;
    cw__pool_forget(f->fx, f);
    cw_free(f->name);
    for (size_t i = 0; i < f->nargs; i++) cw_free(f->argn[i]);
    cw_free(f->argn);
    cw__tmpl_free(&f->key);
    cw__tmpl_free(&f->bare);
    for (size_t i = 0; i < f->ntags; i++) cw__tmpl_free(&f->tags[i]);
    cw_free(f->tags);
    cw__invalidate_free(f);
    cw_free(f->cache_errors);
    cw_free(f->errors);
    cw_free(f->bloom_key);
    while (f->flights) { cw__flight *n = f->flights->next; flight_free(f->flights); f->flights = n; }
    pthread_cond_destroy(&f->sf_cv);
    pthread_mutex_destroy(&f->sf_mu);
    cw_free(f);
}

/* ---- calls ---- */

static int check_call(cw_func *f, const cw_arg *args, size_t nargs)
{
    if (nargs != f->nargs)
        return cw__fail(f->c, CW_EINVAL, "%s takes %zu arguments, got %zu", f->name, f->nargs, nargs);
    if (nargs && !args) return cw__fail(f->c, CW_EINVAL, "%s: args is NULL", f->name);
    return CW_OK;
}

/* Dispatch a checked call; *from_cache as for the strategies. */
static CW__ALWAYS_INLINE int call_func(cw_func *f, const cw_arg *args, size_t nargs, cw_value *out,
                                       int *from_cache)
{
    int st;
    *from_cache = 0;
    if (f->iterable) return cw__fail(f->c, CW_EINVAL, "%s is an iterator: call cw_func_iterate()", f->name);
    switch (f->strategy) {
    case CW_SIMPLE: st = cw__simple_call(f, args, nargs, out, from_cache); break;
    case CW_FAILOVER: st = cw__failover_call(f, args, nargs, out, from_cache); break;
    case CW_HIT: st = cw__hit_call(f, args, nargs, out, from_cache); break;
    case CW_EARLY: st = cw__early_call(f, args, nargs, out, from_cache); break;
    case CW_SOFT: st = cw__soft_call(f, args, nargs, out, from_cache); break;
    case CW_LOCKED: st = cw__locked_call(f, args, nargs, out, from_cache); break;
    case CW_RATE_LIMIT: st = cw__rate_limit_call(f, args, nargs, out, from_cache); break;
    case CW_SLICE_RATE_LIMIT: st = cw__slice_rate_limit_call(f, args, nargs, out, from_cache); break;
    case CW_CIRCUIT_BREAKER: st = cw__circuit_call(f, args, nargs, out, from_cache); break;
    case CW_BLOOM: st = cw__bloom_call(f, args, nargs, out, from_cache); break;
    case CW_NO_CACHE: st = no_cache_call(f, args, nargs, out, from_cache); break;
    default:
        return cw__fail(f->c, CW_EINVAL, "%s is an iterator: call cw_func_iterate()", f->name);
    }
    if (st == CW_OK && f->ninval) cw__run_invalidate(f, args, nargs);
    return st;
}

int cw_func_call(cw_func *f, const cw_arg *args, size_t nargs, cw_value *out)
{
    if (!f) return CW_EINVAL;
    if (!out) return cw__fail(f->c, CW_EINVAL, "%s: out is NULL", f->name);
    int st = check_call(f, args, nargs);
    if (st) return st;
    int from_cache;
    return call_func(f, args, nargs, out, &from_cache);
}

int cw_func_iterate(cw_func *f, const cw_arg *args, size_t nargs, cw_chunk_fn fn, void *ud)
{
    if (!f) return CW_EINVAL;
    if (!f->iterable) return cw__fail(f->c, CW_EINVAL, "%s is not an iterator function", f->name);
    if (!fn) return cw__fail(f->c, CW_EINVAL, "%s: chunk callback is NULL", f->name);
    int st = check_call(f, args, nargs);
    if (st) return st;
    st = f->strategy == CW_LOCKED ? cw__locked_iterate(f, args, nargs, fn, ud)
                                  : cw__iterator_replay_or_load(f, args, nargs, fn, ud);
    if (st == CW_OK && f->ninval) cw__run_invalidate(f, args, nargs);
    return st;
}

int cw_func_loader(void *ud, const cw_arg *args, size_t nargs, cw_value *out)
{
    return cw_func_call(ud, args, nargs, out);
}

cw_status cw_func_key(cw_func *f, const cw_arg *args, size_t nargs, cw_value *key)
{
    if (!f || !key) return CW_EINVAL;
    cw_status st = check_call(f, args, nargs);
    if (st) return st;
    cw__buf kb;
    cw__buf_init(&kb);
    st = cw__key(f, args, nargs, &kb);
    if (!st) st = cw_value_set(key, kb.p, kb.len);
    cw__buf_free(&kb);
    return st;
}

const char *cw_func_template(const cw_func *f)
{
    return f ? f->key.src : "";
}

cw_status cw_func_invalidate(cw_func *f, const cw_arg *args, size_t nargs)
{
    if (!f) return CW_EINVAL;
    cw_status st = check_call(f, args, nargs);
    if (st) return st;
    cw__buf kb, sk;
    cw__buf_init(&kb);
    cw__buf_init(&sk);
    st = cw__key(f, args, nargs, &kb);
    if (!st) {
        st = cw_delete(f->c, kb.p);
        if (st == CW_NOTFOUND) st = CW_OK;
        if (!st && f->strategy == CW_HIT && !(st = cw__key_suffix(&sk, kb.p, ":counter"))) {
            st = cw_delete(f->c, sk.p);
            if (st == CW_NOTFOUND) st = CW_OK;
        }
    }
    cw__buf_free(&kb);
    cw__buf_free(&sk);
    return st;
}
