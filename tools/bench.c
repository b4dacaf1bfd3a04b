/*
 * bench.c — `fusegraph bench`: the seed's table (MatMul 1024/2048/4096, Add and GELU on 1M/10M/100M
 * elements, FusedMatMulAddGelu 1024/2048/4096), one column per ready device, speedup against the CPU.
 *
 * Each case is a graph run through the public API (fg_plan_run), so the numbers include everything a
 * user pays: planning is excluded (done once), binding and any transfers are included. The CPU reads and
 * writes the caller's memory in place, so its mode is "resident". A GPU column is measured in mode
 * "host" (inputs from host memory and results back to host memory). Timing: wall clock around each run
 * (a run ends only once results are in host memory), after warm-up; the median of repeated runs.
 * --quick drops the largest size of each op and repeats less; --op NAME and --size N pick cases.
 */
#include "tool.h"

#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

typedef struct bench_case {
    const char *op; /* matmul | add | gelu | fused_matmul_add_gelu */
    int64_t size;   /* matrix size N (N x N x N), or element count */
} bench_case;

static const bench_case cases[] = {
    {"matmul", 1024}, {"matmul", 2048}, {"matmul", 4096},
    {"add", 1000000}, {"add", 10000000}, {"add", 100000000},
    {"gelu", 1000000}, {"gelu", 10000000}, {"gelu", 100000000},
    {"fused_matmul_add_gelu", 1024}, {"fused_matmul_add_gelu", 2048}, {"fused_matmul_add_gelu", 4096},
};
#define CASE_COUNT (int)(sizeof cases / sizeof *cases)

typedef struct bench_result {
    const bench_case *c;
    int device;
    const char *mode;
    double median_ms, gflops, gbps;
} bench_result;

static double now_seconds(void)
{
    struct timespec t;
    clock_gettime(CLOCK_MONOTONIC, &t);
    return (double)t.tv_sec + 1e-9 * (double)t.tv_nsec;
}

static int is_matrix(const bench_case *c) { return strcmp(c->op, "matmul") == 0 || strcmp(c->op, "fused_matmul_add_gelu") == 0; }

typedef struct bench_graph {
    fg_graph *graph;
    fg_value inputs[2];
    int input_count;
    fg_value output;
    float *data[2], *out;
    double flops, bytes;
} bench_graph;

static fg_status build(const bench_case *c, bench_graph *g)
{
    memset(g, 0, sizeof *g);
    fg_status status = fg_graph_create(&g->graph);
    if (status != FG_OK) return status;
    int64_t n = c->size;
    if (is_matrix(c)) {
        int64_t dims[2] = {n, n};
        float *w = malloc(sizeof(float) * (size_t)(n * n)), *b = malloc(sizeof(float) * (size_t)n);
        g->data[0] = malloc(sizeof(float) * (size_t)(n * n));
        g->out = malloc(sizeof(float) * (size_t)(n * n));
        if (!w || !b || !g->data[0] || !g->out) {
            free(w), free(b);
            return FG_ERR_OUT_OF_MEMORY;
        }
        tool_fill_random(w, n * n, 11), tool_fill_random(b, n, 12), tool_fill_random(g->data[0], n * n, 13);
        fg_value wv, bv;
        g->input_count = 1;
        if ((status = fg_graph_input(g->graph, "x", FG_F32, 2, dims, &g->inputs[0])) == FG_OK &&
            (status = fg_graph_constant(g->graph, "w", FG_F32, 2, dims, w, &wv)) == FG_OK &&
            (status = fg_graph_constant(g->graph, "b", FG_F32, 1, &n, b, &bv)) == FG_OK) {
            if (strcmp(c->op, "matmul") == 0) status = fg_graph_matmul(g->graph, g->inputs[0], wv, &g->output);
            else status = fg_graph_fused_matmul_add_gelu(g->graph, g->inputs[0], wv, bv, FG_GELU_EXACT, &g->output);
        }
        free(w), free(b);
        g->flops = 2.0 * (double)n * (double)n * (double)n;
        g->bytes = 3.0 * 4.0 * (double)n * (double)n;
    } else {
        int add = strcmp(c->op, "add") == 0;
        g->input_count = add ? 2 : 1;
        g->out = malloc(sizeof(float) * (size_t)n);
        if (!g->out) return FG_ERR_OUT_OF_MEMORY;
        for (int i = 0; i < g->input_count; i++) {
            g->data[i] = malloc(sizeof(float) * (size_t)n);
            if (!g->data[i]) return FG_ERR_OUT_OF_MEMORY;
            tool_fill_random(g->data[i], n, 20 + (uint64_t)i);
            if ((status = fg_graph_input(g->graph, i ? "b" : "a", FG_F32, 1, &n, &g->inputs[i])) != FG_OK) return status;
        }
        status = add ? fg_graph_add(g->graph, g->inputs[0], g->inputs[1], &g->output)
                     : fg_graph_gelu(g->graph, g->inputs[0], FG_GELU_EXACT, &g->output);
        g->flops = 0;
        g->bytes = 4.0 * (double)n * (add ? 3.0 : 2.0);
    }
    if (status == FG_OK) status = fg_graph_mark_output(g->graph, g->output);
    return status;
}

