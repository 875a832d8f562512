/*
 * redis.c - the redis:// and rediss:// backend: URL parameters, open/close, and the basic
 * commands, each one round trip done the Redis way (SET NX/XX PX, MGET, pipelined SETs,
 * SCAN never KEYS, Lua for what must be atomic). Parameters and defaults: docs/REDIS.md.
 *
 * Every op follows one shape: take a connection (rd_begin), write the request, one round
 * trip (rd_roundtrip), give the connection back (rd_end) before looking at the reply, and
 * pass a failure through rd_soften(), which turns connection failures into a miss (reads) or
 * CW_NOTSTORED (writes) when suppress is on.
 *
 * Time: Redis expires keys on the server's own clock. The env clock is not consulted for
 * TTLs here (a test that moves a fake clock does not expire Redis keys).
 */
#include <stdio.h>
#include <string.h>
#include <strings.h>
#include <sys/mman.h>
#include <unistd.h>

#include <hiredis/hiredis.h>
#include <openssl/evp.h>
#include <openssl/rand.h>

#include "backends/redis/redis_int.h"

#ifndef MADV_WIPEONFORK
#define MADV_WIPEONFORK 18
#endif

#define DEFAULT_PORT 6379
#define DEFAULT_MAX_CONNECTIONS 64
#define DEFAULT_TIMEOUT_MS 1000
#define DEFAULT_COMPRESS_MIN 1024
#define DEFAULT_CS_PREFIX "cashews:"
#define DEFAULT_CS_SIZE 10000
#define DEFAULT_HEALTH_MS 1000

/* ---- parameters ---- */

static char *dup_str(const char *s)
{
    if (!s) return NULL;
    size_t n = strlen(s);
    char *p = cw_malloc(n + 1);
    if (p) memcpy(p, s, n + 1);
    return p;
}

static void config_free(rd_config *c)
{
    cw_free(c->host);
    cw_free(c->username);
    if (c->password) {
        memset(c->password, 0, strlen(c->password));
        cw_free(c->password);
    }
    cw_free(c->client_name);
    cw_free(c->ssl_ca_certs);
    cw_free(c->ssl_certfile);
    cw_free(c->ssl_keyfile);
    cw_free(c->scope_prefix);
    cw_free(c->cs_prefix);
    memset(c, 0, sizeof *c);
}

/* A string parameter into *dst (replacing what was there); CW_NOTFOUND when absent. */
static cw_status take_dup(cw_url *url, const char *name, char **dst)
{
    const char *v = NULL;
    cw_status st = cw_url_take_str(url, name, &v);
    if (st != CW_OK) return st;
    char *p = dup_str(v);
    if (!p) return CW_ENOMEM;
    cw_free(*dst);
    *dst = p;
    return CW_OK;
}

#define TAKE(expr)                                                                   \
    do {                                                                             \
        cw_status st_ = (expr);                                                      \
        if (st_ != CW_OK && st_ != CW_NOTFOUND) return st_;                          \
    } while (0)

typedef struct rd_params {
    const char *secret, *digestmod, *compress_type;
    int64_t compress_level;
    uint64_t compress_min;
} rd_params;

