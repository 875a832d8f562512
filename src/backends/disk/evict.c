/*
 * evict.c - write transactions, size accounting, eviction, bulk expiry and the LRU/LFU
 * access batches of the disk:// backend.
 *
 * Accounting: every entry row carries its accounted size (key bytes + value bytes, + member
 * bytes for sets). The shard's totals (sum of sizes, row count, access clock) live in the
 * t_* columns of its newest row (largest id). A write transaction reads them once (one
 * descent along the rightmost edge of the table, pages a store writes anyway), keeps them
 * in dk_wtx, writes them into the row it stores, or, when it only deleted or updated rows,
 * onto whatever row is newest at the end. They change in the same transaction as the rows,
 * so they are exact across processes and survive a crash; an empty table has zero totals.
 *
 * Eviction: size_limit is split evenly over the shards (as diskcache's FanoutCache does).
 * When a write leaves its shard over shard_limit, still inside the write transaction:
 *   1. expired rows go first, soonest expiry first (partial index on expire_at);
 *   2. then live rows in the policy's order:
 *        least-recently-stored  id (rowid: store order, no extra index)
 *        least-recently-used    access_seq (index; stores and reads advance it)
 *        least-frequently-used  access_count, then access_seq (index)
 * taking rows just until the excess is covered, never the row being written, so the work is
 * proportional to what is evicted, never to the size of the file. Sequence numbers come from
 * the shard's access clock, not the wall clock: ties are impossible and the order is exact
 * within a shard. Evictions are counted in cw_meta.evictions (every process) and in the
 * instance, and handed to the eviction callback after the commit.
 *
 * LRU/LFU need an access update per read, which would turn every get into a write
 * transaction. Instead a get remembers the key in a per-shard batch (a copy, under the
 * shard mutex); the batch is written in one transaction when it holds DK_TOUCH_BATCH keys,
 * before any eviction decision of this process, at maintain and at close. Accesses made by
 * another process count once that process flushes them. Each recorded read still rewrites a
 * random table leaf and two leaves of the LRU index, so for LRU a read of a row that is
 * already among the most recently used quarter (access_seq above the last committed clock
 * minus a quarter of the row count) is not recorded, as memcached does not bump items it
 * bumped recently: such a row is far from eviction, and hot rows stop costing writes. LFU
 * records every read, since it counts them.
 */
#include "disk_int.h"

#include <string.h>

#define DK_TOUCH_BATCH 64
#define DK_ROUND 32 /* candidate rows read per eviction round */

/* ---- write transactions ------------------------------------------------------------------ */

cw_status cw__dk_wstart(dk_wtx *w, dk_backend *b, dk_conn *c)
{
    memset(w, 0, sizeof *w);
    w->b = b;
    w->c = c;
    w->now = cw__dk_now(b);
    return cw__dk_begin(c);
}

cw_status cw__dk_wbegin(dk_wtx *w, cw_backend *base, const void *key, size_t klen)
{
    dk_backend *b = (dk_backend *)base;
    cw_status st = CW_OK;
    dk_conn *c = cw__dk_acquire(b, cw__dk_shard_of(b, key, klen), &st);
    if (!c) {
        memset(w, 0, sizeof *w);
        return st;
    }
    st = cw__dk_wstart(w, b, c);
    if (st != CW_OK) {
        cw__dk_release(c);
        w->c = NULL;
    }
    return st;
}

/* Outcomes that leave the transaction consistent (nothing or only valid changes written). */
static int is_soft(cw_status st)
{
    return st == CW_OK || st == CW_NOTFOUND || st == CW_NOTSTORED || st == CW_ETYPE ||
           st == CW_EINVAL;
}

static cw_status bind_exec_totals(dk_wtx *w, int64_t id)
{
    cw_status st = CW_OK;
    sqlite3_stmt *s = cw__dk_stmt(w->c, ST_TOTALS_SET, &st);
    if (!s) return st;
    sqlite3_bind_int64(s, 1, id);
    sqlite3_bind_int64(s, 2, w->tot.size);
    sqlite3_bind_int64(s, 3, w->tot.count);
    sqlite3_bind_int64(s, 4, w->tot.seq);
    return cw__dk_exec(w->c, s, "write totals");
}

