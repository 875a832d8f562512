/*
 * http_server.c - a web service on libmicrohttpd with the HTTP helpers of cashews/http.h:
 * ETags and 304s, request Cache-Control, Clear-Site-Data, X-From-Cache, a cached stream and
 * Prometheus metrics. Built by `make build` as build/release/http-example:
 *
 *   http-example --port PORT [--cache URL] [--load-ms MS]
 *       PORT 0 picks a free port; it listens on 127.0.0.1 and prints
 *       "http-example: listening on http://127.0.0.1:PORT" once it accepts requests.
 *       URL: the cache (default mem://?size=100000). MS: how long the user loader takes (50).
 *
 *   GET /user/<id>    a cached function (10 minutes) whose loader takes about 50 ms:
 *                     ETag, Cache-Control, X-From-Cache on hits; If-None-Match -> 304
 *   GET /stream/<n>   n (1..100) chunks streamed as they are made (10 ms each), cached as an
 *                     iterator (1 minute) and replayed chunk by chunk, with an ETag once cached
 *   GET /static       a constant body as long as a /user one, no cache (W10's baseline)
 *   GET /metrics      Prometheus text exposition 0.0.4
 *
 *   curl -i localhost:PORT/user/42                               # a miss, ~50 ms
 *   curl -i localhost:PORT/user/42                               # X-From-Cache: user:42
 *   curl -i -H 'If-None-Match: "<the ETag>"' localhost:PORT/user/42       # 304
 *   curl -i -H 'Cache-Control: no-cache' localhost:PORT/user/42           # the loader again
 *   curl -i -H 'Clear-Site-Data: "cache"' localhost:PORT/user/42          # then a miss
 *
 * Bad requests get 4xx: an unknown path 404, an id or count that is not a number in range
 * 400, a method other than GET or HEAD 405, a header line over 8190 bytes (Apache's limit)
 * 431. SIGINT or SIGTERM stops it cleanly: running streams end, everything is freed.
 *
 * libmicrohttpd runs a thread per connection, so a handler may block (the 50 ms loader
 * does); a stream is produced by a thread of its own into a pipe that the connection's
 * thread reads, so its chunks leave as they come.
 */
#define _POSIX_C_SOURCE 200809L
#include <arpa/inet.h>
#include <errno.h>
#include <inttypes.h>
#include <pthread.h>
#include <signal.h>
#include <stdarg.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <netinet/in.h>
#include <unistd.h>

#include <microhttpd.h>

#include <cashews.h>

enum { BODY = 96, MAX_HEADER_LINE = 8190, MAX_CHUNKS = 100, CHUNK_MS = 10 };

static const char static_body[BODY + 1] =
    "{\"static\":true,\"note\":\"a constant body as long as a /user one\"}                              ";

/* ---- metrics: what can be counted today, from a middleware ----
 * The library has no metrics of its own yet. Until it has, a middleware counts every
 * command (by operation and backend, with a latency histogram) and get's hits and misses,
 * the names the seed's contrib/prometheus uses; the server counts its requests. When the
 * library's exposition lands, metrics_mw() and the cashews_* part of metrics_render() give
 * way to it; the http_example_* counters stay. */

enum { NBACKENDS = 5, NBUCKETS = 12, NROUTES = 5, NCODES = 8 };
static const char *const backend_names[NBACKENDS] = { "mem", "redis", "rediss", "disk", "other" };
static const double bucket_le[NBUCKETS] = { 1e-6, 5e-6, 1e-5, 5e-5, 1e-4, 5e-4, 1e-3, 5e-3, 0.01, 0.05, 0.1, 1 };
enum route { R_USER, R_STREAM, R_STATIC, R_METRICS, R_OTHER };
static const char *const route_names[NROUTES] = { "user", "stream", "static", "metrics", "other" };
static const unsigned codes[NCODES] = { 200, 304, 400, 404, 405, 431, 500, 503 };

typedef struct metrics {
    _Atomic uint64_t ops[CW_CMD__COUNT][NBACKENDS];
    _Atomic uint64_t ns[CW_CMD__COUNT][NBACKENDS];
    _Atomic uint64_t bucket[CW_CMD__COUNT][NBACKENDS][NBUCKETS]; /* not cumulative */
    _Atomic uint64_t hits[NBACKENDS], misses[NBACKENDS];
    _Atomic uint64_t requests[NROUTES][NCODES];
    _Atomic uint64_t user_loads, stream_loads;
} metrics;

