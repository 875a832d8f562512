/*
 * mem.h - private declarations of the mem:// backend (see the design notes atop mem.c).
 *
 * Files:  mem.c    the ops table, single-key operations, URL parameters, the purge thread
 *         walk.c   operations over every shard: scan, delete_match, clear, keys_count, purge
 *         table.c  the per-shard index (open addressing), S3-FIFO queues, ghost, eviction
 *         types.c  the non-byte values: sets (tags) and sliding-window counters
 *         readers.c  lock-free gets: per-thread reader slots that lock holders wait out
 */
#ifndef CW_MEM_H
#define CW_MEM_H

#include "core/internal.h"

#include <pthread.h>
#include <stdatomic.h>
#include <stddef.h>
#include <stdint.h>
#include <string.h>

#if defined(__x86_64__) || defined(__i386__)
#include <immintrin.h>
#define MEM_CPU_RELAX() _mm_pause()
#elif defined(__aarch64__)
#define MEM_CPU_RELAX() __asm__ __volatile__("yield")
#else
#define MEM_CPU_RELAX() ((void)0)
#endif

#define MEM_NIL UINT32_MAX /* "no slot" in queue links */

/* ---- entries ----------------------------------------------------------------------------
 * An entry is a fixed 112-byte cell of its shard's index (table.c), not an allocation of its
 * own: a read finds the slot by its tag byte and reads the cell at the same slot number, so a
 * hit costs one dependent cache miss instead of two (slot, then a separately allocated entry).
 * The cell holds a 28-byte header and MEM_INLINE bytes of data: the key then the value when
 * both fit (16-byte keys with values up to 68 bytes: a 64-byte payload plus the core's
 * envelope), else a pointer to one block holding key then value (MEM_F_OUT).
 * Cells move: deleting shifts the rest of a cluster back, and the index is rebuilt when it
 * grows. So a mem_entry pointer is good only until the next removal or insertion in its
 * shard; code that evicts while it keeps an entry names it by slot (mem_evict_one's keep).
 * Queue links are slot numbers (4 bytes each); a move re-points the two neighbours.
 * For sets and sliding windows the value bytes end with a pointer to the out-of-line
 * structure (mem_ptr_at).
 *
 * Every heap pointer an entry holds sits at an 8-byte-aligned address: leak checkers
 * (LeakSanitizer, valgrind) find live blocks by scanning memory for pointers at aligned
 * offsets only, and would report every block behind a misaligned one as leaked while the
 * cache is alive. Cells are 16-byte aligned (chunks from malloc, 112 = 7 * 16), so data
 * starts at offset 24 (the `next` link sits after it, not in the header) and a block's
 * pointer is aligned; a set's or window's pointer is placed at the first aligned offset
 * after the key (mem_ptr_vlen), in the cell or in the block. */
#define MEM_INLINE 84
typedef struct mem_entry {
    int64_t exp;     /* expiry instant (ms on the env clock); meaningful with MEM_F_EXP */
    uint32_t hash;   /* low 32 bits of the key hash: index home, tag, ghost fingerprint */
    uint32_t meta;   /* key length (bits 0-23) | flags (bits 24-31, MEM_F_*); see mem_meta() */
    uint32_t vlen;   /* bytes of the value (for sets and windows: padding, then the pointer) */
    uint32_t prev;   /* queue neighbour toward the head (older) */
    unsigned char data[MEM_INLINE]; /* key, value; or (MEM_F_OUT) a pointer to a block of them */
    uint32_t next;   /* queue neighbour toward the tail (newer) */
} mem_entry;
_Static_assert(sizeof(mem_entry) == 112, "a cell is 112 bytes (see the memory budget in mem.c)");
_Static_assert(offsetof(mem_entry, data) % 8 == 0 && sizeof(mem_entry) % 16 == 0,
               "pointers in cells are aligned (leak checkers see only those)");

