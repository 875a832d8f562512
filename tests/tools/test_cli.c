/*
 * test_cli.c - the `cashews` command-line tool (tools/cashews.c), run as a user runs it,
 * against a real redis-server (the harness's) holding this application's values (signed,
 * compressed, counters, raw) beside another application's key, and against a disk://
 * directory written by a cached function; plus bytes on stdin and the usage errors.
 */
#include "cw_test.h"
#include "redis_server.h"

#include <stdarg.h>
#include <sys/stat.h>
#include <sys/wait.h>

#ifndef CW_CLI_PATH
#error "CMakeLists.txt passes the tool's path as CW_CLI_PATH"
#endif

static cw_redis_server rs;
static char out[65536];

/* Run `cashews ARGS` through the shell; its stdout (and stderr) in out; its exit status. */
static int cli(const char *fmt, ...)
{
    char args[2048], cmd[4096];
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(args, sizeof args, fmt, ap);
    va_end(ap);
    snprintf(cmd, sizeof cmd, "%s %s 2>&1", CW_CLI_PATH, args);
    FILE *p = popen(cmd, "r");
    if (!p) return -1;
    size_t n = fread(out, 1, sizeof out - 1, p);
    out[n] = 0;
    int status = pclose(p);
    return WIFEXITED(status) ? WEXITSTATUS(status) : -1;
}

/* The line of out that contains @needle, copied to line (so that two facts can be checked on
 * one line); 0 when there is none. */
static int line_with(const char *needle, char *line, size_t size)
{
    const char *hit = strstr(out, needle);
    if (!hit) return 0;
    const char *start = hit, *end = strchr(hit, '\n');
    while (start > out && start[-1] != '\n') start--;
    size_t n = end ? (size_t)(end - start) : strlen(start);
    snprintf(line, size, "%.*s", (int)(n < size ? n : size - 1), start);
    return 1;
}

#define CHECK_OUT(needle) do { if (!strstr(out, needle)) { \
    fprintf(stderr, "%s:%d: output lacks \"%s\":\n%s\n", __FILE__, __LINE__, needle, out); return 1; } } while (0)

static char app_url[256], plain_url[128];

/* The application: signed (md5), zstd above 64 bytes; and another application's key. */
static int redis_fixture(void)
{
    char tmp[64];
    if (cw_redis_cli(&rs, tmp, sizeof tmp, "FLUSHALL", NULL) != 0) return 1;
    if (cw_redis_cli(&rs, tmp, sizeof tmp, "SET", "billing:7", "paid", NULL) != 0) return 1;
    cw_cache *c = cw_test_cache(app_url, NULL);
    CHECK(c);
    char big[4000];
    memset(big, 'x', sizeof big);
    CHECK_OK(cw_set(c, "user:1", "alice", 5, CW_MINUTES(10)));
    CHECK_OK(cw_set(c, "user:2", "bob", 3, CW_MINUTES(10)));
    CHECK_OK(cw_set(c, "page:home", big, sizeof big, CW_HOURS(2)));
    CHECK_OK(cw_incr(c, "visits", 3, CW_NO_EXPIRY, NULL));
    cw_cache_free(c);
    return 0;
}

static int redis_keys(void)
{
    CHECK_EQ_INT(redis_fixture(), 0);
    CHECK_EQ_INT(cli("keys '%s'", app_url), 0);
    char line[512];
    CHECK(line_with("\"user:1\"", line, sizeof line));
    CHECK(strstr(line, "m5") || strstr(line, "10m00s")); /* 9m5Xs left of 10 minutes */
    CHECK(line_with("\"billing:7\"", line, sizeof line));
    CHECK(strstr(line, "no expiry") != NULL);
    CHECK(line_with("\"page:home\"", line, sizeof line));
    CHECK(strstr(line, "1h59m") != NULL);
    CHECK_OUT("5 keys");
    CHECK_EQ_INT(cli("keys '%s' 'user:*'", app_url), 0);
    CHECK_OUT("2 keys");
    return 0;
}

