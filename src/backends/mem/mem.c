/*
 * mem.c - the in-memory backend, mem://?size=N&check_interval=S&max_bytes=B
 *
 *   size            bound on the number of keys (default 1000; >= 1)
 *   check_interval  period of the background purge of expired keys (default 1s; 0: no thread)
 *   max_bytes       bound on the bytes of keys + values (default: none; 512k, 64m, 1g ...)
 *
 * ---- Layout -------------------------------------------------------------------------------
 * The key space is split into 2^k shards by 8 bits of the key's 64-bit hash (k chosen from
 * size: at least 64 keys a shard, at most 256 shards). Each shard owns a lock, an index
 * (open addressing, see table.c), two FIFO queues and a ghost. A key lives in a 112-byte
 * cell of the index itself (mem.h): 28 bytes of header (expiry instant, hash, lengths and
 * flags, two 32-bit queue links) and 84 bytes for key and value, or, when they do not fit,
 * a pointer to one block holding them (at an aligned offset, where leak checkers look). So a hit on a small entry reads the tag bytes and
 * then one cell: one dependent cache miss, where a pointer to a separate allocation made two.
 *
 * Memory budget, for the 16-byte keys and 64-byte values of W1's "# mem" line (68 bytes with
 * the core's envelope: they fit the cell): the index is planned at load 0.875, so a full
 * cache holds 112 / 0.875 = 128 bytes of cells per key, plus a tag byte, the ghost's byte
 * and chunk bookkeeping: about 57 bytes per key beyond key and value. Larger entries pay the
 * cell and a block (about 48 more bytes, with malloc's header); the cell is the price of the
 * one-miss read.
 *
 * ---- Bounds --------------------------------------------------------------------------------
 * ?size bounds the whole cache, not each shard: keys never spread evenly over shards, and a
 * per-shard cap would evict from a full shard while the cache has room (a cache of size N
 * must hold any N keys). A relaxed atomic counts keys, and is what keys_count reports; an
 * insert claims a place on it (compare-and-swap below the bound) before it inserts, and while
 * the cache is full it evicts first: one key of its own shard (so shards keep the sizes the
 * key distribution gives them), or, when its shard is empty, one of another shard whose lock
 * is free (table.c). So the count never exceeds ?size, even while threads race. ?max_bytes
 * works with a byte counter, evicting from the shard as long as needed; when the shard has
 * nothing left to evict, the write evicts from the other shards in turn after releasing its
 * own lock (relieve). A set always stores its key: eviction picks other keys, the new one
 * enters after room is made.
 *
 * ---- Concurrency ----------------------------------------------------------------------------
 * There is no global lock. An operation hashes its key (before locking), takes its shard's
 * spinlock (one atomic exchange when uncontended), works, releases. A get takes no lock: it
 * marks its thread's own reader slot with the shard's lock and reads while nobody holds it,
 * and whoever takes that lock waits for the marked readers (readers.c). So reads write
 * nothing another core writes: a hit only bumps a 2-bit counter in the entry header (by
 * compare-and-swap, and not even that once it saturates, so hot entries' cache lines stay
 * shared between cores). The blocks, sets and windows of entries that
 * an operation replaced, evicted or found expired are freed after the lock is released;
 * values over 2 KiB are copied into their new block before the lock is taken. Values are
 * copied out under the lock (or the reader's mark) into the caller's buffer: nobody ever
 * holds a pointer into the store.
 * Keys that hold sets and windows are ordinary entries, so exists/delete/expire/keys_count
 * and eviction treat them alike. Operations that span shards (scan, delete_match, clear,
 * keys_count, the purge) visit one shard at a time, never holding two locks, and scan calls
 * the user's callback with no lock held: it snapshots the matching keys of one shard,
 * unlocks, then calls back.
 *
 * ---- Eviction: S3-FIFO (Yang et al., SOSP 2023) -----------------------------------------------
 * Most keys in a cache are one-hit wonders. A new key enters a small FIFO (10% of the shard);
 * a hit sets a 2-bit counter. When the small queue is over its share, its oldest key either
 * moves to the main FIFO (if it was hit) or is evicted and remembered in the ghost (hashes
 * only). A key that comes back while still in the ghost goes straight to main. The main FIFO
 * evicts like CLOCK: its oldest key is reinserted with its counter lowered if it was hit,
 * else evicted. Against LRU: reads never move entries (no list surgery, no write to shared
 * list heads on the read path), one-hit wonders leave quickly, and frequency survives scans.
 * On the W3 Zipf trace at 100,000 keys: exact LRU 0.7639, this 0.8035 (bench/w123_mem.c).
 *
 * ---- Expiry -------------------------------------------------------------------------------------
 * Expiry instants are on env->clock; a TTL of t ms set at instant T is alive while now < T+t.
 * A read that finds an expired entry removes it; the clock is only called for entries that
 * have an expiry (and by writes that set one). A get reads such an entry without the lock
 * while the coarse clock says more than a second is left (cached functions' entries all have
 * TTLs: W4's two threads went from 79-127 ns a hit to 38-58); nearer the deadline it takes
 * the lock and the precise clock, and removes the entry if it is over. A background thread wakes every
 * check_interval (a timed wait on a condition variable, so close wakes it at once) and purges
 * the expired entries of every shard that has an entry with an expiry.
 */
#include "mem.h"

#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <time.h>

#define MEM_SIZE_MAX (INT64_C(1) << 38) /* keeps a shard's index within 32-bit slot numbers */
#define MEM_SHARDS_MAX 256

static inline mem_shard *shard_of(mem_backend *b, uint64_t h64)
{
    return &b->shards[(uint32_t)(h64 >> 32) & (b->nshards - 1)];
}

/* A key's hash, shard and the slot of its live entry, with the shard locked. */
typedef struct mem_ref {
    mem_shard *s;
    uint32_t h;
    uint32_t slot;  /* MEM_NIL: absent (or expired and removed) */
    int64_t now;    /* 0 until the clock was read */
    int64_t coarse; /* 0 until the coarse clock was read (see below) */
} mem_ref;

static int64_t ref_now(mem_backend *b, mem_ref *r)
{
    if (!r->now) r->now = mem_now_ms(b);
    return r->now;
}

/* ---- the clock on hot paths -------------------------------------------------------------------
 * Reading CLOCK_REALTIME costs little in a tight loop (~25 ns) but it reads the TSC with a
 * fence: in a stream of cache operations it waits for every outstanding cache miss, and a set
 * with a TTL measured ~100 ns slower than one without. CLOCK_REALTIME_COARSE is the same
 * clock as of the last tick and reads no TSC. It never leads, and it lags by its resolution
 * (1-4 ms) normally, but by more on a loaded VM, whose vCPU may miss ticks: test_mem saw a
 * 30 ms entry served past its deadline when the check trusted "within one resolution". So,
 * when the backend runs on the default clock (cw_clock_now_ms):
 *  - an expiry check believes the coarse clock when it says "expired" (it never leads) and
 *    when it says "alive for more than MEM_COARSE_TRUST ms"; anywhere nearer the deadline
 *    it reads the precise clock, whose answer it gives;
 *  - a TTL of at least MEM_COARSE_TTL_MIN gets its deadline from the coarse clock: it may end
 *    up early by the coarse clock's lag (one resolution, under 0.4%, normally), never late.
 *    Shorter TTLs use the precise clock.
 * An injected clock (tests) is always called as it is. */
#define MEM_COARSE_TTL_MIN 1000
#define MEM_COARSE_TRUST 1000

static inline int64_t coarse_ms(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_REALTIME_COARSE, &ts);
    return (int64_t)ts.tv_sec * 1000 + ts.tv_nsec / 1000000;
}