#define MEM_KLEN_MAX ((1u << 24) - 1)
#define MEM_F_FREQ 0x03000000u /* 2-bit saturating hit counter of S3-FIFO */
#define MEM_F_FREQ1 0x01000000u
#define MEM_F_MAIN 0x04000000u /* in the main queue (else the small queue) */
#define MEM_F_EXP 0x08000000u  /* the key has an expiry instant (exp) */
#define MEM_F_TYPE 0x30000000u /* MEM_T_* << 28 */
#define MEM_F_OUT 0x40000000u  /* key and value live in a block that data points to */
#define MEM_TYPE_SHIFT 28

enum { MEM_T_BYTES = 0, MEM_T_SET = 1, MEM_T_WINDOW = 2 };

/* meta as a reader reads it. Lock-free readers (readers.c) bump the hit counter in meta with
 * a compare-and-swap while other readers read it, so every read of meta that a reader may
 * make is an atomic (relaxed: a plain load) one. Writers hold the shard lock, which keeps
 * readers out, and change meta plainly. */
static inline uint32_t mem_meta(const mem_entry *e) { return __atomic_load_n(&e->meta, __ATOMIC_RELAXED); }
static inline uint32_t mem_klen(const mem_entry *e) { return mem_meta(e) & MEM_KLEN_MAX; }
static inline unsigned mem_type(const mem_entry *e) { return (mem_meta(e) & MEM_F_TYPE) >> MEM_TYPE_SHIFT; }
/* Do klen + vlen bytes fit in a cell? */
static inline int mem_fits(size_t klen, size_t vlen) { return klen + vlen <= MEM_INLINE; }
static inline unsigned char *mem_block(const mem_entry *e)
{
    unsigned char *p;
    memcpy(&p, e->data, sizeof p);
    return p;
}
static inline unsigned char *mem_key(mem_entry *e) { return (mem_meta(e) & MEM_F_OUT) ? mem_block(e) : e->data; }
static inline unsigned char *mem_val(mem_entry *e) { return mem_key(e) + mem_klen(e); }
/* Expiry instant in ms on the env clock, 0 = none. */
static inline int64_t mem_exp(const mem_entry *e) { return (e->meta & MEM_F_EXP) ? e->exp : 0; }
/* The value length of a set or window under a key of klen bytes: padding up to the next
 * 8-byte boundary after the key (which starts aligned, in a cell or a block), then the
 * pointer. */
static inline size_t mem_ptr_vlen(size_t klen) { return sizeof(void *) + ((0 - klen) & 7); }
/* Where a set's or window's pointer lives: the end of the value, aligned. */
static inline unsigned char *mem_ptr_at(mem_entry *e) { return mem_val(e) + e->vlen - sizeof(void *); }
static inline void *mem_ptr_val(mem_entry *e)
{
    void *p;
    memcpy(&p, mem_ptr_at(e), sizeof p);
    return p;
}
/* Store a set's or window's pointer (and zero the padding before it). */
static inline void mem_ptr_put(mem_entry *e, void *p)
{
    unsigned char *at = mem_ptr_at(e);
    memset(mem_val(e), 0, (size_t)(at - mem_val(e)));
    memcpy(at, &p, sizeof p);
}

/* ---- the per-shard lock -------------------------------------------------------------------
 * A test-and-test-and-set spinlock: critical sections are a probe and a 64-byte copy (tens of
 * ns), so an uncontended acquire (one atomic exchange) beats a mutex's two atomics and call.
 * A waiter spins politely, then yields so that a preempted holder gets the CPU back. */
typedef struct mem_lock {
    atomic_int v;
} mem_lock;

/* ---- optimistic readers (readers.c) -------------------------------------------------------
 * A get marks its thread's own slot with the shard lock it reads under instead of taking
 * the lock; whoever takes a lock then waits for the readers marked with it. */
typedef struct mem_reader {
    _Alignas(64) _Atomic(const mem_lock *) lock; /* the lock this thread reads under, or NULL */
    atomic_int used;                             /* claimed by a thread */
} mem_reader;

