/*
 * matmul_skinny_transposed_split.cu — out[M, N] = epilogue(a[M, K] x b^T + bias[N]) for M = 5..16 with the
 * weight b as [N, K] (PyTorch's nn.Linear layout), f32 (exact FFMA) / f16 / bf16, f32 accumulation.
 * (M <= 4 on [N, K]: matmul_skinny_transposed.cu; b as [K, N]: matmul_skinny.cu; matmul_skinny_forward
 * chooses.)
 *
 * At M = 16 each 4-byte f32 weight feeds 16 FMAs, so the kernel must both stream b at HBM speed and keep
 * ~40% of the FFMA pipes busy. The kernel this one replaced (a lane per row of b) had every warp load
 * touch 32 different rows (32 cache lines), and each shared-memory broadcast of a served 4 FMAs.
 * Measured on an H100 (f32, L2 flushed, median of 50; a device-to-device copy ran at 3.05 TB/s in the
 * same process; "% of copy" = (weight bytes / time) / the copy's ((read + write) / time)), in ms:
 *
 *   M, K, N                        16,4096,14336  8,4096,14336  5,4096,14336  16,768,3072  8,768,3072
 *   a lane per row (replaced)     ~0.140         0.1562        0.1518        0.0456       0.0242
 *   this kernel (K slices <= 512)  0.0970 (79%)   0.0879 (87%)  0.0878        0.0148       0.0120
 *   K slices <= 1024               0.0981         0.0906        0.0894        0.0146       0.0118
 *   1024, splits summed in a       0.0998         0.0924        0.0912        0.0149       0.0122
 *     thread-block cluster (distributed shared memory: no workspace, no second kernel)
 *
 * (A standalone benchmark written for the choice, not kept: each design as its own kernel, every one's
 * relative error ~1e-7. This kernel's numbers in the library: `fusegraph bench --suite linear`.)
 * Tried since and not kept: b's stream through cp.async into 3 or 4 shared-memory slots a warp (64-96 KB
 * in flight an SM instead of these registers' 32 KB, no registers held by loads). On another H100 (its
 * copy at 2.91 TB/s), three rounds alternating with this kernel in one call, ms at K=4096 N=14336:
 * f32 M=16 0.0995 / 0.0990 / 0.1009 against 0.0945 / 0.0955 / 0.0948 here, f32 M=8 0.091 against 0.088;
 * bf16 M=16 0.071 against 0.086 and M=8 0.051 against 0.055 (bf16 at M=16 is cuBLASLt's anyway, 0.045).
 * Nsight Compute on the cp.async f32 M=16 kernel: 2.41 TB/s of DRAM, issue slots 67% busy, the top stall
 * "not selected" (eligible warps waiting for the scheduler): the f32 kernel is near its instruction
 * issue limit, not short of bytes in flight, and the slots' extra shared-memory reads cost more than
 * the deeper pipeline gains. K slices of 1024 (half the transpose reductions a tile) measured the same.
 * 2026-11-27, H100, `check_bandwidth_kernels --time-only`, three rounds alternating with the kernel before
 * it in one call (f32 M=16 K=4096 N=14336, ms): the loads from a pointer advanced a chunk a step, without
 * bounds checks inside b (below), 0.0924-0.0936 against 0.0946-0.0958; bf16 M=8 0.052 against 0.055. Not
 * kept, same call: K slices of 1024 again (0.0952-0.0953); b's next rows asked into L2 ahead of the loads,
 * a bulk prefetch of the block's next tile (0.111) or a prefetch.global.L2 one or two steps ahead
 * (0.097-0.100; bf16 M=8 0.050).
 * Not kept either (bench/results/h100-2026-11-27-session8/skinny-pipeline-ab, same method, f32 M=16, ms,
 * this kernel 0.093): a third register buffer at 8 warps an SM (0.103; 2 buffers at 8 warps 0.108) or 12
 * (0.096), 16 would spill; 2 rows of b a warp (twice the shared-memory reads an FMA) 0.100-0.104 at 24-32
 * warps, 0.118 at 16.
 * The design:
 *  - A warp owns 4 rows of b (4 output columns). Its lanes walk K together, lane l reading the l-th
 *    16-byte vector of each 512-byte chunk of a row, so every load instruction reads 512 contiguous bytes
 *    (4 whole cache lines), streamed past L1 (ld.global.nc.L1::no_allocate). Two register buffers: the
 *    next step's 4 loads are issued before this step's FMAs.
 *  - a's K slice is staged once per block in shared memory as f32 [m][k]: the 4 values of a that match
 *    a lane's 4 elements of b are one LDS.128 (32 consecutive float4s over the warp: no bank conflict),
 *    and that read serves the warp's 4 rows (16 FMAs). A 16-bit vector is 8 elements: the staging
 *    permutes each 256-element chunk so that a lane's 8 values are two float4s 128 floats apart, again
 *    conflict-free. Rows m >= M are zeros, so the FMAs run over all M_BUCKET rows without branches.
 *  - Each lane keeps 4 x M_BUCKET f32 sums. After the last chunk of a tile the warp adds them up with a
 *    transpose reduction (5 shuffle levels, each exchanging half of the remaining values: 62 shuffles
 *    for 64 values, against 320 for a butterfly per value), in a fixed order.
 *  - Persistent blocks: 8 warps (256 threads) take a tile of 32 rows; the grid is what fits on the
 *    device at once (the occupancy API x SMs, cached per device), and a block loops over tiles group,
 *    group + groups, ... of its K split. The first loads of the next tile go out before the current tile
 *    is reduced, so HBM does not idle between tiles, and there is no partial last wave.
 *  - K is split (plan_transposed_split): slices of at most 512 elements (a's slice is then 16 x 512 x 4 =
 *    32 KB of shared memory), more splits while tiles x splits < 132 (small N: every SM gets work). Each
 *    split writes f32 partial sums to the workspace [splits, M, N] and matmul_skinny_reduce_kernel
 *    (matmul_skinny_reduce.cuh) sums them in split order, adds the bias and applies GELU: deterministic,
 *    no atomics. With one split this kernel applies the epilogue and writes out itself.
 *  - A programmatic dependent launch (programmatic_launch.cuh): the first step's weight loads may go out
 *    before the kernel before it finishes (weight settled), a is staged after the wait.
 *    M=16 K=4096 N=14336: 448 tiles x 8 splits of 512; 2 blocks/SM x 132 SMs = 264 blocks = 33 groups
 *    x 8 splits, 13-14 tiles per block.
 *  - Registers: M_BUCKET = 16 holds 64 accumulators and 2 x 4 x 4 words of b; __launch_bounds__(256, 2)
 *    caps it at 128 registers for 2 blocks (16 warps) an SM (unbounded, ptxas takes 144-168). M_BUCKET 8:
 *    3 blocks (80 registers) for f32; 2 for f16/bf16, which spilled ~130 bytes inside the FMA loop at 80.
 *    ptxas -v (CUDA 13.0, sm_90, -O3), registers / spill stores / spill loads (16-byte loads | elements):
 *      f32      M_BUCKET 16: 128 / 16 / 96 | 128 / 0 / 0, 32 KB shared;  M_BUCKET 8: 80 / 8 / 16 both, 16 KB
 *      f16/bf16 M_BUCKET 16: 128 / 32 / 64 | 128 / 36 / 80 bytes (a few LDL per 512 FFMAs), 32 KB;
 *               M_BUCKET 8: 128 / 0 / 0 both, 16 KB
 *    (Before the loads' pointer, d3e1ca7: f32 16: 126 / 0 / 0 | 128 / 0 / 0, f32 8: 80 / 0 / 0, 16-bit 16:
 *    28 / 56 | 32 / 76 bytes; the pointer's registers cost these few spills and measured faster anyway, f32
 *    M=16 0.093 ms against 0.095, f32 M=8 the same 0.088: `bench/results/h100-2026-11-27-session6/skinny-ab`.)
 *    (the benchmark's f32 M=16 kernel had 16 / 40 bytes of spills at 128 registers; here a's staged rows
 *    have a fixed stride of 512 floats, so each LDS.128 is one base register plus an immediate offset.)
 * f16 and bf16 run the same code with 8-element vectors. On the H100 (check_bandwidth_kernels, L2
 * flushed; bf16, M=16 / M=8): K=4096 N=14336 0.0866 / 0.0554 ms here, 0.1306 / 0.0931 with the lane-per-
 * row kernel; K=768 N=3072 0.0144 / 0.0108 here, 0.0390 / 0.0205. At M=16 a 16-bit weight carries 8 FMAs
 * per byte, twice f32's, so this is FMA-bound near 40% of HBM; cuBLASLt (0.045 ms) is what the autotuner
 * picks there.
 * The plan is a function of (m, k, n) only, in elements: k_per_split is a multiple of 128 (one f32
 * chunk; a 16-bit chunk is 256 elements, so a 16-bit split may end in a half-used chunk: idle lanes, no
 * extra bytes), so matmul_skinny_transposed_split_workspace_bytes knows the workspace without the dtype
 * or the device; only the number of persistent blocks depends on the device.
 * When K is not a multiple of the vector width or a or b is not 16-byte aligned, the same kernel loads
 * element by element (VECTOR false), zero-filling past K.
 */
