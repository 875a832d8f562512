/* bench.c - runs the workloads W1..W7 of ../shared/BENCHMARKS.md named by --workloads. */
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

int main(int argc, char **argv)
{
    const char *want = "W1,W2,W3,W4,W5,W6,W7";
    bench_args a = { "../shared/bench/make-trace", "/tmp" };
    for (int i = 1; i + 1 < argc; i += 2) {
        if (strcmp(argv[i], "--workloads") == 0) want = argv[i + 1];
        else if (strcmp(argv[i], "--trace-tool") == 0) a.trace_tool = argv[i + 1];
        else if (strcmp(argv[i], "--tmp") == 0) a.tmpdir = argv[i + 1];
        else { fprintf(stderr, "usage: cw_bench [--workloads W1,W3] [--trace-tool P] [--tmp DIR]\n"); return 2; }
    }
    int (*fns[7])(const bench_args *) = { bench_w1, bench_w2, bench_w3, bench_w4, bench_w5, bench_w6, bench_w7 };
    int rc = 0;
    for (int w = 0; w < 7; w++) {
        char name[4];
        snprintf(name, sizeof name, "W%d", w + 1);
        if (!strstr(want, name)) continue;
        if (!fns[w]) { printf("# %s: not built in this configuration\n", name); continue; }
        printf("# %s\n", name);
        if (fns[w](&a) != 0) { printf("# %s failed\n", name); rc = 1; }
    }
    return rc;
}
