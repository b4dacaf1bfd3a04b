/*
 * cpu_gemm_libraries.c — OpenBLAS against oneDNN for the CPU backend's GEMM, side by side in one run.
 *
 * For each size N (N x N x N, f32) it times, as medians of repeated runs after warm-up:
 *   openblas_sgemm       cblas_sgemm alone
 *   openblas_fused       fusegraph's linear_forward on OpenBLAS (row-panel GEMM + bias+GELU epilogue)
 *   onednn_matmul        oneDNN matmul alone
 *   onednn_fused         oneDNN matmul with a bias and an eltwise_gelu_erf post-op (fused in its kernel)
 * and prints GFLOP/s and the fused/plain ratios. The README's choice of GEMM library rests on this.
 * Built when CMake finds oneDNN (Debian: libdnnl-dev): build/bench_cpu_gemm_libraries [sizes...]
 */
#include "backends/cpu/cpu_kernels.h"

#include <cblas.h>
#include <oneapi/dnnl/dnnl.h>
#include <stdio.h>
#include <stdlib.h>
#include <time.h>

static double now(void)
{
    struct timespec t;
    clock_gettime(CLOCK_MONOTONIC, &t);
    return (double)t.tv_sec + 1e-9 * (double)t.tv_nsec;
}

static int compare(const void *a, const void *b)
{
    double x = *(const double *)a, y = *(const double *)b;
    return (x > y) - (x < y);
}

typedef struct job {
    int kind;
    int64_t n;
    float *a, *b, *bias, *c;
    dnnl_primitive_t primitive;
    dnnl_stream_t stream;
    dnnl_exec_arg_t args[4];
    int arg_count;
} job;

static void run_job(job *j)
{
    switch (j->kind) {
    case 0:
        cblas_sgemm(CblasRowMajor, CblasNoTrans, CblasNoTrans, (int)j->n, (int)j->n, (int)j->n, 1.0f, j->a, (int)j->n,
                    j->b, (int)j->n, 0.0f, j->c, (int)j->n);
        break;
    case 1:
        linear_forward_panels(j->c, j->a, j->b, j->bias, j->n, j->n, j->n, FG_WEIGHT_K_N, 1, FG_GELU_EXACT);
        break;
    default:
        dnnl_primitive_execute(j->primitive, j->stream, j->arg_count, j->args);
        dnnl_stream_wait(j->stream);
    }
}

static double median_ms(job *j, int repeats)
{
    double times[32];
    run_job(j);
    run_job(j);
    for (int r = 0; r < repeats; r++) {
        double start = now();
        run_job(j);
        times[r] = now() - start;
    }
    qsort(times, (size_t)repeats, sizeof *times, compare);
    return times[repeats / 2] * 1e3;
}

static int make_onednn(job *j, dnnl_engine_t engine, int fused)
{
    dnnl_memory_desc_t a_md, b_md, bias_md, c_md;
    dnnl_dims_t square = {j->n, j->n}, bias_dims = {1, j->n};
    dnnl_memory_desc_init_by_tag(&a_md, 2, square, dnnl_f32, dnnl_ab);
    dnnl_memory_desc_init_by_tag(&b_md, 2, square, dnnl_f32, dnnl_ab);
    dnnl_memory_desc_init_by_tag(&bias_md, 2, bias_dims, dnnl_f32, dnnl_ab);
    dnnl_memory_desc_init_by_tag(&c_md, 2, square, dnnl_f32, dnnl_ab);
    dnnl_matmul_desc_t desc;
    if (dnnl_matmul_desc_init(&desc, &a_md, &b_md, fused ? &bias_md : NULL, &c_md) != dnnl_success) return 0;
    dnnl_primitive_attr_t attr;
    dnnl_primitive_attr_create(&attr);
    if (fused) {
        dnnl_post_ops_t ops;
        dnnl_post_ops_create(&ops);
        dnnl_post_ops_append_eltwise(ops, 1.0f, dnnl_eltwise_gelu_erf, 0.0f, 0.0f);
        dnnl_primitive_attr_set_post_ops(attr, ops);
        dnnl_post_ops_destroy(ops);
    }
    dnnl_primitive_desc_t pd;
    if (dnnl_primitive_desc_create(&pd, &desc, attr, engine, NULL) != dnnl_success) return 0;
    dnnl_primitive_attr_destroy(attr);
    dnnl_primitive_create(&j->primitive, pd);
    const char *impl = NULL;
    dnnl_primitive_desc_query(pd, dnnl_query_impl_info_str, 0, &impl);
    printf("  oneDNN %s implementation: %s\n", fused ? "fused" : "plain", impl ? impl : "?");
    dnnl_primitive_desc_destroy(pd);
    dnnl_memory_t a, b, bias, c;
    dnnl_memory_create(&a, &a_md, engine, j->a);
    dnnl_memory_create(&b, &b_md, engine, j->b);
    dnnl_memory_create(&bias, &bias_md, engine, j->bias);
    dnnl_memory_create(&c, &c_md, engine, j->c);
    j->args[0] = (dnnl_exec_arg_t){DNNL_ARG_SRC, a};
    j->args[1] = (dnnl_exec_arg_t){DNNL_ARG_WEIGHTS, b};
    j->args[2] = (dnnl_exec_arg_t){DNNL_ARG_DST, c};
    j->args[3] = (dnnl_exec_arg_t){DNNL_ARG_BIAS, bias};
    j->arg_count = fused ? 4 : 3;
    return 1;
}

