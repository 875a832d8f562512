/*
 * table.c - one shard of the mem:// backend: the key index, the S3-FIFO queues, the ghost,
 * and eviction. Every function here runs under the shard's lock (see mem.c for the design).
 *
 * Index: open addressing with linear probing over two parallel arrays, a tag byte per slot
 * (0 = empty, else 0x80 | 7 hash bits) and a 112-byte entry cell per slot (mem.h). A probe
 * reads tag bytes, which sit 64 to a cache line, and reads a cell only when the tag matches
 * (a false match costs one in 128). The home slot is (hash * cap) >> 32, so the capacity need
 * not be a power of two: a shard filled to its share has about share / 0.875 slots (cells are
 * big, so the load is higher than the usual 0.8: see the memory budget in mem.c). Deletion
 * shifts the following cluster back (Knuth's algorithm R) instead of leaving tombstones, so
 * probe lengths never degrade and a miss stops at the first empty slot. The index starts
 * small and doubles (at half load) until it reaches its final size, so a big, mostly empty
 * cache costs little.
 *
 * Queue links are slot numbers, so when the shift moves an entry to another slot, its two
 * neighbours (or the queue ends) are re-pointed; resizing rebuilds the links queue by queue.
 * The shift copies the cell; s->keep follows the one entry an eviction must spare.
 */
#include "mem.h"

#include <sched.h>

void mem_lock_slow(mem_lock *l)
{
    for (unsigned spins = 0;;) {
        while (atomic_load_explicit(&l->v, memory_order_relaxed)) {
            if (++spins < 128) MEM_CPU_RELAX();
            else sched_yield(); /* the holder may have been preempted: let it run */
        }
        if (!atomic_exchange(&l->v, 1)) return;
    }
}

/* ---- index ---------------------------------------------------------------------------------- */

enum { INITIAL_CAP = MEM_CHUNK };

/* Until the index reaches its planned size it doubles at half load, so that a cache still
 * filling probes as short as the probe floor's table (load 0.38): W1's 100,000 keys in a
 * cache sized for 200,000 scanned 2.6 slots a get at load 0.76, 1.3 at load 0.41. A full
 * cache is not affected (its index is at the planned size, load up to 0.875), so neither is
 * the memory budget; a partly filled one uses at most the index a full one would. */
static uint32_t grow_threshold(const mem_shard *s, uint32_t cap)
{
    return cap < s->final_cap ? cap / 2 : cap - cap / 8;
}

static uint32_t isqrt(uint32_t x)
{
    uint32_t r = 0;
    while ((uint64_t)(r + 1) * (r + 1) <= x) r++; /* once per shard at open: fine */
    return r;
}

/* Copy e into the first free slot of its probe sequence; returns the slot. */
static uint32_t place(mem_shard *s, const mem_entry *e)
{
    uint32_t i = mem_home(s, e->hash);
    while (s->tags[i])
        if (++i == s->cap) i = 0;
    s->tags[i] = mem_tag(e->hash);
    *mem_at(s, i) = *e;
    return i;
}

static mem_queue *queue_of(mem_shard *s, const mem_entry *e)
{
    return (e->meta & MEM_F_MAIN) ? &s->main : &s->small;
}

static void chunks_free(mem_entry **chunks, uint32_t cap)
{
    if (!chunks) return;
    for (uint32_t c = 0; c < cap / MEM_CHUNK; c++) cw_free(chunks[c]);
    cw_free(chunks);
}

/* The arrays of an index of cap slots (a multiple of MEM_CHUNK; tags zeroed), or CW_ENOMEM. */
static cw_status index_alloc(uint32_t cap, uint8_t **tags, mem_entry ***chunks)
{
    uint32_t n = cap / MEM_CHUNK;
    *tags = cw_calloc(cap, 1);
    *chunks = cw_calloc(n, sizeof **chunks);
    for (uint32_t c = 0; *tags && *chunks && c < n; c++)
        if (!((*chunks)[c] = cw_malloc(MEM_CHUNK * sizeof(mem_entry)))) break;
    if (*tags && *chunks && (*chunks)[n - 1]) return CW_OK;
    cw_free(*tags);
    chunks_free(*chunks, cap); /* the table is zeroed: unallocated chunks are NULL */
    return CW_ENOMEM;
}

