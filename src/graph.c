/*
 * graph.c — building a graph: inputs, constants and nodes, each checked when it is added so that an
 * invalid graph is refused with the op and the shapes named, long before anything runs.
 */
#include "graph.h"
#include "internal.h"

#include <stdlib.h>
#include <string.h>

const char *fg_op_name(fg_op op)
{
    switch (op) {
    case FG_OP_MATMUL: return "matmul";
    case FG_OP_ADD: return "add";
    case FG_OP_GELU: return "gelu";
    case FG_OP_FUSED_MATMUL_ADD: return "fused_matmul_add";
    case FG_OP_FUSED_MATMUL_ADD_GELU: return "fused_matmul_add_gelu";
    case FG_OP_COUNT: break;
    }
    return "unknown-op";
}

fg_status fg_graph_create(fg_graph **out_graph)
{
    if (!out_graph) return fg_fail(FG_ERR_INVALID_ARGUMENT, "[graph_create] out_graph is NULL");
    *out_graph = calloc(1, sizeof(fg_graph));
    if (!*out_graph) return fg_fail(FG_ERR_OUT_OF_MEMORY, "[graph_create] out of host memory");
    return FG_OK;
}

void fg_graph_destroy(fg_graph *graph)
{
    if (!graph) return;
    for (int i = 0; i < graph->value_count; i++) fg_aligned_free(graph->values[i].constant_data);
    free(graph->values);
    free(graph->nodes);
    free(graph);
}

static int grow(void **array, int *capacity, int needed, size_t element_size)
{
    if (needed <= *capacity) return 1;
    int new_capacity = *capacity ? *capacity * 2 : 16;
    while (new_capacity < needed) new_capacity *= 2;
    void *grown = realloc(*array, (size_t)new_capacity * element_size);
    if (!grown) return 0;
    *array = grown;
    *capacity = new_capacity;
    return 1;
}

static fg_status check_shape(const char *op, int rank, const int64_t *dims)
{
    if (rank < 1 || rank > FG_MAX_DIMS)
        return fg_fail(FG_ERR_SHAPE, "[%s] rank must be 1..%d, got %d", op, FG_MAX_DIMS, rank);
    if (!dims) return fg_fail(FG_ERR_INVALID_ARGUMENT, "[%s] dims is NULL", op);
    for (int i = 0; i < rank; i++)
        if (dims[i] < 1)
            return fg_fail(FG_ERR_SHAPE, "[%s] dim %d is %lld; every dim must be at least 1", op, i,
                           (long long)dims[i]);
    return FG_OK;
}

static fg_status add_value(fg_graph *graph, const char *op, fg_value_kind kind, const char *name,
                           fg_dtype dtype, fg_shape shape, fg_value *out_value)
{
    if (dtype != FG_F32 && dtype != FG_F16 && dtype != FG_BF16)
        return fg_fail(FG_ERR_DTYPE, "[%s] unknown dtype %d", op, (int)dtype);
    if (!grow((void **)&graph->values, &graph->value_capacity, graph->value_count + 1, sizeof(fg_value_record)))
        return fg_fail(FG_ERR_OUT_OF_MEMORY, "[%s] out of host memory", op);
    fg_value_record *record = &graph->values[graph->value_count];
    memset(record, 0, sizeof *record);
    record->kind = kind;
    record->dtype = dtype;
    record->shape = shape;
    record->producer = -1;
    if (name) {
        strncpy(record->name, name, sizeof record->name - 1);
    }
    *out_value = graph->value_count++;
    return FG_OK;
}

fg_status fg_graph_input(fg_graph *graph, const char *name, fg_dtype dtype, int rank, const int64_t *dims,
                         fg_value *out_value)
{
    if (!graph || !out_value) return fg_fail(FG_ERR_INVALID_ARGUMENT, "[input] graph or out_value is NULL");
    fg_status status = check_shape("input", rank, dims);
    if (status != FG_OK) return status;
    return add_value(graph, "input", FG_VALUE_INPUT, name, dtype, fg_shape_make(rank, dims), out_value);
}

