/*
 * commands.c - the public commands. Each validates its arguments, routes the key, fills a
 * cw_call and hands it to cw__exec(); cw__backend_exec() at the end of the chain turns the
 * call into the backend op, adding or removing the value envelope, and supplies fallbacks
 * for ops a backend left NULL.
 */
#include <stdlib.h>
#include <string.h>

#include "core/cache_impl.h"

#define STACK_VALUE 1024

static cw_status no_route(cw_cache *c, const char *key)
{
    return cw__fail(c, CW_ESTATE, "no backend for key \"%.64s\": call cw_cache_setup() first", key ? key : "");
}

static cw_status unsupported(const cw_call *call)
{
    return cw__fail(call->c, CW_ENOTSUP, "%s:// does not support %s", call->rt->b->ops->scheme,
                    cw_command_name(call->cmd));
}

/* Strip the envelope of a value in place; values without one are returned as they are. */
static void unwrap(cw_value *v, cw__env_meta *meta)
{
    size_t off;
    cw__env_meta m;
    if (cw__env_parse(v->data, v->len, &m, &off)) {
        memmove(v->data, v->data + off, v->len - off);
        v->len -= off;
        v->data[v->len] = 0;
        if (meta) *meta = m;
    } else if (meta) {
        memset(meta, 0, sizeof *meta);
    }
}

/* Reading a value. Through the backend's view when it has one: the envelope is checked and
 * stripped while the value is copied out of the store, in one copy. */
typedef struct payload_sink {
    cw_value *out;
    cw__env_meta *meta; /* NULL: not wanted */
    int raw;            /* keep the stored bytes as they are */
} payload_sink;

static cw_status put_payload(void *ud, const void *data, size_t len)
{
    const payload_sink *k = ud;
    const unsigned char *d = data;
    size_t off = 0;
    if (!k->raw) {
        cw__env_meta m;
        if (!cw__env_parse(d, len, &m, &off)) {
            off = 0;
            memset(&m, 0, sizeof m);
        }
        if (k->meta) *k->meta = m;
    }
    return cw__value_put(k->out, d + off, len - off);
}

static CW__COLD cw_status put_plain_any(void *ud, const void *data, size_t len)
{
    payload_sink k = { ud, NULL, 0 };
    return put_payload(&k, data, len);
}

/* put_payload for cw_get, the view callback of W1's hot path: a plain header and 16 to 64
 * payload bytes that fit the caller's buffer are copied inline, with no call (so no stack
 * frame); anything else the long way. */
static cw_status put_plain(void *ud, const void *data, size_t len)
{
    cw_value *v = ud;
    const unsigned char *d = data;
    size_t n = len - 4;
    if (len < 4 + 16 || n > 64 || !v->data || v->cap <= n || !cw__env_plain(d)) return put_plain_any(ud, data, len);
    cw__copy(v->data, d + 4, n);
    v->data[n] = 0;
    v->len = n;
    return CW_OK;
}

static cw_status fetch(const cw__route *rt, const char *key, size_t klen, cw_value *out, cw__env_meta *meta,
                       int raw)
{
    if (rt->view) {
        payload_sink k = { out, meta, raw };
        return rt->view(rt->b, key, klen, put_payload, &k);
    }
    cw_status st = rt->b->ops->get(rt->b, key, klen, out);
    if (st == CW_OK && !raw) unwrap(out, meta);
    return st;
}

/* Store val (with an envelope unless raw) through the backend's set. */
static cw_status store(cw_backend *b, const cw__env_meta *meta, int raw, const char *key, size_t klen,
                       const void *val, size_t vlen, int64_t ttl_ms, cw_set_mode mode)
{
    if (raw) return b->ops->set(b, key, klen, val, vlen, ttl_ms, mode);
    unsigned char stackbuf[STACK_VALUE];
    unsigned char hdr[CW__ENV_MAX_HEADER];
    size_t h = cw__env_header(meta, hdr);
    unsigned char *buf = h + vlen <= sizeof stackbuf ? stackbuf : cw_malloc(h + vlen);
    if (!buf) return CW_ENOMEM;
    memcpy(buf, hdr, h);
    if (vlen) memcpy(buf + h, val, vlen);
    cw_status st = b->ops->set(b, key, klen, buf, h + vlen, ttl_ms, mode);
    if (buf != stackbuf) cw_free(buf);
    return st;
}

/* set_many through the backend's batch op: every value wrapped in one buffer. */
static cw_status store_many(const cw_call *call)
{
    cw_backend *b = call->rt->b;
    size_t n = call->n, total = 0;
    unsigned char hdr[CW__ENV_MAX_HEADER];
    size_t h = cw__env_header(call->meta, hdr);
    for (size_t i = 0; i < n; i++) total += h + call->vlens[i];
    unsigned char *buf = cw_malloc(total);
    const void **vals = cw_malloc(n * sizeof *vals);
    size_t *lens = cw_malloc(n * sizeof *lens);
    cw_status st = CW_ENOMEM;
    if (buf && vals && lens) {
        unsigned char *p = buf;
        for (size_t i = 0; i < n; i++) {
            memcpy(p, hdr, h);
            if (call->vlens[i]) memcpy(p + h, call->vals[i], call->vlens[i]);
            vals[i] = p;
            lens[i] = h + call->vlens[i];
            p += lens[i];
        }
        st = b->ops->set_many(b, n, call->keys, call->klens, vals, lens, call->ttl_ms);
    }
    cw_free(buf);
    cw_free(vals);
    cw_free(lens);
    return st;
}

typedef struct unwrap_ctx {
    cw_scan_fn fn;
    void *ud;
    const cw_call *call;
} unwrap_ctx;

