/*
 * test_commands.c - core commands that the shared backend suite does not cover: get_or_set,
 * and the core's side of bit-field counters (argument checks, fallbacks for backends with an
 * older ops table).
 */
#include "cw_test.h"
#include "core/internal.h" /* cw__mem_ops, to dress mem:// up as an older user backend */

static cw_cache *fake_clock_cache(cw_fake_clock *clk)
{
    cw_fake_clock_init(clk);
    cw_cache_options o = { .clock = cw_fake_clock_now, .clock_ud = clk };
    cw_cache *c = NULL;
    if (cw_cache_new(&c, &o) != CW_OK) return NULL;
    if (cw_cache_setup(c, "mem://?check_interval=0", NULL, NULL) != CW_OK) {
        cw_cache_free(c);
        return NULL;
    }
    return c;
}

/* ---- get_or_set ---- */

static int get_or_set_stores_the_default_on_a_miss(void)
{
    cw_fake_clock clk;
    cw_cache *c = fake_clock_cache(&clk);
    CHECK(c);
    cw_value v = { 0 }, w = { 0 };
    CHECK_OK(cw_get_or_set(c, "k", "dflt", 4, 1000, &v));
    CHECK_VAL(v, "dflt");
    CHECK_OK(cw_get(c, "k", &w)); /* stored */
    CHECK_VAL(w, "dflt");
    CHECK_OK(cw_get_or_set(c, "k", "other", 5, 1000, &v)); /* a hit: the stored value */
    CHECK_VAL(v, "dflt");
    cw_fake_clock_advance(&clk, 1000); /* with the TTL given */
    CHECK_ST(cw_get(c, "k", &w), CW_NOTFOUND);
    CHECK_OK(cw_get_or_set(c, "k", "other", 5, CW_NO_EXPIRY, &v));
    CHECK_VAL(v, "other");
    int64_t ttl = 0;
    CHECK_OK(cw_get_expire(c, "k", &ttl));
    CHECK_EQ_INT(ttl, -1);
    /* an empty default is a value too */
    CHECK_OK(cw_get_or_set(c, "empty", NULL, 0, 1000, &v));
    CHECK_EQ_INT(v.len, 0);
    CHECK_OK(cw_exists(c, "empty"));
    /* arguments */
    CHECK_ST(cw_get_or_set(c, "k2", "d", 1, 0, &v), CW_EINVAL);
    CHECK_ST(cw_get_or_set(c, "k2", "d", 1, 1000, NULL), CW_EINVAL);
    CHECK_ST(cw_get_or_set(c, "k2", NULL, 3, 1000, &v), CW_EINVAL);
    CHECK_ST(cw_get_or_set(c, "", "d", 1, 1000, &v), CW_EINVAL);
    CHECK_ST(cw_exists(c, "k2"), CW_NOTFOUND);
    cw_value_free(&v);
    cw_value_free(&w);
    cw_cache_free(c);
    return 0;
}

typedef struct maker {
    int calls;
    cw_status fail;
} maker;

static cw_status make_default(void *ud, const char *key, cw_value *out)
{
    maker *m = ud;
    m->calls++;
    if (m->fail) return m->fail;
    char buf[64];
    int n = snprintf(buf, sizeof buf, "made for %s", key);
    return cw_value_set(out, buf, (size_t)n);
}

static int get_or_set_fn_runs_only_on_a_miss(void)
{
    cw_fake_clock clk;
    cw_cache *c = fake_clock_cache(&clk);
    CHECK(c);
    cw_value v = { 0 };
    maker m = { 0, CW_OK };
    CHECK_OK(cw_get_or_set_fn(c, "k", make_default, &m, 1000, &v));
    CHECK_VAL(v, "made for k");
    CHECK_OK(cw_get_or_set_fn(c, "k", make_default, &m, 1000, &v));
    CHECK_VAL(v, "made for k");
    CHECK_EQ_INT(m.calls, 1);
    /* a failing default fails the call and stores nothing */
    m.fail = (cw_status)(CW_USER_ERROR + 7);
    CHECK_ST(cw_get_or_set_fn(c, "k2", make_default, &m, 1000, &v), CW_USER_ERROR + 7);
    CHECK_ST(cw_exists(c, "k2"), CW_NOTFOUND);
    CHECK_EQ_INT(m.calls, 2);
    /* a bad TTL fails before the default is made */
    CHECK_ST(cw_get_or_set_fn(c, "k3", make_default, &m, -5, &v), CW_EINVAL);
    CHECK_ST(cw_get_or_set_fn(c, "k3", NULL, NULL, 1000, &v), CW_EINVAL);
    CHECK_EQ_INT(m.calls, 2);
    cw_value_free(&v);
    cw_cache_free(c);
    return 0;
}

