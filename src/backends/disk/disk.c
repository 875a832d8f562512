/*
 * disk.c - the disk:// backend: a cache in SQLite files that outlives the process, can be
 * shared by every process and thread on the machine, and can be larger than memory (the
 * seed's diskcache backend, on SQLite directly). See docs/DISK.md for the parameters and
 * the file format; disk_int.h for the file layout of this folder.
 *
 * Concurrency model:
 *  - A directory holds N shard files. Each shard has a pool of connections in this process;
 *    an op takes one from the pool (or opens one), uses it alone, and gives it back, so
 *    threads read in parallel and each connection is used by one thread at a time
 *    (SQLITE_OPEN_NOMUTEX). Statements are prepared once per connection.
 *  - Files are in WAL mode: readers never block the writer nor each other, in this process
 *    or another. Every read-modify-write runs in BEGIN IMMEDIATE, which takes the file's
 *    write lock up front, so incr, delete_if_equal, set NX and friends are atomic across
 *    processes. Threads of one process queue on a per-shard mutex before taking that lock
 *    (a mutex hand-off is microseconds; SQLite's busy handler would sleep); other processes
 *    are waited for by our busy handler, which backs off from yields to 2 ms sleeps until
 *    `timeout` has passed (then CW_ETIMEOUT).
 *  - synchronous=NORMAL: a commit is durable against a crash of the process (SIGKILL
 *    included), not against a power cut; that is the trade diskcache and most caches make.
 */
#include "disk_int.h"

#include <errno.h>
#include <fcntl.h>
#include <sched.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>
#include <zlib.h>

#define DK_DEFAULT_SHARDS 8
#define DK_DEFAULT_SIZE_LIMIT (UINT64_C(1) << 30)
#define DK_DEFAULT_TIMEOUT_MS 10000

const char *const cw__dk_policy_names[4] = { "least-recently-stored", "least-recently-used",
                                         "least-frequently-used", "none" };

/* The schema of a shard file, format 2 (docs/DISK.md explains each column; format 1 lacked
 * crc, which an upgrade adds in place: upgrade_format below).
 * cw_entries is a rowid table: every store takes id = max(id) + 1, so id order is store
 * order (least-recently-stored eviction reads it with no index of its own), and the newest
 * row, always on the rightmost leaf that the store writes anyway, carries the shard's totals
 * in its t_* columns (the same columns of older rows are stale and never read). A set of a
 * new key therefore dirties two pages, the table's last leaf and a leaf of the key index:
 * the same as a bare INSERT into a table with a TEXT primary key. */
static const char SCHEMA[] =
    "CREATE TABLE cw_meta ("
    " id INTEGER PRIMARY KEY CHECK (id = 1),"
    " shard INTEGER NOT NULL,"
    " shards INTEGER NOT NULL,"
    " evictions INTEGER NOT NULL DEFAULT 0);"
    "CREATE TABLE cw_entries ("
    " id INTEGER PRIMARY KEY,"
    " key BLOB NOT NULL,"
    " value BLOB NOT NULL,"
    " kind INTEGER NOT NULL,"
    " expire_at INTEGER,"
    " size INTEGER NOT NULL,"
    " access_seq INTEGER NOT NULL,"
    " access_count INTEGER NOT NULL,"
    " t_size INTEGER NOT NULL,"
    " t_count INTEGER NOT NULL,"
    " t_seq INTEGER NOT NULL,"
    " crc INTEGER);"
    "CREATE UNIQUE INDEX cw_entries_key ON cw_entries (key);"
    "CREATE INDEX cw_entries_expire ON cw_entries (expire_at) WHERE expire_at IS NOT NULL;"
    "CREATE TABLE cw_members ("
    " key BLOB NOT NULL,"
    " member BLOB NOT NULL,"
    " PRIMARY KEY (key, member)) WITHOUT ROWID;"
    "CREATE TRIGGER cw_entries_members AFTER DELETE ON cw_entries WHEN old.kind = 1"
    " BEGIN DELETE FROM cw_members WHERE key = old.key; END;";

/* The index each policy evicts by (least-recently-stored uses the rowid), created at open
 * when missing. */
static const char *const POLICY_INDEX[4][2] = {
    { NULL, NULL },
    { "cw_entries_lru", "CREATE INDEX IF NOT EXISTS cw_entries_lru ON cw_entries (access_seq)" },
    { "cw_entries_lfu",
      "CREATE INDEX IF NOT EXISTS cw_entries_lfu ON cw_entries (access_count, access_seq)" },
    { NULL, NULL },
};

#define SCAN_COLS "SELECT key, expire_at, kind, CASE WHEN ?4 THEN value END, crc FROM cw_entries "

