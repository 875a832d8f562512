/* test_http_parse.c - the HTTP helper's header parsers and ETag hash (src/contrib/http_parse.c):
 * case, whitespace, quoted lists, max-age overflow, weak tags, 8 KiB fields. */
#include "cw_test.h"

static cw_http_cache_control cc(const char *field)
{
    cw_http_cache_control o;
    cw_http_parse_cache_control(field, field ? strlen(field) : 0, &o);
    return o;
}

static int inm(const char *field, const char *etag) { return cw_http_etag_matches(field, strlen(field), etag); }
static int csd(const char *field) { return cw_http_clears_cache(field, strlen(field)); }

static int cache_control_directives_case_and_whitespace(void)
{
    cw_http_cache_control o = cc(NULL);
    CHECK_EQ_INT(o.no_cache + o.no_store, 0);
    CHECK_EQ_INT(o.max_age_s, -1);
    CHECK_EQ_INT(cc("no-cache").no_cache, 1);
    CHECK_EQ_INT(cc("no-cache").no_store, 0);
    CHECK_EQ_INT(cc("NO-STORE").no_store, 1);
    CHECK_EQ_INT(cc("No-Cache").no_cache, 1);
    CHECK_EQ_INT(cc("  max-age=60  ").max_age_s, 60);
    CHECK_EQ_INT(cc("\tpublic,max-age=60 ,\tno-cache").no_cache, 1);
    CHECK_EQ_INT(cc("\tpublic,max-age=60 ,\tno-cache").max_age_s, 60);
    CHECK_EQ_INT(cc("MAX-AGE=7").max_age_s, 7);
    CHECK_EQ_INT(cc("max-age = 7").max_age_s, 7); /* OWS around '=' tolerated */
    CHECK_EQ_INT(cc(",,, no-store ,,").no_store, 1);
    CHECK_EQ_INT(cc("no-cache=\"Set-Cookie\"").no_cache, 1); /* the response form, still no-cache */
    /* names are whole tokens, not prefixes */
    CHECK_EQ_INT(cc("no-cache-please").no_cache, 0);
    CHECK_EQ_INT(cc("xno-store").no_store, 0);
    CHECK_EQ_INT(cc("max-ages=5").max_age_s, -1);
    CHECK_EQ_INT(cc("s-maxage=5").max_age_s, -1);
    return 0;
}

static int cache_control_max_age_values(void)
{
    CHECK_EQ_INT(cc("max-age=0").max_age_s, 0);
    CHECK_EQ_INT(cc("max-age=\"30\"").max_age_s, 30);          /* quoted form is accepted */
    CHECK_EQ_INT(cc("max-age=2147483647").max_age_s, 2147483647);
    CHECK_EQ_INT(cc("max-age=2147483648").max_age_s, INT64_C(2147483648));
    CHECK_EQ_INT(cc("max-age=2147483649").max_age_s, INT64_C(2147483648));
    CHECK_EQ_INT(cc("max-age=99999999999999999999999999999999999999").max_age_s, INT64_C(2147483648));
    CHECK_EQ_INT(cc("max-age=007").max_age_s, 7);
    /* malformed: ignored, never "forever" or negative */
    CHECK_EQ_INT(cc("max-age=-1").max_age_s, -1);
    CHECK_EQ_INT(cc("max-age=abc").max_age_s, -1);
    CHECK_EQ_INT(cc("max-age=").max_age_s, -1);
    CHECK_EQ_INT(cc("max-age").max_age_s, -1);
    CHECK_EQ_INT(cc("max-age=5x").max_age_s, -1);
    CHECK_EQ_INT(cc("max-age=5 6").max_age_s, -1);
    CHECK_EQ_INT(cc("max-age=\"5").max_age_s, -1);
    CHECK_EQ_INT(cc("max-age=1.5").max_age_s, -1);
    CHECK_EQ_INT(cc("max-age=5 6, no-cache").no_cache, 1); /* a bad element spoils only itself */
    /* twice: the smaller wins (the fresher read) */
    CHECK_EQ_INT(cc("max-age=60, max-age=10").max_age_s, 10);
    CHECK_EQ_INT(cc("max-age=10, max-age=60").max_age_s, 10);
    CHECK_EQ_INT(cc("max-age=x, max-age=60").max_age_s, 60);
    return 0;
}

