/*
 * w123_mem.c - workloads W1 (mem get, all hits), W2 (mem set, overwrites with a TTL) and W3
 * (read-through on the Zipf trace: hit ratio and throughput) of bench/BENCHMARKS.md, plus
 * the memory cost per entry of mem:// (a "# mem" line, measured at the start of W1).
 *
 * Everything goes through the public API on one shared cache; keys are formatted and random
 * sequences drawn before timing; each thread reuses one cw_value; warm-up is not timed.
 */
#include "bench.h"

#include <fcntl.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>

enum { KEY_SIZE = 16, VALUE_SIZE = 64, W12_KEYS = 100000, W12_OPS = 8000000, W12_ROUNDS = 5, MAX_THREADS = 2 };

static const char *const w12_url = "mem://?size=200000";

typedef char key16[KEY_SIZE];

static cw_cache *open_cache(const char *url)
{
    cw_cache *c = NULL;
    char err[CW_ERRMSG_SIZE] = "";
    if (cw_cache_new(&c, NULL) != CW_OK) return NULL;
    if (cw_cache_setup(c, url, NULL, err) != CW_OK) {
        printf("# setup %s failed: %s\n", url, err);
        cw_cache_free(c);
        return NULL;
    }
    return c;
}

static key16 *format_keys(size_t n)
{
    key16 *keys = malloc(n * sizeof *keys);
    if (!keys) return NULL;
    for (size_t i = 0; i < n; i++) snprintf(keys[i], KEY_SIZE, "key:%zu", i);
    return keys;
}

static uint32_t *draw_ids(size_t n, uint32_t range, uint64_t seed)
{
    uint32_t *ids = malloc(n * sizeof *ids);
    if (!ids) return NULL;
    for (size_t i = 0; i < n; i++) ids[i] = (uint32_t)(bench_rng(&seed) % range);
    return ids;
}

/* ---- the floor: probe-baseline.c's loop, timed beside W1 ------------------------------------
 * The probe floor of BENCHMARKS.md (open addressing over 2^18 slots of a key
 * pointer and a 64-byte value; FNV-1a, strcmp, a 64-byte copy), read by threads and rounds
 * like W1's, just before them, so that its 2-thread scaling shows what the machine allows. */
enum { FLOOR_SLOTS = 1 << 18 };
typedef struct floor_slot {
    const char *key;
    unsigned char value[VALUE_SIZE];
} floor_slot;
static floor_slot *floor_table;

static uint64_t fnv1a(const char *s)
{
    uint64_t h = 1469598103934665603ull;
    while (*s) {
        h ^= (unsigned char)*s++;
        h *= 1099511628211ull;
    }
    return h;
}

static int floor_build(const key16 *keys, size_t n)
{
    floor_table = calloc(FLOOR_SLOTS, sizeof *floor_table);
    if (!floor_table) return 1;
    for (size_t i = 0; i < n; i++) {
        uint64_t j = fnv1a(keys[i]) & (FLOOR_SLOTS - 1);
        while (floor_table[j].key) j = (j + 1) & (FLOOR_SLOTS - 1);
        floor_table[j].key = keys[i];
        memset(floor_table[j].value, (int)(i & 0xff), VALUE_SIZE);
    }
    return 0;
}

/* ---- a timed run of T threads ---------------------------------------------------------------- */

typedef struct run {
    cw_cache *c;
    const key16 *keys;
    const uint32_t *ids;
    size_t n;  /* ids per thread */
    int op;    /* 0 get, 1 set, 2 read-through, 3 the floor's get */
    pthread_barrier_t *go;
    double t0, t1;
    uint64_t hits, fails;
    unsigned sink; /* keeps the floor's copies alive */
} run;

