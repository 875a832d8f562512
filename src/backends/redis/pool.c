/*
 * pool.c - the connection pool, reconnection, fork detection, the retry rules and suppress.
 *
 * Pool: a mutex-protected LIFO of idle connections plus a count of open ones, at most
 * max_connections. A call takes the warmest idle connection, or opens one while under the
 * limit, or waits (up to wait_for_connection_timeout) for one to come back. A connection that
 * failed is closed, never returned, so the next call simply opens a fresh one: that is the
 * whole of "reconnection", and it needs no background thread.
 *
 * Stale connections: after the server restarts, idle connections are dead sockets. A
 * connection that sat idle longer than RD_IDLE_CHECK_MS is checked with a non-blocking
 * MSG_PEEK before reuse (no round trip, one system call); one used within that window is
 * trusted, and if the server went away in between, the retry rule below covers it.
 *
 * Retries: a request is sent again on a fresh connection once, and only when it provably did
 * not run: the write failed before any byte left, or the connection closed before any byte
 * of the reply came (the server was gone, not merely slow). A timeout is retried only with
 * retry_on_timeout (as in redis-py), since the command may have run.
 *
 * Fork: a child inherits the parent's sockets and TLS sessions; using them from both sides
 * would interleave two conversations on one stream. Each backend owns a page that the kernel
 * zeroes in a forked child (MADV_WIPEONFORK), so the check on every call is one load; the
 * child's first call drops the inherited connections without a word on the wire (no TLS
 * close_notify, which would end the parent's session) and starts a fresh pool.
 */
#include <errno.h>
#include <sched.h>
#include <stdio.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include <hiredis/hiredis.h>

#include "backends/redis/redis_int.h"

/* Idle time after which a pooled connection is checked before reuse. */
#define RD_IDLE_CHECK_MS 20

cw_status rd_pool_init(rd_pool *p)
{
    memset(p, 0, sizeof *p);
    pthread_condattr_t ca;
    if (pthread_condattr_init(&ca) != 0) return CW_ENOMEM;
    pthread_condattr_setclock(&ca, CLOCK_MONOTONIC);
    int rc = pthread_cond_init(&p->cv, &ca);
    pthread_condattr_destroy(&ca);
    if (rc != 0) return CW_ENOMEM;
    if (pthread_mutex_init(&p->mu, NULL) != 0) {
        pthread_cond_destroy(&p->cv);
        return CW_ENOMEM;
    }
    return CW_OK;
}

void rd_pool_destroy(rd_pool *p)
{
    rd_conn *c = p->idle;
    while (c) {
        rd_conn *next = c->next;
        rd_conn_close(c, false);
        c = next;
    }
    p->idle = NULL;
    pthread_mutex_destroy(&p->mu);
    pthread_cond_destroy(&p->cv);
}

/* In a forked child: forget the parent's connections. Connections other parent threads had
 * taken at fork time are unreachable here; their descriptors leak in the child (harmless,
 * and closing them blindly could close descriptors the child reused). */
static void pool_fork_reset(rd_pool *p)
{
    rd_conn *c = p->idle;
    while (c) {
        rd_conn *next = c->next;
        rd_conn_close(c, true);
        c = next;
    }
    /* The inherited mutex may be held by a thread that does not exist here: start over. */
    rd_pool_init(p);
}

void rd_fork_reset(rd_backend *b)
{
    for (;;) {
        if (b->fork_wipe) {
            int s = atomic_load_explicit(&b->fork->state, memory_order_acquire);
            if (s == 1) return;
            int zero = 0;
            if (s == 0 && atomic_compare_exchange_strong(&b->fork->state, &zero, 2)) {
                pool_fork_reset(&b->pool);
                if (b->cs) rd_cs_fork_reset(b);
                atomic_store_explicit(&b->fork->state, 1, memory_order_release);
                return;
            }
        } else {
            int me = (int)getpid();
            int p = atomic_load_explicit(&b->fork_pid, memory_order_acquire);
            if (p == me) return;
            if (p != -1 && atomic_compare_exchange_strong(&b->fork_pid, &p, -1)) {
                pool_fork_reset(&b->pool);
                if (b->cs) rd_cs_fork_reset(b);
                atomic_store_explicit(&b->fork_pid, me, memory_order_release);
                return;
            }
        }
        sched_yield(); /* another thread of the child is resetting */
    }
}