static int redis_get(void)
{
    CHECK_EQ_INT(redis_fixture(), 0);
    /* the application's URL: its secret checks the signature */
    CHECK_EQ_INT(cli("get '%s' user:1", app_url), 0);
    CHECK_OUT("signature    valid (md5, 32 characters)");
    CHECK_OUT("compression  none");
    CHECK_OUT("envelope     v1, codec 0 (raw bytes)");
    CHECK_OUT("\"alice\"");
    CHECK_EQ_INT(cli("get '%s' page:home", app_url), 0);
    CHECK_OUT("compression  zstd: ");
    CHECK_OUT("inflate to 4004");
    CHECK_OUT("payload      4000 bytes");
    CHECK_OUT("(3744 more bytes; --full shows them)");
    /* no secret: recognised, not checked; a wrong one: invalid */
    CHECK_EQ_INT(cli("get '%s' user:1", plain_url), 0);
    CHECK_OUT("signature    not checked: 32 characters, as md5 gives");
    CHECK_EQ_INT(cli("--secret wrong get '%s' user:1", plain_url), 0);
    CHECK_OUT("signature    INVALID");
    CHECK_EQ_INT(cli("get '%s' visits", app_url), 0);
    CHECK_OUT("a counter");
    CHECK_OUT("envelope     none");
    /* another application's plain string */
    CHECK_EQ_INT(cli("get '%s' billing:7", plain_url), 0);
    CHECK_OUT("signature    none");
    CHECK_OUT("\"paid\"");
    /* a missing key: status 1, said on stderr */
    CHECK_EQ_INT(cli("get '%s' user:404", app_url), 1);
    CHECK_OUT("no key user:404");
    return 0;
}

static int redis_del_and_stats(void)
{
    CHECK_EQ_INT(redis_fixture(), 0);
    CHECK_EQ_INT(cli("stats '%s'", app_url), 0);
    CHECK_OUT("keys         5 matching * (the backend counts 5 in all)");
    CHECK_OUT("ttl          3 expiring, 2 without expiry");
    CHECK_OUT("signature    3 valid, 1 INVALID, 0 not checked, 1 counters, 0 none"); /* billing:7 is not ours */
    CHECK_OUT("compression  0 gzip, 0 zlib, 1 zstd, 4 none");
    CHECK_EQ_INT(cli("del '%s' 'user:*'", app_url), 0);
    CHECK_OUT("deleted 2 keys");
    char tmp[64];
    CHECK_EQ_INT(cw_redis_cli(&rs, tmp, sizeof tmp, "EXISTS", "user:1", NULL), 0);
    CHECK_STR(tmp, "0");
    CHECK_EQ_INT(cw_redis_cli(&rs, tmp, sizeof tmp, "EXISTS", "billing:7", NULL), 0);
    CHECK_STR(tmp, "1");
    CHECK_EQ_INT(cli("del '%s'", app_url), 2); /* a pattern is required */
    return 0;
}

static int loader(void *ud, const cw_arg *args, size_t nargs, cw_value *v)
{
    (void)ud, (void)nargs;
    char buf[32];
    int n = snprintf(buf, sizeof buf, "report %lld", (long long)args[0].v.i);
    return cw_value_set(v, buf, (size_t)n);
}

