/*
 * test_func_robust.c - cached functions given bad input never crash, hang or leak, and
 * always answer with a clear status.
 *
 * Randomized and hand-picked inputs for: key templates (fragments glued at random, then
 * mutated), argument lists, arguments of every type, JWTs (random and broken payloads), every
 * strategy with random (often invalid) options and a loader whose outcome varies, bloom
 * filter sizes, registrations with bad arguments and user hooks that fail. The rest of the
 * robustness tests (URLs, TTLs, globs, setup, commands, envelopes) are in
 * tests/core/test_robust.c; both draw on tests/harness/robust_util.h, so a run is
 * reproducible and a failure prints the seed, the iteration and the input.
 *   CW_ROBUST_SEED=<n>   another base seed (to explore; the default is fixed)
 *   CW_ROBUST_SCALE=<k>  multiply the iteration counts (default 1)
 */
#include "cw_test.h"
#include "robust_util.h"

#include <math.h>

typedef struct load_ctx {
    int calls;
} load_ctx;

static int load_fixed(void *ud, const cw_arg *args, size_t nargs, cw_value *out)
{
    (void)args;
    (void)nargs;
    ((load_ctx *)ud)->calls++;
    return cw_value_set(out, "L", 1);
}

/* An object class with fields "name" and "uuid" (and nothing else). */
static int obj_text(const void *obj, const char *path, char *buf, size_t size)
{
    const char *name = obj;
    if (!*path) return snprintf(buf, size, "obj:%s", name);
    if (strcmp(path, "name") == 0) return snprintf(buf, size, "%s", name);
    if (strcmp(path, "uuid") == 0) return snprintf(buf, size, "u-%zu", strlen(name));
    return -1;
}
static const cw_arg_class obj_class = { "robj", obj_text, NULL, NULL };

static cw_arg random_arg(rb_rng *r, char *scratch, size_t cap)
{
    size_t n = rb_below(r, cap - 1);
    for (size_t k = 0; k < n; k++) scratch[k] = (char)(rb_chance(r, 80) ? 'a' + rb_below(r, 26) : 1 + rb_below(r, 255));
    scratch[n] = 0;
    switch (rb_below(r, 8)) {
    case 0: return CW_ARG_NULL;
    case 1: return CW_ARG_INT((int64_t)rb_rnd(r));
    case 2: return CW_ARG_DOUBLE(rb_chance(r, 20) ? NAN : (double)(int64_t)rb_rnd(r) / 7.0);
    case 3: return CW_ARG_BOOL(rb_chance(r, 50));
    case 4: return CW_ARG_BYTES(scratch, n);
    case 5: return CW_ARG_OBJ(scratch, &obj_class);
    case 6: { cw_arg a = CW_ARG_OBJ(scratch, NULL); return a; } /* an object without a class */
    default: return CW_ARG_STR(scratch);
    }
}

static const char *const tmpl_frags[] = {
    "{", "}", "{{", "}}", "{a", "a}", "{a}", "{b}", "{a:", "{a:hash(", "{a:hash(sha1)}", "{a:hash(md5, sha1)}",
    "{a:hash(sha512)}", "{a:nosuch}", "{a.b.c}", "{b.name}", "{b.uuid:upper}", "{b.nope}", "{a.}", "{.a}",
    "{a:lower}", "{a:upper()}", "{a:len}", "{a:jwt(sub)}", "{a:jwt()}", "{a:jwt( )}", "{a:lower)}",
    "{ a }", "{a :lower}", "{1a}", "{}", "{:}", "{ctx}", "{ctx.x}", "{a{b}}", "{{a}}", "{{{a}}}", ":", "x",
    "*", "?", "[", "\\", "%", "\xff", "(", ")", ",", " ", "{a:hash(sha256)}", "{b}", "{a:hash()}",
    "{a:jwt(a,b)}", "{a:upper(x)}", "{b:len}", "{a:lower:upper}", "{a:(x)}",
};

