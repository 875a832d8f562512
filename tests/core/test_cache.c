/*
 * test_cache.c - the cache core: setup and URL errors, the user backend registry, prefix
 * routing, disable/enable (global and thread scopes), middlewares, callbacks, error details.
 * A small user-defined backend ("tally://") shows which backend served a key.
 */
#include <pthread.h>

#include "cw_test.h"

/* ---- tally://NAME : a user backend that stores up to 64 keys and counts its calls ---- */
typedef struct tally {
    cw_backend base;
    pthread_mutex_t mu;
    char name[32];
    char keys[64][64];
    cw_value vals[64];
    int n;
    int sets, gets, views;
} tally;

static tally *last_tally[8];
static int ntally;

static cw_status t_open(cw_backend **out, cw_url *url, const cw_backend_env *env, char *errbuf);
static void t_close(cw_backend *b)
{
    tally *t = (tally *)b;
    for (int i = 0; i < t->n; i++) cw_value_free(&t->vals[i]);
    pthread_mutex_destroy(&t->mu);
    free(t);
}
static int t_find(tally *t, const char *key, size_t klen)
{
    for (int i = 0; i < t->n; i++)
        if (strlen(t->keys[i]) == klen && memcmp(t->keys[i], key, klen) == 0) return i;
    return -1;
}
static cw_status t_get(cw_backend *b, const char *key, size_t klen, cw_value *out)
{
    tally *t = (tally *)b;
    pthread_mutex_lock(&t->mu);
    t->gets++;
    int i = t_find(t, key, klen);
    cw_status st = i < 0 ? CW_NOTFOUND : cw_value_set(out, t->vals[i].data, t->vals[i].len);
    pthread_mutex_unlock(&t->mu);
    return st;
}
static cw_status t_set(cw_backend *b, const char *key, size_t klen, const void *val, size_t vlen,
                       int64_t ttl_ms, cw_set_mode mode)
{
    tally *t = (tally *)b;
    pthread_mutex_lock(&t->mu);
    t->sets++;
    int i = t_find(t, key, klen);
    cw_status st = CW_OK;
    if ((mode == CW_SET_IF_ABSENT && i >= 0) || (mode == CW_SET_IF_PRESENT && i < 0)) st = CW_NOTSTORED;
    else if (i < 0 && t->n == 64) st = cw_backend_fail(CW_EBACKEND, "tally is full");
    else {
        if (i < 0) { i = t->n++; snprintf(t->keys[i], 64, "%.*s", (int)klen, key); t->vals[i] = (cw_value){ 0 }; }
        st = cw_value_set(&t->vals[i], val, vlen);
    }
    pthread_mutex_unlock(&t->mu);
    return st;
}
static cw_status t_del(cw_backend *b, const char *key, size_t klen)
{
    tally *t = (tally *)b;
    pthread_mutex_lock(&t->mu);
    int i = t_find(t, key, klen);
    if (i >= 0) {
        cw_value_free(&t->vals[i]);
        t->n--;
        memcpy(t->keys[i], t->keys[t->n], 64);
        t->vals[i] = t->vals[t->n];
    }
    pthread_mutex_unlock(&t->mu);
    return i < 0 ? CW_NOTFOUND : CW_OK;
}
static cw_status t_clear(cw_backend *b)
{
    tally *t = (tally *)b;
    pthread_mutex_lock(&t->mu);
    for (int i = 0; i < t->n; i++) cw_value_free(&t->vals[i]);
    t->n = 0;
    pthread_mutex_unlock(&t->mu);
    return CW_OK;
}
static cw_status t_count(cw_backend *b, uint64_t *n)
{
    tally *t = (tally *)b;
    pthread_mutex_lock(&t->mu);
    *n = (uint64_t)t->n;
    pthread_mutex_unlock(&t->mu);
    return CW_OK;
}
/* view (ABI 2): lends the stored bytes; the key "broken" fails like a backend error. */
static cw_status t_view(cw_backend *b, const char *key, size_t klen, cw_view_fn fn, void *ud)
{
    tally *t = (tally *)b;
    if (klen == 6 && memcmp(key, "broken", 6) == 0) return cw_backend_fail(CW_EBACKEND, "tally view broke");
    pthread_mutex_lock(&t->mu);
    t->views++;
    int i = t_find(t, key, klen);
    cw_status st = i < 0 ? CW_NOTFOUND : fn(ud, t->vals[i].data, t->vals[i].len);
    pthread_mutex_unlock(&t->mu);
    return st;
}
static const cw_backend_ops tally_ops = {
    .abi_version = CW_BACKEND_ABI, .scheme = "tally", .open = t_open, .close = t_close,
    .get = t_get, .set = t_set, .del = t_del, .clear = t_clear, .keys_count = t_count,
};
/* The same backend with view, as an ABI 2 table ("tview") and as an ABI 1 table ("tabi1"),
 * which had no view field: the core must not read it. */
