/*
 * transport.c - one connection to Redis, plain TCP or TLS, under hiredis's reply reader.
 *
 * Debian's hiredis (0.14) has no TLS, so the socket and OpenSSL are ours and hiredis only
 * parses: bytes read from either transport are fed to a redisReader whose object functions
 * build rd_reply trees from the library allocator. Requests are written by our own RESP
 * writer into a per-connection buffer that is reused from call to call (hiredis's formatter
 * allocates a fresh string per command; on the W5 hot path that is the only allocation we
 * can avoid, so we avoid it).
 *
 * Timeouts: the socket is connected without blocking (poll bounds it by
 * socket_connect_timeout), the TLS handshake and the AUTH/SELECT that follow share what is
 * left of that budget, and afterwards the socket is blocking with SO_RCVTIMEO/SO_SNDTIMEO set
 * to socket_timeout: every read or write waits at most that long, and a request costs two
 * system calls (send, recv), fewer than any poll-based loop.
 *
 * SIGPIPE: a write to a socket the server closed must not kill the process. Plain sockets use
 * send(MSG_NOSIGNAL); for TLS we give OpenSSL a socket BIO of our own that does the same
 * (as PostgreSQL's libpq does), instead of touching the process's signal mask.
 */
#include <errno.h>
#include <fcntl.h>
#include <netdb.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <poll.h>
#include <stdio.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>
#include <arpa/inet.h>

#include <hiredis/hiredis.h>
#include <openssl/err.h>
#include <openssl/x509v3.h>

#include "backends/redis/redis_int.h"

/* ---- clocks ---- */

int64_t rd_now_ms(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (int64_t)ts.tv_sec * 1000 + ts.tv_nsec / 1000000;
}

int64_t rd_coarse_ms(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC_COARSE, &ts);
    return (int64_t)ts.tv_sec * 1000 + ts.tv_nsec / 1000000;
}

/* ---- reply objects for hiredis's reader ---- */

static void attach(const redisReadTask *task, rd_reply *r)
{
    if (task->parent) {
        rd_reply *parent = task->parent->obj;
        parent->element[task->idx] = r;
    }
}

static void *create_string(const redisReadTask *task, char *str, size_t len)
{
    rd_reply *r = cw_malloc(sizeof *r + len + 1);
    if (!r) return NULL;
    memset(r, 0, sizeof *r);
    r->type = task->type;
    r->str = (char *)(r + 1);
    memcpy(r->str, str, len);
    r->str[len] = '\0';
    r->len = len;
    attach(task, r);
    return r;
}

static void *create_array(const redisReadTask *task, int elements)
{
    rd_reply *r = cw_calloc(1, sizeof *r);
    if (!r) return NULL;
    r->type = REDIS_REPLY_ARRAY;
    if (elements > 0) {
        r->element = cw_calloc((size_t)elements, sizeof *r->element);
        if (!r->element) {
            cw_free(r);
            return NULL;
        }
    }
    r->elements = elements > 0 ? (size_t)elements : 0;
    attach(task, r);
    return r;
}

static void *create_integer(const redisReadTask *task, long long v)
{
    rd_reply *r = cw_calloc(1, sizeof *r);
    if (!r) return NULL;
    r->type = REDIS_REPLY_INTEGER;
    r->integer = v;
    attach(task, r);
    return r;
}

static void *create_nil(const redisReadTask *task)
{
    rd_reply *r = cw_calloc(1, sizeof *r);
    if (!r) return NULL;
    r->type = REDIS_REPLY_NIL;
    attach(task, r);
    return r;
}

void rd_reply_free(rd_reply *r)
{
    if (!r) return;
    if (r->type == REDIS_REPLY_ARRAY) {
        for (size_t i = 0; i < r->elements; i++) rd_reply_free(r->element[i]);
        cw_free(r->element);
    }
    cw_free(r);
}

static void free_object(void *r)
{
    rd_reply_free(r);
}

/* hiredis takes a non-const pointer but never writes through it. */
static const redisReplyObjectFunctions reply_fns = {
    create_string, create_array, create_integer, create_nil, free_object,
};

/* ---- the RESP writer ---- */

