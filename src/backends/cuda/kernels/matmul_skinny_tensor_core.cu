/*
 * matmul_skinny_tensor_core.cu — out[M, N] = epilogue(a[M, K] x b^T + bias[N]) for M <= 16 with the weight
 * b as [N, K] (PyTorch's nn.Linear layout), on the tensor cores: f32 as TF32 (only where the caller allows
 * TF32), f16 and bf16, f32 accumulation; and exact f32 on the FP64 tensor cores (below). (The FFMA kernels
 * for the same shapes, exact in f32: matmul_skinny_transposed*.cu.)
 *
 * Why: at M = 16 an f32 weight feeds 16 FMAs and a 16-bit one 8 per byte. The FFMA kernels spend their
 * issue slots on those FMAs (bf16 M=16, K=4096 N=14336: 0.086 ms on the H100, half of HBM's rate) and
 * their registers on 64 accumulators a lane, leaving none for more loads in flight (f32 M=16 ~0.095 ms,
 * 81% of the issue's 3.0 TB/s floor). One mma.sync does 16 x 8 x 8 (TF32) or 16 x 8 x 16 (16-bit) FMAs
 * for one issue slot and keeps a lane's accumulators in 8 registers (16 in f64), so this kernel can hold
 * three or four steps of b in registers; the measurements below show those bytes in flight are what pays.
 *
 * The design (fragment layouts: mma_fragments.cuh; g = lane / 4, t = lane % 4):
 *  - b is the mma's A operand (16 rows of b = 16 output columns a warp), a is its B operand (8 tokens a
 *    tile; M <= 8 one tile, else two), so every lane holds rows g and g + 8 of its warp's 16 rows.
 *  - No shared memory, no shuffles: fragments are loaded straight from global memory. An mma sums over
 *    its k slots, so any one-to-one map of k slots to columns of K works if A and B use the same one.
 *    Lane (g, t) loads the 16-byte vector at column k0 = base + WIDTH t of its two rows (WIDTH = 4 f32 or
 *    8 halves): the four lanes of a row read 64 contiguous bytes. It loads a's vector at the same k0 for
 *    token g (and g + 8), and the vector's halves feed two mma steps:
 *      TF32   step p (0, 1): slot t <- column k0 + 2p, slot t + 4 <- k0 + 2p + 1
 *      16-bit step p (0, 1): slots 2t, 2t+1 <- k0 + 4p, +1; slots 2t+8, 2t+9 <- k0 + 4p + 2, +3
 *    Over t = 0..3 each step's slots are 8 (16) distinct columns, and the two steps together all 16 (32)
 *    columns of the four lanes' vectors.
 *  - A step is SKINNY_TC_VECTORS = 4 vectors a row (256 bytes of each of the 16 rows: 4 KB of b for f32
 *    or 16-bit alike), b read past L1 (ld.global.nc.L1::no_allocate: read once), a through L1 (every
 *    warp reads it: with b's loads all missing, 43% of L1 requests hit). A ring of 3 steps in registers
 *    (4 for M <= 8): step s + 2's (s + 3's) loads go out before step s's mma, so a warp always has 8-12
 *    (12-16) KB of b in flight.
 *  - A programmatic dependent launch (programmatic_launch.cuh): the ring's first weight loads go out
 *    before the wait for the kernel before when the weight is settled, a's after it. On the H100, K=4096
 *    N=14336 in batches of 20 launches (bench/results/h100-2026-11-27-session10/pdl-probe/probe3.txt), ms
 *    a launch before -> after, medians of three rounds: bf16 M=1 0.0458 -> 0.0429, bf16 M=16 0.0474 ->
 *    0.0447, TF32 M=16 0.0884 -> 0.0865, FP64 (below) M=16 0.0880 -> 0.0864; results bit-identical.
 *  - A warp owns its 16 rows for one K slice; a block is 4 independent warps (64 rows). K is split so that
 *    groups of 16 rows x splits reach SKINNY_TC_TARGET_WARPS, slices of at least
 *    SKINNY_TC_MIN_K_PER_SPLIT columns. Each split writes f32 partial sums to the workspace [splits, M, N]
 *    and matmul_skinny_reduce_kernel (matmul_skinny_reduce.cuh) sums them in split order, adds the bias
 *    and applies GELU: deterministic. With one split this kernel applies the epilogue and writes out.
 *    K=4096 N=14336: 896 groups, one split, 896 warps (~7 an SM), each streaming 16 rows of 16 KB (f32;
 *    8 KB in 16-bit).
 *    K=768 N=3072: 192 groups x 3 splits of 256.
 *
 * Chosen by measurement on the H100 (check_bandwidth_kernels --time-only, L2 flushed, median of 20; each
 * variant its own build, two rounds alternating in one call; K=4096 N=14336, ms, bf16 M=1 / 8 / 16 and
 * TF32 M=1 / 8 / 16; "ring" is the steps in registers, "blocks" the __launch_bounds__ minimum an SM):
 *   4 vectors, ring 3, blocks 2, 1 split (this)   0.0461 0.0461 0.0476   0.0874 0.0882 0.0888
 *   4 vectors, ring 2, blocks 3, 1 split          0.0491 0.0494 0.0478   0.0938 0.0931 0.0929
 *   the same, a loaded just before its step       0.0507 0.0504 0.0516   0.0966 0.0990 0.1025
 *   (not in the ring), blocks 4
 *   ... and 2 splits (1792 warps)                 0.0496 0.0504 0.0507   0.0892 0.0931 0.0935
 *   4 vectors, ring 3, a just before, blocks 3    0.0481 0.0506 0.0593   0.0949 0.1080 0.147
 *   2 vectors, ring 4, a just before, blocks 4,   0.0507 0.0525 0.0546   0.0969 0.0990 0.1009
 *     2 splits
 *   2 vectors, ring 3, blocks 4, 2 splits         0.0499 0.0510 0.0506   0.0913 0.0940 0.0942
 *   2 vectors, ring 4, a just before, blocks 4,   0.0565 0.0589 0.0662   0.1209 0.1223 0.1305
 *     1 split
 * M <= 8 (one tile of a, so a step's registers are 3/4 of M = 16's) keeps 4 steps, 3 ahead: 2026-11-27,
 * six rounds alternating with ring 3 in one call (bench/results/h100-2026-11-27-session9/ring-ab/), medians
 * at K=4096 N=14336: bf16 M=1 0.0440 against 0.0446 ms, M=8 0.0442 / 0.0445, TF32 and FP64 (below) M=1
 * and M=8 within 0.5%; M > 8 has no room for it. Ring 5 at M <= 8 spilled 48 bytes (bf16) and was 9-17%
 * slower for f32 M=1 and M=8 (two rounds, ring-ab-2rounds.txt).
 * Earlier rounds (another H100, where the second row measured 0.0474 0.0478 0.0487 / 0.0895 0.0896
 * 0.0958): 2 vectors and ring 2 with 2 or 3 splits 0.046-0.056 / 0.090-0.111, and a warp on 32 rows
 * (a's fragments serving two 16-row tiles, half its L1 reads) 0.049-0.062 / 0.093-0.122: not kept.
 * More bytes in flight per warp is what paid; more warps (splits) did not. In those earlier rounds the
 * FFMA kernels took 0.046-0.049 / 0.055-0.056 / 0.0865-0.0869 (bf16) and 0.089-0.091 / 0.088-0.089 /
 * 0.095-0.096 (f32, exact). Nsight
 * Compute on the ring-2 TF32 M=16 kernel: DRAM 67% busy, L2 73%, L1 hit rate 43% (b's loads all miss).
 * Exact f32 on the FP64 tensor cores (DOUBLE; matmul_skinny_tensor_core_exact_forward; DMMA runs on every
 * sm_80+ GPU, but only A100/H100-class parts have FP64 tensor cores at full rate, so elsewhere the
 * autotuner's measurement leaves it unchosen):
 * the same loads and ring, each f32 element of a and b converted to f64 (exact) and multiplied by
 * mma.m16n8k4.f64 (sm_90; two m8n8k4 on sm_80-89): word j of a lane's vector is the k slot t of step
 * (v, j). The product of two f32 values fits an f64 exactly and the sums are f64, so the result is at
 * least as accurate as FFMA's f32 sums (relative error up to 1.7e-7 in check_bandwidth_kernels, FFMA's
 * up to 2.3e-7), rounded to f32 once per K split; inf and NaN propagate as in IEEE f64. Why: the FFMA
 * kernels issue 16 FFMAs per f32 weight at M = 16 and stall on issue (matmul_skinny_transposed_split.cu:
 * 0.093 ms at K=4096 N=14336, 81% of the 3.0 TB/s floor); here a weight costs one conversion and 1/2
 * (M <= 8) or 1 (M > 8) DMMA issue per lane, with 16 x 8 x 4 = 512 FMAs per issue. On the H100
 * (check_bandwidth_kernels --time-only, L2 flushed, median of 20, bias epilogue; 2026-11-27, a copy at
 * 2.90 TB/s in the same process; the ring of 3 at every M, before the 4 above), K=4096 N=14336, ms,
 * M=1 / 8 / 16: this 0.0870 / 0.0874 / 0.0891, the
 * TF32 kernel 0.0881 / 0.0882 / 0.0892, the FFMA kernels 0.0870 / 0.0883 / 0.0933: DMMA's 67 TFLOP/s
 * leave exact f32 as fast as TF32 here, bound by the same loads. ptxas (CUDA 13.0, sm_90): 254
 * registers, no spills (every kernel of this file: 218-254, none spills; bench/results/h100-2026-11-27-session9/).
 * The plan is a function of (m, k, n) only, so the workspace size needs no dtype or device.
 * When K is not a multiple of WIDTH or a or b is not 16-byte aligned, the same kernel loads element by
 * element (VECTOR false), zero-filling past the slice.
 */
