// A/B of the skinny kernels at HEAD (old_*, .probe/old: 81cd98c's files, names prefixed) and in the tree
// (load_weight_around_wait in programmatic_launch.cuh), in one process: batches of 20 back-to-back launches
// between events, median of 12 rounds after 3 warm-up rounds, three passes; outputs compared bit for bit.
// Built from the repository root:
//   mkdir -p .probe/old && git archive 81cd98c src/backends/cuda/kernels | tar -x -C .probe/old --strip-components=4
//   sed -i 's/\bmatmul_skinny/old_matmul_skinny/g; s/"old_matmul_skinny_reduce.cuh"/"matmul_skinny_reduce.cuh"/' .probe/old/*
//   nvcc -O3 -std=c++17 --expt-relaxed-constexpr -arch=sm_90 -I src/backends/cuda/kernels \
//     .probe/probe4.cu src/backends/cuda/kernels/matmul_skinny*.cu .probe/old/matmul_skinny*.cu -o .probe/probe4
// and run with LD_LIBRARY_PATH=/usr/local/cuda/lib64 (carried to the device in the ignored .probe folder).
#include <cuda_runtime.h>
#include <cuda_bf16.h>
#include <cstdio>
#include <cstdint>
#include <cstring>
#include <cmath>
#include <vector>
#include <algorithm>
#include <functional>
#include "cuda_kernels.h"
extern "C" {
cudaError_t old_matmul_skinny_forward(void *, const void *, const void *, const void *, int64_t, int64_t, int64_t, int, int, int, void *, int, cudaStream_t);
cudaError_t old_matmul_skinny_transposed_forward(void *, const void *, const void *, const void *, int64_t, int64_t, int64_t, int, int, int, cudaStream_t);
cudaError_t old_matmul_skinny_transposed_split_forward(void *, const void *, const void *, const void *, int64_t, int64_t, int64_t, int, int, void *, int, cudaStream_t);
cudaError_t old_matmul_skinny_tensor_core_forward(void *, const void *, const void *, const void *, int64_t, int64_t, int64_t, int, int, void *, int, cudaStream_t);
cudaError_t old_matmul_skinny_tensor_core_exact_forward(float *, const float *, const float *, const float *, int64_t, int64_t, int64_t, int, void *, int, cudaStream_t);
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
typedef std::function<cudaError_t(void *, int settled)> Launch;
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
    struct Case { const char *name; Launch old_launch, new_launch; int m; int dtype; };
#define PAIR(call) [&](void *o, int st) { return old_##call; }, [&](void *o, int st) { return call; }
    std::vector<Case> cases = {
        {"bf16 M=1  [N,K] transposed", PAIR(matmul_skinny_transposed_forward(o, a16, w16, bias16, 1, K, N, 2, ep, st, stream)), 1, 2},
        {"f32  M=1  [N,K] transposed", PAIR(matmul_skinny_transposed_forward(o, a32, w32, bias32, 1, K, N, 0, ep, st, stream)), 1, 0},
        {"bf16 M=1  [N,K] tensor core", PAIR(matmul_skinny_tensor_core_forward(o, a16, w16, bias16, 1, K, N, 2, ep, ws, st, stream)), 1, 2},
        {"bf16 M=16 [N,K] tensor core", PAIR(matmul_skinny_tensor_core_forward(o, a16, w16, bias16, 16, K, N, 2, ep, ws, st, stream)), 16, 2},
        {"tf32 M=16 [N,K] tensor core", PAIR(matmul_skinny_tensor_core_forward(o, a32, w32, bias32, 16, K, N, 0, ep, ws, st, stream)), 16, 0},
        {"f32  M=16 [N,K] fp64 tc", PAIR(matmul_skinny_tensor_core_exact_forward((float *)o, (float *)a32, (float *)w32, (float *)bias32, 16, K, N, ep, ws, st, stream)), 16, 0},
        {"bf16 M=16 [N,K] split FFMA", PAIR(matmul_skinny_transposed_split_forward(o, a16, w16, bias16, 16, K, N, 2, ep, ws, st, stream)), 16, 2},
        {"f32  M=8  [N,K] split FFMA", PAIR(matmul_skinny_transposed_split_forward(o, a32, w32, bias32, 8, K, N, 0, ep, ws, st, stream)), 8, 0},
        {"bf16 M=1  [K,N]", PAIR(matmul_skinny_forward(o, a16, w16, bias16, 1, K, N, 0, 2, ep, ws, st, stream)), 1, 2},
        {"f32  M=1  [K,N]", PAIR(matmul_skinny_forward(o, a32, w32, bias32, 1, K, N, 0, 0, ep, ws, st, stream)), 1, 0},
        {"f32  M=16 [K,N]", PAIR(matmul_skinny_forward(o, a32, w32, bias32, 16, K, N, 0, 0, ep, ws, st, stream)), 16, 0},
    };
    printf("K=%d N=%d, tanh GELU epilogue; ms a launch in batches of 20, HEAD (81cd98c) against the tree\n", K, N);
    printf("%-30s %9s %9s %7s %9s %9s %7s %s\n", "kernel", "HEAD set", "tree set", "ratio", "HEAD uns", "tree uns", "ratio", "max|tree-HEAD|");
    for (int pass = 0; pass < 3; pass++)
        for (auto &c : cases) {
            size_t es = c.dtype == 0 ? 4 : 2, count = (size_t)c.m * N;
            double diff = 0;
            for (int st = 0; st < 2; st++) {
                cudaMemset(out, 0xFF, count * es); cudaMemset(out_old, 0xFF, count * es);
                c.old_launch(out_old, st); c.new_launch(out, st);
                cudaError_t e = cudaDeviceSynchronize();
                if (e != cudaSuccess) { printf("%s: %s\n", c.name, cudaGetErrorString(e)); return 1; }
                std::vector<unsigned char> o(count * es), n(count * es);
                cudaMemcpy(o.data(), out_old, count * es, cudaMemcpyDeviceToHost); cudaMemcpy(n.data(), out, count * es, cudaMemcpyDeviceToHost);
                if (memcmp(o.data(), n.data(), count * es) != 0) diff = 1;
            }
            float t[4];
            for (int st = 0; st < 2; st++) {
                t[2 * st] = median_ms([&] { return c.old_launch(out, 1 - st); }, 20);
                t[2 * st + 1] = median_ms([&] { return c.new_launch(out, 1 - st); }, 20);
            }
            printf("%-30s %9.4f %9.4f %7.3f %9.4f %9.4f %7.3f %s\n", c.name, t[0], t[1], t[1] / t[0], t[2], t[3], t[3] / t[2],
                   diff ? "OUTPUTS DIFFER" : "bit-identical");
        }
    printf("final: %s\n", cudaGetErrorString(cudaDeviceSynchronize()));
}
