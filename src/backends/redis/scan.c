/*
 * scan.c - SCAN-based commands: scan / get_match, delete_match, and clear / keys_count when
 * the cache owns only part of the database (a prefix). Patterns go to Redis as they are
 * (Redis globs are our globs); the client-side prefix and the scope prefix are prepended with
 * their glob characters escaped.
 */
#include <stdio.h>
#include <string.h>

#include <hiredis/hiredis.h>
#include <openssl/evp.h>

#include "backends/redis/redis_int.h"

#include "backends/redis/xxh.h"

/* A key's glob made literal (for the client-side prefix and the scope prefix). */
static size_t glob_escape(const char *s, size_t n, char *dst)
{
    size_t k = 0;
    for (size_t i = 0; i < n; i++) {
        if (s[i] == '*' || s[i] == '?' || s[i] == '[' || s[i] == ']' || s[i] == '\\')
            dst[k++] = '\\';
        dst[k++] = s[i];
    }
    return k;
}

/* The full pattern for SCAN: escaped client-side prefix, escaped @lit, then @pat. */
static char *make_pattern(rd_backend *b, const char *lit, size_t litlen, const char *pat,
                          size_t plen, size_t *outlen)
{
    char *p = cw_malloc(2 * (b->kplen + litlen) + plen + 1);
    if (!p) return NULL;
    size_t k = glob_escape(b->kp, b->kplen, p);
    k += glob_escape(lit, litlen, p + k);
    memcpy(p + k, pat, plen);
    k += plen;
    p[k] = '\0';
    *outlen = k;
    return p;
}

/* ---- SCAN ------------------------------------------------------------------------------------
 * Redis's SCAN returns every key present for the whole iteration at least once, but may
 * return one more than once (when the table is resized between calls). Our contract says
 * never twice, so keys already seen are remembered, by a 128-bit hash each (a collision is
 * beyond astronomically unlikely), in an open-addressing set. Between batches the connection
 * goes back to the pool and the callbacks run with nothing held: they may call the cache. */

typedef struct seen_set {
    uint64_t *slots; /* pairs; (0,0) empty */
    size_t cap, n;   /* cap in pairs, a power of two */
} seen_set;

static void hash128(const char *k, size_t n, uint64_t h[2])
{
#ifdef CW_REDIS_HAVE_XXHASH
    XXH128_hash_t x = XXH3_128bits(k, n);
    h[0] = x.low64;
    h[1] = x.high64;
#else
    unsigned char md[EVP_MAX_MD_SIZE];
    unsigned int len = 0;
    EVP_Digest(k, n, md, &len, EVP_md5(), NULL);
    memcpy(h, md, 16);
#endif
    if (h[0] == 0 && h[1] == 0) h[1] = 1;
}

/* 1 when newly added, 0 when seen before, -1 on ENOMEM. */
static int seen_add(seen_set *s, const char *k, size_t n)
{
    if ((s->n + 1) * 4 > s->cap * 3) {
        size_t ncap = s->cap ? s->cap * 2 : 256;
        uint64_t *ns = cw_calloc(ncap, 2 * sizeof *ns);
        if (!ns) return -1;
        for (size_t i = 0; i < s->cap; i++) {
            uint64_t a = s->slots[2 * i], c = s->slots[2 * i + 1];
            if (!a && !c) continue;
            size_t j = (size_t)a & (ncap - 1);
            while (ns[2 * j] || ns[2 * j + 1]) j = (j + 1) & (ncap - 1);
            ns[2 * j] = a;
            ns[2 * j + 1] = c;
        }
        cw_free(s->slots);
        s->slots = ns;
        s->cap = ncap;
    }
    uint64_t h[2];
    hash128(k, n, h);
    size_t j = (size_t)h[0] & (s->cap - 1);
    while (s->slots[2 * j] || s->slots[2 * j + 1]) {
        if (s->slots[2 * j] == h[0] && s->slots[2 * j + 1] == h[1]) return 0;
        j = (j + 1) & (s->cap - 1);
    }
    s->slots[2 * j] = h[0];
    s->slots[2 * j + 1] = h[1];
    s->n++;
    return 1;
}

/* What a SCAN loop does with each batch. */
typedef enum { SCAN_VISIT, SCAN_DELETE, SCAN_COUNT } scan_kind;

