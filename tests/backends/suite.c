/* suite.c - the shared backend command suite (see suite.h). */
#include "suite.h"

#include <time.h>
#include <unistd.h>

#define CW_TEST_TAG_KEY(tag) "_tag:" tag

static char suite_url[512];
static cw_fake_clock *suite_clock;
static const char *const *suite_params;

void cw_suite_configure(const char *url, cw_fake_clock *clock)
{
    snprintf(suite_url, sizeof suite_url, "%s", url);
    suite_clock = clock;
}

void cw_suite_params(const char *const *params) { suite_params = params; }

cw_cache *cw_suite_cache(void)
{
    cw_cache *c = NULL;
    cw_cache_options o = { 0 };
    if (suite_clock) { o.clock = cw_fake_clock_now; o.clock_ud = suite_clock; }
    o.max_value_bytes = 4 << 20;
    if (cw_cache_new(&c, &o) != CW_OK) return NULL;
    char err[CW_ERRMSG_SIZE] = "";
    cw_setup_options so = { .params = suite_params };
    if (cw_cache_setup(c, suite_url, &so, err) != CW_OK) {
        fprintf(stderr, "suite: setup %s failed: %s\n", suite_url, err);
        cw_cache_free(c);
        return NULL;
    }
    if (cw_clear(c) != CW_OK) {
        fprintf(stderr, "suite: clear failed: %s\n", cw_cache_errmsg(c));
        cw_cache_free(c);
        return NULL;
    }
    return c;
}

/* Let @ms pass: move the fake clock, or really wait on real-time backends. */
static void pass_ms(int64_t ms)
{
    if (suite_clock) { cw_fake_clock_advance(suite_clock, ms); return; }
    struct timespec ts = { ms / 1000, (ms % 1000) * 1000000L };
    nanosleep(&ts, NULL);
}


static int with_cache(int (*body)(cw_cache *c, cw_value *v))
{
    cw_cache *c = cw_suite_cache();
    CHECK(c != NULL);
    cw_value v = { 0 };
    int rc = body(c, &v);
    cw_value_free(&v);
    cw_cache_free(c);
    return rc;
}

static int b_set_get(cw_cache *c, cw_value *v)
{
    CHECK_OK(cw_set(c, "k1", "hello", 5, CW_NO_EXPIRY));
    CHECK_OK(cw_get(c, "k1", v));
    CHECK_VAL(*v, "hello");
    /* binary with NUL bytes, and the empty value */
    const unsigned char bin[] = { 0, 1, 0xC5, 1, 0, 255 };
    CHECK_OK(cw_set(c, "bin", bin, sizeof bin, 60000));
    CHECK_OK(cw_get(c, "bin", v));
    CHECK_EQ_INT(v->len, sizeof bin);
    CHECK(memcmp(v->data, bin, sizeof bin) == 0);
    CHECK_OK(cw_set(c, "empty", "", 0, 60000));
    CHECK_OK(cw_get(c, "empty", v));
    CHECK_EQ_INT(v->len, 0);
    /* overwrite replaces */
    CHECK_OK(cw_set(c, "k1", "world!", 6, CW_NO_EXPIRY));
    CHECK_OK(cw_get(c, "k1", v));
    CHECK_VAL(*v, "world!");
    CHECK_ST(cw_get(c, "missing", v), CW_NOTFOUND);
    CHECK_VAL(*v, "world!"); /* untouched on a miss */
    return 0;
}

