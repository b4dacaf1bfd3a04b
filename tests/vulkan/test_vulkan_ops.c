/*
 * test_vulkan_ops.c — the Vulkan backend's own proof on whatever Vulkan device the machine has (Mesa
 * lavapipe in CI): every op, dtype and epilogue at awkward sizes against a float64 reference, through the
 * public API with plans forced onto the Vulkan device, matmuls with the weight as [K,N] and as [N,K]
 * (FG_WEIGHT_N_K); the skinny shader (FUSEGRAPH_VULKAN_TILE=skinny) over M = 1..16 in both layouts, and
 * the fallback to the tiled shader past M = 16; then the GELU approximation's error on a dense grid,
 * injected failures falling back to the CPU, a tensor too large for one storage-buffer binding, and
 * device selection by index and by name.
 *
 * Inputs are fresh random values in [-1, 1] (rounded to the dtype first, so the reference sees what the
 * device sees); outputs are poisoned with NaN before each run. Tolerance: norm-wise relative error
 * <= 1e-5 for f32 (exact fp32 matmul), <= 1e-2 for f16/bf16 (the output is rounded to 8 or 11 bits).
 * Exits 77 with "skipped: <reason>" when the Vulkan backend is not ready here.
 */
#include "check.h"
#include "fusegraph.h"

typedef enum kind { ADD, BIAS_ADD, GELU, MATMUL, MATMUL_BIAS, MATMUL_BIAS_GELU } kind;
static const char *const kind_names[] = {"add", "bias_add", "gelu", "matmul", "matmul_bias", "matmul_bias_gelu"};

static fg_context *open_vulkan(const char *settings, int *out_device, fg_device_info *out_info)
{
    fg_context *context = NULL;
    *out_device = -1;
    memset(out_info, 0, sizeof *out_info);
    if (fg_context_create(&(fg_context_options){.settings = settings}, &context) != FG_OK) return NULL;
    for (int d = 1; d < fg_context_device_count(context); d++) {
        fg_device_info info;
        fg_context_device_info(context, d, &info);
        if (strcmp(info.backend, "vulkan") != 0) continue;
        *out_info = info;
        if (info.ready) *out_device = d;
    }
    return context;
}

/* Random values in [-1, 1] rounded to dtype: returned as f32, and in dtype through out_typed. */
static float *rounded_random(int64_t count, fg_dtype dtype, void **out_typed)
{
    float *values = check_random(count, -1, 1);
    *out_typed = malloc(fg_dtype_size(dtype) * (size_t)(count ? count : 1));
    fg_convert(values, FG_F32, *out_typed, dtype, count);
    fg_convert(*out_typed, dtype, values, FG_F32, count);
    return values;
}

/* Builds the graph for one case, runs it forced onto device, and returns the norm-wise relative error
 * (infinite on any failure). Elementwise cases use m rows of n; matmuls take the weight in layout (the
 * reference always reads it as [K, N]). */
