/*
 * test_planner.c — device choice, transfers and fallback, with the test backend (a pretend GPU that runs
 * the CPU kernels on memory of its own and reports GPU-like cost figures; see testgpu_backend.c).
 *
 * Every result is compared with the same graph run on the CPU alone (whose kernels test_cpu_kernels
 * checks against float64), so a fallback that returned a wrong or partial answer fails here.
 *
 * The shared setup is in planner_harness.h; the tests of measured choices (whole-plan placement, close
 * calls, the CPU timing guard) in planner_measured_choices.h; the model's decisions, fallbacks, plan
 * timing and context settings here.
 */
#include "planner_harness.h"
#include "planner_measured_choices.h"

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
