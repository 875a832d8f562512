/*
 * test_disk_durability.c - disk:// against a writer process killed with SIGKILL at random
 * moments, 50 times in a row on one directory (issue 13, "disk:// durability").
 *
 * The writer reports on a pipe, outside its own memory, an intent before each step and an
 * acknowledgement after it. A step stores a fresh key (1 B to 3 KiB: values that take
 * overflow pages too), increments a counter and, every fifth step, overwrites one hot key.
 * After each kill the parent reopens the directory and checks:
 *   - every acknowledged key holds exactly its value; the step in flight at the kill (at most
 *     one) left its key absent or whole, never partial;
 *   - the counter equals the acknowledged increments, plus one when the step in flight had
 *     committed its increment (a kill between commit and report cannot be told apart from one
 *     before the commit: that one step is all the ambiguity there is);
 *   - the hot key holds the last acknowledged overwrite (or the one in flight);
 *   - the key count agrees with the keys present, and the files (WAL included) pass
 *     PRAGMA quick_check as the dead writer left them.
 * The kills are spread from "during the first open" (shard files being created) to "deep in
 * the write loop", from a fixed seed. At the end every key ever acknowledged is read again, and
 * damaged shard files (truncated, overwritten header) give CW_ECORRUPT with a clear message.
 */
#include "cw_test.h"

#include <errno.h>
#include <fcntl.h>
#include <signal.h>
#include <sqlite3.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

enum { KILLS = 50, MAX_STEPS = 1 << 16 };

typedef struct msg {
    int ack; /* 0: intent, 1: done, 2: the cache is open */
    int step;
} msg;

static size_t value_of(int step, char *buf)
{
    size_t n = 1 + (size_t)(step * 37) % 3000;
    for (size_t j = 0; j < n; j++) buf[j] = (char)('a' + (step + (int)j) % 26);
    return n;
}

static cw_status open_cache(const char *dir, cw_cache **c, char *err)
{
    char url[400];
    snprintf(url, sizeof url, "disk://?directory=%s&shards=2", dir);
    cw_status st = cw_cache_new(c, NULL);
    if (st == CW_OK) st = cw_cache_setup(*c, url, NULL, err);
    return st;
}

/* The writer: steps from `first` on until killed. */
static void writer(const char *dir, int first, int fd)
{
    char err[CW_ERRMSG_SIZE], key[32], val[3100];
    cw_cache *c = NULL;
    if (open_cache(dir, &c, err) != CW_OK) _exit(2);
    msg opened = { 2, first };
    if (write(fd, &opened, sizeof opened) != sizeof opened) _exit(3);
    for (int step = first; step < MAX_STEPS; step++) {
        msg m = { 0, step };
        if (write(fd, &m, sizeof m) != sizeof m) _exit(3);
        snprintf(key, sizeof key, "k%d", step);
        size_t n = value_of(step, val);
        if (cw_set_raw(c, key, val, n, CW_NO_EXPIRY) != CW_OK) _exit(4);
        if (cw_incr(c, "counter", 1, CW_NO_EXPIRY, NULL) != CW_OK) _exit(5);
        if (step % 5 == 0) {
            int len = snprintf(val, sizeof val, "h%d", step);
            if (cw_set_raw(c, "hot", val, (size_t)len, CW_NO_EXPIRY) != CW_OK) _exit(6);
        }
        m.ack = 1;
        if (write(fd, &m, sizeof m) != sizeof m) _exit(7);
    }
    _exit(0);
}

/* Account for one message of the writer. */
static int take(const msg *m, unsigned char *acked, int *intent, int *last_ack, long *acks)
{
    if (m->ack == 2) return 0;
    if (!m->ack) {
        *intent = m->step;
        return 0;
    }
    CHECK_EQ_INT(m->step, *intent);
    acked[m->step] = 1;
    *last_ack = m->step;
    *intent = -1;
    ++*acks;
    return 0;
}

static int64_t read_int(cw_cache *c, const char *key)
{
    cw_value v = { 0 };
    int64_t n = cw_get_raw(c, key, &v) == CW_OK ? strtoll((const char *)v.data, NULL, 10) : -1;
    cw_value_free(&v);
    return n;
}

