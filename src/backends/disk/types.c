/*
 * types.c - the strategies' commands on the disk:// backend: bit fields (bloom filters),
 * sliding-window counters (rate limits) and sets (tags). Each is one BEGIN IMMEDIATE
 * transaction, so it is atomic across threads and processes.
 *
 * Storage: a bit field is an ordinary byte value (kind 0, Redis SETBIT layout), so get
 * returns it. A sliding window is kind 2: its value is the recorded instants as int64
 * little-endian, oldest first. A set is kind 1: an entries row (empty value, the TTL, size =
 * key + member bytes) plus one cw_members row per member; a trigger drops the members when
 * the entries row is deleted, whatever deletes it, and an emptied set is deleted as in Redis.
 * Bit-field counters live in a bit field, packed as Redis's BITFIELD packs them.
 */
#include "disk_int.h"

#include <string.h>

#define DK_MAX_BIT (UINT64_C(1) << 32) /* Redis's bitmap limit: 512 MiB */

static cw_status wrong_type(int kind, const char *want)
{
    static const char *const names[] = { "byte value", "set", "sliding window" };
    return cw_backend_fail(CW_ETYPE, "disk: the key holds a %s, not a %s",
                           kind >= 0 && kind <= 2 ? names[kind] : "value of unknown kind", want);
}

/* ---- bit fields -------------------------------------------------------------------------- */

static cw_status check_bits(const uint64_t *idx, size_t n, uint64_t *max)
{
    *max = 0;
    for (size_t i = 0; i < n; i++) {
        if (idx[i] >= DK_MAX_BIT)
            return cw_backend_fail(CW_EINVAL, "disk: bit index %llu is past 2^32",
                                   (unsigned long long)idx[i]);
        if (idx[i] > *max) *max = idx[i];
    }
    return CW_OK;
}

/* The bitmap at key, grown to @need bytes (zeros), or created so with @ttl_ms when absent,
 * then changed by apply(ud, map) in one write transaction: set_bits and bit-field increments. */
static cw_status bits_update(cw_backend *b, const char *key, size_t klen, size_t need, int64_t ttl_ms,
                             void (*apply)(void *ud, unsigned char *map), void *ud)
{
    dk_wtx w;
    cw_status st;
    if ((st = cw__dk_wbegin(&w, b, key, klen)) != CW_OK) return st;
    cw_value v = { 0 };
    dk_row r;
    int64_t id = 0;
    st = cw__dk_read_entry(w.c, key, klen, w.now, &r, &v);
    if (st == CW_OK && r.live && r.kind != DK_KIND_BYTES) st = wrong_type(r.kind, "bit field");
    if (st == CW_OK && !r.live) v.len = 0;
    size_t len = v.len > need ? v.len : need;
    if (st == CW_OK) st = cw__dk_check_fits(w.b, klen + len);
    if (st == CW_OK && len > v.len) {
        /* grow with zero bytes (cw_value_set keeps a NUL past len, so grow by hand) */
        unsigned char *p = cw_realloc(v.data, len + 1);
        if (!p) {
            st = CW_ENOMEM;
        } else {
            memset(p + v.len, 0, len + 1 - v.len);
            v.data = p;
            v.cap = len + 1;
            v.len = len;
        }
    }
    if (st == CW_OK) {
        apply(ud, v.data);
        if (r.live) {
            id = r.id;
            st = cw__dk_update_locked(&w, &r, key, klen, v.data, v.len);
        } else {
            st = cw__dk_put_locked(&w, key, klen, v.data, v.len, DK_KIND_BYTES,
                               cw__dk_expire_at(w.now, ttl_ms), &r, &id);
        }
        if (st == CW_OK) st = cw__dk_evict_locked(&w, id);
    }
    cw_value_free(&v);
    return cw__dk_wend(&w, st);
}

