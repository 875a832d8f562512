/*
 * test_robust.c - bad input never crashes, hangs or leaks, and always gets a clear status.
 *
 * Randomized and hand-picked inputs for: backend setup for every scheme and a user backend
 * with missing ops, commands with bad arguments, and stored values that are (or only look
 * like) envelopes, read by cw_get() and by cached functions. The parsers (URLs, TTLs, globs)
 * are in test_robust_parse.c. The cached functions themselves (key templates, argument lists,
 * arguments, JWTs, every strategy's options, registrations, failing user hooks) are in
 * tests/strategies/test_func_robust.c.
 *
 * Random streams, failure reports and input builders come from tests/harness/robust_util.h:
 * a run is reproducible, and a failure prints the seed, the iteration and the input.
 *   CW_ROBUST_SEED=<n>   another base seed (to explore; the default is fixed)
 *   CW_ROBUST_SCALE=<k>  multiply the iteration counts (default 1: about 1 s under ASan,
 *                        most of it setup_random_urls)
 * Cases that expose a bug still open in the code under test sit in "#if 0 / * BUG: ... * /"
 * blocks, each explaining the bug, its reproducer and the fix; flip them to 1 once fixed.
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

static int scan_nop(void *ud, const char *key, size_t klen, const void *val, size_t vlen)
{
    (void)ud, (void)key, (void)klen, (void)val, (void)vlen;
    return 0;
}

/* ---- 1. Backend setup ----------------------------------------------------------------------- */

/* A TCP port on 127.0.0.1 where nothing listens (bound, then closed). */
static int dead_port(void)
{
    int fd = socket(AF_INET, SOCK_STREAM, 0);
    if (fd < 0) return 1; /* port 1: nothing listens there either on a test machine */
    struct sockaddr_in a;
    memset(&a, 0, sizeof a);
    a.sin_family = AF_INET;
    a.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
    socklen_t len = sizeof a;
    int port = 1;
    if (bind(fd, (struct sockaddr *)&a, sizeof a) == 0 && getsockname(fd, (struct sockaddr *)&a, &len) == 0)
        port = ntohs(a.sin_port);
    close(fd);
    return port;
}

/* Every failure status of a call made for @c comes with a message; the status is known. */
static int status_ok(rb_rng *r, size_t iter, cw_cache *c, cw_status st, const char *what)
{
    RB_EXPECT(r, iter, (int)st >= 0 && (int)st <= CW_ESTATE, "%s -> unknown status %d", what, (int)st);
    if (st != CW_OK && st != CW_NOTFOUND && st != CW_NOTSTORED)
        RB_EXPECT(r, iter, cw_cache_errmsg(c)[0] != 0, "%s -> %s without a message", what, cw_strerror(st));
    /* A disabled command (disable=1 or a scope) says which one. */
    if (st == CW_EDISABLED)
        RB_EXPECT(r, iter, strstr(cw_cache_errmsg(c), "disabled") != NULL, "%s -> \"%s\"", what, cw_cache_errmsg(c));
    return 0;
}

typedef enum { P_BOOL, P_INT, P_MS, P_SIZE, P_STR, P_PATH } pkind;
typedef struct pspec {
    const char *name;
    pkind kind;
} pspec;

static const pspec mem_params[] = { { "size", P_INT }, { "check_interval", P_MS }, { "max_bytes", P_SIZE } };
static const pspec redis_params[] = {
    { "db", P_INT }, { "username", P_STR }, { "password", P_STR }, { "client_name", P_STR },
    { "max_connections", P_INT }, { "retry_on_timeout", P_BOOL }, { "suppress", P_BOOL },
    { "minsize", P_INT }, { "prefix", P_STR }, { "hash_key", P_STR }, { "secret", P_STR },
    { "digestmod", P_STR }, { "compress_type", P_STR }, { "compress_level", P_INT },
    { "compress_min_size", P_SIZE }, { "client_side", P_BOOL }, { "client_side_prefix", P_STR },
    { "client_side_size", P_INT }, { "health_check_interval", P_MS }, { "ssl_cert_reqs", P_STR },
    { "ssl_check_hostname", P_BOOL }, { "ssl_ca_certs", P_PATH }, { "ssl_certfile", P_PATH },
    { "ssl_keyfile", P_PATH },
};
static const pspec disk_params[] = {
    { "shards", P_INT }, { "size_limit", P_SIZE }, { "timeout", P_MS }, { "eviction_policy", P_STR },
};

static void param_value(rb_rng *r, rb_sbuf *b, const char *name, pkind kind)
{
    static const char *const strs[] = {
        "", "x", "md5", "sha1", "sha256", "sha3", "gzip", "zlib", "zstd", "none", "ZSTD", "lz4", "required",
        "optional", "least-recently-used", "least-recently-stored", "least-frequently-used", "cs:",
    };
    rb_sbuf v = { 0 };
    rb_sb_put(&v, "", 0);
    if (rb_chance(r, 25)) {
        rb_random_value(r, &v); /* anything, often invalid */
    } else {
        switch (kind) {
        case P_BOOL: rb_sb_puts(&v, rb_chance(r, 50) ? "1" : "0"); break;
        case P_INT:
            /* Small for counts that open files or threads (shards, sizes), else anything. */
            rb_sb_printf(&v, "%lld", strcmp(name, "shards") == 0 ? (long long)rb_below(r, 5)
                                  : rb_chance(r, 80) ? (long long)rb_below(r, 5000) : (long long)(rb_rnd(r) >> 20));
            break;
        case P_MS: rb_sb_puts(&v, rb_chance(r, 50) ? "0.2" : rb_chance(r, 50) ? "1ms" : "1"); break;
        case P_SIZE: rb_sb_printf(&v, "%llu%s", (unsigned long long)rb_below(r, 100000), rb_chance(r, 30) ? "k" : ""); break;
        case P_STR: rb_sb_puts(&v, RB_PICK(r, strs)); break;
        case P_PATH: rb_sb_puts(&v, "/nonexistent/cw-robust/x.pem"); break;
        }
    }
    rb_sb_put_encoded(b, (const unsigned char *)v.p, v.len);
    rb_sb_free(&v);
}

static void add_params(rb_rng *r, rb_sbuf *b, const pspec *ps, size_t n, int *first)
{
    for (size_t k = rb_below(r, 5); k; k--) {
        const pspec *p = &ps[rb_below(r, n)];
        rb_sb_printf(b, "%s%s=", *first ? "?" : "&", p->name);
        *first = 0;
        param_value(r, b, p->name, p->kind);
    }
    if (rb_chance(r, 10)) {
        rb_sb_printf(b, "%s%s=%s", *first ? "?" : "&", rb_chance(r, 50) ? "enable" : "disable", rb_chance(r, 80) ? "1" : "maybe");
        *first = 0;
    }
    if (rb_chance(r, 8)) {
        rb_sb_printf(b, "%snosuch_param=1", *first ? "?" : "&");
        *first = 0;
    }
}