static inline int64_t coarse_now(mem_ref *r)
{
    if (!r->coarse) r->coarse = coarse_ms();
    return r->coarse;
}

/* For the lock-free reads: 1 when an entry of shard s with an expiry (exp) is surely alive,
 * by the coarse clock's "more than MEM_COARSE_TRUST ms to go" (see is_expired). 0 means "ask
 * under the lock", which also answers for an injected clock. The shard knows whether the
 * coarse clock applies, on the line a read has already fetched. */
static inline int surely_alive(const mem_shard *s, int64_t exp)
{
    return s->coarse && exp - coarse_ms() > MEM_COARSE_TRUST;
}

/* Expiry instant of a TTL (> 0) set now: saturates instead of overflowing, and is never 0,
 * which means "no expiry" in an entry. */
static inline int64_t deadline(int64_t now, int64_t ttl_ms)
{
    int64_t t = now > INT64_MAX - ttl_ms ? INT64_MAX : now + ttl_ms;
    return t > 0 ? t : 1;
}

/* The expiry instant for ttl_ms (CW_NO_EXPIRY: 0). */
static inline int64_t expiry_for(mem_backend *b, mem_ref *r, int64_t ttl_ms)
{
    if (ttl_ms == CW_NO_EXPIRY) return 0;
    if (b->coarse_res_ms && ttl_ms >= MEM_COARSE_TTL_MIN && !r->now) return deadline(coarse_now(r), ttl_ms);
    return deadline(ref_now(b, r), ttl_ms);
}

static inline int is_expired(mem_backend *b, mem_ref *r, mem_entry *e)
{
    int64_t t = mem_exp(e);
    if (!t) return 0;
    if (b->coarse_res_ms && !r->now) {
        int64_t c = coarse_now(r); /* precise now is at c or later */
        if (c >= t) return 1;
        if (t - c > MEM_COARSE_TRUST) return 0;
    }
    return ref_now(b, r) >= t;
}

/* Lock key's shard and find its live entry; an expired one is removed into g. */
static inline void lookup(mem_backend *b, const char *key, size_t klen, mem_ref *r, mem_garbage *g)
{
    uint64_t h64 = mem_hash(key, klen);
    r->s = shard_of(b, h64);
    r->h = (uint32_t)h64;
    r->now = r->coarse = 0;
    mem_lock_acquire(&r->s->lock);
    r->slot = mem_find(r->s, r->h, key, (uint32_t)klen);
    if (r->slot != MEM_NIL && (mem_at(r->s, r->slot)->meta & MEM_F_EXP) &&
        is_expired(b, r, mem_at(r->s, r->slot))) {
        mem_remove(b, r->s, r->slot, g);
        r->slot = MEM_NIL;
    }
}

static void unlock_ref(mem_ref *r, mem_garbage *g)
{
    mem_lock_release(&r->s->lock);
    mem_garbage_free(g);
}

/* A hit: bump the 2-bit counter unless it is saturated (then the line is not written). */
static inline void touch(mem_entry *e)
{
    if ((e->meta & MEM_F_FREQ) != MEM_F_FREQ) e->meta += MEM_F_FREQ1;
}

static cw_status wrong_type(const mem_entry *e, const char *op)
{
    static const char *const names[4] = { "bytes", "a set", "a sliding window", "?" };
    return cw_backend_fail(CW_ETYPE, "mem: %s: the key holds %s", op, names[mem_type(e)]);
}

/* Build a new entry in *e (a cell outside the index, for mem_insert): key and value in the
 * cell when they fit, else in a block it owns (vlen bytes reserved; copied when val).
 * CW_OK or CW_ENOMEM. */
static cw_status entry_make(mem_entry *e, uint32_t h, const char *key, size_t klen, const void *val, size_t vlen,
                            unsigned type, int64_t exp_ms)
{
    e->exp = exp_ms;
    e->hash = h;
    e->prev = e->next = MEM_NIL;
    e->vlen = (uint32_t)vlen;
    e->meta = (uint32_t)klen | ((uint32_t)type << MEM_TYPE_SHIFT) | (exp_ms ? MEM_F_EXP : 0);
    if (!mem_fits(klen, vlen)) {
        unsigned char *p = cw_malloc(klen + vlen);
        if (!p) return CW_ENOMEM;
        memcpy(e->data, &p, sizeof p);
        e->meta |= MEM_F_OUT;
    }
    memcpy(mem_key(e), key, klen);
    if (val && vlen) memcpy(mem_val(e), val, vlen);
    return CW_OK;
}

/* Resize the value of the entry at r->slot to vlen bytes (the value is kept up to the
 * shorter length; added bytes are undefined), moving key and value between the cell and a
 * block as they stop or start fitting. Returns the entry (it does not move), or NULL on
 * CW_ENOMEM (then it is unchanged). */
static mem_entry *entry_resize(mem_ref *r, size_t vlen)
{
    mem_entry *e = mem_at(r->s, r->slot);
    size_t klen = mem_klen(e), keep = e->vlen < vlen ? e->vlen : vlen;
    if (e->meta & MEM_F_OUT) {
        unsigned char *p = mem_block(e);
        if (mem_fits(klen, vlen)) { /* back into the cell */
            memcpy(e->data, p, klen + keep);
            e->meta &= ~MEM_F_OUT;
            cw_free(p);
        } else {
            unsigned char *np = cw_realloc(p, klen + vlen);
            if (!np) return NULL;
            memcpy(e->data, &np, sizeof np);
        }
    } else if (!mem_fits(klen, vlen)) { /* out of the cell */
        unsigned char *np = cw_malloc(klen + vlen);
        if (!np) return NULL;
        memcpy(np, e->data, klen + keep);
        memcpy(e->data, &np, sizeof np);
        e->meta |= MEM_F_OUT;
    }
    e->vlen = (uint32_t)vlen;
    return e;
}

/* Give the entry at r->slot the expiry instant t (0: none). */
static void entry_set_exp(mem_ref *r, int64_t t)
{
    mem_entry *e = mem_at(r->s, r->slot);
    if (!(e->meta & MEM_F_EXP) != !t) {
        e->meta ^= MEM_F_EXP;
        if (t) r->s->n_exp++;
        else r->s->n_exp--;
    }
    e->exp = t;
}

/* When the shard a write touched could not get back under ?size or ?max_bytes by itself
 * (it had nothing else left), evict from the others one entry at a time, round robin,
 * skipping `skip` (the written key's shard). Holds one lock at a time. */
static void relieve(mem_backend *b, const mem_shard *skip)
{
    uint32_t idle = 0;
    while (mem_over_limits(b) && idle < b->nshards) {
        uint32_t i = atomic_fetch_add_explicit(&b->evict_rr, 1, memory_order_relaxed) & (b->nshards - 1);
        mem_shard *s = &b->shards[i];
        if (s == skip) {
            idle++;
            continue;
        }
        mem_garbage g = { .n = 0 };
        mem_lock_acquire(&s->lock);
        int n = mem_evict_one(b, s, NULL, &g);
        mem_lock_release(&s->lock);
        mem_garbage_free(&g);
        idle = n ? 0 : idle + 1;
    }
}

static cw_status check_sizes(mem_backend *b, size_t klen, size_t vlen)
{
    if (klen > MEM_KLEN_MAX || vlen > UINT32_MAX)
        return cw_backend_fail(CW_ETOOBIG, "mem: key or value too large (%zu, %zu bytes)", klen, vlen);
    if (b->max_bytes && klen + vlen > b->max_bytes)
        return cw_backend_fail(CW_ETOOBIG, "mem: %zu bytes of key and value exceed max_bytes (%llu)",
                               klen + vlen, (unsigned long long)b->max_bytes);
    return CW_OK;
}

