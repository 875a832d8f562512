/*
 * redis_server.c - a real redis-server for tests (see redis_server.h).
 */
#include "redis_server.h"

#include <arpa/inet.h>
#include <errno.h>
#include <fcntl.h>
#include <ftw.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <signal.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/prctl.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include <openssl/err.h>
#include <openssl/evp.h>
#include <openssl/pem.h>
#include <openssl/x509.h>
#include <openssl/x509v3.h>

/* Servers to kill at exit (the test process's own bookkeeping). */
#define MAX_TRACKED 32
static pid_t tracked[MAX_TRACKED];
static int atexit_done;

static void kill_tracked(void)
{
    for (int i = 0; i < MAX_TRACKED; i++)
        if (tracked[i] > 0) {
            kill(tracked[i], SIGKILL);
            waitpid(tracked[i], NULL, 0);
            tracked[i] = 0;
        }
}

static void track(pid_t pid, int add)
{
    if (!atexit_done) {
        atexit(kill_tracked);
        atexit_done = 1;
    }
    for (int i = 0; i < MAX_TRACKED; i++) {
        if (add && tracked[i] == 0) {
            tracked[i] = pid;
            return;
        }
        if (!add && tracked[i] == pid) {
            tracked[i] = 0;
            return;
        }
    }
}

static double now_s(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (double)ts.tv_sec + ts.tv_nsec / 1e9;
}

static void sleep_ms(int ms)
{
    struct timespec ts = { ms / 1000, (long)(ms % 1000) * 1000000L };
    nanosleep(&ts, NULL);
}

int cw_redis_free_port(void)
{
    int fd = socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
    if (fd < 0) return -1;
    struct sockaddr_in a = { 0 };
    a.sin_family = AF_INET;
    a.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
    a.sin_port = 0;
    socklen_t len = sizeof a;
    int port = -1;
    if (bind(fd, (struct sockaddr *)&a, sizeof a) == 0 &&
        getsockname(fd, (struct sockaddr *)&a, &len) == 0)
        port = ntohs(a.sin_port);
    close(fd);
    return port;
}

/* PING on the plain port; 1 when +PONG came back. */
static int ping_once(int port)
{
    int fd = socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
    if (fd < 0) return 0;
    struct sockaddr_in a = { 0 };
    a.sin_family = AF_INET;
    a.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
    a.sin_port = htons((uint16_t)port);
    struct timeval tv = { 0, 200000 };
    setsockopt(fd, SOL_SOCKET, SO_RCVTIMEO, &tv, sizeof tv);
    int ok = 0;
    if (connect(fd, (struct sockaddr *)&a, sizeof a) == 0 && write(fd, "PING\r\n", 6) == 6) {
        char buf[16] = { 0 };
        ssize_t n = read(fd, buf, sizeof buf - 1);
        /* With requirepass the server is up when it asks for AUTH. */
        ok = (n >= 5 && memcmp(buf, "+PONG", 5) == 0) || (n >= 7 && memcmp(buf, "-NOAUTH", 7) == 0);
    }
    close(fd);
    return ok;
}

/* ---- certificates ---- */

static int add_ext(X509 *cert, X509 *issuer, int nid, const char *value)
{
    X509V3_CTX ctx;
    X509V3_set_ctx_nodb(&ctx);
    X509V3_set_ctx(&ctx, issuer ? issuer : cert, cert, NULL, NULL, 0);
    X509_EXTENSION *ex = X509V3_EXT_conf_nid(NULL, &ctx, nid, value);
    if (!ex) return -1;
    int ok = X509_add_ext(cert, ex, -1);
    X509_EXTENSION_free(ex);
    return ok ? 0 : -1;
}