static const char *const SQL[ST__COUNT] = {
    [ST_BEGIN] = "BEGIN IMMEDIATE",
    [ST_COMMIT] = "COMMIT",
    [ST_ROLLBACK] = "ROLLBACK",
    [ST_GET] = "SELECT value, expire_at, kind, size, id, access_seq, crc FROM cw_entries WHERE key = ?1",
    [ST_PEEK] = "SELECT id, expire_at, size, kind FROM cw_entries WHERE key = ?1",
    [ST_PUT] = "INSERT OR REPLACE INTO cw_entries (key, value, kind, expire_at, size, access_seq,"
               " access_count, t_size, t_count, t_seq, crc) VALUES (?1, ?2, ?3, ?4, ?5, ?6, 0, ?7, ?8, ?6, ?9)",
    [ST_SET_VALUE] = "UPDATE cw_entries SET value = ?2, size = ?3, crc = ?4 WHERE id = ?1",
    [ST_SET_SIZE] = "UPDATE cw_entries SET size = ?2, expire_at = ?3 WHERE id = ?1",
    [ST_TOTALS] = "SELECT id, t_size, t_count, t_seq FROM cw_entries ORDER BY id DESC LIMIT 1",
    [ST_TOTALS_SET] = "UPDATE cw_entries SET t_size = ?2, t_count = ?3, t_seq = ?4 WHERE id = ?1",
    [ST_META_GET] = "SELECT shard, shards, evictions FROM cw_meta WHERE id = 1",
    [ST_META_EVICT] = "UPDATE cw_meta SET evictions = evictions + ?1 WHERE id = 1",
    [ST_DEL] = "DELETE FROM cw_entries WHERE key = ?1 RETURNING size, expire_at",
    [ST_DEL_ID] = "DELETE FROM cw_entries WHERE id = ?1 RETURNING size",
    [ST_EXPIRE] = "UPDATE cw_entries SET expire_at = ?2"
                  " WHERE key = ?1 AND (expire_at IS NULL OR expire_at > ?3)",
    [ST_TOUCH] = "UPDATE cw_entries SET access_seq = ?2, access_count = access_count + 1"
                 " WHERE key = ?1",
    [ST_VICTIMS] = NULL, /* per policy, below */
    [ST_EXPIRED] = "SELECT id, key, size FROM cw_entries WHERE expire_at <= ?1"
                   " ORDER BY expire_at LIMIT ?2",
    [ST_SCAN_GE] = SCAN_COLS "WHERE key >= ?1 ORDER BY key LIMIT ?3",
    [ST_SCAN_GT] = SCAN_COLS "WHERE key > ?1 ORDER BY key LIMIT ?3",
    [ST_SCAN_GE_HI] = SCAN_COLS "WHERE key >= ?1 AND key < ?2 ORDER BY key LIMIT ?3",
    [ST_SCAN_GT_HI] = SCAN_COLS "WHERE key > ?1 AND key < ?2 ORDER BY key LIMIT ?3",
    [ST_CLEAR] = "DELETE FROM cw_entries",
    [ST_CLEAR_MEMBERS] = "DELETE FROM cw_members",
    [ST_MEMBER_ADD] = "INSERT OR IGNORE INTO cw_members (key, member) VALUES (?1, ?2)",
    [ST_MEMBER_DEL] = "DELETE FROM cw_members WHERE key = ?1 AND member = ?2",
    [ST_MEMBER_LIST] = "SELECT member FROM cw_members WHERE key = ?1 LIMIT ?2",
    [ST_MEMBER_ANY] = "SELECT 1 FROM cw_members WHERE key = ?1 LIMIT 1",
    [ST_MEMBERS_DROP] = "DELETE FROM cw_members WHERE key = ?1",
};

static const char *const SQL_VICTIMS[4] = {
    "SELECT id, key, size FROM cw_entries ORDER BY id LIMIT ?1",
    "SELECT id, key, size FROM cw_entries ORDER BY access_seq LIMIT ?1",
    "SELECT id, key, size FROM cw_entries ORDER BY access_count, access_seq LIMIT ?1",
    "SELECT id, key, size FROM cw_entries ORDER BY id LIMIT ?1",
};

/* ---- small helpers --------------------------------------------------------------------- */

/* FNV-1a 64: simple enough for any language to reproduce (docs/DISK.md). */
unsigned cw_disk_shard_of(const void *key, size_t klen, unsigned shards)
{
    if (shards <= 1) return 0;
    const unsigned char *p = key;
    uint64_t h = UINT64_C(14695981039346656037);
    for (size_t i = 0; i < klen; i++) {
        h ^= p[i];
        h *= UINT64_C(1099511628211);
    }
    return (unsigned)(h % shards);
}

unsigned cw__dk_shard_of(const dk_backend *b, const void *key, size_t klen)
{
    return cw_disk_shard_of(key, klen, b->nshards);
}

int64_t cw__dk_now(const dk_backend *b) { return b->env.clock(b->env.clock_ud); }

int64_t cw__dk_expire_at(int64_t now, int64_t ttl_ms)
{
    if (ttl_ms == CW_NO_EXPIRY) return 0;
    if (ttl_ms > INT64_MAX - now) return INT64_MAX;
    int64_t at = now + ttl_ms;
    return at == 0 ? 1 : at; /* 0 means "none" */
}

/* ---- checksums ---------------------------------------------------------------------------
 * Every row carries crc = CRC-32 (zlib's, as in gzip and PNG) of its kind as one byte, then
 * the key bytes, then the value bytes. A read checks it against the key it asked for and the
 * value it got, so a damaged value, or an index entry that leads to another row, reads as
 * CW_ECORRUPT instead of as the wrong bytes. It costs a pass over the value, a few ns per
 * 64 bytes: little next to an SQLite read. Rows of format 1 files carry NULL (unchecked). */
uint32_t cw__dk_crc(int kind, const void *key, size_t klen, const void *val, size_t vlen)
{
    unsigned char k = (unsigned char)kind;
    uLong c = crc32_z(0L, &k, 1);
    if (klen) c = crc32_z(c, key, klen);
    if (vlen) c = crc32_z(c, val, vlen);
    return (uint32_t)c;
}

cw_status cw__dk_crc_check(dk_conn *c, sqlite3_stmt *s, int col, int kind, const void *key, size_t klen,
                           const void *val, size_t vlen, const char *what)
{
    if (sqlite3_column_type(s, col) == SQLITE_NULL) return CW_OK; /* written by format 1 */
    int64_t want = sqlite3_column_int64(s, col);
    uint32_t got = cw__dk_crc(kind, key, klen, val, vlen);
    if (want == (int64_t)got) return CW_OK;
    return cw_backend_fail(CW_ECORRUPT, "disk: %s: %s is damaged: a %zu-byte value fails its checksum"
                           " (stored 0x%llx, computed 0x%08x); the key reads as damaged until it is"
                           " set again or deleted", what, c->shard->path, vlen,
                           (unsigned long long)want, (unsigned)got);
}