/* Put w->tot on the newest row (if there is one: an empty table has zero totals). */
static cw_status totals_flush(dk_wtx *w)
{
    if (!w->tot_dirty) return CW_OK;
    dk_totals old;
    cw_status st = CW_OK;
    sqlite3_stmt *s = cw__dk_stmt(w->c, ST_TOTALS, &st);
    if (!s) return st;
    int rc = sqlite3_step(s);
    int64_t id = rc == SQLITE_ROW ? sqlite3_column_int64(s, 0) : 0;
    if (rc == SQLITE_ROW) {
        old.size = sqlite3_column_int64(s, 1);
        old.count = sqlite3_column_int64(s, 2);
        old.seq = sqlite3_column_int64(s, 3);
    }
    sqlite3_reset(s);
    if (rc != SQLITE_ROW && rc != SQLITE_DONE) return cw__dk_fail(w->c, rc, "read totals");
    w->tot_dirty = 0;
    if (!id) return CW_OK;
    if (old.size == w->tot.size && old.count == w->tot.count && old.seq == w->tot.seq) return CW_OK;
    return bind_exec_totals(w, id);
}

cw_status cw__dk_wfinish(dk_wtx *w, cw_status st)
{
    if (!w->c || !w->c->in_write) return st;
    if (is_soft(st)) {
        cw_status fs = totals_flush(w);
        if (fs == CW_OK) fs = cw__dk_commit(w->c);
        else cw__dk_rollback(w->c);
        if (fs != CW_OK) st = fs;
        if (fs == CW_OK && w->tot_loaded) {
            atomic_store(&w->c->shard->seq_hint, w->tot.seq);
            atomic_store(&w->c->shard->count_hint, w->tot.count);
        }
    } else {
        cw__dk_rollback(w->c);
    }
    return st;
}

cw_status cw__dk_wend(dk_wtx *w, cw_status st)
{
    if (!w->c) return st;
    st = cw__dk_wfinish(w, st);
    cw__dk_release(w->c);
    w->c = NULL;
    if (is_soft(st)) cw__dk_victims_report(w->b, &w->victims);
    else cw__dk_victims_free(&w->victims);
    return st;
}

cw_status cw__dk_totals_read(dk_conn *c, dk_totals *t)
{
    cw_status st = CW_OK;
    memset(t, 0, sizeof *t);
    sqlite3_stmt *s = cw__dk_stmt(c, ST_TOTALS, &st);
    if (!s) return st;
    int rc = sqlite3_step(s);
    if (rc == SQLITE_ROW) {
        t->size = sqlite3_column_int64(s, 1);
        t->count = sqlite3_column_int64(s, 2);
        t->seq = sqlite3_column_int64(s, 3);
    } else if (rc != SQLITE_DONE) {
        st = cw__dk_fail(c, rc, "read totals");
    }
    sqlite3_reset(s);
    return st;
}

cw_status cw__dk_totals_load(dk_wtx *w)
{
    if (w->tot_loaded) return CW_OK;
    cw_status st = cw__dk_totals_read(w->c, &w->tot);
    if (st == CW_OK) w->tot_loaded = 1;
    return st;
}

/* ---- rows -------------------------------------------------------------------------------- */

cw_status cw__dk_peek(dk_conn *c, const void *key, size_t klen, int64_t now, dk_row *r)
{
    cw_status st = CW_OK;
    memset(r, 0, sizeof *r);
    sqlite3_stmt *s = cw__dk_stmt(c, ST_PEEK, &st);
    if (!s) return st;
    dk_bind_key(s, 1, key, klen);
    int rc = sqlite3_step(s);
    if (rc == SQLITE_ROW) {
        r->found = 1;
        r->id = sqlite3_column_int64(s, 0);
        r->expire_at = sqlite3_column_int64(s, 1); /* NULL reads as 0 */
        r->size = sqlite3_column_int64(s, 2);
        r->kind = sqlite3_column_int(s, 3);
        r->live = !(r->expire_at && r->expire_at <= now);
    } else if (rc != SQLITE_DONE) {
        st = cw__dk_fail(c, rc, "read");
    }
    sqlite3_reset(s);
    return st;
}