static const cw_backend_ops tview_ops = {
    .abi_version = 2, .scheme = "tview", .open = t_open, .close = t_close, .get = t_get,
    .set = t_set, .del = t_del, .clear = t_clear, .keys_count = t_count, .view = t_view,
};
static const cw_backend_ops tabi1_ops = {
    .abi_version = 1, .scheme = "tabi1", .open = t_open, .close = t_close, .get = t_get,
    .set = t_set, .del = t_del, .clear = t_clear, .keys_count = t_count, .view = t_view,
};
static cw_status t_open(cw_backend **out, cw_url *url, const cw_backend_env *env, char *errbuf)
{
    const char *fail;
    if (cw_url_take_str(url, "fail", &fail) == CW_OK) {
        snprintf(errbuf, CW_ERRMSG_SIZE, "tally refuses: %s", fail);
        return CW_EBACKEND;
    }
    tally *t = calloc(1, sizeof *t);
    if (!t) return CW_ENOMEM;
    t->base.ops = strcmp(url->scheme, "tview") == 0 ? &tview_ops
                  : strcmp(url->scheme, "tabi1") == 0 ? &tabi1_ops : &tally_ops;
    pthread_mutex_init(&t->mu, NULL);
    snprintf(t->name, sizeof t->name, "%s", url->host);
    if (ntally < 8) last_tally[ntally++] = t;
    *out = &t->base;
    return CW_OK;
}

static cw_cache *tally_cache(void)
{
    cw_cache *c = NULL;
    if (cw_cache_new(&c, NULL) != CW_OK) return NULL;
    ntally = 0;
    if (cw_cache_register_backend(c, &tally_ops) != CW_OK) { cw_cache_free(c); return NULL; }
    return c;
}

/* ---- setup ---- */

static int setup_errors_name_the_problem(void)
{
    cw_cache *c = tally_cache();
    CHECK(c);
    char err[CW_ERRMSG_SIZE] = "";
    CHECK_ST(cw_cache_setup(c, "nosuch://x", NULL, err), CW_EINVAL);
    CHECK(strstr(err, "unknown scheme \"nosuch\"") != NULL);
    CHECK(strstr(cw_cache_errmsg(c), "nosuch") != NULL);
    CHECK_ST(cw_cache_setup(c, "tally://a?bogus=1", NULL, err), CW_EINVAL);
    CHECK(strstr(err, "unknown parameter \"bogus\"") != NULL);
    CHECK_ST(cw_cache_setup(c, "tally://a?enable=perhaps", NULL, err), CW_EINVAL);
    CHECK(strstr(err, "enable") != NULL);
    CHECK_ST(cw_cache_setup(c, "not a url", NULL, err), CW_EINVAL);
    CHECK(strstr(err, "://") != NULL);
    CHECK_ST(cw_cache_setup(c, "tally://a?fail=yes", NULL, err), CW_EBACKEND);
    CHECK(strstr(err, "tally refuses: yes") != NULL);
    CHECK_ST(cw_cache_setup(c, NULL, NULL, err), CW_EINVAL);
    /* nothing was set up: commands say so instead of crashing */
    cw_value v = { 0 };
    CHECK_ST(cw_get(c, "k", &v), CW_ESTATE);
    CHECK(strstr(cw_cache_errmsg(c), "cw_cache_setup") != NULL);
    CHECK_ST(cw_clear(c), CW_ESTATE);
    cw_cache_free(c);
    cw_cache_free(NULL);
    return 0;
}

