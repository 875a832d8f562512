/*
 * cashews/func.h - cached functions: the seed's decorator API in C. Include <cashews.h>.
 *
 * A loader computes a value from the call's arguments. Wrap it in a cached function (cw_func)
 * built from an options struct, then call the cw_func instead of the loader:
 *
 *   static int load_user(void *ud, const cw_arg *args, size_t nargs, cw_value *out)
 *   {   // args[0] is "id"
 *       char buf[64];
 *       int n = snprintf(buf, sizeof buf, "{\"id\":%lld}", (long long)args[0].v.i);
 *       return cw_value_set(out, buf, (size_t)n);
 *   }
 *   cw_func *get_user = CW_FUNC(cache, load_user, .args = "id", .key = "user:{id}", .ttl = "1h");
 *   cw_value v = {0};
 *   int st = CW_CALL(get_user, &v, CW_ARG_INT(42));   // loader runs once, then hits
 *   ...
 *   cw_value_free(&v);
 *   cw_func_free(get_user);                            // before cw_cache_free(cache)
 *
 * Every strategy of the seed is one cw_strategy value: simple (the default), failover, hit,
 * early, soft, iterator, locked, rate_limit, slice_rate_limit, circuit_breaker and bloom.
 * A cw_func can be the loader of another (.wraps), so failover(slice_rate_limit(loader))
 * stacks as the seed's decorators do. Durations are cw_ttl_parse() texts ("90", "1.5",
 * "10m", "250ms"). Time is the cache's clock (cw_cache_options.clock), so tests move it.
 *
 * Keys: NULL .key gives the seed's default key "NAME:arg1:{arg1}:arg2:{arg2}..." (NAME is
 * .name, by default the loader's C name); a template fills "{name}" fields from arguments
 * (or the thread's key context), "{user.uuid}" asks a cw_arg_class for a nested field, and
 * "{name:formatter(args)}" applies lower, upper, len, hash(md5|sha1|sha256), jwt(claim) or a
 * registered formatter. Unknown names or formatters fail at creation (CW_EINVAL with the
 * reason in cw_cache_errmsg()), never at call time.
 *
 * Thread safety: a cw_func may be called from any number of threads at once. Registrations
 * (formatters, codecs, tags, key-context names, default fail errors) are meant for setup but
 * are safe at any time. Scopes (key context, invalidate_further, detect) belong to the thread
 * that opened them.
 */
#ifndef CASHEWS_FUNC_H
#define CASHEWS_FUNC_H

#include "cache.h"