static X509 *make_cert(EVP_PKEY *key, const char *cn, X509 *issuer, EVP_PKEY *issuer_key, int ca,
                       long serial)
{
    X509 *x = X509_new();
    if (!x) return NULL;
    X509_set_version(x, 2);
    ASN1_INTEGER_set(X509_get_serialNumber(x), serial);
    X509_gmtime_adj(X509_getm_notBefore(x), -3600);
    X509_gmtime_adj(X509_getm_notAfter(x), 7 * 86400);
    X509_set_pubkey(x, key);
    X509_NAME *name = X509_get_subject_name(x);
    X509_NAME_add_entry_by_txt(name, "CN", MBSTRING_ASC, (const unsigned char *)cn, -1, -1, 0);
    X509_set_issuer_name(x, issuer ? X509_get_subject_name(issuer) : name);
    int bad = 0;
    bad |= add_ext(x, issuer, NID_subject_key_identifier, "hash");
    if (ca) {
        bad |= add_ext(x, issuer, NID_basic_constraints, "critical,CA:TRUE");
        bad |= add_ext(x, issuer, NID_key_usage, "critical,keyCertSign,cRLSign");
    } else {
        bad |= add_ext(x, issuer, NID_basic_constraints, "CA:FALSE");
        bad |= add_ext(x, issuer, NID_key_usage, "critical,digitalSignature,keyEncipherment");
        bad |= add_ext(x, issuer, NID_ext_key_usage, "serverAuth,clientAuth");
        bad |= add_ext(x, issuer, NID_subject_alt_name, "IP:127.0.0.1,DNS:localhost");
        bad |= add_ext(x, issuer, NID_authority_key_identifier, "keyid:always");
    }
    if (bad || !X509_sign(x, issuer_key ? issuer_key : key, EVP_sha256())) {
        X509_free(x);
        return NULL;
    }
    return x;
}

static int write_pem(const char *path, X509 *cert, EVP_PKEY *key)
{
    FILE *f = fopen(path, "w");
    if (!f) return -1;
    int ok = cert ? PEM_write_X509(f, cert) : PEM_write_PrivateKey(f, key, NULL, NULL, 0, NULL, NULL);
    fclose(f);
    if (key) chmod(path, 0600);
    return ok ? 0 : -1;
}

static int make_certs(cw_redis_server *s)
{
    int rc = -1;
    EVP_PKEY *cak = EVP_EC_gen("P-256"), *ok = EVP_EC_gen("P-256");
    EVP_PKEY *sk = EVP_EC_gen("P-256"), *ck = EVP_EC_gen("P-256");
    X509 *ca = NULL, *other = NULL, *sc = NULL, *cc = NULL;
    if (!cak || !ok || !sk || !ck) goto out;
    ca = make_cert(cak, "cashews test CA", NULL, NULL, 1, 1);
    other = make_cert(ok, "some other CA", NULL, NULL, 1, 2);
    sc = ca ? make_cert(sk, "localhost", ca, cak, 0, 3) : NULL;
    cc = ca ? make_cert(ck, "cashews test client", ca, cak, 0, 4) : NULL;
    if (!ca || !other || !sc || !cc) goto out;
    snprintf(s->ca_file, sizeof s->ca_file, "%s/ca.pem", s->dir);
    snprintf(s->other_ca_file, sizeof s->other_ca_file, "%s/other-ca.pem", s->dir);
    snprintf(s->server_cert, sizeof s->server_cert, "%s/server.pem", s->dir);
    snprintf(s->server_key, sizeof s->server_key, "%s/server.key", s->dir);
    snprintf(s->client_cert, sizeof s->client_cert, "%s/client.pem", s->dir);
    snprintf(s->client_key, sizeof s->client_key, "%s/client.key", s->dir);
    if (write_pem(s->ca_file, ca, NULL) || write_pem(s->other_ca_file, other, NULL) ||
        write_pem(s->server_cert, sc, NULL) || write_pem(s->server_key, NULL, sk) ||
        write_pem(s->client_cert, cc, NULL) || write_pem(s->client_key, NULL, ck))
        goto out;
    rc = 0;
out:
    if (rc) {
        unsigned long e = ERR_get_error();
        fprintf(stderr, "redis_server: cannot make test certificates: %s\n",
                e ? ERR_error_string(e, NULL) : "?");
    }
    X509_free(ca);
    X509_free(other);
    X509_free(sc);
    X509_free(cc);
    EVP_PKEY_free(cak);
    EVP_PKEY_free(ok);
    EVP_PKEY_free(sk);
    EVP_PKEY_free(ck);
    ERR_clear_error();
    return rc;
}

/* ---- process ---- */

static void free_argv(char **argv)
{
    if (!argv) return;
    for (char **p = argv; *p; p++) free(*p);
    free(argv);
}

