/*
 * matmul_skinny.cu — out[M, N] = epilogue(a[M, K] x b[K, N] + bias[N]) for M <= 16 (decoding a few
 * tokens), b row-major [K, N], f32 (exact FFMA) / f16 / bf16 with f32 accumulation.
 *
 * With M this small the arithmetic is at most 16 FMAs per element of b, so the time is the time to read
 * b once: bf16 K=4096, N=14336 is 117 MB, 35 us at the H100's 3.35 TB/s. The design streams b exactly
 * once, 16 bytes per load, from as many SMs and with as many loads in flight as possible:
 *  - A thread owns WIDTH consecutive columns (one 16-byte vector: 4 f32 or 8 f16/bf16) and keeps
 *    M x WIDTH f32 accumulators in registers; a warp covers 32 x WIDTH columns (512 bytes of a row of b).
 *  - A block is GROUPS warps over the same columns; warp g takes rows g*UNROLL.., then every
 *    GROUPS*UNROLL rows, issuing UNROLL 16-byte loads (ld.global.nc.L1::no_allocate: b is read once, so
 *    it should not evict anything from L1) one step ahead of the FMAs that use them (two register
 *    buffers), and its first loads before a is staged. The warps' accumulators are summed through
 *    shared memory at the end (a fixed-order tree, so results are deterministic).
 *  - K is split across gridDim.y blocks so that even N = 3072 (12 column tiles) gives thousands of warps;
 *    each split writes f32 partial sums to the workspace [splits, M, N_padded] and a second small kernel
 *    (matmul_skinny_reduce.cuh) sums the splits in order, adds the bias, applies GELU and rounds to the
 *    output dtype (on sm_90 as a programmatic dependent launch, so its launch overlaps the main kernel).
 *    The main kernel is one too (programmatic_launch.cuh): its first weight loads may go out before the
 *    kernel before it finishes, a is staged after the wait.
 *    With one split (tiny K, or N so wide that the columns alone fill the chip) the main kernel does
 *    all that itself.
 *    bf16 M=1 K=4096 N=14336 on an H100: 448 blocks of 256 threads (56 column tiles x 8 splits of 512
 *    rows), one wave; measured ~43 us main kernel (ncu) and 46-47 us for the call, ~2.5 TB/s.
 *  - a's slice for the block (<= 512 rows x M) is staged in shared memory as f32, [k][m], so the M
 *    values of one row are a broadcast read (a float4 per 4 rows of a).
 * The split count is a function of (m, k, n) only (the column tiles are counted as 256 wide whatever
 * the dtype), so matmul_skinny_workspace_bytes knows the workspace without knowing the dtype.
 * When N is not a multiple of WIDTH (rows of b not 16-byte aligned) or b is misaligned, the same kernel
 * loads each element on its own, with a bounds check per column, packed into the same 16-byte layout.
 * A weight given as [N, K] has its own kernels (matmul_skinny_forward chooses): M <= 4 in
 * matmul_skinny_transposed.cu, M 5..16 in matmul_skinny_transposed_split.cu (its own plan and workspace
 * size, the same reduction kernel, matmul_skinny_reduce.cuh).
 */
#include <climits>
#include <cstdint>
#include <cstring>
#include <type_traits>

#include "cuda_kernels.h"
#include "matmul_epilogue.cuh"      /* apply_epilogue, to_float, from_float */
#include "matmul_skinny_reduce.cuh" /* the split-K reduction kernel and its launch */
#include "programmatic_launch.cuh"  /* dependent_launch_allow, dependent_wait, launch_programmatic */
#include "vector_loads.cuh"         /* load_streaming, unpack_vector */

#define SKINNY_UNROLL 4               /* rows of b one warp has in flight: 4 x 512 bytes */
#define SKINNY_MAX_K_PER_SPLIT 512    /* a's staged slice: 512 rows x 16 x 4 bytes = 32 KB of shared memory */
#define SKINNY_TARGET_WARPS 2048      /* ~16 warps per SM on 132 SMs x 4 KB requested each: ~8 MB in flight,
                                         3x HBM's bandwidth-delay product (3.35 TB/s x ~0.8 us); measured
                                         better than 4096-16384 (fewer, longer splits: less overhead) */
#define SKINNY_PLAN_COLUMN_TILE 256   /* columns per block for 16-bit dtypes (f32 blocks are 128 wide) */

