/*
 * bench.c — `fusegraph bench`: the seed's table (MatMul 1024/2048/4096, Add and GELU on 1M/10M/100M
 * elements, FusedMatMulAddGelu 1024/2048/4096), one column per ready device, speedup against the CPU.
 * Other suites (bench_suites.c): `--suite linear` (fused linear+GELU on transformer shapes, several
 * dtypes, on the GPUs) and `--suite routing` (the planner's choice against all-CPU and all-GPU).
 *
 * Each case is a graph run through the public API, so the numbers include everything a user pays:
 * planning is excluded (done once), binding and any transfers are included. Weights (constants) stay
 * resident on the device that uses them, as a served model keeps them. The CPU reads and writes the
 * caller's memory in place, so its mode is "resident". Each GPU gets two columns: "resident" (inputs
 * uploaded once, outputs left on the device: the computation alone) and "host" (inputs from host memory
 * and results back to it). Timing: fg_plan_time, medians after warm-up (see its comment for the modes).
 * --quick drops the largest size of each op and repeats less; --op NAME and --size N pick cases.
 */
#include "bench.h"

#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

static const bench_case seed_cases[] = {
    F32_CASE("matmul", 1024, 1024, 1024),     F32_CASE("matmul", 2048, 2048, 2048),     F32_CASE("matmul", 4096, 4096, 4096),
    F32_CASE("add", 1, 1, 1000000),           F32_CASE("add", 1, 1, 10000000),          F32_CASE("add", 1, 1, 100000000),
    F32_CASE("gelu", 1, 1, 1000000),          F32_CASE("gelu", 1, 1, 10000000),         F32_CASE("gelu", 1, 1, 100000000),
    F32_CASE("fused_matmul_add_gelu", 1024, 1024, 1024), F32_CASE("fused_matmul_add_gelu", 2048, 2048, 2048),
    F32_CASE("fused_matmul_add_gelu", 4096, 4096, 4096),
};
#define SEED_CASE_COUNT (int)(sizeof seed_cases / sizeof *seed_cases)

int bench_next_gpu(fg_context *context, const tool_bench_options *options, int after)
{
    for (int d = after + 1; d < fg_context_device_count(context); d++) {
        fg_device_info info;
        if (fg_context_device_info(context, d, &info) != FG_OK || !info.ready) continue;
        if (options->device >= 0 && options->device != d) continue;
        return d;
    }
    return -1;
}

int bench_is_matrix(const bench_case *c) { return strcmp(c->op, "matmul") == 0 || strcmp(c->op, "fused_matmul_add_gelu") == 0; }

/* Random values in [-1, 1) in dtype. */
static void *random_tensor(int64_t count, fg_dtype dtype, uint64_t seed)
{
    float *values = malloc(sizeof(float) * (size_t)count);
    if (!values) return NULL;
    tool_fill_random(values, count, seed);
    if (dtype == FG_F32) return values;
    void *typed = malloc(2 * (size_t)count);
    if (typed) fg_convert(values, FG_F32, typed, dtype, count);
    free(values);
    return typed;
}