static int push(char ***argv, size_t *n, const char *fmt, ...)
{
    char buf[CW_RS_PATH + 64];
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(buf, sizeof buf, fmt, ap);
    va_end(ap);
    char **a = realloc(*argv, (*n + 2) * sizeof *a);
    if (!a) return -1;
    *argv = a;
    if (!(a[*n] = strdup(buf))) return -1;
    a[++*n] = NULL;
    return 0;
}

static int spawn(cw_redis_server *s)
{
    pid_t parent = getpid();
    pid_t pid = fork();
    if (pid < 0) {
        perror("redis_server: fork");
        return -1;
    }
    if (pid == 0) {
        prctl(PR_SET_PDEATHSIG, SIGKILL);
        if (getppid() != parent) _exit(127);
        int devnull = open("/dev/null", O_RDWR);
        if (devnull >= 0) {
            dup2(devnull, 0);
            dup2(devnull, 1);
            dup2(devnull, 2);
        }
        execvp("redis-server", s->argv);
        _exit(127);
    }
    s->pid = pid;
    track(pid, 1);
    /* Bounded wait for PING; give up early if the server died. */
    double until = now_s() + 10.0;
    while (now_s() < until) {
        int status;
        if (waitpid(pid, &status, WNOHANG) == pid) {
            track(pid, 0);
            s->pid = 0;
            fprintf(stderr, "redis_server: redis-server exited at start (status %d); log %s\n",
                    status, s->log_file);
            FILE *f = fopen(s->log_file, "r");
            if (f) {
                char line[512];
                while (fgets(line, sizeof line, f)) fprintf(stderr, "  %s", line);
                fclose(f);
            }
            return -1;
        }
        if (ping_once(s->port)) return 0;
        sleep_ms(10);
    }
    fprintf(stderr, "redis_server: no PING answer on port %d within 10 s\n", s->port);
    cw_redis_server_kill(s);
    return -1;
}

int cw_redis_server_start(cw_redis_server *s, const cw_redis_server_opts *opts)
{
    memset(s, 0, sizeof *s);
    const char *base = getenv("CW_TEST_TMPDIR");
    if (!base || !*base) base = "/tmp";
    mkdir(base, 0700);
    snprintf(s->dir, sizeof s->dir, "%s/cw-redis-XXXXXX", base);
    if (!mkdtemp(s->dir)) {
        perror("redis_server: mkdtemp");
        return -1;
    }
    snprintf(s->log_file, sizeof s->log_file, "%s/redis.log", s->dir);
    int tls = opts && opts->tls;
    if (tls && make_certs(s) != 0) return -1;
    for (int attempt = 0; attempt < 5; attempt++) {
        s->port = cw_redis_free_port();
        s->tls_port = tls ? cw_redis_free_port() : 0;
        if (s->port <= 0 || (tls && (s->tls_port <= 0 || s->tls_port == s->port))) continue;
        char **argv = NULL;
        size_t n = 0;
        int bad = push(&argv, &n, "redis-server");
        bad |= push(&argv, &n, "--bind");
        bad |= push(&argv, &n, "127.0.0.1");
        bad |= push(&argv, &n, "--port");
        bad |= push(&argv, &n, "%d", s->port);
        bad |= push(&argv, &n, "--save");
        bad |= push(&argv, &n, "");
        bad |= push(&argv, &n, "--appendonly");
        bad |= push(&argv, &n, "no");
        bad |= push(&argv, &n, "--daemonize");
        bad |= push(&argv, &n, "no");
        bad |= push(&argv, &n, "--dir");
        bad |= push(&argv, &n, "%s", s->dir);
        bad |= push(&argv, &n, "--logfile");
        bad |= push(&argv, &n, "%s", s->log_file);
        if (tls) {
            bad |= push(&argv, &n, "--tls-port");
            bad |= push(&argv, &n, "%d", s->tls_port);
            bad |= push(&argv, &n, "--tls-cert-file");
            bad |= push(&argv, &n, "%s", s->server_cert);
            bad |= push(&argv, &n, "--tls-key-file");
            bad |= push(&argv, &n, "%s", s->server_key);
            bad |= push(&argv, &n, "--tls-ca-cert-file");
            bad |= push(&argv, &n, "%s", s->ca_file);
        }
        for (const char *const *e = opts ? opts->extra_args : NULL; e && *e; e++)
            bad |= push(&argv, &n, "%s", *e);
        if (bad) {
            free_argv(argv);
            fprintf(stderr, "redis_server: out of memory\n");
            return -1;
        }
        free_argv(s->argv);
        s->argv = argv;
        if (spawn(s) == 0) return 0;
    }
    return -1;
}