static int64_t mono_ns(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (int64_t)ts.tv_sec * 1000000000 + ts.tv_nsec;
}

static char *dup_str(const char *s)
{
    size_t n = strlen(s) + 1;
    char *p = cw_malloc(n);
    if (p) memcpy(p, s, n);
    return p;
}

static char *fmt_path(const char *dir, unsigned i, const char *suffix)
{
    size_t n = strlen(dir) + 32;
    char *p = cw_malloc(n);
    if (p) snprintf(p, n, "%s/cashews-%03u.db%s", dir, i, suffix);
    return p;
}

/* ---- errors ---------------------------------------------------------------------------- */

cw_status cw__dk_fail(dk_conn *c, int rc, const char *what)
{
    const char *msg = c && c->db ? sqlite3_errmsg(c->db) : sqlite3_errstr(rc);
    const char *path = c && c->shard ? c->shard->path : "";
    switch (rc & 0xff) {
    case SQLITE_BUSY:
    case SQLITE_LOCKED:
        return cw_backend_fail(CW_ETIMEOUT, "disk: %s: %s stayed locked by another writer for"
                               " timeout=%lld ms", what, path,
                               (long long)(c && c->b ? c->b->timeout_ms : 0));
    case SQLITE_NOMEM:
        return cw_backend_fail(CW_ENOMEM, "disk: %s: out of memory in SQLite", what);
    case SQLITE_IOERR:
        if (rc == SQLITE_IOERR_NOMEM)
            return cw_backend_fail(CW_ENOMEM, "disk: %s: out of memory in SQLite", what);
        return cw_backend_fail(CW_EBACKEND, "disk: %s: %s: %s", what, path, msg);
    case SQLITE_NOTADB:
        return cw_backend_fail(CW_ECORRUPT, "disk: %s: %s is not an SQLite database (damaged, or"
                               " some other file): move it away or pick another directory",
                               what, path);
    case SQLITE_CORRUPT:
        return cw_backend_fail(CW_ECORRUPT, "disk: %s: %s is damaged (%s)", what, path, msg);
    case SQLITE_TOOBIG:
        return cw_backend_fail(CW_ETOOBIG, "disk: %s: value too large for SQLite (%s)", what, msg);
    case SQLITE_FULL:
        return cw_backend_fail(CW_EBACKEND, "disk: %s: %s: disk full (%s)", what, path, msg);
    default:
        return cw_backend_fail(CW_EBACKEND, "disk: %s: %s: %s", what, path, msg);
    }
}

/* ---- connections ----------------------------------------------------------------------- */

/* Busy handler (another process holds the write lock, or recovers the WAL): yield a few
 * times, then sleep 50 us doubling to 2 ms, until timeout_ms has passed since the first
 * call for this lock attempt (n == 0). Returning 0 makes SQLite report SQLITE_BUSY. */
static int busy_wait(void *ud, int n)
{
    dk_conn *c = ud;
    int64_t t = mono_ns();
    if (n == 0) c->busy_start_ns = t;
    if (t - c->busy_start_ns >= c->b->timeout_ms * 1000000) return 0;
    if (n < 4) {
        sched_yield();
    } else {
        int shift = n - 4 < 5 ? n - 4 : 5;
        struct timespec ts = { 0, 50000L << shift };
        nanosleep(&ts, NULL);
    }
    return 1;
}

static void conn_close(dk_conn *c)
{
    if (!c) return;
    for (int i = 0; i < ST__COUNT; i++) sqlite3_finalize(c->st[i]);
    sqlite3_close(c->db);
    cw_free(c);
}

/* Run @sql (no result rows wanted) on c; errors mapped with @what. */
static cw_status conn_exec(dk_conn *c, const char *sql, const char *what)
{
    int rc = sqlite3_exec(c->db, sql, NULL, NULL, NULL);
    return rc == SQLITE_OK ? CW_OK : cw__dk_fail(c, rc, what);
}

/* The first column of a single-row query (PRAGMA x, SELECT count(*) ...), as an integer into
 * *num and/or as text into buf (either may be NULL). No row: 0 and "". */
static cw_status conn_value(dk_conn *c, const char *sql, int64_t *num, char *buf, size_t size,
                            const char *what)
{
    sqlite3_stmt *s = NULL;
    int rc = sqlite3_prepare_v2(c->db, sql, -1, &s, NULL);
    if (num) *num = 0;
    if (buf) buf[0] = 0;
    if (rc == SQLITE_OK) {
        rc = sqlite3_step(s);
        if (rc == SQLITE_ROW) {
            if (num) *num = sqlite3_column_int64(s, 0);
            const unsigned char *t = buf ? sqlite3_column_text(s, 0) : NULL;
            if (buf) snprintf(buf, size, "%s", t ? (const char *)t : "");
            rc = SQLITE_OK;
        } else if (rc == SQLITE_DONE) {
            rc = SQLITE_OK;
        }
    }
    cw_status st = rc == SQLITE_OK ? CW_OK : cw__dk_fail(c, rc, what);
    sqlite3_finalize(s);
    return st;
}

static cw_status conn_int(dk_conn *c, const char *sql, int64_t *out, const char *what)
{
    return conn_value(c, sql, out, NULL, 0, what);
}

