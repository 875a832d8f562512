/* test_glob.c - Redis glob rules of src/core/glob.c. */
#include "cw_test.h"

static int m(const char *p, const char *s) { return cw_glob_match(p, strlen(p), s, strlen(s)); }

#define YES(p, s) do { if (!m(p, s)) { fprintf(stderr, "%s should match %s\n", p, s); return 1; } } while (0)
#define NO(p, s) do { if (m(p, s)) { fprintf(stderr, "%s should not match %s\n", p, s); return 1; } } while (0)

static int glob_star_question(void)
{
    YES("*", ""); YES("*", "anything"); YES("user:*", "user:"); YES("user:*", "user:42");
    NO("user:*", "user"); YES("*:1", "a:b:1"); NO("*:1", "a:b:12");
    YES("a*b*c", "abc"); YES("a*b*c", "aXXbYYc"); NO("a*b*c", "aXXbYY");
    YES("?", "x"); NO("?", ""); NO("?", "xy"); YES("u?er", "user"); YES("**a", "a");
    YES("a*a*a*a*a*a*a*b", "aaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaab");
    NO("a*a*a*a*a*a*a*b", "aaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaa");
    YES("", ""); NO("", "a");
    return 0;
}

static int glob_classes(void)
{
    YES("[abc]", "b"); NO("[abc]", "d"); YES("[a-c]x", "bx"); NO("[a-c]x", "dx");
    YES("[c-a]", "b"); /* reversed range, as Redis */
    YES("[^a]", "b"); NO("[^a]", "a");
    /* Redis's stringmatchlen() has only '^': '!' is an ordinary member */
    NO("[!a]", "b"); YES("[!a]", "!"); YES("[!a]", "a");
    YES("h[ae]llo", "hello"); YES("h[ae]llo", "hallo"); NO("h[ae]llo", "hillo");
    NO("[]]", "]"); NO("[]", "a"); YES("[^]", "a"); /* "[]" is an empty class */
    YES("[\\]]", "]"); YES("[a\\-z]", "-"); NO("[a\\-z]", "b");
    YES("[a-]", "_"); NO("[a-]", "b");   /* a range may end at ']' (0x5d..0x61) */
    YES("[b-\\z]", "a"); YES("[b-\\z]", "z"); /* ... or at '\\' (0x5c..0x62), then z */
    YES("[abc", "a"); NO("[", "a");      /* unterminated: closed at the end, as Redis */
    return 0;
}

static int glob_escape(void)
{
    YES("a\\*b", "a*b"); NO("a\\*b", "axb"); YES("\\?", "?"); NO("\\?", "x");
    YES("\\[x]", "[x]"); YES("a\\\\b", "a\\b"); YES("x\\", "x\\");
    return 0;
}

static int glob_binary(void)
{
    CHECK(cw_glob_match("a?c", 3, "a\0c", 3));
    CHECK(!cw_glob_match("a*", 2, NULL, 1));
    CHECK(cw_glob_match("*", 1, NULL, 0));
    return 0;
}

static const cw_test tests[] = {
    CW_TEST(glob_star_question), CW_TEST(glob_classes), CW_TEST(glob_escape), CW_TEST(glob_binary), { 0 }
};

int main(int argc, char **argv) { return cw_test_main(tests, argc, argv); }