static bool out_reserve(rd_conn *c, size_t extra)
{
    if (c->out_oom) return false;
    if (c->outcap - c->outlen >= extra) return true;
    size_t need = c->outlen + extra;
    if (need < c->outlen) {
        c->out_oom = true;
        return false;
    }
    size_t cap = c->outcap ? c->outcap : 512;
    while (cap < need) {
        if (cap > SIZE_MAX / 2) {
            cap = need;
            break;
        }
        cap *= 2;
    }
    char *p = cw_realloc(c->out, cap);
    if (!p) {
        c->out_oom = true;
        return false;
    }
    c->out = p;
    c->outcap = cap;
    return true;
}

/* Decimal digits of v at p (which has 20 bytes); returns the count. */
static size_t u64_dec(char *p, uint64_t v)
{
    char tmp[20];
    size_t n = 0;
    do {
        tmp[n++] = (char)('0' + v % 10);
        v /= 10;
    } while (v);
    for (size_t i = 0; i < n; i++) p[i] = tmp[n - 1 - i];
    return n;
}

static void out_header(rd_conn *c, char kind, uint64_t n)
{
    if (!out_reserve(c, 24)) return;
    char *p = c->out + c->outlen;
    *p++ = kind;
    p += u64_dec(p, n);
    *p++ = '\r';
    *p++ = '\n';
    c->outlen = (size_t)(p - c->out);
}

void rd_cmd(rd_conn *c, size_t argc)
{
    out_header(c, '*', argc);
}

void rd_arg2(rd_conn *c, const void *p1, size_t n1, const void *p2, size_t n2)
{
    out_header(c, '$', (uint64_t)n1 + n2);
    if (!out_reserve(c, n1 + n2 + 2)) return;
    if (n1) memcpy(c->out + c->outlen, p1, n1);
    if (n2) memcpy(c->out + c->outlen + n1, p2, n2);
    c->outlen += n1 + n2;
    c->out[c->outlen++] = '\r';
    c->out[c->outlen++] = '\n';
}

void rd_arg(rd_conn *c, const void *p, size_t n)
{
    rd_arg2(c, p, n, NULL, 0);
}

void rd_arg_str(rd_conn *c, const char *s)
{
    rd_arg2(c, s, strlen(s), NULL, 0);
}

void rd_arg_u64(rd_conn *c, uint64_t v)
{
    char d[20];
    size_t n = u64_dec(d, v);
    rd_arg2(c, d, n, NULL, 0);
}

void rd_arg_i64(rd_conn *c, int64_t v)
{
    char d[21];
    size_t n = 0;
    uint64_t u = (uint64_t)v;
    if (v < 0) {
        d[n++] = '-';
        u = 0 - u;
    }
    n += u64_dec(d + n, u);
    rd_arg2(c, d, n, NULL, 0);
}

/* ---- TLS: our socket BIO and the context ---- */

static int bio_sock_write(BIO *bio, const char *buf, int len)
{
    int fd = (int)(intptr_t)BIO_get_data(bio);
    BIO_clear_retry_flags(bio);
    for (;;) {
        ssize_t n = send(fd, buf, (size_t)len, MSG_NOSIGNAL);
        if (n >= 0) return (int)n;
        if (errno == EINTR) continue;
        if (errno == EAGAIN || errno == EWOULDBLOCK) BIO_set_retry_write(bio);
        return -1;
    }
}

static int bio_sock_read(BIO *bio, char *buf, int len)
{
    int fd = (int)(intptr_t)BIO_get_data(bio);
    BIO_clear_retry_flags(bio);
    for (;;) {
        ssize_t n = recv(fd, buf, (size_t)len, 0);
        if (n >= 0) return (int)n;
        if (errno == EINTR) continue;
        if (errno == EAGAIN || errno == EWOULDBLOCK) BIO_set_retry_read(bio);
        return -1;
    }
}

static long bio_sock_ctrl(BIO *bio, int cmd, long num, void *ptr)
{
    (void)bio, (void)num, (void)ptr;
    switch (cmd) {
    case BIO_CTRL_FLUSH:
    case BIO_CTRL_DUP:
        return 1;
    default:
        return 0;
    }
}

