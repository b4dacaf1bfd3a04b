// A/B of the skinny kernels at HEAD (old_*) and in the tree (new: pipelined transposed kernel, programmatic
// dependent launches), batches of 20 back-to-back launches between events (the regime of a decoding loop
// and of fusegraph bench's resident batches), median of 12 rounds; plus single launches.
#include <cuda_runtime.h>
#include <cuda_bf16.h>
#include <cstdio>
#include <cstdint>
#include <vector>
#include <algorithm>
#include <functional>
#include <cmath>
#include "cuda_kernels.h"
extern "C" {
cudaError_t old_transposed_forward(void *, const void *, const void *, const void *, int64_t, int64_t, int64_t, int, int, cudaStream_t);
cudaError_t old_tc_forward(void *, const void *, const void *, const void *, int64_t, int64_t, int64_t, int, int, void *, cudaStream_t);
cudaError_t old_tc_exact_forward(float *, const float *, const float *, const float *, int64_t, int64_t, int64_t, int, void *, cudaStream_t);
}
static cudaStream_t stream;
static cudaEvent_t e0, e1, mid;
static float median_ms(const std::function<cudaError_t()> &launch, int batch) {
    std::vector<float> t;
    for (int round = 0; round < 15; round++) {
        cudaEventRecord(e0, stream);
        for (int i = 0; i < batch; i++) {
            if (launch() != cudaSuccess) { printf("launch failed\n"); exit(1); }
            cudaEventRecord(mid, stream);
        }
        cudaEventRecord(e1, stream);
        cudaEventSynchronize(e1);
        float ms;
        cudaEventElapsedTime(&ms, e0, e1);
        if (round >= 3) t.push_back(ms / batch);
    }
    std::sort(t.begin(), t.end());
    return t[t.size() / 2];
}
int main() {
    cudaStreamCreateWithFlags(&stream, cudaStreamNonBlocking);
    cudaEventCreate(&e0), cudaEventCreate(&e1), cudaEventCreateWithFlags(&mid, cudaEventDisableTiming);
    const int K = 4096, N = 14336;
    std::vector<float> hf((size_t)K * N);
    uint32_t s = 99;
    for (auto &v : hf) { s = s * 1664525u + 1013904223u; v = ((s >> 8) * (1.0f / 16777216.0f)) * 2 - 1; }
    std::vector<__nv_bfloat16> hb(hf.size());
    for (size_t i = 0; i < hf.size(); i++) hb[i] = __float2bfloat16(hf[i]);
    void *w32, *w16, *a32, *a16, *bias32, *bias16, *out, *out_old, *ws;
    cudaMalloc(&w32, hf.size() * 4); cudaMemcpy(w32, hf.data(), hf.size() * 4, cudaMemcpyHostToDevice);
    cudaMalloc(&w16, hb.size() * 2); cudaMemcpy(w16, hb.data(), hb.size() * 2, cudaMemcpyHostToDevice);
    cudaMalloc(&a32, 16 * K * 4); cudaMemcpy(a32, hf.data() + 12345, 16 * K * 4, cudaMemcpyHostToDevice);
    cudaMalloc(&a16, 16 * K * 2); cudaMemcpy(a16, hb.data() + 12345, 16 * K * 2, cudaMemcpyHostToDevice);
    cudaMalloc(&bias32, N * 4); cudaMemcpy(bias32, hf.data() + 777, N * 4, cudaMemcpyHostToDevice);
    cudaMalloc(&bias16, N * 2); cudaMemcpy(bias16, hb.data() + 777, N * 2, cudaMemcpyHostToDevice);
    cudaMalloc(&out, 16 * N * 4); cudaMalloc(&out_old, 16 * N * 4); cudaMalloc(&ws, 64 << 20);
    const int ep = CUDA_EPILOGUE_BIAS_GELU_TANH;
    struct Case { const char *name; std::function<cudaError_t(void *)> old_launch, new_settled, new_unsettled; int m; int dtype; };
    std::vector<Case> cases = {
        {"bf16 M=1 transposed", [&](void *o) { return old_transposed_forward(o, a16, w16, bias16, 1, K, N, 2, ep, stream); },
         [&](void *o) { return matmul_skinny_transposed_forward(o, a16, w16, bias16, 1, K, N, 2, ep, 1, stream); },
         [&](void *o) { return matmul_skinny_transposed_forward(o, a16, w16, bias16, 1, K, N, 2, ep, 0, stream); }, 1, 2},
        {"f32  M=1 transposed", [&](void *o) { return old_transposed_forward(o, a32, w32, bias32, 1, K, N, 0, ep, stream); },
         [&](void *o) { return matmul_skinny_transposed_forward(o, a32, w32, bias32, 1, K, N, 0, ep, 1, stream); },
         [&](void *o) { return matmul_skinny_transposed_forward(o, a32, w32, bias32, 1, K, N, 0, ep, 0, stream); }, 1, 0},
        {"bf16 M=1 tensor core", [&](void *o) { return old_tc_forward(o, a16, w16, bias16, 1, K, N, 2, ep, ws, stream); },
         [&](void *o) { return matmul_skinny_tensor_core_forward(o, a16, w16, bias16, 1, K, N, 2, ep, ws, 1, stream); },
         [&](void *o) { return matmul_skinny_tensor_core_forward(o, a16, w16, bias16, 1, K, N, 2, ep, ws, 0, stream); }, 1, 2},
        {"bf16 M=16 tensor core", [&](void *o) { return old_tc_forward(o, a16, w16, bias16, 16, K, N, 2, ep, ws, stream); },
         [&](void *o) { return matmul_skinny_tensor_core_forward(o, a16, w16, bias16, 16, K, N, 2, ep, ws, 1, stream); },
         [&](void *o) { return matmul_skinny_tensor_core_forward(o, a16, w16, bias16, 16, K, N, 2, ep, ws, 0, stream); }, 16, 2},
        {"tf32 M=16 tensor core", [&](void *o) { return old_tc_forward(o, a32, w32, bias32, 16, K, N, 0, ep, ws, stream); },
         [&](void *o) { return matmul_skinny_tensor_core_forward(o, a32, w32, bias32, 16, K, N, 0, ep, ws, 1, stream); },
         [&](void *o) { return matmul_skinny_tensor_core_forward(o, a32, w32, bias32, 16, K, N, 0, ep, ws, 0, stream); }, 16, 0},
        {"f32  M=16 fp64 tensor core", [&](void *o) { return old_tc_exact_forward((float *)o, (float *)a32, (float *)w32, (float *)bias32, 16, K, N, ep, ws, stream); },
         [&](void *o) { return matmul_skinny_tensor_core_exact_forward((float *)o, (float *)a32, (float *)w32, (float *)bias32, 16, K, N, ep, ws, 1, stream); },
         [&](void *o) { return matmul_skinny_tensor_core_exact_forward((float *)o, (float *)a32, (float *)w32, (float *)bias32, 16, K, N, ep, ws, 0, stream); }, 16, 0},
        {"bf16 M=16 split (FFMA)", [&](void *o) { return matmul_skinny_transposed_split_forward(o, a16, w16, bias16, 16, K, N, 2, ep, ws, 1, stream); },
         [&](void *o) { return matmul_skinny_transposed_split_forward(o, a16, w16, bias16, 16, K, N, 2, ep, ws, 1, stream); },
         [&](void *o) { return matmul_skinny_transposed_split_forward(o, a16, w16, bias16, 16, K, N, 2, ep, ws, 0, stream); }, 16, 2},
    };
    printf("K=%d N=%d, tanh GELU epilogue; ms a launch in batches of 20 (single launch in brackets); weight bytes / time\n", K, N);
    printf("%-28s %18s %18s %18s %10s %s\n", "kernel", "HEAD", "new settled", "new unsettled", "TB/s", "max |new-HEAD|");
    for (int round = 0; round < 3; round++)
        for (auto &c : cases) {
            size_t es = c.dtype == 0 ? 4 : 2, count = (size_t)c.m * N;
            cudaMemset(out, 0xFF, count * es); cudaMemset(out_old, 0xFF, count * es);
            c.old_launch(out_old); c.new_settled(out); cudaDeviceSynchronize();
            std::vector<uint16_t> o16(count), n16(count); std::vector<float> o32(count), n32(count);
            double diff = 0;
            if (es == 2) {
                cudaMemcpy(o16.data(), out_old, count * 2, cudaMemcpyDeviceToHost); cudaMemcpy(n16.data(), out, count * 2, cudaMemcpyDeviceToHost);
                for (size_t i = 0; i < count; i++) { float x, y; uint32_t a = (uint32_t)o16[i] << 16, b = (uint32_t)n16[i] << 16; memcpy(&x, &a, 4); memcpy(&y, &b, 4); diff = std::max(diff, (double)fabsf(x - y)); if (y != y) diff = INFINITY; }
            } else {
                cudaMemcpy(o32.data(), out_old, count * 4, cudaMemcpyDeviceToHost); cudaMemcpy(n32.data(), out, count * 4, cudaMemcpyDeviceToHost);
                for (size_t i = 0; i < count; i++) { diff = std::max(diff, (double)fabsf(o32[i] - n32[i])); if (n32[i] != n32[i]) diff = INFINITY; }
            }
            float t[3], t1[3];
            std::function<cudaError_t()> f[3] = {[&] { return c.old_launch(out); }, [&] { return c.new_settled(out); }, [&] { return c.new_unsettled(out); }};
            for (int i = 0; i < 3; i++) t[i] = median_ms(f[i], 20), t1[i] = median_ms(f[i], 1);
            double bytes = (double)K * N * (c.dtype == 0 ? 4 : 2);
            printf("%-28s %8.4f (%7.4f) %8.4f (%7.4f) %8.4f (%7.4f) %5.2f/%4.2f %.3g\n", c.name, t[0], t1[0], t[1], t1[1], t[2], t1[2],
                   bytes / t[0] / 1e9, bytes / t[1] / 1e9, diff);
        }
    printf("final: %s\n", cudaGetErrorString(cudaDeviceSynchronize()));
}
