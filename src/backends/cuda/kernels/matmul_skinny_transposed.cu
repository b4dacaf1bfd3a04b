/*
 * matmul_skinny_transposed.cu — out[M, N] = epilogue(a[M, K] x b^T + bias[N]) for M <= 4 with the
 * weight b as [N, K] (PyTorch's nn.Linear layout), f32 (exact FFMA) / f16 / bf16, f32 accumulation.
 * (M = 5..16 on an [N, K] weight: matmul_skinny_transposed_split.cu; matmul_skinny_forward chooses.)
 *
 * As in matmul_skinny.cu the time is reading b once, but here each output column is a dot product of
 * contiguous rows — a[m, :] and b[n, :] — so no split-K workspace or second kernel is needed:
 *  - A warp owns 2 consecutive rows of b (output columns n). Its lanes walk K together, lane l taking
 *    16-byte chunks l, l + 32, ...: every load instruction of the warp reads 512 contiguous bytes of a
 *    row. A step is 4 chunks of each of the 2 rows (8 16-byte loads a lane, 4 KB a warp), streamed past
 *    L1 (ld.global.nc.L1::no_allocate), and the next step's loads go out before this step's FMAs (two
 *    register sets: up to 16 loads a lane in flight).
 *  - A programmatic dependent launch (programmatic_launch.cuh): the first step's weight loads go out
 *    before the wait for the kernel before (when the weight is settled), a's loads and every store after.
 *    On the H100, bf16 M=1 K=4096 N=14336 in batches of 20 launches (bench/results/
 *    h100-2026-11-27-session10/pdl-probe/probe3.txt, medians of three rounds): 0.0436 ms a launch with
 *    one register set and plain launches (f997c48), 0.0403 with both (2.91 TB/s; 0.0418 when the weight
 *    is not settled); f32 M=1 0.0828 -> 0.0806. Results bit-identical. Two register sets take 94 registers
 *    (bf16 M=1; 56 before): 5 blocks an SM, which still keeps ~160 KB an SM in flight.
 *  - a is small and read by every warp, so it comes through L1 (__ldg): one 16-byte load of a row of a
 *    serves both rows of b, so L1 carries M / 2 times the weight's bytes of a. That is what limits the
 *    design as M grows (bf16 M=16 K=4096 N=14336: 16% of HBM on the H100, against 22% for the lane-per-
 *    row kernel, which reads a as shared-memory broadcasts); at M = 1 it is the faster one (75% of HBM
 *    against 51%: whole 512-byte rows per instruction, no staging of a, no second kernel).
 *  - Each lane keeps 2 x M f32 partial sums; at the end a butterfly of shuffles sums them over the warp
 *    (5 x 2 x M shuffles, against K / 256 loads per row per lane), and lanes write the results, bias +
 *    GELU applied, spread over the lanes.
 * When K is not a multiple of the vector width or a pointer is misaligned (rows not 16-byte aligned),
 * the same kernel loads element by element (VECTOR false), zero-filling past K.
 */
#include <climits>
#include <cstdint>

#include "cuda_kernels.h"
#include "matmul_epilogue.cuh"     /* apply_epilogue, to_float, from_float */
#include "programmatic_launch.cuh" /* dependent_launch_allow, dependent_wait, launch_programmatic */
#include "vector_loads.cuh"        /* load_streaming, unpack_vector */

#define TRANSPOSED_ROWS 2    /* rows of b (output columns) per warp */
#define TRANSPOSED_LOADS 8   /* 16-byte loads of b in flight per lane per step */
#define TRANSPOSED_THREADS 128

/* Chunk `chunk` (WIDTH elements from chunk * WIDTH) of a row of K elements, as 16 raw bytes; zeros past
 * K. STREAMING: b, read once (no L1 allocation); otherwise a, kept in L1 for the other warps. */