static int cache_control_quoted_lists(void)
{
    /* a comma or directive name inside a quoted argument is not a directive */
    cw_http_cache_control o = cc("foo=\"a, no-store, b\", max-age=5");
    CHECK_EQ_INT(o.no_store, 0);
    CHECK_EQ_INT(o.max_age_s, 5);
    o = cc("foo=\"say \\\"no-cache\\\", ok\", no-store");
    CHECK_EQ_INT(o.no_cache, 0);
    CHECK_EQ_INT(o.no_store, 1);
    /* an unterminated quote swallows the rest */
    o = cc("foo=\"a, no-store");
    CHECK_EQ_INT(o.no_store, 0);
    /* length is explicit: bytes past it are not read */
    cw_http_parse_cache_control("no-cache, no-store", 8, &o);
    CHECK_EQ_INT(o.no_cache, 1);
    CHECK_EQ_INT(o.no_store, 0);
    return 0;
}

static int if_none_match_lists_and_weak_tags(void)
{
    CHECK_EQ_INT(inm("\"abc\"", "\"abc\""), 1);
    CHECK_EQ_INT(inm("\"abd\"", "\"abc\""), 0);
    CHECK_EQ_INT(inm("\"ABC\"", "\"abc\""), 0); /* opaque tags compare byte for byte */
    CHECK_EQ_INT(inm("\"a\", W/\"b\" ,\t\"c\"", "\"b\""), 1);
    CHECK_EQ_INT(inm("\"a\", W/\"b\" ,\t\"c\"", "\"c\""), 1);
    CHECK_EQ_INT(inm("\"a\", W/\"b\" ,\t\"c\"", "\"d\""), 0);
    /* weak comparison: W/ ignored on either side */
    CHECK_EQ_INT(inm("W/\"abc\"", "\"abc\""), 1);
    CHECK_EQ_INT(inm("\"abc\"", "W/\"abc\""), 1);
    CHECK_EQ_INT(inm("W/\"abc\"", "W/\"abc\""), 1);
    /* a comma inside a tag is part of it */
    CHECK_EQ_INT(inm("\"a,b\"", "\"a,b\""), 1);
    CHECK_EQ_INT(inm("\"a,b\"", "\"a\""), 0);
    CHECK_EQ_INT(inm("\"\"", "\"\""), 1);
    return 0;
}

static int if_none_match_star_and_malformed(void)
{
    CHECK_EQ_INT(inm("*", "\"x\""), 1);
    CHECK_EQ_INT(inm("  *\t", "\"x\""), 1);
    CHECK_EQ_INT(cw_http_etag_matches("*", 1, NULL), 0); /* no current representation */
    CHECK_EQ_INT(inm("*, \"y\"", "\"x\""), 0);            /* "*" is not a tag in a list */
    CHECK_EQ_INT(inm("*, \"x\"", "\"x\""), 1);
    CHECK_EQ_INT(inm("\"*\"", "\"x\""), 0);
    /* malformed elements are skipped, never matched */
    CHECK_EQ_INT(inm("w/\"abc\"", "\"abc\""), 0);     /* W/ is case-sensitive */
    CHECK_EQ_INT(inm("abc", "\"abc\""), 0);           /* unquoted */
    CHECK_EQ_INT(inm("\"abc", "\"abc\""), 0);         /* unterminated */
    CHECK_EQ_INT(inm("\"abc\"x", "\"abc\""), 0);      /* trailing garbage */
    CHECK_EQ_INT(inm("W/ \"abc\"", "\"abc\""), 0);
    CHECK_EQ_INT(inm("\"a b\", \"abc\"", "\"abc\""), 1); /* a space is not etagc; next one counts */
    CHECK_EQ_INT(inm("\"a b\"", "\"a b\""), 0);
    CHECK_EQ_INT(inm("", "\"abc\""), 0);
    CHECK_EQ_INT(inm(" , ,", "\"abc\""), 0);
    CHECK_EQ_INT(inm("\"abc\"", "abc"), 0);           /* our own tag must be quoted */
    CHECK_EQ_INT(cw_http_etag_matches(NULL, 0, "\"abc\""), 0);
    /* the length bounds the field */
    CHECK_EQ_INT(cw_http_etag_matches("\"abc\"", 4, "\"abc\""), 0);
    return 0;
}

