/*
 * fusegraph_main.c — the `fusegraph` command-line tool:
 *   fusegraph info                         each backend: found and ready, or why not; cost figures
 *   fusegraph bench [--suite seed|linear|routing] [--quick] [--json F] [--device N] [--op NAME] [--size N] [--dtype T]
 *                   [--weight kn|nk]
 *                                          the seed's benchmark table, or another suite (see bench.c)
 *   fusegraph explain [--tokens M] [--resident] [--device N]
 *                                          the plan for a transformer MLP x[M,768] -> 3072 GELU -> 768
 * Options common to all: --backends LIST (extra backend modules, e.g. testgpu), --cpu-only, --verbose.
 */
#include "tool.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

static void print_log(fg_log_level level, const char *message, void *user)
{
    (void)user;
    static const char *const names[] = {"error", "warn", "info", "debug"};
    fprintf(stderr, "fusegraph %s: %s\n", names[level], message);
}

static int usage(void)
{
    fprintf(stderr,
            "usage: fusegraph info\n"
            "       fusegraph bench [--suite seed|linear|routing] [--quick] [--json FILE] [--device N] [--op NAME] [--size N]\n"
            "                       [--dtype f32|f16|bf16]   (the seed table in another dtype; default f32)\n"
            "                       [--weight kn|nk]         (the seed table's weights as [K, N] (default) or [N, K])\n"
            "       fusegraph explain [--tokens M] [--resident] [--device N]\n"
            "options: --backends LIST  extra backend modules (e.g. testgpu)\n"
            "         --cpu-only       load no GPU backends\n"
            "         --verbose        log what the library does (to stderr)\n");
    return 2;
}

static int command_info(fg_context *context)
{
    for (int d = 0; d < fg_context_device_count(context); d++) {
        fg_device_info info;
        if (fg_context_device_info(context, d, &info) != FG_OK) continue;
        printf("%d %-8s %s", d, info.backend, info.ready ? "ready" : "not ready");
        if (info.ready) printf(": %s", info.name);
        printf("\n    %s\n", info.reason);
        if (!info.ready) continue;
        const fg_cost_figures *c = &info.cost;
        printf("    matmul f32 %.1f GFLOP/s", c->matmul_flops_per_second[FG_F32] / 1e9);
        if (c->matmul_flops_per_second[FG_F16] > 0) printf(", f16 %.1f", c->matmul_flops_per_second[FG_F16] / 1e9);
        if (c->matmul_flops_per_second[FG_BF16] > 0) printf(", bf16 %.1f", c->matmul_flops_per_second[FG_BF16] / 1e9);
        printf("; memory %.1f GB/s; launch %.1f us", c->memory_bytes_per_second / 1e9, c->launch_seconds * 1e6);
        if (c->host_to_device_bytes_per_second > 0)
            printf("; host->device %.1f GB/s, device->host %.1f GB/s, latency %.1f us",
                   c->host_to_device_bytes_per_second / 1e9, c->device_to_host_bytes_per_second / 1e9,
                   c->transfer_latency_seconds * 1e6);
        printf("\n");
    }
    return 0;
}

static int command_explain(fg_context *context, int64_t tokens, int resident, int device)
{
    const int64_t hidden = 768, inner = 3072;
    fg_graph *graph = NULL;
    fg_value x, y;
    if (tool_build_mlp(&graph, tokens, hidden, inner, &x, &y) != FG_OK) {
        fprintf(stderr, "fusegraph explain: %s\n", fg_last_error());
        return 1;
    }
    int rewrites = 0;
    fg_graph_fuse(graph, &rewrites);
    fg_plan_options options = {.constants_resident = resident, .use_forced_device = device >= 0, .forced_device = device};
    fg_plan *plan = NULL;
    if (fg_plan_create(context, graph, &options, &plan) != FG_OK) {
        fprintf(stderr, "fusegraph explain: %s\n", fg_last_error());
        fg_graph_destroy(graph);
        return 1;
    }
    printf("transformer MLP: x[%lld, %lld] -> linear %lld + GELU -> linear %lld (%d fusion%s)\n", (long long)tokens,
           (long long)hidden, (long long)inner, (long long)hidden, rewrites, rewrites == 1 ? "" : "s");
    printf("%s", fg_plan_explain(plan));
    fg_plan_destroy(plan);
    fg_graph_destroy(graph);
    return 0;
}

int main(int argc, char **argv)
{
    if (argc < 2) return usage();
    const char *command = argv[1], *backends = NULL;
    int cpu_only = 0, verbose = 0, resident = 0, device = -1;
    int64_t tokens = 128;
    tool_bench_options bench = {.device = -1, .dtype = FG_F32, .weight_layout = FG_WEIGHT_K_N};
    for (int i = 2; i < argc; i++) {
        if (strcmp(argv[i], "--quick") == 0) bench.quick = 1;
        else if (strcmp(argv[i], "--cpu-only") == 0) cpu_only = 1;
        else if (strcmp(argv[i], "--verbose") == 0) verbose = 1;
        else if (strcmp(argv[i], "--resident") == 0) resident = 1;
        else if (strcmp(argv[i], "--json") == 0 && i + 1 < argc) bench.json_path = argv[++i];
        else if (strcmp(argv[i], "--op") == 0 && i + 1 < argc) bench.only_op = argv[++i];
        else if (strcmp(argv[i], "--suite") == 0 && i + 1 < argc) bench.suite = argv[++i];
        else if (strcmp(argv[i], "--size") == 0 && i + 1 < argc) bench.only_size = atoll(argv[++i]);
        else if (strcmp(argv[i], "--backends") == 0 && i + 1 < argc) backends = argv[++i];
        else if (strcmp(argv[i], "--device") == 0 && i + 1 < argc) device = atoi(argv[++i]);
        else if (strcmp(argv[i], "--tokens") == 0 && i + 1 < argc) tokens = atoll(argv[++i]);
        else if (strcmp(argv[i], "--dtype") == 0 && i + 1 < argc) {
            const char *name = argv[++i];
            if (strcmp(name, "f32") == 0) bench.dtype = FG_F32;
            else if (strcmp(name, "f16") == 0) bench.dtype = FG_F16;
            else if (strcmp(name, "bf16") == 0) bench.dtype = FG_BF16;
            else return usage();
        } else if (strcmp(argv[i], "--weight") == 0 && i + 1 < argc) {
            const char *name = argv[++i];
            if (strcmp(name, "kn") == 0) bench.weight_layout = FG_WEIGHT_K_N;
            else if (strcmp(name, "nk") == 0) bench.weight_layout = FG_WEIGHT_N_K;
            else return usage();
        } else return usage();
    }
    if (verbose) fg_set_log_callback(print_log, NULL, FG_LOG_INFO);
    fg_context_options options = {.extra_backends = backends, .cpu_only = cpu_only};
    fg_context *context = NULL;
    if (fg_context_create(&options, &context) != FG_OK) {
        fprintf(stderr, "fusegraph: %s\n", fg_last_error());
        return 1;
    }
    int result;
    if (strcmp(command, "info") == 0) result = command_info(context);
    else if (strcmp(command, "bench") == 0) {
        bench.device = device;
        result = tool_bench(context, &bench);
    }
    else if (strcmp(command, "explain") == 0) {
        if (tokens < 1) {
            fprintf(stderr, "fusegraph explain: --tokens must be at least 1\n");
            result = 2;
        } else result = command_explain(context, tokens, resident, device);
    } else result = usage();
    fg_context_destroy(context);
    return result;
}
