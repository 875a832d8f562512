/*
 * test_redis_mt.c - the redis:// backend under concurrency (also run under ThreadSanitizer):
 * many threads sharing a small connection pool, the pool's bounded wait when every
 * connection is stuck on a frozen server, and readers of the client-side cache racing a writer
 * (per-thread reads never go back in time, and everyone converges on the last write).
 */
#include "cw_test.h"
#include "core/internal.h"
#include "backends/redis/redis_int.h"
#include "redis_server.h"

#include <pthread.h>
#include <time.h>

static cw_redis_server rs;
static char base_url[128];

static double now_ms(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return ts.tv_sec * 1e3 + ts.tv_nsec / 1e6;
}

static cw_cache *open_cache(const char *query)
{
    cw_cache *c = NULL;
    if (cw_cache_new(&c, NULL) != CW_OK) return NULL;
    char url[512], err[CW_ERRMSG_SIZE] = "";
    snprintf(url, sizeof url, "%s?%s", base_url, query);
    if (cw_cache_setup(c, url, NULL, err) != CW_OK) {
        fprintf(stderr, "setup %s: %s\n", url, err);
        cw_cache_free(c);
        return NULL;
    }
    return c;
}

/* ---- many threads, two connections ----------------------------------------------------------- */

#define THREADS 8
#define OPS 1500

typedef struct worker {
    cw_cache *c;
    int id;
    int errors;
} worker;

static void *pool_worker(void *arg)
{
    worker *w = arg;
    cw_value v = { 0 };
    char k[32], val[32];
    for (int i = 0; i < OPS; i++) {
        snprintf(k, sizeof k, "t%d:%d", w->id, i % 10);
        snprintf(val, sizeof val, "%d-%d", w->id, i);
        if (cw_set_raw(w->c, k, val, strlen(val), 60000) != CW_OK) w->errors++;
        if (cw_get_raw(w->c, k, &v) != CW_OK || v.len != strlen(val) || memcmp(v.data, val, v.len))
            w->errors++;
        if (cw_incr(w->c, "shared", 1, CW_NO_EXPIRY, NULL) != CW_OK) w->errors++;
    }
    cw_value_free(&v);
    return NULL;
}

static int pool_shared_by_many_threads(void)
{
    cw_cache *c = open_cache("max_connections=2&suppress=0&socket_timeout=5&allow_flushdb=1");
    CHECK(c != NULL);
    CHECK_OK(cw_clear(c));
    pthread_t th[THREADS];
    worker w[THREADS];
    for (int i = 0; i < THREADS; i++) {
        w[i] = (worker){ c, i, 0 };
        CHECK_EQ_INT(pthread_create(&th[i], NULL, pool_worker, &w[i]), 0);
    }
    int errors = 0;
    for (int i = 0; i < THREADS; i++) {
        pthread_join(th[i], NULL);
        errors += w[i].errors;
    }
    CHECK_EQ_INT(errors, 0);
    int64_t total = 0;
    CHECK_OK(cw_incr(c, "shared", 0, CW_NO_EXPIRY, &total));
    CHECK_EQ_INT(total, THREADS * OPS);
    /* Never more than max_connections to the server (plus redis-cli's own). */
    char out[8192];
    CHECK_EQ_INT(cw_redis_cli(&rs, out, sizeof out, "CLIENT", "LIST", NULL), 0);
    int lines = 0;
    for (const char *p = out; (p = strstr(p, "id=")); p++) lines++;
    CHECK(lines <= 3);
    cw_cache_free(c);
    return 0;
}

/* ---- the pool's wait is bounded ------------------------------------------------------------- */

typedef struct stuck {
    cw_cache *c;
    cw_status st;
    double ms;
} stuck;

static void *stuck_get(void *arg)
{
    stuck *s = arg;
    cw_value v = { 0 };
    double t0 = now_ms();
    s->st = cw_get_raw(s->c, "k", &v);
    s->ms = now_ms() - t0;
    cw_value_free(&v);
    return NULL;
}

