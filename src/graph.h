/*
 * graph.h — the graph's representation, shared by graph.c (building, checking), fusion.c (rewriting) and
 * planner.c (device choice).
 *
 * Values are tensors: graph inputs, constants, or the output of exactly one node. Nodes are appended in
 * creation order and can only consume values that already exist, so the node array is always in
 * topological order; fusion keeps that true by replacing the last node of a chain in place.
 */
#ifndef FUSEGRAPH_GRAPH_H
#define FUSEGRAPH_GRAPH_H

#include "backend.h"

typedef enum fg_value_kind { FG_VALUE_INPUT, FG_VALUE_CONSTANT, FG_VALUE_NODE } fg_value_kind;

typedef struct fg_value_record {
    fg_value_kind kind;
    fg_dtype dtype;
    fg_shape shape;
    char name[64];
    void *constant_data; /* owned by the graph, for constants */
    int producer;        /* node index for FG_VALUE_NODE, -1 otherwise */
    int is_output;
} fg_value_record;

typedef struct fg_node_record {
    fg_op op;
    fg_gelu_form gelu_form;
    fg_weight_layout weight_layout; /* matmul-like nodes */
    int input_count;
    fg_value inputs[3];
    fg_value output;
    int removed; /* set by fusion: the node was folded into a later one */
} fg_node_record;

struct fg_graph {
    fg_value_record *values;
    int value_count, value_capacity;
    fg_node_record *nodes;
    int node_count, node_capacity;
};

/* Fills the backend's view of a node from the graph. */
void fg_graph_describe_node(const fg_graph *graph, const fg_node_record *node, fg_node_desc *out_desc);

/* Number of live nodes that consume value (a node using it twice counts twice). */
int fg_graph_consumer_count(const fg_graph *graph, fg_value value);

#endif /* FUSEGRAPH_GRAPH_H */
