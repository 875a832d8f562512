/*
 * xxh.h - xxhash, inlined (header-only use of Debian's libxxhash-dev; no library to link).
 * Include after redis_int.h, which defines CW_REDIS_HAVE_XXHASH when the header exists.
 */
#ifndef CW_REDIS_XXH_H
#define CW_REDIS_XXH_H

#ifdef CW_REDIS_HAVE_XXHASH
#define XXH_STATIC_LINKING_ONLY
#define XXH_INLINE_ALL
/* xxhash's inlined code trips GCC's flow warnings at -O2 (false positives). */
#pragma GCC diagnostic push
#pragma GCC diagnostic ignored "-Warray-bounds"
#ifndef __clang__ /* a GCC-only warning: clang would warn about the unknown name */
#pragma GCC diagnostic ignored "-Wmaybe-uninitialized"
#endif
#include <xxhash.h>
#pragma GCC diagnostic pop
#endif

#endif
