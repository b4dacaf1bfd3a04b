/*
 * cuda_kernels.h — the CUDA kernels' launchers, callable from C (the backend is C; the kernels are
 * CUDA C++ in the .cu files beside this header, one file per op family, each kernel `NAME_kernel` with
 * a plain launcher `NAME`).
 *
 * Conventions for every launcher:
 *  - Tensors are row-major and contiguous. `dtype` is an fg_dtype value: 0 = f32, 1 = f16, 2 = bf16;
 *    every tensor of one call has that dtype (a bias too). f16/bf16 accumulate in f32.
 *  - Matmul-like launchers compute out[M, N] = epilogue(a[M, K] x b[K, N] (+ bias[N])), where b is the
 *    weight as [K, N], or as [N, K] (PyTorch's nn.Linear layout) where the launcher takes b_transposed
 *    and it is 1 (or for the *_transposed launcher).
 *  - Launches are asynchronous on `stream`; the launcher returns cudaGetLastError() after the launch
 *    (cudaSuccess, or the launch's error) and never synchronizes.
 *  - The skinny launchers (M <= 16) launch their kernels as programmatic dependent launches on sm_90+
 *    (programmatic_launch.cuh): a kernel may start while the kernel before it on the stream finishes, and
 *    waits for it before it reads a or bias or writes anything. `weight_settled` = 1 promises that no
 *    kernel still in flight on the stream writes b, so the kernel may start reading b before that wait;
 *    0 when b may be the output of a kernel still running (then nothing is read before the wait).
 *  - Sizes may be anything >= 1: 1, 7, 31, 1000, 4097, non-multiples of every tile; pointers from
 *    cudaMalloc (256-byte aligned), but kernels must not assume a row starts 16-byte aligned when the
 *    row length is not a multiple of the vector width.
 */
#ifndef FUSEGRAPH_CUDA_KERNELS_H
#define FUSEGRAPH_CUDA_KERNELS_H

#include <cuda_runtime_api.h>
#include <stddef.h>
#include <stdint.h>

