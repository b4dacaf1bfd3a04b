/*
 * explain.c — the plan in words (fg_plan_explain): per node its op, shapes, the device chosen, every
 * candidate device's estimate and the reason.
 */
#include "internal.h"
#include "plan.h"

#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

typedef struct text {
    char *data;
    size_t length, capacity;
    int failed;
} text;

static void append(text *t, const char *format, ...) FG_PRINTF(2, 3);
static void append(text *t, const char *format, ...)
{
    if (t->failed) return;
    for (;;) {
        va_list args;
        va_start(args, format);
        int needed = vsnprintf(t->data + t->length, t->capacity - t->length, format, args);
        va_end(args);
        if (needed < 0) {
            t->failed = 1;
            return;
        }
        if (t->length + (size_t)needed < t->capacity) {
            t->length += (size_t)needed;
            return;
        }
        size_t capacity = (t->capacity + (size_t)needed) * 2;
        char *grown = realloc(t->data, capacity);
        if (!grown) {
            t->failed = 1;
            return;
        }
        t->data = grown;
        t->capacity = capacity;
    }
}

fg_status fg_plan_build_explanation(fg_plan *plan)
{
    text t = {malloc(1024), 0, 1024, 0};
    if (!t.data) return fg_fail(FG_ERR_OUT_OF_MEMORY, "[plan_explain] out of host memory");
    t.data[0] = 0;
    const fg_context *context = plan->context;
    append(&t, "plan: %d node%s; devices:", plan->step_count, plan->step_count == 1 ? "" : "s");
    for (int d = 0; d < context->device_count; d++)
        append(&t, " %d=%s%s", d, context->devices[d].info.backend, context->devices[d].info.ready ? "" : "(not ready)");
    append(&t, "; constants %s\n", plan->options.constants_resident ? "resident on devices" : "in host memory");
    if (plan->placement_note[0]) append(&t, "placement: %s\n", plan->placement_note);
    for (int s = 0; s < plan->step_count; s++) {
        const fg_plan_step *step = &plan->steps[s];
        const fg_node_desc *desc = &step->desc;
        char shape[96];
        append(&t, "#%d %s %s", s, fg_op_name(desc->op), fg_dtype_name(desc->dtype));
        if (desc->op == FG_OP_GELU || desc->op == FG_OP_FUSED_MATMUL_ADD_GELU)
            append(&t, " (gelu %s)", desc->gelu_form == FG_GELU_TANH ? "tanh" : "exact");
        if (fg_op_is_matmul_like(desc->op) && desc->weight_layout == FG_WEIGHT_N_K) append(&t, " (weight [N, K])");
        for (int i = 0; i < desc->input_count; i++)
            append(&t, "%s%s", i ? ", " : " ", fg_shape_format(&desc->inputs[i], shape, sizeof shape));
        append(&t, " -> %s  => %s\n", fg_shape_format(&desc->output, shape, sizeof shape),
               context->devices[step->device].info.backend);
        for (int d = 0; d < context->device_count; d++) {
            const fg_device_estimate *e = &step->estimates[d];
            if (!context->devices[d].info.ready) continue;
            if (!e->supported) {
                append(&t, "    %-8s cannot run it\n", context->devices[d].info.backend);
                continue;
            }
            append(&t, "    %-8s compute %10.1f us  memory %9.1f us  launch %6.1f us  transfer %9.1f us  total %10.1f us",
                   context->devices[d].info.backend, e->compute * 1e6, e->memory * 1e6, e->launch * 1e6,
                   e->transfer * 1e6, (e->timed > 0 ? e->modeled_total : e->total) * 1e6);
            if (e->implementation[0] || e->measured > 0) append(&t, "\n             implementation %s", e->implementation[0] ? e->implementation : "(default)");
            if (e->measured > 0) append(&t, ", measured %.1f us on resident data (used instead of compute/memory/launch)", e->measured * 1e6);
            if (e->timed > 0)
                append(&t, "\n             a close call: timed %.1f us as a run moves the data, used instead of the %.1f us above",
                       e->timed * 1e6, e->modeled_total * 1e6);
            append(&t, "\n");
        }
        append(&t, "    why: %s\n", step->reason);
    }
    if (t.failed) {
        free(t.data);
        return fg_fail(FG_ERR_OUT_OF_MEMORY, "[plan_explain] out of host memory");
    }
    free(plan->explanation);
    plan->explanation = t.data;
    return FG_OK;
}