/* Scan callback: keep only keys that route to this backend, and unwrap values. */
static int scan_filter(void *ud, const char *key, size_t klen, const void *val, size_t vlen)
{
    unwrap_ctx *u = ud;
    if (cw__route_for(u->call->c, key, klen) != u->call->rt) return 0;
    if (val) {
        size_t off;
        if (cw__env_parse(val, vlen, NULL, &off)) { val = (const char *)val + off; vlen -= off; }
    }
    return u->fn(u->ud, key, klen, val, vlen);
}

typedef struct del_ctx {
    cw_backend *b;
    uint64_t n;
    cw_status st;
} del_ctx;

static int delete_each(void *ud, const char *key, size_t klen, const void *val, size_t vlen)
{
    del_ctx *d = ud;
    cw_status st = d->b->ops->del(d->b, key, klen);
    if (st == CW_OK) d->n++;
    else if (st != CW_NOTFOUND) { d->st = st; return 1; }
    return 0;
}

/* Bit-field counters (cw_get_bitfield: by 0; cw_incr_bitfield). Through the backend's
 * bitfield op (ABI 3) when it has one. Otherwise: reads gather size bits per counter with
 * one get_bits call (atomic, as the op would be); an increment of 1-bit counters by a
 * positive amount sets the bits (they saturate at 1); other increments cannot be made atomic
 * from the older ops and are CW_ENOTSUP. */
static cw_status bitfield_exec(cw_call *call)
{
    cw_backend *b = call->rt->b;
    const cw_backend_ops *ops = b->ops;
    size_t n = call->n;
    unsigned size = call->bit_size;
    int64_t by = call->cmd == CW_CMD_INCR_BITS ? call->by : 0;
    if (ops->abi_version >= 3 && ops->bitfield)
        return ops->bitfield(b, call->key, call->klen, call->idx, n, size, by, call->ttl_ms, call->counters);
    if (by > 0 && size == 1 && ops->set_bits) {
        cw_status st = ops->set_bits(b, call->key, call->klen, call->idx, n, call->ttl_ms);
        for (size_t i = 0; st == CW_OK && i < n; i++) call->counters[i] = 1;
        return st;
    }
    if (by != 0 || !ops->get_bits) return unsupported(call);
    size_t nbits = n * size;
    uint64_t *bidx = cw_malloc(nbits * sizeof *bidx + nbits + 1);
    if (!bidx) return CW_ENOMEM;
    uint8_t *bits = (uint8_t *)(bidx + nbits);
    for (size_t i = 0; i < n; i++)
        for (unsigned k = 0; k < size; k++) bidx[i * size + k] = call->idx[i] * size + k;
    cw_status st = ops->get_bits(b, call->key, call->klen, bidx, nbits, bits);
    for (size_t i = 0; st == CW_OK && i < n; i++) {
        uint64_t v = 0;
        for (unsigned k = 0; k < size; k++) v = v << 1 | (bits[i * size + k] & 1);
        call->counters[i] = v;
    }
    cw_free(bidx);
    return st;
}

