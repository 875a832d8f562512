/*
 * disk_int.h - private declarations of the disk:// backend (design: docs/DISK.md).
 *
 * Files:  disk.c   the ops table, URL parameters, opening and validating the shard files,
 *                  the connection pools, error mapping, the public cw_disk_* functions
 *         ops.c    the basic commands (get, set, incr, delete, scan, ...)
 *         types.c  bit fields, sliding windows and sets (the strategies' commands)
 *         evict.c  size accounting, eviction by policy, bulk expiry, LRU/LFU access batches
 *
 * The cache is N SQLite files ("shards") in one directory; a key lives in shard
 * fnv1a64(key) % N. Every file has the same schema (SCHEMA in disk.c): a rowid table of
 * entries whose id order is store order, a unique index on the key, a members table for
 * sets and a one-row meta table. The shard's running totals (bytes, rows, access clock)
 * ride on the newest entry row and change in the same transaction as the rows they
 * describe, so every process sharing the directory sees exact figures.
 */
#ifndef CW_DISK_INT_H
#define CW_DISK_INT_H

#include <pthread.h>
#include <sqlite3.h>
#include <stdatomic.h>
#include <stdint.h>

#include <cashews/disk.h>

#include "core/internal.h"

/* File format: PRAGMA application_id and user_version of every shard file. */
#define DK_APP_ID 0x63776463 /* "cwdc" */
#define DK_FORMAT 2 /* 1: no crc column (upgraded in place at open) */
#define DK_PAGE_SIZE 4096
#define DK_MAX_SHARDS 256

/* What an entry holds (column kind). */
enum { DK_KIND_BYTES = 0, DK_KIND_SET = 1, DK_KIND_WINDOW = 2 };

typedef enum dk_policy { DK_LRS = 0, DK_LRU, DK_LFU, DK_NONE } dk_policy;

/* Prepared statements, prepared lazily once per connection (SQL in disk.c). */
typedef enum dk_stmt_id {
    ST_BEGIN, ST_COMMIT, ST_ROLLBACK,
    ST_GET,          /* value, expire_at, kind, size, id, access_seq, crc of a key */
    ST_PEEK,         /* id, expire_at, size, kind of a key */
    ST_PUT,          /* insert or replace a whole entry (new id = newest) with the totals */
    ST_SET_VALUE,    /* new value and size of row id, TTL and place kept */
    ST_SET_SIZE,     /* new size and expire_at of row id (sets) */
    ST_TOTALS,       /* id, t_size, t_count, t_seq of the newest row */
    ST_TOTALS_SET,   /* t_size, t_count, t_seq of row id */
    ST_META_GET,     /* shard, shards, evictions */
    ST_META_EVICT,   /* evictions += ? */
    ST_DEL,          /* delete a key; returns size, expire_at */
    ST_DEL_ID,       /* delete row id; returns size */
    ST_EXPIRE,       /* new expire_at on a live key */
    ST_TOUCH,        /* access_seq = ?, access_count += 1 */
    ST_VICTIMS,      /* id, key, size of the first rows in policy order */
    ST_EXPIRED,      /* id, key, size of rows whose expire_at has passed, soonest first */
    ST_SCAN_GE,      /* key >= ?1 ORDER BY key LIMIT ?3 (value when ?4) */
    ST_SCAN_GT,      /* key > ?1 ... */
    ST_SCAN_GE_HI,   /* key >= ?1 AND key < ?2 ... */
    ST_SCAN_GT_HI,   /* key > ?1 AND key < ?2 ... */
    ST_CLEAR,        /* delete every entry */
    ST_CLEAR_MEMBERS,
    ST_MEMBER_ADD,
    ST_MEMBER_DEL,
    ST_MEMBER_LIST,  /* up to ?2 members of ?1 */
    ST_MEMBER_ANY,   /* does ?1 have a member */
    ST_MEMBERS_DROP, /* every member of ?1 */
    ST__COUNT
} dk_stmt_id;

typedef struct dk_shard dk_shard;
typedef struct dk_backend dk_backend;