/* Open a connection to shard s's file, which exists (shard_create makes new ones). */
static cw_status conn_open(dk_backend *b, dk_shard *s, dk_conn **out)
{
    *out = NULL;
    dk_conn *c = cw_calloc(1, sizeof *c);
    if (!c) return CW_ENOMEM;
    c->shard = s;
    c->b = b;
    int flags = SQLITE_OPEN_READWRITE | SQLITE_OPEN_NOMUTEX;
    int rc = sqlite3_open_v2(s->path, &c->db, flags, NULL);
    if (rc != SQLITE_OK) {
        cw_status st = !c->db ? cw_backend_fail(CW_ENOMEM, "disk: open %s: out of memory", s->path)
                              : (rc & 0xff) == SQLITE_CANTOPEN
                                    ? cw_backend_fail(CW_EBACKEND, "disk: cannot open %s: %s",
                                                      s->path, sqlite3_errmsg(c->db))
                                    : cw__dk_fail(c, rc, "open");
        conn_close(c);
        return st;
    }
    sqlite3_extended_result_codes(c->db, 1);
    sqlite3_busy_handler(c->db, busy_wait, c);
    /* NORMAL in WAL mode: commits survive a crash of the process; no fsync per commit
     * (checkpoints sync). A private temporary directory dies with the cache: no sync at all.
     * journal_size_limit: a WAL that grew past 16 MiB (a long reader held checkpoints back)
     * is cut back after the next checkpoint instead of keeping its size forever. */
    cw_status st = conn_exec(c, b->dir_is_temp
                                    ? "PRAGMA synchronous=OFF; PRAGMA journal_size_limit=16777216"
                                    : "PRAGMA synchronous=NORMAL; PRAGMA journal_size_limit=16777216",
                             "open");
    if (st != CW_OK) {
        conn_close(c);
        return st;
    }
    *out = c;
    return CW_OK;
}

dk_conn *cw__dk_acquire(dk_backend *b, unsigned shard, cw_status *st)
{
    dk_shard *s = &b->shards[shard];
    pthread_mutex_lock(&s->mu);
    dk_conn *c = s->idle;
    if (c) s->idle = c->next;
    pthread_mutex_unlock(&s->mu);
    if (c) return c;
    *st = conn_open(b, s, &c);
    return c;
}

void cw__dk_release(dk_conn *c)
{
    dk_shard *s = c->shard;
    pthread_mutex_lock(&s->mu);
    c->next = s->idle;
    s->idle = c;
    pthread_mutex_unlock(&s->mu);
}

sqlite3_stmt *cw__dk_stmt(dk_conn *c, dk_stmt_id id, cw_status *st)
{
    if (c->st[id]) return c->st[id];
    const char *sql = id == ST_VICTIMS ? SQL_VICTIMS[c->b->policy] : SQL[id];
    int rc = sqlite3_prepare_v3(c->db, sql, -1, SQLITE_PREPARE_PERSISTENT, &c->st[id], NULL);
    if (rc != SQLITE_OK) {
        *st = cw__dk_fail(c, rc, "prepare");
        c->st[id] = NULL;
        return NULL;
    }
    return c->st[id];
}

cw_status cw__dk_exec(dk_conn *c, sqlite3_stmt *s, const char *what)
{
    int rc = sqlite3_step(s);
    cw_status st = rc == SQLITE_DONE || rc == SQLITE_ROW ? CW_OK : cw__dk_fail(c, rc, what);
    sqlite3_reset(s);
    return st;
}

cw_status cw__dk_begin(dk_conn *c)
{
    cw_status st = CW_OK;
    sqlite3_stmt *s = cw__dk_stmt(c, ST_BEGIN, &st);
    if (!s) return st;
    pthread_mutex_lock(&c->shard->wmu);
    int rc = sqlite3_step(s);
    sqlite3_reset(s);
    if (rc != SQLITE_DONE) {
        st = cw__dk_fail(c, rc, "begin");
        pthread_mutex_unlock(&c->shard->wmu);
        return st;
    }
    c->in_write = 1;
    return CW_OK;
}

static void rollback_raw(dk_conn *c)
{
    if (sqlite3_get_autocommit(c->db)) return;
    cw_status ignored;
    sqlite3_stmt *s = cw__dk_stmt(c, ST_ROLLBACK, &ignored);
    if (s) {
        sqlite3_step(s);
        sqlite3_reset(s);
    } else {
        sqlite3_exec(c->db, "ROLLBACK", NULL, NULL, NULL);
    }
}

cw_status cw__dk_commit(dk_conn *c)
{
    cw_status st = CW_OK;
    sqlite3_stmt *s = cw__dk_stmt(c, ST_COMMIT, &st);
    if (s) {
        int rc = sqlite3_step(s);
        sqlite3_reset(s);
        if (rc != SQLITE_DONE) st = cw__dk_fail(c, rc, "commit");
    }
    if (st != CW_OK) rollback_raw(c);
    c->in_write = 0;
    pthread_mutex_unlock(&c->shard->wmu);
    return st;
}

void cw__dk_rollback(dk_conn *c)
{
    rollback_raw(c);
    c->in_write = 0;
    pthread_mutex_unlock(&c->shard->wmu);
}

/* ---- opening a shard file: validate, or create the schema --------------------------------
 * A file is ours when its application_id is DK_APP_ID. A shard file is born whole
 * (shard_create: built under a temporary name, then linked into place), so a file under a
 * shard's name always holds the schema: one that does not (an empty file, which is a
 * truncated one; a database without tables; another application's) is refused with
 * CW_ECORRUPT and a message that says what was found, so a wrong directory or a damaged file
 * is obvious, and acknowledged entries never vanish behind a silently recreated shard. A
 * missing file is created afresh. */

static cw_status ensure_policy_index(dk_conn *c, dk_policy p)
{
    if (!POLICY_INDEX[p][0]) return CW_OK;
    char sql[160];
    int64_t have = 0;
    snprintf(sql, sizeof sql, "SELECT count(*) FROM sqlite_master WHERE type = 'index' AND name = '%s'",
             POLICY_INDEX[p][0]);
    cw_status st = conn_int(c, sql, &have, "open");
    if (st != CW_OK || have) return st;
    /* Building the index on a large existing file takes a while, once. */
    return conn_exec(c, POLICY_INDEX[p][1], "create eviction index");
}

