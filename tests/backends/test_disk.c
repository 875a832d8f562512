/*
 * test_disk.c - the disk:// backend: the shared command suite (through the public API, with
 * several shards and a fake clock), then what only a disk cache has: parameters, files and
 * their validation, persistence and expiry across a reopen, eviction order per policy and
 * its callback, the busy timeout, several processes on one directory (incr and locks exact),
 * damage (truncated files, damaged values). Writers killed with SIGKILL: tests/faults/
 * test_disk_durability.c.
 * Multi-process tests live here rather than in test_disk_mt.c: this binary is not run under
 * ThreadSanitizer, and the children only open their own backend after fork.
 */
#include "cw_test.h"
#include "suite.h"

#include <cashews/disk.h>
#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <signal.h>
#include <sqlite3.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <sched.h>
#include <time.h>
#include <unistd.h>

#include "core/internal.h"

static cw_fake_clock clk;

/* ---- helpers ------------------------------------------------------------------------------ */

/* Open a disk backend straight through the ops table (to reach the backend-level extras).
 * Fails the open if the URL has a parameter the backend did not take. */
static cw_status open_disk(const char *url, cw_backend **out, char *err)
{
    cw_url u;
    *out = NULL;
    cw_status st = cw_url_parse(url, NULL, &u, err);
    if (st != CW_OK) return st;
    cw_backend_env env = { cw_fake_clock_now, &clk, NULL, NULL };
    st = cw__disk_ops.open(out, &u, &env, err);
    for (size_t i = 0; st == CW_OK && i < u.nparams; i++) {
        if (!u.params[i].taken) {
            snprintf(err, CW_ERRMSG_SIZE, "parameter %s not taken", u.params[i].name);
            cw__disk_ops.close(*out);
            *out = NULL;
            st = CW_EINVAL;
        }
    }
    cw_url_free(&u);
    return st;
}

static cw_backend *open_ok(const char *fmt, const char *dir)
{
    char url[600], err[CW_ERRMSG_SIZE] = "";
    snprintf(url, sizeof url, fmt, dir);
    cw_backend *b = NULL;
    if (open_disk(url, &b, err) != CW_OK) fprintf(stderr, "open %s: %s\n", url, err);
    return b;
}

#define OPS cw__disk_ops
#define SET(b, k, v, ttl) OPS.set(b, k, strlen(k), v, strlen(v), ttl, CW_SET_ALWAYS)
#define GET(b, k, out) OPS.get(b, k, strlen(k), out)

static int is_dir(const char *p)
{
    struct stat sb;
    return stat(p, &sb) == 0 && S_ISDIR(sb.st_mode);
}

static int file_exists(const char *p)
{
    struct stat sb;
    return stat(p, &sb) == 0;
}

typedef struct evicted {
    char keys[64][32];
    uint64_t bytes[64];
    int n;
} evicted;

static void on_evict(void *ud, const char *key, size_t klen, uint64_t bytes)
{
    evicted *e = ud;
    if (e->n < 64) {
        snprintf(e->keys[e->n], 32, "%.*s", (int)klen, key);
        e->bytes[e->n] = bytes;
        e->n++;
    }
}

static int count_rows(const char *path, const char *sql, long long *out)
{
    sqlite3 *db = NULL;
    sqlite3_stmt *s = NULL;
    int rc = sqlite3_open_v2(path, &db, SQLITE_OPEN_READWRITE, NULL);
    if (rc == SQLITE_OK) rc = sqlite3_prepare_v2(db, sql, -1, &s, NULL);
    if (rc == SQLITE_OK && sqlite3_step(s) == SQLITE_ROW) *out = sqlite3_column_int64(s, 0);
    else rc = SQLITE_ERROR;
    sqlite3_finalize(s);
    sqlite3_close(db);
    return rc == SQLITE_OK ? 0 : -1;
}

/* ---- parameters and files ----------------------------------------------------------------- */

static int disk_bad_params(void)
{
    char err[CW_ERRMSG_SIZE];
    cw_backend *b;
    static const struct { const char *url, *needle; } bad[] = {
        { "disk://?eviction_policy=fifo", "eviction_policy" },
        { "disk://?shards=-1", "shards" },
        { "disk://?shards=100000", "shards" },
        { "disk://?size_limit=0", "size_limit" },
        { "disk://?size_limit=12q", "size_limit" },
        { "disk://?timeout=soon", "timeout" },
        { "disk://somehost/x", "host" },
    };
    for (size_t i = 0; i < sizeof bad / sizeof *bad; i++) {
        err[0] = 0;
        CHECK_ST(open_disk(bad[i].url, &b, err), CW_EINVAL);
        if (!strstr(err, bad[i].needle)) {
            fprintf(stderr, "%s: \"%s\" does not name %s\n", bad[i].url, err, bad[i].needle);
            return 1;
        }
    }
    /* through the public setup: an unknown parameter is named */
    cw_cache *c = NULL;
    CHECK_OK(cw_cache_new(&c, NULL));
    err[0] = 0;
    CHECK_ST(cw_cache_setup(c, "disk://?colour=blue", NULL, err), CW_EINVAL);
    CHECK(strstr(err, "colour") != NULL);
    /* a directory that cannot be made */
    CHECK_NE_INT(cw_cache_setup(c, "disk://?directory=/proc/self/nope/x", NULL, err), CW_OK);
    CHECK(strstr(err, "/proc/self/nope") != NULL);
    cw_cache_free(c);
    return 0;
}

static int disk_temp_dir_removed_on_close(void)
{
    cw_backend *b = NULL;
    char err[CW_ERRMSG_SIZE] = "";
    CHECK_OK(open_disk("disk://?shards=2", &b, err));
    cw_disk_stats s;
    CHECK_OK(cw_disk_get_stats(b, &s));
    char dir[512];
    snprintf(dir, sizeof dir, "%s", s.directory);
    CHECK(is_dir(dir));
    CHECK_EQ_INT(s.shards, 2);
    CHECK_STR(s.policy, "least-recently-stored");
    CHECK_EQ_INT(s.size_limit, 1ULL << 30);
    CHECK_OK(SET(b, "k", "v", CW_NO_EXPIRY));
    OPS.close(b);
    CHECK(!file_exists(dir));
    return 0;
}

static int disk_directory_made_and_path_form(void)
{
    char base[256], dir[400], url[512], path[512];
    CHECK(cw_test_mkdtemp(base, sizeof base, "disk") == 0);
    snprintf(dir, sizeof dir, "%s/a/b", base);
    cw_backend *b = open_ok("disk://?directory=%s", dir); /* mkdir -p, default 8 shards */
    CHECK(b != NULL);
    for (int i = 0; i < 8; i++) {
        snprintf(path, sizeof path, "%s/cashews-%03d.db", dir, i);
        CHECK(file_exists(path));
    }
    CHECK_OK(SET(b, "kept", "yes", CW_NO_EXPIRY));
    OPS.close(b);
    CHECK(is_dir(dir)); /* a given directory stays */
    /* disk:///abs/path names the same directory */
    snprintf(url, sizeof url, "disk://%s", dir);
    char err[CW_ERRMSG_SIZE] = "";
    CHECK_OK(open_disk(url, &b, err));
    cw_value v = { 0 };
    CHECK_OK(GET(b, "kept", &v));
    CHECK_VAL(v, "yes");
    cw_value_free(&v);
    OPS.close(b);
    cw_test_rmtree(base);
    return 0;
}

