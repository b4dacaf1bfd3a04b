/*
 * test_planner.c — device choice, transfers and fallback, with the test backend (a pretend GPU that runs
 * the CPU kernels on memory of its own and reports GPU-like cost figures; see testgpu_backend.c).
 *
 * Every result is compared with the same graph run on the CPU alone (whose kernels test_cpu_kernels
 * checks against float64), so a fallback that returned a wrong or partial answer fails here.
 */
#include "backends/cpu/cpu_dispatch.h"
#include "check.h"

static char log_text[65536];
static void capture_log(fg_log_level level, const char *message, void *user)
{
    (void)level, (void)user;
    size_t used = strlen(log_text);
    snprintf(log_text + used, sizeof log_text - used, "%s\n", message);
}

typedef struct setup {
    fg_context *context;
    int gpu; /* device index of testgpu, -1 when not ready */
} setup;

static setup open_context(const char *testgpu_settings)
{
    setenv("FUSEGRAPH_TESTGPU", testgpu_settings, 1);
    setup s = {NULL, -1};
    CHECK_OK(fg_context_create(&(fg_context_options){.cpu_only = 1, .extra_backends = "testgpu"}, &s.context));
    for (int d = 0; s.context && d < fg_context_device_count(s.context); d++) {
        fg_device_info info;
        CHECK_OK(fg_context_device_info(s.context, d, &info));
        if (strcmp(info.backend, "testgpu") == 0 && info.ready) s.gpu = d;
    }
    return s;
}

typedef struct mlp {
    fg_graph *graph;
    fg_value x, y;
    int64_t m, k, n;
    float *x_data;
} mlp;

/* y = op chain on x [m, k] with W [k, n] (a constant), as named by kind:
 *   "matmul", "add" (x + x), "matmul_gelu", "matmul_gelu_add" (gelu(xW) + xW) */
static mlp make_graph(const char *kind, int64_t m, int64_t k, int64_t n)
{
    mlp g = {NULL, -1, -1, m, k, n, check_random(m * k, -1, 1)};
    CHECK_OK(fg_graph_create(&g.graph));
    int64_t xd[2] = {m, k}, wd[2] = {k, n};
    CHECK_OK(fg_graph_input(g.graph, "x", FG_F32, 2, xd, &g.x));
    if (strcmp(kind, "add") == 0) {
        CHECK_OK(fg_graph_add(g.graph, g.x, g.x, &g.y));
    } else {
        float *w = check_random(k * n, -1, 1);
        fg_value wv, product;
        CHECK_OK(fg_graph_constant(g.graph, "w", FG_F32, 2, wd, w, &wv));
        free(w);
        CHECK_OK(fg_graph_matmul(g.graph, g.x, wv, &product));
        g.y = product;
        if (strstr(kind, "gelu")) CHECK_OK(fg_graph_gelu(g.graph, product, FG_GELU_EXACT, &g.y));
        if (strstr(kind, "gelu_add")) CHECK_OK(fg_graph_add(g.graph, g.y, product, &g.y));
    }
    CHECK_OK(fg_graph_mark_output(g.graph, g.y));
    return g;
}

/* Runs g with options on context; returns the output (caller frees) and the fallback count. */
static float *run(fg_context *context, const mlp *g, fg_plan_options options, int64_t elements, int *fallbacks,
                  int *first_device)
{
    fg_plan *plan = NULL;
    CHECK_OK(fg_plan_create(context, g->graph, &options, &plan));
    if (!plan) return NULL;
    if (first_device) CHECK_OK(fg_plan_node_device(plan, 0, first_device));
    float *out = check_poisoned(elements);
    fg_binding in = {g->x, g->x_data}, result = {g->y, out};
    CHECK_OK(fg_plan_run(plan, &in, 1, &result, 1, fallbacks));
    fg_plan_destroy(plan);
    return out;
}

/* The planner's own choice, by the model alone: these tests are of the model, with the pretend GPU's
 * figures. A close call would be timed (plan_measure.c), and the pretend GPU, which runs the CPU's kernels
 * after copies, never wins a timing: on the H100 host's 16 cores the CPU's 1024^3 matmul came within 2x
 * of the pretend GPU's estimate, was timed, and stayed on the CPU (test_decisions failed there). The
 * timing has its own test, test_close_call_is_timed. */