/* Thread-local storage with the cheap model (no __tls_get_addr call on the read path). */
#if defined(__GNUC__) && !defined(__SANITIZE_THREAD__)
#define MEM_TLS _Thread_local __attribute__((tls_model("initial-exec")))
#else
#define MEM_TLS _Thread_local
#endif
extern MEM_TLS mem_reader *mem_reader_mine; /* this thread's slot once claimed */
extern _Atomic unsigned mem_readers_high;   /* slots claimed so far (an upper bound) */
/* Claim a slot for this thread; NULL when none is free (then it reads under the lock). */
mem_reader *mem_reader_claim(void);
/* Wait until no reader is marked with l (called by l's holder). */
void mem_readers_wait(const mem_lock *l);

static inline mem_reader *mem_reader_self(void)
{
    mem_reader *r = mem_reader_mine;
    return r ? r : mem_reader_claim();
}
/* Mark r with l and check that l is free: 1 when the read may go on without the lock. */
static inline int mem_reader_enter(mem_reader *r, mem_lock *l)
{
    atomic_store(&r->lock, l);
    if (!atomic_load(&l->v)) return 1;
    atomic_store_explicit(&r->lock, NULL, memory_order_release);
    return 0;
}
static inline void mem_reader_leave(mem_reader *r) { atomic_store_explicit(&r->lock, NULL, memory_order_release); }

void mem_lock_slow(mem_lock *l);
/* Take l (seq_cst, so that it orders against the readers' marks), then wait out the readers
 * that were already reading under it. */
static inline void mem_lock_acquire(mem_lock *l)
{
    if (atomic_exchange(&l->v, 1)) mem_lock_slow(l);
    if (atomic_load(&mem_readers_high)) mem_readers_wait(l);
}
/* Take l only if it is free now: 1 when taken (readers waited out as by mem_lock_acquire). */
static inline int mem_lock_try(mem_lock *l)
{
    if (atomic_load_explicit(&l->v, memory_order_relaxed) || atomic_exchange(&l->v, 1)) return 0;
    if (atomic_load(&mem_readers_high)) mem_readers_wait(l);
    return 1;
}
static inline void mem_lock_release(mem_lock *l) { atomic_store_explicit(&l->v, 0, memory_order_release); }

/* ---- shards -------------------------------------------------------------------------------- */
typedef struct mem_queue {
    uint32_t head; /* oldest: eviction end */
    uint32_t tail; /* newest: insertion end */
    uint32_t count;
} mem_queue;

typedef struct mem_shard {
    /* what a read touches, on the first line */
    _Alignas(64) mem_lock lock; /* shards sit on their own cache lines (no false sharing) */
    uint32_t cap;               /* index slots */
    uint8_t *tags;              /* per slot: 0 empty, else 0x80 | 7 low bits of the hash */
    mem_entry **chunks;         /* per MEM_CHUNK slots: their cells */
    int coarse;                 /* the backend's clock is the default one, helped by the coarse
                                   clock (its coarse_res_ms > 0): see surely_alive in mem.c */
    /* the rest */
    uint32_t grow_at;   /* entries at which the index grows (load factor 0.8) */
    uint32_t final_cap; /* index slots planned for a full shard (it grows further if needed) */
    uint32_t count;     /* entries */
    uint32_t share;     /* this shard's expected part of ?size (sizes the queues and ghost) */
    uint32_t small_max; /* S3-FIFO small queue target: 10% of share */
    uint32_t n_exp;     /* entries carrying an expiry field (the purge skips shards without) */
    uint32_t ghost_nb;  /* ghost buckets of MEM_GHOST_WAYS fingerprints */
    mem_queue small, main;
    uint32_t keep;   /* slot of the entry an eviction must spare, followed as cells move */
    uint64_t bytes;  /* key + value bytes stored in this shard */
    uint16_t *ghost; /* ghost_nb * MEM_GHOST_WAYS fingerprints, 0 = empty */
} mem_shard;

#define MEM_GHOST_WAYS 8

/* What removed entries owned (blocks, sets, windows), freed once the shard lock is released
 * (free() can be slow; the lock is hot). */
typedef struct mem_garbage {
    void *p[8];
    uint8_t type[8]; /* MEM_T_* of a set or window; MEM_T_BYTES for a plain block */
    int n;
} mem_garbage;