static int disk_shard_count_adopted_or_refused(void)
{
    char dir[256], err[CW_ERRMSG_SIZE] = "", url[400];
    CHECK(cw_test_mkdtemp(dir, sizeof dir, "disk") == 0);
    cw_backend *b = open_ok("disk://?directory=%s&shards=3", dir);
    CHECK(b != NULL);
    OPS.close(b);
    b = open_ok("disk://?directory=%s", dir); /* no shards=: the directory's count */
    CHECK(b != NULL);
    cw_disk_stats s;
    CHECK_OK(cw_disk_get_stats(b, &s));
    CHECK_EQ_INT(s.shards, 3);
    OPS.close(b);
    snprintf(url, sizeof url, "disk://?directory=%s&shards=5", dir);
    CHECK_ST(open_disk(url, &b, err), CW_EINVAL);
    CHECK(strstr(err, "shards") != NULL);
    cw_test_rmtree(dir);
    return 0;
}

/* FNV-1a 64 of "key:1" is 0x715adaf2962f5ac9 (computed independently, in Python). */
static int disk_shard_hash_is_stable(void)
{
    CHECK_EQ_INT(cw_disk_shard_of("key:1", 5, 0), 0);
    CHECK_EQ_INT(cw_disk_shard_of("key:1", 5, 1), 0);
    CHECK_EQ_INT(cw_disk_shard_of("", 0, 8), 0xcbf29ce484222325ULL % 8);
    unsigned want = (unsigned)(0x715adaf2962f5ac9ULL % 8);
    CHECK_EQ_INT(cw_disk_shard_of("key:1", 5, 8), want);
    /* and the row really is in that file */
    char dir[256], path[400];
    CHECK(cw_test_mkdtemp(dir, sizeof dir, "disk") == 0);
    cw_backend *b = open_ok("disk://?directory=%s&shards=8", dir);
    CHECK(b != NULL);
    CHECK_OK(SET(b, "key:1", "x", CW_NO_EXPIRY));
    OPS.close(b);
    snprintf(path, sizeof path, "%s/cashews-%03u.db", dir, want);
    long long n = -1;
    CHECK(count_rows(path, "SELECT count(*) FROM cw_entries WHERE key = CAST('key:1' AS BLOB)", &n) == 0);
    CHECK_EQ_INT(n, 1);
    cw_test_rmtree(dir);
    return 0;
}

static int disk_corrupt_file_is_refused(void)
{
    char dir[256], path[400], url[400], err[CW_ERRMSG_SIZE] = "";
    CHECK(cw_test_mkdtemp(dir, sizeof dir, "disk") == 0);
    snprintf(path, sizeof path, "%s/cashews-000.db", dir);
    FILE *f = fopen(path, "w");
    CHECK(f != NULL);
    for (int i = 0; i < 200; i++) fputs("this is not a database, just some text. ", f);
    fclose(f);
    snprintf(url, sizeof url, "disk://?directory=%s&shards=1", dir);
    cw_backend *b = NULL;
    CHECK_ST(open_disk(url, &b, err), CW_ECORRUPT);
    CHECK(strstr(err, "not an SQLite database") != NULL);
    CHECK(strstr(err, "cashews-000.db") != NULL);
    /* through the public API the same message comes back */
    cw_cache *c = NULL;
    CHECK_OK(cw_cache_new(&c, NULL));
    err[0] = 0;
    CHECK_ST(cw_cache_setup(c, url, NULL, err), CW_ECORRUPT);
    CHECK(strstr(err, "not an SQLite database") != NULL);
    cw_cache_free(c);
    cw_test_rmtree(dir);
    return 0;
}

static int make_db(const char *path, const char *sql)
{
    sqlite3 *db = NULL;
    int rc = sqlite3_open(path, &db);
    if (rc == SQLITE_OK) rc = sqlite3_exec(db, sql, NULL, NULL, NULL);
    sqlite3_close(db);
    return rc;
}

static int disk_foreign_database_is_refused(void)
{
    char dir[256], path[400], url[400], err[CW_ERRMSG_SIZE] = "";
    CHECK(cw_test_mkdtemp(dir, sizeof dir, "disk") == 0);
    snprintf(path, sizeof path, "%s/cashews-000.db", dir);
    CHECK_EQ_INT(make_db(path, "CREATE TABLE Cache (rowid INTEGER PRIMARY KEY, key BLOB)"), SQLITE_OK);
    snprintf(url, sizeof url, "disk://?directory=%s&shards=1", dir);
    cw_backend *b = NULL;
    CHECK_ST(open_disk(url, &b, err), CW_ECORRUPT);
    CHECK(strstr(err, "another application") != NULL);
    /* ours, but from a future format */
    unlink(path);
    b = open_ok("disk://?directory=%s&shards=1", dir);
    CHECK(b != NULL);
    OPS.close(b);
    CHECK_EQ_INT(make_db(path, "PRAGMA user_version = 99"), SQLITE_OK);
    CHECK_ST(open_disk(url, &b, err), CW_ECORRUPT);
    CHECK(strstr(err, "format 99") != NULL);
    /* an SQLite database without tables (a creation interrupted by an older libcashews) */
    unlink(path);
    CHECK_EQ_INT(make_db(path, "PRAGMA page_size=4096; PRAGMA journal_mode=WAL"), SQLITE_OK);
    CHECK_ST(open_disk(url, &b, err), CW_ECORRUPT);
    CHECK(strstr(err, "without the cache's tables") != NULL);
    cw_test_rmtree(dir);
    return 0;
}

/* ---- damage: a truncated shard, damaged values ------------------------------------------------
 * A shard file is born whole (created under a temporary name, then linked into place), so an
 * empty file under a shard's name is a truncated one: it is refused, naming the file, instead
 * of opening as an empty cache while the entries it held are gone. Deleting it is how a shard
 * is started afresh. */