static int setup_mem_errors(void)
{
    cw_cache *c = NULL;
    CHECK_OK(cw_cache_new(&c, NULL));
    char err[CW_ERRMSG_SIZE] = "";
    CHECK_ST(cw_cache_setup(c, "mem://?size=abc", NULL, err), CW_EINVAL);
    CHECK(strstr(err, "size") != NULL);
    CHECK_ST(cw_cache_setup(c, "mem://?size=0", NULL, err), CW_EINVAL);
    CHECK_ST(cw_cache_setup(c, "mem://?check_interval=-1", NULL, err), CW_EINVAL);
    CHECK_ST(cw_cache_setup(c, "mem://?sise=10", NULL, err), CW_EINVAL);
    CHECK(strstr(err, "sise") != NULL);
    const char *params[] = { "size", "10", NULL };
    cw_setup_options so = { .params = params };
    CHECK_OK(cw_cache_setup(c, "mem://", &so, err));
    cw_cache_free(c);
    return 0;
}

static int register_backend_checks_abi(void)
{
    cw_cache *c = NULL;
    CHECK_OK(cw_cache_new(&c, NULL));
    cw_backend_ops bad = tally_ops;
    bad.abi_version = 99;
    CHECK_ST(cw_cache_register_backend(c, &bad), CW_EINVAL);
    bad = tally_ops;
    bad.scheme = "";
    CHECK_ST(cw_cache_register_backend(c, &bad), CW_EINVAL);
    CHECK_ST(cw_cache_register_backend(c, NULL), CW_EINVAL);
    cw_cache_free(c);
    return 0;
}

/* A backend with view is read through it (fast path and general path alike), the envelope
 * stripped, failures claimed for the cache; an ABI 1 table is read through get only. */
static int reads_go_through_view(void)
{
    cw_cache *c = tally_cache();
    CHECK(c);
    CHECK_OK(cw_cache_register_backend(c, &tview_ops));
    CHECK_OK(cw_cache_register_backend(c, &tabi1_ops));
    CHECK_OK(cw_cache_setup(c, "tview://v", NULL, NULL));
    tally *t = last_tally[ntally - 1];
    cw_value v = { 0 };
    CHECK_OK(cw_set(c, "k", "value", 5, CW_NO_EXPIRY));
    CHECK_OK(cw_get(c, "k", &v));
    CHECK_VAL(v, "value");
    CHECK(t->views == 1 && t->gets == 0);
    CHECK_OK(cw_get_raw(c, "k", &v)); /* raw: the envelope too */
    CHECK(v.len == 9 && memcmp(v.data + 4, "value", 5) == 0);
    CHECK_ST(cw_get(c, "absent", &v), CW_NOTFOUND);
    CHECK_OK(cw_set_raw(c, "raw", "xy", 2, CW_NO_EXPIRY)); /* not an envelope: as stored */
    CHECK_OK(cw_get(c, "raw", &v));
    CHECK_VAL(v, "xy");
    CHECK_ST(cw_get(c, "broken", &v), CW_EBACKEND);
    CHECK(strstr(cw_cache_errmsg(c), "tally view broke") != NULL);
    CHECK(t->gets == 0);
    /* the general path (a thread scope is open) reads through view as well */
    CHECK_OK(cw_disabling_begin(c, CW_CMD_BIT(CW_CMD_SET)));
    CHECK_OK(cw_get(c, "k", &v));
    CHECK_VAL(v, "value");
    CHECK_ST(cw_get(c, "broken", &v), CW_EBACKEND);
    CHECK(strstr(cw_cache_errmsg(c), "tally view broke") != NULL);
    cw_disabling_end(c);
    CHECK(t->views == 5 && t->gets == 0); /* "broken" fails before counting */

    CHECK_OK(cw_cache_setup(c, "tabi1://one", NULL, NULL));
    t = last_tally[ntally - 1];
    CHECK_OK(cw_set(c, "k", "old", 3, CW_NO_EXPIRY));
    CHECK_OK(cw_get(c, "k", &v));
    CHECK_VAL(v, "old");
    CHECK_OK(cw_get(c, "broken", &v) == CW_NOTFOUND ? CW_OK : CW_EBACKEND); /* get, not view */
    CHECK(t->views == 0 && t->gets == 2);
    cw_value_free(&v);
    cw_cache_free(c);
    return 0;
}