typedef struct mem_backend {
    cw_backend base; /* first */
    /* read-mostly */
    cw_backend_env env;
    uint32_t nshards;          /* power of two */
    uint64_t size;             /* ?size: bound on entries over all shards */
    uint64_t max_bytes;        /* 0: no cap on bytes */
    int64_t check_interval_ms; /* 0: no purge thread */
    int64_t coarse_res_ms;     /* > 0: the default clock, helped by CLOCK_REALTIME_COARSE (mem.c) */
    mem_shard *shards;
    void *shard_mem; /* allocation holding the cache-line-aligned shards */
    int has_thread;
    pthread_t thread;
    pthread_mutex_t mu;
    pthread_cond_t cv;
    /* written by inserts and removals, on a line of their own (see mem.c) */
    _Alignas(64) _Atomic uint64_t count; /* entries over all shards */
    _Atomic uint64_t bytes;              /* key + value bytes (kept only with max_bytes) */
    _Atomic uint32_t evict_rr;           /* round robin over shards when one cannot free enough */
    atomic_int stop; /* set under mu (for the timed wait); read by the purge between shards */
} mem_backend;

static inline mem_backend *mem_of(cw_backend *b) { return (mem_backend *)b; }
/* The env clock (ms since the epoch). */
static inline int64_t mem_now_ms(mem_backend *b) { return b->env.clock(b->env.clock_ud); }

/* ---- hashing ------------------------------------------------------------------------------
 * A 64-bit multiply-fold hash over 8-byte words (wyhash's construction, our constants): two
 * 64x64->128 multiplies for keys up to 16 bytes, about 3 ns. Bits 32..39 pick the shard; the
 * low 32 bits (mem_entry.hash) give the index home (high bits, by multiply-shift), the slot
 * tag and the ghost fingerprint (low bits). The seed is fixed so that eviction, and so the
 * benchmark's hit ratio, is repeatable. */
static inline uint64_t mem_mix(uint64_t a, uint64_t b)
{
#ifdef __SIZEOF_INT128__
    __extension__ typedef unsigned __int128 u128;
    u128 r = (u128)a * b;
    return (uint64_t)r ^ (uint64_t)(r >> 64);
#else
    uint64_t h = a ^ (b * 0x9E3779B97F4A7C15ull);
    h ^= h >> 32;
    h *= 0xD6E8FEB86659FD93ull;
    return h ^ (h >> 32);
#endif
}
static inline uint64_t mem_r64(const unsigned char *p) { uint64_t v; memcpy(&v, p, 8); return v; }
static inline uint64_t mem_r32(const unsigned char *p) { uint32_t v; memcpy(&v, p, 4); return v; }
#define MEM_K0 0xa0761d6478bd642full
#define MEM_K1 0xe7037ed1a0b428dbull
#define MEM_K2 0x8ebc6af09c88c6e3ull
/* The last step, from the key's last two words a and b (see mem_hash). */
static inline uint64_t mem_hash_end(uint64_t a, uint64_t b, uint64_t seed, size_t n)
{
    return mem_mix(MEM_K1 ^ n, mem_mix(a ^ MEM_K1, b ^ seed) ^ MEM_K0);
}
static inline uint64_t mem_hash(const void *key, size_t n)
{
    const unsigned char *p = key;
    const uint64_t k1 = MEM_K1;
    uint64_t a, b, seed = MEM_K2;
    if (n <= 16) { /* the common case: two (possibly overlapping) words, no loop */
        if (n >= 8) {
            a = mem_r64(p);
            b = mem_r64(p + n - 8);
        } else if (n >= 4) {
            a = mem_r32(p);
            b = mem_r32(p + n - 4);
        } else {
            a = n ? ((uint64_t)p[0] << 16) | ((uint64_t)p[n >> 1] << 8) | p[n - 1] : 0;
            b = 0;
        }
    } else {
        size_t left = n;
        while (left > 16) {
            seed = mem_mix(mem_r64(p) ^ k1, mem_r64(p + 8) ^ seed);
            p += 16;
            left -= 16;
        }
        a = mem_r64(p + left - 16);
        b = mem_r64(p + left - 8);
    }
    return mem_hash_end(a, b, seed, n);
}

