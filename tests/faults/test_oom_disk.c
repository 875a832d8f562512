/*
 * test_oom_disk.c - disk:// under allocation failures, libcashews's and SQLite's own (SQLite's
 * allocator is the test's too: SQLITE_CONFIG_MALLOC), the k-th one failing for every k.
 *
 *  - Opening a new directory: the setup answers CW_OK or CW_ENOMEM; either way, once
 *    allocations work again, the directory opens and works (a failure while a shard file is
 *    being created never leaves a half-made file behind that a later open would refuse).
 *  - A script of every kind of command on an open cache: each answers as it would, or
 *    CW_ENOMEM, and a command that failed changed nothing (each is one transaction); after it
 *    the same cache reads back exactly what the successful commands wrote (no transaction left
 *    open on a pooled connection, no lock left held), and the directory reopens.
 * After each run every block of libcashews and all of SQLite's memory is back.
 */
#define FA_WITH_SQLITE 1
#include "cw_test.h"
#include "fault_alloc.h"

#include <sys/stat.h>
#include <unistd.h>

static cw_fake_clock clk;

static char open_err[CW_ERRMSG_SIZE];

static cw_status open_at(const char *dir, cw_cache **c)
{
    char url[400];
    open_err[0] = 0;
    cw_cache_options o = { 0 };
    o.clock = cw_fake_clock_now;
    o.clock_ud = &clk;
    *c = NULL;
    cw_status st = cw_cache_new(c, &o);
    if (st != CW_OK) return st;
    if (dir) snprintf(url, sizeof url, "disk://?directory=%s&shards=2&timeout=0.2", dir);
    else snprintf(url, sizeof url, "disk://?shards=2&timeout=0.2"); /* private: no fsync */
    st = cw_cache_setup(*c, url, NULL, open_err);
    if (st != CW_OK) {
        cw_cache_free(*c);
        *c = NULL;
    }
    return st;
}

/* ---- the script's model: what the successful commands left ---- */

enum { NKEYS = 6 };
static const char *const names[NKEYS] = { "a", "b", "c", "x1", "x2", "d" };

typedef struct model {
    char val[NKEYS][6000]; /* "" with len -1: absent */
    long len[NKEYS];
    int maybe[NKEYS];      /* absent, or val: a batch that failed may have stored it */
    int64_t n;             /* counter "n" (0: absent) */
    int bits[2];           /* bits 3 and 700 of "bits" set */
    int64_t win;           /* count of "win" */
    int members[2];        /* m1, m2 in "tags" */
} model;

static int idx_of(const char *k)
{
    for (int i = 0; i < NKEYS; i++)
        if (strcmp(names[i], k) == 0) return i;
    return -1;
}

static void put(model *m, const char *k, const char *v, size_t n)
{
    int i = idx_of(k);
    memcpy(m->val[i], v, n);
    m->len[i] = (long)n;
}

static int ok_or_nomem(cw_status st, const char *what)
{
    if (st == CW_OK || st == CW_ENOMEM) return 0;
    fprintf(stderr, "%s -> %s (%d)\n", what, cw_strerror(st), st);
    return 1;
}

/* set k = v (n bytes) and record it when it worked */
static int set_k(cw_cache *c, model *m, const char *k, const char *v, size_t n, int64_t ttl)
{
    cw_status st = cw_set(c, k, v, n, ttl);
    CHECK(ok_or_nomem(st, k) == 0);
    if (st == CW_OK) put(m, k, v, n);
    return 0;
}

typedef struct matched {
    const model *m;
    int bad, seen;
} matched;

static int match_fn(void *ud, const char *key, size_t klen, const void *val, size_t vlen)
{
    matched *mt = ud;
    char k[16];
    snprintf(k, sizeof k, "%.*s", (int)klen, key);
    int i = idx_of(k);
    mt->seen++;
    if (i >= 0 && (mt->m->len[i] != (long)vlen || memcmp(mt->m->val[i], val, vlen) != 0)) mt->bad++;
    return 0;
}

