/*
 * bandwidth_kernel_timing.cuh — the timing half of check_bandwidth_kernels.cu (--time-only): elementwise
 * ops on 100M f32 elements against a device-to-device copy, and the skinny matmuls at decoding shapes with
 * L2 flushed before each launch (the check's header says what is printed and why). Included by
 * check_bandwidth_kernels.cu alone, after its helpers (Tensor, fill_uniform, dtype_names, CHECK_CUDA).
 */
#ifndef FUSEGRAPH_BANDWIDTH_KERNEL_TIMING_CUH
#define FUSEGRAPH_BANDWIDTH_KERNEL_TIMING_CUH

#include <functional>

/* Reads n vectors; writes only if their sum has an impossible value (the buffer is zeros), so the
 * compiler keeps the loads and L2 ends up full of clean lines of this buffer. */
__global__ void read_kernel(const uint4 *p, size_t n, uint4 *sink) {
    uint32_t sum = 0;
    for (size_t i = blockIdx.x * (size_t)blockDim.x + threadIdx.x; i < n; i += (size_t)gridDim.x * blockDim.x) {
        uint4 v = p[i];
        sum += v.x ^ v.y ^ v.z ^ v.w;
    }
    if (sum == 0xDEADBEEFu) sink[0] = make_uint4(sum, 0, 0, 0);
}

/* Median milliseconds of 20 launches after 5 warm-ups; `before` (not timed) runs ahead of each. */
static float time_median_ms(const std::function<cudaError_t()> &launch, const std::function<void()> &before = {}) {
    cudaEvent_t start, stop;
    CHECK_CUDA(cudaEventCreate(&start));
    CHECK_CUDA(cudaEventCreate(&stop));
    for (int i = 0; i < 5; i++) {
        if (before) before();
        CHECK_CUDA(launch());
    }
    std::vector<float> ms(20);
    for (int i = 0; i < 20; i++) {
        if (before) before();
        CHECK_CUDA(cudaEventRecord(start));
        CHECK_CUDA(launch());
        CHECK_CUDA(cudaEventRecord(stop));
        CHECK_CUDA(cudaEventSynchronize(stop));
        CHECK_CUDA(cudaEventElapsedTime(&ms[i], start, stop));
    }
    CHECK_CUDA(cudaEventDestroy(start));
    CHECK_CUDA(cudaEventDestroy(stop));
    std::sort(ms.begin(), ms.end());
    return 0.5f * (ms[9] + ms[10]);
}

