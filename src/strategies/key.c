/*
 * key.c - key templates: "user:{id}", "{user.name:lower}", "{token:jwt(client_id)}".
 *
 * A template is parsed once, when its cached function is created, into segments: literal
 * text, or a field (an argument by index, a key-context name, or a free name for the tag
 * registry) with an optional nested path and formatter. Every error (unknown argument,
 * unknown formatter, wrong formatter arguments, unbalanced braces) is found then, so a call
 * only formats: it walks the segments and appends into a buffer with inline storage, which
 * for keys of ordinary length never touches the heap.
 *
 * Grammar: text with fields "{name[.path][:formatter[(arg, ...)]]}"; "{{" and "}}" are
 * literal braces. Values render as the seed's formatter does: strings as they are, integers
 * in decimal, booleans as "true"/"false", None as "", bytes as text when valid UTF-8 else
 * hex; user objects through their cw_arg_class, or a registered type formatter.
 */
#include <ctype.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <openssl/evp.h>

#include "strategies/strategy.h"

/* ---- buffer ---- */

void cw__buf_init(cw__buf *b)
{
    b->p = b->inl;
    b->len = 0;
    b->cap = sizeof b->inl;
    b->inl[0] = 0;
}

cw_status cw__buf_reserve(cw__buf *b, size_t extra)
{
    if (b->len + extra + 1 <= b->cap) return CW_OK;
    size_t cap = b->cap * 2;
    while (cap < b->len + extra + 1) cap *= 2;
    char *p;
    if (b->p == b->inl) {
        p = cw_malloc(cap);
        if (!p) return CW_ENOMEM;
        memcpy(p, b->inl, b->len + 1);
    } else {
        p = cw_realloc(b->p, cap);
        if (!p) return CW_ENOMEM;
    }
    b->p = p;
    b->cap = cap;
    return CW_OK;
}

cw_status cw__buf_put(cw__buf *b, const void *s, size_t n)
{
    if (b->len + n + 1 > b->cap && cw__buf_reserve(b, n)) return CW_ENOMEM;
    memcpy(b->p + b->len, s, n);
    b->len += n;
    b->p[b->len] = 0;
    return CW_OK;
}

cw_status cw__buf_puts(cw__buf *b, const char *s)
{
    return cw__buf_put(b, s, strlen(s));
}

void cw__buf_free(cw__buf *b)
{
    if (b->p != b->inl) cw_free(b->p);
    cw__buf_init(b);
}

/* Append what an snprintf-style writer produces, growing the buffer once if needed. */
typedef int (*writer_fn)(void *ctx, char *buf, size_t size);

static cw_status put_written(cw__buf *b, writer_fn w, void *ctx, int *bad)
{
    size_t room = b->cap - b->len;
    int n = w(ctx, b->p + b->len, room);
    if (n < 0) { *bad = 1; b->p[b->len] = 0; return CW_EINVAL; }
    if ((size_t)n >= room) {
        if (cw__buf_reserve(b, (size_t)n)) return CW_ENOMEM;
        room = b->cap - b->len;
        n = w(ctx, b->p + b->len, room);
        if (n < 0 || (size_t)n >= room) { *bad = 1; b->p[b->len] = 0; return CW_EINVAL; }
    }
    b->len += (size_t)n;
    b->p[b->len] = 0;
    return CW_OK;
}

/* ---- value rendering ---- */

static size_t fmt_i64(int64_t v, char *out)
{
    char tmp[24];
    size_t n = 0;
    uint64_t u = v < 0 ? (uint64_t)0 - (uint64_t)v : (uint64_t)v;
    do { tmp[n++] = (char)('0' + u % 10); u /= 10; } while (u);
    size_t k = 0;
    if (v < 0) out[k++] = '-';
    while (n) out[k++] = tmp[--n];
    return k;
}

/* Python's str(float): the shortest text that reads back the same, "2.0" for integers. */
static size_t fmt_double(double d, char *out, size_t size)
{
    if (isnan(d)) return (size_t)snprintf(out, size, "nan");
    if (isinf(d)) return (size_t)snprintf(out, size, d < 0 ? "-inf" : "inf");
    int n = 0;
    for (int prec = 1; prec <= 17; prec++) {
        n = snprintf(out, size, "%.*g", prec, d);
        if (strtod(out, NULL) == d) break;
    }
    if (!strpbrk(out, ".e")) n += snprintf(out + n, size - (size_t)n, ".0");
    return (size_t)n;
}

