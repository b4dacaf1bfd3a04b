/*
 * executor.c — runs a plan.
 *
 * Every value tracks where a valid copy of it lives (a bit per device) and the buffer it has there.
 * Before a node runs on device d its inputs are made valid on d (uploads from host memory; a device to
 * device move goes through host memory); its output gets a buffer from d's pool. Intermediates go back
 * to their pools as soon as their last consumer has run, and everything else at the end of the run, so
 * the pools' live bytes return to what they were before.
 *
 * Failure handling, the point of this file: when anything a device does for a node fails (upload,
 * allocation, the kernel, a download or a synchronize), the node runs on the CPU instead, logged at
 * FG_LOG_WARN. A failure other than running out of memory marks the device failed for the rest of the
 * run and forgets every value it held, since asynchronous work may have left them wrong. A value needed
 * in host memory whose only copy was on a failed device is recomputed on the CPU from its producer
 * (recursively, down to graph inputs and constants, which always live in host memory). So a device
 * error costs time, never a wrong answer.
 */
#include "internal.h"
#include "plan.h"

#include <stdlib.h>
#include <string.h>

typedef struct value_state {
    void *buffer[FG_MAX_DEVICES];
    unsigned valid;  /* devices holding a valid copy */
    unsigned pooled; /* devices whose buffer came from their pool in this run */
    int remaining;   /* consumers still to run */
    void *user_output;
} value_state;

typedef struct run_state {
    fg_plan *plan;
    value_state *values;
    int *step_of_node; /* graph node index -> plan step */
    unsigned failed_devices;
    unsigned used_devices;
    int fallbacks;
} run_state;

static fg_device *device_of(run_state *run, int d) { return &run->plan->context->devices[d]; }

static void fail_device(run_state *run, int d, const char *what, fg_status status)
{
    fg_device *device = device_of(run, d);
    fg_log(FG_LOG_WARN, "[run] %s failed on %s (%s: %s); its values are dropped and the CPU takes over for this run",
           what, device->info.backend, fg_status_name(status), device->interface->last_error(device->state));
    run->failed_devices |= 1u << d;
    for (int v = 0; v < run->plan->graph->value_count; v++) run->values[v].valid &= ~(1u << d);
}

static fg_status acquire(run_state *run, int d, fg_value v)
{
    value_state *value = &run->values[v];
    if (value->buffer[d]) return FG_OK;
    fg_status status = fg_pool_acquire(device_of(run, d)->pool, fg_plan_value_bytes(run->plan, v), &value->buffer[d]);
    if (status == FG_OK) value->pooled |= 1u << d;
    return status;
}

static void release_value(run_state *run, fg_value v)
{
    value_state *value = &run->values[v];
    for (int d = 0; d < run->plan->context->device_count; d++) {
        if (!(value->pooled & (1u << d))) continue;
        fg_pool_release(device_of(run, d)->pool, value->buffer[d]);
        value->buffer[d] = NULL;
    }
    value->pooled = 0;
    value->valid &= 1u << FG_CPU_DEVICE; /* host copies that are not pooled (inputs, constants) stay */
    if (!value->buffer[FG_CPU_DEVICE]) value->valid = 0;
}

static fg_status run_on_cpu(run_state *run, int step_index);

/* Makes v valid in host memory: downloaded from a healthy device that has it, or recomputed. */
static fg_status ensure_on_host(run_state *run, fg_value v)
{
    value_state *value = &run->values[v];
    if (value->valid & (1u << FG_CPU_DEVICE)) return FG_OK;
    for (int d = 1; d < run->plan->context->device_count; d++) {
        if (!(value->valid & (1u << d)) || (run->failed_devices & (1u << d))) continue;
        fg_device *device = device_of(run, d);
        fg_status status = FG_OK;
        if (!value->buffer[FG_CPU_DEVICE]) {
            if (value->user_output) value->buffer[FG_CPU_DEVICE] = value->user_output;
            else status = acquire(run, FG_CPU_DEVICE, v);
        }
        if (status != FG_OK) return status; /* host memory exhausted: nothing else to try */
        status = device->interface->download(device->state, value->buffer[FG_CPU_DEVICE], value->buffer[d],
                                             fg_plan_value_bytes(run->plan, v));
        if (status == FG_OK) status = device->interface->synchronize(device->state);
        if (status == FG_OK) {
            value->valid |= 1u << FG_CPU_DEVICE;
            return FG_OK;
        }
        fail_device(run, d, "a download", status);
    }
    const fg_value_record *record = &run->plan->graph->values[v];
    if (record->kind != FG_VALUE_NODE)
        return fg_fail(FG_ERR_INTERNAL, "[run] value %d has no host copy", (int)v); /* inputs always do */
    run->fallbacks++;
    fg_log(FG_LOG_WARN, "[run] recomputing value %d on the CPU (its device copy was lost)", (int)v);
    return run_on_cpu(run, run->step_of_node[record->producer]);
}

