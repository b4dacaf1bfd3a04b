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
 * at most MEASURE_LIMIT_SECONDS. Then that device and the CPU are timed (a warm-up and five runs each:
 * the CPU's side is at most 2 x 20 ms a run, so at most ~0.4 s a node, and a few ms for the small nodes
 * where close calls happen). All or nothing: when one of them cannot be timed (a node whose input is only
 * on another GPU, a failure), every estimate of the step stays the model's, so a timed total is never
 * compared with a modeled one. A clear win either way is never timed. fg_plan_options.model_only turns
 * this off (for tests of the model itself). Timings are cached in the step per device and per pattern of
 * transfers, since the planner estimates each node several times (node by node, then the whole plan on
 * each device) with its inputs in different places.
 *
 * Approximation left: a whole plan's total is the sum of its steps' totals, some timed, some modeled. The
 * steps that are timed are the ones whose transfers make them close; a step whose inputs are already on
 * the device is not close and keeps the model, which there has only the kernel to price, measured by the
 * backend's autotuner. For the pretend GPU of the tests the model is fiction throughout (test_planner
 * plans with model_only).
 */
#include "internal.h"
#include "plan.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#define CLOSE_CALL_FACTOR 2.0
#define MEASURE_LIMIT_SECONDS 0.02
#define MEASURE_RUNS 5

/* 1 when device d's estimate for the step is close enough to the CPU's to be timed. */
static int is_close_call(const fg_plan *plan, const fg_plan_step *step, int d)
{
    const fg_device_estimate *device = &step->estimates[d], *cpu = &step->estimates[FG_CPU_DEVICE];
    if (plan->options.model_only || plan->options.use_forced_device || d == FG_CPU_DEVICE) return 0;
    if (!device->supported || !cpu->supported || device->total <= 0 || cpu->total <= 0) return 0;
    if (device->total > MEASURE_LIMIT_SECONDS) return 0;
    return device->total < cpu->total * CLOSE_CALL_FACTOR && cpu->total < device->total * CLOSE_CALL_FACTOR;
}

#define PATTERN_SET (1u << 31)      /* a pattern is never 0, so an empty cache slot matches none */
#define PATTERN_DOWNLOAD (1u << 30) /* the output goes back to host memory */

/* The first of the node's inputs that is the same value as input i (i itself unless, as in x + x, an
 * earlier input reads it too): a run moves and holds that value once. */
static int first_use(const fg_node_record *node, int i)
{
    for (int j = 0; j < i; j++)
        if (node->inputs[j] == node->inputs[i]) return j;
    return i;
}

/* Into *out: which of the node's inputs a run moves from host memory to d (bit i; an input read twice,
 * as in x + x, moves once: the first), | PATTERN_DOWNLOAD when its output goes back, | PATTERN_SET.
 * 0 when an input would come from another device. */
static int transfer_pattern(const fg_plan *plan, const fg_node_record *node, const unsigned *locations, int d,
                            unsigned *out)
{
    unsigned pattern = PATTERN_SET;
    for (int i = 0; i < node->input_count; i++) {
        fg_value input = node->inputs[i];
        int resident = plan->options.constants_resident && plan->graph->values[input].kind == FG_VALUE_CONSTANT;
        if (resident || first_use(node, i) < i || (locations[input] & (1u << d))) continue;
        if (!(locations[input] & (1u << FG_CPU_DEVICE))) return 0;
        pattern |= 1u << i;
    }
    if (plan->graph->values[node->output].is_output && d != FG_CPU_DEVICE) pattern |= PATTERN_DOWNLOAD;
    *out = pattern;
    return 1;
}

typedef struct round_trip {
    fg_device *device;
    const fg_plan_step *step;
    const fg_node_record *node;
    unsigned pattern;
    void *buffers[3], *output;
    const void *sources[3];
    size_t input_bytes[3], output_bytes;
    void *downloaded; /* host memory the output is downloaded into (not the inputs' source) */
} round_trip;

/* One timed run: the uploads of the inputs the pattern moves, the node, the download, a synchronize. */
static fg_status run_once(const round_trip *trip)
{
    const fg_backend_interface *backend = trip->device->interface;
    void *state = trip->device->state;
    fg_status status = FG_OK;
    for (int i = 0; i < trip->node->input_count && status == FG_OK; i++)
        if (trip->pattern & (1u << i)) status = backend->upload(state, trip->buffers[i], trip->sources[i], trip->input_bytes[i]);
    if (status == FG_OK) status = backend->run(state, &trip->step->desc, trip->buffers, trip->output);
    if (status == FG_OK && (trip->pattern & PATTERN_DOWNLOAD))
        status = backend->download(state, trip->downloaded, trip->output, trip->output_bytes);
    if (status == FG_OK) status = backend->synchronize(state);
    return status;
}

