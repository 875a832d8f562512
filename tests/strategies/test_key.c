/* test_key.c - key templates: fields, nested fields, value rendering, built-in formatters,
 * user formatters with arguments, type formatters, key context, and creation-time errors. */
#include <ctype.h>

#include "func_helpers.h"

static int echo(void *ud, const cw_arg *args, size_t nargs, cw_value *out)
{
    (void)ud; (void)args; (void)nargs;
    return cw_value_set(out, "x", 1);
}

/* The key a template gives for these arguments, in *key (or the failure). */
static int key_of(cw_cache *c, const char *argnames, const char *tmpl, const cw_arg *args, size_t n,
                  cw_value *key)
{
    cw_func *f = CW_FUNC(c, echo, .args = argnames, .key = tmpl, .ttl = "1h");
    if (!f) return CW_EINVAL;
    int st = cw_func_key(f, args, n, key);
    cw_func_free(f);
    return st;
}

#define CHECK_KEY(c, names, tmpl, want, ...) do {                                               \
        cw_value k_ = { 0 };                                                                    \
        const cw_arg a_[] = { __VA_ARGS__ };                                                    \
        CHECK_OK(key_of((c), (names), (tmpl), a_, sizeof a_ / sizeof a_[0], &k_));              \
        CHECK_VAL(k_, (want));                                                                  \
        cw_value_free(&k_);                                                                     \
    } while (0)

static int values_render_like_the_seed(void)
{
    cw_fake_clock fc;
    cw_cache *c = helper_cache(&fc);
    CHECK_KEY(c, "a", "k:{a}", "k:me", CW_ARG_STR("me"));
    CHECK_KEY(c, "a", "k:{a}", "k:-42", CW_ARG_INT(-42));
    CHECK_KEY(c, "a", "k:{a}", "k:9223372036854775807", CW_ARG_INT(INT64_MAX));
    CHECK_KEY(c, "a", "k:{a}", "k:-9223372036854775808", CW_ARG_INT(INT64_MIN));
    CHECK_KEY(c, "a", "k:{a}", "k:0.1", CW_ARG_DOUBLE(0.1));
    CHECK_KEY(c, "a", "k:{a}", "k:2.0", CW_ARG_DOUBLE(2.0));
    CHECK_KEY(c, "a", "k:{a}", "k:1e+16", CW_ARG_DOUBLE(1e16));
    CHECK_KEY(c, "a", "k:{a}", "k:-1.5e-07", CW_ARG_DOUBLE(-1.5e-7));
    CHECK_KEY(c, "a", "k:{a}", "k:true", CW_ARG_BOOL(7));
    CHECK_KEY(c, "a", "k:{a}", "k:false", CW_ARG_BOOL(0));
    CHECK_KEY(c, "a", "k:{a}:", "k::", CW_ARG_NULL);
    CHECK_KEY(c, "a", "k:{a}", "k:abc", CW_ARG_BYTES("abc", 3));
    CHECK_KEY(c, "a", "k:{a}", "k:00ff41", CW_ARG_BYTES("\x00\xff" "A", 3));
    CHECK_KEY(c, "a", "k:{a}", "k:ab", CW_ARG_STRN("abcdef", 2));
    CHECK_KEY(c, "a,b", "{b}-{a}-{{x}}", "2-1-{x}", CW_ARG_INT(1), CW_ARG_INT(2));
    CHECK_KEY(c, "a", "{ a }", "7", CW_ARG_INT(7));
    cw_cache_free(c);
    return 0;
}

/* A user object with fields, as the seed's {user.uuid}. */
typedef struct user { const char *uuid, *name; int index; } user;

static int user_text(const void *obj, const char *path, char *buf, size_t size)
{
    const user *u = obj;
    if (!*path) return snprintf(buf, size, "user<%s>", u->uuid);
    if (strcmp(path, "uuid") == 0) return snprintf(buf, size, "%s", u->uuid);
    if (strcmp(path, "name") == 0) return snprintf(buf, size, "%s", u->name);
    if (strcmp(path, "index") == 0) return snprintf(buf, size, "%d", u->index);
    return -1;
}

static const cw_arg_class user_class = { "user", user_text, NULL, NULL };

