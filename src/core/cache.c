/*
 * cache.c - the cache instance: lifecycle, setup from URLs, prefix routing and the dispatch
 * of one command through the gates (disable), the middleware chain, the backend op and the
 * scoped callbacks.
 *
 * Read path cost matters (W1): a command loads the route snapshot once, checks one atomic
 * mask and one atomic scope counter, and calls the backend op; middlewares and thread scopes
 * cost nothing when there are none.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "core/cache_impl.h"

const cw_backend_ops *cw__builtin_backend(const char *scheme);

#define DEFAULT_MAX_KEY 1024
#define DEFAULT_MAX_VALUE ((size_t)512 << 20)

#define CW__COMMAND_TEXT(name, num, text) [num] = text,
static const char *const command_text[] = { CW_COMMAND_TABLE(CW__COMMAND_TEXT) };
#undef CW__COMMAND_TEXT

const char *cw_command_name(cw_command cmd)
{
    if ((unsigned)cmd >= CW_CMD__COUNT) return "unknown";
    return command_text[cmd];
}

cw_status cw_cache_new(cw_cache **out, const cw_cache_options *opts)
{
    if (!out) return CW_EINVAL;
    *out = NULL;
    cw_cache *c = cw_calloc(1, sizeof *c);
    if (!c) return CW_ENOMEM;
    if (opts) c->o = *opts;
    if (!c->o.clock) c->o.clock = cw_clock_now_ms;
    if (!c->o.max_key_bytes) c->o.max_key_bytes = DEFAULT_MAX_KEY;
    if (!c->o.max_value_bytes) c->o.max_value_bytes = DEFAULT_MAX_VALUE;
    c->env.clock = c->o.clock;
    c->env.clock_ud = c->o.clock_ud;
    c->env.log = c->o.log;
    c->env.log_ud = c->o.log_ud;
    if (pthread_mutex_init(&c->setup_lock, NULL) != 0) { cw_free(c); return CW_ENOMEM; }
    atomic_init(&c->routes, NULL);
    atomic_init(&c->gate, 0);
    *out = c;
    return CW_OK;
}

cw_status cw_cache_new_default(cw_cache **out)
{
    cw_status st = cw_cache_new(out, NULL);
    if (st) return st;
    st = cw_cache_setup(*out, "mem://", NULL, NULL);
    if (st) { cw_cache_free(*out); *out = NULL; }
    return st;
}

cw_status cw__cache_add_close_hook(cw_cache *c, void (*fn)(void *ud), void *ud)
{
    if (!c || !fn) return CW_EINVAL;
    pthread_mutex_lock(&c->setup_lock);
    cw__close_hook *h = cw_realloc(c->hooks, (c->nhooks + 1) * sizeof *h);
    if (!h) { pthread_mutex_unlock(&c->setup_lock); return CW_ENOMEM; }
    c->hooks = h;
    c->hooks[c->nhooks++] = (cw__close_hook){ fn, ud };
    pthread_mutex_unlock(&c->setup_lock);
    return CW_OK;
}

void *cw__cache_ext(cw_cache *c, void (*close_fn)(void *ud), void *(*create)(cw_cache *c))
{
    if (!c || !close_fn) return NULL;
    void *ud = NULL;
    pthread_mutex_lock(&c->setup_lock);
    for (size_t i = 0; i < c->nhooks; i++)
        if (c->hooks[i].fn == close_fn) { ud = c->hooks[i].ud; break; }
    if (!ud && create) {
        cw__close_hook *h = cw_realloc(c->hooks, (c->nhooks + 1) * sizeof *h);
        if (h) {
            c->hooks = h;
            ud = create(c);
            if (ud) c->hooks[c->nhooks++] = (cw__close_hook){ close_fn, ud };
        }
    }
    pthread_mutex_unlock(&c->setup_lock);
    return ud;
}

const char *cw__backend_scheme_for(const cw_cache *c, const char *key, size_t klen)
{
    const cw__route *rt = key ? cw__route_for(c, key, klen) : NULL;
    return rt ? rt->b->ops->scheme : "";
}

void cw__cache_on_remove(cw_cache *c, cw__remove_fn fn, void *ud)
{
    pthread_mutex_lock(&c->setup_lock);
    if (!fn) {
        atomic_store(&c->on_remove, NULL);
    } else if (!atomic_load(&c->on_remove)) {
        c->on_remove_ud = ud;
        atomic_store_explicit(&c->on_remove, fn, memory_order_release);
    }
    pthread_mutex_unlock(&c->setup_lock);
}

void cw__cache_remove_close_hook(cw_cache *c, void (*fn)(void *ud), void *ud)
{
    if (!c) return;
    pthread_mutex_lock(&c->setup_lock);
    for (size_t i = 0; i < c->nhooks; i++) {
        if (c->hooks[i].fn == fn && c->hooks[i].ud == ud) {
            memmove(&c->hooks[i], &c->hooks[i + 1], (c->nhooks - i - 1) * sizeof *c->hooks);
            c->nhooks--;
            break;
        }
    }
    pthread_mutex_unlock(&c->setup_lock);
}

void cw_cache_free(cw_cache *c)
{
    if (!c) return;
    /* Hooks first (latest first): strategies' worker pools stop before backends go away. */
    while (c->nhooks) {
        cw__close_hook h = c->hooks[--c->nhooks];
        h.fn(h.ud);
    }
    cw_free(c->hooks);
    cw__routes *t = atomic_load(&c->routes);
    if (t) {
        for (size_t i = 0; i < t->n; i++) t->r[i].b->ops->close(t->r[i].b);
    }
    for (size_t i = 0; i < c->nretired; i++) c->retired[i]->ops->close(c->retired[i]);
    while (t) {
        cw__routes *older = t->older;
        for (size_t i = 0; i < t->n; i++) cw_free(t->r[i].prefix);
        cw_free(t);
        t = older;
    }
    for (size_t i = 0; i < c->nctls; i++) {
        cw_free(c->ctls[i]->mw);
        cw_free(c->ctls[i]);
    }
    cw_free(c->ctls);
    cw_free(c->retired);
    cw_free(c->user_ops);
    cw_free(c->mw);
    pthread_mutex_destroy(&c->setup_lock);
    cw_free(c);
}