static int bio_sock_create(BIO *bio)
{
    BIO_set_init(bio, 1);
    return 1;
}

static int bio_sock_destroy(BIO *bio)
{
    (void)bio; /* the fd belongs to the rd_conn */
    return 1;
}

static void tls_err(char *errbuf, const char *what)
{
    unsigned long e = ERR_get_error();
    char detail[200] = "";
    if (e) ERR_error_string_n(e, detail, sizeof detail);
    snprintf(errbuf, CW_ERRMSG_SIZE, "rediss: %s%s%s", what, *detail ? ": " : "", detail);
    ERR_clear_error();
}

/* The BIO method hangs off the context as its app data (an ex_data index of our own would
 * be process-global state). */
SSL_CTX *rd_tls_ctx_new(const rd_config *cfg, char *errbuf)
{
    ERR_clear_error();
    SSL_CTX *ctx = SSL_CTX_new(TLS_client_method());
    if (!ctx) {
        tls_err(errbuf, "cannot create TLS context");
        return NULL;
    }
    SSL_CTX_set_min_proto_version(ctx, TLS1_2_VERSION);
#ifdef SSL_OP_IGNORE_UNEXPECTED_EOF
    SSL_CTX_set_options(ctx, SSL_OP_IGNORE_UNEXPECTED_EOF);
#endif
    SSL_CTX_set_verify(ctx, cfg->cert_reqs == RD_CERT_NONE ? SSL_VERIFY_NONE : SSL_VERIFY_PEER,
                       NULL);
    if (cfg->ssl_ca_certs) {
        struct stat st;
        int is_dir = stat(cfg->ssl_ca_certs, &st) == 0 && S_ISDIR(st.st_mode);
        if (SSL_CTX_load_verify_locations(ctx, is_dir ? NULL : cfg->ssl_ca_certs,
                                          is_dir ? cfg->ssl_ca_certs : NULL) != 1) {
            tls_err(errbuf, "parameter ssl_ca_certs: cannot load CA certificates");
            goto fail;
        }
    } else if (SSL_CTX_set_default_verify_paths(ctx) != 1) {
        tls_err(errbuf, "cannot load the system CA certificates");
        goto fail;
    }
    if (cfg->ssl_certfile) {
        if (SSL_CTX_use_certificate_chain_file(ctx, cfg->ssl_certfile) != 1) {
            tls_err(errbuf, "parameter ssl_certfile: cannot load certificate");
            goto fail;
        }
        const char *key = cfg->ssl_keyfile ? cfg->ssl_keyfile : cfg->ssl_certfile;
        if (SSL_CTX_use_PrivateKey_file(ctx, key, SSL_FILETYPE_PEM) != 1) {
            tls_err(errbuf, "parameter ssl_keyfile: cannot load private key");
            goto fail;
        }
        if (SSL_CTX_check_private_key(ctx) != 1) {
            tls_err(errbuf, "ssl_keyfile does not match ssl_certfile");
            goto fail;
        }
    } else if (cfg->ssl_keyfile) {
        snprintf(errbuf, CW_ERRMSG_SIZE, "rediss: parameter ssl_keyfile needs ssl_certfile");
        goto fail;
    }
    BIO_METHOD *meth = BIO_meth_new(BIO_get_new_index() | BIO_TYPE_SOURCE_SINK, "cashews socket");
    if (!meth || !BIO_meth_set_write(meth, bio_sock_write) ||
        !BIO_meth_set_read(meth, bio_sock_read) || !BIO_meth_set_ctrl(meth, bio_sock_ctrl) ||
        !BIO_meth_set_create(meth, bio_sock_create) ||
        !BIO_meth_set_destroy(meth, bio_sock_destroy)) {
        if (meth) BIO_meth_free(meth);
        tls_err(errbuf, "cannot create the socket BIO");
        goto fail;
    }
    SSL_CTX_set_app_data(ctx, meth);
    return ctx;
fail:
    SSL_CTX_free(ctx);
    return NULL;
}

