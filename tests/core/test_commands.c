/*
 * test_commands.c - core commands that the shared backend suite does not cover: get_or_set,
 * and the core's side of bit-field counters (argument checks, fallbacks for backends with an
 * older ops table).
 */
#include "cw_test.h"

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

static const cw_test tests[] = {
    CW_TEST(get_or_set_stores_the_default_on_a_miss), CW_TEST(get_or_set_fn_runs_only_on_a_miss),
    CW_TEST(get_or_set_under_a_disable), { 0 }
};

int main(int argc, char **argv) { return cw_test_main(tests, argc, argv); }
