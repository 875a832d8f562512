/* test_http.c - the HTTP helper (src/contrib/http.c) driven as a server drives it, on a
 * mem:// cache with a fake clock: ETags and 304s before and after the handler, request
 * Cache-Control, cache_control_ttl, Clear-Site-Data, X-From-Cache, cached streams. */
#include <stdatomic.h>
#include <strings.h>

#include "cw_test.h"

/* ---- a tiny server: request headers, a cached user function, a cached stream ---- */

typedef struct req {
    const char *name[4];
    const char *value[4];
} req;

static const char *get_header(void *ud, const char *name, size_t *len)
{
    const req *r = ud;
    for (int i = 0; r && i < 4 && r->name[i]; i++)
        if (strcasecmp(r->name[i], name) == 0) {
            *len = strlen(r->value[i]);
            return r->value[i];
        }
    return NULL;
}

typedef struct app {
    cw_fake_clock fc;
    cw_cache *c;
    cw_http *h;
    cw_func *user, *pages, *ttl_user;
    atomic_int loads, streams;
    const char *id;     /* the request's argument */
    int nchunks;
    char got[256];      /* what the stream consumer received */
    int fail;           /* the user loader fails with this */
} app;

static int load_user(void *ud, const cw_arg *args, size_t nargs, cw_value *out)
{
    app *a = ud;
    int k = atomic_fetch_add(&a->loads, 1) + 1;
    if (a->fail) return a->fail;
    char buf[512];
    int n = snprintf(buf, sizeof buf, "{\"id\":\"%s\",\"load\":%d}", args[0].v.s, k);
    return n < 0 || (size_t)n >= sizeof buf ? CW_EINVAL : cw_value_set(out, buf, (size_t)n);
}

static int load_pages(void *ud, const cw_arg *args, size_t nargs, cw_emitter *em)
{
    app *a = ud;
    int k = atomic_fetch_add(&a->streams, 1) + 1;
    for (int i = 0; i < a->nchunks; i++) {
        char buf[64];
        int n = snprintf(buf, sizeof buf, "[%s %d/%d #%d]", args[0].v.s, i, a->nchunks, k);
        int st = cw_emit(em, buf, (size_t)n);
        if (st) return st;
    }
    return CW_OK;
}

static const cw_http_ttl control_ttl = { CW_MINUTES(4), CW_HOURS(1) };

static app *app_new(const cw_http_options *ho)
{
    app *a = calloc(1, sizeof *a);
    if (!a) return NULL;
    cw_fake_clock_init(&a->fc);
    cw_cache_options o = { .clock = cw_fake_clock_now, .clock_ud = &a->fc };
    a->nchunks = 3;
    if (cw_cache_new(&a->c, &o) || cw_cache_setup(a->c, "mem://", NULL, NULL) || cw_http_new(&a->h, a->c, ho))
        return NULL;
    a->user = CW_FUNC(a->c, load_user, .loader_ud = a, .args = "id", .key = "user:{id}", .ttl = "1m");
    a->ttl_user = CW_FUNC(a->c, load_user, .loader_ud = a, .args = "id", .key = "tuser:{id}",
                          .ttl_fn = cw_http_ttl_fn, .ttl_ud = (void *)&control_ttl);
    a->pages = cw_func_make(a->c, &(cw_func_options){ .strategy = CW_ITERATOR, .iter_loader = load_pages,
                                                      .loader_ud = a, .args = "id", .key = "pages:{id}",
                                                      .ttl = "10m" });
    return a->user && a->pages && a->ttl_user ? a : NULL;
}

static void app_free(app *a)
{
    if (!a) return;
    cw_func_free(a->user);
    cw_func_free(a->ttl_user);
    cw_func_free(a->pages);
    cw_http_free(a->h);
    cw_cache_free(a->c);
    free(a);
}

static int user_handler_with(app *a, cw_func *f, cw_http_exchange *x)
{
    cw_value v = { 0 };
    int st = CW_CALL(f, &v, CW_ARG_STR(a->id));
    if (st == CW_OK) st = cw_http_body(x, v.data, v.len);
    cw_value_free(&v);
    return st;
}
static int user_handler(void *ud, cw_http_exchange *x) { return user_handler_with(ud, ((app *)ud)->user, x); }
static int ttl_handler(void *ud, cw_http_exchange *x) { return user_handler_with(ud, ((app *)ud)->ttl_user, x); }

static int collect(void *ud, const void *chunk, size_t len)
{
    app *a = ud;
    size_t n = strlen(a->got);
    snprintf(a->got + n, sizeof a->got - n, "%.*s", (int)len, (const char *)chunk);
    return 0;
}

static int stream_handler(void *ud, cw_http_exchange *x)
{
    app *a = ud;
    a->got[0] = 0;
    return cw_http_iterate(x, a->pages, (cw_arg[]){ CW_ARG_STR(a->id) }, 1, collect, a);
}

