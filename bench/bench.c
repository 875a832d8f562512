/* bench.c - runs the workloads W1..W7 and W10 of bench/BENCHMARKS.md named by --workloads, or writes
 * bench/RESULTS.md from a run's output (--summarize, results.c). */
#include "bench.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

/* Workloads whose file is not built (a backend left out) resolve to NULL. */
#pragma weak bench_w1
#pragma weak bench_w2
#pragma weak bench_w3
#pragma weak bench_w4
#pragma weak bench_w5
#pragma weak bench_w6
#pragma weak bench_w7
#pragma weak bench_w10
#pragma weak bench_floor_sqlite

void bench_emit(const char *workload, const char *backend, const char *op, int threads,
                uint64_t ops, double seconds, double hit_ratio, double p50_ns, double p99_ns)
{
    printf("{\"workload\":\"%s\",\"backend\":\"%s\"", workload, backend);
    if (op) printf(",\"op\":\"%s\"", op);
    printf(",\"threads\":%d,\"ops\":%llu,\"seconds\":%.6f,\"ops_per_sec\":%.1f,\"ns_per_op\":%.2f",
           threads, (unsigned long long)ops, seconds, ops / seconds, seconds * 1e9 / (double)ops);
    if (hit_ratio >= 0) printf(",\"hit_ratio\":%.4f", hit_ratio);
    if (p50_ns >= 0) printf(",\"p50_ns\":%.1f", p50_ns);
    if (p99_ns >= 0) printf(",\"p99_ns\":%.1f", p99_ns);
    printf("}\n");
    fflush(stdout);
}

double bench_now(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return ts.tv_sec + ts.tv_nsec / 1e9;
}

uint64_t bench_rng(uint64_t *s)
{
    uint64_t z = (*s += 0x9e3779b97f4a7c15ull);
    z = (z ^ (z >> 30)) * 0xbf58476d1ce4e5b9ull;
    z = (z ^ (z >> 27)) * 0x94d049bb133111ebull;
    return z ^ (z >> 31);
}

uint64_t bench_rss_bytes(void)
{
    FILE *f = fopen("/proc/self/statm", "r");
    unsigned long long size = 0, rss = 0;
    if (!f) return 0;
    if (fscanf(f, "%llu %llu", &size, &rss) != 2) rss = 0;
    fclose(f);
    return rss * (uint64_t)sysconf(_SC_PAGESIZE);
}

static int cmp_double(const void *a, const void *b)
{
    double x = *(const double *)a, y = *(const double *)b;
    return x < y ? -1 : x > y;
}

double bench_quantile(double *v, size_t n, double p)
{
    qsort(v, n, sizeof *v, cmp_double);
    return v[(size_t)(p * (double)(n - 1))];
}

/* Is @name one of the comma-separated names in @list? (W1 must not match W10.) */
static int wanted(const char *list, const char *name)
{
    size_t n = strlen(name);
    for (const char *p = list; p && *p; p = strchr(p, ',') ? strchr(p, ',') + 1 : NULL)
        if (strncmp(p, name, n) == 0 && (p[n] == ',' || p[n] == 0)) return 1;
    return 0;
}

int main(int argc, char **argv)
{
    const char *want = "W1,W2,W3,W4,W5,W6,W7,W10";
    /* the generator CMake builds beside this program (bench/make_trace.c) */
    bench_args a = { CW_MAKE_TRACE_PATH, "/tmp" };
    const char *summarize = NULL, *results = NULL, *commit = NULL;
    for (int i = 1; i + 1 < argc; i += 2) {
        if (strcmp(argv[i], "--workloads") == 0) want = argv[i + 1];
        else if (strcmp(argv[i], "--trace-tool") == 0) a.trace_tool = argv[i + 1];
        else if (strcmp(argv[i], "--tmp") == 0) a.tmpdir = argv[i + 1];
        else if (strcmp(argv[i], "--summarize") == 0) summarize = argv[i + 1];
        else if (strcmp(argv[i], "--results") == 0) results = argv[i + 1];
        else if (strcmp(argv[i], "--commit") == 0) commit = argv[i + 1];
        else {
            fprintf(stderr, "usage: cw_bench [--workloads W1,W3] [--trace-tool P] [--tmp DIR]\n"
                            "       cw_bench --summarize LOG --results OUT [--commit ID]\n");
            return 2;
        }
    }
    if (summarize || results) return summarize && results ? bench_results(summarize, results, commit) : 2;
    /* W8 (event loop) and W9 (transactions) wait for their features */
    int (*fns[10])(const bench_args *) = { bench_w1, bench_w2, bench_w3, bench_w4, bench_w5, bench_w6,
                                           bench_w7, NULL, NULL, bench_w10 };
    /* other work on the machine moves every figure: say how much there was */
    FILE *la = fopen("/proc/loadavg", "r");
    double l1 = 0, l5 = 0;
    if (la && fscanf(la, "%lf %lf", &l1, &l5) == 2)
        printf("# load average before the run: %.2f (1 min), %.2f (5 min), on %ld CPUs\n", l1, l5,
               sysconf(_SC_NPROCESSORS_ONLN));
    if (la) fclose(la);
    int rc = 0;
    for (int w = 0; w < 10; w++) {
        char name[4];
        snprintf(name, sizeof name, "W%d", w + 1);
        if (!wanted(want, name)) continue;
        if (!fns[w]) {
            printf("# %s: not built (%s)\n", name, w == 7 || w == 8 ? "not implemented yet" : "its part is left out");
            continue;
        }
        printf("# %s\n", name);
        if (fns[w](&a) != 0) { printf("# %s failed\n", name); rc = 1; }
        if (w == 6 && bench_floor_sqlite && bench_floor_sqlite(&a) != 0) rc = 1;
    }
    return rc;
}
