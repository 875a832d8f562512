/*
 * http_parse.c - the request headers the HTTP helper reads, and the ETag hash.
 *
 * All three fields are comma-separated lists (RFC 9110 5.6.1): elements with optional
 * whitespace (OWS: space, tab) around the commas, and empty elements allowed. An element may
 * hold a quoted string, in which a comma does not split. next_element() walks such a list;
 * each parser then takes one element apart and must consume it whole, or skips it. Skipping
 * what does not parse keeps every answer on the safe side: a malformed If-None-Match matches
 * less, a malformed max-age does not shorten anything.
 *
 * Nothing here allocates or keeps state, and every loop advances by at least one byte, so
 * a field of any length (an 8 KiB If-None-Match) costs one pass.
 */
#include <stdio.h>
#include <strings.h>

#include "contrib/http_int.h"

static int is_ows(unsigned char ch) { return ch == ' ' || ch == '\t'; }

/* tchar of RFC 9110 5.6.2 */
static int is_tchar(unsigned char ch)
{
    if ((ch >= '0' && ch <= '9') || (ch >= 'a' && ch <= 'z') || (ch >= 'A' && ch <= 'Z')) return 1;
    return ch && strchr("!#$%&'*+-.^_`|~", ch) != NULL;
}

/* etagc of RFC 9110 8.8.3: %x21 / %x23-7E / obs-text */
static int is_etagc(unsigned char ch) { return ch == 0x21 || (ch >= 0x23 && ch <= 0x7E) || ch >= 0x80; }

/* qdtext and the characters a quoted-pair may escape (RFC 9110 5.6.4) */
static int is_qdtext(unsigned char ch)
{
    return ch == '\t' || ch == ' ' || ch == 0x21 || (ch >= 0x23 && ch <= 0x5B) || (ch >= 0x5D && ch <= 0x7E) || ch >= 0x80;
}
static int is_quotable(unsigned char ch) { return ch == '\t' || (ch >= 0x20 && ch != 0x7F); }

/* The next non-empty element of the list in p[0..len) from *pos, without surrounding OWS,
 * as [*s, *e). Commas inside a quoted string (escapes honoured) do not end an element; an
 * unterminated quote runs to the end. Return 0 when the list is exhausted. */
static int next_element(const char *p, size_t len, size_t *pos, size_t *s, size_t *e)
{
    size_t i = *pos;
    for (;;) {
        while (i < len && (is_ows((unsigned char)p[i]) || p[i] == ',')) i++;
        if (i >= len) {
            *pos = len;
            return 0;
        }
        size_t start = i;
        int quoted = 0;
        for (; i < len; i++) {
            if (quoted && p[i] == '\\' && i + 1 < len) i++;
            else if (p[i] == '"') quoted = !quoted;
            else if (p[i] == ',' && !quoted) break;
        }
        size_t end = i;
        while (end > start && is_ows((unsigned char)p[end - 1])) end--;
        *pos = i;
        if (end > start) {
            *s = start;
            *e = end;
            return 1;
        }
    }
}

/* If p[i] opens a well-formed quoted string ending before @e, the index just past its
 * closing quote, else 0. */
static size_t quoted_end(const char *p, size_t i, size_t e)
{
    if (i >= e || p[i] != '"') return 0;
    for (i++; i < e; i++) {
        unsigned char ch = (unsigned char)p[i];
        if (ch == '"') return i + 1;
        if (ch == '\\') {
            if (i + 1 >= e || !is_quotable((unsigned char)p[i + 1])) return 0;
            i++;
        } else if (!is_qdtext(ch)) {
            return 0;
        }
    }
    return 0;
}

/* delta-seconds (RFC 9111 1.2.2) from the argument p[s..e), quoted or not: 1*DIGIT, and a
 * value past 2^31 reads as 2^31. -1 when it is not digits. Escapes in a quoted argument
 * ("\5") stand for the character. */
static int64_t delta_seconds(const char *p, size_t s, size_t e)
{
    if (s < e && p[s] == '"') {
        s++;
        e--; /* the caller checked the closing quote */
    }
    int64_t v = 0;
    size_t digits = 0;
    for (size_t i = s; i < e; i++) {
        if (p[i] == '\\' && i + 1 < e) i++;
        if (p[i] < '0' || p[i] > '9') return -1;
        digits++;
        v = v * 10 + (p[i] - '0');
        if (v > INT64_C(2147483648)) v = INT64_C(2147483648); /* also stops any overflow */
    }
    return digits ? v : -1;
}

static int name_is(const char *p, size_t s, size_t e, const char *name)
{
    size_t n = strlen(name);
    return e - s == n && strncasecmp(p + s, name, n) == 0;
}

