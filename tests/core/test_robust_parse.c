/*
 * test_robust_parse.c - the text parsers take any input without crashing, hanging or leaking,
 * and give a clear status: URLs and the query-parameter readers (against oracles restated
 * here), TTL texts, and globs (compared with a reference matcher restated from Redis's
 * stringmatchlen(), and with a real redis-server when one is installed).
 *
 * The rest of the robustness tests (backend setup, commands with bad arguments, envelopes) are
 * in test_robust.c; random streams, failure reports and input builders come from
 * tests/harness/robust_util.h (CW_ROBUST_SEED and CW_ROBUST_SCALE work here as there).
 */
#include "cw_test.h"
#include "robust_util.h"

#include <arpa/inet.h>
#include <ctype.h>
#include <math.h>
#include <netinet/in.h>
#include <strings.h>
#include <sys/socket.h>
#include <unistd.h>

/* ---- 1. URLs -------------------------------------------------------------------------------- */

/* Parse @text and check the contract: CW_OK with every part present, or CW_EINVAL with a
 * message. Leaves the parsed URL in @u (zeroed on failure), *st_out the status. */
static int url_checked(rb_rng *r, size_t iter, const char *text, cw_url *u, cw_status *st_out)
{
    char eb[CW_ERRMSG_SIZE];
    rb_shown sh;
    eb[0] = 0;
    cw_status st = cw_url_parse(text, NULL, u, eb);
    *st_out = st;
    RB_EXPECT(r, iter, st == CW_OK || st == CW_EINVAL, "cw_url_parse(%s) -> %s",
           rb_show(&sh, text, text ? strlen(text) : 0), cw_strerror(st));
    if (st == CW_EINVAL) {
        RB_EXPECT(r, iter, eb[0] != 0, "cw_url_parse(%s): CW_EINVAL without a message",
               rb_show(&sh, text, text ? strlen(text) : 0));
        RB_EXPECT(r, iter, u->scheme == NULL && u->nparams == 0, "cw_url_parse(%s) failed but left parts behind",
               rb_show(&sh, text, strlen(text)));
        return 0;
    }
    RB_EXPECT(r, iter, u->scheme && u->scheme[0] && u->user && u->password && u->host && u->path,
           "cw_url_parse(%s): a part is NULL", rb_show(&sh, text, strlen(text)));
    for (const char *q = u->scheme; *q; q++)
        RB_EXPECT(r, iter, (*q >= 'a' && *q <= 'z') || (q > u->scheme && (isdigit((unsigned char)*q) || strchr("+-.", *q))),
               "cw_url_parse(%s): scheme \"%s\" is not lowercase letters/digits/+-.", rb_show(&sh, text, strlen(text)), u->scheme);
    RB_EXPECT(r, iter, u->port >= 0 && u->port <= 65535, "cw_url_parse(%s): port %d", rb_show(&sh, text, strlen(text)), u->port);
    RB_EXPECT(r, iter, u->nparams == 0 || u->params, "cw_url_parse(%s): nparams without params", rb_show(&sh, text, strlen(text)));
    for (size_t i = 0; i < u->nparams; i++)
        RB_EXPECT(r, iter, u->params[i].name && u->params[i].value && !u->params[i].taken,
               "cw_url_parse(%s): parameter %zu is malformed", rb_show(&sh, text, strlen(text)), i);
    return 0;
}

typedef struct good_url {
    const char *text, *scheme, *user, *password, *host;
    int port;
    const char *path, *pname, *pvalue; /* pname NULL: no parameter checked */
    size_t nparams;
} good_url;

static const good_url good_urls[] = {
    { "redis://u:p@h:1/2?a=b", "redis", "u", "p", "h", 1, "2", "a", "b", 1 },
    { "mem://?size=10", "mem", "", "", "", 0, "", "size", "10", 1 },
    { "disk://?directory=/tmp/x", "disk", "", "", "", 0, "", "directory", "/tmp/x", 1 },
    { "redis://[::1]:6379/0", "redis", "", "", "::1", 6379, "0", NULL, NULL, 0 },
    { "redis://[::1]", "redis", "", "", "::1", 0, "", NULL, NULL, 0 },
    { "rediss://us%3Aer:pa%40ss@[fe80::1%25eth0]:6380/3?ssl_cert_reqs=none", "rediss", "us:er", "pa@ss",
      "fe80::1%eth0", 6380, "3", "ssl_cert_reqs", "none", 1 },
    { "mem://", "mem", "", "", "", 0, "", NULL, NULL, 0 },
    { "MeM://", "mem", "", "", "", 0, "", NULL, NULL, 0 },
    { "x+y-z.w://a@b:65535/p/q?f&g=&h=%20%2B+", "x+y-z.w", "a", "", "b", 65535, "p/q", "h", " ++", 3 },
    { "redis://:secret@localhost", "redis", "", "secret", "localhost", 0, "", NULL, NULL, 0 },
    { "redis://a@b@c:5", "redis", "a@b", "", "c", 5, "", NULL, NULL, 0 },
    { "mem://?size=1k&&check_interval=0.5&size=2", "mem", "", "", "", 0, "", "size", "2", 3 },
    { "mem://h/p?q=a%3Db%26c", "mem", "", "", "h", 0, "p", "q", "a=b&c", 1 },
};