static int b_set_modes(cw_cache *c, cw_value *v)
{
    cw_set_options nx = { .ttl_ms = CW_NO_EXPIRY, .mode = CW_SET_IF_ABSENT };
    cw_set_options xx = { .ttl_ms = CW_NO_EXPIRY, .mode = CW_SET_IF_PRESENT };
    CHECK_ST(cw_set_ex(c, "m", "a", 1, &xx), CW_NOTSTORED);
    CHECK_ST(cw_exists(c, "m"), CW_NOTFOUND);
    CHECK_OK(cw_set_ex(c, "m", "b", 1, &nx));
    CHECK_ST(cw_set_ex(c, "m", "c", 1, &nx), CW_NOTSTORED);
    CHECK_OK(cw_get(c, "m", v));
    CHECK_VAL(*v, "b");
    CHECK_OK(cw_set_ex(c, "m", "d", 1, &xx));
    CHECK_OK(cw_get(c, "m", v));
    CHECK_VAL(*v, "d");
    cw_set_options bad = { .ttl_ms = 0 };
    CHECK_ST(cw_set_ex(c, "m", "e", 1, &bad), CW_EINVAL);
    return 0;
}

static int b_raw_and_default(cw_cache *c, cw_value *v)
{
    CHECK_OK(cw_set_raw(c, "raw", "12", 2, CW_NO_EXPIRY));
    CHECK_OK(cw_get_raw(c, "raw", v));
    CHECK_VAL(*v, "12");
    CHECK_OK(cw_get(c, "raw", v)); /* not an envelope: returned as stored */
    CHECK_VAL(*v, "12");
    CHECK_OK(cw_set(c, "env", "xyz", 3, CW_NO_EXPIRY));
    CHECK_OK(cw_get_raw(c, "env", v));
    CHECK(v->len > 3); /* the envelope is there */
    CHECK_EQ_INT(v->data[0], 0xC5);
    CHECK(memcmp(v->data + v->len - 3, "xyz", 3) == 0);
    uint64_t size = 0;
    CHECK_OK(cw_get_size(c, "env", &size));
    CHECK_EQ_INT(size, v->len);
    CHECK_ST(cw_get_size(c, "nope", &size), CW_NOTFOUND);
    CHECK_ST(cw_get_default(c, "nope", "dflt", 4, v), CW_NOTFOUND);
    CHECK_VAL(*v, "dflt");
    CHECK_OK(cw_get_default(c, "env", "dflt", 4, v));
    CHECK_VAL(*v, "xyz");
    return 0;
}

static int b_many(cw_cache *c, cw_value *v)
{
    const char *keys[] = { "a1", "a2", "a3" };
    const void *vals[] = { "one", "two", "three" };
    size_t lens[] = { 3, 3, 5 };
    CHECK_OK(cw_set_many(c, 3, keys, vals, lens, 60000));
    const char *want[] = { "a1", "zz", "a3", "a2" };
    cw_value outs[4] = { { 0 } };
    cw_status sts[4];
    CHECK_OK(cw_get_many(c, 4, want, outs, sts));
    int rc = 0;
    if (sts[0] != CW_OK || sts[1] != CW_NOTFOUND || sts[2] != CW_OK || sts[3] != CW_OK) rc = 1;
    if (!rc && (outs[0].len != 3 || memcmp(outs[0].data, "one", 3))) rc = 1;
    if (!rc && (outs[2].len != 5 || memcmp(outs[2].data, "three", 5))) rc = 1;
    if (!rc && (outs[3].len != 3 || memcmp(outs[3].data, "two", 3))) rc = 1;
    for (int i = 0; i < 4; i++) cw_value_free(&outs[i]);
    CHECK_EQ_INT(rc, 0);
    uint64_t deleted = 0;
    const char *del[] = { "a1", "a2", "nope" };
    CHECK_OK(cw_delete_many(c, 3, del, &deleted));
    CHECK_EQ_INT(deleted, 2);
    CHECK_ST(cw_exists(c, "a1"), CW_NOTFOUND);
    CHECK_OK(cw_exists(c, "a3"));
    const char *badkeys[] = { "ok", "" };
    CHECK_ST(cw_get_many(c, 2, badkeys, outs, sts), CW_EINVAL);
    (void)v;
    return 0;
}

