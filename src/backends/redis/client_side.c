/*
 * client_side.c - the local cache in front of Redis (client_side=1), kept coherent by Redis's
 * server-assisted invalidation.
 *
 * Coherence: a subscriber thread holds one extra connection on which it runs
 *   CLIENT TRACKING on REDIRECT <its own id> BCAST PREFIX <client_side_prefix>
 *   SUBSCRIBE __redis__:invalidate
 * From then on Redis publishes, on that connection, the name of every key under the prefix
 * that anyone changes (redis-cli, another process, this one), and a null for FLUSHDB/ALL.
 * In BCAST mode tracking does not depend on which connection read a key, so the pooled data
 * connections need no tracking state and the one subscriber serves them all.
 *
 * The fill race: a reader fetches a value, another client changes the key, the invalidation
 * is processed, and only then the reader stores the old value locally: stale forever. So a
 * reader takes a ticket before it sends GET (the generation counter of the key's slot and
 * the global epoch), and stores the fetched value only if neither moved. Invalidations bump
 * the slot's generation under the same shard lock that a fill checks it under, so either the
 * invalidation comes first (the fill is dropped) or the fill comes first (the invalidation
 * removes it).
 *
 * Invalidations travel on their own connection, so for the few milliseconds between a write
 * and its invalidation two readers may fetch different values, and a reader that saw the new
 * one from Redis could later find the old one filled locally by a slower reader (a thread's
 * reads would go backwards). So every read that went to Redis settles (rd_cs_settle): it
 * keeps its value only when its ticket holds and nobody filled the key meanwhile; otherwise
 * it drops any local copy and moves the slot's generation, so that no fill whose ticket
 * predates this read lands after it. A fill that finds the key already filled with other
 * bytes drops both rather than guess which is newer; with the same bytes it keeps the copy
 * (no thread can see a difference), so concurrent misses of one hot key converge. Evicting a
 * copy moves its generation too.
 *
 * Losing the subscriber: while it is down nobody would tell us about changes, so the local
 * cache is marked unusable (reads go to Redis), flushed, and only after a new subscription is
 * confirmed flushed again and used. A silent drop (no FIN) is caught by a PING every
 * health_check_interval that must be answered within socket_timeout; that sum bounds how long
 * a change can go unseen.
 *
 * Store: CS_SHARDS mutex-protected chained hash tables; each entry holds key and value in one
 * allocation, and an expiry instant from the key's PTTL (monotonic ms), so a local copy never
 * outlives its key. At capacity a shard evicts the head of the next non-empty bucket after a
 * moving hand, a cheap approximation of random eviction.
 */
#include <errno.h>
#include <fcntl.h>
#include <poll.h>
#include <stdio.h>
#include <string.h>
#include <unistd.h>

#include <hiredis/hiredis.h>

#include "backends/redis/redis_int.h"

#include "backends/redis/xxh.h"

#define CS_SHARDS 16
#define CS_GENS 4096

typedef struct cs_entry {
    struct cs_entry *next;
    uint64_t hash;
    int64_t deadline_ms; /* CLOCK_MONOTONIC ms; 0: none */
    size_t klen, vlen;
    unsigned char data[]; /* key, then value, then a NUL */
} cs_entry;

typedef struct cs_shard {
    pthread_mutex_t mu;
    cs_entry **buckets;
    size_t mask; /* buckets - 1 */
    size_t n, cap;
    size_t hand;
    char pad[64];
} cs_shard;

struct rd_cs {
    cs_shard shards[CS_SHARDS];
    _Atomic uint64_t gens[CS_GENS];
    _Atomic uint64_t epoch;
    _Atomic int usable;
    _Atomic int stop;
    int wake[2]; /* close() writes a byte to wake[1] */
    pthread_t thread;
    bool thread_started;
    rd_conn *conn; /* the subscriber's connection (thread-owned; seen by a forked child) */
    /* open waits for the first subscription attempt */
    pthread_mutex_t first_mu;
    pthread_cond_t first_cv;
    bool first_done;
};

