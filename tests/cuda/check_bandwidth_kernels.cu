/*
 * check_bandwidth_kernels.cu — correctness and speed of the memory-bound kernels
 * (src/backends/cuda/kernels/elementwise.cu and the skinny matmuls, matmul_skinny*.cu), standalone: links
 * only cudart.
 *
 * Build (from the repository root):
 *   nvcc -O3 -std=c++17 -gencode arch=compute_90,code=sm_90 -Isrc/backends/cuda/kernels \
 *        tests/cuda/check_bandwidth_kernels.cu src/backends/cuda/kernels/elementwise.cu \
 *        src/backends/cuda/kernels/matmul_skinny.cu src/backends/cuda/kernels/matmul_skinny_transposed.cu \
 *        src/backends/cuda/kernels/matmul_skinny_transposed_split.cu \
 *        src/backends/cuda/kernels/matmul_skinny_tensor_core.cu -lcudart -o check_bandwidth_kernels
 * Run: ./check_bandwidth_kernels [--check-only | --time-only] [--quick]
 *   Under compute-sanitizer (memcheck, racecheck) use --check-only --quick: no timing, and no case
 *   larger than ~4M elements (every kernel instance, boundary and alignment path is still exercised).
 *
 * Correctness: every launcher x dtype x GELU form / epilogue x size against a float64 CPU reference
 * computed from the very same (dtype-rounded) inputs, fresh uniform [-1, 1] values (never 0) for each
 * case; the output buffer is filled with 0xFF bytes (NaN in every dtype) before every launch, so an
 * element the kernel fails to write shows up as a NaN error. "misaligned" cases offset every pointer by
 * one element from the 256-byte cudaMalloc alignment (the launchers then take their scalar paths).
 * One line per case:
 *   ok|FAIL  kernel  dtype  variant  sizes  rel_l2_error (tolerance)
 * with rel_l2_error = ||out - ref|| / ||ref||; tolerances f32 1e-5, TF32 1e-3 (the tensor-core skinny
 * kernel "tc^T", whose f32 is TF32), f16/bf16 1e-2; "tc64^T" is the same kernel for exact f32 on the FP64
 * tensor cores, held to f32's 1e-5.
 * Ordering (programmatic_ordering_check.cuh): each skinny launcher right after a kernel that lets it start
 * at once and writes its a (and an unsettled b) ~0.5 ms later, over NaN: lines "late a" / "late a and b".
 * Timing (cudaEvent per launch, 5 warm-ups, median of 20): elementwise ops on 100M f32 elements
 * against cudaMemcpyAsync device-to-device of one such tensor (GB/s count bytes read + written, the
 * goal is >= 90% of the copy), and the skinny matmul at decoding shapes, with L2 flushed before each
 * launch (weights are read once per token; f32 also as TF32 "tc^T" and exact on the FP64 tensor cores
 * "tc64^T"), in ms and GB/s of weight bytes (H100 SXM HBM3 peak is
 * 3.35 TB/s; the goal for bf16 M=1 K=4096 N=14336 is <= 0.044 ms, i.e. >= 85% of peak).
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
#include <vector>

#include "check_harness.h"
#include "cuda_kernels.h"


static const char *dtype_names[] = {"f32", "f16", "bf16"};
static const char *epilogue_names[] = {"none", "bias", "bias+gelu_erf", "bias+gelu_tanh"};
static size_t dtype_size(int dtype) { return dtype == CUDA_DTYPE_F32 ? 4 : 2; }
static double tolerance(int dtype) { return dtype == CUDA_DTYPE_F32 ? 1e-5 : 1e-2; }

static uint64_t rng_state = 0x9E3779B97F4A7C15ull;
static float uniform_pm1_nonzero() { /* xorshift64*, 24 random bits -> [-1, 1) without 0 */
    for (;;) {
        rng_state ^= rng_state >> 12;
        rng_state ^= rng_state << 25;
        rng_state ^= rng_state >> 27;
        uint64_t r = rng_state * 0x2545F4914F6CDD1Dull;
        float v = (float)((r >> 40) * (2.0 / 16777216.0) - 1.0);
        if (v != 0.f) return v;
    }
}