cw_status cw__backend_exec(cw_call *call)
{
    cw_backend *b = call->rt ? call->rt->b : NULL;
    const cw_backend_ops *ops = b ? b->ops : NULL;
    cw_status st;
    if (call->result_set) return CW_OK;
    switch (call->cmd) {
    case CW_CMD_GET:
    case CW_CMD_GET_RAW:
        return fetch(call->rt, call->key, call->klen, call->out, call->meta_out, call->raw);
    case CW_CMD_SET:
    case CW_CMD_SET_RAW:
    case CW_CMD_SET_LOCK:
        return store(b, call->meta, call->raw, call->key, call->klen, call->val, call->vlen, call->ttl_ms,
                     call->mode);
    case CW_CMD_GET_MANY:
        if (ops->get_many) {
            st = ops->get_many(b, call->n, call->keys, call->klens, call->outs, call->sts);
        } else {
            st = CW_OK;
            for (size_t i = 0; i < call->n && st == CW_OK; i++) {
                call->sts[i] = ops->get(b, call->keys[i], call->klens[i], &call->outs[i]);
                if (call->sts[i] != CW_OK && call->sts[i] != CW_NOTFOUND) st = call->sts[i];
            }
        }
        for (size_t i = 0; st == CW_OK && i < call->n; i++)
            if (call->sts[i] == CW_OK) unwrap(&call->outs[i], NULL);
        return st;
    case CW_CMD_SET_MANY:
        if (ops->set_many) return store_many(call);
        for (size_t i = 0; i < call->n; i++) {
            st = store(b, call->meta, call->raw, call->keys[i], call->klens[i], call->vals[i], call->vlens[i],
                       call->ttl_ms, CW_SET_ALWAYS);
            if (st) return st;
        }
        return CW_OK;
    case CW_CMD_DELETE:
        return ops->del(b, call->key, call->klen);
    case CW_CMD_DELETE_MANY: {
        uint64_t total = 0;
        if (ops->delete_many) {
            st = ops->delete_many(b, call->n, call->keys, call->klens, &total);
        } else {
            st = CW_OK;
            for (size_t i = 0; i < call->n && st == CW_OK; i++) {
                cw_status s = ops->del(b, call->keys[i], call->klens[i]);
                if (s == CW_OK) total++;
                else if (s != CW_NOTFOUND) st = s;
            }
        }
        *call->u64_out += total;
        return st;
    }
    case CW_CMD_DELETE_MATCH:
        if (ops->delete_match) {
            uint64_t n = 0;
            st = ops->delete_match(b, call->key, call->klen, &n);
            *call->u64_out += n;
            return st;
        } else if (ops->scan) {
            del_ctx d = { b, 0, CW_OK };
            st = ops->scan(b, call->key, call->klen, 100, 0, delete_each, &d);
            *call->u64_out += d.n;
            return st ? st : d.st;
        }
        return unsupported(call);
    case CW_CMD_SCAN:
    case CW_CMD_GET_MATCH: {
        if (!ops->scan) return unsupported(call);
        unwrap_ctx u = { call->fn, call->ud, call };
        return ops->scan(b, call->key, call->klen, call->batch, call->with_values, scan_filter, &u);
    }
    case CW_CMD_EXISTS:
    case CW_CMD_IS_LOCKED:
        if (ops->exists) return ops->exists(b, call->key, call->klen);
        else {
            cw_value tmp = { 0 };
            st = ops->get(b, call->key, call->klen, &tmp);
            cw_value_free(&tmp);
            return st;
        }
    case CW_CMD_INCR:
        if (!ops->incr) return unsupported(call);
        return ops->incr(b, call->key, call->klen, call->by, call->ttl_ms, call->int_out);
    case CW_CMD_EXPIRE:
        if (!ops->expire) return unsupported(call);
        return ops->expire(b, call->key, call->klen, call->ttl_ms);
    case CW_CMD_GET_EXPIRE:
        if (!ops->get_expire) return unsupported(call);
        return ops->get_expire(b, call->key, call->klen, call->int_out);
    case CW_CMD_PING:
        if (!ops->ping) return cw_value_set(call->out, call->klen ? call->key : "PONG", call->klen ? call->klen : 4);
        return ops->ping(b, call->key, call->klen, call->out);
    case CW_CMD_CLEAR:
        if (!ops->clear) return unsupported(call);
        return ops->clear(b);
    case CW_CMD_UNLOCK:
        if (!ops->delete_if_equal) return unsupported(call);
        return ops->delete_if_equal(b, call->key, call->klen, call->val, call->vlen);
    case CW_CMD_GET_KEYS_COUNT: {
        if (!ops->keys_count) return unsupported(call);
        uint64_t n = 0;
        st = ops->keys_count(b, &n);
        *call->u64_out += n;
        return st;
    }
    case CW_CMD_GET_SIZE:
        if (ops->value_size) return ops->value_size(b, call->key, call->klen, call->u64_out);
        else {
            cw_value tmp = { 0 };
            st = ops->get(b, call->key, call->klen, &tmp);
            if (st == CW_OK) *call->u64_out = tmp.len;
            cw_value_free(&tmp);
            return st;
        }
    case CW_CMD_GET_BITS:
        if (call->counters) return bitfield_exec(call);
        if (!ops->get_bits) return unsupported(call);
        return ops->get_bits(b, call->key, call->klen, call->idx, call->n, call->bits);
    case CW_CMD_SET_BITS:
        if (!ops->set_bits) return unsupported(call);
        return ops->set_bits(b, call->key, call->klen, call->idx, call->n, call->ttl_ms);
    case CW_CMD_INCR_BITS:
        return bitfield_exec(call);
    case CW_CMD_SLICE_INCR:
        if (!ops->slice_incr) return unsupported(call);
        return ops->slice_incr(b, call->key, call->klen, call->start_ms, call->now_ms,
                               call->max_count, call->ttl_ms, call->int_out);
    case CW_CMD_SET_ADD:
        if (!ops->set_add) return unsupported(call);
        return ops->set_add(b, call->key, call->klen, call->n, call->keys, call->klens, call->ttl_ms);
    case CW_CMD_SET_REMOVE:
        if (!ops->set_remove) return unsupported(call);
        return ops->set_remove(b, call->key, call->klen, call->n, call->keys, call->klens);
    case CW_CMD_SET_POP:
        if (!ops->set_pop) return unsupported(call);
        return ops->set_pop(b, call->key, call->klen, call->max, call->fn, call->ud, call->popped);
    case CW_CMD__COUNT:
        break;
    }
    return CW_EINVAL;
}

/* ---- single-key commands ---- */

#define BEGIN_KEYED(CMD)                                                   \
    size_t klen;                                                           \
    cw_status st_ = cw__check_key(c, key, &klen);                          \
    if (st_) return st_;                                                   \
    const cw__route *rt = cw__route_for(c, key, klen);                     \
    if (!rt) return no_route(c, key);                                      \
    cw_call call = { .cmd = (CMD), .c = c, .rt = rt, .key = key, .klen = klen }

static cw_status check_value(cw_cache *c, const void *val, size_t len)
{
    if (len && !val) return cw__fail(c, CW_EINVAL, "value is NULL with length %zu", len);
    if (len > c->o.max_value_bytes)
        return cw__fail(c, CW_ETOOBIG, "value of %zu bytes is over max_value_bytes (%zu)", len, c->o.max_value_bytes);
    return CW_OK;
}

static cw_status add_tags(cw_cache *c, const char *key, const char *const *tags, size_t ntags, int64_t ttl_ms)
{
    char buf[512];
    for (size_t i = 0; i < ntags; i++) {
        if (!tags[i] || !*tags[i]) return cw__fail(c, CW_EINVAL, "tag %zu is NULL or empty", i);
        size_t tl = strlen(tags[i]), pl = sizeof CW__TAG_PREFIX - 1;
        char *tk = pl + tl < sizeof buf ? buf : cw_malloc(pl + tl + 1);
        if (!tk) return CW_ENOMEM;
        memcpy(tk, CW__TAG_PREFIX, pl);
        memcpy(tk + pl, tags[i], tl + 1);
        cw_status st = cw_set_add(c, tk, 1, &key, ttl_ms);
        if (tk != buf) cw_free(tk);
        if (st) return st;
    }
    return CW_OK;
}