fg_status fg_graph_constant(fg_graph *graph, const char *name, fg_dtype dtype, int rank, const int64_t *dims,
                            const void *data, fg_value *out_value)
{
    if (!graph || !out_value || !data)
        return fg_fail(FG_ERR_INVALID_ARGUMENT, "[constant] graph, data or out_value is NULL");
    fg_status status = check_shape("constant", rank, dims);
    if (status != FG_OK) return status;
    fg_shape shape = fg_shape_make(rank, dims);
    size_t bytes = (size_t)fg_shape_elements(&shape) * fg_dtype_size(dtype);
    void *copy = fg_aligned_alloc(bytes);
    if (!copy) return fg_fail(FG_ERR_OUT_OF_MEMORY, "[constant] cannot copy %zu bytes", bytes);
    status = add_value(graph, "constant", FG_VALUE_CONSTANT, name, dtype, shape, out_value);
    if (status != FG_OK) {
        fg_aligned_free(copy);
        return status;
    }
    memcpy(copy, data, bytes);
    graph->values[*out_value].constant_data = copy;
    return FG_OK;
}

static fg_status check_value(const fg_graph *graph, const char *op, const char *role, fg_value value)
{
    if (value < 0 || value >= graph->value_count)
        return fg_fail(FG_ERR_INVALID_ARGUMENT, "[%s] %s is value %d, which is not in this graph (%d values)",
                       op, role, (int)value, graph->value_count);
    return FG_OK;
}

/* Appends a node; its index, or -1 on allocation failure. */
static int append_node(fg_graph *graph, fg_op op, fg_gelu_form form, fg_weight_layout layout, int input_count,
                       const fg_value *inputs, fg_value output)
{
    if (!grow((void **)&graph->nodes, &graph->node_capacity, graph->node_count + 1, sizeof(fg_node_record)))
        return -1;
    fg_node_record *node = &graph->nodes[graph->node_count];
    memset(node, 0, sizeof *node);
    node->op = op;
    node->gelu_form = form;
    node->weight_layout = layout;
    node->input_count = input_count;
    for (int i = 0; i < input_count; i++) node->inputs[i] = inputs[i];
    node->output = output;
    return graph->node_count++;
}

/* Adds the output value and the node that produces it (layout: of the weight, for matmul-like ops). */
static fg_status add_node(fg_graph *graph, fg_op op, fg_gelu_form form, fg_weight_layout layout, int input_count,
                          const fg_value *inputs, fg_shape output_shape, fg_value *out_value)
{
    fg_value output = -1;
    fg_status status = add_value(graph, fg_op_name(op), FG_VALUE_NODE, NULL,
                                 graph->values[inputs[0]].dtype, output_shape, &output);
    if (status != FG_OK) return status;
    int node = append_node(graph, op, form, layout, input_count, inputs, output);
    if (node < 0) {
        graph->value_count--;
        return fg_fail(FG_ERR_OUT_OF_MEMORY, "[%s] out of host memory", fg_op_name(op));
    }
    graph->values[output].producer = node;
    *out_value = output;
    return FG_OK;
}

static fg_status check_same_dtype(const fg_graph *graph, const char *op, int count, const fg_value *values)
{
    for (int i = 1; i < count; i++)
        if (graph->values[values[i]].dtype != graph->values[values[0]].dtype)
            return fg_fail(FG_ERR_DTYPE, "[%s] dtypes differ: input 0 is %s, input %d is %s", op,
                           fg_dtype_name(graph->values[values[0]].dtype), i,
                           fg_dtype_name(graph->values[values[i]].dtype));
    return FG_OK;
}

/* Shape rule shared by matmul and the fused ops: a [..., M, K] x w [K, N] (or w [N, K] for
 * FG_WEIGHT_N_K) (+ bias [N]). */