static int default_cache_is_mem(void)
{
    cw_cache *c = NULL;
    CHECK_OK(cw_cache_new_default(&c));
    cw_value v = { 0 };
    CHECK_OK(cw_set(c, "k", "v", 1, 1000));
    CHECK_OK(cw_get(c, "k", &v));
    CHECK_VAL(v, "v");
    CHECK_OK(cw_ping(c, NULL, &v));
    CHECK_VAL(v, "PONG");
    cw_value_free(&v);
    cw_cache_free(c);
    return 0;
}

/* ---- routing ---- */

static int longest_prefix_wins(void)
{
    cw_cache *c = tally_cache();
    CHECK(c);
    CHECK_OK(cw_cache_setup(c, "tally://default", NULL, NULL));
    cw_setup_options user = { .prefix = "user" }, users = { .prefix = "user:admin" };
    CHECK_OK(cw_cache_setup(c, "tally://user", &user, NULL));
    CHECK_OK(cw_cache_setup(c, "tally://admin", &users, NULL));
    CHECK_EQ_INT(ntally, 3);
    tally *d = last_tally[0], *u = last_tally[1], *a = last_tally[2];
    CHECK(cw_cache_backend(c, "user") == &u->base);
    CHECK(cw_cache_backend(c, NULL) == &d->base);
    CHECK(cw_cache_backend(c, "use") == NULL);
    CHECK_OK(cw_set(c, "accounts", "1", 1, 1000));
    CHECK_OK(cw_set(c, "user:1", "2", 1, 1000));
    CHECK_OK(cw_set(c, "user:admin:1", "3", 1, 1000));
    CHECK_OK(cw_set(c, "use", "4", 1, 1000));
    CHECK_EQ_INT(d->n, 2);
    CHECK_EQ_INT(u->n, 1);
    CHECK_EQ_INT(a->n, 1);
    CHECK_STR(u->keys[0], "user:1");
    CHECK_STR(a->keys[0], "user:admin:1");
    uint64_t count = 0;
    CHECK_OK(cw_get_keys_count(c, &count));
    CHECK_EQ_INT(count, 4);
    /* get_many splits by backend and keeps the order of results */
    const char *keys[] = { "user:1", "accounts", "user:admin:1", "zzz" };
    cw_value outs[4] = { { 0 } };
    cw_status sts[4];
    CHECK_OK(cw_get_many(c, 4, keys, outs, sts));
    CHECK_EQ_INT(sts[0], CW_OK);
    CHECK_VAL(outs[0], "2");
    CHECK_VAL(outs[1], "1");
    CHECK_VAL(outs[2], "3");
    CHECK_EQ_INT(sts[3], CW_NOTFOUND);
    for (int i = 0; i < 4; i++) cw_value_free(&outs[i]);
    CHECK_OK(cw_clear(c));
    CHECK_OK(cw_get_keys_count(c, &count));
    CHECK_EQ_INT(count, 0);
    /* a backend without incr: a clear error, not a crash */
    CHECK_ST(cw_incr(c, "n", 1, CW_NO_EXPIRY, NULL), CW_ENOTSUP);
    CHECK(strstr(cw_cache_errmsg(c), "incr") != NULL);
    cw_cache_free(c);
    return 0;
}