/* One SQLite connection to one shard file, used by one thread at a time. */
typedef struct dk_conn {
    sqlite3 *db;
    dk_shard *shard;
    dk_backend *b;
    struct dk_conn *next; /* idle list */
    int in_write;         /* holds shard->wmu and an open BEGIN IMMEDIATE */
    int64_t busy_start_ns;
    sqlite3_stmt *st[ST__COUNT];
} dk_conn;

/* A key whose access is not yet written (LRU/LFU): applied in batches. */
typedef struct dk_access {
    unsigned char *key;
    size_t klen;
} dk_access;

struct dk_shard {
    char *path;
    unsigned index;
    pthread_mutex_t mu;  /* guards idle and touches */
    pthread_mutex_t wmu; /* one writer per shard in this process (others wait here, not in
                            SQLite's sleeping busy handler); other processes: busy_timeout */
    dk_conn *idle;
    dk_access *touches;
    size_t ntouches, touches_cap;
    /* The access clock and row count as this process last committed them: reads of rows
     * already in the most recent quarter of LRU order are not recorded (see evict.c). */
    _Atomic int64_t seq_hint, count_hint;
};

struct dk_backend {
    cw_backend base; /* first */
    cw_backend_env env;
    char *dir;
    int dir_is_temp;      /* created by us, removed at close */
    unsigned nshards;
    dk_shard *shards;
    uint64_t size_limit;  /* accounted bytes per directory (split evenly over shards) */
    uint64_t shard_limit; /* size_limit / nshards */
    dk_policy policy;
    int64_t timeout_ms;
    _Atomic uint64_t evictions; /* rows this instance evicted */
    _Atomic uint64_t culled;    /* expired rows this instance purged */
    pthread_mutex_t cb_mu;
    cw_disk_evict_fn on_evict;
    void *on_evict_ud;
};

/* Rows removed for size_limit during one write, reported after its commit. */
typedef struct dk_victims {
    unsigned char *keys; /* concatenated key bytes */
    size_t keys_len, keys_cap;
    struct dk_victim { size_t off, klen; uint64_t size; } *v;
    size_t n, cap;
} dk_victims;

/* State of a key as seen inside a transaction. */
typedef struct dk_row {
    int found;         /* a row exists (maybe expired) */
    int live;          /* found and not expired */
    int kind;
    int64_t id;        /* its rowid: its place in store order */
    int64_t expire_at; /* 0 = none */
    int64_t size;      /* accounted bytes of the row */
} dk_row;

/* The shard's running totals, kept on its newest row (docs/DISK.md). */
typedef struct dk_totals {
    int64_t size;  /* sum of every row's size */
    int64_t count; /* rows */
    int64_t seq;   /* access clock of LRU/LFU: last number handed out */
} dk_totals;

/* A write transaction on one shard: BEGIN IMMEDIATE on a connection, the totals read once
 * and written back once at the end (onto the newest row), evictions to report. */
typedef struct dk_wtx {
    dk_backend *b;
    dk_conn *c;
    int64_t now;        /* env clock at the start */
    dk_totals tot;
    int tot_loaded;
    int tot_dirty;      /* tot differs from what the newest row holds */
    dk_victims victims; /* evicted by this transaction, reported after commit */
} dk_wtx;

/* ---- disk.c ---- */
extern const char *const cw__dk_policy_names[4];
unsigned cw__dk_shard_of(const dk_backend *b, const void *key, size_t klen);
int64_t cw__dk_now(const dk_backend *b);
dk_conn *cw__dk_acquire(dk_backend *b, unsigned shard, cw_status *st);
void cw__dk_release(dk_conn *c);
sqlite3_stmt *cw__dk_stmt(dk_conn *c, dk_stmt_id id, cw_status *st);
/* Map an SQLite failure (rc) on c to a status with a detail naming @what and the file. */
cw_status cw__dk_fail(dk_conn *c, int rc, const char *what);
/* Write transactions: BEGIN IMMEDIATE under shard->wmu; commit or roll back and unlock. */
cw_status cw__dk_begin(dk_conn *c);
cw_status cw__dk_commit(dk_conn *c);
void cw__dk_rollback(dk_conn *c);
/* sqlite3_step() expecting SQLITE_DONE, then reset. */
cw_status cw__dk_exec(dk_conn *c, sqlite3_stmt *s, const char *what);
static inline void dk_bind_key(sqlite3_stmt *s, int i, const void *key, size_t klen)
{
    /* A zero-length blob needs a non-NULL pointer, or SQLite binds NULL. */
    sqlite3_bind_blob64(s, i, klen ? key : (const void *)"", klen, SQLITE_STATIC);
}
/* The checksum of a row (docs/DISK.md): CRC-32 of the kind byte, the key, the value. */
uint32_t cw__dk_crc(int kind, const void *key, size_t klen, const void *val, size_t vlen);
/* Check column @col (crc) of the current row of @s against key and the value read:
 * CW_OK (or NULL: a row of format 1), else CW_ECORRUPT with a detail naming the file. */
