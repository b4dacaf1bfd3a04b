/*
 * check_matmul_kernels.cu — correctness and speed of the tiled matmul kernels
 * (src/backends/cuda/kernels/matmul_simt.cu, matmul_tensor_core.cu and, on sm_90 devices,
 * matmul_warpgroup.cu), standalone: links only cudart.
 *
 * Built by CMake (target check_matmul_kernels: matmul_warpgroup.cu compiled for sm_90a with
 * FUSEGRAPH_WARPGROUP_KERNEL, the rest for CMAKE_CUDA_ARCHITECTURES); by hand, from the repository root:
 *   nvcc -O3 -std=c++17 -gencode arch=compute_90,code=sm_90 -Isrc/backends/cuda/kernels -c \
 *        src/backends/cuda/kernels/matmul_simt.cu src/backends/cuda/kernels/matmul_tensor_core.cu
 *   nvcc -O3 -std=c++17 -gencode arch=compute_90a,code=sm_90a -DFUSEGRAPH_WARPGROUP_KERNEL=1 \
 *        -Isrc/backends/cuda/kernels -c src/backends/cuda/kernels/matmul_warpgroup.cu
 *   nvcc -O3 -std=c++17 -gencode arch=compute_90,code=sm_90 -Isrc/backends/cuda/kernels \
 *        tests/cuda/check_matmul_kernels.cu matmul_simt.o matmul_tensor_core.o matmul_warpgroup.o -o check_matmul_kernels
 * Run: ./check_matmul_kernels [--check-only | --time-only] [--quick]
 *   Under compute-sanitizer use --check-only --quick: no timing, and only the sizes with
 *   M*K*N <= 40M (every kernel instance, boundary and alignment path is still exercised).
 *
 * Correctness: every launcher x dtype x epilogue x size against a float64 CPU reference computed from
 * the very same (dtype-rounded) inputs, which are fresh uniform [-1, 1] values for each size and input
 * dtype; the output buffer is filled with 0xFF bytes (NaN) before every launch, so an element the
 * kernel fails to write shows up as a NaN error. One line per case:
 *   ok|FAIL  kernel  dtype  epilogue  M K N  rel_l2_error (tolerance)
 * Exit status: 0 all ok, 1 any failure, 77 no CUDA device.
 */
#include <cuda_bf16.h>
#include <cuda_fp16.h>
#include <cuda_runtime.h>

#include <algorithm>
#include <cmath>
#include <cstdint>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <type_traits>
#include <vector>

#include "check_harness.h"
#include "cuda_kernels.h"


static const char *dtype_names[] = {"f32", "f16", "bf16"};
static const char *epilogue_names[] = {"none", "bias", "bias+gelu_erf", "bias+gelu_tanh"};
static size_t dtype_size(int dtype) { return dtype == CUDA_DTYPE_F32 ? 4 : 2; }

static uint64_t rng_state = 0x9E3779B97F4A7C15ull;
static float uniform_pm1() { /* xorshift64*, 24 random bits -> [-1, 1) */
    rng_state ^= rng_state >> 12;
    rng_state ^= rng_state << 25;
    rng_state ^= rng_state >> 27;
    uint64_t r = rng_state * 0x2545F4914F6CDD1Dull;
    return (float)((r >> 40) * (2.0 / 16777216.0) - 1.0);
}

/* Rounds v to `dtype`, writes its bytes at dst, returns the rounded value as float. */
static float store_as(void *dst, size_t i, float v, int dtype) {
    if (dtype == CUDA_DTYPE_F32) {
        ((float *)dst)[i] = v;
        return v;
    }
    if (dtype == CUDA_DTYPE_F16) {
        __half h = __float2half_rn(v);
        ((__half *)dst)[i] = h;
        return __half2float(h);
    }
    __nv_bfloat16 h = __float2bfloat16_rn(v);
    ((__nv_bfloat16 *)dst)[i] = h;
    return __bfloat162float(h);
}
static double load_as(const void *src, size_t i, int dtype) {
    if (dtype == CUDA_DTYPE_F32) return ((const float *)src)[i];
    if (dtype == CUDA_DTYPE_F16) return __half2float(((const __half *)src)[i]);
    return __bfloat162float(((const __nv_bfloat16 *)src)[i]);
}

