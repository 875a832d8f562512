/*
 * test_redis.c - the redis:// and rediss:// backend against a real redis-server started by the
 * harness on a free loopback port: the shared command suite (plain, then again with the
 * client-side cache, signing and compression on), and what is Redis's own: URL parameters,
 * db and AUTH/ACL, signed values (tampered, copied, foreign secret), compression round trips,
 * the server killed and restarted mid-run (suppress on and off), a frozen server and the
 * timeouts, invalidation of the client-side cache by an outside redis-cli, TLS with a
 * throwaway CA, fork, and that batches are one command on the server.
 */
#include "cw_test.h"
#include "core/internal.h"
#include "redis_server.h"
#include "suite.h"

#include <stdarg.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

static cw_redis_server rs;     /* the plain server, for the whole run */
static char base_url[128];     /* redis://127.0.0.1:PORT */

static double now_ms(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return ts.tv_sec * 1e3 + ts.tv_nsec / 1e6;
}

static void sleep_ms(int ms)
{
    struct timespec ts = { ms / 1000, (long)(ms % 1000) * 1000000L };
    nanosleep(&ts, NULL);
}

/* This thread's last failure detail, as the backend wrote it. */
static const char *lasterr(void)
{
    static char buf[CW_ERRMSG_SIZE];
    cw__errmsg_copy(buf);
    return buf;
}

/* ---- fixture: a backend opened through its ops table ---------------------------------------- */

typedef struct fx {
    cw_backend *b;
    const cw_backend_ops *ops;
    cw_backend_env env;
    char err[CW_ERRMSG_SIZE];
    _Atomic int warns;
    char last_warn[512];
} fx;

static void fx_log(void *ud, cw_log_level level, const char *msg)
{
    fx *f = ud;
    if (level >= CW_LOG_WARN) {
        atomic_fetch_add(&f->warns, 1);
        snprintf(f->last_warn, sizeof f->last_warn, "%s", msg);
    }
}

static cw_status fx_open(fx *f, const char *fmt, ...)
{
    char text[1024];
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(text, sizeof text, fmt, ap);
    va_end(ap);
    memset(f, 0, sizeof *f);
    f->env.clock = cw_clock_now_ms;
    f->env.log = fx_log;
    f->env.log_ud = f;
    cw_url url;
    cw_status st = cw_url_parse(text, NULL, &url, f->err);
    if (st) return st;
    f->ops = strcmp(url.scheme, "rediss") == 0 ? &cw__rediss_ops : &cw__redis_ops;
    st = f->ops->open(&f->b, &url, &f->env, f->err);
    for (size_t i = 0; st == CW_OK && i < url.nparams; i++)
        if (!url.params[i].taken) {
            snprintf(f->err, sizeof f->err, "parameter %s not taken", url.params[i].name);
            f->ops->close(f->b);
            f->b = NULL;
            st = CW_EINVAL;
        }
    cw_url_free(&url);
    if (st != CW_OK) fprintf(stderr, "  open %s: %s\n", text, f->err);
    return st;
}

static void fx_close(fx *f)
{
    if (f->b) f->ops->close(f->b);
    f->b = NULL;
}

static cw_status put(fx *f, const char *k, const char *v, int64_t ttl)
{
    return f->ops->set(f->b, k, strlen(k), v, strlen(v), ttl, CW_SET_ALWAYS);
}
static cw_status get(fx *f, const char *k, cw_value *v) { return f->ops->get(f->b, k, strlen(k), v); }

static int flushall(void)
{
    char out[64];
    return cw_redis_cli(&rs, out, sizeof out, "FLUSHALL", NULL) == 0 && strcmp(out, "OK") == 0 ? 0 : 1;
}

/* ---- URL parameters ------------------------------------------------------------------------ */

static int url_errors_are_clear(void)
{
    fx f;
    CHECK_ST(fx_open(&f, "%s?digestmod=crc", base_url), CW_EINVAL);
    CHECK(strstr(f.err, "digestmod") != NULL);
    CHECK_ST(fx_open(&f, "%s?secret=k&digestmod=crc", base_url), CW_EINVAL);
    CHECK(strstr(f.err, "digestmod") != NULL);
    CHECK_ST(fx_open(&f, "%s?compress_type=lz4", base_url), CW_EINVAL);
    CHECK(strstr(f.err, "compress_type") != NULL);
    CHECK_ST(fx_open(&f, "%s?compress_type=gzip&compress_level=12", base_url), CW_EINVAL);
    CHECK_ST(fx_open(&f, "%s?ssl_ca_certs=/x", base_url), CW_EINVAL);
    CHECK(strstr(f.err, "rediss") != NULL);
    CHECK_ST(fx_open(&f, "%s/abc", base_url), CW_EINVAL);
    CHECK(strstr(f.err, "database") != NULL);
    CHECK_ST(fx_open(&f, "%s?socket_timeout=soon", base_url), CW_EINVAL);
    CHECK_ST(fx_open(&f, "%s?max_connections=0", base_url), CW_EINVAL);
    CHECK_ST(fx_open(&f, "%s?suppress=maybe", base_url), CW_EINVAL);
    CHECK_ST(fx_open(&f, "%s?client_side=1&client_side_prefix=", base_url), CW_EINVAL);
    CHECK_ST(fx_open(&f, "%s?secret=", base_url), CW_EINVAL);
    CHECK_ST(fx_open(&f, "rediss://127.0.0.1:1?ssl_ca_certs=/nonexistent/ca.pem"), CW_EINVAL);
    CHECK(strstr(f.err, "ssl_ca_certs") != NULL);
    /* Every documented parameter is taken (the seed's names included). */
    CHECK_OK(fx_open(&f,
                     "%s/0?db=0&max_connections=4&socket_connect_timeout=0.5&socket_timeout=2"
                     "&wait_for_connection_timeout=1&retry_on_timeout=1&suppress=0&client_name=t"
                     "&hash_key=a&secret=b&digestmod=sha256&compress_type=zstd&compress_level=5"
                     "&compress_min_size=1k&prefix=app:&minsize=2&health_check_interval=1",
                     base_url));
    fx_close(&f);
    /* Opening never connects: a server that is not there is no error at setup. */
    CHECK_OK(fx_open(&f, "redis://127.0.0.1:1?suppress=0"));
    cw_value v = { 0 };
    CHECK_ST(get(&f, "k", &v), CW_EBACKEND);
    fx_close(&f);
    return 0;
}

