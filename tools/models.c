/*
 * models.c — graphs the tool builds: the transformer MLP block of `fusegraph explain`.
 */
#include "tool.h"

#include <stdlib.h>

void tool_fill_random(float *data, int64_t n, uint64_t seed)
{
    uint64_t state = seed * 6364136223846793005ull + 1442695040888963407ull;
    for (int64_t i = 0; i < n; i++) {
        state = state * 6364136223846793005ull + 1442695040888963407ull;
        data[i] = (float)((double)(state >> 40) / 8388608.0 - 1.0);
    }
}

/* x[tokens, hidden] -> matmul W1[hidden, inner] + b1 -> GELU -> matmul W2[inner, hidden] + b2 -> y */
fg_status tool_build_mlp(fg_graph **out_graph, int64_t tokens, int64_t hidden, int64_t inner, fg_value *out_x,
                         fg_value *out_y)
{
    float *w1 = malloc(sizeof(float) * (size_t)(hidden * inner)), *w2 = malloc(sizeof(float) * (size_t)(inner * hidden));
    float *b1 = malloc(sizeof(float) * (size_t)inner), *b2 = malloc(sizeof(float) * (size_t)hidden);
    fg_graph *graph = NULL;
    fg_status status = (w1 && w2 && b1 && b2) ? fg_graph_create(&graph) : FG_ERR_OUT_OF_MEMORY;
    if (status == FG_OK) {
        tool_fill_random(w1, hidden * inner, 1);
        tool_fill_random(w2, inner * hidden, 2);
        tool_fill_random(b1, inner, 3);
        tool_fill_random(b2, hidden, 4);
        int64_t x_dims[2] = {tokens, hidden}, w1_dims[2] = {hidden, inner}, w2_dims[2] = {inner, hidden};
        fg_value x, w1v, b1v, w2v, b2v, h, y;
        if ((status = fg_graph_input(graph, "x", FG_F32, 2, x_dims, &x)) == FG_OK &&
            (status = fg_graph_constant(graph, "w1", FG_F32, 2, w1_dims, w1, &w1v)) == FG_OK &&
            (status = fg_graph_constant(graph, "b1", FG_F32, 1, &inner, b1, &b1v)) == FG_OK &&
            (status = fg_graph_constant(graph, "w2", FG_F32, 2, w2_dims, w2, &w2v)) == FG_OK &&
            (status = fg_graph_constant(graph, "b2", FG_F32, 1, &hidden, b2, &b2v)) == FG_OK &&
            (status = fg_graph_matmul(graph, x, w1v, &h)) == FG_OK && (status = fg_graph_add(graph, h, b1v, &h)) == FG_OK &&
            (status = fg_graph_gelu(graph, h, FG_GELU_EXACT, &h)) == FG_OK &&
            (status = fg_graph_matmul(graph, h, w2v, &y)) == FG_OK && (status = fg_graph_add(graph, y, b2v, &y)) == FG_OK &&
            (status = fg_graph_mark_output(graph, y)) == FG_OK) {
            *out_x = x;
            *out_y = y;
        }
    }
    free(w1), free(w2), free(b1), free(b2);
    if (status != FG_OK) {
        fg_graph_destroy(graph);
        graph = NULL;
    }
    *out_graph = graph;
    return status;
}