static cw_status create_schema(dk_conn *c, unsigned shards)
{
    dk_shard *s = c->shard;
    char tail[200];
    cw_status st = conn_exec(c, "BEGIN IMMEDIATE", "create");
    if (st != CW_OK) return st;
    int64_t app = 0, tables = 0;
    st = conn_int(c, "PRAGMA application_id", &app, "create");
    if (st == CW_OK) st = conn_int(c, "SELECT count(*) FROM sqlite_master", &tables, "create");
    if (st == CW_OK && app == 0 && tables == 0) { /* nobody made it while we waited */
        st = conn_exec(c, SCHEMA, "create schema");
        snprintf(tail, sizeof tail,
                 "INSERT INTO cw_meta (id, shard, shards) VALUES (1, %u, %u);"
                 "PRAGMA application_id = %d; PRAGMA user_version = %d;",
                 s->index, shards, DK_APP_ID, DK_FORMAT);
        if (st == CW_OK) st = conn_exec(c, tail, "create schema");
    }
    if (st != CW_OK) {
        sqlite3_exec(c->db, "ROLLBACK", NULL, NULL, NULL);
        return st;
    }
    return conn_exec(c, "COMMIT", "create schema");
}

/* errbuf = this thread's failure detail without its "<status text>: " head, so that open
 * errors read the same whichever step failed. */
static void errbuf_from_detail(char *errbuf, cw_status st)
{
    cw__errmsg_copy(errbuf);
    const char *head = cw_strerror(st);
    size_t n = strlen(head);
    if (strncmp(errbuf, head, n) == 0 && errbuf[n] == ':' && errbuf[n + 1] == ' ')
        memmove(errbuf, errbuf + n + 2, strlen(errbuf + n + 2) + 1);
}

static cw_status foreign(dk_conn *c, char *errbuf, const char *why)
{
    snprintf(errbuf, CW_ERRMSG_SIZE, "disk: %s %s; refusing to use it as a cache file (move it"
             " away or pick another directory)", c->shard->path, why);
    return cw_backend_fail(CW_ECORRUPT, "%s", errbuf);
}

/* Build shard s's file whole under a temporary name in the directory (created with
 * O_EXCL, mode 0644 less the umask, as SQLite creates files), then link it into place: link
 * fails when another process got there first, and then that process's file is used. The
 * temporary file is closed before the link, which checkpoints it into one file, synced
 * unless the directory is a private temporary one. */
static cw_status shard_create(dk_backend *b, dk_shard *s, unsigned shards, char *errbuf)
{
    size_t n = strlen(s->path) + 48;
    char *tmp = cw_malloc(n);
    if (!tmp) return CW_ENOMEM;
    int fd = -1;
    for (int attempt = 0; fd < 0 && attempt < 100; attempt++) {
        snprintf(tmp, n, "%s.new-%ld-%llx", s->path, (long)getpid(),
                 (unsigned long long)mono_ns() + (unsigned long long)attempt);
        fd = open(tmp, O_RDWR | O_CREAT | O_EXCL | O_CLOEXEC, 0644);
        if (fd < 0 && errno != EEXIST) break;
    }
    if (fd < 0) {
        snprintf(errbuf, CW_ERRMSG_SIZE, "disk: cannot create a file in %.180s: %s", b->dir, strerror(errno));
        cw_free(tmp);
        return cw_backend_fail(CW_EBACKEND, "%s", errbuf);
    }
    close(fd);
    dk_shard ts = { .path = tmp, .index = s->index };
    dk_conn *c = NULL;
    cw_status st = conn_open(b, &ts, &c);
    if (st == CW_OK) {
        /* page size first (fixed once the file has content), then WAL, which is persistent */
        char sql[80];
        snprintf(sql, sizeof sql, "PRAGMA page_size=%d; PRAGMA journal_mode=WAL", DK_PAGE_SIZE);
        st = conn_exec(c, sql, "create");
        if (st == CW_OK) st = create_schema(c, shards);
        /* Move the schema from the WAL into the file now: the WAL is not linked along, and a
         * checkpoint that failed inside close (out of memory) would go unnoticed. */
        int rc = st == CW_OK ? sqlite3_wal_checkpoint_v2(c->db, NULL, SQLITE_CHECKPOINT_TRUNCATE, NULL, NULL)
                             : SQLITE_OK;
        if (rc != SQLITE_OK) st = cw__dk_fail(c, rc, "create");
    }
    if (st != CW_OK) errbuf_from_detail(errbuf, st);
    conn_close(c);
    if (st == CW_OK && link(tmp, s->path) != 0 && errno != EEXIST) {
        int e = errno;
        /* a file system without hard links: rename, unless the file appeared meanwhile */
        if ((e == EPERM || e == EOPNOTSUPP || e == ENOSYS || e == EMLINK) && access(s->path, F_OK) != 0 &&
            rename(tmp, s->path) == 0)
            e = 0;
        if (e) {
            snprintf(errbuf, CW_ERRMSG_SIZE, "disk: cannot create %.180s: %s", s->path, strerror(e));
            st = cw_backend_fail(CW_EBACKEND, "%s", errbuf);
        }
    }
    static const char *const suffixes[] = { "", "-wal", "-shm", "-journal" };
    size_t base = strlen(tmp);
    for (size_t k = 0; k < sizeof suffixes / sizeof *suffixes && base + 8 < n; k++) {
        snprintf(tmp + base, n - base, "%s", suffixes[k]);
        unlink(tmp);
    }
    cw_free(tmp);
    return st;
}

/* Format 1 -> 2: the crc column, added in place (ALTER TABLE ADD COLUMN rewrites no row), so
 * that opening a large old directory stays instant. Rows written before have crc NULL and are
 * read unchecked until they are stored again. Under the write lock, re-reading the version:
 * another process may have upgraded the file meanwhile. */
