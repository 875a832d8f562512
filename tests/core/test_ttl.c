/* test_ttl.c - the TTL grammar of src/core/ttl.c. */
#include "cw_test.h"

static int parse_ok(const char *s, int64_t want)
{
    int64_t ms = -1;
    CHECK_OK(cw_ttl_parse(s, &ms));
    CHECK_EQ_INT(ms, want);
    return 0;
}

static int ttl_compound(void)
{
    CHECK_EQ_INT(parse_ok("1d2h3m50s", ((24 + 2) * 3600 + 3 * 60 + 50) * 1000LL), 0);
    CHECK_EQ_INT(parse_ok("2h5m", 7500000), 0);
    CHECK_EQ_INT(parse_ok("10m", 600000), 0);
    CHECK_EQ_INT(parse_ok("250ms", 250), 0);
    CHECK_EQ_INT(parse_ok("1m30s500ms", 90500), 0);
    CHECK_EQ_INT(parse_ok("1.5h", 5400000), 0);
    CHECK_EQ_INT(parse_ok("1h1h", 7200000), 0);
    return 0;
}

static int ttl_bare_seconds(void)
{
    CHECK_EQ_INT(parse_ok("90", 90000), 0);
    CHECK_EQ_INT(parse_ok("0.5", 500), 0);
    CHECK_EQ_INT(parse_ok("0.001", 1), 0);
    return 0;
}

static int ttl_rejects(void)
{
    const char *bad[] = { "", "0", "0s", "0.0001", "-5", "-1m", "abc", "5x", "1h-", "h", "1.2.3",
                          "5 m", "9999999999999999999d", "1e3", "ms", "1h30", " ", "1h 30m",
                          "5\0012", "5sx", "1m s" };
    int64_t ms = 77;
    for (size_t i = 0; i < sizeof bad / sizeof *bad; i++) {
        if (cw_ttl_parse(bad[i], &ms) != CW_EINVAL) {
            fprintf(stderr, "accepted bad TTL \"%s\"\n", bad[i]);
            return 1;
        }
    }
    CHECK_EQ_INT(ms, 77);
    CHECK_ST(cw_ttl_parse(NULL, &ms), CW_EINVAL);
    CHECK_ST(cw_ttl_parse("5", NULL), CW_EINVAL);
    return 0;
}

/* The seed strips and lower-cases the string before parsing it (cashews/ttl.py). */
static int ttl_spaces_and_case_as_the_seed(void)
{
    CHECK_EQ_INT(parse_ok(" 5", 5000), 0);
    CHECK_EQ_INT(parse_ok("5s ", 5000), 0);
    CHECK_EQ_INT(parse_ok("\t 1h30m \n", 5400000), 0);
    CHECK_EQ_INT(parse_ok("10M", 600000), 0);
    CHECK_EQ_INT(parse_ok("1D2H3M50S", ((24 + 2) * 3600 + 3 * 60 + 50) * 1000LL), 0);
    CHECK_EQ_INT(parse_ok("250MS", 250), 0);
    CHECK_EQ_INT(parse_ok("250Ms", 250), 0);
    CHECK_EQ_INT(parse_ok(" 1.5H ", 5400000), 0);
    return 0;
}

/* Without a cache, the reason of a failure is readable through cw_ttl_parse_ex(). */
static int ttl_failure_reason_without_cache(void)
{
    char err[CW_ERRMSG_SIZE] = "untouched";
    int64_t ms = 7;
    CHECK_ST(cw_ttl_parse_ex("10x", &ms, err), CW_EINVAL);
    CHECK_EQ_INT(ms, 7);
    CHECK_STR(err, "invalid argument: TTL \"10x\": unknown unit at \"x\" (use d, h, m, s, ms)");
    CHECK_ST(cw_ttl_parse_ex("1h30", &ms, err), CW_EINVAL);
    CHECK(strstr(err, "the number at the end has no unit"));
    CHECK_ST(cw_ttl_parse_ex("0", &ms, err), CW_EINVAL);
    CHECK(strstr(err, "must be > 0"));
    CHECK_ST(cw_ttl_parse_ex("   ", &ms, err), CW_EINVAL);
    CHECK(strstr(err, "is empty"));
    CHECK_ST(cw_ttl_parse_ex(NULL, &ms, err), CW_EINVAL);
    CHECK(strstr(err, "NULL"));
    /* a long text is quoted in part, never overflowing */
    char big[600];
    memset(big, '9', sizeof big - 2);
    big[sizeof big - 2] = 'q';
    big[sizeof big - 1] = 0;
    CHECK_ST(cw_ttl_parse_ex(big, &ms, err), CW_EINVAL);
    CHECK(strlen(err) < CW_ERRMSG_SIZE);
    CHECK_ST(cw_ttl_parse_ex("bad", &ms, NULL), CW_EINVAL);
    CHECK_OK(cw_ttl_parse_ex(" 2m ", &ms, err));
    CHECK_EQ_INT(ms, 120000);
    CHECK_STR(err, "");
    return 0;
}