static int valid_utf8_text(const unsigned char *s, size_t n)
{
    size_t i = 0;
    while (i < n) {
        unsigned char c = s[i];
        size_t k;
        if (c == 0) return 0;
        if (c < 0x80) { i++; continue; }
        if (c >= 0xC2 && c <= 0xDF) k = 1;
        else if ((c & 0xF0) == 0xE0) k = 2;
        else if (c >= 0xF0 && c <= 0xF4) k = 3;
        else return 0;
        if (n - i - 1 < k) return 0;
        for (size_t j = 1; j <= k; j++)
            if ((s[i + j] & 0xC0) != 0x80) return 0;
        i += k + 1;
    }
    return 1;
}

static cw_status put_hex(cw__buf *b, const unsigned char *s, size_t n)
{
    static const char hx[] = "0123456789abcdef";
    if (cw__buf_reserve(b, 2 * n)) return CW_ENOMEM;
    for (size_t i = 0; i < n; i++) {
        b->p[b->len++] = hx[s[i] >> 4];
        b->p[b->len++] = hx[s[i] & 15];
    }
    b->p[b->len] = 0;
    return CW_OK;
}

typedef struct tfmt_ctx {
    const cw__tfmt *t;
    const cw_arg *a;
} tfmt_ctx;

static int tfmt_write(void *ctx, char *buf, size_t size)
{
    tfmt_ctx *x = ctx;
    return x->t->fn(x->t->ud, x->a, buf, size);
}

typedef struct obj_ctx {
    const cw_arg *a;
    const char *path;
} obj_ctx;

static int obj_write(void *ctx, char *buf, size_t size)
{
    obj_ctx *x = ctx;
    return x->a->cls->to_text(x->a->v.obj, x->path, buf, size);
}

static const char *type_name(cw_arg_type t)
{
    static const char *const names[] = { "null", "string", "int", "double", "bool", "bytes", "object" };
    return (unsigned)t <= CW_T_OBJ ? names[t] : "unknown";
}

cw_status cw__render_arg(cw__funcs *fx, const cw_arg *a, const char *argname, const char *path,
                         cw__buf *out)
{
    cw_cache *c = fx->c;
    int bad = 0;
    if (path && a->type != CW_T_OBJ)
        return cw__fail(c, CW_EINVAL, "argument \"%s\" is a %s: it has no field \"%s\"", argname,
                        type_name(a->type), path);
    if (!path) {
        /* Type formatters first (rare: skip the walk when none is registered). */
        for (const cw__tfmt *t = atomic_load_explicit(&fx->tfmts, memory_order_acquire); t; t = t->next) {
            if (t->type != a->type || (t->cls && t->cls != a->cls)) continue;
            tfmt_ctx x = { t, a };
            cw_status st = put_written(out, tfmt_write, &x, &bad);
            if (bad) return cw__fail(c, CW_EINVAL, "type formatter failed on argument \"%s\"", argname);
            return st;
        }
    }
    char num[40];
    switch (a->type) {
    case CW_T_NULL:
        return CW_OK;
    case CW_T_STR: {
        if (!a->v.s) return CW_OK;
        size_t n = a->len == (size_t)-1 ? strlen(a->v.s) : a->len;
        /* Keys are C strings: a NUL would cut the key there, and "x\0y" and "x\0z" would
         * share one entry. Such a counted string renders as CW_T_BYTES' non-text does. */
        if (memchr(a->v.s, 0, n)) return put_hex(out, (const unsigned char *)a->v.s, n);
        return cw__buf_put(out, a->v.s, n);
    }
    case CW_T_INT:
        return cw__buf_put(out, num, fmt_i64(a->v.i, num));
    case CW_T_DOUBLE:
        return cw__buf_put(out, num, fmt_double(a->v.d, num, sizeof num));
    case CW_T_BOOL:
        return cw__buf_puts(out, a->v.i ? "true" : "false");
    case CW_T_BYTES:
        if (!a->len) return CW_OK;
        if (!a->v.b) return cw__fail(c, CW_EINVAL, "argument \"%s\": bytes are NULL", argname);
        if (valid_utf8_text(a->v.b, a->len)) return cw__buf_put(out, a->v.b, a->len);
        return put_hex(out, a->v.b, a->len);
    case CW_T_OBJ: {
        if (!a->cls || !a->cls->to_text)
            return cw__fail(c, CW_EINVAL, "argument \"%s\" is an object without a class", argname);
        obj_ctx x = { a, path ? path : "" };
        cw_status st = put_written(out, obj_write, &x, &bad);
        if (bad) {
            if (path)
                return cw__fail(c, CW_EINVAL, "argument \"%s\" (%s) has no field \"%s\"", argname,
                                a->cls->name ? a->cls->name : "object", path);
            return cw__fail(c, CW_EINVAL, "argument \"%s\" cannot be rendered", argname);
        }
        return st;
    }
    }
    return cw__fail(c, CW_EINVAL, "argument \"%s\" has unknown type %d", argname, (int)a->type);
}