#include <climits>
#include <cstdint>
#include <type_traits>

#include "cuda_kernels.h"
#include "matmul_epilogue.cuh"      /* apply_epilogue, to_float, from_float */
#include "matmul_skinny_reduce.cuh" /* the split-K reduction kernel and its launch */
#include "mma_fragments.cuh"        /* to_tf32, mma_step */
#include "programmatic_launch.cuh"  /* dependent_launch_allow, dependent_wait, launch_programmatic */
#include "vector_loads.cuh"         /* load_streaming, load_elements_packed */

#define SKINNY_TC_WARPS 4             /* warps a block, each on its own 16 rows of b */
#define SKINNY_TC_VECTORS 4           /* 16-byte vectors a lane loads from each of its two rows a step */
#define SKINNY_TC_BUFFERS 3           /* steps in registers: loads go out BUFFERS - 1 steps ahead (M > 8) */
#define SKINNY_TC_BUFFERS_ONE_TILE 4  /* the same for M <= 8, whose steps hold half the activations */
#define SKINNY_TC_BLOCKS_PER_SM 2     /* __launch_bounds__: 255 registers, 8 warps an SM (218-254 used) */
#define SKINNY_TC_TARGET_WARPS 896    /* warps (16 rows x one K slice each) a launch aims for */
#define SKINNY_TC_K_GRANULE 128       /* k_per_split is a multiple of this: one 16-bit step */
#define SKINNY_TC_MIN_K_PER_SPLIT 256 /* slices no shorter: each split adds M x N x 4 bytes of partial sums */