static inline uint64_t key_hash(const char *k, size_t n)
{
#ifdef CW_REDIS_HAVE_XXHASH
    return XXH3_64bits(k, n);
#else
    uint64_t h = 0xcbf29ce484222325ULL; /* FNV-1a, then a finaliser for the high bits */
    for (size_t i = 0; i < n; i++) h = (h ^ (unsigned char)k[i]) * 0x100000001b3ULL;
    h ^= h >> 33;
    h *= 0xff51afd7ed558ccdULL;
    h ^= h >> 33;
    return h;
#endif
}

static inline cs_shard *shard_of(struct rd_cs *cs, uint64_t h)
{
    return &cs->shards[h >> 60];
}

static inline _Atomic uint64_t *gen_of(struct rd_cs *cs, uint64_t h)
{
    return &cs->gens[(h >> 24) & (CS_GENS - 1)];
}

static cs_entry **find_slot(cs_shard *s, uint64_t h, const char *key, size_t klen)
{
    cs_entry **pp = &s->buckets[h & s->mask];
    for (; *pp; pp = &(*pp)->next) {
        cs_entry *e = *pp;
        if (e->hash == h && e->klen == klen && memcmp(e->data, key, klen) == 0) return pp;
    }
    return pp;
}

static void shard_clear(cs_shard *s)
{
    for (size_t i = 0; i <= s->mask; i++) {
        cs_entry *e = s->buckets[i];
        while (e) {
            cs_entry *next = e->next;
            cw_free(e);
            e = next;
        }
        s->buckets[i] = NULL;
    }
    s->n = 0;
}

/* ---- the API used by the commands ---- */

bool rd_cs_usable(rd_backend *b)
{
    return atomic_load_explicit(&b->cs->usable, memory_order_acquire) != 0;
}

int rd_cs_get(rd_backend *b, const char *key, size_t klen, cw_value *out)
{
    struct rd_cs *cs = b->cs;
    if (!atomic_load_explicit(&cs->usable, memory_order_acquire)) return 0;
    uint64_t h = key_hash(key, klen);
    cs_shard *s = shard_of(cs, h);
    int res = 0;
    pthread_mutex_lock(&s->mu);
    cs_entry **pp = find_slot(s, h, key, klen);
    cs_entry *e = *pp;
    if (e) {
        if (e->deadline_ms && rd_now_ms() >= e->deadline_ms) {
            *pp = e->next;
            s->n--;
            cw_free(e);
        } else {
            res = cw_value_set(out, e->data + klen, e->vlen) == CW_OK ? 1 : -1;
        }
    }
    pthread_mutex_unlock(&s->mu);
    return res;
}

void rd_cs_ticket_take(rd_backend *b, const char *key, size_t klen, rd_cs_ticket *t)
{
    struct rd_cs *cs = b->cs;
    t->hash = key_hash(key, klen);
    t->usable = atomic_load_explicit(&cs->usable, memory_order_acquire) != 0;
    t->epoch = atomic_load_explicit(&cs->epoch, memory_order_acquire);
    t->gen = atomic_load_explicit(gen_of(cs, t->hash), memory_order_acquire);
}

