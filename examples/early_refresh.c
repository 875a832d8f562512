/*
 * early_refresh.c - never make a caller wait for a slow recompute: refresh early, in the
 * background (the seed's @cache.early).
 *
 *   ./early_refresh [URL]     (default mem://; any backend works)
 *
 * A value lives 10 seconds (.ttl), but once it is older than .early_ttl a call still returns
 * it at once and starts one background refresh; the next calls get the new value. Callers
 * only wait for the loader on the very first call. (Here early_ttl is 300 ms so that the
 * example runs quickly; in a service it would be minutes.)
 */
#define _POSIX_C_SOURCE 200809L
#include <stdatomic.h>
#include <stdio.h>
#include <string.h>
#include <time.h>

#include <cashews.h>

static double now_ms(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return ts.tv_sec * 1e3 + ts.tv_nsec / 1e6;
}

static void sleep_ms(long ms)
{
    struct timespec ts = { ms / 1000, (ms % 1000) * 1000000L };
    nanosleep(&ts, NULL);
}

/* A slow report (100 ms); refreshes run on a library thread, hence the atomic counter. */
static int build_report(void *ud, const cw_arg *args, size_t nargs, cw_value *out)
{
    (void)nargs;
    int version = atomic_fetch_add((atomic_int *)ud, 1) + 1;
    sleep_ms(100);
    char buf[64];
    int n = snprintf(buf, sizeof buf, "%s report, version %d", args[0].v.s, version);
    return cw_value_set(out, buf, (size_t)n);
}

/* One call, timed and printed; the value stays in v. */
static int call(cw_func *f, cw_value *v, const char *when)
{
    double t0 = now_ms();
    int st = CW_CALL(f, v, CW_ARG_STR("sales"));
    if (st != CW_OK) {
        printf("%s: %s\n", when, cw_strerror(st));
        return st;
    }
    printf("%-28s %6.1f ms  %.*s\n", when, now_ms() - t0, (int)v->len, (char *)v->data);
    return 0;
}

int main(int argc, char **argv)
{
    cw_cache *c = NULL;
    char err[CW_ERRMSG_SIZE] = "";
    if (cw_cache_new(&c, NULL) != CW_OK || cw_cache_setup(c, argc > 1 ? argv[1] : "mem://", NULL, err) != CW_OK) {
        fprintf(stderr, "setup: %s\n", err);
        return 1;
    }
    atomic_int builds = 0;
    cw_func *report = CW_FUNC(c, build_report, .loader_ud = &builds, .args = "name", .key = "report:{name}",
                              .strategy = CW_EARLY, .ttl = "10s", .early_ttl = "300ms");
    if (!report) {
        fprintf(stderr, "cw_func: %s\n", cw_cache_errmsg(c));
        return 1;
    }
    cw_value v = { 0 };
    int rc = call(report, &v, "first call (loads)") || call(report, &v, "second call (a hit)");
    sleep_ms(400);
    /* older than early_ttl: the stored value at once, a refresh starts behind it */
    rc = rc || call(report, &v, "after 400 ms (early)");
    rc = rc || !strstr((char *)v.data, "version 1");
    /* the refresh lands in about 100 ms; wait for it (bounded) */
    double t0 = now_ms();
    while (!rc && !strstr((char *)v.data, "version 2") && now_ms() - t0 < 5000) {
        sleep_ms(20);
        rc = CW_CALL(report, &v, CW_ARG_STR("sales")) != CW_OK;
    }
    rc = rc || call(report, &v, "once refreshed") || !strstr((char *)v.data, "version 2");
    printf("the loader ran %d times; no caller waited for it after the first call\n", atomic_load(&builds));
    rc = rc || atomic_load(&builds) != 2;
    cw_value_free(&v);
    cw_func_free(report);
    cw_cache_free(c);
    return rc;
}