static double reference_epilogue(double x, double bias, int epilogue) {
    if (epilogue == CUDA_EPILOGUE_NONE) return x;
    x += bias;
    if (epilogue == CUDA_EPILOGUE_BIAS_GELU_EXACT) return 0.5 * x * (1.0 + erf(x / sqrt(2.0)));
    if (epilogue == CUDA_EPILOGUE_BIAS_GELU_TANH)
        return 0.5 * x * (1.0 + tanh(sqrt(2.0 / M_PI) * (x + 0.044715 * x * x * x)));
    return x;
}

struct size_case {
    int64_t m, k, n;
    int misalign; /* 1: a, b, bias, out start 1 element past a 256-byte boundary (the simt and tensor-core launchers'
                   * scalar paths; the warpgroup launcher must refuse them) */
};

static int failures = 0, cases = 0;

static int compute_capability = 0; /* of device 0, major * 10 + minor (from check_start's properties) */

static void check_size(const size_case &sc) {
    const int64_t M = sc.m, K = sc.k, N = sc.n;
    for (int dtype = CUDA_DTYPE_F32; dtype <= CUDA_DTYPE_BF16; dtype++) {
        const size_t es = dtype_size(dtype), off = sc.misalign ? es : 0;
        std::vector<unsigned char> ha(M * K * es), hb(K * N * es), hbias(N * es), hout(M * N * es);
        std::vector<double> fa(M * K), fb(K * N), fbias(N), product(M * N, 0.0);
        for (int64_t i = 0; i < M * K; i++) fa[i] = store_as(ha.data(), i, uniform_pm1(), dtype);
        for (int64_t i = 0; i < K * N; i++) fb[i] = store_as(hb.data(), i, uniform_pm1(), dtype);
        for (int64_t i = 0; i < N; i++) fbias[i] = store_as(hbias.data(), i, uniform_pm1(), dtype);
        for (int64_t i = 0; i < M; i++) /* i-k-j order: the inner loop streams rows of b and out */
            for (int64_t kk = 0; kk < K; kk++) {
                double av = fa[i * K + kk];
                const double *brow = &fb[kk * N];
                double *prow = &product[i * N];
                for (int64_t j = 0; j < N; j++) prow[j] += av * brow[j];
            }
        std::vector<unsigned char> hbt(K * N * es); /* the same weight as [N, K] */
        for (int64_t kk = 0; kk < K; kk++)
            for (int64_t j = 0; j < N; j++) memcpy(&hbt[(j * K + kk) * es], &hb[(kk * N + j) * es], es);
        unsigned char *da, *db, *dbt, *dbias, *dout;
        CHECK_CUDA(cudaMalloc(&da, M * K * es + off));
        CHECK_CUDA(cudaMalloc(&db, K * N * es + off));
        CHECK_CUDA(cudaMalloc(&dbt, K * N * es + off));
        CHECK_CUDA(cudaMalloc(&dbias, N * es + off));
        CHECK_CUDA(cudaMalloc(&dout, M * N * es + off));
        CHECK_CUDA(cudaMemcpy(da + off, ha.data(), M * K * es, cudaMemcpyHostToDevice));
        CHECK_CUDA(cudaMemcpy(db + off, hb.data(), K * N * es, cudaMemcpyHostToDevice));
        CHECK_CUDA(cudaMemcpy(dbt + off, hbt.data(), K * N * es, cudaMemcpyHostToDevice));
        CHECK_CUDA(cudaMemcpy(dbias + off, hbias.data(), N * es, cudaMemcpyHostToDevice));

        /* simt (f32 only), tensor core; each with b [K, N], b [N, K]; then warpgroup (f16 / bf16, b [N, K] only)
         * with its tile chosen by shape and with each tile forced */
        for (int variant = 0; variant < 8; variant++) {
            const int kernel = variant < 4 ? variant / 2 : 2, transposed = variant < 4 ? variant % 2 : 1;
            const int tile = variant < 4 ? 0 : variant - 4;
            if (kernel == 0 && dtype != CUDA_DTYPE_F32) continue;
            if (kernel == 2 && dtype == CUDA_DTYPE_F32) continue;
            static const char *const names[2][2] = {{"simt", "simt b^T"}, {"tensor_core", "tensor_core b^T"}};
            static const char *const warpgroup_names[4] = {"warpgroup b^T", "warpgroup/1 b^T", "warpgroup/2 b^T", "warpgroup/3 b^T"};
            const char *kname = kernel == 2 ? warpgroup_names[tile] : names[kernel][transposed];
            if (kernel == 2 && !matmul_warpgroup_applies(compute_capability, M, K, N, dtype)) {
                printf("skip  %-15s %-4s %5lld %5lld %5lld  (needs an sm_90 device and K a multiple of 8)\n", kname,
                       dtype_names[dtype], (long long)M, (long long)K, (long long)N);
                continue;
            }
            if (kernel == 2 && sc.misalign) { /* TMA needs 16-byte aligned operands: refused, nothing launched */
                CHECK_CUDA(cudaMemset(dout, 0xFF, M * N * es + off));
                cudaError_t err = matmul_warpgroup_forward_tile(dout + off, da + off, dbt + off, dbias + off, M, K, N, dtype,
                                                                CUDA_EPILOGUE_BIAS, tile, 0);
                cases++;
                const bool ok = err == cudaErrorNotSupported && cudaGetLastError() == cudaSuccess;
                if (!ok) failures++;
                printf("%-4s  %-15s %-4s %5lld %5lld %5lld  misaligned pointers: %s (want cudaErrorNotSupported)\n",
                       ok ? "ok" : "FAIL", kname, dtype_names[dtype], (long long)M, (long long)K, (long long)N,
                       cudaGetErrorName(err));
                continue;
            }
            unsigned char *weight = transposed ? dbt : db;
            const char *dname = kernel == 1 && dtype == CUDA_DTYPE_F32 ? "tf32" : dtype_names[dtype];
            const double tol = kernel == 0 ? 1e-5 : dtype == CUDA_DTYPE_F32 ? 1e-3 : 1e-2;
            for (int epilogue = CUDA_EPILOGUE_NONE; epilogue <= CUDA_EPILOGUE_BIAS_GELU_TANH; epilogue++) {
                /* No bias pointer at all for "none": the kernel must not read it. */
                const void *bias_ptr = epilogue == CUDA_EPILOGUE_NONE ? NULL : dbias + off;
                CHECK_CUDA(cudaMemset(dout, 0xFF, M * N * es + off));
                cudaError_t err;
                if (kernel == 0)
                    err = matmul_simt_forward((float *)(dout + off), (const float *)(da + off), (const float *)(weight + off),
                                              (const float *)bias_ptr, M, K, N, transposed, epilogue, 0);
                else if (kernel == 2)
                    err = matmul_warpgroup_forward_tile(dout + off, da + off, weight + off, bias_ptr, M, K, N, dtype, epilogue,
                                                        tile, 0);
                else
                    err = matmul_tensor_core_forward(dout + off, da + off, weight + off, bias_ptr, M, K, N, transposed, dtype,
                                                     epilogue, 0);
                if (err == cudaSuccess) err = cudaDeviceSynchronize();
                cases++;
                if (err != cudaSuccess) {
                    printf("FAIL  %-15s %-4s %-14s %5lld %5lld %5lld  launch error: %s\n", kname, dname,
                           epilogue_names[epilogue], (long long)M, (long long)K, (long long)N, cudaGetErrorString(err));
                    failures++;
                    exit(1); /* a device fault poisons the context; nothing later would be meaningful */
                }
                CHECK_CUDA(cudaMemcpy(hout.data(), dout + off, M * N * es, cudaMemcpyDeviceToHost));
                double num = 0, den = 0;
                for (int64_t i = 0; i < M; i++)
                    for (int64_t j = 0; j < N; j++) {
                        double ref = reference_epilogue(product[i * N + j], fbias[j], epilogue);
                        double d = load_as(hout.data(), i * N + j, dtype) - ref;
                        num += d * d;
                        den += ref * ref;
                    }
                double rel = sqrt(num / (den > 0 ? den : 1e-300));
                bool ok = rel <= tol; /* false for NaN (an unwritten or non-finite output) */
                if (!ok) failures++;
                printf("%-4s  %-15s %-4s %-14s %5lld %5lld %5lld  %.3e (tol %.0e)%s\n", ok ? "ok" : "FAIL", kname, dname,
                       epilogue_names[epilogue], (long long)M, (long long)K, (long long)N, rel, tol,
                       sc.misalign ? "  [pointers misaligned by 1 element]" : "");
            }
        }
        CHECK_CUDA(cudaFree(da));
        CHECK_CUDA(cudaFree(db));
        CHECK_CUDA(cudaFree(dbt));
        CHECK_CUDA(cudaFree(dbias));
        CHECK_CUDA(cudaFree(dout));
    }
    fflush(stdout);
}