static int disk_truncated_shard_is_refused(void)
{
    char dir[256], path[400], url[400], k[32], err[CW_ERRMSG_SIZE] = "";
    CHECK(cw_test_mkdtemp(dir, sizeof dir, "disk") == 0);
    cw_backend *b = open_ok("disk://?directory=%s&shards=2", dir);
    CHECK(b != NULL);
    for (int i = 0; i < 200; i++) {
        snprintf(k, sizeof k, "key:%d", i);
        CHECK_OK(SET(b, k, "value", CW_NO_EXPIRY));
    }
    OPS.close(b);
    /* no file of the creation step is left behind */
    snprintf(path, sizeof path, "%s/cashews-000.db.new-", dir);
    DIR *d = opendir(dir);
    CHECK(d != NULL);
    int files = 0;
    for (struct dirent *de; (de = readdir(d));) files += de->d_name[0] != '.';
    closedir(d);
    CHECK_EQ_INT(files, 2);
    for (int shard = 1; shard >= 0; shard--) {
        snprintf(path, sizeof path, "%s/cashews-%03d.db", dir, shard);
        CHECK(truncate(path, 0) == 0);
        /* with the shard count given, and adopted from the directory (shard 0's meta) */
        for (int given = 0; given < 2; given++) {
            snprintf(url, sizeof url, given ? "disk://?directory=%s&shards=2" : "disk://?directory=%s", dir);
            err[0] = 0;
            CHECK_ST(open_disk(url, &b, err), CW_ECORRUPT);
            CHECK(strstr(err, path) != NULL);
            CHECK(strstr(err, "empty (0 bytes)") != NULL && strstr(err, "truncated") != NULL);
        }
        cw_cache *c = NULL;
        CHECK_OK(cw_cache_new(&c, NULL));
        err[0] = 0;
        CHECK_ST(cw_cache_setup(c, url, NULL, err), CW_ECORRUPT);
        CHECK(strstr(err, "truncated") != NULL);
        cw_cache_free(c);
    }
    /* removed, the shards start afresh */
    for (int shard = 0; shard < 2; shard++) {
        snprintf(path, sizeof path, "%s/cashews-%03d.db", dir, shard);
        CHECK(unlink(path) == 0);
    }
    b = open_ok("disk://?directory=%s&shards=2", dir);
    CHECK(b != NULL);
    uint64_t n = 1;
    CHECK_OK(OPS.keys_count(b, &n));
    CHECK_EQ_INT(n, 0);
    OPS.close(b);
    cw_test_rmtree(dir);
    return 0;
}

/* Read a whole file into a malloc'd buffer. */
static unsigned char *slurp(const char *path, size_t *len)
{
    FILE *f = fopen(path, "rb");
    if (!f) return NULL;
    fseek(f, 0, SEEK_END);
    long n = ftell(f);
    fseek(f, 0, SEEK_SET);
    unsigned char *p = n > 0 ? malloc((size_t)n) : NULL;
    if (p && fread(p, 1, (size_t)n, f) != (size_t)n) {
        free(p);
        p = NULL;
    }
    fclose(f);
    *len = p ? (size_t)n : 0;
    return p;
}

static int spit(const char *path, const unsigned char *p, size_t len)
{
    FILE *f = fopen(path, "wb");
    if (!f) return -1;
    int ok = fwrite(p, 1, len, f) == len;
    return fclose(f) == 0 && ok ? 0 : -1;
}

/* The 200-byte value of key i: a tag that finds it in the file, then bytes that depend on i. */
static size_t damage_value(int i, char *v)
{
    int n = snprintf(v, 16, "<v%05d>", i);
    for (int j = n; j < 200; j++) v[j] = (char)('a' + (i * 7 + j) % 26);
    v[200] = 0;
    return 200;
}

enum { DAMAGE_KEYS = 300 };

/* One shard of DAMAGE_KEYS keys with damage_value()s and the counter "ctr" = 987654321,
 * closed (checkpointed into the file). */
static int damage_fill(const char *dir)
{
    char k[32], v[256];
    cw_backend *b = open_ok("disk://?directory=%s&shards=1", dir);
    CHECK(b != NULL);
    for (int i = 0; i < DAMAGE_KEYS; i++) {
        snprintf(k, sizeof k, "key:%d", i);
        damage_value(i, v);
        CHECK_OK(SET(b, k, v, CW_NO_EXPIRY));
    }
    int64_t n = 0;
    CHECK_OK(OPS.incr(b, "ctr", 3, 987654321, CW_NO_EXPIRY, &n));
    OPS.close(b);
    return 0;
}

/* Each read of key i is OK with exactly its bytes, or a miss, or CW_ECORRUPT: never OK with
 * other bytes. *damaged counts the CW_ECORRUPT answers. */
static int reads_right_or_fail(cw_backend *b, int *damaged)
{
    char k[32], want[256];
    cw_value v = { 0 };
    for (int i = 0; i < DAMAGE_KEYS; i++) {
        snprintf(k, sizeof k, "key:%d", i);
        size_t n = damage_value(i, want);
        cw_status st = GET(b, k, &v);
        CHECK(st == CW_OK || st == CW_NOTFOUND || st == CW_ECORRUPT);
        if (st == CW_OK) CHECK(v.len == n && memcmp(v.data, want, n) == 0);
        *damaged += st == CW_ECORRUPT;
    }
    cw_value_free(&v);
    return 0;
}

static int scan_nothing(void *ud, const char *key, size_t klen, const void *val, size_t vlen) { return 0; }

/* A changed byte inside a value reads as CW_ECORRUPT (get, scan with values, incr) with a
 * message naming the file and the checksum, not as OK with the wrong bytes; the rest of the
 * file reads as before, and storing the key again heals it. */
static int disk_damaged_values_fail_their_checksum(void)
{
    char dir[256], path[400], tag[16], k[32], v[256];
    CHECK(cw_test_mkdtemp(dir, sizeof dir, "disk") == 0);
    CHECK(damage_fill(dir) == 0);
    snprintf(path, sizeof path, "%s/cashews-000.db", dir);
    size_t len = 0;
    unsigned char *file = slurp(path, &len);
    CHECK(file != NULL);
    int hit = 0;
    for (int i = 0; i < DAMAGE_KEYS; i += 10) { /* one byte in the middle of every tenth value */
        snprintf(tag, sizeof tag, "<v%05d>", i);
        unsigned char *at = memmem(file, len, tag, strlen(tag));
        CHECK(at != NULL);
        at[100] ^= 0x20;
        hit++;
    }
    unsigned char *ctr = memmem(file, len, "987654321", 9);
    CHECK(ctr != NULL);
    ctr[4] = '0';
    CHECK(spit(path, file, len) == 0);
    free(file);
    cw_backend *b = open_ok("disk://?directory=%s&shards=1", dir);
    CHECK(b != NULL);
    int damaged = 0;
    CHECK(reads_right_or_fail(b, &damaged) == 0);
    CHECK_EQ_INT(damaged, hit);
    cw_value got = { 0 };
    CHECK_ST(GET(b, "key:10", &got), CW_ECORRUPT);
    char msg[CW_ERRMSG_SIZE];
    cw__errmsg_copy(msg);
    CHECK(strstr(msg, path) != NULL && strstr(msg, "checksum") != NULL);
    int64_t n = 0;
    CHECK_ST(OPS.incr(b, "ctr", 3, 1, CW_NO_EXPIRY, &n), CW_ECORRUPT);
    CHECK_ST(OPS.scan(b, "key:*", 5, 100, 1, scan_nothing, NULL), CW_ECORRUPT);
    /* a new value replaces the damaged one */
    damage_value(10, v);
    CHECK_OK(SET(b, "key:10", v, CW_NO_EXPIRY));
    CHECK_OK(GET(b, "key:10", &got));
    CHECK_VAL(got, v);
    CHECK_OK(OPS.del(b, "ctr", 3));
    CHECK_OK(OPS.incr(b, "ctr", 3, 1, CW_NO_EXPIRY, &n));
    CHECK_EQ_INT(n, 1);
    snprintf(k, sizeof k, "key:%d", 20);
    CHECK_OK(OPS.del(b, k, strlen(k)));
    cw_value_free(&got);
    OPS.close(b);
    cw_test_rmtree(dir);
    return 0;
}