static int64_t mono_ns(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (int64_t)ts.tv_sec * 1000000000 + ts.tv_nsec;
}

static int backend_index(const char *scheme)
{
    for (int i = 0; i < NBACKENDS - 1; i++)
        if (strcmp(scheme, backend_names[i]) == 0) return i;
    return NBACKENDS - 1;
}

static cw_status metrics_mw(cw_call *call, void *ud)
{
    metrics *m = ud;
    int64_t t0 = mono_ns();
    cw_status st = cw_call_next(call);
    double s = (double)(mono_ns() - t0) / 1e9;
    cw_command cmd = cw_call_command(call);
    int b = backend_index(cw_call_backend(call));
    if ((unsigned)cmd >= CW_CMD__COUNT) return st;
    atomic_fetch_add_explicit(&m->ops[cmd][b], 1, memory_order_relaxed);
    atomic_fetch_add_explicit(&m->ns[cmd][b], (uint64_t)(s * 1e9), memory_order_relaxed);
    int k = 0;
    while (k < NBUCKETS && s > bucket_le[k]) k++;
    if (k < NBUCKETS) atomic_fetch_add_explicit(&m->bucket[cmd][b][k], 1, memory_order_relaxed);
    if (cmd == CW_CMD_GET && st == CW_OK) atomic_fetch_add_explicit(&m->hits[b], 1, memory_order_relaxed);
    if (cmd == CW_CMD_GET && st == CW_NOTFOUND) atomic_fetch_add_explicit(&m->misses[b], 1, memory_order_relaxed);
    return st;
}

static void count_request(metrics *m, enum route r, unsigned code)
{
    for (int i = 0; i < NCODES; i++)
        if (codes[i] == code) atomic_fetch_add_explicit(&m->requests[r][i], 1, memory_order_relaxed);
}

/* Append printf-style text to @out (a growing cw_value); 0, or -1 when out of memory. */
static int put(cw_value *out, const char *fmt, ...) __attribute__((format(printf, 2, 3)));
static int put(cw_value *out, const char *fmt, ...)
{
    va_list ap;
    va_start(ap, fmt);
    int n = vsnprintf(NULL, 0, fmt, ap);
    va_end(ap);
    if (n < 0) return -1;
    if (out->len + (size_t)n + 1 > out->cap) {
        size_t cap = (out->cap ? out->cap * 2 : 4096) + (size_t)n;
        unsigned char *p = cw_realloc(out->data, cap); /* a cw_value's buffer is the library's */
        if (!p) return -1;
        out->data = p;
        out->cap = cap;
    }
    va_start(ap, fmt);
    vsnprintf((char *)out->data + out->len, out->cap - out->len, fmt, ap);
    va_end(ap);
    out->len += (size_t)n;
    return 0;
}

#define LOAD(x) atomic_load_explicit(&(x), memory_order_relaxed)