/* One GET of @target with @r's headers: begin, and run @fn when the helper says to serve. */
static cw_http_exchange *get(app *a, const char *target, req *r, cw_http_handler_fn fn)
{
    cw_http_exchange *x = NULL;
    cw_http_request rq = { .method = "GET", .target = target, .header = get_header, .header_ud = r };
    if (cw_http_begin(a->h, &rq, &x) != CW_OK) return NULL;
    int rc = -1;
    if (cw_http_exchange_action(x) == CW_HTTP_SERVE && (cw_http_run(x, fn, a, &rc) != CW_OK || rc != 0)) {
        fprintf(stderr, "handler failed: %d\n", rc);
        cw_http_exchange_free(x);
        return NULL;
    }
    return x;
}

/* A served request with no headers whose response is not needed: 0, or -1. */
static int prime(app *a, const char *target, cw_http_handler_fn fn)
{
    cw_http_exchange *x = get(a, target, NULL, fn);
    cw_http_exchange_free(x);
    return x ? 0 : -1;
}

/* app_new() with the request argument @id set. */
static app *app_for(const char *id, const cw_http_options *ho)
{
    app *a = app_new(ho);
    if (a) a->id = id;
    return a;
}

/* The value of response header @name, or NULL. */
static const char *hdr(const cw_http_exchange *x, const char *name)
{
    size_t n;
    const cw_http_header *h = cw_http_headers(x, &n);
    for (size_t i = 0; i < n; i++)
        if (strcasecmp(h[i].name, name) == 0) return h[i].value;
    return NULL;
}

static int nheaders(const cw_http_exchange *x)
{
    size_t n;
    cw_http_headers(x, &n);
    return (int)n;
}

/* ---- tests ---- */

static int etag_then_304_without_the_handler(void)
{
    app *a = app_for("42", NULL);
    CHECK(a);
    cw_http_exchange *x = get(a, "/user/42", NULL, user_handler);
    CHECK(x);
    CHECK_EQ_INT(cw_http_exchange_action(x), CW_HTTP_SERVE);
    CHECK_EQ_INT(atomic_load(&a->loads), 1);
    char want[CW_HTTP_ETAG_SIZE];
    const char *body = "{\"id\":\"42\",\"load\":1}";
    CHECK_OK(cw_http_etag_of(body, strlen(body), want));
    CHECK_STR(hdr(x, "ETag"), want);
    CHECK_STR(hdr(x, "Cache-Control"), "private, max-age=60");
    CHECK(!hdr(x, "X-From-Cache")); /* a miss */
    cw_http_exchange_free(x);

    /* the same tag, strong or weak, in a list: 304 before the handler */
    char weak[64];
    snprintf(weak, sizeof weak, "\"nope\", W/%s", want);
    const char *tags[] = { want, weak, "*" };
    for (int i = 0; i < 3; i++) {
        req r = { { "if-none-match" }, { tags[i] } };
        CHECK((x = get(a, "/user/42", &r, user_handler)));
        CHECK_EQ_INT(cw_http_exchange_action(x), CW_HTTP_NOT_MODIFIED);
        CHECK_STR(hdr(x, "ETag"), want);
        CHECK_STR(hdr(x, "Cache-Control"), "private, max-age=60");
        CHECK_STR(hdr(x, "X-From-Cache"), "user:42");
        CHECK_STR(hdr(x, "X-From-Cache-Expire-In-Seconds"), "60");
        int rc = 0;
        CHECK_ST(cw_http_run(x, user_handler, a, &rc), CW_ESTATE); /* nothing to run */
        cw_http_exchange_free(x);
    }
    CHECK_EQ_INT(atomic_load(&a->loads), 1);

    /* another tag: served from the cache, with the same ETag */
    cw_fake_clock_advance(&a->fc, 15000);
    req r = { { "If-None-Match" }, { "\"0000\"" } };
    CHECK((x = get(a, "/user/42", &r, user_handler)));
    CHECK_EQ_INT(cw_http_exchange_action(x), CW_HTTP_SERVE);
    CHECK_STR(hdr(x, "ETag"), want);
    CHECK_STR(hdr(x, "X-From-Cache"), "user:42");
    CHECK_STR(hdr(x, "X-From-Cache-Expire-In-Seconds"), "45");
    CHECK_STR(hdr(x, "Cache-Control"), "private, max-age=45");
    CHECK_EQ_INT(atomic_load(&a->loads), 1);
    cw_http_exchange_free(x);

    /* the cached value changes: the old tag no longer gives a 304 */
    CHECK_OK(cw_set(a->c, "user:42", "other", 5, CW_MINUTES(1)));
    req old = { { "If-None-Match" }, { want } };
    CHECK((x = get(a, "/user/42", &old, user_handler)));
    CHECK_EQ_INT(cw_http_exchange_action(x), CW_HTTP_SERVE);
    CHECK_OK(cw_http_etag_of("other", 5, want));
    CHECK_STR(hdr(x, "ETag"), want);
    cw_http_exchange_free(x);
    /* ... and expired: nothing to compare, the handler runs */
    cw_fake_clock_advance(&a->fc, CW_MINUTES(2));
    req now = { { "If-None-Match" }, { want } };
    CHECK((x = get(a, "/user/42", &now, user_handler)));
    CHECK_EQ_INT(atomic_load(&a->loads), 2);
    CHECK_EQ_INT(cw_http_exchange_action(x), CW_HTTP_SERVE);
    cw_http_exchange_free(x);
    app_free(a);
    return 0;
}

