/*
 * internal.h - declarations shared between the library's own files (never installed).
 * Cross-file internal names are cw__name(); file-local ones are static and unprefixed.
 */
#ifndef CW_INTERNAL_H
#define CW_INTERNAL_H

#include <cashews.h>
#include <stdarg.h>
#include <stdbool.h>
#include <string.h>

/* ---- built-in backends (each defined in its src/backends/<name>/ folder) ---- */
extern const cw_backend_ops cw__mem_ops;   /* "mem" */
#ifdef CW_HAVE_REDIS
extern const cw_backend_ops cw__redis_ops;  /* "redis" */
extern const cw_backend_ops cw__rediss_ops; /* "rediss" (TLS) */
#endif
#ifdef CW_HAVE_DISK
extern const cw_backend_ops cw__disk_ops;   /* "disk" */
#endif

/* ---- errors ---- */
/* Record st with a detail for this thread (tagged with c, may be NULL) and return st. */
cw_status cw__fail(const cw_cache *c, cw_status st, const char *fmt, ...)
#ifdef __GNUC__
    __attribute__((format(printf, 3, 4)))
#endif
    ;
/* Tag this thread's last detail (set by a backend through cw_backend_fail) with c. */
void cw__errmsg_claim(const cw_cache *c);
/* Copy this thread's current detail into errbuf (CW_ERRMSG_SIZE), if errbuf. */
void cw__errmsg_copy(char *errbuf);

/* Copy URL @text into @buf (truncated to @size) with its password replaced by "***", for
 * messages that quote a URL. */
void cw__url_redact(const char *text, char *buf, size_t size);

/* ---- value envelope (docs/FORMAT.md) ----
 * byte 0   magic 0xC5
 * byte 1   version (1)
 * byte 2   flags: bit0 CREATED (int64 LE ms follows), bit1 REFRESH_AT (int64 LE ms follows)
 * byte 3   codec id (0 = raw bytes; 1..127 library codecs; 128..255 user codecs)
 * then the optional fields in flag order, then the payload.
 */
#define CW__ENV_MAGIC 0xC5
#define CW__ENV_VERSION 1
#define CW__ENV_F_CREATED 0x01
#define CW__ENV_F_REFRESH_AT 0x02
#define CW__ENV_MAX_HEADER 20

/* The first three bytes of a plain header (no optional fields), as one host-order word of
 * the header's first four bytes, masked: the payload of a plain envelope starts at byte 4. */
#if defined(__BYTE_ORDER__) && __BYTE_ORDER__ == __ORDER_BIG_ENDIAN__
#define CW__PLAIN_HEAD ((uint32_t)CW__ENV_MAGIC << 24 | (uint32_t)CW__ENV_VERSION << 16)
#define CW__PLAIN_MASK 0xFFFFFF00u
#else
#define CW__PLAIN_HEAD ((uint32_t)CW__ENV_MAGIC | (uint32_t)CW__ENV_VERSION << 8)
#define CW__PLAIN_MASK 0x00FFFFFFu
#endif

/* 1 when the 4 bytes at d start a plain envelope: the payload follows at d + 4. */
static inline int cw__env_plain(const unsigned char *d)
{
    uint32_t head;
    memcpy(&head, d, 4);
    return (head & CW__PLAIN_MASK) == CW__PLAIN_HEAD;
}

typedef struct cw__env_meta {
    uint8_t codec;
    int64_t created_ms;    /* 0: not recorded */
    int64_t refresh_at_ms; /* 0: none (early / soft strategies) */
} cw__env_meta;

/* Keeps a rare case out of a hot function (no inlining, laid out apart). CW__NOINLINE keeps
 * a function apart (so that its caller needs no frame); CW__ALWAYS_INLINE merges one in. */
#ifdef __GNUC__
#define CW__COLD __attribute__((noinline, cold))
#define CW__NOINLINE __attribute__((noinline))
#define CW__ALWAYS_INLINE inline __attribute__((always_inline))
#else
#define CW__COLD
#define CW__NOINLINE
#define CW__ALWAYS_INLINE inline
#endif

/* memcpy() inline for the short values of a cache's hot paths (16 to 64 bytes: overlapping
 * 16-byte moves, no call), libc's for the rest. d and s must not overlap. The fixed-size
 * memcpy()s compile to plain 16-byte moves. */
static inline void cw__copy(unsigned char *d, const unsigned char *s, size_t n)
{
    unsigned char a[16], b[16], y[16], z[16];
    if (n >= 16 && n <= 64) {
        memcpy(a, s, 16);
        memcpy(z, s + n - 16, 16);
        if (n > 32) {
            memcpy(b, s + 16, 16);
            memcpy(y, s + n - 32, 16);
            memcpy(d + 16, b, 16);
            memcpy(d + n - 32, y, 16);
        }
        memcpy(d, a, 16);
        memcpy(d + n - 16, z, 16);
    } else if (n) {
        memcpy(d, s, n);
    }
}

/* cw_value_set() for data that never aliases v (a backend's store): the common case, a
 * buffer already big enough, inline. */
static inline cw_status cw__value_put(cw_value *v, const void *data, size_t len)
{
    if (!v->data || v->cap <= len) return cw_value_set(v, data, len);
    cw__copy(v->data, data, len);
    v->data[len] = 0;
    v->len = len;
    return CW_OK;
}