static int db_number_from_path_and_param(void)
{
    CHECK_EQ_INT(flushall(), 0);
    fx a, b, c;
    CHECK_OK(fx_open(&a, "%s/1?allow_flushdb=1", base_url));
    CHECK_OK(fx_open(&b, "%s?db=2", base_url));
    CHECK_OK(fx_open(&c, "%s/1?db=2", base_url)); /* the parameter wins */
    CHECK_OK(put(&a, "k", "one", CW_NO_EXPIRY));
    CHECK_OK(put(&b, "k", "two", CW_NO_EXPIRY));
    cw_value v = { 0 };
    CHECK_OK(get(&a, "k", &v));
    CHECK_VAL(v, "one");
    CHECK_OK(get(&c, "k", &v));
    CHECK_VAL(v, "two");
    char out[64];
    CHECK_EQ_INT(cw_redis_cli(&rs, out, sizeof out, "-n", "1", "GET", "k", NULL), 0);
    CHECK_STR(out, "one");
    uint64_t n = 0;
    CHECK_OK(a.ops->clear(a.b)); /* FLUSHDB: db 1 only */
    CHECK_OK(b.ops->keys_count(b.b, &n));
    CHECK_EQ_INT(n, 1);
    cw_value_free(&v);
    fx_close(&a);
    fx_close(&b);
    fx_close(&c);
    return 0;
}

static int auth_password_and_acl(void)
{
    cw_redis_server s;
    const char *extra[] = { "--requirepass", "s3cret", "--user", "alice", "on", ">pw",
                            "~*", "+@all", NULL };
    cw_redis_server_opts o = { 0, extra };
    CHECK_EQ_INT(cw_redis_server_start(&s, &o), 0);
    fx f;
    cw_value v = { 0 };
    int rc = 1;
    if (fx_open(&f, "redis://127.0.0.1:%d?suppress=0", s.port) != CW_OK) goto out;
    CHECK_ST(put(&f, "k", "v", CW_NO_EXPIRY), CW_EBACKEND); /* NOAUTH */
    fx_close(&f);
    CHECK_OK(fx_open(&f, "redis://:s3cret@127.0.0.1:%d?suppress=0", s.port));
    CHECK_OK(put(&f, "k", "legacy", CW_NO_EXPIRY));
    fx_close(&f);
    CHECK_OK(fx_open(&f, "redis://127.0.0.1:%d?suppress=0&password=s3cret", s.port));
    CHECK_OK(get(&f, "k", &v));
    CHECK_VAL(v, "legacy");
    fx_close(&f);
    CHECK_OK(fx_open(&f, "redis://alice:pw@127.0.0.1:%d?suppress=0", s.port));
    CHECK_OK(get(&f, "k", &v));
    CHECK_VAL(v, "legacy");
    fx_close(&f);
    CHECK_OK(fx_open(&f, "redis://127.0.0.1:%d?suppress=0&username=alice&password=nope", s.port));
    CHECK_ST(get(&f, "k", &v), CW_EBACKEND);
    CHECK(strstr(lasterr(), "AUTH") != NULL);
    fx_close(&f);
    /* suppress on: a wrong password is an outage like any other (a miss and a warning). */
    CHECK_OK(fx_open(&f, "redis://127.0.0.1:%d?password=nope", s.port));
    CHECK_ST(get(&f, "k", &v), CW_NOTFOUND);
    CHECK_EQ_INT(atomic_load(&f.warns), 1);
    rc = 0;
out:
    fx_close(&f);
    cw_value_free(&v);
    cw_redis_server_stop(&s);
    return rc;
}

/* ---- signed values ------------------------------------------------------------------------- */

static int signed_values_verify(void)
{
    CHECK_EQ_INT(flushall(), 0);
    const char *mods[] = { "md5", "sha1", "sha256", "sum",
#if defined(__has_include)
#if __has_include(<xxhash.h>) /* as the library decides (libxxhash-dev) */
                           "xxh64", "xxh3",
#endif
#endif
    };
    cw_value v = { 0 };
    char out[256];
    for (size_t i = 0; i < sizeof mods / sizeof *mods; i++) {
        fx f, other, plain;
        CHECK_OK(fx_open(&f, "%s?secret=k1&digestmod=%s", base_url, mods[i]));
        CHECK_OK(fx_open(&other, "%s?secret=k2&digestmod=%s", base_url, mods[i]));
        CHECK_OK(fx_open(&plain, "%s", base_url));
        CHECK_OK(put(&f, "a", "payload", CW_NO_EXPIRY));
        CHECK_OK(get(&f, "a", &v));
        CHECK_VAL(v, "payload");
        /* Stored as "<signature>_<value>". */
        CHECK_OK(get(&plain, "a", &v));
        CHECK(v.len > 8 && memcmp(v.data + v.len - 8, "_payload", 8) == 0);
        char stored[256];
        snprintf(stored, sizeof stored, "%.*s", (int)v.len, v.data);
        /* Another secret: a miss, and a (rate-limited) warning. */
        CHECK_ST(get(&other, "a", &v), CW_NOTFOUND);
        CHECK_EQ_INT(atomic_load(&other.warns), 1);
        /* Copied under another key: the signature is bound to the key name. */
        CHECK_EQ_INT(cw_redis_cli(&rs, out, sizeof out, "SET", "b", stored, NULL), 0);
        CHECK_ST(get(&f, "b", &v), CW_NOTFOUND);
        /* Tampered: one byte of the value changed. */
        char tampered[256];
        snprintf(tampered, sizeof tampered, "%s", stored);
        tampered[strlen(tampered) - 1] = 'X';
        CHECK_EQ_INT(cw_redis_cli(&rs, out, sizeof out, "SET", "a", tampered, NULL), 0);
        CHECK_ST(get(&f, "a", &v), CW_NOTFOUND);
        /* A value without a signature at all. */
        CHECK_EQ_INT(cw_redis_cli(&rs, out, sizeof out, "SET", "a", "payload", NULL), 0);
        CHECK_ST(get(&f, "a", &v), CW_NOTFOUND);
        /* Counters pass unsigned: INCRBY cannot sign. */
        int64_t n = 0;
        CHECK_OK(f.ops->incr(f.b, "cnt", 3, 7, CW_NO_EXPIRY, &n));
        CHECK_OK(get(&f, "cnt", &v));
        CHECK_VAL(v, "7");
        /* unlock compares with the signed form */
        CHECK_OK(put(&f, "lock", "token", 10000));
        CHECK_ST(f.ops->delete_if_equal(f.b, "lock", 4, "other", 5), CW_NOTSTORED);
        CHECK_OK(f.ops->delete_if_equal(f.b, "lock", 4, "token", 5));
        fx_close(&f);
        fx_close(&other);
        fx_close(&plain);
        CHECK_EQ_INT(flushall(), 0);
    }
    cw_value_free(&v);
    return 0;
}