static int func_templates_random(void)
{
    rb_rng r;
    rb_rng_init(&r, __func__);
    cw_cache *c = NULL;
    CHECK_OK(cw_cache_new_default(&c));
    CHECK_OK(cw_register_key_context(c, "ctx"));
    load_ctx lc = { 0 };
    rb_sbuf b = { 0 };
    int rc = 1;
    size_t created = 0;
    for (size_t i = 0; i < rb_scaled(2500); i++) {
        rb_sb_reset(&b);
        size_t nf = 1 + rb_below(&r, 6);
        for (size_t k = 0; k < nf; k++) rb_sb_puts(&b, RB_PICK(&r, tmpl_frags));
        if (rb_chance(&r, 25)) rb_mutate(&r, &b, "{}():.,ab ");
        if (i % 500 == 7) /* now and then a very long one */
            for (int k = 0; k < 3000; k++) rb_sb_puts(&b, RB_PICK(&r, tmpl_frags));
        cw_func_options fo = { .loader = load_fixed, .loader_ud = &lc, .args = "a, b", .key = b.p,
                               .ttl = "1h", .prefix = rb_chance(&r, 50) ? "" : NULL };
        cw_func *f = NULL;
        cw_status st = cw_func_new(&f, c, &fo);
        rb_shown sh;
        if (st != CW_OK) {
            RB_EXPECT(&r, i, st == CW_EINVAL && cw_cache_errmsg(c)[0] && !f, "cw_func_new(key %s) -> %s \"%s\"",
                   rb_show(&sh, b.p, b.len), cw_strerror(st), cw_cache_errmsg(c));
            continue;
        }
        created++;
        /* Calls with random arguments: the loader's value, or EINVAL (a field the argument
         * lacks) consistently with cw_func_key. */
        for (int k = 0; k < 3; k++) {
            char s1[24], s2[24];
            cw_arg args[2] = { random_arg(&r, s1, sizeof s1), random_arg(&r, s2, sizeof s2) };
            cw_value out = { 0 }, key = { 0 };
            int cst = cw_func_call(f, args, 2, &out);
            cw_status kst = cw_func_key(f, args, 2, &key);
            int ok = (cst == CW_OK && out.len == 1 && out.data[0] == 'L') || (cst == CW_EINVAL && cw_cache_errmsg(c)[0]);
            cw_value_free(&out);
            cw_value_free(&key);
            if (!ok || (cst == CW_EINVAL) != (kst == CW_EINVAL)) {
                fprintf(stderr, "call -> %s, key -> %s (%s)\n", cw_strerror(cst), cw_strerror(kst), cw_cache_errmsg(c));
                cw_func_free(f);
                RB_FAIL_AT(&r, i, "template %s", rb_show(&sh, b.p, b.len));
            }
        }
        /* Wrong argument counts, NULL arguments, NULL out. */
        cw_value out = { 0 };
        cw_arg one = CW_ARG_INT(1);
        int bad = cw_func_call(f, &one, 1, &out) != CW_EINVAL || cw_func_call(f, NULL, 2, &out) != CW_EINVAL ||
                  cw_func_call(f, NULL, 0, &out) != CW_EINVAL || cw_func_call(f, (cw_arg[3]){ one, one, one }, 3, &out) != CW_EINVAL ||
                  cw_func_call(f, (cw_arg[2]){ one, one }, 2, NULL) != CW_EINVAL ||
                  cw_func_key(f, NULL, 2, &out) != CW_EINVAL || cw_func_invalidate(f, &one, 1) != CW_EINVAL;
        cw_value_free(&out);
        cw_func_free(f);
        RB_EXPECT(&r, i, !bad, "bad calls not all CW_EINVAL for template %s", rb_show(&sh, b.p, b.len));
    }
    CHECK(created > 50); /* the fragments make valid templates too */
    rc = 0;
    rb_sb_free(&b);
    cw_cache_free(c);
    return rc;
}