/* ---- built-in formatters ---- */

static cw_status fmt_case(cw__buf *out, size_t from, int upper)
{
    for (size_t i = from; i < out->len; i++) {
        unsigned char ch = (unsigned char)out->p[i];
        out->p[i] = (char)(upper ? toupper(ch) : tolower(ch));
    }
    return CW_OK;
}

static cw_status fmt_len(cw__buf *out, size_t from)
{
    /* Characters, as Python's len() of a str: count UTF-8 lead bytes. */
    size_t n = 0;
    for (size_t i = from; i < out->len; i++)
        if (((unsigned char)out->p[i] & 0xC0) != 0x80) n++;
    char num[24];
    size_t k = fmt_i64((int64_t)n, num);
    out->len = from;
    return cw__buf_put(out, num, k);
}

static const EVP_MD *hash_alg(const char *name)
{
    if (!name || strcmp(name, "md5") == 0) return EVP_md5();
    if (strcmp(name, "sha1") == 0) return EVP_sha1();
    if (strcmp(name, "sha256") == 0) return EVP_sha256();
    return NULL;
}

static cw_status fmt_hash(cw_cache *c, cw__buf *out, size_t from, const char *alg)
{
    unsigned char md[EVP_MAX_MD_SIZE];
    unsigned int mdlen = 0;
    const EVP_MD *m = hash_alg(alg);
    if (!m || !EVP_Digest(out->p + from, out->len - from, md, &mdlen, m, NULL))
        return cw__fail(c, CW_EINVAL, "hash(%s) failed", alg ? alg : "md5");
    out->len = from;
    return put_hex(out, md, mdlen);
}

/* base64 or base64url, padding optional: the payload of a JWT. */
static int b64_value(int ch)
{
    if (ch >= 'A' && ch <= 'Z') return ch - 'A';
    if (ch >= 'a' && ch <= 'z') return ch - 'a' + 26;
    if (ch >= '0' && ch <= '9') return ch - '0' + 52;
    if (ch == '+' || ch == '-') return 62;
    if (ch == '/' || ch == '_') return 63;
    return -1;
}

static char *b64_decode(const char *s, size_t n, size_t *outlen)
{
    while (n && s[n - 1] == '=') n--;
    char *out = cw_malloc(n * 3 / 4 + 4);
    if (!out) return NULL;
    uint32_t acc = 0;
    int bits = 0;
    size_t k = 0;
    for (size_t i = 0; i < n; i++) {
        int v = b64_value((unsigned char)s[i]);
        if (v < 0) { cw_free(out); return NULL; }
        acc = (acc << 6) | (uint32_t)v;
        bits += 6;
        if (bits >= 8) { bits -= 8; out[k++] = (char)((acc >> bits) & 0xFF); }
    }
    out[k] = 0;
    *outlen = k;
    return out;
}

/* A tiny JSON reader: enough to find a top-level member of an object and copy its value
 * (strings unescaped, anything else as its JSON text). */
static const char *json_ws(const char *p, const char *e)
{
    while (p < e && (*p == ' ' || *p == '\t' || *p == '\n' || *p == '\r')) p++;
    return p;
}

static const char *json_skip_string(const char *p, const char *e)
{
    for (p++; p < e; p++) {
        if (*p == '\\') { p++; continue; }
        if (*p == '"') return p + 1;
    }
    return NULL;
}

