/*
 * test_redis_signing.c - the signed bytes of docs/REDIS.md ("The signed bytes, exactly"),
 * read from the document itself so that the text and the library cannot part: every test
 * vector is recomputed here from the written rules (OpenSSL's HMAC, xxhash, a byte sum), and
 * the library, on a real redis-server, must store exactly signature_payload under the key,
 * read it back, and refuse it once a byte changes.
 */
#include "cw_test.h"
#include "redis_server.h"

#include <openssl/evp.h>
#include <openssl/hmac.h>

#if defined(__has_include)
#if __has_include(<xxhash.h>)
#define XXH_INLINE_ALL
#pragma GCC diagnostic push
#pragma GCC diagnostic ignored "-Warray-bounds"
#include <xxhash.h>
#pragma GCC diagnostic pop
#define HAVE_XXHASH 1
#endif
#endif

static cw_redis_server rs;

typedef struct vector {
    char digest[16], secret[64], key[64], sig[72];
    unsigned char payload[256];
    size_t plen;
} vector;

enum { MAX_VECTORS = 32 };
static vector vecs[MAX_VECTORS];
static int nvecs;

static char *trim(char *s)
{
    while (*s == ' ') s++;
    size_t n = strlen(s);
    while (n && (s[n - 1] == ' ' || s[n - 1] == '\n')) s[--n] = 0;
    return s;
}

static int unhex(const char *h, unsigned char *out, size_t cap, size_t *n)
{
    size_t len = strlen(h);
    if (len % 2 || len / 2 > cap) return -1;
    for (size_t i = 0; i < len / 2; i++) {
        unsigned v;
        if (sscanf(h + 2 * i, "%2x", &v) != 1) return -1;
        out[i] = (unsigned char)v;
    }
    *n = len / 2;
    return 0;
}

/* The rows between the two markers of docs/REDIS.md, found beside this file. */
static int load_vectors(void)
{
    char path[1024];
    snprintf(path, sizeof path, "%s", __FILE__);
    char *slash = strrchr(path, '/');
    if (!slash) return -1;
    snprintf(slash, sizeof path - (size_t)(slash - path), "/../../docs/REDIS.md");
    FILE *f = fopen(path, "r");
    if (!f) {
        fprintf(stderr, "cannot read %s\n", path);
        return -1;
    }
    char line[1024];
    int in = 0;
    while (fgets(line, sizeof line, f) && nvecs < MAX_VECTORS) {
        if (strncmp(line, "<!-- signature-vectors", 22) == 0) { in = 1; continue; }
        if (strncmp(line, "<!-- end of signature-vectors", 29) == 0) break;
        if (!in || line[0] != '|' || strncmp(line, "| digestmod", 11) == 0 || strncmp(line, "|---", 4) == 0)
            continue;
        char *cols[5];
        char *p = line + 1;
        int n = 0;
        for (char *bar; n < 5 && (bar = strchr(p, '|')); p = bar + 1) {
            *bar = 0;
            cols[n++] = trim(p);
        }
        if (n != 5) { fclose(f); return -1; }
        vector *v = &vecs[nvecs++];
        snprintf(v->digest, sizeof v->digest, "%s", cols[0]);
        snprintf(v->secret, sizeof v->secret, "%s", cols[1]);
        snprintf(v->key, sizeof v->key, "%s", cols[2]);
        snprintf(v->sig, sizeof v->sig, "%s", cols[4]);
        if (unhex(cols[3], v->payload, sizeof v->payload, &v->plen) != 0) { fclose(f); return -1; }
    }
    fclose(f);
    return nvecs;
}

/* The signature of docs/REDIS.md, from its rules alone. 0 when the digest is unknown here. */
static size_t spec_signature(const vector *v, char *out)
{
    unsigned char msg[512];
    size_t klen = strlen(v->key), m = 0, slen = strlen(v->secret);
    for (int i = 0; i < 8; i++) msg[m++] = (unsigned char)((uint64_t)klen >> (8 * i));
    memcpy(msg + m, v->key, klen);
    m += klen;
    memcpy(msg + m, v->payload, v->plen);
    m += v->plen;
    if (strcmp(v->digest, "sum") == 0) {
        uint64_t s = 0;
        for (size_t i = 0; i < slen; i++) s += (unsigned char)v->secret[i];
        for (size_t i = 0; i < m; i++) s += msg[i];
        return (size_t)sprintf(out, "%llu", (unsigned long long)s);
    }
    if (strcmp(v->digest, "xxh64") == 0 || strcmp(v->digest, "xxh3") == 0) {
#ifdef HAVE_XXHASH
        unsigned char all[600];
        memcpy(all, v->secret, slen);
        memcpy(all + slen, msg, m);
        uint64_t seed = XXH64(v->secret, slen, 0x63617368657773ULL);
        uint64_t h = v->digest[3] == '6' ? XXH64(all, slen + m, seed)
                                         : XXH3_64bits_withSeed(all, slen + m, seed);
        return (size_t)sprintf(out, "%016llx", (unsigned long long)h);
#else
        return 0;
#endif
    }
    const EVP_MD *md = strcmp(v->digest, "md5") == 0    ? EVP_md5()
                       : strcmp(v->digest, "sha1") == 0 ? EVP_sha1()
                       : strcmp(v->digest, "sha256") == 0 ? EVP_sha256() : NULL;
    if (!md) return 0;
    unsigned char r[EVP_MAX_MD_SIZE];
    unsigned int rl = 0;
    if (!HMAC(md, v->secret, (int)slen, msg, m, r, &rl)) return 0;
    for (unsigned i = 0; i < rl; i++) sprintf(out + 2 * i, "%02x", r[i]);
    return 2 * (size_t)rl;
}

