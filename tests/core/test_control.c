/*
 * test_control.c - what decides whether a command runs and what wraps it, as in the seed's
 * ControlWrapper and Wrapper.setup(): backends set up disabled, per-backend (per-prefix)
 * switches (their thread scopes are in test_cache.c, beside the others), the queries
 * (is_enabled, is_any_disabled), get_default under a disable, and middlewares attached to one
 * backend at setup.
 */
#include "cw_test.h"

/* A cache with a default mem:// backend and one for "user:" (set up with @user_url). */
static cw_cache *two_backends(const char *user_url, const cw_setup_options *user_opts)
{
    cw_cache *c = NULL;
    if (cw_cache_new(&c, NULL) != CW_OK) return NULL;
    cw_setup_options so = { .prefix = "user:" };
    if (user_opts) so = *user_opts;
    if (cw_cache_setup(c, "mem://?check_interval=0", NULL, NULL) != CW_OK ||
        cw_cache_setup(c, user_url, &so, NULL) != CW_OK) {
        cw_cache_free(c);
        return NULL;
    }
    return c;
}

/* ---- a backend set up disabled says so ---- */

static int set_up_disabled_reports_disabled(void)
{
    static const char *const urls[] = { "mem://?enable=0", "mem://?disable=1", "mem://?disable=true" };
    for (size_t i = 0; i < sizeof urls / sizeof *urls; i++) {
        cw_cache *c = NULL;
        CHECK_OK(cw_cache_new(&c, NULL));
        CHECK_OK(cw_cache_setup(c, urls[i], NULL, NULL));
        CHECK_EQ_INT(cw_cache_is_enabled(c, CW_CMD_GET), 0);
        CHECK_EQ_INT(cw_cache_is_enabled(c, CW_CMD_SET), 0);
        CHECK_EQ_INT(cw_cache_is_enabled_prefix(c, "anything", CW_CMD_DELETE), 0);
        CHECK_EQ_INT(cw_cache_is_any_disabled(c, NULL), 1);
        /* the one default backend: cw_set/cw_get's short paths must not reach it either */
        cw_value v = { 0 };
        CHECK_ST(cw_set(c, "key-of-twenty-bytes!", "a value of twenty bytes", 23, 1000), CW_EDISABLED);
        CHECK_ST(cw_get(c, "k", &v), CW_EDISABLED);
        /* the seed's enable() without commands turns it on */
        CHECK_OK(cw_cache_enable_prefix(c, NULL, CW_CMD_ALL));
        CHECK_EQ_INT(cw_cache_is_enabled(c, CW_CMD_GET), 1);
        CHECK_EQ_INT(cw_cache_is_any_disabled(c, NULL), 0);
        CHECK_OK(cw_set(c, "key-of-twenty-bytes!", "a value of twenty bytes", 23, 1000));
        CHECK_OK(cw_get(c, "key-of-twenty-bytes!", &v));
        CHECK_VAL(v, "a value of twenty bytes");
        cw_value_free(&v);
        cw_cache_free(c);
    }
    /* through the options, and on a prefix: the default backend stays enabled */
    cw_setup_options off = { .prefix = "user:", .disable = 1 };
    cw_cache *c = two_backends("mem://", &off);
    CHECK(c);
    CHECK_EQ_INT(cw_cache_is_enabled(c, CW_CMD_GET), 1);
    CHECK_EQ_INT(cw_cache_is_enabled_prefix(c, "user:", CW_CMD_GET), 0);
    CHECK_EQ_INT(cw_cache_is_enabled_prefix(c, "user:42", CW_CMD_GET), 0);
    CHECK_EQ_INT(cw_cache_is_enabled_prefix(c, "other", CW_CMD_GET), 1);
    CHECK_EQ_INT(cw_cache_is_any_disabled(c, "user:"), 1);
    CHECK_EQ_INT(cw_cache_is_any_disabled(c, "other"), 0);
    CHECK_EQ_INT(cw_cache_is_any_disabled(c, NULL), 1);
    cw_cache_free(c);
    return 0;
}

/* ---- get_default under a disable ---- */