/* Slots for n: a whole number of chunks. */
static uint32_t round_cap(uint64_t n)
{
    n = (n + MEM_CHUNK - 1) & ~(uint64_t)(MEM_CHUNK - 1);
    return n > UINT32_MAX - MEM_CHUNK ? UINT32_MAX - MEM_CHUNK + 1 : (uint32_t)n;
}

static cw_status index_resize(mem_shard *s, uint32_t ncap)
{
    uint8_t *nt;
    mem_entry **nchunks;
    if (index_alloc(ncap, &nt, &nchunks)) return CW_ENOMEM;
    uint8_t *ot = s->tags;
    mem_entry **ochunks = s->chunks;
    uint32_t ocap = s->cap;
    s->tags = nt;
    s->chunks = nchunks;
    s->cap = ncap;
    s->grow_at = grow_threshold(s, ncap);
    /* Re-place entries queue by queue, oldest first, relinking with the new slot numbers. */
    mem_queue *qs[2] = { &s->small, &s->main };
    for (int k = 0; k < 2; k++) {
        mem_queue *q = qs[k];
        uint32_t id = q->head, prev = MEM_NIL;
        q->head = q->tail = MEM_NIL;
        while (id != MEM_NIL) {
            const mem_entry *o = &ochunks[id >> MEM_CHUNK_SHIFT][id & (MEM_CHUNK - 1)];
            uint32_t next = o->next;
            uint32_t ns = place(s, o);
            mem_at(s, ns)->prev = prev;
            mem_at(s, ns)->next = MEM_NIL;
            if (prev == MEM_NIL) q->head = ns;
            else mem_at(s, prev)->next = ns;
            prev = ns;
            id = next;
        }
        q->tail = prev;
    }
    cw_free(ot);
    chunks_free(ochunks, ocap);
    return CW_OK;
}

/* The entry moved from slot `from` to slot `to`: re-point its neighbours. */
static void relink(mem_shard *s, mem_entry *e, uint32_t to)
{
    mem_queue *q = queue_of(s, e);
    if (e->prev == MEM_NIL) q->head = to;
    else mem_at(s, e->prev)->next = to;
    if (e->next == MEM_NIL) q->tail = to;
    else mem_at(s, e->next)->prev = to;
}

/* Empty slot i and shift back the rest of its cluster (every entry must be linked). */
static void index_delete(mem_shard *s, uint32_t i)
{
    uint32_t j = i;
    for (;;) {
        s->tags[i] = 0;
        for (;;) {
            if (++j == s->cap) j = 0;
            if (!s->tags[j]) return;
            uint32_t k = mem_home(s, mem_at(s, j)->hash);
            /* The entry at j may fill the hole at i unless its home lies cyclically in (i, j]. */
            int stays = i <= j ? (i < k && k <= j) : (i < k || k <= j);
            if (!stays) break;
        }
        s->tags[i] = s->tags[j];
        *mem_at(s, i) = *mem_at(s, j);
        relink(s, mem_at(s, i), i);
        if (s->keep == j) s->keep = i;
        i = j;
    }
}

/* ---- queues --------------------------------------------------------------------------------- */

static void q_push(mem_shard *s, mem_queue *q, uint32_t slot)
{
    mem_entry *e = mem_at(s, slot);
    e->next = MEM_NIL;
    e->prev = q->tail;
    if (q->tail == MEM_NIL) q->head = slot;
    else mem_at(s, q->tail)->next = slot;
    q->tail = slot;
    q->count++;
}

static void q_unlink(mem_shard *s, mem_queue *q, uint32_t slot)
{
    mem_entry *e = mem_at(s, slot);
    if (e->prev == MEM_NIL) q->head = e->next;
    else mem_at(s, e->prev)->next = e->next;
    if (e->next == MEM_NIL) q->tail = e->prev;
    else mem_at(s, e->next)->prev = e->prev;
    q->count--;
}

/* ---- ghost ----------------------------------------------------------------------------------
 * The ghost remembers 16-bit fingerprints of keys recently evicted from the small queue, in
 * buckets of MEM_GHOST_WAYS. Each bucket is a tiny FIFO (insert at the front, the oldest falls
 * off the end), which approximates one global FIFO of hashes without a ring, a second hash
 * table or any pointer: 2 bytes per remembered key. A false positive (about 8 in 65536) only
 * admits a new key straight to the main queue. */

static uint16_t *ghost_bucket(const mem_shard *s, uint32_t h)
{
    return s->ghost + (size_t)(((uint64_t)h * s->ghost_nb) >> 32) * MEM_GHOST_WAYS;
}
static uint16_t ghost_fp(uint32_t h) { return (uint16_t)(h | 1); }

