/*
 * locks_across_processes.c - a lock in Redis makes a read-modify-write safe across
 * processes (the seed's `async with cache.lock(key, expire)`).
 *
 *   ./locks_across_processes redis://127.0.0.1:6379/0
 *
 * Four worker processes each add 1 to a balance 25 times by reading it, adding and writing it
 * back: without the lock two workers would read the same balance and one update would be
 * lost. cw_lock() takes the lock (waiting up to a bound), and its TTL frees it even if the
 * holder dies; cw_lock_release() removes it only if it is still this holder's.
 */
#define _POSIX_C_SOURCE 200809L
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/wait.h>
#include <unistd.h>

#include <cashews.h>

enum { WORKERS = 4, ROUNDS = 25 };

static cw_cache *open_cache(const char *url)
{
    cw_cache *c = NULL;
    char err[CW_ERRMSG_SIZE] = "";
    static const char *const params[] = { "suppress", "0", NULL }; /* failures are errors */
    cw_setup_options so = { .params = params };
    if (cw_cache_new(&c, NULL) != CW_OK) return NULL;
    if (cw_cache_setup(c, url, &so, err) != CW_OK) {
        fprintf(stderr, "setup: %s\n", err);
        cw_cache_free(c);
        return NULL;
    }
    return c;
}

/* balance += 1 under the lock. */
static int deposit(cw_cache *c, cw_value *v)
{
    cw_lock_guard g;
    cw_status st = cw_lock(c, "lock:account:7", CW_SECONDS(10), CW_SECONDS(30), &g);
    if (st != CW_OK) {
        fprintf(stderr, "lock: %s\n", cw_strerror(st));
        return 1;
    }
    long long balance = 0;
    if (cw_get(c, "account:7", v) == CW_OK) balance = atoll((char *)v->data);
    char buf[32];
    int n = snprintf(buf, sizeof buf, "%lld", balance + 1);
    st = cw_set(c, "account:7", buf, (size_t)n, CW_NO_EXPIRY);
    return (cw_lock_release(&g) != CW_OK) | (st != CW_OK);
}

static int worker(const char *url)
{
    cw_cache *c = open_cache(url); /* each process opens its own connections */
    if (!c) return 1;
    cw_value v = { 0 };
    int rc = 0;
    for (int i = 0; i < ROUNDS && !rc; i++) rc = deposit(c, &v);
    cw_value_free(&v);
    cw_cache_free(c);
    return rc;
}

int main(int argc, char **argv)
{
    const char *url = argc > 1 ? argv[1] : "redis://127.0.0.1:6379/0";
    cw_cache *c = open_cache(url);
    if (!c) return 1;
    cw_delete(c, "account:7");
    fflush(stdout);
    pid_t pids[WORKERS];
    for (int i = 0; i < WORKERS; i++)
        if ((pids[i] = fork()) == 0) _exit(worker(url));
    int rc = 0;
    for (int i = 0; i < WORKERS; i++) {
        int status = 1;
        if (pids[i] < 0 || waitpid(pids[i], &status, 0) != pids[i] || !WIFEXITED(status) ||
            WEXITSTATUS(status) != 0)
            rc = 1;
    }
    cw_value v = { 0 };
    long long balance = cw_get(c, "account:7", &v) == CW_OK ? atoll((char *)v.data) : -1;
    printf("%d processes x %d deposits under one lock: balance %lld (expected %d)\n", WORKERS, ROUNDS,
           balance, WORKERS * ROUNDS);
    rc = rc || balance != WORKERS * ROUNDS;
    cw_delete(c, "account:7");
    cw_value_free(&v);
    cw_cache_free(c);
    return rc;
}
