/*
 * demo.c - libcashews in one page, on the embedded mem:// backend (`make demo`).
 * Shows a slow function made fast by a read-through cache, TTL expiry, prefix routing and
 * the basic commands, printing what happens.
 */
#define _POSIX_C_SOURCE 200809L
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

/* The "slow function": pretend to ask a remote service for a user's name. */
static void slow_lookup(int user_id, char *out, size_t size)
{
    sleep_ms(200);
    snprintf(out, size, "user-%d-profile", user_id);
}

/* Read-through: try the cache, fall back to the slow function and remember its answer. */
static void get_profile(cw_cache *c, int user_id, cw_value *out, const char **source)
{
    char key[64], buf[64];
    snprintf(key, sizeof key, "user:%d", user_id);
    if (cw_get(c, key, out) == CW_OK) { *source = "cache"; return; }
    slow_lookup(user_id, buf, sizeof buf);
    cw_set(c, key, buf, strlen(buf), CW_SECONDS(1));
    cw_value_set(out, buf, strlen(buf));
    *source = "slow function";
}

#define TRY(call) do { cw_status st_ = (call); if (st_ != CW_OK && st_ != CW_NOTFOUND) { \
    fprintf(stderr, "%s failed: %s (%s)\n", #call, cw_strerror(st_), cw_cache_errmsg(c)); return 1; } } while (0)

int main(void)
{
    cw_cache *c = NULL;
    char err[CW_ERRMSG_SIZE];
    if (cw_cache_new(&c, NULL) != CW_OK) return 1;
    /* The default backend, and a second small one for keys starting with "session". */
    if (cw_cache_setup(c, "mem://?size=1000", NULL, err) != CW_OK) { fprintf(stderr, "%s\n", err); return 1; }
    cw_setup_options sessions = { .prefix = "session" };
    if (cw_cache_setup(c, "mem://?size=100", &sessions, err) != CW_OK) { fprintf(stderr, "%s\n", err); return 1; }

    printf("== a slow function becomes fast ==\n");
    cw_value v = { 0 };
    for (int i = 0; i < 3; i++) {
        const char *source;
        double t0 = now_ms();
        get_profile(c, 42, &v, &source);
        printf("call %d: %s from %-13s in %7.3f ms\n", i + 1, (char *)v.data, source, now_ms() - t0);
    }

    printf("\n== TTL expiry (the entry above lives 1 s) ==\n");
    int64_t ttl = 0;
    TRY(cw_get_expire(c, "user:42", &ttl));
    printf("get_expire(user:42) = %lld ms left\n", (long long)ttl);
    sleep_ms(1100);
    printf("after 1.1 s: get(user:42) -> %s\n", cw_strerror(cw_get(c, "user:42", &v)));
    int64_t ttl_ms = 0;
    cw_ttl_parse("1d2h3m50s", &ttl_ms);
    printf("TTL strings: \"1d2h3m50s\" = %lld ms; \"0\" -> %s\n", (long long)ttl_ms,
           cw_strerror(cw_ttl_parse("0", &ttl_ms)));

    printf("\n== prefix routing ==\n");
    TRY(cw_set(c, "session:abc", "alice", 5, CW_MINUTES(1)));
    TRY(cw_set(c, "accounts", "3", 1, CW_MINUTES(1)));
    uint64_t n = 0;
    TRY(cw_get_keys_count(c, &n));
    printf("session:abc goes to the 'session' backend, accounts to the default; %llu keys in all\n",
           (unsigned long long)n);

    printf("\n== basic commands ==\n");
    int64_t count = 0;
    TRY(cw_incr(c, "visits", 1, CW_NO_EXPIRY, &count));
    TRY(cw_incr(c, "visits", 5, CW_NO_EXPIRY, &count));
    printf("incr visits: %lld\n", (long long)count);
    cw_set_options nx = { .ttl_ms = CW_MINUTES(1), .mode = CW_SET_IF_ABSENT };
    printf("set-if-absent on existing key: %s\n", cw_strerror(cw_set_ex(c, "accounts", "9", 1, &nx)));
    for (int i = 0; i < 3; i++) {
        char key[32];
        snprintf(key, sizeof key, "item:%d", i);
        TRY(cw_set(c, key, "x", 1, CW_MINUTES(1)));
    }
    uint64_t deleted = 0;
    TRY(cw_delete_match(c, "item:*", &deleted));
    printf("delete_match item:* removed %llu keys\n", (unsigned long long)deleted);
    cw_lock_guard g;
    TRY(cw_lock(c, "lock:report", CW_SECONDS(10), 0, &g));
    int locked = 0;
    TRY(cw_is_locked(c, "lock:report", 0, 0, &locked));
    printf("lock:report held: %s\n", locked ? "yes" : "no");
    cw_lock_release(&g);
    TRY(cw_ping(c, NULL, &v));
    printf("ping: %s\n", (char *)v.data);
    cw_status st = cw_get(c, "", &v);
    printf("get(\"\") -> %s: %s\n", cw_strerror(st), cw_cache_errmsg(c));

    cw_value_free(&v);
    cw_cache_free(c);
    printf("\ndone.\n");
    return 0;
}