/* ---- table.c: index, queues, eviction (all under the shard lock) -------------------------- */
/* Prepare shard for share (> 0) entries. CW_OK or CW_ENOMEM. */
cw_status mem_shard_init(mem_shard *s, uint32_t share, int coarse);
/* Free every entry and the arrays. */
void mem_shard_destroy(mem_shard *s);
/* Drop every entry (freeing what they own), shrink the index back, clear the ghost. */
void mem_shard_clear(mem_backend *b, mem_shard *s);
/* Home slot of a hash: multiply-shift, so any capacity works. */
static inline uint32_t mem_home(const mem_shard *s, uint32_t h)
{
    return (uint32_t)(((uint64_t)h * s->cap) >> 32);
}
static inline uint8_t mem_tag(uint32_t h) { return (uint8_t)(0x80 | (h & 0x7f)); }
/* Cells come in chunks of MEM_CHUNK (3.5 KiB), not one array: an index that grows frees
 * chunks of one size, which the next shard to grow reuses. Arrays of a few hundred KiB
 * instead met glibc's sliding mmap threshold, and left 12 MB of heap holes in a 1M-key cache.
 * The chunk table is small (8 bytes per 32 slots) and mostly cached, and its load does not
 * wait for the tag's. */
#define MEM_CHUNK_SHIFT 5
#define MEM_CHUNK (1u << MEM_CHUNK_SHIFT)
static inline mem_entry *mem_at(const mem_shard *s, uint32_t slot)
{
    return &s->chunks[slot >> MEM_CHUNK_SHIFT][slot & (MEM_CHUNK - 1)];
}
/* Key equality without a call for the usual short keys (two overlapping word compares). */
static inline int mem_key_eq(const unsigned char *a, const unsigned char *b, uint32_t n)
{
    if (n >= 8 && n <= 16) return mem_r64(a) == mem_r64(b) && mem_r64(a + n - 8) == mem_r64(b + n - 8);
    if (n >= 4 && n < 8) return mem_r32(a) == mem_r32(b) && mem_r32(a + n - 4) == mem_r32(b + n - 4);
    return memcmp(a, b, n) == 0;
}
/* Slot of the key (hash h), or MEM_NIL. */
static inline uint32_t mem_find(const mem_shard *s, uint32_t h, const void *key, uint32_t klen)
{
    const uint8_t tag = mem_tag(h);
    uint32_t i = mem_home(s, h);
    for (;;) {
        uint8_t t = s->tags[i];
        if (t == 0) return MEM_NIL;
        if (t == tag) {
            const mem_entry *e = mem_at(s, i);
            /* A cell spans two or three cache lines: ask for the rest now, so that their
             * misses overlap the first one's. */
            __builtin_prefetch((const char *)e + 64);
            __builtin_prefetch((const char *)e + sizeof *e - 1);
            uint32_t meta = mem_meta(e);
            if (e->hash == h && (meta & MEM_KLEN_MAX) == klen &&
                mem_key_eq((meta & MEM_F_OUT) ? mem_block(e) : e->data, key, klen))
                return i;
        }
        if (++i == s->cap) i = 0;
    }
}
/* Insert a copy of e (built by the caller, not in the shard; the shard takes over what it
 * owns) in the queue S3-FIFO picks (the main queue when its hash is in the ghost, or when
 * to_main), first evicting from this shard what the bounds ask (ending with at most one entry
 * over ?size when the shard had nothing to evict: the caller then relieves other shards).
 * Evicted entries' parts go to g. Returns its slot, or MEM_NIL on CW_ENOMEM (nothing taken). */
uint32_t mem_insert(mem_backend *b, mem_shard *s, const mem_entry *e, int to_main, mem_garbage *g);
/* Unlink the entry at slot from its queue and the index; what it owned goes to g (freed at
 * once when g is NULL). Later cells of its cluster may move. */
