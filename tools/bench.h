/*
 * bench.h — what the benchmark suites share (bench.c: cases, graphs, timing, JSON; bench_suites.c: the
 * linear and routing suites).
 */
#ifndef FUSEGRAPH_BENCH_H
#define FUSEGRAPH_BENCH_H

#include "tool.h"

typedef struct bench_case {
    const char *op; /* matmul | add | gelu | fused_matmul_add_gelu | mlp */
    int64_t m, k, n; /* matrices: [m, k] x [k, n]; elementwise: n elements; mlp: m tokens, k hidden, n inner */
    fg_dtype dtype;
    fg_matmul_precision precision;
    fg_gelu_form gelu;
    fg_weight_layout layout; /* matrices: the weight as [k, n] or [n, k] (PyTorch's nn.Linear) */
} bench_case;
#define F32_CASE(op, m, k, n) {op, m, k, n, FG_F32, FG_PRECISION_EXACT, FG_GELU_EXACT, FG_WEIGHT_K_N}

#define BENCH_MAX_PLAN_NODES 8

/* The device index of each node of a plan (nodes 0 when the plan failed or has more nodes than this
 * holds: then it compares equal to no other). */
typedef struct bench_placement {
    int device[BENCH_MAX_PLAN_NODES];
    int nodes;
} bench_placement;

typedef struct bench_graph {
    fg_graph *graph;
    fg_value inputs[2];
    int input_count;
    fg_value output;
    void *data[2], *out;
    double flops, bytes;
    char implementation[96]; /* the GPU implementation the last timed plan chose ("" when none was named) */
    bench_placement placement; /* where the last timed plan ran its nodes */
} bench_graph;

typedef struct bench_result {
    bench_case c;
    char device[32]; /* a backend name, or "auto" for the planner's own choice */
    char mode[16];   /* resident | host */
    double median_ms, gflops, gbps;
    char implementation[96];
} bench_result;

typedef struct bench_results {
    bench_result *items;
    int count, capacity;
} bench_results;

int bench_is_matrix(const bench_case *c);
/* The first ready GPU after device index `after` (0: the first of all) that options->device allows, or -1. */
int bench_next_gpu(fg_context *context, const tool_bench_options *options, int after);
fg_status bench_build(const bench_case *c, bench_graph *g);
void bench_release(bench_graph *g);
/* Whether two plans put the same number of nodes on the same devices, node by node (and have nodes). */
int bench_same_placement(const bench_placement *a, const bench_placement *b);
/* Median milliseconds of g planned with options in mode, or a negative value on failure. */
double bench_time(fg_context *context, bench_graph *g, const fg_plan_options *options, fg_timing_mode mode, int quick);
/* The same, forced onto device, constants resident, with c's precision. */
double bench_time_on(fg_context *context, bench_graph *g, const bench_case *c, int device, fg_timing_mode mode, int quick);
void bench_record(bench_results *results, const bench_case *c, const bench_graph *g, const char *device, const char *mode,
                  double median_ms);
int bench_write_json(const char *path, const bench_results *results);

int bench_linear_suite(fg_context *context, const tool_bench_options *options, bench_results *results);
int bench_routing_suite(fg_context *context, const tool_bench_options *options, bench_results *results);

#endif
