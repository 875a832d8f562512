/*
 * cashews/inspect.h - look inside stored bytes: what a value in Redis, in a disk:// directory
 * or anywhere else that libcashews wrote it is made of, layer by layer. For tools (the
 * `cashews` command-line tool is built on it) and for debugging; caches never need it.
 * Include <cashews.h>.
 *
 * Layers, outermost first (docs/FORMAT.md, docs/REDIS.md):
 *   signature    "<hex or decimal digits>_"     redis:// with secret= (digestmod)
 *   compression  0xC7 'z' <codec> <stream>      redis:// with compress_type=
 *   envelope     0xC5 0x01 <flags> <codec> ...  values written by cw_set() and cached functions
 *   payload      the application's bytes
 */
#ifndef CASHEWS_INSPECT_H
#define CASHEWS_INSPECT_H

#include "common.h"

#ifdef __cplusplus
extern "C" {
#endif

/* What is known about a signature in front of the bytes. Append only. */
typedef enum cw_sig_state {
    CW_SIG_NONE = 0,  /* no signature: none given to check and nothing shaped like one */
    CW_SIG_UNCHECKED, /* shaped like "<signature>_" (16, 32, 40 or 64 lowercase hex digits, or
                         1 to 20 decimal digits, then '_'); no secret to check it with. A raw
                         value that happens to look like this is reported the same way */
    CW_SIG_VALID,     /* verified with the secret, digestmod and key given */
    CW_SIG_INVALID,   /* a secret was given and the bytes do not verify: a reader with that
                         secret sees a miss */
    CW_SIG_COUNTER    /* a decimal integer (INCRBY's counters), which is stored unsigned */
} cw_sig_state;

/* Compression codecs, as the byte after 0xC7 'z' names them. Append only. */
typedef enum cw_compression {
    CW_COMPRESSION_NONE = 0,
    CW_COMPRESSION_GZIP = 1,
    CW_COMPRESSION_ZLIB = 2,
    CW_COMPRESSION_ZSTD = 3
} cw_compression;

/* The layers found. Fields of absent layers are 0. */
typedef struct cw_stored_info {
    cw_sig_state signature;
    size_t signature_len;       /* characters of the signature before '_' (0: none) */
    cw_compression compression;
    size_t compressed_len;      /* bytes of the compressed stream, header excluded */
    size_t decompressed_len;    /* bytes it inflated to */
    int has_envelope;           /* 1: an envelope (docs/FORMAT.md) follows */
    unsigned envelope_version;  /* 1 */
    unsigned codec;             /* envelope codec: 0 raw bytes, 1 a cached loader error,
                                   2..127 the library's, 128..255 registered user codecs */
    int64_t created_ms;         /* when the value was computed (ms since the epoch; 0: absent) */
    int64_t refresh_at_ms;      /* when early/soft refresh it (ms since the epoch; 0: absent) */
    size_t payload_len;         /* bytes of the application's value, every layer removed */
} cw_stored_info;

/* How to check a signature. All-zero: signatures are recognised but not checked. */
typedef struct cw_describe_options {
    const char *secret;    /* NULL: do not verify; else the backend's secret= (NUL-terminated) */
    const char *digestmod; /* NULL: "md5", the redis:// default; md5 sha1 sha256 sum xxh64 xxh3 */
    const char *key;       /* the key the bytes were stored under: signatures bind it; needed
                              with a secret (without the client-side prefix, docs/REDIS.md) */
} cw_describe_options;

/** cw_describe_stored() - Take stored bytes apart as a reader of libcashews would: check or
 * recognise a signature, inflate compressed data, parse the envelope.
 * @stored: the bytes exactly as stored (from redis-cli, `cw_get_raw()` on a setup without
 *          secret/compress_type, a file); borrowed; may be NULL when @len is 0.
 * @opts: NULL or zeroed for no verification; borrowed for the call.
 * @info: filled on CW_OK and on CW_ECORRUPT (with what was found up to the failure).
 * @payload: NULL, or a caller-owned value that receives the application's bytes (release with
 *           cw_value_free()).
 * Bytes that inflate past 512 MiB, or a compressed stream that is broken, are reported as
 * the reader sees them: a stream that does not inflate is a raw value that happens to start
 * like the header (compression NONE), one that inflates too far is CW_ECORRUPT.
 * Decompression and verification need the library built with the redis backend; without it
 * compressed bytes are reported with decompressed_len 0 and the envelope inside unparsed, and
 * a secret gives CW_ENOTSUP.
 * Return: CW_OK; CW_EINVAL (NULL @info, @stored NULL with @len > 0, a secret without a key or
 *         empty, an unknown digestmod); CW_ECORRUPT; CW_ENOMEM; CW_ENOTSUP.
 * Thread safety: any thread; no state is kept between calls. */
CW_API cw_status cw_describe_stored(const void *stored, size_t len, const cw_describe_options *opts,
                                    cw_stored_info *info, cw_value *payload);

/** cw_sig_state_name() - "none", "unchecked", "valid", "invalid", "counter"; "unknown"
 * otherwise. Static text. Thread safety: any thread. */
CW_API const char *cw_sig_state_name(cw_sig_state s);

/** cw_compression_name() - "none", "gzip", "zlib", "zstd"; "unknown" otherwise. Static text.
 * Thread safety: any thread. */
CW_API const char *cw_compression_name(cw_compression c);

#ifdef __cplusplus
}
#endif
#endif /* CASHEWS_INSPECT_H */
