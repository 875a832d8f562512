/*
 * run_with_redis.c - runs one example against a real redis-server for `make test`:
 *
 *   run_with_redis [--tls] PROGRAM [ARG...]
 *
 * starts a redis-server on a free loopback port with the test harness (tests/harness/
 * redis_server.h; with --tls also a TLS port, and a throwaway CA, server and client
 * certificates made with OpenSSL), replaces every "{url}" in the arguments with the server's
 * URL (rediss:// with the certificate files as parameters under --tls), runs the program,
 * stops the server and exits with the program's status.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/wait.h>
#include <unistd.h>

#include "redis_server.h"

int main(int argc, char **argv)
{
    int first = 1, tls = 0;
    if (argc > 1 && strcmp(argv[1], "--tls") == 0) {
        tls = 1;
        first = 2;
    }
    if (first >= argc) {
        fprintf(stderr, "usage: run_with_redis [--tls] PROGRAM [ARG...] ({url} is replaced)\n");
        return 2;
    }
    cw_redis_server rs;
    cw_redis_server_opts opts = { .tls = tls };
    if (cw_redis_server_start(&rs, &opts) != 0) return 1;
    char url[4 * CW_RS_PATH];
    if (tls)
        snprintf(url, sizeof url, "rediss://127.0.0.1:%d/0?ssl_ca_certs=%s&ssl_certfile=%s&ssl_keyfile=%s",
                 rs.tls_port, rs.ca_file, rs.client_cert, rs.client_key);
    else
        snprintf(url, sizeof url, "redis://127.0.0.1:%d/0", rs.port);
    char **args = calloc((size_t)(argc - first + 1), sizeof *args);
    if (!args) return 1;
    for (int i = first; i < argc; i++) args[i - first] = strcmp(argv[i], "{url}") == 0 ? url : argv[i];
    fflush(stdout);
    pid_t pid = fork();
    if (pid == 0) {
        execv(args[0], args);
        perror(args[0]);
        _exit(127);
    }
    int status = 1;
    if (pid < 0 || waitpid(pid, &status, 0) != pid) status = 1 << 8;
    cw_redis_server_stop(&rs);
    free(args);
    if (WIFSIGNALED(status)) {
        fprintf(stderr, "run_with_redis: %s died of signal %d\n", argv[first], WTERMSIG(status));
        return 1;
    }
    return WEXITSTATUS(status);
}