static int etags_agree_across_helpers_and_caches(void)
{
    /* two servers behind a load balancer: separate caches, same value, same tag */
    app *a = app_new(NULL), *b = app_new(&(cw_http_options){ .prefix = "other" });
    CHECK(a && b);
    a->id = b->id = "7";
    cw_http_exchange *x = get(a, "/user/7", NULL, user_handler);
    cw_http_exchange *y = get(b, "/user/7", NULL, user_handler);
    CHECK(x && y);
    CHECK(hdr(x, "ETag"));
    CHECK_STR(hdr(x, "ETag"), hdr(y, "ETag"));
    CHECK_OK(cw_exists(b->c, "other:res:/user/7"));
    CHECK_ST(cw_exists(b->c, "http:res:/user/7"), CW_NOTFOUND);
    cw_http_exchange_free(x);
    cw_http_exchange_free(y);
    app_free(a);
    app_free(b);
    return 0;
}

static int late_304_after_the_handler(void)
{
    app *a = app_for("1", NULL);
    CHECK(a);
    cw_http_exchange *x = get(a, NULL, NULL, user_handler); /* no target: no record */
    CHECK(x);
    char tag[CW_HTTP_ETAG_SIZE];
    snprintf(tag, sizeof tag, "%s", hdr(x, "ETag"));
    cw_http_exchange_free(x);
    req r = { { "If-None-Match" }, { tag } };
    CHECK((x = get(a, NULL, &r, user_handler)));
    CHECK_EQ_INT(cw_http_exchange_action(x), CW_HTTP_NOT_MODIFIED); /* decided after the handler */
    CHECK_STR(hdr(x, "X-From-Cache"), "user:1");
    CHECK_EQ_INT(atomic_load(&a->loads), 1);
    cw_http_exchange_free(x);
    app_free(a);
    return 0;
}

static int wrap_handler(void *ud, cw_http_exchange *x)
{
    app *a = ud;
    cw_value v = { 0 };
    int st = CW_CALL(a->user, &v, CW_ARG_STR(a->id));
    if (st == CW_OK) {
        char body[160];
        int n = snprintf(body, sizeof body, "[%.*s]", (int)v.len, (const char *)v.data);
        st = cw_http_body(x, body, (size_t)n);
    }
    cw_value_free(&v);
    return st;
}

static int a_transformed_body_gets_its_304_after_the_handler(void)
{
    app *a = app_for("w", NULL);
    CHECK(a);
    cw_http_exchange *x = get(a, "/wrapped/w", NULL, wrap_handler);
    CHECK(x);
    char want[CW_HTTP_ETAG_SIZE];
    const char *body = "[{\"id\":\"w\",\"load\":1}]";
    CHECK_OK(cw_http_etag_of(body, strlen(body), want));
    CHECK_STR(hdr(x, "ETag"), want); /* the tag of what was sent */
    cw_http_exchange_free(x);
    req r = { { "If-None-Match" }, { want } };
    cw_http_request rq = { .target = "/wrapped/w", .header = get_header, .header_ud = &r };
    CHECK_OK(cw_http_begin(a->h, &rq, &x));
    CHECK_EQ_INT(cw_http_exchange_action(x), CW_HTTP_SERVE); /* the cached bytes differ from the body */
    int rc = -1;
    CHECK_OK(cw_http_run(x, wrap_handler, a, &rc));
    CHECK_EQ_INT(cw_http_exchange_action(x), CW_HTTP_NOT_MODIFIED);
    CHECK_EQ_INT(atomic_load(&a->loads), 1);
    cw_http_exchange_free(x);
    app_free(a);
    return 0;
}

static int no_cache_reloads_and_stores(void)
{
    app *a = app_for("5", NULL);
    CHECK(a);
    CHECK_EQ_INT(prime(a, "/user/5", user_handler), 0);
    cw_http_exchange *x = NULL;
    const char *forms[] = { "no-cache", "max-age=0", "public, NO-CACHE" };
    for (int i = 0; i < 3; i++) {
        req r = { { "Cache-Control" }, { forms[i] } };
        CHECK((x = get(a, "/user/5", &r, user_handler)));
        CHECK_EQ_INT(atomic_load(&a->loads), 2 + i);
        CHECK(!hdr(x, "X-From-Cache"));
        CHECK_STR(hdr(x, "Cache-Control"), "private, max-age=60");
        cw_http_exchange_free(x);
    }
    /* the fresh value was stored: a plain request hits it */
    cw_value v = { 0 };
    CHECK_OK(cw_get(a->c, "user:5", &v));
    CHECK_VAL(v, "{\"id\":\"5\",\"load\":4}");
    cw_value_free(&v);
    CHECK((x = get(a, "/user/5", NULL, user_handler)));
    CHECK_EQ_INT(atomic_load(&a->loads), 4);
    CHECK_STR(hdr(x, "X-From-Cache"), "user:5");
    cw_http_exchange_free(x);
    /* no-cache also skips the early 304 */
    CHECK((x = get(a, "/user/5", NULL, user_handler)));
    char tag[CW_HTTP_ETAG_SIZE];
    snprintf(tag, sizeof tag, "%s", hdr(x, "ETag"));
    cw_http_exchange_free(x);
    req r = { { "Cache-Control", "If-None-Match" }, { "no-cache", tag } };
    CHECK((x = get(a, "/user/5", &r, user_handler)));
    CHECK_EQ_INT(atomic_load(&a->loads), 5);
    CHECK_EQ_INT(cw_http_exchange_action(x), CW_HTTP_SERVE); /* a new body, another tag */
    cw_http_exchange_free(x);
    app_free(a);
    return 0;
}