void rd_cs_settle(rd_backend *b, const char *key, size_t klen, const void *val, size_t vlen,
                  int64_t pttl_ms, const rd_cs_ticket *t)
{
    struct rd_cs *cs = b->cs;
    if (!t->usable) return;
    cs_entry *e = NULL;
    if (val && (e = cw_malloc(sizeof *e + klen + vlen + 1)) != NULL) { /* no copy is fine too */
        e->hash = t->hash;
        e->deadline_ms = pttl_ms > 0 ? rd_now_ms() + pttl_ms : 0;
        e->klen = klen;
        e->vlen = vlen;
        memcpy(e->data, key, klen);
        if (vlen) memcpy(e->data + klen, val, vlen);
        e->data[klen + vlen] = 0;
    }
    cs_shard *s = shard_of(cs, t->hash);
    cs_entry *old = NULL, *victim = NULL;
    pthread_mutex_lock(&s->mu);
    int fresh = atomic_load_explicit(&cs->usable, memory_order_acquire) &&
                atomic_load_explicit(&cs->epoch, memory_order_acquire) == t->epoch &&
                atomic_load_explicit(gen_of(cs, t->hash), memory_order_acquire) == t->gen;
    cs_entry **pp = find_slot(s, t->hash, key, klen);
    if (fresh && e && !*pp) {
        if (s->n >= s->cap) {
            for (size_t i = 0; i <= s->mask; i++) {
                size_t bi = (s->hand + i) & s->mask;
                if ((victim = s->buckets[bi]) != NULL) {
                    s->buckets[bi] = victim->next;
                    s->n--;
                    s->hand = bi + 1;
                    /* as a settle that keeps nothing: no older fill may take its place */
                    atomic_fetch_add_explicit(gen_of(cs, victim->hash), 1, memory_order_acq_rel);
                    break;
                }
            }
            pp = find_slot(s, t->hash, key, klen);
        }
        e->next = NULL;
        *pp = e;
        s->n++;
        e = NULL;
    } else if (e && *pp && (*pp)->vlen == vlen && memcmp((*pp)->data + klen, val, vlen) == 0) {
        /* Another reader kept the very bytes this one fetched: nothing any thread could see
         * goes backwards, so keep that copy (concurrent misses of one hot key converge). */
    } else {
        /* Invalidated meanwhile, or filled by another reader with other bytes (two fetches
         * raced a write whose invalidation is still on its way: which is newer?), or nothing
         * to keep: keep no copy, and move the generation so that no fill that began before
         * this read lands after it. */
        if ((old = *pp) != NULL) {
            *pp = old->next;
            s->n--;
        }
        atomic_fetch_add_explicit(gen_of(cs, t->hash), 1, memory_order_acq_rel);
    }
    pthread_mutex_unlock(&s->mu);
    cw_free(e);
    cw_free(old);
    cw_free(victim);
}

void rd_cs_invalidate(rd_backend *b, const char *key, size_t klen)
{
    struct rd_cs *cs = b->cs;
    uint64_t h = key_hash(key, klen);
    cs_shard *s = shard_of(cs, h);
    pthread_mutex_lock(&s->mu);
    atomic_fetch_add_explicit(gen_of(cs, h), 1, memory_order_acq_rel);
    cs_entry **pp = find_slot(s, h, key, klen);
    cs_entry *e = *pp;
    if (e) {
        *pp = e->next;
        s->n--;
    }
    pthread_mutex_unlock(&s->mu);
    cw_free(e);
}

void rd_cs_flush(rd_backend *b)
{
    struct rd_cs *cs = b->cs;
    atomic_fetch_add_explicit(&cs->epoch, 1, memory_order_acq_rel);
    for (int i = 0; i < CS_SHARDS; i++) {
        pthread_mutex_lock(&cs->shards[i].mu);
        shard_clear(&cs->shards[i]);
        pthread_mutex_unlock(&cs->shards[i].mu);
    }
}

/* ---- the subscriber thread ---- */

static void set_usable(struct rd_cs *cs, int v)
{
    atomic_store_explicit(&cs->usable, v, memory_order_release);
}

static void first_done(struct rd_cs *cs)
{
    pthread_mutex_lock(&cs->first_mu);
    cs->first_done = true;
    pthread_cond_broadcast(&cs->first_cv);
    pthread_mutex_unlock(&cs->first_mu);
}

/* Wait up to ms or until close(); true when asked to stop. */
static bool nap(struct rd_cs *cs, int64_t ms)
{
    struct pollfd p = { cs->wake[0], POLLIN, 0 };
    poll(&p, 1, (int)ms);
    return atomic_load(&cs->stop) != 0;
}

static cw_status expect(rd_conn *c, int type, const char *what)
{
    rd_reply *r = NULL;
    rd_io io = rd_conn_read_reply(c, &r);
    if (io != RD_IO_OK)
        return cw_backend_fail(io == RD_IO_TIMEOUT ? CW_ETIMEOUT : CW_EBACKEND,
                               "redis client_side: %s: %s", what, rd_io_text(io));
    cw_status st = CW_OK;
    if (r->type != type)
        st = cw_backend_fail(CW_EBACKEND, "redis client_side: %s failed: %s", what,
                             r->type == REDIS_REPLY_ERROR ? r->str : "unexpected reply");
    rd_reply_free(r);
    return st;
}

