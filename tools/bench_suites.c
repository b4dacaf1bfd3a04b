/*
 * bench_suites.c — the benchmark suites beyond the seed's table.
 *
 * `--suite linear`: y = gelu(x W^T + b) on transformer shapes (K, N) = (768, 3072) and (4096, 14336),
 * M = 1, 16, 128, 512, 2048, 8192, in bf16, f32 exact and f32 with TF32, GELU tanh and exact, on each
 * GPU with everything resident (the computation alone); W as PyTorch keeps it ([N, K], "w nk"), then
 * the same with W as [K, N] ("w kn"). bench/torch_compare.py puts PyTorch's cuBLASLt epilogue and eager
 * PyTorch beside these numbers.
 *
 * `--suite routing`: the planner's own choice ("auto") against everything forced onto the CPU and
 * everything forced onto the GPU, with inputs from host memory and results back to it, over a sweep from
 * tiny to large (single ops and the transformer MLP x[M,768] -> 3072 GELU -> 768). The ratio auto /
 * min(cpu, gpu) is how much the cost model loses by choosing; the bar is 1.10.
 */
#include "bench.h"

#include <math.h>
#include <stdio.h>
#include <string.h>

int bench_linear_suite(fg_context *context, const tool_bench_options *options, bench_results *results)
{
    static const int64_t shapes[][2] = {{768, 3072}, {4096, 14336}};
    static const int64_t all_m[] = {1, 16, 128, 512, 2048, 8192}, quick_m[] = {1, 16, 2048, 8192};
    static const struct {
        fg_dtype dtype;
        fg_matmul_precision precision;
    } types[] = {{FG_BF16, FG_PRECISION_EXACT}, {FG_F32, FG_PRECISION_EXACT}, {FG_F32, FG_PRECISION_TF32}};
    const int64_t *ms = options->quick ? quick_m : all_m;
    int m_count = options->quick ? 4 : 6;
    if (bench_next_gpu(context, options, 0) < 0) {
        fprintf(stderr, "fusegraph bench --suite linear: no GPU is ready (see fusegraph info)\n");
        return 1;
    }
    printf("%-8s %-4s %6s %6s %6s %-5s %-6s %-5s %10s %10s %12s  %s\n", "device", "w", "M", "K", "N", "dtype", "prec", "gelu",
           "ms", "TFLOP/s", "weight GB/s", "implementation");
    for (int d = bench_next_gpu(context, options, 0); d >= 0; d = bench_next_gpu(context, options, d)) {
        fg_device_info info;
        fg_context_device_info(context, d, &info);
        for (int layout = FG_WEIGHT_N_K; layout >= FG_WEIGHT_K_N; layout--)
        for (int s = 0; s < 2; s++)
            for (int t = 0; t < 3; t++)
                for (int i = 0; i < m_count; i++)
                    for (int form = 1; form >= 0; form--) { /* tanh first: the cuBLASLt epilogue's form */
                        bench_case c = {"fused_matmul_add_gelu", ms[i], shapes[s][0], shapes[s][1], types[t].dtype,
                                        types[t].precision, (fg_gelu_form)form, (fg_weight_layout)layout};
                        if (options->only_size > 0 && options->only_size != c.m) continue;
                        bench_graph g;
                        if (bench_build(&c, &g) != FG_OK) {
                            fprintf(stderr, "fusegraph bench: cannot build M=%lld: %s\n", (long long)c.m, fg_last_error());
                            bench_release(&g);
                            continue;
                        }
                        double ms_taken = bench_time_on(context, &g, &c, d, FG_TIMING_RESIDENT, options->quick);
                        bench_record(results, &c, &g, info.backend, "resident", ms_taken);
                        double weight_bytes = (double)c.k * (double)c.n * (c.dtype == FG_F32 ? 4 : 2);
                        printf("%-8s %-4s %6lld %6lld %6lld %-5s %-6s %-5s %10.4f %10.1f %12.0f  %s\n", info.backend,
                               layout == FG_WEIGHT_N_K ? "nk" : "kn", (long long)c.m,
                               (long long)c.k, (long long)c.n, fg_dtype_name(c.dtype),
                               c.precision == FG_PRECISION_TF32 ? "tf32" : "exact", form ? "tanh" : "exact", ms_taken,
                               g.flops / (ms_taken * 1e-3) / 1e12, weight_bytes / (ms_taken * 1e-3) / 1e9,
                               g.implementation[0] ? g.implementation : "-");
                        fflush(stdout);
                        bench_release(&g);
                    }
    }
    return 0;
}

