/*
 * http.c - the HTTP helper (include/cashews/http.h): the seed's CacheEtagMiddleware,
 * CacheRequestControlMiddleware and CacheDeleteMiddleware as calls a C server makes around
 * its handler, with no HTTP library underneath.
 *
 * An exchange goes begin -> run -> headers:
 *
 *   begin  reads Cache-Control, Clear-Site-Data and If-None-Match and picks a mode: normal,
 *          refresh (no-cache, max-age too old: cached functions skip their reads through
 *          invalidate_further), no-store (GET and SET disabled on the thread, as the seed
 *          does), clear (refresh, then delete what the handler's calls used), or pass
 *          (methods other than GET and HEAD). In normal mode it reads the target's record
 *          (below) and, for If-None-Match or a cached stream, hashes what the record's key
 *          holds now: a match is a 304 without the handler.
 *   run    opens a detect scope and the mode's scope on the calling thread, runs the handler,
 *          closes them, and reads the detector: the first successful call names the key
 *          behind the response, the first hit gives X-From-Cache. The body's hash is the
 *          ETag; Cache-Control comes from the key's TTL.
 *
 * The record, "<prefix>:res:<target>" -> "<kind> <stored_at_ms> <key>" (kind v: a value,
 * s: an iterator's stream), is what lets begin know a resource before its handler runs. It
 * is written when a handler stored a fresh value (or served one the record did not know),
 * with the key's TTL, so that it lives as long as what it describes. A stale record is
 * harmless: every 304 before the handler is decided on what the key holds at that moment.
 *
 * A stream's ETag must leave with the headers, before the body. begin hashes the cached
 * chunks (the iterator keeps KEY = the count, KEY:0.. the chunks, docs/STRATEGIES.md) and
 * announces that tag; cw_http_iterate() hashes what is replayed, and when the two differ
 * (the cache changed between) and the chunks in the cache no longer hash to the announced
 * tag either, the action becomes ABORT so that the server cuts the response.
 */
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>

#include "contrib/http_int.h"

#define MAX_HEADERS 8
/* Targets longer than this are recorded under their hash, keeping keys short. */
#define MAX_TARGET_IN_KEY 200
/* The most chunks begin hashes for a stream's ETag (more: no ETag announced). */
#define MAX_STREAM_CHUNKS 100000

struct cw_http {
    cw_cache *c;
    char *prefix;
    cw_http_visibility visibility;
    unsigned disable;
    EVP_MD *md; /* SHA-256, fetched once */
};

enum mode { M_PASS, M_NORMAL, M_REFRESH, M_NO_STORE, M_CLEAR };

struct cw_http_exchange {
    cw_http *h;
    enum mode mode;
    cw_http_action action;
    int ran, in_run;
    cw_http_cache_control cc;
    char *inm; /* If-None-Match, copied; NULL when absent */
    size_t inm_len;
    char *rec_key; /* "<prefix>:res:<target>"; NULL without a target */
    int rec_found;
    char rec_kind; /* 'v' or 's' */
    int64_t rec_stored_at;
    char *rec_data;                      /* the key the record names */
    char announced[CW_HTTP_ETAG_SIZE];   /* a cached stream's ETag sent by begin; "" none */
    cw__http_hash body;                  /* the body's (or replayed stream's) hash */
    int hashing, streamed;
    cw_detector det;
    cw_http_exchange *outer; /* the thread's exchange around this one's run */
    size_t nh;
    cw_http_header hdr[MAX_HEADERS];
    char *hv[MAX_HEADERS];
};

/* The exchange whose handler this thread is running, for cw_http_ttl_fn (the seed keeps
 * the request's max-age in a context variable for the same reason). Thread-local, like the
 * cached functions' own scopes (src/strategies/context.c). */
static _Thread_local cw_http_exchange *current;

/* ---- the helper ---- */