struct SkinnyPlan {
    int m_bucket;    /* M rounded up to 1, 2, 4, 8 or 16: the accumulator rows compiled in */
    int groups;      /* warps per block, each on different rows of the same columns */
    int splits;      /* blocks along K (gridDim.y); 1: no workspace, the main kernel writes out */
    int k_per_split; /* rows of b per split (the last split may have fewer) */
    int64_t n_padded;
};

static SkinnyPlan plan_skinny(int64_t m, int64_t k, int64_t n) {
    SkinnyPlan plan;
    plan.m_bucket = m <= 1 ? 1 : m <= 2 ? 2 : m <= 4 ? 4 : m <= 8 ? 8 : 16;
    /* 8 warps per block while the accumulators are few; 4 for M > 4 (M x 8 accumulators per thread). */
    plan.groups = plan.m_bucket <= 4 ? 8 : 4;
    int64_t tiles = (n + SKINNY_PLAN_COLUMN_TILE - 1) / SKINNY_PLAN_COLUMN_TILE;
    int64_t splits = (SKINNY_TARGET_WARPS + tiles * plan.groups - 1) / (tiles * plan.groups);
    /* At least one step (UNROLL rows) per warp. */
    int64_t max_by_rows = (k + plan.groups * SKINNY_UNROLL - 1) / (plan.groups * SKINNY_UNROLL);
    /* The partial sums (written then read: 8 bytes x splits x M x N) stay under 1/8 of the weight bytes
     * (2 x K x N for 16-bit weights; f32 weights are twice that, so the bound holds for them too). */
    int64_t max_by_traffic = k * 2 / (64 * plan.m_bucket);
    if (splits > max_by_rows) splits = max_by_rows;
    if (splits > max_by_traffic) splits = max_by_traffic;
    int64_t min_by_stage = (k + SKINNY_MAX_K_PER_SPLIT - 1) / SKINNY_MAX_K_PER_SPLIT;
    if (splits < min_by_stage) splits = min_by_stage;
    if (splits < 1) splits = 1;
    /* A multiple of 32 rows, so every split but the last is whole steps of the warps (GROUPS x UNROLL = 32
     * or 16 rows); the bound of 512 is a multiple too, so rounding keeps it. */
    int64_t k_per_split = ((k + splits - 1) / splits + 31) / 32 * 32;
    plan.k_per_split = (int)k_per_split;
    plan.splits = (int)((k + k_per_split - 1) / k_per_split); /* no empty split */
    plan.n_padded = (n + SKINNY_PLAN_COLUMN_TILE - 1) / SKINNY_PLAN_COLUMN_TILE * SKINNY_PLAN_COLUMN_TILE;
    return plan;
}

/* M = 16 keeps 16 x WIDTH accumulators a thread. For f32 (WIDTH 4) the compiler took 129 registers,
 * 3 blocks of 128 threads an SM: ncu measured 18% occupancy, 2.26 waves and 40% of DRAM bandwidth for
 * K=4096 N=14336 on the H100; asking for 4 blocks an SM caps it at 128 registers (0.167 -> 0.141 ms).
 * 16-bit types hold 128 accumulators, and the same cap made them spill (0.134 -> 0.608 ms). */