static const char *json_skip_value(const char *p, const char *e)
{
    p = json_ws(p, e);
    if (p >= e) return NULL;
    if (*p == '"') return json_skip_string(p, e);
    if (*p == '{' || *p == '[') {
        int depth = 0;
        while (p < e) {
            if (*p == '"') { p = json_skip_string(p, e); if (!p) return NULL; continue; }
            if (*p == '{' || *p == '[') depth++;
            else if (*p == '}' || *p == ']') { if (--depth == 0) return p + 1; }
            p++;
        }
        return NULL;
    }
    while (p < e && *p != ',' && *p != '}' && *p != ']' && *p != ' ' && *p != '\n' && *p != '\t' && *p != '\r') p++;
    return p;
}

static int hexval(int ch)
{
    if (ch >= '0' && ch <= '9') return ch - '0';
    if (ch >= 'a' && ch <= 'f') return ch - 'a' + 10;
    if (ch >= 'A' && ch <= 'F') return ch - 'A' + 10;
    return -1;
}

static cw_status put_utf8(cw__buf *b, uint32_t cp)
{
    char u[4];
    size_t n;
    if (cp < 0x80) { u[0] = (char)cp; n = 1; }
    else if (cp < 0x800) { u[0] = (char)(0xC0 | (cp >> 6)); u[1] = (char)(0x80 | (cp & 0x3F)); n = 2; }
    else if (cp < 0x10000) { u[0] = (char)(0xE0 | (cp >> 12)); u[1] = (char)(0x80 | ((cp >> 6) & 0x3F)); u[2] = (char)(0x80 | (cp & 0x3F)); n = 3; }
    else { u[0] = (char)(0xF0 | (cp >> 18)); u[1] = (char)(0x80 | ((cp >> 12) & 0x3F)); u[2] = (char)(0x80 | ((cp >> 6) & 0x3F)); u[3] = (char)(0x80 | (cp & 0x3F)); n = 4; }
    return cw__buf_put(b, u, n);
}

static int read_u4(const char *p, const char *e, uint32_t *v)
{
    if (e - p < 4) return 0;
    uint32_t x = 0;
    for (int i = 0; i < 4; i++) {
        int h = hexval((unsigned char)p[i]);
        if (h < 0) return 0;
        x = x << 4 | (uint32_t)h;
    }
    *v = x;
    return 1;
}

/* Append the unescaped JSON string starting at p (at its opening quote). */
static cw_status json_put_string(cw__buf *b, const char *p, const char *e, int *bad)
{
    for (p++; p < e && *p != '"'; p++) {
        cw_status st;
        if (*p != '\\') { if ((st = cw__buf_put(b, p, 1))) return st; continue; }
        if (++p >= e) break;
        char ch = *p;
        const char *simple = strchr("\"\\/bfnrt", ch);
        if (simple && ch) {
            static const char rep[] = "\"\\/\b\f\n\r\t";
            if ((st = cw__buf_put(b, &rep[simple - "\"\\/bfnrt"], 1))) return st;
            continue;
        }
        uint32_t cp;
        if (ch != 'u' || !read_u4(p + 1, e, &cp)) { *bad = 1; return CW_EINVAL; }
        p += 4;
        if (cp >= 0xD800 && cp < 0xDC00) {
            uint32_t lo;
            if (e - p > 6 && p[1] == '\\' && p[2] == 'u' && read_u4(p + 3, e, &lo) && lo >= 0xDC00 && lo < 0xE000) {
                cp = 0x10000 + ((cp - 0xD800) << 10) + (lo - 0xDC00);
                p += 6;
            }
        }
        if ((st = put_utf8(b, cp))) return st;
    }
    if (p >= e) { *bad = 1; return CW_EINVAL; }
    return CW_OK;
}