/* A few commands on a freshly set up backend: any known status, a message with failures. */
static int poke(rb_rng *r, size_t iter, cw_cache *c)
{
    cw_value v = { 0 };
    int64_t n = 0;
    if (status_ok(r, iter, c, cw_set(c, "k", "v", 1, 60000), "set")) return 1;
    cw_status st = cw_get(c, "k", &v);
    cw_value_free(&v);
    if (status_ok(r, iter, c, st, "get")) return 1;
    if (status_ok(r, iter, c, cw_incr(c, "n", 1, CW_NO_EXPIRY, &n), "incr")) return 1;
    if (status_ok(r, iter, c, cw_delete(c, "k"), "delete")) return 1;
    return 0;
}

static int setup_random_urls(void)
{
    rb_rng r;
    rb_rng_init(&r, __func__);
    char tmp[512], dir[600];
    CHECK(cw_test_mkdtemp(tmp, sizeof tmp, "robust-setup") == 0);
    /* disk:// without a directory makes one under $TMPDIR: keep it inside ours. */
    const char *old_tmpdir = getenv("TMPDIR");
    char *saved = old_tmpdir ? strdup(old_tmpdir) : NULL;
    setenv("TMPDIR", tmp, 1);
    int port = dead_port();
    rb_sbuf b = { 0 };
    cw_fake_clock fc;
    cw_fake_clock_init(&fc);
    cw_cache_options o = { .clock = cw_fake_clock_now, .clock_ud = &fc };
    int rc = 1;
    static const char *const schemes[] = { "mem", "mem", "mem", "redis", "redis", "rediss", "disk", "nosuch", "Mem", "REDIS", "" };
    size_t ok_by_scheme[4] = { 0 };
    for (size_t i = 0; i < rb_scaled(220); i++) {
        const char *scheme = RB_PICK(&r, schemes);
        rb_sb_reset(&b);
        int first = 1;
        int is_redis = strcasecmp(scheme, "redis") == 0 || strcmp(scheme, "rediss") == 0;
        int is_disk = strcmp(scheme, "disk") == 0;
        if (is_redis) {
            rb_sb_printf(&b, "%s://%s127.0.0.1:%d%s", scheme, rb_chance(&r, 20) ? "u:p%40@" : "", port,
                      rb_chance(&r, 20) ? (rb_chance(&r, 50) ? "/3" : "/x") : "");
            add_params(&r, &b, redis_params, sizeof redis_params / sizeof *redis_params, &first);
            /* Last occurrence wins: whatever came before, nothing waits long on the dead port. */
            rb_sb_printf(&b, "%ssocket_connect_timeout=0.2&socket_timeout=0.2&wait_for_connection_timeout=0.2",
                      first ? "?" : "&");
        } else if (is_disk) {
            rb_sb_puts(&b, "disk://");
            add_params(&r, &b, disk_params, sizeof disk_params / sizeof *disk_params, &first);
            if (rb_chance(&r, 80)) {
                snprintf(dir, sizeof dir, "%s/d%zu", tmp, i);
                rb_sb_printf(&b, "%sdirectory=", first ? "?" : "&");
                rb_sb_put_encoded(&b, (const unsigned char *)dir, strlen(dir));
            }
        } else {
            rb_sb_printf(&b, "%s://", scheme);
            add_params(&r, &b, mem_params, sizeof mem_params / sizeof *mem_params, &first);
            if (rb_chance(&r, 20)) rb_mutate(&r, &b, RB_URL_ALPHA);
        }
        cw_cache *c = NULL;
        if (cw_cache_new(&c, &o) != CW_OK) goto done;
        char eb[CW_ERRMSG_SIZE];
        eb[0] = 0;
        cw_setup_options so = { .prefix = rb_chance(&r, 20) ? "p:" : NULL };
        cw_status st = cw_cache_setup(c, b.p, &so, eb);
        rb_shown sh;
        if (st == CW_OK) {
            ok_by_scheme[is_redis ? 1 : is_disk ? 2 : strcasecmp(scheme, "mem") == 0 ? 0 : 3]++;
            if (!so.prefix && poke(&r, i, c)) goto fail_cache;
        } else {
            if (!(eb[0] && cw_cache_errmsg(c)[0])) {
                fprintf(stderr, "setup(%s) -> %s, errbuf \"%s\", errmsg \"%s\"\n", rb_show(&sh, b.p, b.len),
                        cw_strerror(st), eb, cw_cache_errmsg(c));
                goto fail_cache;
            }
            if (status_ok(&r, i, c, st, b.p)) goto fail_cache;
        }
        cw_cache_free(c);
        continue;
    fail_cache:
        fprintf(stderr, "seed=0x%016llx iter=%zu url=%s\n", (unsigned long long)r.seed, i, rb_show(&sh, b.p, b.len));
        cw_cache_free(c);
        goto done;
    }
    /* Valid URLs of each built-in kind came up (or the generator proves little), and no
     * unknown scheme was accepted. */
    if (ok_by_scheme[0] < 10 || ok_by_scheme[1] < 5 || ok_by_scheme[2] < 2 || ok_by_scheme[3] != 0) {
        fprintf(stderr, "seed=0x%016llx: successful setups mem %zu, redis %zu, disk %zu, unknown %zu\n",
                (unsigned long long)r.seed, ok_by_scheme[0], ok_by_scheme[1], ok_by_scheme[2], ok_by_scheme[3]);
        goto done;
    }
    rc = 0;
done:
    rb_sb_free(&b);
    if (saved) { setenv("TMPDIR", saved, 1); free(saved); } else unsetenv("TMPDIR");
    cw_test_rmtree(tmp);
    return rc;
}

