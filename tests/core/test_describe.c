/* test_describe.c - cw_describe_stored() (src/core/describe.c) on bytes made here: envelopes
 * with and without their optional fields, raw values, counters, signatures checked with the
 * vectors of docs/REDIS.md, and compressed layers made with zlib directly. */
#include "cw_test.h"

#include <zlib.h>

static const unsigned char plain_env[] = { 0xC5, 1, 0, 0, 'a', 'l', 'i', 'c', 'e' };

static int envelope_plain(void)
{
    cw_stored_info in;
    cw_value v = { 0 };
    CHECK_OK(cw_describe_stored(plain_env, sizeof plain_env, NULL, &in, &v));
    CHECK_EQ_INT(in.signature, CW_SIG_NONE);
    CHECK_EQ_INT(in.compression, CW_COMPRESSION_NONE);
    CHECK_EQ_INT(in.has_envelope, 1);
    CHECK_EQ_INT(in.envelope_version, 1);
    CHECK_EQ_INT(in.codec, 0);
    CHECK_EQ_INT(in.created_ms, 0);
    CHECK_EQ_INT(in.payload_len, 5);
    CHECK_VAL(v, "alice");
    cw_value_free(&v);
    return 0;
}

static int envelope_with_times(void)
{
    unsigned char b[40] = { 0xC5, 1, 3, 200 };
    int64_t created = 1764547200123, refresh = 1764547260000;
    for (int i = 0; i < 8; i++) {
        b[4 + i] = (unsigned char)((uint64_t)created >> (8 * i));
        b[12 + i] = (unsigned char)((uint64_t)refresh >> (8 * i));
    }
    memcpy(b + 20, "xyz", 3);
    cw_stored_info in;
    CHECK_OK(cw_describe_stored(b, 23, NULL, &in, NULL));
    CHECK_EQ_INT(in.has_envelope, 1);
    CHECK_EQ_INT(in.codec, 200);
    CHECK_EQ_INT(in.created_ms, created);
    CHECK_EQ_INT(in.refresh_at_ms, refresh);
    CHECK_EQ_INT(in.payload_len, 3);
    /* cut short: not an envelope, a raw value */
    CHECK_OK(cw_describe_stored(b, 15, NULL, &in, NULL));
    CHECK_EQ_INT(in.has_envelope, 0);
    CHECK_EQ_INT(in.payload_len, 15);
    /* what cw_set() really writes reads back the same way */
    cw_cache *c = NULL;
    cw_value raw = { 0 }, v = { 0 };
    CHECK_OK(cw_cache_new_default(&c));
    CHECK_OK(cw_set(c, "k", "hello", 5, CW_MINUTES(1)));
    CHECK_OK(cw_get_raw(c, "k", &raw));
    CHECK_OK(cw_describe_stored(raw.data, raw.len, NULL, &in, &v));
    CHECK_EQ_INT(in.has_envelope, 1);
    CHECK_VAL(v, "hello");
    cw_value_free(&raw);
    cw_value_free(&v);
    cw_cache_free(c);
    return 0;
}

static int raw_counters_and_empty(void)
{
    cw_stored_info in;
    CHECK_OK(cw_describe_stored("hello", 5, NULL, &in, NULL));
    CHECK_EQ_INT(in.has_envelope, 0);
    CHECK_EQ_INT(in.signature, CW_SIG_NONE);
    CHECK_EQ_INT(in.payload_len, 5);
    CHECK_OK(cw_describe_stored("-42", 3, NULL, &in, NULL));
    CHECK_EQ_INT(in.signature, CW_SIG_COUNTER);
    CHECK_OK(cw_describe_stored(NULL, 0, NULL, &in, NULL));
    CHECK_EQ_INT(in.payload_len, 0);
    CHECK_ST(cw_describe_stored(NULL, 3, NULL, &in, NULL), CW_EINVAL);
    CHECK_ST(cw_describe_stored("x", 1, NULL, NULL, NULL), CW_EINVAL);
    CHECK_STR(cw_sig_state_name(CW_SIG_VALID), "valid");
    CHECK_STR(cw_sig_state_name((cw_sig_state)99), "unknown");
    CHECK_STR(cw_compression_name(CW_COMPRESSION_ZSTD), "zstd");
    return 0;
}

/* md5 of docs/REDIS.md's vectors: secret s3cr3t, key user:42, the envelope of "alice". */
static const char signed_md5[] = "78d3ba5605014aa4dbf1e669063f8455_\xC5\x01\x00\x00" "alice";