void rd_tls_ctx_free(SSL_CTX *ctx)
{
    if (!ctx) return;
    BIO_METHOD *meth = SSL_CTX_get_app_data(ctx);
    SSL_CTX_free(ctx);
    if (meth) BIO_meth_free(meth);
}

/* ---- socket helpers ---- */

static void set_timeouts(int fd, int64_t ms)
{
    if (ms < 1) ms = 1;
    struct timeval tv = { (time_t)(ms / 1000), (suseconds_t)(ms % 1000) * 1000 };
    setsockopt(fd, SOL_SOCKET, SO_RCVTIMEO, &tv, sizeof tv);
    setsockopt(fd, SOL_SOCKET, SO_SNDTIMEO, &tv, sizeof tv);
}

static void set_blocking(int fd, bool blocking)
{
    int fl = fcntl(fd, F_GETFL);
    if (fl < 0) return;
    fcntl(fd, F_SETFL, blocking ? (fl & ~O_NONBLOCK) : (fl | O_NONBLOCK));
}

static bool is_ip_literal(const char *host)
{
    unsigned char buf[sizeof(struct in6_addr)];
    return inet_pton(AF_INET, host, buf) == 1 || inet_pton(AF_INET6, host, buf) == 1;
}

/* Connect to host:port within the deadline; returns the fd or -1 with a failure recorded. */
static int tcp_connect(const rd_config *cfg, int64_t deadline, cw_status *st)
{
    char port[16];
    snprintf(port, sizeof port, "%d", cfg->port);
    struct addrinfo hints = { 0 }, *res = NULL;
    hints.ai_family = AF_UNSPEC;
    hints.ai_socktype = SOCK_STREAM;
    int gai = getaddrinfo(cfg->host, port, &hints, &res);
    if (gai != 0) {
        *st = cw_backend_fail(CW_EBACKEND, "redis: cannot resolve %s: %s", cfg->host,
                              gai_strerror(gai));
        return -1;
    }
    int fd = -1, err = 0;
    bool timed_out = false;
    for (struct addrinfo *ai = res; ai; ai = ai->ai_next) {
        fd = socket(ai->ai_family, ai->ai_socktype | SOCK_NONBLOCK | SOCK_CLOEXEC, ai->ai_protocol);
        if (fd < 0) {
            err = errno;
            continue;
        }
        if (connect(fd, ai->ai_addr, ai->ai_addrlen) == 0) break;
        if (errno == EINPROGRESS) {
            struct pollfd pfd = { fd, POLLOUT, 0 };
            int rc;
            do {
                int64_t left = deadline - rd_now_ms();
                if (left <= 0) {
                    rc = 0;
                    break;
                }
                rc = poll(&pfd, 1, (int)(left > 1000000 ? 1000000 : left));
            } while (rc < 0 && errno == EINTR);
            if (rc > 0) {
                socklen_t len = sizeof err;
                if (getsockopt(fd, SOL_SOCKET, SO_ERROR, &err, &len) == 0 && err == 0) break;
            } else if (rc == 0) {
                timed_out = true;
                err = ETIMEDOUT;
            } else {
                err = errno;
            }
        } else {
            err = errno;
        }
        close(fd);
        fd = -1;
    }
    freeaddrinfo(res);
    if (fd < 0) {
        *st = cw_backend_fail(timed_out ? CW_ETIMEOUT : CW_EBACKEND,
                              "redis: cannot connect to %s:%d: %s", cfg->host, cfg->port,
                              timed_out ? "connect timed out" : strerror(err));
        return -1;
    }
    int one = 1;
    setsockopt(fd, IPPROTO_TCP, TCP_NODELAY, &one, sizeof one);
    setsockopt(fd, SOL_SOCKET, SO_KEEPALIVE, &one, sizeof one);
    return fd;
}