int64_t cw_cache_now_ms(const cw_cache *c)
{
    return c->o.clock(c->o.clock_ud);
}

cw_status cw_cache_register_backend(cw_cache *c, const cw_backend_ops *ops)
{
    if (!c || !ops) return CW_EINVAL;
    if (ops->abi_version < 1 || ops->abi_version > CW_BACKEND_ABI)
        return cw__fail(c, CW_EINVAL, "backend ABI %d, this library speaks 1 to %d", ops->abi_version,
                        CW_BACKEND_ABI);
    if (!ops->scheme || !*ops->scheme || !ops->open || !ops->close || !ops->get || !ops->set || !ops->del)
        return cw__fail(c, CW_EINVAL, "backend \"%s\": ops need a scheme, open, close, get, set and del",
                        ops->scheme ? ops->scheme : "");
    pthread_mutex_lock(&c->setup_lock);
    const cw_backend_ops **n = cw_realloc(c->user_ops, (c->nuser_ops + 1) * sizeof *n);
    if (!n) { pthread_mutex_unlock(&c->setup_lock); return CW_ENOMEM; }
    c->user_ops = n;
    c->user_ops[c->nuser_ops++] = ops;
    pthread_mutex_unlock(&c->setup_lock);
    return CW_OK;
}

static const cw_backend_ops *find_ops(cw_cache *c, const char *scheme)
{
    for (size_t i = c->nuser_ops; i-- > 0;)
        if (strcmp(c->user_ops[i]->scheme, scheme) == 0) return c->user_ops[i];
    return cw__builtin_backend(scheme);
}

static cw_status setup_fail(cw_cache *c, char *errbuf, cw_status st, const char *msg)
{
    cw__fail(c, st, "%s", msg);
    if (errbuf) snprintf(errbuf, CW_ERRMSG_SIZE, "%s", msg);
    return st;
}

