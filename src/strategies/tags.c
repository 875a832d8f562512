/*
 * tags.c - tags and invalidation.
 *
 * A tagged key is a member of the set CW__TAG_PREFIX + tag (the core adds it when a value is
 * stored with tags), so deleting a tag pops that set in batches and deletes what it held: no
 * scan, on whichever backend each key lives. Deleting a key takes it out of the sets of the
 * tags the registry gives it (the seed's on_remove_callback, through the core's removal
 * hook), so a value stored later under the same key without tags is not deleted with them.
 *
 * The registry says which tags a key may carry, as the seed's register_tag: a pair of a tag
 * template ("page:{page}") and a key template ("items:{page}"). A key matches a key template
 * when its literal parts match in order, each field taking any text (the longest that lets
 * the rest match, as the seed's greedy regular expression); the tag is then the tag template
 * filled with the fields the key gave, and the thread's key context for the fields the key
 * template lacks (the seed formats tags with the context under the key's fields). A tag
 * registered with several key templates is given once, by the first that matches; tags come
 * in the order of their first registration.
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
    const cw_cache *c;
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
    size_t vlen = 0;
    const char *v = cw__key_context_get(x->c, name, nlen, &vlen);
    return v ? cw__buf_put(out, v, vlen) : CW_NOTFOUND;
}

static const cw__tagreg *reg_next(const cw__tagreg *r)
{
    return atomic_load_explicit(&r->next, memory_order_acquire);
}

/* For each tag the registry gives key: fn(tag). Stops when fn returns non-zero. */
typedef int (*tag_fn)(void *ud, const char *tag, size_t len);

static cw_status each_key_tag(cw__funcs *fx, const char *key, size_t klen, tag_fn fn, void *ud)
{
    const cw__tagreg *head = atomic_load_explicit(&fx->tags, memory_order_acquire);
    for (const cw__tagreg *r = head; r; r = reg_next(r)) {
        /* A tag's group starts at its first registration: later ones were tried with it. */
        int seen = 0;
        for (const cw__tagreg *q = head; q != r && !seen; q = reg_next(q)) seen = strcmp(q->tag.src, r->tag.src) == 0;
        if (seen) continue;
        for (const cw__tagreg *m = r; m; m = reg_next(m)) {
            if (m != r && strcmp(m->tag.src, r->tag.src) != 0) continue;
            capture stack[16];
            capture *caps = m->key.nsegs <= 16 ? stack : cw_calloc(m->key.nsegs, sizeof *caps);
            if (!caps) return CW_ENOMEM;
            cw_status st = CW_OK;
            int matched = match_from(&m->key, 0, key, klen, 0, caps), stop = 0;
            if (matched) {
                cw__buf tb;
                cw__buf_init(&tb);
                cap_ctx x = { fx->c, &m->key, caps };
                st = cw__tmpl_format_free(fx, &m->tag, cap_lookup, &x, &tb);
                if (!st) stop = fn(ud, tb.p, tb.len);
                cw__buf_free(&tb);
            }
            if (caps != stack) cw_free(caps);
            if (st) return st;
            if (stop) return CW_OK;
            if (matched) break;
        }
    }
    return CW_OK;
}

/* ---- removal: deleted keys leave their tag sets ---- */

typedef struct untag_ctx {
    cw_cache *c;
    const char *key; /* NUL-terminated */
    cw__buf tk;
} untag_ctx;

static int untag(void *ud, const char *tag, size_t len)
{
    untag_ctx *x = ud;
    x->tk.len = 0;
    if (cw__buf_puts(&x->tk, CW__TAG_PREFIX) == CW_OK && cw__buf_put(&x->tk, tag, len) == CW_OK)
        cw_set_remove(x->c, x->tk.p, 1, &x->key);
    return 0;
}

/* The core's removal hook: best effort (a failure leaves a stale member, as before). */
static void on_remove(void *ud, cw_cache *c, const char *key, size_t klen)
{
    cw__funcs *fx = ud;
    cw__buf kb;
    cw__buf_init(&kb);
    untag_ctx x = { c, NULL, { 0 } };
    cw__buf_init(&x.tk);
    if (cw__buf_put(&kb, key, klen) == CW_OK) {
        x.key = kb.p;
        each_key_tag(fx, kb.p, kb.len, untag, &x);
    }
    cw__buf_free(&x.tk);
    cw__buf_free(&kb);
}