/* Call read(ud, map, len) on the bitmap at key (len 0 when absent). */
static cw_status bits_read(cw_backend *base, const char *key, size_t klen,
                           void (*read)(void *ud, const unsigned char *map, size_t len), void *ud)
{
    dk_backend *b = (dk_backend *)base;
    cw_status st;
    dk_conn *c = cw__dk_acquire(b, cw__dk_shard_of(b, key, klen), &st);
    if (!c) return st;
    cw_value v = { 0 };
    dk_row r;
    st = cw__dk_read_entry(c, key, klen, cw__dk_now(b), &r, &v);
    cw__dk_release(c);
    if (st == CW_OK && r.live && r.kind != DK_KIND_BYTES) st = wrong_type(r.kind, "bit field");
    if (st == CW_OK) read(ud, v.data, r.live ? v.len : 0);
    cw_value_free(&v);
    return st;
}

cw_status cw__dk_op_set_bits(cw_backend *b, const char *key, size_t klen, const uint64_t *idx,
                         size_t n, int64_t ttl_ms)
{
    uint64_t max = 0;
    cw_status st = check_bits(idx, n, &max);
    if (st != CW_OK) return st;
    cw__bits_job j = { .idx = idx, .n = n };
    return bits_update(b, key, klen, n ? (size_t)(max / 8 + 1) : 0, ttl_ms, cw__bits_set_listed, &j);
}

cw_status cw__dk_op_get_bits(cw_backend *base, const char *key, size_t klen, const uint64_t *idx,
                         size_t n, uint8_t *bits_out)
{
    uint64_t max = 0;
    cw_status st = check_bits(idx, n, &max);
    if (st != CW_OK) return st;
    cw__bits_job j = { .idx = idx, .n = n, .bits = bits_out };
    return bits_read(base, key, klen, cw__bits_get_listed, &j);
}

cw_status cw__dk_op_bitfield(cw_backend *b, const char *key, size_t klen, const uint64_t *idx, size_t n,
                             unsigned size, int64_t by, int64_t ttl_ms, uint64_t *counters)
{
    cw__bits_job j = { .idx = idx, .n = n, .size = size, .by = by, .counters = counters };
    memset(counters, 0, n * sizeof *counters);
    if (!n) return CW_OK;
    if (!by) return bits_read(b, key, klen, cw__bits_read_counters, &j);
    return bits_update(b, key, klen, cw__bitfield_bytes(idx, n, size), ttl_ms, cw__bits_add_counters, &j);
}

/* ---- sliding windows --------------------------------------------------------------------- */

static int64_t load_i64(const unsigned char *p)
{
    uint64_t x = 0;
    for (int i = 7; i >= 0; i--) x = x << 8 | p[i];
    return (int64_t)x;
}

static void store_i64(unsigned char *p, int64_t v)
{
    uint64_t x = (uint64_t)v;
    for (int i = 0; i < 8; i++) { p[i] = (unsigned char)x; x >>= 8; }
}

cw_status cw__dk_op_slice_incr(cw_backend *b, const char *key, size_t klen, int64_t start_ms,
                           int64_t now_ms, int64_t max_count, int64_t ttl_ms, int64_t *count)
{
    dk_wtx w;
    cw_status st = cw__dk_wbegin(&w, b, key, klen);
    if (st != CW_OK) return st;
    cw_value v = { 0 };
    dk_row r;
    int64_t id = 0, kept = 0;
    st = cw__dk_read_entry(w.c, key, klen, w.now, &r, &v);
    if (st == CW_OK && r.live && r.kind != DK_KIND_WINDOW) st = wrong_type(r.kind, "sliding window");
    if (st == CW_OK) {
        /* Keep the instants still inside the window, in place; then maybe record now. */
        size_t n = r.live ? v.len / 8 : 0;
        for (size_t i = 0; i < n; i++) {
            int64_t t = load_i64(v.data + i * 8);
            if (t >= start_ms) store_i64(v.data + (size_t)kept++ * 8, t);
        }
        v.len = (size_t)kept * 8;
        if (kept < max_count) {
            unsigned char rec[8];
            store_i64(rec, now_ms);
            /* cw_value_set would drop the prefix: append by hand */
            unsigned char *p = v.cap >= v.len + 9 ? v.data : cw_realloc(v.data, v.len + 9);
            if (!p) {
                st = CW_ENOMEM;
            } else {
                if (p != v.data) { v.data = p; v.cap = v.len + 9; }
                memcpy(v.data + v.len, rec, 8);
                v.len += 8;
                kept++;
            }
        }
    }
    if (st == CW_OK) st = cw__dk_check_fits(w.b, klen + v.len);
    if (st == CW_OK)
        st = cw__dk_put_locked(&w, key, klen, v.len ? v.data : (const void *)"", v.len,
                           DK_KIND_WINDOW, cw__dk_expire_at(w.now, ttl_ms), &r, &id);
    if (st == CW_OK) st = cw__dk_evict_locked(&w, id);
    cw_value_free(&v);
    st = cw__dk_wend(&w, st);
    if (st == CW_OK) *count = kept;
    return st;
}