static double run_case(fg_context *context, int device, kind kind, fg_dtype dtype, fg_gelu_form form, int64_t m, int64_t k,
                       int64_t n, fg_weight_layout layout, int *out_fallbacks, int *out_device_used, char *explain,
                       size_t explain_capacity)
{
    int matmul = kind >= MATMUL, transposed = matmul && layout == FG_WEIGHT_N_K;
    int64_t a_dims[2] = {m, matmul ? k : n}, b_dims[2] = {transposed ? n : k, transposed ? k : n}, bias_dims[1] = {n};
    int64_t out_count = m * n;
    void *a_typed = NULL, *b_typed = NULL, *bias_typed = NULL;
    float *a = rounded_random(m * a_dims[1], dtype, &a_typed);
    float *b = kind == ADD ? rounded_random(m * n, dtype, &b_typed) : matmul ? rounded_random(k * n, dtype, &b_typed) : NULL;
    if (transposed) { /* the device gets the same weight as [N, K] */
        void *given = check_transposed(b_typed, k, n, fg_dtype_size(dtype));
        free(b_typed);
        b_typed = given;
    }
    float *bias = kind == BIAS_ADD || kind >= MATMUL_BIAS ? rounded_random(n, dtype, &bias_typed) : NULL;
    double *reference = NULL;
    if (matmul) {
        reference = reference_matmul(a, b, bias, m, k, n, kind == MATMUL_BIAS_GELU, form);
    } else {
        reference = malloc(sizeof(double) * (size_t)out_count);
        for (int64_t i = 0; i < out_count; i++)
            reference[i] = kind == ADD ? (double)a[i] + b[i] : kind == BIAS_ADD ? (double)a[i] + bias[i % n]
                                                                                : reference_gelu(a[i], form);
    }
    fg_graph *graph = NULL;
    fg_value va = -1, vb = -1, vbias = -1, out = -1;
    fg_status status = fg_graph_create(&graph);
    if (status == FG_OK) status = fg_graph_input(graph, "a", dtype, 2, a_dims, &va);
    if (status == FG_OK && kind == ADD) status = fg_graph_input(graph, "b", dtype, 2, a_dims, &vb);
    if (status == FG_OK && matmul) status = fg_graph_constant(graph, "b", dtype, 2, b_dims, b_typed, &vb);
    if (status == FG_OK && bias) status = fg_graph_constant(graph, "bias", dtype, 1, bias_dims, bias_typed, &vbias);
    if (status == FG_OK) {
        switch (kind) {
        case ADD: status = fg_graph_add(graph, va, vb, &out); break;
        case BIAS_ADD: status = fg_graph_add(graph, va, vbias, &out); break;
        case GELU: status = fg_graph_gelu(graph, va, form, &out); break;
        case MATMUL: status = fg_graph_matmul_with_layout(graph, va, vb, layout, &out); break;
        case MATMUL_BIAS: {
            fg_value product;
            status = fg_graph_matmul_with_layout(graph, va, vb, layout, &product);
            if (status == FG_OK) status = fg_graph_add(graph, product, vbias, &out);
            break;
        }
        case MATMUL_BIAS_GELU:
            status = fg_graph_fused_matmul_add_gelu_with_layout(graph, va, vb, layout, vbias, form, &out);
            break;
        }
    }
    if (status == FG_OK) status = fg_graph_mark_output(graph, out);
    if (status == FG_OK) status = fg_graph_fuse(graph, NULL);
    fg_op op;
    if (status == FG_OK && kind == MATMUL_BIAS && (fg_graph_node_op(graph, 0, &op) != FG_OK || op != FG_OP_FUSED_MATMUL_ADD)) {
        fprintf(stderr, "matmul + bias was not fused into FUSED_MATMUL_ADD\n");
        status = FG_ERR_INTERNAL;
    }
    fg_weight_layout node_layout = FG_WEIGHT_K_N;
    if (status == FG_OK && matmul && (fg_graph_node_weight_layout(graph, 0, &node_layout) != FG_OK || node_layout != layout)) {
        fprintf(stderr, "%s: the node's weight layout is %d, not %d\n", kind_names[kind], (int)node_layout, (int)layout);
        status = FG_ERR_INTERNAL;
    }
    fg_plan *plan = NULL;
    fg_plan_options options = {.use_forced_device = 1, .forced_device = device};
    if (status == FG_OK) status = fg_plan_create(context, graph, &options, &plan);
    if (status == FG_OK && out_device_used) status = fg_plan_node_device(plan, fg_graph_node_count(graph) - 1, out_device_used);
    if (status == FG_OK && explain) snprintf(explain, explain_capacity, "%s", fg_plan_explain(plan));
    void *result_typed = malloc(fg_dtype_size(dtype) * (size_t)(out_count ? out_count : 1));
    float *result = check_poisoned(out_count);
    fg_convert(result, FG_F32, result_typed, dtype, out_count);
    fg_binding inputs[2] = {{va, a_typed}, {vb, b_typed}}, outputs[1] = {{out, result_typed}};
    if (status == FG_OK) status = fg_plan_run(plan, inputs, kind == ADD ? 2 : 1, outputs, 1, out_fallbacks);
    double error = INFINITY;
    if (status == FG_OK) {
        fg_convert(result_typed, dtype, result, FG_F32, out_count);
        error = check_relative_error(result, reference, out_count);
    } else {
        fprintf(stderr, "%s %s: %s: %s\n", kind_names[kind], fg_dtype_name(dtype), fg_status_name(status), fg_last_error());
    }
    fg_plan_destroy(plan);
    fg_graph_destroy(graph);
    free(a), free(b), free(bias), free(a_typed), free(b_typed), free(bias_typed), free(reference), free(result), free(result_typed);
    return error;
}