/* The Prometheus text exposition (format 0.0.4) of everything counted. */
static int metrics_render(const metrics *m, cw_value *out)
{
    int e = put(out, "# HELP cashews_operations_latency_seconds Latency of cache operations, by operation and backend.\n"
                     "# TYPE cashews_operations_latency_seconds histogram\n");
    for (int c = 0; c < CW_CMD__COUNT; c++) {
        for (int b = 0; b < NBACKENDS; b++) {
            uint64_t n = LOAD(m->ops[c][b]), cum = 0;
            if (!n) continue;
            const char *op = cw_command_name((cw_command)c), *be = backend_names[b];
            for (int k = 0; k < NBUCKETS; k++) {
                cum += LOAD(m->bucket[c][b][k]);
                e |= put(out, "cashews_operations_latency_seconds_bucket{operation=\"%s\",backend=\"%s\",le=\"%g\"} %" PRIu64 "\n",
                         op, be, bucket_le[k], cum);
            }
            e |= put(out, "cashews_operations_latency_seconds_bucket{operation=\"%s\",backend=\"%s\",le=\"+Inf\"} %" PRIu64 "\n"
                          "cashews_operations_latency_seconds_sum{operation=\"%s\",backend=\"%s\"} %.9f\n"
                          "cashews_operations_latency_seconds_count{operation=\"%s\",backend=\"%s\"} %" PRIu64 "\n",
                     op, be, n, op, be, (double)LOAD(m->ns[c][b]) / 1e9, op, be, n);
        }
    }
    e |= put(out, "# HELP cashews_get_operation_total Hits and misses of get operations, by backend.\n"
                  "# TYPE cashews_get_operation_total counter\n");
    for (int b = 0; b < NBACKENDS; b++) {
        if (!LOAD(m->hits[b]) && !LOAD(m->misses[b])) continue;
        e |= put(out, "cashews_get_operation_total{result=\"hit\",backend=\"%s\"} %" PRIu64 "\n"
                      "cashews_get_operation_total{result=\"miss\",backend=\"%s\"} %" PRIu64 "\n",
                 backend_names[b], LOAD(m->hits[b]), backend_names[b], LOAD(m->misses[b]));
    }
    e |= put(out, "# HELP http_example_requests_total Requests answered, by route and status code.\n"
                  "# TYPE http_example_requests_total counter\n");
    for (int r = 0; r < NROUTES; r++)
        for (int i = 0; i < NCODES; i++)
            if (LOAD(m->requests[r][i]))
                e |= put(out, "http_example_requests_total{route=\"%s\",code=\"%u\"} %" PRIu64 "\n", route_names[r],
                         codes[i], LOAD(m->requests[r][i]));
    e |= put(out, "# HELP http_example_loader_calls_total Loader runs (cache misses that did the work), by function.\n"
                  "# TYPE http_example_loader_calls_total counter\n"
                  "http_example_loader_calls_total{function=\"user\"} %" PRIu64 "\n"
                  "http_example_loader_calls_total{function=\"stream\"} %" PRIu64 "\n",
             LOAD(m->user_loads), LOAD(m->stream_loads));
    e |= put(out, "# HELP cashews_info The libcashews version serving.\n# TYPE cashews_info gauge\n"
                  "cashews_info{version=\"%s\"} 1\n", cw_version());
    return e;
}

/* ---- the service ---- */

typedef struct server {
    cw_cache *cache;
    cw_http *http;
    cw_func *user, *stream;
    int load_ms;
    metrics m;
    pthread_mutex_t mu; /* guards producers */
    pthread_cond_t cv;
    int producers;      /* stream threads still running */
    atomic_int stopping; /* set on SIGINT/SIGTERM: streams end early */
} server;

static void sleep_ms(int ms)
{
    struct timespec ts = { ms / 1000, (long)(ms % 1000) * 1000000L };
    while (nanosleep(&ts, &ts) != 0 && errno == EINTR) {}
}

/* The "database": slow, and counted. A fixed-size body, like /static. */
static int load_user(void *ud, const cw_arg *args, size_t nargs, cw_value *out)
{
    (void)nargs;
    server *s = ud;
    uint64_t n = atomic_fetch_add(&s->m.user_loads, 1) + 1;
    sleep_ms(s->load_ms);
    char buf[BODY + 1];
    int len = snprintf(buf, sizeof buf, "{\"id\":%" PRId64 ",\"name\":\"user %" PRId64 "\",\"load\":%" PRIu64 "}",
                       args[0].v.i, args[0].v.i, n);
    if (len < 0 || len > BODY) len = BODY;
    memset(buf + len, ' ', (size_t)(BODY - len));
    return cw_value_set(out, buf, BODY);
}

/* n chunks, each made in CHUNK_MS; the load number shows whether a replay was cached. */
static int load_stream(void *ud, const cw_arg *args, size_t nargs, cw_emitter *em)
{
    (void)nargs;
    server *s = ud;
    uint64_t load = atomic_fetch_add(&s->m.stream_loads, 1) + 1;
    for (int64_t i = 1; i <= args[0].v.i; i++) {
        if (atomic_load(&s->stopping)) return CW_USER_ERROR; /* unfinished: not cached */
        sleep_ms(CHUNK_MS);
        char buf[96];
        int n = snprintf(buf, sizeof buf, "chunk %" PRId64 " of %" PRId64 " (load %" PRIu64 ")\n", i, args[0].v.i, load);
        int st = cw_emit(em, buf, (size_t)n);
        if (st) return st;
    }
    return CW_OK;
}

