/*
 * test_mem_mt.c - mem:// under many threads (run under ThreadSanitizer too): exact incr
 * totals, lock exclusivity through set-if-absent / delete_if_equal, torn-read detection with
 * checksummed values while keys are set, deleted, expired and evicted, scans racing writers,
 * and sets / sliding windows shared by threads. Iterations are bounded so that the binary
 * stays well under 5 s under TSan.
 */
#include "cw_test.h"
#include "core/internal.h"

#include <pthread.h>

typedef struct mt {
    cw_backend *b;
    const cw_backend_ops *ops;
    cw_backend_env env;
} mt;

static int mt_open(mt *m, const char *text)
{
    char err[CW_ERRMSG_SIZE];
    cw_url url;
    memset(m, 0, sizeof *m);
    m->ops = &cw__mem_ops;
    m->env.clock = cw_clock_now_ms; /* real time: the purge thread and short TTLs race */
    if (cw_url_parse(text, NULL, &url, err) != CW_OK) return 1;
    cw_status st = m->ops->open(&m->b, &url, &m->env, err);
    cw_url_free(&url);
    if (st) fprintf(stderr, "open %s: %s\n", text, err);
    return st != CW_OK;
}

static void run_threads(int n, void *(*fn)(void *), void *args, size_t arg_size)
{
    pthread_t th[16];
    for (int i = 0; i < n; i++) pthread_create(&th[i], NULL, fn, (char *)args + (size_t)i * arg_size);
    for (int i = 0; i < n; i++) pthread_join(th[i], NULL);
}

static uint64_t xs(uint64_t *x)
{
    *x ^= *x << 13;
    *x ^= *x >> 7;
    *x ^= *x << 17;
    return *x;
}

/* ---- incr -------------------------------------------------------------------------------- */

typedef struct incr_arg {
    mt *m;
    int id, failures;
} incr_arg;

enum { INCR_THREADS = 4, INCR_OPS = 4000, INCR_KEYS = 8 };

static void *incr_main(void *p)
{
    incr_arg *a = p;
    char k[16];
    for (int i = 0; i < INCR_OPS; i++) {
        int n = snprintf(k, sizeof k, "cnt:%d", (i + a->id) % INCR_KEYS);
        if (a->m->ops->incr(a->m->b, k, (size_t)n, 1, CW_NO_EXPIRY, NULL) != CW_OK) a->failures++;
    }
    return NULL;
}

static int mt_incr_totals_exact(void)
{
    mt m;
    CHECK_EQ_INT(mt_open(&m, "mem://?size=1000"), 0);
    incr_arg args[INCR_THREADS];
    for (int i = 0; i < INCR_THREADS; i++) args[i] = (incr_arg){ &m, i, 0 };
    run_threads(INCR_THREADS, incr_main, args, sizeof args[0]);
    for (int i = 0; i < INCR_THREADS; i++) CHECK_EQ_INT(args[i].failures, 0);
    int64_t total = 0, r = 0;
    char k[16];
    for (int i = 0; i < INCR_KEYS; i++) {
        int n = snprintf(k, sizeof k, "cnt:%d", i);
        CHECK_OK(m.ops->incr(m.b, k, (size_t)n, 0, CW_NO_EXPIRY, &r));
        CHECK_EQ_INT(r, INCR_THREADS * INCR_OPS / INCR_KEYS);
        total += r;
    }
    CHECK_EQ_INT(total, INCR_THREADS * INCR_OPS);
    m.ops->close(m.b);
    return 0;
}

/* ---- locks ------------------------------------------------------------------------------- */

typedef struct lock_arg {
    mt *m;
    atomic_int *holders;
    int id, taken, violations;
} lock_arg;