#include <atomic>
#include <climits>
#include <cstdint>

#include "cuda_kernels.h"
#include "matmul_epilogue.cuh"      /* apply_epilogue, to_float, from_float */
#include "matmul_skinny_reduce.cuh" /* the split-K reduction kernel and its launch */
#include "programmatic_launch.cuh"  /* dependent_launch_allow, dependent_wait, launch_programmatic */
#include "vector_loads.cuh"         /* load_streaming, load_elements_packed, unpack_vector_quad */

#define TRANSPOSED_SPLIT_ROWS_PER_WARP 4
#define TRANSPOSED_SPLIT_WARPS 8
#define TRANSPOSED_SPLIT_TILE_ROWS 32     /* rows of b (output columns) a block takes at a time: 8 warps x 4 */
#define TRANSPOSED_SPLIT_MAX_K 512        /* elements of K per split at most: the staged row of a */
#define TRANSPOSED_SPLIT_K_GRANULE 128    /* k_per_split is a multiple of this: one f32 chunk (32 lanes x 4) */
#define TRANSPOSED_SPLIT_FILL_BLOCKS 132  /* more splits while tiles x splits is below this: the H100's SMs */
#define TRANSPOSED_SPLIT_CACHED_DEVICES 64 /* devices whose resident block count is remembered */