static fg_status run_on_cpu(run_state *run, int step_index)
{
    const fg_plan_step *step = &run->plan->steps[step_index];
    const fg_node_record *node = &run->plan->graph->nodes[step->graph_node];
    void *inputs[3];
    for (int i = 0; i < node->input_count; i++) {
        fg_status status = ensure_on_host(run, node->inputs[i]);
        if (status != FG_OK) return status;
        inputs[i] = run->values[node->inputs[i]].buffer[FG_CPU_DEVICE];
    }
    value_state *output = &run->values[node->output];
    if (!output->buffer[FG_CPU_DEVICE]) {
        if (output->user_output) output->buffer[FG_CPU_DEVICE] = output->user_output;
        else {
            fg_status status = acquire(run, FG_CPU_DEVICE, node->output);
            if (status != FG_OK) return status;
        }
    }
    fg_device *cpu = device_of(run, FG_CPU_DEVICE);
    fg_status status = cpu->interface->run(cpu->state, &step->desc, inputs, output->buffer[FG_CPU_DEVICE]);
    if (status != FG_OK) {
        char shape[96];
        return fg_fail(status, "[%s] the CPU cannot run it on %s %s", fg_op_name(step->desc.op),
                       fg_dtype_name(step->desc.dtype), fg_shape_format(&step->desc.inputs[0], shape, sizeof shape));
    }
    output->valid = 1u << FG_CPU_DEVICE;
    return FG_OK;
}

/* Tries the step on its planned device d (not the CPU). Returns FG_OK, or the failure after which the
 * caller falls back. out_lost tells whether the device must be marked failed. */
static fg_status try_on_device(run_state *run, const fg_plan_step *step, int d, const char **out_what)
{
    const fg_node_record *node = &run->plan->graph->nodes[step->graph_node];
    fg_device *device = device_of(run, d);
    void *inputs[3];
    for (int i = 0; i < node->input_count; i++) {
        fg_value input = node->inputs[i];
        value_state *value = &run->values[input];
        void *resident = run->plan->resident[input][d];
        if (resident) {
            inputs[i] = resident;
            continue;
        }
        if (!(value->valid & (1u << d))) {
            fg_status status = ensure_on_host(run, input);
            if (status != FG_OK) return status;
            *out_what = "allocating an input";
            if ((status = acquire(run, d, input)) != FG_OK) return status;
            *out_what = "an upload";
            status = device->interface->upload(device->state, value->buffer[d], value->buffer[FG_CPU_DEVICE],
                                               fg_plan_value_bytes(run->plan, input));
            if (status != FG_OK) return status;
            value->valid |= 1u << d;
        }
        inputs[i] = value->buffer[d];
    }
    *out_what = "allocating the output";
    fg_status status = acquire(run, d, node->output);
    if (status != FG_OK) return status;
    *out_what = "the kernel";
    status = device->interface->run(device->state, &step->desc, inputs, run->values[node->output].buffer[d]);
    if (status != FG_OK) return status;
    run->values[node->output].valid = 1u << d;
    return FG_OK;
}

static fg_status run_step(run_state *run, int step_index)
{
    const fg_plan_step *step = &run->plan->steps[step_index];
    int d = step->device;
    if (d == FG_CPU_DEVICE) return run_on_cpu(run, step_index);
    if (!(run->failed_devices & (1u << d))) {
        run->used_devices |= 1u << d;
        const char *what = "the node";
        fg_status status = try_on_device(run, step, d, &what);
        if (status == FG_OK) return FG_OK;
        if (status == FG_ERR_OUT_OF_MEMORY || status == FG_ERR_BUDGET) {
            /* The pool has already trimmed its cache and retried once; the device itself is fine. */
            fg_log(FG_LOG_WARN, "[run] node %d (%s): %s on %s ran out of memory; running it on the CPU", step_index,
                   fg_op_name(step->desc.op), what, device_of(run, d)->info.backend);
        } else {
            fail_device(run, d, what, status);
        }
    }
    run->fallbacks++;
    return run_on_cpu(run, step_index);
}

