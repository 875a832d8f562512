/*
 * robust_util.c - shared pieces of the robustness tests; see robust_util.h.
 */
#include "robust_util.h"

#include <ctype.h>
#include <stdarg.h>
#include <stdlib.h>
#include <string.h>

/* ---- reproducible randomness --------------------------------------------------------- */

/* splitmix64 (Vigna): each call adds a constant to the state and mixes it, so any seed,
 * zero included, gives a well-spread stream. */
static uint64_t splitmix64(uint64_t *s)
{
    uint64_t z = (*s += UINT64_C(0x9E3779B97F4A7C15));
    z = (z ^ (z >> 30)) * UINT64_C(0xBF58476D1CE4E5B9);
    z = (z ^ (z >> 27)) * UINT64_C(0x94D049BB133111EB);
    return z ^ (z >> 31);
}

void rb_rng_init(rb_rng *r, const char *test)
{
    const char *e = getenv("CW_ROBUST_SEED");
    uint64_t h = e && *e ? strtoull(e, NULL, 0) : UINT64_C(0x5EED2026C0FFEE);
    for (const char *p = test; *p; p++) h = (h ^ (unsigned char)*p) * UINT64_C(0x100000001B3);
    r->s = r->seed = h;
}

uint64_t rb_rnd(rb_rng *r) { return splitmix64(&r->s); }
size_t rb_below(rb_rng *r, size_t n) { return n ? (size_t)(rb_rnd(r) % n) : 0; }
int rb_chance(rb_rng *r, int pct) { return (int)rb_below(r, 100) < pct; }
const char *rb_pick(rb_rng *r, const char *const *list, size_t n) { return list[rb_below(r, n)]; }

size_t rb_scaled(size_t n)
{
    const char *e = getenv("CW_ROBUST_SCALE");
    long k = e && *e ? strtol(e, NULL, 10) : 1;
    return n * (size_t)(k > 0 ? k : 1);
}

/* ---- failure reports ----------------------------------------------------------------- */

/* Worst case 160 bytes as "\xNN" (640) + quotes + "...(N bytes)": within rb_shown. */
const char *rb_show(rb_shown *b, const void *data, size_t n)
{
    const unsigned char *p = data;
    size_t k = 0, lim = n > 160 ? 160 : n;
    if (!p) return "(null)";
    b->s[k++] = '"';
    for (size_t i = 0; i < lim; i++) {
        unsigned char ch = p[i];
        if (ch == '"' || ch == '\\') k += (size_t)sprintf(b->s + k, "\\%c", ch);
        else if (ch >= 0x20 && ch < 0x7F) b->s[k++] = (char)ch;
        else k += (size_t)sprintf(b->s + k, "\\x%02x", ch);
    }
    b->s[k++] = '"';
    if (lim < n) k += (size_t)sprintf(b->s + k, "...(%zu bytes)", n);
    b->s[k] = 0;
    return b->s;
}

/* ---- a growable string for building inputs ------------------------------------------- */

void rb_sb_put(rb_sbuf *b, const void *s, size_t n)
{
    if (b->len + n + 1 > b->cap) {
        size_t cap = b->cap ? b->cap : 64;
        while (cap < b->len + n + 1) cap *= 2;
        char *np = realloc(b->p, cap);
        if (!np) abort(); /* the test machine is out of memory: nothing to report */
        b->p = np;
        b->cap = cap;
    }
    if (n) memcpy(b->p + b->len, s, n);
    b->len += n;
    b->p[b->len] = 0;
}
void rb_sb_puts(rb_sbuf *b, const char *s) { rb_sb_put(b, s, strlen(s)); }
void rb_sb_putc(rb_sbuf *b, char ch) { rb_sb_put(b, &ch, 1); }
void rb_sb_reset(rb_sbuf *b) { b->len = 0; rb_sb_put(b, "", 0); }
void rb_sb_free(rb_sbuf *b) { free(b->p); memset(b, 0, sizeof *b); }