cw_status cw__dk_crc_check(dk_conn *c, sqlite3_stmt *s, int col, int kind, const void *key, size_t klen,
                           const void *val, size_t vlen, const char *what);
/* Saturating now + ttl; 0 (no expiry) for CW_NO_EXPIRY. */
int64_t cw__dk_expire_at(int64_t now, int64_t ttl_ms);

/* ---- evict.c ---- */
/* Acquire a connection for the shard of key and BEGIN IMMEDIATE. */
cw_status cw__dk_wbegin(dk_wtx *w, cw_backend *b, const void *key, size_t klen);
/* BEGIN IMMEDIATE on a connection the caller holds. */
cw_status cw__dk_wstart(dk_wtx *w, dk_backend *b, dk_conn *c);
/* Write the totals back, commit (or roll back when @st is a hard failure); the connection
 * stays with the caller. Returns @st or the commit failure. */
cw_status cw__dk_wfinish(dk_wtx *w, cw_status st);
/* cw__dk_wfinish, then release the connection and report the evictions of a committed
 * transaction to the callback. */
cw_status cw__dk_wend(dk_wtx *w, cw_status st);
cw_status cw__dk_totals_load(dk_wtx *w);
/* Read the totals of a shard outside a transaction (one consistent snapshot). */
cw_status cw__dk_totals_read(dk_conn *c, dk_totals *t);
/* Row of key (id, expire_at, size, kind). */
cw_status cw__dk_peek(dk_conn *c, const void *key, size_t klen, int64_t now, dk_row *r);
/* Row of key with its value copied into @val (when found, expired or not; may be NULL). The
 * value of a live row is checked against its checksum (CW_ECORRUPT). */
cw_status cw__dk_read_entry(dk_conn *c, const void *key, size_t klen, int64_t now, dk_row *r,
                        cw_value *val);
/* Delete key (members too) and account for it. */
cw_status cw__dk_delete_locked(dk_wtx *w, const void *key, size_t klen, int *was_live,
                           int64_t *size_out);
/* Store a whole entry as the newest row, accounting for @old (as read by cw__dk_peek); *id gets
 * its rowid (may be NULL). */
cw_status cw__dk_put_locked(dk_wtx *w, const void *key, size_t klen, const void *val, size_t vlen,
                        int kind, int64_t expire_at, const dk_row *old, int64_t *id);
/* Replace the value of row @old (of key), keeping its TTL and place. */
cw_status cw__dk_update_locked(dk_wtx *w, const dk_row *old, const void *key, size_t klen, const void *val,
                           size_t vlen);
/* Is an entry of @bytes accounted bytes allowed at all (CW_ETOOBIG past the shard limit)? */
cw_status cw__dk_check_fits(const dk_backend *b, uint64_t bytes);
/* Evict while the shard is over its limit: expired rows first, then by policy; never row
 * @keep_id. Inside the write transaction; victims go to w->victims. */
cw_status cw__dk_evict_locked(dk_wtx *w, int64_t keep_id);
/* Report victims to the callback (after commit, no lock held) and free them. */
void cw__dk_victims_report(dk_backend *b, dk_victims *v);
void cw__dk_victims_free(dk_victims *v);
int cw__dk_victims_push(dk_victims *v, const void *key, size_t klen, uint64_t size);
/* Purge up to @max expired rows of c's shard in one transaction; *n gets how many. */
cw_status cw__dk_cull_expired(dk_conn *c, size_t max, size_t *n);
/* LRU/LFU: remember a read of a row whose access_seq is @seq (batched; flushed when full,
 * before evicting, at maintain and close). */