static int func_hand_picked(void)
{
    cw_cache *c = NULL;
    CHECK_OK(cw_cache_new_default(&c));
    load_ctx lc = { 0 };
    static const struct { const char *key; int ok; } cases[] = {
        { "{", 0 }, { "}", 0 }, { "{a:", 0 }, { "{a:hash(", 0 }, { "{a:nosuch}", 0 }, { "{a.b.c}", 1 },
        { "{a{b}}", 0 }, { "{{a}}", 1 }, { "{a}", 1 }, { "{nosuch}", 0 }, { "{a:hash(sha9)}", 0 },
        { "{a:jwt()}", 0 }, { "{a:lower(1)}", 0 }, { "x{a}y{b.name:upper}", 1 }, { "", 1 },
        { "{a:hash(sha256)}", 1 }, { "{}", 0 }, { "{a.}", 0 }, { "{a:}", 0 },
    };
    for (size_t i = 0; i < sizeof cases / sizeof *cases; i++) {
        cw_func_options fo = { .loader = load_fixed, .loader_ud = &lc, .args = "a, b", .key = cases[i].key, .ttl = "1h" };
        cw_func *f = NULL;
        cw_status st = cw_func_new(&f, c, &fo);
        if ((st == CW_OK) != cases[i].ok || (st != CW_OK && (st != CW_EINVAL || !cw_cache_errmsg(c)[0]))) {
            fprintf(stderr, "key \"%s\" -> %s (%s)\n", cases[i].key, cw_strerror(st), cw_cache_errmsg(c));
            cw_func_free(f);
            cw_cache_free(c);
            return 1;
        }
        cw_func_free(f);
    }
    /* Argument lists. */
    static const struct { const char *args; int ok; } alist[] = {
        { "a", 1 }, { "a,b", 1 }, { " a , b ", 1 }, { "a,,b", 0 }, { "a,", 0 }, { ",a", 0 }, { "1a", 0 },
        { "a a", 0 }, { "a,a", 0 }, { "", 1 }, { " ", 1 }, { "a-b", 0 }, { "_x1", 1 }, { "a;b", 0 },
    };
    for (size_t i = 0; i < sizeof alist / sizeof *alist; i++) {
        cw_func_options fo = { .loader = load_fixed, .loader_ud = &lc, .args = alist[i].args, .ttl = "1h" };
        cw_func *f = NULL;
        cw_status st = cw_func_new(&f, c, &fo);
        if ((st == CW_OK) != alist[i].ok || (st != CW_OK && !cw_cache_errmsg(c)[0])) {
            fprintf(stderr, "args \"%s\" -> %s (%s)\n", alist[i].args, cw_strerror(st), cw_cache_errmsg(c));
            cw_func_free(f);
            cw_cache_free(c);
            return 1;
        }
        cw_func_free(f);
    }
    /* Missing pieces. */
    cw_func *f = NULL;
    CHECK_ST(cw_func_new(NULL, c, &(cw_func_options){ .loader = load_fixed, .ttl = "1" }), CW_EINVAL);
    CHECK_ST(cw_func_new(&f, NULL, &(cw_func_options){ .loader = load_fixed, .ttl = "1" }), CW_EINVAL);
    CHECK_ST(cw_func_new(&f, c, NULL), CW_EINVAL);
    CHECK_ST(cw_func_new(&f, c, &(cw_func_options){ .ttl = "1" }), CW_EINVAL);
    CHECK_ST(cw_func_new(&f, c, &(cw_func_options){ .loader = load_fixed }), CW_EINVAL);
    CHECK_ST(cw_func_new(&f, c, &(cw_func_options){ .loader = load_fixed, .ttl = "soon" }), CW_EINVAL);
    CHECK_ST(cw_func_new(&f, c, &(cw_func_options){ .loader = load_fixed, .ttl = "1", .strategy = (cw_strategy)99 }), CW_EINVAL);
    CHECK_ST(cw_func_new(&f, c, &(cw_func_options){ .loader = load_fixed, .ttl = "1", .ntags = 2 }), CW_EINVAL);
    CHECK_ST(cw_func_new(&f, c, &(cw_func_options){ .loader = load_fixed, .ttl = "1", .codec = 5 }), CW_EINVAL);
    CHECK(f == NULL);
    cw_value v = { 0 };
    CHECK_ST(cw_func_call(NULL, NULL, 0, &v), CW_EINVAL);
    cw_func_free(NULL);
    /* A key over max_key_bytes or empty is a cache failure, not a call failure: the loader
     * answers. */
    char longname[3000];
    memset(longname, 'k', sizeof longname - 1);
    longname[sizeof longname - 1] = 0;
    f = CW_FUNC(c, load_fixed, .loader_ud = &lc, .args = "a", .key = "{a}", .prefix = "", .ttl = "1h");
    CHECK(f != NULL);
    lc.calls = 0;
    CHECK_OK(CW_CALL(f, &v, CW_ARG_STR(longname)));
    CHECK_VAL(v, "L");
    CHECK_OK(CW_CALL(f, &v, CW_ARG_STR("")));
    CHECK_VAL(v, "L");
    CHECK_EQ_INT(lc.calls, 2);
    cw_func_free(f);
    cw_value_free(&v);
    cw_cache_free(c);
    return 0;
}

/* Base64url without padding. */
static void b64url(rb_sbuf *b, const unsigned char *s, size_t n)
{
    static const char tb[] = "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-_";
    for (size_t i = 0; i < n; i += 3) {
        uint32_t v = (uint32_t)s[i] << 16 | (i + 1 < n ? (uint32_t)s[i + 1] << 8 : 0) | (i + 2 < n ? s[i + 2] : 0);
        rb_sb_putc(b, tb[v >> 18 & 63]);
        rb_sb_putc(b, tb[v >> 12 & 63]);
        if (i + 1 < n) rb_sb_putc(b, tb[v >> 6 & 63]);
        if (i + 2 < n) rb_sb_putc(b, tb[v & 63]);
    }
}

