/*
 * strategy.h - the insides of cached functions, shared by the .c files of src/strategies (never installed).
 *
 * Layout:
 *   registry.c  per-cache state (cw__funcs): formatters, codecs, tag registry, key-context
 *               names, default fail errors; found from the cache through its close hook
 *   key.c       key templates: parse once at creation, format per call into a stack buffer
 *   context.c   thread scopes: key context, invalidate_further, detect
 *   codec.c     value codecs and cached errors
 *   cached.c    the cw_func object, the shared miss path (load, condition, store), single
 *               flight, lock=true, and the simple strategy
 *   worker.c    the background pool (early and hit refreshes)
 *   failover.c hit.c early.c soft.c iterator.c locked.c rate_limit.c circuit.c bloom.c
 *   tags.c      delete_tags, the tag registry's matching, invalidation
 */
#ifndef CW_STRATEGY_H
#define CW_STRATEGY_H

#include <pthread.h>
#include <stdatomic.h>

#include "core/internal.h"
#include <cashews/func.h>

/* ---- growable text buffer with inline storage (no malloc for short keys) ---- */

#define CW__BUF_INLINE 240

typedef struct cw__buf {
    char *p;    /* inl or heap; always NUL-terminated at len */
    size_t len;
    size_t cap; /* bytes usable at p, NUL included */
    char inl[CW__BUF_INLINE];
} cw__buf;

/* A cw__buf points into itself: initialise it where it lives, never copy it. */
void cw__buf_init(cw__buf *b);
cw_status cw__buf_reserve(cw__buf *b, size_t extra);
cw_status cw__buf_put(cw__buf *b, const void *s, size_t n);
cw_status cw__buf_puts(cw__buf *b, const char *s);
void cw__buf_free(cw__buf *b);

/* ---- key templates ---- */

enum { CW__SEG_LIT = 0, CW__SEG_ARG, CW__SEG_CTX, CW__SEG_FREE };
enum { CW__FMT_NONE = 0, CW__FMT_LOWER, CW__FMT_UPPER, CW__FMT_LEN, CW__FMT_HASH, CW__FMT_JWT, CW__FMT_USER };

typedef struct cw__ufmt cw__ufmt;

typedef struct cw__seg {
    uint8_t kind;     /* CW__SEG_* */
    uint8_t fmt;      /* CW__FMT_* */
    uint32_t arg;     /* CW__SEG_ARG: index into the arguments */
    char *text;       /* LIT: the text; CTX/FREE: the field name; ARG: the argument name */
    size_t tlen;
    char *path;       /* nested field path after the first '.', or NULL */
    char **fargs;     /* formatter arguments */
    size_t nfargs;
    const cw__ufmt *ufmt; /* CW__FMT_USER */
} cw__seg;

typedef struct cw__tmpl {
    char *src; /* the template text */
    cw__seg *segs;
    size_t nsegs;
    int has_glob; /* the literal text holds '*', '?' or '[' */
} cw__tmpl;

typedef struct cw__funcs cw__funcs;

/* Parse @src. Field names must be in @names (ARG) or registered key-context names (CTX);
 * with free_fields, any name is accepted as a FREE field (tag registry templates).
 * Errors are CW_EINVAL with a message through cw__fail(c, ...). */
cw_status cw__tmpl_parse(cw__funcs *fx, const char *src, char *const *names, size_t nnames,
                         int free_fields, cw__tmpl *out);
void cw__tmpl_free(cw__tmpl *t);

/* Format @t for @args into @out (appended). glob_escape: backslash-escape '*?[]\' in field
 * values (patterns for delete_match). */
cw_status cw__tmpl_format(cw__funcs *fx, const cw__tmpl *t, const cw_arg *args, size_t nargs,
                          int glob_escape, cw__buf *out);

/* Resolver of FREE fields: append the value of @name to @out (CW_NOTFOUND: empty). */
typedef cw_status (*cw__free_fn)(void *ud, const char *name, size_t nlen, cw__buf *out);
cw_status cw__tmpl_format_free(cw__funcs *fx, const cw__tmpl *t, cw__free_fn fn, void *ud,
                               cw__buf *out);

/* Render one argument (path NULL: the value itself) as key text. */
cw_status cw__render_arg(cw__funcs *fx, const cw_arg *a, const char *argname, const char *path,
                         cw__buf *out);

/* ---- per-cache state (registry.c) ---- */

struct cw__ufmt {
    cw__ufmt *next;
    char *name;
    size_t min_args, max_args;
    cw_formatter_fn fn;
    void *ud;
};

typedef struct cw__tfmt {
    struct cw__tfmt *next;
    cw_arg_type type;
    const cw_arg_class *cls;
    cw_type_formatter_fn fn;
    void *ud;
} cw__tfmt;