static int b_delete_exists(cw_cache *c, cw_value *v)
{
    CHECK_ST(cw_delete(c, "d"), CW_NOTFOUND);
    CHECK_OK(cw_set(c, "d", "1", 1, CW_NO_EXPIRY));
    CHECK_OK(cw_exists(c, "d"));
    CHECK_OK(cw_delete(c, "d"));
    CHECK_ST(cw_exists(c, "d"), CW_NOTFOUND);
    CHECK_ST(cw_get(c, "d", v), CW_NOTFOUND);
    return 0;
}

static int b_incr(cw_cache *c, cw_value *v)
{
    int64_t r = 0;
    CHECK_OK(cw_incr(c, "n", 1, CW_NO_EXPIRY, &r));
    CHECK_EQ_INT(r, 1);
    CHECK_OK(cw_incr(c, "n", 41, CW_NO_EXPIRY, &r));
    CHECK_EQ_INT(r, 42);
    CHECK_OK(cw_incr(c, "n", -50, CW_NO_EXPIRY, &r));
    CHECK_EQ_INT(r, -8);
    CHECK_OK(cw_get_raw(c, "n", v));
    CHECK_VAL(*v, "-8");
    CHECK_OK(cw_set(c, "s", "abc", 3, CW_NO_EXPIRY));
    CHECK_ST(cw_incr(c, "s", 1, CW_NO_EXPIRY, &r), CW_ETYPE);
    CHECK_OK(cw_set_raw(c, "big", "9223372036854775807", 19, CW_NO_EXPIRY));
    CHECK_NE_INT(cw_incr(c, "big", 1, CW_NO_EXPIRY, &r), CW_OK);
    /* TTL applies on create only */
    CHECK_OK(cw_incr(c, "t", 5, 10000, &r));
    int64_t ttl = 0;
    CHECK_OK(cw_get_expire(c, "t", &ttl));
    CHECK(ttl > 0 && ttl <= 10000);
    CHECK_OK(cw_incr(c, "n", 1, 10000, &r));
    CHECK_OK(cw_get_expire(c, "n", &ttl));
    CHECK_EQ_INT(ttl, -1);
    CHECK_ST(cw_incr(c, "n", 1, 0, &r), CW_EINVAL);
    return 0;
}

static int b_expiry(cw_cache *c, cw_value *v)
{
    int64_t ttl = 0;
    CHECK_OK(cw_get_expire(c, "none", &ttl));
    CHECK_EQ_INT(ttl, -2);
    CHECK_OK(cw_set(c, "forever", "x", 1, CW_NO_EXPIRY));
    CHECK_OK(cw_get_expire(c, "forever", &ttl));
    CHECK_EQ_INT(ttl, -1);
    CHECK_OK(cw_set(c, "short", "x", 1, 150));
    CHECK_OK(cw_get_expire(c, "short", &ttl));
    CHECK(ttl > 0 && ttl <= 150);
    CHECK_OK(cw_get(c, "short", v));
    CHECK_ST(cw_expire(c, "absent", 1000), CW_NOTFOUND);
    CHECK_OK(cw_expire(c, "forever", 100000));
    CHECK_OK(cw_get_expire(c, "forever", &ttl));
    CHECK(ttl > 90000 && ttl <= 100000);
    CHECK_ST(cw_expire(c, "forever", -5), CW_EINVAL);
    pass_ms(220);
    CHECK_ST(cw_get(c, "short", v), CW_NOTFOUND);
    CHECK_ST(cw_exists(c, "short"), CW_NOTFOUND);
    CHECK_OK(cw_get_expire(c, "short", &ttl));
    CHECK_EQ_INT(ttl, -2);
    CHECK_OK(cw_exists(c, "forever"));
    return 0;
}

typedef struct collect {
    char keys[64][32];
    char vals[64][32];
    int n;
    int stop_after;
} collect;

