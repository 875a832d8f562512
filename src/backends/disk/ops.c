/*
 * ops.c - the basic commands of the disk:// backend.
 *
 * Reads are one autocommit SELECT on a pooled connection (WAL: they never wait for a
 * writer). A write is one BEGIN IMMEDIATE transaction (dk_wtx, evict.c): read the old row
 * (for set modes, expiry and the size delta) and the shard totals, store the row as the
 * newest one carrying the new totals, evict if they are over the limit, commit. A set of a
 * new key without TTL thus dirties the same two pages as a raw autocommit INSERT into a
 * table with a TEXT primary key (the table's last leaf, a key-index leaf); a TTL adds a leaf
 * of the expiry index.
 * Expired rows are invisible to every read (expire_at <= now on the env clock) and are
 * removed in bulk: by maintain, when eviction needs room, or when a write replaces them.
 */
#include "disk_int.h"

#include <stdio.h>
#include <string.h>

static cw_status wrong_type(int kind)
{
    return cw_backend_fail(CW_ETYPE, "disk: the key holds a %s, not a byte value",
                           kind == DK_KIND_SET ? "set" : "sliding window");
}

/* ---- single-key commands ----------------------------------------------------------------- */

/* Read a live value: fn gets the blob straight from SQLite's row (no copy of ours), before the
 * statement is reset. */
cw_status cw__dk_op_view(cw_backend *base, const char *key, size_t klen, cw_view_fn fn, void *ud)
{
    dk_backend *b = (dk_backend *)base;
    cw_status st = CW_OK;
    dk_conn *c = cw__dk_acquire(b, cw__dk_shard_of(b, key, klen), &st);
    if (!c) return st;
    int64_t access_seq = 0;
    sqlite3_stmt *s = cw__dk_stmt(c, ST_GET, &st);
    if (s) {
        dk_bind_key(s, 1, key, klen);
        int rc = sqlite3_step(s);
        if (rc == SQLITE_ROW) {
            int64_t exp = sqlite3_column_int64(s, 1);
            int kind = sqlite3_column_int(s, 2);
            if (exp && exp <= cw__dk_now(b)) {
                st = CW_NOTFOUND;
            } else if (kind != DK_KIND_BYTES) {
                st = wrong_type(kind);
            } else {
                const void *p = sqlite3_column_blob(s, 0);
                size_t n = p ? (size_t)sqlite3_column_bytes(s, 0) : 0;
                st = cw__dk_crc_check(c, s, 6, kind, key, klen, p, n, "get");
                if (st == CW_OK) st = fn(ud, p ? p : "", n);
                access_seq = sqlite3_column_int64(s, 5);
            }
        } else {
            st = rc == SQLITE_DONE ? CW_NOTFOUND : cw__dk_fail(c, rc, "get");
        }
        sqlite3_reset(s);
        if (st == CW_OK && (b->policy == DK_LRU || b->policy == DK_LFU))
            cw__dk_touch(c, key, klen, access_seq);
    }
    cw__dk_release(c);
    return st;
}

cw_status cw__dk_op_get(cw_backend *base, const char *key, size_t klen, cw_value *out)
{
    return cw__dk_op_view(base, key, klen, cw_view_to_value, out);
}

cw_status cw__dk_op_set(cw_backend *b, const char *key, size_t klen, const void *val, size_t vlen,
                    int64_t ttl_ms, cw_set_mode mode)
{
    cw_status st = cw__dk_check_fits((dk_backend *)b, klen + vlen);
    if (st != CW_OK) return st;
    dk_wtx w;
    if ((st = cw__dk_wbegin(&w, b, key, klen)) != CW_OK) return st;
    dk_row old;
    int64_t id = 0;
    st = cw__dk_peek(w.c, key, klen, w.now, &old);
    if (st == CW_OK && ((mode == CW_SET_IF_ABSENT && old.live) ||
                        (mode == CW_SET_IF_PRESENT && !old.live)))
        st = CW_NOTSTORED;
    if (st == CW_OK)
        st = cw__dk_put_locked(&w, key, klen, val, vlen, DK_KIND_BYTES, cw__dk_expire_at(w.now, ttl_ms),
                           &old, &id);
    if (st == CW_OK) st = cw__dk_evict_locked(&w, id);
    return cw__dk_wend(&w, st);
}

