/*
 * value.c - signed and compressed values (secret, digestmod, compress_type).
 *
 * Stored form, outermost first:
 *
 *   signed:      <signature> '_' <payload>            (as the seed: hex digest, '_', value)
 *   payload:     0xC7 'z' <codec> <compressed stream>  when compressed, else the value itself
 *
 * Signature: HMAC(secret, le64(len(key)) || key || payload) with the chosen digest, in hex
 * (OpenSSL's EVP_MAC). Binding the key name stops a value signed for one key from being
 * served under another; the length prefix makes (key, payload) unambiguous (the seed hashes
 * key + value, where key "ab" + "c" and key "a" + "bc" sign alike). Verification compares in
 * constant time (CRYPTO_memcmp) and happens before anything else looks at the payload: a value
 * that does not verify is a miss and never reaches a decompressor or a decoder.
 * `sum` (decimal sum of the bytes of secret, key and payload) and xxh64/xxh3 (seeded with the
 * secret) are integrity checks against accidents, not against an attacker; docs/REDIS.md says
 * so. Values that are plain decimal integers pass unsigned: counters are written by INCRBY on
 * the server, which cannot sign (the seed does the same).
 *
 * Compression: only values of at least compress_min_size bytes, and only when the result is
 * smaller. The 3-byte header names the codec, so a reader configured with any compress_type
 * reads all three. A payload with the header that does not inflate is taken as a raw value
 * that happens to start with those bytes; one that inflates past max_size (a decompression
 * bomb) is corrupt. gzip output is deterministic (zlib writes mtime 0), and so is zstd's, so
 * encoding a value twice gives the same bytes: compare-and-delete (unlock) relies on it.
 */
#include <stdio.h>
#include <string.h>
#include <strings.h>

#include <openssl/core_names.h>
#include <openssl/crypto.h>
#include <openssl/err.h>
#include <openssl/evp.h>
#include <openssl/params.h>
#include <zlib.h>
#include <zstd.h>
#include <zstd_errors.h>

#include "backends/redis/redis_int.h"

#include "backends/redis/xxh.h"

#define HDR0 0xC7
#define HDR1 'z'
#define HDR_LEN 3
/* Room kept in front of the payload for "<signature>_": 64 hex chars of SHA-256 or 20 digits. */
#define SIG_ROOM 72
#define DEFAULT_MAX_SIZE ((size_t)512 << 20)

static const struct {
    const char *name;
    cw__digest d;
    const char *evp; /* OpenSSL digest name for HMAC */
    size_t hexlen;
} digests[] = {
    { "md5", CW__DIGEST_MD5, "MD5", 32 },
    { "sha1", CW__DIGEST_SHA1, "SHA1", 40 },
    { "sha256", CW__DIGEST_SHA256, "SHA256", 64 },
    { "sum", CW__DIGEST_SUM, NULL, 0 },
    { "xxh64", CW__DIGEST_XXH64, NULL, 16 },
    { "xxh3", CW__DIGEST_XXH3, NULL, 16 },
    { "xxhash", CW__DIGEST_XXH3, NULL, 16 },
};

static const struct {
    const char *name;
    cw__compress c;
} codecs[] = {
    { "none", CW__COMPRESS_NONE }, { "gzip", CW__COMPRESS_GZIP },
    { "zlib", CW__COMPRESS_ZLIB }, { "zstd", CW__COMPRESS_ZSTD },
};