/* Insert the new entry e (built by entry_make) for r's key (absent), then release. */
static cw_status insert_unlock(mem_backend *b, mem_ref *r, mem_entry *e, mem_garbage *g)
{
    uint32_t slot = mem_insert(b, r->s, e, 0, g);
    unlock_ref(r, g);
    if (slot == MEM_NIL) {
        mem_entry_release(e);
        return CW_ENOMEM;
    }
    if (mem_over_limits(b)) relieve(b, r->s);
    return CW_OK;
}

/* ---- get / set / delete ------------------------------------------------------------------- */

/* A read under the shard lock, out of the hot path: for a thread without a reader slot, a
 * shard whose lock is held, an entry of another type, and an entry with an expiry unless
 * the coarse clock says more than a second is left (surely_alive). */
static CW__COLD cw_status view_locked(mem_backend *b, mem_shard *s, uint64_t h64, const char *key, size_t klen,
                                      cw_view_fn fn, void *ud)
{
    mem_garbage g = { .n = 0 };
    mem_ref r = { s, (uint32_t)h64, MEM_NIL, 0, 0 };
    mem_lock_acquire(&s->lock);
    r.slot = mem_find(s, r.h, key, (uint32_t)klen);
    cw_status st = CW_NOTFOUND;
    if (r.slot != MEM_NIL) {
        mem_entry *e = mem_at(s, r.slot);
        if (is_expired(b, &r, e)) {
            mem_remove(b, s, r.slot, &g);
        } else if (mem_type(e) != MEM_T_BYTES) {
            st = wrong_type(e, "get");
        } else {
            touch(e);
            st = fn(ud, mem_val(e), e->vlen);
        }
    }
    unlock_ref(&r, &g);
    return st;
}

/* A lock-free read's hit count (meta: e's meta word as read). Other readers may be counting
 * too, so by compare-and-swap, and not at all once saturated (then the entry's line is not
 * written). */
static inline void count_hit(mem_entry *e, uint32_t meta)
{
    while ((meta & MEM_F_FREQ) != MEM_F_FREQ &&
           !__atomic_compare_exchange_n(&e->meta, &meta, meta + MEM_F_FREQ1, 1, __ATOMIC_RELAXED, __ATOMIC_RELAXED)) {
    }
}

/* The end of a lock-free read that found the key's entry e (meta: its meta word), with this
 * thread marked (me): an entry of another type, or with an expiry the coarse clock cannot
 * vouch for, goes under the lock; else the hit is counted and fn reads the value. */
static inline cw_status view_found(mem_backend *b, mem_shard *s, uint64_t h64, const char *key, size_t klen,
                                   mem_entry *e, uint32_t meta, mem_reader *me, cw_view_fn fn, void *ud)
{
    if ((meta & MEM_F_TYPE) || ((meta & MEM_F_EXP) && !surely_alive(s, e->exp))) {
        mem_reader_leave(me); /* may remove the entry, or say ETYPE: under the lock */
        return view_locked(b, s, h64, key, klen, fn, ud);
    }
    count_hit(e, meta);
    /* A block stays allocated while this thread is marked: it is freed only after its
     * writer waited for the readers and released the lock. */
    const unsigned char *k = (meta & MEM_F_OUT) ? mem_block(e) : e->data;
    cw_status st = fn(ud, k + klen, e->vlen);
    mem_reader_leave(me);
    return st;
}

/* A read without the lock, for any key: marks this thread's reader slot, and whoever takes
 * the shard lock waits for it (readers.c). fn copies the value out meanwhile. */
static cw_status view_any(mem_backend *b, const char *key, size_t klen, cw_view_fn fn, void *ud)
{
    if (klen > MEM_KLEN_MAX) return CW_NOTFOUND;
    uint64_t h64 = mem_hash(key, klen);
    mem_shard *s = shard_of(b, h64);
    __builtin_prefetch(s);
    mem_reader *me = mem_reader_self();
    if (!me || !mem_reader_enter(me, &s->lock)) return view_locked(b, s, h64, key, klen, fn, ud);
    uint32_t slot = mem_find(s, (uint32_t)h64, key, (uint32_t)klen);
    if (slot == MEM_NIL) {
        mem_reader_leave(me);
        return CW_NOTFOUND;
    }
    mem_entry *e = mem_at(s, slot);
    return view_found(b, s, h64, key, klen, e, mem_meta(e), me, fn, ud);
}

/* The lookup of the lock-free reads for keys of 8 to 16 bytes, with this thread marked: the
 * entry of the key whose first and last 8 bytes are w0 and w1 (the hash h), its meta word in
 * *meta and its key bytes at *kp; NULL when the key is absent. Kept to the bare minimum of
 * instructions: a read waits on a cache miss (the cell; the tag bytes are denser and more
 * often cached), and the CPU starts the next call's misses only once this call's
 * instructions fit in its reorder window. So the key's two words are read once, for the hash
 * and for every compare, and a cell's address is computed once. */
static inline mem_entry *find16(const mem_shard *s, uint32_t h, uint64_t w0, uint64_t w1, size_t klen,
                                uint32_t *meta, const unsigned char **kp)
{
    const uint8_t tag = mem_tag(h);
    const uint8_t *tags = s->tags;
    const uint32_t cap = s->cap;
    for (uint32_t i = mem_home(s, h);; i = i + 1 == cap ? 0 : i + 1) {
        uint8_t t = tags[i];
        if (t == tag) {
            mem_entry *e = mem_at(s, i);
            /* A cell spans two or three cache lines: ask for the rest now, so that their
             * misses overlap the first one's. */
            __builtin_prefetch((const char *)e + 64);
            __builtin_prefetch((const char *)e + sizeof *e - 1);
            uint32_t m = mem_meta(e);
            if ((m & MEM_KLEN_MAX) == klen) { /* the key's words decide (no hash compare) */
                const unsigned char *ek = (m & MEM_F_OUT) ? mem_block(e) : e->data;
                if (mem_r64(ek) == w0 && mem_r64(ek + klen - 8) == w1) {
                    *meta = m;
                    *kp = ek;
                    return e;
                }
            }
        } else if (!t) {
            return NULL;
        }
    }
}

/* view for keys of 8 to 16 bytes (others: view_any, the same steps in general form). It
 * takes no lock and writes nothing another thread writes (readers.c). */
static cw_status op_view(cw_backend *bk, const char *key, size_t klen, cw_view_fn fn, void *ud)
{
    mem_backend *b = mem_of(bk);
    if (klen - 8 > 8) return view_any(b, key, klen, fn, ud);
    const uint64_t w0 = mem_r64((const unsigned char *)key), w1 = mem_r64((const unsigned char *)key + klen - 8);
    const uint64_t h64 = mem_hash_end(w0, w1, MEM_K2, klen);
    mem_shard *s = shard_of(b, h64);
    /* The mark below is a full barrier: start fetching the shard's line before it, not after. */
    __builtin_prefetch(s);
    mem_reader *me = mem_reader_mine;
    if (!me) return view_any(b, key, klen, fn, ud); /* claims this thread's slot */
    if (!mem_reader_enter(me, &s->lock)) return view_locked(b, s, h64, key, klen, fn, ud);
    uint32_t meta;
    const unsigned char *ek;
    mem_entry *e = find16(s, (uint32_t)h64, w0, w1, klen, &meta, &ek);
    if (!e) {
        mem_reader_leave(me);
        return CW_NOTFOUND;
    }
    return view_found(b, s, h64, key, klen, e, meta, me, fn, ud);
}

