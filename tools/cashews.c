/*
 * cashews.c - the `cashews` command-line tool: look inside a cache from the shell.
 *
 *   cashews keys  URL [PATTERN]   keys matching PATTERN (default *), with TTL and stored size
 *   cashews get   URL KEY         one value, its layers decoded (signature, compression,
 *                                 envelope) and its payload
 *   cashews del   URL PATTERN     delete the keys matching PATTERN; prints how many
 *   cashews stats URL [PATTERN]   counts and sizes over the keys, by layer
 *   cashews envelope [--key K]    the layers of the bytes given on stdin
 *   cashews version
 *
 * URL is the one the application uses: redis://, rediss:// or disk:// (mem:// lives inside
 * one process and cannot be seen from outside). Its secret= (or hash_key=) and digestmod= are
 * used to check signatures, --secret and --digestmod override them; the backend itself is
 * opened without them and without compress_type=, so that the tool reads the bytes exactly as
 * stored and takes them apart with cw_describe_stored() (include/cashews/inspect.h).
 * Exit status: 0 done, 1 a failure or a missing key (the reason on stderr), 2 bad usage.
 */
#define _POSIX_C_SOURCE 200809L
#include <errno.h>
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <time.h>

#include <cashews.h>

#define MAX_STDIN_BYTES ((size_t)512 << 20)
#define SHOW_BYTES 256

static const char usage[] =
    "usage: cashews [--secret S] [--digestmod D] [--full] COMMAND ...\n"
    "  keys  URL [PATTERN]   list the keys matching PATTERN (Redis glob, default *) with TTLs\n"
    "  get   URL KEY         show a value: signature, compression, envelope and payload\n"
    "  del   URL PATTERN     delete the keys matching PATTERN (\"*\" for all the cache owns)\n"
    "  stats URL [PATTERN]   counts and sizes of the keys, by layer\n"
    "  envelope [--key K]    describe the stored bytes given on stdin\n"
    "  version               the library's version\n"
    "URL: redis://host:port/db?..., rediss://..., disk:///abs/dir (the application's own URL;\n"
    "its secret= and digestmod= check signatures). --full prints whole payloads (else the\n"
    "first 256 bytes).\n";

typedef struct tool {
    cw_cache *c;
    int is_disk;
    int full;
    const char *secret;    /* from --secret, or the URL's secret=/hash_key= */
    const char *digestmod; /* from --digestmod, or the URL's digestmod= */
    cw_url url;            /* the parsed URL: owns the strings above that came from it */
} tool;

static int fail(const char *fmt, const char *a, const char *b)
{
    fprintf(stderr, "cashews: ");
    fprintf(stderr, fmt, a, b);
    fputc('\n', stderr);
    return 1;
}

static int cache_fail(const tool *t, const char *what, cw_status st)
{
    const char *detail = cw_cache_errmsg(t->c);
    fprintf(stderr, "cashews: %s: %s%s%s\n", what, cw_strerror(st), *detail ? ": " : "", detail);
    return 1;
}

/* ---- opening the backend ------------------------------------------------------------------ */

/* Parameters dropped from the URL: the tool reads the stored bytes, not the decoded value. */
static const char *const value_params[] = { "secret", "hash_key", "digestmod", "compress_type",
                                            "compress_level", "compress_min_size", NULL };

static int is_value_param(const char *p, size_t n)
{
    for (int i = 0; value_params[i]; i++)
        if (strlen(value_params[i]) == n && memcmp(p, value_params[i], n) == 0) return 1;
    return 0;
}

/* A copy of @url without the value parameters (malloc'd; NULL when out of memory). */
static char *strip_value_params(const char *url)
{
    char *out = malloc(strlen(url) + 1);
    if (!out) return NULL;
    const char *q = strchr(url, '?');
    size_t n = q ? (size_t)(q - url) : strlen(url);
    memcpy(out, url, n);
    out[n] = 0;
    char sep = '?';
    for (const char *p = q ? q + 1 : NULL; p && *p;) {
        const char *end = strchr(p, '&');
        size_t len = end ? (size_t)(end - p) : strlen(p);
        const char *eq = memchr(p, '=', len);
        if (len && !is_value_param(p, eq ? (size_t)(eq - p) : len)) {
            out[n++] = sep;
            memcpy(out + n, p, len);
            n += len;
            out[n] = 0;
            sep = '&';
        }
        p = end ? end + 1 : NULL;
    }
    return out;
}

