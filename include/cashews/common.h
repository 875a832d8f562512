/* SPDX-License-Identifier: MIT */
/*
 * cashews/common.h - status codes, byte values, allocator hooks and clocks shared by every
 * part of libcashews. Include <cashews.h> rather than this file.
 */
#ifndef CASHEWS_COMMON_H
#define CASHEWS_COMMON_H

#include <stddef.h>
#include <stdint.h>

#ifdef __cplusplus
extern "C" {
#endif

#if defined(CW_BUILDING) && defined(__GNUC__)
#define CW_API __attribute__((visibility("default")))
#else
#define CW_API
#endif

/* CW_VERSION, CW_VERSION_MAJOR/MINOR/PATCH, CW_VERSION_NUMBER, CW_VERSION_AT_LEAST(): made by
 * CMake from the project's version (cmake/version.h.in), so they cannot drift from it. */
#include "cashews/version.h"

/** cw_version() - The version of the library actually loaded, as "MAJOR.MINOR.PATCH".
 * Compare with CW_VERSION (the headers' version) to detect a libcashews.so that differs from
 * the one the program was built against.
 * Return: a static NUL-terminated string; never NULL. Thread safety: any thread. */
CW_API const char *cw_version(void);

/** cw_version_number() - The loaded library's version as MAJOR * 1000000 + MINOR * 1000 +
 * PATCH, comparable with CW_VERSION_NUMBER. docs/ABI.md: a program built against headers of
 * version H runs with a library of version L when both have the same SONAME (same major; in
 * 0.x, same minor) and L >= H.
 * Return: the number. Thread safety: any thread. */
CW_API int cw_version_number(void);

/* Size of the error buffers some constructors fill (errbuf parameters). */
#define CW_ERRMSG_SIZE 256

/*
 * Status codes. Append only: the numbers are ABI. Every public call returns one of these;
 * cw_strerror() names it, cw_cache_errmsg() gives the detail of this thread's last failure.
 * Codes >= CW_USER_ERROR are reserved for loaders (cached functions) to report their own
 * failures; the library passes them through untouched.
 */
#define CW_STATUS_TABLE(X)                                                          \
    X(OK, 0, "success")                                                             \
    X(NOTFOUND, 1, "key not found")                                                 \
    X(NOTSTORED, 2, "condition not met, nothing changed")                           \
    X(EINVAL, 3, "invalid argument")                                                \
    X(ENOMEM, 4, "out of memory")                                                   \
    X(EBACKEND, 5, "backend failure")                                               \
    X(ENOTSUP, 6, "not supported by this backend")                                  \
    X(ETOOBIG, 7, "value or key too large")                                         \
    X(ETYPE, 8, "stored value has the wrong type for this command")                 \
    X(EDISABLED, 9, "command disabled")                                             \
    X(ETIMEOUT, 10, "timed out")                                                    \
    X(ELOCKED, 11, "locked by another holder")                                      \
    X(ERATELIMIT, 12, "rate limit reached")                                         \
    X(ECIRCUITOPEN, 13, "circuit breaker is open")                                  \
    X(ECORRUPT, 14, "stored data is corrupt or foreign")                            \
    X(ESTATE, 15, "call not allowed in this state")

#define CW__STATUS_ENUM(name, num, text) CW_##name = num,
typedef enum cw_status {
    CW_STATUS_TABLE(CW__STATUS_ENUM)
    CW_USER_ERROR = 1000 /* first code free for loaders' own errors */
} cw_status;
#undef CW__STATUS_ENUM

/** cw_strerror() - Name a status code.
 * Return: a static, NUL-terminated English text; never NULL ("loader error" for codes
 *         >= CW_USER_ERROR, "unknown status" for anything else unknown).
 * Thread safety: any thread. */
CW_API const char *cw_strerror(int status);

/*
 * A byte value owned by the caller. Zero-initialise it (cw_value v = {0};). Calls that fill a
 * cw_value reuse v.data when v.cap is large enough and grow it otherwise, so a loop can reuse
 * one cw_value without allocating. data is always NUL-terminated one byte past len (handy for
 * text; not counted in len). Release with cw_value_free().
 */
typedef struct cw_value {
    unsigned char *data; /* NULL when empty; allocated with the library's allocator */
    size_t len;          /* bytes of the value */
    size_t cap;          /* bytes allocated at data (> len when data != NULL) */
} cw_value;

/** cw_value_free() - Free v->data and reset *v to {0}.
 * @v: NULL or a value; calling it twice is harmless.
 * Thread safety: any thread, on a value no other thread uses. */
CW_API void cw_value_free(cw_value *v);

/** cw_value_set() - Copy @len bytes at @data into @v, reusing its buffer when it fits.
 * Return: CW_OK or CW_ENOMEM (v unchanged then).
 * Thread safety: any thread, on a value no other thread uses. */
CW_API cw_status cw_value_set(cw_value *v, const void *data, size_t len);

/*
 * Allocator hooks, as hiredis's hiredisSetAllocatorFuncs(): every buffer the library hands to
 * the caller and every internal structure comes from these. Set them once, before creating any
 * cache, and never change them while a cache exists. NULL members keep the libc function.
 * (Memory that SQLite, OpenSSL or hiredis allocate internally is theirs.)
 */
typedef struct cw_allocators {
    void *(*malloc_fn)(size_t size);
    void *(*calloc_fn)(size_t n, size_t size);
    void *(*realloc_fn)(void *ptr, size_t size);
    void (*free_fn)(void *ptr);
} cw_allocators;

/** cw_set_allocators() - Install allocator hooks (NULL restores libc's).
 * Thread safety: NOT thread-safe; call before any other libcashews call. */
CW_API void cw_set_allocators(const cw_allocators *a);

/*
 * A clock: returns the current time as milliseconds since the Unix epoch. Caches take one in
 * their options so that tests move time instead of sleeping. It must be callable from any
 * thread at once and should never go backwards.
 */
typedef int64_t (*cw_clock_fn)(void *ud);

/** cw_clock_now_ms() - The default clock (CLOCK_REALTIME, milliseconds). Thread-safe. */
CW_API int64_t cw_clock_now_ms(void *ud);

/* Log levels passed to a cw_log_fn. The library never writes to stderr itself. */
typedef enum cw_log_level { CW_LOG_DEBUG = 0, CW_LOG_INFO, CW_LOG_WARN, CW_LOG_ERROR } cw_log_level;
/* Log sink: @msg is valid for the call only. Called from any library or caller thread. */
typedef void (*cw_log_fn)(void *ud, cw_log_level level, const char *msg);

/* TTL sentinel: store without expiry. Any other TTL must be > 0 milliseconds. */
#define CW_NO_EXPIRY ((int64_t)-1)

/*
 * Readable TTLs. Every TTL argument is in milliseconds, so cw_set(c, k, v, n, 600) keeps the
 * value for 0.6 s; write cw_set(c, k, v, n, CW_MINUTES(10)) instead. Each macro gives an
 * int64_t count of milliseconds and is a constant expression for constant arguments. They
 * take whole numbers: the argument is converted to int64_t first, so CW_SECONDS(1.5) is 1000
 * (write CW_MS(1500), or parse "1.5s" with cw_ttl_parse()). Combine them with +:
 * CW_HOURS(1) + CW_MINUTES(30). The TTL strings of cached functions (.ttl = "10m") and of
 * cw_ttl_parse() say the same in text.
 */
#define CW_MS(n) ((int64_t)(n))
#define CW_SECONDS(n) ((int64_t)(n) * INT64_C(1000))
#define CW_MINUTES(n) ((int64_t)(n) * INT64_C(60000))
#define CW_HOURS(n) ((int64_t)(n) * INT64_C(3600000))
#define CW_DAYS(n) ((int64_t)(n) * INT64_C(86400000))

/** cw_ttl_parse() - Parse a TTL string into milliseconds. The grammar (docs/COMMANDS.md):
 *   ttl    := space* ( number | part+ ) space*      number := digits [ "." digits ]
 *   part   := number unit                           unit   := d | h | m | s | ms  (any case)
 * A bare number is seconds ("90", "1.5"); parts may repeat and come in any order ("1d2h3m50s",
 * "10m", "250ms", "1h30m", " 10M "); no space inside. Surrounding ASCII white space and
 * upper-case units are accepted because the seed strips and lower-cases the string. Zero,
 * negative, overflowing or malformed text ("1h30": a number after the last unit) is an error,
 * never "no expiry".
 * @text: NUL-terminated; borrowed.
 * @out_ms: on CW_OK, a value > 0; untouched otherwise.
 * Return: CW_OK, or CW_EINVAL for NULL or bad text. The reason is this thread's detail for no
 * cache (not readable through cw_cache_errmsg(), which is per cache): use cw_ttl_parse_ex()
 * to get it.
 * Thread safety: any thread. */
CW_API cw_status cw_ttl_parse(const char *text, int64_t *out_ms);

/** cw_ttl_parse_ex() - cw_ttl_parse(), writing the reason of a failure into @errbuf.
 * @errbuf: NULL, or CW_ERRMSG_SIZE bytes: on failure a NUL-terminated English sentence that
 *          quotes the text (its first 64 bytes) and says what is wrong, e.g.
 *          invalid argument: TTL "10x": unknown unit at "x" (use d, h, m, s, ms);
 *          "" on success.
 * Return: as cw_ttl_parse(). Thread safety: any thread (errbuf is the caller's). */
CW_API cw_status cw_ttl_parse_ex(const char *text, int64_t *out_ms, char *errbuf);

/** cw_ttl_from_seconds() - Convert seconds (fractions allowed) to milliseconds.
 * Return: CW_OK, or CW_EINVAL when @seconds is not finite, <= 0, or rounds to 0 ms.
 * Thread safety: any thread. */
CW_API cw_status cw_ttl_from_seconds(double seconds, int64_t *out_ms);

/** cw_glob_match() - Match @str against a glob with exactly Redis's rules (stringmatchlen):
 * '*', '?', '[abc]', '[a-c]', '[^a]', and '\' escaping the next character; '!' does not
 * negate and "[]" matches nothing, as in Redis, so every backend selects the same keys.
 * Lengths are explicit; NUL bytes are ordinary.
 * Return: 1 on match, 0 otherwise. Thread safety: any thread. */
CW_API int cw_glob_match(const char *pattern, size_t plen, const char *str, size_t slen);

#ifdef __cplusplus
}
#endif
#endif /* CASHEWS_COMMON_H */