static int no_store_neither_reads_nor_writes(void)
{
    app *a = app_for("9", NULL);
    CHECK(a);
    CHECK_EQ_INT(prime(a, "/user/9", user_handler), 0);
    cw_http_exchange *x = NULL;
    req r = { { "Cache-Control" }, { "no-store" } };
    CHECK((x = get(a, "/user/9", &r, user_handler)));
    CHECK_EQ_INT(atomic_load(&a->loads), 2);
    CHECK_STR(hdr(x, "Cache-Control"), "no-store");
    CHECK(hdr(x, "ETag")); /* a validator of the body all the same */
    CHECK(!hdr(x, "X-From-Cache"));
    cw_http_exchange_free(x);
    cw_value v = { 0 };
    CHECK_OK(cw_get(a->c, "user:9", &v));
    CHECK_VAL(v, "{\"id\":\"9\",\"load\":1}"); /* not replaced */
    cw_value_free(&v);
    /* on a key never cached: nothing is stored */
    a->id = "10";
    CHECK((x = get(a, "/user/10", &r, user_handler)));
    cw_http_exchange_free(x);
    CHECK_ST(cw_exists(a->c, "user:10"), CW_NOTFOUND);
    CHECK_ST(cw_exists(a->c, "http:res:/user/10"), CW_NOTFOUND);
    /* the thread's commands work again afterwards */
    CHECK_EQ_INT(cw_cache_is_enabled(a->c, CW_CMD_GET), 1);
    app_free(a);
    return 0;
}

static int max_age_refuses_older_values(void)
{
    app *a = app_for("3", NULL);
    CHECK(a);
    CHECK_EQ_INT(prime(a, "/user/3", user_handler), 0);
    cw_http_exchange *x = NULL;
    cw_fake_clock_advance(&a->fc, 30000);
    req young = { { "Cache-Control" }, { "max-age=31" } };
    CHECK((x = get(a, "/user/3", &young, user_handler)));
    CHECK_EQ_INT(atomic_load(&a->loads), 1); /* 30 s old, 31 allowed */
    CHECK_STR(hdr(x, "X-From-Cache"), "user:3");
    cw_http_exchange_free(x);
    req old = { { "Cache-Control" }, { "max-age=29" } };
    CHECK((x = get(a, "/user/3", &old, user_handler)));
    CHECK_EQ_INT(atomic_load(&a->loads), 2); /* too old: reloaded and stored */
    CHECK(!hdr(x, "X-From-Cache"));
    cw_http_exchange_free(x);
    cw_fake_clock_advance(&a->fc, 5000);
    CHECK((x = get(a, "/user/3", &old, user_handler)));
    CHECK_EQ_INT(atomic_load(&a->loads), 2); /* the reload is 5 s old */
    cw_http_exchange_free(x);
    /* a value the helper never saw stored has an unknown age: refreshed */
    a->id = "4";
    cw_value v = { 0 };
    CHECK_OK(CW_CALL(a->user, &v, CW_ARG_STR("4")));
    cw_value_free(&v);
    CHECK((x = get(a, "/user/4", &old, user_handler)));
    CHECK_EQ_INT(atomic_load(&a->loads), 4);
    cw_http_exchange_free(x);
    /* without a target, likewise */
    CHECK((x = get(a, NULL, &young, user_handler)));
    CHECK_EQ_INT(atomic_load(&a->loads), 5);
    cw_http_exchange_free(x);
    app_free(a);
    return 0;
}

static int record_estimates_the_age_of_hits_it_did_not_see_stored(void)
{
    app *a = app_for("8", NULL);
    CHECK(a);
    cw_value v = { 0 };
    CHECK_OK(CW_CALL(a->user, &v, CW_ARG_STR("8"))); /* stored outside HTTP */
    cw_value_free(&v);
    cw_fake_clock_advance(&a->fc, 20000);
    cw_http_exchange *x = get(a, "/user/8", NULL, user_handler); /* a hit; the record is written */
    CHECK_STR(hdr(x, "X-From-Cache"), "user:8");
    cw_http_exchange_free(x);
    req r25 = { { "Cache-Control" }, { "max-age=25" } }, r15 = { { "Cache-Control" }, { "max-age=15" } };
    CHECK((x = get(a, "/user/8", &r25, user_handler)));
    CHECK_EQ_INT(atomic_load(&a->loads), 1); /* 20 s old by the TTL left */
    cw_http_exchange_free(x);
    CHECK((x = get(a, "/user/8", &r15, user_handler)));
    CHECK_EQ_INT(atomic_load(&a->loads), 2);
    cw_http_exchange_free(x);
    app_free(a);
    return 0;
}