void rb_sb_printf(rb_sbuf *b, const char *fmt, ...)
{
    char tmp[512];
    va_list ap;
    va_start(ap, fmt);
    int n = vsnprintf(tmp, sizeof tmp, fmt, ap);
    va_end(ap);
    rb_sb_put(b, tmp, n < 0 ? 0 : (size_t)n >= sizeof tmp ? sizeof tmp - 1 : (size_t)n);
}

void rb_sb_put_encoded(rb_sbuf *b, const unsigned char *s, size_t n)
{
    for (size_t i = 0; i < n; i++) {
        if (isalnum(s[i]) || s[i] == '-' || s[i] == '.' || s[i] == '_' || s[i] == '~') rb_sb_putc(b, (char)s[i]);
        else rb_sb_printf(b, "%%%02X", s[i]);
    }
}

void rb_mutate(rb_rng *r, rb_sbuf *b, const char *alpha)
{
    size_t na = strlen(alpha), edits = 1 + rb_below(r, 4);
    for (size_t e = 0; e < edits; e++) {
        size_t at = rb_below(r, b->len + 1);
        char ch = rb_chance(r, 15) ? (char)(1 + rb_below(r, 255)) : alpha[rb_below(r, na)];
        switch (rb_below(r, 5)) {
        case 0: /* replace */
            if (at < b->len) b->p[at] = ch;
            break;
        case 1: /* insert */
            rb_sb_putc(b, 0);
            memmove(b->p + at + 1, b->p + at, b->len - at - 1);
            b->p[at] = ch;
            break;
        case 2: /* delete */
            if (at < b->len) {
                memmove(b->p + at, b->p + at + 1, b->len - at);
                b->len--;
            }
            break;
        case 3: { /* duplicate a slice at the end */
            size_t n = rb_below(r, b->len - at + 1);
            char tmp[64];
            if (n > sizeof tmp) n = sizeof tmp;
            memcpy(tmp, b->p + at, n);
            rb_sb_put(b, tmp, n);
            break;
        }
        default: { /* a percent-escape, maybe truncated or not hex */
            static const char hx[] = "0123456789abcdefABCDEFgz%";
            char esc[3] = { '%', hx[rb_below(r, sizeof hx - 1)], hx[rb_below(r, sizeof hx - 1)] };
            size_t n = 1 + rb_below(r, 3);
            rb_sb_put(b, "", 0);
            for (size_t i = 0; i < n; i++) rb_sb_putc(b, 0);
            memmove(b->p + at + n, b->p + at, b->len - at - n);
            memcpy(b->p + at, esc, n);
            break;
        }
        }
    }
    b->p[b->len] = 0;
}

/* Values that exercise every reader: numbers (huge, signed, suffixed), words, durations. */
void rb_random_value(rb_rng *r, rb_sbuf *b)
{
    static const char *const words[] = {
        "", "0", "1", "-1", "+1", "true", "FALSE", "Yes", "no", "On", "oFF", "2", "t", "y", "nan",
        "inf", "1e3", "0x10", "10", "10k", "10KB", "3m", "1g", "1G5", "4096b", "1.5", "0.5", "0.0",
        "250ms", "1m30s", "1d2h3m4s5ms", "9223372036854775807", "9223372036854775808",
        "-9223372036854775808", "-9223372036854775809", "18446744073709551615", "18446744073709551616",
        "17179869183g", "17179869184g", "99999999999999999999", "1 ", " 1", "\t2", "1\n", "--1",
        "+-1", "-+1", " -1", "\t-5k", " +7", "1k b", "kb", "b", "m", "ms", "1h1h", "0ms", "0.0001", ".5", "5.", "1..2",
    };
    if (rb_chance(r, 60)) {
        rb_sb_puts(b, RB_PICK(r, words));
        if (rb_chance(r, 20)) rb_mutate(r, b, "0123456789kKmMgGbB.+-dhms xyz");
    } else {
        size_t n = rb_below(r, 12);
        for (size_t k = 0; k < n; k++) rb_sb_putc(b, "0123456789kKmMgGbB.+-dhms tfruey"[rb_below(r, 32)]);
    }
}
