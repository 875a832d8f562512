/*
 * results.c - bench/RESULTS.md from the output of a run (`make bench-results`):
 *
 *   cw_bench --summarize LOG --results OUT [--commit ID]
 *
 * reads the lines `make bench` printed (the JSON figures and the "# " notes), sets each
 * target of BENCHMARKS.md beside the figures and floors of the same run, and writes the
 * results file: the targets met or missed, every figure, the notes. Ratios are only ever
 * taken between figures of one run (a floor measured on another day means nothing here).
 */
#include "bench.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

enum { MAX_FIGS = 256, MAX_NOTES = 128, LINE = 1024 };

typedef struct fig {
    char workload[8], backend[32], op[8];
    int threads;
    double ns, ops_per_sec, hit_ratio, p50, p99; /* < 0: absent */
} fig;

typedef struct run {
    fig figs[MAX_FIGS];
    int nfigs;
    char notes[MAX_NOTES][LINE];
    int nnotes;
    double mem_overhead, w1_floor_scaling; /* < 0: absent */
} run;

/* The value of "key": in a flat JSON object, as text (strings unquoted) into buf. */
static int json_field(const char *line, const char *key, char *buf, size_t size)
{
    char pat[48];
    snprintf(pat, sizeof pat, "\"%s\":", key);
    const char *p = strstr(line, pat);
    if (!p) return 0;
    p += strlen(pat);
    int quoted = *p == '"';
    if (quoted) p++;
    size_t n = 0;
    while (p[n] && (quoted ? p[n] != '"' : p[n] != ',' && p[n] != '}')) n++;
    snprintf(buf, size, "%.*s", (int)n, p);
    return 1;
}

static double json_num(const char *line, const char *key)
{
    char buf[64];
    return json_field(line, key, buf, sizeof buf) ? atof(buf) : -1;
}

static void parse_line(run *r, const char *line)
{
    if (line[0] == '{' && r->nfigs < MAX_FIGS) {
        fig *f = &r->figs[r->nfigs];
        char threads[16] = "1";
        if (!json_field(line, "workload", f->workload, sizeof f->workload) ||
            !json_field(line, "backend", f->backend, sizeof f->backend))
            return;
        if (!json_field(line, "op", f->op, sizeof f->op)) f->op[0] = 0;
        json_field(line, "threads", threads, sizeof threads);
        f->threads = atoi(threads);
        f->ns = json_num(line, "ns_per_op");
        f->ops_per_sec = json_num(line, "ops_per_sec");
        f->hit_ratio = json_num(line, "hit_ratio");
        f->p50 = json_num(line, "p50_ns");
        f->p99 = json_num(line, "p99_ns");
        r->nfigs++;
        return;
    }
    if (strncmp(line, "# ", 2) != 0) return;
    /* a section marker ("# W3") says nothing */
    if (line[2] == 'W' && strlen(line) <= 5) return;
    const char *mem = strstr(line, " B/entry beyond");
    if (strncmp(line, "# mem:", 6) == 0 && mem) {
        const char *p = mem;
        while (p > line && p[-1] != ' ') p--;
        r->mem_overhead = atof(p);
    }
    const char *sc = strstr(line, "x the throughput of one");
    if (strncmp(line, "# W1 floor", 10) == 0 && sc) {
        const char *p = sc;
        while (p > line && p[-1] != ' ') p--;
        r->w1_floor_scaling = atof(p);
    }
    if (r->nnotes < MAX_NOTES) snprintf(r->notes[r->nnotes++], LINE, "%s", line + 2);
}

static const fig *find(const run *r, const char *w, const char *backend, const char *op, int threads)
{
    for (int i = 0; i < r->nfigs; i++) {
        const fig *f = &r->figs[i];
        if (strcmp(f->workload, w) == 0 && strcmp(f->backend, backend) == 0 &&
            (!op || strcmp(f->op, op) == 0) && (!threads || f->threads == threads))
            return f;
    }
    return NULL;
}

/* One row of the targets table. ok < 0: not measured in this run. */
static void row(FILE *out, int *missed, const char *what, const char *result, const char *target, int ok)
{
    if (ok == 0) ++*missed;
    fprintf(out, "| %s | %s | %s | %s |\n", what, result, target,
            ok < 0 ? "not measured" : ok ? "met" : "**missed**");
}