fg_status bench_build(const bench_case *c, bench_graph *g)
{
    memset(g, 0, sizeof *g);
    fg_status status = fg_graph_create(&g->graph);
    if (status != FG_OK) return status;
    size_t element = c->dtype == FG_F32 ? 4 : 2;
    if (strcmp(c->op, "mlp") == 0) { /* x[m, k] -> linear n + GELU -> linear k, f32 */
        fg_graph_destroy(g->graph);
        g->graph = NULL;
        if ((status = tool_build_mlp(&g->graph, c->m, c->k, c->n, &g->inputs[0], &g->output)) != FG_OK) return status;
        fg_graph_fuse(g->graph, NULL);
        g->input_count = 1;
        g->data[0] = random_tensor(c->m * c->k, FG_F32, 13);
        g->out = malloc(4 * (size_t)(c->m * c->k));
        g->flops = 4.0 * (double)c->m * (double)c->k * (double)c->n;
        g->bytes = 4.0 * (2.0 * (double)c->k * (double)c->n + 2.0 * (double)c->m * (double)c->k);
        return g->data[0] && g->out ? FG_OK : FG_ERR_OUT_OF_MEMORY;
    }
    if (bench_is_matrix(c)) {
        int transposed = c->layout == FG_WEIGHT_N_K;
        int64_t xd[2] = {c->m, c->k}, wd[2] = {transposed ? c->n : c->k, transposed ? c->k : c->n};
        void *w = random_tensor(c->k * c->n, c->dtype, 11), *b = random_tensor(c->n, c->dtype, 12);
        g->data[0] = random_tensor(c->m * c->k, c->dtype, 13);
        g->out = malloc(element * (size_t)(c->m * c->n));
        if (!w || !b || !g->data[0] || !g->out) {
            free(w), free(b);
            return FG_ERR_OUT_OF_MEMORY;
        }
        fg_value wv, bv;
        g->input_count = 1;
        if ((status = fg_graph_input(g->graph, "x", c->dtype, 2, xd, &g->inputs[0])) == FG_OK &&
            (status = fg_graph_constant(g->graph, "w", c->dtype, 2, wd, w, &wv)) == FG_OK &&
            (status = fg_graph_constant(g->graph, "b", c->dtype, 1, &c->n, b, &bv)) == FG_OK) {
            if (strcmp(c->op, "matmul") == 0) status = fg_graph_matmul_with_layout(g->graph, g->inputs[0], wv, c->layout, &g->output);
            else
                status = fg_graph_fused_matmul_add_gelu_with_layout(g->graph, g->inputs[0], wv, c->layout, bv, c->gelu,
                                                                    &g->output);
        }
        free(w), free(b);
        g->flops = 2.0 * (double)c->m * (double)c->k * (double)c->n;
        g->bytes = (double)element * ((double)c->m * c->k + (double)c->k * c->n + (double)c->m * c->n);
    } else {
        int add = strcmp(c->op, "add") == 0;
        g->input_count = add ? 2 : 1;
        g->out = malloc(element * (size_t)c->n);
        if (!g->out) return FG_ERR_OUT_OF_MEMORY;
        for (int i = 0; i < g->input_count; i++) {
            g->data[i] = random_tensor(c->n, c->dtype, 20 + (uint64_t)i);
            if (!g->data[i]) return FG_ERR_OUT_OF_MEMORY;
            if ((status = fg_graph_input(g->graph, i ? "b" : "a", c->dtype, 1, &c->n, &g->inputs[i])) != FG_OK) return status;
        }
        status = add ? fg_graph_add(g->graph, g->inputs[0], g->inputs[1], &g->output)
                     : fg_graph_gelu(g->graph, g->inputs[0], c->gelu, &g->output);
        g->flops = 0;
        g->bytes = (double)element * (double)c->n * (add ? 3.0 : 2.0);
    }
    if (status == FG_OK) status = fg_graph_mark_output(g->graph, g->output);
    return status;
}

void bench_release(bench_graph *g)
{
    fg_graph_destroy(g->graph);
    free(g->data[0]), free(g->data[1]), free(g->out);
}

int bench_same_placement(const bench_placement *a, const bench_placement *b)
{
    if (a->nodes == 0 || a->nodes != b->nodes) return 0;
    for (int i = 0; i < a->nodes; i++)
        if (a->device[i] != b->device[i]) return 0;
    return 1;
}

