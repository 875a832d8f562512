/*
 * glob.c - Redis-compatible glob matching (the rules of Redis's stringmatchlen()):
 *   *  any run of bytes (also empty)      ?  exactly one byte
 *   [abc] [a-c] one of the set/range     [^a] or [!a] any byte not in the set
 *   \x  the byte x literally (also inside brackets)
 * An unterminated '[' matches as if closed at the end of the pattern, as Redis does.
 * Iterative with one backtrack point for '*', so patterns like "a*a*a*a*b" stay linear-ish
 * and cannot blow the stack.
 */
#include "core/internal.h"

/* Match one byte c against the class starting after '[' at p; returns 1/0, advances *pp past
 * the closing ']' (or to the end). */
static int match_class(const char **pp, const char *end, unsigned char c)
{
    const char *p = *pp;
    int negate = 0, hit = 0;
    if (p < end && (*p == '^' || *p == '!')) { negate = 1; p++; }
    int first = 1;
    while (p < end && (*p != ']' || first)) {
        first = 0;
        if (*p == '\\' && p + 1 < end) {
            p++;
            if ((unsigned char)*p == c) hit = 1;
            p++;
        } else if (p + 2 < end && p[1] == '-' && p[2] != ']') {
            unsigned char lo = (unsigned char)p[0], hi = (unsigned char)p[2];
            if (p[2] == '\\' && p + 3 < end) { hi = (unsigned char)p[3]; p++; }
            if (lo > hi) { unsigned char t = lo; lo = hi; hi = t; }
            if (c >= lo && c <= hi) hit = 1;
            p += 3;
        } else {
            if ((unsigned char)*p == c) hit = 1;
            p++;
        }
    }
    if (p < end) p++; /* the ']' */
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