/* Median seconds of the node on device d as a run would move its data; 0 when it cannot be timed. */
static double time_round_trip(const fg_plan *plan, const fg_plan_step *step, unsigned pattern, int d)
{
    round_trip trip = {&plan->context->devices[d], step, &plan->graph->nodes[step->graph_node], pattern,
                       {NULL, NULL, NULL}, NULL, {NULL, NULL, NULL}, {0, 0, 0}, 0, NULL};
    const fg_node_record *node = trip.node;
    fg_device *device = trip.device;
    trip.output_bytes = fg_plan_value_bytes(plan, node->output);
    size_t largest = 0;
    for (int i = 0; i < node->input_count; i++) {
        trip.input_bytes[i] = fg_plan_value_bytes(plan, node->inputs[i]);
        if (trip.input_bytes[i] > largest) largest = trip.input_bytes[i];
    }
    /* Input data: the constants' own, else 0x3C bytes (small nonzero values in every dtype: f32 ~0.0115). */
    unsigned char *host = malloc(largest ? largest : 1);
    trip.downloaded = malloc(trip.output_bytes ? trip.output_bytes : 1);
    fg_status status = host && trip.downloaded ? FG_OK : FG_ERR_OUT_OF_MEMORY;
    if (host) memset(host, 0x3C, largest);
    for (int i = 0; i < node->input_count && status == FG_OK; i++) {
        const fg_value_record *value = &plan->graph->values[node->inputs[i]];
        trip.sources[i] = value->kind == FG_VALUE_CONSTANT ? value->constant_data : host;
        int first = first_use(node, i);
        if (first < i) { /* x + x: one buffer, as the executor has */
            trip.buffers[i] = trip.buffers[first];
            continue;
        }
        status = fg_pool_acquire(device->pool, trip.input_bytes[i], &trip.buffers[i]);
        /* What the run finds already on the device is put there once, untimed. */
        if (status == FG_OK && !(pattern & (1u << i)))
            status = device->interface->upload(device->state, trip.buffers[i], trip.sources[i], trip.input_bytes[i]);
    }
    if (status == FG_OK) status = fg_pool_acquire(device->pool, trip.output_bytes, &trip.output);
    double seconds[MEASURE_RUNS];
    if (status == FG_OK) status = run_once(&trip);
    for (int r = 0; r < MEASURE_RUNS && status == FG_OK; r++) {
        double start = fg_now_seconds();
        status = run_once(&trip);
        seconds[r] = fg_now_seconds() - start;
    }
    char reason[256] = "";
    if (status != FG_OK) {
        snprintf(reason, sizeof reason, "%s", device->interface->last_error(device->state));
        (void)device->interface->synchronize(device->state); /* nothing may still use the buffers */
    }
    for (int i = 0; i < node->input_count; i++)
        if (trip.buffers[i] && first_use(node, i) == i) fg_pool_release(device->pool, trip.buffers[i]);
    if (trip.output) fg_pool_release(device->pool, trip.output);
    free(host);
    free(trip.downloaded);
    if (status != FG_OK) {
        fg_log(FG_LOG_DEBUG, "[plan_create] could not time %s on %s (%s); the model's estimates decide", fg_op_name(step->desc.op),
               device->info.backend, reason[0] ? reason : fg_last_error());
        return 0;
    }
    return fg_median_seconds(seconds, MEASURE_RUNS);
}

/* The step's timing on d for the transfers of locations (from the step's cache, or timed now); 0 when it
 * cannot be timed. */
static double timed_seconds(const fg_plan *plan, fg_plan_step *step, const unsigned *locations, int d)
{
    unsigned pattern;
    if (!transfer_pattern(plan, &plan->graph->nodes[step->graph_node], locations, d, &pattern)) return 0;
    fg_timed_round_trip *cache = step->timed[d];
    for (int i = 0; i < FG_TIMED_PATTERNS; i++)
        if (cache[i].pattern == pattern) return cache[i].seconds;
    int slot = 0; /* the first free slot, else the last: patterns per node are few */
    while (slot < FG_TIMED_PATTERNS - 1 && cache[slot].pattern) slot++;
    cache[slot].pattern = pattern;
    cache[slot].seconds = time_round_trip(plan, step, pattern, d);
    return cache[slot].seconds;
}

void fg_plan_time_close_calls(const fg_plan *plan, fg_plan_step *step, const unsigned *locations)
{
    const int devices = plan->context->device_count;
    int close[FG_MAX_DEVICES] = {0}, any = 0;
    for (int d = 0; d < devices; d++) any |= close[d] = is_close_call(plan, step, d);
    if (!any) return;
    close[FG_CPU_DEVICE] = 1;
    /* All or nothing: a timed total beside a modeled one would compare a run's cost with the model's
     * parts, the very gap the timing is for. */
    double seconds[FG_MAX_DEVICES] = {0};
    for (int d = 0; d < devices; d++)
        if (close[d] && (seconds[d] = timed_seconds(plan, step, locations, d)) <= 0) return;
    for (int d = 0; d < devices; d++) {
        if (!close[d]) continue;
        fg_device_estimate *estimate = &step->estimates[d];
        estimate->modeled_total = estimate->total;
        estimate->timed = seconds[d];
        estimate->total = seconds[d];
    }
}
