/*
 * fusion.c — the fusion pass.
 *
 * MatMul -> Add(bias [N]) -> GELU becomes one FUSED_MATMUL_ADD_GELU node, and MatMul -> Add(bias [N])
 * alone becomes FUSED_MATMUL_ADD. Why: the unfused chain writes the [M, N] product to memory and reads it
 * back twice; the fused kernel applies bias and GELU while the output block is still in registers or
 * cache, so the whole epilogue costs almost nothing.
 *
 * A chain is fused only when each intermediate has exactly one consumer and is not a graph output — the
 * intermediate no longer exists after fusion, so nobody else may need it. The last node of the chain is
 * replaced in place (its output value id survives) and the earlier ones are marked removed, which keeps
 * the node array in topological order.
 */
#include "graph.h"
#include "internal.h"

/* The single live consumer of value, or -1 when it has none or several. */
static int single_consumer(const fg_graph *graph, fg_value value)
{
    int found = -1;
    for (int i = 0; i < graph->node_count; i++) {
        const fg_node_record *node = &graph->nodes[i];
        if (node->removed) continue;
        for (int j = 0; j < node->input_count; j++) {
            if (node->inputs[j] != value) continue;
            if (found >= 0) return -1;
            found = i;
        }
    }
    return found;
}

/* Node index of the Add that takes matmul_node's output plus a bias [N], or -1. */
static int bias_add_after(const fg_graph *graph, int matmul_node)
{
    const fg_node_record *matmul = &graph->nodes[matmul_node];
    const fg_value_record *product = &graph->values[matmul->output];
    if (product->is_output) return -1;
    int add_index = single_consumer(graph, matmul->output);
    if (add_index < 0) return -1;
    const fg_node_record *add = &graph->nodes[add_index];
    /* graph.c keeps a bias second; the product must be the full-shape operand. */
    if (add->op != FG_OP_ADD || add->inputs[0] != matmul->output) return -1;
    const fg_shape *bias = &graph->values[add->inputs[1]].shape;
    int64_t n = product->shape.dims[product->shape.rank - 1];
    if (bias->rank != 1 || bias->dims[0] != n) return -1;
    return add_index;
}

fg_status fg_graph_fuse(fg_graph *graph, int *out_rewrites)
{
    if (!graph) return fg_fail(FG_ERR_INVALID_ARGUMENT, "[fuse] graph is NULL");
    int rewrites = 0;
    for (int i = 0; i < graph->node_count; i++) {
        fg_node_record *matmul = &graph->nodes[i];
        if (matmul->removed || matmul->op != FG_OP_MATMUL) continue;
        int add_index = bias_add_after(graph, i);
        if (add_index < 0) continue;
        fg_node_record *add = &graph->nodes[add_index];
        fg_value fused_inputs[3] = {matmul->inputs[0], matmul->inputs[1], add->inputs[1]};

        int gelu_index = -1;
        if (!graph->values[add->output].is_output) {
            int consumer = single_consumer(graph, add->output);
            if (consumer >= 0 && graph->nodes[consumer].op == FG_OP_GELU) gelu_index = consumer;
        }
        fg_node_record *last = gelu_index >= 0 ? &graph->nodes[gelu_index] : add;
        last->op = gelu_index >= 0 ? FG_OP_FUSED_MATMUL_ADD_GELU : FG_OP_FUSED_MATMUL_ADD;
        last->input_count = 3;
        last->weight_layout = matmul->weight_layout;
        for (int j = 0; j < 3; j++) last->inputs[j] = fused_inputs[j];
        if (gelu_index >= 0) add->removed = 1;
        matmul->removed = 1;
        rewrites++;
        fg_log(FG_LOG_DEBUG, "[fuse] node %d (matmul)%s%s -> %s", i, " + add", gelu_index >= 0 ? " + gelu" : "",
               fg_op_name(last->op));
    }
    if (out_rewrites) *out_rewrites = rewrites;
    return FG_OK;
}