cw_status cw__dk_read_entry(dk_conn *c, const void *key, size_t klen, int64_t now, dk_row *r,
                        cw_value *val)
{
    cw_status st = CW_OK;
    memset(r, 0, sizeof *r);
    sqlite3_stmt *s = cw__dk_stmt(c, ST_GET, &st);
    if (!s) return st;
    dk_bind_key(s, 1, key, klen);
    int rc = sqlite3_step(s);
    if (rc == SQLITE_ROW) {
        r->found = 1;
        r->expire_at = sqlite3_column_int64(s, 1);
        r->kind = sqlite3_column_int(s, 2);
        r->size = sqlite3_column_int64(s, 3);
        r->id = sqlite3_column_int64(s, 4);
        r->live = !(r->expire_at && r->expire_at <= now);
        if (val) {
            const void *p = sqlite3_column_blob(s, 0);
            size_t n = p ? (size_t)sqlite3_column_bytes(s, 0) : 0;
            if (r->live) st = cw__dk_crc_check(c, s, 6, r->kind, key, klen, p, n, "read");
            if (st == CW_OK) st = cw_value_set(val, p, n);
        }
    } else if (rc != SQLITE_DONE) {
        st = cw__dk_fail(c, rc, "read");
    }
    sqlite3_reset(s);
    return st;
}

cw_status cw__dk_delete_locked(dk_wtx *w, const void *key, size_t klen, int *was_live,
                           int64_t *size_out)
{
    cw_status st = cw__dk_totals_load(w);
    if (st != CW_OK) return st;
    sqlite3_stmt *s = cw__dk_stmt(w->c, ST_DEL, &st);
    if (!s) return st;
    dk_bind_key(s, 1, key, klen);
    int rc = sqlite3_step(s);
    int64_t size = 0, exp = 0;
    int found = 0;
    if (rc == SQLITE_ROW) {
        found = 1;
        size = sqlite3_column_int64(s, 0);
        exp = sqlite3_column_int64(s, 1);
    } else if (rc != SQLITE_DONE) {
        st = cw__dk_fail(w->c, rc, "delete");
    }
    sqlite3_reset(s);
    if (was_live) *was_live = found && !(exp && exp <= w->now);
    if (size_out) *size_out = found ? size : 0;
    if (st == CW_OK && found) {
        w->tot.size -= size;
        w->tot.count--;
        w->tot_dirty = 1;
    }
    return st;
}

cw_status cw__dk_put_locked(dk_wtx *w, const void *key, size_t klen, const void *val, size_t vlen,
                        int kind, int64_t expire_at, const dk_row *old, int64_t *id)
{
    cw_status st = cw__dk_totals_load(w);
    if (st != CW_OK) return st;
    int64_t size = (int64_t)(klen + vlen);
    if (old->found && old->kind == DK_KIND_SET) {
        /* REPLACE does not fire the delete trigger: drop the old set's members here. */
        sqlite3_stmt *d = cw__dk_stmt(w->c, ST_MEMBERS_DROP, &st);
        if (!d) return st;
        dk_bind_key(d, 1, key, klen);
        if ((st = cw__dk_exec(w->c, d, "write")) != CW_OK) return st;
    }
    dk_totals t = w->tot;
    t.size += size - (old->found ? old->size : 0);
    t.count += old->found ? 0 : 1;
    t.seq++;
    sqlite3_stmt *s = cw__dk_stmt(w->c, ST_PUT, &st);
    if (!s) return st;
    dk_bind_key(s, 1, key, klen);
    dk_bind_key(s, 2, val, vlen);
    sqlite3_bind_int(s, 3, kind);
    if (expire_at) sqlite3_bind_int64(s, 4, expire_at);
    else sqlite3_bind_null(s, 4);
    sqlite3_bind_int64(s, 5, size);
    sqlite3_bind_int64(s, 6, t.seq);
    sqlite3_bind_int64(s, 7, t.size);
    sqlite3_bind_int64(s, 8, t.count);
    sqlite3_bind_int64(s, 9, cw__dk_crc(kind, key, klen, val, vlen));
    st = cw__dk_exec(w->c, s, "write");
    if (st != CW_OK) return st;
    /* The new row is the newest and carries t: nothing left to flush. */
    w->tot = t;
    w->tot_dirty = 0;
    if (id) *id = sqlite3_last_insert_rowid(w->c->db);
    return CW_OK;
}