static int collect_fn(void *ud, const char *key, size_t klen, const void *val, size_t vlen)
{
    collect *cl = ud;
    if (cl->n < 64) {
        snprintf(cl->keys[cl->n], 32, "%.*s", (int)klen, key);
        snprintf(cl->vals[cl->n], 32, "%.*s", val ? (int)vlen : 0, val ? (const char *)val : "");
        cl->n++;
    }
    return cl->stop_after && cl->n >= cl->stop_after;
}

static int has_key(const collect *cl, const char *k)
{
    for (int i = 0; i < cl->n; i++) if (strcmp(cl->keys[i], k) == 0) return 1;
    return 0;
}

static int b_match(cw_cache *c, cw_value *v)
{
    const char *ks[] = { "user:1", "user:2", "user:10", "users", "item:1", "u?er", "user:[x]" };
    for (int i = 0; i < 7; i++) CHECK_OK(cw_set(c, ks[i], ks[i], strlen(ks[i]), 60000));
    collect cl = { 0 };
    CHECK_OK(cw_scan(c, "user:*", 1, collect_fn, &cl));
    CHECK_EQ_INT(cl.n, 4);
    CHECK(has_key(&cl, "user:1") && has_key(&cl, "user:10") && has_key(&cl, "user:[x]"));
    memset(&cl, 0, sizeof cl);
    CHECK_OK(cw_scan(c, "user:?", 10, collect_fn, &cl));
    CHECK_EQ_INT(cl.n, 2);
    memset(&cl, 0, sizeof cl);
    CHECK_OK(cw_scan(c, "user:[^1]*", 10, collect_fn, &cl));
    CHECK_EQ_INT(cl.n, 2); /* user:2, user:[x] */
    memset(&cl, 0, sizeof cl);
    CHECK_OK(cw_scan(c, "u\\?er", 10, collect_fn, &cl));
    CHECK_EQ_INT(cl.n, 1);
    CHECK(has_key(&cl, "u?er"));
    memset(&cl, 0, sizeof cl);
    CHECK_OK(cw_get_match(c, "item:*", 10, collect_fn, &cl));
    CHECK_EQ_INT(cl.n, 1);
    CHECK_STR(cl.vals[0], "item:1"); /* values come unwrapped */
    memset(&cl, 0, sizeof cl);
    cl.stop_after = 2;
    CHECK_OK(cw_scan(c, "*", 3, collect_fn, &cl));
    CHECK_EQ_INT(cl.n, 2);
    uint64_t deleted = 0;
    CHECK_OK(cw_delete_match(c, "user:*", &deleted));
    CHECK_EQ_INT(deleted, 4);
    CHECK_OK(cw_exists(c, "users"));
    CHECK_ST(cw_exists(c, "user:2"), CW_NOTFOUND);
    (void)v;
    return 0;
}

typedef struct deleter {
    cw_cache *c;
    int deleted;
} deleter;

static int delete_during_scan(void *ud, const char *key, size_t klen, const void *val, size_t vlen)
{
    deleter *d = ud;
    char k[64];
    snprintf(k, sizeof k, "%.*s", (int)klen, key);
    d->deleted += cw_delete(d->c, k) == CW_OK;
    return 0;
}

static int b_scan_can_modify(cw_cache *c, cw_value *v)
{
    char k[32];
    for (int i = 0; i < 50; i++) {
        snprintf(k, sizeof k, "sc:%d", i);
        CHECK_OK(cw_set(c, k, "v", 1, 60000));
    }
    deleter d = { c, 0 };
    CHECK_OK(cw_scan(c, "sc:*", 7, delete_during_scan, &d));
    CHECK_EQ_INT(d.deleted, 50);
    uint64_t count = 1;
    CHECK_OK(cw_get_keys_count(c, &count));
    CHECK_EQ_INT(count, 0);
    (void)v;
    return 0;
}

