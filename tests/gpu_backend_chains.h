/*
 * gpu_backend_chains.h — decoding-shaped chains on one device, checked by test_gpu_backend.c after the
 * single-op cases: every node reads what the node before it wrote, back to back on the device. CUDA's
 * skinny kernels start before the kernel before them has finished (programmatic dependent launches,
 * src/backends/cuda/kernels/programmatic_launch.cuh) and may read their weight early when no kernel wrote
 * it; a kernel that read an activation, or a computed weight, before its producer had finished would give a
 * wrong result here, where the single-op cases (inputs uploaded, one node) cannot show it.
 *
 * The chain, for M = 1 and 16 (the skinny kernels' range) and every dtype:
 *   h1 = gelu(x W1^T + b1)          x [M, 300], W1 [1000, 300] as [N, K]: a node's output is the next a
 *   h2 = gelu(h1 W2 + b2)           W2 [1000, 77] as [K, N] (the skinny kernel of that layout)
 *   t  = u V^T                      u [7, 64] an input, V [77, 64]: a weight computed by a skinny kernel
 *                                   just before its reader (so never settled), and new in every run
 *   y  = h2 t^T                     t [7, 77] as [N, K]; y [M, 7]
 * (Small sizes: check_chains says why.) GELU is the exact form throughout, so every implementation is
 * held to the dtype's tolerance (cuBLASLt's tanh epilogue rounds twice in 16-bit). The float64 reference rounds h1, h2 and t to the dtype, as the device stores them.
 * Three runs, each with fresh x and u and the output poisoned (NaN) first. This shows a wrong order only if
 * it bites in these runs; check_bandwidth_kernels' ordering check (tests/cuda/programmatic_ordering_check.cuh)
 * forces the window open for every skinny launcher. Included once, by test_gpu_backend.c, after
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
    fg_value x, u, y;
    void *typed_weights[5]; /* W1 ([N, K]), b1, W2 ([K, N]), b2, V ([N, K]) in dtype */
    void *typed_x[CHAIN_RUNS], *typed_u[CHAIN_RUNS];
    double *reference[CHAIN_RUNS];
    int64_t m, outputs;
} chain;