typedef struct scan_job {
    scan_kind kind;
    const char *pattern; /* full, with the client-side prefix */
    size_t plen;
    size_t batch;
    int with_values;
    cw_scan_fn fn;
    void *ud;
    uint64_t count; /* deleted or counted */
} scan_job;

static cw_status scan_run(rd_backend *b, rd_call *call, scan_job *job)
{
    char cursor[32] = "0";
    seen_set seen = { 0 };
    cw_value val = { 0 };
    cw_status st = CW_OK;
    bool stop = false;
    do {
        st = rd_begin(b, call);
        if (st != CW_OK) break;
        rd_cmd(call->c, 6);
        rd_arg(call->c, "SCAN", 4);
        rd_arg_str(call->c, cursor);
        rd_arg(call->c, "MATCH", 5);
        rd_arg(call->c, job->pattern, job->plen);
        rd_arg(call->c, "COUNT", 5);
        rd_arg_u64(call->c, job->batch);
        rd_reply *r = NULL, *r2 = NULL;
        st = rd_roundtrip(call, 1, &r);
        if (st == CW_OK && (r->type != REDIS_REPLY_ARRAY || r->elements != 2 ||
                            r->element[0]->type != REDIS_REPLY_STRING ||
                            r->element[0]->len >= sizeof cursor ||
                            r->element[1]->type != REDIS_REPLY_ARRAY)) {
            st = rd_reply_error(call, r, "SCAN");
        }
        rd_reply *keys = st == CW_OK ? r->element[1] : NULL;
        if (st == CW_OK && keys->elements && job->kind != SCAN_COUNT &&
            (job->kind == SCAN_DELETE || job->with_values)) {
            /* Second round trip on the same connection: the batch's values, or its removal. */
            rd_cmd(call->c, 1 + keys->elements);
            if (job->kind == SCAN_DELETE) rd_arg(call->c, "UNLINK", 6);
            else rd_arg(call->c, "MGET", 4);
            for (size_t i = 0; i < keys->elements; i++)
                rd_arg(call->c, keys->element[i]->str, keys->element[i]->len);
            st = rd_roundtrip(call, 1, &r2);
            if (st == CW_OK && job->kind == SCAN_DELETE && r2->type != REDIS_REPLY_INTEGER)
                st = rd_reply_error(call, r2, "UNLINK");
            if (st == CW_OK && job->kind == SCAN_VISIT &&
                (r2->type != REDIS_REPLY_ARRAY || r2->elements != keys->elements))
                st = rd_reply_error(call, r2, "MGET");
        }
        rd_end(call);
        if (st == CW_OK) {
            memcpy(cursor, r->element[0]->str, r->element[0]->len);
            cursor[r->element[0]->len] = '\0';
            if (job->kind == SCAN_DELETE) {
                if (r2) job->count += (uint64_t)r2->integer;
            } else {
                for (size_t i = 0; i < keys->elements && st == CW_OK && !stop; i++) {
                    rd_reply *k = keys->element[i];
                    int fresh = seen_add(&seen, k->str, k->len);
                    if (fresh < 0) {
                        st = cw_backend_fail(CW_ENOMEM, "redis: out of memory");
                        break;
                    }
                    if (!fresh || k->len < b->kplen) continue;
                    if (job->kind == SCAN_COUNT) {
                        job->count++;
                        continue;
                    }
                    const char *uk = k->str + b->kplen;
                    size_t uklen = k->len - b->kplen;
                    if (job->with_values) {
                        rd_reply *v = r2->element[i];
                        if (v->type != REDIS_REPLY_STRING) continue; /* gone, or not a string */
                        cw_status s = rd_stored_to_value(b, uk, uklen, v->str, v->len, &val);
                        if (s == CW_NOTFOUND) continue;
                        if (s != CW_OK) {
                            st = s;
                            break;
                        }
                        stop = job->fn(job->ud, uk, uklen, val.data, val.len) != 0;
                    } else {
                        stop = job->fn(job->ud, uk, uklen, NULL, 0) != 0;
                    }
                }
            }
        }
        rd_reply_free(r);
        rd_reply_free(r2);
    } while (st == CW_OK && !stop && strcmp(cursor, "0") != 0);
    cw_free(seen.slots);
    cw_value_free(&val);
    return st;
}