static cw_status fmt_jwt(cw_cache *c, cw__buf *out, size_t from, const char *claim)
{
    const char *tok = out->p + from, *end = out->p + out->len;
    const char *d1 = memchr(tok, '.', (size_t)(end - tok));
    const char *d2 = d1 ? memchr(d1 + 1, '.', (size_t)(end - d1 - 1)) : NULL;
    if (!d2) return cw__fail(c, CW_EINVAL, "jwt: the value is not a JWT (header.payload.signature)");
    size_t plen;
    char *payload = b64_decode(d1 + 1, (size_t)(d2 - d1 - 1), &plen);
    if (!payload) return cw__fail(c, CW_EINVAL, "jwt: the payload is not base64");
    out->len = from;
    out->p[from] = 0;
    const char *p = json_ws(payload, payload + plen), *e = payload + plen;
    cw_status st = CW_OK;
    int bad = 0;
    size_t cl = strlen(claim);
    if (p >= e || *p != '{') { bad = 1; goto done; }
    p++;
    for (;;) {
        p = json_ws(p, e);
        if (p < e && *p == '}') break; /* claim absent: "" */
        if (p >= e || *p != '"') { bad = 1; break; }
        const char *ks = p + 1, *ke = json_skip_string(p, e);
        if (!ke) { bad = 1; break; }
        int match = (size_t)(ke - 1 - ks) == cl && memcmp(ks, claim, cl) == 0;
        p = json_ws(ke, e);
        if (p >= e || *p != ':') { bad = 1; break; }
        p = json_ws(p + 1, e);
        const char *ve = json_skip_value(p, e);
        if (!ve) { bad = 1; break; }
        if (match) {
            if (*p == '"') st = json_put_string(out, p, e, &bad);
            else if (strncmp(p, "null", 4) != 0) st = cw__buf_put(out, p, (size_t)(ve - p));
            break;
        }
        p = json_ws(ve, e);
        if (p < e && *p == ',') { p++; continue; }
        if (p < e && *p == '}') break;
        bad = 1;
        break;
    }
done:
    cw_free(payload);
    if (bad) return cw__fail(c, CW_EINVAL, "jwt: the payload is not a JSON object");
    return st;
}

typedef struct ufmt_ctx {
    const cw__seg *s;
    const char *in;
    size_t inlen;
} ufmt_ctx;

static int ufmt_write(void *ctx, char *buf, size_t size)
{
    ufmt_ctx *x = ctx;
    return x->s->ufmt->fn(x->s->ufmt->ud, x->in, x->inlen, (const char *const *)x->s->fargs,
                          x->s->nfargs, buf, size);
}

/* Apply the segment's formatter to out->p[from..len). */
static cw_status apply_fmt(cw__funcs *fx, const cw__seg *s, cw__buf *out, size_t from)
{
    switch (s->fmt) {
    case CW__FMT_NONE: return CW_OK;
    case CW__FMT_LOWER: return fmt_case(out, from, 0);
    case CW__FMT_UPPER: return fmt_case(out, from, 1);
    case CW__FMT_LEN: return fmt_len(out, from);
    case CW__FMT_HASH: return fmt_hash(fx->c, out, from, s->nfargs ? s->fargs[0] : NULL);
    case CW__FMT_JWT: return fmt_jwt(fx->c, out, from, s->fargs[0]);
    case CW__FMT_USER: {
        /* The input is copied out: the formatter writes where it sits. */
        size_t inlen = out->len - from;
        char small[128];
        char *in = inlen < sizeof small ? small : cw_malloc(inlen + 1);
        if (!in) return CW_ENOMEM;
        memcpy(in, out->p + from, inlen);
        in[inlen] = 0;
        out->len = from;
        out->p[from] = 0;
        ufmt_ctx x = { s, in, inlen };
        int bad = 0;
        cw_status st = put_written(out, ufmt_write, &x, &bad);
        if (in != small) cw_free(in);
        if (bad) return cw__fail(fx->c, CW_EINVAL, "formatter \"%s\" failed on \"%.64s\"", s->ufmt->name, s->text);
        return st;
    }
    }
    return CW_EINVAL;
}

/* Backslash-escape glob characters of out->p[from..len) (values inside patterns). */
static cw_status glob_escape_tail(cw__buf *out, size_t from)
{
    size_t extra = 0;
    for (size_t i = from; i < out->len; i++) if (strchr("*?[]\\", out->p[i]) && out->p[i]) extra++;
    if (!extra) return CW_OK;
    if (cw__buf_reserve(out, extra)) return CW_ENOMEM;
    size_t r = out->len, w = out->len + extra;
    out->p[w] = 0;
    while (r > from) {
        char ch = out->p[--r];
        out->p[--w] = ch;
        if (ch && strchr("*?[]\\", ch)) out->p[--w] = '\\';
    }
    out->len += extra;
    return CW_OK;
}

