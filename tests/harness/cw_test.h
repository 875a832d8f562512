/*
 * cw_test.h - the in-tree test harness: typed assertions that print both sides, a list of
 * tests per binary, a fake clock, and helpers for temporary directories.
 *
 *   static int ttl_parses(void) { CHECK_EQ_INT(cw_ttl_parse("2h", &ms), CW_OK); return 0; }
 *   static const cw_test tests[] = { CW_TEST(ttl_parses), {0} };
 *   int main(int argc, char **argv) { return cw_test_main(tests, argc, argv); }
 *
 * A test returns 0 on success, non-zero on failure (the CHECK macros return 1 and print
 * where). `./test_x name` runs only the named test. The binary ends with the plain line
 * "N passed, M failed".
 */
#ifndef CW_TEST_H
#define CW_TEST_H

#include <inttypes.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <cashews.h>

typedef struct cw_test {
    const char *name;
    int (*fn)(void);
} cw_test;
#define CW_TEST(fn) { #fn, fn }

int cw_test_main(const cw_test *tests, int argc, char **argv);

#define CHECK(cond) do { if (!(cond)) { fprintf(stderr, "%s:%d: CHECK(%s) failed\n", \
    __FILE__, __LINE__, #cond); return 1; } } while (0)
#define CHECK_EQ_INT(a, b) do { long long a_ = (long long)(a), b_ = (long long)(b); if (a_ != b_) { \
    fprintf(stderr, "%s:%d: %s == %s (%lld vs %lld)\n", __FILE__, __LINE__, #a, #b, a_, b_); \
    return 1; } } while (0)
#define CHECK_NE_INT(a, b) do { long long a_ = (long long)(a), b_ = (long long)(b); if (a_ == b_) { \
    fprintf(stderr, "%s:%d: %s != %s (both %lld)\n", __FILE__, __LINE__, #a, #b, a_); \
    return 1; } } while (0)
/* Status checks print the status names and the thread's last detail message. */
#define CHECK_ST(expr, want) do { int got_ = (int)(expr), want_ = (int)(want); if (got_ != want_) { \
    fprintf(stderr, "%s:%d: %s -> %s (%d), want %s (%d)\n", __FILE__, __LINE__, #expr, \
    cw_strerror(got_), got_, cw_strerror(want_), want_); return 1; } } while (0)
#define CHECK_OK(expr) CHECK_ST(expr, CW_OK)
#define CHECK_STR(a, b) do { const char *a_ = (a), *b_ = (b); if (!a_ || !b_ || strcmp(a_, b_) != 0) { \
    fprintf(stderr, "%s:%d: %s == %s (\"%s\" vs \"%s\")\n", __FILE__, __LINE__, #a, #b, \
    a_ ? a_ : "(null)", b_ ? b_ : "(null)"); return 1; } } while (0)
/* A cw_value holds exactly the NUL-terminated string s. */
#define CHECK_VAL(v, s) do { const char *s_ = (s); size_t n_ = strlen(s_); \
    if ((v).len != n_ || memcmp((v).data, s_, n_) != 0) { fprintf(stderr, \
    "%s:%d: value %s == \"%s\" (got \"%.*s\", %zu bytes)\n", __FILE__, __LINE__, #v, s_, \
    (int)((v).len > 200 ? 200 : (v).len), (v).data ? (const char *)(v).data : "", (v).len); \
    return 1; } } while (0)

/* A fake clock for cw_cache_options.clock: starts at a fixed instant, moves only when told. */
typedef struct cw_fake_clock {
    _Atomic int64_t now_ms;
} cw_fake_clock;
int64_t cw_fake_clock_now(void *ud);
void cw_fake_clock_init(cw_fake_clock *fc);                   /* 2026-01-01T00:00:00Z */
void cw_fake_clock_advance(cw_fake_clock *fc, int64_t ms);

/* Make a fresh empty directory under $CW_TEST_TMPDIR (or /tmp); writes its path to buf. */
int cw_test_mkdtemp(char *buf, size_t size, const char *tag);
/* rm -rf path (best effort). */
void cw_test_rmtree(const char *path);
/* A cache with default options set up from @url (and NULL or name, value, ..., NULL @params);
 * NULL after printing the setup error. Free with cw_cache_free(). */
cw_cache *cw_test_cache(const char *url, const char *const *params);

#endif