cw_status cw_cache_setup(cw_cache *c, const char *url_text, const cw_setup_options *opts,
                         char *errbuf)
{
    char msg[CW_ERRMSG_SIZE] = "";
    if (!c) return CW_EINVAL;
    cw_setup_options so = { 0 };
    if (opts) so = *opts;
    const char *prefix = so.prefix ? so.prefix : "";
    if (so.nmiddlewares && !so.middlewares)
        return setup_fail(c, errbuf, CW_EINVAL, "nmiddlewares is set but middlewares is NULL");
    for (size_t i = 0; i < so.nmiddlewares; i++)
        if (!so.middlewares[i].fn) return setup_fail(c, errbuf, CW_EINVAL, "a middleware has a NULL fn");
    cw_url url;
    cw_status st = cw_url_parse(url_text, so.params, &url, msg);
    if (st) return setup_fail(c, errbuf, st, msg[0] ? msg : "cannot parse URL");

    int disabled = so.disable ? 1 : 0, flag;
    if ((st = cw_url_take_bool(&url, "disable", &flag, msg)) == CW_OK) disabled = flag;
    else if (st != CW_NOTFOUND) goto fail;
    if ((st = cw_url_take_bool(&url, "enable", &flag, msg)) == CW_OK) disabled = !flag;
    else if (st != CW_NOTFOUND) goto fail;

    pthread_mutex_lock(&c->setup_lock);
    const cw_backend_ops *ops = find_ops(c, url.scheme);
    pthread_mutex_unlock(&c->setup_lock);
    if (!ops) {
        char shown[160];
        cw__url_redact(url_text, shown, sizeof shown);
        snprintf(msg, sizeof msg, "unknown scheme \"%s\" in \"%s\" (built in: mem%s%s)", url.scheme,
                 shown, cw__builtin_backend("redis") ? ", redis, rediss" : "",
                 cw__builtin_backend("disk") ? ", disk" : "");
        st = CW_EINVAL;
        goto fail;
    }
    cw_backend *b = NULL;
    st = ops->open(&b, &url, &c->env, msg);
    if (st) {
        if (!msg[0]) snprintf(msg, sizeof msg, "%s backend: %s", url.scheme, cw_strerror(st));
        goto fail;
    }
    if (!b || !b->ops || !b->ops->get || !b->ops->set || !b->ops->del || !b->ops->close) {
        snprintf(msg, sizeof msg, "%s backend: open returned an instance without get, set, del and close",
                 url.scheme);
        if (b && b->ops && b->ops->close) b->ops->close(b);
        else if (b) ops->close(b);
        st = CW_EINVAL;
        goto fail;
    }
    for (size_t i = 0; i < url.nparams; i++) {
        if (!url.params[i].taken) {
            snprintf(msg, sizeof msg, "unknown parameter \"%s\" for %s://", url.params[i].name, url.scheme);
            ops->close(b);
            st = CW_EINVAL;
            goto fail;
        }
    }
    cw_url_free(&url);

    /* Publish a new route table with this prefix added or replaced. */
    cw__backend_ctl *ctl = cw_calloc(1, sizeof *ctl);
    if (!ctl || (so.nmiddlewares && !(ctl->mw = cw_malloc(so.nmiddlewares * sizeof *ctl->mw)))) {
        if (ctl) cw_free(ctl);
        b->ops->close(b);
        return setup_fail(c, errbuf, CW_ENOMEM, "out of memory");
    }
    for (size_t i = 0; i < so.nmiddlewares; i++)
        ctl->mw[i] = (cw__middleware){ so.middlewares[i].fn, so.middlewares[i].ud };
    ctl->nmw = so.nmiddlewares;
    atomic_init(&ctl->disabled, disabled ? CW__GATE_CMDS : 0);
    pthread_mutex_lock(&c->setup_lock);
    cw__routes *old = atomic_load(&c->routes);
    size_t n = old ? old->n : 0;
    cw__routes *t = cw_calloc(1, sizeof *t + (n + 1) * sizeof(cw__route));
    char *pcopy = cw_malloc(strlen(prefix) + 1);
    cw_backend **ret = NULL;
    cw__backend_ctl **ctls = cw_realloc(c->ctls, (c->nctls + 1) * sizeof *ctls);
    if (ctls) c->ctls = ctls;
    if (!t || !pcopy || !ctls) goto oom;
    strcpy(pcopy, prefix);
    size_t k = 0;
    cw_backend *replaced = NULL;
    cw__route mine = { pcopy, strlen(prefix), b, b->ops->abi_version >= 2 ? b->ops->view : NULL, ctl };
    int placed = 0;
    for (size_t i = 0; i < n; i++) {
        const cw__route *r = &old->r[i];
        if (r->plen == mine.plen && strcmp(r->prefix, prefix) == 0) { replaced = r->b; continue; }
        if (!placed && r->plen < mine.plen) { t->r[k++] = mine; placed = 1; }
        t->r[k] = *r;
        t->r[k].prefix = cw_malloc(r->plen + 1);
        if (!t->r[k].prefix) { for (size_t j = 0; j < k; j++) if (t->r[j].prefix != pcopy) cw_free(t->r[j].prefix); goto oom; }
        memcpy(t->r[k].prefix, r->prefix, r->plen + 1);
        k++;
    }
    if (!placed) t->r[k++] = mine;
    t->n = k;
    if (k == 1 && t->r[0].plen == 0) {
        t->fast_b = t->r[0].b;
        t->fast_view = t->r[0].view;
        t->fast_get = t->fast_b->ops == &cw__mem_ops ? cw__mem_get : NULL;
    }
    if (replaced) {
        ret = cw_realloc(c->retired, (c->nretired + 1) * sizeof *ret);
        if (!ret) { for (size_t j = 0; j < k; j++) if (t->r[j].prefix != pcopy) cw_free(t->r[j].prefix); goto oom; }
        c->retired = ret;
        c->retired[c->nretired++] = replaced;
    }
    c->ctls[c->nctls++] = ctl;
    t->older = old;
    /* A new backend with a switch on or middlewares must not be reached by the short paths
     * even for a moment: the gate goes up before the table is published. */
    if (disabled || ctl->nmw) atomic_fetch_or(&c->gate, CW__GATE_GENERAL);
    atomic_store_explicit(&c->routes, t, memory_order_release);
    cw__gate_refresh(c);
    pthread_mutex_unlock(&c->setup_lock);
    return CW_OK;
oom:
    pthread_mutex_unlock(&c->setup_lock);
    cw_free(t);
    cw_free(pcopy);
    cw_free(ctl->mw);
    cw_free(ctl);
    b->ops->close(b);
    return setup_fail(c, errbuf, CW_ENOMEM, "out of memory");
fail:
    cw_url_free(&url);
    return setup_fail(c, errbuf, st, msg[0] ? msg : cw_strerror(st));
}