static int setup_replaces_prefix(void)
{
    cw_cache *c = tally_cache();
    CHECK(c);
    CHECK_OK(cw_cache_setup(c, "tally://one", NULL, NULL));
    CHECK_OK(cw_set(c, "k", "1", 1, 1000));
    CHECK_OK(cw_cache_setup(c, "tally://two", NULL, NULL));
    cw_value v = { 0 };
    CHECK_ST(cw_get(c, "k", &v), CW_NOTFOUND); /* the new backend serves now */
    CHECK_EQ_INT(last_tally[1]->gets, 1);
    cw_cache_free(c);
    return 0;
}

static int setup_disabled_backend(void)
{
    cw_cache *c = tally_cache();
    CHECK(c);
    CHECK_OK(cw_cache_setup(c, "tally://d", NULL, NULL));
    cw_setup_options off = { .prefix = "off" };
    CHECK_OK(cw_cache_setup(c, "tally://off?enable=0", &off, NULL));
    CHECK_ST(cw_set(c, "off:1", "x", 1, 1000), CW_EDISABLED);
    CHECK_OK(cw_set(c, "on:1", "x", 1, 1000));
    cw_setup_options off2 = { .prefix = "off2", .disable = 1 };
    CHECK_OK(cw_cache_setup(c, "tally://off2", &off2, NULL));
    CHECK_ST(cw_set(c, "off2:1", "x", 1, 1000), CW_EDISABLED);
    cw_setup_options on = { .prefix = "on3", .disable = 1 };
    CHECK_OK(cw_cache_setup(c, "tally://on3?disable=0", &on, NULL)); /* the URL wins */
    CHECK_OK(cw_set(c, "on3:1", "x", 1, 1000));
    CHECK_OK(cw_clear(c)); /* a disabled backend does not fail clear */
    cw_cache_free(c);
    return 0;
}

/* ---- disable / enable ---- */

static int disable_commands_globally(void)
{
    cw_cache *c = NULL;
    CHECK_OK(cw_cache_new_default(&c));
    cw_value v = { 0 };
    CHECK_OK(cw_set(c, "k", "v", 1, CW_NO_EXPIRY));
    cw_cache_disable(c, CW_CMD_BIT(CW_CMD_DELETE));
    CHECK_ST(cw_delete(c, "k"), CW_EDISABLED);
    CHECK_OK(cw_get(c, "k", &v));
    CHECK(!cw_cache_is_enabled(c, CW_CMD_DELETE));
    CHECK(cw_cache_is_enabled(c, CW_CMD_GET));
    cw_cache_disable(c, CW_CMD_ALL);
    CHECK_ST(cw_get(c, "k", &v), CW_EDISABLED);
    cw_cache_enable(c, CW_CMD_BIT(CW_CMD_GET) | CW_CMD_BIT(CW_CMD_SET));
    CHECK_OK(cw_get(c, "k", &v));
    CHECK_ST(cw_delete(c, "k"), CW_EDISABLED);
    cw_cache_enable(c, CW_CMD_ALL);
    CHECK_OK(cw_delete(c, "k"));
    cw_value_free(&v);
    cw_cache_free(c);
    return 0;
}

typedef struct other_thread {
    cw_cache *c;
    const char *key; /* NULL: "k" */
    cw_status st;
} other_thread;

static void *get_from_other_thread(void *arg)
{
    other_thread *o = arg;
    cw_value v = { 0 };
    o->st = cw_get(o->c, o->key ? o->key : "k", &v);
    cw_value_free(&v);
    return NULL;
}