static int get_default_is_a_miss_when_disabled(void)
{
    cw_cache *c = two_backends("mem://", NULL);
    CHECK(c);
    cw_value v = { 0 };
    CHECK_OK(cw_set(c, "k", "stored", 6, CW_NO_EXPIRY));
    CHECK_OK(cw_set(c, "user:1", "stored", 6, CW_NO_EXPIRY));
    /* globally */
    cw_cache_disable(c, CW_CMD_BIT(CW_CMD_GET));
    CHECK_ST(cw_get_default(c, "k", "dflt", 4, &v), CW_NOTFOUND);
    CHECK_VAL(v, "dflt");
    cw_cache_enable(c, CW_CMD_ALL);
    CHECK_OK(cw_get_default(c, "k", "dflt", 4, &v));
    CHECK_VAL(v, "stored");
    /* in a scope of this thread */
    CHECK_OK(cw_disabling_begin(c, CW_CMD_ALL));
    CHECK_ST(cw_get_default(c, "k", "scoped", 6, &v), CW_NOTFOUND);
    CHECK_VAL(v, "scoped");
    CHECK_OK(cw_disabling_end(c));
    /* on the key's backend */
    CHECK_OK(cw_cache_disable_prefix(c, "user:", CW_CMD_BIT(CW_CMD_GET)));
    CHECK_ST(cw_get_default(c, "user:1", "backend", 7, &v), CW_NOTFOUND);
    CHECK_VAL(v, "backend");
    CHECK_OK(cw_get_default(c, "k", "dflt", 4, &v));
    CHECK_VAL(v, "stored");
    cw_value_free(&v);
    cw_cache_free(c);
    return 0;
}

/* ---- per-prefix switches ---- */

static int per_prefix_disable_and_enable(void)
{
    cw_cache *c = two_backends("mem://", NULL);
    CHECK(c);
    cw_value v = { 0 };
    CHECK_OK(cw_cache_disable_prefix(c, "user:42", CW_CMD_BIT(CW_CMD_SET) | CW_CMD_BIT(CW_CMD_SET_MANY))); /* routed as a key */
    CHECK_ST(cw_set(c, "user:1", "v", 1, 1000), CW_EDISABLED);
    CHECK(strstr(cw_cache_errmsg(c), "on the backend of prefix \"user:\""));
    CHECK_OK(cw_set(c, "other", "v", 1, 1000));
    CHECK_EQ_INT(cw_cache_is_enabled_prefix(c, "user:", CW_CMD_SET), 0);
    CHECK_EQ_INT(cw_cache_is_enabled_prefix(c, "user:", CW_CMD_GET), 1);
    CHECK_EQ_INT(cw_cache_is_enabled(c, CW_CMD_SET), 1); /* the default backend */
    CHECK_ST(cw_get(c, "user:1", &v), CW_NOTFOUND);
    /* batch commands group by backend: only that backend's part is refused */
    const char *keys[] = { "a", "user:2" };
    const void *vals[] = { "x", "y" };
    size_t lens[] = { 1, 1 };
    CHECK_ST(cw_set_many(c, 2, keys, vals, lens, 1000), CW_EDISABLED);
    CHECK_OK(cw_exists(c, "a"));
    /* enabling it again, and the default backend alone */
    CHECK_OK(cw_cache_enable_prefix(c, "user:", CW_CMD_ALL));
    CHECK_OK(cw_set(c, "user:1", "v", 1, 1000));
    CHECK_OK(cw_cache_disable_prefix(c, "", CW_CMD_ALL));
    CHECK_ST(cw_get(c, "other", &v), CW_EDISABLED);
    CHECK_OK(cw_get(c, "user:1", &v));
    CHECK_OK(cw_cache_enable_prefix(c, NULL, CW_CMD_ALL));
    CHECK_OK(cw_get(c, "other", &v));
    /* no backend for the prefix */
    cw_cache *bare = NULL;
    CHECK_OK(cw_cache_new(&bare, NULL));
    CHECK_ST(cw_cache_disable_prefix(bare, "x", CW_CMD_ALL), CW_ESTATE);
    CHECK_ST(cw_cache_enable_prefix(bare, NULL, CW_CMD_ALL), CW_ESTATE);
    CHECK_ST(cw_disabling_begin_prefix(bare, "x", CW_CMD_ALL), CW_ESTATE);
    CHECK_EQ_INT(cw_cache_is_enabled(bare, CW_CMD_GET), 1); /* only global switches count */
    cw_cache_disable(bare, CW_CMD_BIT(CW_CMD_GET));
    CHECK_EQ_INT(cw_cache_is_enabled(bare, CW_CMD_GET), 0);
    cw_cache_free(bare);
    CHECK_ST(cw_cache_disable_prefix(NULL, "x", CW_CMD_ALL), CW_EINVAL);
    CHECK_EQ_INT(cw_cache_is_enabled_prefix(NULL, "x", CW_CMD_GET), 0);
    CHECK_EQ_INT(cw_cache_is_any_disabled(NULL, NULL), 0);
    cw_value_free(&v);
    cw_cache_free(c);
    return 0;
}