static double tolerance(fg_dtype dtype) { return dtype == FG_F32 ? 1e-5 : 1e-2; }

/* Runs one case and checks it; with implementation, the plan must also name it (NULL: anything; a
 * leading '!': must not name the rest). */
static void check_case(fg_context *context, int device, kind kind, fg_dtype dtype, fg_gelu_form form, int64_t m, int64_t k,
                       int64_t n, fg_weight_layout layout, const char *implementation)
{
    static char explain[8192];
    int used = -1, fallbacks = -1;
    explain[0] = 0;
    double error = run_case(context, device, kind, dtype, form, m, k, n, layout, &fallbacks, &used, explain, sizeof explain);
    int named = !implementation || (implementation[0] == '!' ? strstr(explain, implementation + 1) == NULL
                                                              : strstr(explain, implementation) != NULL);
    int ok = error <= tolerance(dtype) && used == device && fallbacks == 0 && named;
    CHECK(ok);
    if (!ok || getenv("FUSEGRAPH_TEST_VERBOSE"))
        fprintf(ok ? stdout : stderr, "%-16s %-4s %-5s%s m=%lld k=%lld n=%lld: error %.3g, device %d, fallbacks %d%s%s\n",
                kind_names[kind], fg_dtype_name(dtype), form == FG_GELU_TANH ? "tanh" : "exact",
                kind >= MATMUL && layout == FG_WEIGHT_N_K ? " w[N,K]" : "", (long long)m, (long long)k, (long long)n, error,
                used, fallbacks, named ? "" : "; the plan does not name (or, with '!', names) ", named ? "" : implementation);
    if (!named) fprintf(stderr, "%s\n", explain);
}

/* FUSEGRAPH_VULKAN_TILE=skinny: every M from 1 to 16 in both layouts and every dtype runs the skinny
 * shader and is right, at awkward K and N (each epilogue in turn); M = 17 falls back to the measured
 * choice (tiled, or cooperative for f16 where the device has it), never the skinny shader. */
static void skinny_cases(const fg_device_info *info)
{
    if (!strstr(info->reason, "skinny matmul yes")) {
        printf("skinny matmul shader: not tested: %s has no subgroup arithmetic in compute shaders\n", info->name);
        return;
    }
    int device;
    fg_device_info forced_info;
    fg_context *context = open_vulkan("FUSEGRAPH_VULKAN_TILE=skinny", &device, &forced_info);
    CHECK(context && device > 0);
    if (!context || device <= 0) {
        fg_context_destroy(context);
        return;
    }
    static const int64_t rows[] = {1, 2, 3, 5, 8, 13, 16, 17};
    static const int64_t shapes[][2] = {{1, 1}, {7, 31}, {31, 1000}, {1000, 7}, {4097, 65}, {768, 257}};
    int before = check_failures, index = 0;
    for (int d = 0; d < 3; d++) {
        if (info->cost.matmul_flops_per_second[d] <= 0) continue;
        for (int layout = 0; layout < 2; layout++)
            for (size_t r = 0; r < sizeof rows / sizeof *rows; r++)
                for (size_t s = 0; s < sizeof shapes / sizeof *shapes; s++, index++) {
                    kind matmul_kind = (kind)(MATMUL + index % 3);
                    fg_gelu_form form = index % 7 < 3 ? FG_GELU_TANH : FG_GELU_EXACT;
                    check_case(context, device, matmul_kind, (fg_dtype)d, form, rows[r], shapes[s][0], shapes[s][1],
                               (fg_weight_layout)layout, rows[r] <= 16 ? "matmul skinny" : "!matmul skinny");
                }
    }
    printf("skinny shader: M = 1..16, both layouts, every dtype %s; M = 17 on another shader\n",
           check_failures == before ? "right" : "WRONG");
    fg_context_destroy(context);
}