struct TransposedSplitPlan {
    int m_bucket;    /* 8 or 16: the accumulator rows compiled in */
    int tiles;       /* tiles of 32 rows of b */
    int splits;      /* K slices; 1: no workspace, the main kernel writes out */
    int k_per_split; /* a multiple of 128, at most 512; the last split may have fewer */
};

/* The fewest splits with slices of at most 512, then more while tiles x splits < 132 (until the slices
 * are 128), as the benchmark chose. Depends on (m, k, n) only; k >= 1, n >= 1. */
static TransposedSplitPlan plan_transposed_split(int64_t m, int64_t k, int64_t n) {
    TransposedSplitPlan plan;
    plan.m_bucket = m <= 8 ? 8 : 16;
    const int64_t tiles = (n + TRANSPOSED_SPLIT_TILE_ROWS - 1) / TRANSPOSED_SPLIT_TILE_ROWS;
    int64_t want = (k + TRANSPOSED_SPLIT_MAX_K - 1) / TRANSPOSED_SPLIT_MAX_K, k_per_split, splits;
    for (;; want++) {
        const int64_t slice = (k + want - 1) / want;
        constexpr int64_t granule = TRANSPOSED_SPLIT_K_GRANULE;
        k_per_split = (slice + granule - 1) / granule * granule;
        splits = (k + k_per_split - 1) / k_per_split; /* no empty split */
        if (tiles * splits >= TRANSPOSED_SPLIT_FILL_BLOCKS || k_per_split <= TRANSPOSED_SPLIT_K_GRANULE) break;
    }
    plan.tiles = (int)tiles;
    plan.splits = (int)splits;
    plan.k_per_split = (int)k_per_split;
    return plan;
}

