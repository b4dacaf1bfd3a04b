/*
 * gpu_backend_chains.h — decoding-shaped chains on one device, checked by test_gpu_backend.c after the
 * single-op cases: every node reads what the node before it wrote, back to back on the device. CUDA's
 * skinny kernels start before the kernel before them has finished (programmatic dependent launches,
 * src/backends/cuda/kernels/programmatic_launch.cuh) and may read their weight early when no kernel wrote
 * it; a kernel that read an activation, or a computed weight, before its producer had finished would give a
 * wrong result here, where the single-op cases (inputs uploaded, one node) cannot show it.
 *
 * The chain, for M = 1 and 16 (the skinny kernels' range) and every dtype, weights as [N, K]:
 *   h1 = gelu(x W1^T + b1)          x [M, 1000], W1 [4097, 1000]   a node's output is the next one's a
 *   h2 = gelu(h1 W2^T + b2)         W2 [777, 4097]
 *   t  = gelu(W3)                   W3 [31, 777]: a weight computed by a kernel (so never read early)
 *   y  = h2 t^T                     [M, 31]
 * (FUSEGRAPH_TEST_QUICK: 300, 1000, 77 and 7 for the sizes.) GELU is the exact form throughout, so every
 * implementation is held to the dtype's tolerance (cuBLASLt's tanh epilogue rounds twice in 16-bit). The
 * float64 reference rounds h1, h2 and t to the dtype, as the device stores them. Three runs, each with a
 * fresh x and the output poisoned (NaN) first. Included once, by test_gpu_backend.c, after
 * gpu_backend_cases.h.
 */
#ifndef FUSEGRAPH_TEST_GPU_BACKEND_CHAINS_H
#define FUSEGRAPH_TEST_GPU_BACKEND_CHAINS_H

#include "gpu_backend_cases.h"

#define CHAIN_RUNS 3

/* values (count, f32) rounded to dtype and back, in place. */
static void round_to(float *values, int64_t count, fg_dtype dtype)
{
    void *typed = malloc(fg_dtype_size(dtype) * (size_t)count);
    fg_convert(values, FG_F32, typed, dtype, count);
    fg_convert(typed, dtype, values, FG_F32, count);
    free(typed);
}

/* The float64 reference layer a [m, k] x w [k, n] (+ bias, gelu), rounded to dtype as an f32 array. */
static float *reference_layer(const float *a, const float *w, const float *bias, int64_t m, int64_t k, int64_t n, int gelu,
                              fg_dtype dtype)
{
    double *wide = reference_matmul(a, w, bias, m, k, n, gelu, FG_GELU_EXACT);
    float *out = malloc(sizeof(float) * (size_t)(m * n));
    for (int64_t i = 0; i < m * n; i++) out[i] = (float)wide[i];
    free(wide);
    round_to(out, m * n, dtype);
    return out;
}

typedef struct chain {
    fg_graph *graph;
    fg_value x, y;
    void *typed_weights[5]; /* W1, b1, W2, b2, W3 in dtype (W as [N, K]) */
    float *x_runs[CHAIN_RUNS];
    void *typed_x[CHAIN_RUNS];
    double *reference[CHAIN_RUNS];
    int64_t m, outputs;
} chain;

static chain prepare_chain(fg_dtype dtype, int64_t m, int quick)
{
    const int64_t k0 = quick ? 300 : 1000, n1 = quick ? 1000 : 4097, n2 = quick ? 77 : 777, n3 = quick ? 7 : 31;
    chain c = {0};
    c.m = m, c.outputs = m * n3;
    /* Weights drawn as [K, N] for the reference, given to the graph as [N, K]. */
    const int64_t k_of[3] = {k0, n1, n2}, n_of[3] = {n1, n2, n3};
    float *w[3], *bias[2];
    for (int l = 0; l < 3; l++) {
        void *typed;
        w[l] = rounded_random(k_of[l] * n_of[l], dtype, &typed);
        c.typed_weights[2 * l] = check_transposed(typed, k_of[l], n_of[l], fg_dtype_size(dtype));
        free(typed);
        if (l < 2) bias[l] = rounded_random(n_of[l], dtype, &c.typed_weights[2 * l + 1]);
    }
    CHECK_OK(fg_graph_create(&c.graph));
    fg_value weight[3], bias_value[2], h1, h2, t;
    int64_t x_dims[2] = {m, k0};
    CHECK_OK(fg_graph_input(c.graph, "x", dtype, 2, x_dims, &c.x));
    for (int l = 0; l < 3; l++) {
        int64_t dims[2] = {n_of[l], k_of[l]}, bias_dims[1] = {n_of[l]};
        char name[8];
        snprintf(name, sizeof name, "w%d", l + 1);
        CHECK_OK(fg_graph_constant(c.graph, name, dtype, 2, dims, c.typed_weights[2 * l], &weight[l]));
        snprintf(name, sizeof name, "b%d", l + 1);
        if (l < 2) CHECK_OK(fg_graph_constant(c.graph, name, dtype, 1, bias_dims, c.typed_weights[2 * l + 1], &bias_value[l]));
    }
    CHECK_OK(fg_graph_fused_matmul_add_gelu_with_layout(c.graph, c.x, weight[0], FG_WEIGHT_N_K, bias_value[0], FG_GELU_EXACT, &h1));
    CHECK_OK(fg_graph_fused_matmul_add_gelu_with_layout(c.graph, h1, weight[1], FG_WEIGHT_N_K, bias_value[1], FG_GELU_EXACT, &h2));
    CHECK_OK(fg_graph_gelu(c.graph, weight[2], FG_GELU_EXACT, &t));
    CHECK_OK(fg_graph_matmul_with_layout(c.graph, h2, t, FG_WEIGHT_N_K, &c.y));
    CHECK_OK(fg_graph_mark_output(c.graph, c.y));
    CHECK_OK(fg_graph_fuse(c.graph, NULL));
    /* t = gelu(W3) as the device stores it, [K, N] like w[2]. */
    float *t_values = malloc(sizeof(float) * (size_t)(n2 * n3));
    for (int64_t i = 0; i < n2 * n3; i++) t_values[i] = (float)reference_gelu(w[2][i], FG_GELU_EXACT);
    round_to(t_values, n2 * n3, dtype);
    for (int r = 0; r < CHAIN_RUNS; r++) {
        c.x_runs[r] = rounded_random(m * k0, dtype, &c.typed_x[r]);
        float *h1_values = reference_layer(c.x_runs[r], w[0], bias[0], m, k0, n1, 1, dtype);
        float *h2_values = reference_layer(h1_values, w[1], bias[1], m, n1, n2, 1, dtype);
        c.reference[r] = reference_matmul(h2_values, t_values, NULL, m, n2, n3, 0, FG_GELU_EXACT);
        free(h1_values), free(h2_values);
    }
    free(t_values);
    for (int l = 0; l < 3; l++) free(w[l]);
    free(bias[0]), free(bias[1]);
    return c;
}

