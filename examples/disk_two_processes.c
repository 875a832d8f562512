/*
 * disk_two_processes.c - one disk:// cache shared by two processes.
 *
 *   ./disk_two_processes [DIRECTORY]     (default: a fresh directory under /tmp)
 *
 * disk:// keeps the cache in SQLite files in a directory, so every process that opens the
 * same directory sees the same entries, and the cache outlives the processes. Here a worker
 * process computes reports into the cache while the parent reads them, and both count page
 * views in one counter: increments are atomic across processes, none is lost.
 */
#define _XOPEN_SOURCE 700
#include <ftw.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/wait.h>
#include <unistd.h>

#include <cashews.h>

enum { REPORTS = 5, VIEWS_EACH = 500 };

static int remove_one(const char *path, const struct stat *sb, int flag, struct FTW *ftw)
{
    (void)sb, (void)flag, (void)ftw;
    return remove(path);
}

/* Each process opens the directory itself: no connection or handle crosses fork(). */
static cw_cache *open_dir(const char *dir)
{
    char url[1024], err[CW_ERRMSG_SIZE] = "";
    snprintf(url, sizeof url, "disk://?directory=%s", dir);
    cw_cache *c = NULL;
    if (cw_cache_new(&c, NULL) != CW_OK) return NULL;
    if (cw_cache_setup(c, url, NULL, err) != CW_OK) {
        fprintf(stderr, "setup %s: %s\n", url, err);
        cw_cache_free(c);
        return NULL;
    }
    return c;
}

static int count_views(cw_cache *c)
{
    for (int i = 0; i < VIEWS_EACH; i++)
        if (cw_incr(c, "views", 1, CW_NO_EXPIRY, NULL) != CW_OK) return 1;
    return 0;
}

static int worker(const char *dir)
{
    cw_cache *c = open_dir(dir);
    if (!c) return 1;
    int rc = 0;
    for (int i = 0; i < REPORTS && !rc; i++) {
        char key[32], val[64];
        snprintf(key, sizeof key, "report:%d", i);
        int n = snprintf(val, sizeof val, "report %d, computed by process %d", i, (int)getpid());
        rc = cw_set(c, key, val, (size_t)n, CW_HOURS(1)) != CW_OK;
    }
    rc = rc || count_views(c);
    cw_cache_free(c);
    return rc;
}

int main(int argc, char **argv)
{
    char dir[256];
    if (argc > 1) snprintf(dir, sizeof dir, "%s", argv[1]);
    else {
        snprintf(dir, sizeof dir, "/tmp/cashews-example-XXXXXX");
        if (!mkdtemp(dir)) return 1;
    }
    cw_cache *c = open_dir(dir); /* creates the files before the worker starts */
    if (!c) return 1;
    fflush(stdout);
    pid_t pid = fork();
    if (pid == 0) _exit(worker(dir));
    int rc = pid < 0 || count_views(c); /* meanwhile, the parent counts views too */
    int status = 1;
    if (pid > 0) waitpid(pid, &status, 0);
    rc = rc || !WIFEXITED(status) || WEXITSTATUS(status) != 0;

    cw_value v = { 0 };
    for (int i = 0; i < REPORTS && !rc; i++) {
        char key[32];
        snprintf(key, sizeof key, "report:%d", i);
        if (cw_get(c, key, &v) != CW_OK) {
            fprintf(stderr, "%s: not in the shared cache\n", key);
            rc = 1;
            break;
        }
        printf("parent reads %s: %.*s\n", key, (int)v.len, (char *)v.data);
    }
    int64_t views = 0;
    if (!rc && cw_incr(c, "views", 0, CW_NO_EXPIRY, &views) == CW_OK) {
        printf("views counted by both processes: %lld (each added %d)\n", (long long)views, VIEWS_EACH);
        rc = views != 2 * VIEWS_EACH;
    }
    cw_value_free(&v);
    cw_cache_free(c);
    if (argc <= 1) /* the directory was ours: the files outlive the cache, so remove them */
        nftw(dir, remove_one, 8, FTW_DEPTH | FTW_PHYS);
    return rc;
}