/* ---- formatting ---- */

cw_status cw__tmpl_format(cw__funcs *fx, const cw__tmpl *t, const cw_arg *args, size_t nargs,
                          int glob_escape, cw__buf *out)
{
    for (size_t i = 0; i < t->nsegs; i++) {
        const cw__seg *s = &t->segs[i];
        size_t from = out->len;
        cw_status st;
        if (s->kind == CW__SEG_LIT) {
            st = cw__buf_put(out, s->text, s->tlen);
        } else if (s->kind == CW__SEG_ARG) {
            if (s->arg >= nargs) return cw__fail(fx->c, CW_EINVAL, "argument \"%s\" missing", s->text);
            st = cw__render_arg(fx, &args[s->arg], s->text, s->path, out);
        } else {
            size_t vlen = 0;
            const char *v = cw__key_context_get(fx->c, s->text, s->tlen, &vlen);
            st = v ? cw__buf_put(out, v, vlen) : CW_OK;
        }
        if (st) return st;
        if (s->kind != CW__SEG_LIT) {
            if (s->fmt && (st = apply_fmt(fx, s, out, from))) return st;
            if (glob_escape && (st = glob_escape_tail(out, from))) return st;
        }
    }
    return CW_OK;
}

cw_status cw__tmpl_format_free(cw__funcs *fx, const cw__tmpl *t, cw__free_fn fn, void *ud,
                               cw__buf *out)
{
    for (size_t i = 0; i < t->nsegs; i++) {
        const cw__seg *s = &t->segs[i];
        size_t from = out->len;
        cw_status st;
        if (s->kind == CW__SEG_LIT) {
            st = cw__buf_put(out, s->text, s->tlen);
        } else {
            st = fn(ud, s->text, s->tlen, out);
            if (st == CW_NOTFOUND) st = CW_OK;
            if (!st && s->path) st = cw__fail(fx->c, CW_EINVAL, "field \"%s.%s\": nested fields need an argument", s->text, s->path);
        }
        if (st) return st;
        if (s->kind != CW__SEG_LIT && s->fmt && (st = apply_fmt(fx, s, out, from))) return st;
    }
    return CW_OK;
}

/* ---- parsing ---- */

void cw__tmpl_free(cw__tmpl *t)
{
    if (!t) return;
    for (size_t i = 0; i < t->nsegs; i++) {
        cw__seg *s = &t->segs[i];
        cw_free(s->text);
        cw_free(s->path);
        for (size_t j = 0; j < s->nfargs; j++) cw_free(s->fargs[j]);
        cw_free(s->fargs);
    }
    cw_free(t->segs);
    cw_free(t->src);
    memset(t, 0, sizeof *t);
}

static cw_status add_seg(cw__tmpl *t, size_t *cap, cw__seg **out)
{
    if (t->nsegs == *cap) {
        size_t nc = *cap ? *cap * 2 : 4;
        cw__seg *n = cw_realloc(t->segs, nc * sizeof *n);
        if (!n) return CW_ENOMEM;
        t->segs = n;
        *cap = nc;
    }
    *out = &t->segs[t->nsegs++];
    memset(*out, 0, sizeof **out);
    return CW_OK;
}

static void trim(const char **s, const char **e)
{
    while (*s < *e && isspace((unsigned char)**s)) (*s)++;
    while (*e > *s && isspace((unsigned char)(*e)[-1])) (*e)--;
}

static int is_ident(const char *s, const char *e)
{
    if (s == e) return 0;
    for (const char *p = s; p < e; p++) {
        int ok = isalpha((unsigned char)*p) || *p == '_' || (p != s && isdigit((unsigned char)*p));
        if (!ok) return 0;
    }
    return 1;
}

