/*
 * tags.c - tags and invalidation.
 *
 * A tagged key is a member of the set CW__TAG_PREFIX + tag (the core adds it when a value is
 * stored with tags), so deleting a tag pops that set in batches and deletes what it held: no
 * scan, on whichever backend each key lives.
 *
 * The registry says which tags a key may carry, as the seed's register_tag: a pair of a tag
 * template ("page:{page}") and a key template ("items:{page}"). A key matches a key template
 * when its literal parts match in order, each field taking any text (the longest that lets
 * the rest match, as the seed's greedy regular expression); the tag is then the tag template
 * filled with the fields the key gave.
 */
#include <string.h>

#include "strategies/strategy.h"

#define POP_BATCH 100

/* ---- registry ---- */

typedef struct capture {
    const char *s;
    size_t n;
} capture;

/* Match key[pos..] against segments i.. of t; caps[i] receives field texts. */
static int match_from(const cw__tmpl *t, size_t i, const char *key, size_t klen, size_t pos, capture *caps)
{
    if (i == t->nsegs) return pos == klen;
    const cw__seg *s = &t->segs[i];
    if (s->kind == CW__SEG_LIT) {
        if (klen - pos < s->tlen || memcmp(key + pos, s->text, s->tlen) != 0) return 0;
        return match_from(t, i + 1, key, klen, pos + s->tlen, caps);
    }
    for (size_t end = klen + 1; end-- > pos;) {
        caps[i] = (capture){ key + pos, end - pos };
        if (match_from(t, i + 1, key, klen, end, caps)) return 1;
    }
    return 0;
}

typedef struct cap_ctx {
    const cw__tmpl *key;
    const capture *caps;
} cap_ctx;

static cw_status cap_lookup(void *ud, const char *name, size_t nlen, cw__buf *out)
{
    cap_ctx *x = ud;
    for (size_t i = 0; i < x->key->nsegs; i++) {
        const cw__seg *s = &x->key->segs[i];
        if (s->kind != CW__SEG_LIT && s->tlen == nlen && memcmp(s->text, name, nlen) == 0)
            return cw__buf_put(out, x->caps[i].s, x->caps[i].n);
    }
    return CW_NOTFOUND;
}

/* For each registry entry matching key: fn(tag). Stops when fn returns non-zero. */
typedef int (*tag_fn)(void *ud, const char *tag, size_t len);

static cw_status each_key_tag(cw__funcs *fx, const char *key, tag_fn fn, void *ud)
{
    size_t klen = strlen(key);
    for (const cw__tagreg *r = atomic_load_explicit(&fx->tags, memory_order_acquire); r; r = r->next) {
        capture stack[16];
        capture *caps = r->key.nsegs <= 16 ? stack : cw_calloc(r->key.nsegs, sizeof *caps);
        if (!caps) return CW_ENOMEM;
        cw_status st = CW_OK;
        int stop = 0;
        if (match_from(&r->key, 0, key, klen, 0, caps)) {
            cw__buf tb;
            cw__buf_init(&tb);
            cap_ctx x = { &r->key, caps };
            st = cw__tmpl_format_free(fx, &r->tag, cap_lookup, &x, &tb);
            if (!st) stop = fn(ud, tb.p, tb.len);
            cw__buf_free(&tb);
        }
        if (caps != stack) cw_free(caps);
        if (st) return st;
        if (stop) break;
    }
    return CW_OK;
}

cw_status cw_register_tag(cw_cache *c, const char *tag, const char *key_template)
{
    if (!c) return CW_EINVAL;
    if (!tag || !*tag || !key_template || !*key_template)
        return cw__fail(c, CW_EINVAL, "register_tag needs a tag and a key template");
    cw__funcs *fx = cw__funcs_of(c, 1);
    if (!fx) return cw__fail(c, CW_ENOMEM, "out of memory");
    /* Already registered (a cached function created again): nothing to add. */
    for (const cw__tagreg *r = atomic_load(&fx->tags); r; r = r->next)
        if (strcmp(r->tag.src, tag) == 0 && strcmp(r->key.src, key_template) == 0) return CW_OK;
    cw__tagreg *r = cw_calloc(1, sizeof *r);
    if (!r) return cw__fail(c, CW_ENOMEM, "out of memory");
    cw_status st = cw__tmpl_parse(fx, tag, NULL, 0, 1, &r->tag);
    if (!st) st = cw__tmpl_parse(fx, key_template, NULL, 0, 1, &r->key);
    for (size_t i = 0; !st && i < r->tag.nsegs; i++)
        if (r->tag.segs[i].path) st = cw__fail(c, CW_EINVAL, "tag \"%s\": fields of tags cannot have paths", tag);
    if (st) {
        cw__tmpl_free(&r->tag);
        cw__tmpl_free(&r->key);
        cw_free(r);
        return st;
    }
    pthread_mutex_lock(&fx->mu);
    r->next = atomic_load(&fx->tags);
    atomic_store(&fx->tags, r);
    pthread_mutex_unlock(&fx->mu);
    return CW_OK;
}

