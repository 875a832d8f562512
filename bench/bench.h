/*
 * bench.h - the benchmark program's shared pieces (see bench/BENCHMARKS.md).
 * Each workload lives in its own file bench/wN_*.c and defines bench_wN(); bench.c runs the
 * ones named by --workloads. A workload that was not built prints a note, not a JSON line.
 */
#ifndef CW_BENCH_H
#define CW_BENCH_H

#include <stddef.h>
#include <stdint.h>
#include <cashews.h>

typedef struct bench_args {
    const char *trace_tool; /* the W3 trace generator: cw_make_trace (bench/make_trace.c) */
    const char *tmpdir;     /* a folder for traces, databases and servers */
} bench_args;

/* Print one JSON line. hit_ratio < 0, p50_ns < 0 and p99_ns < 0 are left out. */
void bench_emit(const char *workload, const char *backend, const char *op, int threads,
                uint64_t ops, double seconds, double hit_ratio, double p50_ns, double p99_ns);
double bench_now(void);           /* CLOCK_MONOTONIC seconds */
uint64_t bench_rng(uint64_t *s);  /* splitmix64, fixed seeds for repeatable runs */
/* Current resident set size in bytes (from /proc/self/statm). */
uint64_t bench_rss_bytes(void);
/* Sort v (n doubles) ascending and return the element at fraction p (0.5: the median). */
double bench_quantile(double *v, size_t n, double p);

int bench_w1(const bench_args *a);
int bench_w2(const bench_args *a);
int bench_w3(const bench_args *a);
int bench_w4(const bench_args *a);
int bench_w5(const bench_args *a);
int bench_w6(const bench_args *a);
int bench_w7(const bench_args *a);
/* W10: wrk against examples/http_server.c (w10_http.c); CW_HTTP_EXAMPLE_PATH names it. */
int bench_w10(const bench_args *a);
/* W7's floor: the same work on raw SQLite (floor_sqlite.c), run right after W7. */
int bench_floor_sqlite(const bench_args *a);
/* Write the results file from the output of a run (results.c). */
int bench_results(const char *log_path, const char *out_path, const char *commit);

#endif