static void *run_main(void *p)
{
    run *r = p;
    unsigned char val[VALUE_SIZE];
    memset(val, 'v', sizeof val);
    cw_value v = { 0 };
    uint64_t hits = 0, fails = 0;
    /* In locals: the cache's calls could, for all the compiler knows, change *r, so reading
     * through r would reload four fields on every iteration, in the timed loop. */
    cw_cache *const c = r->c;
    const key16 *const keys = r->keys;
    const uint32_t *const ids = r->ids;
    const size_t n = r->n;
    pthread_barrier_wait(r->go);
    r->t0 = bench_now();
    switch (r->op) {
    case 0:
        for (size_t i = 0; i < n; i++) hits += cw_get(c, keys[ids[i]], &v) == CW_OK;
        break;
    case 1:
        for (size_t i = 0; i < n; i++) fails += cw_set(c, keys[ids[i]], val, VALUE_SIZE, 3600000) != CW_OK;
        break;
    case 2:
        for (size_t i = 0; i < n; i++) {
            const char *k = keys[ids[i]];
            if (cw_get(c, k, &v) == CW_OK) hits++;
            else fails += cw_set(c, k, val, VALUE_SIZE, CW_NO_EXPIRY) != CW_OK;
        }
        break;
    default: {
        unsigned char out[VALUE_SIZE];
        unsigned sum = 0;
        for (size_t i = 0; i < n; i++) {
            const char *k = keys[ids[i]];
            uint64_t j = fnv1a(k) & (FLOOR_SLOTS - 1);
            while (floor_table[j].key && strcmp(floor_table[j].key, k) != 0) j = (j + 1) & (FLOOR_SLOTS - 1);
            if (floor_table[j].key) {
                memcpy(out, floor_table[j].value, VALUE_SIZE);
                sum += out[i % VALUE_SIZE];
                hits++;
            }
        }
        r->sink = sum;
        break;
    }
    }
    r->t1 = bench_now();
    r->hits = hits;
    r->fails = fails;
    cw_value_free(&v);
    return NULL;
}

/* Run op on T threads; thread t replays ids + starts[t], n ids. Returns wall seconds. */
static double run_threads(int T, cw_cache *c, const key16 *keys, const uint32_t *ids, const size_t *starts,
                          size_t n, int op, uint64_t *hits, uint64_t *fails)
{
    pthread_t th[MAX_THREADS];
    run r[MAX_THREADS];
    pthread_barrier_t go;
    pthread_barrier_init(&go, NULL, (unsigned)T);
    for (int t = 0; t < T; t++) {
        r[t] = (run){ c, keys, ids + starts[t], n, op, &go, 0, 0, 0, 0, 0 };
        pthread_create(&th[t], NULL, run_main, &r[t]);
    }
    double t0 = 1e300, t1 = 0;
    *hits = *fails = 0;
    for (int t = 0; t < T; t++) {
        pthread_join(th[t], NULL);
        if (r[t].t0 < t0) t0 = r[t].t0;
        if (r[t].t1 > t1) t1 = r[t].t1;
        *hits += r[t].hits;
        *fails += r[t].fails;
    }
    pthread_barrier_destroy(&go);
    return t1 - t0;
}

/* ---- memory per entry ------------------------------------------------------------------------- */

static int measure_memory(void)
{
    enum { N = 1000000 };
    char (*k16)[KEY_SIZE + 1] = malloc((size_t)N * sizeof *k16);
    if (!k16) return 1;
    for (int i = 0; i < N; i++) snprintf(k16[i], KEY_SIZE + 1, "key:%012d", i); /* 16 bytes */
    unsigned char val[VALUE_SIZE];
    memset(val, 'm', sizeof val);
    uint64_t before = bench_rss_bytes();
    cw_cache *c = open_cache("mem://?size=1000000");
    if (!c) {
        free(k16);
        return 1;
    }
    int rc = 0;
    for (int i = 0; i < N && !rc; i++)
        if (cw_set(c, k16[i], val, VALUE_SIZE, CW_NO_EXPIRY) != CW_OK) rc = 1;
    uint64_t after = bench_rss_bytes(), n = 0;
    cw_get_keys_count(c, &n);
    double per = (double)(after - before) / N;
    printf("# mem: %llu entries of 16-byte keys and 64-byte values in mem://?size=1000000: RSS +%.1f MB, "
           "%.1f B/entry, %.1f B/entry beyond the 80 B of key and value\n",
           (unsigned long long)n, (after - before) / 1e6, per, per - (KEY_SIZE + VALUE_SIZE));
    cw_cache_free(c);
    free(k16);
    return rc || n != N;
}

/* ---- W1 / W2 ----------------------------------------------------------------------------------- */