/* CLIENT ID, then tracking redirected to ourselves and the subscription, pipelined. */
static cw_status subscribe(rd_backend *b, rd_conn *c, char *why, size_t whylen)
{
    rd_cmd(c, 2);
    rd_arg_str(c, "CLIENT");
    rd_arg_str(c, "ID");
    rd_io io = rd_conn_flush(c);
    rd_conn_reset_out(c);
    rd_reply *r = NULL;
    if (io == RD_IO_OK) io = rd_conn_read_reply(c, &r);
    if (io != RD_IO_OK || r->type != REDIS_REPLY_INTEGER) {
        snprintf(why, whylen, "CLIENT ID: %s",
                 io != RD_IO_OK ? rd_io_text(io) : r->type == REDIS_REPLY_ERROR ? r->str : "?");
        rd_reply_free(r);
        return CW_EBACKEND;
    }
    long long id = r->integer;
    rd_reply_free(r);
    rd_cmd(c, 8);
    rd_arg_str(c, "CLIENT");
    rd_arg_str(c, "TRACKING");
    rd_arg_str(c, "on");
    rd_arg_str(c, "REDIRECT");
    rd_arg_i64(c, id);
    rd_arg_str(c, "BCAST");
    rd_arg_str(c, "PREFIX");
    rd_arg(c, b->kp, b->kplen);
    rd_cmd(c, 2);
    rd_arg_str(c, "SUBSCRIBE");
    rd_arg_str(c, "__redis__:invalidate");
    io = rd_conn_flush(c);
    rd_conn_reset_out(c);
    if (io != RD_IO_OK) {
        snprintf(why, whylen, "%s", rd_io_text(io));
        return CW_EBACKEND;
    }
    cw_status st = expect(c, REDIS_REPLY_STATUS, "CLIENT TRACKING");
    if (st == CW_OK) st = expect(c, REDIS_REPLY_ARRAY, "SUBSCRIBE");
    if (st != CW_OK) snprintf(why, whylen, "tracking setup failed");
    return st;
}

/* One pushed message: an invalidation (a list of keys, or null for a flush). Anything else
 * (the PING's "pong", subscribe confirmations) only proves the connection alive, which the
 * caller noted when the bytes arrived. */
static void handle(rd_backend *b, rd_reply *r)
{
    if (r->type != REDIS_REPLY_ARRAY || r->elements != 3 ||
        r->element[0]->type != REDIS_REPLY_STRING || strcmp(r->element[0]->str, "message") != 0)
        return;
    rd_reply *p = r->element[2];
    if (p->type == REDIS_REPLY_NIL) { /* FLUSHDB / FLUSHALL */
        rd_cs_flush(b);
        return;
    }
    if (p->type != REDIS_REPLY_ARRAY) return;
    for (size_t i = 0; i < p->elements; i++) {
        rd_reply *k = p->element[i];
        if (k->type != REDIS_REPLY_STRING || k->len < b->kplen ||
            memcmp(k->str, b->kp, b->kplen) != 0)
            continue;
        rd_cs_invalidate(b, k->str + b->kplen, k->len - b->kplen);
    }
}

/* Read invalidations until the connection fails or close() asks us to stop. */
static void listen_loop(rd_backend *b, struct rd_cs *cs, rd_conn *c, char *why, size_t whylen)
{
    int64_t last_seen = rd_now_ms(), ping_sent = 0;
    for (;;) {
        for (;;) {
            rd_reply *r = NULL;
            rd_io io = rd_conn_next_reply(c, &r);
            if (io != RD_IO_OK) {
                snprintf(why, whylen, "%s", rd_io_text(io));
                return;
            }
            if (!r) break;
            handle(b, r);
            rd_reply_free(r);
        }
        if (atomic_load(&cs->stop)) return;
        int64_t now = rd_now_ms();
        int64_t wait = ping_sent ? ping_sent + b->cfg.socket_timeout_ms - now
                                 : last_seen + b->cfg.health_ms - now;
        bool readable = rd_conn_pending(c);
        if (!readable && wait > 0) {
            struct pollfd p[2] = { { c->fd, POLLIN, 0 }, { cs->wake[0], POLLIN, 0 } };
            int rc = poll(p, 2, (int)(wait > 60000 ? 60000 : wait));
            if (rc < 0 && errno != EINTR) {
                snprintf(why, whylen, "poll: %s", strerror(errno));
                return;
            }
            if (p[1].revents) return;
            readable = rc > 0 && p[0].revents;
        }
        if (readable) {
            rd_io io = rd_conn_read_some(c);
            if (io != RD_IO_OK) {
                snprintf(why, whylen, "%s", rd_io_text(io));
                return;
            }
            last_seen = rd_now_ms();
            ping_sent = 0;
            continue;
        }
        now = rd_now_ms();
        if (ping_sent) {
            if (now - ping_sent >= b->cfg.socket_timeout_ms) {
                snprintf(why, whylen, "no answer to PING within %lld ms",
                         (long long)b->cfg.socket_timeout_ms);
                return;
            }
        } else if (now - last_seen >= b->cfg.health_ms) {
            rd_cmd(c, 1);
            rd_arg_str(c, "PING");
            rd_io io = rd_conn_flush(c);
            rd_conn_reset_out(c);
            if (io != RD_IO_OK) {
                snprintf(why, whylen, "%s", rd_io_text(io));
                return;
            }
            ping_sent = now;
        }
    }
}