/* As the seed: a disabled get is a miss, a disabled set leaves the default uncached. */
static int get_or_set_under_a_disable(void)
{
    cw_fake_clock clk;
    cw_cache *c = fake_clock_cache(&clk);
    CHECK(c);
    cw_value v = { 0 };
    CHECK_OK(cw_set(c, "k", "stored", 6, CW_NO_EXPIRY));
    cw_cache_disable(c, CW_CMD_BIT(CW_CMD_GET));
    CHECK_OK(cw_get_or_set(c, "k", "dflt", 4, 1000, &v));
    CHECK_VAL(v, "dflt");
    cw_cache_enable(c, CW_CMD_ALL);
    CHECK_OK(cw_get(c, "k", &v)); /* the set went through */
    CHECK_VAL(v, "dflt");
    CHECK_OK(cw_disabling_begin(c, CW_CMD_ALL));
    maker m = { 0, CW_OK };
    CHECK_OK(cw_get_or_set_fn(c, "new", make_default, &m, 1000, &v));
    CHECK_VAL(v, "made for new");
    CHECK_OK(cw_disabling_end(c));
    CHECK_ST(cw_exists(c, "new"), CW_NOTFOUND);
    cw_value_free(&v);
    cw_cache_free(c);
    return 0;
}

/* ---- bit-field counters: the core's side ---- */

/* mem:// under older ops tables: "memv2" (ABI 2, with a bitfield member the core must not
 * read since ABI 2 had none) and "memv1" (ABI 1, without get_bits/set_bits). Their open
 * opens a mem:// instance and points it at the older table. */
static cw_backend_ops memv2_ops, memv1_ops;
static int bitfield_called;

static cw_status trap_bitfield(cw_backend *b, const char *key, size_t klen, const uint64_t *idx, size_t n,
                               unsigned size, int64_t by, int64_t ttl_ms, uint64_t *counters)
{
    bitfield_called++;
    return CW_EBACKEND;
}

static cw_status older_open(cw_backend **out, cw_url *url, const cw_backend_env *env, char *errbuf)
{
    cw_status st = cw__mem_ops.open(out, url, env, errbuf);
    if (st == CW_OK) (*out)->ops = strcmp(url->scheme, "memv2") == 0 ? &memv2_ops : &memv1_ops;
    return st;
}

static cw_cache *older_backend_cache(void)
{
    memv2_ops = cw__mem_ops;
    memv2_ops.abi_version = 2;
    memv2_ops.scheme = "memv2";
    memv2_ops.open = older_open;
    memv2_ops.bitfield = trap_bitfield;
    memv1_ops = memv2_ops;
    memv1_ops.abi_version = 1;
    memv1_ops.scheme = "memv1";
    memv1_ops.get_bits = NULL;
    memv1_ops.set_bits = NULL;
    cw_cache *c = NULL;
    cw_setup_options v1 = { .prefix = "v1:" };
    if (cw_cache_new(&c, NULL) != CW_OK) return NULL;
    if (cw_cache_register_backend(c, &memv2_ops) || cw_cache_register_backend(c, &memv1_ops) ||
        cw_cache_setup(c, "memv2://?check_interval=0", NULL, NULL) ||
        cw_cache_setup(c, "memv1://?check_interval=0", &v1, NULL)) {
        cw_cache_free(c);
        return NULL;
    }
    return c;
}