static int url_good_and_bad_examples(void)
{
    rb_rng r;
    rb_rng_init(&r, __func__);
    for (size_t i = 0; i < sizeof good_urls / sizeof *good_urls; i++) {
        const good_url *g = &good_urls[i];
        cw_url u;
        cw_status st;
        if (url_checked(&r, i, g->text, &u, &st)) return 1;
        RB_EXPECT(&r, i, st == CW_OK, "%s should parse", g->text);
        RB_EXPECT(&r, i, strcmp(u.scheme, g->scheme) == 0 && strcmp(u.user, g->user) == 0 &&
                          strcmp(u.password, g->password) == 0 && strcmp(u.host, g->host) == 0 &&
                          u.port == g->port && strcmp(u.path, g->path) == 0 && u.nparams == g->nparams,
               "%s -> scheme=%s user=%s password=%s host=%s port=%d path=%s nparams=%zu", g->text, u.scheme,
               u.user, u.password, u.host, u.port, u.path, u.nparams);
        if (g->pname) {
            const char *v = NULL;
            RB_EXPECT(&r, i, cw_url_take_str(&u, g->pname, &v) == CW_OK && v && strcmp(v, g->pvalue) == 0,
                   "%s: parameter %s=%s, want %s", g->text, g->pname, v ? v : "(absent)", g->pvalue);
        }
        cw_url_free(&u);
        cw_url_free(&u); /* documented harmless: the URL was zeroed */
    }
    static const char *const bad[] = {
        "", "://", "mem", "mem:/", "mem:", "1mem://", "m em://", "-x://", "mem://h:0", "mem://h:65536",
        "mem://h:-1", "mem://h:1x", "mem://h:", "mem://h:99999999999999999999", "mem://[::1",
        "mem://[::1]x", "mem://[::1]:", "mem://[::1]:0", "mem://%zz", "mem://%4", "mem://%",
        "mem://u%:p@h", "mem://u:%g1@h", "mem://h/%", "mem://h?%", "mem://h?=v", "mem://h?a=%g0",
        "mem://h?a=1&=2", "mem://h?a%=1", "redis://h:6379:6380", "redis://[::1]:6379:1", "mem://h:+80",
        "mem://[::1]:+80", "mem://h: 80", "mem://h:%00", "mem://%00",
    };
    for (size_t i = 0; i < sizeof bad / sizeof *bad; i++) {
        cw_url u;
        cw_status st;
        if (url_checked(&r, i, bad[i], &u, &st)) return 1;
        RB_EXPECT(&r, i, st == CW_EINVAL, "\"%s\" should be rejected", bad[i]);
        cw_url_free(&u);
    }
    /* NULLs and odd parameter lists. */
    char eb[CW_ERRMSG_SIZE] = "";
    cw_url u;
    CHECK_ST(cw_url_parse(NULL, NULL, &u, eb), CW_EINVAL);
    CHECK(eb[0]);
    CHECK_ST(cw_url_parse("mem://", NULL, NULL, NULL), CW_EINVAL);
    CHECK_ST(cw_url_parse(NULL, NULL, &u, NULL), CW_EINVAL);
    const char *const odd[] = { "size", NULL };
    eb[0] = 0;
    CHECK_ST(cw_url_parse("mem://", odd, &u, eb), CW_EINVAL);
    CHECK(eb[0]);
    const char *const extra[] = { "size", "5", "check_interval", "1", NULL };
    CHECK_OK(cw_url_parse("mem://?size=7", extra, &u, NULL));
    int64_t size = 0;
    CHECK_OK(cw_url_take_int(&u, "size", 1, 100, &size, NULL));
    CHECK_EQ_INT(size, 7); /* the URL overrides the defaults */
    cw_url_free(&u);
    cw_url_free(NULL);
    CHECK_ST(cw_url_take_str(NULL, "x", NULL), CW_EINVAL);
    CHECK_OK(cw_url_parse("mem://?x=1", NULL, &u, NULL));
    CHECK_ST(cw_url_take_str(&u, NULL, NULL), CW_EINVAL);
    CHECK_ST(cw_url_take_str(&u, "absent", NULL), CW_NOTFOUND);
    CHECK_OK(cw_url_take_str(&u, "x", NULL)); /* out may be NULL: only marks it taken */
    CHECK(u.params[0].taken);
    cw_url_free(&u);
    return 0;
}

