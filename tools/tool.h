/*
 * tool.h — what the parts of the command-line tool share.
 */
#ifndef FUSEGRAPH_TOOL_H
#define FUSEGRAPH_TOOL_H

#include <fusegraph.h>

/* bench.c: the benchmark table. */
typedef struct tool_bench_options {
    int quick;             /* drop the largest sizes, repeat less */
    const char *json_path; /* write results as JSON here when not NULL */
    int device;            /* >= 0: only this device besides the CPU */
    const char *only_op;   /* not NULL: only this op */
    int64_t only_size;     /* > 0: only this size */
    const char *suite;     /* NULL or "seed": the seed's table; "linear"; "routing" (see bench.c) */
    fg_dtype dtype;        /* the seed table's dtype (f32 unless --dtype) */
    fg_weight_layout weight_layout; /* the seed table's matmul weights: [K, N] unless --weight nk */
} tool_bench_options;
/* Returns the process exit code. */
int tool_bench(fg_context *context, const tool_bench_options *options);

/* models.c: graph builders with random weights (fixed seed). */
fg_status tool_build_mlp(fg_graph **out_graph, int64_t tokens, int64_t hidden, int64_t inner, fg_value *out_x,
                         fg_value *out_y);
/* Fills data with pseudo-random values in [-1, 1). */
void tool_fill_random(float *data, int64_t n, uint64_t seed);

/* progress.c: a one-line progress bar on stderr when it is a terminal; silent otherwise. */
void tool_progress(int done, int total, const char *label);
void tool_progress_end(void);

#endif