static int signed_values_in_batches_and_scans(void)
{
    CHECK_EQ_INT(flushall(), 0);
    fx f;
    CHECK_OK(fx_open(&f, "%s?secret=k1&digestmod=sha256", base_url));
    const char *keys[] = { "m1", "m2", "m3" };
    size_t klens[] = { 2, 2, 2 };
    const void *vals[] = { "v1", "v2", "v3" };
    size_t vlens[] = { 2, 2, 2 };
    CHECK_OK(f.ops->set_many(f.b, 3, keys, klens, vals, vlens, 60000));
    char out[256];
    CHECK_EQ_INT(cw_redis_cli(&rs, out, sizeof out, "SET", "m2", "forged_v2", NULL), 0);
    cw_value outs[3] = { { 0 } };
    cw_status sts[3];
    CHECK_OK(f.ops->get_many(f.b, 3, keys, klens, outs, sts));
    CHECK_ST(sts[0], CW_OK);
    CHECK_VAL(outs[0], "v1");
    CHECK_ST(sts[1], CW_NOTFOUND);
    CHECK_ST(sts[2], CW_OK);
    for (int i = 0; i < 3; i++) cw_value_free(&outs[i]);
    fx_close(&f);
    return 0;
}

/* ---- compression ----------------------------------------------------------------------------- */

static int compression_round_trips(void)
{
    CHECK_EQ_INT(flushall(), 0);
    size_t big = 20000;
    char *val = malloc(big + 1);
    CHECK(val != NULL);
    for (size_t i = 0; i < big; i++) val[i] = "abcdefgh"[(i * 7 + i / 13) % 8];
    val[big] = 0;
    const char *types[] = { "gzip", "zlib", "zstd" };
    cw_value v = { 0 };
    uint64_t size = 0;
    int rc = 1;
    fx p; /* no codec: sees the stored sizes */
    if (fx_open(&p, "%s", base_url) != CW_OK) goto out;
    for (int t = 0; t < 3; t++) {
        fx f, g, h;
        if (fx_open(&f, "%s?compress_type=%s", base_url, types[t]) != CW_OK) goto out;
        /* Another codec configured reads it too: the header names the codec. */
        if (fx_open(&g, "%s?compress_type=%s", base_url, types[(t + 1) % 3]) != CW_OK) goto out;
        if (fx_open(&h, "%s?compress_type=%s&secret=s&compress_min_size=4", base_url, types[t]) != CW_OK)
            goto out;
        CHECK_OK(f.ops->set(f.b, "big", 3, val, big, CW_NO_EXPIRY, CW_SET_ALWAYS));
        CHECK_OK(p.ops->value_size(p.b, "big", 3, &size));
        CHECK(size < big / 4); /* stored compressed */
        CHECK_OK(f.ops->value_size(f.b, "big", 3, &size));
        CHECK_EQ_INT(size, big); /* the size get returns */
        CHECK_OK(get(&f, "big", &v));
        CHECK_EQ_INT(v.len, big);
        CHECK(memcmp(v.data, val, big) == 0);
        CHECK_OK(get(&g, "big", &v));
        CHECK_EQ_INT(v.len, big);
        CHECK(memcmp(v.data, val, big) == 0);
        /* Small values (under compress_min_size, 1 KiB by default) are stored as they are. */
        CHECK_OK(put(&f, "small", "tiny value", CW_NO_EXPIRY));
        CHECK_OK(p.ops->value_size(p.b, "small", 5, &size));
        CHECK_EQ_INT(size, 10);
        /* Signed and compressed: compressed first, then what is stored is signed. */
        CHECK_OK(h.ops->set(h.b, "both", 4, val, big, CW_NO_EXPIRY, CW_SET_ALWAYS));
        CHECK_OK(p.ops->value_size(p.b, "both", 4, &size));
        CHECK(size < big / 4);
        CHECK_OK(h.ops->get(h.b, "both", 4, &v));
        CHECK_EQ_INT(v.len, big);
        CHECK(memcmp(v.data, val, big) == 0);
        CHECK_ST(get(&f, "both", &v), CW_OK); /* unsigned reader: the signed bytes as they are */
        CHECK(v.len < big / 4);
        /* With a threshold of 4 bytes, a compressible 64-byte value shrinks. */
        const char *a64 = "aaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaa";
        CHECK_OK(put(&h, "mid", a64, CW_NO_EXPIRY));
        CHECK_OK(p.ops->value_size(p.b, "mid", 3, &size));
        CHECK(size < 64 + 33);
        CHECK_OK(get(&h, "mid", &v));
        CHECK_VAL(v, a64);
        /* A raw value that merely starts like our header comes back untouched. */
        CHECK_OK(f.ops->set(f.b, "raw", 3, "\xC7z\x01not compressed", 17, CW_NO_EXPIRY,
                            CW_SET_ALWAYS));
        CHECK_OK(get(&f, "raw", &v));
        CHECK_EQ_INT(v.len, 17);
        CHECK(memcmp(v.data, "\xC7z\x01not compressed", 17) == 0);
        fx_close(&f);
        fx_close(&g);
        fx_close(&h);
    }
    fx_close(&p);
    rc = 0;
out:
    free(val);
    cw_value_free(&v);
    return rc;
}

