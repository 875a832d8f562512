/*
 * lock.c - waiting on locks and the scoped lock helper. Waiting is real time (a monotonic
 * deadline and short sleeps): it is about other threads and processes making progress, which
 * an injected clock cannot speed up.
 */
#include <stdio.h>
#include <string.h>
#include <sys/random.h>
#include <time.h>
#include <unistd.h>

#include "core/cache_impl.h"

static int64_t mono_ms(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (int64_t)ts.tv_sec * 1000 + ts.tv_nsec / 1000000;
}

/* now + wait, saturating: a wait of INT64_MAX means "as long as it takes". */
static int64_t deadline_after(int64_t wait_ms)
{
    int64_t now = mono_ms();
    if (wait_ms <= 0) return now;
    return wait_ms > INT64_MAX - now ? INT64_MAX : now + wait_ms;
}

static void sleep_ms(int64_t ms)
{
    struct timespec ts = { (time_t)(ms / 1000), (long)(ms % 1000) * 1000000L };
    while (nanosleep(&ts, &ts) != 0) {}
}

cw_status cw_is_locked(cw_cache *c, const char *key, int64_t wait_ms, int64_t step_ms, int *locked)
{
    size_t klen;
    cw_status st = cw__check_key(c, key, &klen);
    if (st) return st;
    if (!locked) return cw__fail(c, CW_EINVAL, "locked is NULL");
    const cw__route *rt = cw__route_for(c, key, klen);
    if (!rt) return cw__fail(c, CW_ESTATE, "no backend for key: call cw_cache_setup() first");
    if (step_ms <= 0) step_ms = 100;
    int64_t deadline = deadline_after(wait_ms);
    for (;;) {
        cw_call call = { .cmd = CW_CMD_IS_LOCKED, .c = c, .rt = rt, .key = key, .klen = klen };
        st = cw__exec(&call);
        if (st != CW_OK && st != CW_NOTFOUND) return st;
        *locked = st == CW_OK;
        int64_t left = deadline - mono_ms();
        if (!*locked || left <= 0) return CW_OK;
        sleep_ms(step_ms < left ? step_ms : left);
    }
}

cw_status cw_lock(cw_cache *c, const char *key, int64_t ttl_ms, int64_t wait_ms, cw_lock_guard *g)
{
    size_t klen;
    cw_status st = cw__check_key(c, key, &klen);
    if (st) return st;
    if (!g) return cw__fail(c, CW_EINVAL, "guard is NULL");
    memset(g, 0, sizeof *g);
    /* A token unique across processes: 8 random bytes plus a per-cache sequence number. */
    uint64_t rnd = 0;
    if (getrandom(&rnd, sizeof rnd, GRND_NONBLOCK) != (ssize_t)sizeof rnd)
        rnd = (uint64_t)mono_ms() ^ ((uint64_t)getpid() << 32) ^ (uint64_t)(uintptr_t)g;
    snprintf(g->token, sizeof g->token, "%016llx-%llx", (unsigned long long)rnd,
             (unsigned long long)atomic_fetch_add(&c->token_seq, 1));
    int64_t deadline = deadline_after(wait_ms);
    int64_t step = 1;
    for (;;) {
        st = cw_set_lock(c, key, g->token, strlen(g->token), ttl_ms);
        if (st == CW_OK) break;
        if (st != CW_NOTSTORED) return st;
        int64_t left = deadline - mono_ms();
        if (left <= 0) return cw__fail(c, CW_ELOCKED, "lock \"%.64s\" is held by another holder", key);
        sleep_ms(step < left ? step : left);
        if (step < 50) step *= 2; /* back off: 1, 2, 4 ... 64 ms */
    }
    g->key = cw_malloc(klen + 1);
    if (!g->key) { cw_unlock(c, key, g->token, strlen(g->token)); return CW_ENOMEM; }
    memcpy(g->key, key, klen + 1);
    g->cache = c;
    return CW_OK;
}

cw_status cw_lock_release(cw_lock_guard *g)
{
    if (!g || !g->cache || !g->key) return CW_OK;
    cw_status st = cw_unlock(g->cache, g->key, g->token, strlen(g->token));
    cw_free(g->key);
    g->key = NULL;
    g->cache = NULL;
    return st;
}