/* ---- cw_get()'s own read ----------------------------------------------------------------------
 * The core's cw_get() hands a cache whose only route is this backend straight to
 * cw__mem_get(): one function from the key to the copied payload, with no callback and no
 * frame (every rare case leaves by a tail call), so that W1's get stays as short as a get
 * with TTLs, eviction counts and concurrent writers can be. It reads as op_view does and
 * knows the core's plain envelope (a 4-byte header, then the payload); anything else goes
 * the general way, cw__get_general(), which reads again through view. */

/* strnlen(key, 17): enough to tell the 8 to 16-byte keys this read takes. With SSE2, two
 * aligned 16-byte loads at most, as libc's strnlen does (an aligned load never crosses a
 * page, so reading past the key's NUL stays in memory the key's own page maps); sanitizer
 * builds, which would see those bytes as read, call strnlen. */
#if defined(__SANITIZE_ADDRESS__) || defined(__SANITIZE_THREAD__) /* gcc */
#define MEM_SANITIZED 1
#elif defined(__has_feature) /* clang */
#if __has_feature(address_sanitizer) || __has_feature(thread_sanitizer) || __has_feature(memory_sanitizer)
#define MEM_SANITIZED 1
#endif
#endif
#if defined(__SSE2__) && !defined(MEM_SANITIZED)
static inline size_t key_len17(const char *key)
{
    const uintptr_t p = (uintptr_t)key, a = p & ~(uintptr_t)15;
    const __m128i z = _mm_setzero_si128();
    unsigned m = (unsigned)_mm_movemask_epi8(_mm_cmpeq_epi8(_mm_load_si128((const __m128i *)a), z)) >> (p & 15);
    if (m) return (size_t)__builtin_ctz(m);
    m = (unsigned)_mm_movemask_epi8(_mm_cmpeq_epi8(_mm_load_si128((const __m128i *)(a + 16)), z));
    return m ? 16 - (p & 15) + (size_t)__builtin_ctz(m) : 17;
}
#else
static inline size_t key_len17(const char *key) { return strnlen(key, 17); }
#endif

/* The end of a hit whose payload is not 33 to 64 bytes: libc's copy, out of the hot function. */
static CW__NOINLINE cw_status get_copy_other(mem_reader *me, cw_value *out, const unsigned char *payload, size_t n)
{
    memcpy(out->data, payload, n);
    mem_reader_leave(me);
    out->data[n] = 0;
    out->len = n;
    return CW_OK;
}

/* The end of every hit of cw__mem_get(), once counted: a plain value that fits out is copied;
 * anything else is left to the general way. */
static CW__ALWAYS_INLINE cw_status get_hit(cw_cache *c, const char *key, cw_value *out, mem_entry *e, uint32_t meta,
                                           const unsigned char *v, mem_reader *me)
{
    const size_t len = e->vlen, n = len - 4;
    if (len < 4 || !cw__env_plain(v) || n >= out->cap) {
        mem_reader_leave(me);
        return cw__get_general(c, key, out);
    }
    if (n - 33 > 64 - 33) return get_copy_other(me, out, v + 4, n);
    cw__copy(out->data, v + 4, n); /* 33 to 64 bytes (W1's 64): four 16-byte moves, inline */
    mem_reader_leave(me);
    out->data[n] = 0;
    out->len = n;
    return CW_OK;
}

/* A hit on an entry whose hit count is not saturated, with an expiry, or of another type:
 * another type, or an expiry the coarse clock cannot vouch for, goes the general way (under
 * the lock); else the hit is counted and copied as usual. */
static CW__NOINLINE cw_status get_hit_other(cw_cache *c, const mem_shard *s, const char *key, cw_value *out,
                                            mem_entry *e, uint32_t meta, const unsigned char *v, mem_reader *me)
{
    if ((meta & MEM_F_TYPE) || ((meta & MEM_F_EXP) && !surely_alive(s, e->exp))) {
        mem_reader_leave(me);
        return cw__get_general(c, key, out);
    }
    count_hit(e, meta);
    return get_hit(c, key, out, e, meta, v, me);
}

cw_status cw__mem_get(cw_cache *c, cw_backend *bk, const char *key, cw_value *out)
{
    const size_t klen = key_len17(key);
    if (klen - 8 > 8) return cw__get_general(c, key, out);
    mem_backend *b = mem_of(bk);
    const uint64_t w0 = mem_r64((const unsigned char *)key), w1 = mem_r64((const unsigned char *)key + klen - 8);
    const uint64_t h64 = mem_hash_end(w0, w1, MEM_K2, klen);
    mem_shard *s = shard_of(b, h64);
    __builtin_prefetch(s);
    mem_reader *me = mem_reader_mine;
    /* no reader slot yet (the general way claims one), or a writer in the shard */
    if (!me || !mem_reader_enter(me, &s->lock)) return cw__get_general(c, key, out);
    uint32_t meta;
    const unsigned char *ek;
    mem_entry *e = find16(s, (uint32_t)h64, w0, w1, klen, &meta, &ek);
    if (!e) {
        mem_reader_leave(me);
        return cw__get_missed(c, key, klen, out);
    }
    /* the usual hit: bytes, no expiry, its count saturated (nothing to write) */
    if ((meta & (MEM_F_TYPE | MEM_F_EXP | MEM_F_FREQ)) != MEM_F_FREQ)
        return get_hit_other(c, s, key, out, e, meta, ek + klen, me);
    return get_hit(c, key, out, e, meta, ek + klen, me);
}

static cw_status op_get(cw_backend *bk, const char *key, size_t klen, cw_value *out)
{
    return op_view(bk, key, klen, cw_view_to_value, out);
}

/* Values up to this size are copied under the shard lock (an overwrite happens in place: no
 * allocation while key and value fit the cell); bigger ones are copied into a new block
 * before the lock is taken, so that a large copy never stalls the shard's other users. */
#define MEM_COPY_UNDER_LOCK 2048

/* The general set, with r's shard locked and r->slot found (expired or not). @e: the new
 * entry when the caller already built it (big values), else NULL. Releases the lock. */
static CW__COLD cw_status set_locked(mem_backend *b, mem_ref *r, const char *key, size_t klen, const void *val,
                                     size_t vlen, int64_t ttl_ms, cw_set_mode mode, mem_entry *e)
{
    mem_garbage g = { .n = 0 };
    mem_shard *s = r->s;
    if (r->slot != MEM_NIL && is_expired(b, r, mem_at(s, r->slot))) {
        mem_remove(b, s, r->slot, &g);
        r->slot = MEM_NIL;
    }
    if (r->slot == MEM_NIL ? mode == CW_SET_IF_PRESENT : mode == CW_SET_IF_ABSENT) {
        unlock_ref(r, &g);
        if (e) mem_entry_release(e);
        return CW_NOTSTORED;
    }
    mem_entry made, *old = r->slot == MEM_NIL ? NULL : mem_at(s, r->slot);
    if (!e && old && mem_type(old) == MEM_T_BYTES) { /* overwrite in place */
        int64_t delta = (int64_t)vlen - (int64_t)old->vlen;
        if (!entry_resize(r, vlen)) {
            unlock_ref(r, &g);
            return CW_ENOMEM;
        }
        if (vlen) memcpy(mem_val(old), val, vlen);
        entry_set_exp(r, expiry_for(b, r, ttl_ms));
        touch(old); /* an overwrite counts as a hit */
        mem_account(b, s, delta);
        goto bounds;
    }
    if (!e) {
        if (entry_make(&made, r->h, key, klen, val, vlen, MEM_T_BYTES, expiry_for(b, r, ttl_ms))) {
            unlock_ref(r, &g);
            return CW_ENOMEM;
        }
        e = &made;
    }
    if (!old) return insert_unlock(b, r, e, &g);
    /* Replace: the new entry takes the old one's cell, queue position and counter. */
    e->prev = old->prev;
    e->next = old->next;
    e->meta |= old->meta & (MEM_F_MAIN | MEM_F_FREQ);
    touch(e);
    int64_t delta = (int64_t)mem_entry_bytes(e) - (int64_t)mem_entry_bytes(old);
    if (e->meta & MEM_F_EXP) s->n_exp++;
    if (old->meta & MEM_F_EXP) s->n_exp--;
    mem_garbage_take(&g, old);
    *old = *e;
    mem_account(b, s, delta);
bounds:
    while (mem_over_bytes(b))
        if (!mem_evict_one(b, s, &r->slot, &g)) break;
    unlock_ref(r, &g);
    if (mem_over_limits(b)) relieve(b, s);
    return CW_OK;
}