/* GELU on a dense grid of [-8, 8]: max |out - ref| / max(1, |x|), the figure gelu.glsl states. */
static void gelu_grid(fg_context *context, int device, fg_gelu_form form)
{
    const int64_t count = 200001;
    float *x = malloc(sizeof(float) * count), *out = check_poisoned(count);
    for (int64_t i = 0; i < count; i++) x[i] = -8.0f + 16.0f * (float)i / (float)(count - 1);
    fg_graph *graph = NULL;
    fg_value input, output;
    fg_plan *plan = NULL;
    CHECK_OK(fg_graph_create(&graph));
    CHECK_OK(fg_graph_input(graph, "x", FG_F32, 1, &count, &input));
    CHECK_OK(fg_graph_gelu(graph, input, form, &output));
    CHECK_OK(fg_graph_mark_output(graph, output));
    CHECK_OK(fg_plan_create(context, graph, &(fg_plan_options){.use_forced_device = 1, .forced_device = device}, &plan));
    CHECK_OK(fg_plan_run(plan, &(fg_binding){input, x}, 1, &(fg_binding){output, out}, 1, NULL));
    double worst = 0;
    for (int64_t i = 0; i < count; i++) {
        double error = fabs((double)out[i] - reference_gelu(x[i], form)) / fmax(1.0, fabs((double)x[i]));
        if (!(error <= worst)) worst = error; /* NaN makes it NaN */
    }
    printf("gelu %s on [-8, 8], %lld points: max |error| / max(1, |x|) = %.3g\n", form == FG_GELU_TANH ? "tanh" : "exact",
           (long long)count, worst);
    CHECK(worst <= 1e-6);
    fg_plan_destroy(plan);
    fg_graph_destroy(graph);
    free(x), free(out);
}

/* Each injected failure: the node falls back to the CPU and the result is still right. */
static void injected_failures(void)
{
    static const char *const calls[] = {"run", "upload", "download", "allocate", "sync"};
    for (int c = 0; c < 5; c++) {
        char settings[64];
        snprintf(settings, sizeof settings, "FUSEGRAPH_VULKAN_FAIL=%s", calls[c]);
        int device, fallbacks = -1;
        fg_device_info info;
        fg_context *context = open_vulkan(settings, &device, &info);
        CHECK(context && device > 0);
        if (!context || device <= 0) continue;
        double error = run_case(context, device, MATMUL_BIAS_GELU, FG_F32, FG_GELU_EXACT, 33, 65, 17, FG_WEIGHT_K_N, &fallbacks,
                                NULL, NULL, 0);
        printf("FUSEGRAPH_VULKAN_FAIL=%s: error %.3g, fallbacks %d\n", calls[c], error, fallbacks);
        CHECK(error <= 1e-5);
        CHECK(fallbacks > 0);
        fg_context_destroy(context);
    }
}

/* 36M f32 elements (144 MiB) pass lavapipe's 128 MiB maxStorageBufferRange: the CPU runs the node, with
 * the reason in the plan; on a device with a larger range it runs there. Either way the result is right. */
static void large_tensor(fg_context *context, int device)
{
    int used = -1, fallbacks = -1;
    static char explain[8192];
    double error = run_case(context, device, GELU, FG_F32, FG_GELU_TANH, 36, 0, 1 << 20, FG_WEIGHT_K_N, &fallbacks, &used, explain,
                            sizeof explain);
    printf("gelu on 36M f32 elements: error %.3g, ran on device %d%s\n", error, used,
           used == 0 ? " (the CPU: too large for one binding)" : "");
    CHECK(error <= 1e-5);
    if (used == 0) CHECK(strstr(explain, "cannot run it") != NULL);
    if (used == 0 && !strstr(explain, "cannot run it")) fprintf(stderr, "%s\n", explain);
}

