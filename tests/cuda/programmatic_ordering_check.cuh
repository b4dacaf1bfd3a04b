/*
 * programmatic_ordering_check.cuh — check_bandwidth_kernels' check that the skinny launchers' kernels, which
 * are programmatic dependent launches on sm_90+ (src/backends/cuda/kernels/programmatic_launch.cuh), read
 * nothing the kernel before them writes until that kernel has finished: a only after their wait, and b
 * before it only when told the weight is settled. Included by check_bandwidth_kernels.cu after its helpers.
 *
 * The kernel before is late_writer_kernel: it lets its dependents launch at once, spins for ~0.5 ms, then
 * writes the real a (and, when the weight is not settled, the real b) over copies poisoned with NaN. It uses
 * 16 blocks, so the skinny kernel launched right after it finds free SMs and starts while it spins; a kernel
 * that read a (or an unsettled b) before its wait would read NaN and fail the comparison. (Without the
 * programmatic launch, on GPUs before sm_90, the skinny kernel simply runs after it: the check still holds.)
 */
#ifndef FUSEGRAPH_PROGRAMMATIC_ORDERING_CHECK_CUH
#define FUSEGRAPH_PROGRAMMATIC_ORDERING_CHECK_CUH

#include "programmatic_launch.cuh" /* dependent_launch_allow */

#define LATE_WRITER_CYCLES 1000000LL /* ~0.5 ms at the H100's 1.98 GHz */

__global__ void late_writer_kernel(unsigned char *a_out, const unsigned char *a_in, int64_t a_bytes, unsigned char *b_out,
                                   const unsigned char *b_in, int64_t b_bytes, long long cycles) {
    dependent_launch_allow();
    const long long start = clock64();
    while (clock64() - start < cycles) {
    }
    const int64_t stride = (int64_t)gridDim.x * blockDim.x;
    for (int64_t i = (int64_t)blockIdx.x * blockDim.x + threadIdx.x; i < a_bytes; i += stride) a_out[i] = a_in[i];
    for (int64_t i = (int64_t)blockIdx.x * blockDim.x + threadIdx.x; i < b_bytes; i += stride) b_out[i] = b_in[i];
}

/* One (M, K, N, dtype): every skinny launcher after late_writer_kernel, the weight settled and not. */
static void check_programmatic_ordering(int64_t M, int64_t K, int64_t N, int dtype) {
    cudaStream_t stream;
    CHECK_CUDA(cudaStreamCreateWithFlags(&stream, cudaStreamNonBlocking));
    Tensor a(M * K, dtype, 0), b(K * N, dtype, 0), bias(N, dtype, 0), b_transposed(K * N, dtype, 0, false);
    store_transposed(b, K, N, dtype, b_transposed);
    Tensor a_late(M * K, dtype, 0, false), b_late(K * N, dtype, 0, false), out(M * N, dtype, 0, false);
    std::vector<double> reference = reference_product(a, b, M, K, N);
    for (int64_t i = 0; i < M * N; i++) reference[i] += bias.values[i % N];
    const size_t workspace_bytes = skinny_workspace_bytes(M, K, N);
    void *workspace = nullptr;
    if (workspace_bytes) CHECK_CUDA(cudaMalloc(&workspace, workspace_bytes));
    enum { SKINNY, SKINNY_TRANSPOSED, TENSOR_CORE, TENSOR_CORE_EXACT, LAUNCHERS };
    static const char *const names[LAUNCHERS] = {"skinny", "skinny^T", "tc^T", "tc64^T"};
    for (int launcher = SKINNY; launcher < LAUNCHERS; launcher++) {
        if (launcher == TENSOR_CORE_EXACT && dtype != CUDA_DTYPE_F32) continue;
        const bool transposed = launcher != SKINNY;
        Tensor &weight = transposed ? b_transposed : b;
        for (int settled = 0; settled <= 1; settled++) {
            a_late.poison();
            b_late.poison();
            out.poison();
            if (workspace) CHECK_CUDA(cudaMemset(workspace, 0xFF, workspace_bytes));
            CHECK_CUDA(cudaDeviceSynchronize()); /* the poisoning (legacy stream) before the non-blocking stream */
            /* settled: the weight is the real one from the start; otherwise it arrives with a. */
            void *b_read = settled ? weight.device : b_late.device;
            late_writer_kernel<<<16, 256, 0, stream>>>((unsigned char *)a_late.device, (const unsigned char *)a.device,
                                                       (int64_t)a.bytes.size(), (unsigned char *)b_late.device,
                                                       (const unsigned char *)weight.device,
                                                       settled ? 0 : (int64_t)weight.bytes.size(), LATE_WRITER_CYCLES);
            cudaError_t result = cudaGetLastError();
            const int epilogue = CUDA_EPILOGUE_BIAS;
            if (result == cudaSuccess) {
                if (launcher == SKINNY || launcher == SKINNY_TRANSPOSED)
                    result = matmul_skinny_forward(out.device, a_late.device, b_read, bias.device, M, K, N, transposed, dtype,
                                                   epilogue, workspace, settled, stream);
                else if (launcher == TENSOR_CORE)
                    result = matmul_skinny_tensor_core_forward(out.device, a_late.device, b_read, bias.device, M, K, N, dtype,
                                                               epilogue, workspace, settled, stream);
                else
                    result = matmul_skinny_tensor_core_exact_forward((float *)out.device, (const float *)a_late.device,
                                                                     (const float *)b_read, (const float *)bias.device, M,
                                                                     K, N, epilogue, workspace, settled, stream);
            }
            char sizes[80];
            snprintf(sizes, sizeof sizes, "M=%lld K=%lld N=%lld", (long long)M, (long long)K, (long long)N);
            report(result, out, reference, dtype, names[launcher], settled ? "late a" : "late a and b", sizes,
                   launcher == TENSOR_CORE);
        }
    }
    if (workspace) CHECK_CUDA(cudaFree(workspace));
    CHECK_CUDA(cudaStreamDestroy(stream));
}

/* M = 1 (the shuffle kernel for [N, K]), 5 and 16 (the split kernel), one split and several (K = 4096, N = 64:
 * the reduction kernel after the main one). */
static void check_programmatic_orderings() {
    for (int dtype : {CUDA_DTYPE_F32, CUDA_DTYPE_BF16})
        for (int64_t M : {1, 5, 16}) {
            check_programmatic_ordering(M, 1000, 4097, dtype);
            check_programmatic_ordering(M, 4096, 64, dtype);
        }
}

#endif /* FUSEGRAPH_PROGRAMMATIC_ORDERING_CHECK_CUH */