static int w12(const char *workload, int op)
{
    key16 *keys = format_keys(W12_KEYS);
    uint32_t *ids = draw_ids(W12_OPS + W12_OPS / MAX_THREADS, W12_KEYS, op ? 2 : 1);
    cw_cache *c = open_cache(w12_url);
    int rc = !keys || !ids || !c;
    unsigned char val[VALUE_SIZE];
    memset(val, 'p', sizeof val);
    /* load (W1: the data read; W2: the first pass creates, the timed ones overwrite) */
    for (uint32_t i = 0; !rc && i < W12_KEYS; i++)
        if (cw_set(c, keys[i], val, VALUE_SIZE, op ? 3600000 : CW_NO_EXPIRY) != CW_OK) rc = 1;
    uint64_t hits = 0, fails = 0;
    size_t starts[MAX_THREADS] = { 0, W12_OPS / MAX_THREADS };
    const size_t n = W12_OPS / W12_ROUNDS; /* per thread and round: a line lasts about a second */
    /* W1 first times the floor the same way (alternating rounds), then frees its table: run
     * between the cache's rounds, its 19 MB evicted the cache's entries (5-10% slower). */
    double floor_secs[MAX_THREADS][W12_ROUNDS];
    const int with_floor = op == 0;
    if (with_floor && !rc && floor_build(keys, W12_KEYS)) rc = 1;
    for (int r = 0; with_floor && !rc && r < W12_ROUNDS; r++)
        for (int T = 1; !rc && T <= MAX_THREADS; T++) {
            floor_secs[T - 1][r] = run_threads(T, c, keys, ids, starts, n, 3, &hits, &fails);
            uint64_t ops = (uint64_t)n * (uint64_t)T;
            if (hits != ops) {
                printf("# %s: the floor missed %llu gets\n", workload, (unsigned long long)(ops - hits));
                rc = 1;
            }
        }
    free(floor_table);
    floor_table = NULL;
    if (!rc) run_threads(1, c, keys, ids, starts, W12_OPS / 8, op, &hits, &fails); /* warm-up */
    /* 1 and 2 threads take turns, W12_ROUNDS rounds each, and each line reports its median
     * round. On a shared machine one timed stretch can land in a noisy phase, and a 1-thread
     * stretch and a 2-thread stretch seconds apart land in different ones, so that their
     * ratio (the scaling figure) measured the machine more than the cache. The median is the
     * typical round, not the best one. */
    double secs[MAX_THREADS][W12_ROUNDS];
    for (int r = 0; !rc && r < W12_ROUNDS; r++)
        for (int T = 1; !rc && T <= MAX_THREADS; T++) {
            uint64_t ops = (uint64_t)n * (uint64_t)T;
            secs[T - 1][r] = run_threads(T, c, keys, ids, starts, n, op, &hits, &fails);
            if (op == 0 && hits != ops) {
                printf("# %s: %llu of %llu gets missed\n", workload, (unsigned long long)(ops - hits),
                       (unsigned long long)ops);
                rc = 1;
            }
            if (fails) {
                printf("# %s: %llu sets failed\n", workload, (unsigned long long)fails);
                rc = 1;
            }
        }
    if (!rc) printf("# %s: each line is the median of %d rounds of %zu %ss a thread, 1 and 2 threads taking turns\n",
                    workload, W12_ROUNDS, n, op ? "set" : "get");
    for (int T = 1; !rc && T <= MAX_THREADS; T++) {
        bench_emit(workload, "mem", op ? "set" : "get", T, (uint64_t)n * (uint64_t)T,
                   bench_quantile(secs[T - 1], W12_ROUNDS, 0.5), -1, -1, -1);
    }
    if (with_floor && !rc) {
        double f1 = bench_quantile(floor_secs[0], W12_ROUNDS, 0.5), f2 = bench_quantile(floor_secs[1], W12_ROUNDS, 0.5);
        printf("# %s floor (the probe's loop, the same threads and rounds, just before): 1 thread %.2f ns "
               "a get; 2 threads %.2fx the throughput of one\n",
               workload, f1 * 1e9 / (double)n, 2.0 * f1 / f2);
        /* the floor as figures too, for the results file (bench/results.c) */
        bench_emit(workload, "probe-baseline", "get", 1, (uint64_t)n, f1, -1, -1, -1);
        bench_emit(workload, "probe-baseline", "get", 2, 2 * (uint64_t)n, f2, -1, -1, -1);
    }
    cw_cache_free(c);
    free(ids);
    free(keys);
    return rc;
}

/* The memory figure is taken in a child process: a million entries allocated and freed
 * would leave the parent's heap fragmented, scattering W1's entries over it (more cache and
 * TLB misses), and a parent heap with freed chunks would understate the child's RSS growth. */