template <typename T, int M_BUCKET, int GROUPS, bool VECTOR>
__global__ void __launch_bounds__(32 * GROUPS, (M_BUCKET >= 16 && sizeof(T) == 4) ? 4 : 1)
    matmul_skinny_kernel(T *out, float *partial, const T *a, const T *b, const T *bias, int M, int K, int N,
                         int k_per_split, int64_t n_padded, int epilogue, int weight_settled) {
    constexpr int WIDTH = 16 / sizeof(T);
    constexpr int STAGE_FLOATS = SKINNY_MAX_K_PER_SPLIT * M_BUCKET;
    constexpr int REDUCE_FLOATS = (GROUPS / 2) * M_BUCKET * WIDTH * 32;
    __shared__ __align__(16) float shared[STAGE_FLOATS > REDUCE_FLOATS ? STAGE_FLOATS : REDUCE_FLOATS];

    /* Let the reduction kernel or the next node's kernel (programmatic dependent launches) be scheduled now;
     * they wait for us. */
    dependent_launch_allow();
    const int lane = threadIdx.x & 31, group = threadIdx.x >> 5;
    const int column0 = blockIdx.x * 32 * WIDTH + lane * WIDTH;
    const int k_begin = blockIdx.y * k_per_split;
    const int k_count = min(k_per_split, K - k_begin);
    const int k_rounded = (k_count + SKINNY_UNROLL - 1) / SKINNY_UNROLL * SKINNY_UNROLL;

    /* VECTOR: N % WIDTH == 0, so a vector is wholly inside the row or wholly past its end. */
    const bool any_column = column0 < N;
    const T *b_column = b + (int64_t)k_begin * N + column0;
    /* UNROLL rows from `row` on, each as the 16 raw bytes of this thread's WIDTH columns: one vector load
     * (VECTOR), or WIDTH element loads packed into the same layout (then columns past N are zeros).
     * Rows past the slice are zeros (their staged a is zero too). */
    auto load_rows = [&](int row, uint4 (&bits)[SKINNY_UNROLL]) {
#pragma unroll
        for (int u = 0; u < SKINNY_UNROLL; u++) {
            const bool row_ok = row + u < k_count;
            const T *p = b_column + (int64_t)(row + u) * N;
            if constexpr (VECTOR) {
                bits[u] = (row_ok && any_column) ? load_streaming(p) : make_uint4(0, 0, 0, 0);
            } else {
                uint32_t word[4] = {0, 0, 0, 0};
#pragma unroll
                for (int e = 0; e < WIDTH; e++) {
                    if (!row_ok || column0 + e >= N) continue;
                    if constexpr (sizeof(T) == 4)
                        word[e] = __ldg(reinterpret_cast<const unsigned int *>(p) + e);
                    else
                        word[e / 2] |= (uint32_t)__ldg(reinterpret_cast<const unsigned short *>(p) + e) << (16 * (e % 2));
                }
                bits[u] = make_uint4(word[0], word[1], word[2], word[3]);
            }
        }
    };
    /* The first step's loads go out before a is staged, so HBM is busy from the start; before the wait for
     * the kernel before when no kernel in flight writes the weight (programmatic_launch.cuh). */
    const int first_row = group * SKINNY_UNROLL;
    uint4 bits_a[SKINNY_UNROLL], bits_b[SKINNY_UNROLL];
    load_weight_around_wait(weight_settled, [&] {
        if (first_row < k_rounded) load_rows(first_row, bits_a);
    });

    /* Stage a[:, k_begin .. k_begin + k_count) as f32 [k][m]; rows up to k_rounded and m >= M are
     * zeros, so the main loop needs no bounds checks on a. Global reads run along k (coalesced). */
    float *stage = shared;
    for (int i = threadIdx.x; i < M_BUCKET * k_rounded; i += blockDim.x) {
        int m = i / k_rounded, kk = i - m * k_rounded;
        stage[kk * M_BUCKET + m] = (m < M && kk < k_count) ? to_float(a[(int64_t)m * K + k_begin + kk]) : 0.f;
    }
    __syncthreads();

    float acc[M_BUCKET][WIDTH];
#pragma unroll
    for (int m = 0; m < M_BUCKET; m++)
#pragma unroll
        for (int e = 0; e < WIDTH; e++) acc[m][e] = 0.f;

    /* Two steps per iteration, ping-ponging between two register buffers: step B's loads are issued
     * before step A's FMAs and step A+2's before step B's, so each warp keeps up to 2 x UNROLL rows
     * (2 x 4 x 512 bytes) requested and never waits on a register move of a pending load. */
    constexpr int STEP = GROUPS * SKINNY_UNROLL;
    auto multiply_rows = [&](int row, const uint4 (&bits)[SKINNY_UNROLL]) {
#pragma unroll
        for (int u = 0; u < SKINNY_UNROLL; u++) {
            float values[WIDTH];
            unpack_vector<T>(bits[u], values);
            const float *a_row = stage + (row + u) * M_BUCKET;
            float a_value[M_BUCKET];
            if constexpr (M_BUCKET % 4 == 0) {
#pragma unroll
                for (int m = 0; m < M_BUCKET; m += 4) {
                    float4 q = *reinterpret_cast<const float4 *>(a_row + m);
                    a_value[m] = q.x, a_value[m + 1] = q.y, a_value[m + 2] = q.z, a_value[m + 3] = q.w;
                }
            } else {
#pragma unroll
                for (int m = 0; m < M_BUCKET; m++) a_value[m] = a_row[m];
            }
#pragma unroll
            for (int m = 0; m < M_BUCKET; m++)
#pragma unroll
                for (int e = 0; e < WIDTH; e++) acc[m][e] = fmaf(a_value[m], values[e], acc[m][e]);
        }
    };
    for (int row = first_row; row < k_rounded; row += 2 * STEP) {
        const bool second = row + STEP < k_rounded; /* uniform across the warp */
        if (second) load_rows(row + STEP, bits_b);
        multiply_rows(row, bits_a);
        if (!second) break;
        if (row + 2 * STEP < k_rounded) load_rows(row + 2 * STEP, bits_a);
        multiply_rows(row + STEP, bits_b);
    }

    /* Sum the GROUPS warps' accumulators: halve the active groups each round (group g += group g + half),
     * through shared memory laid out [slot][m][e][lane] so a warp's 32 stores hit 32 banks. */
    float *reduce = shared; /* reuses the stage: the barrier below orders it after the last read of a */
#pragma unroll
    for (int half = GROUPS / 2; half >= 1; half /= 2) {
        __syncthreads();
        if (group >= half && group < 2 * half) {
#pragma unroll
            for (int m = 0; m < M_BUCKET; m++)
#pragma unroll
                for (int e = 0; e < WIDTH; e++)
                    reduce[(((group - half) * M_BUCKET + m) * WIDTH + e) * 32 + lane] = acc[m][e];
        }
        __syncthreads();
        if (group < half) {
#pragma unroll
            for (int m = 0; m < M_BUCKET; m++)
#pragma unroll
                for (int e = 0; e < WIDTH; e++) acc[m][e] += reduce[((group * M_BUCKET + m) * WIDTH + e) * 32 + lane];
        }
    }
    if (group != 0 || !any_column) return;

    if (gridDim.y == 1) { /* one split: this is the final sum */
        float bias_value[WIDTH];
#pragma unroll
        for (int e = 0; e < WIDTH; e++)
            bias_value[e] = (epilogue != CUDA_EPILOGUE_NONE && column0 + e < N) ? to_float(bias[column0 + e]) : 0.f;
#pragma unroll
        for (int m = 0; m < M_BUCKET; m++) {
            if (m >= M) break;
#pragma unroll
            for (int e = 0; e < WIDTH; e++)
                if (column0 + e < N)
                    out[(int64_t)m * N + column0 + e] =
                        from_float<T>(apply_epilogue(acc[m][e], bias_value[e], epilogue));
        }
    } else { /* n_padded is a multiple of 256 >= the grid's columns: whole float4 stores, in bounds */
#pragma unroll
        for (int m = 0; m < M_BUCKET; m++) {
            if (m >= M) break;
            float *p = partial + ((int64_t)blockIdx.y * M + m) * n_padded + column0;
#pragma unroll
            for (int e = 0; e < WIDTH; e += 4)
                *reinterpret_cast<float4 *>(p + e) =
                    make_float4(acc[m][e], acc[m][e + 1], acc[m][e + 2], acc[m][e + 3]);
        }
    }
}