/* Transpose reduction over the warp of COUNT values per lane (COUNT a multiple of 32). At each level (xor
 * distance OFFSET = 16 .. 1) a lane keeps one half of its remaining values (the lower half if its OFFSET
 * bit is 0), sends the other half to its partner and adds what it receives. Afterwards v[t], t < COUNT / 32,
 * of lane l is the warp's sum of the values at index l * (COUNT / 32) + t: the kept halves start at
 * (bit ? HALF : 0) with HALF = COUNT * OFFSET / 32, which add up to l * COUNT / 32. */
template <int OFFSET, int HALF, int COUNT>
__device__ __forceinline__ void transpose_reduce(float (&v)[COUNT], int lane) {
    const bool upper = (lane & OFFSET) != 0;
#pragma unroll
    for (int i = 0; i < HALF; i++) {
        const float send = upper ? v[i] : v[i + HALF];
        const float keep = upper ? v[i + HALF] : v[i];
        v[i] = keep + __shfl_xor_sync(0xffffffffu, send, OFFSET);
    }
    if constexpr (OFFSET > 1) transpose_reduce<OFFSET / 2, HALF / 2>(v, lane);
}

/* The grid is groups x splits blocks: block i works on split i % splits of the tiles i / splits,
 * i / splits + groups, ... (groups = gridDim.x / splits <= tiles).
 * Blocks an SM (the register cap, see the header): 3 for f32 M_BUCKET 8, else 2. */