static void release_chain(chain *c)
{
    fg_graph_destroy(c->graph);
    for (int i = 0; i < 5; i++) free(c->typed_weights[i]);
    for (int r = 0; r < CHAIN_RUNS; r++) free(c->x_runs[r]), free(c->typed_x[r]), free(c->reference[r]);
}

/* The chain's runs on one variant: the largest relative error over the runs (INFINITY when a run fails or a
 * node is not on the device). */
static double run_chain(const chain *c, fg_dtype dtype, const variant *v)
{
    fg_plan *plan = NULL;
    fg_plan_options options = {.use_forced_device = 1, .forced_device = v->device};
    if (fg_plan_create(v->context, c->graph, &options, &plan) != FG_OK) {
        printf("     plan: %s\n", fg_last_error());
        return INFINITY;
    }
    for (int node = 0; node < fg_graph_node_count(c->graph); node++) {
        int device = -1;
        if (fg_plan_node_device(plan, node, &device) != FG_OK || device != v->device) {
            printf("     node %d is not on the device\n", node);
            fg_plan_destroy(plan);
            return INFINITY;
        }
    }
    size_t bytes = fg_dtype_size(dtype) * (size_t)c->outputs;
    void *output = malloc(bytes);
    float *wide = malloc(sizeof(float) * (size_t)c->outputs);
    double worst = 0;
    for (int r = 0; r < CHAIN_RUNS && worst < INFINITY; r++) {
        memset(output, 0xFF, bytes); /* NaN in every dtype */
        fg_binding input = {c->x, c->typed_x[r]}, out = {c->y, output};
        int fallbacks = 0;
        if (fg_plan_run(plan, &input, 1, &out, 1, &fallbacks) != FG_OK || fallbacks != 0) {
            printf("     run %d: %s (%d fallbacks)\n", r, fg_last_error(), fallbacks);
            worst = INFINITY;
            break;
        }
        fg_convert(output, dtype, wide, FG_F32, c->outputs);
        double error = check_relative_error(wide, c->reference[r], c->outputs);
        if (!(error <= worst)) worst = error; /* NaN too */
    }
    free(output), free(wide);
    fg_plan_destroy(plan);
    return worst;
}

/* Every variant for CUDA (each forced implementation has its own kernels' launches); the autotuned one
 * elsewhere (Vulkan has no early launches, and lavapipe in CI is slow at these sizes). */
static void check_chains(variant *variants, int variant_count)
{
    const int quick = getenv("FUSEGRAPH_TEST_QUICK") != NULL, every_variant = strcmp(backend, "cuda") == 0;
    const fg_dtype dtypes[] = {FG_F32, FG_F16, FG_BF16};
    const int64_t ms[] = {1, 16};
    for (int d = 0; d < 3; d++)
        for (int i = 0; i < 2; i++) {
            chain c = prepare_chain(dtypes[d], ms[i], quick);
            const double limit = dtypes[d] == FG_F32 ? 1e-5 : 1e-2;
            for (int v = 0; v < (every_variant ? variant_count : 1); v++) {
                double error = run_chain(&c, dtypes[d], &variants[v]);
                int ok = error <= limit;
                check_count++;
                if (!ok) check_failures++;
                printf("%s %s chain %s M=%lld (%s): worst of %d runs %.2e (limit %.0e)\n", ok ? "ok  " : "FAIL", backend,
                       fg_dtype_name(dtypes[d]), (long long)ms[i], variants[v].label, CHAIN_RUNS, error, limit);
            }
            release_chain(&c);
        }
}

#endif /* FUSEGRAPH_TEST_GPU_BACKEND_CHAINS_H */