static int url_random_bytes(void)
{
    rb_rng r;
    rb_rng_init(&r, __func__);
    rb_sbuf b = { 0 };
    static const char *const schemes[] = { "", "mem://", "redis://", "rediss://", "disk://", "x://" };
    for (size_t i = 0; i < rb_scaled(12000); i++) {
        rb_sb_reset(&b);
        if (rb_chance(&r, 50)) rb_sb_puts(&b, RB_PICK(&r, schemes));
        size_t n = rb_below(&r, 100);
        int urlish = rb_chance(&r, 70);
        for (size_t k = 0; k < n; k++)
            rb_sb_putc(&b, urlish ? RB_URL_ALPHA[rb_below(&r, sizeof RB_URL_ALPHA - 1)] : (char)(1 + rb_below(&r, 255)));
        cw_url u;
        cw_status st;
        int rc = url_checked(&r, i, b.p, &u, &st);
        cw_url_free(&u);
        if (rc) { rb_sb_free(&b); return 1; }
    }
    rb_sb_free(&b);
    return 0;
}

static int url_truncated_and_mutated(void)
{
    rb_rng r;
    rb_rng_init(&r, __func__);
    rb_sbuf b = { 0 };
    size_t iter = 0;
    for (size_t g = 0; g < sizeof good_urls / sizeof *good_urls; g++) {
        const char *text = good_urls[g].text;
        size_t n = strlen(text);
        /* Every prefix and every one-byte deletion. */
        for (size_t cut = 0; cut <= n; cut++) {
            for (int del = 0; del < 2; del++, iter++) {
                rb_sb_reset(&b);
                rb_sb_put(&b, text, cut);
                if (del && cut < n) rb_sb_puts(&b, text + cut + 1);
                cw_url u;
                cw_status st;
                int rc = url_checked(&r, iter, b.p, &u, &st);
                cw_url_free(&u);
                if (rc) { rb_sb_free(&b); return 1; }
            }
        }
        for (size_t m = 0; m < rb_scaled(600); m++, iter++) {
            rb_sb_reset(&b);
            rb_sb_puts(&b, text);
            rb_mutate(&r, &b, RB_URL_ALPHA);
            cw_url u;
            cw_status st;
            int rc = url_checked(&r, iter, b.p, &u, &st);
            cw_url_free(&u);
            if (rc) { rb_sb_free(&b); return 1; }
        }
    }
    rb_sb_free(&b);
    return 0;
}

static int url_very_long(void)
{
    rb_rng r;
    rb_rng_init(&r, __func__);
    rb_sbuf b = { 0 };
    cw_url u;
    cw_status st;
    /* A 100 kB host, a 60 kB user, a 40 kB path, 2000 parameters; then a bad escape at the end. */
    rb_sb_puts(&b, "redis://");
    for (int i = 0; i < 20000; i++) rb_sb_puts(&b, "us%41");
    rb_sb_puts(&b, "@");
    for (int i = 0; i < 100000; i++) rb_sb_putc(&b, (char)('a' + i % 26));
    rb_sb_puts(&b, ":6379/");
    for (int i = 0; i < 20000; i++) rb_sb_puts(&b, "p/");
    rb_sb_puts(&b, "?");
    for (int i = 0; i < 2000; i++) rb_sb_printf(&b, "p%d=%d&", i, i);
    if (url_checked(&r, 0, b.p, &u, &st)) return 1;
    CHECK_ST(st, CW_OK);
    CHECK_EQ_INT(strlen(u.user), 60000);
    CHECK_EQ_INT(strlen(u.host), 100000);
    CHECK_EQ_INT(u.nparams, 2000);
    const char *v = NULL;
    CHECK_OK(cw_url_take_str(&u, "p1999", &v));
    CHECK_STR(v, "1999");
    cw_url_free(&u);
    rb_sb_puts(&b, "x=%4");
    if (url_checked(&r, 1, b.p, &u, &st)) return 1;
    CHECK_ST(st, CW_EINVAL);
    cw_url_free(&u);
    /* A long value does not overflow the message. */
    rb_sb_reset(&b);
    rb_sb_puts(&b, "mem://?size=");
    for (int i = 0; i < 100000; i++) rb_sb_putc(&b, '9');
    CHECK_OK(cw_url_parse(b.p, NULL, &u, NULL));
    char eb[CW_ERRMSG_SIZE];
    memset(eb, 'X', sizeof eb);
    int64_t size = 0;
    CHECK_ST(cw_url_take_int(&u, "size", 1, 10, &size, eb), CW_EINVAL);
    CHECK(memchr(eb, 0, sizeof eb) != NULL && strstr(eb, "size"));
    cw_url_free(&u);
    rb_sb_free(&b);
    return 0;
}

/* Oracles of the parameter readers, written from backend.h and url.c's grammar: no blanks
 * and no '+'; an integer may start with '-', a size may not. */
static int oracle_int(const char *v, int64_t *out)
{
    const char *p = v;
    int neg = *p == '-';
    if (neg) p++;
    if (!isdigit((unsigned char)*p)) return 0;
    uint64_t acc = 0, lim = neg ? (uint64_t)INT64_MAX + 1 : (uint64_t)INT64_MAX;
    for (; isdigit((unsigned char)*p); p++) {
        unsigned d = (unsigned)(*p - '0');
        if (acc > (lim - d) / 10) return 0;
        acc = acc * 10 + d;
    }
    if (*p) return 0;
    *out = neg ? (int64_t)(0 - acc) : (int64_t)acc;
    return 1;
}