cw_status cw__set_meta(cw_cache *c, const char *key, const void *val, size_t len,
                       const cw__env_meta *meta, const cw_set_options *o)
{
    cw_set_options d = { .ttl_ms = CW_NO_EXPIRY };
    if (!o) o = &d;
    BEGIN_KEYED(o->raw ? CW_CMD_SET_RAW : CW_CMD_SET);
    cw_status st;
    if ((st = check_value(c, val, len)) || (st = cw__check_ttl(c, o->ttl_ms))) return st;
    if ((unsigned)o->mode > CW_SET_IF_PRESENT) return cw__fail(c, CW_EINVAL, "unknown set mode %d", (int)o->mode);
    if (o->ntags && !o->tags) return cw__fail(c, CW_EINVAL, "ntags is %zu but tags is NULL", o->ntags);
    for (size_t i = 0; i < o->ntags; i++)
        if (!o->tags[i] || !*o->tags[i]) return cw__fail(c, CW_EINVAL, "tag %zu is NULL or empty", i);
    call.val = val;
    call.vlen = len;
    call.ttl_ms = o->ttl_ms;
    call.mode = o->mode;
    call.raw = o->raw;
    call.meta = meta;
    st = cw__exec(&call);
    if (st == CW_OK && o->ntags) st = add_tags(c, key, o->tags, o->ntags, o->ttl_ms);
    return st;
}

cw_status cw_set_ex(cw_cache *c, const char *key, const void *val, size_t len, const cw_set_options *o)
{
    if (!o) return cw__fail(c, CW_EINVAL, "options are NULL");
    return cw__set_meta(c, key, val, len, NULL, o);
}

/*
 * The fast paths of cw_get() and cw_set(). The hot loop of a cache is get and set with no
 * middleware, no thread scope and nothing disabled: then a command is "validate, route, call
 * the op, strip or add the 4-byte envelope", without building a cw_call (W1 in BENCHMARKS.md
 * measures this path). Anything unusual -- bad arguments, a middleware, a scope, a disabled
 * command or backend -- takes the general path, which does the same with every check and
 * error message.
 */
/* Nothing in the way of a short path for cmd: no middleware, no thread scope open anywhere,
 * cmd not disabled. */
static inline int gates_open(const cw_cache *c, cw_command cmd)
{
    return !(atomic_load_explicit(&((cw_cache *)c)->gate, memory_order_relaxed) & (CW__GATE_ALWAYS | CW_CMD_BIT(cmd)));
}

static const cw__route *fast_route(cw_cache *c, cw_command cmd, const char *key, size_t *klen)
{
    if (!c || !key || !gates_open(c, cmd)) return NULL;
    size_t n = strnlen(key, c->o.max_key_bytes + 1);
    if (n == 0 || n > c->o.max_key_bytes) return NULL;
    const cw__route *rt = cw__route_for(c, key, n);
    if (!rt || (atomic_load_explicit(&rt->ctl->disabled, memory_order_relaxed) & CW_CMD_BIT(cmd))) return NULL;
    *klen = n;
    return rt;
}

/* The detail of a backend failure belongs to this cache (see error.c). */
static CW__COLD cw_status claimed(const cw_cache *c, cw_status st)
{
    cw__errmsg_claim(c);
    return st;
}

/* cw_set() when W2's path does not apply. */
static CW__COLD cw_status set_general(cw_cache *c, const char *key, const void *val, size_t len, int64_t ttl_ms)
{
    size_t klen;
    const cw__route *rt;
    if ((val || !len) && (ttl_ms > 0 || ttl_ms == CW_NO_EXPIRY) &&
        (rt = fast_route(c, CW_CMD_SET, key, &klen)) != NULL && len <= c->o.max_value_bytes) {
        cw_status st = store(rt->b, NULL, 0, key, klen, val, len, ttl_ms, CW_SET_ALWAYS);
        return st != CW_OK ? claimed(c, st) : st;
    }
    cw_set_options o = { .ttl_ms = ttl_ms };
    return cw__set_meta(c, key, val, len, NULL, &o);
}

cw_status cw_set(cw_cache *c, const char *key, const void *val, size_t len, int64_t ttl_ms)
{
    /* W2's path, as cw_get's: one default backend, nothing in the way, a value of 16 to 64
     * bytes (wrapped in the plain 4-byte header on the stack, copied inline). Anything else
     * goes the general way. */
    if (!c || !key || !val || len < 16 || len > 64 || !(ttl_ms > 0 || ttl_ms == CW_NO_EXPIRY))
        return set_general(c, key, val, len, ttl_ms);
    size_t klen = strnlen(key, c->o.max_key_bytes + 1); /* first: fewer values live across the call */
    const cw__routes *t;
    if (klen - 1 >= c->o.max_key_bytes || len > c->o.max_value_bytes || !gates_open(c, CW_CMD_SET) ||
        !(t = atomic_load_explicit(&c->routes, memory_order_acquire)) || !t->fast_b)
        return set_general(c, key, val, len, ttl_ms);
    unsigned char buf[4 + 64];
    memcpy(buf, (const unsigned char[4]){ CW__ENV_MAGIC, CW__ENV_VERSION, 0, 0 }, 4);
    cw__copy(buf + 4, val, len);
    cw_status st = t->fast_b->ops->set(t->fast_b, key, klen, buf, 4 + len, ttl_ms, CW_SET_ALWAYS);
    return st != CW_OK ? claimed(c, st) : st;
}

cw_status cw_set_raw(cw_cache *c, const char *key, const void *val, size_t len, int64_t ttl_ms)
{
    cw_set_options o = { .ttl_ms = ttl_ms, .raw = 1 };
    return cw__set_meta(c, key, val, len, NULL, &o);
}