void cw__dk_touch(dk_conn *c, const void *key, size_t klen, int64_t seq);
/* Write pending accesses of c's shard: inside @w when given, else in a transaction of
 * their own on c. */
cw_status cw__dk_touch_flush(dk_conn *c, dk_wtx *w);
void cw__dk_touches_free(dk_shard *s);

/* ---- ops.c / types.c: the op functions (referenced by the table in disk.c) ---- */
cw_status cw__dk_op_get(cw_backend *b, const char *key, size_t klen, cw_value *out);
cw_status cw__dk_op_view(cw_backend *b, const char *key, size_t klen, cw_view_fn fn, void *ud);
cw_status cw__dk_op_set(cw_backend *b, const char *key, size_t klen, const void *val, size_t vlen,
                    int64_t ttl_ms, cw_set_mode mode);
cw_status cw__dk_op_del(cw_backend *b, const char *key, size_t klen);
cw_status cw__dk_op_exists(cw_backend *b, const char *key, size_t klen);
cw_status cw__dk_op_incr(cw_backend *b, const char *key, size_t klen, int64_t by, int64_t ttl_ms,
                     int64_t *result);
cw_status cw__dk_op_expire(cw_backend *b, const char *key, size_t klen, int64_t ttl_ms);
cw_status cw__dk_op_get_expire(cw_backend *b, const char *key, size_t klen, int64_t *ttl_ms);
cw_status cw__dk_op_scan(cw_backend *b, const char *pattern, size_t plen, size_t batch,
                     int with_values, cw_scan_fn fn, void *ud);
cw_status cw__dk_op_delete_match(cw_backend *b, const char *pattern, size_t plen, uint64_t *deleted);
cw_status cw__dk_op_clear(cw_backend *b);
cw_status cw__dk_op_keys_count(cw_backend *b, uint64_t *count);
cw_status cw__dk_op_value_size(cw_backend *b, const char *key, size_t klen, uint64_t *size);
cw_status cw__dk_op_ping(cw_backend *b, const char *msg, size_t mlen, cw_value *out);
cw_status cw__dk_op_delete_if_equal(cw_backend *b, const char *key, size_t klen, const void *val,
                                size_t vlen);
cw_status cw__dk_op_set_many(cw_backend *b, size_t n, const char *const *keys, const size_t *klens,
                         const void *const *vals, const size_t *vlens, int64_t ttl_ms);
cw_status cw__dk_op_delete_many(cw_backend *b, size_t n, const char *const *keys, const size_t *klens,
                            uint64_t *deleted);
cw_status cw__dk_op_maintain(cw_backend *b);
cw_status cw__dk_op_set_bits(cw_backend *b, const char *key, size_t klen, const uint64_t *idx,
                         size_t n, int64_t ttl_ms);
cw_status cw__dk_op_get_bits(cw_backend *b, const char *key, size_t klen, const uint64_t *idx,
                         size_t n, uint8_t *bits_out);
cw_status cw__dk_op_bitfield(cw_backend *b, const char *key, size_t klen, const uint64_t *idx, size_t n,
                             unsigned size, int64_t by, int64_t ttl_ms, uint64_t *counters);
cw_status cw__dk_op_slice_incr(cw_backend *b, const char *key, size_t klen, int64_t start_ms,
                           int64_t now_ms, int64_t max_count, int64_t ttl_ms, int64_t *count);
cw_status cw__dk_op_set_add(cw_backend *b, const char *key, size_t klen, size_t n,
                        const char *const *members, const size_t *mlens, int64_t ttl_ms);
cw_status cw__dk_op_set_remove(cw_backend *b, const char *key, size_t klen, size_t n,
                           const char *const *members, const size_t *mlens);
cw_status cw__dk_op_set_pop(cw_backend *b, const char *key, size_t klen, size_t max, cw_scan_fn fn,
                        void *ud, size_t *popped);

#endif /* CW_DISK_INT_H */
