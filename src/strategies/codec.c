/*
 * codec.c - how a cached function's outcome becomes stored bytes and back.
 *
 * The envelope's codec byte says how the payload was written: 0 raw bytes (the default,
 * nothing to do on the hit path), 1 a cached loader error (the payload is its decimal code,
 * the seed's RaiseException for with_exceptions conditions), 128..255 a registered user
 * codec (the seed's register_type). A payload is decoded by the codec it names, whichever
 * function reads it.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "strategies/strategy.h"

cw_status cw__encode(cw__funcs *fx, uint8_t codec, const cw_value *val, cw_value *tmp,
                     const void **data, size_t *len)
{
    if (codec == CW__CODEC_RAW) {
        *data = val->data;
        *len = val->len;
        return CW_OK;
    }
    cw__codec_ent *e = atomic_load_explicit(&fx->codecs[codec], memory_order_acquire);
    if (!e) return cw__fail(fx->c, CW_EINVAL, "codec %u is not registered", (unsigned)codec);
    cw_status st = e->codec.encode(e->codec.ud, val->data, val->len, tmp);
    if (st) return cw__fail(fx->c, st, "codec %s failed to encode", e->name);
    *data = tmp->data;
    *len = tmp->len;
    return CW_OK;
}

cw_status cw__decode(cw__funcs *fx, uint8_t codec, cw_value *v, int *err)
{
    *err = 0;
    if (codec == CW__CODEC_RAW) return CW_OK;
    if (codec == CW__CODEC_ERROR) {
        char *end;
        long code = v->data && v->len ? strtol((const char *)v->data, &end, 10) : 0;
        if (code <= 0 || code > 1000000000L) return CW_NOTFOUND;
        v->len = 0;
        if (v->data) v->data[0] = 0;
        *err = (int)code;
        return CW_OK;
    }
    cw__codec_ent *e = atomic_load_explicit(&fx->codecs[codec], memory_order_acquire);
    if (!e) return CW_NOTFOUND;
    cw_value tmp = { 0 };
    cw_status st = e->codec.decode(e->codec.ud, v->data, v->len, &tmp);
    if (st) {
        cw_value_free(&tmp);
        return st == CW_ENOMEM ? CW_ENOMEM : CW_NOTFOUND;
    }
    cw_value_free(v);
    *v = tmp;
    if (!v->data) {
        /* Keep the promise that data is NUL-terminated when present: empty is {0}. */
        v->len = 0;
    }
    return CW_OK;
}