struct SkinnyTensorCorePlan {
    int64_t groups;  /* groups of 16 rows of b */
    int splits;      /* K slices; 1: no workspace, the main kernel writes out */
    int k_per_split; /* a multiple of SKINNY_TC_K_GRANULE; the last slice may have fewer */
};

static SkinnyTensorCorePlan plan_skinny_tensor_core(int64_t k, int64_t n) {
    SkinnyTensorCorePlan plan;
    plan.groups = (n + 15) / 16;
    int64_t splits = (SKINNY_TC_TARGET_WARPS + plan.groups - 1) / plan.groups;
    const int64_t most = k / SKINNY_TC_MIN_K_PER_SPLIT;
    if (splits > most) splits = most;
    if (splits < 1) splits = 1;
    const int64_t slice = (k + splits - 1) / splits;
    const int64_t k_per_split = (slice + SKINNY_TC_K_GRANULE - 1) / SKINNY_TC_K_GRANULE * SKINNY_TC_K_GRANULE;
    plan.k_per_split = (int)k_per_split;
    plan.splits = (int)((k + k_per_split - 1) / k_per_split); /* no empty slice */
    return plan;
}

/* 32-bit word i (0..3, a constant after unrolling) of a 16-byte vector. */
__device__ __forceinline__ uint32_t vector_word(const uint4 &v, int i) {
    return i == 0 ? v.x : i == 1 ? v.y : i == 2 ? v.z : v.w;
}