int main(int argc, char **argv)
{
    int64_t default_sizes[] = {1024, 2048};
    int count = argc > 1 ? argc - 1 : 2;
    dnnl_engine_t engine;
    dnnl_stream_t stream;
    if (dnnl_engine_create(&engine, dnnl_cpu, 0) != dnnl_success ||
        dnnl_stream_create(&stream, engine, dnnl_stream_default_flags) != dnnl_success) {
        fprintf(stderr, "oneDNN: no CPU engine\n");
        return 1;
    }
    printf("%-6s %16s %16s %16s %16s %12s %12s\n", "N", "openblas_sgemm", "openblas_fused", "onednn_matmul",
           "onednn_fused", "fused/plain", "fused/plain");
    printf("%-6s %16s %16s %16s %16s %12s %12s\n", "", "ms (GFLOP/s)", "ms", "ms (GFLOP/s)", "ms", "openblas", "onednn");
    for (int s = 0; s < count; s++) {
        int64_t n = argc > 1 ? atoll(argv[s + 1]) : default_sizes[s];
        job j = {0, n, malloc(sizeof(float) * (size_t)(n * n)), malloc(sizeof(float) * (size_t)(n * n)),
                 malloc(sizeof(float) * (size_t)n), malloc(sizeof(float) * (size_t)(n * n)), NULL, stream, {{0}}, 0};
        for (int64_t i = 0; i < n * n; i++) j.a[i] = (float)(i % 13) * 0.1f - 0.6f, j.b[i] = (float)(i % 7) * 0.1f - 0.3f;
        for (int64_t i = 0; i < n; i++) j.bias[i] = (float)(i % 5) * 0.01f;
        int repeats = n <= 1024 ? 15 : 7;
        double ms[4];
        for (int kind = 0; kind < 4; kind++) {
            j.kind = kind;
            if (kind >= 2 && !make_onednn(&j, engine, kind == 3)) {
                fprintf(stderr, "oneDNN: cannot create the %s matmul\n", kind == 3 ? "fused" : "plain");
                return 1;
            }
            ms[kind] = median_ms(&j, repeats);
            if (kind >= 2) dnnl_primitive_destroy(j.primitive);
        }
        double gflop = 2.0 * (double)n * (double)n * (double)n / 1e9;
        printf("%-6lld %8.2f (%5.0f) %16.2f %8.2f (%5.0f) %16.2f %11.2fx %11.2fx\n", (long long)n, ms[0], gflop / ms[0] * 1e3,
               ms[1], ms[2], gflop / ms[2] * 1e3, ms[3], ms[1] / ms[0], ms[3] / ms[2]);
        free(j.a), free(j.b), free(j.bias), free(j.c);
    }
    dnnl_stream_destroy(stream);
    dnnl_engine_destroy(engine);
    return 0;
}