static void time_kernels() {
    const int64_t n = 100000000;
    void *a, *b, *out;
    CHECK_CUDA(cudaMalloc(&a, n * 4));
    CHECK_CUDA(cudaMalloc(&b, n * 4));
    CHECK_CUDA(cudaMalloc(&out, n * 4));
    fill_uniform(a, n, CUDA_DTYPE_F32, 1);
    fill_uniform(b, n, CUDA_DTYPE_F32, 2);
    printf("\nTiming: cudaEvent per launch, 5 warm-ups, median of 20; GB/s = bytes read + written / time.\n");
    float copy_ms = time_median_ms([&] { return cudaMemcpyAsync(out, a, n * 4, cudaMemcpyDeviceToDevice, 0); });
    double copy_gbs = 2.0 * n * 4 / (copy_ms * 1e-3) / 1e9;
    printf("time  %-26s %9.3f ms  %7.1f GB/s  (the reference: 100%%)\n", "memcpy d2d f32 n=1e8", copy_ms, copy_gbs);
    struct {
        const char *name;
        double bytes;
        std::function<cudaError_t()> launch;
    } ops[] = {
        {"add f32 n=1e8", 12.0 * n, [&] { return add_forward(out, a, b, n, CUDA_DTYPE_F32, 0); }},
        {"bias_add f32 1e5x1000", 8.0 * n, [&] { return bias_add_forward(out, a, b, n / 1000, 1000, CUDA_DTYPE_F32, 0); }},
        {"gelu erf f32 n=1e8", 8.0 * n, [&] { return gelu_forward(out, a, n, CUDA_GELU_EXACT, CUDA_DTYPE_F32, 0); }},
        {"gelu tanh f32 n=1e8", 8.0 * n, [&] { return gelu_forward(out, a, n, CUDA_GELU_TANH, CUDA_DTYPE_F32, 0); }},
        {"add bf16 n=2e8", 12.0 * n, [&] { return add_forward(out, a, b, 2 * n, CUDA_DTYPE_BF16, 0); }},
        {"gelu erf bf16 n=2e8", 8.0 * n, [&] { return gelu_forward(out, a, 2 * n, CUDA_GELU_EXACT, CUDA_DTYPE_BF16, 0); }},
        {"add f32 n=1e8 misaligned", 12.0 * (n - 1),
         [&] { return add_forward((float *)out + 1, (float *)a + 1, (float *)b + 1, n - 1, CUDA_DTYPE_F32, 0); }},
    };
    for (auto &op : ops) {
        float ms = time_median_ms(op.launch);
        double gbs = op.bytes / (ms * 1e-3) / 1e9;
        printf("time  %-26s %9.3f ms  %7.1f GB/s  %5.1f%% of memcpy (goal >= 90%%)\n", op.name, ms, gbs,
               100.0 * gbs / copy_gbs);
        fflush(stdout);
    }
    CHECK_CUDA(cudaFree(a));
    CHECK_CUDA(cudaFree(b));
    CHECK_CUDA(cudaFree(out));

    /* Skinny matmul. Reading 256 MB of another buffer before each launch evicts b from L2 (50 MB on
     * H100), as in decoding where each layer's weights are read once per token; a read, not a memset,
     * so L2 is left holding clean lines, not 50 MB of dirty ones whose write-back would be timed. */
    const size_t flush_bytes = 256u << 20;
    void *flush;
    CHECK_CUDA(cudaMalloc(&flush, flush_bytes));
    CHECK_CUDA(cudaMemset(flush, 0, flush_bytes));
    printf("\nskinny matmul, epilogue bias, L2 flushed (256 MB read) before each launch; GB/s = weight bytes (K x N) / time\n");
    const int64_t shapes[][2] = {{4096, 14336}, {768, 3072}};
    for (const auto &shape : shapes)
        for (int dtype : {CUDA_DTYPE_BF16, CUDA_DTYPE_F32})
            for (int64_t M : {1, 8, 16})
            for (int variant = 0; variant < 4; variant++) { /* b [K, N]; b [N, K]; b [N, K] on the tensor cores (f32
                                                              as TF32); f32 exact on the FP64 tensor cores */
                const int64_t K = shape[0], N = shape[1];
                const int transposed = variant > 0;
                const bool tensor_core = variant >= 2, exact_tensor_core = variant == 3;
                if (exact_tensor_core && dtype != CUDA_DTYPE_F32) continue;
                const size_t es = dtype_size(dtype),
                             workspace_bytes = tensor_core ? matmul_skinny_tensor_core_workspace_bytes(M, K, N)
                                                           : matmul_skinny_workspace_bytes(M, K, N, transposed);
                void *ma, *mb, *mbias, *mout, *workspace = nullptr;
                CHECK_CUDA(cudaMalloc(&ma, M * K * es));
                CHECK_CUDA(cudaMalloc(&mb, K * N * es));
                CHECK_CUDA(cudaMalloc(&mbias, N * es));
                CHECK_CUDA(cudaMalloc(&mout, M * N * es));
                if (workspace_bytes) CHECK_CUDA(cudaMalloc(&workspace, workspace_bytes));
                fill_uniform(ma, M * K, dtype, 3);
                fill_uniform(mb, K * N, dtype, 4);
                fill_uniform(mbias, N, dtype, 5);
                float ms = time_median_ms(
                    [&] {
                        if (exact_tensor_core)
                            return matmul_skinny_tensor_core_exact_forward((float *)mout, (const float *)ma, (const float *)mb,
                                                                           (const float *)mbias, M, K, N, CUDA_EPILOGUE_BIAS,
                                                                           workspace, 1, 0);
                        if (tensor_core)
                            return matmul_skinny_tensor_core_forward(mout, ma, mb, mbias, M, K, N, dtype, CUDA_EPILOGUE_BIAS,
                                                                     workspace, 1, 0);
                        return matmul_skinny_forward(mout, ma, mb, mbias, M, K, N, transposed, dtype, CUDA_EPILOGUE_BIAS,
                                                     workspace, 1, 0);
                    },
                    [&] {
                        read_kernel<<<1024, 256>>>((const uint4 *)flush, flush_bytes / 16, (uint4 *)flush);
                        CHECK_CUDA(cudaGetLastError());
                    });
                double gbs = (double)K * N * es / (ms * 1e-3) / 1e9;
                const bool goal = dtype == CUDA_DTYPE_BF16 && M == 1 && K == 4096;
                printf("time  %-9s %-4s M=%-2lld K=%-4lld N=%-5lld  %8.4f ms  %7.1f GB/s  %5.1f%% of 3.35 TB/s%s\n",
                       exact_tensor_core ? "tc64^T" : tensor_core ? "tc^T" : transposed ? "skinny^T" : "skinny",
                       tensor_core && !exact_tensor_core && dtype == CUDA_DTYPE_F32 ? "tf32" : dtype_names[dtype],
                       (long long)M, (long long)K, (long long)N, ms, gbs, gbs / 33.5,
                       goal ? (ms <= 0.044f ? "  (goal <= 0.044 ms: met)" : "  (goal <= 0.044 ms: NOT met)") : "");
                fflush(stdout);
                CHECK_CUDA(cudaFree(ma));
                CHECK_CUDA(cudaFree(mb));
                CHECK_CUDA(cudaFree(mbias));
                CHECK_CUDA(cudaFree(mout));
                if (workspace) CHECK_CUDA(cudaFree(workspace));
            }
    CHECK_CUDA(cudaFree(flush));
}

#endif /* FUSEGRAPH_BANDWIDTH_KERNEL_TIMING_CUH */