static const char *param(cw_url *u, const char *name)
{
    const char *v = NULL;
    cw_url_take_str(u, name, &v);
    return v;
}

static int open_tool(tool *t, const char *url_text)
{
    char err[CW_ERRMSG_SIZE] = "";
    if (cw_url_parse(url_text, NULL, &t->url, err) != CW_OK) return fail("%s%s", err, "");
    const char *scheme = t->url.scheme;
    t->is_disk = strcmp(scheme, "disk") == 0;
    int is_redis = strcmp(scheme, "redis") == 0 || strcmp(scheme, "rediss") == 0;
    if (strcmp(scheme, "mem") == 0)
        return fail("%s%s", "mem:// lives inside one process: there is nothing to look at from "
                    "outside it (use a redis:// or disk:// URL)", "");
    if (!t->is_disk && !is_redis) return fail("unknown scheme \"%s\": redis, rediss or disk%s", scheme, "");
    if (!t->secret) t->secret = param(&t->url, "secret");
    if (!t->secret) t->secret = param(&t->url, "hash_key");
    if (!t->digestmod) t->digestmod = param(&t->url, "digestmod");
    if (t->is_disk) {
        /* never create a directory (or a private temporary one) just to look at it */
        const char *dir = param(&t->url, "directory");
        char path[4096];
        if (dir && *dir) snprintf(path, sizeof path, "%s", dir);
        else if (t->url.path[0]) snprintf(path, sizeof path, "/%s", t->url.path); /* disk:///abs */
        else return fail("%s%s", "disk:// needs its directory: disk:///abs/dir or ?directory=DIR", "");
        struct stat sb;
        if (stat(path, &sb) != 0 || !S_ISDIR(sb.st_mode)) return fail("disk: no directory %s%s", path, "");
    }
    char *stripped = strip_value_params(url_text);
    if (!stripped) return fail("%s%s", "out of memory", "");
    static const char *const redis_defaults[] = { "suppress", "0", NULL };
    cw_setup_options so = { .params = is_redis ? redis_defaults : NULL };
    cw_status st = cw_cache_new(&t->c, NULL);
    if (st == CW_OK) st = cw_cache_setup(t->c, stripped, &so, err);
    free(stripped);
    if (st != CW_OK) return fail("%s%s", *err ? err : cw_strerror(st), "");
    return 0;
}

static void close_tool(tool *t)
{
    cw_cache_free(t->c);
    cw_url_free(&t->url);
}

/* ---- printing ------------------------------------------------------------------------------ */

/* Bytes as a quoted C-like string: printable ASCII as is, the rest as escapes. */
static void print_bytes(FILE *f, const unsigned char *p, size_t n, size_t limit)
{
    size_t shown = n < limit ? n : limit;
    fputc('"', f);
    for (size_t i = 0; i < shown; i++) {
        unsigned char ch = p[i];
        if (ch == '"' || ch == '\\') fprintf(f, "\\%c", ch);
        else if (ch == '\n') fputs("\\n", f);
        else if (ch == '\t') fputs("\\t", f);
        else if (ch >= 0x20 && ch < 0x7f) fputc(ch, f);
        else fprintf(f, "\\x%02x", ch);
    }
    fputc('"', f);
    if (shown < n) fprintf(f, " ... (%zu more bytes; --full shows them)", n - shown);
}

static void format_ttl(int64_t ms, char *buf, size_t size)
{
    if (ms == -1) snprintf(buf, size, "no expiry");
    else if (ms < 0) snprintf(buf, size, "gone");
    else if (ms < 60000) snprintf(buf, size, "%.3fs", (double)ms / 1000);
    else if (ms < 3600000) snprintf(buf, size, "%dm%02ds", (int)(ms / 60000), (int)(ms / 1000 % 60));
    else if (ms < 86400000) snprintf(buf, size, "%dh%02dm%02ds", (int)(ms / 3600000), (int)(ms / 60000 % 60), (int)(ms / 1000 % 60));
    else snprintf(buf, size, "%dd%02dh%02dm", (int)(ms / 86400000), (int)(ms / 3600000 % 24), (int)(ms / 60000 % 60));
}