static const fg_plan_options automatic = {.model_only = 1};

/* The graph run on the CPU only: the expected answer. */
static float *cpu_answer(const mlp *g, int64_t elements)
{
    fg_context *cpu;
    CHECK_OK(fg_context_create(&(fg_context_options){.cpu_only = 1}, &cpu));
    float *out = run(cpu, g, automatic, elements, NULL, NULL);
    fg_context_destroy(cpu);
    return out;
}

static int same(const float *a, const float *b, int64_t n)
{
    double *ref = malloc(sizeof(double) * (size_t)n);
    for (int64_t i = 0; i < n; i++) ref[i] = b[i];
    double error = check_relative_error(a, ref, n);
    free(ref);
    return error < 1e-6;
}

static void test_discovery(void)
{
    setup s = open_context("create=fail");
    CHECK(s.gpu < 0);
    int found = 0;
    for (int d = 0; d < fg_context_device_count(s.context); d++) {
        fg_device_info info;
        CHECK_OK(fg_context_device_info(s.context, d, &info));
        if (d == 0) CHECK(strcmp(info.backend, "cpu") == 0 && info.ready);
        if (strcmp(info.backend, "testgpu") == 0) found = strstr(info.reason, "no device") != NULL;
        if (strcmp(info.backend, "cuda") == 0 && !info.ready) CHECK(info.reason[0] != 0);
    }
    CHECK(found);
    fg_context_destroy(s.context);
}

static void test_decisions(void)
{
    setup s = open_context("h2d=2e10,d2h=2e10");
    CHECK(s.gpu > 0);
    int device = -1;
    /* a small op with its inputs in host memory stays on the CPU */
    mlp small = make_graph("add", 4, 4, 4);
    float *out = run(s.context, &small, automatic, 16, NULL, &device);
    CHECK(device == 0);
    for (int i = 0; i < 16; i++) CHECK(out[i] == 2 * small.x_data[i]);
    free(out);
    /* ... unless forced */
    fg_plan_options forced = {.use_forced_device = 1, .forced_device = s.gpu};
    out = run(s.context, &small, forced, 16, NULL, &device);
    CHECK(device == s.gpu);
    for (int i = 0; i < 16; i++) CHECK(out[i] == 2 * small.x_data[i]);
    free(out);
    /* a large matmul moves to the faster device */
    mlp large = make_graph("matmul", 1024, 1024, 1024);
    float *expected = cpu_answer(&large, 1024 * 1024);
    out = run(s.context, &large, automatic, 1024 * 1024, NULL, &device);
    CHECK(device == s.gpu);
    CHECK(same(out, expected, 1024 * 1024));
    free(out), free(expected);
    fg_context_destroy(s.context);

    /* resident weights change the decision: over a slow link, a [1, 2048] x [2048, 2048] matmul is cheaper
     * on the CPU than moving 16 MiB of weights; with the weights resident it is cheaper on the device. */
    s = open_context("h2d=1e9,d2h=1e9");
    mlp skinny = make_graph("matmul", 1, 2048, 2048);
    expected = cpu_answer(&skinny, 2048);
    out = run(s.context, &skinny, automatic, 2048, NULL, &device);
    CHECK(device == 0);
    CHECK(same(out, expected, 2048));
    free(out);
    fg_plan_options resident = {.constants_resident = 1, .model_only = 1};
    fg_pool_statistics before, after;
    CHECK_OK(fg_context_pool_statistics(s.context, s.gpu, &before));
    out = run(s.context, &skinny, resident, 2048, NULL, &device);
    CHECK(device == s.gpu);
    CHECK(same(out, expected, 2048));
    CHECK_OK(fg_context_pool_statistics(s.context, s.gpu, &after));
    CHECK(after.bytes_live == before.bytes_live); /* the plan's resident weights were given back */
    free(out), free(expected);
    fg_graph_destroy(skinny.graph), free(skinny.x_data);
    fg_graph_destroy(small.graph), free(small.x_data);
    fg_graph_destroy(large.graph), free(large.x_data);
    fg_context_destroy(s.context);
}

