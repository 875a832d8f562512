/*
 * redis_tls_client_side.c - Redis over TLS, with a client-side cache in front of it.
 *
 *   ./redis_tls_client_side 'rediss://redis.internal:6380/0?ssl_ca_certs=/etc/ssl/ca.pem&ssl_certfile=/etc/ssl/app.pem&ssl_keyfile=/etc/ssl/app.key'
 *
 * Reads of a key this process has seen are answered from local memory (tens of nanoseconds
 * instead of a network round trip) and Redis tells the process, over the same TLS server,
 * when anyone changes such a key, so the local copy never outlives a write for more than a
 * few milliseconds. `make test` runs it against a throwaway TLS redis-server.
 * What it shows: TLS parameters, client_side=1, the cost of a local hit, and a write by
 * another client (here a second cache, as another process would be) reaching this one.
 */
#define _POSIX_C_SOURCE 200809L
#include <stdio.h>
#include <string.h>
#include <time.h>

#include <cashews.h>

static double now_us(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return ts.tv_sec * 1e6 + ts.tv_nsec / 1e3;
}

static cw_cache *open_cache(const char *url)
{
    cw_cache *c = NULL;
    char err[CW_ERRMSG_SIZE] = "";
    /* client_side=1 keeps local copies; suppress=0 makes Redis failures errors, not misses */
    static const char *const params[] = { "client_side", "1", "suppress", "0", NULL };
    cw_setup_options so = { .params = params };
    if (cw_cache_new(&c, NULL) != CW_OK) return NULL;
    if (cw_cache_setup(c, url, &so, err) != CW_OK) {
        fprintf(stderr, "setup failed: %s\n", err);
        cw_cache_free(c);
        return NULL;
    }
    return c;
}

/* Poll until @key reads @want (the invalidation travels on its own connection). */
static int wait_for(cw_cache *c, const char *key, const char *want, cw_value *v, double max_ms)
{
    double t0 = now_us();
    while ((now_us() - t0) / 1e3 < max_ms) {
        if (cw_get(c, key, v) == CW_OK && v->len == strlen(want) && memcmp(v->data, want, v->len) == 0)
            return 0;
        struct timespec ts = { 0, 1000000 }; /* 1 ms */
        nanosleep(&ts, NULL);
    }
    return -1;
}

int main(int argc, char **argv)
{
    const char *url = argc > 1 ? argv[1]
                               : "rediss://127.0.0.1:6380/0?ssl_ca_certs=ca.pem&ssl_certfile=client.pem"
                                 "&ssl_keyfile=client.key";
    cw_cache *app = open_cache(url);
    cw_cache *other = open_cache(url); /* stands for another process sharing the Redis */
    if (!app || !other) return 1;
    cw_value v = { 0 };
    int rc = 1;

    if (cw_set(app, "config:feature_x", "off", 3, CW_HOURS(1)) != CW_OK) goto out;
    double t0 = now_us();
    cw_status st = cw_get(app, "config:feature_x", &v); /* a round trip; the copy is kept */
    double first_us = now_us() - t0;
    t0 = now_us();
    for (int i = 0; i < 1000; i++) st |= cw_get(app, "config:feature_x", &v); /* local */
    double local_ns = (now_us() - t0) * 1e3 / 1000;
    if (st != CW_OK) goto out;
    printf("over TLS: first get %.0f us, then %.0f ns a get from the local copy: %.*s\n", first_us,
           local_ns, (int)v.len, (char *)v.data);

    /* another client writes: Redis invalidates this process's copy */
    if (cw_set(other, "config:feature_x", "on", 2, CW_HOURS(1)) != CW_OK) goto out;
    t0 = now_us();
    if (wait_for(app, "config:feature_x", "on", &v, 2000) != 0) {
        fprintf(stderr, "the other client's write did not reach this cache within 2 s\n");
        goto out;
    }
    printf("another client set it to \"on\": seen here after %.1f ms\n", (now_us() - t0) / 1e3);
    rc = 0;
out:
    if (rc) fprintf(stderr, "failed: %s / %s\n", cw_cache_errmsg(app), cw_cache_errmsg(other));
    cw_value_free(&v);
    cw_cache_free(other);
    cw_cache_free(app);
    return rc;
}