static void device_selection(const fg_device_info *chosen)
{
    char first_word[64] = "", settings[160];
    sscanf(chosen->name, "%63s", first_word);
    const char *good[2] = {"FUSEGRAPH_VULKAN_DEVICE=0", NULL};
    snprintf(settings, sizeof settings, "FUSEGRAPH_VULKAN_DEVICE=%s", first_word);
    good[1] = settings;
    for (int i = 0; i < 2; i++) {
        int device;
        fg_device_info info;
        fg_context *context = open_vulkan(good[i], &device, &info);
        printf("%s: %s (%s)\n", good[i], device > 0 ? info.name : "not ready", info.reason);
        CHECK(device > 0);
        if (i == 1) CHECK(strcmp(info.name, chosen->name) == 0);
        fg_context_destroy(context);
    }
    const char *bad[2] = {"FUSEGRAPH_VULKAN_DEVICE=99", "FUSEGRAPH_VULKAN_DEVICE=no such device"};
    for (int i = 0; i < 2; i++) {
        int device;
        fg_device_info info;
        fg_context *context = open_vulkan(bad[i], &device, &info);
        printf("%s: %s (%s)\n", bad[i], device > 0 ? "ready?!" : "not ready", info.reason);
        CHECK(device < 0 && strstr(info.reason, "matches no usable Vulkan device") && strstr(info.reason, "devices: 0: "));
        fg_context_destroy(context);
    }
}

int main(void)
{
    check_seed();
    int device;
    fg_device_info info;
    fg_context *context = open_vulkan(NULL, &device, &info);
    if (!context) {
        printf("skipped: context: %s\n", fg_last_error());
        return CHECK_SKIP_CODE;
    }
    if (device < 0) {
        printf("skipped: %s\n", info.backend[0] ? info.reason : "the vulkan backend module was not loaded");
        fg_context_destroy(context);
        return CHECK_SKIP_CODE;
    }
    printf("device %d: %s (%s)\n", device, info.name, info.reason);
    static const int64_t elementwise[][2] = {{1, 1}, {1, 7}, {1, 31}, {1, 1000}, {1, 4097}, {3, 1365}};
    static const int64_t bias_shapes[][2] = {{1, 1}, {7, 1}, {1, 7}, {31, 7}, {10, 100}, {3, 4097}};
    static const int64_t matmuls[][3] = {{1, 1, 1},      {7, 13, 31},   {31, 1000, 7},  {33, 4097, 65},
                                         {257, 1000, 129}, {64, 128, 96}, {300, 256, 260}, {2, 3, 4097}};
    for (int d = 0; d < 3; d++) {
        fg_dtype dtype = (fg_dtype)d;
        if (info.cost.matmul_flops_per_second[d] <= 0) {
            printf("%s: not supported by %s, not tested\n", fg_dtype_name(dtype), info.name);
            continue;
        }
        int before = check_failures;
        for (int s = 0; s < 6; s++) {
            check_case(context, device, ADD, dtype, FG_GELU_EXACT, elementwise[s][0], 0, elementwise[s][1], FG_WEIGHT_K_N, NULL);
            check_case(context, device, BIAS_ADD, dtype, FG_GELU_EXACT, bias_shapes[s][0], 0, bias_shapes[s][1], FG_WEIGHT_K_N, NULL);
            for (int form = 0; form < 2; form++)
                check_case(context, device, GELU, dtype, (fg_gelu_form)form, elementwise[s][0], 0, elementwise[s][1], FG_WEIGHT_K_N,
                           NULL);
        }
        for (int s = 0; s < 8; s++)
            for (int layout = 0; layout < 2; layout++) {
                const int64_t *size = matmuls[s];
                fg_weight_layout weight = (fg_weight_layout)layout;
                check_case(context, device, MATMUL, dtype, FG_GELU_EXACT, size[0], size[1], size[2], weight, NULL);
                check_case(context, device, MATMUL_BIAS, dtype, FG_GELU_EXACT, size[0], size[1], size[2], weight, NULL);
                for (int form = 0; form < 2; form++)
                    check_case(context, device, MATMUL_BIAS_GELU, dtype, (fg_gelu_form)form, size[0], size[1], size[2], weight, NULL);
            }
        printf("%s: every op, epilogue, size and weight layout %s\n", fg_dtype_name(dtype),
               check_failures == before ? "right" : "WRONG");
    }
    skinny_cases(&info);
    gelu_grid(context, device, FG_GELU_EXACT);
    gelu_grid(context, device, FG_GELU_TANH);
    large_tensor(context, device);
    fg_context_destroy(context);
    injected_failures();
    device_selection(&info);
    return check_finish("test_vulkan_ops");
}