/* ---- sets -------------------------------------------------------------------------------- */

/* New size and expiry of set row @r, with the totals following the size change. */
static cw_status set_resize(dk_wtx *w, const dk_row *r, int64_t size, int64_t expire_at)
{
    cw_status st = cw__dk_totals_load(w);
    sqlite3_stmt *s = st == CW_OK ? cw__dk_stmt(w->c, ST_SET_SIZE, &st) : NULL;
    if (!s) return st;
    sqlite3_bind_int64(s, 1, r->id);
    sqlite3_bind_int64(s, 2, size);
    if (expire_at) sqlite3_bind_int64(s, 3, expire_at);
    else sqlite3_bind_null(s, 3);
    if ((st = cw__dk_exec(w->c, s, "write")) != CW_OK) return st;
    if (size != r->size) {
        w->tot.size += size - r->size;
        w->tot_dirty = 1;
    }
    return CW_OK;
}

/* Members worth @removed bytes left set @r: shrink it, or delete it when it has none left. */
static cw_status set_shrunk(dk_wtx *w, const void *key, size_t klen, const dk_row *r,
                            int64_t removed)
{
    if (!removed) return CW_OK;
    cw_status st = CW_OK;
    sqlite3_stmt *any = cw__dk_stmt(w->c, ST_MEMBER_ANY, &st);
    if (!any) return st;
    dk_bind_key(any, 1, key, klen);
    int rc = sqlite3_step(any);
    sqlite3_reset(any);
    if (rc == SQLITE_DONE) return cw__dk_delete_locked(w, key, klen, NULL, NULL);
    if (rc != SQLITE_ROW) return cw__dk_fail(w->c, rc, "set");
    return set_resize(w, r, r->size - removed, r->expire_at);
}

cw_status cw__dk_op_set_add(cw_backend *b, const char *key, size_t klen, size_t n,
                        const char *const *members, const size_t *mlens, int64_t ttl_ms)
{
    dk_wtx w;
    cw_status st = cw__dk_wbegin(&w, b, key, klen);
    if (st != CW_OK) return st;
    dk_row r;
    int64_t added = 0;
    st = cw__dk_peek(w.c, key, klen, w.now, &r);
    if (st == CW_OK && r.live && r.kind != DK_KIND_SET) st = wrong_type(r.kind, "set");
    if (st == CW_OK && r.found && !r.live) { /* an expired row of any kind: start afresh */
        st = cw__dk_delete_locked(&w, key, klen, NULL, NULL);
        memset(&r, 0, sizeof r);
    }
    int64_t want = cw__dk_expire_at(w.now, ttl_ms), expire_at = want;
    if (st == CW_OK && !r.found) {
        st = cw__dk_put_locked(&w, key, klen, "", 0, DK_KIND_SET, want, &r, &r.id);
        r.found = r.live = 1;
        r.kind = DK_KIND_SET;
        r.size = (int64_t)klen;
    } else if (st == CW_OK) {
        /* the later of the two expiries; none (0) is the latest of all */
        expire_at = r.expire_at == 0 || want == 0 ? 0 : (r.expire_at > want ? r.expire_at : want);
    }
    sqlite3_stmt *s = st == CW_OK ? cw__dk_stmt(w.c, ST_MEMBER_ADD, &st) : NULL;
    for (size_t i = 0; s && st == CW_OK && i < n; i++) {
        dk_bind_key(s, 1, key, klen);
        dk_bind_key(s, 2, members[i], mlens[i]);
        st = cw__dk_exec(w.c, s, "set_add");
        if (st == CW_OK && sqlite3_changes(w.c->db) == 1) added += (int64_t)mlens[i];
    }
    if (st == CW_OK) st = cw__dk_check_fits(w.b, (uint64_t)(r.size + added));
    if (st == CW_OK) st = set_resize(&w, &r, r.size + added, expire_at);
    if (st == CW_OK && added) st = cw__dk_evict_locked(&w, r.id);
    return cw__dk_wend(&w, st);
}