static void *subscriber(void *arg)
{
    rd_backend *b = arg;
    struct rd_cs *cs = b->cs;
    int64_t backoff = 50;
    bool was_up = false;
    while (!atomic_load(&cs->stop)) {
        char why[160] = "";
        rd_conn *c = NULL;
        cw_status st = rd_conn_open(&b->cfg, b->ssl_ctx, &c);
        if (st != CW_OK) snprintf(why, sizeof why, "cannot connect to %s:%d", b->cfg.host, b->cfg.port);
        else st = subscribe(b, c, why, sizeof why);
        if (st != CW_OK) {
            rd_conn_close(c, true);
            first_done(cs);
            int64_t now = rd_coarse_ms();
            int64_t last = atomic_load(&b->warn_ms);
            if (now - last >= 1000 && atomic_compare_exchange_strong(&b->warn_ms, &last, now))
                cw_backend_log(&b->env, CW_LOG_WARN,
                               "redis client_side: invalidation channel down (%s); local cache "
                               "off, reads go to Redis", why);
            if (nap(cs, backoff)) break;
            backoff = backoff * 2 > 1000 ? 1000 : backoff * 2;
            continue;
        }
        backoff = 50;
        /* Whatever was cached before this subscription may have missed changes. */
        rd_cs_flush(b);
        cs->conn = c;
        set_usable(cs, 1);
        first_done(cs);
        if (was_up)
            cw_backend_log(&b->env, CW_LOG_INFO, "redis client_side: invalidation channel back");
        was_up = true;
        listen_loop(b, cs, c, why, sizeof why);
        set_usable(cs, 0);
        rd_cs_flush(b);
        cs->conn = NULL;
        bool stopping = atomic_load(&cs->stop) != 0;
        rd_conn_close(c, !stopping);
        if (!stopping)
            cw_backend_log(&b->env, CW_LOG_WARN,
                           "redis client_side: invalidation channel lost (%s); local cache "
                           "flushed until it is back", why);
    }
    first_done(cs);
    return NULL;
}

/* ---- lifecycle ---- */

static cw_status cs_init(struct rd_cs *cs, int64_t size)
{
    size_t per = (size_t)((size + CS_SHARDS - 1) / CS_SHARDS);
    if (per < 1) per = 1;
    size_t nb = 16;
    while (nb < per && nb < ((size_t)1 << 40)) nb <<= 1;
    for (int i = 0; i < CS_SHARDS; i++) {
        cs_shard *s = &cs->shards[i];
        s->buckets = cw_calloc(nb, sizeof *s->buckets);
        if (!s->buckets) return CW_ENOMEM;
        s->mask = nb - 1;
        s->cap = per;
        pthread_mutex_init(&s->mu, NULL);
    }
    pthread_mutex_init(&cs->first_mu, NULL);
    pthread_condattr_t ca;
    pthread_condattr_init(&ca);
    pthread_condattr_setclock(&ca, CLOCK_MONOTONIC);
    pthread_cond_init(&cs->first_cv, &ca);
    pthread_condattr_destroy(&ca);
    if (pipe2(cs->wake, O_CLOEXEC | O_NONBLOCK) != 0) return CW_EBACKEND;
    return CW_OK;
}

