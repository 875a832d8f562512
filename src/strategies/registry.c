/*
 * registry.c - the per-cache state of cached functions (cw__funcs): user formatters, type
 * formatters, codecs, the tag registry, key-context names, the default fail errors and the
 * background pool.
 *
 * The state hangs off the cache, not a global: it is created on first use and registered as
 * one of the cache's close hooks, whose ud is the state. Finding it again means finding that
 * hook, under the cache's setup lock, so two threads racing to create it get the same one.
 * Only registrations and creations look it up; calls use the pointer their cw_func keeps.
 *
 * Lookups that calls make (formatters while formatting keys, codecs while decoding) read
 * lock-free: lists only grow at the front and codec slots are atomic pointers, and nothing
 * is freed before the cache closes.
 */
#include <string.h>

#include "strategies/strategy.h"

char *cw__strndup(const char *s, size_t n)
{
    char *d = cw_malloc(n + 1);
    if (!d) return NULL;
    memcpy(d, s, n);
    d[n] = 0;
    return d;
}

char *cw__strdup(const char *s)
{
    return s ? cw__strndup(s, strlen(s)) : NULL;
}

static void funcs_close(void *ud)
{
    cw__funcs *fx = ud;
    cw__cache_on_remove(fx->c, NULL, NULL); /* the tag registry goes */
    cw__pool_stop(&fx->pool);
    for (cw__ufmt *u = atomic_load(&fx->fmts), *n; u; u = n) {
        n = u->next;
        cw_free(u->name);
        cw_free(u);
    }
    for (cw__tfmt *t = atomic_load(&fx->tfmts), *n; t; t = n) {
        n = t->next;
        cw_free(t);
    }
    for (cw__tagreg *t = atomic_load(&fx->tags), *n; t; t = n) {
        n = atomic_load(&t->next);
        cw__tmpl_free(&t->tag);
        cw__tmpl_free(&t->key);
        cw_free(t);
    }
    for (int i = 0; i < 256; i++) {
        cw__codec_ent *e = atomic_load(&fx->codecs[i]);
        if (e) { cw_free(e->name); cw_free(e); }
    }
    for (cw__codec_ent *e = fx->retired_codecs, *n; e; e = n) {
        n = e->next;
        cw_free(e->name);
        cw_free(e);
    }
    for (size_t i = 0; i < fx->nctx; i++) cw_free(fx->ctx_names[i]);
    cw_free(fx->ctx_names);
    cw_free(fx->fail_codes);
    pthread_mutex_destroy(&fx->mu);
    cw_free(fx);
}

static void *funcs_create(cw_cache *c)
{
    cw__funcs *fx = cw_calloc(1, sizeof *fx);
    if (fx && pthread_mutex_init(&fx->mu, NULL) != 0) { cw_free(fx); fx = NULL; }
    if (fx) {
        fx->c = c;
        cw__pool_init(&fx->pool);
    }
    return fx;
}

cw__funcs *cw__funcs_of(cw_cache *c, int create)
{
    return cw__cache_ext(c, funcs_close, create ? funcs_create : NULL);
}

const char *cw__backend_scheme(cw_cache *c, const char *key)
{
    return cw__backend_scheme_for(c, key, strlen(key));
}

static int valid_name(const char *s)
{
    if (!s || !*s) return 0;
    for (const char *p = s; *p; p++) {
        int ok = (*p >= 'a' && *p <= 'z') || (*p >= 'A' && *p <= 'Z') || *p == '_' ||
                 (p != s && *p >= '0' && *p <= '9');
        if (!ok) return 0;
    }
    return 1;
}

static cw__funcs *get_fx(cw_cache *c)
{
    cw__funcs *fx = cw__funcs_of(c, 1);
    if (!fx && c) cw__fail(c, CW_ENOMEM, "out of memory creating the cached-function state");
    return fx;
}

cw_status cw_register_formatter(cw_cache *c, const char *name, size_t min_args, size_t max_args,
                                cw_formatter_fn fn, void *ud)
{
    if (!c) return CW_EINVAL;
    if (!valid_name(name)) return cw__fail(c, CW_EINVAL, "formatter name \"%s\" is not an identifier", name ? name : "(null)");
    if (!fn) return cw__fail(c, CW_EINVAL, "formatter \"%s\": function is NULL", name);
    if (min_args > max_args) return cw__fail(c, CW_EINVAL, "formatter \"%s\": min_args > max_args", name);
    cw__funcs *fx = get_fx(c);
    if (!fx) return CW_ENOMEM;
    cw__ufmt *u = cw_calloc(1, sizeof *u);
    if (!u || !(u->name = cw__strdup(name))) { cw_free(u); return cw__fail(c, CW_ENOMEM, "out of memory"); }
    u->min_args = min_args;
    u->max_args = max_args;
    u->fn = fn;
    u->ud = ud;
    /* Newest first: a later registration of a name wins for templates parsed afterwards;
     * templates parsed before keep the entry they resolved. */
    pthread_mutex_lock(&fx->mu);
    u->next = atomic_load(&fx->fmts);
    atomic_store(&fx->fmts, u);
    pthread_mutex_unlock(&fx->mu);
    return CW_OK;
}

