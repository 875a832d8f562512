/*
 * redis_server.h - start and stop a real redis-server for tests and benchmarks.
 *
 * The server listens on 127.0.0.1 only, on a port found free by binding port 0, with no
 * persistence (--save "" --appendonly no) and its files in a fresh temporary directory
 * ($CW_TEST_TMPDIR or /tmp). start() waits (bounded) until it answers PING; every server still
 * running is killed when the process exits, and the server dies with its parent
 * (PR_SET_PDEATHSIG) even if the test crashes.
 *
 * With tls set, the harness makes a throwaway CA, a server certificate (for 127.0.0.1 and
 * localhost) and a client certificate with OpenSSL's C API, and starts the server with
 * --tls-port as well (the plain port stays, for the readiness check and redis-cli).
 *
 *   cw_redis_server rs;
 *   if (cw_redis_server_start(&rs, NULL) != 0) return 1;
 *   ... "redis://127.0.0.1:%d", rs.port ...
 *   cw_redis_server_stop(&rs);
 *
 * Self-contained (no cw_test.h), so the benchmark can use it too.
 */
#ifndef CW_REDIS_SERVER_H
#define CW_REDIS_SERVER_H

#include <stddef.h>
#include <sys/types.h>

#define CW_RS_PATH 512

typedef struct cw_redis_server_opts {
    int tls;                       /* also listen with TLS (certificates generated) */
    const char *const *extra_args; /* NULL or NULL-terminated extra redis-server arguments */
} cw_redis_server_opts;

typedef struct cw_redis_server {
    pid_t pid;     /* 0 when not running */
    int port;      /* plain TCP port on 127.0.0.1 */
    int tls_port;  /* TLS port, 0 without tls */
    char dir[CW_RS_PATH - 32];
    /* with tls: PEM files in dir */
    char ca_file[CW_RS_PATH], other_ca_file[CW_RS_PATH];
    char server_cert[CW_RS_PATH], server_key[CW_RS_PATH];
    char client_cert[CW_RS_PATH], client_key[CW_RS_PATH];
    char log_file[CW_RS_PATH];
    char **argv; /* kept for restarts */
} cw_redis_server;

/* Start a server; 0 on success, -1 with a message on stderr. */
int cw_redis_server_start(cw_redis_server *s, const cw_redis_server_opts *opts);
/* Stop it (SIGTERM, then SIGKILL after 2 s) and remove its directory. Safe twice. */
void cw_redis_server_stop(cw_redis_server *s);
/* SIGKILL the server and reap it: the ports close at once (an outage). 0 on success. */
int cw_redis_server_kill(cw_redis_server *s);
/* Start it again on the same ports (after kill; kills first if still running). 0 on success. */
int cw_redis_server_restart(cw_redis_server *s);
/* Freeze / thaw the server (SIGSTOP / SIGCONT): connections stay open, nothing answers. */
int cw_redis_server_pause(cw_redis_server *s);
int cw_redis_server_resume(cw_redis_server *s);
/* Run `redis-cli -h 127.0.0.1 -p PORT args...` (NULL-terminated), its stdout into out
 * (NUL-terminated, trailing newline removed). Returns redis-cli's exit status, -1 on error. */
int cw_redis_cli(const cw_redis_server *s, char *out, size_t outsz, const char *arg, ...);
/* A TCP port on 127.0.0.1 that was free a moment ago. */
int cw_redis_free_port(void);

#endif