/* The vector at column k of a row, zeros past the slice (k_count) or where the row does not exist. */
template <typename T, bool VECTOR, bool STREAMING>
__device__ __forceinline__ uint4 load_vector(const T *row, bool row_ok, int k, int k_count) {
    if (!row_ok || k >= k_count) return make_uint4(0, 0, 0, 0);
    if constexpr (!VECTOR) return load_elements_packed(row, k, k_count);
    else if constexpr (STREAMING) return load_streaming(row + k);
    else return __ldg(reinterpret_cast<const uint4 *>(row + k));
}

/* d += a x b on one 16 x 8 tile of the FP64 tensor cores, one k slot a lane: a_low / a_high are rows g and
 * g + 8 of A at slot t, b is B's slot t for column g; d[0], d[1] (row g, columns 2t, 2t + 1), d[2], d[3]
 * (row g + 8). sm_90 has the 16 x 8 x 4 shape; sm_80 runs it as two 8 x 8 x 4 (the same layouts). */
__device__ __forceinline__ void mma_step_f64(double (&d)[4], double a_low, double a_high, double b) {
#if __CUDA_ARCH__ >= 900
    asm volatile("mma.sync.aligned.m16n8k4.row.col.f64.f64.f64.f64 {%0,%1,%2,%3}, {%4,%5}, {%6}, {%0,%1,%2,%3};\n"
                 : "+d"(d[0]), "+d"(d[1]), "+d"(d[2]), "+d"(d[3])
                 : "d"(a_low), "d"(a_high), "d"(b));
#else
    asm volatile("mma.sync.aligned.m8n8k4.row.col.f64.f64.f64.f64 {%0,%1}, {%2}, {%3}, {%0,%1};\n"
                 : "+d"(d[0]), "+d"(d[1])
                 : "d"(a_low), "d"(b));
    asm volatile("mma.sync.aligned.m8n8k4.row.col.f64.f64.f64.f64 {%0,%1}, {%2}, {%3}, {%0,%1};\n"
                 : "+d"(d[2]), "+d"(d[3])
                 : "d"(a_high), "d"(b));
#endif
}

/* Grid: (groups of 4 warps, splits). Warp w of block x owns rows (4x + w) * 16 .. + 15 of b for slice y.
 * DOUBLE (T = float only): exact f32 on the FP64 tensor cores instead of TF32. */