static int b_clear_count_ping(cw_cache *c, cw_value *v)
{
    uint64_t n = 99;
    CHECK_OK(cw_get_keys_count(c, &n));
    CHECK_EQ_INT(n, 0);
    CHECK_OK(cw_set(c, "c1", "1", 1, 60000));
    CHECK_OK(cw_set(c, "c2", "2", 1, CW_NO_EXPIRY));
    CHECK_OK(cw_get_keys_count(c, &n));
    CHECK_EQ_INT(n, 2);
    CHECK_OK(cw_clear(c));
    CHECK_OK(cw_get_keys_count(c, &n));
    CHECK_EQ_INT(n, 0);
    CHECK_OK(cw_ping(c, NULL, v));
    CHECK_VAL(*v, "PONG");
    CHECK_OK(cw_ping(c, "hello", v));
    CHECK_VAL(*v, "hello");
    return 0;
}

static int b_locks(cw_cache *c, cw_value *v)
{
    int locked = -1;
    CHECK_OK(cw_is_locked(c, "lk", 0, 0, &locked));
    CHECK_EQ_INT(locked, 0);
    CHECK_OK(cw_set_lock(c, "lk", "me", 2, 10000));
    CHECK_ST(cw_set_lock(c, "lk", "you", 3, 10000), CW_NOTSTORED);
    CHECK_OK(cw_is_locked(c, "lk", 0, 0, &locked));
    CHECK_EQ_INT(locked, 1);
    CHECK_ST(cw_unlock(c, "lk", "you", 3), CW_NOTSTORED);
    CHECK_OK(cw_is_locked(c, "lk", 0, 0, &locked));
    CHECK_EQ_INT(locked, 1);
    CHECK_OK(cw_unlock(c, "lk", "me", 2));
    CHECK_ST(cw_unlock(c, "lk", "me", 2), CW_NOTFOUND);
    cw_lock_guard g, g2;
    CHECK_OK(cw_lock(c, "guarded", 10000, 0, &g));
    CHECK_ST(cw_lock(c, "guarded", 10000, 30, &g2), CW_ELOCKED);
    CHECK_OK(cw_lock_release(&g));
    CHECK_OK(cw_lock_release(&g)); /* harmless twice */
    CHECK_OK(cw_lock(c, "guarded", 10000, 0, &g2));
    CHECK_OK(cw_lock_release(&g2));
    /* a lock expires with its TTL */
    CHECK_OK(cw_set_lock(c, "lk2", "me", 2, 100));
    pass_ms(200);
    CHECK_OK(cw_set_lock(c, "lk2", "you", 3, 100));
    (void)v;
    return 0;
}

static int b_bits(cw_cache *c, cw_value *v)
{
    uint64_t idx[] = { 0, 7, 8, 1000, 65535 };
    uint8_t bits[5] = { 9, 9, 9, 9, 9 };
    CHECK_OK(cw_get_bits(c, "bf", idx, 5, bits));
    for (int i = 0; i < 5; i++) CHECK_EQ_INT(bits[i], 0);
    uint64_t on[] = { 7, 1000 };
    CHECK_OK(cw_set_bits(c, "bf", on, 2, 60000));
    CHECK_OK(cw_get_bits(c, "bf", idx, 5, bits));
    CHECK_EQ_INT(bits[0], 0);
    CHECK_EQ_INT(bits[1], 1);
    CHECK_EQ_INT(bits[2], 0);
    CHECK_EQ_INT(bits[3], 1);
    CHECK_EQ_INT(bits[4], 0);
    /* Redis bit order: bit 7 is the low bit of byte 0 */
    CHECK_OK(cw_get_raw(c, "bf", v));
    CHECK(v->len >= 1);
    CHECK_EQ_INT(v->data[0], 0x01);
    return 0;
}

/* Bit-field counters (the seed's get_bits/incr_bits with a size), laid out as Redis's
 * BITFIELD u<size> #<idx> lays them out, on every backend. */
