/*
 * registry.c - the built-in backend schemes. Users add theirs per cache with
 * cw_cache_register_backend(); nothing here is mutable.
 */
#include <string.h>

#include "core/internal.h"

static const cw_backend_ops *const builtin[] = {
    &cw__mem_ops,
#ifdef CW_HAVE_REDIS
    &cw__redis_ops,
    &cw__rediss_ops,
#endif
#ifdef CW_HAVE_DISK
    &cw__disk_ops,
#endif
};

const cw_backend_ops *cw__builtin_backend(const char *scheme);
const cw_backend_ops *cw__builtin_backend(const char *scheme)
{
    for (size_t i = 0; i < sizeof builtin / sizeof *builtin; i++)
        if (strcmp(builtin[i]->scheme, scheme) == 0) return builtin[i];
    return NULL;
}
