/*
 * glob.c - glob matching with exactly the rules of Redis's stringmatchlen(), so that a pattern
 * selects the same keys on mem:// and disk:// as SCAN MATCH does on Redis:
 *   *  any run of bytes (also empty)      ?  exactly one byte
 *   \x  the byte x literally (also inside brackets)
 *   [abc] one of the bytes; [a-c] a range (either order; its end may be ']' or '\', as in
 *         Redis, so "[a-]" is the range a..']'); [^...] negates; "[]" is an empty class that
 *         matches nothing. '!' does not negate (Redis has only '^').
 * An unterminated '[' ends at the end of the pattern, as in Redis. Bytes compare unsigned
 * (Redis compares range ends as signed char: only patterns with bytes >= 0x80 differ).
 * Iterative with one backtrack point for '*': linear-ish, no recursion to blow the stack.
 */
#include "core/internal.h"

/* Match byte c against the class after '[' at *pp; returns 1/0 and moves *pp past the ']'
 * (or to the end of an unterminated class). Mirrors the '[' case of stringmatchlen(). */
static int match_class(const char **pp, const char *end, unsigned char c)
{
    const char *p = *pp;
    int negate = 0, hit = 0;
    if (p < end && *p == '^') { negate = 1; p++; }
    for (;;) {
        if (p >= end) break; /* unterminated: the class runs to the end */
        if (*p == '\\' && end - p >= 2) {
            p++;
            if ((unsigned char)*p == c) hit = 1;
        } else if (*p == ']') {
            p++;
            break;
        } else if (end - p >= 3 && p[1] == '-') {
            unsigned char lo = (unsigned char)p[0], hi = (unsigned char)p[2];
            if (lo > hi) { unsigned char t = lo; lo = hi; hi = t; }
            if (c >= lo && c <= hi) hit = 1;
            p += 2;
        } else if ((unsigned char)*p == c) {
            hit = 1;
        }
        p++;
    }
    *pp = p;
    return negate ? !hit : hit;
}

int cw_glob_match(const char *pattern, size_t plen, const char *str, size_t slen)
{
    if (!pattern || (!str && slen)) return 0;
    const char *p = pattern, *pend = pattern + plen;
    const char *s = str, *send = str + slen;
    const char *star_p = NULL, *star_s = NULL;
    while (s < send) {
        if (p < pend) {
            if (*p == '*') {
                while (p < pend && *p == '*') p++;
                if (p == pend) return 1;
                star_p = p;
                star_s = s;
                continue;
            }
            if (*p == '?') { p++; s++; continue; }
            if (*p == '[') {
                const char *q = p + 1;
                if (match_class(&q, pend, (unsigned char)*s)) { p = q; s++; continue; }
            } else {
                const char *q = p;
                if (*q == '\\' && q + 1 < pend) q++;
                if (*q == *s) { p = q + 1; s++; continue; }
            }
        }
        if (!star_p) return 0;
        /* Backtrack: let the last '*' swallow one more byte. */
        p = star_p;
        s = ++star_s;
    }
    while (p < pend && *p == '*') p++;
    return p == pend;
}