static int cache_control_ttl_within_its_bound(void)
{
    app *a = app_new(NULL);
    CHECK(a);
    int64_t left = 0;
    a->id = "a";
    cw_http_exchange *x = get(a, "/t/a", NULL, ttl_handler);
    cw_http_exchange_free(x);
    CHECK_OK(cw_get_expire(a->c, "tuser:a", &left));
    CHECK_EQ_INT(left, CW_MINUTES(4)); /* the default */
    a->id = "b";
    req r = { { "Cache-Control" }, { "max-age=600" } };
    CHECK((x = get(a, "/t/b", &r, ttl_handler)));
    CHECK_STR(hdr(x, "Cache-Control"), "private, max-age=600");
    cw_http_exchange_free(x);
    CHECK_OK(cw_get_expire(a->c, "tuser:b", &left));
    CHECK_EQ_INT(left, CW_MINUTES(10)); /* the request's choice */
    a->id = "c";
    req big = { { "Cache-Control" }, { "max-age=99999999999" } };
    CHECK((x = get(a, "/t/c", &big, ttl_handler)));
    cw_http_exchange_free(x);
    CHECK_OK(cw_get_expire(a->c, "tuser:c", &left));
    CHECK_EQ_INT(left, CW_HOURS(1)); /* the bound */
    /* outside a run: the default; bad bounds */
    int64_t ttl = 0;
    CHECK_OK(cw_http_ttl_fn((void *)&control_ttl, NULL, 0, &ttl));
    CHECK_EQ_INT(ttl, CW_MINUTES(4));
    CHECK_ST(cw_http_ttl_fn(NULL, NULL, 0, &ttl), CW_EINVAL);
    cw_http_ttl zero = { 0, 0 };
    CHECK_ST(cw_http_ttl_fn(&zero, NULL, 0, &ttl), CW_EINVAL);
    cw_http_ttl shorten_only = { CW_MINUTES(1), 0 };
    CHECK_OK(cw_http_ttl_fn(&shorten_only, NULL, 0, &ttl));
    CHECK_EQ_INT(ttl, CW_MINUTES(1));
    app_free(a);
    return 0;
}

static int clear_site_data_deletes_what_the_endpoint_cached(void)
{
    app *a = app_for("6", NULL);
    CHECK(a);
    CHECK_EQ_INT(prime(a, "/user/6", user_handler), 0);
    cw_http_exchange *x = NULL;
    CHECK_OK(cw_exists(a->c, "user:6"));
    CHECK_OK(cw_set(a->c, "user:61", "keep", 4, CW_MINUTES(1)));
    req r = { { "Clear-Site-Data" }, { "\"cookies\", \"cache\"" } };
    CHECK((x = get(a, "/user/6", &r, user_handler)));
    CHECK_STR(hdr(x, "X-Cache-Cleared"), "1");
    CHECK_STR(hdr(x, "Cache-Control"), "no-cache");
    CHECK(!hdr(x, "X-From-Cache"));
    CHECK_EQ_INT(atomic_load(&a->loads), 2); /* the clearing request got a fresh value */
    cw_http_exchange_free(x);
    CHECK_ST(cw_exists(a->c, "user:6"), CW_NOTFOUND);
    CHECK_ST(cw_exists(a->c, "http:res:/user/6"), CW_NOTFOUND);
    CHECK_OK(cw_exists(a->c, "user:61")); /* another endpoint's key stays */
    /* the next request is a miss */
    CHECK((x = get(a, "/user/6", NULL, user_handler)));
    CHECK_EQ_INT(atomic_load(&a->loads), 3);
    CHECK(!hdr(x, "X-From-Cache"));
    cw_http_exchange_free(x);
    /* switched off: an ordinary request */
    cw_http *off = NULL;
    CHECK_OK(cw_http_new(&off, a->c, &(cw_http_options){ .disable = CW_HTTP_NO_CLEAR }));
    cw_http *keep = a->h;
    a->h = off;
    CHECK((x = get(a, "/user/6", &r, user_handler)));
    CHECK(!hdr(x, "X-Cache-Cleared"));
    CHECK_EQ_INT(atomic_load(&a->loads), 3);
    cw_http_exchange_free(x);
    a->h = keep;
    cw_http_free(off);
    app_free(a);
    return 0;
}

