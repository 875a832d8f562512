/*
 * types.c - the values of mem:// that are not plain bytes, kept out of line and pointed to
 * from their entry: sets of byte strings (tags) and sliding-window counters (rate limits).
 * Both are only touched under their shard's lock.
 */
#include "mem.h"

/* ---- sets ----------------------------------------------------------------------------------
 * Open addressing over a power-of-two array of member pointers, linear probing, grown at 3/4
 * load, deletion by backward shift (no tombstones), as in the shard index. A member is one
 * allocation: hash, length, the bytes; `next` chains popped members for the caller. */

struct mem_member {
    mem_member *next;
    uint32_t hash;
    uint32_t len;
    char data[];
};

struct mem_set {
    uint32_t count;
    uint32_t mask; /* capacity - 1 */
    uint32_t cursor; /* where set_pop resumes, so repeated pops do not rescan the front */
    uint64_t bytes;  /* member bytes */
    mem_member **slots;
};

enum { SET_INITIAL = 8 };

mem_set *mem_set_new(void)
{
    mem_set *set = cw_calloc(1, sizeof *set);
    if (!set) return NULL;
    set->slots = cw_calloc(SET_INITIAL, sizeof *set->slots);
    if (!set->slots) {
        cw_free(set);
        return NULL;
    }
    set->mask = SET_INITIAL - 1;
    return set;
}

void mem_set_free(mem_set *set)
{
    if (!set) return;
    for (uint32_t i = 0; i <= set->mask; i++) cw_free(set->slots[i]);
    cw_free(set->slots);
    cw_free(set);
}

size_t mem_set_count(const mem_set *set) { return set->count; }
uint64_t mem_set_bytes(const mem_set *set) { return set->bytes; }

static uint32_t set_find(const mem_set *set, uint32_t h, const void *m, size_t len)
{
    for (uint32_t i = h & set->mask;; i = (i + 1) & set->mask) {
        const mem_member *x = set->slots[i];
        if (!x) return UINT32_MAX;
        if (x->hash == h && x->len == len && memcmp(x->data, m, len) == 0) return i;
    }
}

static void set_place(mem_set *set, mem_member *x)
{
    uint32_t i = x->hash & set->mask;
    while (set->slots[i]) i = (i + 1) & set->mask;
    set->slots[i] = x;
}

cw_status mem_set_add(mem_set *set, const void *m, size_t len, int *added)
{
    *added = 0;
    if (len > UINT32_MAX - sizeof(mem_member)) return CW_ETOOBIG;
    uint32_t h = (uint32_t)mem_hash(m, len);
    if (set_find(set, h, m, len) != UINT32_MAX) return CW_OK;
    if ((uint64_t)(set->count + 1) * 4 > (uint64_t)(set->mask + 1) * 3) {
        if (set->mask >= UINT32_MAX / 4) return CW_ENOMEM;
        uint32_t ncap = (set->mask + 1) * 2;
        mem_member **ns = cw_calloc(ncap, sizeof *ns);
        if (!ns) return CW_ENOMEM;
        mem_member **old = set->slots;
        uint32_t ocap = set->mask + 1;
        set->slots = ns;
        set->mask = ncap - 1;
        for (uint32_t i = 0; i < ocap; i++)
            if (old[i]) set_place(set, old[i]);
        cw_free(old);
    }
    mem_member *x = cw_malloc(sizeof *x + len);
    if (!x) return CW_ENOMEM;
    x->next = NULL;
    x->hash = h;
    x->len = (uint32_t)len;
    if (len) memcpy(x->data, m, len);
    set_place(set, x);
    set->count++;
    set->bytes += len;
    *added = 1;
    return CW_OK;
}