static int ttl_from_seconds(void)
{
    int64_t ms = 0;
    CHECK_OK(cw_ttl_from_seconds(1.5, &ms));
    CHECK_EQ_INT(ms, 1500);
    CHECK_ST(cw_ttl_from_seconds(0, &ms), CW_EINVAL);
    CHECK_ST(cw_ttl_from_seconds(-1, &ms), CW_EINVAL);
    CHECK_ST(cw_ttl_from_seconds(0.0001, &ms), CW_EINVAL);
    CHECK_ST(cw_ttl_from_seconds(1.0 / 0.0, &ms), CW_EINVAL);
    return 0;
}

static int ttl_macros(void)
{
    CHECK_EQ_INT(CW_MS(250), 250);
    CHECK_EQ_INT(CW_SECONDS(90), 90000);
    CHECK_EQ_INT(CW_MINUTES(10), 600000);
    CHECK_EQ_INT(CW_HOURS(2) + CW_MINUTES(5), 7500000);
    CHECK_EQ_INT(CW_DAYS(1), 86400000);
    /* the text and the macros agree */
    int64_t ms = 0;
    CHECK_OK(cw_ttl_parse("1d2h3m50s", &ms));
    CHECK_EQ_INT(ms, CW_DAYS(1) + CW_HOURS(2) + CW_MINUTES(3) + CW_SECONDS(50));
    /* int64_t arithmetic: a year of days does not overflow an int */
    CHECK_EQ_INT(CW_DAYS(365), 31536000000LL);
    int days = 30;
    CHECK_EQ_INT(CW_DAYS(days), 2592000000LL);
    /* constant expressions: usable in static initialisers */
    static const int64_t ttls[] = { CW_SECONDS(1), CW_MINUTES(1) };
    CHECK_EQ_INT(ttls[1] / ttls[0], 60);
    /* and a cache takes them as milliseconds */
    cw_cache *c = NULL;
    CHECK_OK(cw_cache_new_default(&c));
    CHECK_OK(cw_set(c, "k", "v", 1, CW_MINUTES(10)));
    CHECK_OK(cw_get_expire(c, "k", &ms));
    CHECK(ms > CW_MINUTES(9) && ms <= CW_MINUTES(10));
    cw_cache_free(c);
    return 0;
}

static int status_names(void)
{
    CHECK_STR(cw_strerror(CW_OK), "success");
    CHECK_STR(cw_strerror(CW_NOTFOUND), "key not found");
    CHECK_STR(cw_strerror(CW_USER_ERROR + 5), "loader error");
    CHECK_STR(cw_strerror(-3), "unknown status");
    CHECK_STR(cw_strerror(999), "unknown status");
    CHECK_STR(cw_command_name(CW_CMD_GET), "get");
    CHECK_STR(cw_command_name(CW_CMD_SET_POP), "set_pop");
    CHECK_STR(cw_command_name((cw_command)200), "unknown");
    return 0;
}

static const cw_test tests[] = {
    CW_TEST(ttl_compound), CW_TEST(ttl_bare_seconds), CW_TEST(ttl_rejects),
    CW_TEST(ttl_spaces_and_case_as_the_seed), CW_TEST(ttl_failure_reason_without_cache),
    CW_TEST(ttl_from_seconds), CW_TEST(ttl_macros), CW_TEST(status_names), { 0 }
};

int main(int argc, char **argv) { return cw_test_main(tests, argc, argv); }
