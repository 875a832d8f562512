/* SPDX-License-Identifier: MIT */
/*
 * cashews/http.h - HTTP helpers for web services: the seed's three FastAPI middlewares
 * (CacheEtagMiddleware, CacheRequestControlMiddleware, CacheDeleteMiddleware),
 * cache_control_ttl and the X-From-Cache pattern, for any C server. Include <cashews.h>.
 *
 * The helper never touches a socket and depends on no HTTP library: the server hands it the
 * request's method, target and a callback that looks up request headers; it answers with a
 * decision (run the handler, or answer 304 at once) and the response headers to add.
 *
 *   cw_http *h;                                  // one per server, shared by every thread
 *   cw_http_new(&h, cache, NULL);
 *   ...                                          // per request, on the thread that serves it:
 *   cw_http_exchange *x;
 *   cw_http_request rq = { .method = "GET", .target = "/user/42", .header = get_hdr, .header_ud = conn };
 *   if (cw_http_begin(h, &rq, &x) != CW_OK) ...;           // serve without the helper
 *   if (cw_http_exchange_action(x) == CW_HTTP_SERVE) {
 *       int rc;
 *       cw_http_run(x, handler, conn, &rc);      // handler: CW_CALL(...), cw_http_body(x, ...)
 *   }
 *   size_t n; const cw_http_header *hd = cw_http_headers(x, &n);
 *   // CW_HTTP_NOT_MODIFIED: answer 304 with hd[0..n) and no body; else the handler's response
 *   // with hd[0..n) added
 *   cw_http_exchange_free(x);
 *
 * What a request can say (docs/HTTP.md has the details and the reasons):
 *   Cache-Control: no-cache      cached functions skip their read; the fresh result is stored
 *   Cache-Control: no-store      cached reads and writes are off for the request (GET and SET
 *                                are disabled on the thread, as the seed does)
 *   Cache-Control: max-age=N     a cached value older than N seconds is not served (0: as
 *                                no-cache); cw_http_ttl_fn lets N choose the TTL within a bound
 *   If-None-Match: tags or *     304 without running the handler when the cached value still
 *                                hashes to one of the tags (weak comparison, RFC 9110 13.1.2),
 *                                else 304 instead of the body when the fresh body does
 *   Clear-Site-Data: "cache"     the keys the handler's cached functions use are deleted
 * What a response gets:
 *   ETag: "<32 hex>"             strong: SHA-256 of the body (of the cached bytes for a stream),
 *                                first 128 bits; the same on every process and after restarts
 *   Cache-Control                "private, max-age=<seconds left>" ("public, ..." or "no-store"
 *                                as configured), "no-cache" when nothing cached backs it,
 *                                "no-store" for a no-store request
 *   X-From-Cache, X-From-Cache-Expire-In-Seconds   the key a cached call was served from, and
 *                                its seconds left (the seed's detect example)
 *   X-Cache-Cleared: N           after Clear-Site-Data: how many keys were deleted
 *
 * To know a resource before running its handler (for the early 304, for max-age, for the ETag
 * of a cached stream) the helper keeps one small record per request target,
 * "<prefix>:res:<target>", holding the key that served it, its kind and when it was stored,
 * with the TTL of that key.
 *
 * Thread safety: a cw_http may be used from any number of threads at once. An exchange
 * belongs to one request: use it from one thread at a time; the handler runs on the thread
 * that calls cw_http_run(), which may differ from the one that called cw_http_begin().
 */
#ifndef CASHEWS_HTTP_H
#define CASHEWS_HTTP_H

#include "cache.h"
#include "func.h"

