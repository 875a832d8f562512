/* consumer.c - built against the installed library, by CMake and by pkg-config. */
#include <cashews.h>
#include <stdio.h>
#include <string.h>

int main(void)
{
    /* the shared library loaded at run time is the one these headers describe */
    if (strcmp(cw_version(), CW_VERSION) != 0 || cw_version_number() != CW_VERSION_NUMBER) {
        printf("consumer: headers %s, library %s\n", CW_VERSION, cw_version());
        return 1;
    }
    cw_cache *c = NULL;
    cw_value v = { 0 };
    if (cw_cache_new_default(&c) != CW_OK) return 1;
    if (cw_set(c, "k", "installed", 9, 1000) != CW_OK || cw_get(c, "k", &v) != CW_OK) return 1;
    int ok = v.len == 9 && memcmp(v.data, "installed", 9) == 0;
    printf("consumer: %s\n", ok ? "ok" : "wrong value");
    cw_value_free(&v);
    cw_cache_free(c);
    return ok ? 0 : 1;
}