static fg_status matmul_shape(const fg_graph *graph, const char *op, fg_value a, fg_value w, fg_weight_layout layout,
                              fg_value bias, fg_shape *out_shape)
{
    const fg_shape *sa = &graph->values[a].shape, *sw = &graph->values[w].shape;
    char ta[96], tw[96], tb[96];
    if (layout != FG_WEIGHT_K_N && layout != FG_WEIGHT_N_K)
        return fg_fail(FG_ERR_INVALID_ARGUMENT, "[%s] unknown weight layout %d", op, (int)layout);
    const char *form = layout == FG_WEIGHT_N_K ? "[N, K]" : "[K, N]";
    if (sa->rank < 2)
        return fg_fail(FG_ERR_SHAPE, "[%s] a must have rank >= 2 ([..., M, K]), got %s", op,
                       fg_shape_format(sa, ta, sizeof ta));
    if (sw->rank != 2)
        return fg_fail(FG_ERR_SHAPE, "[%s] b must have rank 2 (%s), got %s", op, form,
                       fg_shape_format(sw, tw, sizeof tw));
    int64_t k = layout == FG_WEIGHT_N_K ? sw->dims[1] : sw->dims[0];
    int64_t n = layout == FG_WEIGHT_N_K ? sw->dims[0] : sw->dims[1];
    if (sa->dims[sa->rank - 1] != k)
        return fg_fail(FG_ERR_SHAPE, "[%s] inner dims differ: a is %s, b is %s taken as %s", op,
                       fg_shape_format(sa, ta, sizeof ta), fg_shape_format(sw, tw, sizeof tw), form);
    if (bias >= 0) {
        const fg_shape *sb = &graph->values[bias].shape;
        if (sb->rank != 1 || sb->dims[0] != n)
            return fg_fail(FG_ERR_SHAPE, "[%s] bias must be [N] = [%lld] for b %s, got %s (b taken as %s)", op,
                           (long long)n, fg_shape_format(sw, tw, sizeof tw), fg_shape_format(sb, tb, sizeof tb), form);
    }
    *out_shape = *sa;
    out_shape->dims[sa->rank - 1] = n;
    return FG_OK;
}

fg_status fg_graph_matmul_with_layout(fg_graph *graph, fg_value a, fg_value b, fg_weight_layout layout,
                                      fg_value *out_value)
{
    if (!graph || !out_value) return fg_fail(FG_ERR_INVALID_ARGUMENT, "[matmul] graph or out_value is NULL");
    fg_value inputs[2] = {a, b};
    fg_status status;
    if ((status = check_value(graph, "matmul", "a", a)) != FG_OK) return status;
    if ((status = check_value(graph, "matmul", "b", b)) != FG_OK) return status;
    if ((status = check_same_dtype(graph, "matmul", 2, inputs)) != FG_OK) return status;
    fg_shape shape;
    if ((status = matmul_shape(graph, "matmul", a, b, layout, -1, &shape)) != FG_OK) return status;
    return add_node(graph, FG_OP_MATMUL, FG_GELU_EXACT, layout, 2, inputs, shape, out_value);
}

fg_status fg_graph_matmul(fg_graph *graph, fg_value a, fg_value b, fg_value *out_value)
{
    return fg_graph_matmul_with_layout(graph, a, b, FG_WEIGHT_K_N, out_value);
}