static int oracle_bool(const char *v, int *out)
{
    static const char *const yes[] = { "1", "true", "yes", "on" }, *const no[] = { "0", "false", "no", "off" };
    for (int i = 0; i < 4; i++) {
        if (strcasecmp(v, yes[i]) == 0) { *out = 1; return 1; }
        if (strcasecmp(v, no[i]) == 0) { *out = 0; return 1; }
    }
    return 0;
}

/* Returns 1 valid (the bytes in *out), 0 invalid. */
static int oracle_size(const char *v, uint64_t *out)
{
    const char *p = v;
    if (!isdigit((unsigned char)*p)) return 0;
    uint64_t acc = 0;
    for (; isdigit((unsigned char)*p); p++) {
        unsigned d = (unsigned)(*p - '0');
        if (acc > (UINT64_MAX - d) / 10) return 0;
        acc = acc * 10 + d;
    }
    unsigned shift = 0;
    if (*p && strchr("kK", *p)) { shift = 10; p++; }
    else if (*p && strchr("mM", *p)) { shift = 20; p++; }
    else if (*p && strchr("gG", *p)) { shift = 30; p++; }
    if (*p == 'b' || *p == 'B') p++;
    if (*p) return 0;
    if (shift && acc > (UINT64_MAX >> shift)) return 0;
    *out = acc << shift;
    return 1;
}


static int check_take(rb_rng *r, size_t iter, cw_url *u, const char *name, const char *text)
{
    rb_shown sh;
    const char *v = NULL;
    CHECK_OK(cw_url_take_str(u, name, &v));
    char eb[CW_ERRMSG_SIZE];
    eb[0] = 0;
    cw_status st;
    switch (rb_below(r, 4)) {
    case 0: {
        static const int64_t bounds[] = { INT64_MIN, -1000, -1, 0, 1, 7, 100, 65535, INT64_MAX };
        int64_t lo = bounds[rb_below(r, 9)], hi = bounds[rb_below(r, 9)], out = 12345, want = 0;
        if (lo > hi) { int64_t t = lo; lo = hi; hi = t; }
        st = cw_url_take_int(u, name, lo, hi, &out, eb);
        int valid = oracle_int(v, &want) && want >= lo && want <= hi;
        RB_EXPECT(r, iter, st == (valid ? CW_OK : CW_EINVAL), "%s: take_int(%s=%s, %lld..%lld) -> %s",
               rb_show(&sh, text, strlen(text)), name, v, (long long)lo, (long long)hi, cw_strerror(st));
        if (st == CW_OK) RB_EXPECT(r, iter, out == want, "take_int(%s=%s) gave %lld", name, v, (long long)out);
        else RB_EXPECT(r, iter, out == 12345, "take_int(%s=%s) failed but wrote %lld", name, v, (long long)out);
        break;
    }
    case 1: {
        int out = 7, want = 0;
        st = cw_url_take_bool(u, name, &out, eb);
        int valid = oracle_bool(v, &want);
        RB_EXPECT(r, iter, st == (valid ? CW_OK : CW_EINVAL), "%s: take_bool(%s=%s) -> %s",
               rb_show(&sh, text, strlen(text)), name, v, cw_strerror(st));
        RB_EXPECT(r, iter, st != CW_OK || out == want, "take_bool(%s=%s) gave %d", name, v, out);
        break;
    }
    case 2: {
        static const int64_t mins[] = { 0, 1, 1000, 60000 };
        int64_t min_ms = mins[rb_below(r, 4)], out = -7, want = 0;
        st = cw_url_take_ms(u, name, min_ms, &out, eb);
        int valid = strcmp(v, "0") == 0 || strcmp(v, "0.0") == 0 || cw_ttl_parse(v, &want) == CW_OK;
        valid = valid && want >= min_ms;
        RB_EXPECT(r, iter, st == (valid ? CW_OK : CW_EINVAL), "%s: take_ms(%s=%s, min %lld) -> %s",
               rb_show(&sh, text, strlen(text)), name, v, (long long)min_ms, cw_strerror(st));
        RB_EXPECT(r, iter, st != CW_OK || out == want, "take_ms(%s=%s) gave %lld", name, v, (long long)out);
        break;
    }
    default: {
        uint64_t out = 77, want = 0;
        st = cw_url_take_size(u, name, &out, eb);
        int valid = oracle_size(v, &want);
        RB_EXPECT(r, iter, st == (valid ? CW_OK : CW_EINVAL), "%s: take_size(%s=%s) -> %s",
               rb_show(&sh, text, strlen(text)), name, v, cw_strerror(st));
        RB_EXPECT(r, iter, st != CW_OK || out == want, "take_size(%s=%s) gave %llu", name, v, (unsigned long long)out);
        break;
    }
    }
    if (st == CW_EINVAL)
        RB_EXPECT(r, iter, eb[0] && strstr(eb, name), "%s: no message naming %s (\"%s\")", rb_show(&sh, text, strlen(text)), name, eb);
    return 0;
}

