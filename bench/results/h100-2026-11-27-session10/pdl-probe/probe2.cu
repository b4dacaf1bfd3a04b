// probe2: pdl_probe.cu's kernels and timing with random bf16 data, beside the library's
// matmul_skinny_transposed_forward as of f997c48 (before weight_settled was added; build against that commit's
// src/backends/cuda/kernels), bf16 M=1 K=4096 N=14336, tanh GELU epilogue.
// Build: nvcc -O3 -std=c++17 -gencode arch=compute_90,code=sm_90 -cudart shared -Isrc/backends/cuda/kernels \
//          probe2.cu src/backends/cuda/kernels/matmul_skinny_transposed.cu -o probe2
#define main pdl_probe_main /* pdl_probe.cu's own main is not used */
#include "pdl_probe.cu"
#undef main
#include <cstdlib>
#include "cuda_kernels.h"

int main(int argc, char **argv) {
    cudaStreamCreateWithFlags(&stream, cudaStreamNonBlocking);
    cudaEventCreate(&e0), cudaEventCreate(&e1), cudaEventCreateWithFlags(&mid, cudaEventDisableTiming);
    const int K = 4096, N = 14336;
    size_t bytes = (size_t)K * N * 2;
    std::vector<uint16_t> host(bytes / 2);
    uint32_t s = 12345;
    for (auto &h : host) { s = s * 1664525u + 1013904223u; h = (uint16_t)(0x3c00 + (s >> 24) - 128 + ((s >> 16) & 0x8000)); }
    void *w; cudaMalloc(&w, bytes);
    cudaMemcpy(w, host.data(), bytes, cudaMemcpyHostToDevice);
    __nv_bfloat16 *a; cudaMalloc(&a, K * 2); cudaMemcpy(a, host.data() + 777, K * 2, cudaMemcpyHostToDevice);
    __nv_bfloat16 *bias; cudaMalloc(&bias, N * 2); cudaMemcpy(bias, host.data() + 999, N * 2, cudaMemcpyHostToDevice);
    float *out; cudaMalloc(&out, N * 4);
    __nv_bfloat16 *out16; cudaMalloc(&out16, N * 2);
    printf("random bf16 data, K=%d N=%d; ms per launch: single, batch20, batch20 with an event record after each\n", K, N);
    for (int pass = 0; pass < 3; pass++) {
        auto lib = [&] { matmul_skinny_transposed_forward(out16, a, w, bias, 1, K, N, CUDA_DTYPE_BF16, CUDA_EPILOGUE_BIAS_GELU_TANH, stream); };
        printf("library transposed M=1 (tanh)  %8.4f %8.4f %8.4f\n", median_ms(lib, 1, false), median_ms(lib, 20, false), median_ms(lib, 20, true));
        for (int v = 0; v < 4; v++) {
            bool pdl = v & 1, pipe = v & 2;
            auto kern = pdl ? (pipe ? gemv_kernel<true, true> : gemv_kernel<true, false>) : (pipe ? gemv_kernel<false, true> : gemv_kernel<false, false>);
            auto gk = [&] { launch(kern, dim3((N / 2 * 32 + 127) / 128), dim3(128), pdl, out, (const __nv_bfloat16 *)a, (const __nv_bfloat16 *)w, K, N); };
            printf("probe gemv pdl=%d pipe=%d          %8.4f %8.4f %8.4f\n", pdl, pipe, median_ms(gk, 1, false), median_ms(gk, 20, false), median_ms(gk, 20, true));
        }
    }
    printf("final: %s\n", cudaGetErrorString(cudaDeviceSynchronize()));
    return 0;
}