cw_status cw__valcodec_init(cw__valcodec *vc, const char *secret, const char *digestmod,
                            const char *compress_type, int64_t level, uint64_t min_size,
                            char *errbuf)
{
    memset(vc, 0, sizeof *vc);
    vc->level = (int)level;
    vc->min_size = (size_t)min_size;
    vc->max_size = DEFAULT_MAX_SIZE;
    if (compress_type && *compress_type) {
        size_t i;
        for (i = 0; i < sizeof codecs / sizeof *codecs; i++)
            if (strcasecmp(compress_type, codecs[i].name) == 0) break;
        if (i == sizeof codecs / sizeof *codecs) {
            snprintf(errbuf, CW_ERRMSG_SIZE,
                     "parameter compress_type: \"%s\" is not one of gzip, zlib, zstd, none",
                     compress_type);
            return CW_EINVAL;
        }
        vc->compress = codecs[i].c;
    }
    if (level != -1) {
        int lo = 0, hi = 9;
        if (vc->compress == CW__COMPRESS_ZSTD) {
            lo = ZSTD_minCLevel();
            hi = ZSTD_maxCLevel();
        }
        if (level < lo || level > hi) {
            snprintf(errbuf, CW_ERRMSG_SIZE, "parameter compress_level: %lld is outside %d..%d",
                     (long long)level, lo, hi);
            return CW_EINVAL;
        }
    } else {
        vc->level = vc->compress == CW__COMPRESS_ZSTD ? 3 : Z_DEFAULT_COMPRESSION;
    }
    if (!secret) {
        if (digestmod) {
            snprintf(errbuf, CW_ERRMSG_SIZE, "parameter digestmod needs secret");
            return CW_EINVAL;
        }
        return CW_OK;
    }
    if (!*secret) {
        snprintf(errbuf, CW_ERRMSG_SIZE, "parameter secret: must not be empty");
        return CW_EINVAL;
    }
    if (!digestmod) digestmod = "md5";
    size_t i;
    for (i = 0; i < sizeof digests / sizeof *digests; i++)
        if (strcasecmp(digestmod, digests[i].name) == 0) break;
    if (i == sizeof digests / sizeof *digests) {
        snprintf(errbuf, CW_ERRMSG_SIZE,
                 "parameter digestmod: \"%s\" is not one of md5, sha1, sha256, sum, xxh64, xxh3",
                 digestmod);
        return CW_EINVAL;
    }
#ifndef CW_REDIS_HAVE_XXHASH
    if (digests[i].d == CW__DIGEST_XXH64 || digests[i].d == CW__DIGEST_XXH3) {
        snprintf(errbuf, CW_ERRMSG_SIZE,
                 "parameter digestmod: %s needs a library built with xxhash (libxxhash-dev)",
                 digestmod);
        return CW_EINVAL;
    }
#endif
    vc->digest = digests[i].d;
    vc->sig_len = digests[i].hexlen;
    vc->secret_len = strlen(secret);
    vc->secret = cw_malloc(vc->secret_len + 1);
    if (!vc->secret) return CW_ENOMEM;
    memcpy(vc->secret, secret, vc->secret_len + 1);
    if (digests[i].evp) {
        ERR_clear_error();
        EVP_MAC *mac = EVP_MAC_fetch(NULL, "HMAC", NULL);
        EVP_MAC_CTX *ctx = mac ? EVP_MAC_CTX_new(mac) : NULL;
        EVP_MAC_free(mac);
        OSSL_PARAM params[2];
        params[0] = OSSL_PARAM_construct_utf8_string(OSSL_MAC_PARAM_DIGEST,
                                                     (char *)digests[i].evp, 0);
        params[1] = OSSL_PARAM_construct_end();
        if (!ctx || EVP_MAC_init(ctx, vc->secret, vc->secret_len, params) != 1) {
            /* HMAC is in every OpenSSL 3 provider: without a context, or with a digest that
             * exists, the failure is memory; only a missing digest is the parameter's fault */
            EVP_MD *md = ctx ? EVP_MD_fetch(NULL, digests[i].evp, NULL) : NULL;
            int nomem = !ctx || md || ERR_GET_REASON(ERR_peek_last_error()) == ERR_R_MALLOC_FAILURE;
            EVP_MD_free(md);
            EVP_MAC_CTX_free(ctx);
            ERR_clear_error();
            cw__valcodec_free(vc);
            snprintf(errbuf, CW_ERRMSG_SIZE, nomem ? "out of memory in OpenSSL setting up HMAC-%s"
                                                   : "parameter digestmod: OpenSSL has no HMAC-%s",
                     digests[i].evp);
            return nomem ? CW_ENOMEM : CW_EINVAL;
        }
        vc->mac_tmpl = ctx;
    }
    return CW_OK;
}

void cw__valcodec_free(cw__valcodec *vc)
{
    if (vc->mac_tmpl) EVP_MAC_CTX_free(vc->mac_tmpl);
    if (vc->secret) {
        OPENSSL_cleanse(vc->secret, vc->secret_len);
        cw_free(vc->secret);
    }
    memset(vc, 0, sizeof *vc);
}

/* ---- signatures ---- */

static void to_hex(const unsigned char *in, size_t n, char *out)
{
    static const char hx[] = "0123456789abcdef";
    for (size_t i = 0; i < n; i++) {
        out[2 * i] = hx[in[i] >> 4];
        out[2 * i + 1] = hx[in[i] & 15];
    }
}

/* The signature of (key, payload) as text at sig (>= 65 bytes); its length, or 0 when OpenSSL
 * failed (out of memory). */