static void *lock_main(void *p)
{
    lock_arg *a = p;
    char token[16];
    int tl = snprintf(token, sizeof token, "owner-%d", a->id);
    for (int i = 0; i < 3000; i++) {
        if (a->m->ops->set(a->m->b, "the-lock", 8, token, (size_t)tl, 60000, CW_SET_IF_ABSENT) != CW_OK)
            continue;
        if (atomic_fetch_add(a->holders, 1) != 0) a->violations++;
        a->taken++;
        /* while we hold it, nobody else's unlock may succeed and our value is there */
        cw_value v = { 0 };
        if (a->m->ops->get(a->m->b, "the-lock", 8, &v) != CW_OK || v.len != (size_t)tl ||
            memcmp(v.data, token, (size_t)tl) != 0)
            a->violations++;
        cw_value_free(&v);
        atomic_fetch_sub(a->holders, 1);
        if (a->m->ops->delete_if_equal(a->m->b, "the-lock", 8, token, (size_t)tl) != CW_OK) a->violations++;
    }
    /* try to release a lock we do not hold: must never succeed */
    char other[16];
    int ol = snprintf(other, sizeof other, "owner-%d", a->id + 100);
    if (a->m->ops->delete_if_equal(a->m->b, "the-lock", 8, other, (size_t)ol) == CW_OK) a->violations++;
    return NULL;
}

static int mt_lock_exclusive(void)
{
    mt m;
    CHECK_EQ_INT(mt_open(&m, "mem://?size=1000"), 0);
    atomic_int holders;
    atomic_init(&holders, 0);
    lock_arg args[4];
    for (int i = 0; i < 4; i++) args[i] = (lock_arg){ &m, &holders, i, 0, 0 };
    run_threads(4, lock_main, args, sizeof args[0]);
    int taken = 0;
    for (int i = 0; i < 4; i++) {
        CHECK_EQ_INT(args[i].violations, 0);
        taken += args[i].taken;
    }
    CHECK(taken >= 100); /* the lock did change hands */
    m.ops->close(m.b);
    return 0;
}

/* ---- torn reads -------------------------------------------------------------------------------
 * A value is [u32 key id][u32 length][payload][u32 checksum of everything before]; readers
 * check all three, so a value mixed from two writes, or given for another key, is caught. */

static uint32_t fnv(const unsigned char *p, size_t n)
{
    uint32_t h = 2166136261u;
    for (size_t i = 0; i < n; i++) h = (h ^ p[i]) * 16777619u;
    return h;
}

static size_t make_value(unsigned char *buf, uint32_t id, uint64_t *x)
{
    uint32_t len = 12 + (uint32_t)(xs(x) % 300);
    memcpy(buf, &id, 4);
    memcpy(buf + 4, &len, 4);
    uint8_t fill = (uint8_t)xs(x);
    for (uint32_t i = 8; i < len - 4; i++) buf[i] = (uint8_t)(fill + i);
    uint32_t c = fnv(buf, len - 4);
    memcpy(buf + len - 4, &c, 4);
    return len;
}

static int value_ok(const unsigned char *v, size_t len, uint32_t id)
{
    uint32_t vid, vlen, c;
    if (len < 12) return 0;
    memcpy(&vid, v, 4);
    memcpy(&vlen, v + 4, 4);
    memcpy(&c, v + len - 4, 4);
    return vid == id && vlen == len && c == fnv(v, len - 4);
}

typedef struct rw_arg {
    mt *m;
    int id, bad, hits, ops;
    cw_cache *c; /* not NULL: through the cache's cw_get / cw_set / cw_delete instead */
} rw_arg;

/* The cache's calls for rw_main: cw_get reads mem:// by its own path (cw__mem_get). */
static cw_status rw_get(rw_arg *a, const char *k, size_t n, cw_value *v)
{
    return a->c ? cw_get(a->c, k, v) : a->m->ops->get(a->m->b, k, n, v);
}
static cw_status rw_set(rw_arg *a, const char *k, size_t n, const unsigned char *buf, size_t len, int64_t ttl)
{
    return a->c ? cw_set(a->c, k, buf, len, ttl) : a->m->ops->set(a->m->b, k, n, buf, len, ttl, CW_SET_ALWAYS);
}

enum { RW_KEYS = 1000 };