void cw_http_parse_cache_control(const char *field, size_t len, cw_http_cache_control *out)
{
    if (!out) return;
    *out = (cw_http_cache_control){ 0, 0, -1 };
    if (!field) return;
    size_t pos = 0, s, e;
    while (next_element(field, len, &pos, &s, &e)) {
        /* cache-directive = token [ "=" ( token / quoted-string ) ]; OWS around "=" is
         * tolerated, as most servers do */
        size_t ne = s;
        while (ne < e && is_tchar((unsigned char)field[ne])) ne++;
        if (ne == s) continue;
        size_t i = ne, as = 0, ae = 0;
        while (i < e && is_ows((unsigned char)field[i])) i++;
        if (i < e) {
            if (field[i] != '=') continue;
            i++;
            while (i < e && is_ows((unsigned char)field[i])) i++;
            as = i;
            if (i < e && field[i] == '"') {
                i = quoted_end(field, i, e);
                if (!i) continue;
            } else {
                while (i < e && is_tchar((unsigned char)field[i])) i++;
            }
            ae = i;
            if (i != e || as == ae) continue; /* something after the argument, or none */
        }
        if (name_is(field, s, ne, "no-cache")) {
            out->no_cache = 1;
        } else if (name_is(field, s, ne, "no-store")) {
            out->no_store = 1;
        } else if (name_is(field, s, ne, "max-age") && ae > as) {
            int64_t v = delta_seconds(field, as, ae);
            if (v >= 0 && (out->max_age_s < 0 || v < out->max_age_s)) out->max_age_s = v;
        }
    }
}

/* An entity-tag element: [W/] DQUOTE *etagc DQUOTE exactly spanning p[s..e). On success
 * the opaque tag (quotes included) is p[*os..e). */
static int entity_tag(const char *p, size_t s, size_t e, size_t *os)
{
    if (e - s >= 2 && p[s] == 'W' && p[s + 1] == '/') s += 2;
    if (e - s < 2 || p[s] != '"' || p[e - 1] != '"') return 0;
    for (size_t i = s + 1; i < e - 1; i++)
        if (!is_etagc((unsigned char)p[i])) return 0;
    *os = s;
    return 1;
}

int cw_http_etag_matches(const char *field, size_t len, const char *etag)
{
    if (!field || !etag) return 0;
    size_t tl = strlen(etag), tos;
    if (!entity_tag(etag, 0, tl, &tos)) return 0;
    const char *opaque = etag + tos;
    size_t olen = tl - tos;
    size_t pos = 0, s, e;
    /* "*" alone matches any current representation; among tags it is not a tag */
    if (next_element(field, len, &pos, &s, &e) && e - s == 1 && field[s] == '*') {
        size_t s2, e2;
        if (!next_element(field, len, &pos, &s2, &e2)) return 1;
    }
    for (pos = 0; next_element(field, len, &pos, &s, &e);) {
        size_t os;
        if (entity_tag(field, s, e, &os) && e - os == olen && memcmp(field + os, opaque, olen) == 0) return 1;
    }
    return 0;
}

int cw_http_clears_cache(const char *field, size_t len)
{
    if (!field) return 0;
    size_t pos = 0, s, e;
    while (next_element(field, len, &pos, &s, &e)) {
        if (field[s] == '"') {
            if (quoted_end(field, s, e) != e) continue;
            s++;
            e--;
        } else {
            size_t i = s;
            while (i < e && is_tchar((unsigned char)field[i])) i++;
            if (i != e) continue;
        }
        if (name_is(field, s, e, "cache") || (e - s == 1 && field[s] == '*')) return 1;
    }
    return 0;
}

/* ---- the ETag hash ---- */

cw_status cw__http_hash_start(cw__http_hash *hh, const EVP_MD *md)
{
    hh->ctx = EVP_MD_CTX_new();
    if (!hh->ctx || EVP_DigestInit_ex(hh->ctx, md ? md : EVP_sha256(), NULL) != 1) {
        cw__http_hash_drop(hh);
        return CW_ENOMEM;
    }
    return CW_OK;
}

cw_status cw__http_hash_add(cw__http_hash *hh, const void *data, size_t len)
{
    if (!hh->ctx) return CW_ENOMEM;
    if (len && EVP_DigestUpdate(hh->ctx, data, len) != 1) {
        cw__http_hash_drop(hh);
        return CW_ENOMEM;
    }
    return CW_OK;
}

cw_status cw__http_hash_end(cw__http_hash *hh, char etag[CW_HTTP_ETAG_SIZE])
{
    unsigned char md[EVP_MAX_MD_SIZE];
    unsigned int n = 0;
    int ok = hh->ctx && EVP_DigestFinal_ex(hh->ctx, md, &n) == 1 && n >= 16;
    cw__http_hash_drop(hh);
    if (!ok) return CW_ENOMEM;
    static const char hex[] = "0123456789abcdef";
    etag[0] = '"';
    for (int i = 0; i < 16; i++) {
        etag[1 + 2 * i] = hex[md[i] >> 4];
        etag[2 + 2 * i] = hex[md[i] & 15];
    }
    etag[33] = '"';
    etag[34] = 0;
    return CW_OK;
}

void cw__http_hash_drop(cw__http_hash *hh)
{
    EVP_MD_CTX_free(hh->ctx);
    hh->ctx = NULL;
}

cw_status cw_http_etag_of(const void *data, size_t len, char etag[CW_HTTP_ETAG_SIZE])
{
    if (!etag || (len && !data)) return CW_EINVAL;
    cw__http_hash hh;
    cw_status st = cw__http_hash_start(&hh, NULL);
    if (!st) st = cw__http_hash_add(&hh, data, len);
    return st ? st : cw__http_hash_end(&hh, etag);
}
