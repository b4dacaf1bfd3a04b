/*
 * gpu_backend_cases.h — the op checks of test_gpu_backend.c: a test case (op, dtype, precision, GELU form,
 * sizes, weight layout), its inputs and float64 reference (prepare), one run of it through the public API
 * on a given device with the output poisoned first (run_case), and check_case, which runs a case on every
 * variant (the autotuned context and each forced implementation) and counts the result. Included once, by
 * test_gpu_backend.c (check.h's counters are per translation unit).
 */
#ifndef FUSEGRAPH_TEST_GPU_BACKEND_CASES_H
#define FUSEGRAPH_TEST_GPU_BACKEND_CASES_H

#include "check.h"
#include "fusegraph.h"

static const char *backend;
static char fail_setting[64]; /* FUSEGRAPH_CUDA_FAIL, FUSEGRAPH_VULKAN_FAIL */

static fg_context *open_backend(const char *settings, size_t budget, int *out_device, char *reason, size_t capacity)
{
    fg_context *context = NULL;
    *out_device = -1;
    if (fg_context_create(&(fg_context_options){.settings = settings, .pool_budget_bytes = budget}, &context) != FG_OK) {
        snprintf(reason, capacity, "context: %s", fg_last_error());
        return NULL;
    }
    snprintf(reason, capacity, "no %s backend module loaded", backend);
    for (int d = 1; d < fg_context_device_count(context); d++) {
        fg_device_info info;
        fg_context_device_info(context, d, &info);
        if (strcmp(info.backend, backend) != 0) continue;
        if (info.ready) *out_device = d;
        else snprintf(reason, capacity, "%s not ready: %s", backend, info.reason);
    }
    return context;
}

/* A context that was meant to be this backend's but whose device did not start (`what` names how it was
 * opened): a failure, since the same device started without it. */
static void fail_not_started(const char *what, const char *reason)
{
    printf("FAIL %s with %s: the backend did not start: %s\n", backend, what, reason);
    check_count++, check_failures++;
}

typedef enum kind { ADD, BIAS_ADD, GELU, MATMUL, MATMUL_BIAS, MATMUL_BIAS_GELU } kind;
static const char *const kind_names[] = {"add", "bias_add", "gelu", "matmul", "matmul_bias", "matmul_bias_gelu"};

typedef struct test_case {
    kind kind;
    fg_dtype dtype;
    fg_matmul_precision precision;
    fg_gelu_form form;
    int64_t m, k, n; /* elementwise: m rows of n (add, gelu: m * n elements) */
    fg_weight_layout layout; /* matmuls: the weight as [K, N] or [N, K] */
} test_case;

/* Random f32 values in [-1, 1] rounded to dtype (so the reference sees exactly what the device sees),
 * and the same values in dtype for the device. */
static float *rounded_random(int64_t count, fg_dtype dtype, void **out_typed)
{
    float *values = check_random(count, -1, 1);
    size_t element = dtype == FG_F32 ? 4 : 2;
    *out_typed = malloc(element * (size_t)count);
    fg_convert(values, FG_F32, *out_typed, dtype, count);
    fg_convert(*out_typed, dtype, values, FG_F32, count);
    return values;
}

typedef struct prepared {
    fg_graph *graph;
    fg_value inputs[2], output;
    int input_count;
    void *typed[3];
    double *reference;
    int64_t output_count;
    /* scales the error: check_cancellation_scale for matmuls (below 1 only for tiny outputs), else 1 */
    double cancellation_scale;
} prepared;