static void *rw_main(void *p)
{
    rw_arg *a = p;
    uint64_t x = 0x9E3779B97F4A7C15ull * (uint64_t)(a->id + 1);
    unsigned char buf[400];
    char k[24];
    cw_value v = { 0 };
    for (int i = 0; i < a->ops; i++) {
        uint64_t r = xs(&x);
        uint32_t id = (uint32_t)(r % RW_KEYS);
        /* keys of 4 to 17 bytes: both of mem's read paths (8 to 16 bytes, and the rest) */
        int n = snprintf(k, sizeof k, "rw:%u%.*s", id, (int)(id % 12), "............");
        int what = (int)((r >> 32) % 100);
        if (what < 55) {
            cw_status st = rw_get(a, k, (size_t)n, &v);
            if (st == CW_OK) {
                a->hits++;
                if (!value_ok(v.data, v.len, id)) a->bad++;
            } else if (st != CW_NOTFOUND) {
                a->bad++;
            }
        } else if (what < 85) {
            size_t len = make_value(buf, id, &x);
            /* some expire at once; some live an hour (read without the lock); some never expire */
            int64_t ttl = what < 60 ? 1 + (int64_t)(r % 3) : what < 72 ? 3600000 : CW_NO_EXPIRY;
            if (rw_set(a, k, (size_t)n, buf, len, ttl) != CW_OK) a->bad++;
        } else if (what < 95) {
            cw_status st = a->c ? cw_delete(a->c, k) : a->m->ops->del(a->m->b, k, (size_t)n);
            if (st != CW_OK && st != CW_NOTFOUND) a->bad++;
        } else if (a->c) {
            if (cw_get(a->c, k, &v) == CW_OK && !value_ok(v.data, v.len, id)) a->bad++;
        } else {
            /* read, then delete only if unchanged */
            if (a->m->ops->get(a->m->b, k, (size_t)n, &v) == CW_OK) {
                cw_status st = a->m->ops->delete_if_equal(a->m->b, k, (size_t)n, v.data, v.len);
                if (st != CW_OK && st != CW_NOTSTORED && st != CW_NOTFOUND) a->bad++;
            }
        }
    }
    cw_value_free(&v);
    return NULL;
}

/* Six rw_main threads, on m's backend or through cache c; none may read a torn value. */
static int rw_run(mt *m, cw_cache *c)
{
    rw_arg args[6];
    for (int i = 0; i < 6; i++) args[i] = (rw_arg){ m, i, 0, 0, 15000, c };
    run_threads(6, rw_main, args, sizeof args[0]);
    int hits = 0;
    for (int i = 0; i < 6; i++) {
        CHECK_EQ_INT(args[i].bad, 0);
        hits += args[i].hits;
    }
    CHECK(hits > 1000);
    return 0;
}

static int mt_no_torn_reads_under_eviction(void)
{
    mt m;
    /* 300 entries for 1000 keys: most sets evict; the purge thread runs every millisecond */
    CHECK_EQ_INT(mt_open(&m, "mem://?size=300&check_interval=1ms&max_bytes=48k"), 0);
    CHECK_EQ_INT(rw_run(&m, NULL), 0);
    uint64_t n = 0;
    CHECK_OK(m.ops->keys_count(m.b, &n));
    CHECK(n <= 300);
    m.ops->close(m.b);
    return 0;
}

/* The same through the cache: cw_get's own read of mem:// (cw__mem_get, lock-free, with the
 * payload copied inline or by libc past 128 bytes) against cw_set, cw_delete, expiry,
 * eviction and the purge thread. */
static int mt_no_torn_cache_gets(void)
{
    cw_cache *c = NULL;
    CHECK_OK(cw_cache_new(&c, NULL));
    CHECK_OK(cw_cache_setup(c, "mem://?size=300&check_interval=1ms&max_bytes=48k", NULL, NULL));
    CHECK_EQ_INT(rw_run(NULL, c), 0);
    uint64_t n = 0;
    CHECK_OK(cw_get_keys_count(c, &n));
    CHECK(n <= 300);
    cw_cache_free(c);
    return 0;
}