/* "<a> ns, <a/b>x <name> (<b> ns)" and whether a <= limit * b. */
static void ratio_row(FILE *out, int *missed, const char *what, const fig *a, const fig *b,
                      const char *name, double limit)
{
    char res[256], tgt[64];
    snprintf(tgt, sizeof tgt, "<= %.3gx %s", limit, name);
    if (!a || !b || a->ns <= 0 || b->ns <= 0) {
        row(out, missed, what, "-", tgt, -1);
        return;
    }
    snprintf(res, sizeof res, "%.1f ns, %.2fx %s (%.1f ns)", a->ns, a->ns / b->ns, name, b->ns);
    row(out, missed, what, res, tgt, a->ns <= limit * b->ns);
}

static void targets(FILE *out, const run *r, int *missed)
{
    char res[256], tgt[128];
    const fig *probe = find(r, "W1", "probe-baseline", NULL, 1);
    fprintf(out, "| workload | result | target | |\n|---|---|---|---|\n");
    ratio_row(out, missed, "W1 mem get, 1 thread", find(r, "W1", "mem", "get", 1), probe, "the probe", 2);
    const fig *t1 = find(r, "W1", "mem", "get", 1), *t2 = find(r, "W1", "mem", "get", 2);
    double need = r->w1_floor_scaling > 0 && 0.95 * r->w1_floor_scaling < 1.7 ? 0.95 * r->w1_floor_scaling : 1.7;
    snprintf(tgt, sizeof tgt, ">= 1.7x, or 95%% of the probe's own scaling: %.2fx", need);
    if (t1 && t2 && t1->ops_per_sec > 0) {
        snprintf(res, sizeof res, "%.2fx (the probe: %.2fx)", t2->ops_per_sec / t1->ops_per_sec, r->w1_floor_scaling);
        row(out, missed, "W1, 2 threads vs 1", res, tgt, t2->ops_per_sec >= need * t1->ops_per_sec);
    } else {
        row(out, missed, "W1, 2 threads vs 1", "-", tgt, -1);
    }
    ratio_row(out, missed, "W2 mem set, 1 thread", find(r, "W2", "mem", "set", 1), probe, "the probe", 4);
    const fig *w3 = find(r, "W3", "mem", NULL, 1);
    if (w3 && w3->hit_ratio >= 0) snprintf(res, sizeof res, "hit ratio %.4f (exact LRU 0.7639)", w3->hit_ratio);
    row(out, missed, "W3 Zipf read-through, size 100k", w3 ? res : "-", ">= 0.80", w3 ? w3->hit_ratio >= 0.80 : -1);
    if (r->mem_overhead >= 0) snprintf(res, sizeof res, "%.1f B an entry beyond key and value", r->mem_overhead);
    row(out, missed, "memory (mem://)", r->mem_overhead >= 0 ? res : "-", "< 64 B",
        r->mem_overhead >= 0 ? r->mem_overhead < 64 : -1);
    ratio_row(out, missed, "W4 cached function hit", find(r, "W4", "mem", NULL, 1), probe, "the probe", 4);
    ratio_row(out, missed, "W5 Redis get", find(r, "W5", "redis", "get", 1), find(r, "W5", "redis-benchmark", "get", 1),
              "redis-benchmark", 1.15);
    ratio_row(out, missed, "W5 Redis set", find(r, "W5", "redis", "set", 1), find(r, "W5", "redis-benchmark", "set", 1),
              "redis-benchmark", 1.15);
    const fig *w6 = find(r, "W6", "redis", NULL, 1), *w5 = find(r, "W5", "redis", "get", 1);
    if (w6 && w5 && w6->ns > 0) snprintf(res, sizeof res, "%.1f ns, %.0fx faster than a W5 get", w6->ns, w5->ns / w6->ns);
    row(out, missed, "W6 client-side hit", w6 && w5 ? res : "-", ">= 50x faster than a W5 get",
        w6 && w5 && w6->ns > 0 ? w5->ns >= 50 * w6->ns : -1);
    ratio_row(out, missed, "W7 disk get", find(r, "W7", "disk", "get", 1), find(r, "W7", "sqlite-baseline", "get", 1),
              "raw SQLite", 1.5);
    ratio_row(out, missed, "W7 disk set", find(r, "W7", "disk", "set", 1), find(r, "W7", "sqlite-baseline", "set", 1),
              "raw SQLite", 1.5);
    const fig *hc = find(r, "W10", "http-cached", NULL, 0), *hs = find(r, "W10", "http-static", NULL, 0);
    if (hc && hs && hs->ops_per_sec > 0)
        snprintf(res, sizeof res, "%.0f requests/s, %.2fx /static (%.0f/s)", hc->ops_per_sec,
                 hc->ops_per_sec / hs->ops_per_sec, hs->ops_per_sec);
    row(out, missed, "W10 HTTP, cached /user vs /static", hc && hs ? res : "-", ">= 0.8x /static",
        hc && hs && hs->ops_per_sec > 0 ? hc->ops_per_sec >= 0.8 * hs->ops_per_sec : -1);
    fprintf(out, "| W8 event loop, W9 transactions | not implemented yet | see BENCHMARKS.md | not measured |\n");
}