static int if_none_match_8k_fields(void)
{
    enum { N = 8192 };
    char *f = malloc(N + 64);
    CHECK(f);
    /* many tags, the matching one last */
    size_t n = 0;
    while (n < N - 40) n += (size_t)sprintf(f + n, "W/\"%04zu\", ", n % 10000);
    sprintf(f + n, "\"target\"");
    CHECK(strlen(f) >= N - 40);
    CHECK_EQ_INT(inm(f, "\"target\""), 1);
    CHECK_EQ_INT(inm(f, "\"absent\""), 0);
    /* 8 KiB of one unterminated quote, of commas, of garbage, of backslashes */
    memset(f, 0, N + 64);
    f[0] = '"';
    memset(f + 1, 'a', N - 1);
    CHECK_EQ_INT(inm(f, "\"a\""), 0);
    memset(f, ',', N);
    CHECK_EQ_INT(inm(f, "\"a\""), 0);
    memset(f, 0x7f, N);
    CHECK_EQ_INT(inm(f, "\"a\""), 0);
    memset(f, '\\', N);
    f[0] = '"';
    CHECK_EQ_INT(inm(f, "\"a\""), 0);
    cw_http_cache_control o;
    cw_http_parse_cache_control(f, N, &o);
    CHECK_EQ_INT(o.max_age_s, -1);
    /* 8 KiB of digits in max-age saturates */
    memcpy(f, "max-age=", 8);
    memset(f + 8, '9', N - 8);
    cw_http_parse_cache_control(f, N, &o);
    CHECK_EQ_INT(o.max_age_s, INT64_C(2147483648));
    CHECK_EQ_INT(cw_http_clears_cache(f, N), 0);
    free(f);
    return 0;
}

static int clear_site_data_values(void)
{
    CHECK_EQ_INT(csd("\"cache\""), 1);
    CHECK_EQ_INT(csd("\"cookies\", \"cache\""), 1);
    CHECK_EQ_INT(csd("\"*\""), 1);
    CHECK_EQ_INT(csd("cache"), 1); /* the seed's bare form */
    CHECK_EQ_INT(csd("\"CACHE\""), 1);
    CHECK_EQ_INT(csd(" \"storage\" ,\"cookies\" "), 0);
    CHECK_EQ_INT(csd("\"cach\""), 0);
    CHECK_EQ_INT(csd("\"caches\""), 0);
    CHECK_EQ_INT(csd("\"cache"), 0);
    CHECK_EQ_INT(csd("\"cache\"x"), 0);
    CHECK_EQ_INT(csd("\"a, cache\""), 0);
    CHECK_EQ_INT(csd(""), 0);
    CHECK_EQ_INT(cw_http_clears_cache(NULL, 0), 0);
    return 0;
}

static int etag_of_is_sha256_prefix(void)
{
    char t[CW_HTTP_ETAG_SIZE];
    CHECK_OK(cw_http_etag_of(NULL, 0, t));
    CHECK_STR(t, "\"e3b0c44298fc1c149afbf4c8996fb924\""); /* SHA-256 of nothing */
    CHECK_OK(cw_http_etag_of("abc", 3, t));
    CHECK_STR(t, "\"ba7816bf8f01cfea414140de5dae2223\"");
    CHECK_EQ_INT(strlen(t) + 1, CW_HTTP_ETAG_SIZE);
    CHECK_ST(cw_http_etag_of(NULL, 1, t), CW_EINVAL);
    CHECK_ST(cw_http_etag_of("a", 1, NULL), CW_EINVAL);
    /* what it produces, the matcher accepts */
    CHECK_EQ_INT(inm("\"ba7816bf8f01cfea414140de5dae2223\"", t), 1);
    return 0;
}

static const cw_test tests[] = {
    CW_TEST(cache_control_directives_case_and_whitespace),
    CW_TEST(cache_control_max_age_values),
    CW_TEST(cache_control_quoted_lists),
    CW_TEST(if_none_match_lists_and_weak_tags),
    CW_TEST(if_none_match_star_and_malformed),
    CW_TEST(if_none_match_8k_fields),
    CW_TEST(clear_site_data_values),
    CW_TEST(etag_of_is_sha256_prefix),
    { 0 },
};

int main(int argc, char **argv) { return cw_test_main(tests, argc, argv); }