/* Parse "name" or "name(a, b)" into the segment's formatter. */
static cw_status parse_spec(cw__funcs *fx, const char *src, const char *s, const char *e, cw__seg *seg)
{
    cw_cache *c = fx->c;
    const char *open = memchr(s, '(', (size_t)(e - s));
    const char *ne = open ? open : e;
    trim(&s, &ne);
    if (!is_ident(s, ne))
        return cw__fail(c, CW_EINVAL, "key template \"%s\": bad formatter \"%.*s\"", src, (int)(e - s), s);
    if (open) {
        const char *close = e;
        while (close > open && close[-1] != ')') close--;
        if (close == open || close[-1] != ')')
            return cw__fail(c, CW_EINVAL, "key template \"%s\": formatter \"%.*s\" lacks ')'", src, (int)(ne - s), s);
        const char *a = open + 1, *ae = close - 1;
        trim(&a, &ae);
        /* Empty parentheses mean no arguments; otherwise split on ','. */
        while (a < ae) {
            const char *comma = memchr(a, ',', (size_t)(ae - a));
            const char *pe = comma ? comma : ae, *ps = a;
            trim(&ps, &pe);
            char **n = cw_realloc(seg->fargs, (seg->nfargs + 1) * sizeof *n);
            if (!n) return CW_ENOMEM;
            seg->fargs = n;
            if (!(seg->fargs[seg->nfargs] = cw__strndup(ps, (size_t)(pe - ps)))) return CW_ENOMEM;
            seg->nfargs++;
            if (!comma) break;
            a = comma + 1;
        }
    }
    size_t nl = (size_t)(ne - s);
    /* A registered formatter of the same name replaces a built-in one. */
    for (const cw__ufmt *u = atomic_load_explicit(&fx->fmts, memory_order_acquire); u; u = u->next) {
        if (strlen(u->name) == nl && memcmp(u->name, s, nl) == 0) {
            if (seg->nfargs < u->min_args || seg->nfargs > u->max_args)
                return cw__fail(c, CW_EINVAL, "key template \"%s\": formatter %s takes %zu to %zu arguments, not %zu",
                                src, u->name, u->min_args, u->max_args, seg->nfargs);
            seg->fmt = CW__FMT_USER;
            seg->ufmt = u;
            return CW_OK;
        }
    }
    static const struct { const char *name; uint8_t id; size_t min, max; } builtin[] = {
        { "lower", CW__FMT_LOWER, 0, 0 }, { "upper", CW__FMT_UPPER, 0, 0 },
        { "len", CW__FMT_LEN, 0, 0 },     { "hash", CW__FMT_HASH, 0, 1 },
        { "jwt", CW__FMT_JWT, 1, 1 },
    };
    for (size_t i = 0; i < sizeof builtin / sizeof builtin[0]; i++) {
        if (strlen(builtin[i].name) != nl || memcmp(builtin[i].name, s, nl) != 0) continue;
        if (seg->nfargs < builtin[i].min || seg->nfargs > builtin[i].max)
            return cw__fail(c, CW_EINVAL, "key template \"%s\": formatter %s takes %zu to %zu arguments, not %zu",
                            src, builtin[i].name, builtin[i].min, builtin[i].max, seg->nfargs);
        if (builtin[i].id == CW__FMT_HASH && seg->nfargs && !hash_alg(seg->fargs[0]))
            return cw__fail(c, CW_EINVAL, "key template \"%s\": hash algorithm \"%s\" (md5, sha1 or sha256)", src, seg->fargs[0]);
        if (builtin[i].id == CW__FMT_JWT && !*seg->fargs[0])
            return cw__fail(c, CW_EINVAL, "key template \"%s\": jwt needs a claim name", src);
        seg->fmt = builtin[i].id;
        return CW_OK;
    }
    return cw__fail(c, CW_EINVAL, "key template \"%s\": unknown formatter \"%.*s\"", src, (int)nl, s);
}

static int ctx_registered(cw__funcs *fx, const char *s, size_t n)
{
    int found = 0;
    pthread_mutex_lock(&fx->mu);
    for (size_t i = 0; i < fx->nctx && !found; i++)
        found = strlen(fx->ctx_names[i]) == n && memcmp(fx->ctx_names[i], s, n) == 0;
    pthread_mutex_unlock(&fx->mu);
    return found;
}