static int streams_get_an_etag_once_cached(void)
{
    app *a = app_for("s", NULL);
    CHECK(a);
    cw_http_exchange *x = get(a, "/stream/s", NULL, stream_handler);
    CHECK(x);
    CHECK_STR(a->got, "[s 0/3 #1][s 1/3 #1][s 2/3 #1]");
    CHECK(!hdr(x, "ETag")); /* its headers left before it existed */
    cw_http_exchange_free(x);
    char want[CW_HTTP_ETAG_SIZE];
    CHECK_OK(cw_http_etag_of(a->got, strlen(a->got), want));

    /* replayed: begin announces the tag of the cached chunks, and the replay matches it */
    cw_http_request rq = { .target = "/stream/s" };
    CHECK_OK(cw_http_begin(a->h, &rq, &x));
    CHECK_EQ_INT(cw_http_exchange_action(x), CW_HTTP_SERVE);
    CHECK_STR(hdr(x, "ETag"), want);
    CHECK_STR(hdr(x, "X-From-Cache"), "pages:s");
    CHECK_STR(hdr(x, "Cache-Control"), "private, max-age=600");
    int n0 = nheaders(x), rc = -1;
    CHECK_OK(cw_http_run(x, stream_handler, a, &rc));
    CHECK_EQ_INT(rc, 0);
    CHECK_EQ_INT(cw_http_exchange_action(x), CW_HTTP_SERVE);
    CHECK_STR(a->got, "[s 0/3 #1][s 1/3 #1][s 2/3 #1]");
    CHECK_EQ_INT(atomic_load(&a->streams), 1);
    CHECK_EQ_INT(nheaders(x), n0); /* the headers stay those sent */
    cw_http_exchange_free(x);

    /* If-None-Match: 304 without replaying */
    req r = { { "If-None-Match" }, { want } };
    CHECK((x = get(a, "/stream/s", &r, stream_handler)));
    CHECK_EQ_INT(cw_http_exchange_action(x), CW_HTTP_NOT_MODIFIED);
    cw_http_exchange_free(x);

    /* the cache changes between the announcement and the replay: abort */
    CHECK_OK(cw_http_begin(a->h, &rq, &x));
    CHECK_STR(hdr(x, "ETag"), want);
    CHECK_OK(cw_set(a->c, "pages:s:1", "changed", 7, CW_MINUTES(10)));
    CHECK_OK(cw_http_run(x, stream_handler, a, &rc));
    CHECK_STR(a->got, "[s 0/3 #1]changed[s 2/3 #1]");
    CHECK_EQ_INT(cw_http_exchange_action(x), CW_HTTP_ABORT);
    cw_http_exchange_free(x);
    /* a missing chunk: no tag announced (the stream is not whole in the cache) */
    CHECK_OK(cw_delete(a->c, "pages:s:2"));
    CHECK_OK(cw_http_begin(a->h, &rq, &x));
    CHECK(!hdr(x, "ETag"));
    cw_http_exchange_free(x);
    app_free(a);
    return 0;
}

static int clear_site_data_deletes_a_streams_chunks(void)
{
    app *a = app_for("z", NULL);
    CHECK(a);
    CHECK_EQ_INT(prime(a, "/stream/z", stream_handler), 0);
    cw_http_exchange *x = NULL;
    CHECK_OK(cw_exists(a->c, "pages:z:2"));
    req r = { { "Clear-Site-Data" }, { "\"cache\"" } };
    CHECK((x = get(a, "/stream/z", &r, stream_handler)));
    CHECK_EQ_INT(atomic_load(&a->streams), 2);
    cw_http_exchange_free(x);
    const char *keys[] = { "pages:z", "pages:z:0", "pages:z:1", "pages:z:2", "http:res:/stream/z" };
    for (int i = 0; i < 5; i++) CHECK_ST(cw_exists(a->c, keys[i]), CW_NOTFOUND);
    app_free(a);
    return 0;
}

static int from_cache_header_cannot_carry_a_line_break(void)
{
    app *a = app_for("x\r\nSet-Cookie: a=1%", NULL);
    CHECK(a);
    CHECK_EQ_INT(prime(a, "/u", user_handler), 0);
    cw_http_exchange *x = NULL;
    CHECK((x = get(a, "/u", NULL, user_handler)));
    CHECK_STR(hdr(x, "X-From-Cache"), "user:x%0D%0ASet-Cookie: a=1%25");
    cw_http_exchange_free(x);
    /* a key longer than the helper's formatting buffer comes whole */
    char id[301], want[310];
    memset(id, 'k', 300);
    id[300] = 0;
    snprintf(want, sizeof want, "user:%s", id);
    a->id = id;
    CHECK_EQ_INT(prime(a, "/long-key", user_handler), 0);
    CHECK((x = get(a, "/long-key", NULL, user_handler)));
    CHECK_STR(hdr(x, "X-From-Cache"), want);
    cw_http_exchange_free(x);
    app_free(a);
    return 0;
}