template <typename T, bool VECTOR, bool STREAMING>
__device__ __forceinline__ uint4 load_chunk(const T *row, int chunk, int K) {
    constexpr int WIDTH = 16 / sizeof(T);
    const int first = chunk * WIDTH;
    if (first >= K) return make_uint4(0, 0, 0, 0);
    if constexpr (!VECTOR) return load_elements_packed(row, first, K);
    else if constexpr (STREAMING) return load_streaming(row + first);
    else return __ldg(reinterpret_cast<const uint4 *>(row + first));
}

template <typename T, int M_BUCKET, bool VECTOR>
__global__ void __launch_bounds__(TRANSPOSED_THREADS)
    matmul_skinny_transposed_kernel(T *out, const T *a, const T *b, const T *bias, int M, int K, int N, int epilogue,
                                    int weight_settled) {
    constexpr int WIDTH = 16 / sizeof(T);
    constexpr int ROWS = TRANSPOSED_ROWS, UNROLL = TRANSPOSED_LOADS / ROWS, STEP = 32 * UNROLL;
    dependent_launch_allow(); /* the next node's kernel may start streaming its weight */
    const int lane = threadIdx.x & 31;
    const int64_t warp = ((int64_t)blockIdx.x * blockDim.x + threadIdx.x) >> 5;
    const int64_t row0 = warp * ROWS;
    if (row0 >= N) return; /* whole warps leave together: the shuffles below see full warps */
    const int chunks = (K + WIDTH - 1) / WIDTH;
    const T *b_rows[ROWS];
#pragma unroll
    for (int r = 0; r < ROWS; r++) b_rows[r] = b + (row0 + r < N ? row0 + r : row0) * (int64_t)K;

    float acc[ROWS][M_BUCKET];
#pragma unroll
    for (int r = 0; r < ROWS; r++)
#pragma unroll
        for (int m = 0; m < M_BUCKET; m++) acc[r][m] = 0.f;

    /* Step `base` (uniform over the warp): chunks base + lane + 32 u of each row; past K zeros. */
    auto load_step = [&](int base, uint4 (&w)[ROWS][UNROLL]) {
#pragma unroll
        for (int r = 0; r < ROWS; r++)
#pragma unroll
            for (int u = 0; u < UNROLL; u++) w[r][u] = load_chunk<T, VECTOR, true>(b_rows[r], base + lane + 32 * u, K);
    };
    auto multiply_step = [&](int base, const uint4 (&w)[ROWS][UNROLL]) {
#pragma unroll
        for (int u = 0; u < UNROLL; u++) {
            float wf[ROWS][WIDTH];
#pragma unroll
            for (int r = 0; r < ROWS; r++) unpack_vector<T>(w[r][u], wf[r]);
#pragma unroll
            for (int m = 0; m < M_BUCKET; m++) {
                if (m >= M) break; /* uniform: M is the same for every thread */
                float af[WIDTH];
                unpack_vector<T>(load_chunk<T, VECTOR, false>(a + (int64_t)m * K, base + lane + 32 * u, K), af);
#pragma unroll
                for (int r = 0; r < ROWS; r++)
#pragma unroll
                    for (int e = 0; e < WIDTH; e++) acc[r][m] = fmaf(af[e], wf[r][e], acc[r][m]);
            }
        }
    };
    /* The next step's loads go out before this step's FMAs (two register sets), so a lane keeps up to 16
     * loads in flight. The first step's weight loads go out before the wait when no kernel in flight writes
     * the weight (programmatic_launch.cuh): they overlap the end of the kernel before. */
    uint4 current[ROWS][UNROLL], next[ROWS][UNROLL];
    load_weight_around_wait(weight_settled, [&] { load_step(0, current); });
    for (int base = 0; base < chunks; base += STEP) {
        const bool more = base + STEP < chunks;
        if (more) load_step(base + STEP, next);
        multiply_step(base, current);
        if (!more) break;
#pragma unroll
        for (int r = 0; r < ROWS; r++)
#pragma unroll
            for (int u = 0; u < UNROLL; u++) current[r][u] = next[r][u];
    }

    /* Butterfly sums: afterwards every lane holds every total. Lane (r * M_BUCKET + m) % 32 stores it. */
#pragma unroll
    for (int r = 0; r < ROWS; r++) {
        const int64_t n = row0 + r;
        const float bias_value = (epilogue != CUDA_EPILOGUE_NONE && n < N) ? to_float(bias[n]) : 0.f;
#pragma unroll
        for (int m = 0; m < M_BUCKET; m++) {
            float sum = acc[r][m];
#pragma unroll
            for (int offset = 16; offset >= 1; offset /= 2) sum += __shfl_xor_sync(0xffffffffu, sum, offset);
            if (m < M && n < N && lane == (r * M_BUCKET + m) % 32)
                out[(int64_t)m * N + n] = from_float<T>(apply_epilogue(sum, bias_value, epilogue));
        }
    }
}