cw_status cw__dk_op_del(cw_backend *b, const char *key, size_t klen)
{
    dk_wtx w;
    cw_status st = cw__dk_wbegin(&w, b, key, klen);
    if (st != CW_OK) return st;
    int live = 0;
    st = cw__dk_delete_locked(&w, key, klen, &live, NULL);
    if (st == CW_OK && !live) st = CW_NOTFOUND; /* an expired row is still purged */
    return cw__dk_wend(&w, st);
}

/* The live row of key at instant now, read on a connection of its shard: CW_OK, CW_NOTFOUND
 * (absent or expired) or the failure. */
static cw_status peek_live(dk_backend *b, const char *key, size_t klen, int64_t now, dk_row *r)
{
    cw_status st = CW_OK;
    dk_conn *c = cw__dk_acquire(b, cw__dk_shard_of(b, key, klen), &st);
    if (!c) return st;
    st = cw__dk_peek(c, key, klen, now, r);
    cw__dk_release(c);
    if (st != CW_OK) return st;
    return r->live ? CW_OK : CW_NOTFOUND;
}

cw_status cw__dk_op_exists(cw_backend *base, const char *key, size_t klen)
{
    dk_backend *b = (dk_backend *)base;
    dk_row r;
    return peek_live(b, key, klen, cw__dk_now(b), &r);
}

/* Strict decimal int64: optional '-', 1..19 digits, nothing else. */
static int parse_int64(const unsigned char *p, size_t n, int64_t *out)
{
    size_t i = 0;
    int neg = 0;
    if (n && p[0] == '-') { neg = 1; i = 1; }
    if (i == n || n - i > 19) return -1;
    uint64_t v = 0;
    for (; i < n; i++) {
        if (p[i] < '0' || p[i] > '9') return -1;
        v = v * 10 + (uint64_t)(p[i] - '0');
    }
    if (neg) {
        if (v > (uint64_t)INT64_MAX + 1) return -1;
        *out = v == (uint64_t)INT64_MAX + 1 ? INT64_MIN : -(int64_t)v;
    } else {
        if (v > (uint64_t)INT64_MAX) return -1;
        *out = (int64_t)v;
    }
    return 0;
}

cw_status cw__dk_op_incr(cw_backend *b, const char *key, size_t klen, int64_t by, int64_t ttl_ms,
                     int64_t *result)
{
    cw_status st = cw__dk_check_fits((dk_backend *)b, klen + 20);
    if (st != CW_OK) return st;
    dk_wtx w;
    if ((st = cw__dk_wbegin(&w, b, key, klen)) != CW_OK) return st;
    cw_value v = { 0 };
    dk_row r;
    int64_t cur = 0, next = 0, id = 0;
    st = cw__dk_read_entry(w.c, key, klen, w.now, &r, &v);
    if (st == CW_OK && r.live) {
        if (r.kind != DK_KIND_BYTES) st = wrong_type(r.kind);
        else if (parse_int64(v.data, v.len, &cur) != 0)
            st = cw_backend_fail(CW_ETYPE, "disk: incr: the value is not a decimal integer");
    }
    if (st == CW_OK && __builtin_add_overflow(cur, by, &next))
        st = cw_backend_fail(CW_EINVAL, "disk: incr: %lld + %lld overflows int64",
                             (long long)cur, (long long)by);
    if (st == CW_OK) {
        char text[24];
        int n = snprintf(text, sizeof text, "%lld", (long long)next);
        if (r.live) {
            id = r.id;
            st = cw__dk_update_locked(&w, &r, key, klen, text, (size_t)n);
        } else {
            st = cw__dk_put_locked(&w, key, klen, text, (size_t)n, DK_KIND_BYTES,
                               cw__dk_expire_at(w.now, ttl_ms), &r, &id);
        }
        if (st == CW_OK) st = cw__dk_evict_locked(&w, id);
    }
    cw_value_free(&v);
    st = cw__dk_wend(&w, st);
    if (st == CW_OK && result) *result = next;
    return st;
}

cw_status cw__dk_op_expire(cw_backend *base, const char *key, size_t klen, int64_t ttl_ms)
{
    dk_backend *b = (dk_backend *)base;
    cw_status st = CW_OK;
    dk_conn *c = cw__dk_acquire(b, cw__dk_shard_of(b, key, klen), &st);
    if (!c) return st;
    sqlite3_stmt *s = cw__dk_stmt(c, ST_EXPIRE, &st);
    if (s) {
        int64_t now = cw__dk_now(b), at = cw__dk_expire_at(now, ttl_ms);
        dk_bind_key(s, 1, key, klen);
        if (at) sqlite3_bind_int64(s, 2, at);
        else sqlite3_bind_null(s, 2);
        sqlite3_bind_int64(s, 3, now);
        /* One autocommit statement: atomic by itself. Threads queue on wmu, not in SQLite. */
        pthread_mutex_lock(&c->shard->wmu);
        int rc = sqlite3_step(s);
        int changed = sqlite3_changes(c->db);
        sqlite3_reset(s);
        pthread_mutex_unlock(&c->shard->wmu);
        if (rc != SQLITE_DONE) st = cw__dk_fail(c, rc, "expire");
        else st = changed ? CW_OK : CW_NOTFOUND;
    }
    cw__dk_release(c);
    return st;
}