static int options_visibility_and_switches(void)
{
    app *a = app_for("p", &(cw_http_options){ .visibility = CW_HTTP_PUBLIC });
    CHECK(a);
    cw_http_exchange *x = get(a, "/p", NULL, user_handler);
    CHECK_STR(hdr(x, "Cache-Control"), "public, max-age=60");
    cw_http_exchange_free(x);
    app_free(a);

    a = app_new(&(cw_http_options){ .visibility = CW_HTTP_NO_STORE,
                                    .disable = CW_HTTP_NO_FROM_CACHE | CW_HTTP_NO_ETAG });
    CHECK(a);
    a->id = "p";
    x = get(a, "/p", NULL, user_handler);
    cw_http_exchange_free(x);
    req r = { { "If-None-Match" }, { "*" } };
    CHECK((x = get(a, "/p", &r, user_handler)));
    CHECK_EQ_INT(cw_http_exchange_action(x), CW_HTTP_SERVE); /* If-None-Match ignored */
    CHECK_STR(hdr(x, "Cache-Control"), "no-store");
    CHECK(!hdr(x, "X-From-Cache"));
    CHECK(!hdr(x, "ETag"));
    cw_http_exchange_free(x);
    app_free(a);

    a = app_new(&(cw_http_options){ .disable = CW_HTTP_NO_REQUEST_CONTROL | CW_HTTP_NO_CACHE_CONTROL });
    CHECK(a);
    a->id = "q";
    x = get(a, "/q", NULL, user_handler);
    cw_http_exchange_free(x);
    req nc = { { "Cache-Control" }, { "no-store" } };
    CHECK((x = get(a, "/q", &nc, user_handler)));
    CHECK_EQ_INT(atomic_load(&a->loads), 1); /* the request's no-store is ignored */
    CHECK(!hdr(x, "Cache-Control"));
    cw_http_exchange_free(x);
    app_free(a);

    cw_cache *c = cw_test_cache("mem://", NULL);
    cw_http *h = NULL;
    CHECK_ST(cw_http_new(&h, c, &(cw_http_options){ .prefix = "" }), CW_EINVAL);
    CHECK_ST(cw_http_new(&h, c, &(cw_http_options){ .visibility = (cw_http_visibility)7 }), CW_EINVAL);
    CHECK_ST(cw_http_new(&h, NULL, NULL), CW_EINVAL);
    CHECK_ST(cw_http_new(NULL, c, NULL), CW_EINVAL);
    CHECK(!h);
    cw_http_free(NULL);
    cw_cache_free(c);
    return 0;
}

static int other_methods_and_failures_pass_through(void)
{
    app *a = app_for("m", NULL);
    CHECK(a);
    cw_http_exchange *x = NULL;
    req r = { { "Cache-Control", "Clear-Site-Data" }, { "no-store", "\"cache\"" } };
    cw_http_request rq = { .method = "POST", .target = "/user/m", .header = get_header, .header_ud = &r };
    CHECK_OK(cw_http_begin(a->h, &rq, &x));
    int rc = -1;
    CHECK_OK(cw_http_run(x, user_handler, a, &rc));
    CHECK_EQ_INT(rc, 0);
    CHECK_EQ_INT(nheaders(x), 0);
    CHECK_OK(cw_exists(a->c, "user:m")); /* stored: no-store and clearing are GET's */
    CHECK_ST(cw_http_run(x, user_handler, a, &rc), CW_ESTATE);
    cw_http_exchange_free(x);

    /* a failing handler: its error comes back, and no headers */
    a->fail = CW_USER_ERROR + 1;
    a->id = "f";
    rq = (cw_http_request){ .target = "/user/f" };
    CHECK_OK(cw_http_begin(a->h, &rq, &x));
    CHECK_OK(cw_http_run(x, user_handler, a, &rc));
    CHECK_EQ_INT(rc, CW_USER_ERROR + 1);
    CHECK_EQ_INT(nheaders(x), 0);
    CHECK_ST(cw_exists(a->c, "http:res:/user/f"), CW_NOTFOUND);
    cw_http_exchange_free(x);

    /* misuse */
    CHECK_ST(cw_http_begin(a->h, &rq, NULL), CW_EINVAL);
    CHECK_ST(cw_http_begin(NULL, &rq, &x), CW_EINVAL);
    CHECK(!x);
    CHECK_ST(cw_http_begin(a->h, NULL, &x), CW_EINVAL);
    CHECK_OK(cw_http_begin(a->h, &rq, &x));
    CHECK_ST(cw_http_body(x, "a", 1), CW_ESTATE);
    CHECK_ST(cw_http_body(x, NULL, 1), CW_EINVAL);
    CHECK_ST(cw_http_iterate(x, a->pages, (cw_arg[]){ CW_ARG_STR("a") }, 1, collect, a), CW_ESTATE);
    CHECK_ST(cw_http_run(x, NULL, a, &rc), CW_EINVAL);
    CHECK_ST(cw_http_run(NULL, user_handler, a, &rc), CW_EINVAL);
    size_t n = 7;
    CHECK(!cw_http_headers(NULL, &n));
    CHECK_EQ_INT(n, 0);
    CHECK_EQ_INT(cw_http_exchange_action(NULL), CW_HTTP_SERVE);
    cw_http_exchange_free(x);
    cw_http_exchange_free(NULL);
    /* without an exchange, cw_http_iterate is cw_func_iterate */
    a->got[0] = 0;
    CHECK_OK(cw_http_iterate(NULL, a->pages, (cw_arg[]){ CW_ARG_STR("n") }, 1, collect, a));
    CHECK_STR(a->got, "[n 0/3 #1][n 1/3 #1][n 2/3 #1]");
    app_free(a);
    return 0;
}