static int pool_wait_is_bounded(void)
{
    cw_cache *c = open_cache("max_connections=1&suppress=0&socket_timeout=400ms"
                             "&wait_for_connection_timeout=50ms");
    CHECK(c != NULL);
    CHECK_OK(cw_set_raw(c, "k", "v", 1, 60000)); /* the one connection exists */
    CHECK_EQ_INT(cw_redis_server_pause(&rs), 0);
    stuck a = { c, CW_OK, 0 }, b = { c, CW_OK, 0 };
    pthread_t ta, tb;
    pthread_create(&ta, NULL, stuck_get, &a);
    struct timespec ts = { 0, 20 * 1000000L };
    nanosleep(&ts, NULL); /* a holds the connection (usually), waiting for the frozen server */
    pthread_create(&tb, NULL, stuck_get, &b);
    pthread_join(tb, NULL);
    pthread_join(ta, NULL);
    CHECK_EQ_INT(cw_redis_server_resume(&rs), 0);
    /* One of them got the connection and timed out on the frozen server; the other found no
     * free connection within 50 ms. Usually that is a then b, but a loaded machine may start
     * b's thread first: the bound holds either way. */
    const stuck *on_socket = a.ms >= b.ms ? &a : &b, *on_pool = on_socket == &a ? &b : &a;
    CHECK_ST(on_socket->st, CW_ETIMEOUT);
    CHECK(on_socket->ms >= 390 && on_socket->ms < 2000);
    CHECK_ST(on_pool->st, CW_ETIMEOUT);
    CHECK(on_pool->ms >= 45 && on_pool->ms < 1000);
    cw_value v = { 0 };
    CHECK_OK(cw_get_raw(c, "k", &v));
    CHECK_VAL(v, "v");
    cw_value_free(&v);
    cw_cache_free(c);
    return 0;
}

/* ---- client-side cache: readers against a writer --------------------------------------------- */

#define READERS 4
#define KEYS 8
#define VERSIONS 300

typedef struct reader {
    cw_cache *c;
    _Atomic int *done;
    int backwards;
    long reads;
} reader;

static void *cs_reader(void *arg)
{
    reader *r = arg;
    cw_value v = { 0 };
    long last[KEYS] = { 0 };
    char k[16];
    while (!atomic_load(r->done)) {
        for (int i = 0; i < KEYS; i++) {
            snprintf(k, sizeof k, "k%d", i);
            if (cw_get_raw(r->c, k, &v) != CW_OK) continue;
            long ver = strtol((const char *)v.data, NULL, 10);
            if (ver < last[i]) r->backwards++;
            last[i] = ver;
            r->reads++;
        }
    }
    cw_value_free(&v);
    return NULL;
}

static int client_side_readers_and_a_writer(void)
{
    cw_cache *readc = open_cache("client_side=1&client_side_size=100");
    cw_cache *writec = open_cache("client_side=1"); /* another process, in effect */
    CHECK(readc != NULL && writec != NULL);
    CHECK_OK(cw_clear(writec));
    char k[16], val[16];
    for (int i = 0; i < KEYS; i++) {
        snprintf(k, sizeof k, "k%d", i);
        CHECK_OK(cw_set_raw(writec, k, "0", 1, CW_NO_EXPIRY));
    }
    _Atomic int done = 0;
    pthread_t th[READERS];
    reader r[READERS];
    for (int i = 0; i < READERS; i++) {
        r[i] = (reader){ readc, &done, 0, 0 };
        pthread_create(&th[i], NULL, cs_reader, &r[i]);
    }
    for (int ver = 1; ver <= VERSIONS; ver++) {
        snprintf(k, sizeof k, "k%d", ver % KEYS);
        snprintf(val, sizeof val, "%d", ver);
        CHECK_OK(cw_set_raw(writec, k, val, strlen(val), CW_NO_EXPIRY));
    }
    /* Everyone converges on the last versions within milliseconds. */
    cw_value v = { 0 };
    double t0 = now_ms();
    int converged = 0;
    while (!converged && now_ms() - t0 < 2000) {
        converged = 1;
        for (int i = 0; i < KEYS; i++) {
            snprintf(k, sizeof k, "k%d", i);
            int want = VERSIONS - ((VERSIONS - i) % KEYS);
            if (cw_get_raw(readc, k, &v) != CW_OK || strtol((const char *)v.data, NULL, 10) != want)
                converged = 0;
        }
    }
    atomic_store(&done, 1);
    long reads = 0;
    int backwards = 0;
    for (int i = 0; i < READERS; i++) {
        pthread_join(th[i], NULL);
        reads += r[i].reads;
        backwards += r[i].backwards;
    }
    CHECK(converged);
    CHECK(now_ms() - t0 < 1500);
    CHECK_EQ_INT(backwards, 0);
    CHECK(reads > 0);
    cw_value_free(&v);
    cw_cache_free(readc);
    cw_cache_free(writec);
    return 0;
}