static void format_time(int64_t ms, char *buf, size_t size)
{
    time_t s = (time_t)(ms / 1000);
    struct tm tm;
    if (!gmtime_r(&s, &tm) || strftime(buf, size, "%Y-%m-%d %H:%M:%S", &tm) == 0) {
        snprintf(buf, size, "%" PRId64 " ms", ms);
        return;
    }
    size_t n = strlen(buf);
    snprintf(buf + n, size - n, ".%03d UTC", (int)(ms % 1000));
}

static const char *codec_kind(unsigned codec)
{
    if (codec == 0) return "raw bytes";
    if (codec == 1) return "a cached loader error";
    return codec < 128 ? "a library codec" : "a user codec (cw_register_codec)";
}

/* What a signature-shaped prefix of n characters would be. */
static const char *digest_by_length(size_t n)
{
    switch (n) {
    case 16: return "xxh64 or xxh3";
    case 32: return "md5";
    case 40: return "sha1";
    case 64: return "sha256";
    default: return "sum";
    }
}

static void print_layers(const tool *t, const cw_stored_info *in, const cw_value *payload, size_t stored)
{
    printf("stored       %zu bytes\n", stored);
    switch (in->signature) {
    case CW_SIG_NONE: printf("signature    none\n"); break;
    case CW_SIG_COUNTER: printf("signature    none: a counter (decimal integers are stored unsigned)\n"); break;
    case CW_SIG_VALID:
        printf("signature    valid (%s, %zu characters)\n", t->digestmod ? t->digestmod : "md5", in->signature_len);
        break;
    case CW_SIG_INVALID:
        printf("signature    INVALID for this key and secret (%s): a reader sees a miss\n",
               t->digestmod ? t->digestmod : "md5");
        break;
    default:
        printf("signature    not checked: %zu characters, as %s gives (--secret or the URL's secret= checks it)\n",
               in->signature_len, digest_by_length(in->signature_len));
    }
    if (in->compression == CW_COMPRESSION_NONE) printf("compression  none\n");
    else if (in->decompressed_len)
        printf("compression  %s: %zu bytes inflate to %zu\n", cw_compression_name(in->compression),
               in->compressed_len, in->decompressed_len);
    else printf("compression  %s: %zu bytes, not inflated\n", cw_compression_name(in->compression), in->compressed_len);
    if (!in->has_envelope) {
        printf("envelope     none (a raw value: cw_set_raw, a counter, another client)\n");
    } else {
        printf("envelope     v%u, codec %u (%s)\n", in->envelope_version, in->codec, codec_kind(in->codec));
        char when[64];
        if (in->created_ms) {
            format_time(in->created_ms, when, sizeof when);
            printf("created      %s\n", when);
        }
        if (in->refresh_at_ms) {
            format_time(in->refresh_at_ms, when, sizeof when);
            printf("refresh at   %s (early/soft strategies recompute then)\n", when);
        }
    }
    printf("payload      %zu bytes\n", in->payload_len);
    if (payload) {
        fputs("  ", stdout);
        print_bytes(stdout, payload->data, payload->len, t->full ? SIZE_MAX : SHOW_BYTES);
        fputc('\n', stdout);
    }
}

/* ---- keys ------------------------------------------------------------------------------------ */

typedef struct key_list {
    char **keys;
    size_t *lens;
    size_t n, cap;
    int oom;
} key_list;

static int collect(void *ud, const char *key, size_t klen, const void *val, size_t vlen)
{
    (void)val, (void)vlen;
    key_list *l = ud;
    if (l->n == l->cap) {
        size_t cap = l->cap ? l->cap * 2 : 256;
        char **k = realloc(l->keys, cap * sizeof *k);
        if (k) l->keys = k;
        size_t *n = k ? realloc(l->lens, cap * sizeof *n) : NULL;
        if (n) l->lens = n;
        if (!k || !n) { l->oom = 1; return 1; }
        l->cap = cap;
    }
    char *copy = malloc(klen + 1);
    if (!copy) { l->oom = 1; return 1; }
    memcpy(copy, key, klen);
    copy[klen] = 0;
    l->keys[l->n] = copy;
    l->lens[l->n++] = klen;
    return 0;
}

