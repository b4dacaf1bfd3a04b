/*
 * cpu_measure.c — measured times of small matmul-like and GELU nodes on the CPU, for the planner
 * (fg_backend_interface.choose_implementation).
 *
 * The CPU's cost figures come from a 512^3 GEMM, and a GEMM library runs small or skinny shapes far
 * below that rate: measured on the H100 host (16 cores, oneDNN), the 1-token transformer MLP (768 x
 * 3072 and back, 9.4 MB of weights) took 116 us where the roofline said 79, and with 16 tokens 262 us
 * where it said 137. Those are exactly the shapes where the GPU's launch and transfer costs make the
 * choice close, so there the planner gets a measurement instead of a guess: on a shape's first use,
 * the fastest of five runs on scratch buffers after a warm-up (cpu_best_of), kept for the process.
 *
 * Only nodes the roofline puts under MEASURE_BELOW_SECONDS are measured (a one-time cost of about six
 * times the node); larger ones are far from any GPU's crossover and keep the roofline. GELU nodes are
 * measured too: an erf or tanh an element is work the bandwidth roofline does not see (on the H100 host
 * GELU of 100000 f32 took 53-79 us where the roofline said 4.3, so the GPU, at 60-71 us from host memory
 * and back, was the faster, and the plan was 1.11x slower than it: bench/results/
 * h100-2026-11-27-close-calls/routing-389598c.txt). Add is streaming, and the bandwidth describes it.
 *
 * A timing taken while other work holds the cores is not the node's cost, and kept for the process it
 * would route that shape wrongly from then on. Seen on the H100 host: a 32^3 matmul timed at 2462 us,
 * fastest of five, where the same process ran it in 7.6 us moments before, so the plan sent it to the GPU
 * (5x slower than the CPU); and under `ctest -j4`, a [1, 2048] x [2048, 2048] matmul must have timed
 * past 16 ms (test_planner's check that it stays on the CPU rather than cross a 1 GB/s link failed).
 * So a timing over PLAUSIBLE_FACTOR x the roofline + PLAUSIBLE_SLACK_SECONDS (cpu_timing_plausible) is
 * taken as disturbed: logged, not kept (the next plan measures again), and the roofline is used. The
 * honest gaps measured are well inside: the MLP shapes above at 1.5-2x, a 32^3 matmul 7.3 us against a
 * roofline of ~3 us (the GEMM library's fixed cost, inside the slack).
 */
#include "../../backend.h"
#include "../../internal.h"
#include "cpu_dispatch.h"
#include "cpu_kernels.h"

#include <pthread.h>
#include <stdio.h>
#include <string.h>

#define MEASURE_BELOW_SECONDS 1e-3
#define PLAUSIBLE_FACTOR 8.0
#define PLAUSIBLE_SLACK_SECONDS 100e-6
#define GELU_ROOFLINE_FACTOR 4.0 /* a GELU's guard: 8 x 4 x its bytes' roofline + 100 us */
#define MEASURED_SHAPES 128
#define TIMED_RUNS 5

typedef struct measured_shape {
    fg_op op;
    fg_dtype dtype;
    fg_gelu_form gelu_form;
    fg_weight_layout weight_layout; /* the layouts run different GEMM code (oneDNN "ab" / "ba", ...) */
    int64_t m, k, n, elements;      /* a GELU has only elements (m, k, n 0) */
    double seconds;
} measured_shape;

static measured_shape measured[MEASURED_SHAPES];
static int measured_count, next_replaced;
static pthread_mutex_t measured_lock = PTHREAD_MUTEX_INITIALIZER;

static int same_shape(const measured_shape *entry, const fg_node_desc *node)
{
    int gelu = node->op == FG_OP_GELU || node->op == FG_OP_FUSED_MATMUL_ADD_GELU;
    return entry->op == node->op && entry->dtype == node->dtype && entry->weight_layout == node->weight_layout &&
           entry->m == node->m && entry->k == node->k && entry->n == node->n && entry->elements == node->elements &&
           (!gelu || entry->gelu_form == node->gelu_form);
}

/* Fills bytes with a small non-zero value of dtype (1/64), so no input is zeros or denormal. */
static void fill(void *buffer, int64_t elements, fg_dtype dtype)
{
    if (dtype == FG_F32) {
        for (int64_t i = 0; i < elements; i++) ((float *)buffer)[i] = 0.015625f;
    } else {
        uint16_t bits = dtype == FG_F16 ? 0x2400 : 0x3C80; /* 1/64 in f16, in bf16 */
        for (int64_t i = 0; i < elements; i++) ((uint16_t *)buffer)[i] = bits;
    }
}

typedef struct node_run {
    const fg_node_desc *node;
    void *buffers[4]; /* a, b, bias, out */
} node_run;

static int run_node(void *argument)
{
    node_run *run = argument;
    return cpu_run_node(run->node, run->buffers, run->buffers[3]) == FG_OK;
}

/* Seconds of the node on scratch buffers (fastest of TIMED_RUNS after a warm-up, as the CPU's cost
 * figures are measured); 0 when it could not run. */