/* Run job over the keys matching lit (literal text) then pat (a glob), under the key prefix. */
static cw_status scan_matching(rd_backend *b, rd_call *call, scan_job *job, const char *lit, size_t litlen,
                               const char *pat, size_t plen)
{
    char *full = make_pattern(b, lit, litlen, pat, plen, &job->plen);
    if (!full) {
        *call = (rd_call){ .b = b }; /* not an I/O failure: rd_soften() keeps the status */
        return cw_backend_fail(CW_ENOMEM, "redis: out of memory");
    }
    job->pattern = full;
    cw_status st = scan_run(b, call, job);
    cw_free(full);
    return st;
}

cw_status rd_op_scan(cw_backend *bb, const char *pattern, size_t plen, size_t batch,
                         int with_values, cw_scan_fn fn, void *ud)
{
    rd_backend *b = (rd_backend *)bb;
    scan_job job = { SCAN_VISIT, NULL, 0, batch ? batch : 100, with_values, fn, ud, 0 };
    rd_call call;
    cw_status st = scan_matching(b, &call, &job, "", 0, pattern, plen);
    return rd_soften(b, &call, st, CW_OK);
}

cw_status rd_op_delete_match(cw_backend *bb, const char *pattern, size_t plen, uint64_t *deleted)
{
    rd_backend *b = (rd_backend *)bb;
    scan_job job = { SCAN_DELETE, NULL, 0, 500, 0, NULL, NULL, 0 };
    rd_call call;
    cw_status st = scan_matching(b, &call, &job, "", 0, pattern, plen);
    if (b->cs) rd_cs_flush(b);
    if (deleted) *deleted = job.count;
    return rd_soften(b, &call, st, CW_NOTSTORED);
}

/* The cache's own keys: everything under the client-side prefix and the prefix parameter. */
static bool scoped(const rd_backend *b)
{
    return b->kplen > 0 || (b->cfg.scope_prefix && b->cfg.scope_prefix[0]);
}

/* Run job over the cache's own keys: the pattern "<scope prefixes>*". */
static cw_status scan_scope(rd_backend *b, rd_call *call, scan_job *job)
{
    const char *sp = b->cfg.scope_prefix ? b->cfg.scope_prefix : "";
    return scan_matching(b, call, job, sp, strlen(sp), "*", 1);
}

/* One argument-less command over the whole database (FLUSHDB, DBSIZE); its reply in *r. */
static cw_status whole_db(rd_backend *b, rd_call *call, const char *cmd, rd_reply **r)
{
    cw_status st = rd_begin(b, call);
    if (st != CW_OK) return st;
    rd_cmd(call->c, 1);
    rd_arg_str(call->c, cmd);
    st = rd_roundtrip(call, 1, r);
    rd_end(call);
    return st;
}

cw_status rd_op_clear(cw_backend *bb)
{
    rd_backend *b = (rd_backend *)bb;
    rd_call call;
    cw_status st;
    if (scoped(b)) {
        scan_job job = { SCAN_DELETE, NULL, 0, 500, 0, NULL, NULL, 0 };
        st = scan_scope(b, &call, &job);
    } else if (!b->cfg.allow_flushdb) {
        /* The database may hold other applications' keys: FLUSHDB only when asked for. */
        return cw_backend_fail(CW_ENOTSUP, "redis: clear without prefix= would FLUSHDB the "
                               "whole database, other applications' keys too; set prefix= "
                               "or allow_flushdb=1");
    } else {
        rd_reply *r;
        st = whole_db(b, &call, "FLUSHDB", &r);
        if (st == CW_OK) {
            if (r->type != REDIS_REPLY_STATUS) st = rd_reply_error(&call, r, "FLUSHDB");
            rd_reply_free(r);
        }
    }
    if (b->cs) rd_cs_flush(b);
    return rd_soften(b, &call, st, CW_NOTSTORED);
}

cw_status rd_op_keys_count(cw_backend *bb, uint64_t *count)
{
    rd_backend *b = (rd_backend *)bb;
    rd_call call;
    cw_status st;
    *count = 0;
    if (scoped(b)) {
        scan_job job = { SCAN_COUNT, NULL, 0, 1000, 0, NULL, NULL, 0 };
        st = scan_scope(b, &call, &job);
        if (st == CW_OK) *count = job.count;
    } else {
        rd_reply *r;
        st = whole_db(b, &call, "DBSIZE", &r);
        if (st == CW_OK) {
            if (r->type == REDIS_REPLY_INTEGER) *count = (uint64_t)r->integer;
            else st = rd_reply_error(&call, r, "DBSIZE");
            rd_reply_free(r);
        }
    }
    return rd_soften(b, &call, st, CW_OK);
}