void cw__gate_refresh(cw_cache *c)
{
    const cw__routes *t = atomic_load_explicit(&c->routes, memory_order_acquire);
    int general = c->nmw > 0;
    for (size_t i = 0; !general && t && i < t->n; i++)
        general = t->r[i].ctl->nmw > 0 || atomic_load(&t->r[i].ctl->disabled) != 0;
    if (general) atomic_fetch_or(&c->gate, CW__GATE_GENERAL);
    else atomic_fetch_and(&c->gate, ~CW__GATE_GENERAL);
}

cw_backend *cw_cache_backend(cw_cache *c, const char *prefix)
{
    if (!c) return NULL;
    if (!prefix) prefix = "";
    cw__routes *t = atomic_load_explicit(&c->routes, memory_order_acquire);
    for (size_t i = 0; t && i < t->n; i++)
        if (strcmp(t->r[i].prefix, prefix) == 0) return t->r[i].b;
    return NULL;
}

cw_status cw_cache_maintain(cw_cache *c)
{
    if (!c) return CW_EINVAL;
    cw__routes *t = atomic_load_explicit(&c->routes, memory_order_acquire);
    cw_status first = CW_OK;
    for (size_t i = 0; t && i < t->n; i++) {
        if (!t->r[i].b->ops->maintain) continue;
        cw_status st = t->r[i].b->ops->maintain(t->r[i].b);
        if (st && !first) { cw__errmsg_claim(c); first = st; }
    }
    return first;
}

/* ---- routing and dispatch ---- */

/* Several routes: the first (longest) prefix that matches. */
const cw__route *cw__route_search(const cw__routes *t, const char *key, size_t klen)
{
    for (size_t i = 0; i < t->n; i++) {
        const cw__route *r = &t->r[i];
        if (r->plen == 0 || (r->plen <= klen && memcmp(r->prefix, key, r->plen) == 0)) return r;
    }
    return NULL;
}

cw_status cw__check_key(const cw_cache *c, const char *key, size_t *klen)
{
    if (!c) return CW_EINVAL;
    if (!key) return cw__fail(c, CW_EINVAL, "key is NULL");
    size_t n = strnlen(key, c->o.max_key_bytes + 1);
    if (n == 0) return cw__fail(c, CW_EINVAL, "key is empty");
    if (n > c->o.max_key_bytes)
        return cw__fail(c, CW_ETOOBIG, "key longer than max_key_bytes (%zu)", c->o.max_key_bytes);
    *klen = n;
    return CW_OK;
}