cw_status cw__dk_update_locked(dk_wtx *w, const dk_row *old, const void *key, size_t klen, const void *val,
                           size_t vlen)
{
    cw_status st = cw__dk_totals_load(w);
    if (st != CW_OK) return st;
    int64_t size = (int64_t)(klen + vlen);
    sqlite3_stmt *s = cw__dk_stmt(w->c, ST_SET_VALUE, &st);
    if (!s) return st;
    sqlite3_bind_int64(s, 1, old->id);
    dk_bind_key(s, 2, val, vlen);
    sqlite3_bind_int64(s, 3, size);
    sqlite3_bind_int64(s, 4, cw__dk_crc(old->kind, key, klen, val, vlen));
    if ((st = cw__dk_exec(w->c, s, "write")) != CW_OK) return st;
    if (size != old->size) {
        w->tot.size += size - old->size;
        w->tot_dirty = 1;
    }
    return CW_OK;
}

cw_status cw__dk_check_fits(const dk_backend *b, uint64_t bytes)
{
    if (b->policy == DK_NONE || bytes <= b->shard_limit) return CW_OK;
    return cw_backend_fail(CW_ETOOBIG, "disk: an entry of %llu bytes (key + value) exceeds the"
                           " limit of a shard, size_limit/shards = %llu bytes",
                           (unsigned long long)bytes, (unsigned long long)b->shard_limit);
}

/* ---- victims --------------------------------------------------------------------------- */

int cw__dk_victims_push(dk_victims *v, const void *key, size_t klen, uint64_t size)
{
    if (v->n == v->cap) {
        size_t cap = v->cap ? v->cap * 2 : 16;
        void *p = cw_realloc(v->v, cap * sizeof *v->v);
        if (!p) return -1;
        v->v = p;
        v->cap = cap;
    }
    if (v->keys_len + klen > v->keys_cap) {
        size_t cap = v->keys_cap ? v->keys_cap : 256;
        while (cap < v->keys_len + klen) cap *= 2;
        void *p = cw_realloc(v->keys, cap);
        if (!p) return -1;
        v->keys = p;
        v->keys_cap = cap;
    }
    if (klen) memcpy(v->keys + v->keys_len, key, klen);
    v->v[v->n].off = v->keys_len;
    v->v[v->n].klen = klen;
    v->v[v->n].size = size;
    v->keys_len += klen;
    v->n++;
    return 0;
}

void cw__dk_victims_free(dk_victims *v)
{
    cw_free(v->keys);
    cw_free(v->v);
    memset(v, 0, sizeof *v);
}

void cw__dk_victims_report(dk_backend *b, dk_victims *v)
{
    if (v->n) {
        pthread_mutex_lock(&b->cb_mu);
        cw_disk_evict_fn fn = b->on_evict;
        void *ud = b->on_evict_ud;
        pthread_mutex_unlock(&b->cb_mu);
        for (size_t i = 0; fn && i < v->n; i++)
            fn(ud, (const char *)v->keys + v->v[i].off, v->v[i].klen, v->v[i].size);
    }
    cw__dk_victims_free(v);
}

/* One round: read up to DK_ROUND candidates from @id (ST_EXPIRED or ST_VICTIMS), skipping row
 * @keep_id, appending to @v (and their ids to @ids) until their sizes cover @need; then delete
 * them. w->tot and *n follow what was deleted; *more says whether there may be further
 * candidates. */