static void call_failed(rd_call *call, cw_status st)
{
    call->io_failed = true;
    (void)st;
}

cw_status rd_begin(rd_backend *b, rd_call *call)
{
    rd_fork_check(b);
    call->b = b;
    call->c = NULL;
    call->io_failed = false;
    call->why[0] = '\0';
    rd_pool *p = &b->pool;
    struct timespec until = { 0, 0 };
    bool have_until = false;
    pthread_mutex_lock(&p->mu);
    for (;;) {
        rd_conn *c = p->idle;
        if (c) {
            p->idle = c->next;
            pthread_mutex_unlock(&p->mu);
            c->next = NULL;
            if (rd_coarse_ms() - c->last_ms > RD_IDLE_CHECK_MS && rd_conn_dead(c)) {
                rd_conn_close(c, true);
                pthread_mutex_lock(&p->mu);
                p->open--;
                continue;
            }
            call->c = c;
            return CW_OK;
        }
        if (p->open < b->cfg.max_connections) {
            p->open++;
            pthread_mutex_unlock(&p->mu);
            cw_status st = rd_conn_open(&b->cfg, b->ssl_ctx, &c);
            if (st != CW_OK) {
                pthread_mutex_lock(&p->mu);
                p->open--;
                pthread_cond_signal(&p->cv);
                pthread_mutex_unlock(&p->mu);
                if (st != CW_ENOMEM) {
                    call_failed(call, st);
                    snprintf(call->why, sizeof call->why, "cannot connect to %s:%d",
                             b->cfg.host, b->cfg.port);
                }
                return st;
            }
            call->c = c;
            return CW_OK;
        }
        if (!have_until) {
            clock_gettime(CLOCK_MONOTONIC, &until);
            until.tv_sec += b->cfg.pool_wait_ms / 1000;
            until.tv_nsec += (b->cfg.pool_wait_ms % 1000) * 1000000;
            if (until.tv_nsec >= 1000000000) {
                until.tv_sec++;
                until.tv_nsec -= 1000000000;
            }
            have_until = true;
        }
        p->waiters++;
        int rc = pthread_cond_timedwait(&p->cv, &p->mu, &until);
        p->waiters--;
        if (rc == ETIMEDOUT && !p->idle && p->open >= b->cfg.max_connections) {
            pthread_mutex_unlock(&p->mu);
            call_failed(call, CW_ETIMEOUT);
            snprintf(call->why, sizeof call->why, "no free connection to %s:%d within %lld ms",
                     b->cfg.host, b->cfg.port, (long long)b->cfg.pool_wait_ms);
            return cw_backend_fail(CW_ETIMEOUT, "redis: all %lld connections busy for %lld ms",
                                   (long long)b->cfg.max_connections,
                                   (long long)b->cfg.pool_wait_ms);
        }
    }
}

void rd_end(rd_call *call)
{
    rd_conn *c = call->c;
    if (!c) return;
    call->c = NULL;
    rd_conn_reset_out(c);
    rd_pool *p = &call->b->pool;
    if (c->broken) {
        rd_conn_close(c, true);
        pthread_mutex_lock(&p->mu);
        p->open--;
    } else {
        pthread_mutex_lock(&p->mu);
        c->next = p->idle;
        p->idle = c;
    }
    if (p->waiters) pthread_cond_signal(&p->cv);
    pthread_mutex_unlock(&p->mu);
}

void rd_replies_free(rd_reply **r, size_t n)
{
    for (size_t i = 0; i < n; i++) {
        rd_reply_free(r[i]);
        r[i] = NULL;
    }
}