static cw_status tls_handshake(rd_conn *c, const rd_config *cfg, SSL_CTX *ctx, int64_t deadline)
{
    ERR_clear_error();
    c->ssl = SSL_new(ctx);
    BIO *bio = c->ssl ? BIO_new((BIO_METHOD *)SSL_CTX_get_app_data(ctx)) : NULL;
    if (!bio) {
        ERR_clear_error();
        return cw_backend_fail(CW_ENOMEM, "rediss: cannot create a TLS session");
    }
    BIO_set_data(bio, (void *)(intptr_t)c->fd);
    SSL_set_bio(c->ssl, bio, bio);
    if (!is_ip_literal(cfg->host)) SSL_set_tlsext_host_name(c->ssl, cfg->host);
    if (cfg->check_hostname && cfg->cert_reqs != RD_CERT_NONE) {
        if (is_ip_literal(cfg->host))
            X509_VERIFY_PARAM_set1_ip_asc(SSL_get0_param(c->ssl), cfg->host);
        else
            SSL_set1_host(c->ssl, cfg->host);
    }
    for (;;) {
        ERR_clear_error();
        int rc = SSL_connect(c->ssl);
        if (rc == 1) return CW_OK;
        int e = SSL_get_error(c->ssl, rc);
        short ev = e == SSL_ERROR_WANT_READ ? POLLIN : e == SSL_ERROR_WANT_WRITE ? POLLOUT : 0;
        if (!ev) {
            char detail[200] = "";
            unsigned long le = ERR_get_error();
            if (le) ERR_error_string_n(le, detail, sizeof detail);
            long vr = SSL_get_verify_result(c->ssl);
            ERR_clear_error();
            return cw_backend_fail(CW_EBACKEND, "rediss: TLS handshake with %s:%d failed: %s%s%s",
                                   cfg->host, cfg->port, *detail ? detail : "connection closed",
                                   vr != X509_V_OK ? "; " : "",
                                   vr != X509_V_OK ? X509_verify_cert_error_string(vr) : "");
        }
        struct pollfd pfd = { c->fd, ev, 0 };
        int64_t left = deadline - rd_now_ms();
        int prc = left > 0 ? poll(&pfd, 1, (int)left) : 0;
        if (prc == 0)
            return cw_backend_fail(CW_ETIMEOUT, "rediss: TLS handshake with %s:%d timed out",
                                   cfg->host, cfg->port);
        if (prc < 0 && errno != EINTR)
            return cw_backend_fail(CW_EBACKEND, "rediss: poll: %s", strerror(errno));
    }
}

/* ---- raw I/O ---- */

/* >0 bytes, 0 EOF, -1 error with errno (EAGAIN: timed out). */
static ssize_t conn_recv(rd_conn *c, void *buf, size_t n)
{
    if (c->ssl) {
        ERR_clear_error();
        int r = SSL_read(c->ssl, buf, n > INT32_MAX ? INT32_MAX : (int)n);
        if (r > 0) return r;
        int e = SSL_get_error(c->ssl, r);
        ERR_clear_error();
        if (e == SSL_ERROR_ZERO_RETURN) return 0;
        if (e == SSL_ERROR_WANT_READ || e == SSL_ERROR_WANT_WRITE) {
            errno = EAGAIN;
            return -1;
        }
        if (e == SSL_ERROR_SYSCALL && errno == 0) return 0;
        if (e != SSL_ERROR_SYSCALL) errno = EPROTO;
        return -1;
    }
    for (;;) {
        ssize_t r = recv(c->fd, buf, n, 0);
        if (r >= 0 || errno != EINTR) return r;
    }
}

static ssize_t conn_send(rd_conn *c, const void *buf, size_t n)
{
    if (c->ssl) {
        ERR_clear_error();
        int r = SSL_write(c->ssl, buf, n > INT32_MAX ? INT32_MAX : (int)n);
        if (r > 0) return r;
        int e = SSL_get_error(c->ssl, r);
        ERR_clear_error();
        if (e == SSL_ERROR_WANT_READ || e == SSL_ERROR_WANT_WRITE) errno = EAGAIN;
        else if (e != SSL_ERROR_SYSCALL || errno == 0) errno = EPIPE;
        return -1;
    }
    for (;;) {
        ssize_t r = send(c->fd, buf, n, MSG_NOSIGNAL);
        if (r >= 0 || errno != EINTR) return r;
    }
}