cw_status cw__dk_op_get_expire(cw_backend *base, const char *key, size_t klen, int64_t *ttl_ms)
{
    dk_backend *b = (dk_backend *)base;
    int64_t now = cw__dk_now(b);
    dk_row r;
    cw_status st = peek_live(b, key, klen, now, &r);
    if (st == CW_OK) *ttl_ms = r.expire_at ? r.expire_at - now : CW_NO_EXPIRY;
    return st;
}

cw_status cw__dk_op_value_size(cw_backend *base, const char *key, size_t klen, uint64_t *size)
{
    dk_backend *b = (dk_backend *)base;
    dk_row r;
    cw_status st = peek_live(b, key, klen, cw__dk_now(b), &r);
    if (st == CW_OK) *size = r.size > (int64_t)klen ? (uint64_t)(r.size - (int64_t)klen) : 0;
    return st;
}

cw_status cw__dk_op_ping(cw_backend *base, const char *msg, size_t mlen, cw_value *out)
{
    dk_backend *b = (dk_backend *)base;
    cw_status st = CW_OK;
    dk_conn *c = cw__dk_acquire(b, 0, &st);
    if (!c) return st;
    dk_totals t; /* a real read of the file proves it answers */
    st = cw__dk_totals_read(c, &t);
    cw__dk_release(c);
    if (st != CW_OK) return st;
    return mlen ? cw_value_set(out, msg, mlen) : cw_value_set(out, "PONG", 4);
}

cw_status cw__dk_op_delete_if_equal(cw_backend *b, const char *key, size_t klen, const void *val,
                                size_t vlen)
{
    dk_wtx w;
    cw_status st = cw__dk_wbegin(&w, b, key, klen);
    if (st != CW_OK) return st;
    cw_value v = { 0 };
    dk_row r;
    st = cw__dk_read_entry(w.c, key, klen, w.now, &r, &v);
    if (st == CW_OK) {
        if (!r.live) st = CW_NOTFOUND;
        else if (r.kind != DK_KIND_BYTES || v.len != vlen || (vlen && memcmp(v.data, val, vlen)))
            st = CW_NOTSTORED;
        else st = cw__dk_delete_locked(&w, key, klen, NULL, NULL);
    }
    cw_value_free(&v);
    return cw__dk_wend(&w, st);
}

/* ---- batches: one transaction per shard ---------------------------------------------------- */

static cw_status shard_map(dk_backend *b, size_t n, const char *const *keys, const size_t *klens,
                           unsigned **out)
{
    unsigned *m = cw_malloc(n * sizeof *m);
    if (!m) return CW_ENOMEM;
    for (size_t i = 0; i < n; i++) m[i] = cw__dk_shard_of(b, keys[i], klens[i]);
    *out = m;
    return CW_OK;
}

cw_status cw__dk_op_set_many(cw_backend *base, size_t n, const char *const *keys, const size_t *klens,
                         const void *const *vals, const size_t *vlens, int64_t ttl_ms)
{
    dk_backend *b = (dk_backend *)base;
    unsigned *map = NULL;
    cw_status st = CW_OK;
    for (size_t i = 0; i < n && st == CW_OK; i++) st = cw__dk_check_fits(b, klens[i] + vlens[i]);
    if (st == CW_OK) st = shard_map(b, n, keys, klens, &map);
    for (unsigned sh = 0; st == CW_OK && sh < b->nshards; sh++) {
        size_t first = n, last = 0;
        for (size_t i = 0; i < n; i++)
            if (map[i] == sh) { if (first == n) first = i; last = i; }
        if (first == n) continue;
        dk_wtx w;
        if ((st = cw__dk_wbegin(&w, base, keys[first], klens[first])) != CW_OK) break;
        int64_t id = 0;
        for (size_t i = first; i <= last && st == CW_OK; i++) {
            if (map[i] != sh) continue;
            dk_row old;
            st = cw__dk_peek(w.c, keys[i], klens[i], w.now, &old);
            if (st == CW_OK)
                st = cw__dk_put_locked(&w, keys[i], klens[i], vals[i], vlens[i], DK_KIND_BYTES,
                                   cw__dk_expire_at(w.now, ttl_ms), &old, &id);
        }
        if (st == CW_OK) st = cw__dk_evict_locked(&w, id);
        st = cw__dk_wend(&w, st);
    }
    cw_free(map);
    return st;
}

