/*
 * cpu_dispatch.c — runs one node with the CPU kernels. Shared by the CPU backend and the test backend
 * (which runs the same kernels on its own "device" memory).
 */
#include "cpu_dispatch.h"
#include "cpu_kernels.h"

#include <stdlib.h>

int cpu_supports_node(const fg_node_desc *node)
{
    return (node->dtype == FG_F32 || node->dtype == FG_F16 || node->dtype == FG_BF16) && node->op >= FG_OP_MATMUL &&
           node->op < FG_OP_COUNT;
}

static fg_status run_f32(const fg_node_desc *node, void *const *inputs, void *output);

/* f16 / bf16: widen the inputs to f32, run the f32 kernel (f32 accumulation, as on the GPUs), round the
 * output back. */
static fg_status run_widened(const fg_node_desc *node, void *const *inputs, void *output)
{
    float *wide[4] = {NULL, NULL, NULL, NULL};
    fg_status status = FG_OK;
    for (int i = 0; i <= node->input_count && status == FG_OK; i++) {
        const fg_shape *shape = i < node->input_count ? &node->inputs[i] : &node->output;
        int64_t n = 1;
        for (int d = 0; d < shape->rank; d++) n *= shape->dims[d];
        wide[i] = malloc(sizeof(float) * (size_t)(n ? n : 1));
        if (!wide[i]) status = FG_ERR_OUT_OF_MEMORY;
        else if (i < node->input_count) convert_to_f32(wide[i], inputs[i], node->dtype, n);
    }
    if (status == FG_OK) status = run_f32(node, (void *const *)wide, wide[node->input_count]);
    if (status == FG_OK) convert_from_f32(output, wide[node->input_count], node->dtype, node->elements);
    for (int i = 0; i < 4; i++) free(wide[i]);
    return status;
}

fg_status cpu_run_node(const fg_node_desc *node, void *const *inputs, void *output)
{
    if (!cpu_supports_node(node)) return FG_ERR_UNSUPPORTED;
    if (node->dtype != FG_F32) return run_widened(node, inputs, output);
    return run_f32(node, inputs, output);
}

static fg_status run_f32(const fg_node_desc *node, void *const *inputs, void *output)
{
    const float *a = inputs[0];
    const float *b = node->input_count > 1 ? inputs[1] : NULL;
    float *out = output;
    switch (node->op) {
    case FG_OP_MATMUL:
        matmul_forward(out, a, b, node->m, node->k, node->n, node->weight_layout);
        return FG_OK;
    case FG_OP_ADD:
        if (node->bias_length) bias_add_forward(out, a, b, node->elements / node->bias_length, node->bias_length);
        else add_forward(out, a, b, node->elements);
        return FG_OK;
    case FG_OP_GELU:
        gelu_forward(out, a, node->elements, node->gelu_form);
        return FG_OK;
    case FG_OP_FUSED_MATMUL_ADD:
    case FG_OP_FUSED_MATMUL_ADD_GELU:
        linear_forward(out, a, b, inputs[2], node->m, node->k, node->n, node->weight_layout,
                       node->op == FG_OP_FUSED_MATMUL_ADD_GELU, node->gelu_form);
        return FG_OK;
    case FG_OP_COUNT:
        break;
    }
    return FG_ERR_UNSUPPORTED;
}