static int func_jwt_random_tokens(void)
{
    rb_rng r;
    rb_rng_init(&r, __func__);
    cw_cache *c = NULL;
    CHECK_OK(cw_cache_new_default(&c));
    load_ctx lc = { 0 };
    cw_func *f = CW_FUNC(c, load_fixed, .loader_ud = &lc, .args = "t", .key = "{t:jwt(sub)}", .prefix = "", .ttl = "1h");
    CHECK(f != NULL);
    static const char *const json[] = {
        "{", "}", "\"sub\"", ":", "\"x\"", ",", "\"\\u00e9\"", "\"\\ud83d\\ude00\"", "\"\\ud800\"", "\"\\u12\"",
        "[", "]", "null", "1", " ", "\"\\\"\"", "\"a\\", "\"", "\\", "{\"sub\":", "\"sub\":\"v\"", "true", "{}",
    };
    rb_sbuf payload = { 0 }, tok = { 0 };
    cw_value key = { 0 };
    int rc = 1;
    /* A well-formed token first: the claim is the key. */
    rb_sb_put(&payload, "", 0);
    rb_sb_puts(&payload, "{\"iss\":\"me\",\"sub\":\"user\\u00e9\",\"n\":[1,{\"a\":2}]}");
    rb_sb_put(&tok, "", 0);
    rb_sb_puts(&tok, "eyJhbGciOiJub25lIn0.");
    b64url(&tok, (const unsigned char *)payload.p, payload.len);
    rb_sb_puts(&tok, ".sig");
    cw_arg a = CW_ARG_STR(tok.p);
    CHECK_OK(cw_func_key(f, &a, 1, &key));
    CHECK_VAL(key, "user\xc3\xa9");
    for (size_t i = 0; i < rb_scaled(5000); i++) {
        rb_sb_reset(&payload);
        size_t n = rb_below(&r, 12);
        if (rb_chance(&r, 50)) rb_sb_puts(&payload, "{\"sub\":");
        for (size_t k = 0; k < n; k++) rb_sb_puts(&payload, RB_PICK(&r, json));
        if (rb_chance(&r, 10)) rb_mutate(&r, &payload, "{}[]\":,\\u0123");
        rb_sb_reset(&tok);
        if (rb_chance(&r, 90)) {
            rb_sb_puts(&tok, "h.");
            b64url(&tok, (const unsigned char *)payload.p, payload.len);
            if (rb_chance(&r, 90)) rb_sb_puts(&tok, ".s");
            if (rb_chance(&r, 10)) rb_mutate(&r, &tok, "A.=_-+/");
        } else {
            rb_sb_put(&tok, payload.p, payload.len);
        }
        a = CW_ARG_STRN(tok.p, tok.len);
        cw_status st = cw_func_key(f, &a, 1, &key);
        cw_value out = { 0 };
        int cst = cw_func_call(f, &a, 1, &out);
        cw_value_free(&out);
        rb_shown sh;
        if (!((st == CW_OK || (st == CW_EINVAL && cw_cache_errmsg(c)[0])) && (cst == CW_OK || cst == CW_EINVAL))) {
            fprintf(stderr, "payload %s\n", rb_show(&sh, payload.p, payload.len));
            fprintf(stderr, "seed=0x%016llx iter=%zu token %s -> key %s, call %s\n", (unsigned long long)r.seed, i,
                    rb_show(&sh, tok.p, tok.len), cw_strerror(st), cw_strerror(cst));
            goto done;
        }
    }
    rc = 0;
done:
    cw_value_free(&key);
    rb_sb_free(&payload);
    rb_sb_free(&tok);
    cw_func_free(f);
    cw_cache_free(c);
    return rc;
}

static int echo_loader(void *ud, const cw_arg *args, size_t nargs, cw_value *out)
{
    (void)ud;
    (void)nargs;
    return cw_value_set(out, args[0].v.s, args[0].len);
}

/* Text arguments are counted strings (CW_ARG_STRN): one with a NUL byte must not share a
 * cache entry with another that differs only after the NUL. */
