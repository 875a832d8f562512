/*
 * scope.c - the switches that disable commands, and thread scopes: the seed's
 * `with cache.disabling():` and `with cache.callback():` (contextvars there, a per-thread
 * stack here). Each entry is tagged with its cache, so one thread can hold scopes on several
 * caches; a disabling scope may also name one backend (by its control block, which outlives
 * every route table). The cache counts open scopes over all threads (in its gate word) so
 * that commands skip the thread-local walk entirely when none is open.
 */
#include "core/cache_impl.h"

#define MAX_SCOPES 32

enum { SCOPE_DISABLE = 1, SCOPE_CALLBACK = 2 };

typedef struct scope {
    const cw_cache *c;
    const cw__backend_ctl *ctl; /* disabling on one backend only; NULL: on every one */
    int kind;
    cw_command_mask mask;
    cw_callback_fn fn;
    void *ud;
} scope;

static _Thread_local struct {
    scope s[MAX_SCOPES];
    int n;
    int in_callback; /* a callback's own cache calls do not re-trigger callbacks */
} tls;

static cw_status push(cw_cache *c, const cw__backend_ctl *ctl, int kind, cw_command_mask mask,
                      cw_callback_fn fn, void *ud)
{
    if (!c) return CW_EINVAL;
    if (tls.n >= MAX_SCOPES)
        return cw__fail(c, CW_ENOMEM, "more than %d nested scopes on this thread", MAX_SCOPES);
    tls.s[tls.n++] = (scope){ c, ctl, kind, mask, fn, ud };
    atomic_fetch_add(&c->gate, CW__GATE_SCOPE);
    return CW_OK;
}

static cw_status pop(cw_cache *c, int kind)
{
    if (!c) return CW_EINVAL;
    for (int i = tls.n - 1; i >= 0; i--) {
        if (tls.s[i].c == c && tls.s[i].kind == kind) {
            for (int j = i; j + 1 < tls.n; j++) tls.s[j] = tls.s[j + 1];
            tls.n--;
            atomic_fetch_sub(&c->gate, CW__GATE_SCOPE);
            return CW_OK;
        }
    }
    return cw__fail(c, CW_ESTATE, "no open %s scope on this thread", kind == SCOPE_DISABLE ? "disabling" : "callback");
}

/* The route that serves prefix (routed as a key; NULL or "": the default backend). */
static const cw__route *route_of_prefix(const cw_cache *c, const char *prefix)
{
    const cw__routes *t = atomic_load_explicit(&((cw_cache *)c)->routes, memory_order_acquire);
    if (!t) return NULL;
    return cw__route_search(t, prefix ? prefix : "", prefix ? strlen(prefix) : 0);
}

static cw_status no_backend(cw_cache *c, const char *prefix)
{
    return cw__fail(c, CW_ESTATE, "no backend serves prefix \"%.64s\"", prefix ? prefix : "");
}

cw_status cw_disabling_begin(cw_cache *c, cw_command_mask mask)
{
    return push(c, NULL, SCOPE_DISABLE, mask, NULL, NULL);
}

cw_status cw_disabling_begin_prefix(cw_cache *c, const char *prefix, cw_command_mask mask)
{
    if (!c) return CW_EINVAL;
    const cw__route *rt = route_of_prefix(c, prefix);
    if (!rt) return no_backend(c, prefix);
    return push(c, rt->ctl, SCOPE_DISABLE, mask, NULL, NULL);
}
cw_status cw_disabling_end(cw_cache *c) { return pop(c, SCOPE_DISABLE); }

cw_status cw_callback_begin(cw_cache *c, cw_command_mask mask, cw_callback_fn fn, void *ud)
{
    if (!fn) return cw__fail(c, CW_EINVAL, "callback is NULL");
    return push(c, NULL, SCOPE_CALLBACK, mask, fn, ud);
}
cw_status cw_callback_end(cw_cache *c) { return pop(c, SCOPE_CALLBACK); }

int cw__scope_disabled(const cw_cache *c, const cw__route *rt, cw_command cmd)
{
    for (int i = 0; i < tls.n; i++) {
        const scope *s = &tls.s[i];
        if (s->c == c && s->kind == SCOPE_DISABLE && (s->mask & CW_CMD_BIT(cmd)) &&
            (!s->ctl || (rt && rt->ctl == s->ctl)))
            return 1;
    }
    return 0;
}