static int setup_hand_picked(void)
{
    cw_cache *c = NULL;
    char eb[CW_ERRMSG_SIZE];
    CHECK_OK(cw_cache_new(&c, NULL));
    static const char *const bad[] = {
        NULL, "", "mem", "nosuch://", "mem://?size=0", "mem://?size=-1", "mem://?size=x", "mem://?nosuch=1",
        "mem://?enable=maybe", "mem://?check_interval=-1", "mem://?max_bytes=1q", "redis://h?db=x",
        "redis://h/x", "redis://h?ssl_cert_reqs=none", "rediss://h?ssl_cert_reqs=sometimes",
        "redis://h?compress_type=lz4", "redis://h?digestmod=sha1", "redis://h?client_side=1&client_side_prefix=",
        "disk://somehost?directory=/tmp", "disk://?shards=100000", "disk://?eviction_policy=random",
        "disk://?size_limit=0",
    };
    for (size_t i = 0; i < sizeof bad / sizeof *bad; i++) {
        eb[0] = 0;
        cw_status st = cw_cache_setup(c, bad[i], NULL, eb);
        if (st == CW_OK || !eb[0] || !cw_cache_errmsg(c)[0]) {
            fprintf(stderr, "setup(\"%s\") -> %s, errbuf \"%s\"\n", bad[i] ? bad[i] : "(null)", cw_strerror(st), eb);
            cw_cache_free(c);
            return 1;
        }
    }
    /* No backend was set up by the failures. */
    cw_value v = { 0 };
    CHECK_ST(cw_get(c, "k", &v), CW_ESTATE);
    CHECK(cw_cache_errmsg(c)[0]);
    CHECK_ST(cw_cache_setup(NULL, "mem://", NULL, eb), CW_EINVAL);
    cw_setup_options so = { .params = (const char *const[]){ "size", NULL } };
    eb[0] = 0;
    CHECK_ST(cw_cache_setup(c, "mem://", &so, eb), CW_EINVAL);
    CHECK(eb[0]);
    so.params = (const char *const[]){ "size", "10", "bogus", "1", NULL };
    CHECK_ST(cw_cache_setup(c, "mem://", &so, eb), CW_EINVAL);
    CHECK(strstr(eb, "bogus"));
    /* Messages name what is wrong without repeating secrets (they end up in logs). */
    static const char *const secret_urls[] = { "redis://user:s3cret@h:0", "nosuch://user:s3cret@h",
                                               "redis://user:s3cret@[::1", "redis://user:s3cret@h?db=x" };
    for (size_t i = 0; i < sizeof secret_urls / sizeof *secret_urls; i++) {
        eb[0] = 0;
        CHECK_ST(cw_cache_setup(c, secret_urls[i], NULL, eb), CW_EINVAL);
        CHECK(eb[0]);
        CHECK(!strstr(eb, "s3cret") && !strstr(cw_cache_errmsg(c), "s3cret"));
        if (i < 3) CHECK(strstr(eb, "user:***@")); /* the URL is still quoted, masked */
    }
    cw_cache_free(c);
    return 0;
}

/* size_limit is a byte count up to 2^64 - 1 ("no real limit"): a large one must never make
 * the disk cache evict more, and never overflow. */
static int setup_disk_huge_size_limit(void)
{
#ifdef CW_HAVE_DISK
    char tmp[512], url[700];
    CHECK(cw_test_mkdtemp(tmp, sizeof tmp, "robust-disk") == 0);
    /* docs/DISK.md: limits above 2^63 - 1 are capped there. Each of these evicted everything
     * (2^64 - 1 read as -1) or overflowed (2^63 read as INT64_MIN) before. */
    static const char *const limits[] = { "18446744073709551615", "9223372036854775808", "9223372036854775807",
                                          "8589934591g" };
    for (size_t i = 0; i < sizeof limits / sizeof *limits; i++) {
        for (int shards = 1; shards <= 3; shards += 2) {
            cw_cache *c = NULL;
            CHECK_OK(cw_cache_new(&c, NULL));
            snprintf(url, sizeof url, "disk://?directory=%s/d%zu-%d&shards=%d&size_limit=%s", tmp, i, shards, shards,
                     limits[i]);
            char eb[CW_ERRMSG_SIZE] = "";
            cw_status st = cw_cache_setup(c, url, NULL, eb);
            if (st != CW_OK) {
                fprintf(stderr, "setup(%s) -> %s \"%s\"\n", url, cw_strerror(st), eb);
                cw_cache_free(c);
                return 1;
            }
            cw_disk_stats ds;
            CHECK_OK(cw_disk_get_stats(cw_cache_backend(c, NULL), &ds));
            CHECK(ds.size_limit == (i == 3 ? (uint64_t)8589934591 << 30 : (uint64_t)INT64_MAX));
            cw_value v = { 0 };
            for (int k = 0; k < 20; k++) {
                char key[16];
                snprintf(key, sizeof key, "k%d", k);
                CHECK_OK(cw_set(c, key, "v", 1, CW_NO_EXPIRY));
            }
            for (int k = 0; k < 20; k++) {
                char key[16];
                snprintf(key, sizeof key, "k%d", k);
                CHECK_OK(cw_get(c, key, &v));
                CHECK_VAL(v, "v");
            }
            CHECK_OK(cw_disk_get_stats(cw_cache_backend(c, NULL), &ds));
            CHECK_EQ_INT(ds.evictions, 0);
            cw_value_free(&v);
            cw_cache_free(c);
        }
    }
    cw_test_rmtree(tmp);
#endif
    return 0;
}

/* A user backend with only the required ops (open, close, get, set, del: backend.h) over a
 * single slot: every other op is "not supported" (CW_ENOTSUP) unless the core documents a
 * fallback built from get, set and del, which then must work. */
typedef struct min_backend {
    cw_backend base;
    int full;
    size_t klen, vlen;
    char key[64], val[256];
} min_backend;
static const cw_backend_ops min_ops, min_ops_partial;
static cw_status min_open(cw_backend **out, cw_url *url, const cw_backend_env *env, char *errbuf)
{
    (void)env;
    (void)errbuf;
    if (cw_url_take_str(url, "fail", NULL) == CW_OK) return CW_EBACKEND; /* no message on purpose */
    min_backend *b = cw_calloc(1, sizeof *b);
    if (!b) return CW_ENOMEM;
    /* ?partial: the instance answers with a table that lacks get, set and del. */
    b->base.ops = cw_url_take_str(url, "partial", NULL) == CW_OK ? &min_ops_partial : &min_ops;
    *out = &b->base;
    return CW_OK;
}
static void min_close(cw_backend *b) { cw_free(b); }
static int min_has(const min_backend *m, const char *key, size_t klen)
{
    return m->full && m->klen == klen && memcmp(m->key, key, klen) == 0;
}
static cw_status min_get(cw_backend *b, const char *key, size_t klen, cw_value *out)
{
    min_backend *m = (min_backend *)b;
    return min_has(m, key, klen) ? cw_value_set(out, m->val, m->vlen) : CW_NOTFOUND;
}
static cw_status min_set(cw_backend *b, const char *key, size_t klen, const void *val, size_t vlen, int64_t ttl_ms,
                         cw_set_mode mode)
{
    min_backend *m = (min_backend *)b;
    (void)ttl_ms;
    if (klen > sizeof m->key || vlen > sizeof m->val) return cw_backend_fail(CW_ETOOBIG, "min: one small slot");
    int has = min_has(m, key, klen);
    if ((mode == CW_SET_IF_ABSENT && has) || (mode == CW_SET_IF_PRESENT && !has)) return CW_NOTSTORED;
    memcpy(m->key, key, klen);
    if (vlen) memcpy(m->val, val, vlen);
    m->klen = klen;
    m->vlen = vlen;
    m->full = 1;
    return CW_OK;
}
static cw_status min_del(cw_backend *b, const char *key, size_t klen)
{
    min_backend *m = (min_backend *)b;
    if (!min_has(m, key, klen)) return CW_NOTFOUND;
    m->full = 0;
    return CW_OK;
}
static const cw_backend_ops min_ops = { .abi_version = CW_BACKEND_ABI, .scheme = "min", .open = min_open,
                                        .close = min_close, .get = min_get, .set = min_set, .del = min_del };
