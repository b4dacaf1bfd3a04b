/*
 * plan_measure.c — timing a close call instead of trusting the model.
 *
 * The planner's estimate for a node on a GPU fed from host memory is a sum of parts the backend measured
 * apart: its transfer curve (each transfer alone, on one hot buffer, the device idle) and its kernel time
 * (device events, data resident). A run pays more than those parts. On the H100 (2026-11-27, probe of
 * cuda_transfer.c and cuda_run timed from inside a plan run) a 512^3 f32 matmul from host memory and back
 * was estimated at 199 us (172 us of transfers, 27 us of kernel) and ran in 314 us: in the run the 1 MiB
 * upload's staging copies took 120-143 us of host time against 105 us in the curve, the host side of the
 * cuBLASLt launch 34-43 us, the download (waiting for the kernel first) 125-131 us. The CPU ran the same
 * node in 255 us, so the model sent it to the GPU, 1.23x slower. No single figure fixes that: the
 * overheads depend on the size, the implementation and the host.
 *
 * So where the decision is close, the planner times the node itself, the way fg_plan_run will run it:
 * the inputs that the run moves from host memory uploaded from host memory, the node run, its output
 * downloaded when it is a graph output, the device synchronized — host clock, one warm-up run, the median
 * of five. That time replaces the model's total for that device. The CPU is timed the same way at the
 * same moment (on host buffers, nothing to move): its own estimate is a measurement too
 * (cpu_choose_implementation), but one taken once per process, as the fastest of five, against a
 * median here; on the H100 host matmul 128^3 went to CUDA in some rounds of the routing suite, 3.8x
 * slower than on the CPU (bench/results/h100-2026-11-27-close-calls/routing-final.txt).
 *
 * "Close": the device's modeled total within a factor of CLOSE_CALL_FACTOR of the CPU's, either way, and
 * at most MEASURE_LIMIT_SECONDS (so five runs cost a plan at most ~0.1 s). A clear win either way is
 * never timed, and neither is a node whose inputs come from another GPU. fg_plan_options.model_only
 * turns this off (for tests of the model itself). The result is cached in the step per device and per
 * pattern of transfers, since the planner estimates each node several times (node by node, then the whole
 * plan on each device).
 */
#include "internal.h"
#include "plan.h"

#include <stdlib.h>
#include <string.h>

#define CLOSE_CALL_FACTOR 2.0
#define MEASURE_LIMIT_SECONDS 0.02
#define MEASURE_RUNS 5

static int compare_seconds(const void *a, const void *b)
{
    double x = *(const double *)a, y = *(const double *)b;
    return (x > y) - (x < y);
}

int fg_plan_is_close_call(const fg_plan *plan, const fg_plan_step *step, int d)
{
    const fg_device_estimate *device = &step->estimates[d], *cpu = &step->estimates[FG_CPU_DEVICE];
    if (plan->options.model_only || plan->options.use_forced_device || d == FG_CPU_DEVICE) return 0;
    if (!device->supported || !cpu->supported || device->total <= 0 || cpu->total <= 0) return 0;
    if (device->total > MEASURE_LIMIT_SECONDS) return 0;
    return device->total < cpu->total * CLOSE_CALL_FACTOR && cpu->total < device->total * CLOSE_CALL_FACTOR;
}

#define PATTERN_SET (1u << 31)      /* a pattern is never 0, so a zeroed step has timed nothing */
#define PATTERN_DOWNLOAD (1u << 30) /* the output goes back to host memory */

/* Into *out: which of the node's inputs a run moves from host memory to d (bit i), | PATTERN_DOWNLOAD
 * when its output goes back, | PATTERN_SET. 0 when an input would come from another device. */
static int transfer_pattern(const fg_plan *plan, const fg_node_record *node, const unsigned *locations, int d,
                            unsigned *out)
{
    unsigned pattern = PATTERN_SET;
    for (int i = 0; i < node->input_count; i++) {
        fg_value input = node->inputs[i];
        int resident = plan->options.constants_resident && plan->graph->values[input].kind == FG_VALUE_CONSTANT;
        if (resident || (locations[input] & (1u << d))) continue;
        if (!(locations[input] & (1u << FG_CPU_DEVICE))) return 0;
        pattern |= 1u << i;
    }
    if (plan->graph->values[node->output].is_output && d != FG_CPU_DEVICE) pattern |= PATTERN_DOWNLOAD;
    *out = pattern;
    return 1;
}

