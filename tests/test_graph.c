/*
 * test_graph.c — building graphs: every invalid graph is refused with the op and shapes named; the
 * fusion pass rewrites what it should and nothing else; fused and unfused graphs give the same results;
 * randomized shapes through whole graphs on the CPU against the float64 reference.
 */
#include "check.h"

static fg_value input(fg_graph *graph, int rank, int64_t d0, int64_t d1, int64_t d2)
{
    int64_t dims[3] = {d0, d1, d2};
    fg_value value = -1;
    CHECK_OK(fg_graph_input(graph, "x", FG_F32, rank, dims, &value));
    return value;
}

static void test_bad_inputs(void)
{
    fg_graph *graph;
    CHECK_OK(fg_graph_create(&graph));
    fg_value a = input(graph, 2, 4, 3, 0), b = input(graph, 2, 5, 2, 0), c = input(graph, 2, 3, 2, 0), out;
    int64_t dims[5] = {1, 2, 3, 4, 5}, zero[2] = {3, 0};
    CHECK_FAILS(fg_graph_matmul(graph, a, b, &out), FG_ERR_SHAPE, "[matmul] inner dims differ: a is [4, 3], b is [5, 2]");
    CHECK_FAILS(fg_graph_matmul(graph, a, 99, &out), FG_ERR_INVALID_ARGUMENT, "[matmul] b is value 99");
    CHECK_FAILS(fg_graph_matmul(graph, a, -1, &out), FG_ERR_INVALID_ARGUMENT, "[matmul]");
    CHECK_FAILS(fg_graph_matmul(NULL, a, c, &out), FG_ERR_INVALID_ARGUMENT, "[matmul]");
    CHECK_FAILS(fg_graph_matmul(graph, a, c, NULL), FG_ERR_INVALID_ARGUMENT, "[matmul]");
    fg_value v1 = input(graph, 1, 3, 0, 0);
    CHECK_FAILS(fg_graph_matmul(graph, v1, c, &out), FG_ERR_SHAPE, "[matmul] a must have rank >= 2");
    fg_value batched_b = input(graph, 3, 2, 3, 2);
    CHECK_FAILS(fg_graph_matmul(graph, a, batched_b, &out), FG_ERR_SHAPE, "[matmul] b must have rank 2");
    CHECK_FAILS(fg_graph_add(graph, a, b, &out), FG_ERR_SHAPE, "[add] shapes do not fit: a is [4, 3], b is [5, 2]");
    fg_value wrong_bias = input(graph, 1, 4, 0, 0);
    CHECK_FAILS(fg_graph_add(graph, a, wrong_bias, &out), FG_ERR_SHAPE, "[add] shapes do not fit");
    CHECK_FAILS(fg_graph_gelu(graph, a, (fg_gelu_form)7, &out), FG_ERR_INVALID_ARGUMENT, "[gelu] unknown gelu form 7");
    CHECK_FAILS(fg_graph_gelu(graph, 1234, FG_GELU_EXACT, &out), FG_ERR_INVALID_ARGUMENT, "[gelu] x is value 1234");
    CHECK_FAILS(fg_graph_input(graph, "x", FG_F32, 5, dims, &out), FG_ERR_SHAPE, "[input] rank must be 1..4, got 5");
    CHECK_FAILS(fg_graph_input(graph, "x", FG_F32, 0, dims, &out), FG_ERR_SHAPE, "[input] rank must be 1..4, got 0");
    CHECK_FAILS(fg_graph_input(graph, "x", FG_F32, 2, zero, &out), FG_ERR_SHAPE, "[input] dim 1 is 0");
    CHECK_FAILS(fg_graph_input(graph, "x", (fg_dtype)9, 2, dims, &out), FG_ERR_DTYPE, "[input] unknown dtype 9");
    CHECK_FAILS(fg_graph_constant(graph, "w", FG_F32, 2, dims, NULL, &out), FG_ERR_INVALID_ARGUMENT, "[constant]");
    int64_t half_dims[2] = {3, 2};
    fg_value half;
    CHECK_OK(fg_graph_input(graph, "h", FG_F16, 2, half_dims, &half));
    CHECK_FAILS(fg_graph_matmul(graph, a, half, &out), FG_ERR_DTYPE, "[matmul] dtypes differ: input 0 is f32, input 1 is f16");
    fg_value bias2 = input(graph, 1, 2, 0, 0), bias3 = input(graph, 1, 3, 0, 0);
    CHECK_FAILS(fg_graph_fused_matmul_add_gelu(graph, a, c, bias3, FG_GELU_EXACT, &out), FG_ERR_SHAPE,
                "[fused_matmul_add_gelu] bias must be [N] = [2] for b [3, 2], got [3]");
    CHECK_FAILS(fg_graph_fused_matmul_add_gelu(graph, a, b, bias2, FG_GELU_EXACT, &out), FG_ERR_SHAPE,
                "[fused_matmul_add_gelu] inner dims differ");
    /* [N, K] weights: a [4, 3] takes b [2, 3] (N = 2), refuses c [3, 2] and unknown layouts. */
    fg_value b_nk = input(graph, 2, 2, 3, 0);
    CHECK_OK(fg_graph_matmul_with_layout(graph, a, b_nk, FG_WEIGHT_N_K, &out));
    fg_shape out_shape;
    CHECK_OK(fg_graph_value_info(graph, out, &out_shape, NULL));
    CHECK(out_shape.rank == 2 && out_shape.dims[0] == 4 && out_shape.dims[1] == 2);
    CHECK_FAILS(fg_graph_matmul_with_layout(graph, a, c, FG_WEIGHT_N_K, &out), FG_ERR_SHAPE,
                "[matmul] inner dims differ: a is [4, 3], b is [3, 2] taken as [N, K]");
    CHECK_FAILS(fg_graph_matmul_with_layout(graph, a, b_nk, (fg_weight_layout)5, &out), FG_ERR_INVALID_ARGUMENT,
                "[matmul] unknown weight layout 5");
    CHECK_FAILS(fg_graph_fused_matmul_add_gelu_with_layout(graph, a, b_nk, FG_WEIGHT_N_K, bias3, FG_GELU_EXACT, &out),
                FG_ERR_SHAPE, "[fused_matmul_add_gelu] bias must be [N] = [2] for b [2, 3], got [3] (b taken as [N, K])");
    CHECK_FAILS(fg_graph_mark_output(graph, 500), FG_ERR_INVALID_ARGUMENT, "[mark_output]");
    /* A graph with no output cannot be planned, nor one with an unknown precision. */
    fg_context *context;
    CHECK_OK(fg_context_create(&(fg_context_options){.cpu_only = 1}, &context));
    fg_plan *plan = NULL;
    CHECK_FAILS(fg_plan_create(context, graph, NULL, &plan), FG_ERR_INVALID_ARGUMENT, "[plan_create] the graph has no output");
    fg_plan_options bad_precision = {.matmul_precision = (fg_matmul_precision)9};
    CHECK_OK(fg_graph_mark_output(graph, a));
    CHECK_FAILS(fg_plan_create(context, graph, &bad_precision, &plan), FG_ERR_INVALID_ARGUMENT, "unknown matmul precision 9");
    CHECK(plan == NULL);
    fg_context_destroy(context);
    fg_graph_destroy(graph);
}