/* ---- scans racing writers -------------------------------------------------------------------- */

typedef struct scan_arg {
    mt *m;
    int id, bad, seen;
    atomic_int *writers_left;
} scan_arg;

static int scan_verify(void *ud, const char *key, size_t klen, const void *val, size_t vlen)
{
    scan_arg *a = ud;
    char buf[24];
    unsigned id = 0;
    snprintf(buf, sizeof buf, "%.*s", (int)(klen < 20 ? klen : 20), key);
    if (sscanf(buf, "rw:%u", &id) != 1 || !val || !value_ok(val, vlen, id)) a->bad++;
    a->seen++;
    return 0;
}

static void *scan_main(void *p)
{
    scan_arg *a = p;
    if (a->id < 2) { /* writers */
        rw_arg w = { a->m, a->id + 10, 0, 0, 20000, NULL };
        rw_main(&w);
        a->bad += w.bad;
        atomic_fetch_sub(a->writers_left, 1);
        return NULL;
    }
    for (int round = 0; round < 200 && atomic_load(a->writers_left) > 0; round++)
        if (a->m->ops->scan(a->m->b, "rw:*", 4, 50, 1, scan_verify, a) != CW_OK) a->bad++;
    return NULL;
}

static int mt_scan_while_writing(void)
{
    mt m;
    CHECK_EQ_INT(mt_open(&m, "mem://?size=2000"), 0);
    atomic_int left;
    atomic_init(&left, 2);
    scan_arg args[4];
    for (int i = 0; i < 4; i++) args[i] = (scan_arg){ &m, i, 0, 0, &left };
    run_threads(4, scan_main, args, sizeof args[0]);
    for (int i = 0; i < 4; i++) CHECK_EQ_INT(args[i].bad, 0);
    CHECK(args[2].seen + args[3].seen > 0);
    m.ops->close(m.b);
    return 0;
}

/* ---- sets and windows shared by threads ------------------------------------------------------- */

enum { SET_ADDERS = 3, SET_PER = 1500 };

typedef struct set_arg {
    mt *m;
    int id;
    atomic_int *adders_left;
    atomic_uchar *seen; /* SET_ADDERS * SET_PER flags */
    int bad, popped;
    int64_t max_window;
} set_arg;

static int pop_mark(void *ud, const char *key, size_t klen, const void *val, size_t vlen)
{
    set_arg *a = ud;
    char buf[24];
    int t = -1, j = -1;
    snprintf(buf, sizeof buf, "%.*s", (int)(klen < 20 ? klen : 20), key);
    if (sscanf(buf, "m%d:%d", &t, &j) != 2 || t < 0 || t >= SET_ADDERS || j < 0 || j >= SET_PER ||
        atomic_fetch_add(&a->seen[t * SET_PER + j], 1) != 0)
        a->bad++;
    a->popped++;
    return 0;
}

static void *set_main(void *p)
{
    set_arg *a = p;
    char buf[24];
    int64_t count = 0;
    if (a->id < SET_ADDERS) {
        for (int j = 0; j < SET_PER; j++) {
            int n = snprintf(buf, sizeof buf, "m%d:%d", a->id, j);
            const char *mem[] = { buf };
            size_t ml[] = { (size_t)n };
            if (a->m->ops->set_add(a->m->b, "shared", 6, 1, mem, ml, 60000) != CW_OK) a->bad++;
            if (a->m->ops->slice_incr(a->m->b, "window", 6, 0, j, 50, 60000, &count) != CW_OK || count > 50)
                a->bad++;
            if (count > a->max_window) a->max_window = count;
        }
        atomic_fetch_sub(a->adders_left, 1);
        return NULL;
    }
    size_t n = 0;
    while (atomic_load(a->adders_left) > 0)
        if (a->m->ops->set_pop(a->m->b, "shared", 6, 7, pop_mark, a, &n) != CW_OK) a->bad++;
    return NULL;
}