/* One timed run: the uploads of the inputs the pattern moves, the node, the download, a synchronize. */
static fg_status run_once(fg_device *device, const fg_plan_step *step, const fg_node_record *node, unsigned pattern,
                          void *const *buffers, void *output, const void *const *sources, void *host, size_t output_bytes,
                          const size_t *input_bytes)
{
    fg_status status = FG_OK;
    for (int i = 0; i < node->input_count && status == FG_OK; i++)
        if (pattern & (1u << i)) status = device->interface->upload(device->state, buffers[i], sources[i], input_bytes[i]);
    if (status == FG_OK) status = device->interface->run(device->state, &step->desc, buffers, output);
    if (status == FG_OK && (pattern & PATTERN_DOWNLOAD)) status = device->interface->download(device->state, host, output, output_bytes);
    if (status == FG_OK) status = device->interface->synchronize(device->state);
    return status;
}

/* Median seconds of the node on device d as a run would move its data; 0 when it cannot be timed. */
static double time_round_trip(const fg_plan *plan, const fg_plan_step *step, unsigned pattern, int d)
{
    fg_device *device = &plan->context->devices[d];
    const fg_node_record *node = &plan->graph->nodes[step->graph_node];
    size_t input_bytes[3] = {0, 0, 0}, output_bytes = fg_plan_value_bytes(plan, node->output), largest = output_bytes;
    for (int i = 0; i < node->input_count; i++) {
        input_bytes[i] = fg_plan_value_bytes(plan, node->inputs[i]);
        if (input_bytes[i] > largest) largest = input_bytes[i];
    }
    /* Host data: the constants' own, else 0x3C bytes (small nonzero values in every dtype: f32 ~0.0115). */
    unsigned char *host = malloc(largest ? largest : 1);
    void *buffers[3] = {NULL, NULL, NULL}, *output = NULL;
    const void *sources[3] = {host, host, host};
    fg_status status = host ? FG_OK : FG_ERR_OUT_OF_MEMORY;
    if (host) memset(host, 0x3C, largest);
    for (int i = 0; i < node->input_count && status == FG_OK; i++) {
        const fg_value_record *value = &plan->graph->values[node->inputs[i]];
        if (value->kind == FG_VALUE_CONSTANT) sources[i] = value->constant_data;
        status = fg_pool_acquire(device->pool, input_bytes[i], &buffers[i]);
        /* What the run finds already on the device is put there once, untimed. */
        if (status == FG_OK && !(pattern & (1u << i)))
            status = device->interface->upload(device->state, buffers[i], sources[i], input_bytes[i]);
    }
    if (status == FG_OK) status = fg_pool_acquire(device->pool, output_bytes, &output);
    double seconds[MEASURE_RUNS];
    if (status == FG_OK) status = run_once(device, step, node, pattern, buffers, output, sources, host, output_bytes, input_bytes);
    for (int r = 0; r < MEASURE_RUNS && status == FG_OK; r++) {
        double start = fg_now_seconds();
        status = run_once(device, step, node, pattern, buffers, output, sources, host, output_bytes, input_bytes);
        seconds[r] = fg_now_seconds() - start;
    }
    if (status != FG_OK) (void)device->interface->synchronize(device->state); /* nothing may still use the buffers */
    for (int i = 0; i < node->input_count; i++)
        if (buffers[i]) fg_pool_release(device->pool, buffers[i]);
    if (output) fg_pool_release(device->pool, output);
    free(host);
    if (status != FG_OK) {
        fg_log(FG_LOG_DEBUG, "[plan_create] could not time %s on %s (%s); using the model's estimate", fg_op_name(step->desc.op),
               device->info.backend, fg_last_error());
        return 0;
    }
    qsort(seconds, MEASURE_RUNS, sizeof *seconds, compare_seconds);
    return seconds[MEASURE_RUNS / 2];
}

void fg_plan_time_close_call(const fg_plan *plan, fg_plan_step *step, const unsigned *locations, int d)
{
    fg_device_estimate *estimate = &step->estimates[d];
    const fg_node_record *node = &plan->graph->nodes[step->graph_node];
    unsigned pattern;
    if (!transfer_pattern(plan, node, locations, d, &pattern)) return;
    if (step->timed_pattern[d] != pattern) {
        step->timed_pattern[d] = pattern;
        step->timed_seconds[d] = time_round_trip(plan, step, pattern, d);
    }
    if (step->timed_seconds[d] <= 0) return;
    estimate->modeled_total = estimate->total;
    estimate->timed = step->timed_seconds[d];
    estimate->total = estimate->timed;
}