static int vectors_follow_the_rules(void)
{
    CHECK(nvecs >= 10);
    int checked = 0;
    for (int i = 0; i < nvecs; i++) {
        char sig[160] = "";
        size_t n = spec_signature(&vecs[i], sig);
        if (n == 0) continue; /* xxhash's header missing: the library refuses xxh* too */
        CHECK_STR(sig, vecs[i].sig);
        checked++;
    }
    CHECK(checked >= 8);
    return 0;
}

static cw_cache *open_cache(const char *query)
{
    char url[256];
    snprintf(url, sizeof url, "redis://127.0.0.1:%d?suppress=0%s%s", rs.port, *query ? "&" : "", query);
    return cw_test_cache(url, NULL);
}

/* The payload starts with the envelope cw_set writes: write it through cw_set. */
static int is_enveloped(const vector *v)
{
    return v->plen >= 4 && memcmp(v->payload, "\xc5\x01\x00\x00", 4) == 0;
}

static int library_stores_the_vectors(void)
{
    cw_cache *plain = open_cache("");
    CHECK(plain);
    cw_value raw = { 0 }, back = { 0 };
    for (int i = 0; i < nvecs; i++) {
        const vector *v = &vecs[i];
        char q[160];
        snprintf(q, sizeof q, "secret=%s&digestmod=%s", v->secret, v->digest);
        cw_cache *c = open_cache(q);
        if (!c && (strcmp(v->digest, "xxh64") == 0 || strcmp(v->digest, "xxh3") == 0)) continue;
        CHECK(c);
        if (is_enveloped(v))
            CHECK_OK(cw_set(c, v->key, v->payload + 4, v->plen - 4, CW_MINUTES(1)));
        else
            CHECK_OK(cw_set_raw(c, v->key, v->payload, v->plen, CW_MINUTES(1)));
        /* in Redis: signature '_' payload, byte for byte */
        CHECK_OK(cw_get_raw(plain, v->key, &raw));
        size_t slen = strlen(v->sig);
        CHECK_EQ_INT(raw.len, slen + 1 + v->plen);
        CHECK(memcmp(raw.data, v->sig, slen) == 0);
        CHECK_EQ_INT(raw.data[slen], '_');
        CHECK(memcmp(raw.data + slen + 1, v->payload, v->plen) == 0);
        /* bytes written by another program from the rules verify... */
        CHECK_OK(cw_set_raw(plain, v->key, raw.data, raw.len, CW_MINUTES(1)));
        CHECK_OK(cw_get_raw(c, v->key, &back));
        CHECK_EQ_INT(back.len, v->plen);
        CHECK(memcmp(back.data, v->payload, v->plen) == 0);
        /* ...but not under a key of another length... */
        char other[80];
        snprintf(other, sizeof other, "%s:", v->key);
        CHECK_OK(cw_set_raw(plain, other, raw.data, raw.len, CW_MINUTES(1)));
        CHECK_ST(cw_get_raw(c, other, &back), CW_NOTFOUND);
        /* ...nor with one byte of the payload changed */
        if (v->plen) {
            raw.data[raw.len - 1] ^= 1;
            CHECK_OK(cw_set_raw(plain, v->key, raw.data, raw.len, CW_MINUTES(1)));
            CHECK_ST(cw_get_raw(c, v->key, &back), CW_NOTFOUND);
        }
        cw_cache_free(c);
    }
    cw_value_free(&raw);
    cw_value_free(&back);
    cw_cache_free(plain);
    return 0;
}

static const cw_test tests[] = {
    CW_TEST(vectors_follow_the_rules), CW_TEST(library_stores_the_vectors), { 0 }
};

int main(int argc, char **argv)
{
    if (load_vectors() < 0) {
        fprintf(stderr, "test_redis_signing: no vectors in docs/REDIS.md\n");
        printf("0 passed, 1 failed\n");
        return 1;
    }
    if (cw_redis_server_start(&rs, NULL) != 0) {
        printf("0 passed, 1 failed\n");
        return 1;
    }
    int rc = cw_test_main(tests, argc, argv);
    cw_redis_server_stop(&rs);
    return rc;
}
