/*
 * cashews/disk.h - extras of the disk:// backend (SQLite files shared between processes):
 * an eviction callback, statistics and the key-to-shard hash. Parameters and the on-disk
 * format are described in docs/DISK.md. Available when the library was built with the disk
 * backend (CMake option CW_WITH_DISK, on by default).
 *
 * These functions take the backend instance (cw_backend *) of a disk:// setup, as the
 * backend ops receive it; any other backend gives CW_EINVAL.
 */
#ifndef CASHEWS_DISK_H
#define CASHEWS_DISK_H

#include "backend.h"
#include "common.h"

#ifdef __cplusplus
extern "C" {
#endif

/* Called once per entry evicted to keep the directory under size_limit, after the
 * transaction that removed it committed, on the thread whose write caused it, with no lock
 * held (the callback may use the cache). @key is valid for the call only; @bytes is the
 * entry's accounted size (key + value). Entries purged because they expired are not
 * reported (they are counted in cw_disk_stats.expired_culled). */
typedef void (*cw_disk_evict_fn)(void *ud, const char *key, size_t klen, uint64_t bytes);

/** cw_disk_set_eviction_callback() - Install (or with @fn NULL remove) the eviction callback.
 * @b: a disk:// backend instance.
 * Return: CW_OK, CW_EINVAL when @b is NULL or not a disk:// backend.
 * Thread safety: any thread; evictions already being reported may still reach the old one. */
CW_API cw_status cw_disk_set_eviction_callback(cw_backend *b, cw_disk_evict_fn fn, void *ud);

/* Figures of a disk:// backend. */
typedef struct cw_disk_stats {
    uint64_t keys;            /* rows over every shard (expired, not yet purged ones included) */
    uint64_t bytes;           /* accounted bytes (keys + values) over every shard */
    uint64_t size_limit;      /* the configured limit in accounted bytes (at most INT64_MAX) */
    uint64_t evictions;       /* entries this instance evicted for size_limit */
    uint64_t evictions_total; /* entries evicted by every process since the files were made */
    uint64_t expired_culled;  /* expired entries this instance purged */
    unsigned shards;          /* number of shard files */
    const char *directory;    /* the directory (valid while the backend is open) */
    const char *policy;       /* "least-recently-stored", ... (static) */
} cw_disk_stats;

/** cw_disk_get_stats() - Read the figures (keys, bytes and evictions_total from the files,
 * so they include other processes' work).
 * Return: CW_OK, CW_EINVAL (not a disk backend, NULL @out), or a backend failure.
 * Thread safety: any thread. */
CW_API cw_status cw_disk_get_stats(cw_backend *b, cw_disk_stats *out);

/** cw_disk_shard_of() - The shard file a key lives in: FNV-1a 64 of the key bytes, modulo
 * @shards (0 and 1 both mean one file, answer 0). Other programs reading the directory must
 * use the same function. Thread safety: any thread. */
CW_API unsigned cw_disk_shard_of(const void *key, size_t klen, unsigned shards);

#ifdef __cplusplus
}
#endif
#endif /* CASHEWS_DISK_H */