static int measure_memory_in_child(void)
{
    fflush(stdout);
    pid_t pid = fork();
    if (pid < 0) return 1;
    if (pid == 0) {
        int rc = measure_memory();
        fflush(stdout);
        _exit(rc);
    }
    int status = 0;
    if (waitpid(pid, &status, 0) != pid) return 1;
    return !WIFEXITED(status) || WEXITSTATUS(status) != 0;
}

int bench_w1(const bench_args *a)
{
    (void)a;
    int rc = measure_memory_in_child();
    return w12("W1", 0) || rc;
}

int bench_w2(const bench_args *a)
{
    (void)a;
    return w12("W2", 1);
}

/* ---- W3 ---------------------------------------------------------------------------------------- */

enum { W3_KEYS = 1000000, W3_LENGTH = 10000000 };

static uint32_t *trace_fail(const char *path, const char *why)
{
    printf("# W3: the trace %s: %s\n", path, why);
    return NULL;
}

static uint32_t *load_trace(const bench_args *a, size_t *n, void **map, size_t *map_len)
{
    char path[4096], cmd[8192];
    struct stat st;
    snprintf(path, sizeof path, "%s/w3.trace", a->tmpdir);
    if (stat(path, &st) != 0 || st.st_size != (off_t)W3_LENGTH * 4) {
        if (access(a->trace_tool, X_OK) != 0) {
            printf("# W3: no trace generator at %s: make bench builds it (cw_make_trace, "
                   "bench/make_trace.c); or run: make bench TRACE_TOOL=/path/to/generator\n",
                   a->trace_tool);
            return NULL;
        }
        snprintf(cmd, sizeof cmd, "'%s' '%s' --keys %d --length %d --s 0.99 --seed 42", a->trace_tool,
                 path, W3_KEYS, W3_LENGTH);
        printf("# W3: generating the trace: %s\n", cmd);
        fflush(stdout);
        if (system(cmd) != 0 || stat(path, &st) != 0 || st.st_size != (off_t)W3_LENGTH * 4) {
            printf("# W3: trace generation failed\n");
            return NULL;
        }
    }
    int fd = open(path, O_RDONLY);
    if (fd < 0) return trace_fail(path, "cannot open it");
    *map_len = (size_t)st.st_size;
    *map = mmap(NULL, *map_len, PROT_READ, MAP_PRIVATE | MAP_POPULATE, fd, 0);
    close(fd);
    if (*map == MAP_FAILED) return trace_fail(path, "cannot map it");
    /* little-endian u32 ids: copy out (and validate) so the replay reads plain memory */
    uint32_t *ids = malloc(*map_len);
    if (!ids) return trace_fail(path, "out of memory");
    const unsigned char *p = *map;
    for (size_t i = 0; i < *map_len / 4; i++) {
        ids[i] = (uint32_t)p[4 * i] | (uint32_t)p[4 * i + 1] << 8 | (uint32_t)p[4 * i + 2] << 16 |
                 (uint32_t)p[4 * i + 3] << 24;
        if (ids[i] >= W3_KEYS) {
            free(ids);
            return trace_fail(path, "a key id out of range");
        }
    }
    *n = *map_len / 4;
    return ids;
}

int bench_w3(const bench_args *a)
{
    size_t n = 0, map_len = 0;
    void *map = NULL;
    uint32_t *ids = load_trace(a, &n, &map, &map_len);
    if (!ids) return 1; /* (load_trace said why) */
    munmap(map, map_len);
    key16 *keys = format_keys(W3_KEYS);
    int rc = !keys;
    for (int T = 1; !rc && T <= MAX_THREADS; T++) {
        cw_cache *c = open_cache("mem://?size=100000");
        if (!c) {
            rc = 1;
            break;
        }
        size_t starts[MAX_THREADS] = { 0, n / 2 };
        uint64_t hits = 0, fails = 0;
        double s = run_threads(T, c, keys, ids, starts, n / (size_t)T, 2, &hits, &fails);
        if (fails) {
            printf("# W3: %llu sets failed\n", (unsigned long long)fails);
            rc = 1;
        }
        uint64_t ops = (uint64_t)(n / (size_t)T) * (uint64_t)T;
        bench_emit("W3", "mem", NULL, T, ops, s, (double)hits / (double)ops, -1, -1);
        cw_cache_free(c);
    }
    free(keys);
    free(ids);
    return rc;
}