cw_status cw__check_ttl(const cw_cache *c, int64_t ttl_ms)
{
    if (ttl_ms > 0 || ttl_ms == CW_NO_EXPIRY) return CW_OK;
    return cw__fail(c, CW_EINVAL, "TTL %lld ms: must be > 0, or CW_NO_EXPIRY for none", (long long)ttl_ms);
}

/* The chain of a call: the cache's middlewares, then its backend's, then the backend op.
 * mw_next counts the middlewares run so far over both lists. */
static cw_status run_chain(cw_call *call)
{
    cw_cache *c = call->c;
    size_t i = call->mw_next;
    const cw__middleware *m = NULL;
    if (i < c->nmw) m = &c->mw[i];
    else if (call->rt && i - c->nmw < call->rt->ctl->nmw) m = &call->rt->ctl->mw[i - c->nmw];
    if (!m) return cw__backend_exec(call);
    call->mw_next++;
    return m->fn(call, m->ud);
}

cw_status cw_call_next(cw_call *call)
{
    return run_chain(call);
}

cw_status cw__exec(cw_call *call)
{
    cw_cache *c = call->c;
    uint64_t bit = CW_CMD_BIT(call->cmd);
    uint64_t gate = atomic_load_explicit(&c->gate, memory_order_relaxed);
    int scoped = gate >= CW__GATE_SCOPE;
    const cw__backend_ctl *ctl = call->rt ? call->rt->ctl : NULL;
    int on_backend = ctl && (atomic_load_explicit(&ctl->disabled, memory_order_relaxed) & bit);
    if ((gate & bit) || on_backend || (scoped && cw__scope_disabled(c, call->rt, call->cmd)))
        return cw__fail(c, CW_EDISABLED, "%s is disabled%s%.64s%s", cw_command_name(call->cmd),
                        on_backend ? " on the backend of prefix \"" : "", on_backend ? call->rt->prefix : "",
                        on_backend ? "\"" : "");
    cw_status st = c->nmw || (ctl && ctl->nmw) ? run_chain(call) : cw__backend_exec(call);
    if (st != CW_OK && st != CW_NOTFOUND && st != CW_NOTSTORED) cw__errmsg_claim(c);
    /* The seed's callbacks get the result and skip a command that returned None: a miss of
     * a value-returning command. */
    if (scoped && !(st == CW_NOTFOUND && call->out))
        cw__scope_callbacks(c, call->cmd, call->key, call->klen, st, st == CW_OK ? call->out : NULL);
    return st;
}

/* ---- middleware registration and call accessors ---- */

cw_status cw_cache_add_middleware(cw_cache *c, cw_middleware_fn fn, void *ud)
{
    if (!c || !fn) return CW_EINVAL;
    pthread_mutex_lock(&c->setup_lock);
    cw__middleware *m = cw_realloc(c->mw, (c->nmw + 1) * sizeof *m);
    if (!m) { pthread_mutex_unlock(&c->setup_lock); return CW_ENOMEM; }
    m[c->nmw] = (cw__middleware){ fn, ud };
    c->mw = m;
    c->nmw++;
    atomic_fetch_or(&c->gate, CW__GATE_GENERAL);
    pthread_mutex_unlock(&c->setup_lock);
    return CW_OK;
}

cw_command cw_call_command(const cw_call *call) { return call->cmd; }
cw_cache *cw_call_cache(const cw_call *call) { return call->c; }
const char *cw_call_backend(const cw_call *call)
{
    return call->rt ? call->rt->b->ops->scheme : "";
}
const char *cw_call_key(const cw_call *call, size_t *len)
{
    if (len) *len = call->klen;
    return call->key;
}
const void *cw_call_value(const cw_call *call, size_t *len)
{
    if (len) *len = call->val ? call->vlen : 0;
    return call->val;
}
int64_t cw_call_ttl(const cw_call *call) { return call->ttl_ms; }
const cw_value *cw_call_result(const cw_call *call)
{
    return call->out && call->out->data ? call->out : NULL;
}
cw_status cw_call_set_result(cw_call *call, const void *data, size_t len)
{
    if (!call->out) return CW_EINVAL;
    call->result_set = 1;
    return cw_value_set(call->out, data, len);
}
