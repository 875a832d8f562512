/*
 * scope.c - thread scopes: the seed's `with cache.disabling():` and `with cache.callback():`
 * (contextvars there, a per-thread stack here). Each entry is tagged with its cache, so one
 * thread can hold scopes on several caches. The cache counts open scopes over all threads
 * (in its gate word) so that commands skip the thread-local walk entirely when none is open.
 */
#include "core/cache_impl.h"

#define MAX_SCOPES 32

enum { SCOPE_DISABLE = 1, SCOPE_CALLBACK = 2 };

typedef struct scope {
    const cw_cache *c;
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

static cw_status push(cw_cache *c, int kind, cw_command_mask mask, cw_callback_fn fn, void *ud)
{
    if (!c) return CW_EINVAL;
    if (tls.n >= MAX_SCOPES)
        return cw__fail(c, CW_ENOMEM, "more than %d nested scopes on this thread", MAX_SCOPES);
    tls.s[tls.n++] = (scope){ c, kind, mask, fn, ud };
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

cw_status cw_disabling_begin(cw_cache *c, cw_command_mask mask) { return push(c, SCOPE_DISABLE, mask, NULL, NULL); }
cw_status cw_disabling_end(cw_cache *c) { return pop(c, SCOPE_DISABLE); }

cw_status cw_callback_begin(cw_cache *c, cw_command_mask mask, cw_callback_fn fn, void *ud)
{
    if (!fn) return cw__fail(c, CW_EINVAL, "callback is NULL");
    return push(c, SCOPE_CALLBACK, mask, fn, ud);
}
cw_status cw_callback_end(cw_cache *c) { return pop(c, SCOPE_CALLBACK); }

int cw__scope_disabled(const cw_cache *c, cw_command cmd)
{
    for (int i = 0; i < tls.n; i++)
        if (tls.s[i].c == c && tls.s[i].kind == SCOPE_DISABLE && (tls.s[i].mask & CW_CMD_BIT(cmd))) return 1;
    return 0;
}

void cw__scope_callbacks(const cw_cache *c, cw_command cmd, const char *key, size_t klen, cw_status st)
{
    if (tls.in_callback) return;
    tls.in_callback = 1;
    for (int i = 0; i < tls.n; i++) {
        const scope *s = &tls.s[i];
        if (s->c == c && s->kind == SCOPE_CALLBACK && (s->mask & CW_CMD_BIT(cmd)))
            s->fn(s->ud, cmd, key, klen, st);
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

int cw_cache_is_enabled(const cw_cache *c, cw_command cmd)
{
    if (!c || (unsigned)cmd >= CW_CMD__COUNT) return 0;
    if (atomic_load(&((cw_cache *)c)->gate) & CW_CMD_BIT(cmd)) return 0;
    return !cw__scope_disabled(c, cmd);
}