/* Big values (and the size errors): the new entry's block is filled before the lock is
 * taken. */
static CW__COLD cw_status set_big(mem_backend *b, const char *key, size_t klen, const void *val, size_t vlen,
                                  int64_t ttl_ms, cw_set_mode mode)
{
    cw_status st = check_sizes(b, klen, vlen);
    if (st) return st;
    uint64_t h64 = mem_hash(key, klen);
    mem_ref r = { shard_of(b, h64), (uint32_t)h64, MEM_NIL, 0, 0 };
    mem_entry e;
    if (entry_make(&e, r.h, key, klen, val, vlen, MEM_T_BYTES, expiry_for(b, &r, ttl_ms))) return CW_ENOMEM;
    r.now = r.coarse = 0;
    mem_lock_acquire(&r.s->lock);
    r.slot = mem_find(r.s, r.h, key, (uint32_t)klen);
    return set_locked(b, &r, key, klen, val, vlen, ttl_ms, mode, &e);
}

/* The hot path of set is an overwrite of the same size, with or without a TTL as before (a
 * cache refreshing its entries): done in place, without allocating. An expired entry is
 * overwritten in place as well when the mode is CW_SET_ALWAYS: the outcome is the same as
 * replacing it. Everything else continues in set_locked() with the lock held (which also
 * adds or drops the expiry). */
static cw_status op_set(cw_backend *bk, const char *key, size_t klen, const void *val, size_t vlen,
                        int64_t ttl_ms, cw_set_mode mode)
{
    mem_backend *b = mem_of(bk);
    if (vlen > MEM_COPY_UNDER_LOCK || klen > MEM_KLEN_MAX || (b->max_bytes && klen + vlen > b->max_bytes))
        return set_big(b, key, klen, val, vlen, ttl_ms, mode);
    uint64_t h64 = mem_hash(key, klen);
    mem_ref r = { shard_of(b, h64), (uint32_t)h64, MEM_NIL, 0, 0 };
    mem_lock_acquire(&r.s->lock);
    r.slot = mem_find(r.s, r.h, key, (uint32_t)klen);
    if (r.slot != MEM_NIL && mode == CW_SET_ALWAYS) {
        mem_entry *e = mem_at(r.s, r.slot);
        uint32_t meta = e->meta;
        if (!(meta & (MEM_F_TYPE | MEM_F_OUT)) && e->vlen == vlen && !(meta & MEM_F_EXP) == (ttl_ms == CW_NO_EXPIRY)) {
            if (meta & MEM_F_EXP) e->exp = expiry_for(b, &r, ttl_ms);
            if (vlen) memcpy(e->data + (meta & MEM_KLEN_MAX), val, vlen);
            touch(e);
            mem_lock_release(&r.s->lock);
            return CW_OK;
        }
    }
    return set_locked(b, &r, key, klen, val, vlen, ttl_ms, mode, NULL);
}

static cw_status op_del(cw_backend *bk, const char *key, size_t klen)
{
    mem_backend *b = mem_of(bk);
    mem_garbage g = { .n = 0 };
    mem_ref r;
    if (klen > MEM_KLEN_MAX) return CW_NOTFOUND;
    lookup(b, key, klen, &r, &g);
    cw_status st = CW_NOTFOUND;
    if (r.slot != MEM_NIL) {
        mem_remove(b, r.s, r.slot, &g);
        st = CW_OK;
    }
    unlock_ref(&r, &g);
    return st;
}

static cw_status op_exists(cw_backend *bk, const char *key, size_t klen)
{
    mem_backend *b = mem_of(bk);
    mem_garbage g = { .n = 0 };
    mem_ref r;
    if (klen > MEM_KLEN_MAX) return CW_NOTFOUND;
    lookup(b, key, klen, &r, &g);
    cw_status st = r.slot == MEM_NIL ? CW_NOTFOUND : CW_OK;
    unlock_ref(&r, &g);
    return st;
}

static cw_status op_delete_if_equal(cw_backend *bk, const char *key, size_t klen, const void *val,
                                     size_t vlen)
{
    mem_backend *b = mem_of(bk);
    mem_garbage g = { .n = 0 };
    mem_ref r;
    if (klen > MEM_KLEN_MAX) return CW_NOTFOUND;
    lookup(b, key, klen, &r, &g);
    cw_status st = CW_NOTFOUND;
    if (r.slot != MEM_NIL) {
        mem_entry *e = mem_at(r.s, r.slot);
        if (mem_type(e) == MEM_T_BYTES && e->vlen == vlen && (!vlen || memcmp(mem_val(e), val, vlen) == 0)) {
            mem_remove(b, r.s, r.slot, &g);
            st = CW_OK;
        } else {
            st = CW_NOTSTORED;
        }
    }
    unlock_ref(&r, &g);
    return st;
}

/* ---- incr --------------------------------------------------------------------------------- */

/* Strict decimal int64: optional '-', at least one digit, nothing else. */
static int parse_i64(const unsigned char *p, size_t n, int64_t *out)
{
    size_t i = 0;
    int neg = 0;
    if (n && p[0] == '-') {
        neg = 1;
        i = 1;
    }
    if (i == n) return 0;
    uint64_t limit = neg ? (uint64_t)INT64_MAX + 1 : (uint64_t)INT64_MAX, v = 0;
    for (; i < n; i++) {
        if (p[i] < '0' || p[i] > '9') return 0;
        unsigned d = p[i] - '0';
        if (v > (limit - d) / 10) return 0;
        v = v * 10 + d;
    }
    *out = neg ? (int64_t)(0 - v) : (int64_t)v;
    return 1;
}