/* ---- outages ------------------------------------------------------------------------------- */

static int server_killed_and_restarted_suppressed(void)
{
    fx f;
    CHECK_OK(fx_open(&f, "%s?socket_timeout=0.5&socket_connect_timeout=0.5", base_url));
    cw_value v = { 0 };
    CHECK_OK(put(&f, "k", "before", CW_NO_EXPIRY));
    CHECK_OK(get(&f, "k", &v));
    CHECK_EQ_INT(cw_redis_server_kill(&rs), 0);
    double t0 = now_ms();
    for (int i = 0; i < 50; i++) {
        CHECK_ST(get(&f, "k", &v), CW_NOTFOUND);
        CHECK_ST(put(&f, "k", "during", CW_NO_EXPIRY), CW_NOTSTORED);
        CHECK_ST(f.ops->del(f.b, "k", 1), CW_NOTSTORED);
        int64_t n;
        CHECK_ST(f.ops->incr(f.b, "n", 1, 1, CW_NO_EXPIRY, &n), CW_NOTSTORED);
    }
    CHECK(now_ms() - t0 < 1000); /* refused connections fail fast */
    /* One warning for the whole burst (at most one a second). */
    CHECK_EQ_INT(atomic_load(&f.warns), 1);
    CHECK(strstr(f.last_warn, "suppress") != NULL);
    /* ping is never suppressed */
    CHECK_ST(f.ops->ping(f.b, NULL, 0, &v), CW_EBACKEND);
    CHECK_EQ_INT(cw_redis_server_restart(&rs), 0);
    /* Back without reopening anything: the dead connection is dropped, a new one made. */
    CHECK_ST(get(&f, "k", &v), CW_NOTFOUND); /* no persistence: the data is gone */
    CHECK_OK(put(&f, "k", "after", CW_NO_EXPIRY));
    CHECK_OK(get(&f, "k", &v));
    CHECK_VAL(v, "after");
    cw_value_free(&v);
    fx_close(&f);
    return 0;
}

static int server_killed_and_restarted_unsuppressed(void)
{
    fx f;
    CHECK_OK(fx_open(&f, "%s?suppress=0&socket_timeout=0.5&socket_connect_timeout=0.5&max_connections=3",
                     base_url));
    cw_value v = { 0 };
    CHECK_OK(put(&f, "k", "before", CW_NO_EXPIRY));
    CHECK_EQ_INT(cw_redis_server_kill(&rs), 0);
    double t0 = now_ms();
    CHECK_ST(get(&f, "k", &v), CW_EBACKEND);
    CHECK(strstr(lasterr(), "connect") != NULL);
    CHECK_ST(put(&f, "k", "x", CW_NO_EXPIRY), CW_EBACKEND);
    uint64_t n;
    CHECK_ST(f.ops->keys_count(f.b, &n), CW_EBACKEND);
    CHECK(now_ms() - t0 < 500);
    CHECK_EQ_INT(atomic_load(&f.warns), 0);
    CHECK_EQ_INT(cw_redis_server_restart(&rs), 0);
    CHECK_OK(put(&f, "k", "after", CW_NO_EXPIRY));
    CHECK_OK(get(&f, "k", &v));
    CHECK_VAL(v, "after");
    /* A restart while connections sit in the pool: they are found dead and replaced. */
    CHECK_EQ_INT(cw_redis_server_restart(&rs), 0);
    sleep_ms(30); /* past the idle check threshold */
    CHECK_ST(get(&f, "k", &v), CW_NOTFOUND);
    /* ... and also right away, by the retry of a request that never reached the server. */
    CHECK_OK(put(&f, "k", "x", CW_NO_EXPIRY));
    CHECK_EQ_INT(cw_redis_server_restart(&rs), 0);
    CHECK_ST(get(&f, "k", &v), CW_NOTFOUND);
    cw_value_free(&v);
    fx_close(&f);
    return 0;
}

static int frozen_server_times_out(void)
{
    fx on, off, retry;
    CHECK_OK(fx_open(&on, "%s?socket_timeout=150ms", base_url));
    CHECK_OK(fx_open(&off, "%s?socket_timeout=150ms&suppress=0", base_url));
    CHECK_OK(fx_open(&retry, "%s?socket_timeout=150ms&suppress=0&retry_on_timeout=1", base_url));
    cw_value v = { 0 };
    CHECK_OK(put(&on, "k", "v", CW_NO_EXPIRY));
    CHECK_OK(put(&off, "k", "v", CW_NO_EXPIRY));
    CHECK_OK(put(&retry, "k", "v", CW_NO_EXPIRY));
    CHECK_EQ_INT(cw_redis_server_pause(&rs), 0);
    double t0 = now_ms();
    CHECK_ST(get(&on, "k", &v), CW_NOTFOUND);
    double t1 = now_ms();
    CHECK_ST(get(&off, "k", &v), CW_ETIMEOUT);
    double t2 = now_ms();
    CHECK_ST(get(&retry, "k", &v), CW_ETIMEOUT); /* once more on a new connection */
    double t3 = now_ms();
    CHECK_EQ_INT(cw_redis_server_resume(&rs), 0);
    /* Lower bounds exact, upper bounds loose (sanitizers, a loaded machine). */
    CHECK(t1 - t0 >= 140 && t1 - t0 < 1000);
    CHECK(t2 - t1 >= 140 && t2 - t1 < 1000);
    CHECK(t3 - t2 >= 290 && t3 - t2 < 1500);
    CHECK_EQ_INT(atomic_load(&on.warns), 1);
    /* After the thaw everything works again on fresh connections. */
    CHECK_OK(get(&on, "k", &v));
    CHECK_OK(get(&off, "k", &v));
    CHECK_VAL(v, "v");
    cw_value_free(&v);
    fx_close(&on);
    fx_close(&off);
    fx_close(&retry);
    return 0;
}

