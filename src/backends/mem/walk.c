/*
 * walk.c - the mem:// operations that visit every shard: scan, delete_match, clear,
 * keys_count and the purge of expired keys. Each takes one shard lock at a time and never
 * calls back into user code while holding it.
 */
#include "mem.h"

/* ---- whole-backend operations --------------------------------------------------------------- */

/* Remove, in shard s (locked), every entry for which pred returns non-zero; returns how many
 * it returned 1 for (2 removes without counting: expired keys were already gone).
 * Deleting slot i shifts later entries of its cluster back, possibly into i, so i is looked
 * at again; an entry can only move to a lower slot of its cluster, so none is skipped (one
 * moved from the wrapped front of the table may be looked at twice, which is harmless). */
static uint64_t sweep(mem_backend *b, mem_shard *s, int (*pred)(mem_backend *, mem_entry *, void *),
                      void *ud)
{
    uint64_t n = 0;
    for (uint32_t i = 0; i < s->cap;) {
        int verdict = s->tags[i] ? pred(b, mem_at(s, i), ud) : 0;
        if (verdict) {
            mem_remove(b, s, i, NULL);
            n += verdict == 1;
            continue;
        }
        i++;
    }
    return n;
}

static int pred_expired(mem_backend *b, mem_entry *e, void *ud)
{
    int64_t t = mem_exp(e);
    return t && *(int64_t *)ud >= t;
}

void mem_purge(mem_backend *b, atomic_int *stop)
{
    for (uint32_t i = 0; i < b->nshards; i++) {
        if (stop && atomic_load_explicit(stop, memory_order_relaxed)) return;
        mem_shard *s = &b->shards[i];
        mem_lock_acquire(&s->lock);
        if (s->n_exp) {
            int64_t now = mem_now_ms(b);
            sweep(b, s, pred_expired, &now);
        }
        mem_lock_release(&s->lock);
    }
}

cw_status mem_op_maintain(cw_backend *bk)
{
    mem_purge(mem_of(bk), NULL);
    return CW_OK;
}

typedef struct match_ctx {
    const char *pattern;
    size_t plen;
    int64_t now;
} match_ctx;

static int pred_match(mem_backend *b, mem_entry *e, void *ud)
{
    match_ctx *m = ud;
    if (!cw_glob_match(m->pattern, m->plen, (const char *)mem_key(e), mem_klen(e))) return 0;
    int64_t t = mem_exp(e);
    if (!t) return 1;
    if (!m->now) m->now = mem_now_ms(b);
    return m->now >= t ? 2 : 1;
}

cw_status mem_op_delete_match(cw_backend *bk, const char *pattern, size_t plen, uint64_t *deleted)
{
    mem_backend *b = mem_of(bk);
    match_ctx m = { pattern, plen, 0 };
    uint64_t n = 0;
    for (uint32_t i = 0; i < b->nshards; i++) {
        mem_shard *s = &b->shards[i];
        mem_lock_acquire(&s->lock);
        n += sweep(b, s, pred_match, &m);
        mem_lock_release(&s->lock);
    }
    if (deleted) *deleted = n;
    return CW_OK;
}

cw_status mem_op_clear(cw_backend *bk)
{
    mem_backend *b = mem_of(bk);
    for (uint32_t i = 0; i < b->nshards; i++) {
        mem_shard *s = &b->shards[i];
        mem_lock_acquire(&s->lock);
        mem_shard_clear(b, s);
        mem_lock_release(&s->lock);
    }
    return CW_OK;
}

/* The backend's count: one atomic read, so a snapshot (a sum of the shards' counts, read one
 * shard at a time, adds keys inserted into later shards to keys evicted from earlier ones
 * and can exceed ?size). It also counts places claimed by inserts in flight, and expired keys
 * not purged yet; it never exceeds ?size (mem_insert claims before it inserts). */
cw_status mem_op_keys_count(cw_backend *bk, uint64_t *count)
{
    *count = atomic_load_explicit(&mem_of(bk)->count, memory_order_relaxed);
    return CW_OK;
}

/* scan: per shard, copy the matching live keys (and values) into buf as
 * [u32 klen][u32 vlen][key][value] records under the lock, then call back without it. A key
 * present for the whole scan sits in one shard and is copied exactly once. */
typedef struct scan_buf {
    unsigned char *p;
    size_t len, cap;
} scan_buf;

static int buf_put(scan_buf *sb, const void *k, uint32_t klen, const void *v, uint32_t vlen)
{
    size_t need = 8 + (size_t)klen + vlen;
    if (sb->len + need > sb->cap) {
        size_t ncap = sb->cap ? sb->cap * 2 : 4096;
        while (ncap < sb->len + need) ncap *= 2;
        unsigned char *np = cw_realloc(sb->p, ncap);
        if (!np) return 0;
        sb->p = np;
        sb->cap = ncap;
    }
    unsigned char *w = sb->p + sb->len;
    memcpy(w, &klen, 4);
    memcpy(w + 4, &vlen, 4);
    memcpy(w + 8, k, klen);
    if (vlen) memcpy(w + 8 + klen, v, vlen);
    sb->len += need;
    return 1;
}

cw_status mem_op_scan(cw_backend *bk, const char *pattern, size_t plen, size_t batch, int with_values,
                          cw_scan_fn fn, void *ud)
{
    mem_backend *b = mem_of(bk);
    scan_buf sb = { NULL, 0, 0 };
    int match_all = plen == 1 && pattern[0] == '*';
    cw_status st = CW_OK;
    (void)batch; /* a shard is one batch: smaller batches could miss keys shifted by deletes */
    for (uint32_t i = 0; i < b->nshards && st == CW_OK; i++) {
        mem_shard *s = &b->shards[i];
        int64_t now = 0;
        sb.len = 0;
        mem_lock_acquire(&s->lock);
        for (uint32_t j = 0; j < s->cap; j++) {
            if (!s->tags[j]) continue;
            mem_entry *e = mem_at(s, j);
            int64_t t = mem_exp(e);
            if (t) {
                if (!now) now = mem_now_ms(b);
                if (now >= t) continue;
            }
            if (with_values && mem_type(e) != MEM_T_BYTES) continue; /* no byte value to give */
            const unsigned char *k = mem_key(e);
            if (!match_all && !cw_glob_match(pattern, plen, (const char *)k, mem_klen(e))) continue;
            if (!buf_put(&sb, k, mem_klen(e), with_values ? mem_val(e) : NULL, with_values ? e->vlen : 0)) {
                st = CW_ENOMEM;
                break;
            }
        }
        mem_lock_release(&s->lock);
        for (size_t off = 0; st == CW_OK && off < sb.len;) {
            uint32_t kl, vl;
            memcpy(&kl, sb.p + off, 4);
            memcpy(&vl, sb.p + off + 4, 4);
            const char *k = (const char *)sb.p + off + 8;
            if (fn(ud, k, kl, with_values ? k + kl : NULL, vl)) {
                cw_free(sb.p);
                return CW_OK;
            }
            off += 8 + (size_t)kl + vl;
        }
    }
    cw_free(sb.p);
    return st;
}
