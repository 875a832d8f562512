/*
 * url.c - backend URLs: scheme://[user[:password]@]host[:port][/path][?name=value&...]
 *
 * Parameters come from two places: the setup options (defaults) and the URL query (which
 * overrides them, as the seed's kwargs-vs-URL rule). Both land in one list; readers take the
 * LAST occurrence of a name and mark every occurrence taken, so the core can name any
 * parameter no backend understood. Names match in any case ("SIZE" is size), as the seed
 * lower-cases them.
 */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include "core/internal.h"

static void set_err(char *errbuf, const char *fmt, const char *a, const char *b)
{
    if (errbuf) snprintf(errbuf, CW_ERRMSG_SIZE, fmt, a, b);
}

void cw__url_redact(const char *text, char *buf, size_t size)
{
    if (!size) return;
    if (!text) { snprintf(buf, size, "(null)"); return; }
    const char *sep = strstr(text, "://");
    const char *auth = sep ? sep + 3 : NULL;
    const char *at = NULL, *colon = NULL;
    for (const char *x = auth; x && *x && *x != '/' && *x != '?'; x++) if (*x == '@') at = x;
    for (const char *x = auth; at && x < at; x++) if (*x == ':') { colon = x; break; }
    if (colon)
        snprintf(buf, size, "%.*s***%s", (int)(colon + 1 - text), text, at);
    else
        snprintf(buf, size, "%s", text);
}

static int hexval(char c)
{
    if (c >= '0' && c <= '9') return c - '0';
    if (c >= 'a' && c <= 'f') return c - 'a' + 10;
    if (c >= 'A' && c <= 'F') return c - 'A' + 10;
    return -1;
}

/* Percent-decode [s, s+n) into a new string ('+' stays '+'). Returns NULL on a bad escape,
 * "%00" included (*bad = 1), or on ENOMEM (*bad = 0). */
static char *decode(const char *s, size_t n, int *bad)
{
    char *out = cw_malloc(n + 1), *o = out;
    *bad = 0;
    if (!out) return NULL;
    for (size_t i = 0; i < n; i++) {
        if (s[i] == '%') {
            int hi = i + 1 < n ? hexval(s[i + 1]) : -1;
            int lo = i + 2 < n ? hexval(s[i + 2]) : -1;
            if (hi < 0 || lo < 0 || (hi == 0 && lo == 0)) { cw_free(out); *bad = 1; return NULL; } /* %00 would cut a C string */
            *o++ = (char)(hi * 16 + lo);
            i += 2;
            continue;
        }
        *o++ = s[i];
    }
    *o = 0;
    return out;
}

static cw_status add_param(cw_url *u, const char *name, size_t nlen, const char *val, size_t vlen,
                           int decode_it, char *errbuf)
{
    cw_url_param *np = cw_realloc(u->params, (u->nparams + 1) * sizeof *np);
    if (!np) return CW_ENOMEM;
    u->params = np;
    cw_url_param *p = &np[u->nparams];
    int bad = 0;
    if (decode_it) {
        p->name = decode(name, nlen, &bad);
        if (!p->name) goto fail;
        p->value = decode(val, vlen, &bad);
        if (!p->value) { cw_free(p->name); goto fail; }
    } else {
        p->name = cw_malloc(nlen + 1);
        p->value = cw_malloc(vlen + 1);
        if (!p->name || !p->value) { cw_free(p->name); cw_free(p->value); return CW_ENOMEM; }
        memcpy(p->name, name, nlen); p->name[nlen] = 0;
        memcpy(p->value, val, vlen); p->value[vlen] = 0;
    }
    p->taken = 0;
    u->nparams++;
    return CW_OK;
fail:
    if (!bad) return CW_ENOMEM;
    if (errbuf) snprintf(errbuf, CW_ERRMSG_SIZE, "bad percent-escape in query parameter \"%.*s\"", (int)nlen, name);
    return CW_EINVAL;
}

static cw_status dup_part(char **dst, const char *s, size_t n, const char *what, char *errbuf)
{
    int bad = 0;
    *dst = decode(s, n, &bad);
    if (*dst) return CW_OK;
    if (bad) set_err(errbuf, "bad percent-escape in the URL's %s%s", what, "");
    return bad ? CW_EINVAL : CW_ENOMEM;
}