/* ---- client-side cache ----------------------------------------------------------------------- */

/* Poll until get returns want (NULL: a miss), up to ms; the elapsed ms, or -1. */
static double wait_for(fx *f, const char *key, const char *want, int ms)
{
    cw_value v = { 0 };
    double t0 = now_ms();
    double got = -1;
    while (now_ms() - t0 < ms) {
        cw_status st = get(f, key, &v);
        if (want ? (st == CW_OK && v.len == strlen(want) && memcmp(v.data, want, v.len) == 0)
                 : st == CW_NOTFOUND) {
            got = now_ms() - t0;
            break;
        }
        sleep_ms(1);
    }
    cw_value_free(&v);
    return got;
}

static int client_side_invalidated_by_redis_cli(void)
{
    CHECK_EQ_INT(flushall(), 0);
    fx f;
    CHECK_OK(fx_open(&f, "%s?client_side=1&socket_timeout=300ms", base_url));
    cw_value v = { 0 };
    CHECK_OK(put(&f, "user:1", "alice", CW_NO_EXPIRY));
    char out[64];
    /* Stored under the client-side prefix. */
    CHECK_EQ_INT(cw_redis_cli(&rs, out, sizeof out, "GET", "cashews:user:1", NULL), 0);
    CHECK_STR(out, "alice");
    CHECK_OK(get(&f, "user:1", &v));
    CHECK_VAL(v, "alice");
    /* Now a local copy: the server frozen, it still answers (proof that it is local). */
    CHECK_EQ_INT(cw_redis_server_pause(&rs), 0);
    double t0 = now_ms();
    cw_status st = get(&f, "user:1", &v);
    double dt = now_ms() - t0;
    CHECK_EQ_INT(cw_redis_server_resume(&rs), 0);
    CHECK_OK(st);
    CHECK_VAL(v, "alice");
    CHECK(dt < 250); /* Redis would have taken the 300 ms timeout */
    /* Changed by an outside client: gone from the local cache within milliseconds. */
    CHECK_EQ_INT(cw_redis_cli(&rs, out, sizeof out, "SET", "cashews:user:1", "bob", NULL), 0);
    double took = wait_for(&f, "user:1", "bob", 1000);
    CHECK(took >= 0 && took < 200);
    CHECK_EQ_INT(cw_redis_cli(&rs, out, sizeof out, "DEL", "cashews:user:1", NULL), 0);
    took = wait_for(&f, "user:1", NULL, 1000);
    CHECK(took >= 0 && took < 200);
    /* FLUSHALL is a null invalidation: everything local goes. */
    CHECK_OK(put(&f, "a", "1", CW_NO_EXPIRY));
    CHECK_OK(get(&f, "a", &v));
    CHECK_OK(get(&f, "a", &v));
    CHECK_EQ_INT(flushall(), 0);
    took = wait_for(&f, "a", NULL, 1000);
    CHECK(took >= 0 && took < 200);
    /* Expiry: the local copy dies with the key's TTL. */
    CHECK_OK(put(&f, "ttl", "x", 120));
    CHECK_OK(get(&f, "ttl", &v));
    sleep_ms(150);
    CHECK_ST(get(&f, "ttl", &v), CW_NOTFOUND);
    /* Our own writes are seen at once (read-your-writes without waiting for the message). */
    for (int i = 0; i < 50; i++) {
        char val[16];
        snprintf(val, sizeof val, "v%d", i);
        CHECK_OK(put(&f, "rw", val, CW_NO_EXPIRY));
        CHECK_OK(get(&f, "rw", &v));
        CHECK_VAL(v, val);
        CHECK_OK(get(&f, "rw", &v));
        CHECK_VAL(v, val);
    }
    cw_value_free(&v);
    fx_close(&f);
    return 0;
}

static int client_side_flushed_when_channel_drops(void)
{
    CHECK_EQ_INT(flushall(), 0);
    fx f;
    CHECK_OK(fx_open(&f, "%s?client_side=1&client_side_prefix=app:&socket_timeout=300ms", base_url));
    cw_value v = { 0 };
    char out[64];
    CHECK_OK(put(&f, "k", "v1", CW_NO_EXPIRY));
    CHECK_OK(get(&f, "k", &v));
    CHECK_OK(get(&f, "k", &v)); /* local */
    /* Kill the invalidation connection, then change the key while nobody listens. */
    CHECK_EQ_INT(cw_redis_cli(&rs, out, sizeof out, "CLIENT", "KILL", "TYPE", "pubsub", NULL), 0);
    CHECK_EQ_INT(cw_redis_cli(&rs, out, sizeof out, "SET", "app:k", "v2", NULL), 0);
    /* Never the stale v1: the local cache was flushed and bypassed until resubscribed. */
    CHECK_OK(get(&f, "k", &v));
    CHECK_VAL(v, "v2");
    CHECK(atomic_load(&f.warns) >= 1);
    /* Back to local hits after the resubscription, still coherent. */
    sleep_ms(200);
    CHECK_OK(get(&f, "k", &v));
    CHECK_EQ_INT(cw_redis_cli(&rs, out, sizeof out, "SET", "app:k", "v3", NULL), 0);
    CHECK(wait_for(&f, "k", "v3", 1000) >= 0);
    /* The server restarted: nothing stale survives either. */
    CHECK_OK(get(&f, "k", &v));
    CHECK_EQ_INT(cw_redis_server_restart(&rs), 0);
    CHECK(wait_for(&f, "k", NULL, 1000) >= 0);
    CHECK_OK(put(&f, "k", "v4", CW_NO_EXPIRY));
    CHECK_OK(get(&f, "k", &v));
    CHECK_VAL(v, "v4");
    sleep_ms(200); /* resubscribed: coherent again */
    CHECK_OK(get(&f, "k", &v));
    CHECK_EQ_INT(cw_redis_cli(&rs, out, sizeof out, "SET", "app:k", "v5", NULL), 0);
    CHECK(wait_for(&f, "k", "v5", 1000) >= 0);
    /* clear removes only this cache's keys (those under its prefix). */
    CHECK_EQ_INT(cw_redis_cli(&rs, out, sizeof out, "SET", "foreign", "x", NULL), 0);
    CHECK_OK(f.ops->clear(f.b));
    CHECK_EQ_INT(cw_redis_cli(&rs, out, sizeof out, "EXISTS", "foreign", NULL), 0);
    CHECK_STR(out, "1");
    CHECK_ST(get(&f, "k", &v), CW_NOTFOUND);
    cw_value_free(&v);
    fx_close(&f);
    return 0;
}