static void machine(char *buf, size_t size)
{
    snprintf(buf, size, "unknown CPU");
    FILE *f = fopen("/proc/cpuinfo", "r");
    char line[LINE];
    while (f && fgets(line, sizeof line, f)) {
        char *colon = strchr(line, ':');
        if (strncmp(line, "model name", 10) == 0 && colon) {
            line[strcspn(line, "\n")] = 0;
            snprintf(buf, size, "%s", colon + 2);
            break;
        }
    }
    if (f) fclose(f);
    size_t n = strlen(buf);
    snprintf(buf + n, size - n, ", %ld CPUs", sysconf(_SC_NPROCESSORS_ONLN));
}

static void write_results(FILE *out, const run *r, const char *commit)
{
    char when[64], cpu[256];
    time_t now = time(NULL);
    struct tm tm;
    gmtime_r(&now, &tm);
    strftime(when, sizeof when, "%Y-%m-%d %H:%M UTC", &tm);
    machine(cpu, sizeof cpu);
    fprintf(out, "# Benchmark results\n\n"
                 "Written by `make bench-results` (which runs `make bench` and rewrites this file);\n"
                 "the workloads and targets are defined in [BENCHMARKS.md](BENCHMARKS.md).\n\n"
                 "Run: %s, libcashews %s%s%s, on %s.\n"
                 "Timings on a shared machine move from run to run: read the ratios, which compare\n"
                 "figures of this one run, rather than the absolute numbers.\n\n## Targets\n\n",
            when, cw_version(), commit && *commit ? ", commit " : "", commit ? commit : "", cpu);
    int missed = 0;
    targets(out, r, &missed);
    fprintf(out, "\n%s\n\n## Every figure\n\n", missed ? "Some targets were missed in this run." : "Every measured target was met in this run.");
    fprintf(out, "| workload | backend | op | threads | ns/op | ops/s | hit ratio | p50 ns | p99 ns |\n"
                 "|---|---|---|---|---|---|---|---|---|\n");
    for (int i = 0; i < r->nfigs; i++) {
        const fig *f = &r->figs[i];
        char hr[16] = "", p50[24] = "", p99[24] = "";
        if (f->hit_ratio >= 0) snprintf(hr, sizeof hr, "%.4f", f->hit_ratio);
        if (f->p50 >= 0) snprintf(p50, sizeof p50, "%.0f", f->p50);
        if (f->p99 >= 0) snprintf(p99, sizeof p99, "%.0f", f->p99);
        fprintf(out, "| %s | %s | %s | %d | %.1f | %.0f | %s | %s | %s |\n", f->workload, f->backend,
                f->op[0] ? f->op : "-", f->threads, f->ns, f->ops_per_sec, hr, p50, p99);
    }
    fprintf(out, "\n## Notes printed by the run\n\n");
    for (int i = 0; i < r->nnotes; i++) fprintf(out, "- %s\n", r->notes[i]);
}

int bench_results(const char *log_path, const char *out_path, const char *commit)
{
    FILE *in = fopen(log_path, "r");
    if (!in) {
        fprintf(stderr, "cw_bench: cannot read %s\n", log_path);
        return 1;
    }
    run *r = calloc(1, sizeof *r);
    if (!r) {
        fclose(in);
        return 1;
    }
    r->mem_overhead = r->w1_floor_scaling = -1;
    char line[LINE];
    while (fgets(line, sizeof line, in)) {
        line[strcspn(line, "\n")] = 0;
        parse_line(r, line);
    }
    fclose(in);
    char tmp[4096];
    snprintf(tmp, sizeof tmp, "%s.tmp", out_path);
    FILE *out = fopen(tmp, "w");
    int rc = !out;
    if (out) {
        write_results(out, r, commit);
        rc = fclose(out) != 0 || rename(tmp, out_path) != 0;
    }
    if (rc) fprintf(stderr, "cw_bench: cannot write %s\n", out_path);
    else printf("wrote %s (%d figures)\n", out_path, r->nfigs);
    free(r);
    return rc;
}
