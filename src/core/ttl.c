/*
 * ttl.c - TTL grammar and the default clock.
 *
 * Grammar:  ttl    := space* ( number | part+ ) space*
 *           part   := number unit          unit := d | h | m | s | ms   (any case)
 *           number := digits [ '.' digits ]
 *           space  := ' ' | '\t' | '\n' | '\v' | '\f' | '\r'
 * A bare number is seconds ("90", "0.5"). Parts may come in any order and repeat ("1h1h" is
 * 2h), as Go's time.ParseDuration accepts; no space inside. Like the seed (which strips and
 * lower-cases the string), " 10M " is ten minutes. The sum must be > 0 ms and fit in int64:
 * zero, negative and malformed TTLs are errors, never "forever". Unlike the seed, a number
 * after the last unit ("1h30") is an error, not silently dropped.
 */
#include <math.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "core/internal.h"

int64_t cw_clock_now_ms(void *ud)
{
    (void)ud;
    struct timespec ts;
    clock_gettime(CLOCK_REALTIME, &ts);
    return (int64_t)ts.tv_sec * 1000 + ts.tv_nsec / 1000000;
}

cw_status cw_ttl_from_seconds(double seconds, int64_t *out_ms)
{
    if (!out_ms || !isfinite(seconds) || seconds <= 0 || seconds > 9.2e15)
        return cw__fail(NULL, CW_EINVAL, "TTL must be a finite number of seconds > 0");
    double ms = seconds * 1000.0;
    int64_t r = (int64_t)llround(ms);
    if (r <= 0) return cw__fail(NULL, CW_EINVAL, "TTL %g s rounds to 0 ms", seconds);
    *out_ms = r;
    return CW_OK;
}

static int is_space(char ch)
{
    return ch == ' ' || (ch >= '\t' && ch <= '\r');
}

static int lower(char ch)
{
    return ch >= 'A' && ch <= 'Z' ? ch + 32 : ch;
}

/* The whole parse; failures are recorded with cw__fail (this thread's detail). */
static cw_status parse(const char *text, int64_t *out_ms)
{
    if (!text || !out_ms) return cw__fail(NULL, CW_EINVAL, "TTL is NULL");
    const char *p = text, *end = text + strlen(text);
    while (p < end && is_space(*p)) p++;
    while (end > p && is_space(end[-1])) end--;
    if (p == end) return cw__fail(NULL, CW_EINVAL, "TTL \"%.64s\" is empty", text);
    double total = 0;
    int parts = 0;
    while (p < end) {
        const char *start = p;
        double v = 0, scale = 0.1;
        int digits = 0;
        while (p < end && *p >= '0' && *p <= '9') { v = v * 10 + (*p++ - '0'); digits++; }
        if (p < end && *p == '.') {
            p++;
            while (p < end && *p >= '0' && *p <= '9') { v += (*p++ - '0') * scale; scale /= 10; digits++; }
        }
        if (!digits)
            return cw__fail(NULL, CW_EINVAL, "TTL \"%.64s\": expected a number at \"%.*s\"", text,
                            (int)(end - start > 32 ? 32 : end - start), start);
        double unit;
        int u = p < end ? lower(*p) : 0;
        if (u == 'm' && p + 1 < end && lower(p[1]) == 's') { unit = 1; p += 2; }
        else if (u == 'd') { unit = 86400000.0; p++; }
        else if (u == 'h') { unit = 3600000.0; p++; }
        else if (u == 'm') { unit = 60000.0; p++; }
        else if (u == 's') { unit = 1000.0; p++; }
        else if (p == end && parts == 0) unit = 1000.0; /* bare seconds */
        else if (p == end)
            return cw__fail(NULL, CW_EINVAL, "TTL \"%.64s\": the number at the end has no unit (use d, h, m, s, ms)",
                            text);
        else
            return cw__fail(NULL, CW_EINVAL, "TTL \"%.64s\": unknown unit at \"%.*s\" (use d, h, m, s, ms)", text,
                            (int)(end - p > 32 ? 32 : end - p), p);
        total += v * unit;
        parts++;
    }
    if (!(total < 9.2e18)) return cw__fail(NULL, CW_EINVAL, "TTL \"%.64s\" is too large", text);
    int64_t ms = (int64_t)llround(total);
    if (ms <= 0) return cw__fail(NULL, CW_EINVAL, "TTL \"%.64s\" must be > 0 (at least 1 ms)", text);
    *out_ms = ms;
    return CW_OK;
}

cw_status cw_ttl_parse(const char *text, int64_t *out_ms)
{
    return parse(text, out_ms);
}

cw_status cw_ttl_parse_ex(const char *text, int64_t *out_ms, char *errbuf)
{
    cw_status st = parse(text, out_ms);
    if (errbuf) {
        if (st) cw__errmsg_copy(errbuf);
        else errbuf[0] = 0;
    }
    return st;
}
