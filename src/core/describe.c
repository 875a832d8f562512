/*
 * describe.c - cw_describe_stored(): stored bytes taken apart layer by layer, as a reader
 * would (include/cashews/inspect.h). The envelope is the core's (envelope.c); the signature
 * and compression layers are the Redis backend's framing, so checking and inflating them goes
 * through its value codec (src/backends/redis/value.c), configured for one layer at a time
 * so that each layer's outcome is known separately. Nothing here is on a cache's path.
 */
#include <string.h>

#include "core/internal.h"

#ifdef CW_HAVE_REDIS
#include "backends/redis/redis_int.h"
#endif

/* Compression header of docs/REDIS.md. */
#define ZHDR0 0xC7
#define ZHDR1 'z'

const char *cw_sig_state_name(cw_sig_state s)
{
    static const char *const names[] = { "none", "unchecked", "valid", "invalid", "counter" };
    return (unsigned)s < sizeof names / sizeof *names ? names[s] : "unknown";
}

const char *cw_compression_name(cw_compression c)
{
    static const char *const names[] = { "none", "gzip", "zlib", "zstd" };
    return (unsigned)c < sizeof names / sizeof *names ? names[c] : "unknown";
}

/* A decimal int64 as INCRBY leaves it (value.c stores those unsigned). */
static int is_counter(const unsigned char *p, size_t n)
{
    size_t i = n && p[0] == '-';
    if (n - i < 1 || n - i > 19) return 0;
    for (; i < n; i++)
        if (p[i] < '0' || p[i] > '9') return 0;
    return 1;
}

/* Length of a signature-shaped prefix before '_' (the lengths the digests give), or 0. */
static size_t sig_shape(const unsigned char *p, size_t n)
{
    size_t hex = 0, dec = 0;
    while (hex < n && hex < 64 && ((p[hex] >= '0' && p[hex] <= '9') || (p[hex] >= 'a' && p[hex] <= 'f')))
        hex++;
    while (dec < n && dec < 20 && p[dec] >= '0' && p[dec] <= '9') dec++;
    if (hex < n && p[hex] == '_' && (hex == 16 || hex == 32 || hex == 40 || hex == 64)) return hex;
    if (dec > 0 && dec < n && p[dec] == '_') return dec;
    return 0;
}

/* Verify the signature layer with the secret: *after is where the rest starts. */
static cw_status check_signature(const unsigned char *p, size_t n, const cw_describe_options *o,
                                 cw_stored_info *info, size_t *after)
{
#ifdef CW_HAVE_REDIS
    char err[CW_ERRMSG_SIZE];
    cw__valcodec vc;
    cw_status st = cw__valcodec_init(&vc, o->secret, o->digestmod ? o->digestmod : "md5", NULL,
                                     -1, 0, err);
    if (st != CW_OK) return st;
    cw_value rest = { 0 };
    st = cw__value_decode(&vc, o->key, strlen(o->key), p, n, &rest);
    cw__valcodec_free(&vc);
    if (st == CW_OK) {
        info->signature = CW_SIG_VALID;
        info->signature_len = n - rest.len - 1;
        *after = n - rest.len;
    } else if (st == CW_ECORRUPT) {
        info->signature = CW_SIG_INVALID;
        st = CW_OK;
    }
    cw_value_free(&rest);
    return st;
#else
    (void)p, (void)n, (void)o, (void)info, (void)after;
    return CW_ENOTSUP;
#endif
}

/* Inflate the compression layer at p (header included) into out; CW_OK with out->len 0 and
 * info untouched when it does not inflate (a raw value that starts like the header). */
static cw_status inflate_layer(const unsigned char *p, size_t n, cw_stored_info *info, cw_value *out)
{
    info->compression = (cw_compression)p[2];
    info->compressed_len = n - 3;
#ifdef CW_HAVE_REDIS
    char err[CW_ERRMSG_SIZE];
    cw__valcodec vc;
    /* a codec configured for any compress_type reads all three */
    cw_status st = cw__valcodec_init(&vc, NULL, NULL, "zstd", -1, 0, err);
    if (st != CW_OK) return st;
    st = cw__value_decode(&vc, "", 0, p, n, out);
    cw__valcodec_free(&vc);
    if (st != CW_OK) return st;
    if (out->len == n && memcmp(out->data, p, n) == 0) { /* left as it was: not compressed */
        info->compression = CW_COMPRESSION_NONE;
        info->compressed_len = 0;
        out->len = 0;
        return CW_OK;
    }
    info->decompressed_len = out->len;
    return CW_OK;
#else
    (void)out;
    return CW_OK;
#endif
}

cw_status cw_describe_stored(const void *stored, size_t len, const cw_describe_options *opts,
                             cw_stored_info *info, cw_value *payload)
{
    if (!info || (!stored && len)) return CW_EINVAL;
    memset(info, 0, sizeof *info);
    cw_describe_options o = { 0 };
    if (opts) o = *opts;
    if (o.secret && (!*o.secret || !o.key)) return CW_EINVAL;
    const unsigned char *p = stored ? stored : (const unsigned char *)"";
    size_t n = len, skip = 0;

    /* 1. the signature */
    if (is_counter(p, n)) {
        info->signature = CW_SIG_COUNTER;
    } else if (o.secret) {
        cw_status st = check_signature(p, n, &o, info, &skip);
        if (st != CW_OK) return st;
        if (info->signature == CW_SIG_INVALID && (info->signature_len = sig_shape(p, n)))
            skip = info->signature_len + 1; /* show what is behind it all the same */
    } else if ((info->signature_len = sig_shape(p, n)) > 0) {
        info->signature = CW_SIG_UNCHECKED;
        skip = info->signature_len + 1;
    }
    p += skip;
    n -= skip;

    /* 2. compression */
    cw_value inflated = { 0 };
    if (n > 3 && p[0] == ZHDR0 && p[1] == ZHDR1 && p[2] >= CW_COMPRESSION_GZIP &&
        p[2] <= CW_COMPRESSION_ZSTD) {
        cw_status st = inflate_layer(p, n, info, &inflated);
        if (st != CW_OK) {
            cw_value_free(&inflated);
            return st;
        }
        if (info->decompressed_len) {
            p = inflated.data;
            n = inflated.len;
        }
    }

    /* 3. the envelope (compressed bytes left as they are carry no readable envelope) */
    cw__env_meta meta;
    size_t off = 0;
    if ((info->compression == CW_COMPRESSION_NONE || info->decompressed_len) &&
        cw__env_parse(p, n, &meta, &off)) {
        info->has_envelope = 1;
        info->envelope_version = CW__ENV_VERSION;
        info->codec = meta.codec;
        info->created_ms = meta.created_ms;
        info->refresh_at_ms = meta.refresh_at_ms;
        p += off;
        n -= off;
    }
    info->payload_len = n;
    cw_status st = payload ? cw_value_set(payload, p, n) : CW_OK;
    cw_value_free(&inflated);
    return st;
}