double bench_time(fg_context *context, bench_graph *g, const fg_plan_options *options, fg_timing_mode mode, int quick)
{
    fg_plan *plan = NULL;
    bench_placement *placement = &g->placement;
    placement->nodes = 0;
    if (fg_plan_create(context, g->graph, options, &plan) != FG_OK) return -1;
    while (placement->nodes < BENCH_MAX_PLAN_NODES &&
           fg_plan_node_device(plan, placement->nodes, &placement->device[placement->nodes]) == FG_OK)
        placement->nodes++;
    int beyond = 0;
    if (placement->nodes == BENCH_MAX_PLAN_NODES && fg_plan_node_device(plan, BENCH_MAX_PLAN_NODES, &beyond) == FG_OK)
        placement->nodes = 0; /* more nodes than the placement holds: not comparable */
    /* The implementation the chosen device runs the (single) node with, as the plan explains it: the
     * line under that device's estimate line ("    cuda     compute ..."). */
    g->implementation[0] = 0;
    int device = -1;
    fg_device_info info;
    if (fg_plan_node_device(plan, 0, &device) == FG_OK && fg_context_device_info(context, device, &info) == FG_OK) {
        char needle[48];
        snprintf(needle, sizeof needle, "\n    %-8s compute", info.backend);
        const char *line = strstr(fg_plan_explain(plan), needle);
        const char *next = line ? strchr(line + 1, '\n') : NULL;
        static const char marker[] = "\n             implementation ";
        if (next && strncmp(next, marker, strlen(marker)) == 0)
            sscanf(next + strlen(marker), "%95[^,\n]", g->implementation);
    }
    fg_binding inputs[2], output = {g->output, g->out};
    for (int i = 0; i < g->input_count; i++) inputs[i] = (fg_binding){g->inputs[i], g->data[i]};
    double first = 0, median = 0;
    /* One run sizes the repeat count: ~25 runs of small cases, 5 of the largest. */
    fg_status status = fg_plan_time(plan, inputs, g->input_count, &output, 1, mode, 0, 1, &first);
    int repeats = first < 0.01 ? 25 : first < 0.2 ? 9 : 5;
    if (quick) repeats = repeats > 5 ? 5 : 3;
    if (status == FG_OK)
        status = fg_plan_time(plan, inputs, g->input_count, &output, 1, mode, first < 0.2 ? 2 : 0, repeats, &median);
    fg_plan_destroy(plan);
    return status == FG_OK ? median * 1e3 : -1;
}

/* Weights stay on the device across runs, as a served model keeps them (and as PyTorch measures). */
double bench_time_on(fg_context *context, bench_graph *g, const bench_case *c, int device, fg_timing_mode mode, int quick)
{
    fg_plan_options options = {.constants_resident = 1, .use_forced_device = 1, .forced_device = device,
                               .matmul_precision = c->precision};
    return bench_time(context, g, &options, mode, quick);
}

void bench_record(bench_results *results, const bench_case *c, const bench_graph *g, const char *device, const char *mode,
                  double median_ms)
{
    if (median_ms < 0) return;
    if (results->count == results->capacity) {
        int capacity = results->capacity ? results->capacity * 2 : 64;
        bench_result *grown = realloc(results->items, sizeof *grown * (size_t)capacity);
        if (!grown) return;
        results->items = grown;
        results->capacity = capacity;
    }
    bench_result *r = &results->items[results->count++];
    *r = (bench_result){*c, "", "", median_ms, g->flops / (median_ms * 1e-3) / 1e9, g->bytes / (median_ms * 1e-3) / 1e9, ""};
    snprintf(r->device, sizeof r->device, "%s", device);
    snprintf(r->implementation, sizeof r->implementation, "%s", g->implementation);
    snprintf(r->mode, sizeof r->mode, "%s", mode);
}

int bench_write_json(const char *path, const bench_results *results)
{
    FILE *file = fopen(path, "w");
    if (!file) {
        fprintf(stderr, "fusegraph bench: cannot write %s\n", path);
        return 1;
    }
    fprintf(file, "{\"results\":[");
    for (int i = 0; i < results->count; i++) {
        const bench_result *r = &results->items[i];
        fprintf(file, "%s\n {\"op\":\"%s\",\"shape\":", i ? "," : "", r->c.op);
        if (bench_is_matrix(&r->c) || strcmp(r->c.op, "mlp") == 0)
            fprintf(file, "[%lld,%lld,%lld]", (long long)r->c.m, (long long)r->c.k, (long long)r->c.n);
        else fprintf(file, "[%lld]", (long long)r->c.n);
        fprintf(file, ",\"dtype\":\"%s\",\"precision\":\"%s\",\"gelu\":\"%s\",\"weight\":\"%s\",\"device\":\"%s\","
                      "\"mode\":\"%s\",\"implementation\":\"%s\",\"median_ms\":%.6f,\"gflops\":%.3f,\"gbps\":%.3f}",
                fg_dtype_name(r->c.dtype), r->c.precision == FG_PRECISION_TF32 ? "tf32" : "exact",
                r->c.gelu == FG_GELU_TANH ? "tanh" : "exact", r->c.layout == FG_WEIGHT_N_K ? "nk" : "kn", r->device, r->mode, r->implementation, r->median_ms,
                r->gflops, r->gbps);
    }
    fprintf(file, "\n]}\n");
    return fclose(file) == 0 ? 0 : 1;
}

