/*
 * planner_measured_choices.h — test_planner.c's tests of the choices that go past the model's per-node
 * estimates: a whole plan placed uniformly when that is cheaper than the greedy pass's mix, close calls
 * timed on the devices (plan_measure.c), and the CPU's guard against timings disturbed by other work.
 * Included once, by test_planner.c, after planner_harness.h.
 */
#ifndef FUSEGRAPH_TEST_PLANNER_MEASURED_CHOICES_H
#define FUSEGRAPH_TEST_PLANNER_MEASURED_CHOICES_H

#include "planner_harness.h"

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

/* A chain of three GELUs where each node alone is cheaper on the CPU, but the chain as a whole is
 * cheaper on the GPU: with c the CPU's estimate of one node and L the GPU's transfer latency (transfers
 * otherwise free, kernels instant), the greedy pass sees c < L for the first two nodes and c < 2L for
 * the last (upload + download), so it keeps all three on the CPU (3c); the whole chain on the GPU
 * costs 2L. L = 1.25c makes 2L < 3c: the planner must take the uniform placement and say why. */
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

#endif /* FUSEGRAPH_TEST_PLANNER_MEASURED_CHOICES_H */