static void ghost_add(mem_shard *s, uint32_t h)
{
    uint16_t *g = ghost_bucket(s, h);
    memmove(g + 1, g, (MEM_GHOST_WAYS - 1) * sizeof *g);
    g[0] = ghost_fp(h);
}

/* Was h evicted recently? Forget it if so (it is coming back). */
static int ghost_take(mem_shard *s, uint32_t h)
{
    uint16_t *g = ghost_bucket(s, h), fp = ghost_fp(h);
    for (int i = 0; i < MEM_GHOST_WAYS; i++)
        if (g[i] == fp) {
            memmove(g + i, g + i + 1, (size_t)(MEM_GHOST_WAYS - 1 - i) * sizeof *g);
            g[MEM_GHOST_WAYS - 1] = 0;
            return 1;
        }
    return 0;
}

/* ---- shard life cycle ------------------------------------------------------------------------ */

cw_status mem_shard_init(mem_shard *s, uint32_t share, int coarse)
{
    memset(s, 0, sizeof *s);
    s->coarse = coarse;
    atomic_init(&s->lock.v, 0);
    s->share = share;
    s->keep = MEM_NIL;
    /* Keys spread over shards binomially: plan the index for the share plus 2 standard
     * deviations, at load factor 0.875, so that filling the cache seldom regrows it (about
     * one shard in 40, by a quarter) and a full cache costs about 133 bytes of cells per key
     * (see the memory budget in mem.c). */
    s->final_cap = round_cap(((uint64_t)share + 2 * isqrt(share) + 4) * 8 / 7 + 1);
    s->small_max = share / 10 ? share / 10 : 1;
    s->small.head = s->small.tail = s->main.head = s->main.tail = MEM_NIL;
    /* Ghost of half the main queue's size: on Zipf-like traffic a ghost as large as the main
     * queue readmits too many keys whose reuse distance exceeds the cache (measured on the W3
     * trace: 0.8035 hit ratio with half, 0.8016 with a full-size ghost). */
    uint32_t ghost = (share - (share > s->small_max ? s->small_max : 0)) / 2;
    s->ghost_nb = ghost / MEM_GHOST_WAYS ? (ghost + MEM_GHOST_WAYS - 1) / MEM_GHOST_WAYS : 1;
    s->ghost = cw_calloc((size_t)s->ghost_nb * MEM_GHOST_WAYS, sizeof *s->ghost);
    s->cap = s->final_cap < INITIAL_CAP ? s->final_cap : INITIAL_CAP;
    s->grow_at = grow_threshold(s, s->cap);
    if (!s->ghost || index_alloc(s->cap, &s->tags, &s->chunks)) {
        mem_shard_destroy(s);
        return CW_ENOMEM;
    }
    return CW_OK;
}

static void free_all_entries(mem_shard *s)
{
    if (!s->tags) return;
    for (uint32_t i = 0; i < s->cap; i++)
        if (s->tags[i]) mem_entry_release(mem_at(s, i));
}

void mem_shard_destroy(mem_shard *s)
{
    free_all_entries(s);
    cw_free(s->tags);
    chunks_free(s->chunks, s->cap);
    cw_free(s->ghost);
    s->tags = NULL;
    s->chunks = NULL;
    s->ghost = NULL;
}

void mem_shard_clear(mem_backend *b, mem_shard *s)
{
    free_all_entries(s);
    mem_account(b, s, -(int64_t)s->bytes);
    atomic_fetch_sub_explicit(&b->count, s->count, memory_order_relaxed);
    s->count = s->n_exp = 0;
    s->small.head = s->small.tail = s->main.head = s->main.tail = MEM_NIL;
    s->small.count = s->main.count = 0;
    memset(s->ghost, 0, (size_t)s->ghost_nb * MEM_GHOST_WAYS * sizeof *s->ghost);
    /* Shrink the index back; if that allocation fails keep the big (now empty) one. */
    uint32_t ncap = s->final_cap < INITIAL_CAP ? s->final_cap : INITIAL_CAP;
    uint8_t *nt;
    mem_entry **nchunks;
    if (index_alloc(ncap, &nt, &nchunks) == CW_OK) {
        cw_free(s->tags);
        chunks_free(s->chunks, s->cap);
        s->tags = nt;
        s->chunks = nchunks;
        s->cap = ncap;
        s->grow_at = grow_threshold(s, ncap);
    } else {
        memset(s->tags, 0, s->cap);
    }
}