typedef struct cw__tagreg {
    _Atomic(struct cw__tagreg *) next; /* appended under mu, read without it */
    cw__tmpl tag; /* tag template: FREE fields */
    cw__tmpl key; /* key template: FREE fields */
} cw__tagreg;

typedef struct cw__codec_ent {
    struct cw__codec_ent *next; /* retired chain */
    cw_codec codec;
    char *name;
} cw__codec_ent;

/* A background job (worker.c). */
typedef struct cw__task cw__task;
struct cw__task {
    cw__task *next;
    cw_func *f;
    char *key;                /* de-duplication: never two tasks for one key at once */
    void (*run)(cw__task *t); /* does the work */
    void (*drop)(cw__task *t, int ran); /* frees ctx; ran 0: the task was dropped unrun */
    void *ctx;
};

#define CW__POOL_THREADS 2
#define CW__POOL_QUEUE 256

typedef struct cw__pool {
    pthread_mutex_t mu;
    pthread_cond_t work; /* a task was queued, or stop */
    pthread_cond_t idle; /* a task finished */
    pthread_t th[CW__POOL_THREADS];
    int nthreads;
    int stopping;
    cw__task *head, *tail;
    size_t queued;
    cw__task *running[CW__POOL_THREADS];
} cw__pool;

struct cw__funcs {
    cw_cache *c;
    pthread_mutex_t mu;             /* registrations */
    _Atomic int nscopes;            /* this package's thread scopes open on c, all threads */
    _Atomic(cw__ufmt *) fmts;       /* newest first; entries live until close */
    _Atomic(cw__tfmt *) tfmts;
    _Atomic(cw__tagreg *) tags;     /* in registration order */
    char **ctx_names;               /* under mu */
    size_t nctx;
    int *fail_codes;                /* under mu; NULL with fail_set 0: every error */
    size_t nfail;
    _Atomic(cw__codec_ent *) codecs[256];
    cw__codec_ent *retired_codecs;  /* replaced registrations, freed at close */
    cw__pool pool;
};

/* The state of @c, created on first use when @create (NULL: out of memory, or absent). */
cw__funcs *cw__funcs_of(cw_cache *c, int create);
/* The scheme of the backend serving @key ("" when none). */
const char *cw__backend_scheme(cw_cache *c, const char *key);

/* ---- codecs (codec.c) ---- */

#define CW__CODEC_RAW 0
#define CW__CODEC_ERROR 1 /* a cached loader error: payload is the decimal code */

/* Encode @val with @codec into @tmp; data and len point at what to store. */
cw_status cw__encode(cw__funcs *fx, uint8_t codec, const cw_value *val, cw_value *tmp,
                     const void **data, size_t *len);
/* Decode in place the payload in @v stored with @codec: CW_OK with *err = 0 (a value) or
 * the cached loader error (CW__CODEC_ERROR); CW_NOTFOUND when undecodable (a miss);
 * CW_ENOMEM. */
cw_status cw__decode(cw__funcs *fx, uint8_t codec, cw_value *v, int *err);

/* ---- thread scopes (context.c) ---- */

/* Value of key-context @name for c on this thread (NULL when none). */
const char *cw__key_context_get(const cw_cache *c, const char *name, size_t nlen, size_t *vlen);
int cw__invalidating_further(const cw_cache *c);
void cw__detect_record(const cw_cache *c, const cw_detect_call *call);

/* ---- the cached function (cached.c) ---- */

typedef struct cw__flight cw__flight;

struct cw_func {
    cw_cache *c;
    cw__funcs *fx;
    cw_strategy strategy;
    const char *sname; /* static strategy name */
    char *name;
    char **argn;
    size_t nargs;
    cw__tmpl key;   /* with prefix */
    cw__tmpl bare;  /* without prefix (bloom elements) */
    cw__tmpl *tags;
    size_t ntags;
    cw__tmpl *inval;
    size_t ninval;
    /* The invalidate templates' fields are [mapped..., defaults..., arguments...]. */
    size_t ninval_map, ninval_def;
    uint32_t *inval_map_arg; /* the argument each mapped field takes */
    char **inval_def;        /* the text of each default */

    cw_loader_fn loader;
    void *loader_ud;
    cw_func *wraps;
    cw_iter_loader_fn iter_loader;
    int iterable; /* called with cw_func_iterate: an iterator, or locked over one */

    int64_t ttl_ms; /* 0 when ttl_fn / ttl_rfn or not given */
    cw_ttl_fn ttl_fn;
    cw_ttl_result_fn ttl_rfn;
    void *ttl_ud;

    cw_condition cond;
    cw_condition_fn cond_fn;
    void *cond_ud;
    int *cache_errors;
    size_t ncache_errors;
    int only_errors;
    int64_t time_cond_ms;