cw_status cw_http_new(cw_http **out, cw_cache *c, const cw_http_options *o)
{
    if (!out) return CW_EINVAL;
    *out = NULL;
    if (!c) return CW_EINVAL;
    cw_http_options d = { 0 };
    if (!o) o = &d;
    if (o->prefix && !*o->prefix) return cw__fail(c, CW_EINVAL, "http: empty prefix");
    if ((unsigned)o->visibility > CW_HTTP_NO_STORE)
        return cw__fail(c, CW_EINVAL, "http: unknown visibility %d", (int)o->visibility);
    cw_http *h = cw_calloc(1, sizeof *h);
    if (!h) return cw__fail(c, CW_ENOMEM, "out of memory");
    h->c = c;
    h->visibility = o->visibility;
    h->disable = o->disable;
    const char *prefix = o->prefix ? o->prefix : "http";
    h->prefix = cw_malloc(strlen(prefix) + 1);
    h->md = EVP_MD_fetch(NULL, "SHA256", NULL);
    if (!h->prefix || !h->md) {
        cw_http_free(h);
        return cw__fail(c, CW_ENOMEM, "http: out of memory (or no SHA-256 in OpenSSL)");
    }
    memcpy(h->prefix, prefix, strlen(prefix) + 1);
    *out = h;
    return CW_OK;
}

void cw_http_free(cw_http *h)
{
    if (!h) return;
    EVP_MD_free(h->md);
    cw_free(h->prefix);
    cw_free(h);
}

/* ---- response headers ---- */

static void headers_reset(cw_http_exchange *x)
{
    for (size_t i = 0; i < x->nh; i++) cw_free(x->hv[i]);
    x->nh = 0;
}

/* Add a header; a failed allocation drops it (the response is still right without it). */
#ifdef __GNUC__
__attribute__((format(printf, 3, 4)))
#endif
static void header_add(cw_http_exchange *x, const char *name, const char *fmt, ...)
{
    if (x->nh == MAX_HEADERS) return;
    char small[128]; /* every value but a long key fits: format once */
    va_list ap;
    va_start(ap, fmt);
    int n = vsnprintf(small, sizeof small, fmt, ap);
    va_end(ap);
    char *v = n >= 0 ? cw_malloc((size_t)n + 1) : NULL;
    if (!v) return;
    if ((size_t)n < sizeof small) {
        memcpy(v, small, (size_t)n + 1);
    } else {
        va_start(ap, fmt);
        vsnprintf(v, (size_t)n + 1, fmt, ap);
        va_end(ap);
    }
    x->hv[x->nh] = v;
    x->hdr[x->nh] = (cw_http_header){ name, v };
    x->nh++;
}

/* A key as a header value: control characters and '%' percent-encoded, so that a key built
 * from request data cannot end the header (CR LF) or smuggle another. */
static void header_add_key(cw_http_exchange *x, const char *name, const char *key)
{
    size_t n = 0;
    for (const unsigned char *p = (const unsigned char *)key; *p; p++) n += *p < 0x20 || *p == 0x7F || *p == '%' ? 3 : 1;
    char *v = cw_malloc(n + 1);
    if (!v) return;
    char *w = v;
    for (const unsigned char *p = (const unsigned char *)key; *p; p++) {
        if (*p < 0x20 || *p == 0x7F || *p == '%') w += sprintf(w, "%%%02X", *p);
        else *w++ = (char)*p;
    }
    *w = 0;
    header_add(x, name, "%s", v);
    cw_free(v);
}

/* Cache-Control for a response whose key has @left_ms to live (-1: no expiry, -2: not
 * cached). */
static void header_cache_control(cw_http_exchange *x, int64_t left_ms)
{
    const cw_http *h = x->h;
    if (h->disable & CW_HTTP_NO_CACHE_CONTROL) return;
    if (h->visibility == CW_HTTP_NO_STORE || x->mode == M_NO_STORE)
        header_add(x, "Cache-Control", "no-store");
    else if (left_ms > 0)
        header_add(x, "Cache-Control", "%s, max-age=%lld", h->visibility == CW_HTTP_PUBLIC ? "public" : "private",
                   (long long)(left_ms / 1000));
    else
        header_add(x, "Cache-Control", "no-cache");
}

static void header_from_cache(cw_http_exchange *x, const char *key, int64_t left_ms)
{
    if (x->h->disable & CW_HTTP_NO_FROM_CACHE) return;
    header_add_key(x, "X-From-Cache", key);
    header_add(x, "X-From-Cache-Expire-In-Seconds", "%lld", (long long)(left_ms < 0 ? -1 : left_ms / 1000));
}

/* ---- records ---- */