/* Rounds v to `dtype`, writes its bytes at element i of dst, returns the rounded value. */
static double store_as(void *dst, size_t i, float v, int dtype) {
    if (dtype == CUDA_DTYPE_F32) return ((float *)dst)[i] = v;
    if (dtype == CUDA_DTYPE_F16) return __half2float(((__half *)dst)[i] = __float2half_rn(v));
    return __bfloat162float(((__nv_bfloat16 *)dst)[i] = __float2bfloat16_rn(v));
}
static double load_as(const void *src, size_t i, int dtype) {
    if (dtype == CUDA_DTYPE_F32) return ((const float *)src)[i];
    if (dtype == CUDA_DTYPE_F16) return __half2float(((const __half *)src)[i]);
    return __bfloat162float(((const __nv_bfloat16 *)src)[i]);
}

static double gelu_reference(double x, int form) {
    if (form == CUDA_GELU_EXACT) return 0.5 * x * (1.0 + erf(x / sqrt(2.0)));
    return 0.5 * x * (1.0 + tanh(sqrt(2.0 / M_PI) * (x + 0.044715 * x * x * x)));
}

/* A tensor of `count` random elements on the host (bytes in the dtype, and the rounded values) and on
 * the device at `offset` bytes past a cudaMalloc'ed (256-byte aligned) allocation of exactly that size. */
struct Tensor {
    std::vector<unsigned char> bytes;
    std::vector<double> values;
    unsigned char *allocation = nullptr;
    void *device = nullptr;
    Tensor(int64_t count, int dtype, size_t offset, bool random = true) : bytes(count * dtype_size(dtype)), values(count) {
        if (random)
            for (int64_t i = 0; i < count; i++) values[i] = store_as(bytes.data(), i, uniform_pm1_nonzero(), dtype);
        CHECK_CUDA(cudaMalloc(&allocation, bytes.size() + offset));
        device = allocation + offset;
        CHECK_CUDA(cudaMemcpy(device, bytes.data(), bytes.size(), cudaMemcpyHostToDevice));
    }
    ~Tensor() { cudaFree(allocation); }
    void poison() { CHECK_CUDA(cudaMemset(device, 0xFF, bytes.size())); }
    void upload() { CHECK_CUDA(cudaMemcpy(device, bytes.data(), bytes.size(), cudaMemcpyHostToDevice)); }
    void download() { CHECK_CUDA(cudaMemcpy(bytes.data(), device, bytes.size(), cudaMemcpyDeviceToHost)); }
};

static int failures = 0, cases = 0;

/* Synchronizes after `launch_result`, downloads `out` and compares it with `reference`; prints the line. */
static void report(cudaError_t launch_result, Tensor &out, const std::vector<double> &reference, int dtype,
                   const char *kernel, const char *variant, const char *sizes, bool tf32 = false) {
    const double limit = tf32 && dtype == CUDA_DTYPE_F32 ? 1e-3 : tolerance(dtype);
    cases++;
    cudaError_t err = launch_result == cudaSuccess ? cudaDeviceSynchronize() : launch_result;
    if (err != cudaSuccess) {
        printf("FAIL  %-8s %-4s %-15s %-22s launch error: %s\n", kernel, dtype_names[dtype], variant, sizes,
               cudaGetErrorString(err));
        failures++;
        exit(1); /* a device fault poisons the context; nothing later would be meaningful */
    }
    out.download();
    double num = 0, den = 0;
    for (size_t i = 0; i < reference.size(); i++) {
        double d = load_as(out.bytes.data(), i, dtype) - reference[i];
        num += d * d;
        den += reference[i] * reference[i];
    }
    double rel = sqrt(num / (den > 0 ? den : 1e-300));
    bool ok = rel <= limit; /* false for NaN (an unwritten or non-finite output) */
    if (!ok) failures++;
    printf("%-4s  %-8s %-4s %-15s %-22s %.3e (tol %.0e)\n", ok ? "ok" : "FAIL", kernel,
           tf32 && dtype == CUDA_DTYPE_F32 ? "tf32" : dtype_names[dtype], variant, sizes, rel, limit);
    fflush(stdout);
}