rd_io rd_conn_flush(rd_conn *c)
{
    if (c->out_oom) return RD_IO_NOMEM;
    size_t off = 0;
    while (off < c->outlen) {
        ssize_t n = conn_send(c, c->out + off, c->outlen - off);
        if (n <= 0) {
            int e = errno;
            c->broken = true;
            if (e == EAGAIN || e == EWOULDBLOCK) return RD_IO_TIMEOUT;
            /* Bytes already out may have reached the server. */
            return off == 0 ? RD_IO_WRITE : RD_IO_BROKEN;
        }
        off += (size_t)n;
    }
    return RD_IO_OK;
}

void rd_conn_reset_out(rd_conn *c)
{
    c->outlen = 0;
    c->out_oom = false;
    /* A request with a huge value should not pin its buffer for the connection's life. */
    if (c->outcap > (1u << 20)) {
        cw_free(c->out);
        c->out = NULL;
        c->outcap = 0;
    }
}

rd_io rd_conn_next_reply(rd_conn *c, rd_reply **out)
{
    redisReader *rd = c->reader;
    void *r = NULL;
    *out = NULL;
    if (redisReaderGetReply(rd, &r) != REDIS_OK) {
        c->broken = true;
        return rd->err == REDIS_ERR_OOM ? RD_IO_NOMEM : RD_IO_BROKEN;
    }
    *out = r;
    return RD_IO_OK;
}

rd_io rd_conn_read_some(rd_conn *c)
{
    ssize_t n = conn_recv(c, c->rbuf, RD_RBUF);
    if (n > 0) {
        if (redisReaderFeed(c->reader, c->rbuf, (size_t)n) != REDIS_OK) {
            c->broken = true;
            return RD_IO_NOMEM;
        }
        return RD_IO_OK;
    }
    c->broken = true;
    if (n < 0 && (errno == EAGAIN || errno == EWOULDBLOCK)) return RD_IO_TIMEOUT;
    return RD_IO_EOF;
}

rd_io rd_conn_read_reply(rd_conn *c, rd_reply **out)
{
    bool got = false;
    for (;;) {
        rd_io io = rd_conn_next_reply(c, out);
        if (io != RD_IO_OK || *out) return io;
        io = rd_conn_read_some(c);
        if (io == RD_IO_EOF && got) return RD_IO_BROKEN;
        if (io != RD_IO_OK) return io;
        got = true;
    }
}

bool rd_conn_pending(rd_conn *c)
{
    return c->ssl && SSL_pending(c->ssl) > 0;
}

bool rd_conn_dead(rd_conn *c)
{
    char b;
    ssize_t n = recv(c->fd, &b, 1, MSG_PEEK | MSG_DONTWAIT);
    if (n == 0) return true;
    if (n < 0) return errno != EAGAIN && errno != EWOULDBLOCK && errno != EINTR;
    /* Plain: bytes nobody asked for mean a desynchronised stream. TLS: servers send
     * session tickets after the handshake, which OpenSSL consumes on the next read. */
    return c->ssl == NULL;
}

const char *rd_io_text(rd_io io)
{
    switch (io) {
    case RD_IO_OK: return "ok";
    case RD_IO_TIMEOUT: return "timed out waiting for the server";
    case RD_IO_WRITE: return "connection lost while sending";
    case RD_IO_EOF: return "connection closed by the server";
    case RD_IO_BROKEN: return "connection broken mid-reply";
    case RD_IO_NOMEM: return "out of memory";
    }
    return "?";
}

/* ---- open / close ---- */

/* One setup command's reply within the connect budget; CW_OK on a non-error reply. */
static cw_status setup_reply(rd_conn *c, const rd_config *cfg, const char *what)
{
    rd_reply *r = NULL;
    rd_io io = rd_conn_read_reply(c, &r);
    if (io != RD_IO_OK)
        return cw_backend_fail(io == RD_IO_TIMEOUT ? CW_ETIMEOUT : CW_EBACKEND,
                               "redis: %s on %s:%d: %s", what, cfg->host, cfg->port, rd_io_text(io));
    cw_status st = CW_OK;
    if (r->type == REDIS_REPLY_ERROR)
        st = cw_backend_fail(CW_EBACKEND, "redis: %s on %s:%d failed: %s", what, cfg->host,
                             cfg->port, r->str);
    rd_reply_free(r);
    return st;
}