static cw_status upgrade_format(dk_conn *c)
{
    cw_status st = conn_exec(c, "BEGIN IMMEDIATE", "upgrade format");
    if (st != CW_OK) return st;
    int64_t version = 0;
    st = conn_int(c, "PRAGMA user_version", &version, "upgrade format");
    if (st == CW_OK && version == 1)
        st = conn_exec(c, "ALTER TABLE cw_entries ADD COLUMN crc INTEGER; PRAGMA user_version = 2",
                       "upgrade format");
    if (st != CW_OK) {
        sqlite3_exec(c->db, "ROLLBACK", NULL, NULL, NULL);
        return st;
    }
    return conn_exec(c, "COMMIT", "upgrade format");
}

static cw_status shard_validate(dk_conn *c, unsigned shards, dk_policy policy, char *errbuf)
{
    int64_t app = 0, version = 0, tables = 0;
    cw_status st = conn_int(c, "PRAGMA application_id", &app, "open");
    if (st == CW_ECORRUPT)
        return foreign(c, errbuf, "is not an SQLite database (damaged, or some other file)");
    if (st == CW_OK && app == 0) {
        st = conn_int(c, "SELECT count(*) FROM sqlite_master", &tables, "open");
        if (st == CW_OK && tables > 0)
            return foreign(c, errbuf, "is an SQLite database of another application");
        struct stat sb;
        if (st == CW_OK && stat(c->shard->path, &sb) == 0 && sb.st_size == 0)
            return foreign(c, errbuf, "is empty (0 bytes) where a cache file always holds its schema: it"
                           " was truncated, and the entries it held are lost");
        if (st == CW_OK)
            return foreign(c, errbuf, "is an SQLite database without the cache's tables (its creation"
                           " was interrupted, or it was damaged)");
    }
    if (st != CW_OK) goto failed;
    if (app != DK_APP_ID) {
        char why[96];
        snprintf(why, sizeof why, "is an SQLite database of another application (application_id"
                 " 0x%llx)", (unsigned long long)app);
        return foreign(c, errbuf, why);
    }
    st = conn_int(c, "PRAGMA user_version", &version, "open");
    if (st == CW_OK && version == 1) {
        st = upgrade_format(c);
        if (st == CW_OK) st = conn_int(c, "PRAGMA user_version", &version, "open");
    }
    if (st != CW_OK) goto failed;
    if (version != DK_FORMAT) {
        char why[96];
        snprintf(why, sizeof why, "has format %lld; this libcashews reads formats 1 and %d",
                 (long long)version, DK_FORMAT);
        return foreign(c, errbuf, why);
    }
    char mode[16];
    st = conn_value(c, "PRAGMA journal_mode", NULL, mode, sizeof mode, "open");
    if (st == CW_OK && strcmp(mode, "wal") != 0) st = conn_exec(c, "PRAGMA journal_mode=WAL", "open");
    if (st != CW_OK) goto failed;
    /* The meta row names the file's place in the directory. */
    sqlite3_stmt *m = NULL;
    int rc = sqlite3_prepare_v2(c->db, SQL[ST_META_GET], -1, &m, NULL);
    int64_t idx = -1, n = -1;
    if (rc == SQLITE_OK && (rc = sqlite3_step(m)) == SQLITE_ROW) {
        idx = sqlite3_column_int64(m, 0);
        n = sqlite3_column_int64(m, 1);
        rc = SQLITE_OK;
    }
    sqlite3_finalize(m);
    if (rc == SQLITE_DONE || (rc & 0xff) == SQLITE_ERROR)
        return foreign(c, errbuf, "has no valid cw_meta row");
    if (rc != SQLITE_OK) {
        st = cw__dk_fail(c, rc, "open");
        goto failed;
    }
    if (idx != c->shard->index || (n != shards && !(n <= 1 && shards <= 1))) {
        snprintf(errbuf, CW_ERRMSG_SIZE, "disk: %s belongs to a directory of %lld shard(s) (it is"
                 " shard %lld), but shards=%u was asked: use the directory's shard count",
                 c->shard->path, (long long)n, (long long)idx, shards);
        return cw_backend_fail(CW_EINVAL, "%s", errbuf);
    }
    st = ensure_policy_index(c, policy);
    if (st == CW_OK) return CW_OK;
failed:
    if (st == CW_ECORRUPT)
        return foreign(c, errbuf, "is damaged or not an SQLite database");
    errbuf_from_detail(errbuf, st);
    return st;
}

/* Shard count of an existing directory (from shard 0's meta), or 0 when there is none. */
static unsigned existing_shards(const char *dir)
{
    unsigned n = 0;
    char *path = fmt_path(dir, 0, "");
    struct stat sb;
    if (!path || stat(path, &sb) != 0 || sb.st_size == 0) {
        cw_free(path);
        return 0;
    }
    sqlite3 *db = NULL;
    if (sqlite3_open_v2(path, &db, SQLITE_OPEN_READWRITE | SQLITE_OPEN_NOMUTEX, NULL) == SQLITE_OK) {
        sqlite3_stmt *s = NULL;
        sqlite3_busy_timeout(db, 1000);
        if (sqlite3_prepare_v2(db, "SELECT shards FROM cw_meta WHERE id = 1", -1, &s, NULL) ==
                SQLITE_OK &&
            sqlite3_step(s) == SQLITE_ROW) {
            int64_t v = sqlite3_column_int64(s, 0);
            if (v >= 1 && v <= DK_MAX_SHARDS) n = (unsigned)v;
        }
        sqlite3_finalize(s);
    }
    sqlite3_close(db);
    cw_free(path);
    return n;
}

/* mkdir -p */
static int make_dirs(const char *path)
{
    size_t n = strlen(path);
    char *p = cw_malloc(n + 1);
    if (!p) return ENOMEM;
    memcpy(p, path, n + 1);
    for (size_t i = 1; i <= n; i++) {
        if (p[i] != '/' && p[i] != 0) continue;
        char keep = p[i];
        p[i] = 0;
        if (mkdir(p, 0755) != 0 && errno != EEXIST) {
            int e = errno;
            cw_free(p);
            return e;
        }
        p[i] = keep;
    }
    cw_free(p);
    struct stat sb;
    if (stat(path, &sb) != 0) return errno;
    return S_ISDIR(sb.st_mode) ? 0 : ENOTDIR;
}