/* key k<step> holds its value (want = 1), or is absent or whole (want = 0). */
static int check_step(cw_cache *c, int step, int want, int *present)
{
    char key[32], val[3100];
    cw_value v = { 0 };
    snprintf(key, sizeof key, "k%d", step);
    size_t n = value_of(step, val);
    cw_status st = cw_get_raw(c, key, &v);
    if (want) CHECK_OK(st);
    else CHECK(st == CW_OK || st == CW_NOTFOUND);
    if (st == CW_OK) CHECK(v.len == n && memcmp(v.data, val, n) == 0);
    *present = st == CW_OK;
    cw_value_free(&v);
    return 0;
}

/* PRAGMA quick_check on every shard file there is. */
static int quick_check(const char *dir)
{
    char path[400];
    for (int shard = 0; shard < 2; shard++) {
        snprintf(path, sizeof path, "%s/cashews-%03d.db", dir, shard);
        if (access(path, F_OK) != 0) continue; /* killed before it was made */
        sqlite3 *db = NULL;
        sqlite3_stmt *st = NULL;
        CHECK_EQ_INT(sqlite3_open_v2(path, &db, SQLITE_OPEN_READWRITE, NULL), SQLITE_OK);
        CHECK_EQ_INT(sqlite3_prepare_v2(db, "PRAGMA quick_check", -1, &st, NULL), SQLITE_OK);
        CHECK_EQ_INT(sqlite3_step(st), SQLITE_ROW);
        CHECK_STR((const char *)sqlite3_column_text(st, 0), "ok");
        sqlite3_finalize(st);
        sqlite3_close(db);
    }
    return 0;
}