cw_status cw_register_type_formatter(cw_cache *c, cw_arg_type type, const cw_arg_class *klass,
                                     cw_type_formatter_fn fn, void *ud)
{
    if (!c) return CW_EINVAL;
    if ((unsigned)type > CW_T_OBJ) return cw__fail(c, CW_EINVAL, "unknown argument type %d", (int)type);
    if (!fn) return cw__fail(c, CW_EINVAL, "type formatter is NULL");
    cw__funcs *fx = get_fx(c);
    if (!fx) return CW_ENOMEM;
    cw__tfmt *t = cw_calloc(1, sizeof *t);
    if (!t) return cw__fail(c, CW_ENOMEM, "out of memory");
    *t = (cw__tfmt){ NULL, type, type == CW_T_OBJ ? klass : NULL, fn, ud };
    pthread_mutex_lock(&fx->mu);
    t->next = atomic_load(&fx->tfmts);
    atomic_store(&fx->tfmts, t);
    pthread_mutex_unlock(&fx->mu);
    return CW_OK;
}

cw_status cw_register_key_context(cw_cache *c, const char *name)
{
    if (!c) return CW_EINVAL;
    if (!valid_name(name)) return cw__fail(c, CW_EINVAL, "key context name \"%s\" is not an identifier", name ? name : "(null)");
    cw__funcs *fx = get_fx(c);
    if (!fx) return CW_ENOMEM;
    cw_status st = CW_OK;
    pthread_mutex_lock(&fx->mu);
    int known = 0;
    for (size_t i = 0; i < fx->nctx; i++) if (strcmp(fx->ctx_names[i], name) == 0) known = 1;
    if (!known) {
        char **n = cw_realloc(fx->ctx_names, (fx->nctx + 1) * sizeof *n);
        char *copy = n ? cw__strdup(name) : NULL;
        if (n) fx->ctx_names = n;
        if (copy) fx->ctx_names[fx->nctx++] = copy;
        else st = CW_ENOMEM;
    }
    pthread_mutex_unlock(&fx->mu);
    return st ? cw__fail(c, st, "out of memory") : CW_OK;
}

cw_status cw_register_codec(cw_cache *c, uint8_t id, const cw_codec *codec)
{
    if (!c) return CW_EINVAL;
    if (id < 128) return cw__fail(c, CW_EINVAL, "codec id %u: user codecs use 128..255", (unsigned)id);
    if (!codec || !codec->encode || !codec->decode)
        return cw__fail(c, CW_EINVAL, "codec %u needs encode and decode", (unsigned)id);
    cw__funcs *fx = get_fx(c);
    if (!fx) return CW_ENOMEM;
    cw__codec_ent *e = cw_calloc(1, sizeof *e);
    if (!e) return cw__fail(c, CW_ENOMEM, "out of memory");
    e->codec = *codec;
    e->name = cw__strdup(codec->name ? codec->name : "");
    if (!e->name) { cw_free(e); return cw__fail(c, CW_ENOMEM, "out of memory"); }
    e->codec.name = e->name;
    pthread_mutex_lock(&fx->mu);
    /* A replaced entry may be in use by a concurrent decode: retire it until close. */
    cw__codec_ent *old = atomic_exchange(&fx->codecs[id], e);
    if (old) { old->next = fx->retired_codecs; fx->retired_codecs = old; }
    pthread_mutex_unlock(&fx->mu);
    return CW_OK;
}

cw_status cw_set_default_fail_errors(cw_cache *c, const int *codes, size_t n)
{
    if (!c) return CW_EINVAL;
    if (n && !codes) return cw__fail(c, CW_EINVAL, "codes is NULL with n = %zu", n);
    cw__funcs *fx = get_fx(c);
    if (!fx) return CW_ENOMEM;
    int *copy = NULL;
    if (n) {
        copy = cw_malloc(n * sizeof *copy);
        if (!copy) return cw__fail(c, CW_ENOMEM, "out of memory");
        memcpy(copy, codes, n * sizeof *copy);
    }
    pthread_mutex_lock(&fx->mu);
    cw_free(fx->fail_codes);
    fx->fail_codes = copy;
    fx->nfail = n;
    pthread_mutex_unlock(&fx->mu);
    return CW_OK;
}
