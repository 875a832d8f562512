/*
 * iterator.c - the seed's cache.iterator: a loader that produces a stream of chunks.
 *
 * The loader pushes chunks with cw_emit(); each goes to the caller's consumer at once and,
 * when the condition allows, is stored under KEY:0, KEY:1, ... with the TTL. When the loader
 * finishes, KEY itself (the marker) records how many chunks were stored, with the TTL minus
 * the time the stream took, so the marker never outlives its chunks. A call that finds the
 * marker replays the chunks instead of running the loader. A chunk the condition refuses
 * ends what is cached (the seed stops replay at the first missing chunk). A loader error
 * listed in .cache_errors is stored as a last chunk, so replay ends with the same error.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "strategies/strategy.h"

struct cw_emitter {
    cw_func *f;
    const cw_arg *args;
    size_t nargs;
    const char *key;
    int64_t ttl;
    cw_chunk_fn fn;
    void *ud;
    size_t idx;    /* chunks emitted */
    size_t stored; /* leading chunks stored */
    int stopped;   /* the consumer asked to stop */
    int through;   /* pass chunks on, cache nothing (locked iterators) */
};

static cw_status chunk_key(cw__buf *b, const char *key, size_t i)
{
    char num[32];
    snprintf(num, sizeof num, ":%zu", i);
    b->len = 0;
    return cw__key_suffix(b, key, num);
}

int cw_emit(cw_emitter *em, const void *chunk, size_t len)
{
    if (!em) return CW_EINVAL;
    if (em->stopped) return CW_ESTATE;
    if (len && !chunk) return cw__fail(em->f->c, CW_EINVAL, "cw_emit: chunk is NULL");
    if (em->fn(em->ud, chunk, len)) {
        em->stopped = 1;
        return CW_ESTATE;
    }
    if (em->through) return CW_OK;
    cw_func *f = em->f;
    if (em->stored == em->idx) {
        cw__buf kb;
        cw__buf_init(&kb);
        /* A borrowed view for the condition: never freed or grown. */
        cw_value v = { (unsigned char *)(uintptr_t)chunk, len, len + 1 };
        if (!chunk_key(&kb, em->key, em->idx) &&
            cw__decide(f, CW_OK, &v, em->args, em->nargs, kb.p, f->time_cond_ms) == 1 &&
            cw__store(f, kb.p, &v, 0, em->ttl, 0, em->args, em->nargs) == CW_OK)
            em->stored++;
        cw__buf_free(&kb);
    }
    em->idx++;
    return CW_OK;
}

/* Stacked under another iterator function: its chunks go through cw_emit. */
static int forward(void *ud, const void *chunk, size_t len)
{
    return cw_emit(ud, chunk, len) != CW_OK;
}

/* Run the stream of @f into @em: the iterator loader, or the wrapped iterator function. */
static int run_stream(cw_func *f, const cw_arg *args, size_t nargs, cw_emitter *em)
{
    int st = f->wraps ? cw_func_iterate(f->wraps, args, nargs, forward, em)
                      : f->iter_loader(f->loader_ud, args, nargs, em);
    return em->stopped ? CW_ESTATE : st;
}

int cw__iterate_through(cw_func *f, const cw_arg *args, size_t nargs, cw_chunk_fn fn, void *ud)
{
    if (f->wraps) return cw_func_iterate(f->wraps, args, nargs, fn, ud);
    cw_emitter em = { f, args, nargs, NULL, 0, fn, ud, 0, 0, 0, 1 };
    return run_stream(f, args, nargs, &em);
}

/* Replay: 1 when served from the cache (status in *st), 0 when it must load, -1 when the
 * call fails (*st: the cache cannot serve the key at all, or out of memory). */
static int replay(cw_func *f, const char *key, cw_chunk_fn fn, void *ud, int *st)
{
    cw_value v = { 0 };
    cw__buf kb;
    cw__buf_init(&kb);
    int hit = 0, served = 0;
    int r = cw__read(f, key, &v, NULL, &hit);
    if (!hit && r != CW_OK) {
        *st = r;
        cw_value_free(&v);
        return -1;
    }
    long long count = hit && r == CW_OK && v.data ? strtoll((const char *)v.data, NULL, 10) : 0;
    for (long long i = 0; i < count; i++) {
        int chit = 0;
        if (chunk_key(&kb, key, (size_t)i)) break;
        int cst = cw__read(f, kb.p, &v, NULL, &chit);
        if (!chit) break; /* evicted: stop where the cache ends */
        served = 1;
        if (cst != CW_OK) { *st = cst; goto out; }
        if (fn(ud, v.data, v.len)) { *st = CW_ESTATE; goto out; }
    }
    *st = CW_OK;
out:
    cw_value_free(&v);
    cw__buf_free(&kb);
    return served || (hit && count == 0 && r == CW_OK);
}

int cw__iterator_replay_or_load(cw_func *f, const cw_arg *args, size_t nargs, cw_chunk_fn fn, void *ud)
{
    cw__buf kb;
    cw__buf_init(&kb);
    int64_t ttl = 0;
    int st = cw__key(f, args, nargs, &kb);
    if (!st) st = cw__ttl(f, args, nargs, &ttl);
    if (st) goto done;
    int served = replay(f, kb.p, fn, ud, &st);
    if (served < 0) goto done;
    if (served) {
        cw__detect(f, kb.p, args, nargs, 1, st, NULL, 0);
        goto done;
    }
    int64_t t0 = cw_cache_now_ms(f->c);
    cw_emitter em = { f, args, nargs, kb.p, ttl, fn, ud, 0, 0, 0, 0 };
    st = run_stream(f, args, nargs, &em);
    if (st != CW_OK && st != CW_ESTATE && em.stored == em.idx &&
        cw__decide(f, st, NULL, args, nargs, kb.p, f->time_cond_ms) == 2) {
        cw__buf ck;
        cw__buf_init(&ck);
        if (!chunk_key(&ck, kb.p, em.idx) && cw__store(f, ck.p, NULL, st, ttl, 0, args, nargs) == CW_OK)
            em.stored++;
        cw__buf_free(&ck);
    } else if (st != CW_OK) {
        em.stored = 0; /* an incomplete stream is not cached */
    }
    if (em.stored) {
        int64_t mttl = ttl;
        if (ttl != CW_NO_EXPIRY) {
            mttl = ttl - (cw_cache_now_ms(f->c) - t0);
            if (mttl < 1) mttl = 1;
        }
        char num[24];
        size_t n = (size_t)snprintf(num, sizeof num, "%zu", em.stored);
        cw__store_bytes(f, kb.p, num, n, CW__CODEC_RAW, mttl, 0, args, nargs);
    }
    cw__detect(f, kb.p, args, nargs, 0, st, NULL, 0);
done:
    cw__buf_free(&kb);
    return st;
}
