/*
 * bloom.c - the seed's cache.bloom: a Bloom filter over the function's keys, kept as one
 * bitmap in the cache (cw_set_bits / cw_get_bits), so it works on any backend and is shared
 * by every process using it.
 *
 * Sizing, as the seed: for capacity n and false-positive rate p, m = ceil(-n ln p / ln(2)^2)
 * bits and k = round(m/n ln 2) hash functions (a rate that gives k = 0, above about 70%, is
 * refused, as the seed's assertion does; k is capped at 32). An element (the formatted key
 * template, without prefix) sets k bits chosen by double hashing, h1 + i*h2 mod m, with two
 * independent 64-bit hashes of its text. The bitmap lives at "PREFIX:TEMPLATE:m"; m is at
 * most 2^32, the bit indexes every backend accepts (about 4.4e8 elements at 1%).
 *
 * Answers: a zero among the k bits means the element was never set: the call returns "0"
 * without the loader (no false negatives: setting only ever turns bits on). All ones means
 * "maybe": the loader decides (the seed's check_false_positive), or with .no_check the call
 * returns "1".
 */
#include <math.h>
#include <stdio.h>
#include <string.h>

#include "strategies/strategy.h"

#define MAX_K 32

static uint64_t mix64(uint64_t z)
{
    z = (z ^ (z >> 30)) * 0xbf58476d1ce4e5b9ull;
    z = (z ^ (z >> 27)) * 0x94d049bb133111ebull;
    return z ^ (z >> 31);
}

static uint64_t fnv1a(const char *s, size_t n, uint64_t seed)
{
    uint64_t h = 1469598103934665603ull ^ seed;
    for (size_t i = 0; i < n; i++) {
        h ^= (unsigned char)s[i];
        h *= 1099511628211ull;
    }
    return mix64(h);
}

static void indexes(const cw_func *f, const char *el, size_t n, uint64_t *idx)
{
    uint64_t h1 = fnv1a(el, n, 0), h2 = fnv1a(el, n, 0x9e3779b97f4a7c15ull) | 1;
    for (unsigned i = 0; i < f->bloom_k; i++) idx[i] = (h1 + (uint64_t)i * h2) % f->bloom_m;
}

cw_status cw__bloom_setup(cw_func *f, const cw_func_options *o)
{
    double p = o->false_positives ? o->false_positives / 100.0 : 0.01;
    if (o->capacity <= 0) return cw__fail(f->c, CW_EINVAL, "%s: bloom needs capacity > 0", f->name);
    if (!(p > 0 && p < 1)) return cw__fail(f->c, CW_EINVAL, "%s: false_positives must be within 0..100 percent", f->name);
    double n = (double)o->capacity, ln2 = log(2.0);
    double m = ceil(-n * log(p) / (ln2 * ln2));
    /* Every backend (and Redis's SETBIT) refuses bit indexes >= 2^32: a larger filter would
     * fail on most elements later, so it is refused here. */
    if (m > (double)(UINT64_C(1) << 32))
        return cw__fail(f->c, CW_EINVAL,
                        "%s: bloom filter for capacity=%lld at false_positives=%g%% needs %.0f bits,"
                        " over the 2^32 bits a bitmap can hold: lower capacity or raise false_positives",
                        f->name, (long long)o->capacity, p * 100.0, m);
    f->bloom_m = (uint64_t)m;
    long k = lround(m / n * ln2);
    /* Above about 70% no hash function is worth computing: the seed refuses it too. */
    if (k < 1)
        return cw__fail(f->c, CW_EINVAL,
                        "%s: false_positives=%g%% is too high for a bloom filter (it needs no hash"
                        " function: at most about 70%%)", f->name, p * 100.0);
    f->bloom_k = (unsigned)(k > MAX_K ? MAX_K : k);
    f->no_check = o->no_check;
    char num[32];
    int nl = snprintf(num, sizeof num, ":%llu", (unsigned long long)f->bloom_m);
    size_t tl = strlen(f->key.src);
    if (!(f->bloom_key = cw_malloc(tl + (size_t)nl + 1))) return CW_ENOMEM;
    memcpy(f->bloom_key, f->key.src, tl);
    memcpy(f->bloom_key + tl, num, (size_t)nl + 1);
    return CW_OK;
}

static cw_status element(cw_func *f, const cw_arg *args, size_t nargs, uint64_t *idx)
{
    cw__buf eb;
    cw__buf_init(&eb);
    cw_status st = cw__tmpl_format(f->fx, &f->bare, args, nargs, 0, &eb);
    if (!st) indexes(f, eb.p, eb.len, idx);
    cw__buf_free(&eb);
    return st;
}

static cw_status check(cw_func *f, const cw_arg *args, size_t nargs, int *maybe)
{
    uint64_t idx[MAX_K];
    uint8_t bits[MAX_K];
    cw_status st = element(f, args, nargs, idx);
    if (!st) st = cw_get_bits(f->c, f->bloom_key, idx, f->bloom_k, bits);
    if (st) return st;
    *maybe = 1;
    for (unsigned i = 0; i < f->bloom_k; i++)
        if (!bits[i]) *maybe = 0;
    return CW_OK;
}

static cw_func *bloom_func(cw_func *f)
{
    if (f && f->strategy != CW_BLOOM) {
        cw__fail(f->c, CW_EINVAL, "%s is not a bloom function", f->name);
        return NULL;
    }
    return f;
}

cw_status cw_bloom_set(cw_func *f, const cw_arg *args, size_t nargs)
{
    if (!bloom_func(f)) return CW_EINVAL;
    if (nargs != f->nargs || (nargs && !args))
        return cw__fail(f->c, CW_EINVAL, "%s takes %zu arguments, got %zu", f->name, f->nargs, nargs);
    uint64_t idx[MAX_K];
    cw_status st = element(f, args, nargs, idx);
    return st ? st : cw_set_bits(f->c, f->bloom_key, idx, f->bloom_k, CW_NO_EXPIRY);
}

cw_status cw_bloom_check(cw_func *f, const cw_arg *args, size_t nargs, int *maybe)
{
    if (!bloom_func(f)) return CW_EINVAL;
    if (!maybe) return cw__fail(f->c, CW_EINVAL, "maybe is NULL");
    if (nargs != f->nargs || (nargs && !args))
        return cw__fail(f->c, CW_EINVAL, "%s takes %zu arguments, got %zu", f->name, f->nargs, nargs);
    return check(f, args, nargs, maybe);
}

int cw__bloom_call(cw_func *f, const cw_arg *args, size_t nargs, cw_value *out, int *from_cache)
{
    int maybe = 0;
    cw_status st = check(f, args, nargs, &maybe);
    /* A filter the cache cannot read answers nothing: ask the loader. */
    if (st != CW_OK) {
        cw_status why = cw__cache_failed(f, f->bloom_key, st);
        if (why) return why;
    }
    if (st == CW_OK && !maybe) return cw_value_set(out, "0", 1);
    if (st == CW_OK && f->no_check) return cw_value_set(out, "1", 1);
    return cw__load(f, args, nargs, out, NULL, from_cache);
}
