/* test_url.c - URL parsing and parameter readers of src/core/url.c. */
#include "cw_test.h"

static int url_full(void)
{
    cw_url u;
    char err[CW_ERRMSG_SIZE] = "";
    CHECK_OK(cw_url_parse("Redis://me:p%40ss@127.0.0.1:6380/2?db=1&socket_timeout=0.5&flag", NULL, &u, err));
    CHECK_STR(u.scheme, "redis");
    CHECK_STR(u.user, "me");
    CHECK_STR(u.password, "p@ss");
    CHECK_STR(u.host, "127.0.0.1");
    CHECK_EQ_INT(u.port, 6380);
    CHECK_STR(u.path, "2");
    CHECK_EQ_INT(u.nparams, 3);
    const char *s = NULL;
    CHECK_OK(cw_url_take_str(&u, "flag", &s));
    CHECK_STR(s, "");
    int64_t db = 0, ms = 0;
    CHECK_OK(cw_url_take_int(&u, "db", 0, 15, &db, err));
    CHECK_EQ_INT(db, 1);
    CHECK_OK(cw_url_take_ms(&u, "socket_timeout", 0, &ms, err));
    CHECK_EQ_INT(ms, 500);
    CHECK_ST(cw_url_take_str(&u, "nope", &s), CW_NOTFOUND);
    for (size_t i = 0; i < u.nparams; i++) CHECK(u.params[i].taken);
    cw_url_free(&u);
    cw_url_free(&u); /* harmless twice */
    return 0;
}

static int url_minimal_and_ipv6(void)
{
    cw_url u;
    CHECK_OK(cw_url_parse("mem://", NULL, &u, NULL));
    CHECK_STR(u.scheme, "mem");
    CHECK_STR(u.host, "");
    CHECK_EQ_INT(u.port, 0);
    CHECK_EQ_INT(u.nparams, 0);
    cw_url_free(&u);
    CHECK_OK(cw_url_parse("redis://[::1]:7000", NULL, &u, NULL));
    CHECK_STR(u.host, "::1");
    CHECK_EQ_INT(u.port, 7000);
    cw_url_free(&u);
    CHECK_OK(cw_url_parse("disk://?directory=/tmp/a%20b", NULL, &u, NULL));
    const char *d;
    CHECK_OK(cw_url_take_str(&u, "directory", &d));
    CHECK_STR(d, "/tmp/a b");
    cw_url_free(&u);
    return 0;
}

static int url_errors(void)
{
    const char *bad[] = { "mem", "://x", "1mem://", "redis://h:0", "redis://h:70000", "redis://h:12x",
                          "redis://h:", "mem://?a=%zz", "mem://?=1", "redis://[::1", "me m://" };
    for (size_t i = 0; i < sizeof bad / sizeof *bad; i++) {
        cw_url u;
        char err[CW_ERRMSG_SIZE] = "";
        cw_status st = cw_url_parse(bad[i], NULL, &u, err);
        if (st != CW_EINVAL || !err[0]) {
            fprintf(stderr, "\"%s\" gave %s (err \"%s\")\n", bad[i], cw_strerror(st), err);
            return 1;
        }
    }
    cw_url u;
    CHECK_ST(cw_url_parse(NULL, NULL, &u, NULL), CW_EINVAL);
    return 0;
}

static int url_params_override(void)
{
    const char *extra[] = { "size", "10", "check_interval", "5", NULL };
    cw_url u;
    CHECK_OK(cw_url_parse("mem://?size=20", extra, &u, NULL));
    int64_t size = 0, ci = 0;
    CHECK_OK(cw_url_take_int(&u, "size", 1, 1000, &size, NULL));
    CHECK_EQ_INT(size, 20); /* the URL wins over options */
    CHECK_OK(cw_url_take_ms(&u, "check_interval", 0, &ci, NULL));
    CHECK_EQ_INT(ci, 5000);
    cw_url_free(&u);
    const char *odd[] = { "size", NULL };
    CHECK_ST(cw_url_parse("mem://", odd, &u, NULL), CW_EINVAL);
    return 0;
}