/* Random bytes written at random places after the schema page, 24 times over: opening gives
 * CW_OK or CW_ECORRUPT, and every read gives the right bytes, a miss or CW_ECORRUPT. Most of
 * a page is value bytes, so the checksum is what catches most of the damage. */
static int disk_random_damage_never_reads_wrong_bytes(void)
{
    char dir[256], path[400], url[400], err[CW_ERRMSG_SIZE];
    uint64_t rng = 0x9E3779B97F4A7C15ull;
    int damaged = 0, opened = 0;
    for (int round = 0; round < 24; round++) {
        CHECK(cw_test_mkdtemp(dir, sizeof dir, "disk") == 0);
        CHECK(damage_fill(dir) == 0);
        snprintf(path, sizeof path, "%s/cashews-000.db", dir);
        size_t len = 0;
        unsigned char *file = slurp(path, &len);
        CHECK(file != NULL && len > 8 * 4096);
        for (int spot = 0; spot < 6; spot++) {
            rng = rng * 6364136223846793005ull + 1442695040888963407ull;
            size_t at = 4096 + (size_t)(rng >> 33) % (len - 4096 - 16);
            for (int j = 0; j < 16; j++) {
                rng = rng * 6364136223846793005ull + 1442695040888963407ull;
                file[at + (size_t)j] = (unsigned char)(rng >> 56);
            }
        }
        CHECK(spit(path, file, len) == 0);
        free(file);
        snprintf(url, sizeof url, "disk://?directory=%s&shards=1", dir);
        cw_backend *b = NULL;
        cw_status st = open_disk(url, &b, err);
        if (st == CW_OK) {
            opened++;
            CHECK(reads_right_or_fail(b, &damaged) == 0);
            OPS.close(b);
        } else {
            CHECK_ST(st, CW_ECORRUPT);
        }
        cw_test_rmtree(dir);
    }
    CHECK(opened > 0 && damaged > 0);
    return 0;
}

/* A format 1 file (no crc column; made here by dropping it from a new file) is upgraded in
 * place at open: its rows read as before (unchecked), new writes carry checksums. */
static int disk_format1_file_is_upgraded(void)
{
    char dir[256], path[400];
    CHECK(cw_test_mkdtemp(dir, sizeof dir, "disk") == 0);
    cw_backend *b = open_ok("disk://?directory=%s&shards=1", dir);
    CHECK(b != NULL);
    CHECK_OK(SET(b, "old", "from format 1", CW_NO_EXPIRY));
    OPS.close(b);
    snprintf(path, sizeof path, "%s/cashews-000.db", dir);
    CHECK_EQ_INT(make_db(path, "ALTER TABLE cw_entries DROP COLUMN crc; PRAGMA user_version = 1"), SQLITE_OK);
    b = open_ok("disk://?directory=%s&shards=1", dir);
    CHECK(b != NULL);
    cw_value v = { 0 };
    CHECK_OK(GET(b, "old", &v));
    CHECK_VAL(v, "from format 1");
    CHECK_OK(SET(b, "new", "from format 2", CW_NO_EXPIRY));
    OPS.close(b);
    long long n = 0;
    CHECK(count_rows(path, "PRAGMA user_version", &n) == 0);
    CHECK_EQ_INT(n, 2);
    CHECK(count_rows(path, "SELECT count(*) FROM cw_entries WHERE crc IS NULL", &n) == 0);
    CHECK_EQ_INT(n, 1);
    CHECK(count_rows(path, "SELECT count(*) FROM cw_entries WHERE crc IS NOT NULL", &n) == 0);
    CHECK_EQ_INT(n, 1);
    cw_value_free(&v);
    cw_test_rmtree(dir);
    return 0;
}

/* Pages damaged inside a valid file: every op answers (CW_ECORRUPT where it reads the damage),
 * none crashes. */
static int disk_damaged_pages_give_ecorrupt(void)
{
    char dir[256], path[400], k[32], err[CW_ERRMSG_SIZE] = "", url[400];
    CHECK(cw_test_mkdtemp(dir, sizeof dir, "disk") == 0);
    cw_backend *b = open_ok("disk://?directory=%s&shards=1", dir);
    CHECK(b != NULL);
    for (int i = 0; i < 400; i++) {
        snprintf(k, sizeof k, "key:%d", i);
        CHECK_OK(SET(b, k, "some value that takes a little room in the pages", CW_NO_EXPIRY));
    }
    OPS.close(b); /* checkpoints the WAL into the file */
    snprintf(path, sizeof path, "%s/cashews-000.db", dir);
    FILE *f = fopen(path, "r+b");
    CHECK(f != NULL);
    CHECK(fseek(f, 0, SEEK_END) == 0);
    long size = ftell(f);
    CHECK(size > 8 * 4096);
    unsigned char junk[4096];
    memset(junk, 0xA5, sizeof junk);
    for (long off = 3 * 4096; off < size; off += 2 * 4096) { /* every other page after the schema */
        CHECK(fseek(f, off, SEEK_SET) == 0);
        CHECK(fwrite(junk, 1, sizeof junk, f) == sizeof junk);
    }
    fclose(f);
    snprintf(url, sizeof url, "disk://?directory=%s&shards=1", dir);
    cw_status st = open_disk(url, &b, err);
    if (st != CW_OK) {
        CHECK_ST(st, CW_ECORRUPT);
    } else {
        int corrupt = 0;
        cw_value v = { 0 };
        for (int i = 0; i < 400; i++) {
            snprintf(k, sizeof k, "key:%d", i);
            st = GET(b, k, &v);
            CHECK(st == CW_OK || st == CW_NOTFOUND || st == CW_ECORRUPT);
            corrupt += st == CW_ECORRUPT;
        }
        uint64_t n = 0;
        st = OPS.delete_match(b, "key:*", 5, &n);
        CHECK(st == CW_OK || st == CW_ECORRUPT);
        corrupt += st == CW_ECORRUPT;
        st = SET(b, "new", "value", CW_NO_EXPIRY);
        CHECK(st == CW_OK || st == CW_ECORRUPT);
        CHECK(corrupt > 0);
        cw_value_free(&v);
        OPS.close(b);
    }
    cw_test_rmtree(dir);
    return 0;
}