/* ---- entries ---------------------------------------------------------------------------------- */

uint64_t mem_entry_bytes(mem_entry *e)
{
    switch (mem_type(e)) {
    case MEM_T_SET: return mem_klen(e) + mem_set_bytes(mem_ptr_val(e));
    case MEM_T_WINDOW: return mem_klen(e) + mem_window_bytes(mem_ptr_val(e));
    default: return (uint64_t)mem_klen(e) + e->vlen;
    }
}

static void free_part(void *p, unsigned type)
{
    switch (type) {
    case MEM_T_SET: mem_set_free(p); break;
    case MEM_T_WINDOW: mem_window_free(p); break;
    default: cw_free(p); break;
    }
}

/* Keep p for g, or free it now when there is no g or g is full (then under the lock). */
static void garbage_put(mem_garbage *g, void *p, unsigned type)
{
    if (!g || g->n == (int)(sizeof g->p / sizeof g->p[0])) {
        free_part(p, type);
        return;
    }
    g->p[g->n] = p;
    g->type[g->n++] = (uint8_t)type;
}

void mem_garbage_take(mem_garbage *g, mem_entry *e)
{
    unsigned t = mem_type(e);
    /* both read before either is freed: a block may hold the set's or window's pointer */
    void *obj = t != MEM_T_BYTES ? mem_ptr_val(e) : NULL;
    void *blk = (e->meta & MEM_F_OUT) ? mem_block(e) : NULL;
    if (obj) garbage_put(g, obj, t);
    if (blk) garbage_put(g, blk, MEM_T_BYTES);
}

void mem_garbage_free(mem_garbage *g)
{
    for (int i = 0; i < g->n; i++) free_part(g->p[i], g->type[i]);
    g->n = 0;
}

void mem_remove(mem_backend *b, mem_shard *s, uint32_t slot, mem_garbage *g)
{
    mem_entry *e = mem_at(s, slot);
    q_unlink(s, queue_of(s, e), slot);
    s->count--;
    atomic_fetch_sub_explicit(&b->count, 1, memory_order_relaxed);
    if (e->meta & MEM_F_EXP) s->n_exp--;
    mem_account(b, s, -(int64_t)mem_entry_bytes(e));
    mem_garbage_take(g, e);
    index_delete(s, slot);
}

/* ---- S3-FIFO eviction -------------------------------------------------------------------------
 * evict_main: the main queue is a CLOCK with 2-bit counters: its oldest entry goes if it was
 * not hit since it last came round, else it is reinserted at the newest end with one less.
 * evict_small: the oldest entry of the small queue moves to main if it was hit while in
 * small, else it is evicted and its fingerprint goes to the ghost; promotions that push main
 * over its share evict from main. */

static int freq(const mem_entry *e) { return (int)((e->meta & MEM_F_FREQ) >> 24); }

static int evict_main(mem_backend *b, mem_shard *s, mem_garbage *g)
{
    /* Each pass round the queue lowers every counter, so after 4 passes only `keep` (which
     * is never evicted) could remain: stop there. */
    uint64_t budget = 4 * (uint64_t)s->main.count + 1;
    while (s->main.count && budget--) {
        uint32_t slot = s->main.head;
        mem_entry *e = mem_at(s, slot);
        if (slot == s->keep || freq(e) > 0) {
            if (slot != s->keep) e->meta -= MEM_F_FREQ1;
            q_unlink(s, &s->main, slot);
            q_push(s, &s->main, slot);
            continue;
        }
        mem_remove(b, s, slot, g);
        return 1;
    }
    return 0;
}

static int evict_small(mem_backend *b, mem_shard *s, mem_garbage *g)
{
    /* A shard may hold more than its share (keys do not spread evenly): main takes the rest. */
    uint32_t full = s->count > s->share ? s->count : s->share;
    uint32_t main_max = full - (full > s->small_max ? s->small_max : 0);
    while (s->small.count) {
        uint32_t slot = s->small.head;
        mem_entry *e = mem_at(s, slot);
        if (slot == s->keep || freq(e) > 0) {
            q_unlink(s, &s->small, slot);
            e->meta |= MEM_F_MAIN;
            q_push(s, &s->main, slot);
            /* Unlike the paper's loop, stop at the first eviction wherever it happened, so a
             * set evicts exactly one entry and a full shard stays full (same hit ratio). */
            if (s->main.count > main_max && evict_main(b, s, g)) return 1;
            continue;
        }
        uint32_t h = e->hash;
        mem_remove(b, s, slot, g);
        ghost_add(s, h);
        return 1;
    }
    return 0;
}

