/*
 * test_redis_clear.c - cw_clear() on redis:// never deletes what this cache does not own
 * unless the setup says so. A real redis-server (the harness's) holds another application's
 * key, written with redis-cli, beside this cache's keys; each setup is cleared in turn and the
 * other key checked with redis-cli afterwards.
 */
#include "cw_test.h"
#include "redis_server.h"

static cw_redis_server rs;

static cw_cache *open_cache(const char *query)
{
    char url[256];
    snprintf(url, sizeof url, "redis://127.0.0.1:%d?suppress=0&%s", rs.port, query);
    return cw_test_cache(url, NULL);
}

/* redis-cli's answer to one command, as a number (EXISTS, DBSIZE). */
static long long cli_int(const char *cmd, const char *arg)
{
    char out[64] = "";
    if (cw_redis_cli(&rs, out, sizeof out, cmd, arg, NULL) != 0) return -1;
    return atoll(out);
}

static int other_app_writes(void)
{
    char out[64];
    if (cw_redis_cli(&rs, out, sizeof out, "FLUSHALL", NULL) != 0) return 1;
    if (cw_redis_cli(&rs, out, sizeof out, "SET", "billing:invoice:7", "paid", NULL) != 0) return 1;
    return 0;
}

static int refuses_flushdb_by_default(void)
{
    CHECK_EQ_INT(other_app_writes(), 0);
    cw_cache *c = open_cache("db=0");
    CHECK(c);
    CHECK_OK(cw_set(c, "user:1", "alice", 5, CW_MINUTES(1)));
    CHECK_ST(cw_clear(c), CW_ENOTSUP);
    CHECK(strstr(cw_cache_errmsg(c), "FLUSHDB") != NULL);
    CHECK(strstr(cw_cache_errmsg(c), "allow_flushdb=1") != NULL);
    CHECK_EQ_INT(cli_int("EXISTS", "billing:invoice:7"), 1);
    CHECK_EQ_INT(cli_int("EXISTS", "user:1"), 1); /* nothing was removed at all */
    cw_cache_free(c);
    /* suppress=1 (the default) does not turn the refusal into a quiet success */
    char url[128];
    snprintf(url, sizeof url, "redis://127.0.0.1:%d", rs.port);
    CHECK((c = cw_test_cache(url, NULL)) != NULL);
    CHECK_ST(cw_clear(c), CW_ENOTSUP);
    CHECK_EQ_INT(cli_int("DBSIZE", NULL), 2);
    cw_cache_free(c);
    return 0;
}

/* A cache that owns part of the database: clear removes @key (stored in Redis as @stored)
 * and leaves the other application's key. */
static int clears_only(const char *query, const char *key, const char *stored)
{
    CHECK_EQ_INT(other_app_writes(), 0);
    cw_cache *c = open_cache(query);
    CHECK(c);
    CHECK_OK(cw_set(c, key, "3 items", 7, CW_MINUTES(1)));
    CHECK_EQ_INT(cli_int("EXISTS", stored), 1);
    CHECK_OK(cw_clear(c));
    CHECK_EQ_INT(cli_int("EXISTS", stored), 0);
    CHECK_EQ_INT(cli_int("EXISTS", "billing:invoice:7"), 1);
    cw_cache_free(c);
    return 0;
}

static int prefix_clears_only_its_keys(void)
{
    return clears_only("prefix=shop:", "shop:cart:1", "shop:cart:1");
}

static int client_side_clears_only_its_keys(void)
{
    return clears_only("client_side=1", "user:1", "cashews:user:1");
}

static int allow_flushdb_flushes_the_database(void)
{
    CHECK_EQ_INT(other_app_writes(), 0);
    cw_cache *c = open_cache("allow_flushdb=1");
    CHECK(c);
    CHECK_OK(cw_set(c, "user:1", "alice", 5, CW_MINUTES(1)));
    CHECK_OK(cw_clear(c)); /* what the setup asked for: everything in db 0 goes */
    CHECK_EQ_INT(cli_int("DBSIZE", NULL), 0);
    cw_cache_free(c);
    /* a malformed value is an error at setup, naming the parameter */
    char url[128], err[CW_ERRMSG_SIZE] = "";
    snprintf(url, sizeof url, "redis://127.0.0.1:%d?allow_flushdb=please", rs.port);
    CHECK_OK(cw_cache_new(&c, NULL));
    CHECK_ST(cw_cache_setup(c, url, NULL, err), CW_EINVAL);
    CHECK(strstr(err, "allow_flushdb") != NULL);
    cw_cache_free(c);
    return 0;
}

static const cw_test tests[] = {
    CW_TEST(refuses_flushdb_by_default), CW_TEST(prefix_clears_only_its_keys),
    CW_TEST(client_side_clears_only_its_keys), CW_TEST(allow_flushdb_flushes_the_database),
    { 0 }
};

int main(int argc, char **argv)
{
    if (cw_redis_server_start(&rs, NULL) != 0) {
        printf("0 passed, 1 failed\n");
        return 1;
    }
    int rc = cw_test_main(tests, argc, argv);
    cw_redis_server_stop(&rs);
    return rc;
}