static double time_node(const fg_node_desc *node)
{
    size_t element = node->dtype == FG_F32 ? 4 : 2;
    int64_t counts[4] = {node->m * node->k, node->k * node->n, node->n, node->m * node->n};
    if (node->op == FG_OP_GELU) counts[0] = counts[3] = node->elements, counts[1] = counts[2] = 1;
    node_run run = {node, {NULL, NULL, NULL, NULL}};
    int ok = 1;
    for (int i = 0; i < 4 && ok; i++) {
        run.buffers[i] = fg_aligned_alloc((size_t)counts[i] * element);
        ok = run.buffers[i] != NULL;
        if (ok && i < 3) fill(run.buffers[i], counts[i], node->dtype);
    }
    double seconds = ok ? cpu_best_of(TIMED_RUNS, run_node, &run) : 0;
    for (int i = 0; i < 4; i++) fg_aligned_free(run.buffers[i]);
    return seconds;
}

/* Seconds of the node's FLOPs at the figures' GEMM rate (0 without a rate). */
static double compute_seconds(const fg_cost_figures *figures, const fg_node_desc *node)
{
    double rate = figures->matmul_flops_per_second[node->dtype];
    return rate > 0 ? 2.0 * (double)node->m * (double)node->k * (double)node->n / rate : 0;
}

/* The planner's roofline counts a value's bytes at its dtype; this one counts what the CPU moves. */
double cpu_node_roofline_seconds(const fg_cost_figures *figures, const fg_node_desc *node)
{
    double compute = compute_seconds(figures, node);
    /* f16/bf16 run as f32 after widening (convert_cpu.c): each element is read as 16 bits, written and read
     * again as f32 (2 + 4 + 4 bytes; the output the same way round). */
    double element = node->dtype == FG_F32 ? 4 : 10;
    int64_t bias = node->op == FG_OP_MATMUL ? 0 : node->n;
    double bytes = element * (double)(node->m * node->k + node->k * node->n + node->m * node->n + bias);
    if (node->op == FG_OP_GELU) bytes = element * 2.0 * (double)node->elements;
    double memory = figures->memory_bytes_per_second > 0 ? bytes / figures->memory_bytes_per_second : 0;
    return (compute > memory ? compute : memory) + figures->launch_seconds;
}

int cpu_timing_plausible(double measured_seconds, double roofline_seconds)
{
    return measured_seconds <= PLAUSIBLE_FACTOR * roofline_seconds + PLAUSIBLE_SLACK_SECONDS;
}

fg_status cpu_choose_implementation(void *state, const fg_node_desc *node, char *name, size_t capacity,
                                    double *out_measured_seconds)
{
    const fg_cost_figures *figures = state;
    *out_measured_seconds = 0;
    if (!fg_op_is_matmul_like(node->op)) {
        snprintf(name, capacity, "%s", cpu_has_avx2() ? "AVX2" : "scalar");
        if (node->op != FG_OP_GELU) return FG_OK;
    } else {
        snprintf(name, capacity, "%s", matmul_library_name());
    }
    /* Matmuls by their compute alone (a memory-bound skinny one, bf16 1 x 4096 x 14336, has a roofline of
     * ~4.6 ms of widening traffic and still wants measuring), GELUs by their bytes. */
    double roofline = cpu_node_roofline_seconds(figures, node);
    double size_seconds = node->op == FG_OP_GELU ? roofline : compute_seconds(figures, node);
    if (size_seconds >= MEASURE_BELOW_SECONDS || !cpu_supports_node(node)) return FG_OK;
    /* One lock around lookup and measurement: two threads planning the same shape measure it once, and
     * timings are not disturbed by each other. */
    pthread_mutex_lock(&measured_lock);
    for (int i = 0; i < measured_count; i++)
        if (same_shape(&measured[i], node)) {
            *out_measured_seconds = measured[i].seconds;
            pthread_mutex_unlock(&measured_lock);
            return FG_OK;
        }
    double seconds = time_node(node);
    /* A GELU's roofline is its bytes only, and its erf or tanh take far longer: 12-18x the roofline at 100000
     * f32 on the H100 host. So its guard allows GELU_ROOFLINE_FACTOR times more. */
    double guarded_roofline = node->op == FG_OP_GELU ? GELU_ROOFLINE_FACTOR * roofline : roofline;
    if (seconds > 0 && !cpu_timing_plausible(seconds, guarded_roofline)) {
        char shape[80];
        if (node->op == FG_OP_GELU) snprintf(shape, sizeof shape, "%lld elements", (long long)node->elements);
        else snprintf(shape, sizeof shape, "m=%lld k=%lld n=%lld", (long long)node->m, (long long)node->k, (long long)node->n);
        fg_log(FG_LOG_INFO,
               "[cpu] %s %s %s timed at %.1f us, over %.1f us (%.0fx its %.1f us roofline + %.0f us): "
               "taken as disturbed by other work on the cores; not kept, the roofline is used",
               fg_op_name(node->op), fg_dtype_name(node->dtype), shape, seconds * 1e6, (PLAUSIBLE_FACTOR * guarded_roofline + PLAUSIBLE_SLACK_SECONDS) * 1e6, PLAUSIBLE_FACTOR,
               guarded_roofline * 1e6, PLAUSIBLE_SLACK_SECONDS * 1e6);
        seconds = 0;
    }
    if (seconds > 0) {
        int slot = measured_count < MEASURED_SHAPES ? measured_count++ : (next_replaced++ % MEASURED_SHAPES);
        measured[slot] = (measured_shape){node->op, node->dtype, node->gelu_form, node->weight_layout,
                                          node->m, node->k, node->n, node->elements, seconds};
    }
    pthread_mutex_unlock(&measured_lock);
    *out_measured_seconds = seconds;
    return FG_OK;
}