/* The helper asks for request headers by name; libmicrohttpd matches them case-insensitively. */
static const char *request_header(void *ud, const char *name, size_t *len)
{
    const char *v = NULL;
    size_t n = 0;
    if (MHD_lookup_connection_value_n(ud, MHD_HEADER_KIND, name, strlen(name), &v, &n) != MHD_YES) return NULL;
    *len = n;
    return v;
}

static enum MHD_Result longest_line(void *cls, enum MHD_ValueKind kind, const char *key, size_t key_size,
                                    const char *value, size_t value_size)
{
    (void)kind;
    (void)key;
    size_t *longest = cls;
    if (key_size + 2 + value_size > *longest) *longest = key_size + 2 + value_size;
    return MHD_YES;
}

/* Queue a response: @body (copied), the helper's headers when @x, the status counted. */
static enum MHD_Result reply(server *s, struct MHD_Connection *conn, enum route r, unsigned code,
                             const char *type, const void *body, size_t len, const cw_http_exchange *x)
{
    struct MHD_Response *rs = MHD_create_response_from_buffer(len, (void *)body, MHD_RESPMEM_MUST_COPY);
    if (!rs) return MHD_NO;
    if (type) MHD_add_response_header(rs, "Content-Type", type);
    if (code == 405) MHD_add_response_header(rs, "Allow", "GET, HEAD");
    size_t n = 0;
    const cw_http_header *h = cw_http_headers(x, &n);
    for (size_t i = 0; i < n; i++) MHD_add_response_header(rs, h[i].name, h[i].value);
    enum MHD_Result ok = MHD_queue_response(conn, code, rs);
    MHD_destroy_response(rs);
    count_request(&s->m, r, code);
    return ok;
}

static enum MHD_Result error(server *s, struct MHD_Connection *conn, enum route r, unsigned code, const char *msg)
{
    char body[128];
    int n = snprintf(body, sizeof body, "{\"error\":\"%s\"}\n", msg);
    return reply(s, conn, r, code, "application/json", body, (size_t)n, NULL);
}

/* "/prefix<digits>" with 1..@max_digits digits and nothing after: the number, else -1. */
static int64_t path_number(const char *url, const char *prefix, int max_digits)
{
    size_t pl = strlen(prefix);
    if (strncmp(url, prefix, pl) != 0) return -2;
    const char *p = url + pl;
    int64_t v = 0;
    int d = 0;
    for (; *p >= '0' && *p <= '9' && d < max_digits; p++, d++) v = v * 10 + (*p - '0');
    return d && !*p ? v : -1;
}

/* GET /user/<id> */
typedef struct user_req {
    server *s;
    int64_t id;
    cw_value v;
} user_req;

static int user_handler(void *ud, cw_http_exchange *x)
{
    user_req *u = ud;
    int st = CW_CALL(u->s->user, &u->v, CW_ARG_INT(u->id));
    if (st == CW_OK) st = cw_http_body(x, u->v.data, u->v.len);
    return st;
}

static enum MHD_Result serve_user(server *s, struct MHD_Connection *conn, const char *url, const char *method,
                                  int64_t id)
{
    cw_http_exchange *x = NULL;
    cw_http_request rq = { .method = method, .target = url, .header = request_header, .header_ud = conn };
    if (cw_http_begin(s->http, &rq, &x) != CW_OK) return error(s, conn, R_USER, 503, "out of memory");
    enum MHD_Result ok;
    user_req u = { s, id, { 0 } };
    int rc = 0;
    if (cw_http_exchange_action(x) == CW_HTTP_SERVE && cw_http_run(x, user_handler, &u, &rc) != CW_OK)
        rc = CW_ENOMEM;
    if (rc != 0)
        ok = error(s, conn, R_USER, 500, cw_strerror(rc));
    else if (cw_http_exchange_action(x) == CW_HTTP_NOT_MODIFIED)
        ok = reply(s, conn, R_USER, 304, NULL, "", 0, x);
    else
        ok = reply(s, conn, R_USER, 200, "application/json", u.v.data, u.v.len, x);
    cw_value_free(&u.v);
    cw_http_exchange_free(x);
    return ok;
}