cw_status cw__dk_op_delete_many(cw_backend *base, size_t n, const char *const *keys, const size_t *klens,
                            uint64_t *deleted)
{
    dk_backend *b = (dk_backend *)base;
    unsigned *map = NULL;
    uint64_t count = 0;
    cw_status st = shard_map(b, n, keys, klens, &map);
    for (unsigned sh = 0; st == CW_OK && sh < b->nshards; sh++) {
        size_t first = n;
        for (size_t i = 0; i < n && first == n; i++)
            if (map[i] == sh) first = i;
        if (first == n) continue;
        dk_wtx w;
        if ((st = cw__dk_wbegin(&w, base, keys[first], klens[first])) != CW_OK) break;
        uint64_t here = 0;
        for (size_t i = first; i < n && st == CW_OK; i++) {
            if (map[i] != sh) continue;
            int live = 0;
            st = cw__dk_delete_locked(&w, keys[i], klens[i], &live, NULL);
            here += live;
        }
        st = cw__dk_wend(&w, st);
        if (st == CW_OK) count += here;
    }
    cw_free(map);
    if (deleted) *deleted = count;
    return st;
}

/* ---- scan, delete_match, clear ------------------------------------------------------------
 * Keys are BLOBs ordered by memcmp. A pattern's literal prefix (bytes before the first
 * * ? [ or \) bounds a range [prefix, upper) read through the primary key; cw_glob_match
 * decides the rest. A shard is read in rounds of `limit` rows, each round continuing after
 * the last key of the previous one: rounds are separate statements, so no transaction or
 * lock is held while the callback runs, and keys present for the whole scan are seen once
 * each, whatever the callback deletes or adds. */

typedef struct bytes {
    unsigned char *p;
    size_t len, cap;
} bytes;

static int bytes_put(bytes *b, const void *data, size_t n)
{
    if (b->len + n > b->cap) {
        size_t cap = b->cap ? b->cap : 512;
        while (cap < b->len + n) cap *= 2;
        void *p = cw_realloc(b->p, cap);
        if (!p) return -1;
        b->p = p;
        b->cap = cap;
    }
    if (n) memcpy(b->p + b->len, data, n);
    b->len += n;
    return 0;
}

typedef struct scan_row {
    size_t koff, klen, voff, vlen;
    int has_val;
} scan_row;

typedef struct scan_range {
    const char *pattern;
    size_t plen;
    size_t prefix_len;              /* literal prefix = pattern[0..prefix_len) */
    unsigned char upper[1024 + 1];  /* exclusive upper bound, when has_upper */
    size_t upper_len;
    int has_upper;
    unsigned char *upper_heap;      /* for prefixes longer than the array */
} scan_range;

static void range_init(scan_range *r, const char *pattern, size_t plen)
{
    memset(r, 0, sizeof *r);
    r->pattern = pattern;
    r->plen = plen;
    size_t i = 0;
    while (i < plen && pattern[i] != '*' && pattern[i] != '?' && pattern[i] != '[' &&
           pattern[i] != '\\')
        i++;
    r->prefix_len = i;
    /* upper = prefix without its trailing 0xFF bytes, last byte + 1 (none if all 0xFF) */
    size_t n = i;
    while (n && (unsigned char)pattern[n - 1] == 0xFF) n--;
    if (!n) return;
    unsigned char *u = r->upper;
    if (n > sizeof r->upper) {
        r->upper_heap = cw_malloc(n);
        if (!r->upper_heap) return; /* no upper bound: slower, same answer */
        u = r->upper_heap;
    }
    memcpy(u, pattern, n);
    u[n - 1]++;
    r->upper_len = n;
    r->has_upper = 1;
}

static const unsigned char *range_upper(const scan_range *r)
{
    return r->upper_heap ? r->upper_heap : r->upper;
}

/* Read one round of shard rows after @last (or from the prefix when !have_last) into rows /
 * data: live rows matching the pattern, expired ones too when @with_expired. *nread counts
 * rows read (matching or not) and @last becomes the last key read. */