template <typename T, int M_TILES, bool VECTOR, bool DOUBLE = false>
__global__ void __launch_bounds__(32 * SKINNY_TC_WARPS, SKINNY_TC_BLOCKS_PER_SM)
    matmul_skinny_tensor_core_kernel(T *out, float *partial, const T *a, const T *b, const T *bias, int M, int K, int N,
                                     int k_per_split, int splits, int epilogue, int weight_settled) {
    static_assert(!DOUBLE || sizeof(T) == 4, "the FP64 path converts f32 words");
    constexpr int WIDTH = 16 / sizeof(T), V = SKINNY_TC_VECTORS;
    constexpr int STEP_K = 4 * WIDTH * V; /* columns a step: 4 lanes x WIDTH x V */
    /* Let the reduction kernel or the next node's kernel (programmatic dependent launches) be scheduled now;
     * they wait for us. */
    dependent_launch_allow();
    const int lane = threadIdx.x & 31, g = lane >> 2, t = lane & 3;
    const int64_t row0 = ((int64_t)blockIdx.x * SKINNY_TC_WARPS + (threadIdx.x >> 5)) * 16;
    if (row0 >= N) return; /* no block-wide synchronization follows */
    const int split = (int)blockIdx.y, k_begin = split * k_per_split;
    const int k_count = min(k_per_split, K - k_begin);
    const int steps = (k_count + STEP_K - 1) / STEP_K;

    /* This lane's two rows of b and (per tile) one row of a; pointers clamped into the tensors. */
    bool row_ok[2];
    const T *b_row[2];
#pragma unroll
    for (int r = 0; r < 2; r++) {
        row_ok[r] = row0 + g + 8 * r < N;
        b_row[r] = b + min(row0 + g + 8 * r, (int64_t)N - 1) * K + k_begin;
    }
    bool token_ok[M_TILES];
    const T *a_row[M_TILES];
#pragma unroll
    for (int i = 0; i < M_TILES; i++) {
        token_ok[i] = 8 * i + g < M;
        a_row[i] = a + (int64_t)min(8 * i + g, M - 1) * K + k_begin;
    }

    struct Weights {
        uint4 w[2][V]; /* rows g, g + 8 of b */
    };
    struct Activations {
        uint4 x[M_TILES][V]; /* tokens g (+ 8) of a */
    };
    auto load_weights = [&](int s, Weights &step) {
#pragma unroll
        for (int v = 0; v < V; v++) {
            const int k = s * STEP_K + v * 4 * WIDTH + t * WIDTH;
#pragma unroll
            for (int r = 0; r < 2; r++) step.w[r][v] = load_vector<T, VECTOR, true>(b_row[r], row_ok[r], k, k_count);
        }
    };
    auto load_activations = [&](int s, Activations &step) {
#pragma unroll
        for (int v = 0; v < V; v++) {
            const int k = s * STEP_K + v * 4 * WIDTH + t * WIDTH;
#pragma unroll
            for (int i = 0; i < M_TILES; i++) step.x[i][v] = load_vector<T, VECTOR, false>(a_row[i], token_ok[i], k, k_count);
        }
    };

    using Accumulator = typename std::conditional<DOUBLE, double, float>::type;
    Accumulator acc[M_TILES][4];
#pragma unroll
    for (int i = 0; i < M_TILES; i++) acc[i][0] = acc[i][1] = acc[i][2] = acc[i][3] = 0;

    /* TF32 / 16-bit: two mma steps per vector, words 2p and 2p + 1 of each (see the header for the k slots);
     * f64: four, one word each. */
    auto multiply = [&](const Weights &weights, const Activations &activations) {
        if constexpr (DOUBLE) {
            /* Word j of a lane's vectors is k slot t of step (v, j): f32 -> f64 is exact, and so is each f64
             * product of two f32 values; the sums are f64. */
#pragma unroll
            for (int v = 0; v < V; v++)
#pragma unroll
                for (int j = 0; j < 4; j++) {
                    const double low = __uint_as_float(vector_word(weights.w[0][v], j));
                    const double high = __uint_as_float(vector_word(weights.w[1][v], j));
#pragma unroll
                    for (int i = 0; i < M_TILES; i++)
                        mma_step_f64(acc[i], low, high, __uint_as_float(vector_word(activations.x[i][v], j)));
                }
        } else {
#pragma unroll
            for (int v = 0; v < V; v++)
#pragma unroll
                for (int p = 0; p < 2; p++) {
                    uint32_t x_fragment[M_TILES][2];
#pragma unroll
                    for (int i = 0; i < M_TILES; i++) {
                        x_fragment[i][0] = vector_word(activations.x[i][v], 2 * p);
                        x_fragment[i][1] = vector_word(activations.x[i][v], 2 * p + 1);
                        if constexpr (sizeof(T) == 4) {
                            x_fragment[i][0] = to_tf32(x_fragment[i][0]);
                            x_fragment[i][1] = to_tf32(x_fragment[i][1]);
                        }
                    }
                    const uint4 &low = weights.w[0][v], &high = weights.w[1][v];
                    uint32_t fragment[4] = {vector_word(low, 2 * p), vector_word(high, 2 * p),
                                            vector_word(low, 2 * p + 1), vector_word(high, 2 * p + 1)};
                    if constexpr (sizeof(T) == 4)
#pragma unroll
                        for (int f = 0; f < 4; f++) fragment[f] = to_tf32(fragment[f]);
#pragma unroll
                    for (int i = 0; i < M_TILES; i++) mma_step<T>(acc[i], fragment, x_fragment[i][0], x_fragment[i][1]);
                }
        }
    };

    /* A ring of BUFFERS steps in registers: step s + BUFFERS - 1 is loaded before step s is used. */
    constexpr int BUFFERS = M_TILES == 1 ? SKINNY_TC_BUFFERS_ONE_TILE : SKINNY_TC_BUFFERS;
    Weights weight_ring[BUFFERS];
    Activations activation_ring[BUFFERS];
    /* The ring's first weight loads go out before the wait when no kernel in flight writes the weight
     * (programmatic_launch.cuh): they overlap the end of the kernel before; a comes after the wait. */
    load_weight_around_wait(weight_settled, [&] {
#pragma unroll
        for (int s = 0; s < BUFFERS - 1; s++)
            if (s < steps) load_weights(s, weight_ring[s]);
    });
#pragma unroll
    for (int s = 0; s < BUFFERS - 1; s++)
        if (s < steps) load_activations(s, activation_ring[s]);
    for (int s0 = 0; s0 < steps; s0 += BUFFERS) {
#pragma unroll
        for (int slot = 0; slot < BUFFERS; slot++) {
            const int s = s0 + slot, ahead = s + BUFFERS - 1, ahead_slot = (slot + BUFFERS - 1) % BUFFERS;
            if (s >= steps) break; /* steps is uniform over the warp */
            if (ahead < steps) {
                load_weights(ahead, weight_ring[ahead_slot]);
                load_activations(ahead, activation_ring[ahead_slot]);
            }
            multiply(weight_ring[slot], activation_ring[slot]);
        }
    }

    /* acc[i][r]: output column row0 + g (+ 8 for r >= 2), token 8i + 2t (+ 1 for odd r). */
#pragma unroll
    for (int i = 0; i < M_TILES; i++)
#pragma unroll
        for (int r = 0; r < 4; r++) {
            const int m = 8 * i + 2 * t + (r & 1);
            const int64_t n = row0 + g + (r >= 2 ? 8 : 0);
            if (m >= M || n >= N) continue;
            if (splits == 1) {
                const float bias_value = epilogue != CUDA_EPILOGUE_NONE ? to_float(bias[n]) : 0.f;
                out[(int64_t)m * N + n] = from_float<T>(apply_epilogue((float)acc[i][r], bias_value, epilogue));
            } else {
                partial[((int64_t)split * M + m) * N + n] = (float)acc[i][r];
            }
        }
}

