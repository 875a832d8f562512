/*
 * floor_sqlite.c - W7's floor (bench/BENCHMARKS.md): the same work as W7 done with raw SQLite
 * and nothing else, so that the ratio shows what disk:// adds to SQLite itself.
 *
 * One file in a fresh directory, WAL journal, synchronous=NORMAL, one table keyed by TEXT with
 * a BLOB value and a REAL expiry column (never expiring); two prepared statements,
 * INSERT OR REPLACE and a point SELECT. 10,000 autocommit inserts of 64-byte values, then
 * 100,000 reads of keys drawn uniformly (the same sequence as W7), each value copied out.
 * Keys are formatted before timing, as for W7. Prints two JSON lines, backend
 * "sqlite-baseline", op set and get.
 */
#include "bench.h"

#ifdef CW_HAVE_DISK /* SQLite is linked with the disk backend */

#include <sqlite3.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

enum { KEYS = 10000, GETS = 100000, VALUE = 64 };

static int sql_fail(sqlite3 *db, const char *what)
{
    printf("# W7 floor: %s: %s\n", what, db ? sqlite3_errmsg(db) : "cannot open");
    return 1;
}

static int run(sqlite3 *db, char (*keys)[16], const uint32_t *order)
{
    sqlite3_stmt *put = NULL, *get = NULL;
    if (sqlite3_exec(db, "PRAGMA journal_mode=WAL; PRAGMA synchronous=NORMAL;"
                         "CREATE TABLE kv (key TEXT PRIMARY KEY, value BLOB, expire REAL)",
                     NULL, NULL, NULL) != SQLITE_OK ||
        sqlite3_prepare_v2(db, "INSERT OR REPLACE INTO kv VALUES (?1, ?2, ?3)", -1, &put, NULL) != SQLITE_OK ||
        sqlite3_prepare_v2(db, "SELECT value, expire FROM kv WHERE key = ?1", -1, &get, NULL) != SQLITE_OK) {
        sqlite3_finalize(put);
        return sql_fail(db, "schema");
    }
    unsigned char value[VALUE], copy[VALUE];
    memset(value, 'v', sizeof value);
    int rc = 0;
    double t0 = bench_now();
    for (int i = 0; i < KEYS && !rc; i++) {
        sqlite3_bind_text(put, 1, keys[i], -1, SQLITE_STATIC);
        sqlite3_bind_blob(put, 2, value, VALUE, SQLITE_STATIC);
        sqlite3_bind_double(put, 3, 1e15);
        rc = sqlite3_step(put) != SQLITE_DONE;
        sqlite3_reset(put);
    }
    double set_s = bench_now() - t0;
    uint64_t hits = 0;
    t0 = bench_now();
    for (int i = 0; i < GETS && !rc; i++) {
        sqlite3_bind_text(get, 1, keys[order[i]], -1, SQLITE_STATIC);
        if (sqlite3_step(get) == SQLITE_ROW && sqlite3_column_double(get, 1) > 0 &&
            sqlite3_column_bytes(get, 0) == VALUE) {
            memcpy(copy, sqlite3_column_blob(get, 0), VALUE);
            hits += copy[0] == 'v';
        }
        sqlite3_reset(get);
    }
    double get_s = bench_now() - t0;
    sqlite3_finalize(put);
    sqlite3_finalize(get);
    if (rc) return sql_fail(db, "insert");
    if (hits != GETS) {
        printf("# W7 floor: %llu of %d reads hit\n", (unsigned long long)hits, GETS);
        return 1;
    }
    bench_emit("W7", "sqlite-baseline", "set", 1, KEYS, set_s, -1, -1, -1);
    bench_emit("W7", "sqlite-baseline", "get", 1, GETS, get_s, -1, -1, -1);
    return 0;
}

int bench_floor_sqlite(const bench_args *a)
{
    char dir[512], path[600];
    snprintf(dir, sizeof dir, "%s/cw-bench-sqlite-XXXXXX", a->tmpdir);
    if (!mkdtemp(dir)) {
        printf("# W7 floor: cannot create a directory in %s\n", a->tmpdir);
        return 1;
    }
    snprintf(path, sizeof path, "%s/floor.db", dir);
    char (*keys)[16] = malloc(sizeof *keys * KEYS);
    uint32_t *order = malloc(sizeof *order * GETS);
    sqlite3 *db = NULL;
    int rc = !keys || !order;
    if (!rc && sqlite3_open(path, &db) != SQLITE_OK) rc = sql_fail(db, "open");
    if (!rc) {
        for (int i = 0; i < KEYS; i++) snprintf(keys[i], sizeof keys[i], "key:%d", i);
        uint64_t seed = 7; /* W7's sequence */
        for (int i = 0; i < GETS; i++) order[i] = (uint32_t)(bench_rng(&seed) % KEYS);
        rc = run(db, keys, order);
    }
    sqlite3_close(db);
    static const char *const sides[] = { "", "-wal", "-shm" };
    for (int i = 0; i < 3; i++) {
        char p[640];
        snprintf(p, sizeof p, "%s%s", path, sides[i]);
        unlink(p);
    }
    rmdir(dir);
    free(keys);
    free(order);
    return rc;
}

#endif /* CW_HAVE_DISK */