static int disk_directory(void)
{
    char dir[512];
    CHECK_EQ_INT(cw_test_mkdtemp(dir, sizeof dir, "cli"), 0);
    char url[600];
    snprintf(url, sizeof url, "disk://?directory=%s", dir);
    cw_cache *c = cw_test_cache(url, NULL);
    CHECK(c);
    cw_func *f = CW_FUNC(c, loader, .args = "id", .key = "report:{id}", .ttl = "1h",
                         .strategy = CW_EARLY, .early_ttl = "20m");
    CHECK(f);
    cw_value v = { 0 };
    CHECK_OK(CW_CALL(f, &v, CW_ARG_INT(7)));
    CHECK_OK(cw_set_raw(c, "plain", "as is", 5, CW_NO_EXPIRY));
    cw_value_free(&v);
    cw_func_free(f);
    cw_cache_free(c);

    CHECK_EQ_INT(cli("keys '%s'", url), 0);
    CHECK_OUT("\"early:report:7\""); /* the early strategy's own prefix */
    CHECK_OUT("2 keys");
    CHECK_EQ_INT(cli("get 'disk://%s' early:report:7", dir), 0); /* the disk:///abs/dir form */
    CHECK_OUT("signature    none");
    CHECK_OUT("envelope     v1, codec 0 (raw bytes)");
    CHECK_OUT("refresh at   20");
    CHECK_OUT("\"report 7\"");
    CHECK_EQ_INT(cli("stats '%s'", url), 0);
    CHECK_OUT("envelope     1 with (0 cached errors, 0 user codecs), 1 raw");
    CHECK_OUT("shard files in");
    CHECK_EQ_INT(cli("del '%s' '*report:*'", url), 0);
    CHECK_OUT("deleted 1 key");
    CHECK_EQ_INT(cli("keys '%s'", url), 0);
    CHECK_OUT("1 key\n");
    cw_test_rmtree(dir);
    /* a directory that does not exist is not created */
    CHECK_EQ_INT(cli("keys 'disk://?directory=%s'", dir), 1);
    CHECK_OUT("no directory");
    struct stat sb;
    CHECK(stat(dir, &sb) != 0);
    return 0;
}

static int envelope_on_stdin(void)
{
    char dir[512], file[600];
    CHECK_EQ_INT(cw_test_mkdtemp(dir, sizeof dir, "cli-stdin"), 0);
    snprintf(file, sizeof file, "%s/v", dir);
    FILE *f = fopen(file, "wb");
    CHECK(f);
    /* docs/REDIS.md's md5 vector: secret s3cr3t, key user:42, "alice" in its envelope */
    static const char bytes[] = "78d3ba5605014aa4dbf1e669063f8455_\xC5\x01\x00\x00" "alice";
    fwrite(bytes, 1, sizeof bytes - 1, f);
    fclose(f);
    CHECK_EQ_INT(cli("--secret s3cr3t envelope --key user:42 < '%s'", file), 0);
    CHECK_OUT("stored       42 bytes");
    CHECK_OUT("signature    valid (md5, 32 characters)");
    CHECK_OUT("\"alice\"");
    CHECK_EQ_INT(cli("envelope < '%s'", file), 0);
    CHECK_OUT("signature    not checked");
    CHECK_EQ_INT(cli("--secret s3cr3t envelope < '%s'", file), 1);
    CHECK_OUT("needs the key");
    CHECK_EQ_INT(cli("envelope < /dev/null"), 0);
    CHECK_OUT("payload      0 bytes");
    cw_test_rmtree(dir);
    return 0;
}

static int usage_errors(void)
{
    CHECK_EQ_INT(cli(""), 2);
    CHECK_OUT("usage: cashews");
    CHECK_EQ_INT(cli("frobnicate x"), 2);
    CHECK_EQ_INT(cli("keys mem://"), 1);
    CHECK_OUT("mem:// lives inside one process");
    CHECK_EQ_INT(cli("keys 'redis://127.0.0.1:%d?bogus=1'", rs.port), 1);
    CHECK_OUT("bogus");
    CHECK_EQ_INT(cli("version"), 0);
    CHECK_OUT(CW_VERSION);
    return 0;
}

static const cw_test tests[] = {
    CW_TEST(redis_keys), CW_TEST(redis_get), CW_TEST(redis_del_and_stats),
    CW_TEST(disk_directory), CW_TEST(envelope_on_stdin), CW_TEST(usage_errors), { 0 }
};

int main(int argc, char **argv)
{
    if (cw_redis_server_start(&rs, NULL) != 0) {
        printf("0 passed, 1 failed\n");
        return 1;
    }
    snprintf(plain_url, sizeof plain_url, "redis://127.0.0.1:%d", rs.port);
    snprintf(app_url, sizeof app_url,
             "redis://127.0.0.1:%d?secret=s3cr3t&compress_type=zstd&compress_min_size=64", rs.port);
    int rc = cw_test_main(tests, argc, argv);
    cw_redis_server_stop(&rs);
    return rc;
}
