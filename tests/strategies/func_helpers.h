/*
 * func_helpers.h - shared pieces of the cached-function tests: a cache on a fake clock and
 * a counting loader whose values say which call produced them ("v1", "v2", ...).
 */
#ifndef CW_FUNC_HELPERS_H
#define CW_FUNC_HELPERS_H

#include <stdatomic.h>
#include <stdio.h>
#include <string.h>
#include <time.h>

#include "cw_test.h"
#include <cashews/func.h>

typedef struct counter {
    atomic_int calls;
    int fail;             /* non-zero: the loader returns this */
    const char *value;    /* non-NULL: the loader returns this text */
    cw_fake_clock *clock; /* with advance_ms: the loader takes that long */
    int64_t advance_ms;
    int sleep_ms;         /* real sleep, for concurrency tests */
} counter;

static inline void helper_sleep_ms(int ms)
{
    struct timespec ts = { ms / 1000, (long)(ms % 1000) * 1000000L };
    while (nanosleep(&ts, &ts) != 0) {}
}

/* Value "v<call number>", or c->value; the arguments rendered after ':' when any. */
static inline int count_loader(void *ud, const cw_arg *args, size_t nargs, cw_value *out)
{
    counter *c = ud;
    int k = atomic_fetch_add(&c->calls, 1) + 1;
    if (c->clock && c->advance_ms) cw_fake_clock_advance(c->clock, c->advance_ms);
    if (c->sleep_ms) helper_sleep_ms(c->sleep_ms);
    if (c->fail) return c->fail;
    char buf[256];
    int n;
    if (c->value) n = snprintf(buf, sizeof buf, "%s", c->value);
    else n = snprintf(buf, sizeof buf, "v%d", k);
    for (size_t i = 0; i < nargs && n < 200; i++) {
        if (args[i].type == CW_T_INT) n += snprintf(buf + n, sizeof buf - (size_t)n, ":%lld", (long long)args[i].v.i);
        else if (args[i].type == CW_T_STR) n += snprintf(buf + n, sizeof buf - (size_t)n, ":%s", args[i].v.s);
    }
    return cw_value_set(out, buf, (size_t)n);
}

static inline cw_cache *helper_cache(cw_fake_clock *fc)
{
    cw_fake_clock_init(fc);
    cw_cache_options o = { 0 };
    o.clock = cw_fake_clock_now;
    o.clock_ud = fc;
    cw_cache *c = NULL;
    if (cw_cache_new(&c, &o) != CW_OK) return NULL;
    if (cw_cache_setup(c, "mem://", NULL, NULL) != CW_OK) {
        cw_cache_free(c);
        return NULL;
    }
    return c;
}

/* Wait (real time, up to 3 s) until @key holds @want: background refreshes land. */
static inline int helper_wait_value(cw_cache *c, const char *key, const char *want)
{
    cw_value v = { 0 };
    int ok = 0;
    for (int i = 0; i < 3000 && !ok; i++) {
        if (cw_get(c, key, &v) == CW_OK && v.len == strlen(want) && memcmp(v.data, want, v.len) == 0) ok = 1;
        else helper_sleep_ms(1);
    }
    cw_value_free(&v);
    return ok;
}

#define CHECK_CALL_VAL(f, v, want, ...) do { CHECK_OK(CW_CALL((f), &(v), __VA_ARGS__)); CHECK_VAL((v), (want)); } while (0)

#endif
