/*
 * redis_int.h - private declarations of the redis:// and rediss:// backend.
 *
 * Layers, bottom up:
 *   transport.c    one connection: TCP or TLS (OpenSSL) socket, hiredis's reply reader, our
 *                  allocation-free RESP command writer, AUTH/SELECT at connect
 *   pool.c         the connection pool (max_connections), reconnection, fork detection,
 *                  the retry rules and suppress (soft failures with a rate-limited warning)
 *   value.c        signing (secret + digestmod) and compression of stored values
 *   client_side.c  the local cache kept coherent by CLIENT TRACKING BCAST invalidations
 *   redis.c        URL parameters, open/close, the basic commands
 *   scan.c         SCAN-based commands: scan, delete_match, scoped clear and count
 *   internal_cmds.c the strategies' commands: bits, sliding windows, sets
 */
#ifndef CW_REDIS_INT_H
#define CW_REDIS_INT_H

#include <pthread.h>
#include <stdatomic.h>
#include <stdbool.h>
#include <stdint.h>

#include <openssl/ssl.h>

#include "core/internal.h"

#if defined(__has_include)
#if __has_include(<xxhash.h>)
#define CW_REDIS_HAVE_XXHASH 1
#endif
#endif

/* ---- replies -------------------------------------------------------------------------------
 * The reply tree hiredis's reader builds through our object functions (so that replies come
 * from the library allocator, and an allocation failure is an error, not hiredis's abort). */
typedef struct rd_reply {
    int type;          /* REDIS_REPLY_* */
    long long integer; /* INTEGER */
    size_t len;        /* STRING, STATUS, ERROR: bytes at str */
    char *str;         /* NUL-terminated one past len */
    size_t elements;   /* ARRAY */
    struct rd_reply **element;
} rd_reply;

void rd_reply_free(rd_reply *r);

/* ---- configuration (URL parameters, see docs/REDIS.md) ------------------------------------ */
typedef enum rd_cert_reqs { RD_CERT_REQUIRED = 0, RD_CERT_OPTIONAL, RD_CERT_NONE } rd_cert_reqs;

typedef struct rd_config {
    char *host;
    int port;
    bool tls;
    char *username; /* NULL: legacy AUTH <password> */
    char *password; /* NULL: no AUTH */
    int64_t db;
    char *client_name;
    int64_t connect_timeout_ms;
    int64_t socket_timeout_ms;
    int64_t pool_wait_ms; /* wait for a free connection when max_connections are busy */
    int64_t max_connections;
    bool retry_on_timeout;
    bool suppress;
    /* TLS */
    char *ssl_ca_certs, *ssl_certfile, *ssl_keyfile;
    rd_cert_reqs cert_reqs;
    bool check_hostname;
    /* scope of clear/keys_count: keys starting with it ("" = the whole db) */
    char *scope_prefix;
    bool allow_flushdb; /* clear with no scope may run FLUSHDB (off: clear refuses) */
    /* client-side cache */
    bool client_side;
    char *cs_prefix; /* prepended to every key in Redis when client_side */
    int64_t cs_size; /* max local entries */
    int64_t health_ms; /* subscriber PING interval */
} rd_config;

/* ---- one connection (transport.c) ---------------------------------------------------------- */
#define RD_RBUF 16384

typedef struct rd_conn {
    int fd;
    SSL *ssl;
    void *reader; /* redisReader */
    /* the command(s) being written: a reusable growable buffer */
    char *out;
    size_t outlen, outcap;
    bool out_oom;
    bool broken;    /* I/O failed or protocol desynchronised: close, never reuse */
    int64_t last_ms; /* CLOCK_MONOTONIC_COARSE ms of the last completed use */
    struct rd_conn *next; /* idle list */
    char rbuf[RD_RBUF];
} rd_conn;

/* Outcome of one I/O step, for the retry rules. */
typedef enum rd_io {
    RD_IO_OK = 0,
    RD_IO_TIMEOUT,  /* the server did not answer within socket_timeout */
    RD_IO_WRITE,    /* writing the request failed: the server never saw it */
    RD_IO_EOF,      /* connection closed before any byte of the reply arrived */
    RD_IO_BROKEN,   /* anything else: reset mid-reply, protocol error */
    RD_IO_NOMEM
} rd_io;

/* Open a connection: TCP connect within connect_timeout, TLS handshake, AUTH, SELECT,
 * CLIENT SETNAME. On failure returns CW_EBACKEND/CW_ETIMEOUT with cw_backend_fail() set. */