cw_status cw_url_parse(const char *text, const char *const *extra, cw_url *u, char *errbuf)
{
    if (!u) return CW_EINVAL;
    memset(u, 0, sizeof *u);
    if (!text) { set_err(errbuf, "URL is NULL%s%s", "", ""); return CW_EINVAL; }
    char shown[160]; /* the URL as messages quote it: password masked, truncated */
    cw__url_redact(text, shown, sizeof shown);
    const char *sep = strstr(text, "://");
    if (!sep) { set_err(errbuf, "URL \"%s\" has no \"://\" (expected e.g. mem://)%s", shown, ""); return CW_EINVAL; }
    if (sep == text) { set_err(errbuf, "URL \"%s\" has an empty scheme%s", shown, ""); return CW_EINVAL; }
    for (const char *q = text; q < sep; q++) {
        char ch = *q;
        int ok = (ch >= 'a' && ch <= 'z') || (ch >= 'A' && ch <= 'Z') ||
                 (q > text && ((ch >= '0' && ch <= '9') || ch == '+' || ch == '-' || ch == '.'));
        if (!ok) { set_err(errbuf, "URL \"%s\": invalid character in scheme%s", shown, ""); return CW_EINVAL; }
    }
    cw_status st;
    size_t slen = (size_t)(sep - text);
    u->scheme = cw_malloc(slen + 1);
    if (!u->scheme) return CW_ENOMEM;
    for (size_t i = 0; i < slen; i++) {
        char ch = text[i];
        u->scheme[i] = (ch >= 'A' && ch <= 'Z') ? (char)(ch + 32) : ch;
    }
    u->scheme[slen] = 0;

    if (extra) {
        for (size_t i = 0; extra[i]; i += 2) {
            if (!extra[i + 1]) { set_err(errbuf, "parameter \"%s\" has no value (params must be name, value pairs)%s", extra[i], ""); st = CW_EINVAL; goto fail; }
            st = add_param(u, extra[i], strlen(extra[i]), extra[i + 1], strlen(extra[i + 1]), 0, errbuf);
            if (st) goto fail;
        }
    }

    const char *rest = sep + 3;
    const char *q = strchr(rest, '?');
    const char *auth_end = q ? q : rest + strlen(rest);
    const char *slash = memchr(rest, '/', (size_t)(auth_end - rest));
    const char *hostpart_end = slash ? slash : auth_end;
    /* userinfo: the last '@' before the path */
    const char *at = NULL;
    for (const char *x = rest; x < hostpart_end; x++) if (*x == '@') at = x;
    const char *host = rest;
    if (at) {
        const char *colon = memchr(rest, ':', (size_t)(at - rest));
        if ((st = dup_part(&u->user, rest, (size_t)((colon ? colon : at) - rest), "user", errbuf))) goto fail;
        if (colon) { if ((st = dup_part(&u->password, colon + 1, (size_t)(at - colon - 1), "password", errbuf))) goto fail; }
        host = at + 1;
    }
    if (!u->user && (st = dup_part(&u->user, "", 0, "user", errbuf))) goto fail;
    if (!u->password && (st = dup_part(&u->password, "", 0, "password", errbuf))) goto fail;
    const char *host_end = hostpart_end, *port = NULL;
    if (*host == '[') { /* [::1]:6379 */
        const char *rb = memchr(host, ']', (size_t)(hostpart_end - host));
        if (!rb) { set_err(errbuf, "URL \"%s\": unterminated IPv6 address%s", shown, ""); st = CW_EINVAL; goto fail; }
        if ((st = dup_part(&u->host, host + 1, (size_t)(rb - host - 1), "host", errbuf))) goto fail;
        if (rb + 1 < hostpart_end) {
            if (rb[1] != ':') { set_err(errbuf, "URL \"%s\": junk after IPv6 address%s", shown, ""); st = CW_EINVAL; goto fail; }
            port = rb + 2;
        }
    } else {
        const char *colon = memchr(host, ':', (size_t)(hostpart_end - host));
        if (colon) { host_end = colon; port = colon + 1; }
        if ((st = dup_part(&u->host, host, (size_t)(host_end - host), "host", errbuf))) goto fail;
    }
    if (port) {
        char *endp = NULL;
        errno = 0;
        long pv = port < hostpart_end && *port >= '0' && *port <= '9' ? strtol(port, &endp, 10) : -1;
        if (port >= hostpart_end || endp != hostpart_end || errno || pv < 1 || pv > 65535) {
            if (errbuf) snprintf(errbuf, CW_ERRMSG_SIZE, "URL \"%s\": port must be 1..65535", shown);
            st = CW_EINVAL;
            goto fail;
        }
        u->port = (int)pv;
    }
    if ((st = dup_part(&u->path, slash ? slash + 1 : "", slash ? (size_t)(auth_end - slash - 1) : 0, "path", errbuf))) goto fail;

    if (q) {
        const char *p = q + 1;
        while (*p) {
            const char *amp = strchr(p, '&');
            const char *end = amp ? amp : p + strlen(p);
            if (end > p) {
                const char *eq = memchr(p, '=', (size_t)(end - p));
                const char *nend = eq ? eq : end;
                if (nend == p) {
                    if (errbuf) snprintf(errbuf, CW_ERRMSG_SIZE, "URL \"%s\": query parameter with an empty name", shown);
                    st = CW_EINVAL;
                    goto fail;
                }
                st = add_param(u, p, (size_t)(nend - p), eq ? eq + 1 : "", eq ? (size_t)(end - eq - 1) : 0, 1, errbuf);
                if (st) goto fail;
            }
            p = amp ? amp + 1 : end;
        }
    }
    return CW_OK;
fail:
    cw_url_free(u);
    return st;
}