static void check_elementwise(int64_t n, int dtype, bool misaligned) {
    const size_t offset = misaligned ? dtype_size(dtype) : 0;
    char sizes[64];
    snprintf(sizes, sizeof sizes, "n=%lld%s", (long long)n, misaligned ? " misaligned" : "");
    Tensor a(n, dtype, offset), b(n, dtype, offset), out(n, dtype, offset, false);
    std::vector<double> reference(n);
    for (int64_t i = 0; i < n; i++) reference[i] = a.values[i] + b.values[i];
    out.poison();
    report(add_forward(out.device, a.device, b.device, n, dtype, 0), out, reference, dtype, "add", "", sizes);
    for (int form = CUDA_GELU_EXACT; form <= CUDA_GELU_TANH; form++) {
        const char *name = form == CUDA_GELU_EXACT ? "erf" : "tanh";
        for (int64_t i = 0; i < n; i++) reference[i] = gelu_reference(a.values[i], form);
        out.poison();
        report(gelu_forward(out.device, a.device, n, form, dtype, 0), out, reference, dtype, "gelu", name, sizes);
        /* In place, as the backend runs it after cuBLASLt: out = gelu(out). */
        CHECK_CUDA(cudaMemcpy(out.device, a.device, a.bytes.size(), cudaMemcpyDeviceToDevice));
        char in_place[32];
        snprintf(in_place, sizeof in_place, "%s in-place", name);
        report(gelu_forward(out.device, out.device, n, form, dtype, 0), out, reference, dtype, "gelu", in_place, sizes);
    }
}

static void check_bias_add(int64_t rows, int64_t columns, int dtype, bool misaligned) {
    const size_t offset = misaligned ? dtype_size(dtype) : 0;
    char sizes[64];
    snprintf(sizes, sizeof sizes, "%lldx%lld%s", (long long)rows, (long long)columns, misaligned ? " misaligned" : "");
    Tensor a(rows * columns, dtype, offset), bias(columns, dtype, offset), out(rows * columns, dtype, offset, false);
    std::vector<double> reference(rows * columns);
    for (int64_t r = 0; r < rows; r++)
        for (int64_t c = 0; c < columns; c++) reference[r * columns + c] = a.values[r * columns + c] + bias.values[c];
    out.poison();
    report(bias_add_forward(out.device, a.device, bias.device, rows, columns, dtype, 0), out, reference, dtype,
           "bias_add", "", sizes);
}

/* b_transposed (K * N elements) gets b's [K, N] weight as [N, K], for the kernels of that layout; uploaded. */
static void store_transposed(const Tensor &b, int64_t K, int64_t N, int dtype, Tensor &b_transposed) {
    const size_t es = dtype_size(dtype);
    for (int64_t k = 0; k < K; k++)
        for (int64_t j = 0; j < N; j++) memcpy(&b_transposed.bytes[(j * K + k) * es], &b.bytes[(k * N + j) * es], es);
    b_transposed.upload();
}

/* a [M, K] times b [K, N] in float64. */
static std::vector<double> reference_product(const Tensor &a, const Tensor &b, int64_t M, int64_t K, int64_t N) {
    std::vector<double> product(M * N, 0.0);
    for (int64_t i = 0; i < M; i++) /* i-k-j order: the inner loop streams rows of b and product */
        for (int64_t k = 0; k < K; k++) {
            const double av = a.values[i * K + k], *brow = &b.values[k * N];
            double *prow = &product[i * N];
            for (int64_t j = 0; j < N; j++) prow[j] += av * brow[j];
        }
    return product;
}

/* A workspace large enough for every skinny launcher at (M, K, N), both layouts (0: none needed). */
static size_t skinny_workspace_bytes(int64_t M, int64_t K, int64_t N) {
    return std::max({matmul_skinny_workspace_bytes(M, K, N, 0), matmul_skinny_workspace_bytes(M, K, N, 1),
                     matmul_skinny_transposed_split_workspace_bytes(M, K, N),
                     matmul_skinny_tensor_core_workspace_bytes(M, K, N)});
}

/* Every M and epilogue for one (K, N, dtype): b and bias are shared by the M values. transposed_only: only
 * the [N, K] weight (matmul_skinny_forward with b_transposed). */