template <typename T, bool DOUBLE = false>
static cudaError_t launch_skinny_tensor_core(const SkinnyTensorCorePlan &plan, void *out, const void *a, const void *b,
                                            const void *bias, int m, int k, int n, float *workspace, int epilogue,
                                            int weight_settled, cudaStream_t stream) {
    constexpr int WIDTH = 16 / sizeof(T);
    const bool vector = k % WIDTH == 0 && ((uintptr_t)a & 15) == 0 && ((uintptr_t)b & 15) == 0;
    auto kernel = m <= 8 ? (vector ? matmul_skinny_tensor_core_kernel<T, 1, true, DOUBLE>
                                   : matmul_skinny_tensor_core_kernel<T, 1, false, DOUBLE>)
                         : (vector ? matmul_skinny_tensor_core_kernel<T, 2, true, DOUBLE>
                                   : matmul_skinny_tensor_core_kernel<T, 2, false, DOUBLE>);
    const dim3 grid((unsigned)((plan.groups + SKINNY_TC_WARPS - 1) / SKINNY_TC_WARPS), (unsigned)plan.splits);
    cudaError_t result = launch_programmatic(kernel, grid, dim3(32 * SKINNY_TC_WARPS), stream, (T *)out, workspace, (const T *)a,
                                             (const T *)b, (const T *)bias, m, k, n, plan.k_per_split, plan.splits,
                                             epilogue, weight_settled);
    if (result == cudaSuccess && plan.splits > 1) /* the workspace is [splits, M, N]: n_padded = N */
        return launch_skinny_reduce<T>((T *)out, workspace, (const T *)bias, m, n, plan.splits, n, epilogue, stream);
    return result;
}