static fg_status check_bindings(const fg_plan *plan, const fg_binding *inputs, int input_count,
                                const fg_binding *outputs, int output_count)
{
    const fg_graph *graph = plan->graph;
    for (int i = 0; i < input_count; i++) {
        fg_value v = inputs[i].value;
        if (v < 0 || v >= graph->value_count || graph->values[v].kind != FG_VALUE_INPUT || !inputs[i].data)
            return fg_fail(FG_ERR_INVALID_ARGUMENT, "[run] input binding %d: value %d is not a graph input, or data is NULL", i, (int)v);
    }
    for (int v = 0; v < graph->value_count; v++) {
        if (graph->values[v].kind != FG_VALUE_INPUT) continue;
        int bound = 0;
        for (int i = 0; i < input_count; i++) bound |= inputs[i].value == v;
        if (!bound && plan->consumer_counts[v]) return fg_fail(FG_ERR_INVALID_ARGUMENT, "[run] graph input %d (%s) is not bound", v, graph->values[v].name);
    }
    for (int i = 0; i < output_count; i++) {
        fg_value v = outputs[i].value;
        if (v < 0 || v >= graph->value_count || !graph->values[v].is_output || !outputs[i].data)
            return fg_fail(FG_ERR_INVALID_ARGUMENT, "[run] output binding %d: value %d is not a graph output, or data is NULL", i, (int)v);
    }
    return FG_OK;
}

fg_status fg_plan_execute(fg_plan *plan, const fg_binding *inputs, int input_count, const fg_binding *outputs,
                          int output_count, int flags, int *out_fallbacks)
{
    int outputs_to_host = flags & FG_EXECUTE_OUTPUTS_TO_HOST;
    if (!plan || (input_count && !inputs) || (output_count && !outputs))
        return fg_fail(FG_ERR_INVALID_ARGUMENT, "[run] plan or bindings are NULL");
    fg_status status = check_bindings(plan, inputs, input_count, outputs, output_count);
    if (status != FG_OK) return status;
    const fg_graph *graph = plan->graph;
    run_state run = {plan, calloc((size_t)graph->value_count, sizeof(value_state)),
                     calloc((size_t)graph->node_count, sizeof(int)), 0, 0, 0};
    if (!run.values || !run.step_of_node) {
        free(run.values);
        free(run.step_of_node);
        return fg_fail(FG_ERR_OUT_OF_MEMORY, "[run] out of host memory");
    }
    for (int s = 0; s < plan->step_count; s++) run.step_of_node[plan->steps[s].graph_node] = s;
    for (int v = 0; v < graph->value_count; v++) {
        run.values[v].remaining = plan->consumer_counts[v];
        if (graph->values[v].kind == FG_VALUE_CONSTANT) {
            run.values[v].buffer[FG_CPU_DEVICE] = graph->values[v].constant_data;
            run.values[v].valid = 1u << FG_CPU_DEVICE;
        }
    }
    for (int i = 0; i < input_count; i++) {
        run.values[inputs[i].value].buffer[FG_CPU_DEVICE] = inputs[i].data;
        run.values[inputs[i].value].valid = 1u << FG_CPU_DEVICE;
    }
    for (int i = 0; i < output_count; i++)
        if (graph->values[outputs[i].value].kind == FG_VALUE_NODE) run.values[outputs[i].value].user_output = outputs[i].data;

    for (int s = 0; s < plan->step_count && status == FG_OK; s++) {
        status = run_step(&run, s);
        const fg_node_record *node = &graph->nodes[plan->steps[s].graph_node];
        for (int i = 0; i < node->input_count && status == FG_OK; i++) {
            fg_value input = node->inputs[i];
            if (--run.values[input].remaining == 0 && !graph->values[input].is_output) release_value(&run, input);
        }
    }
    for (int i = 0; i < output_count && status == FG_OK && outputs_to_host; i++) {
        fg_value v = outputs[i].value;
        status = ensure_on_host(&run, v);
        void *host = run.values[v].buffer[FG_CPU_DEVICE];
        if (status == FG_OK && host != outputs[i].data)
            memcpy(outputs[i].data, host, fg_plan_value_bytes(plan, v));
    }
    /* Nothing may still write into buffers that go back to the pools. */
    for (int d = 1; d < plan->context->device_count; d++) {
        if (!(run.used_devices & (1u << d)) || (run.failed_devices & (1u << d)) || (flags & FG_EXECUTE_NO_FINAL_SYNC)) continue;
        fg_device *device = device_of(&run, d);
        fg_status synced = device->interface->synchronize(device->state);
        if (synced != FG_OK)
            fg_log(FG_LOG_WARN, "[run] %s failed to synchronize after the outputs were read (%s); results are unaffected",
                   device->info.backend, device->interface->last_error(device->state));
    }
    for (int v = 0; v < graph->value_count; v++) release_value(&run, v);
    free(run.values);
    free(run.step_of_node);
    if (out_fallbacks) *out_fallbacks = run.fallbacks;
    return status;
}

fg_status fg_plan_run(fg_plan *plan, const fg_binding *inputs, int input_count, const fg_binding *outputs,
                      int output_count, int *out_fallbacks)
{
    return fg_plan_execute(plan, inputs, input_count, outputs, output_count, FG_EXECUTE_OUTPUTS_TO_HOST, out_fallbacks);
}
