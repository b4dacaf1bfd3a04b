/*
 * plan_probe.c — how long a plan run from host memory and back really takes, against the planner's
 * estimate, for nodes near the CPU/GPU crossover (matmul 512^3 and 256^3 f32 with the weight resident,
 * add of 256K f32 elements). For each: the automatic plan's explanation; 60 runs each of the all-CPU
 * (device 0), forced device 1 and automatic plans (medians); then CPU and device-1 runs alternating, at
 * once or after a 2 or 20 ms sleep (what the CPU's thread pool and the caches left behind do to the next).
 *
 * Build against a bundle (scripts/gpu-bundle.sh) and run on the GPU host, from the repository root:
 *   gcc -O2 -Iinclude bench/probes/plan_probe.c -o bench/probes/plan_probe -L.gpu-bundle/build -lfusegraph \
 *       -Wl,-rpath,'$ORIGIN/../../.gpu-bundle/build'
 *   .gpu-bundle/run ../../bench/probes/plan_probe
 * Results: bench/results/h100-2026-11-27-close-calls/plan-probe-*.txt.
 */
#define _POSIX_C_SOURCE 200809L
#include "fusegraph.h"

#include <stdio.h>
#include <stdlib.h>
#include <time.h>

#define RUNS 60

static double now(void)
{
    struct timespec t;
    clock_gettime(CLOCK_MONOTONIC, &t);
    return (double)t.tv_sec + (double)t.tv_nsec * 1e-9;
}

static int compare(const void *a, const void *b)
{
    double x = *(const double *)a, y = *(const double *)b;
    return (x > y) - (x < y);
}

static double median(double *values, int count)
{
    qsort(values, (size_t)count, sizeof *values, compare);
    return values[count / 2];
}

static float *random_floats(int64_t count)
{
    float *values = malloc(sizeof(float) * (size_t)count);
    for (int64_t i = 0; values && i < count; i++) values[i] = (float)rand() / (float)RAND_MAX - 0.5f;
    return values;
}

static double time_run(fg_plan *plan, const fg_binding *inputs, int input_count, const fg_binding *output)
{
    double start = now();
    fg_plan_run(plan, inputs, input_count, output, 1, NULL);
    return now() - start;
}

int main(void)
{
    fg_context *context;
    if (fg_context_create(NULL, &context) != FG_OK) return 1;
    for (int which = 0; which < 3; which++) { /* matmul 512, add 256K, matmul 256 */
        int add = which == 1;
        int64_t side = which == 2 ? 256 : 512, elements = side * side, dims[2] = {side, side};
        float *x_data = random_floats(elements), *other_data = random_floats(elements), *out = malloc(4 * (size_t)elements);
        fg_graph *graph;
        fg_value x, other, y;
        fg_graph_create(&graph);
        if (add) {
            fg_graph_input(graph, "x", FG_F32, 1, &elements, &x);
            fg_graph_input(graph, "y", FG_F32, 1, &elements, &other);
            fg_graph_add(graph, x, other, &y);
        } else {
            fg_graph_input(graph, "x", FG_F32, 2, dims, &x);
            fg_graph_constant(graph, "w", FG_F32, 2, dims, other_data, &other);
            fg_graph_matmul(graph, x, other, &y);
        }
        fg_graph_mark_output(graph, y);
        fg_binding inputs[2] = {{x, x_data}, {other, other_data}}, output = {y, out};
        int input_count = add ? 2 : 1;
        fg_plan *plans[3];
        const char *names[3] = {"cpu", "dev1", "auto"};
        for (int p = 0; p < 3; p++) {
            fg_plan_options options = {.constants_resident = 1, .use_forced_device = p < 2, .forced_device = p};
            if (fg_plan_create(context, graph, &options, &plans[p]) != FG_OK) return 1;
        }
        printf("=== %s %lld\n%s", add ? "add" : "matmul", (long long)(add ? elements : side), fg_plan_explain(plans[2]));
        double times[RUNS], cpu_times[RUNS];
        for (int p = 0; p < 3; p++) {
            for (int r = 0; r < 5; r++) time_run(plans[p], inputs, input_count, &output);
            for (int r = 0; r < RUNS; r++) times[r] = time_run(plans[p], inputs, input_count, &output);
            printf("%-5s alone: median %.1f us\n", names[p], median(times, RUNS) * 1e6);
        }
        for (int gap = 0; gap < 3; gap++) {
            for (int r = 0; r < RUNS; r++) {
                cpu_times[r] = time_run(plans[0], inputs, input_count, &output);
                struct timespec sleep = {0, gap == 1 ? 2000000 : 20000000};
                if (gap) nanosleep(&sleep, NULL);
                times[r] = time_run(plans[1], inputs, input_count, &output);
            }
            printf("alternating cpu, %s dev1: cpu %.1f us, dev1 %.1f us\n",
                   gap == 0 ? "then at once" : gap == 1 ? "2 ms sleep," : "20 ms sleep,", median(cpu_times, RUNS) * 1e6,
                   median(times, RUNS) * 1e6);
        }
        for (int p = 0; p < 3; p++) fg_plan_destroy(plans[p]);
        fg_graph_destroy(graph);
        free(x_data), free(other_data), free(out);
    }
    fg_context_destroy(context);
    return 0;
}
