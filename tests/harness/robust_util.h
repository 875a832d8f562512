/*
 * robust_util.h - shared pieces of the robustness tests (tests/core/test_robust.c,
 * tests/core/test_robust_parse.c and tests/strategies/test_func_robust.c): a reproducible
 * random stream, failure reports that print the seed and the iteration, a printable view of
 * any bytes, a growable string, a mutator that edits inputs at random, and random values for
 * the URL parameter readers. Every name carries rb_ ("robust") so that it never
 * clashes with another test's.
 *
 * Every random stream is splitmix64 from a fixed seed, mixed with the test's name, so a run
 * is reproducible and a failure prints the seed, the iteration and the input.
 *   CW_ROBUST_SEED=<n>   another base seed (to explore; the default is fixed)
 *   CW_ROBUST_SCALE=<k>  multiply the iteration counts (default 1)
 *
 * Self-contained (no cw_test.h): only the C library.
 */
#ifndef CW_ROBUST_UTIL_H
#define CW_ROBUST_UTIL_H

#include <stddef.h>
#include <stdint.h>
#include <stdio.h>

/* ---- reproducible randomness ---------------------------------------------------------- */

typedef struct rb_rng {
    uint64_t s;
    uint64_t seed; /* printed on failure */
} rb_rng;

/* Seed @r from the base seed ($CW_ROBUST_SEED or a fixed one) mixed (FNV-1a) with @test, so
 * that tests draw independent streams and adding a test never changes another's inputs. */
void rb_rng_init(rb_rng *r, const char *test);
uint64_t rb_rnd(rb_rng *r);                /* 64 random bits */
size_t rb_below(rb_rng *r, size_t n);      /* 0..n-1; 0 when n is 0 */
int rb_chance(rb_rng *r, int pct);         /* 1 with probability pct percent */
const char *rb_pick(rb_rng *r, const char *const *list, size_t n);
#define RB_PICK(r, arr) rb_pick((r), (arr), sizeof(arr) / sizeof((arr)[0]))
/* @n times $CW_ROBUST_SCALE (default 1): iteration counts. */
size_t rb_scaled(size_t n);

/* ---- failure reports: print where, the seed and the iteration, then fail the test ----- */

#define RB_FAIL_AT(r, iter, ...)                                                               \
    do {                                                                                       \
        fprintf(stderr, "%s:%d: seed=0x%016llx iter=%zu: ", __FILE__, __LINE__,               \
                (unsigned long long)(r)->seed, (size_t)(iter));                                \
        fprintf(stderr, __VA_ARGS__);                                                          \
        fputc('\n', stderr);                                                                   \
        return 1;                                                                              \
    } while (0)
#define RB_EXPECT(r, iter, cond, ...)                                                          \
    do {                                                                                       \
        if (!(cond)) {                                                                         \
            fprintf(stderr, "%s:%d: (%s) failed\n", __FILE__, __LINE__, #cond);                \
            RB_FAIL_AT(r, iter, __VA_ARGS__);                                                  \
        }                                                                                      \
    } while (0)

/* A printable, C-escaped view of any bytes (long inputs shortened), for failure messages:
 * returns b->s, or "(null)" for NULL @data. */
typedef struct rb_shown {
    char s[720];
} rb_shown;
const char *rb_show(rb_shown *b, const void *data, size_t n);

/* ---- a growable string for building inputs -------------------------------------------- */

/* Always NUL-terminated once written; { 0 } is an empty buffer. Allocation failure aborts
 * (the test machine is out of memory: nothing to report). */
typedef struct rb_sbuf {
    char *p;
    size_t len, cap;
} rb_sbuf;

void rb_sb_put(rb_sbuf *b, const void *s, size_t n);
void rb_sb_puts(rb_sbuf *b, const char *s);
void rb_sb_putc(rb_sbuf *b, char ch);
void rb_sb_reset(rb_sbuf *b); /* empty, and p is "" */
void rb_sb_free(rb_sbuf *b);  /* back to { 0 } */
/* Appends at most 511 bytes. */
void rb_sb_printf(rb_sbuf *b, const char *fmt, ...) __attribute__((format(printf, 2, 3)));
/* Percent-encode every byte that is not unreserved, so that any bytes survive in a URL. */
void rb_sb_put_encoded(rb_sbuf *b, const unsigned char *s, size_t n);

/* Edit @b in place 1..4 times: replace, insert, delete, duplicate a slice, or add a
 * (possibly broken) percent-escape; characters come from @alpha, now and then any byte
 * but NUL. */
void rb_mutate(rb_rng *r, rb_sbuf *b, const char *alpha);
/* Characters URLs are made of, for random and mutated URLs. */
#define RB_URL_ALPHA "abcxyzAZ0123456789:/@?&=[]%.+-_~ #"
/* Append a value that exercises every URL parameter reader: numbers (huge, signed, suffixed),
 * words, durations, often invalid. */
void rb_random_value(rb_rng *r, rb_sbuf *b);

#endif
