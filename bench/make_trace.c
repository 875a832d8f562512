/*
 * make_trace.c - the W3 trace generator (bench/BENCHMARKS.md, "The trace"):
 *
 *   cw_make_trace OUT [--keys 1000000] [--length 10000000] [--s 0.99] [--seed 42]
 *
 * writes LENGTH key ids (little-endian uint32, each < KEYS) drawn from a Zipf distribution
 * of exponent S: rank r (1 = the most popular) is drawn with probability proportional to
 * 1 / r^S, and a fixed random permutation of 0..KEYS-1, drawn from the same seeded generator,
 * says which key id holds which rank. The same arguments always give the same bytes.
 *
 * The bytes are those of the workloads' reference generator, which is written in Python, so
 * this program reproduces Python's `random` module exactly:
 *  - the generator is MT19937, seeded as Python seeds it from an integer: init_by_array() with
 *    the integer's absolute value cut into 32-bit words, least significant first ([0] for 0);
 *  - the permutation is Python's shuffle(): for i from KEYS-1 down to 1, swap i with
 *    j = randbelow(i + 1), where randbelow(n) draws k = bit_length(n) bits (the top k bits of
 *    one 32-bit output) and draws again while the result is >= n;
 *  - a uniform double is random(): (a * 2^26 + b) / 2^53 with a = 27 and b = 26 top bits of
 *    two consecutive outputs;
 *  - the cumulative weights are summed in double precision in rank order, total += 1.0 /
 *    pow(r, S), as Python's float arithmetic does (both call the C library's pow());
 *  - each access draws u = random() * total and takes the first rank whose cumulative weight
 *    is >= u (Python's bisect_left), then the key id the permutation gives that rank.
 * The permutation is drawn before the first access. tests/bench/test_make_trace.c holds the
 * SHA-256 of the reference generator's output for several argument sets.
 * Exit status: 0 written, 1 an I/O or memory failure, 2 bad arguments.
 */
#define _POSIX_C_SOURCE 200809L
#include <errno.h>
#include <math.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

/* ---- MT19937, as Python's _randommodule.c uses it ---------------------------------------- */

enum { MT_N = 624, MT_M = 397 };

typedef struct mt {
    uint32_t s[MT_N];
    int i;
} mt;

static void mt_init(mt *g, uint32_t seed)
{
    g->s[0] = seed;
    for (int i = 1; i < MT_N; i++) g->s[i] = 1812433253u * (g->s[i - 1] ^ (g->s[i - 1] >> 30)) + (uint32_t)i;
    g->i = MT_N;
}

static void mt_init_array(mt *g, const uint32_t *key, size_t len)
{
    mt_init(g, 19650218u);
    size_t i = 1, j = 0;
    for (size_t k = MT_N > len ? MT_N : len; k; k--) {
        g->s[i] = (g->s[i] ^ ((g->s[i - 1] ^ (g->s[i - 1] >> 30)) * 1664525u)) + key[j] + (uint32_t)j;
        if (++i >= MT_N) { g->s[0] = g->s[MT_N - 1]; i = 1; }
        if (++j >= len) j = 0;
    }
    for (size_t k = MT_N - 1; k; k--) {
        g->s[i] = (g->s[i] ^ ((g->s[i - 1] ^ (g->s[i - 1] >> 30)) * 1566083941u)) - (uint32_t)i;
        if (++i >= MT_N) { g->s[0] = g->s[MT_N - 1]; i = 1; }
    }
    g->s[0] = 0x80000000u; /* a non-zero state */
}

static uint32_t mt_next(mt *g)
{
    if (g->i >= MT_N) {
        for (int k = 0; k < MT_N; k++) {
            uint32_t y = (g->s[k] & 0x80000000u) | (g->s[(k + 1) % MT_N] & 0x7fffffffu);
            g->s[k] = g->s[(k + MT_M) % MT_N] ^ (y >> 1) ^ ((y & 1u) ? 0x9908b0dfu : 0u);
        }
        g->i = 0;
    }
    uint32_t y = g->s[g->i++];
    y ^= y >> 11;
    y ^= (y << 7) & 0x9d2c5680u;
    y ^= (y << 15) & 0xefc60000u;
    return y ^ (y >> 18);
}

/* Python's random(): 53 bits from two outputs. */
static double mt_random(mt *g)
{
    uint32_t a = mt_next(g) >> 5, b = mt_next(g) >> 6;
    return (a * 67108864.0 + b) * (1.0 / 9007199254740992.0);
}

/* Python's _randbelow(n) for 2 <= n <= 2^32 - 1: rejection on bit_length(n) top bits. */
static uint32_t mt_below(mt *g, uint32_t n)
{
    int k = 0;
    for (uint32_t x = n; x; x >>= 1) k++;
    uint32_t r;
    do r = mt_next(g) >> (32 - k);
    while (r >= n);
    return r;
}

/* Python's seed(int): the absolute value's 32-bit words, least significant first. */
static void mt_seed_int(mt *g, long long seed)
{
    uint64_t v = seed < 0 ? (uint64_t)0 - (uint64_t)seed : (uint64_t)seed;
    uint32_t key[2] = { (uint32_t)v, (uint32_t)(v >> 32) };
    mt_init_array(g, key, key[1] ? 2 : 1);
}

