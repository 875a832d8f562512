/*
 * internal_cmds.c - the commands strategies use, on Redis's own types:
 *   bits (bloom filters)   SETBIT in a Lua script (TTL only on create), BITFIELD GET u1 reads
 *   bit-field counters     BITFIELD GET, and OVERFLOW SAT INCRBY in a MULTI (see below)
 *   sliding windows        a sorted set of instants, trimmed/counted/recorded by one script
 *   sets (tags)            SADD in a script (TTL rules), SREM, SPOP count
 * Keys carry the client-side prefix like every other key; set members do not (they are key
 * names the core stores as data).
 */
#include <stdio.h>
#include <string.h>

#include <hiredis/hiredis.h>

#include "backends/redis/redis_int.h"

/* Redis bit offsets stop at 2^32 - 1 (a 512 MiB string). */
#define MAX_BIT ((uint64_t)UINT32_MAX)

static cw_status check_bits(const uint64_t *idx, size_t n)
{
    for (size_t i = 0; i < n; i++)
        if (idx[i] > MAX_BIT)
            return cw_backend_fail(CW_EINVAL, "redis: bit index %llu is past Redis's 2^32 - 1",
                                   (unsigned long long)idx[i]);
    return CW_OK;
}

typedef struct bits_args {
    rd_backend *b;
    const char *key;
    size_t klen;
    const uint64_t *idx;
    size_t n;
    int64_t ttl;
} bits_args;

static void write_bits_args(rd_conn *c, void *ud)
{
    bits_args *a = ud;
    rd_arg(c, "1", 1);
    rd_arg_key(a->b, c, a->key, a->klen);
    rd_arg_i64(c, a->ttl);
    for (size_t i = 0; i < a->n; i++) rd_arg_u64(c, a->idx[i]);
}

cw_status rd_op_set_bits(cw_backend *bb, const char *key, size_t klen, const uint64_t *idx,
                         size_t n, int64_t ttl_ms)
{
    rd_backend *b = (rd_backend *)bb;
    cw_status st = check_bits(idx, n);
    if (st != CW_OK || n == 0) return st;
    rd_call call;
    st = rd_begin(b, &call);
    if (st != CW_OK) return rd_soften(b, &call, st, CW_NOTSTORED);
    bits_args a = { b, key, klen, idx, n, ttl_ms };
    rd_reply *r = NULL;
    st = rd_script(&call, RD_SCRIPT_SET_BITS, 3 + n, write_bits_args, &a, &r);
    rd_end(&call);
    if (st == CW_OK) {
        if (r->type == REDIS_REPLY_ERROR) st = rd_reply_error(&call, r, "SETBIT");
        rd_reply_free(r);
    }
    if (b->cs) rd_cs_invalidate(b, key, klen);
    return rd_soften(b, &call, st, CW_NOTSTORED);
}

cw_status rd_op_get_bits(cw_backend *bb, const char *key, size_t klen, const uint64_t *idx,
                         size_t n, uint8_t *bits_out)
{
    rd_backend *b = (rd_backend *)bb;
    cw_status st = check_bits(idx, n);
    if (st != CW_OK || n == 0) return st;
    rd_call call;
    st = rd_begin(b, &call);
    if (st == CW_OK) {
        /* One command for all the bits; an absent key reads as zeros. */
        rd_cmd(call.c, 2 + 3 * n);
        rd_arg(call.c, "BITFIELD", 8);
        rd_arg_key(b, call.c, key, klen);
        for (size_t i = 0; i < n; i++) {
            rd_arg(call.c, "GET", 3);
            rd_arg(call.c, "u1", 2);
            rd_arg_u64(call.c, idx[i]);
        }
        rd_reply *r;
        st = rd_roundtrip(&call, 1, &r);
        rd_end(&call);
        if (st == CW_OK) {
            if (r->type != REDIS_REPLY_ARRAY || r->elements != n) {
                st = rd_reply_error(&call, r, "BITFIELD");
            } else {
                for (size_t i = 0; i < n; i++)
                    bits_out[i] = r->element[i]->type == REDIS_REPLY_INTEGER &&
                                  r->element[i]->integer != 0;
            }
            rd_reply_free(r);
        }
    }
    if (st != CW_OK && call.io_failed && b->cfg.suppress) memset(bits_out, 0, n);
    return rd_soften(b, &call, st, CW_OK);
}

typedef struct slice_args {
    rd_backend *b;
    const char *key;
    size_t klen;
    int64_t start, now, max, ttl;
    char member[64];
} slice_args;

static void write_slice_args(rd_conn *c, void *ud)
{
    slice_args *a = ud;
    rd_arg(c, "1", 1);
    rd_arg_key(a->b, c, a->key, a->klen);
    rd_arg_i64(c, a->start);
    rd_arg_i64(c, a->now);
    rd_arg_i64(c, a->max);
    rd_arg_i64(c, a->ttl);
    rd_arg_str(c, a->member);
}