static void check_skinny(int64_t K, int64_t N, int dtype, bool misaligned, const std::vector<int64_t> &ms,
                         bool transposed_only = false) {
    const size_t offset = misaligned ? dtype_size(dtype) : 0;
    Tensor b(K * N, dtype, offset), bias(N, dtype, offset), b_transposed(K * N, dtype, offset, false);
    store_transposed(b, K, N, dtype, b_transposed);
    for (int64_t M : ms) {
        Tensor a(M * K, dtype, offset), out(M * N, dtype, offset, false);
        const std::vector<double> product = reference_product(a, b, M, K, N);
        std::vector<double> reference(M * N);
        /* Also enough for the split kernel launched directly at M <= 4 below. */
        const size_t workspace_bytes = skinny_workspace_bytes(M, K, N);
        void *workspace = nullptr;
        if (workspace_bytes) CHECK_CUDA(cudaMalloc(&workspace, workspace_bytes));
        char sizes[80];
        snprintf(sizes, sizeof sizes, "M=%lld K=%lld N=%lld%s", (long long)M, (long long)K, (long long)N,
                 misaligned ? " misaligned" : "");
        for (int epilogue = CUDA_EPILOGUE_NONE; epilogue <= CUDA_EPILOGUE_BIAS_GELU_TANH; epilogue++) {
            for (int64_t i = 0; i < M * N; i++) {
                double x = product[i];
                if (epilogue != CUDA_EPILOGUE_NONE) x += bias.values[i % N];
                if (epilogue == CUDA_EPILOGUE_BIAS_GELU_EXACT) x = gelu_reference(x, CUDA_GELU_EXACT);
                if (epilogue == CUDA_EPILOGUE_BIAS_GELU_TANH) x = gelu_reference(x, CUDA_GELU_TANH);
                reference[i] = x;
            }
            /* No bias pointer at all for "none": the kernels must not read it. */
            const void *bias_pointer = epilogue == CUDA_EPILOGUE_NONE ? nullptr : bias.device;
            /* The weight's first loads before the programmatic wait (1) or after it (0): both paths, by epilogue.
             * Every input here was copied synchronously, so either is safe. */
            const int settled = epilogue & 1;
            if (!transposed_only) {
                out.poison();
                if (workspace) CHECK_CUDA(cudaMemset(workspace, 0xFF, workspace_bytes)); /* stale partials would show */
                report(matmul_skinny_forward(out.device, a.device, b.device, bias_pointer, M, K, N, 0, dtype, epilogue,
                                             workspace, settled, 0),
                       out, reference, dtype, "skinny", epilogue_names[epilogue], sizes);
            }
            out.poison();
            if (workspace) CHECK_CUDA(cudaMemset(workspace, 0xFF, workspace_bytes));
            report(matmul_skinny_forward(out.device, a.device, b_transposed.device, bias_pointer, M, K, N, 1, dtype, epilogue,
                                         workspace, settled, 0),
                   out, reference, dtype, "skinny^T", epilogue_names[epilogue], sizes);
            /* the tensor-core kernel (matmul_skinny_tensor_core.cu): f32 as TF32 */
            out.poison();
            if (workspace) CHECK_CUDA(cudaMemset(workspace, 0xFF, workspace_bytes));
            report(matmul_skinny_tensor_core_forward(out.device, a.device, b_transposed.device, bias_pointer, M, K, N, dtype,
                                                     epilogue, workspace, settled, 0),
                   out, reference, dtype, "tc^T", epilogue_names[epilogue], sizes, true);
            if (dtype == CUDA_DTYPE_F32) { /* exact f32 on the FP64 tensor cores: f32's tolerance */
                out.poison();
                if (workspace) CHECK_CUDA(cudaMemset(workspace, 0xFF, workspace_bytes));
                report(matmul_skinny_tensor_core_exact_forward((float *)out.device, (const float *)a.device,
                                                               (const float *)b_transposed.device, (const float *)bias_pointer,
                                                               M, K, N, epilogue, workspace, settled, 0),
                       out, reference, dtype, "tc64^T", epilogue_names[epilogue], sizes);
            }
            if (M <= 4) { /* the shuffle kernel on its own (matmul_skinny_forward picks it for M <= 4) */
                out.poison();
                report(matmul_skinny_transposed_forward(out.device, a.device, b_transposed.device, bias_pointer, M, K, N,
                                                        dtype, epilogue, settled, 0),
                       out, reference, dtype, "shuffle^T", epilogue_names[epilogue], sizes);
                /* and the split kernel (M 5..16 in matmul_skinny_forward), which takes any M 1..16 */
                out.poison();
                if (workspace) CHECK_CUDA(cudaMemset(workspace, 0xFF, workspace_bytes));
                report(matmul_skinny_transposed_split_forward(out.device, a.device, b_transposed.device, bias_pointer, M,
                                                              K, N, dtype, epilogue, workspace, settled, 0),
                       out, reference, dtype, "split^T", epilogue_names[epilogue], sizes);
            }
        }
        if (workspace) CHECK_CUDA(cudaFree(workspace));
    }
}