static const cw_backend_ops min_ops_partial = { .abi_version = CW_BACKEND_ABI, .scheme = "min", .open = min_open,
                                                .close = min_close };

static int backend_without_ops(void)
{
    cw_cache *c = NULL;
    CHECK_OK(cw_cache_new(&c, NULL));
    cw_backend_ops bad = min_ops;
    bad.abi_version = CW_BACKEND_ABI + 1;
    CHECK_ST(cw_cache_register_backend(c, &bad), CW_EINVAL);
    CHECK(cw_cache_errmsg(c)[0]);
    bad = min_ops;
    bad.scheme = "";
    CHECK_ST(cw_cache_register_backend(c, &bad), CW_EINVAL);
    bad.scheme = NULL;
    CHECK_ST(cw_cache_register_backend(c, &bad), CW_EINVAL);
    bad = min_ops;
    bad.open = NULL;
    CHECK_ST(cw_cache_register_backend(c, &bad), CW_EINVAL);
    bad = min_ops;
    bad.close = NULL;
    CHECK_ST(cw_cache_register_backend(c, &bad), CW_EINVAL);
    /* get, set and del are required (backend.h): a table without any one is refused, with
     * a message that names them. */
    for (int i = 0; i < 4; i++) {
        bad = min_ops;
        if (i == 0 || i == 3) bad.get = NULL;
        if (i == 1 || i == 3) bad.set = NULL;
        if (i == 2 || i == 3) bad.del = NULL;
        CHECK_ST(cw_cache_register_backend(c, &bad), CW_EINVAL);
        const char *m = cw_cache_errmsg(c);
        CHECK(strstr(m, "get") && strstr(m, "set") && strstr(m, "del"));
    }
    CHECK_ST(cw_cache_setup(c, "min://", NULL, NULL), CW_EINVAL); /* none was registered */
    CHECK_OK(cw_cache_register_backend(c, &min_ops));
    /* An open that fails without a word still gets a message. */
    char eb[CW_ERRMSG_SIZE] = "";
    CHECK_ST(cw_cache_setup(c, "min://?fail", NULL, eb), CW_EBACKEND);
    CHECK(eb[0] && cw_cache_errmsg(c)[0]);
    CHECK_ST(cw_cache_setup(c, "min://?other=1", NULL, eb), CW_EINVAL); /* nobody took it */
    CHECK(strstr(eb, "other"));
    /* an opened instance whose own ops table lacks get, set or del is refused */
    eb[0] = 0;
    CHECK_ST(cw_cache_setup(c, "min://?partial", NULL, eb), CW_EINVAL);
    CHECK(eb[0] && strstr(eb, "get"));
    CHECK_OK(cw_cache_setup(c, "min://", NULL, NULL));
    const char *k = "k";
    uint64_t idx = 1, u64 = 0;
    uint8_t bit = 0;
    int64_t i64 = 0;
    size_t popped = 0;
    cw_status unsupported[] = {
        cw_incr(c, k, 1, 1000, &i64), cw_expire(c, k, 1000), cw_get_expire(c, k, &i64), cw_clear(c),
        cw_delete_match(c, "*", &u64), cw_scan(c, "*", 0, scan_nop, NULL), cw_get_match(c, "*", 0, scan_nop, NULL),
        cw_set_bits(c, k, &idx, 1, 1000), cw_get_bits(c, k, &idx, 1, &bit), cw_slice_incr(c, k, 1000, 5, 1000, &i64),
        cw_set_add(c, k, 1, &k, 1000), cw_set_remove(c, k, 1, &k), cw_set_pop(c, k, 1, scan_nop, NULL, &popped),
        cw_unlock(c, k, "v", 1), cw_get_keys_count(c, &u64),
    };
    for (size_t i = 0; i < sizeof unsupported / sizeof *unsupported; i++) {
        if (unsupported[i] != CW_ENOTSUP) {
            fprintf(stderr, "command #%zu on a backend without the op -> %s, want ENOTSUP\n", i,
                    cw_strerror(unsupported[i]));
            cw_cache_free(c);
            return 1;
        }
    }
    CHECK(cw_cache_errmsg(c)[0]);
    cw_value v = { 0 };
    CHECK_OK(cw_ping(c, NULL, &v));
    CHECK_VAL(v, "PONG");
    /* The fallbacks built from get, set and del. */
    const char *keys[1] = { k };
    cw_value outs[1] = { { 0 } };
    cw_status sts[1] = { CW_EBACKEND };
    const void *vals[1] = { "w" };
    size_t lens[1] = { 1 };
    int locked = 0;
    CHECK_ST(cw_get(c, k, &v), CW_NOTFOUND);
    CHECK_ST(cw_exists(c, k), CW_NOTFOUND);
    CHECK_ST(cw_get_size(c, k, &u64), CW_NOTFOUND);
    CHECK_OK(cw_set(c, k, "v", 1, 1000));
    CHECK_OK(cw_get(c, k, &v));
    CHECK_VAL(v, "v");
    CHECK_OK(cw_exists(c, k));
    CHECK_OK(cw_get_raw(c, k, &v));
    CHECK_OK(cw_get_size(c, k, &u64));
    CHECK_EQ_INT(u64, v.len);
    CHECK_OK(cw_get_many(c, 1, keys, outs, sts));
    CHECK_ST(sts[0], CW_OK);
    CHECK_VAL(outs[0], "v");
    cw_value_free(&outs[0]);
    CHECK_ST(cw_set_lock(c, k, "v", 1, 1000), CW_NOTSTORED); /* set if absent */
    CHECK_OK(cw_is_locked(c, k, 0, 0, &locked));
    CHECK(locked);
    CHECK_OK(cw_delete(c, k));
    CHECK_ST(cw_exists(c, k), CW_NOTFOUND);
    CHECK_OK(cw_is_locked(c, k, 0, 0, &locked));
    CHECK(!locked);
    CHECK_OK(cw_set_lock(c, k, "v", 1, 1000));
    CHECK_OK(cw_set_many(c, 1, keys, vals, lens, 1000));
    CHECK_OK(cw_get(c, k, &v));
    CHECK_VAL(v, "w");
    CHECK_OK(cw_delete_many(c, 1, keys, &u64));
    CHECK_EQ_INT(u64, 1);
    CHECK_ST(cw_get(c, k, &v), CW_NOTFOUND);
    cw_value_free(&v);
    cw_cache_free(c);
    return 0;
}

/* ---- 2. Commands with bad arguments --------------------------------------------------------- */