static int mt_sets_and_windows(void)
{
    mt m;
    CHECK_EQ_INT(mt_open(&m, "mem://?size=1000"), 0);
    static atomic_uchar seen[SET_ADDERS * SET_PER];
    for (int i = 0; i < SET_ADDERS * SET_PER; i++) atomic_init(&seen[i], 0);
    atomic_int left;
    atomic_init(&left, SET_ADDERS);
    set_arg args[SET_ADDERS + 2];
    for (int i = 0; i < SET_ADDERS + 2; i++) args[i] = (set_arg){ &m, i, &left, seen, 0, 0, 0 };
    run_threads(SET_ADDERS + 2, set_main, args, sizeof args[0]);
    set_arg rest = { &m, 99, &left, seen, 0, 0, 0 };
    size_t n = 0;
    CHECK_OK(m.ops->set_pop(m.b, "shared", 6, SIZE_MAX, pop_mark, &rest, &n));
    int popped = rest.popped, max_window = 0;
    CHECK_EQ_INT(rest.bad, 0);
    for (int i = 0; i < SET_ADDERS + 2; i++) {
        CHECK_EQ_INT(args[i].bad, 0);
        popped += args[i].popped;
        if (args[i].max_window > max_window) max_window = (int)args[i].max_window;
    }
    CHECK_EQ_INT(popped, SET_ADDERS * SET_PER); /* each member popped exactly once */
    CHECK_EQ_INT(max_window, 50);
    m.ops->close(m.b);
    return 0;
}

/* ---- every op at once -------------------------------------------------------------------------
 * Threads run random ops of every kind on a few overlapping keys (so that keys change type,
 * expire, get evicted, cleared and scanned under each other); each op must return one of
 * its documented statuses. Under TSan this covers the locking of every path. */

typedef struct chaos_arg {
    mt *m;
    int id, bad;
} chaos_arg;

static int chaos_scan_fn(void *ud, const char *key, size_t klen, const void *val, size_t vlen)
{
    (void)ud;
    return klen == 0 || (val == NULL && vlen != 0);
}

static int ok_or(cw_status st, cw_status a, cw_status b, cw_status c)
{
    return st == CW_OK || st == a || st == b || st == c;
}