static cw_status evict_round(dk_wtx *w, dk_stmt_id which, int64_t keep_id, int64_t need,
                             dk_victims *v, uint64_t *n, int *more)
{
    cw_status st = CW_OK;
    sqlite3_stmt *s = cw__dk_stmt(w->c, which, &st);
    if (!s) return st;
    if (which == ST_EXPIRED) {
        sqlite3_bind_int64(s, 1, w->now);
        sqlite3_bind_int(s, 2, DK_ROUND);
    } else {
        sqlite3_bind_int(s, 1, DK_ROUND);
    }
    int64_t ids[DK_ROUND];
    size_t rows = 0, nids = 0;
    int64_t acc = 0;
    int rc;
    while ((rc = sqlite3_step(s)) == SQLITE_ROW) {
        rows++;
        int64_t id = sqlite3_column_int64(s, 0);
        if (id == keep_id) continue;
        const void *k = sqlite3_column_blob(s, 1);
        size_t kl = (size_t)sqlite3_column_bytes(s, 1);
        int64_t size = sqlite3_column_int64(s, 2);
        if (cw__dk_victims_push(v, k, kl, (uint64_t)size) != 0) {
            st = CW_ENOMEM;
            break;
        }
        ids[nids++] = id;
        acc += size;
        if (acc >= need) break;
    }
    if (st == CW_OK && rc != SQLITE_ROW && rc != SQLITE_DONE) st = cw__dk_fail(w->c, rc, "evict");
    *more = nids > 0 && (rc == SQLITE_ROW || rows == DK_ROUND);
    sqlite3_reset(s);
    if (st != CW_OK) return st;
    sqlite3_stmt *d = nids ? cw__dk_stmt(w->c, ST_DEL_ID, &st) : NULL;
    for (size_t i = 0; d && i < nids; i++) {
        sqlite3_bind_int64(d, 1, ids[i]);
        rc = sqlite3_step(d);
        if (rc == SQLITE_ROW) {
            w->tot.size -= sqlite3_column_int64(d, 0);
            w->tot.count--;
            w->tot_dirty = 1;
            (*n)++;
        } else if (rc != SQLITE_DONE) {
            st = cw__dk_fail(w->c, rc, "evict");
        }
        sqlite3_reset(d);
        if (st != CW_OK) return st;
    }
    return CW_OK;
}

cw_status cw__dk_evict_locked(dk_wtx *w, int64_t keep_id)
{
    dk_backend *b = w->b;
    /* parse_url() caps size_limit, hence shard_limit, at INT64_MAX: this is exact, and
     * "size - limit" below is positive and cannot overflow. */
    const int64_t limit = (int64_t)b->shard_limit;
    if (b->policy == DK_NONE || w->tot.size <= limit) return CW_OK;
    cw_status st = CW_OK;
    if (b->policy != DK_LRS) cw__dk_touch_flush(w->c, w); /* this process's reads count first */
    uint64_t nculled = 0, nevicted = 0;
    dk_victims expired = { 0 };
    int more = 1;
    while (st == CW_OK && more && w->tot.size > limit)
        st = evict_round(w, ST_EXPIRED, keep_id, w->tot.size - limit, &expired,
                         &nculled, &more);
    cw__dk_victims_free(&expired);
    more = 1;
    while (st == CW_OK && more && w->tot.size > limit)
        st = evict_round(w, ST_VICTIMS, keep_id, w->tot.size - limit,
                         &w->victims, &nevicted, &more);
    if (st == CW_OK && nevicted) {
        sqlite3_stmt *s = cw__dk_stmt(w->c, ST_META_EVICT, &st);
        if (s) {
            sqlite3_bind_int64(s, 1, (int64_t)nevicted);
            st = cw__dk_exec(w->c, s, "count evictions");
        }
    }
    if (st != CW_OK) return st; /* the caller rolls back: nothing was evicted */
    atomic_fetch_add(&b->evictions, nevicted);
    atomic_fetch_add(&b->culled, nculled);
    return CW_OK;
}