static int func_nul_in_string_argument(void)
{
    cw_cache *c = NULL;
    CHECK_OK(cw_cache_new_default(&c));
    cw_func *f = CW_FUNC(c, echo_loader, .args = "s", .key = "k:{s}", .ttl = "1h");
    CHECK(f != NULL);
    cw_value v = { 0 };
    CHECK_OK(CW_CALL(f, &v, CW_ARG_STRN("x\0y", 3)));
    CHECK_EQ_INT(v.len, 3);
    CHECK_OK(CW_CALL(f, &v, CW_ARG_STRN("x\0z", 3)));
    CHECK(v.len == 3 && memcmp(v.data, "x\0z", 3) == 0);
    /* Such a string renders as lowercase hex of all its bytes (func.h, CW_T_STR). */
    cw_value key = { 0 };
    cw_arg a = CW_ARG_STRN("x\0y", 3);
    CHECK_OK(cw_func_key(f, &a, 1, &key));
    CHECK(key.len >= 8 && memcmp(key.data + key.len - 8, "k:780079", 8) == 0);
    a = CW_ARG_STRN("x\0", 2);
    CHECK_OK(cw_func_key(f, &a, 1, &key));
    CHECK(key.len >= 6 && memcmp(key.data + key.len - 6, "k:7800", 6) == 0);
    a = CW_ARG_STRN("xy", 2); /* without a NUL: as is */
    CHECK_OK(cw_func_key(f, &a, 1, &key));
    CHECK(key.len >= 4 && memcmp(key.data + key.len - 4, "k:xy", 4) == 0);
    cw_value_free(&key);
    cw_value_free(&v);
    cw_func_free(f);
    cw_cache_free(c);
    return 0;
}

/* A loader whose outcome varies: success, a loader error, or a library code. */
typedef struct flaky {
    rb_rng r;
    int calls;
} flaky;

static int load_flaky(void *ud, const cw_arg *args, size_t nargs, cw_value *out)
{
    flaky *fl = ud;
    (void)args;
    (void)nargs;
    fl->calls++;
    switch (rb_below(&fl->r, 4)) {
    case 0: return CW_USER_ERROR + 1;
    case 1: return CW_EBACKEND;
    default: return cw_value_set(out, "F", 1);
    }
}

static int iter_flaky(void *ud, const cw_arg *args, size_t nargs, cw_emitter *em)
{
    flaky *fl = ud;
    (void)args;
    (void)nargs;
    fl->calls++;
    for (size_t k = rb_below(&fl->r, 4); k; k--) {
        int st = cw_emit(em, "chunk", 5);
        if (st) return st;
    }
    return rb_chance(&fl->r, 25) ? CW_USER_ERROR + 2 : CW_OK;
}

static int chunk_count(void *ud, const void *chunk, size_t len)
{
    (void)chunk;
    (void)len;
    return ++*(int *)ud > 100;
}

/* Every strategy with random (often invalid) options: creation gives CW_OK or CW_EINVAL with
 * a message; calls give the loader's outcome or a strategy's own refusal, never anything else
 * and never a hang (the injected clock moves between calls). */