static int script(cw_cache *c, model *m)
{
    static char big[5000];
    for (size_t i = 0; i < sizeof big; i++) big[i] = (char)('A' + i % 23);
    CHECK(set_k(c, m, "a", "first value", 11, CW_NO_EXPIRY) == 0);
    CHECK(set_k(c, m, "b", big, sizeof big, CW_NO_EXPIRY) == 0); /* overflow pages */
    CHECK(set_k(c, m, "c", "with a ttl", 10, 60000) == 0);
    cw_value v = { 0 };
    cw_status st = cw_get(c, "b", &v);
    CHECK(st == CW_NOTFOUND || ok_or_nomem(st, "get b") == 0);
    if (st == CW_OK) CHECK(v.len == (size_t)m->len[1] && memcmp(v.data, m->val[1], v.len) == 0);
    CHECK(set_k(c, m, "a", "second", 6, CW_NO_EXPIRY) == 0);
    for (int i = 0; i < 2; i++) {
        int64_t got = 0;
        st = cw_incr(c, "n", 5 + i, CW_NO_EXPIRY, &got);
        CHECK(ok_or_nomem(st, "incr") == 0);
        if (st == CW_OK) {
            m->n += 5 + i;
            CHECK_EQ_INT(got, m->n);
        }
    }
    static const uint64_t bit_idx[2] = { 3, 700 };
    for (int i = 0; i < 2; i++) {
        st = cw_set_bits(c, "bits", &bit_idx[i], 1, CW_NO_EXPIRY);
        CHECK(ok_or_nomem(st, "set_bits") == 0);
        if (st == CW_OK) m->bits[i] = 1;
    }
    int64_t count = 0;
    st = cw_slice_incr(c, "win", 60000, 10, CW_NO_EXPIRY, &count);
    CHECK(ok_or_nomem(st, "slice_incr") == 0);
    if (st == CW_OK) m->win = count;
    const char *const mem[2] = { "m1", "m2" };
    st = cw_set_add(c, "tags", 2, mem, CW_NO_EXPIRY);
    CHECK(ok_or_nomem(st, "set_add") == 0);
    if (st == CW_OK) m->members[0] = m->members[1] = 1;
    st = cw_set_remove(c, "tags", 1, mem);
    CHECK(ok_or_nomem(st, "set_remove") == 0);
    if (st == CW_OK) m->members[0] = 0;
    st = cw_delete(c, "c");
    CHECK(st == CW_NOTFOUND || ok_or_nomem(st, "delete") == 0);
    if (st == CW_OK) m->len[idx_of("c")] = -1;
    matched mt = { m, 0, 0 };
    st = cw_get_match(c, "*", 10, match_fn, &mt);
    CHECK(ok_or_nomem(st, "get_match") == 0);
    CHECK_EQ_INT(mt.bad, 0);
    const char *const keys[2] = { "x1", "x2" };
    const void *const vals[2] = { "one", "two" };
    const size_t lens[2] = { 3, 3 };
    st = cw_set_many(c, 2, keys, vals, lens, CW_NO_EXPIRY);
    CHECK(ok_or_nomem(st, "set_many") == 0);
    /* one transaction per shard: a failure may leave the keys of the other shard stored */
    put(m, "x1", "one", 3);
    put(m, "x2", "two", 3);
    m->maybe[idx_of("x1")] = m->maybe[idx_of("x2")] = st != CW_OK;
    st = cw_cache_maintain(c);
    CHECK(ok_or_nomem(st, "maintain") == 0);
    CHECK(set_k(c, m, "d", "last", 4, 1000) == 0);
    cw_value_free(&v);
    return 0;
}

static int ignore_member(void *ud, const char *key, size_t klen, const void *val, size_t vlen) { return 0; }

/* With allocations working: the cache holds what the model says, and keeps working. */
static int verify(cw_cache *c, const model *m)
{
    cw_value v = { 0 };
    uint64_t want_keys = 0;
    for (int i = 0; i < NKEYS; i++) {
        cw_status st = cw_get(c, names[i], &v);
        if (m->maybe[i] && st == CW_NOTFOUND) continue;
        if (m->len[i] < 0) {
            if (st != CW_NOTFOUND) fprintf(stderr, "%s: present, should be absent\n", names[i]);
            CHECK_ST(st, CW_NOTFOUND);
            continue;
        }
        CHECK_OK(st);
        if (v.len != (size_t)m->len[i] || memcmp(v.data, m->val[i], v.len) != 0) {
            fprintf(stderr, "%s holds %zu bytes \"%.20s\", want %ld \"%.20s\"\n", names[i], v.len,
                    (const char *)v.data, m->len[i], m->val[i]);
            return 1;
        }
        want_keys++;
    }
    int64_t n = 0;
    CHECK_OK(cw_incr(c, "n", 0, CW_NO_EXPIRY, &n));
    CHECK_EQ_INT(n, m->n);
    want_keys++;
    static const uint64_t bit_idx[2] = { 3, 700 };
    uint8_t bits[2] = { 0, 0 };
    CHECK_OK(cw_get_bits(c, "bits", bit_idx, 2, bits));
    CHECK(bits[0] == m->bits[0] && bits[1] == m->bits[1]);
    want_keys += m->bits[0] || m->bits[1];
    want_keys += m->win > 0;
    want_keys += m->members[0] || m->members[1];
    uint64_t keys = 0;
    CHECK_OK(cw_get_keys_count(c, &keys));
    CHECK_EQ_INT(keys, want_keys);
    size_t popped = 0;
    CHECK_OK(cw_set_pop(c, "tags", 10, ignore_member, NULL, &popped));
    CHECK_EQ_INT(popped, m->members[0] + m->members[1]);
    int64_t count = 0;
    CHECK_OK(cw_slice_incr(c, "win", 60000, 10, CW_NO_EXPIRY, &count));
    CHECK_EQ_INT(count, m->win + 1);
    CHECK_OK(cw_set(c, "a", "after", 5, CW_NO_EXPIRY)); /* no lock left held */
    uint64_t deleted = 0;
    CHECK_OK(cw_delete_match(c, "x*", &deleted));
    cw_value_free(&v);
    return 0;
}

