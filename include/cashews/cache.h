/*
 * cashews/cache.h - the cache instance: setup from URLs, prefix routing, every basic command,
 * disable/enable, middlewares and callbacks. Include <cashews.h>.
 *
 * Keys are NUL-terminated, non-empty strings of at most cw_cache_options.max_key_bytes bytes.
 * Values are byte strings. cw_set()/cw_get() store values inside a small envelope
 * (docs/FORMAT.md) that carries the codec and timestamps the strategies need; the *_raw
 * commands store and return bytes untouched (what incr and other clients see).
 *
 * Thread safety: unless a function says otherwise, every call may be made from any number of
 * threads at once on the same cw_cache, between cw_cache_new() and cw_cache_free().
 */
#ifndef CASHEWS_CACHE_H
#define CASHEWS_CACHE_H

#include "backend.h"
#include "common.h"

#ifdef __cplusplus
extern "C" {
#endif

typedef struct cw_cache cw_cache; /* opaque; body in src/core/cache.c */

/* Commands, for disable/enable masks, middlewares and callbacks. Append only. */
#define CW_COMMAND_TABLE(X)                                                                 \
    X(GET, 0, "get") X(GET_RAW, 1, "get_raw") X(GET_MANY, 2, "get_many")                   \
    X(GET_MATCH, 3, "get_match") X(SET, 4, "set") X(SET_RAW, 5, "set_raw")                 \
    X(SET_MANY, 6, "set_many") X(INCR, 7, "incr") X(DELETE, 8, "delete")                   \
    X(DELETE_MANY, 9, "delete_many") X(DELETE_MATCH, 10, "delete_match")                   \
    X(EXPIRE, 11, "expire") X(GET_EXPIRE, 12, "get_expire") X(EXISTS, 13, "exists")        \
    X(SCAN, 14, "scan") X(PING, 15, "ping") X(CLEAR, 16, "clear")                          \
    X(SET_LOCK, 17, "set_lock") X(UNLOCK, 18, "unlock") X(IS_LOCKED, 19, "is_locked")      \
    X(GET_KEYS_COUNT, 20, "get_keys_count") X(GET_SIZE, 21, "get_size")                    \
    X(GET_BITS, 22, "get_bits") X(SET_BITS, 23, "set_bits") X(SLICE_INCR, 24, "slice_incr") \
    X(SET_ADD, 25, "set_add") X(SET_REMOVE, 26, "set_remove") X(SET_POP, 27, "set_pop")     \
    X(INCR_BITS, 28, "incr_bits")

#define CW__COMMAND_ENUM(name, num, text) CW_CMD_##name = num,
typedef enum cw_command { CW_COMMAND_TABLE(CW__COMMAND_ENUM) CW_CMD__COUNT } cw_command;
#undef CW__COMMAND_ENUM

/* A set of commands: CW_CMD_BIT(CW_CMD_GET) | CW_CMD_BIT(CW_CMD_SET); CW_CMD_ALL is every one. */
typedef uint64_t cw_command_mask;
#define CW_CMD_BIT(cmd) ((cw_command_mask)1 << (cmd))
#define CW_CMD_ALL (~(cw_command_mask)0)

/** cw_command_name() - "get", "set", ...; "unknown" out of range. Static. Thread-safe. */
CW_API const char *cw_command_name(cw_command cmd);

/* Options of a cache instance. All-zero means defaults. */
typedef struct cw_cache_options {
    cw_clock_fn clock;      /* NULL: cw_clock_now_ms (CLOCK_REALTIME); tests inject a fake */
    void *clock_ud;         /* passed to clock */
    cw_log_fn log;          /* NULL: the library stays silent */
    void *log_ud;           /* passed to log */
    size_t max_key_bytes;   /* 0: 1024 (keys and patterns longer get CW_ETOOBIG) */
    size_t max_value_bytes; /* 0: 512 MiB, Redis's limit (longer values get CW_ETOOBIG) */
} cw_cache_options;

/** cw_cache_new() - Create a cache with no backend yet (add them with cw_cache_setup()).
 * @out: receives the cache; free it with cw_cache_free().
 * @opts: NULL for defaults; copied.
 * Return: CW_OK, CW_ENOMEM. Thread safety: any thread. */
CW_API cw_status cw_cache_new(cw_cache **out, const cw_cache_options *opts);

/** cw_cache_new_default() - One line to a ready cache: cw_cache_new() + setup "mem://".
 * Return: CW_OK, CW_ENOMEM. */
CW_API cw_status cw_cache_new_default(cw_cache **out);

typedef struct cw_call cw_call; /* one command in flight; valid during the middleware call */

/* A middleware wraps every command: inspect the call, then either return
 * cw_call_next(call) (run the rest of the chain and the backend) or return a status of its
 * own without calling it (short-circuit; for reads it may fill the result with
 * cw_call_set_result()). Runs on the caller's thread; must be thread-safe. */
typedef cw_status (*cw_middleware_fn)(cw_call *call, void *ud);

/* A middleware and its user data, as cw_setup_options lists them. */
typedef struct cw_middleware {
    cw_middleware_fn fn;
    void *ud;
} cw_middleware;

/* Options of one backend setup. All-zero means defaults. */
typedef struct cw_setup_options {
    const char *prefix;        /* keys starting with it go to this backend; NULL/"" = default */
    int disable;               /* non-zero: set the backend up disabled (as ?disable=1) */
    const char *const *params; /* NULL, or NULL-terminated name, value, ... pairs: defaults
                                  for the URL's query parameters, which override them */
    /* NULL, or nmiddlewares middlewares for the commands this backend serves only (the seed's
     * setup(..., middlewares=(...))): they run after the cache's own (cw_cache_add_middleware),
     * the first listed outermost. The array is copied; each ud must outlive the cache. */
    const cw_middleware *middlewares;
    size_t nmiddlewares;
} cw_setup_options;

/** cw_cache_setup() - Open the backend that @url names and route keys with @opts->prefix to
 * it. The longest matching prefix wins; setting up a prefix again replaces its backend.
 * Parameters every backend accepts: enable=0|1, disable=0|1 (a backend set up disabled has
 * every command disabled on it, as cw_cache_disable_prefix(c, prefix, CW_CMD_ALL) does, and
 * cw_cache_enable_prefix() turns it on). Parameter names match in any case ("?SIZE=5" is
 * size), as the seed lower-cases them. An unknown scheme, an unknown parameter or a malformed
 * value is an error that names it.
 * @url: borrowed. @errbuf: NULL or CW_ERRMSG_SIZE bytes for the detail (also in
 * cw_cache_errmsg()).
 * Return: CW_OK, CW_EINVAL (also: nmiddlewares without middlewares, or one with a NULL fn),
 * CW_ENOMEM, or what the backend's open returned.
 * Thread safety: any thread; commands already running keep the old backend until they end
 * (the replaced backend is closed at cw_cache_free()). */
CW_API cw_status cw_cache_setup(cw_cache *c, const char *url, const cw_setup_options *opts,
                                char *errbuf);

/** cw_cache_register_backend() - Add a backend scheme for this cache's later setups.
 * @ops: must outlive the cache. A scheme registered twice: the later wins.
 * Return: CW_OK, CW_EINVAL (NULL ops, wrong abi_version, empty scheme), CW_ENOMEM. */
CW_API cw_status cw_cache_register_backend(cw_cache *c, const cw_backend_ops *ops);

/** cw_cache_backend() - The backend instance set up for exactly @prefix (NULL or "" for the
 * default), for backend-specific extras such as cw_disk_set_eviction_callback().
 * Return: the instance, owned by the cache and valid until cw_cache_free() (also after a
 * later setup of the same prefix replaced it), or NULL when no such prefix is set up.
 * Thread safety: any thread. */
CW_API cw_backend *cw_cache_backend(cw_cache *c, const char *prefix);

/** cw_cache_free() - Close every backend and free the cache. NULL is a no-op.
 * Thread safety: no other call may be running on @c or start afterwards. */
CW_API void cw_cache_free(cw_cache *c);

/** cw_cache_errmsg() - Detail of the last failure of the calling thread on @c (or of a
 * backend call made for @c). Return: static-per-thread text valid until this thread's next
 * failing call; "" when there is none. */
CW_API const char *cw_cache_errmsg(const cw_cache *c);

/** cw_cache_now_ms() - The cache's clock (the injected one, if any). Thread-safe. */
CW_API int64_t cw_cache_now_ms(const cw_cache *c);

/** cw_cache_maintain() - Purge expired entries on every backend that supports it (mem does
 * it by itself every check_interval too). Return: CW_OK or the first backend failure. */
CW_API cw_status cw_cache_maintain(cw_cache *c);

/* ---- Basic commands ------------------------------------------------------------------------
 * Common returns: CW_EINVAL (NULL/empty key, bad TTL: it must be > 0 or CW_NO_EXPIRY),
 * CW_ETOOBIG (key or value over the limits), CW_EDISABLED (the command is disabled globally
 * or in this thread's scope), CW_EBACKEND / CW_ETIMEOUT (see cw_cache_errmsg()), and what a
 * middleware chose to return.
 */

/* Options of cw_set_ex(). ttl_ms must be set: 0 is invalid, use CW_NO_EXPIRY for none. */
typedef struct cw_set_options {
    int64_t ttl_ms;           /* > 0, or CW_NO_EXPIRY */
    cw_set_mode mode;         /* CW_SET_ALWAYS (default), CW_SET_IF_ABSENT, CW_SET_IF_PRESENT */
    const char *const *tags;  /* NULL or ntags tag names to attach the key to */
    size_t ntags;
    int raw;                  /* non-zero: store the bytes without the envelope (as set_raw) */
} cw_set_options;

/** cw_set() - Store @len bytes at @val under @key for @ttl_ms (> 0, or CW_NO_EXPIRY).
 * @val: borrowed (may be NULL when len is 0). Return: CW_OK (plus the common returns). */
CW_API cw_status cw_set(cw_cache *c, const char *key, const void *val, size_t len, int64_t ttl_ms);
/** cw_set_ex() - cw_set() with a write mode and tags. Return: CW_OK, CW_NOTSTORED when the
 * mode's condition failed (plus the common returns). */
CW_API cw_status cw_set_ex(cw_cache *c, const char *key, const void *val, size_t len,
                           const cw_set_options *o);
/** cw_set_raw() - Store the bytes as they are, without the envelope. */
CW_API cw_status cw_set_raw(cw_cache *c, const char *key, const void *val, size_t len,
                            int64_t ttl_ms);

/** cw_get() - Copy the value stored under @key into @out (caller-owned; reused if big
 * enough; release with cw_value_free()). Values stored raw come back as they are.
 * Return: CW_OK, CW_NOTFOUND (out untouched), common returns. */
CW_API cw_status cw_get(cw_cache *c, const char *key, cw_value *out);
/** cw_get_default() - cw_get(), but on a miss copy @def into @out and return CW_NOTFOUND.
 * A disabled get (globally, on the key's backend or in a scope of this thread) is a miss
 * here, as in the seed: @out gets @def and the return is CW_NOTFOUND. */
CW_API cw_status cw_get_default(cw_cache *c, const char *key, const void *def, size_t deflen,
                                cw_value *out);
/* Makes the value cw_get_or_set_fn() stores on a miss: fill @out (empty, caller-owned by the
 * library call) with cw_value_set(). Return CW_OK to store it, or any other status (a loader's
 * own >= CW_USER_ERROR included) to fail the call with it, storing nothing. Runs on the
 * caller's thread, inside the call. */
typedef cw_status (*cw_default_fn)(void *ud, const char *key, cw_value *out);

/** cw_get_or_set() - The seed's `get_or_set(key, default, expire)`: the value stored under
 * @key, or on a miss @def (@deflen bytes, borrowed), which is stored under @key for @ttl_ms
 * (> 0, or CW_NO_EXPIRY) and returned. A disabled get is a miss; a set that is disabled or
 * not stored (an unreachable backend under suppress) leaves the default uncached, as in the
 * seed, and the call still succeeds. No lock: two threads that miss at once both store.
 * @out: caller-owned, filled on CW_OK; it also holds the default when storing it failed.
 * Return: CW_OK (a hit, or the default), CW_EINVAL (bad TTL, NULL out), the failure of the
 * get, or of the set (common returns). */
CW_API cw_status cw_get_or_set(cw_cache *c, const char *key, const void *def, size_t deflen,
                               int64_t ttl_ms, cw_value *out);
/** cw_get_or_set_fn() - cw_get_or_set() with the default made by @fn(@ud, @key, out) on a
 * miss only (the seed's callable default). Return: as cw_get_or_set(), plus what @fn
 * returned when it failed (nothing stored then). */
CW_API cw_status cw_get_or_set_fn(cw_cache *c, const char *key, cw_default_fn fn, void *ud,
                                  int64_t ttl_ms, cw_value *out);
/** cw_get_raw() - The stored bytes as they are (envelope included). */
CW_API cw_status cw_get_raw(cw_cache *c, const char *key, cw_value *out);
/** cw_get_many() - For i < n: sts[i] = CW_OK with outs[i] filled, or CW_NOTFOUND. Keys may
 * route to different backends. @outs: n caller-owned values. Return: CW_OK or the first
 * failure (then sts[] says which keys were served). */
CW_API cw_status cw_get_many(cw_cache *c, size_t n, const char *const *keys, cw_value *outs,
                             cw_status *sts);
/** cw_set_many() - Store n values with one TTL. Return: CW_OK or the first failure. */
CW_API cw_status cw_set_many(cw_cache *c, size_t n, const char *const *keys,
                             const void *const *vals, const size_t *lens, int64_t ttl_ms);

/* Iteration callback (see cw_scan_fn in backend.h): return non-zero to stop. In get_match the
 * value is the decoded value (as cw_get returns it). */
/** cw_get_match() - Call @fn with every key matching the glob @pattern and its value, in
 * batches of @batch_size (0: 100). With several backends, each one whose prefix can match.
 * Return: CW_OK (also when fn stopped early), common returns. */
CW_API cw_status cw_get_match(cw_cache *c, const char *pattern, size_t batch_size, cw_scan_fn fn,
                              void *ud);
/** cw_scan() - cw_get_match() without values (val is NULL). */
CW_API cw_status cw_scan(cw_cache *c, const char *pattern, size_t batch_size, cw_scan_fn fn,
                         void *ud);

/** cw_exists() - Return: CW_OK when the key holds a live value, CW_NOTFOUND otherwise. */
CW_API cw_status cw_exists(cw_cache *c, const char *key);
/** cw_incr() - Add @by to the decimal integer at @key (created at 0 with @ttl_ms, which may be
 * CW_NO_EXPIRY; an existing TTL is kept) and give the new value in @result (may be NULL).
 * Return: CW_OK, CW_ETYPE (not an integer), CW_EINVAL (overflow), common returns. */
CW_API cw_status cw_incr(cw_cache *c, const char *key, int64_t by, int64_t ttl_ms, int64_t *result);
/** cw_delete() - Return: CW_OK when a key was removed, CW_NOTFOUND when there was none. */
CW_API cw_status cw_delete(cw_cache *c, const char *key);
/** cw_delete_many() - Remove keys; @deleted (may be NULL) counts those that existed. */
CW_API cw_status cw_delete_many(cw_cache *c, size_t n, const char *const *keys, uint64_t *deleted);
/** cw_delete_match() - Remove every key matching the glob; @deleted may be NULL. */
CW_API cw_status cw_delete_match(cw_cache *c, const char *pattern, uint64_t *deleted);
/** cw_expire() - Give an existing key a new TTL. Return: CW_OK or CW_NOTFOUND. */
CW_API cw_status cw_expire(cw_cache *c, const char *key, int64_t ttl_ms);
/** cw_get_expire() - Remaining TTL of @key in milliseconds into @ttl_ms: >= 0, -1 when the key
 * has no expiry, -2 when there is no key (then the return is CW_OK too, as in the seed). */
CW_API cw_status cw_get_expire(cw_cache *c, const char *key, int64_t *ttl_ms);
/** cw_ping() - Ask the default backend to echo @msg
 * (NULL: "PONG") into @out. Return: CW_OK or a backend failure. */
CW_API cw_status cw_ping(cw_cache *c, const char *msg, cw_value *out);
/** cw_clear() - Remove every key each backend of the cache owns. A redis:// backend owns the
 * keys under its prefix= (or client-side prefix); without either it refuses with CW_ENOTSUP
 * and deletes nothing, unless set up with allow_flushdb=1, which runs FLUSHDB and so deletes
 * other applications' keys in that database too (docs/REDIS.md).
 * Return: CW_OK, or the first backend's failure (the other backends are still cleared). */
CW_API cw_status cw_clear(cw_cache *c);
/** cw_get_keys_count() - Total live keys over all backends. */
CW_API cw_status cw_get_keys_count(cw_cache *c, uint64_t *count);
/** cw_get_size() - Bytes stored under @key (as stored, envelope included).
 * Return: CW_OK or CW_NOTFOUND. */
CW_API cw_status cw_get_size(cw_cache *c, const char *key, uint64_t *size);

/* ---- Locks ------------------------------------------------------------------------------ */

/** cw_set_lock() - Take the lock @key holding @val for @ttl_ms, if free.
 * Return: CW_OK when taken, CW_NOTSTORED when another holder has it. */
CW_API cw_status cw_set_lock(cw_cache *c, const char *key, const void *val, size_t len,
                             int64_t ttl_ms);
/** cw_unlock() - Release @key only if it holds @val (atomically).
 * Return: CW_OK released, CW_NOTSTORED held by someone else, CW_NOTFOUND not held. */
CW_API cw_status cw_unlock(cw_cache *c, const char *key, const void *val, size_t len);
/** cw_is_locked() - Is @key held? With @wait_ms > 0, wait (real time, polling every
 * @step_ms, 0: 100 ms) until it is free or the wait runs out; *locked gets the final answer.
 * Return: CW_OK, common returns. */
CW_API cw_status cw_is_locked(cw_cache *c, const char *key, int64_t wait_ms, int64_t step_ms,
                              int *locked);

/* A held scoped lock (the seed's `async with cache.lock(key, expire)`). */
typedef struct cw_lock_guard {
    cw_cache *cache;
    char *key;       /* owned while held */
    char token[40];  /* this holder's unique value */
} cw_lock_guard;

/** cw_lock() - Take @key for @ttl_ms, waiting up to @wait_ms (real time; 0: do not wait).
 * @g: filled on CW_OK; release with cw_lock_release().
 * Return: CW_OK, CW_ELOCKED (still held by another after the wait), common returns. */
CW_API cw_status cw_lock(cw_cache *c, const char *key, int64_t ttl_ms, int64_t wait_ms,
                         cw_lock_guard *g);
/** cw_lock_release() - Unlock if still ours and free the guard's memory; harmless twice.
 * Return: CW_OK, CW_NOTSTORED/CW_NOTFOUND when the lock had expired and was lost. */
CW_API cw_status cw_lock_release(cw_lock_guard *g);

/* ---- Internal commands the strategies use (public for custom strategies) ----------------
 * Keys holding bit fields, windows and sets are ordinary keys for exists/delete/expire.
 * Common returns as above, plus CW_ENOTSUP when the backend lacks the op and CW_ETYPE when
 * the key holds another kind of value. Thread safety: any thread, concurrently. */

/** cw_set_bits() - Set the @n bits listed in @idx (each < 2^32; bit i is byte i/8, mask
 * 0x80 >> i%8, as Redis SETBIT) to 1, creating the key with @ttl_ms when absent.
 * cw_get_bits() - Write 0/1 for each listed bit into @bits_out (@n bytes, caller-owned); an
 * absent key reads as all zeros. Return: CW_OK, CW_EINVAL (index out of range). */
CW_API cw_status cw_set_bits(cw_cache *c, const char *key, const uint64_t *idx, size_t n,
                             int64_t ttl_ms);
CW_API cw_status cw_get_bits(cw_cache *c, const char *key, const uint64_t *idx, size_t n,
                             uint8_t *bits_out);
/** cw_get_bitfield() - The seed's `get_bits(key, *indexes, size=...)`: read @n unsigned
 * counters of @size bits (1..63) packed in the bit field at @key, as Redis's
 * `BITFIELD key GET u<size> #<idx>` does: counter i occupies bits idx[i]*size to
 * idx[i]*size+size-1 (same bit order as cw_set_bits(), most significant bit first).
 * @counters: @n caller-owned values; an absent key reads as zeros. Size 1 reads what
 * cw_get_bits() reads. Uses the command CW_CMD_GET_BITS (for disable masks and middlewares).
 * Return: CW_OK, CW_EINVAL (size out of 1..63, a counter past bit 2^32 - 1, NULL arrays),
 * CW_ENOTSUP (a user backend with neither the bitfield op nor get_bits), common returns. */
CW_API cw_status cw_get_bitfield(cw_cache *c, const char *key, const uint64_t *idx, size_t n,
                                 unsigned size, uint64_t *counters);
/** cw_incr_bitfield() - The seed's `incr_bits(key, *indexes, size=..., by=...)`: add @by to
 * each listed counter in turn, saturating at 0 and 2^size - 1 (Redis's OVERFLOW SAT), all in
 * one atomic step; @counters (may be NULL) gets each counter just after its addition, so a
 * repeated index counts twice. An absent key is created with @ttl_ms (> 0 or CW_NO_EXPIRY);
 * an existing TTL is kept. @by 0 only reads. Backends without the bitfield op: size 1 with
 * by > 0 is cw_set_bits() (a 1-bit counter saturates at 1), the rest is CW_ENOTSUP.
 * Return: as cw_get_bitfield(). */
CW_API cw_status cw_incr_bitfield(cw_cache *c, const char *key, const uint64_t *idx, size_t n,
                                  unsigned size, int64_t by, int64_t ttl_ms, uint64_t *counters);
/** cw_slice_incr() - Sliding-window counter (slice_rate_limit): atomically drop calls older
 * than @window_ms before now (the cache clock), and record this one if fewer than @max_count
 * remain; *count gets the count after the call (== max_count: the window is full).
 * Return: CW_OK, CW_EINVAL (window_ms or max_count <= 0, count NULL). */
CW_API cw_status cw_slice_incr(cw_cache *c, const char *key, int64_t window_ms, int64_t max_count,
                               int64_t ttl_ms, int64_t *count);
/** cw_set_add() / cw_set_remove() - Add or remove the @n NUL-terminated @members (borrowed)
 * of the set at @key (tags). set_add creates the key with @ttl_ms, or extends an existing
 * TTL to the later of the two. Return: CW_OK. */
CW_API cw_status cw_set_add(cw_cache *c, const char *key, size_t n, const char *const *members,
                            int64_t ttl_ms);
CW_API cw_status cw_set_remove(cw_cache *c, const char *key, size_t n, const char *const *members);
/** cw_set_pop() - Remove up to @max members, calling @fn for each (the member in key/klen,
 * valid during the call); *popped (may be NULL) counts them. Return: CW_OK. */
CW_API cw_status cw_set_pop(cw_cache *c, const char *key, size_t max, cw_scan_fn fn, void *ud,
                            size_t *popped);

/* ---- Disable / enable --------------------------------------------------------------------
 * A disabled command does not reach the backend and returns CW_EDISABLED (cached functions
 * treat that as a miss and call the loader; cw_get_many() and cw_get_default() as misses too).
 * Three kinds of switches combine: global ones (cw_cache_disable), per backend ones
 * (cw_cache_disable_prefix, and a backend set up disabled) and thread scopes
 * (cw_disabling_begin*); a command runs only when none disables it. Commands that span every
 * backend (clear, scan, get_match, delete_match, get_keys_count) skip a backend on which they
 * are disabled. The seed's switches are all per backend (`prefix=""` meaning the default
 * one); here the prefix-less calls are the global switches, and the *_prefix calls are the
 * seed's. Thread safety: any thread; a switch flipped while commands run applies to the
 * commands that start after it. */

/** cw_cache_disable() - Disable the commands in @mask (CW_CMD_ALL: everything), globally. */
CW_API void cw_cache_disable(cw_cache *c, cw_command_mask mask);
/** cw_cache_enable() - Re-enable the commands in @mask globally (not the per-backend switches
 * nor thread scopes). */
CW_API void cw_cache_enable(cw_cache *c, cw_command_mask mask);

/** cw_cache_disable_prefix() - Disable the commands in @mask on the backend that serves
 * @prefix (the seed's `cache.disable(*cmds, prefix=...)`): @prefix is routed as a key is, so
 * "user:" and "user:42" both name the backend set up for "user:"; NULL or "" names the
 * default backend.
 * cw_cache_enable_prefix() - Re-enable them there (CW_CMD_ALL also turns on a backend set up
 * with ?disable=1).
 * Return: CW_OK, CW_EINVAL (c NULL), CW_ESTATE (no backend serves @prefix). */
CW_API cw_status cw_cache_disable_prefix(cw_cache *c, const char *prefix, cw_command_mask mask);
CW_API cw_status cw_cache_enable_prefix(cw_cache *c, const char *prefix, cw_command_mask mask);

/** cw_cache_is_enabled() - 1 if @cmd runs now on this thread on the default backend (the
 * seed's `is_enable(cmd)`, whose prefix defaults to ""): not disabled globally, by a scope of
 * this thread, nor on that backend (a backend set up with ?disable=1 / ?enable=0 reports 0).
 * Without a default backend, only the global switches and scopes count. 0 for a NULL cache or
 * an unknown command. */
CW_API int cw_cache_is_enabled(const cw_cache *c, cw_command cmd);
/** cw_cache_is_enabled_prefix() - cw_cache_is_enabled() for the backend that serves @prefix
 * (routed as a key; NULL or "": the default backend). */
CW_API int cw_cache_is_enabled_prefix(const cw_cache *c, const char *prefix, cw_command cmd);
/** cw_cache_is_any_disabled() - 1 if any command is disabled for this thread (the seed's
 * `is_disable()` without commands): globally, by a scope of this thread, or on the backend
 * that serves @prefix (routed as a key); with @prefix NULL, on any backend. 0 for NULL. */
CW_API int cw_cache_is_any_disabled(const cw_cache *c, const char *prefix);

/** cw_disabling_begin() - For the calling thread only, disable @mask until the matching
 * cw_disabling_end() (the seed's `with cache.disabling():`). Scopes nest (up to 32 deep per
 * thread over all scope kinds). Return: CW_OK, CW_ENOMEM (too deep). */
CW_API cw_status cw_disabling_begin(cw_cache *c, cw_command_mask mask);
/** cw_disabling_begin_prefix() - cw_disabling_begin() for the backend that serves @prefix
 * only (routed as a key; NULL or "": the default backend); closed by cw_disabling_end().
 * Return: CW_OK, CW_ENOMEM (too deep), CW_ESTATE (no backend serves @prefix). */
CW_API cw_status cw_disabling_begin_prefix(cw_cache *c, const char *prefix, cw_command_mask mask);
/** cw_disabling_end() - Close the innermost disabling scope of @c on this thread.
 * Return: CW_OK, CW_ESTATE when none is open. */
CW_API cw_status cw_disabling_end(cw_cache *c);

/* ---- Middlewares and callbacks ------------------------------------------------------------ */

/** cw_cache_add_middleware() - Append a middleware for every backend; the first added is the
 * outermost, and all of them run before (outside) the middlewares a backend was set up with
 * (cw_setup_options.middlewares).
 * Return: CW_OK, CW_EINVAL, CW_ENOMEM. Thread safety: call during setup, before commands run
 * concurrently. */
CW_API cw_status cw_cache_add_middleware(cw_cache *c, cw_middleware_fn fn, void *ud);

/* Accessors of a call (valid during the middleware call only). */
CW_API cw_command cw_call_command(const cw_call *call);
CW_API cw_cache *cw_call_cache(const cw_call *call);
/* Scheme of the backend that serves the call ("mem", "redis", ...); "" when none. */
CW_API const char *cw_call_backend(const cw_call *call);
/* The key (or pattern) of the call, NULL for keyless commands; *len may be NULL. For batch
 * commands, the first key. */
CW_API const char *cw_call_key(const cw_call *call, size_t *len);
/* The value of set-like calls, else NULL. */
CW_API const void *cw_call_value(const cw_call *call, size_t *len);
/* TTL of the call (ms, CW_NO_EXPIRY, or 0 when the command has none). */
CW_API int64_t cw_call_ttl(const cw_call *call);
/* Run the rest of the chain. Call at most once. */
CW_API cw_status cw_call_next(cw_call *call);
/* Result of value-returning calls after cw_call_next() returned CW_OK (NULL otherwise). */
CW_API const cw_value *cw_call_result(const cw_call *call);
/* Short-circuit a value-returning call (get, get_raw, ping) with these bytes. */
CW_API cw_status cw_call_set_result(cw_call *call, const void *data, size_t len);

/* A callback runs after a command in its mask has finished, on the same thread, with the
 * command's status and, for commands that return a value (get, get_raw, ping), the value
 * (borrowed for the call; NULL for other commands). As in the seed, a command that found
 * nothing to return (a get or get_raw miss, CW_NOTFOUND) calls no callback. */
typedef void (*cw_callback_fn)(void *ud, cw_command cmd, const char *key, size_t klen,
                               cw_status status, const cw_value *result);

/** cw_callback_begin() - For the calling thread, call @fn after every command in @mask until
 * cw_callback_end() (the seed's `with cache.callback(fn, cmd=...)`). Nests.
 * Return: CW_OK, CW_ENOMEM (scopes too deep). */
CW_API cw_status cw_callback_begin(cw_cache *c, cw_command_mask mask, cw_callback_fn fn, void *ud);
/** cw_callback_end() - Close the innermost callback scope of @c on this thread.
 * Return: CW_OK, CW_ESTATE when none is open. */
CW_API cw_status cw_callback_end(cw_cache *c);

#ifdef __cplusplus
}
#endif
#endif /* CASHEWS_CACHE_H */