    int lock;
    int64_t lock_ttl_ms; /* 0: the call's TTL */
    int64_t lock_wait_ms; /* 0: twice the lock's TTL */
    int64_t lock_step_ms; /* 0: 1 ms doubling to 64 ms */
    int single_flight;
    uint8_t codec;

    int *errors; /* NULL: every error */
    size_t nerrors;

    int64_t cache_hits, update_after;
    int64_t early_ttl_ms, soft_ttl_ms; /* 0: a third of the TTL */
    int no_wait;
    int64_t limit, period_ms;
    cw_action_fn action;
    void *action_ud;
    int errors_rate;
    int64_t min_calls, half_open_ms;
    int half_open_every; /* let 1 call in N through half-open */
    uint64_t bloom_m;
    unsigned bloom_k;
    char *bloom_key;
    int no_check;

    pthread_mutex_t sf_mu; /* single flight */
    pthread_cond_t sf_cv;
    cw__flight *flights;
    int pending; /* background tasks queued or running; under fx->pool.mu */
};

/* The key of a call into @kb (initialised by the caller). */
cw_status cw__key(cw_func *f, const cw_arg *args, size_t nargs, cw__buf *kb);
/* Append suffix to a copy of key: kb := key + suffix. */
cw_status cw__key_suffix(cw__buf *kb, const char *key, const char *suffix);
/* TTL of this call, before there is a result. */
cw_status cw__ttl(cw_func *f, const cw_arg *args, size_t nargs, int64_t *ttl_ms);
/* TTL of this call for the outcome (@st, @result: NULL unless st is CW_OK): what a result
 * is stored with. Without a ttl_result_fn, cw__ttl's. */
cw_status cw__ttl_of(cw_func *f, const cw_arg *args, size_t nargs, int st, const cw_value *result,
                     int64_t *ttl_ms);

/* Run the loader (or the wrapped function); *took_ms is its duration on the cache's clock.
 * *from_cache (may be NULL) is 1 when the wrapped function served the value from its own
 * cache rather than from a loader: such a value is never stored again (the seed stores only
 * what a loader produced). */
int cw__load(cw_func *f, const cw_arg *args, size_t nargs, cw_value *out, int64_t *took_ms,
             int *from_cache);

/* Read the cached outcome of @key: *hit = 1 with the value in @out (returns CW_OK or a
 * cached error), or *hit = 0 (returns CW_OK; out may have been clobbered). Failures of the
 * cache count as misses, and so does every read while this thread has an invalidate_further
 * scope open on the cache. */
int cw__read(cw_func *f, const char *key, cw_value *out, cw__env_meta *meta, int *hit);

/* A cache operation of @f on @key failed with @st: CW_OK when the call goes on without the
 * cache (an outage or a disabled command: the loader answers), else the status the call
 * fails with: CW_ENOMEM, or CW_ESTATE when no backend serves @key (a misconfiguration, not
 * an outage: a cached function never runs silently uncached). */
cw_status cw__cache_failed(cw_func *f, const char *key, cw_status st);
/* CW_OK when a backend serves @key, else CW_ESTATE with the reason. */
cw_status cw__routed(cw_func *f, const char *key);

/* Decide what of a loader outcome to store: 0 nothing, 1 the value, 2 the error. */
int cw__decide(cw_func *f, int st, const cw_value *val, const cw_arg *args, size_t nargs,
               const char *key, int64_t took_ms);
/* Store the outcome (value when err == 0, else the error code) with tags and meta. */
cw_status cw__store(cw_func *f, const char *key, const cw_value *val, int err, int64_t ttl_ms,
                    int64_t refresh_at_ms, const cw_arg *args, size_t nargs);
/* Store bytes as they are with @codec in the envelope, with the function's tags. */
cw_status cw__store_bytes(cw_func *f, const char *key, const void *data, size_t len, uint8_t codec,
                          int64_t ttl_ms, int64_t refresh_at_ms, const cw_arg *args, size_t nargs);
/* Load, decide, store: the miss path shared by the caching strategies. *from_cache as for
 * cw__load (then nothing is stored). */
int cw__load_store(cw_func *f, const cw_arg *args, size_t nargs, const char *key, int64_t ttl_ms,
                   int64_t refresh_after_ms, cw_value *out, int *from_cache);

/* Single flight: run fn(ctx, out, from_cache) once per key among concurrent callers of f;
 * the others wait and get a copy of its outcome (value, status and from_cache). */
typedef int (*cw__sf_fn)(void *ctx, cw_value *out, int *from_cache);
int cw__single_flight(cw_func *f, const char *key, cw__sf_fn fn, void *ctx, cw_value *out,
                      int *from_cache);

