/*
 * context.c - thread scopes of cached functions: key context (the seed's key_context()),
 * invalidate_further and detect. The seed keeps them in contextvars; here each thread has a
 * stack of scopes, each entry tagged with its cache, so one thread can hold scopes on several
 * caches. The cache's cw__funcs counts the scopes open over all threads, so that a call
 * skips the thread-local walk entirely when none is open (the hit path of W4).
 */
#include <string.h>

#include "strategies/strategy.h"

#define MAX_SCOPES 32

enum { SCOPE_KEYCTX = 1, SCOPE_FURTHER = 2, SCOPE_DETECT = 3 };

/* The names and values of one key-context scope, in one allocation. */
typedef struct kv_block {
    size_t n;
    const char **names;
    const char **values;
    size_t *nlens, *vlens;
} kv_block;

typedef struct scope {
    const cw_cache *c;
    cw__funcs *fx;
    int kind;
    void *p; /* kv_block (owned) or cw_detector (borrowed) */
} scope;

static _Thread_local struct {
    scope s[MAX_SCOPES];
    int n;
} tls;

static cw_status push(cw_cache *c, int kind, void *p)
{
    if (!c) return CW_EINVAL;
    cw__funcs *fx = cw__funcs_of(c, 1);
    if (!fx) return cw__fail(c, CW_ENOMEM, "out of memory");
    if (tls.n >= MAX_SCOPES)
        return cw__fail(c, CW_ENOMEM, "more than %d nested cached-function scopes on this thread", MAX_SCOPES);
    tls.s[tls.n++] = (scope){ c, fx, kind, p };
    atomic_fetch_add(&fx->nscopes, 1);
    return CW_OK;
}

static cw_status pop(cw_cache *c, int kind, void **p)
{
    if (!c) return CW_EINVAL;
    for (int i = tls.n - 1; i >= 0; i--) {
        if (tls.s[i].c != c || tls.s[i].kind != kind) continue;
        if (p) *p = tls.s[i].p;
        atomic_fetch_sub(&tls.s[i].fx->nscopes, 1);
        for (int j = i; j + 1 < tls.n; j++) tls.s[j] = tls.s[j + 1];
        tls.n--;
        return CW_OK;
    }
    static const char *const what[] = { "", "key context", "invalidate_further", "detect" };
    return cw__fail(c, CW_ESTATE, "no open %s scope on this thread", what[kind]);
}

/* ---- key context ---- */

cw_status cw_key_context_begin(cw_cache *c, size_t n, const char *const *names,
                               const char *const *values)
{
    if (!c) return CW_EINVAL;
    if (n && (!names || !values)) return cw__fail(c, CW_EINVAL, "names or values is NULL");
    size_t bytes = sizeof(kv_block) + n * (2 * sizeof(char *) + 2 * sizeof(size_t));
    for (size_t i = 0; i < n; i++) {
        if (!names[i] || !*names[i]) return cw__fail(c, CW_EINVAL, "key context name %zu is empty", i);
        bytes += strlen(names[i]) + 1 + (values[i] ? strlen(values[i]) : 0) + 1;
    }
    kv_block *kv = cw_malloc(bytes);
    if (!kv) return cw__fail(c, CW_ENOMEM, "out of memory");
    kv->n = n;
    kv->names = (const char **)(kv + 1);
    kv->values = kv->names + n;
    kv->nlens = (size_t *)(kv->values + n);
    kv->vlens = kv->nlens + n;
    char *w = (char *)(kv->vlens + n);
    for (size_t i = 0; i < n; i++) {
        size_t nl = strlen(names[i]), vl = values[i] ? strlen(values[i]) : 0;
        memcpy(w, names[i], nl + 1);
        kv->names[i] = w;
        kv->nlens[i] = nl;
        w += nl + 1;
        if (vl) memcpy(w, values[i], vl);
        w[vl] = 0;
        kv->values[i] = w;
        kv->vlens[i] = vl;
        w += vl + 1;
    }
    cw_status st = push(c, SCOPE_KEYCTX, kv);
    if (st) cw_free(kv);
    return st;
}

cw_status cw_key_context_end(cw_cache *c)
{
    void *p = NULL;
    cw_status st = pop(c, SCOPE_KEYCTX, &p);
    cw_free(p);
    return st;
}

const char *cw__key_context_get(const cw_cache *c, const char *name, size_t nlen, size_t *vlen)
{
    for (int i = tls.n - 1; i >= 0; i--) {
        if (tls.s[i].c != c || tls.s[i].kind != SCOPE_KEYCTX) continue;
        const kv_block *kv = tls.s[i].p;
        for (size_t j = kv->n; j-- > 0;) {
            if (kv->nlens[j] == nlen && memcmp(kv->names[j], name, nlen) == 0) {
                *vlen = kv->vlens[j];
                return kv->values[j];
            }
        }
    }
    return NULL;
}

/* ---- invalidate_further ---- */

cw_status cw_invalidate_further_begin(cw_cache *c) { return push(c, SCOPE_FURTHER, NULL); }
cw_status cw_invalidate_further_end(cw_cache *c) { return pop(c, SCOPE_FURTHER, NULL); }

int cw__invalidating_further(const cw_cache *c)
{
    for (int i = tls.n - 1; i >= 0; i--)
        if (tls.s[i].c == c && tls.s[i].kind == SCOPE_FURTHER) return 1;
    return 0;
}

/* ---- detect ---- */

cw_status cw_detect_begin(cw_cache *c, cw_detector *d)
{
    if (!c) return CW_EINVAL;
    if (!d) return cw__fail(c, CW_EINVAL, "detector is NULL");
    return push(c, SCOPE_DETECT, d);
}

cw_status cw_detect_end(cw_cache *c) { return pop(c, SCOPE_DETECT, NULL); }

/* Free what a recorded call owns. */
static void call_free(cw_detect_call *call)
{
    cw_free(call->key);
    cw_free(call->key_template);
    cw_value_free(&call->value);
}

void cw__detect_record(const cw_cache *c, const cw_detect_call *call)
{
    const char *backend = NULL;
    for (int i = 0; i < tls.n; i++) {
        if (tls.s[i].c != c || tls.s[i].kind != SCOPE_DETECT) continue;
        cw_detector *d = tls.s[i].p;
        if (d->ncalls == d->cap) {
            size_t nc = d->cap ? d->cap * 2 : 8;
            cw_detect_call *n = cw_realloc(d->calls, nc * sizeof *n);
            if (!n) continue; /* a detector is best effort: never fail the call */
            d->calls = n;
            d->cap = nc;
        }
        if (!backend) backend = cw__backend_scheme((cw_cache *)c, call->key);
        cw_detect_call r = *call;
        r.backend = backend;
        r.key = cw__strdup(call->key);
        r.key_template = cw__strdup(call->key_template);
        memset(&r.value, 0, sizeof r.value);
        if (!r.key || !r.key_template || (call->value.data && cw_value_set(&r.value, call->value.data, call->value.len))) {
            call_free(&r);
            continue;
        }
        d->calls[d->ncalls++] = r;
    }
}

const cw_detect_call *cw_detector_first_hit(const cw_detector *d)
{
    if (!d) return NULL;
    for (size_t i = 0; i < d->ncalls; i++)
        if (d->calls[i].from_cache) return &d->calls[i];
    return NULL;
}

void cw_detector_free(cw_detector *d)
{
    if (!d) return;
    for (size_t i = 0; i < d->ncalls; i++) call_free(&d->calls[i]);
    cw_free(d->calls);
    memset(d, 0, sizeof *d);
}