template <typename T, int M_BUCKET, int GROUPS>
static cudaError_t launch_skinny(const SkinnyPlan &plan, void *out, const void *a, const void *b, const void *bias,
                                 int m, int k, int n, float *workspace, int epilogue, int weight_settled,
                                 cudaStream_t stream) {
    constexpr int WIDTH = 16 / sizeof(T);
    dim3 grid((unsigned)((n + 32 * WIDTH - 1) / (32 * WIDTH)), (unsigned)plan.splits);
    bool vector = n % WIDTH == 0 && ((uintptr_t)b & 15) == 0;
    auto kernel =
        vector ? matmul_skinny_kernel<T, M_BUCKET, GROUPS, true> : matmul_skinny_kernel<T, M_BUCKET, GROUPS, false>;
    cudaError_t result = launch_programmatic(kernel, grid, dim3(32 * GROUPS), stream, (T *)out, workspace, (const T *)a,
                                             (const T *)b, (const T *)bias, m, k, n, plan.k_per_split, plan.n_padded,
                                             epilogue, weight_settled);
    if (result == cudaSuccess && plan.splits > 1) /* matmul_skinny_reduce.cuh */
        return launch_skinny_reduce<T>((T *)out, workspace, (const T *)bias, m, n, plan.splits, plan.n_padded,
                                       epilogue, stream);
    return result;
}