/* ---- persistence and expiry --------------------------------------------------------------- */

static int disk_expiry_survives_reopen(void)
{
    char dir[256];
    CHECK(cw_test_mkdtemp(dir, sizeof dir, "disk") == 0);
    cw_backend *b = open_ok("disk://?directory=%s&shards=2", dir);
    CHECK(b != NULL);
    CHECK_OK(SET(b, "short", "s", 10000));
    CHECK_OK(SET(b, "forever", "f", CW_NO_EXPIRY));
    int64_t n = 0;
    CHECK_OK(OPS.incr(b, "n", 1, 7, 5000, &n));
    OPS.close(b);
    cw_fake_clock_advance(&clk, 4000);
    b = open_ok("disk://?directory=%s", dir);
    CHECK(b != NULL);
    int64_t ttl = 0;
    CHECK_OK(OPS.get_expire(b, "short", 5, &ttl));
    CHECK_EQ_INT(ttl, 6000); /* absolute expiry: the 4 s passed while closed count */
    CHECK_OK(OPS.get_expire(b, "forever", 7, &ttl));
    CHECK_EQ_INT(ttl, CW_NO_EXPIRY);
    CHECK_OK(OPS.incr(b, "n", 1, 1, 5000, &n));
    CHECK_EQ_INT(n, 8);
    cw_fake_clock_advance(&clk, 6001);
    cw_value v = { 0 };
    CHECK_ST(GET(b, "short", &v), CW_NOTFOUND);
    CHECK_ST(OPS.exists(b, "n", 1), CW_NOTFOUND);
    CHECK_OK(GET(b, "forever", &v));
    CHECK_VAL(v, "f");
    cw_value_free(&v);
    uint64_t count = 0;
    CHECK_OK(OPS.keys_count(b, &count));
    CHECK_EQ_INT(count, 3); /* expired rows stay until culled */
    CHECK_OK(OPS.maintain(b));
    CHECK_OK(OPS.keys_count(b, &count));
    CHECK_EQ_INT(count, 1);
    cw_disk_stats s;
    CHECK_OK(cw_disk_get_stats(b, &s));
    CHECK_EQ_INT(s.expired_culled, 2);
    CHECK_EQ_INT(s.bytes, strlen("forever") + 1);
    OPS.close(b);
    cw_test_rmtree(dir);
    return 0;
}

/* ---- eviction ------------------------------------------------------------------------------
 * One shard, size_limit=1000; every key has two bytes ("k0".."k9" first, then "n0".."n9"),
 * every value 98: 100 accounted bytes per entry, ten fill the shard exactly. */

static const char *val98(void)
{
    static char v[99];
    memset(v, 'x', 98);
    v[98] = 0;
    return v;
}

static int fill10(cw_backend *b)
{
    char k[8];
    for (int i = 0; i < 10; i++) {
        snprintf(k, sizeof k, "k%d", i);
        CHECK_OK(SET(b, k, val98(), CW_NO_EXPIRY));
        cw_fake_clock_advance(&clk, 1);
    }
    return 0;
}

static int present(cw_backend *b, const char *k) { return OPS.exists(b, k, strlen(k)) == CW_OK; }

static int disk_evict_least_recently_stored(void)
{
    char dir[256];
    CHECK(cw_test_mkdtemp(dir, sizeof dir, "disk") == 0);
    cw_backend *b = open_ok("disk://?directory=%s&shards=1&size_limit=1000", dir);
    CHECK(b != NULL);
    evicted ev = { 0 };
    CHECK_OK(cw_disk_set_eviction_callback(b, on_evict, &ev));
    CHECK_EQ_INT(fill10(b), 0);
    CHECK_EQ_INT(ev.n, 0); /* exactly at the limit */
    CHECK_OK(SET(b, "k5", val98(), CW_NO_EXPIRY)); /* re-stored: now the newest */
    CHECK_OK(SET(b, "n0", val98(), CW_NO_EXPIRY));
    CHECK_EQ_INT(ev.n, 1);
    CHECK_STR(ev.keys[0], "k0");
    CHECK_EQ_INT(ev.bytes[0], 100);
    /* 250 more bytes: three oldest go, k5 (re-stored) is skipped */
    char big[249];
    memset(big, 'y', sizeof big - 1);
    big[sizeof big - 1] = 0;
    CHECK_OK(SET(b, "bg", big, CW_NO_EXPIRY));
    CHECK_EQ_INT(ev.n, 4);
    CHECK_STR(ev.keys[1], "k1");
    CHECK_STR(ev.keys[2], "k2");
    CHECK_STR(ev.keys[3], "k3");
    CHECK(present(b, "k4") && present(b, "k5") && present(b, "bg") && !present(b, "k3"));
    cw_disk_stats s;
    CHECK_OK(cw_disk_get_stats(b, &s));
    CHECK_EQ_INT(s.evictions, 4);
    CHECK_EQ_INT(s.evictions_total, 4);
    CHECK(s.bytes <= 1000);
    CHECK_EQ_INT(s.bytes, 7 * 100 + 250); /* k4..k9, n0, bg */
    /* an entry larger than the limit itself is refused, nothing evicted */
    char *huge = calloc(1, 1200);
    CHECK(huge != NULL);
    memset(huge, 'z', 1100);
    cw_status st = SET(b, "huge", huge, CW_NO_EXPIRY);
    free(huge);
    CHECK_ST(st, CW_ETOOBIG);
    CHECK_EQ_INT(ev.n, 4);
    /* the persistent count survives a reopen */
    OPS.close(b);
    b = open_ok("disk://?directory=%s&size_limit=1000", dir);
    CHECK(b != NULL);
    CHECK_OK(cw_disk_get_stats(b, &s));
    CHECK_EQ_INT(s.evictions, 0);
    CHECK_EQ_INT(s.evictions_total, 4);
    OPS.close(b);
    cw_test_rmtree(dir);
    return 0;
}

static int disk_evict_least_recently_used(void)
{
    char dir[256];
    CHECK(cw_test_mkdtemp(dir, sizeof dir, "disk") == 0);
    cw_backend *b = open_ok("disk://?directory=%s&shards=1&size_limit=1000"
                            "&eviction_policy=least-recently-used", dir);
    CHECK(b != NULL);
    evicted ev = { 0 };
    CHECK_OK(cw_disk_set_eviction_callback(b, on_evict, &ev));
    CHECK_EQ_INT(fill10(b), 0);
    cw_value v = { 0 };
    CHECK_OK(GET(b, "k0", &v)); /* k0 and k1 read: k2 is now the least recently used */
    CHECK_OK(GET(b, "k1", &v));
    cw_value_free(&v);
    CHECK_OK(SET(b, "n0", val98(), CW_NO_EXPIRY));
    CHECK_OK(SET(b, "n1", val98(), CW_NO_EXPIRY));
    CHECK_EQ_INT(ev.n, 2);
    CHECK_STR(ev.keys[0], "k2");
    CHECK_STR(ev.keys[1], "k3");
    CHECK(present(b, "k0") && present(b, "k1"));
    OPS.close(b);
    cw_test_rmtree(dir);
    return 0;
}