#ifdef __cplusplus
extern "C" {
#endif

enum { CUDA_DTYPE_F32 = 0, CUDA_DTYPE_F16 = 1, CUDA_DTYPE_BF16 = 2 };
enum { CUDA_GELU_EXACT = 0, CUDA_GELU_TANH = 1 };
enum {
    CUDA_EPILOGUE_NONE = 0,            /* out = a x b */
    CUDA_EPILOGUE_BIAS = 1,            /* out = a x b + bias */
    CUDA_EPILOGUE_BIAS_GELU_EXACT = 2, /* out = gelu_erf(a x b + bias) */
    CUDA_EPILOGUE_BIAS_GELU_TANH = 3   /* out = gelu_tanh(a x b + bias) */
};

/* elementwise.cu — 16-byte vector accesses, at HBM bandwidth */
cudaError_t add_forward(void *out, const void *a, const void *b, int64_t n, int dtype, cudaStream_t stream);
cudaError_t bias_add_forward(void *out, const void *a, const void *bias, int64_t rows, int64_t columns, int dtype,
                             cudaStream_t stream);
cudaError_t gelu_forward(void *out, const void *x, int64_t n, int gelu_form, int dtype, cudaStream_t stream);

/* matmul_simt.cu — exact f32 (FFMA), tiled through shared memory, epilogue applied before the store */
cudaError_t matmul_simt_forward(float *out, const float *a, const float *b, const float *bias, int64_t m, int64_t k,
                                int64_t n, int b_transposed, int epilogue, cudaStream_t stream);

/* matmul_tensor_core.cu — mma.sync tensor cores: dtype f32 means TF32 inputs with f32 accumulation;
 * f16 / bf16 with f32 accumulation; epilogue applied before the store */
cudaError_t matmul_tensor_core_forward(void *out, const void *a, const void *b, const void *bias, int64_t m, int64_t k,
                                       int64_t n, int b_transposed, int dtype, int epilogue, cudaStream_t stream);

/* matmul_skinny.cu — M <= 16 (decoding a few tokens): reading b is the whole cost, so it streams b once
 * at HBM bandwidth, split over K across the chip, then reduces and applies the epilogue. f32 is exact
 * (FFMA). Needs a workspace of matmul_skinny_workspace_bytes(m, k, n, b_transposed) bytes (0 allowed:
 * then NULL). */
size_t matmul_skinny_workspace_bytes(int64_t m, int64_t k, int64_t n, int b_transposed);
cudaError_t matmul_skinny_forward(void *out, const void *a, const void *b, const void *bias, int64_t m, int64_t k,
                                  int64_t n, int b_transposed, int dtype, int epilogue, void *workspace,
                                  int weight_settled, cudaStream_t stream);
/* matmul_skinny_transposed.cu — M <= 4 with b as [N, K]: a warp per 2 rows of b, dot products summed by
 * shuffles, no workspace (matmul_skinny_forward with b_transposed calls it for M <= 4). */
cudaError_t matmul_skinny_transposed_forward(void *out, const void *a, const void *b, const void *bias, int64_t m,
                                             int64_t k, int64_t n, int dtype, int epilogue, int weight_settled,
                                             cudaStream_t stream);
/* matmul_skinny_transposed_split.cu — M = 5..16 with b as [N, K]: a warp per 4 rows of b, a's K slice in
 * shared memory, split over K with partial sums in a workspace of
 * matmul_skinny_transposed_split_workspace_bytes(m, k, n) bytes (0 allowed: then NULL) and the reduction
 * kernel (matmul_skinny_forward with b_transposed calls it for M > 4; any M 1..16 works). */
size_t matmul_skinny_transposed_split_workspace_bytes(int64_t m, int64_t k, int64_t n);
cudaError_t matmul_skinny_transposed_split_forward(void *out, const void *a, const void *b, const void *bias, int64_t m,
                                                   int64_t k, int64_t n, int dtype, int epilogue, void *workspace,
                                                   int weight_settled, cudaStream_t stream);

/* matmul_skinny_tensor_core.cu — M <= 16 with b as [N, K] on the tensor cores: dtype f32 means TF32 inputs
 * (only where the caller allows TF32), f16 / bf16; f32 accumulation; fragments loaded straight from
 * global memory, split over K with partial sums in a workspace of
 * matmul_skinny_tensor_core_workspace_bytes(m, k, n) bytes (0 allowed: then NULL) and the reduction kernel. */
size_t matmul_skinny_tensor_core_workspace_bytes(int64_t m, int64_t k, int64_t n);
cudaError_t matmul_skinny_tensor_core_forward(void *out, const void *a, const void *b, const void *bias, int64_t m,
                                              int64_t k, int64_t n, int dtype, int epilogue, void *workspace,
                                              int weight_settled, cudaStream_t stream);
/* The same kernel for exact f32 on the FP64 tensor cores (DMMA: runs on every sm_80+ GPU, at full rate on
 * A100 / H100-class parts): each f32 product exact in f64, summed in f64, rounded to f32 once per split; the
 * same workspace size. */
cudaError_t matmul_skinny_tensor_core_exact_forward(float *out, const float *a, const float *b, const float *bias,
                                                    int64_t m, int64_t k, int64_t n, int epilogue, void *workspace,
                                                    int weight_settled, cudaStream_t stream);

/* matmul_warpgroup.cu — Hopper's warpgroup tensor cores (wgmma; sm_90 devices only), f16 / bf16 with f32
 * accumulation, b as [N, K] only, K a multiple of 8, a and b 16-byte aligned, out 4-byte aligned;
 * epilogue applied before the store. matmul_warpgroup_applies says whether a device of compute
 * capability major * 10 + minor can run the shape; the launcher returns cudaErrorNotSupported where not. */
int matmul_warpgroup_applies(int compute_capability, int64_t m, int64_t k, int64_t n, int dtype);
cudaError_t matmul_warpgroup_forward(void *out, const void *a, const void *b, const void *bias, int64_t m, int64_t k,
                                     int64_t n, int dtype, int epilogue, cudaStream_t stream);
/* The same with the tile and schedule forced (0: chosen by shape; 1: 128 x 256 cooperative, 4 stages; 2: 128 x 128
 * cooperative, 6 stages; 3: 128 x 128 ping-pong, 6 stages), for the kernel checks. */
cudaError_t matmul_warpgroup_forward_tile(void *out, const void *a, const void *b, const void *bias, int64_t m, int64_t k,
                                          int64_t n, int dtype, int epilogue, int tile, cudaStream_t stream);

#ifdef __cplusplus
}
#endif
#endif /* FUSEGRAPH_CUDA_KERNELS_H */