static int func_options_random(void)
{
    rb_rng r;
    rb_rng_init(&r, __func__);
    cw_fake_clock fc;
    cw_fake_clock_init(&fc);
    cw_cache_options o = { .clock = cw_fake_clock_now, .clock_ud = &fc };
    cw_cache *c = NULL;
    CHECK_OK(cw_cache_new(&c, &o));
    CHECK_OK(cw_cache_setup(c, "mem://", NULL, NULL));
    static const char *const durs[] = { NULL, NULL, "1", "10m", "0.5", "250ms", "0", "-1", "x", "", "1h1h", "0.0001" };
    static const int errs[] = { CW_EBACKEND, CW_USER_ERROR + 1, CW_ETIMEOUT };
    static const char *const tags[] = { "t", "t:{a}", "{nosuch}", "" };
    static const char *const inval[] = { "f:*", "x:{a}", "{" };
    flaky fl;
    rb_rng_init(&fl.r, "func_options_random/loader");
    size_t created = 0;
    for (size_t i = 0; i < rb_scaled(1500); i++) {
        /* Sane options for the strategy, then each one spoilt now and then. */
        cw_func_options fo = { 0 };
        char name[48];
        fo.strategy = (cw_strategy)(rb_chance(&r, 3) ? 12 + (int)rb_below(&r, 3) : (int)rb_below(&r, 12));
        snprintf(name, sizeof name, "%sf%zu", rb_chance(&r, 5) ? "{weird}" : "", i); /* keys of its own */
        fo.name = name;
        fo.args = "a";
        if (fo.strategy == CW_ITERATOR) fo.iter_loader = iter_flaky;
        else fo.loader = load_flaky;
        fo.loader_ud = &fl;
        fo.ttl = "1h";
        fo.period = "1m";
        fo.cache_hits = 3;
        fo.update_after = (int64_t)rb_below(&r, 4);
        fo.limit = 1 + (int64_t)rb_below(&r, 3);
        fo.errors_rate = 1 + (int)rb_below(&r, 99);
        fo.capacity = 1 + (int64_t)rb_below(&r, 10000);
#define SPOIL(r) rb_chance((r), 3)
        if (SPOIL(&r)) fo.args = NULL;
        if (SPOIL(&r)) { fo.loader = NULL; fo.iter_loader = NULL; }
        if (SPOIL(&r)) fo.ttl = RB_PICK(&r, durs);
        if (SPOIL(&r)) fo.ttl_ms = rb_chance(&r, 50) ? CW_NO_EXPIRY : (int64_t)rb_below(&r, 5) - 2;
        if (SPOIL(&r)) fo.lock_ttl = RB_PICK(&r, durs);
        if (SPOIL(&r)) fo.early_ttl = RB_PICK(&r, durs);
        if (SPOIL(&r)) fo.soft_ttl = RB_PICK(&r, durs);
        if (SPOIL(&r)) fo.period = RB_PICK(&r, durs);
        if (SPOIL(&r)) fo.half_open_ttl = RB_PICK(&r, durs);
        if (SPOIL(&r)) fo.time_condition = RB_PICK(&r, durs);
        if (SPOIL(&r)) fo.cache_hits = (int64_t)rb_below(&r, 6) - 2;
        if (SPOIL(&r)) fo.update_after = (int64_t)rb_below(&r, 8) - 2;
        if (SPOIL(&r)) fo.limit = (int64_t)rb_below(&r, 4) - 2;
        if (SPOIL(&r)) fo.errors_rate = rb_chance(&r, 50) ? 0 : 100 + (int)rb_below(&r, 10);
        if (SPOIL(&r)) fo.min_calls = (int64_t)rb_below(&r, 5) - 2;
        if (SPOIL(&r)) fo.half_open_pct = (int)rb_below(&r, 130) - 10;
        if (SPOIL(&r)) fo.capacity = rb_chance(&r, 50) ? -(int64_t)rb_below(&r, 3) : (int64_t)(rb_rnd(&r) >> 20);
        if (SPOIL(&r)) fo.false_positives = (double)rb_below(&r, 130) - 10;
        if (SPOIL(&r)) fo.condition = (cw_condition)(rb_chance(&r, 50) ? 1 : 7);
        if (SPOIL(&r)) fo.codec = (uint8_t)rb_rnd(&r);
        if (SPOIL(&r)) fo.lock = 1;
        if (SPOIL(&r)) fo.no_wait = 1;
        if (SPOIL(&r)) fo.no_single_flight = 1;
        if (SPOIL(&r)) { fo.errors = rb_chance(&r, 80) ? errs : NULL; fo.nerrors = 1 + rb_below(&r, 3); }
        if (SPOIL(&r)) { fo.cache_errors = rb_chance(&r, 80) ? errs : NULL; fo.ncache_errors = 1 + rb_below(&r, 3); }
        if (SPOIL(&r)) fo.only_errors = 1;
        if (SPOIL(&r)) { fo.tags = rb_chance(&r, 90) ? tags + rb_below(&r, 4) : NULL; fo.ntags = 1; }
        if (SPOIL(&r)) { fo.invalidate = rb_chance(&r, 90) ? inval + rb_below(&r, 3) : NULL; fo.ninvalidate = 1; }
#undef SPOIL
        cw_func *f = NULL;
        cw_status st = cw_func_new(&f, c, &fo);
        if (st != CW_OK) {
            RB_EXPECT(&r, i, st == CW_EINVAL && !f && cw_cache_errmsg(c)[0], "strategy %d: cw_func_new -> %s \"%s\"",
                   (int)fo.strategy, cw_strerror(st), cw_cache_errmsg(c));
            continue;
        }
        created++;
        int calls = fo.strategy == CW_BLOOM && fo.capacity > 100000 ? 0 : 4; /* no 512 MiB bitmaps */
        for (int k = 0; k < calls; k++) {
            cw_arg a = CW_ARG_INT((int64_t)rb_below(&r, 3));
            size_t na = fo.args ? 1 : 0;
            int cst;
            if (fo.strategy == CW_ITERATOR) {
                int chunks = 0;
                cst = cw_func_iterate(f, &a, na, chunk_count, &chunks);
            } else {
                cw_value out = { 0 };
                cst = cw_func_call(f, &a, na, &out);
                if (cst == CW_OK && fo.strategy != CW_BLOOM && !fo.only_errors && fo.condition == CW_COND_ALWAYS)
                    RB_EXPECT(&r, i, out.len == 1 && out.data[0] == 'F', "strategy %d: CW_OK with %zu bytes \"%.*s\"",
                           (int)fo.strategy, out.len, (int)out.len, out.data ? (const char *)out.data : "");
                cw_value_free(&out);
            }
            int allowed = cst == CW_OK || cst == CW_USER_ERROR + 1 || cst == CW_USER_ERROR + 2 || cst == CW_EBACKEND ||
                          cst == CW_ELOCKED || cst == CW_ERATELIMIT || cst == CW_ECIRCUITOPEN;
            if (!allowed) {
                fprintf(stderr, "strategy %d ttl %s period %s limit %lld: call -> %s (%d) \"%s\"\n", (int)fo.strategy,
                        fo.ttl ? fo.ttl : "-", fo.period ? fo.period : "-", (long long)fo.limit, cw_strerror(cst), cst,
                        cw_cache_errmsg(c));
                cw_func_free(f);
                RB_FAIL_AT(&r, i, "unexpected status from a cached call");
            }
            cw_fake_clock_advance(&fc, (int64_t)rb_below(&r, 120000));
        }
        cw_func_free(f);
    }
    CHECK(created > 100);
    cw_cache_free(c);
    return 0;
}