template <typename T, int M_BUCKET, bool VECTOR>
__global__ void __launch_bounds__(32 * TRANSPOSED_SPLIT_WARPS, (sizeof(T) == 4 && M_BUCKET <= 8) ? 3 : 2)
    matmul_skinny_transposed_split_kernel(T *out, float *partial, const T *a, const T *b, const T *bias, int M, int K,
                                          int N, int k_per_split, int splits, int tiles, int epilogue,
                                          int weight_settled) {
    constexpr int WIDTH = 16 / sizeof(T); /* elements per 16-byte load */
    constexpr int CHUNK = 32 * WIDTH;     /* elements of K per warp load instruction: 512 bytes */
    constexpr int QUADS = WIDTH / 4;      /* float4s of a per lane per chunk */
    constexpr int R = TRANSPOSED_SPLIT_ROWS_PER_WARP, STAGE_ROW = TRANSPOSED_SPLIT_MAX_K;
    constexpr int VALUES = M_BUCKET * R, PER_LANE = VALUES / 32; /* accumulator m * R + r */
    static_assert(VALUES % 32 == 0 && STAGE_ROW % CHUNK == 0, "tile shape");
    __shared__ __align__(16) float stage[M_BUCKET * STAGE_ROW]; /* a's slice, [m][k permuted in chunks] */

    /* Let the reduction kernel or the next node's kernel (programmatic dependent launches) be scheduled now;
     * they wait for us. */
    dependent_launch_allow();
    const int lane = threadIdx.x & 31, warp = threadIdx.x >> 5;
    const int split = (int)(blockIdx.x % splits), group = (int)(blockIdx.x / splits);
    const int groups = (int)(gridDim.x / splits);
    const int k_begin = split * k_per_split;
    const int k_count = min(k_per_split, K - k_begin);
    const int chunks = (k_count + CHUNK - 1) / CHUNK;                              /* steps per tile */
    const int my_tiles = group < tiles ? (tiles - group + groups - 1) / groups : 0; /* uniform over the block */
    const int steps = my_tiles * chunks;

    /* The loads walk the steps in order: chunk c of the warp's 4 rows of tile `tile`, one 16-byte load per
     * row per lane (or its elements one by one). load_pointer is row 0's element for this lane at the
     * next step: advanced by a chunk per step and set again at each new tile, so a step's addresses are
     * the pointer plus r x K. A step wholly inside b (all 4 rows < N, the chunk's end <= k_count: every
     * step but a split's last chunk or the last tile's) loads without bounds checks or zero fills; the
     * checked path is the rest's. (Computing each address from (tile, chunk) with the checks on every
     * load cost ~80 integer instructions a step beside its 256 FMAs.) */
    int load_tile = group, load_c = 0; /* the next step to load */
    int64_t load_row0 = 0;
    const T *load_pointer = nullptr;
    auto start_load_tile = [&]() {
        load_row0 = (int64_t)load_tile * TRANSPOSED_SPLIT_TILE_ROWS + warp * R;
        load_pointer = b + load_row0 * K + k_begin + WIDTH * lane;
        load_c = 0;
    };
    auto load_step = [&](uint4 (&bits)[R]) {
        if (VECTOR && load_row0 + R <= N && (load_c + 1) * CHUNK <= k_count) { /* uniform over the warp */
#pragma unroll
            for (int r = 0; r < R; r++) bits[r] = load_streaming(load_pointer + (int64_t)r * K);
        } else {
            const int k = load_c * CHUNK + WIDTH * lane;
            const T *row = load_pointer - k; /* row 0 at the split's start */
#pragma unroll
            for (int r = 0; r < R; r++) {
                const bool ok = load_row0 + r < N && k < k_count;
                if constexpr (VECTOR) bits[r] = ok ? load_streaming(row + (int64_t)r * K + k) : make_uint4(0, 0, 0, 0);
                else bits[r] = ok ? load_elements_packed(row + (int64_t)r * K, k, k_count) : make_uint4(0, 0, 0, 0);
            }
        }
        if (++load_c == chunks) {
            load_tile += groups;
            start_load_tile();
        } else {
            load_pointer += CHUNK;
        }
    };
    auto advance = [&](int &tile, int &c) {
        if (++c == chunks) c = 0, tile += groups;
    };
    /* The first step's loads go out before a is staged, so HBM is busy from the start; before the wait for
     * the kernel before when no kernel in flight writes the weight (programmatic_launch.cuh). */
    uint4 bits_a[R], bits_b[R];
    start_load_tile();
    load_weight_around_wait(weight_settled, [&] {
        if (steps > 0) load_step(bits_a);
    });

    /* Stage a[:, k_begin .. k_begin + chunks x CHUNK) as f32: element kk = (32 c + l) WIDTH + e (chunk c,
     * lane l, e < WIDTH) goes to column c CHUNK + 128 (e / 4) + 4 l + e % 4 of row m (for f32 that is kk);
     * zeros for m >= M and past the split. */
    const int k_staged = chunks * CHUNK;
    if constexpr (VECTOR) {
        const int vectors = k_staged / WIDTH;
        for (int i = threadIdx.x; i < M_BUCKET * vectors; i += blockDim.x) {
            const int m = i / vectors, v = i - m * vectors;
            uint4 bits = make_uint4(0, 0, 0, 0);
            if (m < M && v * WIDTH < k_count)
                bits = __ldg(reinterpret_cast<const uint4 *>(a + (int64_t)m * K + k_begin + v * WIDTH));
            float *row = stage + m * STAGE_ROW + (v / 32) * CHUNK + 4 * (v % 32);
#pragma unroll
            for (int q = 0; q < QUADS; q++) *reinterpret_cast<float4 *>(row + 128 * q) = unpack_vector_quad<T>(bits, q);
        }
    } else {
        for (int i = threadIdx.x; i < M_BUCKET * k_staged; i += blockDim.x) {
            const int m = i / k_staged, kk = i - m * k_staged, v = kk / WIDTH, e = kk % WIDTH;
            stage[m * STAGE_ROW + (v / 32) * CHUNK + 128 * (e / 4) + 4 * (v % 32) + e % 4] =
                (m < M && kk < k_count) ? to_float(a[(int64_t)m * K + k_begin + kk]) : 0.f;
        }
    }
    __syncthreads();

    float acc[VALUES];
#pragma unroll
    for (int i = 0; i < VALUES; i++) acc[i] = 0.f;

    /* acc[m][r] += a[m][the lane's 4 elements] . b[r][same 4]: one LDS.128 per m and quad serves 4 rows. */
    auto multiply = [&](int c, const uint4 (&bits)[R]) {
        const float *a_chunk = stage + c * CHUNK + 4 * lane;
#pragma unroll
        for (int q = 0; q < QUADS; q++) {
            float4 w[R];
#pragma unroll
            for (int r = 0; r < R; r++) w[r] = unpack_vector_quad<T>(bits[r], q);
#pragma unroll
            for (int m = 0; m < M_BUCKET; m++) {
                const float4 x = *reinterpret_cast<const float4 *>(a_chunk + m * STAGE_ROW + 128 * q);
#pragma unroll
                for (int r = 0; r < R; r++) {
                    float sum = acc[m * R + r];
                    sum = fmaf(x.x, w[r].x, sum);
                    sum = fmaf(x.y, w[r].y, sum);
                    sum = fmaf(x.z, w[r].z, sum);
                    sum = fmaf(x.w, w[r].w, sum);
                    acc[m * R + r] = sum;
                }
            }
        }
    };

    /* After the last chunk of a tile: sum over the lanes, then write the partial (or, with one split,
     * final) results; lane l holds accumulators l x PER_LANE .. */
    auto finish_tile = [&](int tile) {
        transpose_reduce<16, VALUES / 2>(acc, lane);
        const int64_t row0 = (int64_t)tile * TRANSPOSED_SPLIT_TILE_ROWS + warp * R;
#pragma unroll
        for (int t = 0; t < PER_LANE; t++) {
            const int index = lane * PER_LANE + t, m = index / R;
            const int64_t n = row0 + index % R;
            if (m >= M || n >= N) continue;
            if (splits == 1) {
                const float bias_value = epilogue != CUDA_EPILOGUE_NONE ? to_float(bias[n]) : 0.f;
                out[(int64_t)m * N + n] = from_float<T>(apply_epilogue(acc[t], bias_value, epilogue));
            } else {
                partial[((int64_t)split * M + m) * N + n] = acc[t];
            }
        }
#pragma unroll
        for (int i = 0; i < VALUES; i++) acc[i] = 0.f;
    };

    /* One step: the loads of the step after it (into the next tile at a tile's end, so the pipeline does
     * not drain), then the FMAs on this step's registers; the two buffers alternate. */
    int tile = group, c = 0; /* the step being computed */
    auto step = [&](int s, const uint4 (&current)[R], uint4 (&next)[R]) {
        if (s + 1 < steps) load_step(next);
        multiply(c, current);
        if (c == chunks - 1) finish_tile(tile);
        advance(tile, c);
    };
    for (int s = 0; s < steps; s += 2) { /* steps is uniform over the block: whole warps take each path */
        step(s, bits_a, bits_b);
        if (s + 1 >= steps) break;
        step(s + 1, bits_b, bits_a);
    }
}