void cw_url_free(cw_url *u)
{
    if (!u) return;
    cw_free(u->scheme);
    cw_free(u->user);
    cw_free(u->password);
    cw_free(u->host);
    cw_free(u->path);
    for (size_t i = 0; i < u->nparams; i++) {
        cw_free(u->params[i].name);
        cw_free(u->params[i].value);
    }
    cw_free(u->params);
    memset(u, 0, sizeof *u);
}

cw_status cw_url_take_str(cw_url *u, const char *name, const char **out)
{
    const char *found = NULL;
    if (!u || !name) return CW_EINVAL;
    for (size_t i = 0; i < u->nparams; i++) {
        if (strcasecmp(u->params[i].name, name) == 0) {
            u->params[i].taken = 1;
            found = u->params[i].value;
        }
    }
    if (!found) return CW_NOTFOUND;
    if (out) *out = found;
    return CW_OK;
}

static cw_status bad_value(const char *name, const char *value, const char *want, char *errbuf)
{
    char tmp[CW_ERRMSG_SIZE];
    snprintf(tmp, sizeof tmp, "parameter %s=\"%.64s\": %s", name, value, want);
    if (errbuf) snprintf(errbuf, CW_ERRMSG_SIZE, "%s", tmp);
    return cw__fail(NULL, CW_EINVAL, "%s", tmp);
}

cw_status cw_url_take_int(cw_url *u, const char *name, int64_t min, int64_t max, int64_t *out,
                          char *errbuf)
{
    const char *v;
    cw_status st = cw_url_take_str(u, name, &v);
    if (st) return st;
    char *end = NULL;
    errno = 0;
    int digit_first = (*v >= '0' && *v <= '9') || (*v == '-' && v[1] >= '0' && v[1] <= '9');
    long long x = digit_first ? strtoll(v, &end, 10) : 0;
    if (!digit_first || *end || errno) return bad_value(name, v, "expected an integer", errbuf);
    if (x < min || x > max) {
        char want[96];
        snprintf(want, sizeof want, "must be between %lld and %lld", (long long)min, (long long)max);
        return bad_value(name, v, want, errbuf);
    }
    *out = x;
    return CW_OK;
}

cw_status cw_url_take_bool(cw_url *u, const char *name, int *out, char *errbuf)
{
    const char *v;
    cw_status st = cw_url_take_str(u, name, &v);
    if (st) return st;
    static const char *const yes[] = { "1", "true", "yes", "on" }, *const no[] = { "0", "false", "no", "off" };
    for (int i = 0; i < 4; i++) {
        if (strcasecmp(v, yes[i]) == 0) { *out = 1; return CW_OK; }
        if (strcasecmp(v, no[i]) == 0) { *out = 0; return CW_OK; }
    }
    return bad_value(name, v, "expected a boolean (1/0, true/false, yes/no, on/off)", errbuf);
}

cw_status cw_url_take_ms(cw_url *u, const char *name, int64_t min_ms, int64_t *out_ms, char *errbuf)
{
    const char *v;
    cw_status st = cw_url_take_str(u, name, &v);
    if (st) return st;
    int64_t ms = 0;
    if (strcmp(v, "0") == 0 || strcmp(v, "0.0") == 0) ms = 0;
    else if (cw_ttl_parse(v, &ms) != CW_OK)
        return bad_value(name, v, "expected a duration like 10, 0.5, 250ms or 1m30s", errbuf);
    if (ms < min_ms) return bad_value(name, v, "duration too small", errbuf);
    *out_ms = ms;
    return CW_OK;
}

cw_status cw_url_take_size(cw_url *u, const char *name, uint64_t *out, char *errbuf)
{
    const char *v;
    cw_status st = cw_url_take_str(u, name, &v);
    if (st) return st;
    char *end = NULL;
    errno = 0;
    if (!(*v >= '0' && *v <= '9')) return bad_value(name, v, "expected a size in bytes (e.g. 1048576, 512k, 1g)", errbuf);
    unsigned long long x = strtoull(v, &end, 10);
    if (end == v || errno) return bad_value(name, v, "expected a size in bytes (e.g. 1048576, 512k, 1g)", errbuf);
    unsigned shift = 0;
    if (*end == 'k' || *end == 'K') { shift = 10; end++; }
    else if (*end == 'm' || *end == 'M') { shift = 20; end++; }
    else if (*end == 'g' || *end == 'G') { shift = 30; end++; }
    if (*end == 'b' || *end == 'B') end++;
    if (*end) return bad_value(name, v, "expected a size in bytes (e.g. 1048576, 512k, 1g)", errbuf);
    if (shift && x > (UINT64_MAX >> shift)) return bad_value(name, v, "size too large", errbuf);
    *out = (uint64_t)x << shift;
    return CW_OK;
}