static int commands_null_cache(void)
{
    cw_value v = { 0 };
    int64_t i64 = 0;
    uint64_t u64 = 0;
    int flag = 0;
    const char *k = "k";
    uint64_t idx = 1;
    uint8_t bit = 0;
    cw_lock_guard g;
    CHECK_ST(cw_set(NULL, k, "v", 1, 1000), CW_EINVAL);
    CHECK_ST(cw_set_raw(NULL, k, "v", 1, 1000), CW_EINVAL);
    CHECK_ST(cw_set_ex(NULL, k, "v", 1, &(cw_set_options){ .ttl_ms = 1 }), CW_EINVAL);
    CHECK_ST(cw_set_ex(NULL, k, "v", 1, NULL), CW_EINVAL);
    CHECK_ST(cw_get(NULL, k, &v), CW_EINVAL);
    CHECK_ST(cw_get_default(NULL, k, "d", 1, &v), CW_EINVAL);
    CHECK_ST(cw_get_raw(NULL, k, &v), CW_EINVAL);
    CHECK_ST(cw_get_many(NULL, 1, &k, &v, (cw_status[1]){ 0 }), CW_EINVAL);
    CHECK_ST(cw_set_many(NULL, 1, &k, (const void *const[]){ "v" }, (size_t[]){ 1 }, 1000), CW_EINVAL);
    CHECK_ST(cw_get_match(NULL, "*", 0, scan_nop, NULL), CW_EINVAL);
    CHECK_ST(cw_scan(NULL, "*", 0, scan_nop, NULL), CW_EINVAL);
    CHECK_ST(cw_exists(NULL, k), CW_EINVAL);
    CHECK_ST(cw_incr(NULL, k, 1, 1000, &i64), CW_EINVAL);
    CHECK_ST(cw_delete(NULL, k), CW_EINVAL);
    CHECK_ST(cw_delete_many(NULL, 1, &k, &u64), CW_EINVAL);
    CHECK_ST(cw_delete_match(NULL, "*", &u64), CW_EINVAL);
    CHECK_ST(cw_expire(NULL, k, 1000), CW_EINVAL);
    CHECK_ST(cw_get_expire(NULL, k, &i64), CW_EINVAL);
    CHECK_ST(cw_ping(NULL, NULL, &v), CW_EINVAL);
    CHECK_ST(cw_clear(NULL), CW_EINVAL);
    CHECK_ST(cw_get_keys_count(NULL, &u64), CW_EINVAL);
    CHECK_ST(cw_get_size(NULL, k, &u64), CW_EINVAL);
    CHECK_ST(cw_set_lock(NULL, k, "v", 1, 1000), CW_EINVAL);
    CHECK_ST(cw_unlock(NULL, k, "v", 1), CW_EINVAL);
    CHECK_ST(cw_is_locked(NULL, k, 0, 0, &flag), CW_EINVAL);
    CHECK_ST(cw_lock(NULL, k, 1000, 0, &g), CW_EINVAL);
    CHECK_ST(cw_lock_release(NULL), CW_OK);
    CHECK_ST(cw_set_bits(NULL, k, &idx, 1, 1000), CW_EINVAL);
    CHECK_ST(cw_get_bits(NULL, k, &idx, 1, &bit), CW_EINVAL);
    CHECK_ST(cw_slice_incr(NULL, k, 1000, 5, 1000, &i64), CW_EINVAL);
    CHECK_ST(cw_set_add(NULL, k, 1, &k, 1000), CW_EINVAL);
    CHECK_ST(cw_set_remove(NULL, k, 1, &k), CW_EINVAL);
    CHECK_ST(cw_set_pop(NULL, k, 1, scan_nop, NULL, NULL), CW_EINVAL);
    CHECK_ST(cw_cache_maintain(NULL), CW_EINVAL);
    CHECK_ST(cw_cache_register_backend(NULL, NULL), CW_EINVAL);
    CHECK_ST(cw_cache_add_middleware(NULL, NULL, NULL), CW_EINVAL);
    CHECK_ST(cw_disabling_begin(NULL, CW_CMD_ALL), CW_EINVAL);
    CHECK_ST(cw_disabling_end(NULL), CW_EINVAL);
    CHECK_ST(cw_callback_end(NULL), CW_EINVAL);
    CHECK_ST(cw_cache_new(NULL, NULL), CW_EINVAL);
    CHECK(cw_cache_backend(NULL, NULL) == NULL);
    CHECK_STR(cw_cache_errmsg(NULL), "");
    CHECK(!cw_cache_is_enabled(NULL, CW_CMD_GET));
    cw_cache_disable(NULL, CW_CMD_ALL);
    cw_cache_enable(NULL, CW_CMD_ALL);
    cw_cache_free(NULL);
    cw_value_free(NULL);
    CHECK_ST(cw_value_set(NULL, "x", 1), CW_EINVAL);
    CHECK_ST(cw_value_set(&v, NULL, 1), CW_EINVAL);
    CHECK_STR(cw_strerror(-1), "unknown status");
    CHECK_STR(cw_strerror(999), "unknown status");
    CHECK_STR(cw_command_name((cw_command)1000), "unknown");
    return 0;
}

/* Every keyed command with one bad key: want the status, and a message. */
static int bad_key_all(cw_cache *c, const char *key, cw_status want)
{
    cw_value v = { 0 };
    int64_t i64 = 0;
    uint64_t u64 = 0;
    int flag = 0;
    uint64_t idx = 1;
    uint8_t bit = 0;
    cw_lock_guard g;
    const char *keys[2] = { "ok", key };
    cw_value outs[2] = { { 0 }, { 0 } };
    const void *vals[2] = { "v", "v" };
    size_t lens[2] = { 1, 1 };
    cw_status got[] = {
        cw_set(c, key, "v", 1, 1000), cw_set_raw(c, key, "v", 1, 1000), cw_get(c, key, &v),
        cw_get_default(c, key, "d", 1, &v), cw_get_raw(c, key, &v), cw_exists(c, key),
        cw_incr(c, key, 1, 1000, &i64), cw_delete(c, key), cw_expire(c, key, 1000), cw_get_expire(c, key, &i64),
        cw_get_size(c, key, &u64), cw_set_lock(c, key, "v", 1, 1000), cw_unlock(c, key, "v", 1),
        cw_is_locked(c, key, 0, 0, &flag), cw_lock(c, key, 1000, 0, &g), cw_set_bits(c, key, &idx, 1, 1000),
        cw_get_bits(c, key, &idx, 1, &bit), cw_slice_incr(c, key, 1000, 5, 1000, &i64),
        cw_set_add(c, key, 1, keys, 1000), cw_set_remove(c, key, 1, keys), cw_set_pop(c, key, 1, scan_nop, NULL, NULL),
        cw_get_many(c, 2, keys, outs, (cw_status[2]){ 0 }), cw_set_many(c, 2, keys, vals, lens, 1000),
        cw_delete_many(c, 2, keys, &u64), cw_get_match(c, key, 0, scan_nop, NULL), cw_scan(c, key, 0, scan_nop, NULL),
        cw_delete_match(c, key, &u64),
    };
    cw_value_free(&v);
    cw_value_free(&outs[0]);
    cw_value_free(&outs[1]);
    for (size_t i = 0; i < sizeof got / sizeof *got; i++) {
        if (got[i] != want) {
            fprintf(stderr, "command #%zu with key %.20s%s (%zu bytes) -> %s, want %s\n", i, key ? key : "(null)",
                    key && strlen(key) > 20 ? "..." : "", key ? strlen(key) : 0, cw_strerror(got[i]), cw_strerror(want));
            return 1;
        }
    }
    CHECK(cw_cache_errmsg(c)[0]);
    return 0;
}

