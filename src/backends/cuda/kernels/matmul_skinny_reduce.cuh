/*
 * matmul_skinny_reduce.cuh — the second kernel of the split-K skinny matmuls (M <= 16): the main kernel
 * of matmul_skinny.cu (b as [K, N]), of matmul_skinny_transposed_split.cu (b as [N, K], M 5..16) or of
 * matmul_skinny_tensor_core.cu (b as [N, K], M <= 16, tensor cores) writes
 * one f32 partial sum per K split to a workspace [splits, M, n_padded]; this kernel adds them up in split
 * order (deterministic: no atomics), adds the bias, applies GELU and rounds to the output dtype.
 * It reads ~splits x M x N x 4 bytes, mostly still in L2 from the main kernel.
 *
 * On sm_90+ it is a programmatic dependent launch (programmatic_launch.cuh): the main kernel executes
 * griddepcontrol.launch_dependents when it starts, so this kernel's launch (~2 us) overlaps the main
 * kernel, and griddepcontrol.wait here holds it until the main kernel has finished and its partial sums
 * are visible.
 */
#ifndef FUSEGRAPH_MATMUL_SKINNY_REDUCE_CUH
#define FUSEGRAPH_MATMUL_SKINNY_REDUCE_CUH

#include <cstdint>

#include "cuda_kernels.h"
#include "matmul_epilogue.cuh"     /* apply_epilogue, to_float, from_float */
#include "programmatic_launch.cuh" /* dependent_launch_allow, dependent_wait, launch_programmatic */

#define SKINNY_REDUCE_THREADS 256

/* out[m, c] = epilogue(sum over splits s, in order, of partial[s, m, c] + bias[c]). */
template <typename T>
__global__ void __launch_bounds__(SKINNY_REDUCE_THREADS)
    matmul_skinny_reduce_kernel(T *out, const float *partial, const T *bias, int M, int N, int splits,
                                int64_t n_padded, int epilogue) {
    dependent_launch_allow(); /* the next node's kernel may start streaming its weight; it waits for us */
    int64_t i = (int64_t)blockIdx.x * blockDim.x + threadIdx.x;
    if (i >= (int64_t)M * N) return;
    int m = (int)(i / N), c = (int)(i - (int64_t)m * N);
    const float *p = partial + (int64_t)m * n_padded + c;
    const int64_t split_stride = (int64_t)M * n_padded;
    dependent_wait(); /* until the main kernel has finished and its partial sums are visible */
    /* Up to 8 independent loads in flight, then summed in split order. */
    float sum = 0.f;
    for (int s0 = 0; s0 < splits; s0 += 8) {
        float part[8];
#pragma unroll
        for (int j = 0; j < 8; j++) part[j] = s0 + j < splits ? p[(s0 + j) * split_stride] : 0.f;
#pragma unroll
        for (int j = 0; j < 8; j++) sum += part[j];
    }
    float bias_value = epilogue != CUDA_EPILOGUE_NONE ? to_float(bias[c]) : 0.f;
    out[i] = from_float<T>(apply_epilogue(sum, bias_value, epilogue));
}

/* Launches the reduction after the main kernel on `stream`: on sm_90+ as a programmatic dependent launch,
 * elsewhere an ordinary stream-ordered launch. */
template <typename T>
static cudaError_t launch_skinny_reduce(T *out, const float *partial, const T *bias, int m, int n, int splits,
                                        int64_t n_padded, int epilogue, cudaStream_t stream) {
    int64_t elements = (int64_t)m * n;
    unsigned blocks = (unsigned)((elements + SKINNY_REDUCE_THREADS - 1) / SKINNY_REDUCE_THREADS);
    return launch_programmatic(matmul_skinny_reduce_kernel<T>, dim3(blocks), dim3(SKINNY_REDUCE_THREADS), stream, out,
                               partial, bias, m, n, splits, n_padded, epilogue);
}

#endif /* FUSEGRAPH_MATMUL_SKINNY_REDUCE_CUH */