static char *record_key(const cw_http *h, const char *target)
{
    size_t tl = strlen(target), pl = strlen(h->prefix);
    char *k = cw_malloc(pl + 5 + (tl <= MAX_TARGET_IN_KEY ? tl : 33) + 1);
    if (!k) return NULL;
    memcpy(k, h->prefix, pl);
    memcpy(k + pl, ":res:", 5);
    if (tl <= MAX_TARGET_IN_KEY) {
        memcpy(k + pl + 5, target, tl + 1);
    } else {
        char tag[CW_HTTP_ETAG_SIZE];
        if (cw_http_etag_of(target, tl, tag)) {
            cw_free(k);
            return NULL;
        }
        k[pl + 5] = '#';
        memcpy(k + pl + 6, tag + 1, 32); /* the hex between the quotes */
        k[pl + 38] = 0;
    }
    return k;
}

/* Read the target's record into x->rec_*. A record that does not parse is absent. */
static void record_read(cw_http_exchange *x)
{
    cw_value v = { 0 };
    if (cw_get(x->h->c, x->rec_key, &v) != CW_OK) return;
    const char *p = (const char *)v.data;
    char *end = NULL;
    if (v.len > 4 && (p[0] == 'v' || p[0] == 's') && p[1] == ' ') {
        long long at = strtoll(p + 2, &end, 10);
        if (end && *end == ' ' && end[1] && (size_t)(end + 1 - p) < v.len) {
            size_t kl = v.len - (size_t)(end + 1 - p);
            x->rec_data = cw_malloc(kl + 1);
            if (x->rec_data) {
                memcpy(x->rec_data, end + 1, kl);
                x->rec_data[kl] = 0;
                x->rec_found = 1;
                x->rec_kind = p[0];
                x->rec_stored_at = at;
            }
        }
    }
    cw_value_free(&v);
}

static void record_write(cw_http_exchange *x, char kind, int64_t stored_at, const char *key, int64_t ttl_ms)
{
    char head[40];
    int n = snprintf(head, sizeof head, "%c %lld ", kind, (long long)stored_at);
    size_t kl = strlen(key);
    char *v = cw_malloc((size_t)n + kl);
    if (!v) return;
    memcpy(v, head, (size_t)n);
    memcpy(v + n, key, kl);
    cw_set(x->h->c, x->rec_key, v, (size_t)n + kl, ttl_ms); /* best effort, as every record */
    cw_free(v);
}

/* ---- what a key holds now ---- */

/* The number of chunks an iterator's marker @key records; -1 when absent or not a count. */
static long long stream_count(cw_cache *c, const char *key)
{
    cw_value v = { 0 };
    long long n = -1;
    if (cw_get(c, key, &v) == CW_OK && v.len && v.len < 20) {
        char *end = NULL;
        n = strtoll((const char *)v.data, &end, 10);
        if (!end || *end || n < 0) n = -1;
    }
    cw_value_free(&v);
    return n;
}

static char *chunk_key(const char *key, long long i)
{
    size_t kl = strlen(key);
    char *k = cw_malloc(kl + 24);
    if (k) snprintf(k, kl + 24, "%s:%lld", key, i);
    return k;
}

/* The ETag of what @key holds now (a value, or the chunks of a stream). CW_NOTFOUND when it
 * holds nothing whole. */
static cw_status current_etag(cw_http_exchange *x, char kind, const char *key, char etag[CW_HTTP_ETAG_SIZE])
{
    cw_cache *c = x->h->c;
    cw_value v = { 0 };
    cw__http_hash hh;
    cw_status st = CW_NOTFOUND;
    if (kind == 'v') {
        if (cw_get(c, key, &v) == CW_OK && !(st = cw__http_hash_start(&hh, x->h->md)) &&
            !(st = cw__http_hash_add(&hh, v.data, v.len)))
            st = cw__http_hash_end(&hh, etag);
        cw_value_free(&v);
        return st;
    }
    long long n = stream_count(c, key);
    if (n < 0 || n > MAX_STREAM_CHUNKS || cw__http_hash_start(&hh, x->h->md)) return CW_NOTFOUND;
    st = CW_OK;
    for (long long i = 0; i < n && !st; i++) {
        char *ck = chunk_key(key, i);
        st = !ck ? CW_ENOMEM : cw_get(c, ck, &v) != CW_OK ? CW_NOTFOUND : cw__http_hash_add(&hh, v.data, v.len);
        cw_free(ck);
    }
    cw_value_free(&v);
    if (st) {
        cw__http_hash_drop(&hh);
        return st;
    }
    return cw__http_hash_end(&hh, etag);
}