/* A switch holds across a later setup of another prefix (route tables are copied then). */
static int switch_survives_other_setups(void)
{
    cw_cache *c = two_backends("mem://", NULL);
    CHECK(c);
    CHECK_OK(cw_cache_disable_prefix(c, "user:", CW_CMD_BIT(CW_CMD_SET)));
    cw_setup_options so = { .prefix = "zz:" };
    CHECK_OK(cw_cache_setup(c, "mem://", &so, NULL));
    CHECK_ST(cw_set(c, "user:1", "v", 1, 1000), CW_EDISABLED);
    CHECK_OK(cw_set(c, "zz:1", "v", 1, 1000));
    /* setting up the prefix again gives a fresh, enabled backend */
    so.prefix = "user:";
    CHECK_OK(cw_cache_setup(c, "mem://", &so, NULL));
    CHECK_OK(cw_set(c, "user:1", "v", 1, 1000));
    CHECK_EQ_INT(cw_cache_is_any_disabled(c, NULL), 0);
    cw_cache_free(c);
    return 0;
}

/* Commands over every backend skip one where they are disabled, and fail when disabled for
 * all. */
static int spanning_commands_skip_a_disabled_backend(void)
{
    cw_cache *c = two_backends("mem://", NULL);
    CHECK(c);
    CHECK_OK(cw_set(c, "a", "v", 1, CW_NO_EXPIRY));
    CHECK_OK(cw_set(c, "user:1", "v", 1, CW_NO_EXPIRY));
    CHECK_OK(cw_cache_disable_prefix(c, "user:", CW_CMD_BIT(CW_CMD_CLEAR) | CW_CMD_BIT(CW_CMD_GET_KEYS_COUNT)));
    uint64_t n = 0;
    CHECK_OK(cw_get_keys_count(c, &n));
    CHECK_EQ_INT(n, 1);
    CHECK_OK(cw_clear(c));
    CHECK_OK(cw_exists(c, "user:1"));
    CHECK_ST(cw_exists(c, "a"), CW_NOTFOUND);
    cw_cache_disable(c, CW_CMD_BIT(CW_CMD_CLEAR));
    CHECK_ST(cw_clear(c), CW_EDISABLED);
    cw_cache_free(c);
    return 0;
}

/* ---- middlewares of one backend ---- */

typedef struct trace {
    char log[512];
} trace;

static void say(trace *t, const char *what, cw_call *call)
{
    size_t klen = 0;
    const char *key = cw_call_key(call, &klen);
    snprintf(t->log + strlen(t->log), sizeof t->log - strlen(t->log), "%s:%s:%.*s ", what,
             cw_command_name(cw_call_command(call)), (int)klen, key ? key : "");
}

static trace shared;

static cw_status mw_global(cw_call *call, void *ud)
{
    say(ud, "G", call);
    return cw_call_next(call);
}

static cw_status mw_one(cw_call *call, void *ud)
{
    say(ud, "B1", call);
    return cw_call_next(call);
}

/* Short-circuits gets of "user:magic". */
static cw_status mw_two(cw_call *call, void *ud)
{
    say(ud, "B2", call);
    size_t klen;
    const char *key = cw_call_key(call, &klen);
    if (cw_call_command(call) == CW_CMD_GET && key && strcmp(key, "user:magic") == 0)
        return cw_call_set_result(call, "from B2", 7);
    return cw_call_next(call);
}