static void release(bench_graph *g)
{
    fg_graph_destroy(g->graph);
    free(g->data[0]), free(g->data[1]), free(g->out);
}

static int compare_doubles(const void *a, const void *b)
{
    double x = *(const double *)a, y = *(const double *)b;
    return (x > y) - (x < y);
}

/* Median milliseconds of repeated runs of g forced onto device, or a negative value on failure. */
static double time_runs(fg_context *context, bench_graph *g, int device, int quick)
{
    fg_plan_options options = {0, device};
    fg_plan *plan = NULL;
    if (fg_plan_create(context, g->graph, &options, &plan) != FG_OK) return -1;
    fg_binding inputs[2], output = {g->output, g->out};
    for (int i = 0; i < g->input_count; i++) inputs[i] = (fg_binding){g->inputs[i], g->data[i]};
    double times[64];
    int count = 0, failed = 0;
    double first = now_seconds();
    failed |= fg_plan_run(plan, inputs, g->input_count, &output, 1, NULL) != FG_OK; /* warm-up */
    double warm = now_seconds() - first;
    int repeats = warm < 0.01 ? 25 : warm < 0.2 ? 9 : 5;
    if (quick) repeats = repeats > 5 ? 5 : 3;
    if (warm < 0.2) failed |= fg_plan_run(plan, inputs, g->input_count, &output, 1, NULL) != FG_OK;
    for (int r = 0; r < repeats && !failed; r++) {
        double start = now_seconds();
        failed |= fg_plan_run(plan, inputs, g->input_count, &output, 1, NULL) != FG_OK;
        times[count++] = now_seconds() - start;
    }
    fg_plan_destroy(plan);
    if (failed || !count) return -1;
    qsort(times, (size_t)count, sizeof *times, compare_doubles);
    return 1e3 * (count % 2 ? times[count / 2] : 0.5 * (times[count / 2 - 1] + times[count / 2]));
}

static void format_shape(const bench_case *c, char *text, size_t capacity)
{
    if (is_matrix(c)) snprintf(text, capacity, "%lldx%lld", (long long)c->size, (long long)c->size);
    else snprintf(text, capacity, "%lldM", (long long)(c->size / 1000000));
}