static bool skinny_tensor_core_sizes_ok(int64_t m, int64_t k, int64_t n) {
    return m >= 1 && m <= 16 && k >= 1 && n >= 1 && k <= INT_MAX && n <= INT_MAX - 64; /* n + 63 fits an int */
}

extern "C" size_t matmul_skinny_tensor_core_workspace_bytes(int64_t m, int64_t k, int64_t n) {
    if (!skinny_tensor_core_sizes_ok(m, k, n)) return 0;
    const SkinnyTensorCorePlan plan = plan_skinny_tensor_core(k, n);
    return plan.splits > 1 ? (size_t)plan.splits * (size_t)m * (size_t)n * sizeof(float) : 0;
}

/* The arguments' checks both launchers share, and the plan: cudaErrorInvalidValue where they fail. */
static cudaError_t checked_plan(const void *out, const void *a, const void *b, const void *bias, int64_t m, int64_t k,
                                int64_t n, int epilogue, const void *workspace, SkinnyTensorCorePlan *plan) {
    if (!skinny_tensor_core_sizes_ok(m, k, n) || !out || !a || !b || epilogue < CUDA_EPILOGUE_NONE ||
        epilogue > CUDA_EPILOGUE_BIAS_GELU_TANH || (epilogue != CUDA_EPILOGUE_NONE && !bias))
        return cudaErrorInvalidValue;
    *plan = plan_skinny_tensor_core(k, n);
    if (plan->splits > 1 && !workspace) return cudaErrorInvalidValue;
    if (plan->splits > 65535) return cudaErrorInvalidValue; /* gridDim.y */
    return cudaSuccess;
}

extern "C" cudaError_t matmul_skinny_tensor_core_forward(void *out, const void *a, const void *b, const void *bias,
                                                         int64_t m, int64_t k, int64_t n, int dtype, int epilogue,
                                                         void *workspace, int weight_settled, cudaStream_t stream) {
    SkinnyTensorCorePlan plan;
    const cudaError_t checked = checked_plan(out, a, b, bias, m, k, n, epilogue, workspace, &plan);
    if (checked != cudaSuccess) return checked;
    float *partial = (float *)workspace;
    const int mi = (int)m, ki = (int)k, ni = (int)n;
    switch (dtype) {
    case CUDA_DTYPE_F32:
        return launch_skinny_tensor_core<float>(plan, out, a, b, bias, mi, ki, ni, partial, epilogue, weight_settled, stream);
    case CUDA_DTYPE_F16:
        return launch_skinny_tensor_core<__half>(plan, out, a, b, bias, mi, ki, ni, partial, epilogue, weight_settled, stream);
    case CUDA_DTYPE_BF16:
        return launch_skinny_tensor_core<__nv_bfloat16>(plan, out, a, b, bias, mi, ki, ni, partial, epilogue, weight_settled, stream);
    default: return cudaErrorInvalidValue;
    }
}

extern "C" cudaError_t matmul_skinny_tensor_core_exact_forward(float *out, const float *a, const float *b,
                                                               const float *bias, int64_t m, int64_t k, int64_t n,
                                                               int epilogue, void *workspace, int weight_settled,
                                                               cudaStream_t stream) {
    SkinnyTensorCorePlan plan;
    const cudaError_t checked = checked_plan(out, a, b, bias, m, k, n, epilogue, workspace, &plan);
    if (checked != cudaSuccess) return checked;
    return launch_skinny_tensor_core<float, true>(plan, out, a, b, bias, (int)m, (int)k, (int)n, (float *)workspace,
                                                  epilogue, weight_settled, stream);
}