static int64_t left_ms(cw_cache *c, const char *key)
{
    int64_t left = -2;
    if (cw_get_expire(c, key, &left) != CW_OK) left = -2;
    return left;
}

/* ---- begin ---- */

static const char *request_header(const cw_http_request *rq, const char *name, size_t *len)
{
    *len = 0;
    if (!rq->header) return NULL;
    size_t n = 0;
    const char *v = rq->header(rq->header_ud, name, &n);
    if (v) *len = n;
    return v;
}

/* Normal mode with a record: hash what its key holds now; answer 304 when If-None-Match
 * matches it, and announce a stream's tag. */
static void begin_from_record(cw_http_exchange *x)
{
    char etag[CW_HTTP_ETAG_SIZE];
    if (!x->rec_found || (!x->inm && x->rec_kind != 's')) return;
    if (current_etag(x, x->rec_kind, x->rec_data, etag) != CW_OK) return;
    int64_t left = left_ms(x->h->c, x->rec_data);
    if (left == -2) return; /* gone since */
    if (x->inm && cw_http_etag_matches(x->inm, x->inm_len, etag)) x->action = CW_HTTP_NOT_MODIFIED;
    else if (x->rec_kind == 's') memcpy(x->announced, etag, sizeof etag);
    else return;
    header_add(x, "ETag", "%s", etag);
    header_cache_control(x, left);
    header_from_cache(x, x->rec_data, left);
}

cw_status cw_http_begin(cw_http *h, const cw_http_request *rq, cw_http_exchange **out)
{
    if (!out) return CW_EINVAL;
    *out = NULL;
    if (!h || !rq) return CW_EINVAL;
    cw_http_exchange *x = cw_calloc(1, sizeof *x);
    if (!x) return cw__fail(h->c, CW_ENOMEM, "out of memory");
    x->h = h;
    x->cc.max_age_s = -1;
    const char *m = rq->method ? rq->method : "GET";
    *out = x;
    if (strcmp(m, "GET") != 0 && strcmp(m, "HEAD") != 0) {
        x->mode = M_PASS;
        return CW_OK;
    }
    x->mode = M_NORMAL;
    size_t len;
    const char *v;
    if (!(h->disable & CW_HTTP_NO_REQUEST_CONTROL)) {
        v = request_header(rq, "Cache-Control", &len);
        cw_http_parse_cache_control(v, len, &x->cc);
        if (x->cc.no_store) x->mode = M_NO_STORE;
        else if (x->cc.no_cache || x->cc.max_age_s == 0) x->mode = M_REFRESH;
    }
    if (!(h->disable & CW_HTTP_NO_CLEAR) && (v = request_header(rq, "Clear-Site-Data", &len)) != NULL &&
        cw_http_clears_cache(v, len))
        x->mode = M_CLEAR;
    if (!(h->disable & CW_HTTP_NO_ETAG) && (v = request_header(rq, "If-None-Match", &len)) != NULL) {
        if (!(x->inm = cw_malloc(len + 1))) goto nomem;
        memcpy(x->inm, v, len);
        x->inm[len] = 0;
        x->inm_len = len;
    }
    if (rq->target && !(x->rec_key = record_key(h, rq->target))) goto nomem;
    if (x->mode == M_NORMAL && x->rec_key) record_read(x);
    /* max-age=N: serve nothing older than N seconds; without a record the age is unknown */
    if (x->mode == M_NORMAL && x->cc.max_age_s > 0 &&
        (!x->rec_found || cw_cache_now_ms(h->c) - x->rec_stored_at > x->cc.max_age_s * 1000))
        x->mode = M_REFRESH;
    if (x->mode == M_NORMAL && !(h->disable & CW_HTTP_NO_ETAG)) begin_from_record(x);
    return CW_OK;
nomem:
    cw_http_exchange_free(x);
    *out = NULL;
    return cw__fail(h->c, CW_ENOMEM, "out of memory");
}

/* ---- run ---- */