/* GET /stream/<n>: a producer thread runs the handler and writes the chunks into a pipe; the
 * connection's thread reads them through stream_read(). Both hold a reference. */
typedef struct stream_job {
    server *s;
    cw_http_exchange *x;
    int64_t n;
    int rd, wr;         /* the pipe */
    atomic_int failed;  /* the producer failed or the helper said ABORT */
    atomic_int refs;
} stream_job;

static void job_release(stream_job *j)
{
    if (atomic_fetch_sub(&j->refs, 1) != 1) return;
    cw_http_exchange_free(j->x);
    free(j);
}

static int stream_chunk(void *ud, const void *chunk, size_t len)
{
    stream_job *j = ud;
    const char *p = chunk;
    if (atomic_load(&j->s->stopping)) return 1; /* shutting down: cut the stream */
    while (len) {
        ssize_t w = write(j->wr, p, len);
        if (w < 0 && errno == EINTR) continue;
        if (w <= 0) return 1; /* the client left: stop (the stream is then not cached) */
        p += w;
        len -= (size_t)w;
    }
    return 0;
}

static int stream_handler(void *ud, cw_http_exchange *x)
{
    stream_job *j = ud;
    return cw_http_iterate(x, j->s->stream, (cw_arg[]){ CW_ARG_INT(j->n) }, 1, stream_chunk, j);
}

static void *stream_producer(void *p)
{
    stream_job *j = p;
    server *s = j->s;
    int rc = 0;
    if (cw_http_run(j->x, stream_handler, j, &rc) != CW_OK || rc != 0 ||
        cw_http_exchange_action(j->x) == CW_HTTP_ABORT)
        atomic_store(&j->failed, 1);
    close(j->wr); /* end of stream for the reader */
    job_release(j);
    pthread_mutex_lock(&s->mu);
    if (--s->producers == 0) pthread_cond_broadcast(&s->cv);
    pthread_mutex_unlock(&s->mu);
    return NULL;
}

static ssize_t stream_read(void *cls, uint64_t pos, char *buf, size_t max)
{
    (void)pos;
    stream_job *j = cls;
    for (;;) {
        ssize_t r = read(j->rd, buf, max);
        if (r > 0) return r;
        if (r < 0 && errno == EINTR) continue;
        /* end of the pipe: a clean end, or cut the response so that the client drops it */
        return r == 0 && !atomic_load(&j->failed) ? MHD_CONTENT_READER_END_OF_STREAM : MHD_CONTENT_READER_END_WITH_ERROR;
    }
}

static void stream_free(void *cls)
{
    stream_job *j = cls;
    close(j->rd); /* a producer still writing gets EPIPE and stops */
    job_release(j);
}

static enum MHD_Result serve_stream(server *s, struct MHD_Connection *conn, const char *url, const char *method,
                                    int64_t n)
{
    cw_http_exchange *x = NULL;
    cw_http_request rq = { .method = method, .target = url, .header = request_header, .header_ud = conn };
    if (cw_http_begin(s->http, &rq, &x) != CW_OK) return error(s, conn, R_STREAM, 503, "out of memory");
    if (cw_http_exchange_action(x) == CW_HTTP_NOT_MODIFIED || strcmp(method, "HEAD") == 0) {
        unsigned code = cw_http_exchange_action(x) == CW_HTTP_NOT_MODIFIED ? 304 : 200;
        enum MHD_Result ok = reply(s, conn, R_STREAM, code, code == 200 ? "text/plain" : NULL, "", 0, x);
        cw_http_exchange_free(x);
        return ok;
    }
    stream_job *j = calloc(1, sizeof *j);
    int fds[2];
    if (!j || pipe(fds) != 0) {
        free(j);
        cw_http_exchange_free(x);
        return error(s, conn, R_STREAM, 503, "no resources");
    }
    *j = (stream_job){ .s = s, .x = x, .n = n, .rd = fds[0], .wr = fds[1] };
    atomic_init(&j->refs, 2);
    struct MHD_Response *rs = MHD_create_response_from_callback(MHD_SIZE_UNKNOWN, 4096, stream_read, j, stream_free);
    if (rs) {
        /* the headers the helper knows before the body (a cached stream's ETag), read
         * before the producer takes the exchange over */
        MHD_add_response_header(rs, "Content-Type", "text/plain");
        size_t nh = 0;
        const cw_http_header *h = cw_http_headers(x, &nh);
        for (size_t i = 0; i < nh; i++) MHD_add_response_header(rs, h[i].name, h[i].value);
    }
    pthread_t t;
    pthread_mutex_lock(&s->mu);
    int started = rs && pthread_create(&t, NULL, stream_producer, j) == 0;
    if (started) s->producers++;
    pthread_mutex_unlock(&s->mu);
    if (!started) {
        close(fds[1]);
        atomic_store(&j->failed, 1);
        job_release(j); /* the producer's reference */
        if (!rs) stream_free(j);
        else MHD_destroy_response(rs);
        return error(s, conn, R_STREAM, 503, "no resources");
    }
    pthread_detach(t);
    enum MHD_Result ok = MHD_queue_response(conn, 200, rs);
    MHD_destroy_response(rs);
    count_request(&s->m, R_STREAM, 200);
    return ok;
}