static int commands_bad_arguments(void)
{
    cw_fake_clock fc;
    cw_fake_clock_init(&fc);
    cw_cache_options o = { .clock = cw_fake_clock_now, .clock_ud = &fc, .max_key_bytes = 100, .max_value_bytes = 1000 };
    cw_cache *c = NULL;
    CHECK_OK(cw_cache_new(&c, &o));
    /* No backend yet: a clear state error, not a crash. */
    cw_value v = { 0 };
    CHECK_ST(cw_get(c, "k", &v), CW_ESTATE);
    CHECK_ST(cw_clear(c), CW_ESTATE);
    CHECK_ST(cw_ping(c, NULL, &v), CW_ESTATE);
    CHECK_OK(cw_cache_setup(c, "mem://", NULL, NULL));
    char longkey[102], maxkey[101];
    memset(longkey, 'k', 101);
    longkey[101] = 0;
    memset(maxkey, 'k', 100);
    maxkey[100] = 0;
    if (bad_key_all(c, NULL, CW_EINVAL)) return 1;
    if (bad_key_all(c, "", CW_EINVAL)) return 1;
    if (bad_key_all(c, longkey, CW_ETOOBIG)) return 1;
    CHECK_OK(cw_set(c, maxkey, "v", 1, 1000)); /* exactly max_key_bytes is fine */
    CHECK_OK(cw_get(c, maxkey, &v));
    /* NULL out pointers. */
    const char *k = "k";
    CHECK_ST(cw_get(c, k, NULL), CW_EINVAL);
    CHECK_ST(cw_get_raw(c, k, NULL), CW_EINVAL);
    CHECK_ST(cw_get_expire(c, k, NULL), CW_EINVAL);
    CHECK_ST(cw_get_size(c, k, NULL), CW_EINVAL);
    CHECK_ST(cw_get_keys_count(c, NULL), CW_EINVAL);
    CHECK_ST(cw_ping(c, NULL, NULL), CW_EINVAL);
    CHECK_ST(cw_is_locked(c, k, 0, 0, NULL), CW_EINVAL);
    CHECK_ST(cw_lock(c, k, 1000, 0, NULL), CW_EINVAL);
    CHECK_ST(cw_slice_incr(c, k, 1000, 5, 1000, NULL), CW_EINVAL);
    CHECK_ST(cw_get_many(c, 1, &k, NULL, (cw_status[1]){ 0 }), CW_EINVAL);
    CHECK_ST(cw_get_many(c, 1, &k, &v, NULL), CW_EINVAL);
    CHECK_ST(cw_get_many(c, 1, NULL, &v, (cw_status[1]){ 0 }), CW_EINVAL);
    CHECK_ST(cw_set_many(c, 1, &k, NULL, (size_t[]){ 1 }, 1000), CW_EINVAL);
    CHECK_ST(cw_set_many(c, 1, &k, (const void *const[]){ "v" }, NULL, 1000), CW_EINVAL);
    CHECK_ST(cw_delete_many(c, 1, NULL, NULL), CW_EINVAL);
    CHECK_ST(cw_get_match(c, "*", 0, NULL, NULL), CW_EINVAL);
    CHECK_ST(cw_scan(c, "*", 0, NULL, NULL), CW_EINVAL);
    CHECK_ST(cw_set_pop(c, k, 1, NULL, NULL, NULL), CW_EINVAL);
    CHECK_ST(cw_set_add(c, k, 2, NULL, 1000), CW_EINVAL);
    CHECK_ST(cw_set_add(c, k, 2, (const char *const[]){ "a", NULL }, 1000), CW_EINVAL);
    CHECK_ST(cw_set_remove(c, k, 1, NULL), CW_EINVAL);
    CHECK_ST(cw_set_bits(c, k, NULL, 1, 1000), CW_EINVAL);
    CHECK_ST(cw_get_bits(c, k, NULL, 1, NULL), CW_EINVAL);
    /* Optional outs may be NULL. */
    CHECK_OK(cw_incr(c, "n", 1, CW_NO_EXPIRY, NULL));
    CHECK_OK(cw_delete_many(c, 1, (const char *const[]){ "n" }, NULL));
    CHECK_OK(cw_delete_match(c, "zz*", NULL));
    CHECK_OK(cw_get_many(c, 0, NULL, NULL, NULL));
    CHECK_OK(cw_set_many(c, 0, NULL, NULL, NULL, 1000));
    /* Values: NULL with a length, over max_value_bytes, and exactly at it. */
    static char big[1001];
    CHECK_ST(cw_set(c, k, NULL, 1, 1000), CW_EINVAL);
    CHECK_ST(cw_set(c, k, big, 1001, 1000), CW_ETOOBIG);
    CHECK(cw_cache_errmsg(c)[0]);
    CHECK_ST(cw_set_raw(c, k, big, 1001, 1000), CW_ETOOBIG);
    CHECK_ST(cw_set_ex(c, k, big, 1001, &(cw_set_options){ .ttl_ms = 1000 }), CW_ETOOBIG);
    CHECK_ST(cw_set_lock(c, k, big, 1001, 1000), CW_ETOOBIG);
    CHECK_ST(cw_unlock(c, k, big, 1001), CW_ETOOBIG);
    CHECK_ST(cw_set_many(c, 1, &k, (const void *const[]){ big }, (size_t[]){ 1001 }, 1000), CW_ETOOBIG);
    CHECK_OK(cw_set_raw(c, k, big, 1000, 1000));
    CHECK_OK(cw_set(c, k, NULL, 0, 1000));
    /* TTLs and modes. */
    static const int64_t bad_ttls[] = { 0, -2, -1000, INT64_MIN };
    for (size_t i = 0; i < sizeof bad_ttls / sizeof *bad_ttls; i++) {
        CHECK_ST(cw_set(c, k, "v", 1, bad_ttls[i]), CW_EINVAL);
        CHECK_ST(cw_expire(c, k, bad_ttls[i]), CW_EINVAL);
        CHECK_ST(cw_incr(c, "n", 1, bad_ttls[i], NULL), CW_EINVAL);
        CHECK_ST(cw_set_lock(c, "l", "v", 1, bad_ttls[i]), CW_EINVAL);
        CHECK_ST(cw_set_many(c, 1, &k, (const void *const[]){ "v" }, (size_t[]){ 1 }, bad_ttls[i]), CW_EINVAL);
    }
    CHECK_ST(cw_set_ex(c, k, "v", 1, &(cw_set_options){ .ttl_ms = 1000, .mode = (cw_set_mode)7 }), CW_EINVAL);
    CHECK_ST(cw_set_ex(c, k, "v", 1, &(cw_set_options){ .ttl_ms = 1000, .ntags = 1 }), CW_EINVAL);
    CHECK_ST(cw_set_ex(c, k, "v", 1, &(cw_set_options){ .ttl_ms = 1000, .ntags = 1, .tags = (const char *const[]){ NULL } }), CW_EINVAL);
    CHECK_ST(cw_slice_incr(c, k, 0, 5, 1000, &(int64_t){ 0 }), CW_EINVAL);
    CHECK_ST(cw_slice_incr(c, k, 1000, 0, 1000, &(int64_t){ 0 }), CW_EINVAL);
    /* incr on text that is not a decimal int64, and overflow. */
    static const char *const notint[] = { "abc", "", " 1", "1 ", "1.5", "0x10", "99999999999999999999", "--1", "+" };
    for (size_t i = 0; i < sizeof notint / sizeof *notint; i++) {
        CHECK_OK(cw_set_raw(c, "n", notint[i], strlen(notint[i]), CW_NO_EXPIRY));
        cw_status st = cw_incr(c, "n", 1, CW_NO_EXPIRY, NULL);
        if (st != CW_ETYPE) {
            fprintf(stderr, "incr on \"%s\" -> %s, want ETYPE\n", notint[i], cw_strerror(st));
            return 1;
        }
    }
    int64_t n = 0;
    CHECK_OK(cw_set_raw(c, "n", "9223372036854775807", 19, CW_NO_EXPIRY));
    CHECK_ST(cw_incr(c, "n", 1, CW_NO_EXPIRY, &n), CW_EINVAL);
    CHECK_OK(cw_set_raw(c, "n", "-9223372036854775808", 20, CW_NO_EXPIRY));
    CHECK_ST(cw_incr(c, "n", -1, CW_NO_EXPIRY, &n), CW_EINVAL);
    CHECK_OK(cw_incr(c, "n", INT64_MAX, CW_NO_EXPIRY, &n));
    CHECK_EQ_INT(n, -1);
    /* Huge bit indexes: an error or a real answer, never a crash or a giant allocation. */
    uint64_t idx[] = { UINT64_MAX, UINT64_MAX / 2, (uint64_t)1 << 40 };
    uint8_t bits[3] = { 9, 9, 9 };
    cw_status bs = cw_set_bits(c, "bits", idx, 3, 1000);
    CHECK(bs == CW_OK || bs == CW_EINVAL || bs == CW_ETOOBIG);
    bs = cw_get_bits(c, "bits", idx, 3, bits);
    CHECK(bs == CW_OK || bs == CW_EINVAL || bs == CW_ETOOBIG);
    if (bs == CW_OK) CHECK(bits[0] <= 1 && bits[1] <= 1 && bits[2] <= 1);
    /* A batch that fails on a bad key still says, for every key, whether it was served. */
    const char *bkeys[3] = { "a", NULL, "b" };
    cw_value bouts[3] = { { 0 }, { 0 }, { 0 } };
    cw_status bsts[3] = { (cw_status)99, (cw_status)99, (cw_status)99 };
    CHECK_ST(cw_get_many(c, 3, bkeys, bouts, bsts), CW_EINVAL);
    CHECK(bsts[0] == CW_NOTFOUND && bsts[1] == CW_NOTFOUND && bsts[2] == CW_NOTFOUND);
    /* A bad tag is refused before anything is written. */
    CHECK_ST(cw_set_ex(c, "tagged", "v", 1, &(cw_set_options){ .ttl_ms = 1000, .ntags = 1, .tags = (const char *const[]){ "" } }),
             CW_EINVAL);
    CHECK_ST(cw_exists(c, "tagged"), CW_NOTFOUND);
    CHECK_ST(cw_set_ex(c, "tagged", "v", 1, &(cw_set_options){ .ttl_ms = 1000, .ntags = 2, .tags = (const char *const[]){ "t", NULL } }),
             CW_EINVAL);
    CHECK_ST(cw_exists(c, "tagged"), CW_NOTFOUND);
    /* Huge TTLs and windows: no overflow (UBSan aborts on one), a sane remaining TTL. */
    int64_t left = 0;
    CHECK_OK(cw_set(c, "far", "v", 1, INT64_MAX));
    CHECK_OK(cw_get_expire(c, "far", &left));
    CHECK(left > 0 || left == -1);
    CHECK_OK(cw_expire(c, "far", INT64_MAX - 1));
    CHECK_OK(cw_incr(c, "farn", 1, INT64_MAX, NULL));
    CHECK_OK(cw_slice_incr(c, "win", INT64_MAX, 5, INT64_MAX, &left));
    CHECK_OK(cw_set_lock(c, "farlock", "v", 1, INT64_MAX));
    int locked = 0;
    CHECK_OK(cw_is_locked(c, "free", 0, INT64_MAX, &locked));
    CHECK(!locked);
    CHECK_OK(cw_is_locked(c, "free", INT64_MAX, 0, &locked));
    cw_lock_guard g;
    CHECK_OK(cw_lock(c, "L", 1000, INT64_MAX, &g));
    CHECK_OK(cw_lock_release(&g));
    /* Scopes that were never opened, and too many. */
    CHECK_ST(cw_disabling_end(c), CW_ESTATE);
    CHECK_ST(cw_callback_end(c), CW_ESTATE);
    CHECK_ST(cw_callback_begin(c, CW_CMD_ALL, NULL, NULL), CW_EINVAL);
    int opened = 0;
    cw_status st;
    while ((st = cw_disabling_begin(c, 0)) == CW_OK && opened < 1000) opened++;
    CHECK_ST(st, CW_ENOMEM);
    while (opened--) CHECK_OK(cw_disabling_end(c));
    cw_value_free(&v);
    cw_cache_free(c);
    return 0;
}

