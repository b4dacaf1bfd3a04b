/*
 * timing.c — fg_plan_time: medians of repeated runs, in two modes.
 *
 * FG_TIMING_HOST times fg_plan_run as a user calls it: inputs from host memory, outputs back to it.
 * FG_TIMING_RESIDENT first uploads each input once to every device that reads it (through the plan's
 * resident slots, which the executor already prefers to host copies), then times runs that leave the
 * outputs on their device; a last, untimed run brings the outputs to host memory.
 *
 * Host mode times single runs on the host clock (each ends when its outputs are in host memory).
 * Resident mode times batches: a batch of back-to-back runs is queued without synchronizing between
 * them, then every device is synchronized, and the sample is the batch's time divided by its size
 * (batch sized to about 2 ms, at most 50 runs). That is what timing a loop with device events measures
 * (PyTorch's benchmarks do the same): the device's throughput with each launch's host cost overlapped
 * by the previous run's work, not a host round trip per run.
 */
#include "internal.h"
#include "plan.h"

#include <stdlib.h>

static int compare_seconds(const void *a, const void *b)
{
    double x = *(const double *)a, y = *(const double *)b;
    return (x > y) - (x < y);
}

double fg_median_seconds(double *values, int count)
{
    qsort(values, (size_t)count, sizeof *values, compare_seconds);
    return count % 2 ? values[count / 2] : 0.5 * (values[count / 2 - 1] + values[count / 2]);
}

/* Uploads the bound inputs to the devices whose steps read them; records them in plan->resident. */
static fg_status upload_inputs(fg_plan *plan, const fg_binding *inputs, int input_count, unsigned char *uploaded)
{
    for (int s = 0; s < plan->step_count; s++) {
        const fg_plan_step *step = &plan->steps[s];
        const fg_node_record *node = &plan->graph->nodes[step->graph_node];
        fg_device *device = &plan->context->devices[step->device];
        if (step->device == FG_CPU_DEVICE) continue;
        for (int j = 0; j < node->input_count; j++)
            for (int i = 0; i < input_count; i++) {
                fg_value v = inputs[i].value;
                if (node->inputs[j] != v || plan->resident[v][step->device]) continue;
                size_t bytes = fg_plan_value_bytes(plan, v);
                void *buffer = NULL;
                fg_status status = fg_pool_acquire(device->pool, bytes, &buffer);
                if (status == FG_OK) status = device->interface->upload(device->state, buffer, inputs[i].data, bytes);
                if (status == FG_OK) status = device->interface->synchronize(device->state);
                if (status != FG_OK) {
                    if (buffer) fg_pool_release(device->pool, buffer);
                    return fg_fail(status, "[plan_time] cannot make input %d resident on %s", (int)v, device->info.backend);
                }
                plan->resident[v][step->device] = buffer;
                uploaded[v * FG_MAX_DEVICES + step->device] = 1;
            }
    }
    return FG_OK;
}

static void release_inputs(fg_plan *plan, unsigned char *uploaded)
{
    for (int v = 0; v < plan->graph->value_count; v++)
        for (int d = 0; d < FG_MAX_DEVICES; d++)
            if (uploaded[v * FG_MAX_DEVICES + d]) {
                fg_pool_release(plan->context->devices[d].pool, plan->resident[v][d]);
                plan->resident[v][d] = NULL;
            }
}

/* Waits for every ready device (after runs queued with FG_EXECUTE_NO_FINAL_SYNC). */
static fg_status synchronize_devices(fg_plan *plan)
{
    for (int d = 1; d < plan->context->device_count; d++) {
        fg_device *device = &plan->context->devices[d];
        if (!device->info.ready) continue;
        fg_status status = device->interface->synchronize(device->state);
        if (status != FG_OK)
            return fg_fail(status, "[plan_time] %s failed to synchronize: %s", device->info.backend,
                           device->interface->last_error(device->state));
    }
    return FG_OK;
}

fg_status fg_plan_time(fg_plan *plan, const fg_binding *inputs, int input_count, const fg_binding *outputs,
                       int output_count, fg_timing_mode mode, int warmup, int repeats, double *out_median_seconds)
{
    if (!plan || !out_median_seconds || repeats < 1 || warmup < 0)
        return fg_fail(FG_ERR_INVALID_ARGUMENT, "[plan_time] plan or out_median_seconds is NULL, or repeats < 1");
    if (mode != FG_TIMING_HOST && mode != FG_TIMING_RESIDENT)
        return fg_fail(FG_ERR_INVALID_ARGUMENT, "[plan_time] unknown timing mode %d", (int)mode);
    double *times = malloc(sizeof(double) * (size_t)repeats);
    unsigned char *uploaded = calloc((size_t)plan->graph->value_count * FG_MAX_DEVICES, 1);
    if (!times || !uploaded) {
        free(times), free(uploaded);
        return fg_fail(FG_ERR_OUT_OF_MEMORY, "[plan_time] out of host memory");
    }
    int resident = mode == FG_TIMING_RESIDENT, batch = 1;
    fg_status status = resident ? upload_inputs(plan, inputs, input_count, uploaded) : FG_OK;
    for (int r = 0; r < warmup + repeats && status == FG_OK; r++) {
        double start = fg_now_seconds();
        for (int b = 0; b < batch && status == FG_OK; b++)
            status = fg_plan_execute(plan, inputs, input_count, outputs, output_count,
                                     resident ? FG_EXECUTE_NO_FINAL_SYNC : FG_EXECUTE_OUTPUTS_TO_HOST, NULL);
        if (status == FG_OK && resident) status = synchronize_devices(plan);
        double seconds = (fg_now_seconds() - start) / batch;
        if (r >= warmup) times[r - warmup] = seconds;
        if (resident && r == 0) { /* size the batch from the first (warm-up or timed) run */
            batch = seconds > 0 ? (int)(2e-3 / seconds) : 50;
            batch = batch < 1 ? 1 : batch > 50 ? 50 : batch;
        }
    }
    if (status == FG_OK && resident)
        status = fg_plan_execute(plan, inputs, input_count, outputs, output_count, FG_EXECUTE_OUTPUTS_TO_HOST, NULL);
    release_inputs(plan, uploaded);
    if (status == FG_OK) {
        *out_median_seconds = fg_median_seconds(times, repeats);
    }
    free(times), free(uploaded);
    return status;
}