cw_status rd_roundtrip(rd_call *call, size_t n, rd_reply **r)
{
    rd_backend *b = call->b;
    for (size_t i = 0; i < n; i++) r[i] = NULL;
    for (int attempt = 0;; attempt++) {
        rd_conn *c = call->c;
        rd_io io = rd_conn_flush(c);
        size_t i = 0;
        if (io == RD_IO_OK)
            for (; i < n; i++)
                if ((io = rd_conn_read_reply(c, &r[i])) != RD_IO_OK) break;
        if (io == RD_IO_OK) {
            c->last_ms = rd_coarse_ms();
            rd_conn_reset_out(c); /* the connection may carry a second request */
            return CW_OK;
        }
        rd_replies_free(r, i);
        if (io == RD_IO_NOMEM) return cw_backend_fail(CW_ENOMEM, "redis: out of memory");
        bool retry = attempt == 0 &&
                     (io == RD_IO_WRITE || (io == RD_IO_EOF && i == 0) ||
                      (io == RD_IO_TIMEOUT && b->cfg.retry_on_timeout));
        if (retry) {
            rd_conn *fresh = NULL;
            cw_status st = rd_conn_open(&b->cfg, b->ssl_ctx, &fresh);
            if (st == CW_OK) {
                /* The request moves to the new connection; the old one is closed and the
                 * new one takes its place in the pool's count. */
                char *o = fresh->out;
                size_t ocap = fresh->outcap;
                fresh->out = c->out;
                fresh->outlen = c->outlen;
                fresh->outcap = c->outcap;
                c->out = o;
                c->outlen = 0;
                c->outcap = ocap;
                rd_conn_close(c, true);
                call->c = fresh;
                continue;
            }
            call_failed(call, st);
            snprintf(call->why, sizeof call->why, "cannot reconnect to %s:%d", b->cfg.host,
                     b->cfg.port);
            return st;
        }
        call_failed(call, CW_EBACKEND);
        snprintf(call->why, sizeof call->why, "%s:%d: %s", b->cfg.host, b->cfg.port,
                 rd_io_text(io));
        if (io == RD_IO_TIMEOUT)
            return cw_backend_fail(CW_ETIMEOUT, "redis %s:%d: no reply within %lld ms",
                                   b->cfg.host, b->cfg.port, (long long)b->cfg.socket_timeout_ms);
        return cw_backend_fail(CW_EBACKEND, "redis %s:%d: %s", b->cfg.host, b->cfg.port,
                               rd_io_text(io));
    }
}

cw_status rd_reply_error(rd_call *call, const rd_reply *r, const char *what)
{
    const char *s = r->type == REDIS_REPLY_ERROR ? r->str : "unexpected reply type";
    if (strncmp(s, "WRONGTYPE", 9) == 0 || strstr(s, "not an integer") ||
        strstr(s, "not a valid float"))
        return cw_backend_fail(CW_ETYPE, "redis %s: %s", what, s);
    if (strstr(s, "overflow")) return cw_backend_fail(CW_EINVAL, "redis %s: %s", what, s);
    if (strncmp(s, "LOADING", 7) == 0 || strncmp(s, "BUSY", 4) == 0 ||
        strncmp(s, "MASTERDOWN", 10) == 0 || strncmp(s, "TRYAGAIN", 8) == 0) {
        call->io_failed = true;
        snprintf(call->why, sizeof call->why, "%s", s);
    }
    return cw_backend_fail(CW_EBACKEND, "redis %s: %s", what, s);
}

cw_status rd_soften(rd_backend *b, const rd_call *call, cw_status st, cw_status soft)
{
    if (st == CW_OK || !call->io_failed || !b->cfg.suppress) return st;
    atomic_fetch_add_explicit(&b->suppressed, 1, memory_order_relaxed);
    int64_t now = rd_coarse_ms();
    int64_t last = atomic_load_explicit(&b->warn_ms, memory_order_relaxed);
    if (now - last >= 1000 && atomic_compare_exchange_strong(&b->warn_ms, &last, now)) {
        uint64_t n = atomic_exchange(&b->suppressed, 0);
        cw_backend_log(&b->env, CW_LOG_WARN,
                       "redis: %s; %llu call(s) answered as miss/not stored (suppress=1)",
                       call->why[0] ? call->why : "unavailable", (unsigned long long)n);
    }
    return soft;
}

/* ---- Lua scripts ---------------------------------------------------------------------------
 * Each runs atomically on the server. EVALSHA first (the SHA1s are computed at open); after
 * a server restart the script cache is empty and the server answers NOSCRIPT, then EVAL
 * sends the source once, which also caches it again. */