static enum MHD_Result on_request(void *cls, struct MHD_Connection *conn, const char *url, const char *method,
                                  const char *version, const char *upload_data, size_t *upload_data_size,
                                  void **req_cls)
{
    (void)version;
    (void)upload_data;
    server *s = cls;
    static int headers_seen;
    if (!*req_cls) { /* the first call has the headers; answer on the next */
        *req_cls = &headers_seen;
        return MHD_YES;
    }
    if (*upload_data_size) { /* a body nobody asked for: skip it */
        *upload_data_size = 0;
        return MHD_YES;
    }
    enum route r = strncmp(url, "/user/", 6) == 0     ? R_USER
                   : strncmp(url, "/stream/", 8) == 0 ? R_STREAM
                   : strcmp(url, "/static") == 0      ? R_STATIC
                   : strcmp(url, "/metrics") == 0     ? R_METRICS
                                                      : R_OTHER;
    size_t longest = 0;
    MHD_get_connection_values_n(conn, MHD_HEADER_KIND, longest_line, &longest);
    if (longest > MAX_HEADER_LINE) return error(s, conn, r, 431, "a header line is too long");
    if (strcmp(method, "GET") != 0 && strcmp(method, "HEAD") != 0) return error(s, conn, r, 405, "GET or HEAD only");
    if (r == R_USER) {
        int64_t id = path_number(url, "/user/", 18);
        return id < 0 ? error(s, conn, r, 400, "the id must be a number") : serve_user(s, conn, url, method, id);
    }
    if (r == R_STREAM) {
        int64_t n = path_number(url, "/stream/", 3);
        if (n < 1 || n > MAX_CHUNKS) return error(s, conn, r, 400, "the count must be 1..100");
        return serve_stream(s, conn, url, method, n);
    }
    if (r == R_STATIC) return reply(s, conn, r, 200, "application/json", static_body, BODY, NULL);
    if (r == R_METRICS) {
        cw_value out = { 0 };
        count_request(&s->m, r, 200); /* this scrape counts itself */
        if (metrics_render(&s->m, &out) != 0) {
            cw_value_free(&out);
            return error(s, conn, r, 503, "out of memory");
        }
        struct MHD_Response *rs = MHD_create_response_from_buffer(out.len, out.data, MHD_RESPMEM_MUST_COPY);
        cw_value_free(&out);
        if (!rs) return MHD_NO;
        MHD_add_response_header(rs, "Content-Type", "text/plain; version=0.0.4; charset=utf-8");
        enum MHD_Result ok = MHD_queue_response(conn, 200, rs);
        MHD_destroy_response(rs);
        return ok;
    }
    return error(s, conn, r, 404, "no such path");
}

static int usage(void)
{
    fprintf(stderr, "usage: http-example --port PORT [--cache URL] [--load-ms MS]\n");
    return 2;
}