/* x [rows, k] -> matmul W [k, n] -> add b [n] -> gelu; fused or not; run on the CPU. */
static float *run_mlp(int64_t batch, int64_t rows, int64_t k, int64_t n, const float *x, const float *w,
                      const float *b, fg_gelu_form form, int fuse, int *out_nodes)
{
    fg_graph *graph;
    fg_context *context;
    CHECK_OK(fg_graph_create(&graph));
    int64_t x_dims[3] = {batch, rows, k}, w_dims[2] = {k, n}, b_dims[1] = {n};
    fg_value xv, wv, bv, product, sum, y;
    CHECK_OK(fg_graph_input(graph, "x", FG_F32, 3, x_dims, &xv));
    CHECK_OK(fg_graph_constant(graph, "w", FG_F32, 2, w_dims, w, &wv));
    CHECK_OK(fg_graph_constant(graph, "b", FG_F32, 1, b_dims, b, &bv));
    CHECK_OK(fg_graph_matmul(graph, xv, wv, &product));
    CHECK_OK(fg_graph_add(graph, bv, product, &sum)); /* bias first: add() must normalise the order */
    CHECK_OK(fg_graph_gelu(graph, sum, form, &y));
    CHECK_OK(fg_graph_mark_output(graph, y));
    int rewrites = -1;
    if (fuse) {
        CHECK_OK(fg_graph_fuse(graph, &rewrites));
        CHECK(rewrites == 1);
    }
    *out_nodes = fg_graph_node_count(graph);
    CHECK_OK(fg_context_create(&(fg_context_options){.cpu_only = 1}, &context));
    fg_plan *plan;
    CHECK_OK(fg_plan_create(context, graph, NULL, &plan));
    float *out = check_poisoned(batch * rows * n);
    fg_binding in = {xv, (void *)x}, result = {y, out};
    CHECK_OK(fg_plan_run(plan, &in, 1, &result, 1, NULL));
    fg_plan_destroy(plan);
    fg_context_destroy(context);
    fg_graph_destroy(graph);
    return out;
}