/* A bloom filter's bits live in one bitmap, whose indexes every backend (and Redis) caps at
 * 2^32 - 1: a capacity that needs more bits must be refused at creation, not fail later. */
static int func_bloom_capacity_limit(void)
{
    cw_cache *c = NULL;
    CHECK_OK(cw_cache_new_default(&c));
    load_ctx lc = { 0 };
    cw_func_options fo = { .strategy = CW_BLOOM, .loader = load_fixed, .loader_ud = &lc, .args = "a", .ttl = "1h",
                           .capacity = 1000000000 }; /* 1% false positives: 9.6e9 bits */
    cw_func *f = NULL;
    cw_status st = cw_func_new(&f, c, &fo);
    CHECK_ST(st, CW_EINVAL);
    CHECK(f == NULL);
    CHECK(strstr(cw_cache_errmsg(c), "capacity") && strstr(cw_cache_errmsg(c), "false_positives"));
    /* At 10% the same capacity still needs 4.8e9 bits: refused too. */
    fo.false_positives = 10;
    CHECK_ST(cw_func_new(&f, c, &fo), CW_EINVAL);
    /* 4.4e8 elements at 1% need 4.22e9 bits (< 2^32): accepted (nothing is allocated before
     * a call); 4.5e8 need 4.31e9: refused. */
    fo.false_positives = 0;
    fo.capacity = 440000000;
    CHECK_OK(cw_func_new(&f, c, &fo));
    cw_func_free(f);
    f = NULL;
    fo.capacity = 450000000;
    CHECK_ST(cw_func_new(&f, c, &fo), CW_EINVAL);
    cw_func_free(f);
    cw_cache_free(c);
    return 0;
}

static int fmt_fail(void *ud, const char *in, size_t inlen, const char *const *fargs, size_t nfargs, char *buf, size_t size)
{
    (void)ud, (void)in, (void)inlen, (void)fargs, (void)nfargs, (void)buf, (void)size;
    return -1;
}

static int fmt_shrinking(void *ud, const char *in, size_t inlen, const char *const *fargs, size_t nfargs, char *buf,
                         size_t size)
{
    /* Claims more room than it then uses, and fills what it is given. */
    (void)ud, (void)in, (void)inlen, (void)fargs, (void)nfargs;
    if (size < 500) return 499;
    memset(buf, 'x', 10);
    buf[10] = 0;
    return 10;
}

static cw_status codec_fail(void *ud, const void *in, size_t len, cw_value *out)
{
    (void)ud, (void)in, (void)len, (void)out;
    return CW_ECORRUPT;
}

/* Registrations with bad arguments, and user hooks that fail: clear codes, and calls that
 * still answer from the loader. */
