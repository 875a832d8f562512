/*
 * envelope.c - the value envelope of docs/FORMAT.md: a 4-byte header (magic, version, flags,
 * codec) followed by the optional fields the flags announce (little-endian int64 each), then
 * the payload. Values written by cw_set() carry it; *_raw values and counters do not.
 */
#include <string.h>

#include "core/internal.h"

static void put64(unsigned char *p, int64_t v)
{
    uint64_t u = (uint64_t)v;
    for (int i = 0; i < 8; i++) p[i] = (unsigned char)(u >> (8 * i));
}

static int64_t get64(const unsigned char *p)
{
    uint64_t u = 0;
    for (int i = 0; i < 8; i++) u |= (uint64_t)p[i] << (8 * i);
    return (int64_t)u;
}

size_t cw__env_header(const cw__env_meta *meta, unsigned char *hdr)
{
    size_t n = 4;
    uint8_t flags = 0;
    hdr[0] = CW__ENV_MAGIC;
    hdr[1] = CW__ENV_VERSION;
    hdr[3] = meta ? meta->codec : 0;
    if (meta && meta->created_ms) { flags |= CW__ENV_F_CREATED; put64(hdr + n, meta->created_ms); n += 8; }
    if (meta && meta->refresh_at_ms) { flags |= CW__ENV_F_REFRESH_AT; put64(hdr + n, meta->refresh_at_ms); n += 8; }
    hdr[2] = flags;
    return n;
}

int cw__env_parse(const unsigned char *buf, size_t len, cw__env_meta *meta, size_t *payload_off)
{
    if (len < 4 || buf[0] != CW__ENV_MAGIC || buf[1] != CW__ENV_VERSION) return 0;
    uint8_t flags = buf[2];
    if (flags & ~(CW__ENV_F_CREATED | CW__ENV_F_REFRESH_AT)) return 0;
    size_t need = 4 + ((flags & CW__ENV_F_CREATED) ? 8 : 0) + ((flags & CW__ENV_F_REFRESH_AT) ? 8 : 0);
    if (len < need) return 0;
    size_t n = 4;
    cw__env_meta m = { buf[3], 0, 0 };
    if (flags & CW__ENV_F_CREATED) { m.created_ms = get64(buf + n); n += 8; }
    if (flags & CW__ENV_F_REFRESH_AT) { m.refresh_at_ms = get64(buf + n); n += 8; }
    if (meta) *meta = m;
    *payload_off = n;
    return 1;
}