static size_t make_sig(const cw__valcodec *vc, const char *key, size_t klen, const void *payload,
                       size_t plen, char *sig)
{
    unsigned char len8[8];
    for (int i = 0; i < 8; i++) len8[i] = (unsigned char)((uint64_t)klen >> (8 * i));
    switch (vc->digest) {
    case CW__DIGEST_MD5:
    case CW__DIGEST_SHA1:
    case CW__DIGEST_SHA256: {
        EVP_MAC_CTX *ctx = EVP_MAC_CTX_dup(vc->mac_tmpl);
        unsigned char md[EVP_MAX_MD_SIZE];
        size_t mdlen = 0;
        int ok = ctx && EVP_MAC_update(ctx, len8, 8) == 1 &&
                 EVP_MAC_update(ctx, (const unsigned char *)key, klen) == 1 &&
                 EVP_MAC_update(ctx, payload, plen) == 1 &&
                 EVP_MAC_final(ctx, md, &mdlen, sizeof md) == 1;
        EVP_MAC_CTX_free(ctx);
        if (!ok) {
            ERR_clear_error();
            return 0;
        }
        to_hex(md, mdlen, sig);
        return mdlen * 2;
    }
    case CW__DIGEST_SUM: {
        uint64_t s = 0;
        for (size_t i = 0; i < vc->secret_len; i++) s += vc->secret[i];
        for (size_t i = 0; i < 8; i++) s += len8[i];
        for (size_t i = 0; i < klen; i++) s += (unsigned char)key[i];
        const unsigned char *p = payload;
        for (size_t i = 0; i < plen; i++) s += p[i];
        return (size_t)snprintf(sig, 21, "%llu", (unsigned long long)s);
    }
#ifdef CW_REDIS_HAVE_XXHASH
    case CW__DIGEST_XXH64:
    case CW__DIGEST_XXH3: {
        uint64_t seed = XXH64(vc->secret, vc->secret_len, 0x63617368657773ULL);
        uint64_t h;
        if (vc->digest == CW__DIGEST_XXH64) {
            XXH64_state_t st;
            XXH64_reset(&st, seed);
            XXH64_update(&st, vc->secret, vc->secret_len);
            XXH64_update(&st, len8, 8);
            XXH64_update(&st, key, klen);
            XXH64_update(&st, payload, plen);
            h = XXH64_digest(&st);
        } else {
            XXH3_state_t st;
            XXH3_64bits_reset_withSeed(&st, seed);
            XXH3_64bits_update(&st, vc->secret, vc->secret_len);
            XXH3_64bits_update(&st, len8, 8);
            XXH3_64bits_update(&st, key, klen);
            XXH3_64bits_update(&st, payload, plen);
            h = XXH3_64bits_digest(&st);
        }
        unsigned char be[8];
        for (int i = 0; i < 8; i++) be[i] = (unsigned char)(h >> (56 - 8 * i));
        to_hex(be, 8, sig);
        return 16;
    }
#endif
    default:
        return 0;
    }
}

/* ---- buffers ---- */

/* Make v hold at least n bytes (+1 for the NUL the cw_value contract keeps past len). */
static bool reserve(cw_value *v, size_t n)
{
    if (n + 1 == 0) return false;
    if (v->data && v->cap > n) return true;
    size_t cap = v->cap ? v->cap : 64;
    while (cap <= n) cap = cap > SIZE_MAX / 2 ? n + 1 : cap * 2;
    unsigned char *p = cw_realloc(v->data, cap);
    if (!p) return false;
    v->data = p;
    v->cap = cap;
    return true;
}

/* ---- compression ---- */

/* zlib's allocations go through libcashews's allocator (cw_set_allocators), as every other
 * allocation of the value path does. */
static voidpf z_alloc(voidpf opaque, uInt items, uInt size)
{
    (void)opaque;
    return cw_malloc((size_t)items * size);
}

static void z_free(voidpf opaque, voidpf p)
{
    (void)opaque;
    cw_free(p);
}

/* Compress val into dst (reserved by the caller to the codec's bound); the stream's length,
 * or 0 when the codec failed. */