/* ---- 3. Envelopes --------------------------------------------------------------------------- */

/* docs/FORMAT.md: C5 01 flags codec [created int64 LE] [refresh_at int64 LE] payload; flags
 * other than bits 0 and 1 make the value foreign. Returns the payload offset, or 0 when @v
 * is not an envelope (then readers get it as it is). Also gives the codec. */
static size_t envelope_payload(const unsigned char *v, size_t n, unsigned *codec)
{
    *codec = 0;
    if (n < 4 || v[0] != 0xC5 || v[1] != 1 || (v[2] & ~3u)) return 0;
    size_t need = 4 + ((v[2] & 1) ? 8 : 0) + ((v[2] & 2) ? 8 : 0);
    if (n < need) return 0;
    *codec = v[3];
    return need;
}

static void random_stored(rb_rng *r, unsigned char *buf, size_t *n)
{
    *n = rb_below(r, 48);
    for (size_t k = 0; k < *n; k++) buf[k] = (unsigned char)rb_rnd(r);
    if (*n >= 2 && rb_chance(r, 60)) { buf[0] = 0xC5; buf[1] = rb_chance(r, 90) ? 1 : 2; }
    if (*n >= 3 && rb_chance(r, 70)) buf[2] = (unsigned char)rb_below(r, rb_chance(r, 90) ? 4 : 256);
    if (*n >= 4 && rb_chance(r, 70)) {
        buf[3] = (unsigned char)(rb_chance(r, 40) ? 0 : rb_chance(r, 50) ? 1 : rb_rnd(r));
        if (buf[3] == 1) { /* a cached error: a decimal code after the header */
            size_t off;
            unsigned codec;
            if ((off = envelope_payload(buf, *n, &codec)) != 0 || *n == 4) {
                if (!off) off = 4;
                *n = off + (size_t)snprintf((char *)buf + off, 16, "%d", (int)rb_below(r, 40) - 5);
            }
        }
    }
}