static int nested_fields_of_objects(void)
{
    cw_fake_clock fc;
    cw_cache *c = helper_cache(&fc);
    user u = { "6f1c", "Dmitry Krukov", 12 };
    CHECK_KEY(c, "user", "user_info:{user.uuid}", "user_info:6f1c", CW_ARG_OBJ(&u, &user_class));
    CHECK_KEY(c, "user", "{user}", "user<6f1c>", CW_ARG_OBJ(&u, &user_class));
    CHECK_KEY(c, "user", "{user.name:lower}", "dmitry krukov", CW_ARG_OBJ(&u, &user_class));
    /* A long field value: the buffer grows past its inline part. */
    char big[600];
    memset(big, 'n', sizeof big - 1);
    big[sizeof big - 1] = 0;
    user v = { "1", big, 0 };
    cw_value k = { 0 };
    CHECK_OK(key_of(c, "user", "k:{user.name}", (cw_arg[]){ CW_ARG_OBJ(&v, &user_class) }, 1, &k));
    CHECK_EQ_INT(k.len, 2 + 599);
    /* Missing fields and fields of non-objects fail at call time with a reason. */
    CHECK_ST(key_of(c, "user", "{user.email}", (cw_arg[]){ CW_ARG_OBJ(&u, &user_class) }, 1, &k), CW_EINVAL);
    CHECK(strstr(cw_cache_errmsg(c), "has no field \"email\""));
    CHECK_ST(key_of(c, "user", "{user.email}", (cw_arg[]){ CW_ARG_INT(1) }, 1, &k), CW_EINVAL);
    CHECK(strstr(cw_cache_errmsg(c), "is a int"));
    cw_value_free(&k);
    cw_cache_free(c);
    return 0;
}

static int builtin_formatters(void)
{
    cw_fake_clock fc;
    cw_cache *c = helper_cache(&fc);
    CHECK_KEY(c, "s", "{s:lower}", "mixed case", CW_ARG_STR("MiXeD Case"));
    CHECK_KEY(c, "s", "{s:upper}", "MIXED CASE", CW_ARG_STR("MiXeD Case"));
    CHECK_KEY(c, "s", "{s:len}", "5", CW_ARG_STR("héllo")); /* characters, not bytes */
    CHECK_KEY(c, "s", "{s:hash}", "1e6947ac7fb3a9529a9726eb692c8cc5", CW_ARG_STR("Secret"));
    CHECK_KEY(c, "s", "{s:hash(md5)}", "1e6947ac7fb3a9529a9726eb692c8cc5", CW_ARG_STR("Secret"));
    CHECK_KEY(c, "s", "{s:hash(sha1)}", "f4e7a8740db0b7a0bfd8e63077261475f61fc2a6", CW_ARG_STR("Secret"));
    CHECK_KEY(c, "s", "{s:hash( sha256 )}", "7e32a729b1226ed1270f282a8c63054d09b26bc9ec53ea69771ce38158dfade8",
              CW_ARG_STR("Secret"));
    const char *jwt = "eyJhbGciOiJIUzI1NiJ9.eyJzdWIiOiAidTEiLCAiY2xpZW50X2lkIjogImNcdTAwZTlcIngiLCAibiI6IDQy"
                      "LCAibmVzdGVkIjogeyJhIjogWzEsIDJdfX0.sig";
    CHECK_KEY(c, "token", "user:{token:jwt(sub)}", "user:u1", CW_ARG_STR(jwt));
    CHECK_KEY(c, "token", "{token:jwt(client_id)}", "c\xc3\xa9\"x", CW_ARG_STR(jwt));
    CHECK_KEY(c, "token", "{token:jwt(n)}", "42", CW_ARG_STR(jwt));
    CHECK_KEY(c, "token", "{token:jwt(nested)}", "{\"a\": [1, 2]}", CW_ARG_STR(jwt));
    CHECK_KEY(c, "token", "[{token:jwt(missing)}]", "[]", CW_ARG_STR(jwt));
    cw_value k = { 0 };
    CHECK_ST(key_of(c, "token", "{token:jwt(sub)}", (cw_arg[]){ CW_ARG_STR("not-a-jwt") }, 1, &k), CW_EINVAL);
    CHECK(strstr(cw_cache_errmsg(c), "not a JWT"));
    CHECK_ST(key_of(c, "token", "{token:jwt(sub)}", (cw_arg[]){ CW_ARG_STR("a.!!!.c") }, 1, &k), CW_EINVAL);
    cw_value_free(&k);
    cw_cache_free(c);
    return 0;
}

/* The seed's example: @default_formatter.register("prefix") def _prefix(value, chars=3). */
static int prefix_fmt(void *ud, const char *in, size_t inlen, const char *const *fargs, size_t nfargs,
                      char *buf, size_t size)
{
    (void)ud;
    size_t chars = nfargs ? (size_t)atoi(fargs[0]) : 3;
    if (chars > inlen) chars = inlen;
    int n = snprintf(buf, size, "%.*s", (int)chars, in);
    for (int i = 0; i < n && (size_t)i < size; i++) buf[i] = (char)toupper((unsigned char)buf[i]);
    return n;
}

static int two_decimals(void *ud, const cw_arg *a, char *buf, size_t size)
{
    (void)ud;
    return snprintf(buf, size, "%.2f", a->v.d);
}