static int url_typed_errors(void)
{
    cw_url u;
    char err[CW_ERRMSG_SIZE] = "";
    CHECK_OK(cw_url_parse("x://?n=abc&r=99&b=maybe&t=soon&s=12q&s2=1k&b2=On&z=0", NULL, &u, NULL));
    int64_t n;
    int b;
    uint64_t sz;
    CHECK_ST(cw_url_take_int(&u, "n", 0, 10, &n, err), CW_EINVAL);
    CHECK(strstr(err, "parameter n") != NULL);
    CHECK_ST(cw_url_take_int(&u, "r", 0, 10, &n, err), CW_EINVAL);
    CHECK(strstr(err, "between 0 and 10") != NULL);
    CHECK_ST(cw_url_take_bool(&u, "b", &b, err), CW_EINVAL);
    CHECK_ST(cw_url_take_ms(&u, "t", 0, &n, err), CW_EINVAL);
    CHECK_ST(cw_url_take_size(&u, "s", &sz, err), CW_EINVAL);
    CHECK_OK(cw_url_take_size(&u, "s2", &sz, err));
    CHECK_EQ_INT(sz, 1024);
    CHECK_OK(cw_url_take_bool(&u, "b2", &b, err));
    CHECK_EQ_INT(b, 1);
    CHECK_OK(cw_url_take_ms(&u, "z", 0, &n, err));
    CHECK_EQ_INT(n, 0);
    cw_url_free(&u);
    return 0;
}

/* The seed lower-cases parameter names (backend_settings._serialize_params): "?SIZE=5" is size,
 * for every backend and for the core's own enable/disable. */
static int url_param_names_ignore_case(void)
{
    cw_url u;
    char err[CW_ERRMSG_SIZE] = "";
    CHECK_OK(cw_url_parse("mem://?SIZE=5&Check_Interval=0", NULL, &u, err));
    int64_t size = 0, ms = -1;
    CHECK_OK(cw_url_take_int(&u, "size", 1, 100, &size, err));
    CHECK_EQ_INT(size, 5);
    CHECK_OK(cw_url_take_ms(&u, "check_interval", 0, &ms, err));
    CHECK_EQ_INT(ms, 0);
    for (size_t i = 0; i < u.nparams; i++) CHECK(u.params[i].taken);
    cw_url_free(&u);
    /* the last occurrence wins whatever its case */
    CHECK_OK(cw_url_parse("mem://?size=5&Size=7", NULL, &u, err));
    CHECK_OK(cw_url_take_int(&u, "SIZE", 1, 100, &size, err));
    CHECK_EQ_INT(size, 7);
    cw_url_free(&u);

    cw_cache *c = NULL;
    CHECK_OK(cw_cache_new(&c, NULL));
    CHECK_OK(cw_cache_setup(c, "mem://?SIZE=5&CHECK_INTERVAL=0", NULL, err));
    for (int i = 0; i < 20; i++) {
        char k[16];
        snprintf(k, sizeof k, "k%d", i);
        CHECK_OK(cw_set(c, k, "v", 1, CW_NO_EXPIRY));
    }
    uint64_t n = 0;
    CHECK_OK(cw_get_keys_count(c, &n));
    CHECK(n <= 5); /* the size was read */
    cw_setup_options off = { .prefix = "off:" };
    CHECK_OK(cw_cache_setup(c, "mem://?Enable=0", &off, err));
    CHECK_ST(cw_set(c, "off:1", "v", 1, CW_NO_EXPIRY), CW_EDISABLED);
    CHECK_ST(cw_cache_setup(c, "mem://?SIZZE=5", NULL, err), CW_EINVAL);
    CHECK(strstr(err, "unknown parameter \"SIZZE\""));
    cw_cache_free(c);
    return 0;
}

static const cw_test tests[] = {
    CW_TEST(url_full), CW_TEST(url_minimal_and_ipv6), CW_TEST(url_errors),
    CW_TEST(url_params_override), CW_TEST(url_typed_errors), CW_TEST(url_param_names_ignore_case), { 0 }
};

int main(int argc, char **argv) { return cw_test_main(tests, argc, argv); }