static int long_targets_and_8k_headers(void)
{
    app *a = app_for("long", NULL);
    CHECK(a);
    char *target = malloc(8200), *inm = malloc(8300);
    CHECK(target && inm);
    memset(target, 'a', 8191);
    target[0] = '/';
    target[8191] = 0;
    cw_http_exchange *x = get(a, target, NULL, user_handler);
    CHECK(x);
    char tag[CW_HTTP_ETAG_SIZE];
    snprintf(tag, sizeof tag, "%s", hdr(x, "ETag"));
    cw_http_exchange_free(x);
    /* an 8 KiB If-None-Match whose last tag is the one */
    size_t n = 0;
    while (n < 8192 - 64) n += (size_t)sprintf(inm + n, "\"%06zu\", ", n);
    sprintf(inm + n, "%s", tag);
    req r = { { "If-None-Match", "Cache-Control" }, { inm, target } }; /* and 8 KiB of nonsense */
    CHECK((x = get(a, target, &r, user_handler)));
    CHECK_EQ_INT(cw_http_exchange_action(x), CW_HTTP_NOT_MODIFIED);
    cw_http_exchange_free(x);
    CHECK_EQ_INT(atomic_load(&a->loads), 1);
    free(target);
    free(inm);
    app_free(a);
    return 0;
}

typedef struct nest {
    app *a;
    cw_http_exchange *inner;
} nest;

static int call_ttl_user(app *a, const char *id)
{
    cw_value v = { 0 };
    int st = CW_CALL(a->ttl_user, &v, CW_ARG_STR(id));
    cw_value_free(&v);
    return st;
}

static int inner_handler(void *ud, cw_http_exchange *x) { return call_ttl_user(((nest *)ud)->a, "i"); }

static int outer_handler(void *ud, cw_http_exchange *x)
{
    nest *ns = ud;
    int rc = -1;
    if (call_ttl_user(ns->a, "o1") || cw_http_run(ns->inner, inner_handler, ns, &rc) || rc) return 1;
    return call_ttl_user(ns->a, "o2");
}

static int nested_runs_restore_the_outer_request(void)
{
    /* a handler that serves a sub-request through the helper: the TTL follows the innermost */
    app *a = app_new(NULL);
    CHECK(a);
    cw_http_exchange *outer = NULL, *inner = NULL;
    req ro = { { "Cache-Control" }, { "max-age=120" } }, ri = { { "Cache-Control" }, { "max-age=30" } };
    cw_http_request rqo = { .target = "/o", .header = get_header, .header_ud = &ro };
    cw_http_request rqi = { .target = "/i", .header = get_header, .header_ud = &ri };
    CHECK_OK(cw_http_begin(a->h, &rqo, &outer));
    CHECK_OK(cw_http_begin(a->h, &rqi, &inner));
    nest ns = { a, inner };
    int rc = -1;
    CHECK_OK(cw_http_run(outer, outer_handler, &ns, &rc));
    CHECK_EQ_INT(rc, 0);
    int64_t left = 0;
    CHECK_OK(cw_get_expire(a->c, "tuser:o1", &left));
    CHECK_EQ_INT(left, CW_MINUTES(2));
    CHECK_OK(cw_get_expire(a->c, "tuser:i", &left));
    CHECK_EQ_INT(left, CW_SECONDS(30));
    CHECK_OK(cw_get_expire(a->c, "tuser:o2", &left));
    CHECK_EQ_INT(left, CW_MINUTES(2));
    /* each saw its own calls only: the outer's first is o1 */
    CHECK_STR(hdr(outer, "Cache-Control"), "private, max-age=120");
    CHECK_STR(hdr(inner, "Cache-Control"), "private, max-age=30");
    cw_http_exchange_free(outer);
    cw_http_exchange_free(inner);
    /* outside any run again: the default */
    CHECK_OK(call_ttl_user(a, "after"));
    CHECK_OK(cw_get_expire(a->c, "tuser:after", &left));
    CHECK_EQ_INT(left, CW_MINUTES(4));
    app_free(a);
    return 0;
}

static const cw_test tests[] = {
    CW_TEST(etag_then_304_without_the_handler),
    CW_TEST(etags_agree_across_helpers_and_caches),
    CW_TEST(late_304_after_the_handler),
    CW_TEST(a_transformed_body_gets_its_304_after_the_handler),
    CW_TEST(no_cache_reloads_and_stores),
    CW_TEST(no_store_neither_reads_nor_writes),
    CW_TEST(max_age_refuses_older_values),
    CW_TEST(record_estimates_the_age_of_hits_it_did_not_see_stored),
    CW_TEST(cache_control_ttl_within_its_bound),
    CW_TEST(clear_site_data_deletes_what_the_endpoint_cached),
    CW_TEST(streams_get_an_etag_once_cached),
    CW_TEST(clear_site_data_deletes_a_streams_chunks),
    CW_TEST(from_cache_header_cannot_carry_a_line_break),
    CW_TEST(options_visibility_and_switches),
    CW_TEST(other_methods_and_failures_pass_through),
    CW_TEST(long_targets_and_8k_headers),
    CW_TEST(nested_runs_restore_the_outer_request),
    { 0 },
};

int main(int argc, char **argv) { return cw_test_main(tests, argc, argv); }