static void test_unsupported_op_goes_to_cpu(void)
{
    /* A fast link, so the matmul is clearly the pretend GPU's (with the default 20 GB/s, its 1 MiB each way
     * cost ~110 us against the CPU's 512^3 in 120-230 us on the 16-core H100 host: the choice flipped). */
    setup s = open_context("ops=matmul,h2d=1e11,d2h=1e11");
    mlp g = make_graph("matmul_gelu", 512, 512, 512);
    float *expected = cpu_answer(&g, 512 * 512);
    fg_plan *plan;
    CHECK_OK(fg_plan_create(s.context, g.graph, NULL, &plan));
    int first = -1, second = -1;
    CHECK_OK(fg_plan_node_device(plan, 0, &first));
    CHECK_OK(fg_plan_node_device(plan, 1, &second));
    CHECK(first == s.gpu && second == 0);
    CHECK(strstr(fg_plan_explain(plan), "testgpu  cannot run it") != NULL);
    CHECK(strstr(fg_plan_explain(plan), "why: only cpu runs gelu f32") != NULL);
    float *out = check_poisoned(512 * 512);
    fg_binding in = {g.x, g.x_data}, result = {g.y, out};
    int fallbacks = -1;
    CHECK_OK(fg_plan_run(plan, &in, 1, &result, 1, &fallbacks));
    CHECK(fallbacks == 0);
    CHECK(same(out, expected, 512 * 512));
    fg_plan_destroy(plan);
    free(out), free(expected);
    fg_graph_destroy(g.graph), free(g.x_data);
    fg_context_destroy(s.context);
}

/* Each injected failure: the run succeeds, the answer is right, the fallback is counted and logged, and
 * the pools hold no more live bytes than before. */
static void test_fallbacks(void)
{
    const char *failures[] = {"fail=run", "fail=run,fail_op=gelu", "fail=upload", "fail=download", "fail=sync",
                              "fail=allocate", "memory=1000000"};
    const int minimum_fallbacks[] = {1, 2, 1, 1, 1, 1, 1};
    mlp g = make_graph("matmul_gelu_add", 512, 256, 512);
    float *expected = cpu_answer(&g, 512 * 512);
    fg_set_log_callback(capture_log, NULL, FG_LOG_WARN);
    for (size_t f = 0; f < sizeof failures / sizeof *failures; f++) {
        setup s = open_context("");
        fg_plan_options forced = {.use_forced_device = 1, .forced_device = s.gpu};
        fg_plan *plan;
        CHECK_OK(fg_plan_create(s.context, g.graph, &forced, &plan));
        setenv("FUSEGRAPH_TESTGPU", failures[f], 1); /* fail from now on */
        if (strncmp(failures[f], "memory", 6) == 0) {
            /* a small device: re-open so that create() reads the limit */
            fg_plan_destroy(plan);
            fg_context_destroy(s.context);
            s = open_context(failures[f]);
            forced.forced_device = s.gpu;
            CHECK_OK(fg_plan_create(s.context, g.graph, &forced, &plan));
        }
        fg_pool_statistics cpu_before, gpu_before, cpu_after, gpu_after;
        CHECK_OK(fg_context_pool_statistics(s.context, 0, &cpu_before));
        CHECK_OK(fg_context_pool_statistics(s.context, s.gpu, &gpu_before));
        log_text[0] = 0;
        float *out = check_poisoned(512 * 512);
        fg_binding in = {g.x, g.x_data}, result = {g.y, out};
        int fallbacks = -1;
        CHECK_OK(fg_plan_run(plan, &in, 1, &result, 1, &fallbacks));
        if (fallbacks < minimum_fallbacks[f]) fprintf(stderr, "%s: %d fallbacks\n", failures[f], fallbacks);
        CHECK(fallbacks >= minimum_fallbacks[f]);
        CHECK(same(out, expected, 512 * 512));
        CHECK(strstr(log_text, "[run]") != NULL);
        CHECK_OK(fg_context_pool_statistics(s.context, 0, &cpu_after));
        CHECK_OK(fg_context_pool_statistics(s.context, s.gpu, &gpu_after));
        CHECK(cpu_after.bytes_live == cpu_before.bytes_live && gpu_after.bytes_live == gpu_before.bytes_live);
        fg_plan_destroy(plan);
        free(out);
        fg_context_destroy(s.context);
    }
    fg_set_log_callback(NULL, NULL, FG_LOG_ERROR);
    free(expected);
    fg_graph_destroy(g.graph), free(g.x_data);
}

