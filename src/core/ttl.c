/*
 * ttl.c - TTL grammar and the default clock.
 *
 * Grammar (case-sensitive, no spaces):  ttl   := number | part+
 *                                        part  := number unit      unit := d | h | m | s | ms
 *                                        number := digits [ '.' digits ]
 * A bare number is seconds ("90", "0.5"). Parts may come in any order and repeat ("1h1h" is
 * 2h), as Go's time.ParseDuration accepts. The sum must be > 0 ms and fit in int64: zero,
 * negative and malformed TTLs are errors, never "forever".
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

cw_status cw_ttl_parse(const char *text, int64_t *out_ms)
{
    if (!text || !out_ms) return cw__fail(NULL, CW_EINVAL, "TTL is NULL");
    if (!*text) return cw__fail(NULL, CW_EINVAL, "TTL is empty");
    const char *p = text;
    double total = 0;
    int parts = 0;
    while (*p) {
        const char *start = p;
        double v = 0, scale = 0.1;
        int digits = 0;
        while (*p >= '0' && *p <= '9') { v = v * 10 + (*p++ - '0'); digits++; }
        if (*p == '.') {
            p++;
            while (*p >= '0' && *p <= '9') { v += (*p++ - '0') * scale; scale /= 10; digits++; }
        }
        if (!digits)
            return cw__fail(NULL, CW_EINVAL, "TTL \"%s\": expected a number at \"%s\"", text, start);
        double unit;
        if (p[0] == 'm' && p[1] == 's') { unit = 1; p += 2; }
        else if (*p == 'd') { unit = 86400000.0; p++; }
        else if (*p == 'h') { unit = 3600000.0; p++; }
        else if (*p == 'm') { unit = 60000.0; p++; }
        else if (*p == 's') { unit = 1000.0; p++; }
        else if (*p == 0 && parts == 0) unit = 1000.0; /* bare seconds */
        else return cw__fail(NULL, CW_EINVAL, "TTL \"%s\": unknown unit at \"%s\" (use d, h, m, s, ms)", text, p);
        total += v * unit;
        parts++;
    }
    if (!(total < 9.2e18)) return cw__fail(NULL, CW_EINVAL, "TTL \"%s\" is too large", text);
    int64_t ms = (int64_t)llround(total);
    if (ms <= 0) return cw__fail(NULL, CW_EINVAL, "TTL \"%s\" must be > 0 (at least 1 ms)", text);
    *out_ms = ms;
    return CW_OK;
}