const char *const rd_script_src[RD_SCRIPT__COUNT] = {
    /* INCR_TTL: KEYS[1] key; ARGV by, ttl_ms. TTL only when this call created the key. */
    "local created = redis.call('EXISTS', KEYS[1]) == 0\n"
    "local v = redis.call('INCRBY', KEYS[1], ARGV[1])\n"
    "if created then redis.call('PEXPIRE', KEYS[1], ARGV[2]) end\n"
    "return v\n",
    /* DEL_IF_EQ: KEYS[1] key; ARGV[1] value. 1 deleted, 0 differs, -1 absent. */
    "local v = redis.call('GET', KEYS[1])\n"
    "if not v then return -1 end\n"
    "if v == ARGV[1] then redis.call('DEL', KEYS[1]) return 1 end\n"
    "return 0\n",
    /* SLICE: KEYS[1] zset; ARGV start_ms, now_ms, max_count, ttl_ms (-1 none), member.
     * Drop instants < start, count, record now if under max, refresh TTL. */
    "redis.call('ZREMRANGEBYSCORE', KEYS[1], '-inf', '(' .. ARGV[1])\n"
    "local c = redis.call('ZCARD', KEYS[1])\n"
    "if c < tonumber(ARGV[3]) then\n"
    "  redis.call('ZADD', KEYS[1], ARGV[2], ARGV[5])\n"
    "  c = c + 1\n"
    "end\n"
    "if c > 0 then\n"
    "  if tonumber(ARGV[4]) > 0 then redis.call('PEXPIRE', KEYS[1], ARGV[4])\n"
    "  else redis.call('PERSIST', KEYS[1]) end\n"
    "end\n"
    "return c\n",
    /* SET_BITS: KEYS[1] key; ARGV[1] ttl_ms (-1 none), ARGV[2..] bit offsets. */
    "local created = redis.call('EXISTS', KEYS[1]) == 0\n"
    "for i = 2, #ARGV do redis.call('SETBIT', KEYS[1], ARGV[i], 1) end\n"
    "if created and tonumber(ARGV[1]) > 0 then redis.call('PEXPIRE', KEYS[1], ARGV[1]) end\n"
    "return 1\n",
    /* SET_ADD: KEYS[1] key; ARGV[1] ttl_ms (-1 none), ARGV[2..] members. A new key gets the
     * TTL; an existing TTL moves to the later of the two; no expiry on either side wins. */
    "local pttl = redis.call('PTTL', KEYS[1])\n"
    "local ttl = tonumber(ARGV[1])\n"
    "for i = 2, #ARGV, 1000 do\n"
    "  redis.call('SADD', KEYS[1], unpack(ARGV, i, math.min(i + 999, #ARGV)))\n"
    "end\n"
    "if pttl == -2 then\n"
    "  if ttl > 0 then redis.call('PEXPIRE', KEYS[1], ttl) end\n"
    "elseif pttl >= 0 then\n"
    "  if ttl < 0 then redis.call('PERSIST', KEYS[1])\n"
    "  elseif ttl > pttl then redis.call('PEXPIRE', KEYS[1], ttl) end\n"
    "end\n"
    "return 1\n",
};

cw_status rd_script(rd_call *call, int script, size_t nargs, rd_args_fn write, void *ud,
                    rd_reply **reply)
{
    rd_backend *b = call->b;
    rd_cmd(call->c, 2 + nargs);
    rd_arg_str(call->c, "EVALSHA");
    rd_arg(call->c, b->script_sha[script], 40);
    write(call->c, ud);
    cw_status st = rd_roundtrip(call, 1, reply);
    if (st != CW_OK) return st;
    if ((*reply)->type != REDIS_REPLY_ERROR || strncmp((*reply)->str, "NOSCRIPT", 8) != 0)
        return CW_OK;
    rd_reply_free(*reply);
    *reply = NULL;
    rd_cmd(call->c, 2 + nargs);
    rd_arg_str(call->c, "EVAL");
    rd_arg_str(call->c, rd_script_src[script]);
    write(call->c, ud);
    return rd_roundtrip(call, 1, reply);
}