static size_t compress_into(const cw__valcodec *vc, const void *val, size_t vlen,
                            unsigned char *dst, size_t cap)
{
    if (vc->compress == CW__COMPRESS_ZSTD) {
        size_t n = ZSTD_compress(dst, cap, val, vlen, vc->level);
        return ZSTD_isError(n) ? 0 : n;
    }
    z_stream zs;
    memset(&zs, 0, sizeof zs);
    zs.zalloc = z_alloc;
    zs.zfree = z_free;
    int wbits = vc->compress == CW__COMPRESS_GZIP ? 15 + 16 : 15;
    if (deflateInit2(&zs, vc->level, Z_DEFLATED, wbits, 8, Z_DEFAULT_STRATEGY) != Z_OK) return 0;
    size_t out = 0;
    int rc = Z_OK;
    const unsigned char *in = val;
    size_t inleft = vlen;
    /* zlib counts in uInt: feed and drain in slices for values over 4 GiB. */
    while (rc == Z_OK || rc == Z_BUF_ERROR) {
        uInt chunk_in = inleft > 0x40000000u ? 0x40000000u : (uInt)inleft;
        zs.next_in = (unsigned char *)in;
        zs.avail_in = chunk_in;
        size_t room = cap - out;
        zs.next_out = dst + out;
        zs.avail_out = room > 0x40000000u ? 0x40000000u : (uInt)room;
        uInt before_out = zs.avail_out;
        rc = deflate(&zs, chunk_in == inleft ? Z_FINISH : Z_NO_FLUSH);
        in += chunk_in - zs.avail_in;
        inleft -= chunk_in - zs.avail_in;
        out += before_out - zs.avail_out;
        if (rc == Z_STREAM_END) break;
        if (out == cap) break;
    }
    deflateEnd(&zs);
    return rc == Z_STREAM_END ? out : 0;
}

static size_t compress_bound(const cw__valcodec *vc, size_t vlen)
{
    if (vc->compress == CW__COMPRESS_ZSTD) return ZSTD_compressBound(vlen);
    /* deflateBound needs a stream; this is its documented worst case plus the gzip wrapper. */
    return vlen + (vlen >> 12) + (vlen >> 14) + (vlen >> 25) + 13 + 18 + 6;
}

typedef enum { INFLATE_OK, INFLATE_NOT, INFLATE_TOO_BIG, INFLATE_NOMEM } inflate_result;

static inflate_result decompress_into(const cw__valcodec *vc, int codec, const unsigned char *src,
                                      size_t n, cw_value *out)
{
    if (codec == CW__COMPRESS_ZSTD) {
        unsigned long long size = ZSTD_getFrameContentSize(src, n);
        if (size == ZSTD_CONTENTSIZE_ERROR || size == ZSTD_CONTENTSIZE_UNKNOWN) return INFLATE_NOT;
        if (size > vc->max_size) return INFLATE_TOO_BIG;
        if (!reserve(out, (size_t)size)) return INFLATE_NOMEM;
        size_t got = ZSTD_decompress(out->data, (size_t)size, src, n);
        if (ZSTD_isError(got) && ZSTD_getErrorCode(got) == ZSTD_error_memory_allocation) return INFLATE_NOMEM;
        if (ZSTD_isError(got) || got != size) return INFLATE_NOT;
        out->len = got;
        out->data[got] = 0;
        return INFLATE_OK;
    }
    if (codec != CW__COMPRESS_GZIP && codec != CW__COMPRESS_ZLIB) return INFLATE_NOT;
    z_stream zs;
    memset(&zs, 0, sizeof zs);
    zs.zalloc = z_alloc;
    zs.zfree = z_free;
    if (inflateInit2(&zs, codec == CW__COMPRESS_GZIP ? 15 + 16 : 15) != Z_OK)
        return INFLATE_NOMEM;
    size_t want = n * 4 < 256 ? 256 : n * 4;
    if (want > vc->max_size + 1) want = vc->max_size + 1;
    size_t len = 0;
    int rc = Z_OK;
    inflate_result res = INFLATE_OK;
    const unsigned char *in = src;
    size_t inleft = n;
    for (;;) {
        if (len == want) {
            if (want > vc->max_size) {
                res = INFLATE_TOO_BIG;
                break;
            }
            want = want > vc->max_size / 2 ? vc->max_size + 1 : want * 2;
        }
        if (!reserve(out, want)) {
            res = INFLATE_NOMEM;
            break;
        }
        uInt chunk_in = inleft > 0x40000000u ? 0x40000000u : (uInt)inleft;
        size_t room = want - len;
        zs.next_in = (unsigned char *)in;
        zs.avail_in = chunk_in;
        zs.next_out = out->data + len;
        zs.avail_out = room > 0x40000000u ? 0x40000000u : (uInt)room;
        uInt before_out = zs.avail_out;
        rc = inflate(&zs, Z_NO_FLUSH);
        in += chunk_in - zs.avail_in;
        inleft -= chunk_in - zs.avail_in;
        len += before_out - zs.avail_out;
        if (rc == Z_STREAM_END) break;
        if (rc != Z_OK && rc != Z_BUF_ERROR) {
            /* out of memory (inflate allocates its window on the way) is not "not ours" */
            res = rc == Z_MEM_ERROR ? INFLATE_NOMEM : INFLATE_NOT;
            break;
        }
        if (rc == Z_BUF_ERROR && inleft == 0 && len < want) {
            res = INFLATE_NOT; /* truncated */
            break;
        }
    }
    inflateEnd(&zs);
    if (res == INFLATE_OK && (rc != Z_STREAM_END || inleft != 0)) res = INFLATE_NOT;
    if (res == INFLATE_OK) {
        if (len > vc->max_size) return INFLATE_TOO_BIG;
        out->len = len;
        out->data[len] = 0;
    }
    return res;
}