static int func_registrations_bad(void)
{
    cw_cache *c = NULL;
    CHECK_OK(cw_cache_new_default(&c));
    CHECK_ST(cw_register_formatter(NULL, "f", 0, 0, fmt_fail, NULL), CW_EINVAL);
    CHECK_ST(cw_register_formatter(c, NULL, 0, 0, fmt_fail, NULL), CW_EINVAL);
    CHECK_ST(cw_register_formatter(c, "1x", 0, 0, fmt_fail, NULL), CW_EINVAL);
    CHECK_ST(cw_register_formatter(c, "a-b", 0, 0, fmt_fail, NULL), CW_EINVAL);
    CHECK_ST(cw_register_formatter(c, "f", 2, 1, fmt_fail, NULL), CW_EINVAL);
    CHECK_ST(cw_register_formatter(c, "f", 0, 0, NULL, NULL), CW_EINVAL);
    CHECK_ST(cw_register_type_formatter(c, (cw_arg_type)42, NULL, NULL, NULL), CW_EINVAL);
    CHECK_ST(cw_register_key_context(c, ""), CW_EINVAL);
    CHECK_ST(cw_register_key_context(c, NULL), CW_EINVAL);
    CHECK_ST(cw_register_codec(c, 7, &(cw_codec){ "x", codec_fail, codec_fail, NULL }), CW_EINVAL);
    CHECK_ST(cw_register_codec(c, 200, NULL), CW_EINVAL);
    CHECK_ST(cw_register_codec(c, 200, &(cw_codec){ "x", NULL, codec_fail, NULL }), CW_EINVAL);
    CHECK_ST(cw_set_default_fail_errors(c, NULL, 2), CW_EINVAL);
    CHECK_ST(cw_key_context_begin(c, 1, NULL, NULL), CW_EINVAL);
    CHECK_ST(cw_key_context_begin(c, 1, (const char *const[]){ "" }, (const char *const[]){ "v" }), CW_EINVAL);
    CHECK_ST(cw_key_context_end(c), CW_ESTATE);
    CHECK_ST(cw_invalidate_further_end(c), CW_ESTATE);
    CHECK_ST(cw_detect_begin(c, NULL), CW_EINVAL);
    CHECK_ST(cw_detect_end(c), CW_ESTATE);
    CHECK(cw_detector_first_hit(NULL) == NULL);
    cw_detector_free(NULL);
    CHECK_ST(cw_register_tag(c, NULL, "k:{a}"), CW_EINVAL);
    CHECK_ST(cw_register_tag(c, "t:{a}", NULL), CW_EINVAL);
    CHECK_ST(cw_register_tag(c, "t:{", "k:{a}"), CW_EINVAL);
    CHECK_ST(cw_check_tags(c, "k", NULL, 1), CW_EINVAL);
    CHECK_ST(cw_delete_tags(c, NULL, 1, NULL), CW_EINVAL);
    CHECK_ST(cw_get_key_tags(c, "k", NULL, NULL), CW_EINVAL);
    int opened = 0;
    cw_status st;
    while ((st = cw_invalidate_further_begin(c)) == CW_OK && opened < 1000) opened++;
    CHECK_ST(st, CW_ENOMEM); /* too deep, not unbounded */
    while (opened--) CHECK_OK(cw_invalidate_further_end(c));
    /* A failing user formatter fails the call with CW_EINVAL; one that misreports its length
     * too; a failing codec (encode and decode) leaves every call to the loader. */
    CHECK_OK(cw_register_formatter(c, "bad", 0, 0, fmt_fail, NULL));
    CHECK_OK(cw_register_formatter(c, "shrink", 0, 0, fmt_shrinking, NULL));
    CHECK_OK(cw_register_codec(c, 200, &(cw_codec){ "failing", codec_fail, codec_fail, NULL }));
    load_ctx lc = { 0 };
    cw_value v = { 0 };
    cw_func *f = CW_FUNC(c, load_fixed, .loader_ud = &lc, .args = "a", .key = "{a:bad}", .ttl = "1h");
    CHECK(f != NULL);
    CHECK_ST(CW_CALL(f, &v, CW_ARG_STR("x")), CW_EINVAL);
    CHECK(cw_cache_errmsg(c)[0]);
    cw_func_free(f);
    f = CW_FUNC(c, load_fixed, .loader_ud = &lc, .args = "a", .key = "{a:shrink}", .ttl = "1h");
    CHECK(f != NULL);
    st = CW_CALL(f, &v, CW_ARG_STR("x"));
    CHECK(st == CW_OK || st == CW_EINVAL);
    cw_func_free(f);
    f = CW_FUNC(c, load_fixed, .loader_ud = &lc, .args = "a", .key = "c:{a}", .ttl = "1h", .codec = 200);
    CHECK(f != NULL);
    lc.calls = 0;
    for (int i = 0; i < 3; i++) {
        CHECK_OK(CW_CALL(f, &v, CW_ARG_INT(1)));
        CHECK_VAL(v, "L");
    }
    CHECK_EQ_INT(lc.calls, 3);
    cw_func_free(f);
    cw_value_free(&v);
    cw_cache_free(c);
    return 0;
}

static const cw_test tests[] = {
    CW_TEST(func_templates_random),
    CW_TEST(func_hand_picked),
    CW_TEST(func_jwt_random_tokens),
    CW_TEST(func_nul_in_string_argument),
    CW_TEST(func_options_random),
    CW_TEST(func_bloom_capacity_limit),
    CW_TEST(func_registrations_bad),
    { 0 },
};

int main(int argc, char **argv) { return cw_test_main(tests, argc, argv); }