/* ---- arguments ---------------------------------------------------------------------------- */

typedef struct args {
    const char *out;
    long long keys, length, seed;
    double s;
} args;

static int usage(const char *why)
{
    fprintf(stderr, "usage: cw_make_trace OUT [--keys N] [--length N] [--s X] [--seed N]\n"
                    "cw_make_trace: %s\n", why);
    return 2;
}

static int parse_int(const char *text, long long *out)
{
    char *end;
    errno = 0;
    *out = strtoll(text, &end, 10);
    return errno || end == text || *end;
}

/* --name value or --name=value; a unique prefix of a name is accepted, as argparse does. */
static int parse_args(int argc, char **argv, args *a)
{
    static const char *const names[] = { "keys", "length", "s", "seed" };
    *a = (args){ NULL, 1000000, 10000000, 42, 0.99 };
    for (int i = 1; i < argc; i++) {
        const char *arg = argv[i];
        if (strncmp(arg, "--", 2) != 0) {
            if (a->out) return usage("one output file only");
            a->out = arg;
            continue;
        }
        const char *eq = strchr(arg, '='), *val = eq ? eq + 1 : (i + 1 < argc ? argv[++i] : NULL);
        size_t n = eq ? (size_t)(eq - arg - 2) : strlen(arg + 2);
        int which = -1, matches = 0;
        for (int k = 0; k < 4; k++) {
            if (strlen(names[k]) == n && strncmp(arg + 2, names[k], n) == 0) { which = k; matches = 1; break; }
            if (n && strncmp(arg + 2, names[k], n) == 0) { which = k; matches++; }
        }
        if (matches != 1) return usage("unknown or ambiguous option");
        if (!val) return usage("an option without its value");
        int bad = 0;
        if (which == 0) bad = parse_int(val, &a->keys);
        else if (which == 1) bad = parse_int(val, &a->length);
        else if (which == 3) bad = parse_int(val, &a->seed);
        else {
            char *end;
            a->s = strtod(val, &end);
            bad = end == val || *end;
        }
        if (bad) return usage("a value that is not a number");
    }
    if (!a->out) return usage("no output file");
    if (a->keys < 1 || a->length < 1 || !(a->s > 0)) {
        fprintf(stderr, "cw_make_trace: keys, length and s must be positive\n");
        return 2;
    }
    if (a->keys > INT32_MAX) return usage("at most 2^31 - 1 keys");
    return 0;
}

/* ---- the trace ------------------------------------------------------------------------------ */

/* The first index whose cumulative weight is >= u (bisect_left). */
static uint32_t rank_of(const double *cdf, uint32_t n, double u)
{
    uint32_t lo = 0, hi = n;
    while (lo < hi) {
        uint32_t mid = lo + (hi - lo) / 2;
        if (cdf[mid] < u) lo = mid + 1;
        else hi = mid;
    }
    return lo;
}

int main(int argc, char **argv)
{
    args a;
    int rc = parse_args(argc, argv, &a);
    if (rc) return rc;
    uint32_t keys = (uint32_t)a.keys;
    double *cdf = malloc(sizeof *cdf * keys);
    uint32_t *perm = malloc(sizeof *perm * keys);
    enum { CHUNK = 1 << 16 };
    unsigned char *buf = malloc(4 * CHUNK);
    FILE *f = NULL;
    if (!cdf || !perm || !buf) {
        fprintf(stderr, "cw_make_trace: out of memory for %u keys\n", keys);
        rc = 1;
        goto out;
    }
    mt g;
    mt_seed_int(&g, a.seed);
    double total = 0;
    for (uint32_t r = 0; r < keys; r++) {
        total += 1.0 / pow((double)(r + 1), a.s);
        cdf[r] = total;
    }
    for (uint32_t i = 0; i < keys; i++) perm[i] = i;
    for (uint32_t i = keys - 1; i >= 1; i--) {
        uint32_t j = mt_below(&g, i + 1), t = perm[i];
        perm[i] = perm[j];
        perm[j] = t;
    }
    if (!(f = fopen(a.out, "wb"))) {
        fprintf(stderr, "cw_make_trace: %s: %s\n", a.out, strerror(errno));
        rc = 1;
        goto out;
    }
    for (long long left = a.length; left > 0 && rc == 0;) {
        size_t n = left < CHUNK ? (size_t)left : CHUNK;
        for (size_t i = 0; i < n; i++) {
            uint32_t r = rank_of(cdf, keys, mt_random(&g) * total);
            uint32_t id = perm[r < keys ? r : keys - 1]; /* u <= total: r < keys, kept safe */
            for (int b = 0; b < 4; b++) buf[4 * i + (size_t)b] = (unsigned char)(id >> (8 * b));
        }
        if (fwrite(buf, 4, n, f) != n) rc = 1;
        left -= (long long)n;
    }
    if (fclose(f) != 0) rc = 1;
    if (rc) fprintf(stderr, "cw_make_trace: %s: write failed\n", a.out);
out:
    free(buf);
    free(perm);
    free(cdf);
    return rc;
}