static int url_take_random_values(void)
{
    rb_rng r;
    rb_rng_init(&r, __func__);
    rb_sbuf b = { 0 }, val = { 0 };
    static const char *const names[] = { "size", "a", "check_interval", "x_y", "max_bytes", "n" };
    for (size_t i = 0; i < rb_scaled(6000); i++) {
        rb_sb_reset(&b);
        rb_sb_puts(&b, "mem://h?");
        size_t np = 1 + rb_below(&r, 4);
        for (size_t k = 0; k < np; k++) {
            rb_sb_reset(&val);
            rb_random_value(&r, &val);
            rb_sb_printf(&b, "%s%s=", k ? "&" : "", RB_PICK(&r, names));
            rb_sb_put_encoded(&b, (const unsigned char *)val.p, val.len);
        }
        cw_url u;
        cw_status st;
        if (url_checked(&r, i, b.p, &u, &st)) goto fail;
        RB_EXPECT(&r, i, st == CW_OK, "%s should parse (every value is percent-encoded)", b.p);
        for (size_t k = 0; k < u.nparams; k++) {
            if (u.params[k].taken) continue;
            int rc = check_take(&r, i, &u, u.params[k].name, b.p);
            if (rc) { cw_url_free(&u); goto fail; }
            RB_EXPECT(&r, i, u.params[k].taken, "parameter %s not marked taken", u.params[k].name);
        }
        cw_url_free(&u);
    }
    rb_sb_free(&b);
    rb_sb_free(&val);
    return 0;
fail:
    rb_sb_free(&b);
    rb_sb_free(&val);
    return 1;
}

static int url_take_hand_picked(void)
{
    cw_url u;
    char eb[CW_ERRMSG_SIZE];
    uint64_t size = 0;
    int64_t i64 = 0;
    CHECK_OK(cw_url_parse("mem://?a=1kb&b=18446744073709551615&c=17179869184g&d=-5&e=&f=1%20k", NULL, &u, NULL));
    CHECK_OK(cw_url_take_size(&u, "a", &size, eb));
    CHECK_EQ_INT(size, 1024);
    CHECK_OK(cw_url_take_size(&u, "b", &size, eb));
    CHECK(size == UINT64_MAX);
    CHECK_ST(cw_url_take_size(&u, "c", &size, eb), CW_EINVAL);
    CHECK_ST(cw_url_take_size(&u, "d", &size, eb), CW_EINVAL);
    CHECK_ST(cw_url_take_size(&u, "e", &size, eb), CW_EINVAL);
    CHECK_ST(cw_url_take_size(&u, "f", &size, eb), CW_EINVAL);
    CHECK_ST(cw_url_take_int(&u, "d", -5, -5, &i64, eb), CW_OK);
    CHECK_EQ_INT(i64, -5);
    CHECK_ST(cw_url_take_int(&u, "e", 0, 1, &i64, eb), CW_EINVAL);
    cw_url_free(&u);
    /* No blanks and no '+' before a number (strtoll/strtoull would skip them, and negate
     * after a blank: " -1" as a size was 2^64 - 1). */
    static const char *const not_sizes[] = { "%20-1", "%201", "+1", "%09-5k", "1%20", "-0" };
    static const char *const not_ints[] = { "%20-1", "%201", "+1", "%2B-1", "-", "--1", "1%20" };
    char url[64];
    for (size_t i = 0; i < sizeof not_sizes / sizeof *not_sizes; i++) {
        snprintf(url, sizeof url, "mem://?max_bytes=%s", not_sizes[i]);
        CHECK_OK(cw_url_parse(url, NULL, &u, NULL));
        eb[0] = 0;
        CHECK_ST(cw_url_take_size(&u, "max_bytes", &size, eb), CW_EINVAL);
        CHECK(strstr(eb, "max_bytes"));
        cw_url_free(&u);
    }
    for (size_t i = 0; i < sizeof not_ints / sizeof *not_ints; i++) {
        snprintf(url, sizeof url, "mem://?size=%s", not_ints[i]);
        CHECK_OK(cw_url_parse(url, NULL, &u, NULL));
        CHECK_ST(cw_url_take_int(&u, "size", INT64_MIN, INT64_MAX, &i64, eb), CW_EINVAL);
        cw_url_free(&u);
    }
    CHECK_OK(cw_url_parse("mem://?size=-0", NULL, &u, NULL));
    CHECK_OK(cw_url_take_int(&u, "size", -1, 1, &i64, eb));
    CHECK_EQ_INT(i64, 0);
    cw_url_free(&u);
    /* A percent-escaped NUL would cut the C string there ("size=1%00junk" read as 1). */
    static const char *const nul_urls[] = { "mem://?size=1%00junk", "redis://h%00x:1", "disk://?directory=/tmp/a%00/b",
                                            "redis://u:p%00w@h", "redis://u%00:p@h", "mem://h/a%00b", "mem://?a%00=1" };
    for (size_t i = 0; i < sizeof nul_urls / sizeof *nul_urls; i++) {
        eb[0] = 0;
        CHECK_ST(cw_url_parse(nul_urls[i], NULL, &u, eb), CW_EINVAL);
        CHECK(eb[0]);
    }
    CHECK_OK(cw_url_parse("mem://?a=%01%7F%FF", NULL, &u, NULL)); /* other bytes are fine */
    const char *sv = NULL;
    CHECK_OK(cw_url_take_str(&u, "a", &sv));
    CHECK_STR(sv, "\x01\x7f\xff");
    cw_url_free(&u);
    return 0;
}