cw_status cw__get_meta(cw_cache *c, const char *key, cw_value *out, cw__env_meta *meta)
{
    BEGIN_KEYED(CW_CMD_GET);
    if (!out) return cw__fail(c, CW_EINVAL, "out is NULL");
    call.out = out;
    call.meta_out = meta;
    return cw__exec(&call);
}

/* cw_get() when W1's path does not apply. */
CW__COLD cw_status cw__get_general(cw_cache *c, const char *key, cw_value *out)
{
    size_t klen;
    const cw__route *rt;
    if (out && (rt = fast_route(c, CW_CMD_GET, key, &klen)) != NULL) {
        cw_status st = fetch(rt, key, klen, out, NULL, 0);
        return st > CW_NOTFOUND ? claimed(c, st) : st;
    }
    return cw__get_meta(c, key, out, NULL);
}

cw_status cw__get_missed(cw_cache *c, const char *key, size_t klen, cw_value *out)
{
    return klen > c->o.max_key_bytes ? cw__get_general(c, key, out) : CW_NOTFOUND;
}

/* cw_get()'s short path on a backend other than mem://: the key's length, the backend's view
 * and an inline copy of a plain value. Apart from cw_get(), so that cw_get() itself needs no
 * frame. */
static CW__NOINLINE cw_status get_view(cw_cache *c, const cw__routes *t, const char *key, cw_value *out)
{
    size_t klen = strnlen(key, c->o.max_key_bytes + 1);
    if (klen - 1 >= c->o.max_key_bytes || !t->fast_view) return cw__get_general(c, key, out); /* (klen: empty or too long) */
    cw_status st = t->fast_view(t->fast_b, key, klen, put_plain, out);
    return st > CW_NOTFOUND ? claimed(c, st) : st;
}

cw_status cw_get(cw_cache *c, const char *key, cw_value *out)
{
    /* W1's path: one default backend, nothing in the way. As few instructions as possible:
     * a get waits on a cache miss, and the CPU starts the next call's misses only once this
     * call's instructions fit in its reorder window (docs/DESIGN.md). On mem:// the backend
     * does the whole read (cw__mem_get); other backends go through get_view. Anything else
     * goes the general way. Every exit is a tail call. */
    const cw__routes *t;
    if (!c || !key || !out || !gates_open(c, CW_CMD_GET) || !(t = atomic_load_explicit(&c->routes, memory_order_acquire)))
        return cw__get_general(c, key, out);
    if (t->fast_get) return t->fast_get(c, t->fast_b, key, out);
    return get_view(c, t, key, out);
}

cw_status cw_get_default(cw_cache *c, const char *key, const void *def, size_t deflen, cw_value *out)
{
    cw_status st = cw__get_meta(c, key, out, NULL);
    if (st == CW_EDISABLED) st = CW_NOTFOUND; /* a disabled get is a miss (the seed's default) */
    if (st == CW_NOTFOUND) {
        cw_status s2 = cw_value_set(out, def, deflen);
        if (s2) return s2;
    }
    return st;
}

/* get_or_set's miss: store what the default is and keep it in out. A store the seed would
 * let pass silently (disabled, or not stored by a backend that suppresses an outage) is not
 * a failure. */
static cw_status store_default(cw_cache *c, const char *key, int64_t ttl_ms, cw_value *out)
{
    cw_status st = cw_set(c, key, out->data, out->len, ttl_ms);
    return st == CW_EDISABLED || st == CW_NOTSTORED ? CW_OK : st;
}

/* The get of get_or_set: CW_OK (hit), CW_NOTFOUND (miss, a disabled get included), or a
 * failure. Arguments checked first, so that a bad TTL fails before any default is made. */
static cw_status get_for_default(cw_cache *c, const char *key, int64_t ttl_ms, cw_value *out)
{
    cw_status st = cw__check_ttl(c, ttl_ms);
    if (st) return st;
    if (!out) return cw__fail(c, CW_EINVAL, "out is NULL");
    st = cw_get(c, key, out);
    return st == CW_EDISABLED ? CW_NOTFOUND : st;
}

cw_status cw_get_or_set(cw_cache *c, const char *key, const void *def, size_t deflen, int64_t ttl_ms,
                        cw_value *out)
{
    cw_status st = get_for_default(c, key, ttl_ms, out);
    if (st != CW_NOTFOUND) return st;
    if (deflen && !def) return cw__fail(c, CW_EINVAL, "default is NULL with length %zu", deflen);
    if ((st = cw_value_set(out, def, deflen))) return st;
    return store_default(c, key, ttl_ms, out);
}

cw_status cw_get_or_set_fn(cw_cache *c, const char *key, cw_default_fn fn, void *ud, int64_t ttl_ms,
                           cw_value *out)
{
    if (!fn) return cw__fail(c, CW_EINVAL, "default function is NULL");
    cw_status st = get_for_default(c, key, ttl_ms, out);
    if (st != CW_NOTFOUND) return st;
    out->len = 0;
    if (out->data) out->data[0] = 0;
    if ((st = fn(ud, key, out))) return st;
    return store_default(c, key, ttl_ms, out);
}

cw_status cw_get_raw(cw_cache *c, const char *key, cw_value *out)
{
    BEGIN_KEYED(CW_CMD_GET_RAW);
    if (!out) return cw__fail(c, CW_EINVAL, "out is NULL");
    call.out = out;
    call.raw = 1;
    return cw__exec(&call);
}

cw_status cw_exists(cw_cache *c, const char *key)
{
    BEGIN_KEYED(CW_CMD_EXISTS);
    return cw__exec(&call);
}