int main(int argc, char **argv)
{
    long port = -1, load_ms = 50;
    const char *url = "mem://?size=100000";
    for (int i = 1; i < argc; i++) {
        char *end = NULL;
        if (i + 1 >= argc) return usage();
        if (strcmp(argv[i], "--port") == 0) port = strtol(argv[++i], &end, 10);
        else if (strcmp(argv[i], "--cache") == 0) url = argv[++i];
        else if (strcmp(argv[i], "--load-ms") == 0) load_ms = strtol(argv[++i], &end, 10);
        else return usage();
        if (end && (*end || end == argv[i])) return usage();
    }
    if (port < 0 || port > 65535 || load_ms < 0 || load_ms > 60000) return usage();

    /* SIGINT/SIGTERM are taken by sigwait() below; every thread started from here on has
     * them blocked. A client that leaves mid-stream must not kill us with SIGPIPE. */
    sigset_t stop;
    sigemptyset(&stop);
    sigaddset(&stop, SIGINT);
    sigaddset(&stop, SIGTERM);
    pthread_sigmask(SIG_BLOCK, &stop, NULL);
    signal(SIGPIPE, SIG_IGN);

    server *s = calloc(1, sizeof *s);
    char err[CW_ERRMSG_SIZE] = "";
    if (!s || cw_cache_new(&s->cache, NULL) != CW_OK) return 1;
    s->load_ms = (int)load_ms;
    pthread_mutex_init(&s->mu, NULL);
    pthread_cond_init(&s->cv, NULL);
    int rc = 1;
    struct MHD_Daemon *d = NULL;
    if (cw_cache_add_middleware(s->cache, metrics_mw, &s->m) != CW_OK ||
        cw_cache_setup(s->cache, url, NULL, err) != CW_OK) {
        fprintf(stderr, "http-example: %s: %s\n", url, err[0] ? err : cw_cache_errmsg(s->cache));
        goto out;
    }
    s->user = CW_FUNC(s->cache, load_user, .loader_ud = s, .args = "id", .key = "user:{id}", .ttl = "10m");
    s->stream = cw_func_make(s->cache, &(cw_func_options){ .strategy = CW_ITERATOR, .iter_loader = load_stream,
                                                           .loader_ud = s, .args = "n", .key = "stream:{n}",
                                                           .ttl = "1m" });
    if (!s->user || !s->stream || cw_http_new(&s->http, s->cache, NULL) != CW_OK) {
        fprintf(stderr, "http-example: %s\n", cw_cache_errmsg(s->cache));
        goto out;
    }
    struct sockaddr_in addr = { .sin_family = AF_INET, .sin_port = htons((uint16_t)port),
                                .sin_addr.s_addr = htonl(INADDR_LOOPBACK) };
    d = MHD_start_daemon(MHD_USE_THREAD_PER_CONNECTION | MHD_USE_AUTO_INTERNAL_THREAD | MHD_USE_ERROR_LOG,
                         (uint16_t)port, NULL, NULL, on_request, s, MHD_OPTION_SOCK_ADDR, &addr,
                         MHD_OPTION_CONNECTION_TIMEOUT, (unsigned)60, MHD_OPTION_END);
    const union MHD_DaemonInfo *info = d ? MHD_get_daemon_info(d, MHD_DAEMON_INFO_BIND_PORT) : NULL;
    if (!info) {
        fprintf(stderr, "http-example: cannot listen on 127.0.0.1:%ld\n", port);
        goto out;
    }
    printf("http-example: listening on http://127.0.0.1:%u (cache %s)\n", (unsigned)info->port, url);
    fflush(stdout);

    int sig = 0;
    sigwait(&stop, &sig);
    printf("http-example: signal %d, stopping\n", sig);
    atomic_store(&s->stopping, 1);
    rc = 0;
out:
    if (d) MHD_stop_daemon(d); /* closes connections: running streams see EPIPE and end */
    pthread_mutex_lock(&s->mu);
    while (s->producers) pthread_cond_wait(&s->cv, &s->mu);
    pthread_mutex_unlock(&s->mu);
    cw_http_free(s->http);
    cw_func_free(s->user);
    cw_func_free(s->stream);
    cw_cache_free(s->cache);
    pthread_cond_destroy(&s->cv);
    pthread_mutex_destroy(&s->mu);
    free(s);
    return rc;
}