static key_list *sort_base;
static int by_key(const void *a, const void *b)
{
    size_t i = *(const size_t *)a, j = *(const size_t *)b;
    size_t li = sort_base->lens[i], lj = sort_base->lens[j];
    int c = memcmp(sort_base->keys[i], sort_base->keys[j], li < lj ? li : lj);
    return c ? c : (li > lj) - (li < lj);
}

static void free_keys(key_list *l)
{
    for (size_t i = 0; i < l->n; i++) free(l->keys[i]);
    free(l->keys);
    free(l->lens);
}

/* The keys matching pattern, in byte order: order[] indexes l. */
static int list_keys(tool *t, const char *pattern, key_list *l, size_t **order)
{
    cw_status st = cw_scan(t->c, pattern, 500, collect, l);
    if (l->oom) return fail("%s%s", "out of memory", "");
    if (st != CW_OK) return cache_fail(t, "scan", st);
    *order = malloc((l->n ? l->n : 1) * sizeof **order);
    if (!*order) return fail("%s%s", "out of memory", "");
    for (size_t i = 0; i < l->n; i++) (*order)[i] = i;
    sort_base = l;
    qsort(*order, l->n, sizeof **order, by_key);
    return 0;
}

static int cmd_keys(tool *t, const char *pattern)
{
    key_list l = { 0 };
    size_t *order = NULL;
    int rc = list_keys(t, pattern, &l, &order);
    if (rc == 0) {
        printf("%-14s %10s  %s\n", "TTL", "BYTES", "KEY");
        for (size_t i = 0; i < l.n; i++) {
            const char *k = l.keys[order[i]];
            int64_t ttl = -2;
            uint64_t size = 0;
            char ttls[32], sizes[24];
            if (cw_get_expire(t->c, k, &ttl) != CW_OK) ttl = -2;
            format_ttl(ttl, ttls, sizeof ttls);
            if (cw_get_size(t->c, k, &size) == CW_OK) snprintf(sizes, sizeof sizes, "%" PRIu64, size);
            else snprintf(sizes, sizeof sizes, "-"); /* a set, a bitmap, a window: not a value */
            printf("%-14s %10s  ", ttls, sizes);
            print_bytes(stdout, (const unsigned char *)k, l.lens[order[i]], SIZE_MAX);
            fputc('\n', stdout);
        }
        printf("%zu key%s\n", l.n, l.n == 1 ? "" : "s");
    }
    free(order);
    free_keys(&l);
    return rc;
}

/* ---- get / envelope ------------------------------------------------------------------------- */

static int describe(tool *t, const char *key, const cw_value *raw)
{
    cw_describe_options o = { .secret = t->secret, .digestmod = t->digestmod, .key = key };
    cw_stored_info in;
    cw_value payload = { 0 };
    cw_status st = cw_describe_stored(raw->data, raw->len, &o, &in, &payload);
    if (st == CW_EINVAL && t->secret && !key) {
        return fail("%s%s", "checking a signature needs the key it was stored under: --key K", "");
    }
    if (st == CW_EINVAL) return fail("cannot check signatures with digestmod \"%s\"%s", t->digestmod ? t->digestmod : "md5", "");
    if (st != CW_OK && st != CW_ECORRUPT) return fail("%s%s", cw_strerror(st), "");
    print_layers(t, &in, st == CW_OK ? &payload : NULL, raw->len);
    if (st == CW_ECORRUPT) printf("             the compressed data inflates past 512 MiB: corrupt for a reader\n");
    cw_value_free(&payload);
    return st == CW_OK ? 0 : 1;
}