static void *chaos_main(void *p)
{
    chaos_arg *a = p;
    mt *m = a->m;
    uint64_t x = 0x51ED270B9ull * (uint64_t)(a->id + 3);
    char k[16];
    cw_value v = { 0 };
    for (int i = 0; i < 6000; i++) {
        uint64_t r = xs(&x);
        int n = snprintf(k, sizeof k, "c:%u", (unsigned)(r % 24));
        size_t kl = (size_t)n;
        int64_t ttl = (r >> 8) % 3 == 0 ? 1 + (int64_t)((r >> 12) % 5) : CW_NO_EXPIRY;
        cw_status st = CW_OK;
        int ok = 1;
        switch ((r >> 20) % 16) {
        case 0: st = m->ops->get(m->b, k, kl, &v); ok = ok_or(st, CW_NOTFOUND, CW_ETYPE, CW_OK); break;
        case 1: st = m->ops->set(m->b, k, kl, "value", 5, ttl, (cw_set_mode)((r >> 30) % 3));
                ok = ok_or(st, CW_NOTSTORED, CW_OK, CW_OK); break;
        case 2: st = m->ops->del(m->b, k, kl); ok = ok_or(st, CW_NOTFOUND, CW_OK, CW_OK); break;
        case 3: st = m->ops->incr(m->b, k, kl, 1, ttl, NULL); ok = ok_or(st, CW_ETYPE, CW_OK, CW_OK); break;
        case 4: st = m->ops->expire(m->b, k, kl, ttl == CW_NO_EXPIRY ? 50 : ttl);
                ok = ok_or(st, CW_NOTFOUND, CW_OK, CW_OK); break;
        case 5: {
            uint64_t idx[2] = { r % 100, (r >> 7) % 5000 };
            st = m->ops->set_bits(m->b, k, kl, idx, 2, ttl);
            ok = ok_or(st, CW_ETYPE, CW_OK, CW_OK);
            break;
        }
        case 6: {
            uint64_t idx[1] = { r % 100 };
            uint8_t bit;
            st = m->ops->get_bits(m->b, k, kl, idx, 1, &bit);
            ok = ok_or(st, CW_ETYPE, CW_OK, CW_OK);
            break;
        }
        case 7: {
            int64_t c;
            st = m->ops->slice_incr(m->b, k, kl, i - 50, i, 5, 1000, &c);
            ok = ok_or(st, CW_ETYPE, CW_OK, CW_OK) && (st != CW_OK || (c >= 1 && c <= 5));
            break;
        }
        case 8: {
            const char *mem[] = { "a", "b", "c" };
            size_t ml[] = { 1, 1, 1 };
            st = m->ops->set_add(m->b, k, kl, 3, mem, ml, ttl);
            ok = ok_or(st, CW_ETYPE, CW_OK, CW_OK);
            break;
        }
        case 9: {
            size_t popped;
            st = m->ops->set_pop(m->b, k, kl, 2, chaos_scan_fn, NULL, &popped);
            ok = ok_or(st, CW_ETYPE, CW_OK, CW_OK);
            break;
        }
        case 10: {
            int64_t t;
            st = m->ops->get_expire(m->b, k, kl, &t);
            ok = ok_or(st, CW_NOTFOUND, CW_OK, CW_OK);
            break;
        }
        case 11: st = m->ops->scan(m->b, "c:*", 3, 10, (int)(r & 1), chaos_scan_fn, NULL); break;
        case 12: {
            uint64_t d;
            st = (r & 255) == 0 ? m->ops->delete_match(m->b, "c:1*", 4, &d) : m->ops->exists(m->b, k, kl);
            ok = ok_or(st, CW_NOTFOUND, CW_OK, CW_OK);
            break;
        }
        case 13: st = (r & 511) == 0 ? m->ops->clear(m->b) : m->ops->maintain(m->b); break;
        case 14: {
            uint64_t size;
            st = m->ops->value_size(m->b, k, kl, &size);
            ok = ok_or(st, CW_NOTFOUND, CW_OK, CW_OK);
            break;
        }
        default:
            st = m->ops->delete_if_equal(m->b, k, kl, "value", 5);
            ok = ok_or(st, CW_NOTFOUND, CW_NOTSTORED, CW_OK);
            break;
        }
        if (!ok) {
            fprintf(stderr, "chaos: op %u on %s -> %s\n", (unsigned)((r >> 20) % 16), k, cw_strerror(st));
            a->bad++;
        }
    }
    cw_value_free(&v);
    return NULL;
}

static int mt_every_op_races(void)
{
    mt m;
    /* 16 keys for 24 names: evictions too; the purge thread runs every millisecond */
    CHECK_EQ_INT(mt_open(&m, "mem://?size=16&check_interval=1ms"), 0);
    chaos_arg args[4];
    for (int i = 0; i < 4; i++) args[i] = (chaos_arg){ &m, i, 0 };
    run_threads(4, chaos_main, args, sizeof args[0]);
    for (int i = 0; i < 4; i++) CHECK_EQ_INT(args[i].bad, 0);
    uint64_t n = 0;
    CHECK_OK(m.ops->keys_count(m.b, &n));
    CHECK(n <= 16);
    m.ops->close(m.b);
    return 0;
}

static const cw_test tests[] = {
    CW_TEST(mt_incr_totals_exact),
    CW_TEST(mt_lock_exclusive),
    CW_TEST(mt_no_torn_reads_under_eviction),
    CW_TEST(mt_no_torn_cache_gets),
    CW_TEST(mt_scan_while_writing),
    CW_TEST(mt_sets_and_windows),
    CW_TEST(mt_every_op_races),
    { 0 }
};

int main(int argc, char **argv) { return cw_test_main(tests, argc, argv); }