void mem_remove(mem_backend *b, mem_shard *s, uint32_t slot, mem_garbage *g);
/* Evict one entry by S3-FIFO, never the entry at *keep (keep may be NULL; *keep is updated
 * when that entry moves). Returns 0 when nothing could be evicted. */
int mem_evict_one(mem_backend *b, mem_shard *s, uint32_t *keep, mem_garbage *g);
/* Bytes an entry accounts for (key + value, or the members of a set / instants of a window). */
uint64_t mem_entry_bytes(mem_entry *e);
/* Account delta bytes to the shard (and the backend's total when max_bytes is set). */
static inline void mem_account(mem_backend *b, mem_shard *s, int64_t delta)
{
    s->bytes += (uint64_t)delta;
    if (b->max_bytes) atomic_fetch_add_explicit(&b->bytes, (uint64_t)delta, memory_order_relaxed);
}
/* Over ?size or ?max_bytes (after an insert into a shard that had nothing left to evict). */
static inline int mem_over_limits(mem_backend *b)
{
    return atomic_load_explicit(&b->count, memory_order_relaxed) > b->size ||
           (b->max_bytes && atomic_load_explicit(&b->bytes, memory_order_relaxed) > b->max_bytes);
}
static inline int mem_over_bytes(mem_backend *b)
{
    return b->max_bytes && atomic_load_explicit(&b->bytes, memory_order_relaxed) > b->max_bytes;
}
/* Hand what e owns (its set or window, its block) to g, to be freed once the lock is
 * released; with g NULL, free it now. The cell itself is the index's. */
void mem_garbage_take(mem_garbage *g, mem_entry *e);
/* Free what an entry owns now (an entry built outside the index that did not go in). */
static inline void mem_entry_release(mem_entry *e) { mem_garbage_take(NULL, e); }
void mem_garbage_free(mem_garbage *g);

/* ---- walk.c: operations over every shard ------------------------------------------------- */
/* Remove expired entries from every shard (stop, when set, ends it early). */
void mem_purge(mem_backend *b, atomic_int *stop);
cw_status mem_op_maintain(cw_backend *b);
cw_status mem_op_scan(cw_backend *b, const char *pattern, size_t plen, size_t batch, int with_values,
                      cw_scan_fn fn, void *ud);
cw_status mem_op_delete_match(cw_backend *b, const char *pattern, size_t plen, uint64_t *deleted);
cw_status mem_op_clear(cw_backend *b);
cw_status mem_op_keys_count(cw_backend *b, uint64_t *count);

/* ---- types.c: sets and sliding windows ---------------------------------------------------- */
typedef struct mem_set mem_set;
typedef struct mem_window mem_window;
mem_set *mem_set_new(void);
void mem_set_free(mem_set *set);
/* Add a member; *added = 1 when new. CW_OK or CW_ENOMEM. */
cw_status mem_set_add(mem_set *set, const void *m, size_t len, int *added);
/* Remove a member: 1 when it was there. */
int mem_set_del(mem_set *set, const void *m, size_t len);
size_t mem_set_count(const mem_set *set);
uint64_t mem_set_bytes(const mem_set *set);
/* Detach up to max members into a NULL-terminated chain the caller walks with
 * mem_member_next/data/len and frees with mem_members_free. */
typedef struct mem_member mem_member;
mem_member *mem_set_pop(mem_set *set, size_t max, size_t *popped);
mem_member *mem_member_next(const mem_member *m);
const char *mem_member_data(const mem_member *m);
size_t mem_member_len(const mem_member *m);
void mem_members_free(mem_member *m);

mem_window *mem_window_new(void);
void mem_window_free(mem_window *w);
/* Sliding-window step (see cw_backend_ops.slice_incr). CW_OK or CW_ENOMEM. */
cw_status mem_window_step(mem_window **w, int64_t start_ms, int64_t now_ms, int64_t max_count,
                          int64_t *count);
uint64_t mem_window_bytes(const mem_window *w);

#endif /* CW_MEM_H */