cw_status cw__dk_cull_expired(dk_conn *c, size_t max, size_t *n)
{
    *n = 0;
    dk_wtx w;
    cw_status st = cw__dk_wstart(&w, c->b, c);
    if (st != CW_OK) return st;
    st = cw__dk_totals_load(&w);
    dk_victims v = { 0 };
    uint64_t culled = 0;
    int more = 1;
    while (st == CW_OK && more && culled < max) {
        st = evict_round(&w, ST_EXPIRED, 0, INT64_MAX, &v, &culled, &more);
        v.n = v.keys_len = 0; /* keys are not reported: reuse the buffer */
    }
    cw__dk_victims_free(&v);
    st = cw__dk_wfinish(&w, st);
    if (st == CW_OK) {
        atomic_fetch_add(&c->b->culled, culled);
        *n = (size_t)culled;
    }
    return st;
}

/* ---- LRU / LFU access batches ------------------------------------------------------------ */

void cw__dk_touch(dk_conn *c, const void *key, size_t klen, int64_t seq)
{
    dk_shard *s = c->shard;
    if (c->b->policy == DK_LRU &&
        seq > atomic_load(&s->seq_hint) - atomic_load(&s->count_hint) / 4)
        return;
    unsigned char *copy = cw_malloc(klen);
    if (!copy) return; /* an access record is a hint: dropping one is harmless */
    memcpy(copy, key, klen);
    int full = 0;
    pthread_mutex_lock(&s->mu);
    if (s->ntouches == s->touches_cap) {
        size_t cap = s->touches_cap ? s->touches_cap * 2 : DK_TOUCH_BATCH;
        dk_access *p = cw_realloc(s->touches, cap * sizeof *p);
        if (!p) {
            pthread_mutex_unlock(&s->mu);
            cw_free(copy);
            return;
        }
        s->touches = p;
        s->touches_cap = cap;
    }
    s->touches[s->ntouches].key = copy;
    s->touches[s->ntouches].klen = klen;
    full = ++s->ntouches >= DK_TOUCH_BATCH;
    pthread_mutex_unlock(&s->mu);
    if (full) cw__dk_touch_flush(c, NULL);
}

static void touches_release(dk_access *t, size_t n)
{
    for (size_t i = 0; i < n; i++) cw_free(t[i].key);
    cw_free(t);
}

cw_status cw__dk_touch_flush(dk_conn *c, dk_wtx *outer)
{
    dk_shard *s = c->shard;
    pthread_mutex_lock(&s->mu);
    dk_access *t = s->touches;
    size_t n = s->ntouches;
    s->touches = NULL;
    s->ntouches = s->touches_cap = 0;
    pthread_mutex_unlock(&s->mu);
    if (!n) {
        cw_free(t);
        return CW_OK;
    }
    dk_wtx own, *w = outer;
    cw_status st = CW_OK;
    if (!w) {
        w = &own;
        st = cw__dk_wstart(w, c->b, c);
    }
    if (st == CW_OK) st = cw__dk_totals_load(w);
    sqlite3_stmt *u = st == CW_OK ? cw__dk_stmt(c, ST_TOUCH, &st) : NULL;
    for (size_t i = 0; u && st == CW_OK && i < n; i++) {
        dk_bind_key(u, 1, t[i].key, t[i].klen);
        sqlite3_bind_int64(u, 2, ++w->tot.seq);
        w->tot_dirty = 1;
        st = cw__dk_exec(c, u, "record access");
    }
    if (!outer) st = cw__dk_wfinish(w, st);
    touches_release(t, n);
    if (st != CW_OK)
        cw_backend_log(&c->b->env, CW_LOG_WARN, "disk: %zu access records dropped (%s)", n,
                       cw_strerror(st));
    return st;
}

void cw__dk_touches_free(dk_shard *s)
{
    touches_release(s->touches, s->ntouches);
    s->touches = NULL;
    s->ntouches = s->touches_cap = 0;
}