/* ---- 2. TTLs -------------------------------------------------------------------------------- */

/* The TTL grammar of common.h, as an independent recognizer: returns 1 with the total in
 * milliseconds (long double), 0 for text the grammar rejects. As the seed does, it strips
 * the text of surrounding white space and lower-cases it first. */
static int oracle_ttl(const char *raw, long double *ms)
{
    char t[256];
    size_t n = strlen(raw), a = 0;
    while (a < n && isspace((unsigned char)raw[a])) a++;
    while (n > a && isspace((unsigned char)raw[n - 1])) n--;
    if (n - a >= sizeof t) return 0;
    for (size_t i = a; i < n; i++) t[i - a] = (char)tolower((unsigned char)raw[i]);
    t[n - a] = 0;
    long double total = 0;
    int parts = 0;
    const char *p = t;
    if (!*p) return 0;
    while (*p) {
        long double v = 0, scale = 1;
        int digits = 0, frac = 0;
        for (; *p; p++) {
            if (isdigit((unsigned char)*p)) {
                if (frac) { scale /= 10; v += (*p - '0') * scale; }
                else v = v * 10 + (*p - '0');
                digits++;
            } else if (*p == '.' && !frac) {
                frac = 1;
            } else {
                break;
            }
        }
        if (!digits) return 0;
        long double unit;
        if (p[0] == 'm' && p[1] == 's') { unit = 1; p += 2; }
        else if (*p == 'd') { unit = 86400000.0L; p++; }
        else if (*p == 'h') { unit = 3600000.0L; p++; }
        else if (*p == 'm') { unit = 60000.0L; p++; }
        else if (*p == 's') { unit = 1000.0L; p++; }
        else if (!*p && !parts) unit = 1000.0L;
        else return 0;
        total += v * unit;
        parts++;
    }
    *ms = total;
    return 1;
}

static int ttl_random_and_mutated(void)
{
    rb_rng r;
    rb_rng_init(&r, __func__);
    rb_sbuf b = { 0 };
    static const char *const seeds[] = { "90", "1.5", "1d2h3m50s", "10m", "250ms", "0.5", "1h1h", "2h5m",
                                         "0.0005", "0.4ms", "0.5ms", "1.ms", ".5s", "106751991167d" };
    for (size_t i = 0; i < rb_scaled(20000); i++) {
        rb_sb_reset(&b);
        if (rb_chance(&r, 40)) {
            rb_sb_puts(&b, RB_PICK(&r, seeds));
            rb_mutate(&r, &b, "0123456789.dhms");
        } else {
            size_t n = rb_below(&r, 24);
            const char *alpha = rb_chance(&r, 80) ? "0123456789.dhms" : "0123456789.dhmsDHMSx-+e \t";
            for (size_t k = 0; k < n; k++) rb_sb_putc(&b, alpha[rb_below(&r, strlen(alpha))]);
        }
        int64_t ms = -99;
        cw_status st = cw_ttl_parse(b.p, &ms);
        rb_shown sh;
        long double want = 0;
        int valid = oracle_ttl(b.p, &want);
        RB_EXPECT(&r, i, st == CW_OK || st == CW_EINVAL, "cw_ttl_parse(%s) -> %s", rb_show(&sh, b.p, b.len), cw_strerror(st));
        if (st == CW_OK) {
            RB_EXPECT(&r, i, ms > 0, "cw_ttl_parse(%s) -> %lld", rb_show(&sh, b.p, b.len), (long long)ms);
            RB_EXPECT(&r, i, valid, "cw_ttl_parse(%s) accepted text outside the grammar", rb_show(&sh, b.p, b.len));
            RB_EXPECT(&r, i, fabsl((long double)ms - want) <= 1 + want * 1e-12L, "cw_ttl_parse(%s) -> %lld, want %.3Lf",
                   rb_show(&sh, b.p, b.len), (long long)ms, want);
        } else {
            RB_EXPECT(&r, i, ms == -99, "cw_ttl_parse(%s) failed but wrote %lld", rb_show(&sh, b.p, b.len), (long long)ms);
            /* Rejected grammatical text must be zero/sub-ms (rounds to 0) or too large. */
            RB_EXPECT(&r, i, !valid || want < 0.5000001L || want > 9.1e18L, "cw_ttl_parse(%s) rejected %.3Lf ms",
                   rb_show(&sh, b.p, b.len), want);
        }
    }
    rb_sb_free(&b);
    int64_t ms = 0;
    CHECK_ST(cw_ttl_parse(NULL, &ms), CW_EINVAL);
    CHECK_ST(cw_ttl_parse("1", NULL), CW_EINVAL);
    CHECK_ST(cw_ttl_parse("", &ms), CW_EINVAL);
    CHECK_ST(cw_ttl_parse("99999999999999999999d", &ms), CW_EINVAL);
    CHECK_ST(cw_ttl_parse("-1", &ms), CW_EINVAL);
    CHECK_ST(cw_ttl_parse("0", &ms), CW_EINVAL);
    CHECK_ST(cw_ttl_parse("1m5", &ms), CW_EINVAL);
    CHECK_ST(cw_ttl_parse("1 s", &ms), CW_EINVAL);
    /* 400 digits overflow a double to infinity: rejected, not "forever". */
    char big[420];
    memset(big, '9', 400);
    strcpy(big + 400, "ms");
    CHECK_ST(cw_ttl_parse(big, &ms), CW_EINVAL);
    CHECK_OK(cw_ttl_parse("0.5ms", &ms));
    CHECK_EQ_INT(ms, 1);
    double bad[] = { 0.0, -1.0, NAN, INFINITY, 1e-7, 1e300 };
    for (size_t i = 0; i < sizeof bad / sizeof *bad; i++) CHECK_ST(cw_ttl_from_seconds(bad[i], &ms), CW_EINVAL);
    CHECK_ST(cw_ttl_from_seconds(1.0, NULL), CW_EINVAL);
    return 0;
}