fg_status fg_graph_add(fg_graph *graph, fg_value a, fg_value b, fg_value *out_value)
{
    if (!graph || !out_value) return fg_fail(FG_ERR_INVALID_ARGUMENT, "[add] graph or out_value is NULL");
    fg_status status;
    if ((status = check_value(graph, "add", "a", a)) != FG_OK) return status;
    if ((status = check_value(graph, "add", "b", b)) != FG_OK) return status;
    const fg_shape *sa = &graph->values[a].shape, *sb = &graph->values[b].shape;
    /* Addition commutes: keep the bias, if any, second so that kernels see one form. */
    if (sa->rank == 1 && sb->rank > 1) {
        fg_value swap = a;
        a = b;
        b = swap;
        sa = &graph->values[a].shape;
        sb = &graph->values[b].shape;
    }
    fg_value inputs[2] = {a, b};
    if ((status = check_same_dtype(graph, "add", 2, inputs)) != FG_OK) return status;
    int same = sa->rank == sb->rank && memcmp(sa->dims, sb->dims, sizeof(int64_t) * (size_t)sa->rank) == 0;
    int bias = sb->rank == 1 && sb->dims[0] == sa->dims[sa->rank - 1];
    if (!same && !bias) {
        char ta[96], tb[96];
        return fg_fail(FG_ERR_SHAPE,
                       "[add] shapes do not fit: a is %s, b is %s (need the same shape, or b = [N] with N the "
                       "last dim of a)",
                       fg_shape_format(sa, ta, sizeof ta), fg_shape_format(sb, tb, sizeof tb));
    }
    return add_node(graph, FG_OP_ADD, FG_GELU_EXACT, FG_WEIGHT_K_N, 2, inputs, *sa, out_value);
}

static fg_status check_gelu_form(const char *op, fg_gelu_form form)
{
    if (form != FG_GELU_EXACT && form != FG_GELU_TANH)
        return fg_fail(FG_ERR_INVALID_ARGUMENT, "[%s] unknown gelu form %d", op, (int)form);
    return FG_OK;
}

fg_status fg_graph_gelu(fg_graph *graph, fg_value x, fg_gelu_form form, fg_value *out_value)
{
    if (!graph || !out_value) return fg_fail(FG_ERR_INVALID_ARGUMENT, "[gelu] graph or out_value is NULL");
    fg_status status;
    if ((status = check_value(graph, "gelu", "x", x)) != FG_OK) return status;
    if ((status = check_gelu_form("gelu", form)) != FG_OK) return status;
    return add_node(graph, FG_OP_GELU, form, FG_WEIGHT_K_N, 1, &x, graph->values[x].shape, out_value);
}

fg_status fg_graph_fused_matmul_add_gelu_with_layout(fg_graph *graph, fg_value a, fg_value w, fg_weight_layout layout,
                                                     fg_value bias, fg_gelu_form form, fg_value *out_value)
{
    const char *op = "fused_matmul_add_gelu";
    if (!graph || !out_value) return fg_fail(FG_ERR_INVALID_ARGUMENT, "[%s] graph or out_value is NULL", op);
    fg_value inputs[3] = {a, w, bias};
    fg_status status;
    if ((status = check_value(graph, op, "a", a)) != FG_OK) return status;
    if ((status = check_value(graph, op, "w", w)) != FG_OK) return status;
    if ((status = check_value(graph, op, "bias", bias)) != FG_OK) return status;
    if ((status = check_gelu_form(op, form)) != FG_OK) return status;
    if ((status = check_same_dtype(graph, op, 3, inputs)) != FG_OK) return status;
    fg_shape shape;
    if ((status = matmul_shape(graph, op, a, w, layout, bias, &shape)) != FG_OK) return status;
    return add_node(graph, FG_OP_FUSED_MATMUL_ADD_GELU, form, layout, 3, inputs, shape, out_value);
}

fg_status fg_graph_fused_matmul_add_gelu(fg_graph *graph, fg_value a, fg_value w, fg_value bias,
                                         fg_gelu_form form, fg_value *out_value)
{
    return fg_graph_fused_matmul_add_gelu_with_layout(graph, a, w, FG_WEIGHT_K_N, bias, form, out_value);
}

fg_status fg_graph_mark_output(fg_graph *graph, fg_value value)
{
    if (!graph) return fg_fail(FG_ERR_INVALID_ARGUMENT, "[mark_output] graph is NULL");
    fg_status status = check_value(graph, "mark_output", "value", value);
    if (status != FG_OK) return status;
    graph->values[value].is_output = 1;
    return FG_OK;
}