static cw_status parse_config(cw_url *url, rd_config *c, rd_params *vp, char *errbuf)
{
    c->tls = strcmp(url->scheme, "rediss") == 0;
    c->host = dup_str(url->host[0] ? url->host : "127.0.0.1");
    if (!c->host) return CW_ENOMEM;
    c->port = url->port ? url->port : DEFAULT_PORT;
    if (url->user[0] && !(c->username = dup_str(url->user))) return CW_ENOMEM;
    if (url->password[0] && !(c->password = dup_str(url->password))) return CW_ENOMEM;
    if (c->username && !c->password) {
        /* redis://secret@host: a lone userinfo is the password, as redis-py reads it. */
        c->password = c->username;
        c->username = NULL;
    }
    if (url->path[0]) {
        char *end = NULL;
        long long db = strtoll(url->path, &end, 10);
        if (*end || db < 0 || db > 1000000) {
            snprintf(errbuf, CW_ERRMSG_SIZE, "redis: the path \"/%s\" is not a database number",
                     url->path);
            return CW_EINVAL;
        }
        c->db = db;
    }
    c->max_connections = DEFAULT_MAX_CONNECTIONS;
    c->connect_timeout_ms = DEFAULT_TIMEOUT_MS;
    c->socket_timeout_ms = DEFAULT_TIMEOUT_MS;
    c->pool_wait_ms = -1;
    c->suppress = true;
    c->cs_size = DEFAULT_CS_SIZE;
    c->health_ms = DEFAULT_HEALTH_MS;
    int flag = 0;
    int64_t iv = 0;
    TAKE(cw_url_take_int(url, "db", 0, 1000000, &c->db, errbuf));
    TAKE(take_dup(url, "username", &c->username));
    TAKE(take_dup(url, "password", &c->password));
    TAKE(take_dup(url, "client_name", &c->client_name));
    TAKE(cw_url_take_int(url, "max_connections", 1, 1000000, &c->max_connections, errbuf));
    TAKE(cw_url_take_ms(url, "socket_connect_timeout", 1, &c->connect_timeout_ms, errbuf));
    TAKE(cw_url_take_ms(url, "socket_timeout", 1, &c->socket_timeout_ms, errbuf));
    TAKE(cw_url_take_ms(url, "wait_for_connection_timeout", 1, &c->pool_wait_ms, errbuf));
    if (c->pool_wait_ms < 0) c->pool_wait_ms = c->socket_timeout_ms;
    cw_status st = cw_url_take_bool(url, "retry_on_timeout", &flag, errbuf);
    if (st == CW_EINVAL) return st;
    c->retry_on_timeout = flag;
    flag = 1;
    st = cw_url_take_bool(url, "suppress", &flag, errbuf);
    if (st == CW_EINVAL) return st;
    c->suppress = flag;
    TAKE(cw_url_take_int(url, "minsize", 0, 1000000, &iv, errbuf)); /* accepted, see REDIS.md */
    TAKE(take_dup(url, "prefix", &c->scope_prefix));
    flag = 0;
    st = cw_url_take_bool(url, "allow_flushdb", &flag, errbuf);
    if (st == CW_EINVAL) return st;
    c->allow_flushdb = flag;

    /* values */
    vp->compress_level = -1;
    vp->compress_min = DEFAULT_COMPRESS_MIN;
    cw_url_take_str(url, "hash_key", &vp->secret); /* the seed's older name */
    cw_url_take_str(url, "secret", &vp->secret);
    cw_url_take_str(url, "digestmod", &vp->digestmod);
    cw_url_take_str(url, "compress_type", &vp->compress_type);
    TAKE(cw_url_take_int(url, "compress_level", -1000000, 1000000, &vp->compress_level, errbuf));
    TAKE(cw_url_take_size(url, "compress_min_size", &vp->compress_min, errbuf));

    /* TLS */
    TAKE(take_dup(url, "ssl_ca_certs", &c->ssl_ca_certs));
    TAKE(take_dup(url, "ssl_certfile", &c->ssl_certfile));
    TAKE(take_dup(url, "ssl_keyfile", &c->ssl_keyfile));
    const char *reqs = NULL;
    cw_url_take_str(url, "ssl_cert_reqs", &reqs);
    if (reqs) {
        if (strcasecmp(reqs, "required") == 0) c->cert_reqs = RD_CERT_REQUIRED;
        else if (strcasecmp(reqs, "optional") == 0) c->cert_reqs = RD_CERT_OPTIONAL;
        else if (strcasecmp(reqs, "none") == 0) c->cert_reqs = RD_CERT_NONE;
        else {
            snprintf(errbuf, CW_ERRMSG_SIZE,
                     "parameter ssl_cert_reqs: \"%s\" is not one of required, optional, none", reqs);
            return CW_EINVAL;
        }
    }
    flag = 0;
    st = cw_url_take_bool(url, "ssl_check_hostname", &flag, errbuf);
    if (st == CW_EINVAL) return st;
    c->check_hostname = flag;
    if (!c->tls && (c->ssl_ca_certs || c->ssl_certfile || c->ssl_keyfile || reqs || st == CW_OK)) {
        snprintf(errbuf, CW_ERRMSG_SIZE, "redis: ssl_* parameters need a rediss:// URL");
        return CW_EINVAL;
    }

    /* client-side cache */
    flag = 0;
    st = cw_url_take_bool(url, "client_side", &flag, errbuf);
    if (st == CW_EINVAL) return st;
    c->client_side = flag;
    TAKE(take_dup(url, "client_side_prefix", &c->cs_prefix));
    TAKE(cw_url_take_int(url, "client_side_size", 1, INT64_C(1) << 40, &c->cs_size, errbuf));
    TAKE(cw_url_take_ms(url, "health_check_interval", 1, &c->health_ms, errbuf));
    if (c->client_side && !c->cs_prefix && !(c->cs_prefix = dup_str(DEFAULT_CS_PREFIX)))
        return CW_ENOMEM;
    if (c->client_side && !c->cs_prefix[0]) {
        snprintf(errbuf, CW_ERRMSG_SIZE, "parameter client_side_prefix: must not be empty");
        return CW_EINVAL;
    }
    return CW_OK;
}

/* ---- open / close ---- */

static void rd_close(cw_backend *bb);