/* Empty slot i and shift back the rest of its cluster; returns what was there. */
static mem_member *set_take(mem_set *set, uint32_t i)
{
    mem_member *gone = set->slots[i];
    uint32_t j = i;
    set->slots[i] = NULL;
    for (;;) {
        j = (j + 1) & set->mask;
        mem_member *x = set->slots[j];
        if (!x) break;
        uint32_t k = x->hash & set->mask;
        int stays = i <= j ? (i < k && k <= j) : (i < k || k <= j);
        if (stays) continue;
        set->slots[i] = x;
        set->slots[j] = NULL;
        i = j;
    }
    set->count--;
    set->bytes -= gone->len;
    return gone;
}

int mem_set_del(mem_set *set, const void *m, size_t len)
{
    uint32_t i = set_find(set, (uint32_t)mem_hash(m, len), m, len);
    if (i == UINT32_MAX) return 0;
    cw_free(set_take(set, i));
    return 1;
}

mem_member *mem_set_pop(mem_set *set, size_t max, size_t *popped)
{
    mem_member *head = NULL;
    size_t n = 0;
    uint32_t i = set->cursor & set->mask, scanned = 0;
    /* A shift can move a member into the slot just emptied, so that slot is looked at again;
     * scanned counts only slots passed, and the table has at least one empty slot. */
    while (n < max && set->count && scanned <= set->mask) {
        if (set->slots[i]) {
            mem_member *x = set_take(set, i);
            x->next = head;
            head = x;
            n++;
            continue;
        }
        i = (i + 1) & set->mask;
        scanned++;
    }
    set->cursor = i;
    *popped = n;
    return head;
}

mem_member *mem_member_next(const mem_member *m) { return m->next; }
const char *mem_member_data(const mem_member *m) { return m->data; }
size_t mem_member_len(const mem_member *m) { return m->len; }

void mem_members_free(mem_member *m)
{
    while (m) {
        mem_member *next = m->next;
        cw_free(m);
        m = next;
    }
}

/* ---- sliding windows -----------------------------------------------------------------------
 * The recorded instants in ascending order in one array. A step drops the prefix older than
 * the window (found by binary search), then appends (callers' clocks may interleave, so the
 * new instant is inserted in order, normally at the end). The count never exceeds max_count,
 * so the array stays as small as the limit. */

struct mem_window {
    uint32_t n, cap;
    int64_t t[];
};

mem_window *mem_window_new(void)
{
    mem_window *w = cw_malloc(sizeof *w + 4 * sizeof(int64_t));
    if (!w) return NULL;
    w->n = 0;
    w->cap = 4;
    return w;
}

void mem_window_free(mem_window *w) { cw_free(w); }

uint64_t mem_window_bytes(const mem_window *w) { return (uint64_t)w->n * sizeof(int64_t); }

cw_status mem_window_step(mem_window **wp, int64_t start_ms, int64_t now_ms, int64_t max_count,
                          int64_t *count)
{
    mem_window *w = *wp;
    uint32_t lo = 0, hi = w->n; /* first index with t >= start_ms */
    while (lo < hi) {
        uint32_t mid = lo + (hi - lo) / 2;
        if (w->t[mid] < start_ms) lo = mid + 1;
        else hi = mid;
    }
    if (lo) {
        memmove(w->t, w->t + lo, (size_t)(w->n - lo) * sizeof w->t[0]);
        w->n -= lo;
    }
    if ((int64_t)w->n < max_count && w->n < UINT32_MAX) {
        if (w->n == w->cap) {
            uint32_t ncap = w->cap > UINT32_MAX / 2 ? UINT32_MAX : w->cap * 2;
            mem_window *nw = cw_realloc(w, sizeof *w + (size_t)ncap * sizeof(int64_t));
            if (!nw) {
                *count = w->n;
                return CW_ENOMEM;
            }
            w = *wp = nw;
            w->cap = ncap;
        }
        uint32_t i = w->n;
        while (i > 0 && w->t[i - 1] > now_ms) i--;
        memmove(w->t + i + 1, w->t + i, (size_t)(w->n - i) * sizeof w->t[0]);
        w->t[i] = now_ms;
        w->n++;
    }
    *count = w->n;
    return CW_OK;
}