static void time_kernels() {
    /* M=128 K=4096 N=14336: the Hopper kernel with exact GELU measured 0.0532 ms in one bench run and 0.0697
     * in another (bench/results/h100-2026-11-27-session6); timed here to see which it is. */
    const int64_t sizes[][3] = {{4096, 4096, 4096}, {2048, 768, 3072}, {8192, 768, 3072}, {128, 4096, 14336},
                                {512, 4096, 14336}, {8192, 4096, 14336}};
    printf("\nTiming: epilogue bias (warpgroup: also bias + exact GELU, \"+erf\"), cudaEvent per launch, 3 warm-ups, median of 10; TFLOP/s = 2*M*N*K / time.\n");
    printf("(reference points on H100 SXM: cuBLAS fp32 SGEMM ~51 TFLOP/s, cuBLASLt bf16 ~600-700 TFLOP/s dense)\n");
    for (const auto &s : sizes) {
        const int64_t M = s[0], K = s[1], N = s[2];
        /* simt f32, tensor core tf32, f16, bf16; b [K, N], then b [N, K]; then warpgroup f16, bf16 (b [N, K]) */
        /* warpgroup: each tile (1..3) in f16 and bf16, with the bias epilogue and with bias + exact GELU */
        for (int run = 0; run < 20; run++) {
            const int warpgroup = run >= 8, variant = warpgroup ? 2 + run % 2 : run % 4, transposed = warpgroup || run >= 4;
            const int tile = warpgroup ? 1 + (run - 8) / 4 : 0;
            const int epilogue = warpgroup && (run - 8) % 4 >= 2 ? CUDA_EPILOGUE_BIAS_GELU_EXACT : CUDA_EPILOGUE_BIAS;
            const int dtype = variant == 0 ? CUDA_DTYPE_F32 : variant - 1;
            if (warpgroup && !matmul_warpgroup_applies(compute_capability, M, K, N, dtype)) continue;
            const size_t es = dtype_size(dtype);
            void *a, *b, *bias, *out;
            CHECK_CUDA(cudaMalloc(&a, M * K * es));
            CHECK_CUDA(cudaMalloc(&b, K * N * es));
            CHECK_CUDA(cudaMalloc(&bias, N * es));
            CHECK_CUDA(cudaMalloc(&out, M * N * es));
            fill_uniform(a, M * K, dtype, 1);
            fill_uniform(b, K * N, dtype, 2);
            fill_uniform(bias, N, dtype, 3);
            cudaEvent_t start, stop;
            CHECK_CUDA(cudaEventCreate(&start));
            CHECK_CUDA(cudaEventCreate(&stop));
            auto launch = [&]() {
                if (warpgroup) return matmul_warpgroup_forward_tile(out, a, b, bias, M, K, N, dtype, epilogue, tile, 0);
                return variant == 0 ? matmul_simt_forward((float *)out, (const float *)a, (const float *)b,
                                                          (const float *)bias, M, K, N, transposed, CUDA_EPILOGUE_BIAS, 0)
                                    : matmul_tensor_core_forward(out, a, b, bias, M, K, N, transposed, dtype,
                                                                 CUDA_EPILOGUE_BIAS, 0);
            };
            for (int i = 0; i < 3; i++) CHECK_CUDA(launch());
            std::vector<float> ms(10);
            for (int i = 0; i < 10; i++) {
                CHECK_CUDA(cudaEventRecord(start));
                CHECK_CUDA(launch());
                CHECK_CUDA(cudaEventRecord(stop));
                CHECK_CUDA(cudaEventSynchronize(stop));
                CHECK_CUDA(cudaEventElapsedTime(&ms[i], start, stop));
            }
            std::sort(ms.begin(), ms.end());
            float med = 0.5f * (ms[4] + ms[5]);
            double tflops = 2.0 * M * N * K / (med * 1e-3) / 1e12;
            char kernel_name[32];
            snprintf(kernel_name, sizeof kernel_name, "warpgroup/%d%s", tile, epilogue == CUDA_EPILOGUE_BIAS ? "" : "+erf");
            printf("time  %-11s %-4s %-6s M=%-5lld K=%-5lld N=%-5lld  %9.3f ms  %7.1f TFLOP/s\n",
                   warpgroup ? kernel_name : variant == 0 ? "simt" : "tensor_core", variant == 0 ? "f32" : variant == 1 ? "tf32" : dtype_names[dtype],
                   transposed ? "b^T" : "b",
                   (long long)M, (long long)K, (long long)N, med, tflops);
            fflush(stdout);
            CHECK_CUDA(cudaEventDestroy(start));
            CHECK_CUDA(cudaEventDestroy(stop));
            CHECK_CUDA(cudaFree(a));
            CHECK_CUDA(cudaFree(b));
            CHECK_CUDA(cudaFree(bias));
            CHECK_CUDA(cudaFree(out));
        }
    }
}