#ifdef __cplusplus
extern "C" {
#endif

/* Bytes an ETag takes, quotes and NUL included: '"' + 32 hex digits + '"' + NUL. */
#define CW_HTTP_ETAG_SIZE 35

/* ---- Parsing (usable alone, by servers that do their own thing) -------------------------- */

/* A request's Cache-Control directives that matter to a server-side cache. */
typedef struct cw_http_cache_control {
    int no_cache;      /* "no-cache" (with or without an argument) */
    int no_store;      /* "no-store" */
    int64_t max_age_s; /* "max-age=N": N seconds, the smallest when given twice; values past
                          2^31 read as 2147483648 (RFC 9111 1.2.2); -1 when absent or malformed */
} cw_http_cache_control;

/** cw_http_parse_cache_control() - Read a Cache-Control field value.
 * @field: @len bytes, borrowed; need not be NUL-terminated; NULL with @len 0 means absent.
 * @out: filled (all off, max_age_s -1, when the field says nothing usable).
 * Directive names are case-insensitive; elements are separated by commas with optional
 * spaces and tabs; arguments may be tokens or quoted strings (commas inside quotes do not
 * split); malformed or unknown elements are skipped.
 * Thread safety: any thread; no state. */
CW_API void cw_http_parse_cache_control(const char *field, size_t len, cw_http_cache_control *out);

/** cw_http_etag_matches() - Does an If-None-Match field match @etag (RFC 9110 13.1.2)?
 * @field: @len bytes, borrowed: "*", or a list of entity tags ("abc", W/"abc") separated by
 *         commas and optional whitespace. Comparison is weak: W/ is ignored on both sides and
 *         the opaque tags must be equal, byte for byte. Elements that are not entity tags
 *         (unquoted, lowercase "w/", unterminated) are skipped, so a malformed field can only
 *         match less, never more.
 * @etag: the current tag, quoted ("\"abc\"" or "W/\"abc\""); NULL: there is no current
 *        representation, which nothing matches, "*" neither.
 * Return: 1 on a match, 0 otherwise. Thread safety: any thread; no state. */
CW_API int cw_http_etag_matches(const char *field, size_t len, const char *etag);

/** cw_http_clears_cache() - Does a Clear-Site-Data field ask for the cache to be cleared?
 * @field: @len bytes, borrowed: a list of quoted strings; "cache" (any case) or "*" ask for
 *         it; a bare cache token is accepted too, as the seed compares the field to `cache`.
 * Return: 1 or 0. Thread safety: any thread; no state. */
CW_API int cw_http_clears_cache(const char *field, size_t len);

/** cw_http_etag_of() - The strong ETag of @len bytes: '"', the first 128 bits of their
 * SHA-256 in lowercase hex, '"'. The same bytes give the same tag in every process.
 * @data: borrowed; may be NULL when @len is 0. @etag: CW_HTTP_ETAG_SIZE bytes, NUL-terminated on CW_OK.
 * Return: CW_OK, CW_EINVAL (NULL @etag, NULL @data with @len > 0), CW_ENOMEM (OpenSSL failed).
 * Thread safety: any thread. */
CW_API cw_status cw_http_etag_of(const void *data, size_t len, char etag[CW_HTTP_ETAG_SIZE]);

/* ---- The helper ------------------------------------------------------------------------- */

typedef struct cw_http cw_http;                   /* opaque; body in src/contrib/http.c */
typedef struct cw_http_exchange cw_http_exchange; /* one request; opaque */

/* What responses say about being stored by browsers and proxies. Append only. */
typedef enum cw_http_visibility {
    CW_HTTP_PRIVATE = 0, /* "private, max-age=<seconds left>": browsers only (the seed's default) */
    CW_HTTP_PUBLIC = 1,  /* "public, max-age=<seconds left>": shared caches too */
    CW_HTTP_NO_STORE = 2 /* always "no-store" */
} cw_http_visibility;

/* Parts of the helper to switch off (cw_http_options.disable). */
#define CW_HTTP_NO_ETAG 0x01          /* no ETag, no If-None-Match */
#define CW_HTTP_NO_REQUEST_CONTROL 0x02 /* ignore the request's Cache-Control */
#define CW_HTTP_NO_CLEAR 0x04         /* ignore Clear-Site-Data */
#define CW_HTTP_NO_FROM_CACHE 0x08    /* no X-From-Cache headers (they name cache keys) */
#define CW_HTTP_NO_CACHE_CONTROL 0x10 /* no Cache-Control on responses */

/* Options of a helper. All-zero means defaults. */
typedef struct cw_http_options {
    const char *prefix;            /* NULL: "http"; the records are "<prefix>:res:<target>"
                                      (copied). Route it to a backend of its own with
                                      cw_cache_setup()'s prefix if you like */
    cw_http_visibility visibility; /* default CW_HTTP_PRIVATE */
    unsigned disable;              /* CW_HTTP_NO_* bits; 0: everything on */
} cw_http_options;

/** cw_http_new() - Create a helper over @c.
 * @out: receives it; free with cw_http_free() before cw_cache_free(@c).
 * @o: NULL for defaults; copied.
 * Return: CW_OK; CW_EINVAL (NULL @out or @c, an empty prefix, an unknown visibility);
 *         CW_ENOMEM (also when OpenSSL has no SHA-256). Thread safety: any thread. */
CW_API cw_status cw_http_new(cw_http **out, cw_cache *c, const cw_http_options *o);

/** cw_http_free() - Free the helper. NULL is a no-op. No exchange of it may be left. */
CW_API void cw_http_free(cw_http *h);

/* Look up the request header @name (the helper asks for "Cache-Control", "If-None-Match"
 * and "Clear-Site-Data"; matching it case-insensitively is the callback's job, as every
 * server API does). Return its value and set *len, or NULL when absent. A header sent
 * several times should come back joined with ", " (RFC 9110 5.3); the first alone works.
 * The value must stay valid until the callback is called again or cw_http_begin() returns. */
typedef const char *(*cw_http_header_fn)(void *ud, const char *name, size_t *len);

/* The request, as cw_http_begin() needs it. All-zero: a GET with no headers and no target. */
typedef struct cw_http_request {
    const char *method;       /* NULL: "GET". The helper acts on GET and HEAD; any other
                                 method runs its handler untouched, with no headers added */
    const char *target;       /* the resource: path and query ("/user/42?v=2"), NUL-terminated.
                                 NULL: no record, so no 304 before the handler, and max-age
                                 requests always refresh (the age is unknown) */
    cw_http_header_fn header; /* NULL: the request has no headers */
    void *header_ud;
} cw_http_request;

/* What to do with a request. Append only. */
typedef enum cw_http_action {
    CW_HTTP_SERVE = 0,        /* run the handler (cw_http_run()) and send its response */
    CW_HTTP_NOT_MODIFIED = 1, /* answer 304 Not Modified with the headers and no body */
    CW_HTTP_ABORT = 2         /* a stream announced with an ETag turned out to differ from the
                                 cache (it changed meanwhile): end the response abnormally
                                 (close the connection) so that the client drops it */
} cw_http_action;

/* One response header: both strings are owned by the exchange and valid until its next
 * cw_http_begin/run call or cw_http_exchange_free(). */
typedef struct cw_http_header {
    const char *name;
    const char *value;
} cw_http_header;

/** cw_http_begin() - Read the request's headers and decide.
 * @rq: borrowed for the call (header values are copied where kept).
 * @out: receives the exchange (also on failure, NULL); free with cw_http_exchange_free().
 * After it, cw_http_exchange_action() says CW_HTTP_NOT_MODIFIED when the cached value still
 * matches If-None-Match (cw_http_headers() then holds ETag, Cache-Control and X-From-Cache
 * for the 304), else CW_HTTP_SERVE. For a cached stream the headers already hold its ETag: a server
 * that must send headers before the body sends those (see cw_http_iterate()).
 * Cache failures on the way are not errors: the request is served as if uncached.
 * Return: CW_OK; CW_EINVAL (NULL @h, @rq or @out); CW_ENOMEM.
 * Thread safety: any thread. */
CW_API cw_status cw_http_begin(cw_http *h, const cw_http_request *rq, cw_http_exchange **out);

/* The request's handler: produce the response, calling cached functions on @x's cache, and
 * give the body with cw_http_body() (or stream it through cw_http_iterate()). Return 0 for a
 * successful response; anything else means an error response, which gets no headers. */
typedef int (*cw_http_handler_fn)(void *ud, cw_http_exchange *x);

/** cw_http_run() - Run @fn on the calling thread with the request's cache controls in force
 * (a detect scope to see which keys served it; invalidate_further for no-cache, max-age and
 * Clear-Site-Data; GET and SET disabled for no-store), then work out the response headers:
 * ETag of the body, Cache-Control from the key's TTL, X-From-Cache on a hit; write the
 * target's record; delete the keys for Clear-Site-Data. The action becomes
 * CW_HTTP_NOT_MODIFIED when the body's ETag matches If-None-Match (send 304 instead of the
 * body), CW_HTTP_ABORT when an announced stream differed.
 * @rc: may be NULL; receives @fn's return.
 * Return: CW_OK (whatever @fn returned); CW_EINVAL (NULL @x or @fn); CW_ESTATE (run already,
 *         or the action is not CW_HTTP_SERVE: @fn is not called); CW_ENOMEM (the thread's
 *         scopes are too deeply nested: @fn is not called).
 * Thread safety: one call at a time per exchange; calls with other exchanges may run at once. */
CW_API cw_status cw_http_run(cw_http_exchange *x, cw_http_handler_fn fn, void *ud, int *rc);

/** cw_http_body() - From the handler: the body it sends, for the ETag (and the late 304).
 * Call once, or several times with consecutive pieces. The ETag is meant for bodies that are
 * the cached value's bytes (as cw_func_call() returns them): then a later request is
 * answered 304 without running the handler. A body that transforms the value still gets a
 * correct ETag and a 304 after its handler ran, never before. A HEAD handler gives the body
 * it would send. Without a call the response gets no ETag.
 * @data: @len bytes, borrowed for the call; NULL when @len is 0.
 * Return: CW_OK; CW_EINVAL; CW_ESTATE (outside cw_http_run()); CW_ENOMEM.
 * Thread safety: the handler's thread. */
CW_API cw_status cw_http_body(cw_http_exchange *x, const void *data, size_t len);

/** cw_http_iterate() - From the handler: cw_func_iterate() on a CW_ITERATOR function, each
 * chunk passing through the ETag's hash on its way to @fn. A stream replayed from the cache
 * was announced by cw_http_begin() with the ETag of its cached chunks; if what was replayed
 * does not hash the same (the cache changed between), the action becomes CW_HTTP_ABORT. A
 * stream that had to be loaded gets no ETag (its headers left before it existed); the next
 * request, replayed from the cache, has one. @x NULL: plain cw_func_iterate().
 * Return: what cw_func_iterate() returns; CW_ESTATE outside cw_http_run(); CW_ENOMEM.
 * Thread safety: the handler's thread. */
CW_API int cw_http_iterate(cw_http_exchange *x, cw_func *f, const cw_arg *args, size_t nargs,
                           cw_chunk_fn fn, void *ud);

/** cw_http_exchange_action() - What to do now (see cw_http_action). NULL @x: CW_HTTP_SERVE. */
CW_API cw_http_action cw_http_exchange_action(const cw_http_exchange *x);

/** cw_http_headers() - The response headers to add, *@n of them (0 when none; @n may not
 * be NULL). After cw_http_begin(): those known before the handler (a 304's, a cached
 * stream's); after cw_http_run(): the complete set. Return: an array owned by @x (NULL when
 * *n is 0), valid until the next call on @x. Thread safety: @x's thread. */
CW_API const cw_http_header *cw_http_headers(const cw_http_exchange *x, size_t *n);

/** cw_http_exchange_free() - Free the exchange. NULL is a no-op. */
CW_API void cw_http_exchange_free(cw_http_exchange *x);

/* ---- cache_control_ttl ---------------------------------------------------------------- */

/* The bounds of cw_http_ttl_fn. */
typedef struct cw_http_ttl {
    int64_t default_ms; /* the TTL when the request gives no max-age (> 0, or CW_NO_EXPIRY) */
    int64_t max_ms;     /* the longest TTL a request may choose; 0: default_ms (a request may
                           only shorten it); CW_NO_EXPIRY: no bound */
} cw_http_ttl;

/** cw_http_ttl_fn() - The seed's cache_control_ttl(default) as a cw_ttl_fn: the TTL is the
 * max-age the request being run on this thread (cw_http_run()) gave, at most the bound, else
 * the default. Use: .ttl_fn = cw_http_ttl_fn, .ttl_ud = (void *)&ttl where ttl is a
 * cw_http_ttl that outlives the function. Outside cw_http_run() (a background refresh, a
 * call with no HTTP around it) the default applies.
 * Return: CW_OK; CW_EINVAL (NULL @ud, or a default that is neither > 0 nor CW_NO_EXPIRY).
 * Thread safety: any thread. */
CW_API cw_status cw_http_ttl_fn(void *ud, const cw_arg *args, size_t nargs, int64_t *ttl_ms);

#ifdef __cplusplus
}
#endif
#endif /* CASHEWS_HTTP_H */
