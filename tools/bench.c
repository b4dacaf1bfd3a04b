/*
 * bench.c — `fusegraph bench`: the seed's table (MatMul 1024/2048/4096, Add and GELU on 1M/10M/100M
 * elements, FusedMatMulAddGelu 1024/2048/4096), one column per ready device, speedup against the CPU.
 *
 * Each case is a graph run through the public API (fg_plan_run), so the numbers include everything a
 * user pays: planning is excluded (done once), binding and any transfers are included. The CPU reads and
 * writes the caller's memory in place, so its mode is "resident". Each GPU gets two columns: "resident"
 * (inputs uploaded once, outputs left on the device: the computation alone) and "host" (inputs from host
 * memory and results back to it). Timing (fg_plan_time): host clock around each run, which ends only
 * when every device has finished; after warm-up; the median of repeated runs.
 * --quick drops the largest size of each op and repeats less; --op NAME and --size N pick cases.
 */
#include "tool.h"

#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

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

/* Median milliseconds of repeated runs of g forced onto device in mode, or a negative value on failure. */
static double time_runs(fg_context *context, bench_graph *g, int device, fg_timing_mode mode, int quick)
{
    fg_plan_options options = {.use_forced_device = 1, .forced_device = device};
    fg_plan *plan = NULL;
    if (fg_plan_create(context, g->graph, &options, &plan) != FG_OK) return -1;
    fg_binding inputs[2], output = {g->output, g->out};
    for (int i = 0; i < g->input_count; i++) inputs[i] = (fg_binding){g->inputs[i], g->data[i]};
    double first = 0, median = 0;
    /* One untimed-for-the-table run sizes the repeat count: ~25 runs of small cases, 5 of the largest. */
    fg_status status = fg_plan_time(plan, inputs, g->input_count, &output, 1, mode, 0, 1, &first);
    int repeats = first < 0.01 ? 25 : first < 0.2 ? 9 : 5;
    if (quick) repeats = repeats > 5 ? 5 : 3;
    if (status == FG_OK)
        status = fg_plan_time(plan, inputs, g->input_count, &output, 1, mode, first < 0.2 ? 1 : 0, repeats, &median);
    fg_plan_destroy(plan);
    return status == FG_OK ? median * 1e3 : -1;
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
    /* Columns: the CPU (its memory is host memory: "resident"), then each GPU resident and from host. */
    int column_device[2 * FG_MAX_DEVICES];
    fg_timing_mode column_mode[2 * FG_MAX_DEVICES];
    int columns = 0;
    for (int d = 0; d < fg_context_device_count(context); d++) {
        fg_device_info info;
        if (fg_context_device_info(context, d, &info) != FG_OK || !info.ready) continue;
        if (d != 0 && options->device >= 0 && options->device != d) continue;
        column_device[columns] = d, column_mode[columns++] = FG_TIMING_RESIDENT;
        if (d != 0) column_device[columns] = d, column_mode[columns++] = FG_TIMING_HOST;
    }
    bench_result results[CASE_COUNT * 2 * FG_MAX_DEVICES];
    int result_count = 0, total = 0, done = 0;
    for (int c = 0; c < CASE_COUNT; c++) total += !skipped(&cases[c], options) * columns;

    printf("%-22s %-10s", "op", "shape");
    for (int i = 0; i < columns; i++) {
        fg_device_info info;
        char title[48];
        fg_context_device_info(context, column_device[i], &info);
        snprintf(title, sizeof title, "%s%s ms", info.backend, i == 0 ? "" : column_mode[i] == FG_TIMING_HOST ? " host" : " resident");
        printf(" %16s", title);
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
        double row[2 * FG_MAX_DEVICES] = {0};
        for (int i = 0; i < columns; i++) {
            char label[64];
            snprintf(label, sizeof label, "%s %s", bc->op, shape);
            tool_progress(done, total, label);
            row[i] = time_runs(context, &g, column_device[i], column_mode[i], options->quick);
            done++;
            if (row[i] < 0) continue;
            bench_result *r = &results[result_count++];
            *r = (bench_result){bc, column_device[i], column_mode[i] == FG_TIMING_HOST ? "host" : "resident", row[i],
                                g.flops / (row[i] * 1e-3) / 1e9, g.bytes / (row[i] * 1e-3) / 1e9};
        }
        tool_progress_end();
        printf("%-22s %-10s", bc->op, shape);
        for (int i = 0; i < columns; i++) {
            if (row[i] < 0) printf(" %16s", "failed");
            else printf(" %16.3f", row[i]);
            if (i) printf(" %7.2fx", row[0] > 0 && row[i] > 0 ? row[0] / row[i] : NAN);
        }
        if (is_matrix(bc) && row[0] > 0) printf("   (cpu %.1f GFLOP/s)", g.flops / (row[0] * 1e-3) / 1e9);
        else if (row[0] > 0) printf("   (cpu %.1f GB/s)", g.bytes / (row[0] * 1e-3) / 1e9);
        printf("\n");
        fflush(stdout);
        release(&g);
    }
    return options->json_path ? write_json(options->json_path, results, result_count, context) : 0;
}