static int b_bitfield(cw_cache *c, cw_value *v)
{
    uint64_t idx[] = { 0, 1, 5 }, got[3] = { 9, 9, 9 };
    CHECK_OK(cw_get_bitfield(c, "cbf", idx, 3, 4, got));
    CHECK(got[0] == 0 && got[1] == 0 && got[2] == 0);
    CHECK_ST(cw_exists(c, "cbf"), CW_NOTFOUND); /* reading does not create */
    /* increments in order, saturating at 0 and 2^size - 1 */
    uint64_t one[] = { 0 }, two[] = { 1, 1 }, out[2] = { 0, 0 };
    CHECK_OK(cw_incr_bitfield(c, "cbf", one, 1, 4, 3, 60000, out));
    CHECK_EQ_INT(out[0], 3);
    CHECK_OK(cw_incr_bitfield(c, "cbf", two, 2, 4, 6, 60000, out)); /* a repeated index counts twice */
    CHECK_EQ_INT(out[0], 6);
    CHECK_EQ_INT(out[1], 12);
    CHECK_OK(cw_get_bitfield(c, "cbf", idx, 3, 4, got));
    CHECK_EQ_INT(got[0], 3);
    CHECK_EQ_INT(got[1], 12);
    CHECK_EQ_INT(got[2], 0);
    /* Redis layout: counter 0 is the high nibble of byte 0 */
    CHECK_OK(cw_get_raw(c, "cbf", v));
    CHECK_EQ_INT(v->len, 1);
    CHECK_EQ_INT(v->data[0], 0x3C);
    CHECK_OK(cw_incr_bitfield(c, "cbf", one, 1, 4, 100, 60000, out));
    CHECK_EQ_INT(out[0], 15);
    CHECK_OK(cw_incr_bitfield(c, "cbf", one, 1, 4, -4, 60000, out));
    CHECK_EQ_INT(out[0], 11);
    CHECK_OK(cw_incr_bitfield(c, "cbf", one, 1, 4, INT64_MIN, 60000, out));
    CHECK_EQ_INT(out[0], 0);
    CHECK_OK(cw_incr_bitfield(c, "cbf", idx + 2, 1, 4, 1, 60000, NULL)); /* counters may be NULL */
    CHECK_OK(cw_get_bitfield(c, "cbf", idx, 3, 4, got));
    CHECK(got[0] == 0 && got[1] == 12 && got[2] == 1);
    /* TTL on create only */
    int64_t ttl = 0;
    CHECK_OK(cw_get_expire(c, "cbf", &ttl));
    CHECK(ttl > 0 && ttl <= 60000);
    CHECK_OK(cw_incr_bitfield(c, "forever", one, 1, 8, 1, CW_NO_EXPIRY, out));
    CHECK_OK(cw_incr_bitfield(c, "forever", one, 1, 8, 1, 60000, out));
    CHECK_EQ_INT(out[0], 2);
    CHECK_OK(cw_get_expire(c, "forever", &ttl));
    CHECK_EQ_INT(ttl, -1);
    /* 63-bit counters come back exact */
    uint64_t big[] = { 3 }, bigv = 0;
    CHECK_OK(cw_incr_bitfield(c, "wide", big, 1, 63, INT64_MAX - 1, 60000, &bigv));
    CHECK(bigv == (uint64_t)INT64_MAX - 1);
    CHECK_OK(cw_incr_bitfield(c, "wide", big, 1, 63, 5, 60000, &bigv));
    CHECK(bigv == (uint64_t)INT64_MAX);
    CHECK_OK(cw_get_bitfield(c, "wide", big, 1, 63, &bigv));
    CHECK(bigv == (uint64_t)INT64_MAX);
    /* size 1 is the 1-bit field of set_bits/get_bits */
    uint64_t b5[] = { 5 }, b6[] = { 6 };
    uint8_t bit = 0;
    CHECK_OK(cw_incr_bitfield(c, "bits1", b5, 1, 1, 1, 60000, out));
    CHECK_OK(cw_get_bits(c, "bits1", b5, 1, &bit));
    CHECK_EQ_INT(bit, 1);
    CHECK_OK(cw_set_bits(c, "bits1", b6, 1, 60000));
    CHECK_OK(cw_get_bitfield(c, "bits1", b6, 1, 1, out));
    CHECK_EQ_INT(out[0], 1);
    /* errors */
    CHECK_ST(cw_get_bitfield(c, "cbf", idx, 3, 0, got), CW_EINVAL);
    CHECK_ST(cw_get_bitfield(c, "cbf", idx, 3, 64, got), CW_EINVAL);
    uint64_t far[] = { (UINT64_C(1) << 32) / 8 };
    CHECK_ST(cw_incr_bitfield(c, "cbf", far, 1, 8, 1, 60000, out), CW_EINVAL);
    far[0]--; /* the last counter that ends at bit 2^32 - 1 is fine to read */
    CHECK_OK(cw_get_bitfield(c, "cbf", far, 1, 8, out));
    CHECK_EQ_INT(out[0], 0);
    const char *m[] = { "x" };
    CHECK_OK(cw_set_add(c, "aset", 1, m, 60000));
    CHECK_ST(cw_incr_bitfield(c, "aset", one, 1, 4, 1, 60000, out), CW_ETYPE);
    CHECK_ST(cw_get_bitfield(c, "aset", one, 1, 4, out), CW_ETYPE);
    CHECK_OK(cw_incr_bitfield(c, "none", one, 0, 4, 1, 60000, out)); /* nothing to do */
    CHECK_ST(cw_exists(c, "none"), CW_NOTFOUND);
    return 0;
}