/* The same races, made deterministic by driving the local cache's own calls in the orders
 * that broke a thread's monotonic reads. Invalidations travel on their own connection, so a
 * write's invalidation can arrive after readers fetched around it. T took its ticket, then an
 * earlier write's invalidation arrived, then A took its ticket; T read the new value from
 * Redis (its ticket is stale), A the old one (its GET ran before the write). */
static int client_side_settle_never_goes_backwards(void)
{
    cw_cache *c = open_cache("client_side=1");
    CHECK(c != NULL);
    rd_backend *b = (rd_backend *)cw_cache_backend(c, "");
    double t0 = now_ms();
    while (!rd_cs_usable(b) && now_ms() - t0 < 2000) {
        struct timespec ts = { 0, 1000000L };
        nanosleep(&ts, NULL);
    }
    CHECK(rd_cs_usable(b));
    const char *k = "settle:k";
    size_t kl = strlen(k);
    cw_value v = { 0 };
    rd_cs_ticket t, a;
    /* A settles after T: A's old value must not land (T's settle moved the generation). */
    rd_cs_ticket_take(b, k, kl, &t);
    rd_cs_invalidate(b, k, kl);
    rd_cs_ticket_take(b, k, kl, &a);
    rd_cs_settle(b, k, kl, "new", 3, -1, &t);
    rd_cs_settle(b, k, kl, "old", 3, -1, &a);
    CHECK_EQ_INT(rd_cs_get(b, k, kl, &v), 0);
    /* A settles first and keeps its old value; T's later settle must drop it. */
    rd_cs_ticket_take(b, k, kl, &t);
    rd_cs_invalidate(b, k, kl);
    rd_cs_ticket_take(b, k, kl, &a);
    rd_cs_settle(b, k, kl, "old", 3, -1, &a);
    CHECK_EQ_INT(rd_cs_get(b, k, kl, &v), 1);
    rd_cs_settle(b, k, kl, "new", 3, -1, &t);
    CHECK_EQ_INT(rd_cs_get(b, k, kl, &v), 0);
    /* A read that found nothing to keep (the key was gone) also stops an older fill. */
    rd_cs_ticket_take(b, k, kl, &a);
    rd_cs_ticket_take(b, k, kl, &t);
    rd_cs_settle(b, k, kl, NULL, 0, 0, &t);
    rd_cs_settle(b, k, kl, "old", 3, -1, &a);
    CHECK_EQ_INT(rd_cs_get(b, k, kl, &v), 0);
    /* Undisturbed, a read keeps its value. */
    rd_cs_ticket_take(b, k, kl, &t);
    rd_cs_settle(b, k, kl, "v", 1, -1, &t);
    CHECK_EQ_INT(rd_cs_get(b, k, kl, &v), 1);
    CHECK_VAL(v, "v");
    /* Readers that missed together and fetched the same bytes keep the copy (threads that
     * hammer one key must converge on a local hit), whatever order they settle in. */
    rd_cs_invalidate(b, k, kl); /* a write: drops the copy */
    rd_cs_ticket_take(b, k, kl, &t);
    rd_cs_ticket_take(b, k, kl, &a);
    rd_cs_settle(b, k, kl, "same", 4, -1, &a);
    rd_cs_settle(b, k, kl, "same", 4, -1, &t);
    CHECK_EQ_INT(rd_cs_get(b, k, kl, &v), 1);
    CHECK_VAL(v, "same");
    cw_value_free(&v);
    cw_cache_free(c);
    return 0;
}

static const cw_test tests[] = {
    CW_TEST(pool_shared_by_many_threads),
    CW_TEST(pool_wait_is_bounded),
    CW_TEST(client_side_readers_and_a_writer),
    CW_TEST(client_side_settle_never_goes_backwards),
    { 0 },
};

int main(int argc, char **argv)
{
    if (cw_redis_server_start(&rs, NULL) != 0) {
        fprintf(stderr, "test_redis_mt: cannot start redis-server\n");
        printf("0 passed, 1 failed\n");
        return 1;
    }
    snprintf(base_url, sizeof base_url, "redis://127.0.0.1:%d", rs.port);
    int rc = cw_test_main(tests, argc, argv);
    cw_redis_server_stop(&rs);
    return rc;
}