static int backend_middlewares_wrap_their_backend_only(void)
{
    shared.log[0] = 0;
    const cw_middleware mws[] = { { mw_one, &shared }, { mw_two, &shared } };
    cw_setup_options so = { .prefix = "user:", .middlewares = mws, .nmiddlewares = 2 };
    cw_cache *c = two_backends("mem://", &so);
    CHECK(c);
    cw_value v = { 0 };
    CHECK_OK(cw_set(c, "user:1", "v", 1, 1000));
    CHECK_STR(shared.log, "B1:set:user:1 B2:set:user:1 ");
    shared.log[0] = 0;
    CHECK_OK(cw_set(c, "other", "v", 1, 1000));
    CHECK_OK(cw_get(c, "other", &v));
    CHECK_STR(shared.log, "");
    CHECK_OK(cw_get(c, "user:magic", &v));
    CHECK_VAL(v, "from B2");
    CHECK_ST(cw_exists(c, "user:magic"), CW_NOTFOUND);
    /* the cache's own middlewares run first (outside) */
    shared.log[0] = 0;
    CHECK_OK(cw_cache_add_middleware(c, mw_global, &shared));
    CHECK_OK(cw_get(c, "user:1", &v));
    CHECK_STR(shared.log, "G:get:user:1 B1:get:user:1 B2:get:user:1 ");
    shared.log[0] = 0;
    CHECK_OK(cw_get(c, "other", &v));
    CHECK_STR(shared.log, "G:get:other ");
    /* commands over every backend pass through each backend's own chain */
    shared.log[0] = 0;
    uint64_t n = 0;
    CHECK_OK(cw_get_keys_count(c, &n));
    CHECK_STR(shared.log, "G:get_keys_count: B1:get_keys_count: B2:get_keys_count: G:get_keys_count: ");
    cw_value_free(&v);
    cw_cache_free(c);
    return 0;
}

/* The only backend has middlewares: cw_get/cw_set's short paths must still call them. */
static int default_backend_middlewares_see_the_fast_commands(void)
{
    shared.log[0] = 0;
    const cw_middleware mws[] = { { mw_one, &shared } };
    cw_setup_options so = { .middlewares = mws, .nmiddlewares = 1 };
    cw_cache *c = NULL;
    CHECK_OK(cw_cache_new(&c, NULL));
    CHECK_OK(cw_cache_setup(c, "mem://", &so, NULL));
    cw_value v = { 0 };
    CHECK_OK(cw_set(c, "key-of-twenty-bytes!", "a value of twenty bytes", 23, 1000));
    CHECK_OK(cw_get(c, "key-of-twenty-bytes!", &v));
    CHECK_STR(shared.log, "B1:set:key-of-twenty-bytes! B1:get:key-of-twenty-bytes! ");
    /* a later setup of the default prefix without middlewares drops them */
    CHECK_OK(cw_cache_setup(c, "mem://", NULL, NULL));
    shared.log[0] = 0;
    CHECK_ST(cw_get(c, "key-of-twenty-bytes!", &v), CW_NOTFOUND);
    CHECK_STR(shared.log, "");
    cw_value_free(&v);
    cw_cache_free(c);
    return 0;
}

static int backend_middleware_options_are_checked(void)
{
    cw_cache *c = NULL;
    char err[CW_ERRMSG_SIZE] = "";
    CHECK_OK(cw_cache_new(&c, NULL));
    cw_setup_options so = { .nmiddlewares = 1 };
    CHECK_ST(cw_cache_setup(c, "mem://", &so, err), CW_EINVAL);
    CHECK(strstr(err, "middlewares is NULL"));
    const cw_middleware bad[] = { { NULL, NULL } };
    so.middlewares = bad;
    CHECK_ST(cw_cache_setup(c, "mem://", &so, err), CW_EINVAL);
    CHECK(strstr(err, "NULL fn"));
    CHECK(cw_cache_backend(c, NULL) == NULL); /* nothing was set up */
    cw_cache_free(c);
    return 0;
}

static const cw_test tests[] = {
    CW_TEST(set_up_disabled_reports_disabled), CW_TEST(get_default_is_a_miss_when_disabled),
    CW_TEST(per_prefix_disable_and_enable), CW_TEST(switch_survives_other_setups),
    CW_TEST(spanning_commands_skip_a_disabled_backend),
    CW_TEST(backend_middlewares_wrap_their_backend_only),
    CW_TEST(default_backend_middlewares_see_the_fast_commands),
    CW_TEST(backend_middleware_options_are_checked), { 0 }
};

int main(int argc, char **argv) { return cw_test_main(tests, argc, argv); }