static int skipped(const bench_case *c, const tool_bench_options *options)
{
    if (options->quick && (c->n == 4096 || c->n == 100000000)) return 1;
    if (options->only_op && strcmp(options->only_op, c->op) != 0) return 1;
    return options->only_size > 0 && options->only_size != c->n;
}

static int seed_table(fg_context *context, const tool_bench_options *options, bench_results *results)
{
    /* Columns: the CPU (its memory is host memory: "resident"), then each GPU resident and from host. */
    int column_device[2 * FG_MAX_DEVICES];
    fg_timing_mode column_mode[2 * FG_MAX_DEVICES];
    int columns = 0, total = 0, done = 0;
    column_device[columns] = 0, column_mode[columns++] = FG_TIMING_RESIDENT; /* the CPU is always ready */
    for (int d = bench_next_gpu(context, options, 0); d >= 0; d = bench_next_gpu(context, options, d)) {
        column_device[columns] = d, column_mode[columns++] = FG_TIMING_RESIDENT;
        column_device[columns] = d, column_mode[columns++] = FG_TIMING_HOST;
    }
    for (int c = 0; c < SEED_CASE_COUNT; c++) total += !skipped(&seed_cases[c], options) * columns;
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
    for (int c = 0; c < SEED_CASE_COUNT; c++) {
        bench_case with_dtype = seed_cases[c];
        with_dtype.dtype = options->dtype;
        with_dtype.layout = options->weight_layout;
        const bench_case *bc = &with_dtype;
        if (skipped(bc, options)) continue;
        bench_graph g;
        char shape[32];
        if (bench_is_matrix(bc)) snprintf(shape, sizeof shape, "%lldx%lld", (long long)bc->n, (long long)bc->n);
        else snprintf(shape, sizeof shape, "%lldM", (long long)(bc->n / 1000000));
        if (bench_build(bc, &g) != FG_OK) {
            fprintf(stderr, "fusegraph bench: cannot build %s %s: %s\n", bc->op, shape, fg_last_error());
            bench_release(&g);
            continue;
        }
        double row[2 * FG_MAX_DEVICES] = {0};
        for (int i = 0; i < columns; i++) {
            char label[64];
            fg_device_info info;
            fg_context_device_info(context, column_device[i], &info);
            snprintf(label, sizeof label, "%s %s", bc->op, shape);
            tool_progress(done++, total, label);
            row[i] = bench_time_on(context, &g, bc, column_device[i], column_mode[i], options->quick);
            bench_record(results, bc, &g, info.backend, column_mode[i] == FG_TIMING_HOST ? "host" : "resident", row[i]);
        }
        tool_progress_end();
        printf("%-22s %-10s", bc->op, shape);
        for (int i = 0; i < columns; i++) {
            if (row[i] < 0) printf(" %16s", "failed");
            else printf(" %16.3f", row[i]);
            if (i) printf(" %7.2fx", row[0] > 0 && row[i] > 0 ? row[0] / row[i] : NAN);
        }
        if (bench_is_matrix(bc) && row[0] > 0) printf("   (cpu %.1f GFLOP/s)", g.flops / (row[0] * 1e-3) / 1e9);
        else if (row[0] > 0) printf("   (cpu %.1f GB/s)", g.bytes / (row[0] * 1e-3) / 1e9);
        printf("\n");
        fflush(stdout);
        bench_release(&g);
    }
    return 0;
}

int tool_bench(fg_context *context, const tool_bench_options *options)
{
    bench_results results = {0};
    int status;
    if (!options->suite || strcmp(options->suite, "seed") == 0) status = seed_table(context, options, &results);
    else if (strcmp(options->suite, "linear") == 0) status = bench_linear_suite(context, options, &results);
    else if (strcmp(options->suite, "routing") == 0) status = bench_routing_suite(context, options, &results);
    else {
        fprintf(stderr, "fusegraph bench: unknown suite %s (seed, linear, routing)\n", options->suite);
        return 2;
    }
    if (status == 0 && options->json_path) status = bench_write_json(options->json_path, &results);
    free(results.items);
    return status;
}