static int disk_evict_least_frequently_used(void)
{
    char dir[256], k[8];
    CHECK(cw_test_mkdtemp(dir, sizeof dir, "disk") == 0);
    cw_backend *b = open_ok("disk://?directory=%s&shards=1&size_limit=1000"
                            "&eviction_policy=least-frequently-used", dir);
    CHECK(b != NULL);
    evicted ev = { 0 };
    CHECK_OK(cw_disk_set_eviction_callback(b, on_evict, &ev));
    CHECK_EQ_INT(fill10(b), 0);
    cw_value v = { 0 };
    /* reads: k0 x3, k1 x2, k2..k8 x1 (in order), k9 never */
    for (int i = 0; i < 3; i++) CHECK_OK(GET(b, "k0", &v));
    for (int i = 0; i < 2; i++) CHECK_OK(GET(b, "k1", &v));
    for (int i = 2; i <= 8; i++) {
        snprintf(k, sizeof k, "k%d", i);
        CHECK_OK(GET(b, k, &v));
    }
    cw_value_free(&v);
    CHECK_OK(SET(b, "n0", val98(), CW_NO_EXPIRY)); /* evicts k9: never read */
    CHECK_OK(SET(b, "n1", val98(), CW_NO_EXPIRY)); /* evicts n0: never read, older than n1 */
    CHECK_OK(OPS.del(b, "n1", 2));
    CHECK_OK(OPS.del(b, "k8", 2)); /* room for two */
    CHECK_OK(SET(b, "n2", val98(), CW_NO_EXPIRY));
    CHECK_OK(SET(b, "n3", val98(), CW_NO_EXPIRY));
    CHECK_OK(SET(b, "n4", val98(), CW_NO_EXPIRY)); /* evicts n2 (count 0, older than n3) */
    CHECK_EQ_INT(ev.n, 3);
    CHECK_STR(ev.keys[0], "k9");
    CHECK_STR(ev.keys[1], "n0");
    CHECK_STR(ev.keys[2], "n2");
    CHECK_OK(OPS.del(b, "n3", 2));
    CHECK_OK(OPS.del(b, "n4", 2));
    /* now every candidate was read once or more: among those read once (k2..k7, n5, n6),
     * the one whose read is oldest goes first */
    CHECK_OK(SET(b, "n5", val98(), CW_NO_EXPIRY));
    CHECK_OK(GET(b, "n5", &v));
    CHECK_OK(SET(b, "n6", val98(), CW_NO_EXPIRY));
    CHECK_OK(GET(b, "n6", &v));
    cw_value_free(&v);
    CHECK_OK(SET(b, "n7", val98(), CW_NO_EXPIRY)); /* over by one entry */
    CHECK_EQ_INT(ev.n, 4);
    CHECK_STR(ev.keys[3], "k2");
    CHECK(present(b, "k0") && present(b, "k1") && present(b, "k3") && present(b, "n5"));
    OPS.close(b);
    cw_test_rmtree(dir);
    return 0;
}

static int disk_evict_none_and_expired_first(void)
{
    char dir[256], k[8];
    CHECK(cw_test_mkdtemp(dir, sizeof dir, "disk") == 0);
    cw_backend *b = open_ok("disk://?directory=%s&shards=1&size_limit=1000&eviction_policy=none", dir);
    CHECK(b != NULL);
    CHECK_EQ_INT(fill10(b), 0);
    CHECK_OK(SET(b, "n0", val98(), CW_NO_EXPIRY));
    CHECK_OK(SET(b, "n1", val98(), CW_NO_EXPIRY));
    cw_disk_stats s;
    CHECK_OK(cw_disk_get_stats(b, &s));
    CHECK_EQ_INT(s.keys, 12);
    CHECK_EQ_INT(s.bytes, 1200);
    CHECK_EQ_INT(s.evictions, 0);
    OPS.close(b);
    cw_test_rmtree(dir);

    /* least-recently-stored, but expired rows go before any live one */
    CHECK(cw_test_mkdtemp(dir, sizeof dir, "disk") == 0);
    b = open_ok("disk://?directory=%s&shards=1&size_limit=1000", dir);
    CHECK(b != NULL);
    evicted ev = { 0 };
    CHECK_OK(cw_disk_set_eviction_callback(b, on_evict, &ev));
    for (int i = 0; i < 10; i++) {
        snprintf(k, sizeof k, "k%d", i);
        CHECK_OK(SET(b, k, val98(), i >= 5 ? 1000 + i : CW_NO_EXPIRY));
    }
    cw_fake_clock_advance(&clk, 2000);
    CHECK_OK(SET(b, "n0", val98(), CW_NO_EXPIRY));
    CHECK_EQ_INT(ev.n, 0); /* an expired row made room: not an eviction */
    CHECK(present(b, "k0"));
    CHECK_OK(cw_disk_get_stats(b, &s));
    CHECK_EQ_INT(s.expired_culled, 1);
    CHECK_EQ_INT(s.evictions, 0);
    CHECK_EQ_INT(s.keys, 10);
    OPS.close(b);
    cw_test_rmtree(dir);
    return 0;
}

/* ---- sets, scan with binary keys ------------------------------------------------------------ */

