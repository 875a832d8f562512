/*
 * error.c - status names and the per-thread detail of the last failure.
 *
 * A cache handle is shared by many threads, so (unlike sqlite3_errmsg) the detail cannot live
 * in the handle: each thread keeps one slot, tagged with the cache it failed on. Backends
 * write the slot untagged (they do not know the cache); the core claims it right after the
 * failing backend call returns.
 */
#include <stdio.h>

#include "core/internal.h"

#define CW__STATUS_TEXT(name, num, text) [num] = text,
static const char *const status_text[] = { CW_STATUS_TABLE(CW__STATUS_TEXT) };
#undef CW__STATUS_TEXT

const char *cw_strerror(int status)
{
    if (status >= CW_USER_ERROR) return "loader error";
    if (status < 0 || (size_t)status >= sizeof status_text / sizeof *status_text ||
        !status_text[status])
        return "unknown status";
    return status_text[status];
}

static _Thread_local struct {
    const cw_cache *owner;
    char msg[CW_ERRMSG_SIZE];
} last_error;

static void record(const cw_cache *c, cw_status st, const char *fmt, va_list ap)
{
    int n = snprintf(last_error.msg, sizeof last_error.msg, "%s: ", cw_strerror(st));
    if (n < 0 || (size_t)n >= sizeof last_error.msg) n = 0;
    vsnprintf(last_error.msg + n, sizeof last_error.msg - (size_t)n, fmt, ap);
    last_error.owner = c;
}

cw_status cw__fail(const cw_cache *c, cw_status st, const char *fmt, ...)
{
    va_list ap;
    va_start(ap, fmt);
    record(c, st, fmt, ap);
    va_end(ap);
    return st;
}

cw_status cw_backend_fail(cw_status st, const char *fmt, ...)
{
    va_list ap;
    va_start(ap, fmt);
    record(NULL, st, fmt, ap);
    va_end(ap);
    return st;
}

void cw__errmsg_claim(const cw_cache *c)
{
    if (last_error.owner == NULL) last_error.owner = c;
}

void cw__errmsg_copy(char *errbuf)
{
    if (errbuf) snprintf(errbuf, CW_ERRMSG_SIZE, "%s", last_error.msg);
}

const char *cw_cache_errmsg(const cw_cache *c)
{
    return last_error.owner == c && c ? last_error.msg : "";
}

void cw_backend_log(const cw_backend_env *env, cw_log_level level, const char *fmt, ...)
{
    if (!env || !env->log) return;
    char buf[512];
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(buf, sizeof buf, fmt, ap);
    va_end(ap);
    env->log(env->log_ud, level, buf);
}