cw_status rd_conn_open(const rd_config *cfg, SSL_CTX *ctx, rd_conn **out);
/* Close and free (no TLS close_notify when @quiet, e.g. in a forked child). NULL is a no-op. */
void rd_conn_close(rd_conn *c, bool quiet);
/* 1 when the server has closed the connection (or sent unexpected bytes): checked before
 * reusing a connection that sat idle. Never blocks. */
bool rd_conn_dead(rd_conn *c);
/* Send the buffered command bytes. The buffer is kept (for a retry on another connection)
 * until rd_conn_reset_out(). */
rd_io rd_conn_flush(rd_conn *c);
void rd_conn_reset_out(rd_conn *c);
/* Read the next reply (blocking up to socket_timeout per read). RD_IO_EOF means the
 * connection closed before any byte of this reply arrived. */
rd_io rd_conn_read_reply(rd_conn *c, rd_reply **out);
/* For the subscriber: one read of what is available (after poll said readable), and the next
 * complete reply if any (*out NULL when none is complete yet). */
rd_io rd_conn_read_some(rd_conn *c);
rd_io rd_conn_next_reply(rd_conn *c, rd_reply **out);
/* Bytes already decrypted and waiting inside OpenSSL (poll does not see them). */
bool rd_conn_pending(rd_conn *c);
/* Describe the last failure of @io for messages. */
const char *rd_io_text(rd_io io);

/* The RESP writer: a command is rd_cmd(argc) then argc args. Never fails; an allocation
 * failure is remembered in out_oom and reported by rd_conn_flush. */
void rd_cmd(rd_conn *c, size_t argc);
void rd_arg(rd_conn *c, const void *p, size_t n);
void rd_arg_str(rd_conn *c, const char *s);
void rd_arg2(rd_conn *c, const void *p1, size_t n1, const void *p2, size_t n2); /* p1 ++ p2 */
void rd_arg_i64(rd_conn *c, int64_t v);
void rd_arg_u64(rd_conn *c, uint64_t v);

/* The TLS context of a rediss:// backend (with our socket BIO method); NULL + errbuf. */
SSL_CTX *rd_tls_ctx_new(const rd_config *cfg, char *errbuf);
void rd_tls_ctx_free(SSL_CTX *ctx);

/* Monotonic clocks. */
int64_t rd_now_ms(void);        /* CLOCK_MONOTONIC, ms */
int64_t rd_coarse_ms(void);     /* CLOCK_MONOTONIC_COARSE, ms (cheap; ~4 ms steps) */

/* ---- value signing and compression (value.c) ---------------------------------------------- */
typedef enum cw__digest {
    CW__DIGEST_NONE = 0,
    CW__DIGEST_MD5,
    CW__DIGEST_SHA1,
    CW__DIGEST_SHA256,
    CW__DIGEST_SUM,
    CW__DIGEST_XXH64,
    CW__DIGEST_XXH3
} cw__digest;

typedef enum cw__compress {
    CW__COMPRESS_NONE = 0,
    CW__COMPRESS_GZIP = 1,
    CW__COMPRESS_ZLIB = 2,
    CW__COMPRESS_ZSTD = 3
} cw__compress;

typedef struct cw__valcodec {
    cw__digest digest;
    unsigned char *secret;
    size_t secret_len;
    void *mac_tmpl; /* EVP_MAC_CTX keyed with the secret, duplicated per call */
    size_t sig_len; /* hex chars of the signature (0 for sum: variable) */
    cw__compress compress;
    int level;
    size_t min_size;
    size_t max_size; /* decompressed output cap (a decompression bomb is corrupt data) */
} cw__valcodec;

/* Configure from the URL parameter values (each NULL when absent). */
cw_status cw__valcodec_init(cw__valcodec *vc, const char *secret, const char *digestmod,
                            const char *compress_type, int64_t level, uint64_t min_size,
                            char *errbuf);
void cw__valcodec_free(cw__valcodec *vc);
static inline bool cw__valcodec_active(const cw__valcodec *vc)
{
    return vc->digest != CW__DIGEST_NONE || vc->compress != CW__COMPRESS_NONE;
}
/* The bytes to store for (key, val): compressed above min_size when that shrinks them, then
 * signed. *out points into @scratch or at @val. Deterministic (unlock compares by it). */
cw_status cw__value_encode(const cw__valcodec *vc, const char *key, size_t klen, const void *val,
                           size_t vlen, cw_value *scratch, const void **out, size_t *outlen);
