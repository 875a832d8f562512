/*
 * bitfield.c - unsigned counters of 1 to 63 bits packed in a bitmap, as Redis's BITFIELD
 * u<size> #<idx> lays them out: counter i is bits i*size .. i*size+size-1 of the bitmap, most
 * significant first, where bit j is byte j/8 under mask 0x80 >> j%8 (SETBIT's order). So a
 * key holds the same bytes on every backend, and size 1 is what set_bits/get_bits see.
 * Counters are read and written a bit at a time: at most 63 bits, next to a lock or a
 * SQLite transaction.
 */
#include "core/internal.h"

uint64_t cw__bitfield_read(const unsigned char *map, size_t len, uint64_t off, unsigned size)
{
    uint64_t v = 0;
    for (unsigned k = 0; k < size; k++) {
        uint64_t bit = off + k, byte = bit >> 3;
        v = v << 1 | (byte < len ? (uint64_t)(map[byte] >> (7 - (bit & 7))) & 1 : 0);
    }
    return v;
}

static void write_counter(unsigned char *map, uint64_t off, unsigned size, uint64_t v)
{
    for (unsigned k = 0; k < size; k++) {
        uint64_t bit = off + k;
        unsigned char mask = (unsigned char)(0x80u >> (bit & 7));
        if ((v >> (size - 1 - k)) & 1) map[bit >> 3] |= mask;
        else map[bit >> 3] &= (unsigned char)~mask;
    }
}

uint64_t cw__bitfield_sat(uint64_t v, unsigned size, int64_t by)
{
    uint64_t max = (UINT64_C(1) << size) - 1;
    if (by >= 0) return (uint64_t)by >= max - v ? max : v + (uint64_t)by;
    uint64_t down = (uint64_t)0 - (uint64_t)by; /* |by|, also for INT64_MIN */
    return down >= v ? 0 : v - down;
}

uint64_t cw__bitfield_add(unsigned char *map, uint64_t off, unsigned size, int64_t by)
{
    uint64_t v = cw__bitfield_sat(cw__bitfield_read(map, SIZE_MAX, off, size), size, by);
    write_counter(map, off, size, v);
    return v;
}

size_t cw__bitfield_bytes(const uint64_t *idx, size_t n, unsigned size)
{
    uint64_t end = 0; /* one past the highest bit used */
    for (size_t i = 0; i < n; i++)
        if (idx[i] * size + size > end) end = idx[i] * size + size;
    return (size_t)((end + 7) / 8);
}

/* ---- the changes and reads of set_bits, get_bits and bitfield, for a backend's helper that
 * applies them to a bitmap under its lock (a cw__bits_job is their ud) ---- */

void cw__bits_set_listed(void *ud, unsigned char *map)
{
    const cw__bits_job *j = ud;
    for (size_t i = 0; i < j->n; i++) map[j->idx[i] >> 3] |= (unsigned char)(0x80u >> (j->idx[i] & 7));
}

void cw__bits_get_listed(void *ud, const unsigned char *map, size_t len)
{
    const cw__bits_job *j = ud;
    for (size_t i = 0; i < j->n; i++)
        j->bits[i] = (j->idx[i] >> 3) < len ? (map[j->idx[i] >> 3] >> (7 - (j->idx[i] & 7))) & 1 : 0;
}

void cw__bits_add_counters(void *ud, unsigned char *map)
{
    const cw__bits_job *j = ud;
    for (size_t i = 0; i < j->n; i++) j->counters[i] = cw__bitfield_add(map, j->idx[i] * j->size, j->size, j->by);
}

void cw__bits_read_counters(void *ud, const unsigned char *map, size_t len)
{
    const cw__bits_job *j = ud;
    for (size_t i = 0; i < j->n; i++) j->counters[i] = cw__bitfield_read(map, len, j->idx[i] * j->size, j->size);
}
