#include <fusegraph.h>
#include <stdio.h>

/* y = gelu(x W + b) for x [2, 3], W [3, 4], b [4]: build, fuse, plan, run. */
int main(void)
{
    float w[12] = {0.1f, 0.2f, 0.3f, 0.4f, 0.5f, 0.6f, 0.7f, 0.8f, 0.9f, 1.0f, 1.1f, 1.2f};
    float b[4] = {0.01f, 0.02f, 0.03f, 0.04f}, x[6] = {1, 2, 3, 4, 5, 6}, y[8];
    int64_t x_dims[2] = {2, 3}, w_dims[2] = {3, 4}, b_dims[1] = {4};
    fg_graph *graph;
    fg_context *context;
    fg_plan *plan;
    fg_value xv, wv, bv, product, sum, out;
    if (fg_graph_create(&graph) != FG_OK) return 1;
    fg_graph_input(graph, "x", FG_F32, 2, x_dims, &xv);
    fg_graph_constant(graph, "w", FG_F32, 2, w_dims, w, &wv);
    fg_graph_constant(graph, "b", FG_F32, 1, b_dims, b, &bv);
    fg_graph_matmul(graph, xv, wv, &product);
    fg_graph_add(graph, product, bv, &sum);
    if (fg_graph_gelu(graph, sum, FG_GELU_EXACT, &out) != FG_OK) {
        fprintf(stderr, "%s\n", fg_last_error()); /* e.g. "[matmul] inner dims differ: ..." */
        return 1;
    }
    fg_graph_mark_output(graph, out);
    fg_graph_fuse(graph, NULL); /* matmul + add + gelu -> one fused node */
    if (fg_context_create(NULL, &context) != FG_OK) return 1;
    if (fg_plan_create(context, graph, NULL, &plan) != FG_OK) return 1;
    printf("%s", fg_plan_explain(plan)); /* which device runs each node, and why */
    fg_binding input = {xv, x}, output = {out, y};
    if (fg_plan_run(plan, &input, 1, &output, 1, NULL) != FG_OK) return 1;
    printf("y[0][0] = %.4f\n", y[0]); /* gelu(1*0.1 + 2*0.5 + 3*0.9 + 0.01) = gelu(3.81) = 3.8097 */
    fg_plan_destroy(plan);
    fg_context_destroy(context);
    fg_graph_destroy(graph);
    return 0;
}