/* ---- encode / decode ---- */

cw_status cw__value_encode(const cw__valcodec *vc, const char *key, size_t klen, const void *val,
                           size_t vlen, cw_value *scratch, const void **out, size_t *outlen)
{
    *out = val;
    *outlen = vlen;
    if (!cw__valcodec_active(vc)) return CW_OK;
    const unsigned char *payload = val;
    size_t plen = vlen;
    bool in_scratch = false;
    if (vc->compress != CW__COMPRESS_NONE && vlen >= vc->min_size && vlen > 0) {
        size_t bound = compress_bound(vc, vlen);
        if (!reserve(scratch, SIG_ROOM + HDR_LEN + bound)) return CW_ENOMEM;
        unsigned char *dst = scratch->data + SIG_ROOM;
        size_t n = compress_into(vc, val, vlen, dst + HDR_LEN, bound);
        if (n > 0 && n + HDR_LEN < vlen) {
            dst[0] = HDR0;
            dst[1] = HDR1;
            dst[2] = (unsigned char)vc->compress;
            payload = dst;
            plen = n + HDR_LEN;
            in_scratch = true;
        }
    }
    if (vc->digest == CW__DIGEST_NONE) {
        *out = payload;
        *outlen = plen;
        return CW_OK;
    }
    if (!in_scratch) {
        if (!reserve(scratch, SIG_ROOM + vlen)) return CW_ENOMEM;
        if (vlen) memcpy(scratch->data + SIG_ROOM, val, vlen);
        payload = scratch->data + SIG_ROOM;
    }
    char sig[72];
    size_t slen = make_sig(vc, key, klen, payload, plen, sig);
    if (slen == 0) return CW_ENOMEM;
    unsigned char *start = scratch->data + SIG_ROOM - slen - 1;
    memcpy(start, sig, slen);
    start[slen] = '_';
    *out = start;
    *outlen = slen + 1 + plen;
    return CW_OK;
}

/* A decimal int64 as INCRBY leaves it: optional '-', 1..19 digits. */
static bool is_counter(const unsigned char *p, size_t n)
{
    size_t i = 0;
    if (n && p[0] == '-') i = 1;
    if (n - i < 1 || n - i > 19) return false;
    for (; i < n; i++)
        if (p[i] < '0' || p[i] > '9') return false;
    return true;
}

cw_status cw__value_decode(const cw__valcodec *vc, const char *key, size_t klen,
                           const void *stored, size_t slen, cw_value *out)
{
    const unsigned char *p = stored;
    size_t n = slen;
    if (vc->digest != CW__DIGEST_NONE && !is_counter(p, n)) {
        size_t siglen = vc->sig_len;
        if (siglen == 0) { /* sum: variable length */
            const unsigned char *us = memchr(p, '_', n < 22 ? n : 22);
            if (!us) return CW_ECORRUPT;
            siglen = (size_t)(us - p);
        }
        if (n < siglen + 1 || p[siglen] != '_') return CW_ECORRUPT;
        char want[72];
        size_t wlen = make_sig(vc, key, klen, p + siglen + 1, n - siglen - 1, want);
        if (wlen == 0) return CW_ENOMEM;
        if (wlen != siglen || CRYPTO_memcmp(want, p, siglen) != 0) return CW_ECORRUPT;
        p += siglen + 1;
        n -= siglen + 1;
    }
    if (vc->compress != CW__COMPRESS_NONE && n > HDR_LEN && p[0] == HDR0 && p[1] == HDR1) {
        /* Into a fresh buffer, so that @out stays untouched unless this succeeds. */
        cw_value tmp = { 0 };
        inflate_result r = decompress_into(vc, p[2], p + HDR_LEN, n - HDR_LEN, &tmp);
        if (r == INFLATE_OK) {
            cw_value_free(out);
            *out = tmp;
            return CW_OK;
        }
        cw_value_free(&tmp);
        if (r == INFLATE_NOMEM) return CW_ENOMEM;
        if (r == INFLATE_TOO_BIG) return CW_ECORRUPT;
        /* INFLATE_NOT: a raw value that starts like our header */
    }
    return cw_value_set(out, p, n);
}