typedef struct match_ctx {
    const unsigned char (*want)[64];
    const size_t *wlen;
    size_t seen;
    int bad;
} match_ctx;

static int match_check(void *ud, const char *key, size_t klen, const void *val, size_t vlen)
{
    match_ctx *m = ud;
    char num[24] = "";
    if (klen > 4 && klen - 4 < sizeof num) memcpy(num, key + 4, klen - 4); /* key is not NUL-terminated */
    size_t i = (size_t)strtoul(num, NULL, 10);
    m->seen++;
    if (i >= 300) { m->bad = 1; return 1; }
    if (!val || vlen != m->wlen[i] || memcmp(val, m->want[i], vlen) != 0) m->bad = 1;
    return 0;
}

static int envelope_random_values(void)
{
    rb_rng r;
    rb_rng_init(&r, __func__);
    cw_cache *c = NULL;
    CHECK_OK(cw_cache_new_default(&c));
    enum { N = 300 };
    static unsigned char stored[N][64], want[N][64];
    size_t slen[N], wlen[N];
    char key[32];
    cw_value v = { 0 };
    for (size_t i = 0; i < N; i++) {
        random_stored(&r, stored[i], &slen[i]);
        unsigned codec;
        size_t off = envelope_payload(stored[i], slen[i], &codec);
        wlen[i] = slen[i] - off;
        memcpy(want[i], stored[i] + off, wlen[i]);
        snprintf(key, sizeof key, "env:%zu", i);
        CHECK_OK(cw_set_raw(c, key, stored[i], slen[i], CW_NO_EXPIRY));
        rb_shown a, b;
        CHECK_OK(cw_get(c, key, &v));
        RB_EXPECT(&r, i, v.len == wlen[i] && (!v.len || memcmp(v.data, want[i], v.len) == 0) && v.data && v.data[v.len] == 0,
               "stored %s, cw_get gave %s", rb_show(&a, stored[i], slen[i]), rb_show(&b, v.data, v.len));
        CHECK_OK(cw_get_raw(c, key, &v));
        RB_EXPECT(&r, i, v.len == slen[i] && (!v.len || memcmp(v.data, stored[i], v.len) == 0),
               "stored %s, cw_get_raw gave %s", rb_show(&a, stored[i], slen[i]), rb_show(&b, v.data, v.len));
        uint64_t size = 0;
        CHECK_OK(cw_get_size(c, key, &size));
        CHECK_EQ_INT(size, slen[i]);
    }
    /* The same through get_many and get_match. */
    const char *keys[N];
    static char keybuf[N][16];
    cw_value outs[N];
    cw_status sts[N];
    memset(outs, 0, sizeof outs);
    for (size_t i = 0; i < N; i++) {
        snprintf(keybuf[i], sizeof keybuf[i], "env:%zu", i);
        keys[i] = keybuf[i];
    }
    CHECK_OK(cw_get_many(c, N, keys, outs, sts));
    int bad = 0;
    for (size_t i = 0; i < N; i++) {
        if (sts[i] != CW_OK || outs[i].len != wlen[i] || (wlen[i] && memcmp(outs[i].data, want[i], wlen[i]) != 0)) bad = 1;
        cw_value_free(&outs[i]);
    }
    CHECK(!bad);
    match_ctx m = { (const unsigned char (*)[64])want, wlen, 0, 0 };
    CHECK_OK(cw_get_match(c, "env:*", 7, match_check, &m));
    CHECK_EQ_INT(m.seen, N);
    CHECK(!m.bad);
    cw_value_free(&v);
    cw_cache_free(c);
    return 0;
}

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

/* A cached function reading foreign or damaged bytes at its key: an envelope with codec 0 is
 * a hit with its payload; codec 1 with a code in 1..1e9 is that cached error; any other codec
 * (unregistered) is a miss, so the loader answers; bytes that are no envelope are a raw hit. */
static int envelope_under_cached_function(void)
{
    rb_rng r;
    rb_rng_init(&r, __func__);
    cw_cache *c = NULL;
    CHECK_OK(cw_cache_new_default(&c));
    load_ctx lc = { 0 };
    cw_func *f = CW_FUNC(c, load_fixed, .loader_ud = &lc, .args = "a", .key = "fz:{a}", .prefix = "", .ttl = "1h");
    CHECK(f != NULL);
    cw_value v = { 0 }, key = { 0 };
    unsigned char buf[64];
    for (size_t i = 0; i < rb_scaled(3000); i++) {
        size_t n;
        random_stored(&r, buf, &n);
        cw_arg a = CW_ARG_INT((int64_t)i);
        CHECK_OK(cw_func_key(f, &a, 1, &key));
        CHECK_OK(cw_set_raw(c, (const char *)key.data, buf, n, CW_NO_EXPIRY));
        unsigned codec;
        size_t off = envelope_payload(buf, n, &codec);
        int want_st = CW_OK;
        const unsigned char *want = buf + off;
        size_t wl = n - off;
        if (off && codec == 1) {
            char num[64];
            memcpy(num, buf + off, wl);
            num[wl] = 0;
            long code = strtol(num, NULL, 10);
            if (code > 0 && code <= 1000000000L) { want_st = (int)code; wl = 0; }
            else { want = (const unsigned char *)"L"; wl = 1; }
        } else if (off && codec != 0) {
            want = (const unsigned char *)"L";
            wl = 1;
        }
        int st = cw_func_call(f, &a, 1, &v);
        rb_shown sh, sg;
        RB_EXPECT(&r, i, st == want_st && (st != CW_OK || (v.len == wl && (!wl || memcmp(v.data, want, wl) == 0))),
               "stored %s: call -> %s (%d) %s, want %d %s", rb_show(&sh, buf, n), cw_strerror(st), st,
               st == CW_OK ? rb_show(&sg, v.data, v.len) : "", want_st, want_st == CW_OK ? "" : "(cached error)");
    }
    cw_value_free(&v);
    cw_value_free(&key);
    cw_func_free(f);
    cw_cache_free(c);
    return 0;
}

static const cw_test tests[] = {
    CW_TEST(setup_random_urls),
    CW_TEST(setup_hand_picked),
    CW_TEST(setup_disk_huge_size_limit),
    CW_TEST(backend_without_ops),
    CW_TEST(commands_null_cache),
    CW_TEST(commands_bad_arguments),
    CW_TEST(envelope_random_values),
    CW_TEST(envelope_under_cached_function),
    { 0 },
};

int main(int argc, char **argv) { return cw_test_main(tests, argc, argv); }