void cw__scope_callbacks(const cw_cache *c, cw_command cmd, const char *key, size_t klen, cw_status st,
                         const cw_value *result)
{
    if (tls.in_callback) return;
    tls.in_callback = 1;
    for (int i = 0; i < tls.n; i++) {
        const scope *s = &tls.s[i];
        if (s->c == c && s->kind == SCOPE_CALLBACK && (s->mask & CW_CMD_BIT(cmd)))
            s->fn(s->ud, cmd, key, klen, st, result);
    }
    tls.in_callback = 0;
}

void cw_cache_disable(cw_cache *c, cw_command_mask mask)
{
    if (c) atomic_fetch_or(&c->gate, mask & CW__GATE_CMDS);
}

void cw_cache_enable(cw_cache *c, cw_command_mask mask)
{
    if (c) atomic_fetch_and(&c->gate, ~(mask & CW__GATE_CMDS));
}

/* Flip commands on one backend. Under the setup lock, so that the gate word's
 * CW__GATE_GENERAL (set while any backend has a switch on) follows every change in order. */
static cw_status switch_backend(cw_cache *c, const char *prefix, cw_command_mask mask, int on)
{
    if (!c) return CW_EINVAL;
    pthread_mutex_lock(&c->setup_lock);
    const cw__route *rt = route_of_prefix(c, prefix);
    if (rt) {
        if (on) atomic_fetch_and(&rt->ctl->disabled, ~(mask & CW__GATE_CMDS));
        else atomic_fetch_or(&rt->ctl->disabled, mask & CW__GATE_CMDS);
        cw__gate_refresh(c);
    }
    pthread_mutex_unlock(&c->setup_lock);
    return rt ? CW_OK : no_backend(c, prefix);
}

cw_status cw_cache_disable_prefix(cw_cache *c, const char *prefix, cw_command_mask mask)
{
    return switch_backend(c, prefix, mask, 0);
}

cw_status cw_cache_enable_prefix(cw_cache *c, const char *prefix, cw_command_mask mask)
{
    return switch_backend(c, prefix, mask, 1);
}

/* 1 when cmd is disabled for this thread on rt's backend (rt may be NULL): globally, on the
 * backend, or by a scope. */
static int is_disabled(const cw_cache *c, const cw__route *rt, cw_command cmd)
{
    uint64_t bit = CW_CMD_BIT(cmd);
    if (atomic_load(&((cw_cache *)c)->gate) & bit) return 1;
    if (rt && (atomic_load(&rt->ctl->disabled) & bit)) return 1;
    return cw__scope_disabled(c, rt, cmd);
}

int cw_cache_is_enabled_prefix(const cw_cache *c, const char *prefix, cw_command cmd)
{
    if (!c || (unsigned)cmd >= CW_CMD__COUNT) return 0;
    return !is_disabled(c, route_of_prefix(c, prefix), cmd);
}

int cw_cache_is_enabled(const cw_cache *c, cw_command cmd)
{
    return cw_cache_is_enabled_prefix(c, NULL, cmd);
}

int cw_cache_is_any_disabled(const cw_cache *c, const char *prefix)
{
    if (!c) return 0;
    if (prefix) {
        const cw__route *rt = route_of_prefix(c, prefix);
        for (unsigned cmd = 0; cmd < CW_CMD__COUNT; cmd++)
            if (is_disabled(c, rt, (cw_command)cmd)) return 1;
        return 0;
    }
    if (atomic_load(&((cw_cache *)c)->gate) & CW__GATE_CMDS) return 1;
    for (int i = 0; i < tls.n; i++)
        if (tls.s[i].c == c && tls.s[i].kind == SCOPE_DISABLE && (tls.s[i].mask & CW__GATE_CMDS)) return 1;
    const cw__routes *t = atomic_load_explicit(&((cw_cache *)c)->routes, memory_order_acquire);
    for (size_t i = 0; t && i < t->n; i++)
        if (atomic_load(&t->r[i].ctl->disabled)) return 1;
    return 0;
}
