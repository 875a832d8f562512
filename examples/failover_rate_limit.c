/*
 * failover_rate_limit.c - protect an upstream API with a rate limit, and keep answering with
 * the last good value while the limit holds (two strategies stacked, as the seed's
 * decorators stack).
 *
 *   ./failover_rate_limit [URL]     (default mem://; any backend works)
 *
 * The inner function lets at most 3 calls a minute reach the upstream (a sliding window over
 * every id: the upstream's quota is global); the outer failover stores every good answer and,
 * when the inner one says CW_ERATELIMIT, serves the stored answer instead. An id that was
 * never fetched has nothing to fall back on: its caller gets CW_ERATELIMIT.
 */
#include <stdio.h>
#include <string.h>

#include <cashews.h>

/* The upstream: a price service with a quota. Counts its calls. */
static int fetch_price(void *ud, const cw_arg *args, size_t nargs, cw_value *out)
{
    (void)nargs;
    int *calls = ud;
    ++*calls;
    char buf[64];
    int n = snprintf(buf, sizeof buf, "item %lld costs %d.99 (upstream call %d)", (long long)args[0].v.i,
                     (int)(args[0].v.i * 3), *calls);
    return cw_value_set(out, buf, (size_t)n);
}

int main(int argc, char **argv)
{
    cw_cache *c = NULL;
    char err[CW_ERRMSG_SIZE] = "";
    if (cw_cache_new(&c, NULL) != CW_OK || cw_cache_setup(c, argc > 1 ? argv[1] : "mem://", NULL, err) != CW_OK) {
        fprintf(stderr, "setup: %s\n", err);
        return 1;
    }
    int calls = 0;
    /* @cache.slice_rate_limit(limit=3, period="1m") */
    cw_func *limited = CW_FUNC(c, fetch_price, .loader_ud = &calls, .args = "id", .key = "upstream",
                               .strategy = CW_SLICE_RATE_LIMIT, .limit = 3, .period = "1m");
    /* @cache.failover(ttl="10m", exceptions=[RateLimitError]) around it */
    static const int limited_errors[] = { CW_ERATELIMIT };
    cw_func *price = cw_func_make(c, &(cw_func_options){ .strategy = CW_FAILOVER, .wraps = limited,
                                                          .args = "id", .key = "price:{id}", .ttl = "10m",
                                                          .errors = limited_errors, .nerrors = 1 });
    if (!limited || !price) {
        fprintf(stderr, "cw_func: %s\n", cw_cache_errmsg(c));
        return 1;
    }

    cw_value v = { 0 };
    int rc = 0;
    static const int ids[] = { 1, 2, 3, 1, 2, 1, 4 };
    for (size_t i = 0; i < sizeof ids / sizeof *ids; i++) {
        int before = calls;
        int st = CW_CALL(price, &v, CW_ARG_INT(ids[i]));
        if (st == CW_OK)
            printf("price(%d): %-45.*s %s\n", ids[i], (int)v.len, (char *)v.data,
                   calls > before ? "from upstream" : "last good value (rate limited)");
        else
            printf("price(%d): %s (never fetched: nothing to fall back on)\n", ids[i], cw_strerror(st));
        /* what must happen: 3 upstream calls, then fallbacks, and id 4 is refused */
        if ((i < 3 && calls != before + 1) || (i >= 3 && calls != 3) ||
            (ids[i] == 4 ? st != CW_ERATELIMIT : st != CW_OK))
            rc = 1;
    }
    printf("upstream calls: %d of 7 requests\n", calls);
    cw_value_free(&v);
    cw_func_free(price);
    cw_func_free(limited);
    cw_cache_free(c);
    return rc;
}
