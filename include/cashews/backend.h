/*
 * cashews/backend.h - the interface between the cache core and a storage backend.
 *
 * A backend is a const table of function pointers (cw_backend_ops) plus an instance struct
 * whose first member is cw_backend. The core never branches on the scheme: it routes a key to
 * a backend by prefix and calls through ops. Built-in backends: mem (always), redis/rediss and
 * disk (when the library was built with them). Users add their own scheme with
 * cw_cache_register_backend().
 *
 * Conventions for every op:
 *  - keys are (pointer, length), non-empty, already validated by the core; values likewise;
 *    both are borrowed for the call only: copy what you keep.
 *  - results go to caller-owned cw_value / integers; use cw_value_set() to fill a cw_value.
 *  - return CW_OK, CW_NOTFOUND, CW_NOTSTORED as each op says, CW_ENOMEM, or CW_EBACKEND /
 *    CW_ETIMEOUT with a detail written by cw_backend_fail().
 *  - every op may be called from many threads at once on one instance (the backend does its
 *    own locking); open and close are called once each, from one thread.
 *  - TTLs are milliseconds > 0, or CW_NO_EXPIRY. Expiry instants are milliseconds since the
 *    epoch on the env clock (so tests that move the clock move expiry).
 *  - open, close, get, set and del are required (cw_cache_register_backend() refuses a table
 *    without them); any other op left NULL means "not supported": the core returns
 *    CW_ENOTSUP, except where it documents a fallback built from other ops.
 */
#ifndef CASHEWS_BACKEND_H
#define CASHEWS_BACKEND_H

#include "common.h"