/* Write the header for meta into hdr (CW__ENV_MAX_HEADER bytes); returns its length. */
size_t cw__env_header(const cw__env_meta *meta, unsigned char *hdr);
/* Parse an envelope at buf: on success fills meta and *payload_off and returns 1; returns 0
 * when buf is not an envelope (a raw value). */
int cw__env_parse(const unsigned char *buf, size_t len, cw__env_meta *meta, size_t *payload_off);

/* cw_set_ex()/cw_get() with envelope metadata, for strategies. meta NULL = plain. */
cw_status cw__set_meta(cw_cache *c, const char *key, const void *val, size_t len,
                       const cw__env_meta *meta, const cw_set_options *o);
cw_status cw__get_meta(cw_cache *c, const char *key, cw_value *out, cw__env_meta *meta);

/* cw_get()'s own read on mem://, the built-in backend: called for a cache whose only route is
 * an enabled default mem:// backend, with c, key and out not NULL and nothing in the way (no
 * middleware, scope or disabled get). On a hit on a plain value it fills out and returns
 * CW_OK. It answers CW_NOTFOUND through cw__get_missed() and leaves every other case to
 * cw__get_general(), which does the whole command with every check and message. */
cw_status cw__mem_get(cw_cache *c, cw_backend *b, const char *key, cw_value *out);
/* cw_get() the general way. */
cw_status cw__get_general(cw_cache *c, const char *key, cw_value *out);
/* cw_get()'s answer for a key of klen bytes that cw__mem_get() did not find: CW_NOTFOUND, or
 * the error a key over max_key_bytes gets. */
cw_status cw__get_missed(cw_cache *c, const char *key, size_t klen, cw_value *out);

/* Run fn(ud) at the start of cw_cache_free(), before backends close (latest added first):
 * how strategies stop their worker threads. Remove with the same (fn, ud). */
cw_status cw__cache_add_close_hook(cw_cache *c, void (*fn)(void *ud), void *ud);
void cw__cache_remove_close_hook(cw_cache *c, void (*fn)(void *ud), void *ud);

/* Per-cache state of another layer (the strategies' registries and worker pool), found by
 * its close function: returns the state registered with close_fn, or creates it with
 * create(c) and registers close_fn(state) as a close hook, all under the cache's setup lock
 * (so create must not call cache setup functions). NULL when !create or on ENOMEM. */
void *cw__cache_ext(cw_cache *c, void (*close_fn)(void *ud), void *(*create)(cw_cache *c));
/* Scheme of the backend that serves @key ("" when none is set up). Static text. */
const char *cw__backend_scheme_for(const cw_cache *c, const char *key, size_t klen);

/* ---- bit-field counters (bitfield.c), for the backends' bitfield op ----
 * A counter of size bits (1..63) at bit offset off (= idx * size) of a Redis-ordered bitmap
 * (docs in bitfield.c). The core checks that every offset + size <= 2^32 before a backend
 * sees it, so offsets and byte counts fit. */
/* The counter at off; bytes at or past len read as 0. */
uint64_t cw__bitfield_read(const unsigned char *map, size_t len, uint64_t off, unsigned size);
/* v + by, saturated to 0 .. 2^size - 1 (Redis OVERFLOW SAT). */
uint64_t cw__bitfield_sat(uint64_t v, unsigned size, int64_t by);
/* Add by to the counter at off (map must hold it) with saturation; returns the new value. */
uint64_t cw__bitfield_add(unsigned char *map, uint64_t off, unsigned size, int64_t by);
/* Bytes a bitmap needs to hold the n counters at idx (0 when n is 0). */
size_t cw__bitfield_bytes(const uint64_t *idx, size_t n, unsigned size);

/* What set_bits, get_bits and bitfield do to a bitmap, as callbacks (ud: a cw__bits_job) for a
 * backend helper that runs them on the stored bytes under its lock or transaction: set the
 * listed bits; read them (bits past len are 0); add by to the counters; read the counters. */
typedef struct cw__bits_job {
    const uint64_t *idx;
    size_t n;
    unsigned size;      /* bit-field counters: bits a counter */
    int64_t by;         /* bit-field increments */
    uint8_t *bits;      /* get_bits' output */
    uint64_t *counters; /* bitfield's output */
} cw__bits_job;
void cw__bits_set_listed(void *ud, unsigned char *map);
void cw__bits_get_listed(void *ud, const unsigned char *map, size_t len);
void cw__bits_add_counters(void *ud, unsigned char *map);
void cw__bits_read_counters(void *ud, const unsigned char *map, size_t len);

/* Tags: the set holding a tag's keys lives at CW__TAG_PREFIX + tag. */
#define CW__TAG_PREFIX "_tag:"

/* The removal hook (the seed's on_remove_callback): fn(ud, c, key, klen) runs on the
 * caller's thread for every key that cw_delete() or cw_delete_many() removed or did not find,
 * and, before cw_delete_match() removes them, for every key its pattern matches. The tag
 * registry (src/strategies/tags.c) installs it to take deleted keys out of their tag sets.
 * Set once per cache (later calls are ignored); fn NULL removes it. */
typedef void (*cw__remove_fn)(void *ud, cw_cache *c, const char *key, size_t klen);
void cw__cache_on_remove(cw_cache *c, cw__remove_fn fn, void *ud);

#endif /* CW_INTERNAL_H */