cw_status cw_incr(cw_cache *c, const char *key, int64_t by, int64_t ttl_ms, int64_t *result)
{
    BEGIN_KEYED(CW_CMD_INCR);
    cw_status st = cw__check_ttl(c, ttl_ms);
    if (st) return st;
    int64_t tmp;
    call.by = by;
    call.ttl_ms = ttl_ms;
    call.int_out = result ? result : &tmp;
    return cw__exec(&call);
}

/* Tell the removal hook (tag sets) about a key a delete removed or did not find. */
static void removed(cw_cache *c, const char *key, size_t klen)
{
    cw__remove_fn fn = atomic_load_explicit(&c->on_remove, memory_order_acquire);
    if (fn) fn(c->on_remove_ud, c, key, klen);
}

cw_status cw_delete(cw_cache *c, const char *key)
{
    BEGIN_KEYED(CW_CMD_DELETE);
    cw_status st = cw__exec(&call);
    if (st == CW_OK || st == CW_NOTFOUND) removed(c, key, klen);
    return st;
}

cw_status cw_expire(cw_cache *c, const char *key, int64_t ttl_ms)
{
    BEGIN_KEYED(CW_CMD_EXPIRE);
    cw_status st = cw__check_ttl(c, ttl_ms);
    if (st) return st;
    call.ttl_ms = ttl_ms;
    return cw__exec(&call);
}

cw_status cw_get_expire(cw_cache *c, const char *key, int64_t *ttl_ms)
{
    BEGIN_KEYED(CW_CMD_GET_EXPIRE);
    if (!ttl_ms) return cw__fail(c, CW_EINVAL, "ttl_ms is NULL");
    call.int_out = ttl_ms;
    cw_status st = cw__exec(&call);
    if (st == CW_NOTFOUND) { *ttl_ms = -2; return CW_OK; }
    return st;
}

cw_status cw_get_size(cw_cache *c, const char *key, uint64_t *size)
{
    BEGIN_KEYED(CW_CMD_GET_SIZE);
    if (!size) return cw__fail(c, CW_EINVAL, "size is NULL");
    call.u64_out = size;
    return cw__exec(&call);
}

cw_status cw_set_lock(cw_cache *c, const char *key, const void *val, size_t len, int64_t ttl_ms)
{
    BEGIN_KEYED(CW_CMD_SET_LOCK);
    cw_status st;
    if ((st = check_value(c, val, len)) || (st = cw__check_ttl(c, ttl_ms))) return st;
    call.val = val;
    call.vlen = len;
    call.ttl_ms = ttl_ms;
    call.mode = CW_SET_IF_ABSENT;
    call.raw = 1;
    return cw__exec(&call);
}

cw_status cw_unlock(cw_cache *c, const char *key, const void *val, size_t len)
{
    BEGIN_KEYED(CW_CMD_UNLOCK);
    cw_status st = check_value(c, val, len);
    if (st) return st;
    call.val = val;
    call.vlen = len;
    return cw__exec(&call);
}

cw_status cw_set_bits(cw_cache *c, const char *key, const uint64_t *idx, size_t n, int64_t ttl_ms)
{
    BEGIN_KEYED(CW_CMD_SET_BITS);
    cw_status st = cw__check_ttl(c, ttl_ms);
    if (st) return st;
    if (n && !idx) return cw__fail(c, CW_EINVAL, "idx is NULL");
    call.idx = idx;
    call.n = n;
    call.ttl_ms = ttl_ms;
    return cw__exec(&call);
}

cw_status cw_get_bits(cw_cache *c, const char *key, const uint64_t *idx, size_t n, uint8_t *bits_out)
{
    BEGIN_KEYED(CW_CMD_GET_BITS);
    if (n && (!idx || !bits_out)) return cw__fail(c, CW_EINVAL, "idx or bits_out is NULL");
    call.idx = idx;
    call.n = n;
    call.bits = bits_out;
    return cw__exec(&call);
}

/* Arguments of the bit-field commands: size 1..63, every counter inside Redis's 2^32 bits. */
static cw_status check_bitfield(cw_cache *c, const uint64_t *idx, size_t n, unsigned size)
{
    if (size < 1 || size > 63) return cw__fail(c, CW_EINVAL, "bit-field counters have 1 to 63 bits, not %u", size);
    if (n && !idx) return cw__fail(c, CW_EINVAL, "idx is NULL");
    for (size_t i = 0; i < n; i++)
        if (idx[i] > (UINT64_C(1) << 32) / size - 1)
            return cw__fail(c, CW_EINVAL, "counter %llu of %u bits ends past bit 2^32 - 1",
                            (unsigned long long)idx[i], size);
    return CW_OK;
}

cw_status cw_get_bitfield(cw_cache *c, const char *key, const uint64_t *idx, size_t n, unsigned size,
                          uint64_t *counters)
{
    BEGIN_KEYED(CW_CMD_GET_BITS);
    cw_status st = check_bitfield(c, idx, n, size);
    if (st) return st;
    if (n && !counters) return cw__fail(c, CW_EINVAL, "counters is NULL");
    uint64_t none;
    call.idx = idx;
    call.n = n;
    call.bit_size = size;
    call.counters = counters ? counters : &none;
    return cw__exec(&call);
}

cw_status cw_incr_bitfield(cw_cache *c, const char *key, const uint64_t *idx, size_t n, unsigned size,
                           int64_t by, int64_t ttl_ms, uint64_t *counters)
{
    BEGIN_KEYED(CW_CMD_INCR_BITS);
    cw_status st = cw__check_ttl(c, ttl_ms);
    if (st || (st = check_bitfield(c, idx, n, size))) return st;
    uint64_t stack[16], *vals = counters;
    if (!vals) vals = n <= 16 ? stack : cw_malloc(n * sizeof *vals);
    if (!vals) return CW_ENOMEM;
    call.idx = idx;
    call.n = n;
    call.bit_size = size;
    call.by = by;
    call.ttl_ms = ttl_ms;
    call.counters = n ? vals : stack;
    st = cw__exec(&call);
    if (vals != counters && vals != stack) cw_free(vals);
    return st;
}