/* ---- scope, scans, batches ------------------------------------------------------------------ */

static int count_fn(void *ud, const char *key, size_t klen, const void *val, size_t vlen)
{
    (void)key, (void)klen, (void)val, (void)vlen;
    (*(int *)ud)++;
    return 0;
}

static int prefix_scopes_clear_and_count(void)
{
    CHECK_EQ_INT(flushall(), 0);
    fx f;
    CHECK_OK(fx_open(&f, "%s?prefix=app:", base_url));
    char k[32];
    for (int i = 0; i < 300; i++) {
        snprintf(k, sizeof k, "app:%d", i);
        CHECK_OK(put(&f, k, "v", CW_NO_EXPIRY));
    }
    CHECK_OK(put(&f, "other", "v", CW_NO_EXPIRY));
    CHECK_OK(put(&f, "app*", "v", CW_NO_EXPIRY)); /* a glob character in someone's key */
    uint64_t n = 0;
    CHECK_OK(f.ops->keys_count(f.b, &n));
    CHECK_EQ_INT(n, 300);
    int seen = 0;
    CHECK_OK(f.ops->scan(f.b, "*", 1, 7, 0, count_fn, &seen)); /* small batches, no repeats */
    CHECK_EQ_INT(seen, 302);
    seen = 0;
    CHECK_OK(f.ops->scan(f.b, "app:*", 5, 50, 1, count_fn, &seen));
    CHECK_EQ_INT(seen, 300);
    CHECK_OK(f.ops->clear(f.b));
    char out[64];
    CHECK_EQ_INT(cw_redis_cli(&rs, out, sizeof out, "DBSIZE", NULL), 0);
    CHECK_STR(out, "2");
    fx_close(&f);
    return 0;
}

/* The count of calls of a command since CONFIG RESETSTAT. */
static long calls_of(const char *cmd)
{
    char out[8192];
    if (cw_redis_cli(&rs, out, sizeof out, "INFO", "commandstats", NULL) != 0) return -1;
    char needle[64];
    snprintf(needle, sizeof needle, "cmdstat_%s:calls=", cmd);
    const char *p = strstr(out, needle);
    return p ? strtol(p + strlen(needle), NULL, 10) : 0;
}

static int batches_are_single_commands(void)
{
    CHECK_EQ_INT(flushall(), 0);
    fx f;
    CHECK_OK(fx_open(&f, "%s", base_url));
    const char *keys[20];
    size_t klens[20], vlens[20];
    const void *vals[20];
    char names[20][8];
    for (int i = 0; i < 20; i++) {
        snprintf(names[i], sizeof names[i], "b%d", i);
        keys[i] = names[i];
        klens[i] = strlen(names[i]);
        vals[i] = names[i];
        vlens[i] = klens[i];
    }
    int64_t r = 0;
    CHECK_OK(f.ops->incr(f.b, "i", 1, 1, 5000, &r)); /* loads the script */
    char out[64];
    CHECK_EQ_INT(cw_redis_cli(&rs, out, sizeof out, "CONFIG", "RESETSTAT", NULL), 0);
    CHECK_OK(f.ops->set_many(f.b, 20, keys, klens, vals, vlens, CW_NO_EXPIRY));
    cw_value outs[20] = { { 0 } };
    cw_status sts[20];
    CHECK_OK(f.ops->get_many(f.b, 20, keys, klens, outs, sts));
    for (int i = 0; i < 20; i++) {
        CHECK_ST(sts[i], CW_OK);
        CHECK_VAL(outs[i], names[i]);
        cw_value_free(&outs[i]);
    }
    uint64_t deleted = 0;
    CHECK_OK(f.ops->delete_many(f.b, 20, keys, klens, &deleted));
    CHECK_EQ_INT(deleted, 20);
    CHECK_EQ_INT(calls_of("mset"), 1);
    CHECK_EQ_INT(calls_of("mget"), 1);
    CHECK_EQ_INT(calls_of("del"), 1);
    CHECK_EQ_INT(calls_of("get"), 0);
    /* The atomic ones are one server call each: Lua, not read-modify-write from here. */
    CHECK_OK(f.ops->incr(f.b, "i", 1, 1, 5000, &r));
    CHECK_OK(f.ops->incr(f.b, "i", 1, 1, 5000, &r));
    CHECK_EQ_INT(r, 3);
    CHECK_EQ_INT(calls_of("evalsha"), 2);
    CHECK_EQ_INT(calls_of("eval"), 0);
    CHECK_EQ_INT(calls_of("keys"), 0);
    fx_close(&f);
    return 0;
}

/* The Lua scripts come back after a restart emptied the script cache (NOSCRIPT -> EVAL). */
static int scripts_survive_restart(void)
{
    fx f;
    CHECK_OK(fx_open(&f, "%s?suppress=0", base_url));
    int64_t r = 0;
    CHECK_OK(f.ops->incr(f.b, "i", 1, 1, 5000, &r));
    CHECK_EQ_INT(cw_redis_server_restart(&rs), 0);
    CHECK_OK(f.ops->incr(f.b, "i", 1, 1, 5000, &r));
    CHECK_EQ_INT(r, 1);
    int64_t ttl = 0;
    CHECK_OK(f.ops->get_expire(f.b, "i", 1, &ttl));
    CHECK(ttl > 0 && ttl <= 5000);
    char out[64];
    CHECK_EQ_INT(cw_redis_cli(&rs, out, sizeof out, "SCRIPT", "FLUSH", NULL), 0);
    CHECK_OK(f.ops->delete_if_equal(f.b, "i", 1, "1", 1));
    fx_close(&f);
    return 0;
}