#define ROUTING_ROUNDS 6 /* even: each CPU-side plan follows the GPU one in half the rounds */

/* The median of count values (the mean of the middle two for an even count); sorts values. */
static double median_of(double *values, int count)
{
    for (int i = 1; i < count; i++)
        for (int j = i; j > 0 && values[j] < values[j - 1]; j--) {
            double swap = values[j];
            values[j] = values[j - 1], values[j - 1] = swap;
        }
    return count % 2 ? values[count / 2] : 0.5 * (values[count / 2 - 1] + values[count / 2]);
}

int bench_routing_suite(fg_context *context, const tool_bench_options *options, bench_results *results)
{
    static const bench_case cases[] = {
        F32_CASE("add", 1, 1, 1000),        F32_CASE("add", 1, 1, 100000),      F32_CASE("add", 1, 1, 1000000),     F32_CASE("add", 1, 1, 10000000),
        F32_CASE("gelu", 1, 1, 1000),       F32_CASE("gelu", 1, 1, 100000),     F32_CASE("gelu", 1, 1, 1000000),    F32_CASE("gelu", 1, 1, 10000000),
        F32_CASE("matmul", 32, 32, 32),     F32_CASE("matmul", 128, 128, 128),  F32_CASE("matmul", 256, 256, 256),  F32_CASE("matmul", 512, 512, 512),
        F32_CASE("matmul", 1024, 1024, 1024), F32_CASE("matmul", 2048, 2048, 2048),
        F32_CASE("fused_matmul_add_gelu", 64, 64, 64), F32_CASE("fused_matmul_add_gelu", 512, 512, 512),
        F32_CASE("fused_matmul_add_gelu", 1024, 1024, 1024),
        F32_CASE("mlp", 1, 768, 3072),      F32_CASE("mlp", 4, 768, 3072),      F32_CASE("mlp", 16, 768, 3072),     F32_CASE("mlp", 64, 768, 3072),
        F32_CASE("mlp", 256, 768, 3072),    F32_CASE("mlp", 1024, 768, 3072),   F32_CASE("mlp", 4096, 768, 3072),
    };
    int gpu = bench_next_gpu(context, options, 0);
    if (gpu < 0) {
        fprintf(stderr, "fusegraph bench --suite routing: no GPU is ready (see fusegraph info)\n");
        return 1;
    }
    fg_device_info info;
    fg_context_device_info(context, gpu, &info);
    printf("inputs from host memory, results back to it; weights resident where they are used\n");
    printf("%-22s %-16s %12s %12s %12s %10s\n", "op", "shape", "cpu ms", info.backend, "auto ms", "auto/best");
    double worst = 0, worst_own = 0;
    for (size_t i = 0; i < sizeof cases / sizeof *cases; i++) {
        const bench_case *c = &cases[i];
        if (options->only_op && strcmp(options->only_op, c->op) != 0) continue;
        bench_graph g;
        if (bench_build(c, &g) != FG_OK) {
            bench_release(&g);
            continue;
        }
        /* The three are measured in turn, ROUTING_ROUNDS times. Measured one after the other only once,
         * whichever ran first found the caches and the CPU's thread pool in a different state (after a
         * GPU run's transfers, say), which moved microsecond-scale cases by 2x in either direction. So
         * each round runs the GPU plan first and then the all-CPU and the automatic plan, in one order in
         * even rounds and the other in odd ones; the table shows each plan's median, and "auto/best" is
         * the median over rounds of that round's automatic time over its better of the other two: a
         * paired comparison, since on the 16-core H100 host the CPU's timings drifted by up to 1.4x
         * between rounds, seconds apart (the same CPU plan timed 18 and 25 us), more than the 1.10x bar,
         * while the three runs of one round are a fraction of a second apart. */
        /* When the automatic plan puts every node where a forced plan does, it is that plan: the ratio uses
         * that plan's time of the round, since the two timings of one plan differ only by the spread between
         * runs (seen on the H100: the MLP at M=4096, all on CUDA in both, timed 1.73 and 1.86 ms). Such
         * rows are marked, with the ratio the automatic plan's own timings give; the table's "auto ms" is
         * still its own median. */
        fg_plan_options automatic = {.constants_resident = 1, .matmul_precision = c->precision};
        double cpu_rounds[ROUTING_ROUNDS], gpu_rounds[ROUTING_ROUNDS], auto_rounds[ROUTING_ROUNDS];
        double ratio_rounds[ROUTING_ROUNDS], own_ratio_rounds[ROUTING_ROUNDS];
        int same_as_gpu = 0, same_as_cpu = 0;
        for (int round = 0; round < ROUTING_ROUNDS; round++) {
            bench_placement gpu_plan, cpu_plan = {{0}, 0}, auto_plan;
            gpu_rounds[round] = bench_time_on(context, &g, c, gpu, FG_TIMING_HOST, options->quick);
            gpu_plan = g.placement;
            if (round % 2 == 0) cpu_rounds[round] = bench_time_on(context, &g, c, 0, FG_TIMING_HOST, options->quick);
            if (round % 2 == 0) cpu_plan = g.placement;
            auto_rounds[round] = bench_time(context, &g, &automatic, FG_TIMING_HOST, options->quick);
            auto_plan = g.placement;
            if (round % 2 == 1) cpu_rounds[round] = bench_time_on(context, &g, c, 0, FG_TIMING_HOST, options->quick);
            if (round % 2 == 1) cpu_plan = g.placement;
            /* A failed timing is negative: it is no one's best, and a failed automatic plan is a miss. */
            double cpu_ms = cpu_rounds[round], gpu_ms = gpu_rounds[round], auto_ms = auto_rounds[round];
            double round_best = gpu_ms < 0 || (cpu_ms >= 0 && cpu_ms < gpu_ms) ? cpu_ms : gpu_ms;
            own_ratio_rounds[round] = auto_ms > 0 && round_best > 0 ? auto_ms / round_best : 1e9;
            if (auto_ms > 0 && gpu_ms > 0 && bench_same_placement(&auto_plan, &gpu_plan)) auto_ms = gpu_ms, same_as_gpu++;
            else if (auto_ms > 0 && cpu_ms > 0 && bench_same_placement(&auto_plan, &cpu_plan)) auto_ms = cpu_ms, same_as_cpu++;
            ratio_rounds[round] = auto_ms > 0 && round_best > 0 ? auto_ms / round_best : 1e9;
        }
        double cpu = median_of(cpu_rounds, ROUTING_ROUNDS), on_gpu = median_of(gpu_rounds, ROUTING_ROUNDS);
        double chosen = median_of(auto_rounds, ROUTING_ROUNDS);
        bench_record(results, c, &g, "cpu", "host", cpu);
        bench_record(results, c, &g, info.backend, "host", on_gpu);
        bench_record(results, c, &g, "auto", "host", chosen);
        double ratio = median_of(ratio_rounds, ROUTING_ROUNDS);
        if (ratio > worst) worst = ratio;
        char shape[48];
        if (strcmp(c->op, "add") == 0 || strcmp(c->op, "gelu") == 0) snprintf(shape, sizeof shape, "%lld", (long long)c->n);
        else snprintf(shape, sizeof shape, "%lldx%lldx%lld", (long long)c->m, (long long)c->k, (long long)c->n);
        char same[160] = "";
        double own_ratio = median_of(own_ratio_rounds, ROUTING_ROUNDS);
        if (own_ratio > worst_own) worst_own = own_ratio;
        if (same_as_gpu == ROUTING_ROUNDS || same_as_cpu == ROUTING_ROUNDS)
            snprintf(same, sizeof same, "  = all-%s plan (its own timings: %.2fx)", same_as_gpu ? info.backend : "cpu",
                     own_ratio);
        else if (same_as_gpu + same_as_cpu)
            snprintf(same, sizeof same, "  = all-cpu in %d, all-%s in %d of %d rounds (its own timings: %.2fx)", same_as_cpu,
                     info.backend, same_as_gpu, ROUTING_ROUNDS, own_ratio);
        printf("%-22s %-16s %12.4f %12.4f %12.4f %9.2fx%s%s\n", c->op, shape, cpu, on_gpu, chosen, ratio, same,
               ratio > 1.10 ? "  (over 1.10)" : "");
        /* A miss shows what the planner chose and why, with the estimates it compared. */
        fg_plan *plan = NULL;
        if (ratio > 1.10 && fg_plan_create(context, g.graph, &automatic, &plan) == FG_OK) {
            printf("  the automatic plan:\n%s", fg_plan_explain(plan));
            fg_plan_destroy(plan);
        }
        fflush(stdout);
        bench_release(&g);
    }
    printf("worst auto/best: %.2fx (bar: 1.10x); by the automatic plans' own timings: %.2fx\n", worst, worst_own);
    return 0;
}