static chain prepare_chain(fg_dtype dtype, int64_t m)
{
    const int64_t k0 = 300, n1 = 1000, n2 = 77, n3 = 7, ku = 64;
    chain c = {0};
    c.m = m, c.outputs = m * n3;
    const size_t element = fg_dtype_size(dtype);
    /* Weights drawn as [K, N] for the reference; W1 and V given to the graph as [N, K], W2 as drawn. */
    void *typed;
    float *w1 = rounded_random(k0 * n1, dtype, &typed), *b1 = rounded_random(n1, dtype, &c.typed_weights[1]);
    c.typed_weights[0] = check_transposed(typed, k0, n1, element);
    free(typed);
    float *w2 = rounded_random(n1 * n2, dtype, &c.typed_weights[2]), *b2 = rounded_random(n2, dtype, &c.typed_weights[3]);
    float *v = rounded_random(ku * n2, dtype, &typed);
    c.typed_weights[4] = check_transposed(typed, ku, n2, element);
    free(typed);
    CHECK_OK(fg_graph_create(&c.graph));
    fg_value w1_value, b1_value, w2_value, b2_value, v_value, h1, h2, t;
    const int64_t x_dims[2] = {m, k0}, u_dims[2] = {n3, ku}, w1_dims[2] = {n1, k0}, w2_dims[2] = {n1, n2},
                  v_dims[2] = {n2, ku};
    CHECK_OK(fg_graph_input(c.graph, "x", dtype, 2, x_dims, &c.x));
    CHECK_OK(fg_graph_input(c.graph, "u", dtype, 2, u_dims, &c.u));
    CHECK_OK(fg_graph_constant(c.graph, "w1", dtype, 2, w1_dims, c.typed_weights[0], &w1_value));
    CHECK_OK(fg_graph_constant(c.graph, "b1", dtype, 1, &n1, c.typed_weights[1], &b1_value));
    CHECK_OK(fg_graph_constant(c.graph, "w2", dtype, 2, w2_dims, c.typed_weights[2], &w2_value));
    CHECK_OK(fg_graph_constant(c.graph, "b2", dtype, 1, &n2, c.typed_weights[3], &b2_value));
    CHECK_OK(fg_graph_constant(c.graph, "v", dtype, 2, v_dims, c.typed_weights[4], &v_value));
    CHECK_OK(fg_graph_fused_matmul_add_gelu_with_layout(c.graph, c.x, w1_value, FG_WEIGHT_N_K, b1_value, FG_GELU_EXACT, &h1));
    CHECK_OK(fg_graph_fused_matmul_add_gelu_with_layout(c.graph, h1, w2_value, FG_WEIGHT_K_N, b2_value, FG_GELU_EXACT, &h2));
    CHECK_OK(fg_graph_matmul_with_layout(c.graph, c.u, v_value, FG_WEIGHT_N_K, &t));
    CHECK_OK(fg_graph_matmul_with_layout(c.graph, h2, t, FG_WEIGHT_N_K, &c.y));
    CHECK_OK(fg_graph_mark_output(c.graph, c.y));
    CHECK_OK(fg_graph_fuse(c.graph, NULL));
    for (int r = 0; r < CHAIN_RUNS; r++) {
        float *x_values = rounded_random(m * k0, dtype, &c.typed_x[r]);
        float *u_values = rounded_random(n3 * ku, dtype, &c.typed_u[r]);
        float *h1_values = reference_layer(x_values, w1, b1, m, k0, n1, 1, dtype);
        float *h2_values = reference_layer(h1_values, w2, b2, m, n1, n2, 1, dtype);
        /* t [n3, n2] as the device stores it; the last node reads it as [N, K], so the reference's [K, N]
         * operand is its transpose. */
        float *t_values = reference_layer(u_values, v, NULL, n3, ku, n2, 0, dtype);
        float *t_k_n = check_transposed(t_values, n3, n2, sizeof(float));
        c.reference[r] = reference_matmul(h2_values, t_k_n, NULL, m, n2, n3, 0, FG_GELU_EXACT);
        free(x_values), free(u_values), free(h1_values), free(h2_values), free(t_values), free(t_k_n);
    }
    free(w1), free(b1), free(w2), free(b2), free(v);
    return c;
}

static void release_chain(chain *c)
{
    fg_graph_destroy(c->graph);
    for (int i = 0; i < 5; i++) free(c->typed_weights[i]);
    for (int r = 0; r < CHAIN_RUNS; r++) free(c->typed_x[r]), free(c->typed_u[r]), free(c->reference[r]);
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
        fg_binding inputs[2] = {{c->x, c->typed_x[r]}, {c->u, c->typed_u[r]}}, out = {c->y, output};
        int fallbacks = 0;
        if (fg_plan_run(plan, inputs, 2, &out, 1, &fallbacks) != FG_OK || fallbacks != 0) {
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

/* CUDA: every dtype and M, on every variant (each forced implementation launches its own kernels). Other
 * backends have no early launches: one chain (f32, M = 1) on the autotuned variant, since on lavapipe in CI
 * each new shape is first measured for its tile (all six chains took minutes there). Small sizes: with
 * 1000, 4097, 777 and 16 in their place, test_gpu_backend cuda had run only 7 of its 54 chains after ~200 s
 * on a fresh H100, where the whole test with an earlier chain of the same sizes took 62 s (the cause was
 * not found: the session's device time had run out). Which sizes expose a wrong order is the ordering
 * check's business (check_bandwidth_kernels), not this end-to-end one's. */
static void check_chains(variant *variants, int variant_count)
{
    const int every_variant = strcmp(backend, "cuda") == 0;
    const int dtype_count = every_variant ? 3 : 1, m_count = every_variant ? 2 : 1;
    const fg_dtype dtypes[] = {FG_F32, FG_F16, FG_BF16};
    const int64_t ms[] = {1, 16};
    for (int d = 0; d < dtype_count; d++)
        for (int i = 0; i < m_count; i++) {
            chain c = prepare_chain(dtypes[d], ms[i]);
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