#ifdef __cplusplus
extern "C" {
#endif

/* Version of cw_backend_ops. 2 appended view, 3 appended bitfield; tables of an older version
 * (without the later fields) are still accepted, and the core never reads past them. */
#define CW_BACKEND_ABI 3

/* ---- URLs ------------------------------------------------------------------------------ */

/* One query parameter. The backend marks a parameter used by reading it through
 * cw_url_take_*(); after open the core reports any parameter nobody took as unknown. */
typedef struct cw_url_param {
    char *name;
    char *value; /* "" for a bare "?flag" */
    int taken;
} cw_url_param;

/* A parsed URL: scheme://[user[:password]@]host[:port][/path][?a=1&b=2]. Every string is
 * percent-decoded, NUL-terminated and owned by the cw_url; absent parts are "" (port 0). */
typedef struct cw_url {
    char *scheme;
    char *user;
    char *password;
    char *host;
    int port;
    char *path; /* without the leading '/' */
    cw_url_param *params;
    size_t nparams;
} cw_url;

/** cw_url_parse() - Parse @text into @out (zeroed first). Parameters from @extra (a NULL or
 * NULL-terminated list of name, value, name, value, ...) are added first, so that the URL's
 * own query parameters override them.
 * Return: CW_OK; CW_EINVAL (detail in @errbuf, CW_ERRMSG_SIZE bytes, may be NULL) for a
 * missing "://", an empty scheme, a bad port or bad percent-escape; CW_ENOMEM.
 * Thread safety: any thread. Free with cw_url_free(). */
CW_API cw_status cw_url_parse(const char *text, const char *const *extra, cw_url *out, char *errbuf);
/** cw_url_free() - Free what cw_url_parse() allocated; *url is zeroed. NULL-safe.
 * Thread safety: one thread per cw_url. */
CW_API void cw_url_free(cw_url *url);

/* Readers of query parameters. Each marks the parameter taken and, when present, parses it;
 * when absent it leaves *out alone and returns CW_NOTFOUND. Names match in any case (ASCII),
 * so "?SIZE=5" is read by cw_url_take_int(url, "size", ...), as the seed lower-cases them.
 * A malformed value returns CW_EINVAL with "parameter NAME: ..." in @errbuf (CW_ERRMSG_SIZE
 * bytes, may be NULL).
 * The last occurrence of a repeated parameter wins. Thread safety: one thread per cw_url. */
CW_API cw_status cw_url_take_str(cw_url *url, const char *name, const char **out);
CW_API cw_status cw_url_take_int(cw_url *url, const char *name, int64_t min, int64_t max,
                                 int64_t *out, char *errbuf);
/* Booleans: 1/0, true/false, yes/no, on/off (any case). */
CW_API cw_status cw_url_take_bool(cw_url *url, const char *name, int *out, char *errbuf);
/* Durations: a TTL string (cw_ttl_parse grammar, so "0.5" is half a second); min_ms may be 0
 * to accept "0". */
CW_API cw_status cw_url_take_ms(cw_url *url, const char *name, int64_t min_ms, int64_t *out_ms,
                                char *errbuf);
/* Sizes: bytes, with optional suffix k, m, g (powers of 1024, any case, optional trailing b). */
CW_API cw_status cw_url_take_size(cw_url *url, const char *name, uint64_t *out, char *errbuf);

/* ---- The backend ----------------------------------------------------------------------- */

typedef struct cw_backend_ops cw_backend_ops;

/* Base of every backend instance: embed it as the first member. */
typedef struct cw_backend {
    const cw_backend_ops *ops;
} cw_backend;

/* What the core hands a backend at open. Valid until close. */
typedef struct cw_backend_env {
    cw_clock_fn clock; /* never NULL */
    void *clock_ud;
    cw_log_fn log; /* may be NULL */
    void *log_ud;
} cw_backend_env;

/* Write modes of set. */
typedef enum cw_set_mode {
    CW_SET_ALWAYS = 0,
    CW_SET_IF_ABSENT = 1, /* Redis NX: CW_NOTSTORED when the key exists */
    CW_SET_IF_PRESENT = 2 /* Redis XX: CW_NOTSTORED when the key is absent */
} cw_set_mode;

/* Iteration callback of scan: return 0 to go on, non-zero to stop. @val is NULL unless values
 * were asked for. Arguments are valid for the call only. The backend must not hold any lock
 * while calling it: the callback may call the cache (even delete the key it was given). */
typedef int (*cw_scan_fn)(void *ud, const char *key, size_t klen, const void *val, size_t vlen);

/* Callback of view: the stored bytes of one value, readable during the call only. Its return
 * value becomes view's. */
typedef cw_status (*cw_view_fn)(void *ud, const void *data, size_t len);

/** cw_view_to_value() - A cw_view_fn that copies the bytes into the cw_value @ud points to
 * (caller-owned, reused when big enough), as cw_value_set() does: how a backend with view
 * implements get, `return my_view(b, key, klen, cw_view_to_value, out);`.
 * Return: CW_OK or CW_ENOMEM. Thread safety: any thread, on a value no other thread uses. */
CW_API cw_status cw_view_to_value(void *ud, const void *data, size_t len);

struct cw_backend_ops {
    int abi_version;    /* CW_BACKEND_ABI; stays first, fields are only appended */
    const char *scheme; /* "mem", "redis", "disk", ... (a backend may serve several, see open) */

    /* Create an instance from @url (its scheme equals this table's, or an alias the backend
     * accepts). Take every parameter you understand with cw_url_take_*(); the core rejects
     * the rest. On failure write the reason to @errbuf (CW_ERRMSG_SIZE bytes, never NULL). */
    cw_status (*open)(cw_backend **out, cw_url *url, const cw_backend_env *env, char *errbuf);
    /* Release everything; no other op runs concurrently or afterwards. */
    void (*close)(cw_backend *b);

    /* CW_OK with the stored bytes in @out, or CW_NOTFOUND (also for expired keys). */
    cw_status (*get)(cw_backend *b, const char *key, size_t klen, cw_value *out);
    /* CW_OK, or CW_NOTSTORED when @mode's condition fails. Replaces value and TTL. */
    cw_status (*set)(cw_backend *b, const char *key, size_t klen, const void *val, size_t vlen,
                     int64_t ttl_ms, cw_set_mode mode);
    /* CW_OK if the key existed and was removed, else CW_NOTFOUND. */
    cw_status (*del)(cw_backend *b, const char *key, size_t klen);
    /* CW_OK if present (and not expired), else CW_NOTFOUND. */
    cw_status (*exists)(cw_backend *b, const char *key, size_t klen);
    /* Add @by to the decimal integer stored at key (absent = 0) and store it back as decimal
     * text; @ttl_ms applies only when the key is created (CW_NO_EXPIRY: none), an existing
     * TTL is kept. CW_ETYPE if the value is not a decimal int64; CW_EINVAL on overflow. */
    cw_status (*incr)(cw_backend *b, const char *key, size_t klen, int64_t by, int64_t ttl_ms,
                      int64_t *result);
    /* Set a new TTL on an existing key: CW_OK or CW_NOTFOUND. */
    cw_status (*expire)(cw_backend *b, const char *key, size_t klen, int64_t ttl_ms);
    /* Remaining TTL in ms: >= 0, CW_NO_EXPIRY (-1) for none; CW_NOTFOUND when absent. */
    cw_status (*get_expire)(cw_backend *b, const char *key, size_t klen, int64_t *ttl_ms);
    /* Call @fn for each live key matching the glob (cw_glob_match rules), with values when
     * @with_values. Keys added or removed during the scan may or may not be seen; no key
     * present for the whole scan is missed or repeated. @batch is a hint (>= 1). */
    cw_status (*scan)(cw_backend *b, const char *pattern, size_t plen, size_t batch,
                      int with_values, cw_scan_fn fn, void *ud);
    /* Delete every key matching the glob; *deleted counts them. */
    cw_status (*delete_match)(cw_backend *b, const char *pattern, size_t plen, uint64_t *deleted);
    /* Remove every key this instance owns (with a key prefix set, only those). */
    cw_status (*clear)(cw_backend *b);
    /* Number of live keys (expired-but-not-yet-purged keys may be counted). */
    cw_status (*keys_count)(cw_backend *b, uint64_t *count);
    /* Bytes of the value stored at key: CW_OK or CW_NOTFOUND. */
    cw_status (*value_size)(cw_backend *b, const char *key, size_t klen, uint64_t *size);
    /* Echo @msg (or "PONG" when @mlen is 0) into @out; proves the backend answers. */
    cw_status (*ping)(cw_backend *b, const char *msg, size_t mlen, cw_value *out);
    /* Delete key only if its value equals (val, vlen), atomically: CW_OK when deleted,
     * CW_NOTSTORED when the value differs, CW_NOTFOUND when absent. (unlock) */
    cw_status (*delete_if_equal)(cw_backend *b, const char *key, size_t klen, const void *val,
                                 size_t vlen);

    /* -- optional batch ops: NULL makes the core loop over the single-key op -- */
    /* For each i: sts[i] = CW_OK (outs[i] filled) or CW_NOTFOUND. Return CW_OK or a failure
     * of the whole batch. */
    cw_status (*get_many)(cw_backend *b, size_t n, const char *const *keys, const size_t *klens,
                          cw_value *outs, cw_status *sts);
    cw_status (*set_many)(cw_backend *b, size_t n, const char *const *keys, const size_t *klens,
                          const void *const *vals, const size_t *vlens, int64_t ttl_ms);
    cw_status (*delete_many)(cw_backend *b, size_t n, const char *const *keys,
                             const size_t *klens, uint64_t *deleted);

    /* -- internal commands used by strategies -- */
    /* Bit field (bloom filters): the value is a bitmap, bit i = byte i/8, mask 0x80 >> (i%8)
     * (Redis SETBIT/GETBIT order). set_bits sets every listed bit to 1, creating the key with
     * @ttl_ms when absent; get_bits writes 0/1 per index to @bits_out (absent key: all 0). */
    cw_status (*set_bits)(cw_backend *b, const char *key, size_t klen, const uint64_t *idx,
                          size_t n, int64_t ttl_ms);
    cw_status (*get_bits)(cw_backend *b, const char *key, size_t klen, const uint64_t *idx,
                          size_t n, uint8_t *bits_out);
    /* Sliding-window counter, atomically: drop recorded instants < @start_ms, count the rest;
     * if the count < @max_count record @now_ms and count it; refresh TTL to @ttl_ms. *count
     * is the count after the call (so > max_count never happens; == max_count means the
     * call that reached it was recorded). */
    cw_status (*slice_incr)(cw_backend *b, const char *key, size_t klen, int64_t start_ms,
                            int64_t now_ms, int64_t max_count, int64_t ttl_ms, int64_t *count);
    /* Sets of byte strings (tags). set_add creates the key (TTL @ttl_ms; an existing TTL is
     * extended to the later of the two, none stays none) and adds members; set_remove removes
     * members; set_pop removes up to @max members and calls @fn for each (val NULL, the member
     * in key/klen), returning how many in *popped. */
    cw_status (*set_add)(cw_backend *b, const char *key, size_t klen, size_t n,
                         const char *const *members, const size_t *mlens, int64_t ttl_ms);
    cw_status (*set_remove)(cw_backend *b, const char *key, size_t klen, size_t n,
                            const char *const *members, const size_t *mlens);
    cw_status (*set_pop)(cw_backend *b, const char *key, size_t klen, size_t max, cw_scan_fn fn,
                         void *ud, size_t *popped);

    /* -- housekeeping -- */
    /* Purge expired entries now (the core calls it from cw_cache_maintain()); optional. */
    cw_status (*maintain)(cw_backend *b);

    /* -- appended in ABI 2 -- */
    /* Optional zero-copy read: call @fn once with the stored bytes of a live key and return
     * what it returns, or return CW_NOTFOUND (or a failure) without calling it. The bytes are
     * valid during the call only and the backend may hold a lock meanwhile, so @fn copies what
     * it needs and never calls the cache. The core reads through it when present (one copy,
     * the envelope stripped on the way), and through get otherwise. */
    cw_status (*view)(cw_backend *b, const char *key, size_t klen, cw_view_fn fn, void *ud);

    /* -- appended in ABI 3 -- */
    /* Optional bit-field counters (the seed's get_bits/incr_bits with a size; counting bloom
     * filters): @n unsigned counters of @size bits (1..63) in the bitmap at key, counter i at
     * bits idx[i]*size .. idx[i]*size+size-1, most significant first, in the bit order of
     * set_bits (Redis `BITFIELD key GET|INCRBY u<size> #<idx>`). With @by 0 it reads:
     * counters[i] = counter idx[i], an absent key reading as zeros (and not created). With
     * @by != 0 it adds @by to each listed counter in turn, saturating at 0 and 2^size - 1
     * (Redis OVERFLOW SAT), counters[i] getting the value just after its step; an absent key
     * is created (zero bytes, as long as the highest counter needs) with @ttl_ms, an existing
     * TTL is kept. Atomic, as set_bits. The core has checked 1 <= size <= 63 and that every
     * counter ends before bit 2^32; @counters is never NULL. CW_ETYPE when the key holds a
     * set or window. Left NULL, the core reads through get_bits and supports only size 1,
     * by > 0 increments (through set_bits). */
    cw_status (*bitfield)(cw_backend *b, const char *key, size_t klen, const uint64_t *idx,
                          size_t n, unsigned size, int64_t by, int64_t ttl_ms, uint64_t *counters);
};

/** cw_backend_fail() - Record @st and a printf-style detail as this thread's last failure, to
 * be read by cw_cache_errmsg(), and return @st. For backends; any thread. */
CW_API cw_status cw_backend_fail(cw_status st, const char *fmt, ...)
#ifdef __GNUC__
    __attribute__((format(printf, 2, 3)))
#endif
    ;

/** cw_backend_log() - Send a message to env's log sink, if any (printf-style). The text is
 * formatted into a buffer of the call and truncated past it. Thread safety: any thread (the
 * sink is called on the caller's thread and must be thread-safe). */
CW_API void cw_backend_log(const cw_backend_env *env, cw_log_level level, const char *fmt, ...)
#ifdef __GNUC__
    __attribute__((format(printf, 3, 4)))
#endif
    ;

/* Library allocator (the cw_set_allocators() hooks), for backends that allocate: what they
 * return is the caller's and goes back through cw_free() (or cw_realloc()); NULL when out of
 * memory. Thread safety: any thread. */
CW_API void *cw_malloc(size_t size);
CW_API void *cw_calloc(size_t n, size_t size);
CW_API void *cw_realloc(void *ptr, size_t size);
CW_API void cw_free(void *ptr);

#ifdef __cplusplus
}
#endif
#endif /* CASHEWS_BACKEND_H */