cw_status cw_register_tag(cw_cache *c, const char *tag, const char *key_template)
{
    if (!c) return CW_EINVAL;
    if (!tag || !*tag || !key_template || !*key_template)
        return cw__fail(c, CW_EINVAL, "register_tag needs a tag and a key template");
    cw__funcs *fx = cw__funcs_of(c, 1);
    if (!fx) return cw__fail(c, CW_ENOMEM, "out of memory");
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
    /* Appended, so that tags come in registration order; readers walk the list without the
     * lock (entries are published by the release store of the link to them). */
    pthread_mutex_lock(&fx->mu);
    _Atomic(cw__tagreg *) *link = &fx->tags;
    int known = 0;
    for (cw__tagreg *q; (q = atomic_load(link)); link = &q->next)
        if (strcmp(q->tag.src, tag) == 0 && strcmp(q->key.src, key_template) == 0) known = 1;
    if (!known) atomic_store_explicit(link, r, memory_order_release);
    pthread_mutex_unlock(&fx->mu);
    if (known) { /* a cached function created again: nothing to add */
        cw__tmpl_free(&r->tag);
        cw__tmpl_free(&r->key);
        cw_free(r);
        return CW_OK;
    }
    cw__cache_on_remove(c, on_remove, fx);
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
        cw_status st = each_key_tag(fx, key, strlen(key), find_tag, &x);
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
    return each_key_tag(fx, key, strlen(key), pass_tag, &x);
}