cw_status cw_slice_incr(cw_cache *c, const char *key, int64_t window_ms, int64_t max_count,
                        int64_t ttl_ms, int64_t *count)
{
    BEGIN_KEYED(CW_CMD_SLICE_INCR);
    cw_status st = cw__check_ttl(c, ttl_ms);
    if (st) return st;
    if (window_ms <= 0 || max_count <= 0 || !count)
        return cw__fail(c, CW_EINVAL, "slice_incr needs window_ms > 0, max_count > 0 and count");
    call.now_ms = cw_cache_now_ms(c);
    call.start_ms = call.now_ms - window_ms;
    call.max_count = max_count;
    call.ttl_ms = ttl_ms;
    call.int_out = count;
    return cw__exec(&call);
}

/* Members are NUL-terminated strings; their lengths go in a small array. */
static cw_status member_lens(cw_cache *c, size_t n, const char *const *members, size_t *stack, size_t **lens)
{
    if (n && !members) return cw__fail(c, CW_EINVAL, "members is NULL");
    *lens = n <= 16 ? stack : cw_malloc(n * sizeof **lens);
    if (!*lens) return CW_ENOMEM;
    for (size_t i = 0; i < n; i++) {
        if (!members[i]) { if (*lens != stack) cw_free(*lens); return cw__fail(c, CW_EINVAL, "member %zu is NULL", i); }
        (*lens)[i] = strlen(members[i]);
    }
    return CW_OK;
}

cw_status cw_set_add(cw_cache *c, const char *key, size_t n, const char *const *members, int64_t ttl_ms)
{
    BEGIN_KEYED(CW_CMD_SET_ADD);
    size_t stack[16], *lens;
    cw_status st = cw__check_ttl(c, ttl_ms);
    if (st || (st = member_lens(c, n, members, stack, &lens))) return st;
    call.n = n;
    call.keys = members;
    call.klens = lens;
    call.ttl_ms = ttl_ms;
    st = cw__exec(&call);
    if (lens != stack) cw_free(lens);
    return st;
}

cw_status cw_set_remove(cw_cache *c, const char *key, size_t n, const char *const *members)
{
    BEGIN_KEYED(CW_CMD_SET_REMOVE);
    size_t stack[16], *lens;
    cw_status st = member_lens(c, n, members, stack, &lens);
    if (st) return st;
    call.n = n;
    call.keys = members;
    call.klens = lens;
    st = cw__exec(&call);
    if (lens != stack) cw_free(lens);
    return st;
}

cw_status cw_set_pop(cw_cache *c, const char *key, size_t max, cw_scan_fn fn, void *ud, size_t *popped)
{
    BEGIN_KEYED(CW_CMD_SET_POP);
    size_t tmp = 0;
    if (!fn) return cw__fail(c, CW_EINVAL, "callback is NULL");
    call.max = max;
    call.fn = fn;
    call.ud = ud;
    call.popped = popped ? popped : &tmp;
    *call.popped = 0;
    return cw__exec(&call);
}

/* ---- batch commands: group by route, one call per backend ---- */

/*
 * Validate every key (and value, when @vals), then hand each run of consecutive keys that
 * route to one backend to cw__exec() as one call built from @tmpl, its arrays offset to the
 * run. Keys of one backend that are not consecutive make separate calls: order is kept,
 * which is what callers of get_many read their results by.
 */
static cw_status exec_batch(cw_cache *c, size_t n, const char *const *keys, const void *const *vals,
                            const size_t *lens, const cw_call *tmpl)
{
    size_t stack[32];
    size_t *klens = n <= 32 ? stack : cw_malloc(n * sizeof *klens);
    if (!klens) return CW_ENOMEM;
    cw_status st = CW_OK;
    for (size_t i = 0; i < n && st == CW_OK; i++) {
        st = cw__check_key(c, keys[i], &klens[i]);
        if (st == CW_OK && vals) st = check_value(c, vals[i], lens[i]);
    }
    for (size_t i = 0; i < n && st == CW_OK;) {
        const cw__route *rt = cw__route_for(c, keys[i], klens[i]);
        if (!rt) { st = no_route(c, keys[i]); break; }
        size_t j = i + 1;
        while (j < n && cw__route_for(c, keys[j], klens[j]) == rt) j++;
        cw_call call = *tmpl;
        call.rt = rt;
        call.key = keys[i];
        call.klen = klens[i];
        call.n = j - i;
        call.keys = keys + i;
        call.klens = klens + i;
        if (call.vals) { call.vals += i; call.vlens += i; }
        if (call.outs) { call.outs += i; call.sts += i; }
        st = cw__exec(&call);
        if (st == CW_EDISABLED && call.cmd == CW_CMD_GET_MANY) st = CW_OK; /* misses: sts stay NOTFOUND */
        i = j;
    }
    if (klens != stack) cw_free(klens);
    return st;
}

cw_status cw_get_many(cw_cache *c, size_t n, const char *const *keys, cw_value *outs, cw_status *sts)
{
    if (!c || (n && (!keys || !outs || !sts))) return cw__fail(c, CW_EINVAL, "NULL argument");
    for (size_t i = 0; i < n; i++) sts[i] = CW_NOTFOUND;
    cw_call tmpl = { .cmd = CW_CMD_GET_MANY, .c = c, .outs = outs, .sts = sts };
    return exec_batch(c, n, keys, NULL, NULL, &tmpl);
}