static void test_fusion_rewrites(void)
{
    fg_graph *graph;
    CHECK_OK(fg_graph_create(&graph));
    fg_value x = input(graph, 2, 8, 4, 0), w = input(graph, 2, 4, 6, 0), bias = input(graph, 1, 6, 0, 0);
    fg_value same = input(graph, 2, 8, 6, 0);
    fg_value p1, s1, g1, p2, s2, p3, s3, g3, p4, s4, extra;
    /* chain 1: matmul -> add(bias) -> gelu: fuses fully */
    CHECK_OK(fg_graph_matmul(graph, x, w, &p1));
    CHECK_OK(fg_graph_add(graph, p1, bias, &s1));
    CHECK_OK(fg_graph_gelu(graph, s1, FG_GELU_TANH, &g1));
    /* chain 2: matmul -> add(bias), no gelu: fuses to matmul+add */
    CHECK_OK(fg_graph_matmul(graph, x, w, &p2));
    CHECK_OK(fg_graph_add(graph, p2, bias, &s2));
    /* chain 3: the add's output is also read elsewhere: matmul+add fuses, gelu stays separate */
    CHECK_OK(fg_graph_matmul(graph, x, w, &p3));
    CHECK_OK(fg_graph_add(graph, p3, bias, &s3));
    CHECK_OK(fg_graph_gelu(graph, s3, FG_GELU_EXACT, &g3));
    CHECK_OK(fg_graph_add(graph, s3, g3, &extra));
    /* chain 4: a same-shape add is not a bias: nothing fuses */
    CHECK_OK(fg_graph_matmul(graph, x, w, &p4));
    CHECK_OK(fg_graph_add(graph, p4, same, &s4));
    CHECK_OK(fg_graph_mark_output(graph, g1));
    CHECK_OK(fg_graph_mark_output(graph, s2));
    CHECK_OK(fg_graph_mark_output(graph, extra));
    CHECK_OK(fg_graph_mark_output(graph, s4));
    CHECK(fg_graph_node_count(graph) == 11);
    int rewrites = 0;
    CHECK_OK(fg_graph_fuse(graph, &rewrites));
    CHECK(rewrites == 3);
    fg_op ops[8];
    int count = fg_graph_node_count(graph);
    CHECK(count == 7);
    for (int i = 0; i < count && i < 8; i++) CHECK_OK(fg_graph_node_op(graph, i, &ops[i]));
    fg_op expected[7] = {FG_OP_FUSED_MATMUL_ADD_GELU, FG_OP_FUSED_MATMUL_ADD, FG_OP_FUSED_MATMUL_ADD,
                         FG_OP_GELU, FG_OP_ADD, FG_OP_MATMUL, FG_OP_ADD};
    for (int i = 0; i < 7 && i < count; i++) CHECK(ops[i] == expected[i]);
    /* A chain on an [N, K] weight fuses too, and the fused node keeps the layout. */
    fg_value w_nk = input(graph, 2, 6, 4, 0), p5, s5, g5;
    CHECK_OK(fg_graph_matmul_with_layout(graph, x, w_nk, FG_WEIGHT_N_K, &p5));
    CHECK_OK(fg_graph_add(graph, p5, bias, &s5));
    CHECK_OK(fg_graph_gelu(graph, s5, FG_GELU_EXACT, &g5));
    CHECK_OK(fg_graph_mark_output(graph, g5));
    CHECK_OK(fg_graph_fuse(graph, &rewrites));
    CHECK(rewrites == 1 && fg_graph_node_count(graph) == 8);
    fg_op last_op;
    fg_weight_layout layouts[2] = {FG_WEIGHT_N_K, FG_WEIGHT_N_K};
    CHECK_OK(fg_graph_node_op(graph, 7, &last_op));
    CHECK_OK(fg_graph_node_weight_layout(graph, 7, &layouts[0]));
    CHECK_OK(fg_graph_node_weight_layout(graph, 0, &layouts[1]));
    CHECK(last_op == FG_OP_FUSED_MATMUL_ADD_GELU && layouts[0] == FG_WEIGHT_N_K && layouts[1] == FG_WEIGHT_K_N);
    CHECK_FAILS(fg_graph_node_weight_layout(graph, 8, &layouts[0]), FG_ERR_INVALID_ARGUMENT,
                "[node_weight_layout] node 8 does not exist (8 nodes)");
    /* Marking an intermediate that fusion removed as an output is caught at plan time. */
    CHECK_OK(fg_graph_mark_output(graph, p1));
    fg_context *context;
    fg_plan *plan;
    CHECK_OK(fg_context_create(&(fg_context_options){.cpu_only = 1}, &context));
    CHECK_FAILS(fg_plan_create(context, graph, NULL, &plan), FG_ERR_INVALID_ARGUMENT, "fusion removed the node");
    fg_context_destroy(context);
    fg_graph_destroy(graph);
}