int fg_graph_node_count(const fg_graph *graph)
{
    int count = 0;
    for (int i = 0; graph && i < graph->node_count; i++) count += !graph->nodes[i].removed;
    return count;
}

/* The node_index-th live node, or NULL (with the error recorded for op). */
static const fg_node_record *live_node(const fg_graph *graph, int node_index, const char *op)
{
    int live = 0;
    for (int i = 0; i < graph->node_count; i++) {
        if (graph->nodes[i].removed) continue;
        if (live++ == node_index) return &graph->nodes[i];
    }
    fg_fail(FG_ERR_INVALID_ARGUMENT, "[%s] node %d does not exist (%d nodes)", op, node_index, live);
    return NULL;
}

fg_status fg_graph_node_op(const fg_graph *graph, int node_index, fg_op *out_op)
{
    if (!graph || !out_op) return fg_fail(FG_ERR_INVALID_ARGUMENT, "[node_op] graph or out_op is NULL");
    const fg_node_record *node = live_node(graph, node_index, "node_op");
    if (!node) return FG_ERR_INVALID_ARGUMENT;
    *out_op = node->op;
    return FG_OK;
}

fg_status fg_graph_node_weight_layout(const fg_graph *graph, int node_index, fg_weight_layout *out_layout)
{
    if (!graph || !out_layout)
        return fg_fail(FG_ERR_INVALID_ARGUMENT, "[node_weight_layout] graph or out_layout is NULL");
    const fg_node_record *node = live_node(graph, node_index, "node_weight_layout");
    if (!node) return FG_ERR_INVALID_ARGUMENT;
    *out_layout = node->weight_layout;
    return FG_OK;
}

fg_status fg_graph_value_info(const fg_graph *graph, fg_value value, fg_shape *out_shape, fg_dtype *out_dtype)
{
    if (!graph) return fg_fail(FG_ERR_INVALID_ARGUMENT, "[value_info] graph is NULL");
    fg_status status = check_value(graph, "value_info", "value", value);
    if (status != FG_OK) return status;
    if (out_shape) *out_shape = graph->values[value].shape;
    if (out_dtype) *out_dtype = graph->values[value].dtype;
    return FG_OK;
}

int fg_graph_consumer_count(const fg_graph *graph, fg_value value)
{
    int count = 0;
    for (int i = 0; i < graph->node_count; i++) {
        const fg_node_record *node = &graph->nodes[i];
        if (node->removed) continue;
        for (int j = 0; j < node->input_count; j++) count += node->inputs[j] == value;
    }
    return count;
}

void fg_graph_describe_node(const fg_graph *graph, const fg_node_record *node, fg_node_desc *desc)
{
    memset(desc, 0, sizeof *desc);
    desc->op = node->op;
    desc->gelu_form = node->gelu_form;
    desc->weight_layout = node->weight_layout;
    desc->input_count = node->input_count;
    desc->dtype = graph->values[node->inputs[0]].dtype;
    for (int i = 0; i < node->input_count; i++) desc->inputs[i] = graph->values[node->inputs[i]].shape;
    desc->output = graph->values[node->output].shape;
    desc->elements = fg_shape_elements(&desc->output);
    if (fg_op_is_matmul_like(node->op)) {
        const fg_shape *a = &desc->inputs[0];
        desc->k = a->dims[a->rank - 1];
        desc->n = desc->output.dims[desc->output.rank - 1]; /* whatever the weight's layout */
        desc->m = fg_shape_elements(a) / desc->k;
    }
    if (node->op == FG_OP_ADD && desc->inputs[1].rank == 1 && desc->inputs[0].rank > 1)
        desc->bias_length = desc->inputs[1].dims[0];
    if (node->op == FG_OP_ADD && desc->inputs[0].rank == 1) desc->bias_length = 0; /* same-shape rank-1 add */
}