/* fg_plan_time in both modes: the outputs are right, the pools give everything back, and a bad mode or
 * repeat count is refused. */
static void test_timing(void)
{
    setup s = open_context("");
    mlp g = make_graph("matmul_gelu", 64, 32, 48);
    float *expected = cpu_answer(&g, 64 * 48);
    fg_plan_options forced = {.use_forced_device = 1, .forced_device = s.gpu};
    fg_plan *plan;
    CHECK_OK(fg_plan_create(s.context, g.graph, &forced, &plan));
    fg_pool_statistics before, after;
    CHECK_OK(fg_context_pool_statistics(s.context, s.gpu, &before));
    for (int mode = 0; mode < 2; mode++) {
        float *out = check_poisoned(64 * 48);
        fg_binding in = {g.x, g.x_data}, result = {g.y, out};
        double seconds = -1;
        CHECK_OK(fg_plan_time(plan, &in, 1, &result, 1, (fg_timing_mode)mode, 1, 3, &seconds));
        CHECK(seconds > 0);
        CHECK(same(out, expected, 64 * 48));
        free(out);
    }
    CHECK_OK(fg_context_pool_statistics(s.context, s.gpu, &after));
    CHECK(after.bytes_live == before.bytes_live);
    fg_binding in = {g.x, g.x_data}, result = {g.y, expected};
    double seconds;
    CHECK_FAILS(fg_plan_time(plan, &in, 1, &result, 1, (fg_timing_mode)5, 0, 1, &seconds), FG_ERR_INVALID_ARGUMENT, "unknown timing mode 5");
    CHECK_FAILS(fg_plan_time(plan, &in, 1, &result, 1, FG_TIMING_HOST, 0, 0, &seconds), FG_ERR_INVALID_ARGUMENT, "[plan_time]");
    fg_plan_destroy(plan);
    free(expected);
    fg_graph_destroy(g.graph), free(g.x_data);
    fg_context_destroy(s.context);
}

/* A context's settings override the environment variable of the same name, for that context only. */
static void test_context_settings(void)
{
    setenv("FUSEGRAPH_TESTGPU", "create=fail", 1);
    fg_context *with_settings = NULL, *without = NULL;
    CHECK_OK(fg_context_create(&(fg_context_options){.cpu_only = 1, .extra_backends = "testgpu",
                                                     .settings = "OTHER=1;FUSEGRAPH_TESTGPU=flops=3e13;"},
                               &with_settings));
    CHECK_OK(fg_context_create(&(fg_context_options){.cpu_only = 1, .extra_backends = "testgpu"}, &without));
    int ready_with = 0, ready_without = 0;
    double flops = 0;
    for (int d = 1; with_settings && d < fg_context_device_count(with_settings); d++) {
        fg_device_info info;
        CHECK_OK(fg_context_device_info(with_settings, d, &info));
        if (strcmp(info.backend, "testgpu") == 0 && info.ready) ready_with = 1, flops = info.cost.matmul_flops_per_second[FG_F32];
    }
    for (int d = 1; without && d < fg_context_device_count(without); d++) {
        fg_device_info info;
        CHECK_OK(fg_context_device_info(without, d, &info));
        if (strcmp(info.backend, "testgpu") == 0 && info.ready) ready_without = 1;
    }
    CHECK(ready_with == 1);   /* settings override the environment: testgpu is ready */
    CHECK(flops == 3e13);     /* the setting's value reaches the backend */
    CHECK(ready_without == 0); /* without settings the environment (create=fail) applies */
    fg_context_destroy(with_settings);
    fg_context_destroy(without);
    char too_long[1100];
    memset(too_long, 'a', sizeof too_long - 1);
    too_long[sizeof too_long - 1] = 0;
    fg_context *rejected = NULL;
    CHECK_FAILS(fg_context_create(&(fg_context_options){.settings = too_long}, &rejected), FG_ERR_INVALID_ARGUMENT,
                "[context_create] settings are");
}

