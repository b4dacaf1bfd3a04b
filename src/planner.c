/*
 * planner.c — chooses a device for every node from a cost model stated in units.
 *
 * For node n on device d (seconds):
 *   compute(n, d)  = FLOPs(n) / d.matmul_flops_per_second[dtype]      (matmul-like ops: 2 M K N FLOPs;
 *                    elementwise ops count as memory-bound: 0)
 *   memory(n, d)   = bytes read and written by n / d.memory_bytes_per_second
 *   launch(d)      = d.launch_seconds                                   (fixed cost of one node)
 *   transfer(n, d) = sum over inputs not where d can read them of      bytes / link bandwidth + latency
 *                    (+ the output's way back to host memory when it is a graph output and d is not the CPU)
 *   total          = max(compute, memory) + launch + transfer          (a roofline plus fixed costs)
 *                    or, where a GPU's total is within 2x of the CPU's, the node timed on both as a run
 *                    moves its data (plan_measure.c: the model's parts miss overheads of a real run)
 * where a link from host to device d costs bytes / d.host_to_device_bytes_per_second + d.latency, from
 * device e to host bytes / e.device_to_host_bytes_per_second + e.latency, and device to device both legs
 * (a backend that measured its transfers at several sizes prices each leg itself: transfer_seconds).
 * This is the seed's rule "use the GPU if op_time > transfer_time + gpu_time", generalised to any number
 * of devices and to where each value lives at that point of the plan.
 *
 * The plan is chosen greedily in topological order: each node takes the device of least total, given
 * where the planner has already decided its inputs will be. Then the whole plan on one device is
 * estimated for each device that runs every node, and wins when its sum is less than the greedy one's
 * (the greedy pass cannot see that keeping a chain together saves its transfers). Graph inputs start in host memory;
 * constants too, unless the plan keeps them resident, in which case they count as already present on
 * every device (they are uploaded once, at plan creation). Ties go to the CPU.
 */
#include "internal.h"
#include "plan.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

size_t fg_plan_value_bytes(const fg_plan *plan, fg_value value)
{
    const fg_value_record *record = &plan->graph->values[value];
    return (size_t)fg_shape_elements(&record->shape) * fg_dtype_size(record->dtype);
}

/* One leg between host memory and device d: the backend's measured curve when it has one, else the
 * figures' line (bytes / rate + latency). */
static double leg_seconds(const fg_device *device, size_t bytes, int to_device)
{
    if (device->interface->transfer_seconds) return device->interface->transfer_seconds(device->state, bytes, to_device);
    const fg_cost_figures *cost = &device->info.cost;
    double rate = to_device ? cost->host_to_device_bytes_per_second : cost->device_to_host_bytes_per_second;
    return (double)bytes / (rate > 0 ? rate : 1e9) + cost->transfer_latency_seconds;
}

static double link_seconds(const fg_context *context, int from, int to, size_t bytes)
{
    double seconds = 0;
    if (from != FG_CPU_DEVICE) seconds += leg_seconds(&context->devices[from], bytes, 0);
    if (to != FG_CPU_DEVICE) seconds += leg_seconds(&context->devices[to], bytes, 1);
    return seconds;
}

/* Cheapest way to make value readable on device d, given the set of devices it is on (bit mask). */
static double transfer_seconds(const fg_plan *plan, unsigned locations, int d, fg_value value)
{
    if (locations & (1u << d)) return 0;
    size_t bytes = fg_plan_value_bytes(plan, value);
    double best = 1e30;
    for (int from = 0; from < plan->context->device_count; from++)
        if (locations & (1u << from)) {
            double seconds = link_seconds(plan->context, from, d, bytes);
            if (seconds < best) best = seconds;
        }
    return best;
}