static int b_slice(cw_cache *c, cw_value *v)
{
    int64_t n = 0;
    for (int i = 1; i <= 3; i++) {
        CHECK_OK(cw_slice_incr(c, "win", 1000, 3, 2000, &n));
        CHECK_EQ_INT(n, i);
        pass_ms(10);
    }
    CHECK_OK(cw_slice_incr(c, "win", 1000, 3, 2000, &n));
    CHECK_EQ_INT(n, 3); /* full: not recorded */
    pass_ms(1100);      /* the window slides past every recorded call */
    CHECK_OK(cw_slice_incr(c, "win", 1000, 3, 2000, &n));
    CHECK_EQ_INT(n, 1);
    CHECK_ST(cw_slice_incr(c, "win", 0, 3, 2000, &n), CW_EINVAL);
    (void)v;
    return 0;
}

static int pop_collect(void *ud, const char *key, size_t klen, const void *val, size_t vlen)
{
    return collect_fn(ud, key, klen, NULL, 0);
}

static int b_sets(cw_cache *c, cw_value *v)
{
    const char *m[] = { "a", "b", "c" };
    CHECK_OK(cw_set_add(c, "set", 3, m, 60000));
    CHECK_OK(cw_set_add(c, "set", 1, m, 60000)); /* duplicate */
    CHECK_OK(cw_exists(c, "set"));
    const char *rm[] = { "b" };
    CHECK_OK(cw_set_remove(c, "set", 1, rm));
    collect cl = { 0 };
    size_t popped = 0;
    CHECK_OK(cw_set_pop(c, "set", 10, pop_collect, &cl, &popped));
    CHECK_EQ_INT(popped, 2);
    CHECK_EQ_INT(cl.n, 2);
    CHECK(has_key(&cl, "a") && has_key(&cl, "c"));
    popped = 9;
    CHECK_OK(cw_set_pop(c, "set", 10, pop_collect, &cl, &popped));
    CHECK_EQ_INT(popped, 0);
    (void)v;
    return 0;
}