/* A chain of three GELUs where each node alone is cheaper on the CPU, but the chain as a whole is
 * cheaper on the GPU: with c the CPU's estimate of one node and L the GPU's transfer latency (transfers
 * otherwise free, kernels instant), the greedy pass sees c < L for the first two nodes and c < 2L for
 * the last (upload + download), so it keeps all three on the CPU (3c); the whole chain on the GPU
 * costs 2L. L = 1.25c makes 2L < 3c: the planner must take the uniform placement and say why. */
/* The CPU's measured seconds for a tanh GELU of elements f32, as the planner gets them (cpu_measure.c,
 * the same process-wide record), 0 when the measurement was refused as disturbed; *out_cost (may be NULL)
 * receives the CPU's cost figures. */
static double cpu_gelu_measured(int64_t elements, fg_cost_figures *out_cost)
{
    fg_context *cpu_context;
    CHECK_OK(fg_context_create(&(fg_context_options){.cpu_only = 1}, &cpu_context));
    fg_device_info cpu;
    CHECK_OK(fg_context_device_info(cpu_context, 0, &cpu));
    fg_context_destroy(cpu_context);
    fg_node_desc gelu = {.op = FG_OP_GELU, .dtype = FG_F32, .gelu_form = FG_GELU_TANH, .input_count = 1, .elements = elements};
    char name[64];
    double measured = 0;
    CHECK_OK(cpu_choose_implementation(&cpu.cost, &gelu, name, sizeof name, &measured));
    if (out_cost) *out_cost = cpu.cost;
    return measured;
}

/* The CPU's estimate for a tanh GELU of elements f32, as the planner gets it: measured, else the roofline
 * of 8 bytes an element at the CPU's bandwidth plus a launch. */
static double cpu_gelu_estimate(int64_t elements)
{
    fg_cost_figures cost;
    double measured = cpu_gelu_measured(elements, &cost);
    return measured > 0 ? measured : 8.0 * (double)elements / cost.memory_bytes_per_second + cost.launch_seconds;
}

/* A pretend GPU that is free but for its transfer latency (seconds a leg). */
static setup open_latency_only_gpu(double latency)
{
    char settings[256];
    snprintf(settings, sizeof settings, "flops=1e18,bandwidth=1e18,launch=1e-12,h2d=1e18,d2h=1e18,latency=%.9g", latency);
    return open_context(settings);
}

/* x[elements] -> count tanh GELUs -> y, y marked as the output. */
static fg_graph *gelu_chain(int64_t elements, int count, fg_value *x, fg_value *y)
{
    fg_graph *graph = NULL;
    CHECK_OK(fg_graph_create(&graph));
    CHECK_OK(fg_graph_input(graph, "x", FG_F32, 1, &elements, x));
    *y = *x;
    for (int i = 0; i < count; i++) CHECK_OK(fg_graph_gelu(graph, *y, FG_GELU_TANH, y));
    CHECK_OK(fg_graph_mark_output(graph, *y));
    return graph;
}

static void test_whole_plan_placement(void)
{
    const int64_t elements = 1 << 16;
    setup s = open_latency_only_gpu(1.25 * cpu_gelu_estimate(elements));
    CHECK(s.gpu > 0);
    if (s.gpu <= 0) return;
    fg_value x, y;
    fg_graph *graph = gelu_chain(elements, 3, &x, &y);
    fg_plan *plan = NULL;
    CHECK_OK(fg_plan_create(s.context, graph, &automatic, &plan)); /* the model's decision (see automatic) */
    for (int node = 0; plan && node < 3; node++) {
        int device = -1;
        CHECK_OK(fg_plan_node_device(plan, node, &device));
        CHECK(device == s.gpu);
    }
    CHECK(plan && strstr(fg_plan_explain(plan), "placement: every node on testgpu") != NULL);
    CHECK(plan && strstr(fg_plan_explain(plan), "with the rest of the plan") != NULL);
    float *data = check_random(elements, -3, 3), *out = check_poisoned(elements);
    fg_binding in = {x, data}, result = {y, out};
    CHECK_OK(fg_plan_run(plan, &in, 1, &result, 1, NULL));
    double *reference = malloc(sizeof(double) * (size_t)elements);
    for (int64_t i = 0; i < elements; i++)
        reference[i] = reference_gelu(reference_gelu(reference_gelu(data[i], FG_GELU_TANH), FG_GELU_TANH), FG_GELU_TANH);
    CHECK(check_relative_error(out, reference, elements) < 1e-5);
    /* Forcing the CPU still works and says so: the uniform search is skipped. */
    fg_plan_destroy(plan);
    plan = NULL;
    CHECK_OK(fg_plan_create(s.context, graph, &(fg_plan_options){.use_forced_device = 1, .forced_device = 0}, &plan));
    CHECK(plan && strstr(fg_plan_explain(plan), "placement:") == NULL);
    fg_plan_destroy(plan);
    free(reference);
    free(data);
    free(out);
    fg_graph_destroy(graph);
    fg_context_destroy(s.context);
}

