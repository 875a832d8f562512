/*
 * alloc.c - the allocator hooks (cw_set_allocators) and cw_value helpers.
 * The hooks are the one process-wide setting, as in hiredis: set once before any cache.
 */
#include <stdlib.h>
#include <string.h>

#include "core/internal.h"

static cw_allocators hooks = { malloc, calloc, realloc, free };

void cw_set_allocators(const cw_allocators *a)
{
    hooks.malloc_fn = a && a->malloc_fn ? a->malloc_fn : malloc;
    hooks.calloc_fn = a && a->calloc_fn ? a->calloc_fn : calloc;
    hooks.realloc_fn = a && a->realloc_fn ? a->realloc_fn : realloc;
    hooks.free_fn = a && a->free_fn ? a->free_fn : free;
}

void *cw_malloc(size_t size) { return hooks.malloc_fn(size ? size : 1); }
void *cw_calloc(size_t n, size_t size) { return hooks.calloc_fn(n ? n : 1, size ? size : 1); }
void *cw_realloc(void *ptr, size_t size) { return hooks.realloc_fn(ptr, size ? size : 1); }
void cw_free(void *ptr) { if (ptr) hooks.free_fn(ptr); }

void cw_value_free(cw_value *v)
{
    if (!v) return;
    cw_free(v->data);
    v->data = NULL;
    v->len = v->cap = 0;
}

cw_status cw_value_set(cw_value *v, const void *data, size_t len)
{
    if (!v || (len && !data)) return CW_EINVAL;
    if (len >= SIZE_MAX - 16) return CW_ENOMEM;
    if (!v->data || v->cap < len + 1) {
        /* Grow geometrically so a reused value settles on one buffer. */
        size_t cap = v->cap > 16 ? v->cap : 16;
        while (cap < len + 1) cap = cap > SIZE_MAX / 2 ? len + 1 : cap * 2;
        unsigned char *p = cw_realloc(v->data, cap);
        if (!p) return CW_ENOMEM;
        v->data = p;
        v->cap = cap;
    }
    if (len) memmove(v->data, data, len);
    v->data[len] = 0;
    v->len = len;
    return CW_OK;
}

cw_status cw_view_to_value(void *ud, const void *data, size_t len)
{
    return cw_value_set(ud, data, len);
}