cw_status cw_set_many(cw_cache *c, size_t n, const char *const *keys, const void *const *vals,
                      const size_t *lens, int64_t ttl_ms)
{
    if (!c || (n && (!keys || !vals || !lens))) return cw__fail(c, CW_EINVAL, "NULL argument");
    cw_status st = cw__check_ttl(c, ttl_ms);
    if (st) return st;
    cw_call tmpl = { .cmd = CW_CMD_SET_MANY, .c = c, .vals = vals, .vlens = lens, .ttl_ms = ttl_ms };
    return exec_batch(c, n, keys, vals, lens, &tmpl);
}

cw_status cw_delete_many(cw_cache *c, size_t n, const char *const *keys, uint64_t *deleted)
{
    if (!c || (n && !keys)) return cw__fail(c, CW_EINVAL, "NULL argument");
    uint64_t total = 0;
    cw_call tmpl = { .cmd = CW_CMD_DELETE_MANY, .c = c, .u64_out = &total };
    cw_status st = exec_batch(c, n, keys, NULL, NULL, &tmpl);
    if (deleted) *deleted = total;
    for (size_t i = 0; st == CW_OK && i < n; i++) removed(c, keys[i], strlen(keys[i]));
    return st;
}

/* ---- commands over every backend ---- */

static cw__routes *all_routes(cw_cache *c)
{
    return atomic_load_explicit(&c->routes, memory_order_acquire);
}

/* cmd is disabled globally or by a scope of this thread for every backend (not only on
 * some backends). */
static int disabled_everywhere(const cw_cache *c, cw_command cmd)
{
    return (atomic_load(&((cw_cache *)c)->gate) & CW_CMD_BIT(cmd)) || cw__scope_disabled(c, NULL, cmd);
}

static cw_status each_backend(cw_cache *c, cw_call *tmpl)
{
    cw__routes *t = all_routes(c);
    if (!t) return cw__fail(c, CW_ESTATE, "no backend: call cw_cache_setup() first");
    cw_status first = CW_OK;
    for (size_t i = 0; i < t->n; i++) {
        cw_call call = *tmpl;
        call.rt = &t->r[i];
        cw_status st = cw__exec(&call);
        if (st == CW_EDISABLED && !disabled_everywhere(c, call.cmd)) continue; /* skip that backend */
        if (st && !first) first = st;
    }
    return first;
}

static cw_status check_pattern(cw_cache *c, const char *pattern, size_t *plen)
{
    return cw__check_key(c, pattern, plen);
}

cw_status cw_get_match(cw_cache *c, const char *pattern, size_t batch_size, cw_scan_fn fn, void *ud)
{
    size_t plen;
    cw_status st = check_pattern(c, pattern, &plen);
    if (st) return st;
    if (!fn) return cw__fail(c, CW_EINVAL, "callback is NULL");
    cw_call call = { .cmd = CW_CMD_GET_MATCH, .c = c, .key = pattern, .klen = plen,
                     .batch = batch_size ? batch_size : 100, .with_values = 1, .fn = fn, .ud = ud };
    return each_backend(c, &call);
}

cw_status cw_scan(cw_cache *c, const char *pattern, size_t batch_size, cw_scan_fn fn, void *ud)
{
    size_t plen;
    cw_status st = check_pattern(c, pattern, &plen);
    if (st) return st;
    if (!fn) return cw__fail(c, CW_EINVAL, "callback is NULL");
    cw_call call = { .cmd = CW_CMD_SCAN, .c = c, .key = pattern, .klen = plen,
                     .batch = batch_size ? batch_size : 100, .fn = fn, .ud = ud };
    return each_backend(c, &call);
}

static int tell_removed(void *ud, const char *key, size_t klen, const void *val, size_t vlen)
{
    removed(ud, key, klen);
    return 0;
}

cw_status cw_delete_match(cw_cache *c, const char *pattern, uint64_t *deleted)
{
    size_t plen;
    uint64_t total = 0;
    cw_status st = check_pattern(c, pattern, &plen);
    if (st) return st;
    cw_call call = { .cmd = CW_CMD_DELETE_MATCH, .c = c, .key = pattern, .klen = plen, .u64_out = &total };
    if (atomic_load_explicit(&c->on_remove, memory_order_acquire) && cw_cache_is_enabled(c, CW_CMD_DELETE_MATCH) &&
        (st = cw_scan(c, pattern, 100, tell_removed, c)) != CW_OK)
        return st;
    st = each_backend(c, &call);
    if (deleted) *deleted = total;
    return st;
}

cw_status cw_clear(cw_cache *c)
{
    if (!c) return CW_EINVAL;
    cw_call call = { .cmd = CW_CMD_CLEAR, .c = c };
    return each_backend(c, &call);
}

cw_status cw_get_keys_count(cw_cache *c, uint64_t *count)
{
    if (!c || !count) return cw__fail(c, CW_EINVAL, "NULL argument");
    uint64_t total = 0;
    cw_call call = { .cmd = CW_CMD_GET_KEYS_COUNT, .c = c, .u64_out = &total };
    cw_status st = each_backend(c, &call);
    *count = total;
    return st;
}

cw_status cw_ping(cw_cache *c, const char *msg, cw_value *out)
{
    if (!c || !out) return cw__fail(c, CW_EINVAL, "NULL argument");
    cw__routes *t = all_routes(c);
    if (!t) return cw__fail(c, CW_ESTATE, "no backend: call cw_cache_setup() first");
    /* The default backend (empty prefix, last in the table) answers. */
    cw_call call = { .cmd = CW_CMD_PING, .c = c, .rt = &t->r[t->n - 1], .key = msg,
                     .klen = msg ? strlen(msg) : 0, .out = out };
    return cw__exec(&call);
}