static cw_status scan_round(dk_conn *c, const scan_range *rg, int have_last, bytes *last, size_t limit,
                            int with_values, int with_expired, int64_t now, bytes *data,
                            scan_row **rows, size_t *nrows, size_t *rows_cap, size_t *nread)
{
    cw_status st = CW_OK;
    dk_stmt_id id = have_last ? (rg->has_upper ? ST_SCAN_GT_HI : ST_SCAN_GT)
                              : (rg->has_upper ? ST_SCAN_GE_HI : ST_SCAN_GE);
    sqlite3_stmt *s = cw__dk_stmt(c, id, &st);
    if (!s) return st;
    /* TRANSIENT: last is rewritten while the statement runs. */
    if (have_last)
        sqlite3_bind_blob64(s, 1, last->len ? (const void *)last->p : "", last->len,
                            SQLITE_TRANSIENT);
    else dk_bind_key(s, 1, rg->pattern, rg->prefix_len);
    if (rg->has_upper) dk_bind_key(s, 2, range_upper(rg), rg->upper_len);
    sqlite3_bind_int64(s, 3, (int64_t)limit);
    sqlite3_bind_int(s, 4, with_values);
    *nread = 0;
    int rc;
    while ((rc = sqlite3_step(s)) == SQLITE_ROW) {
        (*nread)++;
        const void *k = sqlite3_column_blob(s, 0);
        size_t kl = (size_t)sqlite3_column_bytes(s, 0);
        last->len = 0;
        if (bytes_put(last, k, kl) != 0) { st = CW_ENOMEM; break; }
        int64_t exp = sqlite3_column_int64(s, 1);
        int kind = sqlite3_column_int(s, 2);
        if (exp && exp <= now && !with_expired) continue;
        if (with_values && kind != DK_KIND_BYTES) continue; /* sets have no value to give */
        if (!cw_glob_match(rg->pattern, rg->plen, (const char *)last->p, kl)) continue;
        if (*nrows == *rows_cap) {
            size_t cap = *rows_cap ? *rows_cap * 2 : 64;
            scan_row *p = cw_realloc(*rows, cap * sizeof *p);
            if (!p) { st = CW_ENOMEM; break; }
            *rows = p;
            *rows_cap = cap;
        }
        scan_row *row = &(*rows)[(*nrows)++];
        memset(row, 0, sizeof *row);
        row->koff = data->len;
        row->klen = kl;
        if (bytes_put(data, last->p, kl) != 0) { st = CW_ENOMEM; break; }
        if (with_values) {
            const void *v = sqlite3_column_blob(s, 3);
            size_t vl = v ? (size_t)sqlite3_column_bytes(s, 3) : 0;
            if ((st = cw__dk_crc_check(c, s, 4, kind, last->p, kl, v, vl, "scan")) != CW_OK) break;
            row->has_val = 1;
            row->voff = data->len;
            row->vlen = vl;
            if (bytes_put(data, v, vl) != 0) { st = CW_ENOMEM; break; }
        }
    }
    if (st == CW_OK && rc != SQLITE_ROW && rc != SQLITE_DONE) st = cw__dk_fail(c, rc, "scan");
    sqlite3_reset(s);
    return st;
}

cw_status cw__dk_op_scan(cw_backend *base, const char *pattern, size_t plen, size_t batch,
                     int with_values, cw_scan_fn fn, void *ud)
{
    dk_backend *b = (dk_backend *)base;
    size_t limit = batch < 32 ? 32 : batch > 1000 ? 1000 : batch;
    scan_range rg;
    range_init(&rg, pattern, plen);
    bytes last = { 0 }, data = { 0 };
    scan_row *rows = NULL;
    size_t rows_cap = 0;
    cw_status st = CW_OK;
    int stop = 0;
    for (unsigned sh = 0; sh < b->nshards && st == CW_OK && !stop; sh++) {
        int have_last = 0;
        for (;;) {
            dk_conn *c = cw__dk_acquire(b, sh, &st);
            if (!c) break;
            size_t nrows = 0, nread = 0;
            data.len = 0;
            st = scan_round(c, &rg, have_last, &last, limit, with_values, 0, cw__dk_now(b), &data,
                            &rows, &nrows, &rows_cap, &nread);
            cw__dk_release(c);
            if (st != CW_OK) break;
            have_last = 1;
            for (size_t i = 0; i < nrows && !stop; i++) {
                const scan_row *r = &rows[i];
                stop = fn(ud, (const char *)data.p + r->koff, r->klen,
                          r->has_val ? (const void *)(data.p + r->voff) : NULL, r->vlen) != 0;
            }
            if (stop || nread < limit) break;
        }
    }
    cw_free(rows);
    cw_free(last.p);
    cw_free(data.p);
    cw_free(rg.upper_heap);
    return st;
}

