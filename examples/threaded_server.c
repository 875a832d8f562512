/*
 * threaded_server.c - an HTTP server whose worker threads answer through one shared cache.
 *
 *   ./threaded_server                          self-test: serve 800 requests from 4 client
 *                                              threads on a free port, check them, stop
 *   ./threaded_server --serve PORT [URL]       serve on 127.0.0.1:PORT until killed
 *                                              (curl localhost:PORT/user/42; URL: mem://)
 *
 *   GET /user/<id>   a cached function: the "database" takes 20 ms, the cache 1 minute
 *   GET /static      a constant body of the same size, no cache (for comparison)
 *
 * One cw_cache and one cw_func are shared by every thread: every call is thread-safe, and
 * concurrent misses of one key share a single loader call (single flight), so a burst of
 * requests for a cold user reaches the database once. Each thread reuses one cw_value, so a
 * hit allocates nothing. The HTTP is the least that works (GET, keep-alive, no pipelining).
 */
#define _POSIX_C_SOURCE 200809L
#include <arpa/inet.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <pthread.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <time.h>
#include <unistd.h>

#include <cashews.h>

enum { WORKERS = 4, CLIENTS = 4, REQUESTS = 200, USERS = 50, BODY = 64 };

typedef struct server {
    int listen_fd;
    cw_func *user;       /* GET /user/<id> */
    atomic_int db_calls; /* loader runs */
} server;

static void sleep_ms(long ms)
{
    struct timespec ts = { ms / 1000, (ms % 1000) * 1000000L };
    nanosleep(&ts, NULL);
}

/* The "database": slow, and counted. */
static int load_user(void *ud, const cw_arg *args, size_t nargs, cw_value *out)
{
    (void)nargs;
    atomic_fetch_add(&((server *)ud)->db_calls, 1);
    sleep_ms(20);
    char buf[BODY + 1];
    int n = snprintf(buf, sizeof buf, "{\"id\":%lld,\"name\":\"user %lld\"}", (long long)args[0].v.i,
                     (long long)args[0].v.i);
    memset(buf + n, ' ', (size_t)(BODY - n)); /* a fixed-size body, like /static */
    return cw_value_set(out, buf, BODY);
}

static int send_all(int fd, const char *p, size_t n)
{
    while (n) {
        ssize_t w = send(fd, p, n, MSG_NOSIGNAL);
        if (w <= 0) return -1;
        p += w;
        n -= (size_t)w;
    }
    return 0;
}

static int reply(int fd, int code, const void *body, size_t len)
{
    char head[160];
    int n = snprintf(head, sizeof head, "HTTP/1.1 %d %s\r\nContent-Type: application/json\r\n"
                     "Content-Length: %zu\r\n\r\n", code, code == 200 ? "OK" : "Not Found", len);
    return send_all(fd, head, (size_t)n) || send_all(fd, body, len);
}

/* Answer one request line ("GET /user/42 HTTP/1.1"). */
static int answer(server *s, int fd, const char *line, cw_value *v)
{
    static const char stat_body[BODY + 1] = "{\"static\":true}                                                 ";
    long long id;
    char rest[16];
    if (sscanf(line, "GET /user/%lld %15s", &id, rest) == 2) {
        int st = CW_CALL(s->user, v, CW_ARG_INT(id));
        if (st == CW_OK) return reply(fd, 200, v->data, v->len);
        return reply(fd, 500, "{}", 2);
    }
    if (strncmp(line, "GET /static ", 12) == 0) return reply(fd, 200, stat_body, BODY);
    return reply(fd, 404, "{}", 2);
}

/* One keep-alive connection: requests until the client closes. */
static void serve_connection(server *s, int fd, cw_value *v)
{
    char buf[8192];
    size_t have = 0;
    for (;;) {
        char *end = have ? strstr(buf, "\r\n\r\n") : NULL;
        if (end) {
            if (answer(s, fd, buf, v) != 0) return;
            size_t used = (size_t)(end + 4 - buf);
            memmove(buf, buf + used, have - used + 1);
            have -= used;
            continue;
        }
        if (have == sizeof buf - 1) return; /* a request too large for this example */
        ssize_t r = recv(fd, buf + have, sizeof buf - 1 - have, 0);
        if (r <= 0) return;
        have += (size_t)r;
        buf[have] = 0;
    }
}

static void *worker(void *p)
{
    server *s = p;
    cw_value v = { 0 }; /* one per thread, reused by every request */
    for (;;) {
        int fd = accept(s->listen_fd, NULL, NULL);
        if (fd < 0) break; /* the listening socket was shut down: stop */
        int one = 1;
        setsockopt(fd, IPPROTO_TCP, TCP_NODELAY, &one, sizeof one);
        serve_connection(s, fd, &v);
        close(fd);
    }
    cw_value_free(&v);
    return NULL;
}