cw_status cw_incr_tags(cw_cache *c, const char *key, int64_t by, int64_t ttl_ms, const char *const *tags,
                       size_t ntags, int64_t *result)
{
    if (!c) return CW_EINVAL;
    if (ntags && !tags) return cw__fail(c, CW_EINVAL, "tags is NULL with ntags = %zu", ntags);
    for (size_t i = 0; i < ntags; i++)
        if (!tags[i] || !*tags[i]) return cw__fail(c, CW_EINVAL, "tag %zu is NULL or empty", i);
    cw_status st = key ? cw_check_tags(c, key, tags, ntags) : CW_OK;
    if (!st) st = cw_incr(c, key, by, ttl_ms, result);
    cw__buf tk;
    cw__buf_init(&tk);
    for (size_t i = 0; !st && i < ntags; i++) {
        tk.len = 0;
        st = cw__key_suffix(&tk, CW__TAG_PREFIX, tags[i]);
        if (!st) st = cw_set_add(c, tk.p, 1, &key, ttl_ms);
    }
    cw__buf_free(&tk);
    return st;
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

/* Split "field=rest" (spaces around both trimmed) into a field name and the rest. */
static cw_status split_pair(cw_func *f, const char *what, const char *pair, char **field, char **rest)
{
    const char *eq = pair ? strchr(pair, '=') : NULL;
    if (!eq) return cw__fail(f->c, CW_EINVAL, "%s: %s \"%s\" is not \"field=...\"", f->name, what, pair ? pair : "(null)");
    const char *a = pair, *b = eq, *r = eq + 1, *e = r + strlen(r);
    while (a < b && *a == ' ') a++;
    while (b > a && b[-1] == ' ') b--;
    while (*r == ' ') r++;
    while (e > r && e[-1] == ' ') e--;
    int ok = a < b;
    for (const char *p = a; p < b && ok; p++)
        ok = (*p >= 'a' && *p <= 'z') || (*p >= 'A' && *p <= 'Z') || *p == '_' || (p > a && *p >= '0' && *p <= '9');
    if (!ok) return cw__fail(f->c, CW_EINVAL, "%s: %s \"%s\": the field is not an identifier", f->name, what, pair);
    *field = cw__strndup(a, (size_t)(b - a));
    *rest = *field ? cw__strndup(r, (size_t)(e - r)) : NULL;
    if (!*rest) { cw_free(*field); *field = NULL; return CW_ENOMEM; }
    return CW_OK;
}

cw_status cw__invalidate_setup(cw_func *f, const cw_func_options *o)
{
    if ((o->ninvalidate && !o->invalidate) || (o->ninvalidate_args && !o->invalidate_args) ||
        (o->ninvalidate_defaults && !o->invalidate_defaults))
        return cw__fail(f->c, CW_EINVAL, "%s: invalidate, invalidate_args or invalidate_defaults is NULL", f->name);
    if ((o->ninvalidate_args || o->ninvalidate_defaults) && !o->ninvalidate)
        return cw__fail(f->c, CW_EINVAL, "%s: invalidate_args and invalidate_defaults need .invalidate", f->name);
    if (!o->ninvalidate) return CW_OK;
    size_t nm = o->ninvalidate_args, nd = o->ninvalidate_defaults, total = nm + nd + f->nargs;
    char **names = cw_calloc(total ? total : 1, sizeof *names);
    f->inval = cw_calloc(o->ninvalidate, sizeof *f->inval);
    f->inval_map_arg = nm ? cw_calloc(nm, sizeof *f->inval_map_arg) : NULL;
    f->inval_def = nd ? cw_calloc(nd, sizeof *f->inval_def) : NULL;
    cw_status st = names && f->inval && (!nm || f->inval_map_arg) && (!nd || f->inval_def) ? CW_OK : CW_ENOMEM;
    for (size_t i = 0; !st && i < nm; i++) {
        char *arg = NULL;
        if ((st = split_pair(f, "invalidate_args", o->invalidate_args[i], &names[i], &arg))) break;
        size_t k = 0;
        while (k < f->nargs && strcmp(f->argn[k], arg) != 0) k++;
        if (k == f->nargs)
            st = cw__fail(f->c, CW_EINVAL, "%s: invalidate_args \"%s\": no argument \"%s\"", f->name,
                          o->invalidate_args[i], arg);
        f->inval_map_arg[i] = (uint32_t)k;
        f->ninval_map++;
        cw_free(arg);
    }
    for (size_t i = 0; !st && i < nd; i++) {
        st = split_pair(f, "invalidate_defaults", o->invalidate_defaults[i], &names[nm + i], &f->inval_def[i]);
        if (!st) f->ninval_def++;
    }
    /* Lookup takes the first name that matches: mapped fields, then defaults, then arguments. */
    for (size_t i = 0; names && i < f->nargs; i++) names[nm + nd + i] = f->argn[i];
    for (size_t i = 0; !st && i < o->ninvalidate; i++) {
        if ((st = cw__tmpl_parse(f->fx, o->invalidate[i], names, total, 0, &f->inval[i]))) break;
        f->ninval++;
    }
    if (names)
        for (size_t i = 0; i < nm + nd; i++) cw_free(names[i]);
    cw_free(names);
    return st;
}

void cw__invalidate_free(cw_func *f)
{
    for (size_t i = 0; i < f->ninval; i++) cw__tmpl_free(&f->inval[i]);
    cw_free(f->inval);
    for (size_t i = 0; i < f->ninval_def; i++) cw_free(f->inval_def[i]);
    cw_free(f->inval_def);
    cw_free(f->inval_map_arg);
}

cw_status cw__run_invalidate(cw_func *f, const cw_arg *args, size_t nargs)
{
    /* The templates' fields: [mapped..., defaults..., arguments...]. */
    size_t extra = f->ninval_map + f->ninval_def;
    cw_arg stack[16];
    cw_arg *all = (cw_arg *)args;
    if (extra) {
        all = extra + nargs <= 16 ? stack : cw_calloc(extra + nargs, sizeof *all);
        if (!all) return CW_ENOMEM;
        for (size_t i = 0; i < f->ninval_map; i++) all[i] = args[f->inval_map_arg[i]];
        for (size_t i = 0; i < f->ninval_def; i++) all[f->ninval_map + i] = CW_ARG_STR(f->inval_def[i]);
        for (size_t i = 0; i < nargs; i++) all[extra + i] = args[i];
    }
    cw_status first = CW_OK;
    for (size_t i = 0; i < f->ninval; i++) {
        const cw__tmpl *t = &f->inval[i];
        cw__buf b;
        cw__buf_init(&b);
        /* Patterns escape the glob characters of argument values; plain keys stay plain. */
        cw_status st = cw__tmpl_format(f->fx, t, all, extra + nargs, t->has_glob, &b);
        if (!st) {
            st = t->has_glob ? cw_delete_match(f->c, b.p, NULL) : cw_delete(f->c, b.p);
            if (st == CW_NOTFOUND) st = CW_OK;
        }
        if (st && !first) first = st;
        cw__buf_free(&b);
    }
    if (all != args && all != stack) cw_free(all);
    return first;
}