static cw_status parse_field(cw__funcs *fx, const char *src, const char *s, const char *e,
                             char *const *names, size_t nnames, int free_fields, cw__seg *seg)
{
    cw_cache *c = fx->c;
    /* name[.path][:spec]: the spec starts at the first ':' (paths never hold one). */
    const char *colon = memchr(s, ':', (size_t)(e - s));
    const char *fe = colon ? colon : e;
    const char *fs = s;
    trim(&fs, &fe);
    const char *dot = memchr(fs, '.', (size_t)(fe - fs));
    const char *ne = dot ? dot : fe;
    if (!is_ident(fs, ne))
        return cw__fail(c, CW_EINVAL, "key template \"%s\": bad field \"{%.*s}\"", src, (int)(e - s), s);
    if (dot && dot + 1 >= fe)
        return cw__fail(c, CW_EINVAL, "key template \"%s\": empty path in \"{%.*s}\"", src, (int)(e - s), s);
    size_t nl = (size_t)(ne - fs);
    if (!(seg->text = cw__strndup(fs, nl))) return CW_ENOMEM;
    seg->tlen = nl;
    if (dot && !(seg->path = cw__strndup(dot + 1, (size_t)(fe - dot - 1)))) return CW_ENOMEM;
    seg->kind = CW__SEG_FREE;
    if (!free_fields) {
        size_t i;
        for (i = 0; i < nnames; i++)
            if (strlen(names[i]) == nl && memcmp(names[i], fs, nl) == 0) break;
        if (i < nnames) {
            seg->kind = CW__SEG_ARG;
            seg->arg = (uint32_t)i;
        } else if (ctx_registered(fx, fs, nl)) {
            seg->kind = CW__SEG_CTX;
            if (seg->path)
                return cw__fail(c, CW_EINVAL, "key template \"%s\": key context \"%s\" has no fields", src, seg->text);
        } else {
            char list[160] = "";
            size_t k = 0;
            for (size_t j = 0; j < nnames && k + 1 < sizeof list; j++)
                k += (size_t)snprintf(list + k, sizeof list - k, "%s%s", j ? ", " : "", names[j]);
            return cw__fail(c, CW_EINVAL, "key template \"%s\": unknown argument \"%s\" (arguments: %s; "
                            "key context names need cw_register_key_context())", src, seg->text, nnames ? list : "none");
        }
    }
    if (colon) return parse_spec(fx, src, colon + 1, e, seg);
    return CW_OK;
}

cw_status cw__tmpl_parse(cw__funcs *fx, const char *src, char *const *names, size_t nnames,
                         int free_fields, cw__tmpl *out)
{
    cw_cache *c = fx->c;
    memset(out, 0, sizeof *out);
    if (!src) return cw__fail(c, CW_EINVAL, "key template is NULL");
    if (!(out->src = cw__strdup(src))) return CW_ENOMEM;
    size_t cap = 0;
    cw__buf lit;
    cw__buf_init(&lit);
    cw_status st = CW_OK;
    const char *p = src;
    for (;;) {
        if (*p == '{' && p[1] == '{') { st = cw__buf_put(&lit, "{", 1); p += 2; }
        else if (*p == '}' && p[1] == '}') { st = cw__buf_put(&lit, "}", 1); p += 2; }
        else if (*p == '}') { st = cw__fail(c, CW_EINVAL, "key template \"%s\": '}' without '{'", src); }
        else if (*p && *p != '{') {
            if (strchr("*?[", *p)) out->has_glob = 1;
            st = cw__buf_put(&lit, p, 1);
            p++;
        } else {
            /* End of text or a field: flush the literal first. */
            cw__seg *seg;
            if (lit.len) {
                if ((st = add_seg(out, &cap, &seg))) break;
                seg->kind = CW__SEG_LIT;
                seg->tlen = lit.len;
                if (!(seg->text = cw__strndup(lit.p, lit.len))) { st = CW_ENOMEM; break; }
                lit.len = 0;
            }
            if (!*p) break;
            const char *close = strchr(p, '}');
            const char *nested = memchr(p + 1, '{', close ? (size_t)(close - p - 1) : strlen(p + 1));
            if (!close || nested) { st = cw__fail(c, CW_EINVAL, "key template \"%s\": unclosed '{'", src); break; }
            if ((st = add_seg(out, &cap, &seg))) break;
            if ((st = parse_field(fx, src, p + 1, close, names, nnames, free_fields, seg))) break;
            p = close + 1;
        }
        if (st) break;
    }
    cw__buf_free(&lit);
    if (st) cw__tmpl_free(out);
    return st;
}