static void remove_temp_dir(dk_backend *b)
{
    static const char *const suffixes[] = { "", "-wal", "-shm", "-journal" };
    for (unsigned i = 0; i < b->nshards; i++) {
        for (size_t k = 0; k < sizeof suffixes / sizeof *suffixes; k++) {
            char *p = fmt_path(b->dir, i, suffixes[k]);
            if (p) unlink(p);
            cw_free(p);
        }
    }
    rmdir(b->dir);
}

static void dk_close(cw_backend *base)
{
    dk_backend *b = (dk_backend *)base;
    if (!b) return;
    for (unsigned i = 0; b->shards && i < b->nshards; i++) {
        dk_shard *s = &b->shards[i];
        if (s->ntouches && s->idle) cw__dk_touch_flush(s->idle, NULL);
        cw__dk_touches_free(s);
        while (s->idle) {
            dk_conn *c = s->idle;
            s->idle = c->next;
            conn_close(c);
        }
        pthread_mutex_destroy(&s->mu);
        pthread_mutex_destroy(&s->wmu);
        cw_free(s->path);
    }
    if (b->dir_is_temp && b->dir) remove_temp_dir(b);
    cw_free(b->shards);
    cw_free(b->dir);
    pthread_mutex_destroy(&b->cb_mu);
    cw_free(b);
}

static cw_status bad_param(char *errbuf, const char *fmt, const char *a)
{
    snprintf(errbuf, CW_ERRMSG_SIZE, fmt, a);
    return cw_backend_fail(CW_EINVAL, "%s", errbuf);
}

/* Read the URL into b (and decide the directory). */
static cw_status parse_url(dk_backend *b, cw_url *url, int *shards_given, int64_t *shards,
                           char *errbuf)
{
    cw_status st;
    const char *dir = NULL, *policy = NULL;
    if (url->host[0])
        return bad_param(errbuf, "disk:// takes no host (got \"%s\"); give the folder as"
                         " ?directory=PATH or disk:///abs/path", url->host);
    if ((st = cw_url_take_str(url, "directory", &dir)) == CW_NOTFOUND || (dir && !dir[0])) dir = NULL;
    if (!dir && url->path[0]) dir = url->path; /* disk:///var/cache/x: path without its '/' */
    *shards_given = (st = cw_url_take_int(url, "shards", 0, DK_MAX_SHARDS, shards, errbuf)) == CW_OK;
    if (st != CW_OK && st != CW_NOTFOUND) return st;
    b->size_limit = DK_DEFAULT_SIZE_LIMIT;
    st = cw_url_take_size(url, "size_limit", &b->size_limit, errbuf);
    if (st != CW_OK && st != CW_NOTFOUND) return st;
    if (b->size_limit == 0) return bad_param(errbuf, "parameter size_limit=%s: must be > 0"
                                             " (use eviction_policy=none for no limit)", "0");
    /* The shard totals are SQLite integers (int64): a larger limit (up to 2^64 - 1, the
     * reader's range) means "no real limit" and is capped, so that evict.c compares and
     * subtracts within int64. */
    if (b->size_limit > (uint64_t)INT64_MAX) b->size_limit = (uint64_t)INT64_MAX;
    b->timeout_ms = DK_DEFAULT_TIMEOUT_MS;
    st = cw_url_take_ms(url, "timeout", 0, &b->timeout_ms, errbuf);
    if (st != CW_OK && st != CW_NOTFOUND) return st;
    b->policy = DK_LRS;
    if (cw_url_take_str(url, "eviction_policy", &policy) == CW_OK) {
        int found = 0;
        for (int i = 0; i < 4; i++)
            if (strcmp(policy, cw__dk_policy_names[i]) == 0) { b->policy = (dk_policy)i; found = 1; }
        if (!found)
            return bad_param(errbuf, "parameter eviction_policy=\"%.64s\": use least-recently-stored,"
                             " least-recently-used, least-frequently-used or none", policy);
    }
    if (dir) {
        char *d = NULL;
        if (dir == url->path) {
            size_t n = strlen(dir);
            d = cw_malloc(n + 2);
            if (d) { d[0] = '/'; memcpy(d + 1, dir, n + 1); }
        } else {
            d = dup_str(dir);
        }
        if (!d) return CW_ENOMEM;
        b->dir = d;
        int e = make_dirs(d);
        if (e == ENOMEM) return CW_ENOMEM;
        if (e) {
            snprintf(errbuf, CW_ERRMSG_SIZE, "disk: cannot use directory %.180s: %s", d, strerror(e));
            return cw_backend_fail(CW_EBACKEND, "%s", errbuf);
        }
        return CW_OK;
    }
    const char *tmp = getenv("TMPDIR");
    if (!tmp || !*tmp) tmp = "/tmp";
    size_t n = strlen(tmp) + 32;
    if (!(b->dir = cw_malloc(n))) return CW_ENOMEM;
    snprintf(b->dir, n, "%s/cashews-disk-XXXXXX", tmp);
    if (!mkdtemp(b->dir)) {
        snprintf(errbuf, CW_ERRMSG_SIZE, "disk: cannot create a temporary directory in %.180s: %s",
                 tmp, strerror(errno));
        return cw_backend_fail(CW_EBACKEND, "%s", errbuf);
    }
    b->dir_is_temp = 1;
    return CW_OK;
}