cw_status rd_op_slice_incr(cw_backend *bb, const char *key, size_t klen, int64_t start_ms,
                           int64_t now_ms, int64_t max_count, int64_t ttl_ms, int64_t *count)
{
    rd_backend *b = (rd_backend *)bb;
    rd_call call;
    cw_status st = rd_begin(b, &call);
    if (st != CW_OK) return rd_soften(b, &call, st, CW_NOTSTORED);
    /* Each recorded instant needs its own member: two calls in one millisecond are two hits. */
    slice_args a = { b, key, klen, start_ms, now_ms, max_count, ttl_ms, { 0 } };
    snprintf(a.member, sizeof a.member, "%lld:%016llx:%llu", (long long)now_ms,
             (unsigned long long)b->instance_id,
             (unsigned long long)atomic_fetch_add_explicit(&b->seq, 1, memory_order_relaxed));
    rd_reply *r = NULL;
    st = rd_script(&call, RD_SCRIPT_SLICE, 7, write_slice_args, &a, &r);
    rd_end(&call);
    if (st == CW_OK) {
        if (r->type == REDIS_REPLY_INTEGER) *count = r->integer;
        else st = rd_reply_error(&call, r, "slice_incr");
        rd_reply_free(r);
    }
    if (b->cs) rd_cs_invalidate(b, key, klen);
    return rd_soften(b, &call, st, CW_NOTSTORED);
}

typedef struct members_args {
    rd_backend *b;
    const char *key;
    size_t klen;
    int64_t ttl;
    size_t n;
    const char *const *members;
    const size_t *mlens;
} members_args;

static void write_members_args(rd_conn *c, void *ud)
{
    members_args *a = ud;
    rd_arg(c, "1", 1);
    rd_arg_key(a->b, c, a->key, a->klen);
    rd_arg_i64(c, a->ttl);
    for (size_t i = 0; i < a->n; i++) rd_arg(c, a->members[i], a->mlens[i]);
}

cw_status rd_op_set_add(cw_backend *bb, const char *key, size_t klen, size_t n,
                        const char *const *members, const size_t *mlens, int64_t ttl_ms)
{
    rd_backend *b = (rd_backend *)bb;
    if (n == 0) return CW_OK; /* Redis has no empty sets */
    rd_call call;
    cw_status st = rd_begin(b, &call);
    if (st != CW_OK) return rd_soften(b, &call, st, CW_NOTSTORED);
    members_args a = { b, key, klen, ttl_ms, n, members, mlens };
    rd_reply *r = NULL;
    st = rd_script(&call, RD_SCRIPT_SET_ADD, 3 + n, write_members_args, &a, &r);
    rd_end(&call);
    if (st == CW_OK) {
        if (r->type == REDIS_REPLY_ERROR) st = rd_reply_error(&call, r, "SADD");
        rd_reply_free(r);
    }
    if (b->cs) rd_cs_invalidate(b, key, klen);
    return rd_soften(b, &call, st, CW_NOTSTORED);
}

cw_status rd_op_set_remove(cw_backend *bb, const char *key, size_t klen, size_t n,
                           const char *const *members, const size_t *mlens)
{
    rd_backend *b = (rd_backend *)bb;
    if (n == 0) return CW_OK;
    rd_call call;
    cw_status st = rd_begin(b, &call);
    if (st != CW_OK) return rd_soften(b, &call, st, CW_NOTSTORED);
    rd_cmd(call.c, 2 + n);
    rd_arg(call.c, "SREM", 4);
    rd_arg_key(b, call.c, key, klen);
    for (size_t i = 0; i < n; i++) rd_arg(call.c, members[i], mlens[i]);
    rd_reply *r;
    st = rd_roundtrip(&call, 1, &r);
    rd_end(&call);
    if (st == CW_OK) {
        if (r->type != REDIS_REPLY_INTEGER) st = rd_reply_error(&call, r, "SREM");
        rd_reply_free(r);
    }
    if (b->cs) rd_cs_invalidate(b, key, klen);
    return rd_soften(b, &call, st, CW_NOTSTORED);
}

