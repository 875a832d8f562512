#include "cw_test.h"

#include <errno.h>
#include <ftw.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

int cw_test_main(const cw_test *tests, int argc, char **argv)
{
    int passed = 0, failed = 0;
    setvbuf(stdout, NULL, _IONBF, 0);
    for (const cw_test *t = tests; t->name; t++) {
        if (argc > 1) {
            int wanted = 0;
            for (int i = 1; i < argc; i++)
                if (strcmp(argv[i], t->name) == 0) wanted = 1;
            if (!wanted) continue;
        }
        struct timespec a, b;
        clock_gettime(CLOCK_MONOTONIC, &a);
        int rc = t->fn();
        clock_gettime(CLOCK_MONOTONIC, &b);
        double ms = (b.tv_sec - a.tv_sec) * 1e3 + (b.tv_nsec - a.tv_nsec) / 1e6;
        printf("%s %s (%.1f ms)\n", rc == 0 ? "ok  " : "FAIL", t->name, ms);
        if (rc == 0) passed++; else failed++;
    }
    printf("%d passed, %d failed\n", passed, failed);
    return failed == 0 && passed > 0 ? 0 : 1;
}

int64_t cw_fake_clock_now(void *ud)
{
    return atomic_load(&((cw_fake_clock *)ud)->now_ms);
}

void cw_fake_clock_init(cw_fake_clock *fc)
{
    atomic_store(&fc->now_ms, INT64_C(1767225600000));
}

void cw_fake_clock_advance(cw_fake_clock *fc, int64_t ms)
{
    atomic_fetch_add(&fc->now_ms, ms);
}

int cw_test_mkdtemp(char *buf, size_t size, const char *tag)
{
    const char *base = getenv("CW_TEST_TMPDIR");
    if (!base || !*base) base = "/tmp";
    mkdir(base, 0700);
    int n = snprintf(buf, size, "%s/cw-%s-XXXXXX", base, tag);
    if (n < 0 || (size_t)n >= size) return -1;
    return mkdtemp(buf) ? 0 : -1;
}

static int rm_one(const char *path, const struct stat *sb, int flag, struct FTW *ftw)
{
    (void)sb; (void)flag; (void)ftw;
    return remove(path);
}

void cw_test_rmtree(const char *path)
{
    nftw(path, rm_one, 16, FTW_DEPTH | FTW_PHYS);
}

cw_cache *cw_test_cache(const char *url, const char *const *params)
{
    cw_cache *c = NULL;
    char err[CW_ERRMSG_SIZE] = "";
    cw_setup_options so = { .params = params };
    if (cw_cache_new(&c, NULL) != CW_OK) return NULL;
    if (cw_cache_setup(c, url, &so, err) != CW_OK) {
        fprintf(stderr, "setup %s: %s\n", url, err);
        cw_cache_free(c);
        return NULL;
    }
    return c;
}