typedef struct find_ctx {
    const char *want;
    size_t wlen;
    int found;
} find_ctx;

static int find_tag(void *ud, const char *tag, size_t len)
{
    find_ctx *x = ud;
    x->found = len == x->wlen && memcmp(tag, x->want, len) == 0;
    return x->found;
}

cw_status cw_check_tags(cw_cache *c, const char *key, const char *const *tags, size_t n)
{
    if (!c) return CW_EINVAL;
    if (!key || (n && !tags)) return cw__fail(c, CW_EINVAL, "key or tags is NULL");
    cw__funcs *fx = cw__funcs_of(c, 1);
    if (!fx) return cw__fail(c, CW_ENOMEM, "out of memory");
    for (size_t i = 0; i < n; i++) {
        if (!tags[i]) return cw__fail(c, CW_EINVAL, "tag %zu is NULL", i);
        find_ctx x = { tags[i], strlen(tags[i]), 0 };
        cw_status st = each_key_tag(fx, key, find_tag, &x);
        if (st) return st;
        if (!x.found)
            return cw__fail(c, CW_EINVAL, "tag \"%s\" is not registered for key \"%s\": call cw_register_tag() first",
                            tags[i], key);
    }
    return CW_OK;
}

typedef struct pass_ctx {
    cw_scan_fn fn;
    void *ud;
} pass_ctx;

static int pass_tag(void *ud, const char *tag, size_t len)
{
    pass_ctx *x = ud;
    return x->fn(x->ud, tag, len, NULL, 0);
}

cw_status cw_get_key_tags(cw_cache *c, const char *key, cw_scan_fn fn, void *ud)
{
    if (!c) return CW_EINVAL;
    if (!key || !fn) return cw__fail(c, CW_EINVAL, "key or callback is NULL");
    cw__funcs *fx = cw__funcs_of(c, 1);
    if (!fx) return cw__fail(c, CW_ENOMEM, "out of memory");
    pass_ctx x = { fn, ud };
    return each_key_tag(fx, key, pass_tag, &x);
}

/* ---- delete_tags ---- */

typedef struct popped {
    char *keys[POP_BATCH];
    size_t n;
    int oom;
} popped;

static int collect(void *ud, const char *key, size_t klen, const void *val, size_t vlen)
{
    popped *p = ud;
    if (p->n == POP_BATCH) return 1;
    char *k = cw__strndup(key, klen);
    if (!k) { p->oom = 1; return 1; }
    p->keys[p->n++] = k;
    return 0;
}

cw_status cw_delete_tags(cw_cache *c, const char *const *tags, size_t n, uint64_t *deleted)
{
    if (!c) return CW_EINVAL;
    if (n && !tags) return cw__fail(c, CW_EINVAL, "tags is NULL");
    uint64_t total = 0;
    cw_status st = CW_OK;
    cw__buf tk;
    cw__buf_init(&tk);
    for (size_t i = 0; i < n && !st; i++) {
        if (!tags[i] || !*tags[i]) { st = cw__fail(c, CW_EINVAL, "tag %zu is NULL or empty", i); break; }
        tk.len = 0;
        if ((st = cw__key_suffix(&tk, CW__TAG_PREFIX, tags[i]))) break;
        for (;;) {
            popped p = { .n = 0 };
            size_t got = 0;
            st = cw_set_pop(c, tk.p, POP_BATCH, collect, &p, &got);
            if (st == CW_NOTFOUND) st = CW_OK;
            if (!st && p.oom) st = cw__fail(c, CW_ENOMEM, "out of memory");
            uint64_t d = 0;
            if (!st && p.n) st = cw_delete_many(c, p.n, (const char *const *)p.keys, &d);
            total += d;
            for (size_t j = 0; j < p.n; j++) cw_free(p.keys[j]);
            if (st || p.n == 0) break;
        }
    }
    cw__buf_free(&tk);
    if (deleted) *deleted = total;
    return st;
}

/* ---- invalidate after a call ---- */

cw_status cw__run_invalidate(cw_func *f, const cw_arg *args, size_t nargs)
{
    cw_status first = CW_OK;
    for (size_t i = 0; i < f->ninval; i++) {
        const cw__tmpl *t = &f->inval[i];
        cw__buf b;
        cw__buf_init(&b);
        /* Patterns escape the glob characters of argument values; plain keys stay plain. */
        cw_status st = cw__tmpl_format(f->fx, t, args, nargs, t->has_glob, &b);
        if (!st) {
            st = t->has_glob ? cw_delete_match(f->c, b.p, NULL) : cw_delete(f->c, b.p);
            if (st == CW_NOTFOUND) st = CW_OK;
        }
        if (st && !first) first = st;
        cw__buf_free(&b);
    }
    return first;
}