int mem_evict_one(mem_backend *b, mem_shard *s, uint32_t *keep, mem_garbage *g)
{
    if (!s->count) return 0;
    int n = 0;
    s->keep = keep ? *keep : MEM_NIL;
    int small_first = s->small.count >= s->small_max || !s->main.count;
    if (small_first) n = evict_small(b, s, g);
    if (!n) n = evict_main(b, s, g);
    if (!n && !small_first) n = evict_small(b, s, g); /* main held only the spared entry */
    if (keep) *keep = s->keep;
    s->keep = MEM_NIL;
    return n;
}

/* Evict one entry from a shard other than own (whose lock the caller holds): each other shard
 * in turn, round robin, taken only if its lock is free -- waiting for it while holding own's
 * could deadlock with a thread doing the same the other way round. 1 if one was evicted. */
static int evict_elsewhere(mem_backend *b, const mem_shard *own, mem_garbage *g)
{
    for (uint32_t k = 0; k < b->nshards; k++) {
        mem_shard *o = &b->shards[atomic_fetch_add_explicit(&b->evict_rr, 1, memory_order_relaxed) & (b->nshards - 1)];
        if (o == own || !mem_lock_try(&o->lock)) continue;
        int n = mem_evict_one(b, o, NULL, g);
        mem_lock_release(&o->lock);
        if (n) return 1;
    }
    return 0;
}

/* Claim one of the ?size places on the count for an insert into s (locked), evicting first
 * while the cache is full, so that the count -- what keys_count reports -- is never above
 * the bound, not even for a moment while threads race to insert. (Counting first and
 * evicting after let 16 threads take a cache of 1,000 to 1,018 keys.) The eviction comes from
 * s when it can (shards keep the share the key distribution gives them), else from another
 * shard. A place freed by one thread's eviction may go to another thread's claim; each claim
 * at a full cache still matches one eviction. Progress: a thread only looks elsewhere when
 * its own shard is empty, so the shards it waits for are held by threads that can evict. */
static void claim_place(mem_backend *b, mem_shard *s, mem_garbage *g)
{
    uint64_t n = atomic_load_explicit(&b->count, memory_order_relaxed);
    for (unsigned idle = 0;;) {
        if (n < b->size) {
            if (atomic_compare_exchange_weak_explicit(&b->count, &n, n + 1, memory_order_relaxed,
                                                      memory_order_relaxed))
                return;
            continue;
        }
        if (!mem_evict_one(b, s, NULL, g) && !evict_elsewhere(b, s, g) && ++idle % 64 == 0)
            sched_yield(); /* every other shard busy or empty: let their holders run */
        n = atomic_load_explicit(&b->count, memory_order_relaxed);
    }
}

uint32_t mem_insert(mem_backend *b, mem_shard *s, const mem_entry *e, int to_main, mem_garbage *g)
{
    claim_place(b, s, g);
    if (b->max_bytes) {
        uint64_t need = mem_entry_bytes((mem_entry *)e);
        while (s->count && atomic_load_explicit(&b->bytes, memory_order_relaxed) + need > b->max_bytes)
            if (!mem_evict_one(b, s, NULL, g)) break;
    }
    if (s->count + 1 > s->grow_at) {
        uint32_t ncap = 0;
        if (s->cap < s->final_cap) ncap = s->cap > s->final_cap / 2 ? s->final_cap : s->cap * 2;
        else if (s->cap < UINT32_MAX / 2) ncap = round_cap((uint64_t)s->cap + s->cap / 4 + 16); /* beyond the plan */
        if (!ncap || index_resize(s, ncap) != CW_OK) {
            atomic_fetch_sub_explicit(&b->count, 1, memory_order_relaxed);
            return MEM_NIL;
        }
    }
    if (!to_main && ghost_take(s, e->hash)) to_main = 1;
    uint32_t slot = place(s, e);
    mem_entry *c = mem_at(s, slot);
    if (to_main) c->meta |= MEM_F_MAIN;
    else c->meta &= ~MEM_F_MAIN;
    q_push(s, to_main ? &s->main : &s->small, slot);
    s->count++;
    if (c->meta & MEM_F_EXP) s->n_exp++;
    mem_account(b, s, (int64_t)mem_entry_bytes(c));
    return slot;
}