/* Delete the keys the handler's calls used (a stream's chunks too) and the record. */
static uint64_t clear_keys(cw_http_exchange *x)
{
    cw_cache *c = x->h->c;
    uint64_t n = 0;
    for (size_t i = 0; i < x->det.ncalls; i++) {
        const cw_detect_call *dc = &x->det.calls[i];
        if (strcmp(dc->strategy, "iterator") == 0) {
            long long chunks = stream_count(c, dc->key);
            for (long long j = 0; j < chunks && j < MAX_STREAM_CHUNKS; j++) {
                char *ck = chunk_key(dc->key, j);
                if (ck) cw_delete(c, ck);
                cw_free(ck);
            }
        }
        if (cw_delete(c, dc->key) == CW_OK) n++;
    }
    if (x->rec_key) cw_delete(c, x->rec_key);
    return n;
}

/* Write the record when it does not say this already: a fresh value was stored, or the
 * record was missing or named another key. */
static void record_update(cw_http_exchange *x, const cw_detect_call *call, int64_t left)
{
    if (!x->rec_key || left == -2 || left == 0 || x->mode == M_NO_STORE) return;
    char kind = strcmp(call->strategy, "iterator") == 0 ? 's' : 'v';
    if (call->from_cache && x->rec_found && x->rec_kind == kind && strcmp(x->rec_data, call->key) == 0) return;
    int64_t now = cw_cache_now_ms(x->h->c), at = now;
    if (call->from_cache) {
        /* served a value the record did not know: estimate when it was stored from the TTL
         * it has left; unknown is "long ago", so that max-age requests refresh it */
        at = call->ttl_ms > 0 && left > 0 && left <= call->ttl_ms ? now - (call->ttl_ms - left) : 0;
    }
    record_write(x, kind, at, call->key, left > 0 ? left : CW_NO_EXPIRY);
}

/* A replayed stream against the tag begin announced. */
static void verify_stream(cw_http_exchange *x)
{
    char got[CW_HTTP_ETAG_SIZE], now_tag[CW_HTTP_ETAG_SIZE];
    if (!x->announced[0]) return;
    if (cw__http_hash_end(&x->body, got) == CW_OK && strcmp(got, x->announced) == 0) return;
    /* A codec stores other bytes than it replays; then the cache itself must still hold
     * what was announced. */
    if (current_etag(x, 's', x->rec_data, now_tag) == CW_OK && strcmp(now_tag, x->announced) == 0) return;
    x->action = CW_HTTP_ABORT;
}

static void finish(cw_http_exchange *x, int rc)
{
    cw_cache *c = x->h->c;
    const cw_detect_call *call = NULL;
    for (size_t i = 0; i < x->det.ncalls && !call; i++)
        if (x->det.calls[i].status == CW_OK) call = &x->det.calls[i];
    if (x->streamed) {
        /* the headers left with begin's; only the stream's check and its record remain */
        verify_stream(x);
        if (rc == 0 && call && x->action == CW_HTTP_SERVE && x->mode != M_CLEAR)
            record_update(x, call, left_ms(c, call->key));
        if (x->mode == M_CLEAR) clear_keys(x);
        return;
    }
    headers_reset(x);
    char etag[CW_HTTP_ETAG_SIZE] = "";
    if (x->hashing && cw__http_hash_end(&x->body, etag) != CW_OK) etag[0] = 0;
    if (rc != 0) return;
    if (x->mode == M_PASS) return;
    if (x->mode == M_CLEAR) {
        uint64_t n = clear_keys(x);
        header_cache_control(x, -2);
        header_add(x, "X-Cache-Cleared", "%llu", (unsigned long long)n);
    } else {
        int64_t left = call && x->mode != M_NO_STORE ? left_ms(c, call->key) : -2;
        header_cache_control(x, left);
        const cw_detect_call *hit = cw_detector_first_hit(&x->det);
        if (hit && hit->status == CW_OK) header_from_cache(x, hit->key, hit == call ? left : left_ms(c, hit->key));
        if (call) record_update(x, call, left);
    }
    if (etag[0]) {
        header_add(x, "ETag", "%s", etag);
        if (x->inm && cw_http_etag_matches(x->inm, x->inm_len, etag)) x->action = CW_HTTP_NOT_MODIFIED;
    }
}