/* Take the lock @key for @ttl_ms as @f's options say (.no_wait, .lock_wait, .lock_step):
 * CW_OK (release @g with cw_lock_release()), CW_ELOCKED, or what cw_lock() failed with. */
cw_status cw__func_lock(cw_func *f, const char *key, int64_t ttl_ms, cw_lock_guard *g);

/* Is @code in the list (NULL list: every non-OK code)? */
int cw__code_in(const int *codes, size_t n, int code);

/* Record the call in open detectors: @val is its value (used when st is CW_OK; NULL: none),
 * @error the loader error a cached value was served for (0: none). Inline, so that a call
 * with no scope open anywhere on the cache pays one load (the hit path of W4). */
void cw__detect_slow(cw_func *f, const char *key, const cw_arg *args, size_t nargs, int from_cache,
                     int st, const cw_value *val, int error);
static inline void cw__detect(cw_func *f, const char *key, const cw_arg *args, size_t nargs,
                              int from_cache, int st, const cw_value *val, int error)
{
    if (atomic_load_explicit(&f->fx->nscopes, memory_order_relaxed))
        cw__detect_slow(f, key, args, nargs, from_cache, st, val, error);
}

/* Deep copies of arguments for background tasks: CW_ENOTSUP when an object has no clone. */
cw_status cw__args_clone(const cw_arg *args, size_t nargs, cw_arg **out);
void cw__args_free(cw_arg *args, size_t nargs);

/* ---- strategies ----
 * Each sets *from_cache (never NULL) to 1 when @out came from a cache (its own or, for
 * the strategies that only pass the loader's value on, the wrapped function's), else 0. */
int cw__simple_call(cw_func *f, const cw_arg *args, size_t nargs, cw_value *out, int *from_cache);
int cw__failover_call(cw_func *f, const cw_arg *args, size_t nargs, cw_value *out, int *from_cache);
int cw__hit_call(cw_func *f, const cw_arg *args, size_t nargs, cw_value *out, int *from_cache);
int cw__early_call(cw_func *f, const cw_arg *args, size_t nargs, cw_value *out, int *from_cache);
int cw__soft_call(cw_func *f, const cw_arg *args, size_t nargs, cw_value *out, int *from_cache);
int cw__locked_call(cw_func *f, const cw_arg *args, size_t nargs, cw_value *out, int *from_cache);
int cw__rate_limit_call(cw_func *f, const cw_arg *args, size_t nargs, cw_value *out, int *from_cache);
int cw__slice_rate_limit_call(cw_func *f, const cw_arg *args, size_t nargs, cw_value *out,
                              int *from_cache);
int cw__circuit_call(cw_func *f, const cw_arg *args, size_t nargs, cw_value *out, int *from_cache);
int cw__bloom_call(cw_func *f, const cw_arg *args, size_t nargs, cw_value *out, int *from_cache);
cw_status cw__bloom_setup(cw_func *f, const cw_func_options *o);
int cw__iterator_replay_or_load(cw_func *f, const cw_arg *args, size_t nargs, cw_chunk_fn fn,
                                void *ud);
/* Run @f's stream (its iterator loader, or the iterator function it wraps) straight to @fn,
 * caching nothing (iterator.c). */
int cw__iterate_through(cw_func *f, const cw_arg *args, size_t nargs, cw_chunk_fn fn, void *ud);
/* The locked strategy over an iterator: the lock is held while the chunks flow (locked.c). */
int cw__locked_iterate(cw_func *f, const cw_arg *args, size_t nargs, cw_chunk_fn fn, void *ud);

/* Invalidation after a successful call (tags.c): parse .invalidate with its maps and
 * defaults at creation, run it after a call, free it with the function. */
cw_status cw__invalidate_setup(cw_func *f, const cw_func_options *o);
cw_status cw__run_invalidate(cw_func *f, const cw_arg *args, size_t nargs);
void cw__invalidate_free(cw_func *f);

/* ---- background pool (worker.c) ---- */
/* Queue t: CW_OK (the pool owns t), CW_NOTSTORED (a task for t->key is queued or running,
 * or the queue is full; t untouched), CW_ENOMEM / CW_ESTATE (no thread could start). */
cw_status cw__pool_submit(cw__funcs *fx, cw__task *t);
/* Drop f's queued tasks and wait for its running ones. */
void cw__pool_forget(cw__funcs *fx, cw_func *f);
void cw__pool_init(cw__pool *p);
/* Stop and join the threads, dropping queued tasks. */
void cw__pool_stop(cw__pool *p);

/* Small helpers. */
char *cw__strdup(const char *s);
char *cw__strndup(const char *s, size_t n);

#endif /* CW_STRATEGY_H */