static prepared prepare(const test_case *c)
{
    prepared p = {0};
    p.cancellation_scale = 1.0;
    CHECK_OK(fg_graph_create(&p.graph));
    float *values[3] = {NULL, NULL, NULL};
    if (c->kind >= MATMUL) {
        int transposed = c->layout == FG_WEIGHT_N_K;
        int64_t xd[2] = {c->m, c->k}, wd[2] = {transposed ? c->n : c->k, transposed ? c->k : c->n}, bd[1] = {c->n};
        values[0] = rounded_random(c->m * c->k, c->dtype, &p.typed[0]);
        values[1] = rounded_random(c->k * c->n, c->dtype, &p.typed[1]); /* [K, N] for the reference */
        if (transposed) { /* the device gets the same weight as [N, K] */
            void *given = check_transposed(p.typed[1], c->k, c->n, fg_dtype_size(c->dtype));
            free(p.typed[1]);
            p.typed[1] = given;
        }
        values[2] = rounded_random(c->n, c->dtype, &p.typed[2]);
        fg_value w, bias, product;
        CHECK_OK(fg_graph_input(p.graph, "x", c->dtype, 2, xd, &p.inputs[0]));
        CHECK_OK(fg_graph_constant(p.graph, "w", c->dtype, 2, wd, p.typed[1], &w));
        CHECK_OK(fg_graph_constant(p.graph, "b", c->dtype, 1, bd, p.typed[2], &bias));
        p.input_count = 1;
        CHECK_OK(fg_graph_matmul_with_layout(p.graph, p.inputs[0], w, c->layout, &product));
        p.output = product;
        if (c->kind >= MATMUL_BIAS) CHECK_OK(fg_graph_add(p.graph, product, bias, &p.output));
        if (c->kind == MATMUL_BIAS_GELU) CHECK_OK(fg_graph_gelu(p.graph, p.output, c->form, &p.output));
        p.output_count = c->m * c->n;
        p.reference = reference_matmul(values[0], values[1], c->kind >= MATMUL_BIAS ? values[2] : NULL, c->m, c->k, c->n,
                                       c->kind == MATMUL_BIAS_GELU, c->form);
        p.cancellation_scale = check_cancellation_scale(values[0], values[1], c->kind >= MATMUL_BIAS ? values[2] : NULL,
                                                        p.reference, c->m, c->k, c->n); /* see check.h */
    } else {
        int64_t dims[2] = {c->m, c->n}, bias_dims[1] = {c->n};
        p.output_count = c->m * c->n;
        values[0] = rounded_random(p.output_count, c->dtype, &p.typed[0]);
        CHECK_OK(fg_graph_input(p.graph, "a", c->dtype, 2, dims, &p.inputs[0]));
        p.input_count = 1;
        if (c->kind == GELU) {
            CHECK_OK(fg_graph_gelu(p.graph, p.inputs[0], c->form, &p.output));
        } else {
            values[1] = rounded_random(c->kind == BIAS_ADD ? c->n : p.output_count, c->dtype, &p.typed[1]);
            CHECK_OK(fg_graph_input(p.graph, "b", c->dtype, c->kind == BIAS_ADD ? 1 : 2, c->kind == BIAS_ADD ? bias_dims : dims,
                                    &p.inputs[1]));
            p.input_count = 2;
            CHECK_OK(fg_graph_add(p.graph, p.inputs[0], p.inputs[1], &p.output));
        }
        p.reference = malloc(sizeof(double) * (size_t)p.output_count);
        for (int64_t i = 0; i < p.output_count; i++)
            p.reference[i] = c->kind == GELU     ? reference_gelu(values[0][i], c->form)
                             : c->kind == ADD    ? (double)values[0][i] + values[1][i]
                                                 : (double)values[0][i] + values[1][i % c->n];
    }
    CHECK_OK(fg_graph_mark_output(p.graph, p.output));
    CHECK_OK(fg_graph_fuse(p.graph, NULL));
    for (int i = 0; i < 3; i++) free(values[i]);
    return p;
}

static void release_prepared(prepared *p)
{
    fg_graph_destroy(p->graph);
    for (int i = 0; i < 3; i++) free(p->typed[i]);
    free(p->reference);
}

static double tolerance(const test_case *c, const char *variant_label)
{
    /* cuBLASLt's GELU_BIAS epilogue in f16/bf16 rounds the product to the output dtype before its (fast)
     * tanh GELU, so two roundings reach the output: measured 1.7e-2 on the H100 for a 1x1x1 bf16 case,
     * where one element is the whole norm. Our kernels apply the epilogue in f32 and round once. The
     * autotuned variant may have chosen cuBLASLt, so it gets the same bound. */
    if (c->dtype != FG_F32 && c->kind == MATMUL_BIAS_GELU && c->form == FG_GELU_TANH &&
        (strstr(variant_label, "cublaslt") || strstr(variant_label, "autotuned")))
        return 3e-2;
    if (c->dtype != FG_F32) return 1e-2;
    return c->kind >= MATMUL && c->precision == FG_PRECISION_TF32 ? 1e-3 : 1e-5;
}