/* Verify and unpack stored bytes into @out. CW_OK; CW_ECORRUPT when the signature does not
 * verify or compressed data does not inflate (callers turn that into a miss); CW_ENOMEM. */
cw_status cw__value_decode(const cw__valcodec *vc, const char *key, size_t klen,
                           const void *stored, size_t slen, cw_value *out);

/* ---- the backend instance ------------------------------------------------------------------ */

/* Fork detection: a page that the kernel zeroes in a forked child (MADV_WIPEONFORK), so the
 * check on every call is one load. Where that is unavailable we compare getpid(). */
typedef struct rd_forkpage {
    _Atomic int state; /* 1 live in this process, 0 inherited through fork, 2 resetting */
} rd_forkpage;

typedef struct rd_pool {
    pthread_mutex_t mu;
    pthread_cond_t cv;
    rd_conn *idle;  /* LIFO: the warmest connection first */
    int64_t open;   /* connections existing (idle + in use) */
    int64_t waiters;
} rd_pool;

struct rd_cs; /* client_side.c */

enum { RD_SCRIPT_INCR_TTL, RD_SCRIPT_DEL_IF_EQ, RD_SCRIPT_SLICE, RD_SCRIPT_SET_BITS,
       RD_SCRIPT_SET_ADD, RD_SCRIPT__COUNT };

typedef struct rd_backend {
    cw_backend base; /* first */
    cw_backend_env env;
    rd_config cfg;
    SSL_CTX *ssl_ctx;
    cw__valcodec codec;
    rd_pool pool;
    rd_forkpage *fork;  /* mmap'd page */
    bool fork_wipe;     /* MADV_WIPEONFORK took */
    _Atomic int fork_pid; /* fallback detection; -1 while resetting */
    struct rd_cs *cs;   /* NULL unless client_side */
    const char *kp;     /* key prefix in Redis (client_side_prefix or "") */
    size_t kplen;
    char script_sha[RD_SCRIPT__COUNT][41];
    _Atomic int64_t warn_ms;      /* last suppress warning */
    _Atomic uint64_t suppressed;  /* calls suppressed since */
    _Atomic int64_t sigwarn_ms;   /* last bad-signature warning */
    _Atomic uint64_t seq;         /* unique members of sliding windows */
    uint64_t instance_id;
} rd_backend;

/* ---- pool.c: running commands ------------------------------------------------------------- */

/* A call in progress: a connection taken from the pool with the request written into it. */
typedef struct rd_call {
    rd_backend *b;
    rd_conn *c;
    bool io_failed; /* the failure was the connection's, not a Redis error reply */
    char why[160];  /* its detail, for the suppress warning */
} rd_call;

cw_status rd_pool_init(rd_pool *p);
void rd_pool_destroy(rd_pool *p);

/* The fork check, at the top of every op. */
void rd_fork_reset(rd_backend *b);
static inline void rd_fork_check(rd_backend *b)
{
    if (b->fork_wipe) {
        if (__builtin_expect(atomic_load_explicit(&b->fork->state, memory_order_acquire) == 1, 1))
            return;
    }
    rd_fork_reset(b);
}

/* Take a connection (connecting if needed). CW_OK or a failure with io_failed set. */
cw_status rd_begin(rd_backend *b, rd_call *call);
/* Send the written request and read @n replies into @r (all freed by the caller with
 * rd_replies_free, also on failure). Retries once on a fresh connection when the request
 * provably never reached the server (write failed, or a connection reused after idling was
 * found closed), and on a timeout when retry_on_timeout is set. */
cw_status rd_roundtrip(rd_call *call, size_t n, rd_reply **r);
/* Return the connection to the pool (closing it if broken). */
void rd_end(rd_call *call);
void rd_replies_free(rd_reply **r, size_t n);

/* Map a Redis error reply to a status with detail (a server that is loading or busy counts as
 * unavailable, so suppress applies to it). */
cw_status rd_reply_error(rd_call *call, const rd_reply *r, const char *what);
/* Apply suppress to a failure: connection failures become @soft (CW_NOTFOUND for reads,
 * CW_NOTSTORED for writes) with a warning logged at most once a second. */
cw_status rd_soften(rd_backend *b, const rd_call *call, cw_status st, cw_status soft);

/* Run a Lua script by SHA (EVALSHA), falling back to EVAL when the server lost it. The
 * keys/args are written by @write (called once or twice). */
