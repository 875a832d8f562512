/* test_version.c - the library reports the version its headers carry (src/core/version.c,
 * cashews/version.h generated from CMake's project version). The installed shared library is
 * checked the same way by tests/install/consumer.c (make test-install). */
#include "cw_test.h"

static int library_matches_headers(void)
{
    CHECK_STR(cw_version(), CW_VERSION);
    CHECK_EQ_INT(cw_version_number(), CW_VERSION_NUMBER);
    return 0;
}

static int parts_agree(void)
{
    char want[64];
    snprintf(want, sizeof want, "%d.%d.%d", CW_VERSION_MAJOR, CW_VERSION_MINOR, CW_VERSION_PATCH);
    CHECK_STR(CW_VERSION, want);
    CHECK_EQ_INT(CW_VERSION_NUMBER,
                 CW_VERSION_MAJOR * 1000000 + CW_VERSION_MINOR * 1000 + CW_VERSION_PATCH);
    CHECK(CW_VERSION_MINOR < 1000 && CW_VERSION_PATCH < 1000);
    return 0;
}

static int at_least(void)
{
#if !CW_VERSION_AT_LEAST(0, 1, 0)
    CHECK(!"CW_VERSION_AT_LEAST(0, 1, 0) is false");
#endif
#if CW_VERSION_AT_LEAST(CW_VERSION_MAJOR, CW_VERSION_MINOR, CW_VERSION_PATCH + 1)
    CHECK(!"CW_VERSION_AT_LEAST(next patch) is true");
#endif
    CHECK(CW_VERSION_AT_LEAST(CW_VERSION_MAJOR, CW_VERSION_MINOR, CW_VERSION_PATCH));
    return 0;
}

/* @needle in the file at @rel from the repository's root (found from this file's path). */
static int file_says(const char *rel, const char *needle)
{
    char path[1024], text[1 << 16];
    snprintf(path, sizeof path, "%s", __FILE__);
    char *cut = strstr(path, "/tests/core/");
    if (!cut) return 0;
    snprintf(cut, sizeof path - (size_t)(cut - path), "/%s", rel);
    FILE *f = fopen(path, "r");
    if (!f) return 0;
    size_t n = fread(text, 1, sizeof text - 1, f);
    fclose(f);
    text[n] = 0;
    return strstr(text, needle) != NULL;
}

/* A version bump cannot forget the README's line or the CHANGELOG's heading. */
static int docs_name_this_version(void)
{
    CHECK(file_says("README.md", "Version " CW_VERSION " ([CHANGELOG.md]"));
    CHECK(file_says("CHANGELOG.md", "\n## [" CW_VERSION "] - "));
    CHECK(file_says("CHANGELOG.md", "\n## [Unreleased]"));
    return 0;
}

static const cw_test tests[] = {
    CW_TEST(library_matches_headers), CW_TEST(parts_agree), CW_TEST(at_least),
    CW_TEST(docs_name_this_version), { 0 }
};

int main(int argc, char **argv) { return cw_test_main(tests, argc, argv); }
