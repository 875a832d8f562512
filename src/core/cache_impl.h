/*
 * cache_impl.h - the body of cw_cache and of a command in flight (cw_call), shared by the
 * core's files: cache.c (lifecycle, routing, dispatch), commands.c (the public commands),
 * scope.c (thread scopes), middleware.c (call accessors), lock.c.
 */
#ifndef CW_CACHE_IMPL_H
#define CW_CACHE_IMPL_H

#include <pthread.h>
#include <stdatomic.h>

#include "core/internal.h"

typedef struct cw__middleware {
    cw_middleware_fn fn;
    void *ud;
} cw__middleware;

/* What belongs to one set-up backend beyond its instance: the commands disabled on it (set up
 * with disable=1 / enable=0, or cw_cache_disable_prefix()) and its own middlewares. Route
 * tables are copied at every setup; this is not: each copy points to the same one, so a
 * switch flipped on a backend holds whatever table a command loaded. Freed at cw_cache_free. */
typedef struct cw__backend_ctl {
    _Atomic uint64_t disabled; /* CW_CMD_BIT mask */
    cw__middleware *mw;        /* fixed at setup (cw_setup_options.middlewares) */
    size_t nmw;
} cw__backend_ctl;

/* One backend bound to a key prefix. */
typedef struct cw__route {
    char *prefix;
    size_t plen;
    cw_backend *b;
    cw_status (*view)(cw_backend *, const char *, size_t, cw_view_fn, void *); /* b's view, or NULL */
    cw__backend_ctl *ctl; /* never NULL */
} cw__route;

/* The routes as one immutable snapshot, longest prefix first. A setup publishes a new table;
 * readers load the pointer once per command and never see a half-built table. Old tables
 * (and replaced backends) stay alive until cw_cache_free(), since a command may still use
 * them: setups are rare, so this costs a few bytes, not a reclamation scheme. */
typedef struct cw__routes {
    struct cw__routes *older; /* retired chain, freed at cw_cache_free */
    /* cw_set's and cw_get's short paths: the backend when the only route is the default one
     * (else NULL; its switches and middlewares are in the gate word), and its view (NULL too
     * when it has none: cw_get then goes the general way) */
    cw_backend *fast_b;
    cw_status (*fast_view)(cw_backend *, const char *, size_t, cw_view_fn, void *);
    /* cw_get's whole read when fast_b is the built-in mem:// (cw__mem_get), else NULL */
    cw_status (*fast_get)(cw_cache *, cw_backend *, const char *, cw_value *);
    size_t n;
    cw__route r[];
} cw__routes;

typedef struct cw__close_hook {
    void (*fn)(void *ud);
    void *ud;
} cw__close_hook;

struct cw_cache {
    cw_cache_options o;
    cw_backend_env env;
    _Atomic(cw__routes *) routes;
    pthread_mutex_t setup_lock; /* serialises setup/register/middleware changes */
    cw_backend **retired;       /* backends replaced by a later setup of their prefix */
    size_t nretired;
    const cw_backend_ops **user_ops;
    size_t nuser_ops;
    cw__middleware *mw;
    size_t nmw;
    cw__close_hook *hooks;
    size_t nhooks;
    /* What sends a command the general way, in one word, so that cw_get and cw_set test it
     * with one load: the globally disabled commands (CW_CMD_BIT bits), CW__GATE_GENERAL while
     * a middleware exists or a backend of the current routes has a command disabled on it,
     * and the thread scopes open on this cache over all threads, counted in units of
     * CW__GATE_SCOPE. */
    _Atomic uint64_t gate;
    _Atomic uint64_t token_seq; /* lock tokens */
    cw__backend_ctl **ctls;     /* of every backend set up, replaced ones included (last, so
                                   that the fields the short paths read keep their offsets) */
    size_t nctls;
    _Atomic(cw__remove_fn) on_remove; /* see cw__cache_on_remove(); NULL: none */
    void *on_remove_ud;
};

#define CW__GATE_CMDS (((uint64_t)1 << CW_CMD__COUNT) - 1)
#define CW__GATE_GENERAL ((uint64_t)1 << 31)
#define CW__GATE_SCOPE ((uint64_t)1 << 32)
_Static_assert(CW_CMD__COUNT <= 31, "the commands' bits must stay below CW__GATE_GENERAL");
/* Open scopes on any thread, a middleware or a backend's switch: any sends every command the
 * general way. (With bit 31 and up, the mask is a sign-extended 32-bit immediate: one test.) */
#define CW__GATE_ALWAYS (CW__GATE_GENERAL | ~(CW__GATE_SCOPE - 1))

/* A command in flight: the arguments of every command kind, one struct. */
struct cw_call {
    cw_command cmd;
    cw_cache *c;
    const cw__route *rt; /* NULL for commands that span every backend */
    size_t mw_next;      /* next middleware to run */
    const char *key;
    size_t klen;
    const void *val;
    size_t vlen;
    int64_t ttl_ms;
    cw_set_mode mode;
    const cw__env_meta *meta; /* set/get through the envelope; NULL for raw */
    cw__env_meta *meta_out;
    int raw;
    cw_value *out;
    int64_t *int_out;
    uint64_t *u64_out;
    /* batch */
    size_t n;
    const char *const *keys;
    const size_t *klens;
    const void *const *vals;
    const size_t *vlens;
    cw_value *outs;
    cw_status *sts;
    /* iteration, bits, windows, sets */
    size_t batch;
    int with_values;
    cw_scan_fn fn;
    void *ud;
    const uint64_t *idx;
    uint8_t *bits;
    unsigned bit_size;  /* bit-field counters: bits a counter */
    uint64_t *counters; /* bit-field counters: the values out */
    int64_t by, start_ms, now_ms, max_count;
    size_t max;
    size_t *popped;
    int result_set; /* a middleware short-circuited with cw_call_set_result */
};

/* cache.c */
const cw__route *cw__route_search(const cw__routes *t, const char *key, size_t klen);
/* The route of key: the one default backend without a search (the usual setup). */
static inline const cw__route *cw__route_for(const cw_cache *c, const char *key, size_t klen)
{
    cw__routes *t = atomic_load_explicit(&((cw_cache *)c)->routes, memory_order_acquire);
    if (!t) return NULL;
    if (t->n == 1 && t->r[0].plen == 0) return &t->r[0];
    return cw__route_search(t, key, klen);
}
cw_status cw__exec(cw_call *call);            /* gates, middlewares, callbacks, backend */
cw_status cw__backend_exec(cw_call *call);    /* the innermost step: the backend op */
cw_status cw__check_key(const cw_cache *c, const char *key, size_t *klen);
cw_status cw__check_ttl(const cw_cache *c, int64_t ttl_ms);

/* Recompute CW__GATE_GENERAL from the middlewares and the current routes' switches. Call
 * with c->setup_lock held. */
void cw__gate_refresh(cw_cache *c);

/* scope.c */
/* 1 when a disabling scope of this thread covers cmd on the backend of rt (NULL: a scope for
 * every backend). */
int cw__scope_disabled(const cw_cache *c, const cw__route *rt, cw_command cmd);
/* After a command: call this thread's callbacks for it; @result: the value of a
 * value-returning command that succeeded, else NULL. */
void cw__scope_callbacks(const cw_cache *c, cw_command cmd, const char *key, size_t klen,
                         cw_status st, const cw_value *result);

#endif