static int signatures(void)
{
    size_t n = sizeof signed_md5 - 1;
    cw_stored_info in;
    cw_value v = { 0 };
    /* without a secret: recognised, not checked, and what is behind it is shown */
    CHECK_OK(cw_describe_stored(signed_md5, n, NULL, &in, &v));
    CHECK_EQ_INT(in.signature, CW_SIG_UNCHECKED);
    CHECK_EQ_INT(in.signature_len, 32);
    CHECK_EQ_INT(in.has_envelope, 1);
    CHECK_VAL(v, "alice");
    cw_describe_options o = { .secret = "s3cr3t", .key = "user:42" };
#ifdef CW_HAVE_REDIS
    CHECK_OK(cw_describe_stored(signed_md5, n, &o, &in, &v));
    CHECK_EQ_INT(in.signature, CW_SIG_VALID);
    CHECK_EQ_INT(in.signature_len, 32);
    CHECK_VAL(v, "alice");
    o.key = "user:43"; /* bound to the key */
    CHECK_OK(cw_describe_stored(signed_md5, n, &o, &in, &v));
    CHECK_EQ_INT(in.signature, CW_SIG_INVALID);
    CHECK_EQ_INT(in.has_envelope, 1); /* still taken apart */
    o.key = "user:42";
    o.secret = "other";
    CHECK_OK(cw_describe_stored(signed_md5, n, &o, &in, NULL));
    CHECK_EQ_INT(in.signature, CW_SIG_INVALID);
    o.secret = "s3cr3t";
    o.digestmod = "sha256"; /* the md5 signature does not pass as sha256 */
    CHECK_OK(cw_describe_stored(signed_md5, n, &o, &in, NULL));
    CHECK_EQ_INT(in.signature, CW_SIG_INVALID);
    o.digestmod = "crc32";
    CHECK_ST(cw_describe_stored(signed_md5, n, &o, &in, NULL), CW_EINVAL);
    o.digestmod = "sum";
    CHECK_OK(cw_describe_stored("1670_alice", 10, &o, &in, &v));
    CHECK_EQ_INT(in.signature, CW_SIG_VALID);
    CHECK_EQ_INT(in.signature_len, 4);
    CHECK_VAL(v, "alice");
    /* unsigned bytes checked with a secret: invalid, the whole value shown */
    CHECK_OK(cw_describe_stored("alice", 5, &o, &in, &v));
    CHECK_EQ_INT(in.signature, CW_SIG_INVALID);
    CHECK_VAL(v, "alice");
#else
    CHECK_ST(cw_describe_stored(signed_md5, n, &o, &in, NULL), CW_ENOTSUP);
#endif
    o.key = NULL; /* a secret needs the key */
    CHECK_ST(cw_describe_stored(signed_md5, n, &o, &in, NULL), CW_EINVAL);
    cw_value_free(&v);
    return 0;
}

static int compressed(void)
{
    /* the envelope of 4000 'a's, zlib-compressed behind the 0xC7 'z' 2 header */
    unsigned char src[4004] = { 0xC5, 1, 0, 0 };
    memset(src + 4, 'a', 4000);
    unsigned char dst[200] = { 0xC7, 'z', 2 };
    uLongf dlen = sizeof dst - 3;
    CHECK_EQ_INT(compress2(dst + 3, &dlen, src, sizeof src, 6), Z_OK);
    cw_stored_info in;
    cw_value v = { 0 };
    CHECK_OK(cw_describe_stored(dst, dlen + 3, NULL, &in, &v));
    CHECK_EQ_INT(in.compression, CW_COMPRESSION_ZLIB);
    CHECK_EQ_INT(in.compressed_len, dlen);
#ifdef CW_HAVE_REDIS
    CHECK_EQ_INT(in.decompressed_len, 4004);
    CHECK_EQ_INT(in.has_envelope, 1);
    CHECK_EQ_INT(in.payload_len, 4000);
    CHECK(v.data[0] == 'a' && v.data[3999] == 'a');
    /* a broken stream: a raw value that starts like the header, as a reader takes it */
    dst[10] ^= 0xFF;
    CHECK_OK(cw_describe_stored(dst, dlen + 3, NULL, &in, NULL));
    CHECK_EQ_INT(in.compression, CW_COMPRESSION_NONE);
    CHECK_EQ_INT(in.payload_len, dlen + 3);
#endif
    cw_value_free(&v);
    return 0;
}

static const cw_test tests[] = {
    CW_TEST(envelope_plain), CW_TEST(envelope_with_times), CW_TEST(raw_counters_and_empty),
    CW_TEST(signatures), CW_TEST(compressed), { 0 }
};

int main(int argc, char **argv) { return cw_test_main(tests, argc, argv); }