cw_status rd_conn_open(const rd_config *cfg, SSL_CTX *ctx, rd_conn **out)
{
    *out = NULL;
    int64_t deadline = rd_now_ms() + cfg->connect_timeout_ms;
    rd_conn *c = cw_malloc(sizeof *c);
    if (!c) return cw_backend_fail(CW_ENOMEM, "redis: out of memory");
    memset(c, 0, offsetof(rd_conn, rbuf));
    c->fd = -1;
    c->reader = redisReaderCreateWithFunctions((redisReplyObjectFunctions *)&reply_fns);
    if (!c->reader) {
        cw_free(c);
        return cw_backend_fail(CW_ENOMEM, "redis: out of memory");
    }
    cw_status st = CW_OK;
    c->fd = tcp_connect(cfg, deadline, &st);
    if (c->fd < 0) goto fail;
    if (cfg->tls && ctx) {
        st = tls_handshake(c, cfg, ctx, deadline);
        if (st != CW_OK) goto fail;
    }
    set_blocking(c->fd, true);

    /* AUTH, SELECT and CLIENT SETNAME go out together and must all answer within what is
     * left of the connect budget. */
    size_t nsetup = 0;
    if (cfg->password) {
        rd_cmd(c, cfg->username ? 3 : 2);
        rd_arg_str(c, "AUTH");
        if (cfg->username) rd_arg_str(c, cfg->username);
        rd_arg_str(c, cfg->password);
        nsetup++;
    }
    if (cfg->db != 0) {
        rd_cmd(c, 2);
        rd_arg_str(c, "SELECT");
        rd_arg_i64(c, cfg->db);
        nsetup++;
    }
    if (cfg->client_name) {
        rd_cmd(c, 3);
        rd_arg_str(c, "CLIENT");
        rd_arg_str(c, "SETNAME");
        rd_arg_str(c, cfg->client_name);
        nsetup++;
    }
    if (nsetup) {
        int64_t left = deadline - rd_now_ms();
        if (left <= 0) {
            st = cw_backend_fail(CW_ETIMEOUT, "redis: connect to %s:%d timed out", cfg->host,
                                 cfg->port);
            goto fail;
        }
        set_timeouts(c->fd, left);
        rd_io io = rd_conn_flush(c);
        rd_conn_reset_out(c);
        if (io != RD_IO_OK) {
            st = cw_backend_fail(io == RD_IO_NOMEM ? CW_ENOMEM : CW_EBACKEND,
                                 "redis: setup of %s:%d: %s", cfg->host, cfg->port, rd_io_text(io));
            goto fail;
        }
        /* Read every reply even after a failure so the first error is the one reported. */
        cw_status first = CW_OK;
        if (cfg->password) {
            st = setup_reply(c, cfg, "AUTH");
            if (first == CW_OK) first = st;
        }
        if (cfg->db != 0 && !c->broken) {
            st = setup_reply(c, cfg, "SELECT");
            if (first == CW_OK) first = st;
        }
        if (cfg->client_name && !c->broken) {
            st = setup_reply(c, cfg, "CLIENT SETNAME");
            if (first == CW_OK) first = st;
        }
        if (first != CW_OK) {
            st = first;
            goto fail;
        }
    }
    set_timeouts(c->fd, cfg->socket_timeout_ms);
    c->last_ms = rd_coarse_ms();
    *out = c;
    return CW_OK;
fail:
    rd_conn_close(c, true);
    return st;
}

void rd_conn_close(rd_conn *c, bool quiet)
{
    if (!c) return;
    if (c->ssl) {
        if (!quiet && !c->broken) {
            /* One close_notify, without waiting for the server's. */
            set_timeouts(c->fd, 50);
            ERR_clear_error();
            SSL_shutdown(c->ssl);
        }
        SSL_free(c->ssl);
        ERR_clear_error();
    }
    if (c->fd >= 0) close(c->fd);
    if (c->reader) redisReaderFree(c->reader);
    cw_free(c->out);
    cw_free(c);
}