static void test_fused_equals_unfused(void)
{
    const int64_t shapes[][4] = {{1, 1, 1, 1}, {1, 7, 31, 1000}, {2, 31, 7, 33}, {1, 1000, 64, 4097}, {3, 5, 4097, 7}};
    for (size_t s = 0; s < sizeof shapes / sizeof *shapes; s++) {
        int64_t batch = shapes[s][0], rows = shapes[s][1], k = shapes[s][2], n = shapes[s][3];
        float *x = check_random(batch * rows * k, -2, 2), *w = check_random(k * n, -1, 1), *b = check_random(n, -1, 1);
        for (int form = 0; form < 2; form++) {
            int fused_nodes = 0, plain_nodes = 0;
            float *fused = run_mlp(batch, rows, k, n, x, w, b, (fg_gelu_form)form, 1, &fused_nodes);
            float *plain = run_mlp(batch, rows, k, n, x, w, b, (fg_gelu_form)form, 0, &plain_nodes);
            CHECK(fused_nodes == 1 && plain_nodes == 3);
            double *ref = reference_matmul(x, w, b, batch * rows, k, n, 1, (fg_gelu_form)form);
            double fused_error = check_relative_error(fused, ref, batch * rows * n);
            double plain_error = check_relative_error(plain, ref, batch * rows * n);
            CHECK(fused_error < 1e-5);
            CHECK(plain_error < 1e-5);
            for (int64_t i = 0; i < batch * rows * n; i++) ref[i] = plain[i];
            CHECK(check_relative_error(fused, ref, batch * rows * n) < 1e-5);
            free(fused), free(plain), free(ref);
        }
        free(x), free(w), free(b);
    }
}

/* Random shapes through a random chain of ops, against the float64 reference. */
static void test_randomized(void)
{
    fg_context *context;
    CHECK_OK(fg_context_create(&(fg_context_options){.cpu_only = 1}, &context));
    for (int trial = 0; trial < 40; trial++) {
        int64_t m = 1 + (int64_t)check_uniform(0, 70), k = 1 + (int64_t)check_uniform(0, 70), n = 1 + (int64_t)check_uniform(0, 70);
        int use_bias = check_uniform(0, 1) < 0.5f, use_gelu = check_uniform(0, 1) < 0.5f, fuse = check_uniform(0, 1) < 0.5f;
        fg_gelu_form form = check_uniform(0, 1) < 0.5f ? FG_GELU_EXACT : FG_GELU_TANH;
        fg_weight_layout layout = check_uniform(0, 1) < 0.5f ? FG_WEIGHT_K_N : FG_WEIGHT_N_K;
        float *x = check_random(m * k, -2, 2), *w = check_random(k * n, -1, 1), *b = check_random(n, -1, 1);
        float *w_given = layout == FG_WEIGHT_N_K ? check_transposed(w, k, n, sizeof(float)) : w;
        float *residual = check_random(m * n, -1, 1);
        fg_graph *graph;
        CHECK_OK(fg_graph_create(&graph));
        int64_t xd[2] = {m, k}, wd[2] = {layout == FG_WEIGHT_N_K ? n : k, layout == FG_WEIGHT_N_K ? k : n};
        int64_t bd[1] = {n}, rd[2] = {m, n};
        fg_value xv, wv, bv, rv, y;
        CHECK_OK(fg_graph_input(graph, "x", FG_F32, 2, xd, &xv));
        CHECK_OK(fg_graph_input(graph, "w", FG_F32, 2, wd, &wv));
        CHECK_OK(fg_graph_constant(graph, "b", FG_F32, 1, bd, b, &bv));
        CHECK_OK(fg_graph_input(graph, "r", FG_F32, 2, rd, &rv));
        CHECK_OK(fg_graph_matmul_with_layout(graph, xv, wv, layout, &y));
        if (use_bias) CHECK_OK(fg_graph_add(graph, y, bv, &y));
        if (use_gelu) CHECK_OK(fg_graph_gelu(graph, y, form, &y));
        CHECK_OK(fg_graph_add(graph, y, rv, &y)); /* residual connection */
        CHECK_OK(fg_graph_mark_output(graph, y));
        if (fuse) CHECK_OK(fg_graph_fuse(graph, NULL));
        fg_plan *plan;
        CHECK_OK(fg_plan_create(context, graph, NULL, &plan));
        float *out = check_poisoned(m * n);
        fg_binding inputs[3] = {{xv, x}, {wv, w_given}, {rv, residual}}, output = {y, out};
        CHECK_OK(fg_plan_run(plan, inputs, 3, &output, 1, NULL));
        double *ref = reference_matmul(x, w, use_bias ? b : NULL, m, k, n, 0, form);
        for (int64_t i = 0; i < m * n; i++) ref[i] = (use_gelu ? reference_gelu(ref[i], form) : ref[i]) + residual[i];
        double error = check_relative_error(out, ref, m * n);
        if (error >= 1e-5) fprintf(stderr, "trial %d m %lld k %lld n %lld: %.3g\n", trial, (long long)m, (long long)k, (long long)n, error);
        CHECK(error < 1e-5);
        fg_plan_destroy(plan);
        fg_graph_destroy(graph);
        if (w_given != w) free(w_given);
        free(x), free(w), free(b), free(residual), free(out), free(ref);
    }
    fg_pool_statistics stats;
    CHECK_OK(fg_context_pool_statistics(context, 0, &stats));
    CHECK(stats.bytes_live == 0);
    fg_context_destroy(context);
}