static int disk_set_members_go_with_key(void)
{
    char dir[256], path[400];
    CHECK(cw_test_mkdtemp(dir, sizeof dir, "disk") == 0);
    cw_backend *b = open_ok("disk://?directory=%s&shards=1", dir);
    CHECK(b != NULL);
    const char *m[] = { "a", "bb", "ccc" };
    size_t ml[] = { 1, 2, 3 };
    CHECK_OK(OPS.set_add(b, "s1", 2, 3, m, ml, CW_NO_EXPIRY));
    CHECK_OK(OPS.set_add(b, "s2", 2, 3, m, ml, 1000));
    uint64_t size = 0;
    CHECK_OK(OPS.value_size(b, "s1", 2, &size));
    CHECK_EQ_INT(size, 6);
    cw_value v = { 0 };
    CHECK_ST(GET(b, "s1", &v), CW_ETYPE);
    int64_t n = 0;
    CHECK_ST(OPS.incr(b, "s1", 2, 1, CW_NO_EXPIRY, &n), CW_ETYPE);
    CHECK_OK(OPS.del(b, "s1", 2));                /* trigger drops members */
    CHECK_OK(SET(b, "s2", "plain", CW_NO_EXPIRY)); /* overwrite drops members */
    CHECK_OK(OPS.set_add(b, "s3", 2, 1, m, ml, 1000));
    cw_fake_clock_advance(&clk, 1001);
    CHECK_OK(OPS.set_add(b, "s3", 2, 1, m + 1, ml + 1, 1000)); /* expired set: starts afresh */
    size_t popped = 0;
    CHECK_OK(OPS.set_pop(b, "s3", 2, 10, NULL, NULL, &popped));
    CHECK_EQ_INT(popped, 1);
    CHECK_ST(OPS.exists(b, "s3", 2), CW_NOTFOUND); /* emptied sets vanish */
    OPS.close(b);
    snprintf(path, sizeof path, "%s/cashews-000.db", dir);
    long long rows = -1;
    CHECK(count_rows(path, "SELECT count(*) FROM cw_members", &rows) == 0);
    CHECK_EQ_INT(rows, 0);
    b = open_ok("disk://?directory=%s", dir);
    cw_disk_stats s;
    CHECK_OK(cw_disk_get_stats(b, &s));
    CHECK_EQ_INT(s.keys, 1);
    CHECK_EQ_INT(s.bytes, 2 + 5);
    OPS.close(b);
    cw_test_rmtree(dir);
    return 0;
}

typedef struct seen {
    int n;
    char last[64];
} seen;

static int count_fn(void *ud, const char *key, size_t klen, const void *val, size_t vlen)
{
    seen *s = ud;
    s->n++;
    snprintf(s->last, sizeof s->last, "%.*s", (int)klen, key);
    return 0;
}

static int disk_scan_many_shards_and_byte_keys(void)
{
    char dir[256], k[32];
    CHECK(cw_test_mkdtemp(dir, sizeof dir, "disk") == 0);
    cw_backend *b = open_ok("disk://?directory=%s&shards=8", dir);
    CHECK(b != NULL);
    for (int i = 0; i < 300; i++) {
        snprintf(k, sizeof k, "item:%d", i);
        CHECK_OK(SET(b, k, k, i % 3 ? CW_NO_EXPIRY : 5000));
    }
    const char ff1[] = "\xff\xff" "a", ff2[] = "\xff\xff" "b", ff3[] = "\xff" "c";
    CHECK_OK(OPS.set(b, ff1, 3, "1", 1, CW_NO_EXPIRY, CW_SET_ALWAYS));
    CHECK_OK(OPS.set(b, ff2, 3, "2", 1, CW_NO_EXPIRY, CW_SET_ALWAYS));
    CHECK_OK(OPS.set(b, ff3, 2, "3", 1, CW_NO_EXPIRY, CW_SET_ALWAYS));
    seen s = { 0 };
    CHECK_OK(OPS.scan(b, "item:1*", 7, 5, 0, count_fn, &s)); /* 1, 10-19, 100-199 */
    CHECK_EQ_INT(s.n, 111);
    memset(&s, 0, sizeof s);
    CHECK_OK(OPS.scan(b, "\xff\xff*", 3, 1, 1, count_fn, &s)); /* prefix of 0xFF bytes */
    CHECK_EQ_INT(s.n, 2);
    memset(&s, 0, sizeof s);
    CHECK_OK(OPS.scan(b, "*", 1, 1000, 0, count_fn, &s));
    CHECK_EQ_INT(s.n, 303);
    cw_fake_clock_advance(&clk, 5000); /* every third item expires */
    memset(&s, 0, sizeof s);
    CHECK_OK(OPS.scan(b, "item:*", 6, 64, 1, count_fn, &s));
    CHECK_EQ_INT(s.n, 200);
    uint64_t deleted = 0;
    CHECK_OK(OPS.delete_match(b, "item:2*", 7, &deleted)); /* 2, 20-29, 200-299: 111, 75 live */
    CHECK_EQ_INT(deleted, 75);
    memset(&s, 0, sizeof s);
    CHECK_OK(OPS.scan(b, "item:2*", 7, 64, 0, count_fn, &s));
    CHECK_EQ_INT(s.n, 0);
    uint64_t count = 0;
    CHECK_OK(OPS.keys_count(b, &count));
    CHECK_EQ_INT(count, 303 - 111);
    OPS.close(b);
    cw_test_rmtree(dir);
    return 0;
}

/* ---- busy timeout ---------------------------------------------------------------------------- */

static int disk_busy_writer_times_out(void)
{
    char dir[256], path[400];
    CHECK(cw_test_mkdtemp(dir, sizeof dir, "disk") == 0);
    cw_backend *b = open_ok("disk://?directory=%s&shards=1&timeout=150ms", dir);
    CHECK(b != NULL);
    CHECK_OK(SET(b, "k", "before", CW_NO_EXPIRY));
    /* another connection (as another process would) holds the write lock */
    snprintf(path, sizeof path, "%s/cashews-000.db", dir);
    sqlite3 *db = NULL;
    CHECK_EQ_INT(sqlite3_open(path, &db), SQLITE_OK);
    CHECK_EQ_INT(sqlite3_exec(db, "BEGIN IMMEDIATE", NULL, NULL, NULL), SQLITE_OK);
    struct timespec t0, t1;
    clock_gettime(CLOCK_MONOTONIC, &t0);
    cw_status st = SET(b, "k", "after", CW_NO_EXPIRY);
    clock_gettime(CLOCK_MONOTONIC, &t1);
    double ms = (t1.tv_sec - t0.tv_sec) * 1e3 + (t1.tv_nsec - t0.tv_nsec) / 1e6;
    cw_value v = { 0 };
    cw_status rd = GET(b, "k", &v); /* readers are not blocked (WAL) */
    sqlite3_exec(db, "ROLLBACK", NULL, NULL, NULL);
    sqlite3_close(db);
    CHECK_ST(st, CW_ETIMEOUT);
    CHECK(ms >= 140 && ms < 2000);
    CHECK_OK(rd);
    CHECK_VAL(v, "before");
    CHECK_OK(SET(b, "k", "after", CW_NO_EXPIRY)); /* and works once the lock is gone */
    cw_value_free(&v);
    OPS.close(b);
    cw_test_rmtree(dir);
    return 0;
}

/* ---- processes ------------------------------------------------------------------------------- */

enum { PROC_INCRS = 300, PROC_LOCKS = 60 };

/* Child body: incr a shared counter, and take a lock around a non-atomic read-modify-write
 * of "guarded": if the lock ever let two holders in, an update would be lost. */
