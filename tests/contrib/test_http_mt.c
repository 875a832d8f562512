/* test_http_mt.c - one HTTP helper shared by threads that serve requests at once (run under
 * ThreadSanitizer by make test): conditional requests, refreshes and clears racing on the
 * same targets. Every 304 must name the tag the client sent, every served body must carry
 * its own hash, and cw_http_ttl_fn must read each thread's own request. */
#include <pthread.h>
#include <stdatomic.h>
#include <strings.h>

#include "cw_test.h"

enum { THREADS = 4, REQUESTS = 400, USERS = 16 };

typedef struct shared {
    cw_cache *c;
    cw_http *h;
    cw_func *user;
    atomic_int loads;
    atomic_int failures;
    atomic_int not_modified;
} shared;

static const cw_http_ttl ttl_bounds = { CW_MINUTES(1), CW_MINUTES(10) };

static int load_user(void *ud, const cw_arg *args, size_t nargs, cw_value *out)
{
    shared *s = ud;
    int k = atomic_fetch_add(&s->loads, 1);
    char buf[64];
    int n = snprintf(buf, sizeof buf, "user %lld load %d", (long long)args[0].v.i, k);
    return cw_value_set(out, buf, (size_t)n);
}

typedef struct hdrs {
    const char *cc, *inm, *csd;
} hdrs;

static const char *get_header(void *ud, const char *name, size_t *len)
{
    const hdrs *h = ud;
    const char *v = strcasecmp(name, "Cache-Control") == 0   ? h->cc
                    : strcasecmp(name, "If-None-Match") == 0 ? h->inm
                    : strcasecmp(name, "Clear-Site-Data") == 0 ? h->csd
                                                               : NULL;
    if (v) *len = strlen(v);
    return v;
}

typedef struct req {
    shared *s;
    long long id;
    cw_value body;
} req;

static int handler(void *ud, cw_http_exchange *x)
{
    req *r = ud;
    int st = CW_CALL(r->s->user, &r->body, CW_ARG_INT(r->id));
    return st ? st : (int)cw_http_body(x, r->body.data, r->body.len);
}

static const char *header(const cw_http_exchange *x, const char *name)
{
    size_t n;
    const cw_http_header *h = cw_http_headers(x, &n);
    for (size_t i = 0; i < n; i++)
        if (strcmp(h[i].name, name) == 0) return h[i].value;
    return "";
}

static void *client(void *p)
{
    shared *s = p;
    uint64_t rng = (uint64_t)(uintptr_t)&rng;
    char tags[USERS][CW_HTTP_ETAG_SIZE] = { { 0 } };
    req r = { s, 0, { 0 } };
    for (int i = 0; i < REQUESTS; i++) {
        rng = rng * 6364136223846793005ull + 1442695040888963407ull;
        int u = (int)((rng >> 33) % USERS), what = (int)((rng >> 20) % 16);
        char target[32];
        snprintf(target, sizeof target, "/user/%d", u);
        hdrs h = { what == 0 ? "no-cache" : what == 1 ? "max-age=5" : NULL, tags[u][0] ? tags[u] : NULL,
                   what == 2 ? "\"cache\"" : NULL };
        cw_http_request rq = { .target = target, .header = get_header, .header_ud = &h };
        cw_http_exchange *x = NULL;
        int rc = 0, bad = 0;
        r.id = u;
        if (cw_http_begin(s->h, &rq, &x) != CW_OK) bad = 1;
        else if (cw_http_exchange_action(x) == CW_HTTP_SERVE && (cw_http_run(x, handler, &r, &rc) != CW_OK || rc))
            bad = 1;
        if (!bad && cw_http_exchange_action(x) == CW_HTTP_NOT_MODIFIED) {
            atomic_fetch_add(&s->not_modified, 1);
            bad = strcmp(header(x, "ETag"), tags[u]) != 0; /* a 304 confirms the tag sent */
        } else if (!bad) {
            char want[CW_HTTP_ETAG_SIZE];
            bad = cw_http_etag_of(r.body.data, r.body.len, want) != CW_OK || strcmp(header(x, "ETag"), want) != 0;
            memcpy(tags[u], want, sizeof want);
        }
        if (bad) {
            fprintf(stderr, "request %d for %s went wrong\n", i, target);
            atomic_fetch_add(&s->failures, 1);
        }
        cw_http_exchange_free(x);
    }
    cw_value_free(&r.body);
    return NULL;
}

static int threads_share_one_helper(void)
{
    shared s = { 0 };
    s.c = cw_test_cache("mem://", NULL);
    CHECK(s.c);
    CHECK_OK(cw_http_new(&s.h, s.c, NULL));
    s.user = CW_FUNC(s.c, load_user, .loader_ud = &s, .args = "id", .key = "user:{id}", .ttl_fn = cw_http_ttl_fn,
                     .ttl_ud = (void *)&ttl_bounds);
    CHECK(s.user);
    pthread_t t[THREADS];
    for (int i = 0; i < THREADS; i++) CHECK_EQ_INT(pthread_create(&t[i], NULL, client, &s), 0);
    for (int i = 0; i < THREADS; i++) pthread_join(t[i], NULL);
    CHECK_EQ_INT(atomic_load(&s.failures), 0);
    CHECK(atomic_load(&s.not_modified) > 0);
    CHECK(atomic_load(&s.loads) < THREADS * REQUESTS / 2); /* mostly served from the cache */
    cw_func_free(s.user);
    cw_http_free(s.h);
    cw_cache_free(s.c);
    return 0;
}

static const cw_test tests[] = {
    CW_TEST(threads_share_one_helper),
    { 0 },
};

int main(int argc, char **argv) { return cw_test_main(tests, argc, argv); }