static int check_memory(long live0, sqlite3_int64 sq0, const char *what, long k)
{
    if (fa_live() != live0 || sqlite3_memory_used() != sq0) {
        fprintf(stderr, "%s, allocation %ld failing: %ld block(s) of libcashews, %lld byte(s) of SQLite leaked\n",
                what, k, fa_live() - live0, (long long)(sqlite3_memory_used() - sq0));
        return 1;
    }
    return 0;
}

/* A folder for the directories: on tmpfs when there is one, where fsync costs nothing (each
 * run creates shard files, which syncs them), else the usual test folder. */
static int make_base(char *base, size_t size)
{
    struct stat sb;
    if (stat("/dev/shm", &sb) == 0 && S_ISDIR(sb.st_mode) && access("/dev/shm", W_OK) == 0) {
        snprintf(base, size, "/dev/shm/cw-oom-disk-XXXXXX");
        if (mkdtemp(base)) return 0;
    }
    return cw_test_mkdtemp(base, size, "oom-disk");
}

static int disk_open_survives_each_failed_allocation(void)
{
    char base[256], dir[300];
    CHECK(make_base(base, sizeof base) == 0);
    long total = -1, fails = 0;
    for (long k = -1; k < total || total < 0; k++) {
        if (!fa_sampled(k, total, FA_LIB_STRIDE)) continue;
        snprintf(dir, sizeof dir, "%s/%ld", base, k + 1);
        long live0 = fa_live();
        sqlite3_int64 sq0 = sqlite3_memory_used();
        cw_cache *c = NULL;
        fa_arm(k);
        cw_status st = open_at(dir, &c);
        long used = fa_disarm();
        if (st != CW_OK && st != CW_ENOMEM)
            fprintf(stderr, "open with allocation %ld failing: %s: %s\n", k, cw_strerror(st), open_err);
        CHECK(st == CW_OK || st == CW_ENOMEM);
        if (k < 0) total = used;
        else fails += fa_did_fail();
        cw_cache_free(c);
        CHECK(check_memory(live0, sq0, "open", k) == 0);
        if (st != CW_OK) { /* the directory opens and works now */
            st = open_at(dir, &c);
            if (st != CW_OK) fprintf(stderr, "reopen after allocation %ld failed: %s: %s\n", k, cw_strerror(st), open_err);
            CHECK_OK(st);
            CHECK_OK(cw_set_raw(c, "k", "v", 1, CW_NO_EXPIRY));
            cw_cache_free(c);
        }
        cw_test_rmtree(dir);
    }
    printf("  open: %ld allocations, %ld failed once each (libcashews's all; of each SQLite call the first, last and 1 in %d)\n", total, fails,
           FA_LIB_STRIDE);
    CHECK(total > 50 && fails > total / FA_LIB_STRIDE / 2);
    cw_test_rmtree(base);
    return 0;
}

/* On a private directory (synchronous=OFF: a run takes milliseconds, not an fsync's time;
 * the open sweep above covers reopening). */
static int disk_commands_survive_each_failed_allocation(void)
{
    static model m;
    long total = -1, fails = 0;
    for (long k = -1; k < total || total < 0; k++) {
        if (!fa_sampled(k, total, FA_LIB_STRIDE)) continue;
        long live0 = fa_live();
        sqlite3_int64 sq0 = sqlite3_memory_used();
        cw_cache *c = NULL;
        CHECK_OK(open_at(NULL, &c));
        memset(&m, 0, sizeof m);
        for (int i = 0; i < NKEYS; i++) m.len[i] = -1;
        fa_arm(k);
        int bad = script(c, &m);
        long used = fa_disarm();
        if (bad) fprintf(stderr, "with allocation %ld of %ld failing\n", k, total);
        CHECK(!bad);
        if (k < 0) total = used;
        else fails += fa_did_fail();
        bad = verify(c, &m);
        if (bad) fprintf(stderr, "after allocation %ld of %ld failed: %s\n", k, total, cw_cache_errmsg(c));
        CHECK(!bad);
        cw_cache_free(c);
        CHECK(check_memory(live0, sq0, "commands", k) == 0);
    }
    printf("  commands: %ld allocations, %ld failed once each (libcashews's all; of each SQLite call the first, last and 1 in %d)\n", total,
           fails, FA_LIB_STRIDE);
    CHECK(total > 100 && fails > total / FA_LIB_STRIDE / 2);
    return 0;
}

static const cw_test tests[] = {
    CW_TEST(disk_open_survives_each_failed_allocation),
    CW_TEST(disk_commands_survive_each_failed_allocation),
    { 0 }
};

int main(int argc, char **argv)
{
    cw_fake_clock_init(&clk);
    if (fa_install() != 0) return 1;
    return cw_test_main(tests, argc, argv);
}