static cw_status dk_open(cw_backend **out, cw_url *url, const cw_backend_env *env, char *errbuf)
{
    *out = NULL;
    dk_backend *b = cw_calloc(1, sizeof *b);
    if (!b) return CW_ENOMEM;
    b->base.ops = &cw__disk_ops;
    b->env = *env;
    pthread_mutex_init(&b->cb_mu, NULL);
    int shards_given = 0;
    int64_t shards = DK_DEFAULT_SHARDS;
    cw_status st = parse_url(b, url, &shards_given, &shards, errbuf);
    if (st != CW_OK) goto fail;
    if (!shards_given) {
        unsigned have = existing_shards(b->dir);
        if (have) shards = have;
    }
    b->nshards = shards <= 1 ? 1 : (unsigned)shards;
    b->shard_limit = b->size_limit / b->nshards;
    if (b->shard_limit == 0) b->shard_limit = 1;
    b->shards = cw_calloc(b->nshards, sizeof *b->shards);
    if (!b->shards) { st = CW_ENOMEM; goto fail; }
    for (unsigned i = 0; i < b->nshards; i++) {
        dk_shard *s = &b->shards[i];
        s->index = i;
        pthread_mutex_init(&s->mu, NULL);
        pthread_mutex_init(&s->wmu, NULL);
        if (!(s->path = fmt_path(b->dir, i, ""))) { st = CW_ENOMEM; goto fail; }
    }
    for (unsigned i = 0; i < b->nshards; i++) {
        dk_conn *c = NULL;
        struct stat sb;
        if (stat(b->shards[i].path, &sb) != 0) {
            if (errno != ENOENT) {
                snprintf(errbuf, CW_ERRMSG_SIZE, "disk: cannot use %.180s: %s", b->shards[i].path,
                         strerror(errno));
                st = cw_backend_fail(CW_EBACKEND, "%s", errbuf);
                goto fail;
            }
            if ((st = shard_create(b, &b->shards[i], b->nshards, errbuf)) != CW_OK) goto fail;
        }
        st = conn_open(b, &b->shards[i], &c);
        if (st != CW_OK) {
            errbuf_from_detail(errbuf, st);
            goto fail;
        }
        st = shard_validate(c, b->nshards, b->policy, errbuf);
        if (st != CW_OK) {
            conn_close(c);
            goto fail;
        }
        cw__dk_release(c);
    }
    *out = &b->base;
    return CW_OK;
fail:
    dk_close(&b->base); /* a temporary directory goes too; a given one is left as it was */
    return st;
}

/* ---- public extras --------------------------------------------------------------------- */

static dk_backend *as_disk(cw_backend *b)
{
    return b && b->ops == &cw__disk_ops ? (dk_backend *)b : NULL;
}

cw_status cw_disk_set_eviction_callback(cw_backend *base, cw_disk_evict_fn fn, void *ud)
{
    dk_backend *b = as_disk(base);
    if (!b) return cw_backend_fail(CW_EINVAL, "disk: not a disk:// backend");
    pthread_mutex_lock(&b->cb_mu);
    b->on_evict = fn;
    b->on_evict_ud = ud;
    pthread_mutex_unlock(&b->cb_mu);
    return CW_OK;
}

cw_status cw_disk_get_stats(cw_backend *base, cw_disk_stats *out)
{
    dk_backend *b = as_disk(base);
    if (!b || !out) return cw_backend_fail(CW_EINVAL, "disk: not a disk:// backend, or NULL out");
    memset(out, 0, sizeof *out);
    out->size_limit = b->size_limit;
    out->evictions = atomic_load(&b->evictions);
    out->expired_culled = atomic_load(&b->culled);
    out->shards = b->nshards;
    out->directory = b->dir;
    out->policy = cw__dk_policy_names[b->policy];
    for (unsigned i = 0; i < b->nshards; i++) {
        cw_status st = CW_OK;
        dk_conn *c = cw__dk_acquire(b, i, &st);
        if (!c) return st;
        dk_totals t;
        st = cw__dk_totals_read(c, &t);
        if (st == CW_OK) {
            out->bytes += (uint64_t)t.size;
            out->keys += (uint64_t)t.count;
        }
        sqlite3_stmt *s = st == CW_OK ? cw__dk_stmt(c, ST_META_GET, &st) : NULL;
        if (s) {
            int rc = sqlite3_step(s);
            if (rc == SQLITE_ROW) out->evictions_total += (uint64_t)sqlite3_column_int64(s, 2);
            else st = cw__dk_fail(c, rc == SQLITE_DONE ? SQLITE_CORRUPT : rc, "stats");
            sqlite3_reset(s);
        }
        cw__dk_release(c);
        if (st != CW_OK) return st;
    }
    return CW_OK;
}

const cw_backend_ops cw__disk_ops = {
    .abi_version = CW_BACKEND_ABI,
    .scheme = "disk",
    .open = dk_open,
    .close = dk_close,
    .get = cw__dk_op_get,
    .set = cw__dk_op_set,
    .del = cw__dk_op_del,
    .exists = cw__dk_op_exists,
    .incr = cw__dk_op_incr,
    .expire = cw__dk_op_expire,
    .get_expire = cw__dk_op_get_expire,
    .scan = cw__dk_op_scan,
    .delete_match = cw__dk_op_delete_match,
    .clear = cw__dk_op_clear,
    .keys_count = cw__dk_op_keys_count,
    .value_size = cw__dk_op_value_size,
    .ping = cw__dk_op_ping,
    .delete_if_equal = cw__dk_op_delete_if_equal,
    .get_many = NULL, /* one read per key anyway: the core's loop is as fast */
    .set_many = cw__dk_op_set_many,
    .delete_many = cw__dk_op_delete_many,
    .set_bits = cw__dk_op_set_bits,
    .get_bits = cw__dk_op_get_bits,
    .slice_incr = cw__dk_op_slice_incr,
    .set_add = cw__dk_op_set_add,
    .set_remove = cw__dk_op_set_remove,
    .set_pop = cw__dk_op_set_pop,
    .maintain = cw__dk_op_maintain,
    .view = cw__dk_op_view,
    .bitfield = cw__dk_op_bitfield,
};