static int disabling_scopes_nest_per_thread(void)
{
    cw_cache *c = NULL;
    CHECK_OK(cw_cache_new_default(&c));
    cw_value v = { 0 };
    CHECK_OK(cw_set(c, "k", "v", 1, CW_NO_EXPIRY));
    CHECK_OK(cw_disabling_begin(c, CW_CMD_BIT(CW_CMD_GET)));
    CHECK_ST(cw_get(c, "k", &v), CW_EDISABLED);
    CHECK_OK(cw_exists(c, "k"));
    CHECK_OK(cw_disabling_begin(c, CW_CMD_ALL));
    CHECK_ST(cw_exists(c, "k"), CW_EDISABLED);
    /* another thread is not affected by this thread's scopes */
    other_thread o = { c, NULL, CW_EINVAL };
    pthread_t th;
    CHECK_EQ_INT(pthread_create(&th, NULL, get_from_other_thread, &o), 0);
    pthread_join(th, NULL);
    CHECK_ST(o.st, CW_OK);
    CHECK_OK(cw_disabling_end(c));
    CHECK_OK(cw_exists(c, "k"));          /* inner scope closed */
    CHECK_ST(cw_get(c, "k", &v), CW_EDISABLED); /* outer still open */
    CHECK_OK(cw_disabling_end(c));
    CHECK_OK(cw_get(c, "k", &v));
    CHECK_ST(cw_disabling_end(c), CW_ESTATE);
    /* too deep is an error, not an overflow */
    int opened = 0;
    cw_status st = CW_OK;
    while ((st = cw_disabling_begin(c, 0)) == CW_OK) opened++;
    CHECK_ST(st, CW_ENOMEM);
    CHECK_EQ_INT(opened, 32);
    while (opened--) CHECK_OK(cw_disabling_end(c));
    cw_value_free(&v);
    cw_cache_free(c);
    return 0;
}

/* The seed's disabling(*cmds, prefix=...): a scope of this thread for one backend. */
static int disabling_scope_for_one_backend(void)
{
    cw_cache *c = NULL;
    CHECK_OK(cw_cache_new_default(&c));
    cw_setup_options user = { .prefix = "user:" };
    CHECK_OK(cw_cache_setup(c, "mem://", &user, NULL));
    cw_value v = { 0 };
    CHECK_OK(cw_set(c, "user:1", "v", 1, CW_NO_EXPIRY));
    CHECK_OK(cw_set(c, "k", "v", 1, CW_NO_EXPIRY));
    CHECK_EQ_INT(cw_cache_is_any_disabled(c, "user:"), 0);
    CHECK_OK(cw_disabling_begin_prefix(c, "user:", CW_CMD_BIT(CW_CMD_GET)));
    CHECK_ST(cw_get(c, "user:1", &v), CW_EDISABLED);
    CHECK_OK(cw_get(c, "k", &v));
    CHECK_EQ_INT(cw_cache_is_enabled_prefix(c, "user:", CW_CMD_GET), 0);
    CHECK_EQ_INT(cw_cache_is_enabled(c, CW_CMD_GET), 1);
    CHECK_EQ_INT(cw_cache_is_any_disabled(c, "user:"), 1);
    CHECK_EQ_INT(cw_cache_is_any_disabled(c, "k"), 0);
    CHECK_EQ_INT(cw_cache_is_any_disabled(c, NULL), 1);
    other_thread o = { c, "user:1", CW_EINVAL };
    pthread_t th;
    CHECK_EQ_INT(pthread_create(&th, NULL, get_from_other_thread, &o), 0);
    pthread_join(th, NULL);
    CHECK_ST(o.st, CW_OK); /* other threads are not in the scope */
    CHECK_OK(cw_disabling_end(c));
    CHECK_OK(cw_get(c, "user:1", &v));
    CHECK_EQ_INT(cw_cache_is_any_disabled(c, NULL), 0);
    cw_value_free(&v);
    cw_cache_free(c);
    return 0;
}

/* ---- middlewares ---- */

typedef struct trace {
    char log[512];
} trace;