int cw_redis_server_kill(cw_redis_server *s)
{
    if (s->pid <= 0) return 0;
    kill(s->pid, SIGCONT);
    kill(s->pid, SIGKILL);
    waitpid(s->pid, NULL, 0);
    track(s->pid, 0);
    s->pid = 0;
    return 0;
}

int cw_redis_server_restart(cw_redis_server *s)
{
    cw_redis_server_kill(s);
    /* The port may take a moment to be bindable again; Redis sets SO_REUSEADDR. */
    for (int i = 0; i < 20; i++) {
        if (spawn(s) == 0) return 0;
        sleep_ms(50);
    }
    return -1;
}

int cw_redis_server_pause(cw_redis_server *s)
{
    return s->pid > 0 ? kill(s->pid, SIGSTOP) : -1;
}

int cw_redis_server_resume(cw_redis_server *s)
{
    return s->pid > 0 ? kill(s->pid, SIGCONT) : -1;
}

static int rm_one(const char *path, const struct stat *sb, int flag, struct FTW *ftw)
{
    (void)sb, (void)flag, (void)ftw;
    return remove(path);
}

void cw_redis_server_stop(cw_redis_server *s)
{
    if (s->pid > 0) {
        kill(s->pid, SIGCONT);
        kill(s->pid, SIGTERM);
        double until = now_s() + 2.0;
        int done = 0;
        while (now_s() < until) {
            if (waitpid(s->pid, NULL, WNOHANG) == s->pid) {
                done = 1;
                break;
            }
            sleep_ms(5);
        }
        if (!done) {
            kill(s->pid, SIGKILL);
            waitpid(s->pid, NULL, 0);
        }
        track(s->pid, 0);
        s->pid = 0;
    }
    if (s->dir[0]) nftw(s->dir, rm_one, 16, FTW_DEPTH | FTW_PHYS);
    s->dir[0] = '\0';
    free_argv(s->argv);
    s->argv = NULL;
}

int cw_redis_cli(const cw_redis_server *s, char *out, size_t outsz, const char *arg, ...)
{
    const char *argv[64];
    char port[16];
    snprintf(port, sizeof port, "%d", s->port);
    size_t n = 0;
    argv[n++] = "redis-cli";
    argv[n++] = "-h";
    argv[n++] = "127.0.0.1";
    argv[n++] = "-p";
    argv[n++] = port;
    va_list ap;
    va_start(ap, arg);
    for (const char *a = arg; a && n < 63; a = va_arg(ap, const char *)) argv[n++] = a;
    va_end(ap);
    argv[n] = NULL;
    int pfd[2];
    if (pipe(pfd) != 0) return -1;
    pid_t pid = fork();
    if (pid < 0) {
        close(pfd[0]);
        close(pfd[1]);
        return -1;
    }
    if (pid == 0) {
        dup2(pfd[1], 1);
        close(pfd[0]);
        close(pfd[1]);
        execvp("redis-cli", (char *const *)argv);
        _exit(127);
    }
    close(pfd[1]);
    size_t got = 0;
    char sink[256];
    for (;;) {
        char *dst = out && got + 1 < outsz ? out + got : sink;
        size_t room = out && got + 1 < outsz ? outsz - 1 - got : sizeof sink;
        ssize_t r = read(pfd[0], dst, room);
        if (r < 0 && errno == EINTR) continue;
        if (r <= 0) break;
        if (dst != sink) got += (size_t)r;
    }
    close(pfd[0]);
    if (out && outsz) {
        out[got] = '\0';
        while (got && (out[got - 1] == '\n' || out[got - 1] == '\r')) out[--got] = '\0';
    }
    int status;
    if (waitpid(pid, &status, 0) != pid) return -1;
    return WIFEXITED(status) ? WEXITSTATUS(status) : -1;
}