/* A close call (plan_measure.c): the pretend GPU's figures make its model total for a GELU 0.6x the CPU's,
 * close enough to be timed; timed, it runs the CPU's own kernel after copies and a run_delay of twice the
 * CPU's time, so it loses by a margin no scheduling noise closes, and the timing decides; the CPU's side is
 * timed too. With model_only the model decides, for the pretend GPU. A clear win (the GPU's total 2e-6 of
 * the CPU's) is not timed. A timing that fails (fail=upload) leaves both sides to the model. */
static void test_close_call_is_timed(void)
{
    const int64_t elements = 1 << 16;
    double c = 0;
    /* The CPU's GELU is measured once per process; a measurement refused as disturbed is taken again. */
    for (int attempt = 0; attempt < 5 && c <= 0; attempt++) c = cpu_gelu_measured(elements, NULL);
    CHECK(c > 0);
    if (c <= 0) return;
    for (int scenario = 0; scenario < 3; scenario++) { /* close, a clear win, close with failed timing */
        int clear_win = scenario == 1, failing = scenario == 2;
        char settings[256];
        snprintf(settings, sizeof settings, "flops=1e18,bandwidth=1e18,launch=1e-12,h2d=1e18,d2h=1e18,latency=%.9g,run_delay=%.9g%s",
                 clear_win ? 1e-6 * c : 0.3 * c, 2 * c, failing ? ",fail=upload" : ""); /* two legs: 0.6 c, or 2e-6 c */
        setup s = open_context(settings);
        CHECK(s.gpu > 0);
        if (s.gpu <= 0) {
            fg_context_destroy(s.context);
            return;
        }
        fg_value x, y;
        fg_graph *graph = gelu_chain(elements, 1, &x, &y);
        for (int model_only = 0; model_only < 2; model_only++) {
            fg_plan *plan = NULL;
            int device = -1;
            CHECK_OK(fg_plan_create(s.context, graph, &(fg_plan_options){.model_only = model_only}, &plan));
            CHECK_OK(fg_plan_node_device(plan, 0, &device));
            const char *explanation = fg_plan_explain(plan), *first = strstr(explanation, "a close call: timed");
            int timed = first && strstr(first + 1, "a close call: timed"); /* the CPU and the GPU */
            int expect_timed = !model_only && !clear_win && !failing, expect_device = expect_timed ? 0 : s.gpu;
            CHECK(timed == expect_timed);
            CHECK(!failing || first == NULL); /* all or nothing: neither side timed */
            CHECK(device == expect_device);
            if (timed != expect_timed || device != expect_device || (failing && first)) printf("%s", explanation);
            /* Whatever was chosen runs and is right (a failed upload falls back to the CPU). */
            float *data = check_random(elements, -3, 3), *out = check_poisoned(elements);
            fg_binding in = {x, data}, result = {y, out};
            CHECK_OK(fg_plan_run(plan, &in, 1, &result, 1, NULL));
            double *reference = malloc(sizeof(double) * (size_t)elements);
            for (int64_t i = 0; i < elements; i++) reference[i] = reference_gelu(data[i], FG_GELU_TANH);
            CHECK(check_relative_error(out, reference, elements) < 1e-5);
            free(reference), free(data), free(out);
            fg_plan_destroy(plan);
        }
        fg_graph_destroy(graph);
        fg_context_destroy(s.context);
    }
}

/* A close call on x + x: the timing uploads x once and gives its one buffer back once, as the executor
 * does (AddressSanitizer builds would catch a double release), and the plan runs right. */