/* ---- TLS ------------------------------------------------------------------------------------- */

static int tls_connection(void)
{
    cw_redis_server s;
    cw_redis_server_opts o = { 1, NULL };
    CHECK_EQ_INT(cw_redis_server_start(&s, &o), 0);
    int rc = 1;
    fx f;
    cw_value v = { 0 };
    if (fx_open(&f, "rediss://127.0.0.1:%d?suppress=0&ssl_ca_certs=%s&ssl_certfile=%s&ssl_keyfile=%s"
                    "&ssl_check_hostname=1",
                s.tls_port, s.ca_file, s.client_cert, s.client_key) != CW_OK)
        goto out;
    CHECK_OK(put(&f, "k", "over tls", CW_NO_EXPIRY));
    CHECK_OK(get(&f, "k", &v));
    CHECK_VAL(v, "over tls");
    /* A big value: many TLS records each way. */
    size_t big = 1 << 20;
    char *val = malloc(big);
    CHECK(val != NULL);
    for (size_t i = 0; i < big; i++) val[i] = (char)(i * 31);
    cw_status st = f.ops->set(f.b, "big", 3, val, big, CW_NO_EXPIRY, CW_SET_ALWAYS);
    cw_status st2 = get(&f, "big", &v);
    int same = v.len == big && memcmp(v.data, val, big) == 0;
    free(val);
    CHECK_OK(st);
    CHECK_OK(st2);
    CHECK(same);
    CHECK_OK(f.ops->ping(f.b, "hi", 2, &v));
    CHECK_VAL(v, "hi");
    fx_close(&f);
    /* localhost matches the certificate's DNS name too */
    CHECK_OK(fx_open(&f, "rediss://localhost:%d?suppress=0&ssl_ca_certs=%s&ssl_certfile=%s"
                         "&ssl_keyfile=%s&ssl_check_hostname=1",
                     s.tls_port, s.ca_file, s.client_cert, s.client_key));
    CHECK_OK(get(&f, "k", &v));
    fx_close(&f);
    /* Client-side cache over TLS: the subscriber speaks TLS too. */
    CHECK_OK(fx_open(&f, "rediss://127.0.0.1:%d?suppress=0&ssl_ca_certs=%s&ssl_certfile=%s"
                         "&ssl_keyfile=%s&client_side=1",
                     s.tls_port, s.ca_file, s.client_cert, s.client_key));
    CHECK_OK(put(&f, "cs", "one", CW_NO_EXPIRY));
    CHECK_OK(get(&f, "cs", &v));
    char out[64];
    CHECK_EQ_INT(cw_redis_cli(&s, out, sizeof out, "SET", "cashews:cs", "two", NULL), 0);
    CHECK(wait_for(&f, "cs", "two", 1000) >= 0);
    fx_close(&f);
    /* A server certificate from another CA is refused. */
    CHECK_OK(fx_open(&f, "rediss://127.0.0.1:%d?suppress=0&ssl_ca_certs=%s&ssl_certfile=%s"
                         "&ssl_keyfile=%s",
                     s.tls_port, s.other_ca_file, s.client_cert, s.client_key));
    CHECK_ST(get(&f, "k", &v), CW_EBACKEND);
    CHECK(strstr(lasterr(), "TLS") != NULL);
    fx_close(&f);
    /* ... unless verification is off (ssl_cert_reqs=none). */
    CHECK_OK(fx_open(&f, "rediss://127.0.0.1:%d?suppress=0&ssl_ca_certs=%s&ssl_certfile=%s"
                         "&ssl_keyfile=%s&ssl_cert_reqs=none",
                     s.tls_port, s.other_ca_file, s.client_cert, s.client_key));
    CHECK_OK(get(&f, "k", &v));
    fx_close(&f);
    /* The server wants a client certificate. */
    CHECK_OK(fx_open(&f, "rediss://127.0.0.1:%d?suppress=0&ssl_ca_certs=%s", s.tls_port, s.ca_file));
    CHECK_NE_INT(get(&f, "k", &v), CW_OK);
    fx_close(&f);
    /* Plain redis:// to the TLS port fails within the timeout, it does not hang. */
    CHECK_OK(fx_open(&f, "redis://127.0.0.1:%d?suppress=0&socket_timeout=200ms", s.tls_port));
    double t0 = now_ms();
    CHECK_NE_INT(get(&f, "k", &v), CW_OK);
    CHECK(now_ms() - t0 < 1500);
    fx_close(&f);
    rc = 0;
out:
    cw_value_free(&v);
    cw_redis_server_stop(&s);
    return rc;
}

/* ---- fork ------------------------------------------------------------------------------------ */

static int child_work(fx *f, const char *tag)
{
    cw_value v = { 0 };
    int bad = 0;
    char k[32], val[32];
    for (int i = 0; i < 300; i++) {
        snprintf(k, sizeof k, "%s:%d", tag, i % 7);
        snprintf(val, sizeof val, "%s-%d", tag, i);
        if (put(f, k, val, CW_NO_EXPIRY) != CW_OK) bad++;
        if (get(f, k, &v) != CW_OK || v.len != strlen(val) || memcmp(v.data, val, v.len) != 0) bad++;
    }
    cw_value_free(&v);
    return bad;
}

static int fork_child_gets_its_own_connections(void)
{
    CHECK_EQ_INT(flushall(), 0);
    const char *urls[] = { "%s?suppress=0", "%s?suppress=0&client_side=1" };
    for (int u = 0; u < 2; u++) {
        fx f;
        CHECK_OK(fx_open(&f, urls[u], base_url));
        CHECK_EQ_INT(child_work(&f, "parent0"), 0); /* the pool holds a live connection */
        pid_t pid = fork();
        CHECK(pid >= 0);
        if (pid == 0) {
            int bad = child_work(&f, "child");
            /* The child's local cache must not hold the parent's copies. */
            _exit(bad > 100 ? 100 : bad);
        }
        int bad = child_work(&f, "parent"); /* at the same time as the child */
        int status = 0;
        CHECK_EQ_INT(waitpid(pid, &status, 0), pid);
        CHECK(WIFEXITED(status));
        CHECK_EQ_INT(WEXITSTATUS(status), 0);
        CHECK_EQ_INT(bad, 0);
        CHECK_EQ_INT(child_work(&f, "parent2"), 0);
        fx_close(&f);
    }
    return 0;
}