cw_status cw_http_run(cw_http_exchange *x, cw_http_handler_fn fn, void *ud, int *rc)
{
    if (!x || !fn) return CW_EINVAL;
    cw_cache *c = x->h->c;
    if (x->ran || x->action != CW_HTTP_SERVE)
        return cw__fail(c, CW_ESTATE, "http: the exchange has run, or its action is not to serve");
    cw_status st = CW_OK;
    int scoped = x->mode != M_PASS;
    if (scoped && (st = cw_detect_begin(c, &x->det)) != CW_OK) return st;
    if (x->mode == M_REFRESH || x->mode == M_CLEAR) st = cw_invalidate_further_begin(c);
    else if (x->mode == M_NO_STORE) st = cw_disabling_begin(c, CW_CMD_BIT(CW_CMD_GET) | CW_CMD_BIT(CW_CMD_SET));
    if (st) {
        if (scoped) cw_detect_end(c);
        return st;
    }
    x->ran = 1;
    x->outer = current;
    current = x;
    x->in_run = 1;
    int r = fn(ud, x);
    x->in_run = 0;
    current = x->outer;
    if (x->mode == M_REFRESH || x->mode == M_CLEAR) cw_invalidate_further_end(c);
    else if (x->mode == M_NO_STORE) cw_disabling_end(c);
    if (scoped) cw_detect_end(c);
    if (rc) *rc = r;
    finish(x, r);
    return CW_OK;
}

cw_status cw_http_body(cw_http_exchange *x, const void *data, size_t len)
{
    if (!x || (len && !data)) return CW_EINVAL;
    if (!x->in_run) return cw__fail(x->h->c, CW_ESTATE, "http: cw_http_body() outside cw_http_run()");
    if (x->h->disable & CW_HTTP_NO_ETAG) return CW_OK;
    if (!x->hashing) {
        cw_status st = cw__http_hash_start(&x->body, x->h->md);
        if (st) return st;
        x->hashing = 1;
    }
    return cw__http_hash_add(&x->body, data, len);
}

typedef struct relay {
    cw_http_exchange *x;
    cw_chunk_fn fn;
    void *ud;
} relay;

static int relay_chunk(void *ud, const void *chunk, size_t len)
{
    relay *r = ud;
    cw__http_hash_add(&r->x->body, chunk, len); /* a failed hash only costs the check */
    return r->fn(r->ud, chunk, len);
}

int cw_http_iterate(cw_http_exchange *x, cw_func *f, const cw_arg *args, size_t nargs, cw_chunk_fn fn, void *ud)
{
    if (!x) return cw_func_iterate(f, args, nargs, fn, ud);
    if (!fn) return CW_EINVAL;
    if (!x->in_run) return cw__fail(x->h->c, CW_ESTATE, "http: cw_http_iterate() outside cw_http_run()");
    if (!x->hashing) {
        cw_status st = cw__http_hash_start(&x->body, x->h->md);
        if (st) return st;
        x->hashing = 1;
    }
    x->streamed = 1;
    relay r = { x, fn, ud };
    return cw_func_iterate(f, args, nargs, relay_chunk, &r);
}

cw_http_action cw_http_exchange_action(const cw_http_exchange *x) { return x ? x->action : CW_HTTP_SERVE; }

const cw_http_header *cw_http_headers(const cw_http_exchange *x, size_t *n)
{
    if (!n) return NULL;
    *n = x ? x->nh : 0;
    return *n ? x->hdr : NULL;
}

void cw_http_exchange_free(cw_http_exchange *x)
{
    if (!x) return;
    headers_reset(x);
    cw__http_hash_drop(&x->body);
    cw_detector_free(&x->det);
    cw_free(x->inm);
    cw_free(x->rec_key);
    cw_free(x->rec_data);
    cw_free(x);
}

/* ---- cache_control_ttl ---- */

cw_status cw_http_ttl_fn(void *ud, const cw_arg *args, size_t nargs, int64_t *ttl_ms)
{
    (void)args;
    (void)nargs;
    const cw_http_ttl *t = ud;
    if (!t || !ttl_ms || (t->default_ms <= 0 && t->default_ms != CW_NO_EXPIRY)) return CW_EINVAL;
    *ttl_ms = t->default_ms;
    const cw_http_exchange *x = current;
    if (!x || x->cc.max_age_s <= 0) return CW_OK;
    int64_t want = x->cc.max_age_s * 1000, bound = t->max_ms ? t->max_ms : t->default_ms;
    *ttl_ms = bound == CW_NO_EXPIRY || want < bound ? want : bound;
    return CW_OK;
}