static cw_status op_incr(cw_backend *bk, const char *key, size_t klen, int64_t by, int64_t ttl_ms,
                          int64_t *result)
{
    mem_backend *b = mem_of(bk);
    cw_status st = check_sizes(b, klen, 20);
    if (st) return st;
    mem_garbage g = { .n = 0 };
    mem_ref r;
    char text[24];
    lookup(b, key, klen, &r, &g);
    if (r.slot == MEM_NIL) {
        int n = snprintf(text, sizeof text, "%lld", (long long)by);
        mem_entry e;
        if (entry_make(&e, r.h, key, klen, text, (size_t)n, MEM_T_BYTES, expiry_for(b, &r, ttl_ms))) {
            unlock_ref(&r, &g);
            return CW_ENOMEM;
        }
        st = insert_unlock(b, &r, &e, &g);
        if (st == CW_OK && result) *result = by;
        return st;
    }
    mem_entry *e = mem_at(r.s, r.slot);
    int64_t cur = 0;
    if (mem_type(e) != MEM_T_BYTES) {
        st = wrong_type(e, "incr");
    } else if (!parse_i64(mem_val(e), e->vlen, &cur)) {
        st = cw_backend_fail(CW_ETYPE, "mem: incr: the value is not a decimal integer");
    } else if ((by > 0 && cur > INT64_MAX - by) || (by < 0 && cur < INT64_MIN - by)) {
        st = cw_backend_fail(CW_EINVAL, "mem: incr: %lld + %lld overflows int64", (long long)cur,
                             (long long)by);
    } else {
        int n = snprintf(text, sizeof text, "%lld", (long long)(cur + by));
        uint32_t old = e->vlen;
        if ((uint32_t)n != old) e = entry_resize(&r, (size_t)n);
        if (!e) {
            st = CW_ENOMEM;
        } else {
            mem_account(b, r.s, (int64_t)n - (int64_t)old);
            memcpy(mem_val(e), text, (size_t)n);
            touch(e);
            if (result) *result = cur + by;
        }
    }
    unlock_ref(&r, &g);
    return st;
}

/* ---- TTLs --------------------------------------------------------------------------------- */

static cw_status op_expire(cw_backend *bk, const char *key, size_t klen, int64_t ttl_ms)
{
    mem_backend *b = mem_of(bk);
    mem_garbage g = { .n = 0 };
    mem_ref r;
    if (klen > MEM_KLEN_MAX) return CW_NOTFOUND;
    lookup(b, key, klen, &r, &g);
    cw_status st = CW_NOTFOUND;
    if (r.slot != MEM_NIL) {
        entry_set_exp(&r, expiry_for(b, &r, ttl_ms));
        st = CW_OK;
    }
    unlock_ref(&r, &g);
    return st;
}

static cw_status op_get_expire(cw_backend *bk, const char *key, size_t klen, int64_t *ttl_ms)
{
    mem_backend *b = mem_of(bk);
    mem_garbage g = { .n = 0 };
    mem_ref r;
    if (klen > MEM_KLEN_MAX) return CW_NOTFOUND;
    lookup(b, key, klen, &r, &g);
    cw_status st = CW_NOTFOUND;
    if (r.slot != MEM_NIL) {
        int64_t t = mem_exp(mem_at(r.s, r.slot));
        *ttl_ms = t ? t - ref_now(b, &r) : CW_NO_EXPIRY;
        st = CW_OK;
    }
    unlock_ref(&r, &g);
    return st;
}

static cw_status op_value_size(cw_backend *bk, const char *key, size_t klen, uint64_t *size)
{
    mem_backend *b = mem_of(bk);
    mem_garbage g = { .n = 0 };
    mem_ref r;
    if (klen > MEM_KLEN_MAX) return CW_NOTFOUND;
    lookup(b, key, klen, &r, &g);
    cw_status st = CW_NOTFOUND;
    if (r.slot != MEM_NIL) {
        mem_entry *e = mem_at(r.s, r.slot);
        *size = mem_entry_bytes(e) - mem_klen(e);
        st = CW_OK;
    }
    unlock_ref(&r, &g);
    return st;
}

/* ---- ping ------------------------------------------------------------------------------------ */

static cw_status op_ping(cw_backend *bk, const char *msg, size_t mlen, cw_value *out)
{
    (void)bk;
    return mlen ? cw_value_set(out, msg, mlen) : cw_value_set(out, "PONG", 4);
}

/* ---- batches: one hash and lock per key, without the core's per-key dispatch ------------------ */

static cw_status op_get_many(cw_backend *bk, size_t n, const char *const *keys, const size_t *klens,
                              cw_value *outs, cw_status *sts)
{
    for (size_t i = 0; i < n; i++) {
        sts[i] = op_get(bk, keys[i], klens[i], &outs[i]);
        if (sts[i] == CW_ENOMEM) return CW_ENOMEM;
    }
    return CW_OK;
}

static cw_status op_set_many(cw_backend *bk, size_t n, const char *const *keys, const size_t *klens,
                              const void *const *vals, const size_t *vlens, int64_t ttl_ms)
{
    for (size_t i = 0; i < n; i++) {
        cw_status st = op_set(bk, keys[i], klens[i], vals[i], vlens[i], ttl_ms, CW_SET_ALWAYS);
        if (st) return st;
    }
    return CW_OK;
}

static cw_status op_delete_many(cw_backend *bk, size_t n, const char *const *keys, const size_t *klens,
                                 uint64_t *deleted)
{
    uint64_t d = 0;
    for (size_t i = 0; i < n; i++) d += op_del(bk, keys[i], klens[i]) == CW_OK;
    if (deleted) *deleted = d;
    return CW_OK;
}

/* ---- bits --------------------------------------------------------------------------------- */

#define MEM_BIT_MAX (UINT64_C(1) << 32) /* bitmaps up to 512 MiB, as Redis */

static cw_status check_bits(const uint64_t *idx, size_t n, uint64_t *max_idx)
{
    uint64_t m = 0;
    for (size_t i = 0; i < n; i++) {
        if (idx[i] >= MEM_BIT_MAX)
            return cw_backend_fail(CW_EINVAL, "mem: bit index %llu out of range (max 2^32 - 1)",
                                   (unsigned long long)idx[i]);
        if (idx[i] > m) m = idx[i];
    }
    *max_idx = m;
    return CW_OK;
}

/* The bitmap at key, grown to @need bytes (zeros), or created so with @ttl_ms when absent,
 * then changed by apply(ud, map) under the shard lock: set_bits and bit-field increments. */
static cw_status bits_update(mem_backend *b, const char *key, size_t klen, size_t need, int64_t ttl_ms,
                             void (*apply)(void *ud, unsigned char *map), void *ud, const char *what)
{
    cw_status st = check_sizes(b, klen, need);
    if (st) return st;
    mem_garbage g = { .n = 0 };
    mem_ref r;
    lookup(b, key, klen, &r, &g);
    mem_entry *e;
    if (r.slot == MEM_NIL) {
        mem_entry made;
        if (entry_make(&made, r.h, key, klen, NULL, need, MEM_T_BYTES, expiry_for(b, &r, ttl_ms))) {
            unlock_ref(&r, &g);
            return CW_ENOMEM;
        }
        memset(mem_val(&made), 0, need);
        apply(ud, mem_val(&made));
        return insert_unlock(b, &r, &made, &g);
    }
    e = mem_at(r.s, r.slot);
    if (mem_type(e) != MEM_T_BYTES) {
        st = wrong_type(e, what);
    } else {
        uint32_t old = e->vlen;
        if (need > old) {
            e = entry_resize(&r, need);
            if (e) {
                memset(mem_val(e) + old, 0, need - old);
                mem_account(b, r.s, (int64_t)(need - old));
            }
        }
        if (!e) {
            st = CW_ENOMEM;
        } else {
            apply(ud, mem_val(e));
            while (mem_over_bytes(b))
                if (!mem_evict_one(b, r.s, &r.slot, &g)) break;
        }
    }
    mem_shard *s = r.s;
    unlock_ref(&r, &g);
    if (mem_over_limits(b)) relieve(b, s);
    return st;
}