cw_status cw__dk_op_set_remove(cw_backend *b, const char *key, size_t klen, size_t n,
                           const char *const *members, const size_t *mlens)
{
    dk_wtx w;
    cw_status st = cw__dk_wbegin(&w, b, key, klen);
    if (st != CW_OK) return st;
    dk_row r;
    int64_t removed = 0;
    st = cw__dk_peek(w.c, key, klen, w.now, &r);
    if (st == CW_OK && r.live && r.kind != DK_KIND_SET) st = wrong_type(r.kind, "set");
    if (st == CW_OK && r.live) {
        sqlite3_stmt *s = cw__dk_stmt(w.c, ST_MEMBER_DEL, &st);
        for (size_t i = 0; s && st == CW_OK && i < n; i++) {
            dk_bind_key(s, 1, key, klen);
            dk_bind_key(s, 2, members[i], mlens[i]);
            st = cw__dk_exec(w.c, s, "set_remove");
            if (st == CW_OK && sqlite3_changes(w.c->db) == 1) removed += (int64_t)mlens[i];
        }
        if (st == CW_OK) st = set_shrunk(&w, key, klen, &r, removed);
    }
    return cw__dk_wend(&w, st);
}

cw_status cw__dk_op_set_pop(cw_backend *b, const char *key, size_t klen, size_t max, cw_scan_fn fn,
                        void *ud, size_t *popped)
{
    dk_wtx w;
    cw_status st = cw__dk_wbegin(&w, b, key, klen);
    if (st != CW_OK) return st;
    dk_row r;
    dk_victims got = { 0 }; /* the popped members (reusing the victims list as storage) */
    int64_t removed = 0;
    st = cw__dk_peek(w.c, key, klen, w.now, &r);
    if (st == CW_OK && r.live && r.kind != DK_KIND_SET) st = wrong_type(r.kind, "set");
    if (st == CW_OK && r.live && max) {
        sqlite3_stmt *s = cw__dk_stmt(w.c, ST_MEMBER_LIST, &st);
        if (s) {
            dk_bind_key(s, 1, key, klen);
            sqlite3_bind_int64(s, 2, max > INT64_MAX ? INT64_MAX : (int64_t)max);
            int rc;
            while (st == CW_OK && (rc = sqlite3_step(s)) == SQLITE_ROW) {
                size_t ml = (size_t)sqlite3_column_bytes(s, 0);
                const void *m = sqlite3_column_blob(s, 0);
                if (cw__dk_victims_push(&got, m, ml, ml) != 0) st = CW_ENOMEM;
            }
            if (st == CW_OK && rc != SQLITE_DONE && rc != SQLITE_ROW) st = cw__dk_fail(w.c, rc, "set_pop");
            sqlite3_reset(s);
        }
        sqlite3_stmt *d = st == CW_OK ? cw__dk_stmt(w.c, ST_MEMBER_DEL, &st) : NULL;
        for (size_t i = 0; d && st == CW_OK && i < got.n; i++) {
            dk_bind_key(d, 1, key, klen);
            dk_bind_key(d, 2, got.keys + got.v[i].off, got.v[i].klen);
            st = cw__dk_exec(w.c, d, "set_pop");
            removed += (int64_t)got.v[i].klen;
        }
        if (st == CW_OK) st = set_shrunk(&w, key, klen, &r, removed);
    }
    st = cw__dk_wend(&w, st);
    size_t n = st == CW_OK ? got.n : 0;
    /* After the commit, with no lock held: the callback may use the cache. Every popped
     * member is reported (they are gone whatever the callback answers). */
    for (size_t i = 0; i < n; i++)
        if (fn) fn(ud, (const char *)got.keys + got.v[i].off, got.v[i].klen, NULL, 0);
    cw__dk_victims_free(&got);
    if (popped) *popped = n;
    return st;
}