cw_status rd_op_set_pop(cw_backend *bb, const char *key, size_t klen, size_t max, cw_scan_fn fn,
                        void *ud, size_t *popped)
{
    rd_backend *b = (rd_backend *)bb;
    if (popped) *popped = 0;
    if (max == 0) return CW_OK;
    rd_call call;
    cw_status st = rd_begin(b, &call);
    if (st != CW_OK) return rd_soften(b, &call, st, CW_NOTSTORED);
    rd_cmd(call.c, 3);
    rd_arg(call.c, "SPOP", 4);
    rd_arg_key(b, call.c, key, klen);
    rd_arg_u64(call.c, max);
    rd_reply *r;
    st = rd_roundtrip(&call, 1, &r);
    rd_end(&call);
    if (b->cs) rd_cs_invalidate(b, key, klen);
    if (st != CW_OK) return rd_soften(b, &call, st, CW_NOTSTORED);
    if (r->type == REDIS_REPLY_NIL) {
        rd_reply_free(r);
        return CW_OK;
    }
    if (r->type != REDIS_REPLY_ARRAY) {
        st = rd_reply_error(&call, r, "SPOP");
        rd_reply_free(r);
        return st;
    }
    /* The connection is back in the pool: the callback may call the cache. The members are
     * already removed, so every one of them is reported even if the callback asks to stop. */
    size_t n = 0;
    for (size_t i = 0; i < r->elements; i++) {
        rd_reply *m = r->element[i];
        if (m->type != REDIS_REPLY_STRING) continue;
        n++;
        if (fn) fn(ud, m->str, m->len, NULL, 0);
    }
    if (popped) *popped = n;
    rd_reply_free(r);
    return CW_OK;
}

/* ---- bit-field counters --------------------------------------------------------------------
 * Reads are one BITFIELD GET u<size> #<idx> ... Increments are one transaction:
 *   MULTI; SET key "" NX [PX ttl]; BITFIELD key OVERFLOW SAT INCRBY u<size> #<idx> by ...; EXEC
 * The SET creates the key with its TTL only when absent (BITFIELD keeps an existing TTL and
 * extends the string), and the counters come back as Redis integers: a Lua script would pass
 * them through doubles, exact only up to 2^53, and 63-bit counters go past that. */

static void write_bitfield(rd_backend *b, rd_conn *c, const char *key, size_t klen, const uint64_t *idx,
                           size_t n, unsigned size, int64_t by)
{
    char type[8];
    int tlen = snprintf(type, sizeof type, "u%u", size);
    rd_cmd(c, 2 + (by ? 2 : 0) + (by ? 4 : 3) * n);
    rd_arg(c, "BITFIELD", 8);
    rd_arg_key(b, c, key, klen);
    if (by) {
        rd_arg(c, "OVERFLOW", 8);
        rd_arg(c, "SAT", 3);
    }
    for (size_t i = 0; i < n; i++) {
        char off[24];
        int olen = snprintf(off, sizeof off, "#%llu", (unsigned long long)idx[i]);
        if (by) rd_arg(c, "INCRBY", 6);
        else rd_arg(c, "GET", 3);
        rd_arg(c, type, (size_t)tlen);
        rd_arg(c, off, (size_t)olen);
        if (by) rd_arg_i64(c, by);
    }
}

cw_status rd_op_bitfield(cw_backend *bb, const char *key, size_t klen, const uint64_t *idx, size_t n,
                         unsigned size, int64_t by, int64_t ttl_ms, uint64_t *counters)
{
    rd_backend *b = (rd_backend *)bb;
    memset(counters, 0, n * sizeof *counters);
    if (n == 0) return CW_OK;
    cw_status soft = by ? CW_NOTSTORED : CW_OK; /* under suppress: not stored / reads zeros */
    rd_call call;
    cw_status st = rd_begin(b, &call);
    if (st != CW_OK) return rd_soften(b, &call, st, soft);
    size_t nr = 1;
    if (by) {
        rd_cmd(call.c, 1);
        rd_arg(call.c, "MULTI", 5);
        rd_cmd(call.c, ttl_ms > 0 ? 6 : 4);
        rd_arg(call.c, "SET", 3);
        rd_arg_key(b, call.c, key, klen);
        rd_arg(call.c, "", 0);
        rd_arg(call.c, "NX", 2);
        if (ttl_ms > 0) {
            rd_arg(call.c, "PX", 2);
            rd_arg_i64(call.c, ttl_ms);
        }
        nr = 4;
    }
    write_bitfield(b, call.c, key, klen, idx, n, size, by);
    if (by) {
        rd_cmd(call.c, 1);
        rd_arg(call.c, "EXEC", 4);
    }
    rd_reply *r[4];
    st = rd_roundtrip(&call, nr, r);
    rd_end(&call);
    if (st == CW_OK) {
        const rd_reply *x = r[nr - 1]; /* BITFIELD's reply, or EXEC's [SET's, BITFIELD's] */
        if (by && x->type == REDIS_REPLY_ARRAY && x->elements == 2) x = x->element[1];
        if (x->type != REDIS_REPLY_ARRAY || x->elements != n) {
            st = rd_reply_error(&call, x, "BITFIELD");
        } else {
            for (size_t i = 0; i < n; i++)
                if (x->element[i]->type == REDIS_REPLY_INTEGER) counters[i] = (uint64_t)x->element[i]->integer;
        }
        rd_replies_free(r, nr);
    }
    if (by && b->cs) rd_cs_invalidate(b, key, klen);
    return rd_soften(b, &call, st, soft);
}