static int user_and_type_formatters(void)
{
    cw_fake_clock fc;
    cw_cache *c = helper_cache(&fc);
    cw_value k = { 0 };
    CHECK_ST(key_of(c, "s", "{s:prefix(4)}", (cw_arg[]){ CW_ARG_STR("dwqsx") }, 1, &k), CW_EINVAL);
    CHECK_OK(cw_register_formatter(c, "prefix", 0, 1, prefix_fmt, NULL));
    CHECK_ST(cw_register_formatter(c, "bad name", 0, 1, prefix_fmt, NULL), CW_EINVAL);
    CHECK_ST(cw_register_formatter(c, "x", 2, 1, prefix_fmt, NULL), CW_EINVAL);
    user u = { "1", "dwqsx", 0 };
    CHECK_KEY(c, "user", "servers-user:{user.name:prefix(4)}", "servers-user:DWQS", CW_ARG_OBJ(&u, &user_class));
    CHECK_KEY(c, "s", "{s:prefix}", "DWQ", CW_ARG_STR("dwqsx"));
    CHECK_ST(key_of(c, "s", "{s:prefix(1,2)}", (cw_arg[]){ CW_ARG_STR("x") }, 1, &k), CW_EINVAL);
    CHECK(strstr(cw_cache_errmsg(c), "takes 0 to 1 arguments, not 2"));
    /* Type formatters: the seed's Decimal quantize example. */
    CHECK_KEY(c, "price", "price-{price}", "price-10.5", CW_ARG_DOUBLE(10.5));
    CHECK_OK(cw_register_type_formatter(c, CW_T_DOUBLE, NULL, two_decimals, NULL));
    CHECK_KEY(c, "price, cur", "price-{price}:{cur:upper}", "price-10.50:USD", CW_ARG_DOUBLE(10.5), CW_ARG_STR("usd"));
    CHECK_KEY(c, "n", "{n}", "3", CW_ARG_INT(3)); /* other types untouched */
    cw_value_free(&k);
    cw_cache_free(c);
    return 0;
}

static int key_context_fills_registered_names(void)
{
    cw_fake_clock fc;
    cw_cache *c = helper_cache(&fc);
    counter n = { 0 };
    /* Not registered: the template is refused at creation. */
    CHECK(CW_FUNC(c, count_loader, .loader_ud = &n, .key = "user:{client_id}", .ttl = "2h") == NULL);
    CHECK(strstr(cw_cache_errmsg(c), "unknown argument \"client_id\""));
    CHECK_OK(cw_register_key_context(c, "client_id"));
    CHECK_OK(cw_register_key_context(c, "client_id"));
    CHECK_ST(cw_register_key_context(c, "9x"), CW_EINVAL);
    cw_func *f = CW_FUNC(c, count_loader, .loader_ud = &n, .key = "user:{client_id}", .ttl = "2h");
    CHECK(f);
    cw_value v = { 0 }, k = { 0 };
    const char *names[] = { "client_id" }, *vals[] = { "135356" }, *inner[] = { "7" };
    CHECK_OK(cw_func_key(f, NULL, 0, &k));
    CHECK_VAL(k, "user:"); /* no context: "" */
    CHECK_OK(cw_key_context_begin(c, 1, names, vals));
    CHECK_OK(cw_func_key(f, NULL, 0, &k));
    CHECK_VAL(k, "user:135356");
    CHECK_OK(cw_func_call(f, NULL, 0, &v));
    CHECK_OK(cw_key_context_begin(c, 1, names, inner)); /* inner scope wins */
    CHECK_OK(cw_func_key(f, NULL, 0, &k));
    CHECK_VAL(k, "user:7");
    CHECK_OK(cw_key_context_end(c));
    CHECK_OK(cw_func_key(f, NULL, 0, &k));
    CHECK_VAL(k, "user:135356");
    CHECK_OK(cw_key_context_end(c));
    CHECK_ST(cw_key_context_end(c), CW_ESTATE);
    CHECK_OK(cw_exists(c, "user:135356"));
    /* Arguments win over the context (the seed merges {**context, **arguments}). */
    cw_func *g = CW_FUNC(c, count_loader, .loader_ud = &n, .args = "client_id", .key = "g:{client_id}", .ttl = "2h");
    CHECK(g);
    CHECK_OK(cw_key_context_begin(c, 1, names, vals));
    CHECK_OK(cw_func_key(g, (cw_arg[]){ CW_ARG_INT(5) }, 1, &k));
    CHECK_VAL(k, "g:5");
    CHECK_OK(cw_key_context_end(c));
    cw_value_free(&v);
    cw_value_free(&k);
    cw_func_free(f);
    cw_func_free(g);
    cw_cache_free(c);
    return 0;
}

static const cw_test tests[] = {
    CW_TEST(values_render_like_the_seed),
    CW_TEST(nested_fields_of_objects),
    CW_TEST(builtin_formatters),
    CW_TEST(user_and_type_formatters),
    CW_TEST(key_context_fills_registered_names),
    { 0 },
};

int main(int argc, char **argv) { return cw_test_main(tests, argc, argv); }