/* Runs the prepared case on device of context; returns the relative error (INFINITY on failure). */
static double run_case(fg_context *context, int device, const test_case *c, prepared *p, int *out_fallbacks, int *out_on_device)
{
    fg_plan *plan = NULL;
    fg_plan_options options = {.use_forced_device = 1, .forced_device = device, .matmul_precision = c->precision};
    *out_fallbacks = -1;
    *out_on_device = 0;
    if (fg_plan_create(context, p->graph, &options, &plan) != FG_OK) {
        fprintf(stderr, "plan: %s\n", fg_last_error());
        return INFINITY;
    }
    int node_device = -1;
    fg_plan_node_device(plan, 0, &node_device);
    *out_on_device = node_device == device;
    size_t element = c->dtype == FG_F32 ? 4 : 2;
    void *output = malloc(element * (size_t)p->output_count);
    memset(output, 0xFF, element * (size_t)p->output_count); /* NaN in every dtype */
    fg_binding inputs[2] = {{p->inputs[0], p->typed[0]}, {p->inputs[1], p->typed[1]}};
    fg_binding outputs[1] = {{p->output, output}};
    double error = INFINITY;
    if (fg_plan_run(plan, inputs, p->input_count, outputs, 1, out_fallbacks) == FG_OK) {
        float *wide = malloc(sizeof(float) * (size_t)p->output_count);
        fg_convert(output, c->dtype, wide, FG_F32, p->output_count);
        error = check_relative_error(wide, p->reference, p->output_count) * p->cancellation_scale;
        free(wide);
    } else {
        fprintf(stderr, "run: %s\n", fg_last_error());
    }
    free(output);
    fg_plan_destroy(plan);
    return error;
}

typedef struct variant {
    const char *label;
    fg_context *context;
    int device;
    /* A forced tiled Vulkan shader on a device slower than any GPU (lavapipe in CI): it computes whole tiles
     * of rows, so the two matmul sizes with M <= 16 and K * N over a million (3 x 4096 x 1000, 16 x 1000 x
     * 4097: CUDA's skinny kernels' split paths) cost it up to 40x their work: on lavapipe ~1 s each, about half
     * of the test's ~400 s. Those cases are left to the autotuned and skinny variants there; each tile still runs
     * M <= 16 at the other sizes, and on a GPU everything runs. */
    int skips_large_skinny;
} variant;

static int large_skinny_cases_skipped;

static void check_case(const test_case *c, variant *variants, int variant_count)
{
    prepared p = prepare(c);
    for (int v = 0; v < variant_count; v++) {
        if (c->kind < MATMUL && v > 0) break; /* implementations differ only for matmuls */
        if (variants[v].skips_large_skinny && c->m <= 16 && c->k * c->n > 1000000) {
            large_skinny_cases_skipped++;
            continue;
        }
        int fallbacks = 0, on_device = 0;
        double error = run_case(variants[v].context, variants[v].device, c, &p, &fallbacks, &on_device);
        int ok = error <= tolerance(c, variants[v].label) && fallbacks == 0 && on_device;
        check_count++;
        if (!ok) check_failures++;
        if (!ok || getenv("FUSEGRAPH_TEST_VERBOSE"))
            printf("%s %s %-16s %-4s%s%s%s %-11s M=%lld K=%lld N=%lld  error %.2e (tolerance %.0e)%s%s\n", ok ? "ok  " : "FAIL",
                   backend, kind_names[c->kind], fg_dtype_name(c->dtype), c->precision == FG_PRECISION_TF32 ? "/tf32" : "",
                   c->kind == MATMUL_BIAS_GELU || c->kind == GELU ? (c->form == FG_GELU_TANH ? " tanh" : " erf") : "",
                   c->kind >= MATMUL && c->layout == FG_WEIGHT_N_K ? " w[N,K]" : "",
                   variants[v].label, (long long)c->m, (long long)c->k, (long long)c->n, error, tolerance(c, variants[v].label),
                   fallbacks ? " [fell back to the CPU]" : "", on_device ? "" : " [not planned on the device]");
    }
    release_prepared(&p);
}

#endif /* FUSEGRAPH_TEST_GPU_BACKEND_CASES_H */
