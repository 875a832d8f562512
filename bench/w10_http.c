/*
 * w10_http.c - W10 of BENCHMARKS.md: HTTP requests a second through http-example
 * (examples/http_server.c) with `wrk -t2 -c32 -d10s` and keep-alive, GET /user/<1..1000>
 * all served from the cache against GET /static (a constant body of the same size, no
 * cache), in the same run. Needs wrk and curl (scripts/install-deps.sh installs both).
 *
 * The server starts on a free loopback port; curl loads the 1000 users first (in parallel,
 * the loader takes 50 ms each); /metrics then must count exactly 1000 loader runs, and still
 * 1000 after the cached run, or the figure is not one of cached requests and W10 fails.
 */
#include "bench.h"

#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/wait.h>
#include <unistd.h>

enum { USERS = 1000 };

typedef struct wrk_result {
    uint64_t requests;
    double seconds, p50_ns, p99_ns;
    uint64_t bad; /* non-2xx/3xx responses, socket errors */
} wrk_result;

/* "123.45us" / "1.20ms" / "2.00s" in nanoseconds; -1 if not a duration. */
static double duration_ns(const char *s)
{
    char unit[4] = "";
    double v = 0;
    if (sscanf(s, "%lf%3s", &v, unit) != 2) return -1;
    if (strcmp(unit, "us") == 0) return v * 1e3;
    if (strcmp(unit, "ms") == 0) return v * 1e6;
    if (strcmp(unit, "s") == 0) return v * 1e9;
    if (strcmp(unit, "m") == 0) return v * 60e9;
    return -1;
}

/* Run wrk against @url (with the Lua @script or none) and read its report. */
static int run_wrk(const char *url, const char *script, wrk_result *r)
{
    char cmd[1024];
    snprintf(cmd, sizeof cmd, "wrk -t2 -c32 -d10s --latency %s%s %s 2>&1", script ? "-s " : "", script ? script : "", url);
    FILE *p = popen(cmd, "r");
    if (!p) return -1;
    *r = (wrk_result){ 0, 0, -1, -1, 0 };
    char line[512];
    while (fgets(line, sizeof line, p)) {
        unsigned long long n = 0, a = 0, b = 0, c = 0, d = 0;
        char dur[32];
        const char *s = line + strspn(line, " \t");
        if (sscanf(s, "%llu requests in %31[^,]", &n, dur) == 2) {
            r->requests = n;
            r->seconds = duration_ns(dur) / 1e9;
        } else if (strncmp(s, "50%", 3) == 0) {
            r->p50_ns = duration_ns(s + 3 + strspn(s + 3, " "));
        } else if (strncmp(s, "99%", 3) == 0) {
            r->p99_ns = duration_ns(s + 3 + strspn(s + 3, " "));
        } else if (sscanf(s, "Non-2xx or 3xx responses: %llu", &n) == 1) {
            r->bad += n;
        } else if (sscanf(s, "Socket errors: connect %llu, read %llu, write %llu, timeout %llu", &a, &b, &c, &d) == 4) {
            r->bad += a + b + c + d;
        }
    }
    int st = pclose(p);
    if (st != 0 || !r->requests || r->seconds <= 0) {
        fprintf(stderr, "W10: wrk failed (status %d): %s\n", st, cmd);
        return -1;
    }
    return 0;
}

/* The user loader's run count from http-example's /metrics; -1 when unreadable. */
static long long loader_calls(int port)
{
    char cmd[256], line[512];
    snprintf(cmd, sizeof cmd, "curl -sS --max-time 10 http://127.0.0.1:%d/metrics", port);
    FILE *p = popen(cmd, "r");
    long long n = -1;
    while (p && fgets(line, sizeof line, p))
        if (sscanf(line, "http_example_loader_calls_total{function=\"user\"} %lld", &n) == 1) break;
    if (p) pclose(p);
    return n;
}

int bench_w10(const bench_args *a)
{
    if (system("command -v wrk >/dev/null && command -v curl >/dev/null") != 0) {
        printf("# W10: not run (wrk or curl is missing: scripts/install-deps.sh installs them)\n");
        return 1;
    }
    int out[2];
    if (pipe(out) != 0) return 1;
    pid_t pid = fork();
    if (pid == 0) {
        dup2(out[1], 1);
        close(out[0]);
        close(out[1]);
        execl(CW_HTTP_EXAMPLE_PATH, "http-example", "--port", "0", (char *)NULL);
        _exit(127);
    }
    close(out[1]);
    FILE *from = fdopen(out[0], "r");
    char line[256];
    int port = 0, rc = 1;
    while (from && !port && fgets(line, sizeof line, from)) {
        const char *p = strstr(line, "http://127.0.0.1:");
        if (p) port = atoi(p + 17);
    }
    if (!port || pid < 0) {
        fprintf(stderr, "W10: %s did not start\n", CW_HTTP_EXAMPLE_PATH);
        goto out;
    }
    char cmd[512], script[512], base[64];
    snprintf(base, sizeof base, "http://127.0.0.1:%d", port);
    /* load every user once, 64 at a time (curl's parallel progress meter ignores -s: its
     * output goes; the loader count below says whether it worked) */
    snprintf(cmd, sizeof cmd, "curl -sf --parallel --parallel-max 64 '%s/user/[1-%d]' >/dev/null 2>&1", base, USERS);
    if (system(cmd) != 0 || loader_calls(port) != USERS) {
        fprintf(stderr, "W10: loading the %d users failed (loader runs: %lld)\n", USERS, loader_calls(port));
        goto out;
    }
    snprintf(script, sizeof script, "%s/w10-users.lua", a->tmpdir);
    FILE *lua = fopen(script, "w");
    if (!lua) goto out;
    fprintf(lua, "-- each wrk thread walks /user/1..%d in turn\n"
                 "local i = 0\n"
                 "request = function()\n"
                 "  i = i %% %d + 1\n"
                 "  return wrk.format(\"GET\", \"/user/\" .. i)\n"
                 "end\n", USERS, USERS);
    fclose(lua);
    wrk_result st, ca;
    char url[128];
    snprintf(url, sizeof url, "%s/static", base);
    if (run_wrk(url, NULL, &st) != 0 || run_wrk(base, script, &ca) != 0) goto out;
    long long loads = loader_calls(port);
    if (st.bad || ca.bad || loads != USERS) {
        fprintf(stderr, "W10: %llu bad static and %llu bad cached responses, %lld loader runs (want %d)\n",
                (unsigned long long)st.bad, (unsigned long long)ca.bad, loads, USERS);
        goto out;
    }
    bench_emit("W10", "http-cached", "get", 2, ca.requests, ca.seconds, -1, ca.p50_ns, ca.p99_ns);
    bench_emit("W10", "http-static", "get", 2, st.requests, st.seconds, -1, st.p50_ns, st.p99_ns);
    printf("# W10: cached %.2fx the requests a second of static (target >= 0.8x); wrk -t2 -c32 -d10s, keep-alive\n",
           (ca.requests / ca.seconds) / (st.requests / st.seconds));
    rc = 0;
out:
    if (pid > 0) {
        kill(pid, SIGTERM);
        int status = 0;
        waitpid(pid, &status, 0);
        if (!WIFEXITED(status) || WEXITSTATUS(status) != 0) {
            fprintf(stderr, "W10: http-example did not stop cleanly (status %d)\n", status);
            rc = 1;
        }
    }
    if (from) fclose(from);
    else close(out[0]);
    return rc;
}