static int bitfield_falls_back_on_older_backends(void)
{
    cw_cache *c = older_backend_cache();
    CHECK(c);
    bitfield_called = 0;
    /* reads gather the bits through get_bits: counter 1 of 3 bits is bits 3..5 */
    uint64_t bits[] = { 3, 5, 9 }, idx[] = { 0, 1, 3 }, got[3] = { 9, 9, 9 };
    CHECK_OK(cw_set_bits(c, "f", bits, 3, 60000));
    CHECK_OK(cw_get_bitfield(c, "f", idx, 3, 3, got));
    CHECK_EQ_INT(got[0], 0);
    CHECK_EQ_INT(got[1], 5); /* 101 */
    CHECK_EQ_INT(got[2], 4); /* bit 9 is the high bit of counter 3 */
    /* 1-bit increments by a positive amount set the bits */
    uint64_t one[] = { 12 }, out = 0;
    CHECK_OK(cw_incr_bitfield(c, "f", one, 1, 1, 3, 60000, &out));
    CHECK_EQ_INT(out, 1);
    uint8_t bit = 0;
    CHECK_OK(cw_get_bits(c, "f", one, 1, &bit));
    CHECK_EQ_INT(bit, 1);
    /* the rest cannot be made atomic from the older ops */
    CHECK_ST(cw_incr_bitfield(c, "f", one, 1, 4, 1, 60000, &out), CW_ENOTSUP);
    CHECK(strstr(cw_cache_errmsg(c), "memv2:// does not support incr_bits"));
    CHECK_ST(cw_incr_bitfield(c, "f", one, 1, 1, -1, 60000, &out), CW_ENOTSUP);
    CHECK_EQ_INT(bitfield_called, 0); /* an ABI 2 table has no bitfield member */
    /* an ABI 1 table without get_bits */
    CHECK_ST(cw_get_bitfield(c, "v1:f", idx, 3, 3, got), CW_ENOTSUP);
    CHECK_ST(cw_incr_bitfield(c, "v1:f", one, 1, 1, 1, 60000, &out), CW_ENOTSUP);
    cw_cache_free(c);
    /* tables newer than the library are refused */
    cw_backend_ops future = cw__mem_ops;
    future.abi_version = CW_BACKEND_ABI + 1;
    CHECK_OK(cw_cache_new(&c, NULL));
    CHECK_ST(cw_cache_register_backend(c, &future), CW_EINVAL);
    cw_cache_free(c);
    return 0;
}

static int bitfield_arguments_are_checked(void)
{
    cw_cache *c = NULL;
    CHECK_OK(cw_cache_new_default(&c));
    uint64_t idx[] = { 1 }, out = 0;
    CHECK_ST(cw_get_bitfield(c, "f", idx, 1, 0, &out), CW_EINVAL);
    CHECK_ST(cw_get_bitfield(c, "f", idx, 1, 64, &out), CW_EINVAL);
    CHECK(strstr(cw_cache_errmsg(c), "1 to 63 bits"));
    CHECK_ST(cw_get_bitfield(c, "f", NULL, 1, 4, &out), CW_EINVAL);
    CHECK_ST(cw_get_bitfield(c, "f", idx, 1, 4, NULL), CW_EINVAL);
    CHECK_ST(cw_incr_bitfield(c, "f", NULL, 1, 4, 1, 1000, &out), CW_EINVAL);
    CHECK_ST(cw_incr_bitfield(c, "f", idx, 1, 4, 1, 0, &out), CW_EINVAL);
    uint64_t last[] = { (UINT64_C(1) << 32) / 63 - 1 }, past[] = { (UINT64_C(1) << 32) / 63 };
    CHECK_OK(cw_get_bitfield(c, "f", last, 1, 63, &out)); /* reading allocates nothing */
    CHECK_EQ_INT(out, 0);
    CHECK_ST(cw_incr_bitfield(c, "f", past, 1, 63, 1, 1000, &out), CW_EINVAL);
    CHECK(strstr(cw_cache_errmsg(c), "past bit 2^32 - 1"));
    /* many counters without an output array */
    uint64_t many[40];
    for (int i = 0; i < 40; i++) many[i] = (uint64_t)i;
    CHECK_OK(cw_incr_bitfield(c, "g", many, 40, 2, 1, 1000, NULL));
    uint64_t vals[40];
    CHECK_OK(cw_get_bitfield(c, "g", many, 40, 2, vals));
    for (int i = 0; i < 40; i++) CHECK_EQ_INT(vals[i], 1);
    /* the command is incr_bits for disable masks; reads are get_bits */
    cw_cache_disable(c, CW_CMD_BIT(CW_CMD_INCR_BITS));
    CHECK_ST(cw_incr_bitfield(c, "g", many, 1, 2, 1, 1000, NULL), CW_EDISABLED);
    CHECK_OK(cw_get_bitfield(c, "g", many, 1, 2, vals));
    CHECK_STR(cw_command_name(CW_CMD_INCR_BITS), "incr_bits");
    cw_cache_free(c);
    return 0;
}

static const cw_test tests[] = {
    CW_TEST(get_or_set_stores_the_default_on_a_miss), CW_TEST(get_or_set_fn_runs_only_on_a_miss),
    CW_TEST(get_or_set_under_a_disable), CW_TEST(bitfield_falls_back_on_older_backends),
    CW_TEST(bitfield_arguments_are_checked), { 0 }
};

int main(int argc, char **argv) { return cw_test_main(tests, argc, argv); }