/* Blocks of `kernel` resident on the current device at once (SMs x blocks per SM), asked once per device
 * and remembered in `cache` (atomics: launches may come from several threads). */
static cudaError_t resident_blocks(const void *kernel, std::atomic<int> *cache, int *blocks) {
    int device = 0, sms = 0, per_sm = 0;
    cudaError_t result = cudaGetDevice(&device);
    if (result != cudaSuccess) return result;
    const bool cached = device >= 0 && device < TRANSPOSED_SPLIT_CACHED_DEVICES;
    *blocks = cached ? cache[device].load(std::memory_order_relaxed) : 0;
    if (*blocks > 0) return cudaSuccess;
    result = cudaDeviceGetAttribute(&sms, cudaDevAttrMultiProcessorCount, device);
    if (result == cudaSuccess)
        result = cudaOccupancyMaxActiveBlocksPerMultiprocessor(&per_sm, kernel, 32 * TRANSPOSED_SPLIT_WARPS, 0);
    if (result != cudaSuccess) return result;
    *blocks = sms * per_sm > 0 ? sms * per_sm : 1;
    if (cached) cache[device].store(*blocks, std::memory_order_relaxed);
    return cudaSuccess;
}

template <typename T, int M_BUCKET, bool VECTOR>
static cudaError_t launch_transposed_split(const TransposedSplitPlan &plan, void *out, const void *a, const void *b,
                                          const void *bias, int m, int k, int n, float *workspace, int epilogue,
                                          int weight_settled, cudaStream_t stream) {
    static std::atomic<int> resident_cache[TRANSPOSED_SPLIT_CACHED_DEVICES]; /* zero: not asked yet */
    auto kernel = matmul_skinny_transposed_split_kernel<T, M_BUCKET, VECTOR>;
    int resident = 0;
    cudaError_t result = resident_blocks((const void *)kernel, resident_cache, &resident);
    if (result != cudaSuccess) return result;
    /* As many tile groups as fit beside each other with all their splits, at most one per tile. */
    int64_t groups = resident / plan.splits;
    if (groups < 1) groups = 1;
    if (groups > plan.tiles) groups = plan.tiles;
    const int64_t blocks = groups * plan.splits;
    if (blocks > INT_MAX) return cudaErrorInvalidValue;
    result = launch_programmatic(kernel, dim3((unsigned)blocks), dim3(32 * TRANSPOSED_SPLIT_WARPS), stream, (T *)out,
                                 workspace, (const T *)a, (const T *)b, (const T *)bias, m, k, n, plan.k_per_split,
                                 plan.splits, plan.tiles, epilogue, weight_settled);
    if (result == cudaSuccess && plan.splits > 1) /* the workspace is [splits, M, N]: n_padded = N */
        return launch_skinny_reduce<T>((T *)out, workspace, (const T *)bias, m, n, plan.splits, n, epilogue, stream);
    return result;
}