static int child_hammer(const char *dir, int id)
{
    char url[400], token[16];
    snprintf(url, sizeof url, "disk://?directory=%s", dir);
    snprintf(token, sizeof token, "p%d", id);
    cw_cache *c = NULL;
    if (cw_cache_new(&c, NULL) != CW_OK || cw_cache_setup(c, url, NULL, NULL) != CW_OK) return 2;
    for (int i = 0; i < PROC_INCRS; i++)
        if (cw_incr(c, "total", 1, CW_NO_EXPIRY, NULL) != CW_OK) return 3;
    cw_value v = { 0 };
    for (int i = 0; i < PROC_LOCKS; i++) {
        cw_status st;
        while ((st = cw_set_lock(c, "lock", token, strlen(token), 10000)) == CW_NOTSTORED)
            sched_yield();
        if (st != CW_OK) return 4;
        long n = 0;
        if (cw_get_raw(c, "guarded", &v) == CW_OK) n = strtol((const char *)v.data, NULL, 10);
        char buf[24];
        int len = snprintf(buf, sizeof buf, "%ld", n + 1);
        if (cw_set_raw(c, "guarded", buf, (size_t)len, CW_NO_EXPIRY) != CW_OK) return 5;
        if (cw_unlock(c, "lock", token, strlen(token)) != CW_OK) return 6;
    }
    cw_value_free(&v);
    cw_cache_free(c);
    return 0;
}

static int disk_two_processes_incr_and_locks(void)
{
    char dir[256], url[400];
    CHECK(cw_test_mkdtemp(dir, sizeof dir, "disk") == 0);
    /* make the directory first (shards=2: the children adopt it) */
    cw_backend *b = open_ok("disk://?directory=%s&shards=2", dir);
    CHECK(b != NULL);
    OPS.close(b);
    pid_t kids[2];
    for (int i = 0; i < 2; i++) {
        kids[i] = fork();
        CHECK(kids[i] >= 0);
        if (kids[i] == 0) _exit(child_hammer(dir, i));
    }
    for (int i = 0; i < 2; i++) {
        int status = 0;
        CHECK_EQ_INT(waitpid(kids[i], &status, 0), kids[i]);
        CHECK(WIFEXITED(status));
        CHECK_EQ_INT(WEXITSTATUS(status), 0);
    }
    cw_cache *c = NULL;
    snprintf(url, sizeof url, "disk://?directory=%s", dir);
    CHECK_OK(cw_cache_new(&c, NULL));
    CHECK_OK(cw_cache_setup(c, url, NULL, NULL));
    cw_value v = { 0 };
    CHECK_OK(cw_get_raw(c, "total", &v));
    CHECK_EQ_INT(strtol((const char *)v.data, NULL, 10), 2 * PROC_INCRS);
    CHECK_OK(cw_get_raw(c, "guarded", &v));
    CHECK_EQ_INT(strtol((const char *)v.data, NULL, 10), 2 * PROC_LOCKS);
    CHECK_ST(cw_exists(c, "lock"), CW_NOTFOUND);
    cw_value_free(&v);
    cw_cache_free(c);
    cw_test_rmtree(dir);
    return 0;
}

/* The public path: a cache set up from a URL, its backend reached with cw_cache_backend(). */
static int disk_callback_through_cache(void)
{
    char dir[256];
    CHECK(cw_test_mkdtemp(dir, sizeof dir, "disk") == 0);
    char url[512];
    snprintf(url, sizeof url, "disk://?directory=%s&shards=1&size_limit=1000", dir);
    cw_cache_options o = { .clock = cw_fake_clock_now, .clock_ud = &clk };
    cw_cache *c = NULL;
    CHECK_OK(cw_cache_new(&c, &o));
    CHECK_OK(cw_cache_setup(c, url, NULL, NULL));
    cw_backend *b = cw_cache_backend(c, NULL);
    CHECK(b != NULL);
    evicted ev = { 0 };
    CHECK_OK(cw_disk_set_eviction_callback(b, on_evict, &ev));
    char k[8];
    for (int i = 0; i < 12; i++) {
        snprintf(k, sizeof k, "k%02d", i); /* 3 + 98 = 101 accounted bytes each */
        CHECK_OK(cw_set_raw(c, k, val98(), 98, CW_NO_EXPIRY));
        cw_fake_clock_advance(&clk, 1);
    }
    CHECK_EQ_INT(ev.n, 3); /* 9 entries fit in 1000 bytes; the three oldest went */
    CHECK_STR(ev.keys[0], "k00");
    CHECK_STR(ev.keys[1], "k01");
    CHECK_STR(ev.keys[2], "k02");
    cw_disk_stats st;
    CHECK_OK(cw_disk_get_stats(b, &st));
    CHECK_EQ_INT(st.evictions, 3);
    CHECK_ST(cw_exists(c, "k00"), CW_NOTFOUND);
    CHECK_OK(cw_exists(c, "k03"));
    CHECK_OK(cw_exists(c, "k11"));
    cw_cache_free(c);
    cw_test_rmtree(dir);
    return 0;
}

static int disk_callback_api_checks_backend(void)
{
    cw_backend not_disk = { &cw__mem_ops };
    CHECK_ST(cw_disk_set_eviction_callback(NULL, on_evict, NULL), CW_EINVAL);
    CHECK_ST(cw_disk_set_eviction_callback(&not_disk, on_evict, NULL), CW_EINVAL);
    cw_disk_stats s;
    CHECK_ST(cw_disk_get_stats(&not_disk, &s), CW_EINVAL);
    return 0;
}

static const cw_test disk_tests[] = {
    CW_TEST(disk_bad_params),
    CW_TEST(disk_temp_dir_removed_on_close),
    CW_TEST(disk_directory_made_and_path_form),
    CW_TEST(disk_shard_count_adopted_or_refused),
    CW_TEST(disk_shard_hash_is_stable),
    CW_TEST(disk_corrupt_file_is_refused),
    CW_TEST(disk_foreign_database_is_refused),
    CW_TEST(disk_damaged_pages_give_ecorrupt),
    CW_TEST(disk_truncated_shard_is_refused),
    CW_TEST(disk_damaged_values_fail_their_checksum),
    CW_TEST(disk_random_damage_never_reads_wrong_bytes),
    CW_TEST(disk_format1_file_is_upgraded),
    CW_TEST(disk_expiry_survives_reopen),
    CW_TEST(disk_evict_least_recently_stored),
    CW_TEST(disk_evict_least_recently_used),
    CW_TEST(disk_evict_least_frequently_used),
    CW_TEST(disk_evict_none_and_expired_first),
    CW_TEST(disk_set_members_go_with_key),
    CW_TEST(disk_scan_many_shards_and_byte_keys),
    CW_TEST(disk_busy_writer_times_out),
    CW_TEST(disk_two_processes_incr_and_locks),
    CW_TEST(disk_callback_through_cache), CW_TEST(disk_callback_api_checks_backend),
    { 0 },
};

int main(int argc, char **argv)
{
    cw_fake_clock_init(&clk);
    /* The shared suite runs on three shards so that scan, get_match and delete_match cross
     * files; each of its caches gets a private temporary directory. */
    cw_suite_configure("disk://?shards=3", &clk);
    return cw_test_main_with_suite(disk_tests, argc, argv);
}