typedef void (*rd_args_fn)(rd_conn *c, void *ud);
cw_status rd_script(rd_call *call, int script, size_t nargs, rd_args_fn write, void *ud,
                    rd_reply **reply);
extern const char *const rd_script_src[RD_SCRIPT__COUNT];

/* ---- client_side.c ------------------------------------------------------------------------- */
cw_status rd_cs_start(rd_backend *b, char *errbuf);
void rd_cs_stop(rd_backend *b);
void rd_cs_fork_reset(rd_backend *b);

/* Snapshot taken before reading from Redis; a fill with a stale ticket is dropped. */
typedef struct rd_cs_ticket {
    uint64_t hash;
    uint64_t gen;
    uint64_t epoch;
    bool usable;
} rd_cs_ticket;

bool rd_cs_usable(rd_backend *b);
/* 1 on a local hit (out filled), 0 on a miss, <0 on ENOMEM. */
int rd_cs_get(rd_backend *b, const char *key, size_t klen, cw_value *out);
void rd_cs_ticket_take(rd_backend *b, const char *key, size_t klen, rd_cs_ticket *t);
/* Settle a read that went to Redis with ticket @t, whatever it found (see client_side.c):
 * keep (key, val) for @pttl_ms (-1: no expiry) if nothing invalidated or filled the key
 * since @t; else drop any local copy. val NULL: nothing to keep (absent, or no usable TTL). */
void rd_cs_settle(rd_backend *b, const char *key, size_t klen, const void *val, size_t vlen,
                  int64_t pttl_ms, const rd_cs_ticket *t);
void rd_cs_invalidate(rd_backend *b, const char *key, size_t klen);
void rd_cs_flush(rd_backend *b);

/* ---- redis.c / scan.c ---------------------------------------------------------------------- */
/* Stored bytes -> the caller's value, verified and unpacked; CW_NOTFOUND when they fail
 * verification (with a rate-limited warning). */
cw_status rd_stored_to_value(rd_backend *b, const char *key, size_t klen, const char *s, size_t n,
                             cw_value *out);
cw_status rd_op_scan(cw_backend *bb, const char *pattern, size_t plen, size_t batch,
                     int with_values, cw_scan_fn fn, void *ud);
cw_status rd_op_delete_match(cw_backend *bb, const char *pattern, size_t plen, uint64_t *deleted);
cw_status rd_op_clear(cw_backend *bb);
cw_status rd_op_keys_count(cw_backend *bb, uint64_t *count);

/* ---- internal_cmds.c ----------------------------------------------------------------------- */
cw_status rd_op_set_bits(cw_backend *bb, const char *key, size_t klen, const uint64_t *idx,
                         size_t n, int64_t ttl_ms);
cw_status rd_op_get_bits(cw_backend *bb, const char *key, size_t klen, const uint64_t *idx,
                         size_t n, uint8_t *bits_out);
cw_status rd_op_bitfield(cw_backend *bb, const char *key, size_t klen, const uint64_t *idx, size_t n,
                         unsigned size, int64_t by, int64_t ttl_ms, uint64_t *counters);
cw_status rd_op_slice_incr(cw_backend *bb, const char *key, size_t klen, int64_t start_ms,
                           int64_t now_ms, int64_t max_count, int64_t ttl_ms, int64_t *count);
cw_status rd_op_set_add(cw_backend *bb, const char *key, size_t klen, size_t n,
                        const char *const *members, const size_t *mlens, int64_t ttl_ms);
cw_status rd_op_set_remove(cw_backend *bb, const char *key, size_t klen, size_t n,
                           const char *const *members, const size_t *mlens);
cw_status rd_op_set_pop(cw_backend *bb, const char *key, size_t klen, size_t max, cw_scan_fn fn,
                        void *ud, size_t *popped);

/* A key as stored in Redis: the client-side prefix, then the key. */
static inline void rd_arg_key(rd_backend *b, rd_conn *c, const char *key, size_t klen)
{
    rd_arg2(c, b->kp, b->kplen, key, klen);
}

/* The command "NAME key" (GET, PTTL, EXISTS, ...): name is a NUL-terminated literal. */
static inline void rd_cmd_key(rd_backend *b, rd_conn *c, const char *name, const char *key, size_t klen)
{
    rd_cmd(c, 2);
    rd_arg_str(c, name);
    rd_arg_key(b, c, key, klen);
}

#endif /* CW_REDIS_INT_H */