static int write_json(const char *path, const bench_result *results, int count, fg_context *context)
{
    FILE *file = fopen(path, "w");
    if (!file) {
        fprintf(stderr, "fusegraph bench: cannot write %s\n", path);
        return 1;
    }
    fprintf(file, "{\"results\":[");
    for (int i = 0; i < count; i++) {
        const bench_result *r = &results[i];
        fg_device_info info;
        fg_context_device_info(context, r->device, &info);
        fprintf(file, "%s\n {\"op\":\"%s\",\"shape\":", i ? "," : "", r->c->op);
        if (is_matrix(r->c)) fprintf(file, "[%lld,%lld,%lld]", (long long)r->c->size, (long long)r->c->size, (long long)r->c->size);
        else fprintf(file, "[%lld]", (long long)r->c->size);
        fprintf(file, ",\"dtype\":\"f32\",\"device\":\"%s\",\"mode\":\"%s\",\"median_ms\":%.6f,\"gflops\":%.3f,\"gbps\":%.3f}",
                info.backend, r->mode, r->median_ms, r->gflops, r->gbps);
    }
    fprintf(file, "\n]}\n");
    return fclose(file) == 0 ? 0 : 1;
}

static int skipped(const bench_case *c, const tool_bench_options *options)
{
    if (options->quick && (c->size == 4096 || c->size == 100000000)) return 1;
    if (options->only_op && strcmp(options->only_op, c->op) != 0) return 1;
    return options->only_size > 0 && options->only_size != c->size;
}

int tool_bench(fg_context *context, const tool_bench_options *options)
{
    int quick = options->quick, only_device = options->device;
    const char *json_path = options->json_path;
    int devices[FG_MAX_DEVICES], device_count = 0;
    for (int d = 0; d < fg_context_device_count(context); d++) {
        fg_device_info info;
        if (fg_context_device_info(context, d, &info) != FG_OK || !info.ready) continue;
        if (d == 0 || only_device < 0 || only_device == d) devices[device_count++] = d;
    }
    bench_result results[CASE_COUNT * FG_MAX_DEVICES];
    int result_count = 0, total = 0, done = 0;
    for (int c = 0; c < CASE_COUNT; c++) total += !skipped(&cases[c], options) * device_count;

    printf("%-22s %-10s", "op", "shape");
    for (int i = 0; i < device_count; i++) {
        fg_device_info info;
        fg_context_device_info(context, devices[i], &info);
        printf(" %12s", i == 0 ? "cpu ms" : info.backend);
        if (i) printf(" %8s", "speedup");
    }
    printf("\n");
    for (int c = 0; c < CASE_COUNT; c++) {
        const bench_case *bc = &cases[c];
        if (skipped(bc, options)) continue;
        bench_graph g;
        char shape[32];
        format_shape(bc, shape, sizeof shape);
        if (build(bc, &g) != FG_OK) {
            fprintf(stderr, "fusegraph bench: cannot build %s %s: %s\n", bc->op, shape, fg_last_error());
            release(&g);
            continue;
        }
        double row[FG_MAX_DEVICES] = {0};
        for (int i = 0; i < device_count; i++) {
            char label[64];
            snprintf(label, sizeof label, "%s %s", bc->op, shape);
            tool_progress(done, total, label);
            row[i] = time_runs(context, &g, devices[i], quick);
            done++;
            if (row[i] < 0) continue;
            bench_result *r = &results[result_count++];
            *r = (bench_result){bc, devices[i], devices[i] == 0 ? "resident" : "host", row[i],
                                g.flops / (row[i] * 1e-3) / 1e9, g.bytes / (row[i] * 1e-3) / 1e9};
        }
        tool_progress_end();
        printf("%-22s %-10s", bc->op, shape);
        for (int i = 0; i < device_count; i++) {
            if (row[i] < 0) printf(" %12s", "failed");
            else printf(" %12.3f", row[i]);
            if (i) printf(" %7.2fx", row[0] > 0 && row[i] > 0 ? row[0] / row[i] : NAN);
        }
        if (is_matrix(bc) && row[0] > 0) printf("   (cpu %.1f GFLOP/s)", g.flops / (row[0] * 1e-3) / 1e9);
        else if (row[0] > 0) printf("   (cpu %.1f GB/s)", g.bytes / (row[0] * 1e-3) / 1e9);
        printf("\n");
        fflush(stdout);
        release(&g);
    }
    return json_path ? write_json(json_path, results, result_count, context) : 0;
}