template <typename T>
static cudaError_t launch_skinny_dtype(const SkinnyPlan &plan, void *out, const void *a, const void *b,
                                       const void *bias, int m, int k, int n, float *workspace, int epilogue,
                                       int weight_settled, cudaStream_t stream) {
    switch (plan.m_bucket) { /* groups as chosen by plan_skinny */
    case 1: return launch_skinny<T, 1, 8>(plan, out, a, b, bias, m, k, n, workspace, epilogue, weight_settled, stream);
    case 2: return launch_skinny<T, 2, 8>(plan, out, a, b, bias, m, k, n, workspace, epilogue, weight_settled, stream);
    case 4: return launch_skinny<T, 4, 8>(plan, out, a, b, bias, m, k, n, workspace, epilogue, weight_settled, stream);
    case 8: return launch_skinny<T, 8, 4>(plan, out, a, b, bias, m, k, n, workspace, epilogue, weight_settled, stream);
    default: return launch_skinny<T, 16, 4>(plan, out, a, b, bias, m, k, n, workspace, epilogue, weight_settled, stream);
    }
}

extern "C" size_t matmul_skinny_workspace_bytes(int64_t m, int64_t k, int64_t n, int b_transposed) {
    if (b_transposed && m <= 4) return 0; /* the shuffle kernel (matmul_skinny_transposed.cu) needs none */
    if (b_transposed) return matmul_skinny_transposed_split_workspace_bytes(m, k, n);
    if (m < 1 || m > 16 || k < 1 || n < 1 || k > INT_MAX || n > INT_MAX - SKINNY_PLAN_COLUMN_TILE) return 0;
    SkinnyPlan plan = plan_skinny(m, k, n);
    return plan.splits > 1 ? (size_t)plan.splits * (size_t)m * (size_t)plan.n_padded * sizeof(float) : 0;
}

extern "C" cudaError_t matmul_skinny_forward(void *out, const void *a, const void *b, const void *bias, int64_t m,
                                             int64_t k, int64_t n, int b_transposed, int dtype, int epilogue,
                                             void *workspace, int weight_settled, cudaStream_t stream) {
    if (m < 1 || m > 16 || k < 1 || n < 1 || k > INT_MAX || n > INT_MAX - SKINNY_PLAN_COLUMN_TILE || !out || !a ||
        !b || epilogue < CUDA_EPILOGUE_NONE || epilogue > CUDA_EPILOGUE_BIAS_GELU_TANH ||
        (epilogue != CUDA_EPILOGUE_NONE && !bias))
        return cudaErrorInvalidValue;
    if (b_transposed && m <= 4) /* one warp per 2 rows of b, shuffles: no staging of a, no workspace */
        return matmul_skinny_transposed_forward(out, a, b, bias, m, k, n, dtype, epilogue, weight_settled, stream);
    if (b_transposed) /* M 5..16: a warp per 4 rows of b, a staged in shared memory, split over K */
        return matmul_skinny_transposed_split_forward(out, a, b, bias, m, k, n, dtype, epilogue, workspace, weight_settled,
                                                      stream);
    SkinnyPlan plan = plan_skinny(m, k, n);
    if (plan.splits > 1 && !workspace) return cudaErrorInvalidValue;
    if (plan.splits > 65535) return cudaErrorInvalidValue; /* gridDim.y; needs K > 33M */
    float *partial = (float *)workspace;
    const int mi = (int)m, ki = (int)k, ni = (int)n;
    switch (dtype) {
    case CUDA_DTYPE_F32:
        return launch_skinny_dtype<float>(plan, out, a, b, bias, mi, ki, ni, partial, epilogue, weight_settled, stream);
    case CUDA_DTYPE_F16:
        return launch_skinny_dtype<__half>(plan, out, a, b, bias, mi, ki, ni, partial, epilogue, weight_settled, stream);
    case CUDA_DTYPE_BF16:
        return launch_skinny_dtype<__nv_bfloat16>(plan, out, a, b, bias, mi, ki, ni, partial, epilogue, weight_settled, stream);
    default: return cudaErrorInvalidValue;
    }
}