/* Call read(ud, map, len) on the bitmap at key, if there is one (under the lock). */
static cw_status bits_read(mem_backend *b, const char *key, size_t klen,
                           void (*read)(void *ud, const unsigned char *map, size_t len), void *ud,
                           const char *what)
{
    if (klen > MEM_KLEN_MAX) return CW_OK;
    cw_status st = CW_OK;
    mem_garbage g = { .n = 0 };
    mem_ref r;
    lookup(b, key, klen, &r, &g);
    if (r.slot != MEM_NIL) {
        mem_entry *e = mem_at(r.s, r.slot);
        if (mem_type(e) != MEM_T_BYTES) {
            st = wrong_type(e, what);
        } else {
            read(ud, mem_val(e), e->vlen);
            touch(e);
        }
    }
    unlock_ref(&r, &g);
    return st;
}

static cw_status op_set_bits(cw_backend *bk, const char *key, size_t klen, const uint64_t *idx, size_t n,
                              int64_t ttl_ms)
{
    uint64_t max_idx = 0;
    cw_status st = check_bits(idx, n, &max_idx);
    if (st) return st;
    cw__bits_job j = { .idx = idx, .n = n };
    return bits_update(mem_of(bk), key, klen, n ? (size_t)(max_idx / 8 + 1) : 0, ttl_ms,
                       cw__bits_set_listed, &j, "set_bits");
}

static cw_status op_get_bits(cw_backend *bk, const char *key, size_t klen, const uint64_t *idx, size_t n,
                              uint8_t *bits_out)
{
    uint64_t max_idx = 0;
    cw_status st = check_bits(idx, n, &max_idx);
    if (st) return st;
    memset(bits_out, 0, n);
    cw__bits_job j = { .idx = idx, .n = n, .bits = bits_out };
    return bits_read(mem_of(bk), key, klen, cw__bits_get_listed, &j, "get_bits");
}

static cw_status op_bitfield(cw_backend *bk, const char *key, size_t klen, const uint64_t *idx, size_t n,
                             unsigned size, int64_t by, int64_t ttl_ms, uint64_t *counters)
{
    cw__bits_job j = { .idx = idx, .n = n, .size = size, .by = by, .counters = counters };
    memset(counters, 0, n * sizeof *counters);
    if (!n) return CW_OK;
    if (!by) return bits_read(mem_of(bk), key, klen, cw__bits_read_counters, &j, "bitfield");
    return bits_update(mem_of(bk), key, klen, cw__bitfield_bytes(idx, n, size), ttl_ms,
                       cw__bits_add_counters, &j, "bitfield");
}

/* ---- sliding windows ------------------------------------------------------------------------ */

static cw_status op_slice_incr(cw_backend *bk, const char *key, size_t klen, int64_t start_ms,
                                int64_t now_ms_, int64_t max_count, int64_t ttl_ms, int64_t *count)
{
    mem_backend *b = mem_of(bk);
    cw_status st = check_sizes(b, klen, sizeof(void *));
    if (st) return st;
    mem_garbage g = { .n = 0 };
    mem_ref r;
    lookup(b, key, klen, &r, &g);
    int64_t exp = expiry_for(b, &r, ttl_ms);
    if (r.slot == MEM_NIL) {
        mem_window *w = mem_window_new();
        mem_entry e;
        if (!w || entry_make(&e, r.h, key, klen, NULL, mem_ptr_vlen(klen), MEM_T_WINDOW, exp)) {
            mem_window_free(w);
            unlock_ref(&r, &g);
            return CW_ENOMEM;
        }
        mem_window_step(&w, start_ms, now_ms_, max_count, count); /* cannot fail: room for 4 */
        mem_ptr_put(&e, w);
        return insert_unlock(b, &r, &e, &g);
    }
    mem_entry *e = mem_at(r.s, r.slot);
    if (mem_type(e) != MEM_T_WINDOW) {
        st = wrong_type(e, "slice_incr");
    } else {
        mem_window *w = mem_ptr_val(e);
        uint64_t before = mem_window_bytes(w);
        st = mem_window_step(&w, start_ms, now_ms_, max_count, count);
        mem_ptr_put(e, w);
        mem_account(b, r.s, (int64_t)mem_window_bytes(w) - (int64_t)before);
        touch(e);
        if (st == CW_OK) entry_set_exp(&r, exp);
    }
    unlock_ref(&r, &g);
    return st;
}

/* ---- sets ------------------------------------------------------------------------------------ */

static cw_status op_set_add(cw_backend *bk, const char *key, size_t klen, size_t n,
                                const char *const *members, const size_t *mlens, int64_t ttl_ms)
{
    mem_backend *b = mem_of(bk);
    cw_status st = check_sizes(b, klen, sizeof(void *));
    if (st) return st;
    if (!n) return CW_OK;
    mem_garbage g = { .n = 0 };
    mem_ref r;
    lookup(b, key, klen, &r, &g);
    int64_t exp = expiry_for(b, &r, ttl_ms);
    mem_entry made, *e = &made;
    mem_set *set;
    int fresh = r.slot == MEM_NIL;
    if (fresh) {
        set = mem_set_new();
        if (!set || entry_make(&made, r.h, key, klen, NULL, mem_ptr_vlen(klen), MEM_T_SET, exp)) {
            mem_set_free(set);
            unlock_ref(&r, &g);
            return CW_ENOMEM;
        }
        mem_ptr_put(&made, set);
    } else {
        e = mem_at(r.s, r.slot);
        if (mem_type(e) != MEM_T_SET) {
            st = wrong_type(e, "set_add");
            unlock_ref(&r, &g);
            return st;
        }
        set = mem_ptr_val(e);
    }
    uint64_t before = mem_set_bytes(set);
    for (size_t i = 0; i < n && st == CW_OK; i++) {
        int added;
        st = mem_set_add(set, members[i], mlens[i], &added);
    }
    if (fresh) {
        if (!mem_set_count(set)) { /* nothing could be added: do not leave an empty key */
            unlock_ref(&r, &g);
            mem_entry_release(e);
            return st;
        }
        cw_status ist = insert_unlock(b, &r, e, &g);
        return st ? st : ist;
    }
    mem_account(b, r.s, (int64_t)(mem_set_bytes(set) - before));
    touch(e);
    /* An existing TTL moves to the later of the two; no TTL stays none. */
    int64_t cur = mem_exp(e);
    if (cur && (!exp || exp > cur)) entry_set_exp(&r, exp);
    while (mem_over_bytes(b))
        if (!mem_evict_one(b, r.s, &r.slot, &g)) break;
    mem_shard *s = r.s;
    unlock_ref(&r, &g);
    if (mem_over_limits(b)) relieve(b, s);
    return st;
}

static cw_status op_set_remove(cw_backend *bk, const char *key, size_t klen, size_t n,
                                   const char *const *members, const size_t *mlens)
{
    mem_backend *b = mem_of(bk);
    if (klen > MEM_KLEN_MAX) return CW_OK;
    mem_garbage g = { .n = 0 };
    mem_ref r;
    cw_status st = CW_OK;
    lookup(b, key, klen, &r, &g);
    if (r.slot != MEM_NIL) {
        mem_entry *e = mem_at(r.s, r.slot);
        if (mem_type(e) != MEM_T_SET) {
            st = wrong_type(e, "set_remove");
        } else {
            mem_set *set = mem_ptr_val(e);
            uint64_t before = mem_set_bytes(set);
            for (size_t i = 0; i < n; i++) mem_set_del(set, members[i], mlens[i]);
            mem_account(b, r.s, (int64_t)mem_set_bytes(set) - (int64_t)before);
            if (!mem_set_count(set)) mem_remove(b, r.s, r.slot, &g);
        }
    }
    unlock_ref(&r, &g);
    return st;
}

