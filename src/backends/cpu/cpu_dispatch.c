/*
 * cpu_dispatch.c — runs one node with the CPU kernels. Shared by the CPU backend and the test backend
 * (which runs the same kernels on its own "device" memory).
 */
#include "cpu_dispatch.h"
#include "cpu_kernels.h"

int cpu_supports_node(const fg_node_desc *node)
{
    return node->dtype == FG_F32 && node->op >= FG_OP_MATMUL && node->op < FG_OP_COUNT;
}

fg_status cpu_run_node(const fg_node_desc *node, void *const *inputs, void *output)
{
    if (!cpu_supports_node(node)) return FG_ERR_UNSUPPORTED;
    const float *a = inputs[0];
    const float *b = node->input_count > 1 ? inputs[1] : NULL;
    float *out = output;
    switch (node->op) {
    case FG_OP_MATMUL:
        matmul_forward(out, a, b, node->m, node->k, node->n);
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
        linear_forward(out, a, b, inputs[2], node->m, node->k, node->n, node->op == FG_OP_FUSED_MATMUL_ADD_GELU,
                       node->gelu_form);
        return FG_OK;
    case FG_OP_COUNT:
        break;
    }
    return FG_ERR_UNSUPPORTED;
}