/* ---- 3. Globs ------------------------------------------------------------------------------- */

/*
 * The reference: Redis's stringmatchlen() (src/util.c), restated without its reads past the
 * pattern's end, with bytes compared unsigned (Redis compares `char`, signed on x86, so its
 * ranges over bytes >= 0x80 differ from glob.c's; the inputs here stay ASCII) and with its
 * "skip longer matches" cut for '*', which keeps the recursion polynomial. Checked against
 * redis-server 7.0.15 (SET a key, KEYS pattern) on 80,000 random pairs over "ab*?[]^!\-z":
 * no disagreement. src/core/glob.c follows the same rules (common.h), so that mem:// and
 * disk:// select the keys redis:// does, with one exception kept on purpose: '*' matches
 * the empty string there (Redis: "*" against "" is 0), which keys, never empty, cannot show.
 */
static int ref_glob(const unsigned char *p, size_t pl, const unsigned char *s, size_t sl, int *skip_longer)
{
    while (pl && sl) {
        switch (p[0]) {
        case '*':
            while (pl > 1 && p[1] == '*') { p++; pl--; }
            if (pl == 1) return 1;
            for (; sl; s++, sl--) {
                if (ref_glob(p + 1, pl - 1, s, sl, skip_longer)) return 1;
                if (*skip_longer) return 0;
            }
            *skip_longer = 1; /* no suffix matched: a longer '*' earlier cannot help */
            return 0;
        case '?':
            s++;
            sl--;
            break;
        case '[': {
            p++;
            pl--;
            int negate = pl && p[0] == '^';
            if (negate) { p++; pl--; }
            int match = 0;
            for (;;) {
                if (pl >= 2 && p[0] == '\\') {
                    p++;
                    pl--;
                    if (p[0] == s[0]) match = 1;
                } else if (pl == 0) {
                    p--; /* unterminated: as if closed at the end */
                    pl++;
                    break;
                } else if (p[0] == ']') {
                    break;
                } else if (pl >= 3 && p[1] == '-') {
                    unsigned lo = p[0], hi = p[2];
                    if (lo > hi) { unsigned t = lo; lo = hi; hi = t; }
                    p += 2;
                    pl -= 2;
                    if (s[0] >= lo && s[0] <= hi) match = 1;
                } else if (p[0] == s[0]) {
                    match = 1;
                }
                p++;
                pl--;
            }
            if (negate) match = !match;
            if (!match) return 0;
            s++;
            sl--;
            break;
        }
        case '\\':
            if (pl >= 2) { p++; pl--; }
            /* fall through */
        default:
            if (p[0] != s[0]) return 0;
            s++;
            sl--;
            break;
        }
        p++;
        pl--;
        if (sl == 0) {
            while (pl && p[0] == '*') { p++; pl--; }
            break;
        }
    }
    return pl == 0 && sl == 0;
}

static int ref_match(const char *p, size_t pl, const char *s, size_t sl)
{
    int skip = 0;
    return ref_glob((const unsigned char *)p, pl, (const unsigned char *)s, sl, &skip);
}

static const char glob_alpha[] = "abz*?[]^!\\-";

/* A string likely to match @p: literals copied, wildcards filled at random. */
static size_t string_for(rb_rng *r, const char *p, size_t pl, char *out, size_t cap)
{
    size_t n = 0;
    for (size_t i = 0; i < pl && n + 4 < cap; i++) {
        char ch = p[i];
        if (ch == '*') {
            for (size_t k = rb_below(r, 4); k && n + 4 < cap; k--) out[n++] = glob_alpha[rb_below(r, sizeof glob_alpha - 1)];
        } else if (ch == '?' || ch == '[') {
            out[n++] = glob_alpha[rb_below(r, sizeof glob_alpha - 1)];
            if (ch == '[') while (i < pl && p[i] != ']') i++;
        } else if (ch == '\\' && i + 1 < pl) {
            out[n++] = p[++i];
        } else {
            out[n++] = ch;
        }
    }
    return n;
}