static cw_status script_shas(rd_backend *b)
{
    for (int i = 0; i < RD_SCRIPT__COUNT; i++) {
        unsigned char md[EVP_MAX_MD_SIZE];
        unsigned int n = 0;
        if (EVP_Digest(rd_script_src[i], strlen(rd_script_src[i]), md, &n, EVP_sha1(), NULL) != 1)
            return CW_ENOMEM;
        static const char hx[] = "0123456789abcdef";
        for (unsigned j = 0; j < n && j < 20; j++) {
            b->script_sha[i][2 * j] = hx[md[j] >> 4];
            b->script_sha[i][2 * j + 1] = hx[md[j] & 15];
        }
        b->script_sha[i][40] = '\0';
    }
    return CW_OK;
}

static cw_status rd_open(cw_backend **out, cw_url *url, const cw_backend_env *env, char *errbuf)
{
    *out = NULL;
    rd_backend *b = cw_calloc(1, sizeof *b);
    if (!b) return CW_ENOMEM;
    b->env = *env;
    b->fork = MAP_FAILED;
    atomic_store(&b->warn_ms, INT64_MIN / 2);
    atomic_store(&b->sigwarn_ms, INT64_MIN / 2);
    b->base.ops = strcmp(url->scheme, "rediss") == 0 ? &cw__rediss_ops : &cw__redis_ops;
    rd_params vp = { 0 };
    cw_status st = parse_config(url, &b->cfg, &vp, errbuf);
    if (st == CW_OK)
        st = cw__valcodec_init(&b->codec, vp.secret, vp.digestmod, vp.compress_type,
                               vp.compress_level, vp.compress_min, errbuf);
    if (st != CW_OK) {
        if (st == CW_ENOMEM) snprintf(errbuf, CW_ERRMSG_SIZE, "redis: out of memory");
        config_free(&b->cfg);
        cw_free(b);
        return st;
    }
    b->kp = b->cfg.client_side ? b->cfg.cs_prefix : "";
    b->kplen = strlen(b->kp);
    if ((st = rd_pool_init(&b->pool)) != CW_OK) {
        cw__valcodec_free(&b->codec);
        config_free(&b->cfg);
        cw_free(b);
        snprintf(errbuf, CW_ERRMSG_SIZE, "redis: cannot create the pool's lock");
        return st;
    }
    /* From here rd_close() can undo a partial open. */
    b->fork = mmap(NULL, 4096, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
    if (b->fork == MAP_FAILED) {
        rd_close(&b->base);
        snprintf(errbuf, CW_ERRMSG_SIZE, "redis: out of memory");
        return CW_ENOMEM;
    }
    b->fork_wipe = madvise(b->fork, 4096, MADV_WIPEONFORK) == 0;
    atomic_store(&b->fork->state, 1);
    atomic_store(&b->fork_pid, (int)getpid());
    if (RAND_bytes((unsigned char *)&b->instance_id, sizeof b->instance_id) != 1)
        b->instance_id = (uint64_t)getpid() * 0x9E3779B97F4A7C15ULL ^ (uint64_t)(uintptr_t)b;
    if (script_shas(b) != CW_OK) {
        rd_close(&b->base);
        snprintf(errbuf, CW_ERRMSG_SIZE, "redis: OpenSSL SHA1 failed");
        return CW_ENOMEM;
    }
    if (b->cfg.tls && !(b->ssl_ctx = rd_tls_ctx_new(&b->cfg, errbuf))) {
        rd_close(&b->base);
        return CW_EINVAL;
    }
    /* No connection is made here: with suppress on, an application starts while Redis is
     * down and catches up when it comes back. The client-side cache's subscriber thread
     * starts now and keeps trying in the background. */
    if (b->cfg.client_side && (st = rd_cs_start(b, errbuf)) != CW_OK) {
        rd_close(&b->base);
        return st;
    }
    *out = &b->base;
    return CW_OK;
}

static void rd_close(cw_backend *bb)
{
    rd_backend *b = (rd_backend *)bb;
    if (!b) return;
    if (b->cs) rd_cs_stop(b);
    rd_pool_destroy(&b->pool);
    rd_tls_ctx_free(b->ssl_ctx);
    cw__valcodec_free(&b->codec);
    config_free(&b->cfg);
    if (b->fork != MAP_FAILED) munmap(b->fork, 4096);
    cw_free(b);
}

/* ---- helpers ---- */

static inline rd_backend *B(cw_backend *bb)
{
    return (rd_backend *)bb;
}

static void sig_warn(rd_backend *b, const char *key, size_t klen)
{
    int64_t now = rd_coarse_ms();
    int64_t last = atomic_load_explicit(&b->sigwarn_ms, memory_order_relaxed);
    if (now - last >= 1000 && atomic_compare_exchange_strong(&b->sigwarn_ms, &last, now))
        cw_backend_log(&b->env, CW_LOG_WARN,
                       "redis: the value under \"%.*s\" failed verification (wrong signature or "
                       "corrupt); served as a miss", (int)(klen > 100 ? 100 : klen), key);
}

/* Stored bytes -> the caller's value: verified and unpacked when signing/compression is on.
 * CW_NOTFOUND for a value that fails verification. */
cw_status rd_stored_to_value(rd_backend *b, const char *key, size_t klen, const char *s,
                                 size_t n, cw_value *out)
{
    if (!cw__valcodec_active(&b->codec)) return cw_value_set(out, s, n);
    cw_status st = cw__value_decode(&b->codec, key, klen, s, n, out);
    if (st == CW_ECORRUPT) {
        sig_warn(b, key, klen);
        return CW_NOTFOUND;
    }
    return st;
}

static cw_status reply_to_value(rd_call *call, const char *key, size_t klen, const rd_reply *r,
                                cw_value *out)
{
    if (r->type == REDIS_REPLY_STRING) return rd_stored_to_value(call->b, key, klen, r->str, r->len, out);
    if (r->type == REDIS_REPLY_NIL) return CW_NOTFOUND;
    return rd_reply_error(call, r, "GET");
}

/* Settle the client-side cache after a GET + PTTL that reached Redis (see client_side.c):
 * the value is kept locally when the GET gave one (st CW_OK, in out) and the key has no
 * TTL or a positive one; whatever it found, the settle runs. */
static void cs_settle_read(rd_backend *b, const char *key, size_t klen, cw_status st, const cw_value *out,
                           const rd_reply *pttl, const rd_cs_ticket *t)
{
    int keep = st == CW_OK && pttl->type == REDIS_REPLY_INTEGER && (pttl->integer > 0 || pttl->integer == -1);
    rd_cs_settle(b, key, klen, keep ? out->data : NULL, keep ? out->len : 0, keep ? pttl->integer : 0, t);
}

/* ---- basic commands ---- */

static cw_status cs_get(rd_backend *b, const char *key, size_t klen, cw_value *out)
{
    rd_fork_check(b);
    int hit = rd_cs_get(b, key, klen, out);
    if (hit > 0) return CW_OK;
    if (hit < 0) return CW_ENOMEM;
    rd_cs_ticket t;
    rd_cs_ticket_take(b, key, klen, &t);
    rd_call call;
    cw_status st = rd_begin(b, &call);
    if (st != CW_OK) return rd_soften(b, &call, st, CW_NOTFOUND);
    /* The value and its TTL in one round trip: the local copy must expire with the key. */
    rd_cmd_key(b, call.c, "GET", key, klen);
    rd_cmd_key(b, call.c, "PTTL", key, klen);
    rd_reply *r[2];
    st = rd_roundtrip(&call, 2, r);
    rd_end(&call);
    if (st != CW_OK) return rd_soften(b, &call, st, CW_NOTFOUND);
    st = reply_to_value(&call, key, klen, r[0], out);
    cs_settle_read(b, key, klen, st, out, r[1], &t);
    rd_replies_free(r, 2);
    return st;
}

static cw_status rd_get(cw_backend *bb, const char *key, size_t klen, cw_value *out)
{
    rd_backend *b = B(bb);
    if (b->cs) return cs_get(b, key, klen, out);
    rd_call call;
    cw_status st = rd_begin(b, &call);
    if (st != CW_OK) return rd_soften(b, &call, st, CW_NOTFOUND);
    rd_cmd_key(b, call.c, "GET", key, klen);
    rd_reply *r;
    st = rd_roundtrip(&call, 1, &r);
    rd_end(&call);
    if (st != CW_OK) return rd_soften(b, &call, st, CW_NOTFOUND);
    st = reply_to_value(&call, key, klen, r, out);
    rd_reply_free(r);
    return st;
}

/* Write "SET key val [PX ttl] [NX|XX]". */
static void write_set(rd_backend *b, rd_conn *c, const char *key, size_t klen, const void *val,
                      size_t vlen, int64_t ttl_ms, cw_set_mode mode)
{
    rd_cmd(c, 3 + (ttl_ms > 0 ? 2 : 0) + (mode != CW_SET_ALWAYS ? 1 : 0));
    rd_arg(c, "SET", 3);
    rd_arg_key(b, c, key, klen);
    rd_arg(c, val, vlen);
    if (ttl_ms > 0) {
        rd_arg(c, "PX", 2);
        rd_arg_i64(c, ttl_ms);
    }
    if (mode == CW_SET_IF_ABSENT) rd_arg(c, "NX", 2);
    else if (mode == CW_SET_IF_PRESENT) rd_arg(c, "XX", 2);
}

static cw_status set_reply(rd_call *call, const rd_reply *r)
{
    if (r->type == REDIS_REPLY_STATUS) return CW_OK;
    if (r->type == REDIS_REPLY_NIL) return CW_NOTSTORED;
    return rd_reply_error(call, r, "SET");
}

static cw_status rd_set(cw_backend *bb, const char *key, size_t klen, const void *val, size_t vlen,
                        int64_t ttl_ms, cw_set_mode mode)
{
    rd_backend *b = B(bb);
    cw_value scratch = { 0 };
    const void *sv = val;
    size_t sn = vlen;
    cw_status st = cw__value_encode(&b->codec, key, klen, val, vlen, &scratch, &sv, &sn);
    if (st != CW_OK) {
        cw_value_free(&scratch);
        return cw_backend_fail(st, "redis: cannot encode the value");
    }
    rd_call call;
    st = rd_begin(b, &call);
    if (st == CW_OK) {
        write_set(b, call.c, key, klen, sv, sn, ttl_ms, mode);
        rd_reply *r;
        st = rd_roundtrip(&call, 1, &r);
        rd_end(&call);
        if (st == CW_OK) {
            st = set_reply(&call, r);
            rd_reply_free(r);
        }
    }
    cw_value_free(&scratch);
    if (b->cs) rd_cs_invalidate(b, key, klen);
    return rd_soften(b, &call, st, CW_NOTSTORED);
}

/* One command with a single key and an integer reply: *out gets the integer. */
static cw_status key_int_cmd(rd_backend *b, rd_call *call, const char *cmd, const char *key,
                             size_t klen, long long *out)
{
    cw_status st = rd_begin(b, call);
    if (st != CW_OK) return st;
    rd_cmd_key(b, call->c, cmd, key, klen);
    rd_reply *r;
    st = rd_roundtrip(call, 1, &r);
    rd_end(call);
    if (st != CW_OK) return st;
    if (r->type == REDIS_REPLY_INTEGER) *out = r->integer;
    else st = rd_reply_error(call, r, cmd);
    rd_reply_free(r);
    return st;
}

static cw_status rd_del(cw_backend *bb, const char *key, size_t klen)
{
    rd_backend *b = B(bb);
    rd_call call;
    long long n = 0;
    cw_status st = key_int_cmd(b, &call, "DEL", key, klen, &n);
    if (b->cs) rd_cs_invalidate(b, key, klen);
    if (st == CW_OK && n == 0) st = CW_NOTFOUND;
    return rd_soften(b, &call, st, CW_NOTSTORED);
}

static cw_status rd_exists(cw_backend *bb, const char *key, size_t klen)
{
    rd_backend *b = B(bb);
    rd_call call;
    long long n = 0;
    cw_status st = key_int_cmd(b, &call, "EXISTS", key, klen, &n);
    if (st == CW_OK && n == 0) st = CW_NOTFOUND;
    return rd_soften(b, &call, st, CW_NOTFOUND);
}

typedef struct incr_args {
    rd_backend *b;
    const char *key;
    size_t klen;
    int64_t by, ttl;
} incr_args;

static void write_incr_args(rd_conn *c, void *ud)
{
    incr_args *a = ud;
    rd_arg(c, "1", 1);
    rd_arg_key(a->b, c, a->key, a->klen);
    rd_arg_i64(c, a->by);
    rd_arg_i64(c, a->ttl);
}

static cw_status rd_incr(cw_backend *bb, const char *key, size_t klen, int64_t by, int64_t ttl_ms,
                         int64_t *result)
{
    rd_backend *b = B(bb);
    rd_call call;
    cw_status st = rd_begin(b, &call);
    if (st != CW_OK) return rd_soften(b, &call, st, CW_NOTSTORED);
    rd_reply *r = NULL;
    if (ttl_ms == CW_NO_EXPIRY) {
        rd_cmd(call.c, 3);
        rd_arg(call.c, "INCRBY", 6);
        rd_arg_key(b, call.c, key, klen);
        rd_arg_i64(call.c, by);
        st = rd_roundtrip(&call, 1, &r);
    } else {
        /* The TTL only for a key this call creates, atomically: a Lua script. */
        incr_args a = { b, key, klen, by, ttl_ms };
        st = rd_script(&call, RD_SCRIPT_INCR_TTL, 4, write_incr_args, &a, &r);
    }
    rd_end(&call);
    if (b->cs) rd_cs_invalidate(b, key, klen);
    if (st == CW_OK) {
        if (r->type == REDIS_REPLY_INTEGER) {
            if (result) *result = r->integer;
        } else {
            st = rd_reply_error(&call, r, "INCRBY");
        }
        rd_reply_free(r);
    }
    return rd_soften(b, &call, st, CW_NOTSTORED);
}

static cw_status rd_expire(cw_backend *bb, const char *key, size_t klen, int64_t ttl_ms)
{
    rd_backend *b = B(bb);
    rd_call call;
    cw_status st = rd_begin(b, &call);
    if (st != CW_OK) return rd_soften(b, &call, st, CW_NOTSTORED);
    rd_reply *r[2] = { NULL, NULL };
    if (ttl_ms > 0) {
        rd_cmd(call.c, 3);
        rd_arg(call.c, "PEXPIRE", 7);
        rd_arg_key(b, call.c, key, klen);
        rd_arg_i64(call.c, ttl_ms);
        st = rd_roundtrip(&call, 1, r);
    } else {
        /* No expiry: PERSIST answers 0 both for "absent" and "had none", so EXISTS says. */
        rd_cmd_key(b, call.c, "EXISTS", key, klen);
        rd_cmd_key(b, call.c, "PERSIST", key, klen);
        st = rd_roundtrip(&call, 2, r);
    }
    rd_end(&call);
    if (b->cs) rd_cs_invalidate(b, key, klen);
    if (st == CW_OK) {
        if (r[0]->type != REDIS_REPLY_INTEGER) st = rd_reply_error(&call, r[0], "PEXPIRE");
        else if (r[0]->integer == 0) st = CW_NOTFOUND;
        rd_replies_free(r, ttl_ms > 0 ? 1 : 2);
    }
    return rd_soften(b, &call, st, CW_NOTSTORED);
}

static cw_status rd_get_expire(cw_backend *bb, const char *key, size_t klen, int64_t *ttl_ms)
{
    rd_backend *b = B(bb);
    rd_call call;
    long long v = 0;
    cw_status st = key_int_cmd(b, &call, "PTTL", key, klen, &v);
    if (st == CW_OK) {
        if (v == -2) st = CW_NOTFOUND;
        else *ttl_ms = v < 0 ? CW_NO_EXPIRY : v;
    }
    return rd_soften(b, &call, st, CW_NOTFOUND);
}

static cw_status rd_value_size(cw_backend *bb, const char *key, size_t klen, uint64_t *size)
{
    rd_backend *b = B(bb);
    if (cw__valcodec_active(&b->codec)) {
        /* The size a get would return: signature off, decompressed (and a value that fails
         * verification does not exist, as for get). */
        cw_value v = { 0 };
        cw_status st = rd_get(bb, key, klen, &v);
        if (st == CW_OK) *size = v.len;
        cw_value_free(&v);
        return st;
    }
    rd_call call;
    cw_status st = rd_begin(b, &call);
    if (st != CW_OK) return rd_soften(b, &call, st, CW_NOTFOUND);
    /* STRLEN says 0 for an absent key and for an empty value alike: EXISTS tells them apart. */
    rd_cmd_key(b, call.c, "STRLEN", key, klen);
    rd_cmd_key(b, call.c, "EXISTS", key, klen);
    rd_reply *r[2];
    st = rd_roundtrip(&call, 2, r);
    rd_end(&call);
    if (st == CW_OK) {
        if (r[0]->type != REDIS_REPLY_INTEGER) st = rd_reply_error(&call, r[0], "STRLEN");
        else if (r[1]->type != REDIS_REPLY_INTEGER || r[1]->integer == 0) st = CW_NOTFOUND;
        else *size = (uint64_t)r[0]->integer;
        rd_replies_free(r, 2);
    }
    return rd_soften(b, &call, st, CW_NOTFOUND);
}

static cw_status rd_ping(cw_backend *bb, const char *msg, size_t mlen, cw_value *out)
{
    rd_backend *b = B(bb);
    rd_call call;
    cw_status st = rd_begin(b, &call);
    if (st != CW_OK) return st; /* never suppressed: ping is how you ask */
    rd_cmd(call.c, mlen ? 2 : 1);
    rd_arg(call.c, "PING", 4);
    if (mlen) rd_arg(call.c, msg, mlen);
    rd_reply *r;
    st = rd_roundtrip(&call, 1, &r);
    rd_end(&call);
    if (st != CW_OK) return st;
    if (r->type == REDIS_REPLY_STATUS || r->type == REDIS_REPLY_STRING)
        st = cw_value_set(out, r->str, r->len);
    else
        st = rd_reply_error(&call, r, "PING");
    rd_reply_free(r);
    return st;
}

typedef struct del_eq_args {
    rd_backend *b;
    const char *key;
    size_t klen;
    const void *val;
    size_t vlen;
} del_eq_args;

static void write_del_eq_args(rd_conn *c, void *ud)
{
    del_eq_args *a = ud;
    rd_arg(c, "1", 1);
    rd_arg_key(a->b, c, a->key, a->klen);
    rd_arg(c, a->val, a->vlen);
}

static cw_status rd_delete_if_equal(cw_backend *bb, const char *key, size_t klen, const void *val,
                                    size_t vlen)
{
    rd_backend *b = B(bb);
    /* Compare with the stored form: encoding is deterministic, so the same value signs (and
     * compresses) to the same bytes. */
    cw_value scratch = { 0 };
    const void *sv = val;
    size_t sn = vlen;
    cw_status st = cw__value_encode(&b->codec, key, klen, val, vlen, &scratch, &sv, &sn);
    if (st != CW_OK) {
        cw_value_free(&scratch);
        return cw_backend_fail(st, "redis: cannot encode the value");
    }
    rd_call call;
    st = rd_begin(b, &call);
    if (st == CW_OK) {
        del_eq_args a = { b, key, klen, sv, sn };
        rd_reply *r = NULL;
        st = rd_script(&call, RD_SCRIPT_DEL_IF_EQ, 3, write_del_eq_args, &a, &r);
        rd_end(&call);
        if (st == CW_OK) {
            if (r->type != REDIS_REPLY_INTEGER) st = rd_reply_error(&call, r, "unlock");
            else if (r->integer == 0) st = CW_NOTSTORED;
            else if (r->integer < 0) st = CW_NOTFOUND;
            rd_reply_free(r);
        }
    }
    cw_value_free(&scratch);
    if (b->cs) rd_cs_invalidate(b, key, klen);
    return rd_soften(b, &call, st, CW_NOTSTORED);
}

/* ---- batches ---- */

static cw_status rd_get_many(cw_backend *bb, size_t n, const char *const *keys, const size_t *klens,
                             cw_value *outs, cw_status *sts)
{
    rd_backend *b = B(bb);
    if (n == 0) return CW_OK;
    rd_fork_check(b);
    size_t misses = n;
    rd_cs_ticket *tickets = NULL;
    if (b->cs) {
        misses = 0;
        for (size_t i = 0; i < n; i++) {
            int hit = rd_cs_get(b, keys[i], klens[i], &outs[i]);
            if (hit < 0) return CW_ENOMEM;
            sts[i] = hit ? CW_OK : CW_NOTFOUND;
            if (!hit) misses++;
        }
        if (misses == 0) return CW_OK;
        tickets = cw_malloc(n * sizeof *tickets);
        if (!tickets) return CW_ENOMEM;
    }
    rd_reply **r = cw_calloc(b->cs ? 2 * misses : 1, sizeof *r);
    if (!r) {
        cw_free(tickets);
        return CW_ENOMEM;
    }
    rd_call call;
    cw_status st = rd_begin(b, &call);
    if (st == CW_OK) {
        if (b->cs) {
            /* The misses only, each with its TTL for the local copy. */
            for (size_t i = 0; i < n; i++) {
                if (sts[i] == CW_OK) continue;
                rd_cs_ticket_take(b, keys[i], klens[i], &tickets[i]);
                rd_cmd_key(b, call.c, "GET", keys[i], klens[i]);
                rd_cmd_key(b, call.c, "PTTL", keys[i], klens[i]);
            }
            st = rd_roundtrip(&call, 2 * misses, r);
        } else {
            rd_cmd(call.c, 1 + n);
            rd_arg(call.c, "MGET", 4);
            for (size_t i = 0; i < n; i++) rd_arg_key(b, call.c, keys[i], klens[i]);
            st = rd_roundtrip(&call, 1, r);
        }
        rd_end(&call);
    }
    if (st == CW_OK && b->cs) {
        size_t k = 0;
        for (size_t i = 0; i < n && st == CW_OK; i++) {
            if (sts[i] == CW_OK) continue;
            rd_reply *v = r[2 * k], *t = r[2 * k + 1];
            k++;
            cw_status s = reply_to_value(&call, keys[i], klens[i], v, &outs[i]);
            cs_settle_read(b, keys[i], klens[i], s, &outs[i], t, &tickets[i]);
            if (s == CW_OK || s == CW_NOTFOUND) sts[i] = s;
            else st = s;
        }
    } else if (st == CW_OK) {
        if (r[0]->type != REDIS_REPLY_ARRAY || r[0]->elements != n) {
            st = rd_reply_error(&call, r[0], "MGET");
        } else {
            for (size_t i = 0; i < n && st == CW_OK; i++) {
                cw_status s = reply_to_value(&call, keys[i], klens[i], r[0]->element[i], &outs[i]);
                if (s == CW_OK || s == CW_NOTFOUND) sts[i] = s;
                else st = s;
            }
        }
    } else if (call.io_failed && b->cfg.suppress) {
        for (size_t i = 0; i < n; i++)
            if (!b->cs || sts[i] != CW_OK) sts[i] = CW_NOTFOUND;
    }
    rd_replies_free(r, b->cs ? 2 * misses : 1);
    cw_free(r);
    cw_free(tickets);
    return rd_soften(b, &call, st, CW_OK);
}

static cw_status rd_set_many(cw_backend *bb, size_t n, const char *const *keys, const size_t *klens,
                             const void *const *vals, const size_t *vlens, int64_t ttl_ms)
{
    rd_backend *b = B(bb);
    if (n == 0) return CW_OK;
    rd_call call;
    cw_status st = rd_begin(b, &call);
    if (st != CW_OK) return rd_soften(b, &call, st, CW_NOTSTORED);
    cw_value scratch = { 0 };
    bool mset = ttl_ms <= 0;
    size_t nreplies = mset ? 1 : n;
    if (mset) {
        rd_cmd(call.c, 1 + 2 * n);
        rd_arg(call.c, "MSET", 4);
    }
    for (size_t i = 0; i < n && st == CW_OK; i++) {
        const void *sv = vals[i];
        size_t sn = vlens[i];
        st = cw__value_encode(&b->codec, keys[i], klens[i], vals[i], vlens[i], &scratch, &sv, &sn);
        if (st != CW_OK) break;
        if (mset) {
            rd_arg_key(b, call.c, keys[i], klens[i]);
            rd_arg(call.c, sv, sn);
        } else {
            /* Pipelined: n SETs, one round trip. */
            write_set(b, call.c, keys[i], klens[i], sv, sn, ttl_ms, CW_SET_ALWAYS);
        }
    }
    cw_value_free(&scratch);
    rd_reply **r = NULL;
    if (st == CW_OK && !(r = cw_calloc(nreplies, sizeof *r))) st = CW_ENOMEM;
    if (st == CW_OK) st = rd_roundtrip(&call, nreplies, r);
    else st = cw_backend_fail(st, "redis: out of memory");
    rd_end(&call);
    if (b->cs)
        for (size_t i = 0; i < n; i++) rd_cs_invalidate(b, keys[i], klens[i]);
    if (st == CW_OK) {
        for (size_t i = 0; i < nreplies && st == CW_OK; i++)
            if (r[i]->type != REDIS_REPLY_STATUS) st = rd_reply_error(&call, r[i], "SET");
        rd_replies_free(r, nreplies);
    }
    cw_free(r);
    return rd_soften(b, &call, st, CW_NOTSTORED);
}

static cw_status rd_delete_many(cw_backend *bb, size_t n, const char *const *keys,
                                const size_t *klens, uint64_t *deleted)
{
    rd_backend *b = B(bb);
    if (deleted) *deleted = 0;
    if (n == 0) return CW_OK;
    rd_call call;
    cw_status st = rd_begin(b, &call);
    if (st != CW_OK) return rd_soften(b, &call, st, CW_NOTSTORED);
    rd_cmd(call.c, 1 + n);
    rd_arg(call.c, "DEL", 3);
    for (size_t i = 0; i < n; i++) rd_arg_key(b, call.c, keys[i], klens[i]);
    rd_reply *r;
    st = rd_roundtrip(&call, 1, &r);
    rd_end(&call);
    if (b->cs)
        for (size_t i = 0; i < n; i++) rd_cs_invalidate(b, keys[i], klens[i]);
    if (st == CW_OK) {
        if (r->type == REDIS_REPLY_INTEGER) {
            if (deleted) *deleted = (uint64_t)r->integer;
        } else {
            st = rd_reply_error(&call, r, "DEL");
        }
        rd_reply_free(r);
    }
    return rd_soften(b, &call, st, CW_NOTSTORED);
}

/* ---- the ops tables ---- */

#define RD_OPS_FIELDS                                                                      \
    .abi_version = CW_BACKEND_ABI, .open = rd_open, .close = rd_close, .get = rd_get,       \
    .set = rd_set, .del = rd_del, .exists = rd_exists, .incr = rd_incr,                     \
    .expire = rd_expire, .get_expire = rd_get_expire, .scan = rd_op_scan,                   \
    .delete_match = rd_op_delete_match, .clear = rd_op_clear, .keys_count = rd_op_keys_count, \
    .value_size = rd_value_size, .ping = rd_ping, .delete_if_equal = rd_delete_if_equal,    \
    .get_many = rd_get_many, .set_many = rd_set_many, .delete_many = rd_delete_many,        \
    .set_bits = rd_op_set_bits, .get_bits = rd_op_get_bits,                                 \
    .slice_incr = rd_op_slice_incr, .set_add = rd_op_set_add,                               \
    .set_remove = rd_op_set_remove, .set_pop = rd_op_set_pop, .maintain = NULL,             \
    .bitfield = rd_op_bitfield

const cw_backend_ops cw__redis_ops = { .scheme = "redis", RD_OPS_FIELDS };
const cw_backend_ops cw__rediss_ops = { .scheme = "rediss", RD_OPS_FIELDS };