static void estimate(const fg_plan *plan, const fg_plan_step *step, const unsigned *locations, int d,
                     fg_device_estimate *out)
{
    const fg_device *device = &plan->context->devices[d];
    const fg_node_desc *desc = &step->desc;
    const fg_node_record *node = &plan->graph->nodes[step->graph_node];
    memset(out, 0, sizeof *out);
    if (!device->info.ready || !device->interface->supports(device->state, desc)) return;
    const fg_cost_figures *cost = &device->info.cost;
    double bytes = (double)fg_plan_value_bytes(plan, node->output);
    for (int i = 0; i < node->input_count; i++) bytes += (double)fg_plan_value_bytes(plan, node->inputs[i]);
    if (fg_op_is_matmul_like(desc->op)) {
        double rate = cost->matmul_flops_per_second[desc->dtype];
        if (desc->dtype == FG_F32 && desc->precision == FG_PRECISION_TF32 && cost->matmul_tf32_flops_per_second > 0)
            rate = cost->matmul_tf32_flops_per_second;
        if (rate <= 0) return;
        out->compute = 2.0 * (double)desc->m * (double)desc->k * (double)desc->n / rate;
    }
    out->memory = bytes / (cost->memory_bytes_per_second > 0 ? cost->memory_bytes_per_second : 1e9);
    out->launch = cost->launch_seconds;
    for (int i = 0; i < node->input_count; i++) {
        fg_value input = node->inputs[i];
        int resident = plan->options.constants_resident && plan->graph->values[input].kind == FG_VALUE_CONSTANT;
        if (!resident) out->transfer += transfer_seconds(plan, locations[input], d, input);
    }
    if (plan->graph->values[node->output].is_output && d != FG_CPU_DEVICE)
        out->transfer += link_seconds(plan->context, d, FG_CPU_DEVICE, fg_plan_value_bytes(plan, node->output));
    double work = (out->compute > out->memory ? out->compute : out->memory) + out->launch;
    if (device->interface->choose_implementation) {
        double measured = 0;
        if (device->interface->choose_implementation(device->state, desc, out->implementation,
                                                     sizeof out->implementation, &measured) != FG_OK)
            return; /* the backend found no way to run it: not a candidate */
        if (measured > 0) {
            out->measured = measured;
            work = measured;
        }
    }
    out->total = work + out->transfer;
    out->supported = 1;
}

static void choose(fg_plan *plan, fg_plan_step *step, unsigned *locations, int uniform)
{
    const fg_context *context = plan->context;
    int best = -1, candidates = 0;
    for (int d = 0; d < context->device_count; d++) estimate(plan, step, locations, d, &step->estimates[d]);
    /* Close calls are timed, the CPU too: both sides measured the same way at the same moment. */
    fg_plan_time_close_calls(plan, step, locations);
    for (int d = 0; d < context->device_count; d++) {
        if (!step->estimates[d].supported) continue;
        candidates++;
        if (best < 0 || step->estimates[d].total < step->estimates[best].total) best = d;
    }
    int forced = plan->options.use_forced_device ? plan->options.forced_device : -1;
    if (uniform >= 0 && forced < 0 && best >= 0 && best != uniform && step->estimates[uniform].supported) {
        snprintf(step->reason, sizeof step->reason,
                 "%s with the rest of the plan (see above): here %.1f us vs %s %.1f us alone", context->devices[uniform].info.backend,
                 step->estimates[uniform].total * 1e6, context->devices[best].info.backend, step->estimates[best].total * 1e6);
        best = uniform;
    } else if (forced >= 0 && forced < context->device_count && step->estimates[forced].supported) {
        best = forced;
        snprintf(step->reason, sizeof step->reason, "forced to %s by the plan options", context->devices[forced].info.backend);
    } else if (forced >= 0 && step->estimates[FG_CPU_DEVICE].supported) {
        best = FG_CPU_DEVICE;
        snprintf(step->reason, sizeof step->reason, "forced device %d cannot run it: cpu", forced);
    } else if (candidates == 1) {
        snprintf(step->reason, sizeof step->reason, "only %s runs %s %s", context->devices[best].info.backend,
                 fg_op_name(step->desc.op), fg_dtype_name(step->desc.dtype));
    } else if (best >= 0) {
        /* Name the runner-up so the reader sees the margin. */
        int second = -1;
        for (int d = 0; d < context->device_count; d++)
            if (d != best && step->estimates[d].supported &&
                (second < 0 || step->estimates[d].total < step->estimates[second].total))
                second = d;
        const fg_device_estimate *b = &step->estimates[best], *s = &step->estimates[second];
        if (b->timed > 0 && s->timed > 0)
            snprintf(step->reason, sizeof step->reason, "%s is cheapest: %.1f us vs %s %.1f us, both timed as a run moves the data",
                     context->devices[best].info.backend, b->total * 1e6, context->devices[second].info.backend, s->total * 1e6);
        else
            snprintf(step->reason, sizeof step->reason, "%s is cheapest: %.1f us vs %s %.1f us (of which transfers %.1f us)",
                     context->devices[best].info.backend, b->total * 1e6, context->devices[second].info.backend,
                     s->total * 1e6, s->transfer * 1e6);
    }
    step->device = best;
    if (best < 0) return;
    const fg_node_record *node = &plan->graph->nodes[step->graph_node];
    for (int i = 0; i < node->input_count; i++) locations[node->inputs[i]] |= 1u << best;
    locations[node->output] = 1u << best;
}