static int cmd_get(tool *t, const char *key)
{
    cw_value raw = { 0 };
    cw_status st = cw_get_raw(t->c, key, &raw);
    if (st == CW_NOTFOUND) return fail("no key %s%s", key, "");
    if (st == CW_ETYPE) return fail("%s holds another kind of value (a set, a bitmap or a sliding window of a strategy)%s", key, "");
    if (st != CW_OK) return cache_fail(t, "get", st);
    int64_t ttl = -2;
    char ttls[32];
    if (cw_get_expire(t->c, key, &ttl) != CW_OK) ttl = -2;
    format_ttl(ttl, ttls, sizeof ttls);
    printf("key          ");
    print_bytes(stdout, (const unsigned char *)key, strlen(key), SIZE_MAX);
    printf("\nttl          %s\n", ttls);
    int rc = describe(t, key, &raw);
    cw_value_free(&raw);
    return rc;
}

static int cmd_envelope(tool *t, const char *key)
{
    cw_value raw = { 0 };
    size_t cap = 0;
    for (;;) {
        if (raw.len == cap) {
            if (cap > MAX_STDIN_BYTES) { cw_value_free(&raw); return fail("%s%s", "stdin: more than 512 MiB", ""); }
            cap = cap ? cap * 2 : 65536;
            unsigned char *p = realloc(raw.data, cap);
            if (!p) { free(raw.data); return fail("%s%s", "out of memory", ""); }
            raw.data = p;
        }
        size_t got = fread(raw.data + raw.len, 1, cap - raw.len, stdin);
        raw.len += got;
        if (got == 0) break;
    }
    if (ferror(stdin)) { free(raw.data); return fail("stdin: %s%s", strerror(errno), ""); }
    int rc = describe(t, key, &raw);
    free(raw.data); /* malloc'd here, not by the library */
    return rc;
}

/* ---- del / stats ------------------------------------------------------------------------------ */

static int cmd_del(tool *t, const char *pattern)
{
    uint64_t n = 0;
    cw_status st = cw_delete_match(t->c, pattern, &n);
    if (st != CW_OK) return cache_fail(t, "delete", st);
    printf("deleted %" PRIu64 " key%s\n", n, n == 1 ? "" : "s");
    return 0;
}

typedef struct tally {
    uint64_t keys, values, others, stored_bytes, payload_bytes, with_ttl, no_ttl;
    uint64_t enveloped, raw, sig[5], comp[4], codec_user, codec_error;
} tally;

static void tally_key(tool *t, const char *key, tally *s, cw_value *raw)
{
    s->keys++;
    int64_t ttl = -2;
    if (cw_get_expire(t->c, key, &ttl) == CW_OK && ttl != -2) {
        if (ttl == -1) s->no_ttl++;
        else s->with_ttl++;
    }
    if (cw_get_raw(t->c, key, raw) != CW_OK) {
        s->others++;
        return;
    }
    cw_describe_options o = { .secret = t->secret, .digestmod = t->digestmod, .key = key };
    cw_stored_info in;
    if (cw_describe_stored(raw->data, raw->len, &o, &in, NULL) != CW_OK) memset(&in, 0, sizeof in);
    s->values++;
    s->stored_bytes += raw->len;
    s->payload_bytes += in.payload_len;
    if ((unsigned)in.signature < 5) s->sig[in.signature]++;
    if ((unsigned)in.compression < 4) s->comp[in.compression]++;
    if (in.has_envelope) {
        s->enveloped++;
        if (in.codec == 1) s->codec_error++;
        if (in.codec >= 128) s->codec_user++;
    } else {
        s->raw++;
    }
}

static void print_disk_stats(tool *t)
{
#ifdef CW_HAVE_DISK
    cw_disk_stats ds;
    if (!t->is_disk || cw_disk_get_stats(cw_cache_backend(t->c, NULL), &ds) != CW_OK) return;
    printf("disk         %u shard files in %s, %" PRIu64 " of %" PRIu64 " bytes used, policy %s\n",
           ds.shards, ds.directory, ds.bytes, ds.size_limit, ds.policy);
    printf("evictions    %" PRIu64 " since the files were made (every process)\n", ds.evictions_total);
#else
    (void)t;
#endif
}