#include "bandwidth_kernel_timing.cuh" /* time_kernels: after the helpers above, which it uses */
#include "programmatic_ordering_check.cuh" /* check_programmatic_orderings: the same */

int main(int argc, char **argv) {
    check_options options;
    int exit_code = check_start(argc, argv, &options);
    if (exit_code >= 0) return exit_code;
    const bool do_check = options.check, do_time = options.time, quick = options.quick;
    if (do_check) {
        printf("Correctness: relative L2 error vs a float64 CPU reference; tolerances f32 1e-5, f16/bf16 1e-2.\n");
        printf("status kernel  dtype variant        sizes                  error\n");
        for (int dtype = CUDA_DTYPE_F32; dtype <= CUDA_DTYPE_BF16; dtype++) {
            for (int64_t n : {1, 7, 31, 1000, 4097, (1 << 20) + 3, 8 << 20})
                if (!quick || n <= (4 << 20)) check_elementwise(n, dtype, false);
            check_elementwise(4097, dtype, true);
            check_elementwise(1 << 16, dtype, true);
            /* Columns not a multiple of the vector width (scalar path), then multiples (vector path). */
            const int64_t shapes[][2] = {{7, 31}, {1000, 4097}, {3, 1}, {1, 8}, {7, 24}, {1000, 1024}, {33, 4096}};
            for (const auto &s : shapes) check_bias_add(s[0], s[1], dtype, false);
            check_bias_add(33, 4096, dtype, true);
        }
        const std::vector<int64_t> ms = {1, 2, 3, 7, 16};
        /* (K, N): one split and direct output for small K; K split with partial sums otherwise; N % 8 != 0
         * takes the scalar-load path. */
        const int64_t skinny_shapes[][2] = {{1, 1}, {7, 31}, {31, 1000}, {64, 4096}, {1000, 4097}, {768, 3072}, {4096, 14336}};
        for (const auto &s : skinny_shapes)
            for (int dtype = CUDA_DTYPE_F32; dtype <= CUDA_DTYPE_BF16; dtype++)
                if (!quick || s[0] * s[1] <= (4 << 20)) check_skinny(s[0], s[1], dtype, false, ms);
        for (int dtype = CUDA_DTYPE_F32; dtype <= CUDA_DTYPE_BF16; dtype++) check_skinny(768, 3072, dtype, true, {1, 7});
        /* b as [N, K] with M 5..16 (matmul_skinny_transposed_split.cu): every pair of awkward K and N (K not a
         * multiple of the vector width takes the element-by-element path; K = 4097 with small N gives 33
         * splits, more than the reduction's 8 loads at a time), misaligned pointers, then many splits with
         * several tiles per persistent block (K=4097 N=3000: 9 splits, 94 tiles of 32 rows, ~29 blocks per
         * split on a 132-SM H100, so ~3 tiles each; M=16 K=4096 N=14336 above: 13-14). */
        for (int64_t K : {1, 7, 31, 1000, 4097})
            for (int64_t N : {1, 7, 33, 1000, 4097})
                for (int dtype = CUDA_DTYPE_F32; dtype <= CUDA_DTYPE_BF16; dtype++)
                    if (!quick || K * N <= (4 << 20)) check_skinny(K, N, dtype, false, {5, 9, 16}, true);
        for (int dtype = CUDA_DTYPE_F32; dtype <= CUDA_DTYPE_BF16; dtype++) {
            check_skinny(1000, 33, dtype, true, {5, 9, 16}, true);
            check_skinny(4097, 1000, dtype, true, {16}, true);
            if (!quick) check_skinny(4097, 3000, dtype, false, {5, 16}, true);
        }
        /* The skinny kernels start before the kernel before them ends: nothing read too early. */
        check_programmatic_orderings();
        printf("%d of %d cases ok\n", cases - failures, cases);
    }
    if (do_time && failures == 0) time_kernels();
    return check_finish(cases, failures);
}