static int killed_writers_lose_nothing_acknowledged(void)
{
    char dir[256], err[CW_ERRMSG_SIZE] = "", path[400];
    CHECK(cw_test_mkdtemp(dir, sizeof dir, "durability") == 0);
    uint64_t rng = 42;
    int next = 0;          /* first step of the next writer */
    int64_t counter = 0;   /* increments known committed */
    int hot = -1;          /* step of the hot key's value (-1: never written) */
    int in_flight_kills = 0, committed_in_flight = 0, before_first_ack = 0;
    uint64_t keys = 0;     /* k keys present */
    unsigned char *acked = calloc(MAX_STEPS, 1);
    CHECK(acked != NULL);
    for (int round = 0; round < KILLS; round++) {
        int p[2];
        CHECK(pipe(p) == 0);
        pid_t kid = fork();
        CHECK(kid >= 0);
        if (kid == 0) {
            close(p[0]);
            writer(dir, next, p[1]);
        }
        close(p[1]);
        /* One round in five: kill 0 to 10 ms after the fork, in the open (the first round's:
         * while the shard files are being created). The others: once the writer has
         * acknowledged 0 to 40 steps, then 0 to 2 ms later, so that the kill lands anywhere in
         * a step however fast or loaded the machine is. */
        rng = rng * 6364136223846793005ull + 1442695040888963407ull;
        long delay_us = (long)((rng >> 33) % 10000), target = -1;
        if (round % 5) {
            target = (long)((rng >> 20) % 41);
            delay_us = (long)((rng >> 40) % 2000);
        }
        int intent = -1, last_ack = -1;
        long acks = 0;
        msg m;
        while (acks < target && read(p[0], &m, sizeof m) == sizeof m)
            CHECK(take(&m, acked, &intent, &last_ack, &acks) == 0);
        struct timespec ts = { 0, delay_us * 1000 };
        nanosleep(&ts, NULL);
        kill(kid, SIGKILL);
        int status = 0;
        CHECK_EQ_INT(waitpid(kid, &status, 0), kid);
        CHECK(WIFSIGNALED(status) && WTERMSIG(status) == SIGKILL);
        while (read(p[0], &m, sizeof m) == sizeof m) CHECK(take(&m, acked, &intent, &last_ack, &acks) == 0);
        close(p[0]);
        if (last_ack < 0 && intent < 0) before_first_ack++;
        CHECK(quick_check(dir) == 0); /* the files as the dead writer left them, WAL included */
        cw_cache *c = NULL;
        if (open_cache(dir, &c, err) != CW_OK) {
            fprintf(stderr, "round %d: reopen: %s\n", round, err);
            CHECK(0);
        }
        for (int s = next; s <= last_ack; s++) {
            int present = 0;
            CHECK(check_step(c, s, 1, &present) == 0);
            keys++;
        }
        int64_t got = read_int(c, "counter");
        int64_t acked_incrs = counter + (last_ack >= 0 ? last_ack - next + 1 : 0);
        if (intent >= 0) {
            int present = 0;
            CHECK(check_step(c, intent, 0, &present) == 0);
            in_flight_kills++;
            keys += (uint64_t)present;
            if (present) acked[intent] = 1;
            /* the step commits its key, then its increment: a counter ahead means the key
             * is there */
            CHECK(got == (acked_incrs ? acked_incrs : -1) || (present && got == acked_incrs + 1));
            committed_in_flight += got == acked_incrs + 1;
        } else {
            CHECK_EQ_INT(got, acked_incrs ? acked_incrs : -1);
        }
        if (got > 0) counter = got;
        int last_hot = -1;
        for (int s = last_ack; s >= next && last_hot < 0; s--)
            if (s % 5 == 0) last_hot = s;
        if (last_hot >= 0) hot = last_hot;
        cw_value v = { 0 };
        char want[32];
        cw_status st = cw_get_raw(c, "hot", &v);
        if (hot < 0 && intent >= 0 && intent % 5 == 0 && st == CW_NOTFOUND) {
            /* the first overwrite was in flight and did not commit */
        } else if (hot >= 0 || (intent >= 0 && intent % 5 == 0)) {
            CHECK_OK(st);
            int h = (int)strtol((const char *)v.data + 1, NULL, 10);
            CHECK(h == hot || (intent >= 0 && intent % 5 == 0 && h == intent));
            hot = h;
            snprintf(want, sizeof want, "h%d", h);
            CHECK_VAL(v, want);
        } else {
            CHECK_ST(st, CW_NOTFOUND);
        }
        cw_value_free(&v);
        uint64_t count = 0;
        CHECK_OK(cw_get_keys_count(c, &count));
        CHECK_EQ_INT(count, keys + (counter > 0) + (hot >= 0));
        cw_cache_free(c);
        next = (intent >= 0 ? intent : last_ack >= 0 ? last_ack : next - 1) + 1;
        CHECK(next < MAX_STEPS - 1000);
    }
    /* every key ever acknowledged, once more */
    cw_cache *c = NULL;
    CHECK_OK(open_cache(dir, &c, err));
    uint64_t total = 0;
    for (int s = 0; s < next; s++) {
        if (!acked[s]) continue;
        int present = 0;
        CHECK(check_step(c, s, 1, &present) == 0);
        total++;
    }
    CHECK_EQ_INT(read_int(c, "counter"), counter);
    cw_cache_free(c);
    printf("  %d kills: %llu writes acknowledged, counter %lld; %d kills with a step in flight (%d of"
           " them committed), %d before the first acknowledgement\n",
           KILLS, (unsigned long long)total, (long long)counter, in_flight_kills, committed_in_flight,
           before_first_ack);
    CHECK(total > 200);          /* the writers did get going */
    CHECK(in_flight_kills > 10); /* and were killed mid-step, not only between steps */
    free(acked);

    /* damage: a truncated shard and an overwritten header are refused, naming the file */
    snprintf(path, sizeof path, "%s/cashews-000.db", dir);
    CHECK(truncate(path, 0) == 0);
    c = NULL;
    CHECK_ST(open_cache(dir, &c, err), CW_ECORRUPT);
    CHECK(strstr(err, path) != NULL && strstr(err, "truncated") != NULL);
    cw_cache_free(c);
    CHECK(unlink(path) == 0);
    snprintf(path, sizeof path, "%s/cashews-001.db", dir);
    int fd = open(path, O_WRONLY);
    CHECK(fd >= 0);
    CHECK(pwrite(fd, "this is not an sqlite header", 28, 0) == 28);
    close(fd);
    c = NULL;
    err[0] = 0;
    CHECK_ST(open_cache(dir, &c, err), CW_ECORRUPT);
    CHECK(strstr(err, path) != NULL && strstr(err, "not an SQLite database") != NULL);
    cw_cache_free(c);
    cw_test_rmtree(dir);
    return 0;
}

static const cw_test tests[] = { CW_TEST(killed_writers_lose_nothing_acknowledged), { 0 } };

int main(int argc, char **argv) { return cw_test_main(tests, argc, argv); }