template <typename T, int M_BUCKET>
static cudaError_t launch_transposed(void *out, const void *a, const void *b, const void *bias, int m, int k, int n,
                                     int epilogue, int weight_settled, cudaStream_t stream) {
    constexpr int WIDTH = 16 / sizeof(T);
    const int64_t warps = ((int64_t)n + TRANSPOSED_ROWS - 1) / TRANSPOSED_ROWS;
    const int64_t blocks = (warps * 32 + TRANSPOSED_THREADS - 1) / TRANSPOSED_THREADS;
    if (blocks > INT_MAX) return cudaErrorInvalidValue;
    const bool vector = k % WIDTH == 0 && ((uintptr_t)a & 15) == 0 && ((uintptr_t)b & 15) == 0;
    auto kernel = vector ? matmul_skinny_transposed_kernel<T, M_BUCKET, true> : matmul_skinny_transposed_kernel<T, M_BUCKET, false>;
    return launch_programmatic(kernel, dim3((unsigned)blocks), dim3(TRANSPOSED_THREADS), stream, (T *)out, (const T *)a,
                               (const T *)b, (const T *)bias, m, k, n, epilogue, weight_settled);
}

template <typename T>
static cudaError_t launch_transposed_dtype(void *out, const void *a, const void *b, const void *bias, int m, int k, int n,
                                           int epilogue, int weight_settled, cudaStream_t stream) {
    if (m <= 1) return launch_transposed<T, 1>(out, a, b, bias, m, k, n, epilogue, weight_settled, stream);
    if (m <= 2) return launch_transposed<T, 2>(out, a, b, bias, m, k, n, epilogue, weight_settled, stream);
    return launch_transposed<T, 4>(out, a, b, bias, m, k, n, epilogue, weight_settled, stream);
}

extern "C" cudaError_t matmul_skinny_transposed_forward(void *out, const void *a, const void *b, const void *bias,
                                                        int64_t m, int64_t k, int64_t n, int dtype, int epilogue,
                                                        int weight_settled, cudaStream_t stream) {
    if (m < 1 || m > 4 || k < 1 || n < 1 || k > INT_MAX / 2 || n > INT_MAX / 2 || !out || !a || !b ||
        epilogue < CUDA_EPILOGUE_NONE || epilogue > CUDA_EPILOGUE_BIAS_GELU_TANH || (epilogue != CUDA_EPILOGUE_NONE && !bias))
        return cudaErrorInvalidValue;
    const int mi = (int)m, ki = (int)k, ni = (int)n;
    switch (dtype) {
    case CUDA_DTYPE_F32: return launch_transposed_dtype<float>(out, a, b, bias, mi, ki, ni, epilogue, weight_settled, stream);
    case CUDA_DTYPE_F16: return launch_transposed_dtype<__half>(out, a, b, bias, mi, ki, ni, epilogue, weight_settled, stream);
    case CUDA_DTYPE_BF16: return launch_transposed_dtype<__nv_bfloat16>(out, a, b, bias, mi, ki, ni, epilogue, weight_settled, stream);
    default: return cudaErrorInvalidValue;
    }
}