static void test_close_call_on_a_repeated_input(void)
{
    const int64_t elements = 1 << 16;
    fg_cost_figures cost;
    cpu_gelu_measured(elements, &cost);
    double c = 12.0 * (double)elements / cost.memory_bytes_per_second + cost.launch_seconds; /* the CPU's model */
    setup s = open_latency_only_gpu(0.3 * c); /* two legs: 0.6 c, a close call */
    CHECK(s.gpu > 0);
    if (s.gpu > 0) {
        fg_graph *graph;
        fg_value x, y;
        CHECK_OK(fg_graph_create(&graph));
        CHECK_OK(fg_graph_input(graph, "x", FG_F32, 1, &elements, &x));
        CHECK_OK(fg_graph_add(graph, x, x, &y));
        CHECK_OK(fg_graph_mark_output(graph, y));
        fg_plan *plan = NULL;
        CHECK_OK(fg_plan_create(s.context, graph, &(fg_plan_options){0}, &plan));
        const char *first = strstr(fg_plan_explain(plan), "a close call: timed");
        CHECK(first && strstr(first + 1, "a close call: timed")); /* the CPU and the pretend GPU */
        float *data = check_random(elements, -3, 3), *out = check_poisoned(elements);
        fg_binding in = {x, data}, result = {y, out};
        CHECK_OK(fg_plan_run(plan, &in, 1, &result, 1, NULL));
        int64_t wrong = 0;
        for (int64_t i = 0; i < elements; i++) wrong += out[i] != 2 * data[i];
        CHECK(wrong == 0);
        free(data), free(out);
        fg_plan_destroy(plan);
        fg_graph_destroy(graph);
    }
    fg_context_destroy(s.context);
}

/* The CPU's guard against timings disturbed by other work on the cores (cpu_measure.c): a timing far
 * over the node's roofline is not believed. The two disturbed timings seen on the H100 host are refused,
 * honest ones of the same shapes accepted. */
static void test_cpu_timing_guard(void)
{
    fg_cost_figures figures = {.memory_bytes_per_second = 2e10, .launch_seconds = 2e-6};
    figures.matmul_flops_per_second[FG_F32] = 1e12;
    fg_node_desc tiny = {.op = FG_OP_MATMUL, .dtype = FG_F32, .m = 32, .k = 32, .n = 32};
    double roofline = cpu_node_roofline_seconds(&figures, &tiny); /* 2 us launch + 12 KiB at 20 GB/s */
    CHECK(roofline > 2.6e-6 && roofline < 2.65e-6);
    CHECK(cpu_timing_plausible(7.3e-6, roofline));   /* measured there, undisturbed */
    CHECK(!cpu_timing_plausible(2462e-6, roofline)); /* measured there, disturbed */
    fg_node_desc skinny = {.op = FG_OP_FUSED_MATMUL_ADD_GELU, .dtype = FG_F32, .m = 1, .k = 2048, .n = 2048};
    roofline = cpu_node_roofline_seconds(&figures, &skinny); /* 16.8 MB of weights at 20 GB/s */
    CHECK(roofline > 0.83e-3 && roofline < 0.85e-3);
    CHECK(cpu_timing_plausible(1.5e-3, roofline));
    CHECK(!cpu_timing_plausible(16e-3, roofline)); /* the test_planner failure under ctest -j4 */
    fg_node_desc half = skinny;
    half.dtype = FG_F16; /* widened to f32 before the GEMM: 10 bytes an element moved (no f16 rate here) */
    double half_roofline = cpu_node_roofline_seconds(&figures, &half);
    CHECK(half_roofline > 2.09e-3 && half_roofline < 2.11e-3);
    CHECK(cpu_timing_plausible(5e-3, half_roofline)); /* single-threaded widening of 4M elements fits */
}

int main(void)
{
    check_seed();
    test_discovery();
    test_decisions();
    test_unsupported_op_goes_to_cpu();
    test_whole_plan_placement();
    test_close_call_is_timed();
    test_close_call_on_a_repeated_input();
    test_fallbacks();
    test_timing();
    test_context_settings();
    test_cpu_timing_guard();
    return check_finish("test_planner");
}
