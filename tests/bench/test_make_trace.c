/*
 * test_make_trace.c - the W3 trace generator (bench/make_trace.c) writes the bytes of the
 * workloads' reference generator (a Python script, not part of this repository): the SHA-256
 * of the reference's output for each argument set below was recorded from it, and the C
 * output was compared with it byte for byte (cmp) for these sets and for the W3 default
 * (--keys 1000000 --length 10000000 --s 0.99 --seed 42: dee2e65b...3cce765).
 */
#include "cw_test.h"

#include <openssl/evp.h>
#include <sys/wait.h>

#ifndef CW_MAKE_TRACE_PATH
#error "CMakeLists.txt passes the generator's path as CW_MAKE_TRACE_PATH"
#endif

static const struct {
    const char *args, *sha256;
} refs[] = {
    { "--keys 1000 --length 5000", "7547001ac72213204070e164873376d133b4534643cad510b2fb182a42ada887" },
    { "--keys 1 --length 10", "2c34ce1df23b838c5abf2a7f6437cca3d3067ed509ff25f11df6b11b582b51eb" },
    { "--keys 77 --length 1000 --s 1.2 --seed 0", "b74b2d0c20e99b7817e8cc096ef4c1b3ba3fdff835b3e8e7f536e3d86f5632c7" },
    { "--keys 100000 --length 200000 --s 0.7 --seed 123456789012",
      "376e67b9da6eb01bf9f25d300106e6bd4e7d582b3f37229074fb3fdec7cabebc" },
    { "--keys 5000 --length 30000 --seed -5", "7aa45e406b5bfe22d2b6891c3a3e2e149ad8eed6cb20de259769e4306657ab36" },
};

static char dir[512];

static int run(const char *out, const char *args)
{
    char cmd[2048];
    snprintf(cmd, sizeof cmd, "%s '%s' %s 2>/dev/null", CW_MAKE_TRACE_PATH, out, args);
    int st = system(cmd);
    return WIFEXITED(st) ? WEXITSTATUS(st) : -1;
}

static int sha256_file(const char *path, char hex[65])
{
    FILE *f = fopen(path, "rb");
    if (!f) return -1;
    EVP_MD_CTX *ctx = EVP_MD_CTX_new();
    unsigned char buf[65536], md[32];
    unsigned int n = 0;
    size_t got;
    int ok = ctx && EVP_DigestInit_ex(ctx, EVP_sha256(), NULL) == 1;
    while (ok && (got = fread(buf, 1, sizeof buf, f)) > 0) ok = EVP_DigestUpdate(ctx, buf, got) == 1;
    ok = ok && EVP_DigestFinal_ex(ctx, md, &n) == 1;
    EVP_MD_CTX_free(ctx);
    fclose(f);
    for (unsigned i = 0; ok && i < n; i++) sprintf(hex + 2 * i, "%02x", md[i]);
    return ok ? 0 : -1;
}

static int same_bytes_as_the_reference(void)
{
    char out[600], hex[65];
    snprintf(out, sizeof out, "%s/trace", dir);
    for (size_t i = 0; i < sizeof refs / sizeof *refs; i++) {
        CHECK_EQ_INT(run(out, refs[i].args), 0);
        CHECK_EQ_INT(sha256_file(out, hex), 0);
        if (strcmp(hex, refs[i].sha256) != 0) fprintf(stderr, "args: %s\n", refs[i].args);
        CHECK_STR(hex, refs[i].sha256);
    }
    /* an option's abbreviation and the --name=value form mean the same */
    CHECK_EQ_INT(run(out, "--k=1000 --len 5000"), 0);
    CHECK_EQ_INT(sha256_file(out, hex), 0);
    CHECK_STR(hex, refs[0].sha256);
    return 0;
}

static int bad_arguments(void)
{
    char out[600];
    snprintf(out, sizeof out, "%s/bad", dir);
    CHECK_EQ_INT(run(out, "--keys 0"), 2);
    CHECK_EQ_INT(run(out, "--length -1"), 2);
    CHECK_EQ_INT(run(out, "--s 0"), 2);
    CHECK_EQ_INT(run(out, "--keys ten"), 2);
    CHECK_EQ_INT(run(out, "--zipf 1"), 2);
    CHECK_EQ_INT(run(out, "--s"), 2); /* no value */
    CHECK_EQ_INT(run("/nonexistent/dir/trace", "--keys 10 --length 10"), 1);
    return 0;
}

static const cw_test tests[] = { CW_TEST(same_bytes_as_the_reference), CW_TEST(bad_arguments), { 0 } };

int main(int argc, char **argv)
{
    if (cw_test_mkdtemp(dir, sizeof dir, "trace") != 0) return 1;
    int rc = cw_test_main(tests, argc, argv);
    cw_test_rmtree(dir);
    return rc;
}