static int cmd_stats(tool *t, const char *pattern)
{
    key_list l = { 0 };
    size_t *order = NULL;
    int rc = list_keys(t, pattern, &l, &order);
    if (rc == 0) {
        tally s = { 0 };
        cw_value raw = { 0 };
        for (size_t i = 0; i < l.n; i++) tally_key(t, l.keys[i], &s, &raw);
        cw_value_free(&raw);
        uint64_t total = 0;
        cw_status st = cw_get_keys_count(t->c, &total);
        printf("keys         %" PRIu64 " matching %s", s.keys, pattern);
        if (st == CW_OK) printf(" (the backend counts %" PRIu64 " in all)", total);
        printf("\nttl          %" PRIu64 " expiring, %" PRIu64 " without expiry\n", s.with_ttl, s.no_ttl);
        printf("values       %" PRIu64 " (%" PRIu64 " bytes stored, %" PRIu64 " bytes of payload); %" PRIu64
               " other kinds (sets, bitmaps, windows)\n", s.values, s.stored_bytes, s.payload_bytes, s.others);
        printf("envelope     %" PRIu64 " with (%" PRIu64 " cached errors, %" PRIu64 " user codecs), %" PRIu64 " raw\n",
               s.enveloped, s.codec_error, s.codec_user, s.raw);
        printf("signature    %" PRIu64 " valid, %" PRIu64 " INVALID, %" PRIu64 " not checked, %" PRIu64
               " counters, %" PRIu64 " none\n", s.sig[CW_SIG_VALID], s.sig[CW_SIG_INVALID],
               s.sig[CW_SIG_UNCHECKED], s.sig[CW_SIG_COUNTER], s.sig[CW_SIG_NONE]);
        printf("compression  %" PRIu64 " gzip, %" PRIu64 " zlib, %" PRIu64 " zstd, %" PRIu64 " none\n",
               s.comp[CW_COMPRESSION_GZIP], s.comp[CW_COMPRESSION_ZLIB], s.comp[CW_COMPRESSION_ZSTD],
               s.comp[CW_COMPRESSION_NONE]);
        print_disk_stats(t);
    }
    free(order);
    free_keys(&l);
    return rc;
}

/* ---- main -------------------------------------------------------------------------------------- */

static int run(tool *t, int argc, char **argv)
{
    const char *cmd = argv[0];
    if (strcmp(cmd, "version") == 0 && argc == 1) {
        printf("cashews %s (headers %s)\n", cw_version(), CW_VERSION);
        return 0;
    }
    if (strcmp(cmd, "envelope") == 0) {
        const char *key = NULL;
        if (argc == 3 && strcmp(argv[1], "--key") == 0) key = argv[2];
        else if (argc != 1) return 2;
        return cmd_envelope(t, key);
    }
    int needs_arg = strcmp(cmd, "get") == 0 || strcmp(cmd, "del") == 0;
    int known = needs_arg || strcmp(cmd, "keys") == 0 || strcmp(cmd, "stats") == 0;
    if (!known || argc < 2 + needs_arg || argc > 3) return 2;
    if (open_tool(t, argv[1]) != 0) return 1;
    const char *arg = argc == 3 ? argv[2] : "*";
    if (strcmp(cmd, "keys") == 0) return cmd_keys(t, arg);
    if (strcmp(cmd, "get") == 0) return cmd_get(t, arg);
    if (strcmp(cmd, "del") == 0) return cmd_del(t, arg);
    return cmd_stats(t, arg);
}

int main(int argc, char **argv)
{
    tool t = { 0 };
    int i = 1;
    for (; i < argc && strncmp(argv[i], "--", 2) == 0; i++) {
        if (strcmp(argv[i], "--full") == 0) t.full = 1;
        else if (strcmp(argv[i], "--secret") == 0 && i + 1 < argc) t.secret = argv[++i];
        else if (strcmp(argv[i], "--digestmod") == 0 && i + 1 < argc) t.digestmod = argv[++i];
        else if (strcmp(argv[i], "--help") == 0) { fputs(usage, stdout); return 0; }
        else break;
    }
    if (i == argc) {
        fputs(usage, stderr);
        return 2;
    }
    int rc = run(&t, argc - i, argv + i);
    if (rc == 2) fputs(usage, stderr);
    close_tool(&t);
    return rc;
}