static int glob_against_reference(void)
{
    rb_rng r;
    rb_rng_init(&r, __func__);
    char p[80], s[80];
    size_t yes = 0;
    size_t iters = rb_scaled(40000);
    for (size_t i = 0; i < iters; i++) {
        size_t pl = rb_below(&r, 65), sl;
        const char *alpha = rb_chance(&r, 70) ? glob_alpha : "ab*?[]^\\-";
        for (size_t k = 0; k < pl; k++) p[k] = alpha[rb_below(&r, strlen(alpha))];
        if (rb_chance(&r, 50)) {
            sl = string_for(&r, p, pl, s, sizeof s);
        } else {
            sl = rb_below(&r, 65);
            for (size_t k = 0; k < sl; k++) s[k] = glob_alpha[rb_below(&r, sizeof glob_alpha - 1)];
        }
        /* Keys are never empty; Redis and glob.c differ on "*" against "" (0 vs 1). */
        if (!sl) s[sl++] = 'a';
        int got = cw_glob_match(p, pl, s, sl), want = ref_match(p, pl, s, sl);
        rb_shown a, b;
        RB_EXPECT(&r, i, got == want, "cw_glob_match(%s, %s) = %d, reference %d", rb_show(&a, p, pl), rb_show(&b, s, sl), got, want);
        yes += (size_t)got;
    }
    /* The generator must produce both outcomes in fair numbers, or the test proves little. */
    CHECK(yes > iters / 10 && yes < iters * 9 / 10);
    /* Adversarial backtracking stays fast (a naive matcher is exponential here). */
    char pat[130], str[130];
    for (int i = 0; i < 64; i++) { pat[2 * i] = '*'; pat[2 * i + 1] = 'a'; }
    memset(str, 'a', 128);
    str[127] = 'b';
    pat[128] = 'c';
    CHECK(!cw_glob_match(pat, 129, str, 128));
    CHECK(!ref_match(pat, 129, str, 128));
    /* NUL bytes are ordinary; NULL pointers with zero lengths are not read. */
    CHECK(cw_glob_match("a\0*", 3, "a\0bc", 4));
    CHECK(!cw_glob_match(NULL, 0, "a", 1));
    CHECK(cw_glob_match("", 0, NULL, 0));
    return 0;
}

/* The constructs where glob.c once answered otherwise than Redis (each checked with
 * redis-server 7.0.15 KEYS), then random pairs over the whole alphabet, '!' included. */
static int glob_redis_parity(void)
{
    CHECK_EQ_INT(cw_glob_match("[!a]", 4, "b", 1), 0);
    CHECK_EQ_INT(cw_glob_match("[]a]", 4, "a", 1), 0);
    CHECK_EQ_INT(cw_glob_match("[a-]", 4, "_", 1), 1);
    CHECK_EQ_INT(cw_glob_match("[b-\\z]", 6, "a", 1), 1);
    CHECK_EQ_INT(cw_glob_match("[!a]", 4, "!", 1), 1);
    CHECK_EQ_INT(cw_glob_match("[]", 2, "]", 1), 0);
    CHECK_EQ_INT(cw_glob_match("[^]", 3, "x", 1), 1);
    CHECK_EQ_INT(cw_glob_match("*", 1, "", 0), 1); /* the one difference, kept on purpose */
    rb_rng r;
    rb_rng_init(&r, __func__);
    char p[80], s[80];
    for (size_t i = 0; i < rb_scaled(40000); i++) {
        size_t pl = rb_below(&r, 65), sl = 1 + rb_below(&r, 64);
        for (size_t k = 0; k < pl; k++) p[k] = glob_alpha[rb_below(&r, sizeof glob_alpha - 1)];
        for (size_t k = 0; k < sl; k++) s[k] = glob_alpha[rb_below(&r, sizeof glob_alpha - 1)];
        int got = cw_glob_match(p, pl, s, sl), want = ref_match(p, pl, s, sl);
        rb_shown a, b;
        RB_EXPECT(&r, i, got == want, "cw_glob_match(%s, %s) = %d, Redis %d", rb_show(&a, p, pl), rb_show(&b, s, sl), got, want);
    }
    return 0;
}

static const cw_test tests[] = {
    CW_TEST(url_good_and_bad_examples),
    CW_TEST(url_random_bytes),
    CW_TEST(url_truncated_and_mutated),
    CW_TEST(url_very_long),
    CW_TEST(url_take_random_values),
    CW_TEST(url_take_hand_picked),
    CW_TEST(ttl_random_and_mutated),
    CW_TEST(glob_against_reference),
    CW_TEST(glob_redis_parity),
    { 0 },
};

int main(int argc, char **argv) { return cw_test_main(tests, argc, argv); }