/* ---- odds and ends ------------------------------------------------------------------------- */

static int ttl_mapping_and_sizes(void)
{
    CHECK_EQ_INT(flushall(), 0);
    fx f;
    CHECK_OK(fx_open(&f, "%s", base_url));
    int64_t ttl = 0;
    CHECK_ST(f.ops->get_expire(f.b, "none", 4, &ttl), CW_NOTFOUND);
    CHECK_OK(put(&f, "p", "v", CW_NO_EXPIRY));
    CHECK_OK(f.ops->get_expire(f.b, "p", 1, &ttl));
    CHECK_EQ_INT(ttl, CW_NO_EXPIRY);
    CHECK_OK(f.ops->expire(f.b, "p", 1, 5000));
    CHECK_OK(f.ops->get_expire(f.b, "p", 1, &ttl));
    CHECK(ttl > 4000 && ttl <= 5000);
    CHECK_OK(f.ops->expire(f.b, "p", 1, CW_NO_EXPIRY)); /* PERSIST */
    CHECK_OK(f.ops->get_expire(f.b, "p", 1, &ttl));
    CHECK_EQ_INT(ttl, CW_NO_EXPIRY);
    CHECK_ST(f.ops->expire(f.b, "q", 1, CW_NO_EXPIRY), CW_NOTFOUND);
    uint64_t size = 9;
    CHECK_OK(f.ops->set(f.b, "empty", 5, "", 0, CW_NO_EXPIRY, CW_SET_ALWAYS));
    CHECK_OK(f.ops->value_size(f.b, "empty", 5, &size));
    CHECK_EQ_INT(size, 0);
    CHECK_ST(f.ops->value_size(f.b, "absent", 6, &size), CW_NOTFOUND);
    /* Binary keys and values, NUL bytes included. */
    CHECK_OK(f.ops->set(f.b, "a\0b", 3, "x\0y\r\n", 5, CW_NO_EXPIRY, CW_SET_ALWAYS));
    cw_value v = { 0 };
    CHECK_OK(f.ops->get(f.b, "a\0b", 3, &v));
    CHECK_EQ_INT(v.len, 5);
    CHECK(memcmp(v.data, "x\0y\r\n", 5) == 0);
    CHECK_ST(f.ops->get(f.b, "a", 1, &v), CW_NOTFOUND);
    /* Wrong type: a set where a string is expected. */
    const char *m[] = { "x" };
    size_t ml[] = { 1 };
    CHECK_OK(f.ops->set_add(f.b, "set", 3, 1, m, ml, CW_NO_EXPIRY));
    CHECK_ST(f.ops->get(f.b, "set", 3, &v), CW_ETYPE);
    int64_t r;
    CHECK_ST(f.ops->incr(f.b, "set", 3, 1, CW_NO_EXPIRY, &r), CW_ETYPE);
    uint64_t big = (uint64_t)1 << 33;
    CHECK_ST(f.ops->set_bits(f.b, "bits", 4, &big, 1, CW_NO_EXPIRY), CW_EINVAL);
    cw_value_free(&v);
    fx_close(&f);
    return 0;
}

/* ---- the suite again, on other configurations ----------------------------------------------- */

static int run_suite_with(const char *query)
{
    char url[512];
    snprintf(url, sizeof url, "%s?%s", base_url, query);
    cw_suite_configure(url, NULL);
    int failed = 0;
    for (const cw_test *t = cw_suite_tests; t->name; t++)
        if (t->fn() != 0) {
            fprintf(stderr, "  suite test %s failed with %s\n", t->name, url);
            failed++;
        }
    cw_suite_configure(base_url, NULL);
    return failed;
}

static int suite_client_side(void)
{
    return run_suite_with("client_side=1");
}

/* (Not with a secret: the suite reads a SETBIT bitmap with get_raw, and with signing on
 * anything not written through set, counters excepted, is a miss by design.) */
static int suite_compressed(void)
{
    return run_suite_with("compress_type=zstd&compress_min_size=16");
}

static const cw_test tests[] = {
    CW_TEST(url_errors_are_clear),
    CW_TEST(db_number_from_path_and_param),
    CW_TEST(auth_password_and_acl),
    CW_TEST(signed_values_verify),
    CW_TEST(signed_values_in_batches_and_scans),
    CW_TEST(compression_round_trips),
    CW_TEST(server_killed_and_restarted_suppressed),
    CW_TEST(server_killed_and_restarted_unsuppressed),
    CW_TEST(frozen_server_times_out),
    CW_TEST(client_side_invalidated_by_redis_cli),
    CW_TEST(client_side_flushed_when_channel_drops),
    CW_TEST(prefix_scopes_clear_and_count),
    CW_TEST(batches_are_single_commands),
    CW_TEST(scripts_survive_restart),
    CW_TEST(tls_connection),
    CW_TEST(fork_child_gets_its_own_connections),
    CW_TEST(ttl_mapping_and_sizes),
    CW_TEST(suite_client_side),
    CW_TEST(suite_compressed),
    { 0 },
};

int main(int argc, char **argv)
{
    if (cw_redis_server_start(&rs, NULL) != 0) {
        fprintf(stderr, "test_redis: cannot start redis-server (is Debian's redis-server installed? "
                        "make test installs it)\n");
        printf("0 passed, 1 failed\n");
        return 1;
    }
    snprintf(base_url, sizeof base_url, "redis://127.0.0.1:%d", rs.port);
    cw_suite_configure(base_url, NULL);
    static const char *const flush_ok[] = { "allow_flushdb", "1", NULL }; /* the suite clears */
    cw_suite_params(flush_ok);
    int rc = cw_test_main_with_suite(tests, argc, argv);
    cw_redis_server_stop(&rs);
    return rc;
}