/* Places every step in order; returns the sum of the chosen estimates' totals, or -1 when some node has
 * no device. uniform >= 0 asks for every node on that device: -1 as soon as one cannot run there. */
static double place(fg_plan *plan, unsigned *locations, int uniform)
{
    for (int v = 0; v < plan->graph->value_count; v++) locations[v] = 1u << FG_CPU_DEVICE;
    double total = 0;
    for (int s = 0; s < plan->step_count; s++) {
        fg_plan_step *step = &plan->steps[s];
        choose(plan, step, locations, uniform);
        if (step->device < 0 || (uniform >= 0 && step->device != uniform)) return -1;
        total += step->estimates[step->device].total;
    }
    return total;
}

fg_status fg_plan_create(fg_context *context, const fg_graph *graph, const fg_plan_options *options, fg_plan **out_plan)
{
    if (!context || !graph || !out_plan)
        return fg_fail(FG_ERR_INVALID_ARGUMENT, "[plan_create] context, graph or out_plan is NULL");
    int outputs = 0;
    for (int i = 0; i < graph->value_count; i++) {
        const fg_value_record *value = &graph->values[i];
        outputs += value->is_output;
        if (value->is_output && value->kind == FG_VALUE_NODE && graph->nodes[value->producer].removed)
            return fg_fail(FG_ERR_INVALID_ARGUMENT,
                           "[plan_create] value %d is an output, but fusion removed the node that made it "
                           "(mark outputs before fg_graph_fuse)", i);
    }
    if (!outputs) return fg_fail(FG_ERR_INVALID_ARGUMENT, "[plan_create] the graph has no output (fg_graph_mark_output)");
    fg_plan *plan = calloc(1, sizeof *plan);
    unsigned *locations = calloc((size_t)graph->value_count + 1, sizeof(unsigned));
    if (plan) {
        plan->steps = calloc((size_t)graph->node_count + 1, sizeof(fg_plan_step));
        plan->consumer_counts = calloc((size_t)graph->value_count + 1, sizeof(int));
        plan->resident = calloc((size_t)graph->value_count + 1, sizeof *plan->resident);
    }
    if (!plan || !locations || !plan->steps || !plan->consumer_counts || !plan->resident) {
        free(locations);
        fg_plan_destroy(plan);
        return fg_fail(FG_ERR_OUT_OF_MEMORY, "[plan_create] out of host memory");
    }
    plan->context = context;
    plan->graph = graph;
    if (options) plan->options = *options;
    if (plan->options.matmul_precision != FG_PRECISION_EXACT && plan->options.matmul_precision != FG_PRECISION_TF32) {
        int precision = (int)plan->options.matmul_precision;
        free(locations);
        fg_plan_destroy(plan);
        return fg_fail(FG_ERR_INVALID_ARGUMENT, "[plan_create] unknown matmul precision %d", precision);
    }
    for (int i = 0; i < graph->node_count; i++) {
        const fg_node_record *node = &graph->nodes[i];
        if (node->removed) continue;
        fg_plan_step *step = &plan->steps[plan->step_count++];
        step->graph_node = i;
        fg_graph_describe_node(graph, node, &step->desc);
        step->desc.precision = plan->options.matmul_precision;
        for (int j = 0; j < node->input_count; j++) plan->consumer_counts[node->inputs[j]]++;
    }
    /* Node by node first; then, unless a device is forced, the whole plan on each device that can run
     * all of it. The greedy choice cannot see that a node placed on the CPU because its own transfer
     * costs more than it saves drags its consumers' inputs there too; a uniform placement pays the
     * transfers once at the ends. The least estimated total wins, and placement is redone for it last so
     * that the steps hold its estimates and reasons. */
    double greedy = place(plan, locations, -1), best_total = greedy;
    int best_uniform = -1;
    for (int d = 0; d < context->device_count && greedy >= 0 && !plan->options.use_forced_device; d++) {
        if (!context->devices[d].info.ready) continue;
        double total = place(plan, locations, d);
        if (total >= 0 && total < best_total * 0.999) best_total = total, best_uniform = d;
    }
    if (greedy >= 0 && !plan->options.use_forced_device) place(plan, locations, best_uniform);
    if (best_uniform >= 0)
        snprintf(plan->placement_note, sizeof plan->placement_note,
                 "every node on %s: %.1f us estimated in all, vs %.1f us choosing node by node",
                 context->devices[best_uniform].info.backend, best_total * 1e6, greedy * 1e6);
    for (int s = 0; s < plan->step_count; s++) {
        const fg_plan_step *step = &plan->steps[s];
        if (step->device >= 0) continue;
        const fg_node_record *node = &graph->nodes[step->graph_node];
        char shape[96];
        free(locations);
        fg_plan_destroy(plan);
        return fg_fail(FG_ERR_UNSUPPORTED, "[plan_create] no ready device runs %s on %s %s", fg_op_name(node->op),
                       fg_dtype_name(graph->values[node->inputs[0]].dtype),
                       fg_shape_format(&graph->values[node->inputs[0]].shape, shape, sizeof shape));
    }
    free(locations);

    if (plan->options.constants_resident) {
        /* Upload each constant once to every non-CPU device that reads it. */
        for (int s = 0; s < plan->step_count; s++) {
            const fg_plan_step *step = &plan->steps[s];
            const fg_node_record *node = &graph->nodes[step->graph_node];
            fg_device *device = &context->devices[step->device];
            if (step->device == FG_CPU_DEVICE) continue;
            for (int j = 0; j < node->input_count; j++) {
                fg_value input = node->inputs[j];
                if (graph->values[input].kind != FG_VALUE_CONSTANT || plan->resident[input][step->device]) continue;
                size_t bytes = fg_plan_value_bytes(plan, input);
                void *buffer = NULL;
                if (fg_pool_acquire(device->pool, bytes, &buffer) != FG_OK ||
                    device->interface->upload(device->state, buffer, graph->values[input].constant_data, bytes) != FG_OK) {
                    fg_log(FG_LOG_WARN, "[plan_create] constant %d stays in host memory: %s could not hold it (%s)",
                           input, device->info.backend, fg_last_error());
                    if (buffer) fg_pool_release(device->pool, buffer);
                    continue;
                }
                plan->resident[input][step->device] = buffer;
            }
        }
    }
    fg_status status = fg_plan_build_explanation(plan);
    if (status != FG_OK) {
        fg_plan_destroy(plan);
        return status;
    }
    fg_log(FG_LOG_INFO, "%s", plan->explanation);
    *out_plan = plan;
    return FG_OK;
}

void fg_plan_destroy(fg_plan *plan)
{
    if (!plan) return;
    if (plan->resident && plan->graph) {
        for (int v = 0; v < plan->graph->value_count; v++)
            for (int d = 0; d < FG_MAX_DEVICES; d++)
                if (plan->resident[v][d]) fg_pool_release(plan->context->devices[d].pool, plan->resident[v][d]);
    }
    free(plan->steps);
    free(plan->consumer_counts);
    free(plan->resident);
    free(plan->explanation);
    free(plan);
}

fg_status fg_plan_node_device(const fg_plan *plan, int node_index, int *out_device_index)
{
    if (!plan || !out_device_index) return fg_fail(FG_ERR_INVALID_ARGUMENT, "[plan_node_device] plan or out is NULL");
    if (node_index < 0 || node_index >= plan->step_count)
        return fg_fail(FG_ERR_INVALID_ARGUMENT, "[plan_node_device] node %d does not exist (%d nodes)", node_index,
                       plan->step_count);
    *out_device_index = plan->steps[node_index].device;
    return FG_OK;
}

const char *fg_plan_explain(const fg_plan *plan) { return plan && plan->explanation ? plan->explanation : ""; }