int main(int argc, char **argv) {
    check_options options;
    int exit_code = check_start(argc, argv, &options);
    if (exit_code >= 0) return exit_code;
    const bool do_check = options.check, do_time = options.time, quick = options.quick;
    compute_capability = options.device.major * 10 + options.device.minor;
    if (options.device.major < 8) {
        printf("skipped: no CUDA device (sm_%d%d: mma.sync TF32/bf16 kernels need sm_80 or newer)\n", options.device.major,
               options.device.minor);
        return CHECK_SKIPPED;
    }
    if (do_check) {
        printf("Correctness: relative L2 error vs a float64 CPU reference; tolerances: simt f32 1e-5, tf32 1e-3, f16/bf16 1e-2.\n");
        printf("status kernel     dtype epilogue           M     K     N  error\n");
        const size_case sizes[] = {{1, 1, 1, 0},      {7, 13, 31, 0},     {31, 1000, 7, 0},     {33, 4097, 65, 0},
                                   {1000, 31, 1000, 0}, {257, 1000, 4097, 0}, {128, 128, 128, 0}, {4097, 64, 33, 0},
                                   {67, 96, 136, 1}, {300, 136, 257, 0}, {260, 64, 520, 0},
                                   /* more tiles than SMs (132 on the H100): the warpgroup kernel's blocks take
                                    * 1-2 tiles of 128 x 256 and 2-3 of 128 x 128 (the second shape: also under
                                    * compute-sanitizer's --quick); at 4096 x 4096, 3-4 and 7-8, so both
                                    * ping-pong consumers wait on both parities of each other's barrier */
                                   {2100, 136, 2100, 0}, {1100, 16, 2000, 0}, {4096, 8, 4096, 0}};
        for (const auto &sc : sizes)
            if (!quick || sc.m * sc.k * sc.n <= 40000000) check_size(sc);
        printf("%d of %d cases ok\n", cases - failures, cases);
    }
    if (do_time && failures == 0) time_kernels();
    return check_finish(cases, failures);
}