cw_status cw__dk_op_delete_match(cw_backend *base, const char *pattern, size_t plen, uint64_t *deleted)
{
    dk_backend *b = (dk_backend *)base;
    const size_t limit = 256;
    scan_range rg;
    range_init(&rg, pattern, plen);
    bytes last = { 0 }, data = { 0 };
    scan_row *rows = NULL;
    size_t rows_cap = 0;
    uint64_t count = 0;
    cw_status st = CW_OK;
    for (unsigned sh = 0; sh < b->nshards && st == CW_OK; sh++) {
        int have_last = 0;
        for (;;) {
            dk_conn *c = cw__dk_acquire(b, sh, &st);
            if (!c) break;
            /* Each round is its own short write transaction. */
            dk_wtx w;
            if ((st = cw__dk_wstart(&w, b, c)) != CW_OK) { cw__dk_release(c); break; }
            size_t nrows = 0, nread = 0;
            data.len = 0;
            /* expired matches go too (purged in passing), but only live ones are counted */
            st = scan_round(c, &rg, have_last, &last, limit, 0, 1, w.now, &data, &rows, &nrows,
                            &rows_cap, &nread);
            uint64_t here = 0;
            for (size_t i = 0; i < nrows && st == CW_OK; i++) {
                int live = 0;
                st = cw__dk_delete_locked(&w, data.p + rows[i].koff, rows[i].klen, &live, NULL);
                here += live;
            }
            st = cw__dk_wfinish(&w, st);
            cw__dk_release(c);
            if (st != CW_OK) break;
            count += here;
            have_last = 1;
            if (nread < limit) break;
        }
    }
    cw_free(rows);
    cw_free(last.p);
    cw_free(data.p);
    cw_free(rg.upper_heap);
    if (deleted) *deleted = count;
    return st;
}

cw_status cw__dk_op_clear(cw_backend *base)
{
    dk_backend *b = (dk_backend *)base;
    cw_status st = CW_OK;
    for (unsigned sh = 0; sh < b->nshards && st == CW_OK; sh++) {
        dk_conn *c = cw__dk_acquire(b, sh, &st);
        if (!c) break;
        pthread_mutex_lock(&c->shard->mu);
        cw__dk_touches_free(c->shard);
        pthread_mutex_unlock(&c->shard->mu);
        dk_wtx w;
        if ((st = cw__dk_wstart(&w, b, c)) == CW_OK) {
            static const dk_stmt_id steps[] = { ST_CLEAR, ST_CLEAR_MEMBERS };
            for (size_t i = 0; i < 2 && st == CW_OK; i++) {
                sqlite3_stmt *s = cw__dk_stmt(c, steps[i], &st);
                if (s) st = cw__dk_exec(c, s, "clear");
            }
            /* no rows, zero totals: nothing to write back */
        }
        st = cw__dk_wfinish(&w, st);
        cw__dk_release(c);
    }
    return st;
}

cw_status cw__dk_op_keys_count(cw_backend *base, uint64_t *count)
{
    dk_backend *b = (dk_backend *)base;
    uint64_t total = 0;
    for (unsigned sh = 0; sh < b->nshards; sh++) {
        cw_status st = CW_OK;
        dk_conn *c = cw__dk_acquire(b, sh, &st);
        if (!c) return st;
        dk_totals t;
        st = cw__dk_totals_read(c, &t);
        cw__dk_release(c);
        total += (uint64_t)t.count;
        if (st != CW_OK) return st;
    }
    *count = total;
    return CW_OK;
}

cw_status cw__dk_op_maintain(cw_backend *base)
{
    dk_backend *b = (dk_backend *)base;
    const size_t chunk = 1024; /* rows per transaction: short locks for other writers */
    cw_status st = CW_OK;
    for (unsigned sh = 0; sh < b->nshards && st == CW_OK; sh++) {
        dk_conn *c = cw__dk_acquire(b, sh, &st);
        if (!c) break;
        if (b->policy == DK_LRU || b->policy == DK_LFU) st = cw__dk_touch_flush(c, NULL);
        size_t n = chunk;
        while (st == CW_OK && n == chunk) st = cw__dk_cull_expired(c, chunk, &n);
        cw__dk_release(c);
    }
    return st;
}