static int b_tags(cw_cache *c, cw_value *v)
{
    const char *tags[] = { "items" };
    cw_set_options o = { .ttl_ms = 60000, .tags = tags, .ntags = 1 };
    CHECK_OK(cw_set_ex(c, "item:1", "x", 1, &o));
    CHECK_OK(cw_set_ex(c, "item:2", "y", 1, &o));
    collect cl = { 0 };
    size_t popped = 0;
    CHECK_OK(cw_set_pop(c, CW_TEST_TAG_KEY("items"), 10, pop_collect, &cl, &popped));
    CHECK_EQ_INT(popped, 2);
    CHECK(has_key(&cl, "item:1") && has_key(&cl, "item:2"));
    (void)v;
    return 0;
}

static int b_bad_input(cw_cache *c, cw_value *v)
{
    char longkey[2000];
    memset(longkey, 'k', sizeof longkey - 1);
    longkey[sizeof longkey - 1] = 0;
    CHECK_ST(cw_set(c, NULL, "x", 1, 1000), CW_EINVAL);
    CHECK_ST(cw_set(c, "", "x", 1, 1000), CW_EINVAL);
    CHECK(strstr(cw_cache_errmsg(c), "empty") != NULL);
    CHECK_ST(cw_get(c, longkey, v), CW_ETOOBIG);
    CHECK_ST(cw_set(c, "k", NULL, 5, 1000), CW_EINVAL);
    CHECK_ST(cw_set(c, "k", "x", 1, 0), CW_EINVAL);
    CHECK_ST(cw_set(c, "k", "x", 1, -7), CW_EINVAL);
    CHECK_ST(cw_get(c, "k", NULL), CW_EINVAL);
    /* max_value_bytes is 4 MiB in the suite's caches */
    size_t big = (4 << 20) + 1;
    char *buf = calloc(1, big);
    CHECK(buf != NULL);
    cw_status st = cw_set(c, "huge", buf, big, 1000);
    cw_status st2 = cw_set(c, "large", buf, big - 1 - 64, 60000); /* just under, envelope included */
    cw_status st3 = cw_get(c, "large", v);
    free(buf);
    CHECK_ST(st, CW_ETOOBIG);
    CHECK_OK(st2);
    CHECK_OK(st3);
    CHECK_EQ_INT(v->len, big - 1 - 64);
    return 0;
}

#define WRAP(name) static int name(void) { return with_cache(b_##name); }
WRAP(set_get) WRAP(set_modes) WRAP(raw_and_default) WRAP(many) WRAP(delete_exists) WRAP(incr)
WRAP(expiry) WRAP(match) WRAP(scan_can_modify) WRAP(clear_count_ping) WRAP(locks) WRAP(bits)
WRAP(bitfield) WRAP(slice) WRAP(sets) WRAP(tags) WRAP(bad_input)

const cw_test cw_suite_tests[] = {
    CW_TEST(set_get), CW_TEST(set_modes), CW_TEST(raw_and_default), CW_TEST(many),
    CW_TEST(delete_exists), CW_TEST(incr), CW_TEST(expiry), CW_TEST(match),
    CW_TEST(scan_can_modify), CW_TEST(clear_count_ping), CW_TEST(locks), CW_TEST(bits),
    CW_TEST(bitfield), CW_TEST(slice), CW_TEST(sets), CW_TEST(tags), CW_TEST(bad_input), { 0 }
};

int cw_test_main_with_suite(const cw_test *own, int argc, char **argv)
{
    size_t n1 = 0, n2 = 0;
    while (cw_suite_tests[n1].name) n1++;
    while (own && own[n2].name) n2++;
    cw_test *all = calloc(n1 + n2 + 1, sizeof *all);
    if (!all) return 1;
    memcpy(all, cw_suite_tests, n1 * sizeof *all);
    if (n2) memcpy(all + n1, own, n2 * sizeof *all);
    int rc = cw_test_main(all, argc, argv);
    free(all);
    return rc;
}