static cw_status op_set_pop(cw_backend *bk, const char *key, size_t klen, size_t max, cw_scan_fn fn,
                                void *ud, size_t *popped)
{
    mem_backend *b = mem_of(bk);
    size_t n = 0;
    mem_member *chain = NULL;
    cw_status st = CW_OK;
    if (klen <= MEM_KLEN_MAX && max) {
        mem_garbage g = { .n = 0 };
        mem_ref r;
        lookup(b, key, klen, &r, &g);
        if (r.slot != MEM_NIL) {
            mem_entry *e = mem_at(r.s, r.slot);
            if (mem_type(e) != MEM_T_SET) {
                st = wrong_type(e, "set_pop");
            } else {
                mem_set *set = mem_ptr_val(e);
                uint64_t before = mem_set_bytes(set);
                chain = mem_set_pop(set, max, &n);
                mem_account(b, r.s, (int64_t)mem_set_bytes(set) - (int64_t)before);
                if (!mem_set_count(set)) mem_remove(b, r.s, r.slot, &g);
            }
        }
        unlock_ref(&r, &g);
    }
    /* The members are ours now: call back without any lock. */
    int stopped = 0;
    for (mem_member *m = chain; m && !stopped; m = mem_member_next(m))
        stopped = fn && fn(ud, mem_member_data(m), mem_member_len(m), NULL, 0);
    mem_members_free(chain);
    if (popped) *popped = n;
    return st;
}

/* ---- open / close and the purge thread --------------------------------------------------------- */

static void *purge_main(void *arg)
{
    mem_backend *b = arg;
    pthread_mutex_lock(&b->mu);
    while (!atomic_load(&b->stop)) {
        struct timespec dl;
        clock_gettime(CLOCK_MONOTONIC, &dl);
        dl.tv_sec += (time_t)(b->check_interval_ms / 1000);
        dl.tv_nsec += (long)(b->check_interval_ms % 1000) * 1000000L;
        if (dl.tv_nsec >= 1000000000L) {
            dl.tv_sec++;
            dl.tv_nsec -= 1000000000L;
        }
        int rc = 0;
        while (!atomic_load(&b->stop) && rc != ETIMEDOUT) rc = pthread_cond_timedwait(&b->cv, &b->mu, &dl);
        if (atomic_load(&b->stop)) break;
        pthread_mutex_unlock(&b->mu);
        mem_purge(b, &b->stop);
        pthread_mutex_lock(&b->mu);
    }
    pthread_mutex_unlock(&b->mu);
    return NULL;
}

static void op_close(cw_backend *bk)
{
    mem_backend *b = mem_of(bk);
    if (!b) return;
    if (b->has_thread) {
        pthread_mutex_lock(&b->mu);
        atomic_store(&b->stop, 1);
        pthread_cond_signal(&b->cv);
        pthread_mutex_unlock(&b->mu);
        pthread_join(b->thread, NULL);
    }
    if (b->shards)
        for (uint32_t i = 0; i < b->nshards; i++) mem_shard_destroy(&b->shards[i]);
    pthread_cond_destroy(&b->cv);
    pthread_mutex_destroy(&b->mu);
    cw_free(b->shard_mem);
    cw_free(b);
}

static uint32_t shard_count(int64_t size)
{
    uint32_t n = 1;
    while (n < MEM_SHARDS_MAX && (int64_t)n * 2 * 64 <= size) n *= 2;
    return n;
}

static cw_status op_open(cw_backend **out, cw_url *url, const cw_backend_env *env, char *errbuf)
{
    int64_t size = 1000, interval = 1000;
    uint64_t max_bytes = 0;
    cw_status st = cw_url_take_int(url, "size", 1, MEM_SIZE_MAX, &size, errbuf);
    if (st != CW_OK && st != CW_NOTFOUND) return st;
    st = cw_url_take_ms(url, "check_interval", 0, &interval, errbuf);
    if (st != CW_OK && st != CW_NOTFOUND) return st;
    st = cw_url_take_size(url, "max_bytes", &max_bytes, errbuf);
    if (st != CW_OK && st != CW_NOTFOUND) return st;

    mem_backend *b = cw_calloc(1, sizeof *b);
    if (!b) return CW_ENOMEM;
    b->base.ops = &cw__mem_ops;
    b->env = *env;
    b->size = (uint64_t)size;
    b->max_bytes = max_bytes;
    b->check_interval_ms = interval;
    b->nshards = shard_count(size);
#ifdef CLOCK_REALTIME_COARSE
    struct timespec res;
    if (env->clock == cw_clock_now_ms && clock_getres(CLOCK_REALTIME_COARSE, &res) == 0 && res.tv_sec == 0 &&
        res.tv_nsec <= 10000000L)
        b->coarse_res_ms = (res.tv_nsec + 999999) / 1000000 + 1; /* +1: both readings truncate to ms */
#endif
    atomic_init(&b->count, 0);
    atomic_init(&b->bytes, 0);
    atomic_init(&b->evict_rr, 0);
    atomic_init(&b->stop, 0);
    pthread_mutex_init(&b->mu, NULL);
    pthread_condattr_t ca;
    pthread_condattr_init(&ca);
    pthread_condattr_setclock(&ca, CLOCK_MONOTONIC);
    pthread_cond_init(&b->cv, &ca);
    pthread_condattr_destroy(&ca);

    /* Shards on their own cache lines, so that two cores working on neighbouring shards do
     * not bounce one line between them. */
    size_t ssize = sizeof(mem_shard); /* a multiple of 64: see mem.h */
    b->shard_mem = cw_calloc(1, ssize * b->nshards + 64);
    if (!b->shard_mem) {
        op_close(&b->base);
        return CW_ENOMEM;
    }
    uintptr_t base = ((uintptr_t)b->shard_mem + 63) & ~(uintptr_t)63;
    b->shards = (mem_shard *)base;
    for (uint32_t i = 0; i < b->nshards; i++) {
        uint32_t share = (uint32_t)(size / b->nshards + ((int64_t)i < size % b->nshards));
        st = mem_shard_init((mem_shard *)(base + i * ssize), share, b->coarse_res_ms > 0);
        if (st) {
            b->nshards = i; /* destroy only those initialised */
            op_close(&b->base);
            snprintf(errbuf, CW_ERRMSG_SIZE, "mem: out of memory for size=%lld", (long long)size);
            return st;
        }
    }
    if (interval > 0) {
        if (pthread_create(&b->thread, NULL, purge_main, b) != 0) {
            op_close(&b->base);
            snprintf(errbuf, CW_ERRMSG_SIZE, "mem: cannot start the purge thread");
            return CW_EBACKEND;
        }
        b->has_thread = 1;
    }
    *out = &b->base;
    return CW_OK;
}

const cw_backend_ops cw__mem_ops = {
    .abi_version = CW_BACKEND_ABI,
    .scheme = "mem",
    .open = op_open,
    .close = op_close,
    .get = op_get,
    .set = op_set,
    .del = op_del,
    .exists = op_exists,
    .incr = op_incr,
    .expire = op_expire,
    .get_expire = op_get_expire,
    .scan = mem_op_scan,
    .delete_match = mem_op_delete_match,
    .clear = mem_op_clear,
    .keys_count = mem_op_keys_count,
    .value_size = op_value_size,
    .ping = op_ping,
    .delete_if_equal = op_delete_if_equal,
    .get_many = op_get_many,
    .set_many = op_set_many,
    .delete_many = op_delete_many,
    .set_bits = op_set_bits,
    .get_bits = op_get_bits,
    .slice_incr = op_slice_incr,
    .set_add = op_set_add,
    .set_remove = op_set_remove,
    .set_pop = op_set_pop,
    .maintain = mem_op_maintain,
    .view = op_view,
    .bitfield = op_bitfield,
};