template <typename T>
static cudaError_t launch_transposed_split_dtype(const TransposedSplitPlan &plan, void *out, const void *a,
                                                 const void *b, const void *bias, int m, int k, int n,
                                                 float *workspace, int epilogue, int weight_settled,
                                                 cudaStream_t stream) {
    constexpr int WIDTH = 16 / sizeof(T);
    const bool vector = k % WIDTH == 0 && ((uintptr_t)a & 15) == 0 && ((uintptr_t)b & 15) == 0;
    auto launch = plan.m_bucket <= 8
                      ? (vector ? launch_transposed_split<T, 8, true> : launch_transposed_split<T, 8, false>)
                      : (vector ? launch_transposed_split<T, 16, true> : launch_transposed_split<T, 16, false>);
    return launch(plan, out, a, b, bias, m, k, n, workspace, epilogue, weight_settled, stream);
}

static bool transposed_split_sizes_ok(int64_t m, int64_t k, int64_t n) {
    return m >= 1 && m <= 16 && k >= 1 && n >= 1 && k <= INT_MAX && n <= INT_MAX - TRANSPOSED_SPLIT_TILE_ROWS;
}

extern "C" size_t matmul_skinny_transposed_split_workspace_bytes(int64_t m, int64_t k, int64_t n) {
    if (!transposed_split_sizes_ok(m, k, n)) return 0;
    const TransposedSplitPlan plan = plan_transposed_split(m, k, n);
    return plan.splits > 1 ? (size_t)plan.splits * (size_t)m * (size_t)n * sizeof(float) : 0;
}

extern "C" cudaError_t matmul_skinny_transposed_split_forward(void *out, const void *a, const void *b, const void *bias,
                                                              int64_t m, int64_t k, int64_t n, int dtype, int epilogue,
                                                              void *workspace, int weight_settled, cudaStream_t stream) {
    if (!transposed_split_sizes_ok(m, k, n) || !out || !a || !b || epilogue < CUDA_EPILOGUE_NONE ||
        epilogue > CUDA_EPILOGUE_BIAS_GELU_TANH || (epilogue != CUDA_EPILOGUE_NONE && !bias))
        return cudaErrorInvalidValue;
    const TransposedSplitPlan plan = plan_transposed_split(m, k, n);
    if (plan.splits > 1 && !workspace) return cudaErrorInvalidValue;
    float *partial = (float *)workspace;
    const int mi = (int)m, ki = (int)k, ni = (int)n;
    switch (dtype) {
    case CUDA_DTYPE_F32:
        return launch_transposed_split_dtype<float>(plan, out, a, b, bias, mi, ki, ni, partial, epilogue, weight_settled, stream);
    case CUDA_DTYPE_F16:
        return launch_transposed_split_dtype<__half>(plan, out, a, b, bias, mi, ki, ni, partial, epilogue, weight_settled, stream);
    case CUDA_DTYPE_BF16:
        return launch_transposed_split_dtype<__nv_bfloat16>(plan, out, a, b, bias, mi, ki, ni, partial, epilogue,
                                                            weight_settled, stream);
    default: return cudaErrorInvalidValue;
    }
}