static cw_status mw_a(cw_call *call, void *ud)
{
    trace *t = ud;
    size_t klen;
    const char *key = cw_call_key(call, &klen);
    snprintf(t->log + strlen(t->log), sizeof t->log - strlen(t->log), "A>%s:%s:%.*s ",
             cw_command_name(cw_call_command(call)), cw_call_backend(call), (int)klen, key ? key : "");
    cw_status st = cw_call_next(call);
    snprintf(t->log + strlen(t->log), sizeof t->log - strlen(t->log), "A<%d ", st);
    return st;
}

static cw_status mw_b(cw_call *call, void *ud)
{
    trace *t = ud;
    size_t vlen = 0;
    const void *val = cw_call_value(call, &vlen);
    snprintf(t->log + strlen(t->log), sizeof t->log - strlen(t->log), "B>%.*s:%lld ", (int)vlen,
             val ? (const char *)val : "", (long long)cw_call_ttl(call));
    size_t klen;
    const char *key = cw_call_key(call, &klen);
    if (cw_call_command(call) == CW_CMD_GET && key && strcmp(key, "magic") == 0)
        return cw_call_set_result(call, "abracadabra", 11); /* short-circuit */
    cw_status st = cw_call_next(call);
    const cw_value *r = cw_call_result(call);
    if (r) snprintf(t->log + strlen(t->log), sizeof t->log - strlen(t->log), "B<%.*s ", (int)r->len, r->data);
    return st;
}

static int middleware_order_and_short_circuit(void)
{
    cw_cache *c = NULL;
    CHECK_OK(cw_cache_new_default(&c));
    trace t = { "" };
    CHECK_OK(cw_cache_add_middleware(c, mw_a, &t));
    CHECK_OK(cw_cache_add_middleware(c, mw_b, &t));
    CHECK_OK(cw_set(c, "k", "val", 3, 5000));
    CHECK_STR(t.log, "A>set:mem:k B>val:5000 A<0 ");
    t.log[0] = 0;
    cw_value v = { 0 };
    CHECK_OK(cw_get(c, "k", &v));
    CHECK_STR(t.log, "A>get:mem:k B>:0 B<val A<0 ");
    t.log[0] = 0;
    CHECK_OK(cw_get(c, "magic", &v));
    CHECK_VAL(v, "abracadabra");
    CHECK_STR(t.log, "A>get:mem:magic B>:0 A<0 ");
    CHECK_ST(cw_exists(c, "magic"), CW_NOTFOUND); /* nothing was stored */
    cw_value_free(&v);
    cw_cache_free(c);
    return 0;
}

/* ---- callbacks ---- */

typedef struct seen {
    char log[256];
    int n;
} seen;

static void on_cmd(void *ud, cw_command cmd, const char *key, size_t klen, cw_status st, const cw_value *result)
{
    seen *s = ud;
    s->n++;
    snprintf(s->log + strlen(s->log), sizeof s->log - strlen(s->log), "%s %.*s=%d", cw_command_name(cmd),
             (int)klen, key ? key : "", st);
    if (result)
        snprintf(s->log + strlen(s->log), sizeof s->log - strlen(s->log), "(%.*s)", (int)result->len,
                 (const char *)result->data);
    snprintf(s->log + strlen(s->log), sizeof s->log - strlen(s->log), ";");
}