/* f16 and bf16 graphs on the CPU (f32 arithmetic, rounded output) against float64 on the rounded inputs. */
static void test_half_precision(void)
{
    fg_context *context;
    CHECK_OK(fg_context_create(&(fg_context_options){.cpu_only = 1}, &context));
    const int64_t m = 31, k = 1000, n = 7;
    for (int t = 1; t <= 2; t++) {
        fg_dtype dtype = (fg_dtype)t;
        float *x = check_random(m * k, -1, 1), *w = check_random(k * n, -0.1f, 0.1f), *b = check_random(n, -1, 1);
        uint16_t *xh = malloc(2 * m * k), *wh = malloc(2 * k * n), *bh = malloc(2 * n), *yh = malloc(2 * m * n);
        CHECK_OK(fg_convert(x, FG_F32, xh, dtype, m * k));
        CHECK_OK(fg_convert(w, FG_F32, wh, dtype, k * n));
        CHECK_OK(fg_convert(b, FG_F32, bh, dtype, n));
        CHECK_OK(fg_convert(xh, dtype, x, FG_F32, m * k)); /* the reference sees the rounded inputs */
        CHECK_OK(fg_convert(wh, dtype, w, FG_F32, k * n));
        CHECK_OK(fg_convert(bh, dtype, b, FG_F32, n));
        fg_graph *graph;
        CHECK_OK(fg_graph_create(&graph));
        int64_t xd[2] = {m, k}, wd[2] = {k, n};
        fg_value xv, wv, bv, y;
        CHECK_OK(fg_graph_input(graph, "x", dtype, 2, xd, &xv));
        CHECK_OK(fg_graph_constant(graph, "w", dtype, 2, wd, wh, &wv));
        CHECK_OK(fg_graph_constant(graph, "b", dtype, 1, &n, bh, &bv));
        CHECK_OK(fg_graph_fused_matmul_add_gelu(graph, xv, wv, bv, FG_GELU_EXACT, &y));
        CHECK_OK(fg_graph_mark_output(graph, y));
        fg_plan *plan;
        CHECK_OK(fg_plan_create(context, graph, NULL, &plan));
        memset(yh, 0xff, 2 * m * n); /* NaN in both f16 and bf16 */
        fg_binding in = {xv, xh}, out = {y, yh};
        CHECK_OK(fg_plan_run(plan, &in, 1, &out, 1, NULL));
        float *result = malloc(sizeof(float) * m * n);
        CHECK_OK(fg_convert(yh, dtype, result, FG_F32, m * n));
        double *ref = reference_matmul(x, w, b, m, k, n, 1, FG_GELU_EXACT);
        double error = check_relative_error(result, ref, m * n);
        printf("%s fused matmul+bias+gelu on the CPU: relative error %.2g\n", fg_dtype_name(dtype), error);
        CHECK(error < 1e-2);
        fg_plan_destroy(plan);
        fg_graph_destroy(graph);
        free(x), free(w), free(b), free(xh), free(wh), free(bh), free(yh), free(result), free(ref);
    }
    fg_context_destroy(context);
}

int main(void)
{
    check_seed();
    test_bad_inputs();
    test_fusion_rewrites();
    test_fused_equals_unfused();
    test_randomized();
    test_half_precision();
    return check_finish("test_graph");
}