#ifdef __cplusplus
extern "C" {
#endif

typedef struct cw_func cw_func; /* opaque; body in src/strategies/strategy.h */

/* ---- Arguments ------------------------------------------------------------------------- */

typedef enum cw_arg_type {
    CW_T_NULL = 0, /* the seed's None: formats as "" */
    CW_T_STR,      /* text: as is; a counted string (CW_ARG_STRN) holding a NUL byte renders
                    * as lowercase hex of all its bytes, as CW_T_BYTES does, since keys are
                    * C strings and the NUL would otherwise cut the key */
    CW_T_INT,      /* int64: decimal */
    CW_T_DOUBLE,   /* shortest text that reads back the same, with ".0" for integers ("2.0") */
    CW_T_BOOL,     /* "true" / "false" */
    CW_T_BYTES,    /* as is when valid UTF-8 without NUL, else lowercase hex */
    CW_T_OBJ       /* a user object described by a cw_arg_class */
} cw_arg_type;

/* How the library reads a user object (the seed's attribute access, "{user.uuid}"). */
typedef struct cw_arg_class {
    const char *name; /* for messages */
    /* Write the text of @obj, or of its field @path ("" = the object itself, else a dotted
     * path such as "uuid" or "address.city"), snprintf-style: write at most @size bytes
     * including a NUL and return the full length, or -1 when there is no such field. */
    int (*to_text)(const void *obj, const char *path, char *buf, size_t size);
    /* Optional deep copy and release, so that a background refresh (early, hit) can use the
     * object after the call returned. Without them such refreshes run on the caller's thread. */
    void *(*clone)(const void *obj);
    void (*release)(void *obj);
} cw_arg_class;

/* One argument of a call. Build them with the CW_ARG_* macros; borrowed for the call only. */
typedef struct cw_arg {
    cw_arg_type type;
    size_t len; /* STR: bytes, or (size_t)-1 for NUL-terminated; BYTES: bytes */
    union {
        const char *s;   /* STR */
        const void *b;   /* BYTES */
        int64_t i;       /* INT, BOOL */
        double d;        /* DOUBLE */
        const void *obj; /* OBJ */
    } v;
    const cw_arg_class *cls; /* OBJ */
} cw_arg;

#define CW_ARG_NULL ((cw_arg){ .type = CW_T_NULL })
#define CW_ARG_STR(str) ((cw_arg){ .type = CW_T_STR, .len = (size_t)-1, .v = { .s = (str) } })
#define CW_ARG_STRN(str, n) ((cw_arg){ .type = CW_T_STR, .len = (n), .v = { .s = (str) } })
#define CW_ARG_INT(x) ((cw_arg){ .type = CW_T_INT, .v = { .i = (int64_t)(x) } })
#define CW_ARG_DOUBLE(x) ((cw_arg){ .type = CW_T_DOUBLE, .v = { .d = (double)(x) } })
#define CW_ARG_BOOL(x) ((cw_arg){ .type = CW_T_BOOL, .v = { .i = !!(x) } })
#define CW_ARG_BYTES(p, n) ((cw_arg){ .type = CW_T_BYTES, .len = (n), .v = { .b = (p) } })
#define CW_ARG_OBJ(p, klass) ((cw_arg){ .type = CW_T_OBJ, .v = { .obj = (p) }, .cls = (klass) })

/* ---- Loaders and callbacks ------------------------------------------------------------- */

/* A loader: compute the value for @args (in the order of cw_func_options.args) into @out
 * (caller-owned; fill it with cw_value_set()). Return CW_OK, or an error code: the library's
 * own or >= CW_USER_ERROR for yours; the cached function passes it to its caller. Called
 * from the caller's thread, or from a library worker thread for background refreshes. */
typedef int (*cw_loader_fn)(void *ud, const cw_arg *args, size_t nargs, cw_value *out);

/* Iterator loaders (CW_ITERATOR) push chunks with cw_emit() instead of filling a value. */
typedef struct cw_emitter cw_emitter;
typedef int (*cw_iter_loader_fn)(void *ud, const cw_arg *args, size_t nargs, cw_emitter *em);
/* The consumer of cw_func_iterate(): return 0 to go on, non-zero to stop. */
typedef int (*cw_chunk_fn)(void *ud, const void *chunk, size_t len);

/* TTL from the arguments (the seed's callable ttl): CW_OK with *ttl_ms > 0 or CW_NO_EXPIRY. */
typedef cw_status (*cw_ttl_fn)(void *ud, const cw_arg *args, size_t nargs, int64_t *ttl_ms);

/* TTL from the arguments and the result (the seed's callable ttl taking result=): @status is
 * what the loader returned (or a cached outcome's status) and @result its value when status
 * is CW_OK. @result is NULL where a TTL is needed before there is a result: a lock's TTL, a
 * hit counter, an iterator's chunks, and early/soft's refresh instant. Same returns as
 * cw_ttl_fn; a failure stores nothing (the call still returns the loader's result). */
typedef cw_status (*cw_ttl_result_fn)(void *ud, const cw_arg *args, size_t nargs, int status,
                                      const cw_value *result, int64_t *ttl_ms);

/* A cache condition: return non-zero to store this outcome. @status is the loader's return,
 * @result its value (empty unless status is CW_OK), @key the cache key. */
typedef int (*cw_condition_fn)(void *ud, int status, const cw_value *result, const cw_arg *args,
                               size_t nargs, const char *key);

/* What a rate-limited call returns instead of running the loader (may fill @out). */
typedef int (*cw_action_fn)(void *ud, const cw_arg *args, size_t nargs, cw_value *out);

/* ---- Options --------------------------------------------------------------------------- */

typedef enum cw_strategy {
    CW_SIMPLE = 0,       /* get, else load and store (with .lock: one loader per key) */
    CW_FAILOVER,         /* load; on an error in .errors serve the last good value */
    CW_HIT,              /* expire after .cache_hits hits; refresh at .update_after hits */
    CW_EARLY,            /* refresh in the background once .early_ttl has passed */
    CW_SOFT,             /* recompute after .soft_ttl; on error serve the stored value */
    CW_ITERATOR,         /* cache and replay the chunks of an iterator loader */
    CW_LOCKED,           /* one loader at a time per key (lock for .ttl); nothing cached */
    CW_RATE_LIMIT,       /* fixed window: .limit calls per .period, ban for .ttl */
    CW_SLICE_RATE_LIMIT, /* sliding window: .limit calls in any .period */
    CW_CIRCUIT_BREAKER,  /* open for .ttl when .errors_rate % of calls in .period fail */
    CW_BLOOM,            /* bloom filter over the keys: "no" is exact, "maybe" checked */
    CW_NO_CACHE          /* only run the loader (for .invalidate wrappers) */
} cw_strategy;

/* Built-in conditions (the seed's default and NOT_NONE). */
typedef enum cw_condition {
    CW_COND_ALWAYS = 0,   /* store every successful result, empty ones too */
    CW_COND_NOT_EMPTY = 1 /* store only non-empty results */
} cw_condition;

/* Options of a cached function. All-zero means defaults; only a loader (or .wraps, or
 * .iter_loader) and, for caching strategies, a TTL are required. Strings are copied. */
typedef struct cw_func_options {
    cw_strategy strategy;
    const char *name;        /* for the default key; NULL: .loader_name, then the inner's */
    const char *loader_name; /* set by CW_FUNC() to the loader's C name */
    const char *args;        /* argument names, "user_id, version"; NULL: none (or wraps's) */

    cw_loader_fn loader;
    void *loader_ud;
    cw_func *wraps;              /* instead of a loader: another cached function (stacking);
                                    it must outlive this one */
    cw_iter_loader_fn iter_loader; /* CW_ITERATOR and CW_LOCKED (a locked iterator); an
                                      iterator function in .wraps works too */

    const char *key;    /* key template; NULL: the default key */
    const char *prefix; /* prepended with ':'; NULL: the strategy's ("fail", "hit", ...), "": none */

    const char *ttl;    /* cache TTL text ("1h"); locks, bans and open circuits use it too */
    int64_t ttl_ms;     /* instead of .ttl (> 0 or CW_NO_EXPIRY) */
    cw_ttl_fn ttl_fn;   /* instead of both: computed per call */
    void *ttl_ud;       /* for ttl_fn and ttl_result_fn */

    cw_condition condition;      /* default CW_COND_ALWAYS */
    cw_condition_fn condition_fn; /* instead of .condition */
    void *condition_ud;
    const int *cache_errors;     /* also store these loader errors (the seed's with_exceptions);
                                    a hit then returns the error again */
    size_t ncache_errors;
    int only_errors;             /* store only those errors, never values (only_exceptions) */
    const char *time_condition;  /* store only if the loader took at least this long */

    const char *const *tags;     /* tag templates ("items", "page:{page}") */
    size_t ntags;

    int lock;                    /* one loader per key across processes; others wait for it.
                                    Needs an expiry: a TTL other than CW_NO_EXPIRY, or .lock_ttl */
    const char *lock_ttl;        /* NULL: the TTL */
    int no_single_flight;        /* default: concurrent misses of a key in this process share
                                    one loader call (the seed's thunder protection) */
    uint8_t codec;               /* 0: raw bytes; else an id given to cw_register_codec() */

    const char *const *invalidate; /* after every successful call, delete keys matching these
                                      templates filled from the arguments ('*' globs allowed;
                                      glob characters in argument values are escaped) */
    size_t ninvalidate;

    /* failover, soft and circuit_breaker: the loader errors that count. NULL: for soft every
     * error; for failover and circuit_breaker the cache's default set at creation
     * (cw_set_default_fail_errors(), itself every error until set) */
    const int *errors;
    size_t nerrors;

    int64_t cache_hits;       /* hit: hits a value serves (> 0) */
    int64_t update_after;     /* hit: refresh in the background at this hit (0: never) */
    const char *early_ttl;    /* early: refresh once this old (NULL: a third of the TTL) */
    const char *soft_ttl;     /* soft: recompute once this old (NULL: a third of the TTL) */
    int no_wait;              /* locked: fail with CW_ELOCKED instead of waiting (.lock_wait) */

    int64_t limit;            /* rate limits: calls allowed per period (> 0) */
    const char *period;       /* rate limits and circuit_breaker: the window */
    cw_action_fn action;      /* rate limits: run instead of returning CW_ERATELIMIT */
    void *action_ud;

    int errors_rate;          /* circuit_breaker: percent of failed calls that opens (1..99) */
    int64_t min_calls;        /* circuit_breaker: calls in the period before it may open (0: 1) */
    const char *half_open_ttl; /* circuit_breaker: after the open TTL, let probes through for
                                  this long; a failing probe opens it again */
    int half_open_pct;        /* circuit_breaker: percent of calls let through half-open (0: 10) */

    int64_t capacity;         /* bloom: expected elements (> 0); the filter's bitmap must fit
                                 2^32 bits (about 4.4e8 elements at 1%), else CW_EINVAL */
    double false_positives;   /* bloom: percent (0: 1); above about 70 no hash function is
                                 left (k = 0): CW_EINVAL */
    int no_check;             /* bloom: answer "maybe" without calling the loader */

    /* locked and .lock: how long a caller waits for a lock another holds (the seed's
     * wait=True), then CW_ELOCKED (locked) or loads anyway (.lock). NULL: twice the lock's
     * TTL, so a waiter that started with a holder that died takes the expired lock. */
    const char *lock_wait;
    /* locked and .lock: the pause between attempts while waiting (the seed's step /
     * check_interval). NULL: 1 ms, doubling up to 64 ms. */
    const char *lock_step;

    cw_ttl_result_fn ttl_result_fn; /* instead of .ttl/.ttl_ms/.ttl_fn: the TTL of what is stored
                                       computed from the result too (uses .ttl_ud) */

    /* .invalidate templates' own fields (the seed's invalidate args_map and defaults):
     * "field=argument" fills {field} with that argument of the call; "field=text" fills it
     * with the text. As in the seed a mapping wins over a default, and a default over an
     * argument of the same name. Unknown fields still fail at creation. */
    const char *const *invalidate_args;
    size_t ninvalidate_args;
    const char *const *invalidate_defaults;
    size_t ninvalidate_defaults;
} cw_func_options;

/** cw_func_new() - Create a cached function on @c.
 * @out: receives it; free with cw_func_free() before cw_cache_free(@c).
 * @o: copied. Return: CW_OK; CW_EINVAL (missing loader or TTL, bad template, unknown
 * argument or formatter, bad duration or strategy parameter: see cw_cache_errmsg()); CW_ENOMEM.
 * Thread safety: any thread. */
CW_API cw_status cw_func_new(cw_func **out, cw_cache *c, const cw_func_options *o);

/** cw_func_make() - cw_func_new() returning the function, or NULL (reason in cw_cache_errmsg()). */
CW_API cw_func *cw_func_make(cw_cache *c, const cw_func_options *o);

/* The decorator: CW_FUNC(cache, loader, .ttl = "1h", .key = "user:{id}", .args = "id"). */
#define CW_FUNC(cache, loader_fn, ...) \
    cw_func_make((cache), &(cw_func_options){ .loader_name = #loader_fn, .loader = (loader_fn), __VA_ARGS__ })

/** cw_func_free() - Wait for this function's running background refreshes, drop its queued
 * ones, and free it. NULL is a no-op. No call on @f may be running or start afterwards. */
CW_API void cw_func_free(cw_func *f);

/** cw_func_call() - Call the cached function.
 * @args: @nargs values, as many as the names in .args, borrowed.
 * @out: caller-owned, reused when big enough (the hit path allocates nothing when it fits).
 * Return: CW_OK with the value in @out; the loader's error (also a cached one); CW_EINVAL
 * (wrong argument count, a nested field the object lacks); CW_ELOCKED, CW_ERATELIMIT,
 * CW_ECIRCUITOPEN from those strategies; CW_ESTATE when no backend serves the key (no
 * cw_cache_setup() for it: the loader does not run); CW_ENOMEM. Backend failures on the
 * cache's side do not fail the call: the loader runs instead (see cw_cache_errmsg()).
 * Thread safety: any thread, concurrently. */
CW_API int cw_func_call(cw_func *f, const cw_arg *args, size_t nargs, cw_value *out);

/* CW_CALL(f, &out, CW_ARG_INT(1), CW_ARG_STR("x")): at least one argument; else call
 * cw_func_call(f, NULL, 0, &out). */
#define CW_CALL(f, out, ...)                                                               \
    cw_func_call((f), (const cw_arg[]){ __VA_ARGS__ },                                     \
                 sizeof((const cw_arg[]){ __VA_ARGS__ }) / sizeof(cw_arg), (out))

/** cw_func_loader() - A cw_loader_fn that calls the cw_func given as @ud: how a cached
 * function becomes the loader of something else (cw_func_options.wraps does it for you). */
CW_API int cw_func_loader(void *ud, const cw_arg *args, size_t nargs, cw_value *out);

/** cw_func_iterate() - Call an iterator function: CW_ITERATOR (on a hit replay the cached
 * chunks, else run the iterator loader, passing each chunk to @fn as it comes and caching it)
 * or CW_LOCKED over an iterator loader (the lock held until the stream ends, nothing cached;
 * CW_ELOCKED as cw_func_call()). Stacks: an iterator over a locked iterator.
 * Return: CW_OK; the loader's error; CW_ESTATE when @fn stopped early (nothing more cached). */
CW_API int cw_func_iterate(cw_func *f, const cw_arg *args, size_t nargs, cw_chunk_fn fn, void *ud);

/** cw_emit() - From an iterator loader: pass one chunk on. Return: CW_OK; CW_ESTATE when the
 * consumer stopped (return it from the loader); CW_ENOMEM. */
CW_API int cw_emit(cw_emitter *em, const void *chunk, size_t len);

/** cw_func_key() - The cache key @f uses for @args, into @key (NUL-terminated text).
 * Return: CW_OK, CW_EINVAL, CW_ENOMEM. */
CW_API cw_status cw_func_key(cw_func *f, const cw_arg *args, size_t nargs, cw_value *key);

/** cw_func_template() - The key template of @f after defaults and prefix ("user:{id}"). */
CW_API const char *cw_func_template(const cw_func *f);

/** cw_func_invalidate() - Delete what @f cached for @args (the seed's invalidate_func).
 * Return: CW_OK (also when nothing was cached), common returns of cw_delete(). */
CW_API cw_status cw_func_invalidate(cw_func *f, const cw_arg *args, size_t nargs);

/** cw_bloom_set() - Add @args's element to a CW_BLOOM function's filter. */
CW_API cw_status cw_bloom_set(cw_func *f, const cw_arg *args, size_t nargs);
/** cw_bloom_check() - *maybe = 0 when the element was certainly never set, 1 when it may
 * have been (the filter only; the loader is not called). */
CW_API cw_status cw_bloom_check(cw_func *f, const cw_arg *args, size_t nargs, int *maybe);

/* ---- Formatters and key context ---------------------------------------------------------- */

/* A formatter: transform the text @in (the field's value, already formatted) into @buf,
 * snprintf-style (return the full length, or -1 on bad input). @fargs are the template's
 * arguments of "{x:name(a,b)}", trimmed. */
typedef int (*cw_formatter_fn)(void *ud, const char *in, size_t inlen, const char *const *fargs,
                               size_t nfargs, char *buf, size_t size);

/** cw_register_formatter() - Add (or replace) the formatter @name, accepting @min_args to
 * @max_args arguments (checked when templates are parsed). Built-ins: lower, upper, len,
 * hash (md5 default, sha1, sha256), jwt(claim).
 * Return: CW_OK, CW_EINVAL (bad name, min > max), CW_ENOMEM. */
CW_API cw_status cw_register_formatter(cw_cache *c, const char *name, size_t min_args,
                                       size_t max_args, cw_formatter_fn fn, void *ud);

/* A type formatter: write the text of @a snprintf-style (the seed's type_format). */
typedef int (*cw_type_formatter_fn)(void *ud, const cw_arg *a, char *buf, size_t size);

/** cw_register_type_formatter() - Format every argument of @type (for CW_T_OBJ: of class
 * @klass, or every object when @klass is NULL) with @fn instead of the default rendering.
 * Return: CW_OK, CW_EINVAL, CW_ENOMEM. */
CW_API cw_status cw_register_type_formatter(cw_cache *c, cw_arg_type type,
                                            const cw_arg_class *klass, cw_type_formatter_fn fn,
                                            void *ud);

/** cw_register_key_context() - Allow templates of @c to use "{@name}" from the key context.
 * Return: CW_OK, CW_EINVAL, CW_ENOMEM. */
CW_API cw_status cw_register_key_context(cw_cache *c, const char *name);

/** cw_key_context_begin() - On this thread, until cw_key_context_end(), give templates of @c
 * the @n names and values (copied); inner scopes win, arguments win over both (the seed's
 * `with key_context(client_id=...)`). A name never filled formats as "".
 * Return: CW_OK, CW_EINVAL, CW_ENOMEM (too deep: 32 scopes per thread). */
CW_API cw_status cw_key_context_begin(cw_cache *c, size_t n, const char *const *names,
                                      const char *const *values);
/** cw_key_context_end() - Close the innermost key context of @c. CW_ESTATE when none. */
CW_API cw_status cw_key_context_end(cw_cache *c);

/* ---- Codecs (the seed's register_type) ---------------------------------------------------- */

typedef struct cw_codec {
    const char *name;
    /* value -> stored bytes, and back; fill @out with cw_value_set(). */
    cw_status (*encode)(void *ud, const void *in, size_t len, cw_value *out);
    cw_status (*decode)(void *ud, const void *in, size_t len, cw_value *out);
    void *ud;
} cw_codec;

/** cw_register_codec() - Register @codec as @id (128..255; ids below are the library's).
 * Values are stored with their codec id and decoded by it, whichever function reads them;
 * a value whose codec is unknown or fails to decode counts as a miss.
 * Return: CW_OK, CW_EINVAL, CW_ENOMEM. */
CW_API cw_status cw_register_codec(cw_cache *c, uint8_t id, const cw_codec *codec);

/** cw_set_default_fail_errors() - The errors failover functions created afterwards react to
 * when they name none (the seed's set_default_fail_exceptions). n == 0: every error. */
CW_API cw_status cw_set_default_fail_errors(cw_cache *c, const int *codes, size_t n);

/* ---- Tags and invalidation ---------------------------------------------------------------- */

/** cw_register_tag() - Allow tag template @tag ("page:{page}") on keys matching @key_template
 * ("items:{page}"); the tag's fields come from the key's. Cached functions register their
 * tags with their key template themselves. Return: CW_OK, CW_EINVAL, CW_ENOMEM. */
CW_API cw_status cw_register_tag(cw_cache *c, const char *tag, const char *key_template);

/** cw_check_tags() - CW_OK when every tag in @tags is registered for @key (the seed's check
 * before set with tags), else CW_EINVAL naming the first one that is not. */
CW_API cw_status cw_check_tags(cw_cache *c, const char *key, const char *const *tags, size_t n);

/** cw_get_key_tags() - Call @fn with every tag the registry gives @key (the tag in key/klen),
 * in the order the tags were first registered, each once; fields the key template lacks come
 * from this thread's key context (else ""). Return: CW_OK, CW_EINVAL, CW_ENOMEM. */
CW_API cw_status cw_get_key_tags(cw_cache *c, const char *key, cw_scan_fn fn, void *ud);

/** cw_incr_tags() - cw_incr() that also files @key under the @n tags (the seed's incr with
 * tags=), each in the registry for @key (checked first, as cw_check_tags(): nothing changes
 * when one is not); the tag sets get @ttl_ms as cw_set_add() gives it.
 * Return: CW_OK, CW_EINVAL (a tag not registered for @key, NULL or empty), cw_incr()'s returns. */
CW_API cw_status cw_incr_tags(cw_cache *c, const char *key, int64_t by, int64_t ttl_ms,
                              const char *const *tags, size_t ntags, int64_t *result);

/** cw_delete_tags() - Delete every key carrying one of the @n tags, on whichever backend it
 * lives, by popping each tag's set (no scan). @deleted (may be NULL) counts deleted keys.
 * A key deleted otherwise (cw_delete, cw_delete_many, cw_delete_match) leaves the sets of
 * the tags the registry gives it, so a value stored later under it without tags stays. */
CW_API cw_status cw_delete_tags(cw_cache *c, const char *const *tags, size_t n, uint64_t *deleted);

/** cw_invalidate_further_begin() - On this thread, until the matching end, cached calls on
 * @c skip the cache read: the loader runs and its result refreshes the cache (the seed's
 * `with invalidate_further():`). Return: CW_OK, CW_ENOMEM (too deep). */
CW_API cw_status cw_invalidate_further_begin(cw_cache *c);
CW_API cw_status cw_invalidate_further_end(cw_cache *c);

/* ---- Detect: where did a result come from? -------------------------------------------- */

typedef struct cw_detect_call {
    char *key;            /* the cache key */
    const char *strategy; /* "simple", "failover", "hit", ... (static) */
    const char *backend;  /* scheme of the backend holding the key ("mem", ...; static) */
    int64_t ttl_ms;       /* the function's TTL for this call (a .ttl_result_fn's: for its result) */
    int from_cache;       /* 1: served from the cache without running the loader */
    int status;           /* what the call returned */
    char *key_template;   /* the function's key template (cw_func_template()) */
    cw_value value;       /* the call's value when status is CW_OK (empty for iterators) */
    int error;            /* failover and soft: the loader error a cached value was served for
                             (the seed's exc), else 0 */
} cw_detect_call;

/* Zero-initialise; filled between begin and end; release with cw_detector_free(), which frees
 * every call's key, template and value. */
typedef struct cw_detector {
    cw_detect_call *calls;
    size_t ncalls;
    size_t cap;
} cw_detector;

/** cw_detect_begin() - Record every cached call this thread makes on @c into @d (and every
 * enclosing detector) until cw_detect_end(). Return: CW_OK, CW_EINVAL, CW_ENOMEM (too deep). */
CW_API cw_status cw_detect_begin(cw_cache *c, cw_detector *d);
CW_API cw_status cw_detect_end(cw_cache *c);
/** cw_detector_first_hit() - The first call served from cache, or NULL (X-From-Cache). */
CW_API const cw_detect_call *cw_detector_first_hit(const cw_detector *d);
CW_API void cw_detector_free(cw_detector *d);

#ifdef __cplusplus
}
#endif
#endif /* CASHEWS_FUNC_H */