static int listen_on(int port)
{
    int fd = socket(AF_INET, SOCK_STREAM, 0), one = 1;
    struct sockaddr_in a = { .sin_family = AF_INET, .sin_port = htons((uint16_t)port) };
    a.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
    setsockopt(fd, SOL_SOCKET, SO_REUSEADDR, &one, sizeof one);
    if (fd < 0 || bind(fd, (struct sockaddr *)&a, sizeof a) != 0 || listen(fd, 128) != 0) {
        perror("listen");
        if (fd >= 0) close(fd);
        return -1;
    }
    return fd;
}

/* ---- the self-test's clients ---------------------------------------------------------------- */

typedef struct client {
    int port, id, errors;
} client;

static void *client_main(void *p)
{
    client *cl = p;
    int fd = socket(AF_INET, SOCK_STREAM, 0), one = 1;
    struct sockaddr_in a = { .sin_family = AF_INET, .sin_port = htons((uint16_t)cl->port) };
    a.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
    if (fd < 0 || connect(fd, (struct sockaddr *)&a, sizeof a) != 0) {
        cl->errors = REQUESTS;
        if (fd >= 0) close(fd);
        return NULL;
    }
    setsockopt(fd, IPPROTO_TCP, TCP_NODELAY, &one, sizeof one);
    char req[128], resp[512], want[64];
    for (int i = 0; i < REQUESTS; i++) {
        int user = (i * 7 + cl->id) % USERS + 1;
        int n = snprintf(req, sizeof req, "GET /user/%d HTTP/1.1\r\nHost: localhost\r\n\r\n", user);
        size_t got = 0;
        if (send_all(fd, req, (size_t)n) != 0) { cl->errors++; break; }
        /* headers and the fixed-size body */
        for (;;) {
            ssize_t r = recv(fd, resp + got, sizeof resp - 1 - got, 0);
            if (r <= 0) break;
            got += (size_t)r;
            resp[got] = 0;
            char *body = strstr(resp, "\r\n\r\n");
            if (body && got - (size_t)(body + 4 - resp) >= BODY) break;
        }
        snprintf(want, sizeof want, "{\"id\":%d,", user);
        if (strncmp(resp, "HTTP/1.1 200", 12) != 0 || !strstr(resp, want)) cl->errors++;
    }
    close(fd);
    return NULL;
}

static int self_test(server *s)
{
    struct sockaddr_in a;
    socklen_t alen = sizeof a;
    getsockname(s->listen_fd, (struct sockaddr *)&a, &alen);
    pthread_t th[CLIENTS];
    client cl[CLIENTS];
    struct timespec t0, t1;
    clock_gettime(CLOCK_MONOTONIC, &t0);
    for (int i = 0; i < CLIENTS; i++) {
        cl[i] = (client){ ntohs(a.sin_port), i, 0 };
        pthread_create(&th[i], NULL, client_main, &cl[i]);
    }
    int errors = 0;
    for (int i = 0; i < CLIENTS; i++) {
        pthread_join(th[i], NULL);
        errors += cl[i].errors;
    }
    clock_gettime(CLOCK_MONOTONIC, &t1);
    double s_taken = (double)(t1.tv_sec - t0.tv_sec) + (t1.tv_nsec - t0.tv_nsec) / 1e9;
    int calls = atomic_load(&s->db_calls);
    printf("%d requests for %d users from %d connections in %.2f s: %d wrong, %d database calls\n",
           CLIENTS * REQUESTS, USERS, CLIENTS, s_taken, errors, calls);
    /* every user loaded at least once, and far fewer loads than requests (single flight makes
     * it one per user unless a request misses just as another's load is being stored) */
    return errors != 0 || calls < USERS || calls >= 2 * USERS;
}

int main(int argc, char **argv)
{
    int serve = argc >= 3 && strcmp(argv[1], "--serve") == 0;
    const char *url = serve && argc > 3 ? argv[3] : "mem://?size=10000";
    server s = { .listen_fd = listen_on(serve ? atoi(argv[2]) : 0) };
    if (s.listen_fd < 0) return 1;
    cw_cache *c = NULL;
    char err[CW_ERRMSG_SIZE] = "";
    if (cw_cache_new(&c, NULL) != CW_OK || cw_cache_setup(c, url, NULL, err) != CW_OK) {
        fprintf(stderr, "setup %s: %s\n", url, err);
        return 1;
    }
    s.user = CW_FUNC(c, load_user, .loader_ud = &s, .args = "id", .key = "user:{id}", .ttl_ms = CW_MINUTES(1));
    if (!s.user) {
        fprintf(stderr, "cw_func: %s\n", cw_cache_errmsg(c));
        return 1;
    }
    pthread_t th[WORKERS];
    for (int i = 0; i < WORKERS; i++) pthread_create(&th[i], NULL, worker, &s);
    int rc = 0;
    if (serve) printf("serving on 127.0.0.1:%s with %d threads\n", argv[2], WORKERS);
    else rc = self_test(&s);
    if (!serve) shutdown(s.listen_fd, SHUT_RDWR); /* wakes the workers' accept() */
    for (int i = 0; i < WORKERS; i++) pthread_join(th[i], NULL);
    close(s.listen_fd);
    cw_func_free(s.user);
    cw_cache_free(c);
    return rc;
}