static int callbacks_are_scoped(void)
{
    cw_cache *c = NULL;
    CHECK_OK(cw_cache_new_default(&c));
    seen s = { "", 0 }, s2 = { "", 0 };
    cw_value v = { 0 };
    CHECK_OK(cw_callback_begin(c, CW_CMD_BIT(CW_CMD_GET), on_cmd, &s));
    CHECK_ST(cw_get(c, "test", &v), CW_NOTFOUND); /* a miss: no result, no callback (the seed) */
    CHECK_OK(cw_set(c, "test", "1", 1, 1000));    /* not in the mask */
    CHECK_OK(cw_callback_begin(c, CW_CMD_ALL, on_cmd, &s2));
    CHECK_OK(cw_get(c, "test", &v));
    CHECK_ST(cw_delete(c, "nothing"), CW_NOTFOUND); /* not a value-returning command: reported */
    CHECK_OK(cw_callback_end(c));
    CHECK_OK(cw_callback_end(c));
    CHECK_OK(cw_get(c, "test", &v)); /* scope closed: no callback */
    CHECK_STR(s.log, "get test=0(1);");
    CHECK_STR(s2.log, "get test=0(1);delete nothing=1;");
    /* A failed command calls back with its status (README, Choices: the seed raises instead). */
    seen s3 = { "", 0 };
    CHECK_OK(cw_callback_begin(c, CW_CMD_BIT(CW_CMD_INCR), on_cmd, &s3));
    CHECK_OK(cw_set(c, "text", "abc", 3, 1000));
    CHECK_ST(cw_incr(c, "text", 1, 1000, NULL), CW_ETYPE);
    CHECK_OK(cw_callback_end(c));
    char want[64];
    snprintf(want, sizeof want, "incr text=%d;", CW_ETYPE);
    CHECK_STR(s3.log, want);
    CHECK_ST(cw_callback_end(c), CW_ESTATE);
    CHECK_ST(cw_callback_begin(c, CW_CMD_ALL, NULL, NULL), CW_EINVAL);
    cw_value_free(&v);
    cw_cache_free(c);
    return 0;
}

static int clock_is_injectable(void)
{
    cw_fake_clock clk;
    cw_fake_clock_init(&clk);
    cw_cache_options o = { .clock = cw_fake_clock_now, .clock_ud = &clk };
    cw_cache *c = NULL;
    CHECK_OK(cw_cache_new(&c, &o));
    CHECK_OK(cw_cache_setup(c, "mem://?check_interval=0", NULL, NULL));
    CHECK_EQ_INT(cw_cache_now_ms(c), 1767225600000LL);
    CHECK_OK(cw_set(c, "k", "v", 1, 1000));
    cw_value v = { 0 };
    cw_fake_clock_advance(&clk, 999);
    CHECK_OK(cw_get(c, "k", &v));
    cw_fake_clock_advance(&clk, 1);
    CHECK_ST(cw_get(c, "k", &v), CW_NOTFOUND);
    cw_value_free(&v);
    cw_cache_free(c);
    return 0;
}

static int allocator_hooks_are_used(void);

static const cw_test tests[] = {
    CW_TEST(setup_errors_name_the_problem), CW_TEST(setup_mem_errors), CW_TEST(register_backend_checks_abi),
    CW_TEST(reads_go_through_view),
    CW_TEST(default_cache_is_mem), CW_TEST(longest_prefix_wins), CW_TEST(setup_replaces_prefix),
    CW_TEST(setup_disabled_backend), CW_TEST(disable_commands_globally),
    CW_TEST(disabling_scopes_nest_per_thread), CW_TEST(disabling_scope_for_one_backend),
    CW_TEST(middleware_order_and_short_circuit),
    CW_TEST(callbacks_are_scoped), CW_TEST(clock_is_injectable), CW_TEST(allocator_hooks_are_used), { 0 }
};

static _Atomic long allocs;
static void *count_malloc(size_t n) { allocs++; return malloc(n); }
static void *count_calloc(size_t n, size_t s) { allocs++; return calloc(n, s); }
static void *count_realloc(void *p, size_t n) { allocs++; return realloc(p, n); }

static int allocator_hooks_are_used(void)
{
    cw_allocators a = { count_malloc, count_calloc, count_realloc, free };
    cw_set_allocators(&a);
    allocs = 0;
    cw_cache *c = NULL;
    CHECK_OK(cw_cache_new_default(&c));
    cw_value v = { 0 };
    CHECK_OK(cw_set(c, "k", "v", 1, 1000));
    CHECK_OK(cw_get(c, "k", &v));
    long n = allocs;
    cw_value_free(&v);
    cw_cache_free(c);
    cw_set_allocators(NULL);
    CHECK(n >= 3); /* the cache, the backend, the entry, the value buffer */
    return 0;
}

int main(int argc, char **argv) { return cw_test_main(tests, argc, argv); }