static cw_status cs_spawn(rd_backend *b, char *errbuf)
{
    struct rd_cs *cs = b->cs;
    cs->first_done = false;
    if (pthread_create(&cs->thread, NULL, subscriber, b) != 0) {
        if (errbuf) snprintf(errbuf, CW_ERRMSG_SIZE, "redis client_side: cannot start a thread");
        return CW_EBACKEND;
    }
    cs->thread_started = true;
    return CW_OK;
}

cw_status rd_cs_start(rd_backend *b, char *errbuf)
{
    struct rd_cs *cs = cw_calloc(1, sizeof *cs);
    if (!cs) {
        snprintf(errbuf, CW_ERRMSG_SIZE, "redis: out of memory");
        return CW_ENOMEM;
    }
    cs->wake[0] = cs->wake[1] = -1;
    b->cs = cs;
    cw_status st = cs_init(cs, b->cfg.cs_size);
    if (st != CW_OK) {
        snprintf(errbuf, CW_ERRMSG_SIZE, "redis client_side: %s",
                 st == CW_ENOMEM ? "out of memory" : "cannot create a pipe");
        return st;
    }
    if ((st = cs_spawn(b, errbuf)) != CW_OK) return st;
    /* Give the first subscription a chance, so a cache used right after setup is already
     * served locally; a Redis that is down does not hold setup longer than this. */
    struct timespec until;
    clock_gettime(CLOCK_MONOTONIC, &until);
    int64_t ms = b->cfg.connect_timeout_ms + b->cfg.socket_timeout_ms;
    until.tv_sec += ms / 1000;
    until.tv_nsec += (ms % 1000) * 1000000;
    if (until.tv_nsec >= 1000000000) {
        until.tv_sec++;
        until.tv_nsec -= 1000000000;
    }
    pthread_mutex_lock(&cs->first_mu);
    while (!cs->first_done)
        if (pthread_cond_timedwait(&cs->first_cv, &cs->first_mu, &until) != 0) break;
    pthread_mutex_unlock(&cs->first_mu);
    return CW_OK;
}

void rd_cs_stop(rd_backend *b)
{
    struct rd_cs *cs = b->cs;
    if (!cs) return;
    atomic_store(&cs->stop, 1);
    if (cs->wake[1] >= 0) {
        char x = 1;
        ssize_t w = write(cs->wake[1], &x, 1);
        (void)w;
    }
    if (cs->thread_started) pthread_join(cs->thread, NULL);
    for (int i = 0; i < CS_SHARDS; i++) {
        if (!cs->shards[i].buckets) continue;
        shard_clear(&cs->shards[i]);
        cw_free(cs->shards[i].buckets);
        pthread_mutex_destroy(&cs->shards[i].mu);
    }
    pthread_mutex_destroy(&cs->first_mu);
    pthread_cond_destroy(&cs->first_cv);
    if (cs->wake[0] >= 0) close(cs->wake[0]);
    if (cs->wake[1] >= 0) close(cs->wake[1]);
    cw_free(cs);
    b->cs = NULL;
}

/* In a forked child: the subscriber thread did not come along, so nobody listens for
 * invalidations; everything local is dropped and a new subscriber (with its own connection)
 * starts. Locks may have been held by parent threads: they are created anew. */
void rd_cs_fork_reset(rd_backend *b)
{
    struct rd_cs *cs = b->cs;
    set_usable(cs, 0);
    atomic_fetch_add(&cs->epoch, 1);
    if (cs->conn) {
        rd_conn_close(cs->conn, true);
        cs->conn = NULL;
    }
    for (int i = 0; i < CS_SHARDS; i++) {
        pthread_mutex_init(&cs->shards[i].mu, NULL);
        shard_clear(&cs->shards[i]);
    }
    pthread_mutex_init(&cs->first_mu, NULL);
    pthread_condattr_t ca;
    pthread_condattr_init(&ca);
    pthread_condattr_setclock(&ca, CLOCK_MONOTONIC);
    pthread_cond_init(&cs->first_cv, &ca);
    pthread_condattr_destroy(&ca);
    if (cs->wake[0] >= 0) close(cs->wake[0]);
    if (cs->wake[1] >= 0) close(cs->wake[1]);
    cs->wake[0] = cs->wake[1] = -1;
    cs->thread_started = false;
    if (pipe2(cs->wake, O_CLOEXEC | O_NONBLOCK) != 0) return; /* stays unusable */
    cs_spawn(b, NULL);
}
