/*
 * matmul_warpgroup.cu — matmul on Hopper's warpgroup tensor cores (wgmma, sm_90a; compiled for that
 * architecture alone, the launcher refuses other devices):
 *   out[M, N] = epilogue(a[M, K] x b[N, K]^T + bias[N]),  f16 / bf16, f32 accumulation,
 *   b as [N, K] (PyTorch's nn.Linear weight): both operands K-major, the layout wgmma reads untransposed.
 *
 * Why it exists: on the H100 the mma.sync kernel (matmul_tensor_core.cu) peaks near 305 TFLOP/s, while
 * cuBLASLt reaches ~700 through wgmma; cuBLASLt has no exact-GELU epilogue, so there exact GELU costs a
 * second pass over the output. This kernel applies bias + GELU (either form) before its one store.
 *
 *  - Block tile 128 x BN x 64 (BN = 256 or 128), 384 threads = 3 warpgroups, warp-specialized:
 *    warpgroup 0 copies (one thread issues TMA copies of a's and b's 64-wide K slices into a ring of
 *    STAGES stages, mbarriers saying when a stage is full and when its consumers have released it);
 *    warpgroups 1 and 2 multiply with wgmma m64nBNk16, keeping one slice's multiplies in flight while they
 *    wait for the next: cooperatively (each 64 rows of every tile, 4 wgmma a slice) or in ping-pong
 *    (each all 128 rows of every other tile, 8 wgmma a slice), as matmul_warpgroup_kernel says.
 *  - Shared memory: each stage holds a [128][64] and b [BN][64], 128 bytes a row, in the 128-byte swizzle
 *    that both the TMA copy and the wgmma descriptors name (warpgroup_mma.cuh). TMA fills elements past
 *    M, N and K with zeros, so partial tiles need no special path; K must be a multiple of 8 (TMA wants
 *    16-byte row strides): the launcher refuses other K.
 *  - Persistent: min(tiles, SMs) blocks walk the tiles, so the copier loads the next tile's first
 *    slices while the consumers store the last one. Tiles go in groups of 16 row-tiles per column-tile,
 *    so the blocks working together share b's tile in L2.
 *  - Epilogue (warpgroup_store.cuh): on the accumulators in registers, then through shared memory into
 *    16-byte row pieces.
 * Measured on the H100 (tests/cuda/check_matmul_kernels.cu, one launch between events, bias epilogue,
 * bf16, 128 x 256 tiles): 4096^3 705-735 TFLOP/s, M=8192 K=768 N=3072 433-460, M=8192 K=4096 N=14336
 * 644-681 (cuBLASLt's GELU_BIAS: ~740). Exact GELU is what the epilogue cannot hide where K is small:
 * through erff (~27 instructions an element) M=8192 K=768 took 0.107 ms against 0.085 with bias, about
 * what cuBLASLt's BIAS + our separate pass takes (not erff's branch: a branch-free copy of its arithmetic,
 * the same bits on all 2^32 inputs, measured 0.106); through gelu_erf_16bit (~15, matmul_epilogue.cuh)
 * 0.095. The autotune (cuda_autotune.c) picks per shape.
 */
#include <cstdint>

#include "cuda_kernels.h"

/* FUSEGRAPH_WARPGROUP_KERNEL: CMake compiles this file for sm_90a with CUDA 12.5 or newer (TMA descriptor
 * types, cudaGetDriverEntryPointByVersion); otherwise only the entry points at the end exist, and they say
 * the kernel applies nowhere. */
#ifdef FUSEGRAPH_WARPGROUP_KERNEL
#include <atomic>
#include <cuda.h> /* CUtensorMap (types only: the encoder comes through the runtime) */
#include <cudaTypedefs.h>

#include "async_copy.cuh" /* smem_u32 */
#include "bulk_copy.cuh"
#include "warpgroup_mma.cuh"
#include "warpgroup_store.cuh" /* the epilogue: store_tile, WG_STAGING_BYTES */

#define WG_BM 128
#define WG_BK 64 /* elements of K per slice: one 128-byte swizzle row of 16-bit values */
#define WG_CACHED_DEVICES 64 /* devices whose compute capability and SM count are remembered */
#define WG_THREADS 384 /* 3 warpgroups: one copies, two multiply */
#define WG_GROUP_M 16

#if defined(__CUDA_ARCH__) && defined(__CUDA_ARCH_FEAT_SM90_ALL)
#define WG_HAS_WGMMA 1
#endif

template <int BN, int STAGES> struct warpgroup_shape {
    static constexpr uint32_t A_BYTES = WG_BM * 128, B_BYTES = BN * 128, STAGE_BYTES = A_BYTES + B_BYTES;
    /* + 1024: the dynamic shared memory base is rounded up to the swizzle atom */
    /* + the two consumers' staging areas for the epilogue */
    static constexpr size_t SHARED_BYTES = (size_t)STAGES * STAGE_BYTES + 1024 + 2 * WG_STAGING_BYTES;
    static constexpr int ACCUMULATORS = BN / 2; /* 64 x BN per warpgroup over 128 threads */
};

/* Tile t of the grouped order: WG_GROUP_M row-tiles per group, row-tile fastest inside a group. */
__device__ __forceinline__ void tile_origin(int tile, int tiles_m, int tiles_n, int bn, int *m0, int *n0) {
    const int tiles_per_group = WG_GROUP_M * tiles_n, group = tile / tiles_per_group;
    const int first_tile_m = group * WG_GROUP_M, group_rows = min(tiles_m - first_tile_m, WG_GROUP_M);
    const int in_group = tile % tiles_per_group;
    *m0 = (first_tile_m + in_group % group_rows) * WG_BM;
    *n0 = (in_group / group_rows) * bn;
}


/* Persistent: block b walks tiles b, b + gridDim.x, ... (its j-th tile is b + j * gridDim.x). Warpgroup 0
 * copies: one thread issues the TMA copies of every tile's slices in that order into the stage ring, up
 * to STAGES slices ahead, refilling a stage once its consumers released it. The slice counter of the
 * j-th tile starts at j * slices, and gives each slice its stage (counter % STAGES) and barrier phase
 * (counter / STAGES). Warpgroups 1 and 2 multiply:
 *  - COOPERATIVE (BN 256 or 128): both on every tile, 64 rows each; a stage is free when both released it.
 *  - PINGPONG (BN 128): each on every other tile (j even: warpgroup 1), all 128 rows (two m64 wgmma per
 *    step). The copier's order staggers them by itself: warpgroup 2's tile's slices follow warpgroup 1's in
 *    the ring, so it multiplies while warpgroup 1 runs its epilogue, and the other way round — the
 *    tensor cores do not wait for an expensive epilogue (exact GELU's erf). Their main loops take turns
 *    strictly (math_done barriers): a barrier's parity says only whether the latest phase of that parity
 *    completed, so a consumer may wait for a ring slot at most one phase ahead of the copier; left to
 *    run ahead onto its next tile, it read stale phases and the kernel faulted. */
template <typename T, int BN, int STAGES, bool PINGPONG>
__global__ void __launch_bounds__(WG_THREADS, 1)
    matmul_warpgroup_kernel(const __grid_constant__ CUtensorMap a_map, const __grid_constant__ CUtensorMap b_map, T *out,
                            const T *bias, int m, int k, int n, int epilogue) {
#ifdef WG_HAS_WGMMA
    using shape = warpgroup_shape<BN, STAGES>;
    constexpr int MMAS = PINGPONG ? 2 : 1; /* m64 wgmma per 16-wide step: the consumer's rows / 64 */
    extern __shared__ uint8_t shared_raw[];
    __shared__ uint64_t full_barriers[STAGES], empty_barriers[STAGES], math_done[2];
    const uint32_t base = (smem_u32(shared_raw) + 1023u) & ~1023u;
    const int warpgroup = threadIdx.x / 128;
    if (threadIdx.x == 0) {
        for (int s = 0; s < STAGES; s++) {
            mbarrier_init(smem_u32(&full_barriers[s]), 1);                  /* the copier's expect_bytes arrival */
            mbarrier_init(smem_u32(&empty_barriers[s]), PINGPONG ? 1 : 2); /* each consumer of the stage */
        }
        for (int c = 0; c < 2; c++) mbarrier_init(smem_u32(&math_done[c]), 1); /* consumer c's main loop ended */
        mbarrier_init_fence();
    }
    __syncthreads();
    const int tiles_m = (m + WG_BM - 1) / WG_BM, tiles_n = (n + BN - 1) / BN, tiles = tiles_m * tiles_n;
    const int slices = (k + WG_BK - 1) / WG_BK;

    if (warpgroup == 0) {
        registers_release<40>();
        if (threadIdx.x != 0) return;
        int counter = 0;
        for (int tile = blockIdx.x; tile < tiles; tile += gridDim.x) {
            int m0, n0;
            tile_origin(tile, tiles_m, tiles_n, BN, &m0, &n0);
            for (int slice = 0; slice < slices; slice++, counter++) {
                const int stage = counter % STAGES, round = counter / STAGES;
                if (round > 0) mbarrier_wait(smem_u32(&empty_barriers[stage]), (round - 1) & 1);
                const uint32_t full = smem_u32(&full_barriers[stage]), a_stage = base + stage * shape::STAGE_BYTES;
                mbarrier_expect_bytes(full, shape::STAGE_BYTES);
                tensor_copy_2d(a_stage, &a_map, slice * WG_BK, m0, full);
                tensor_copy_2d(a_stage + shape::A_BYTES, &b_map, slice * WG_BK, n0, full);
            }
        }
        return;
    }

    registers_claim<232>();
    const int consumer = warpgroup - 1;
    const bool signals = threadIdx.x % 128 == 0; /* one thread per warpgroup releases stages */
    const uint32_t staging = base + STAGES * shape::STAGE_BYTES + consumer * WG_STAGING_BYTES;
    float accumulators[MMAS * shape::ACCUMULATORS];
    const int first = PINGPONG ? consumer : 0, step_tiles = PINGPONG ? 2 : 1;
    for (int j = first; blockIdx.x + j * gridDim.x < tiles; j += step_tiles) {
        int m0, n0;
        tile_origin(blockIdx.x + j * gridDim.x, tiles_m, tiles_n, BN, &m0, &n0);
#pragma unroll
        for (int i = 0; i < MMAS * shape::ACCUMULATORS; i++) accumulators[i] = 0.0f;
        if (PINGPONG && j > 0) /* the other consumer's main loop of tile j - 1 (its ((j - 1) / 2)-th) has ended */
            mbarrier_wait(smem_u32(&math_done[1 - consumer]), ((j - 1) / 2) & 1);
        int counter = j * slices;
        for (int slice = 0; slice < slices; slice++, counter++) {
            const int stage = counter % STAGES, round = counter / STAGES;
            mbarrier_wait(smem_u32(&full_barriers[stage]), round & 1);
            const uint32_t a_tile = base + stage * shape::STAGE_BYTES + (PINGPONG ? 0 : consumer * 64 * 128);
            const uint32_t b_tile = base + stage * shape::STAGE_BYTES + shape::A_BYTES;
            warpgroup_fence();
#pragma unroll
            for (int step = 0; step < WG_BK / 16; step++) /* 16 elements = 32 bytes along the swizzled row */
#pragma unroll
                for (int rows = 0; rows < MMAS; rows++)
                    warpgroup_mma<T, BN>(accumulators + rows * shape::ACCUMULATORS,
                                         shared_tile_descriptor(a_tile + rows * 64 * 128 + step * 32),
                                         shared_tile_descriptor(b_tile + step * 32));
            warpgroup_commit();
            warpgroup_wait<1>(); /* the previous slice's multiplies are done: release its stage */
            if (slice > 0 && signals) mbarrier_arrive(smem_u32(&empty_barriers[(counter - 1) % STAGES]));
        }
        warpgroup_wait<0>();
        if (signals) mbarrier_arrive(smem_u32(&empty_barriers[(counter - 1) % STAGES]));
        if (PINGPONG && signals) mbarrier_arrive(smem_u32(&math_done[consumer]));
#pragma unroll
        for (int rows = 0; rows < MMAS; rows++)
            store_tile<T, BN>(accumulators + rows * shape::ACCUMULATORS, out, bias, m, n,
                              m0 + (PINGPONG ? rows * 64 : consumer * 64), n0, epilogue, staging, consumer);
    }
#endif
}

/* The driver's cuTensorMapEncodeTiled, found through the runtime (the module links no libcuda). */
static PFN_cuTensorMapEncodeTiled_v12000 tensor_map_encoder() {
    static PFN_cuTensorMapEncodeTiled_v12000 encoder = NULL;
    if (!encoder) {
        void *function = NULL;
        cudaDriverEntryPointQueryResult found;
        if (cudaGetDriverEntryPointByVersion("cuTensorMapEncodeTiled", &function, 12000, cudaEnableDefault, &found) ==
                cudaSuccess &&
            found == cudaDriverEntryPointSuccess)
            encoder = (PFN_cuTensorMapEncodeTiled_v12000)function;
    }
    return encoder;
}

/* A [rows, k] row-major matrix read in boxes of box_rows x 64, 128-byte swizzled, zeros outside. */
static cudaError_t encode_operand(CUtensorMap *map, const void *data, int dtype, int rows, int k, int box_rows) {
    PFN_cuTensorMapEncodeTiled_v12000 encode = tensor_map_encoder();
    if (!encode) return cudaErrorNotSupported;
    const cuuint64_t sizes[2] = {(cuuint64_t)k, (cuuint64_t)rows}, strides[1] = {(cuuint64_t)k * 2};
    const cuuint32_t box[2] = {WG_BK, (cuuint32_t)box_rows}, element_strides[2] = {1, 1};
    CUresult result = encode(map, dtype == CUDA_DTYPE_F16 ? CU_TENSOR_MAP_DATA_TYPE_FLOAT16 : CU_TENSOR_MAP_DATA_TYPE_BFLOAT16, 2,
                             (void *)data, sizes, strides, box, element_strides, CU_TENSOR_MAP_INTERLEAVE_NONE,
                             CU_TENSOR_MAP_SWIZZLE_128B, CU_TENSOR_MAP_L2_PROMOTION_L2_256B, CU_TENSOR_MAP_FLOAT_OOB_FILL_NONE);
    return result == CUDA_SUCCESS ? cudaSuccess : cudaErrorInvalidValue;
}

/* The device's compute capability (major x 10 + minor) and SM count, asked once per device and remembered
 * (devices 0 .. WG_CACHED_DEVICES - 1; others are asked every call): a launch should not spend host time on
 * them. (They stay right across cudaDeviceReset: they are the hardware's.) */
static cudaError_t device_figures(int device, int *compute_capability, int *sm_count) {
    static std::atomic<int> remembered[WG_CACHED_DEVICES][2]; /* zero: not asked yet */
    const bool cached = device >= 0 && device < WG_CACHED_DEVICES;
    if (cached) {
        *compute_capability = remembered[device][0].load(std::memory_order_relaxed);
        *sm_count = remembered[device][1].load(std::memory_order_relaxed);
        if (*compute_capability > 0 && *sm_count > 0) return cudaSuccess;
    }
    int major = 0, minor = 0;
    cudaError_t error = cudaDeviceGetAttribute(&major, cudaDevAttrComputeCapabilityMajor, device);
    if (error == cudaSuccess) error = cudaDeviceGetAttribute(&minor, cudaDevAttrComputeCapabilityMinor, device);
    if (error == cudaSuccess) error = cudaDeviceGetAttribute(sm_count, cudaDevAttrMultiProcessorCount, device);
    if (error != cudaSuccess) return error;
    *compute_capability = major * 10 + minor;
    if (cached) {
        remembered[device][0].store(*compute_capability, std::memory_order_relaxed);
        remembered[device][1].store(*sm_count, std::memory_order_relaxed);
    }
    return cudaSuccess;
}

template <typename T, int BN, int STAGES, bool PINGPONG>
static cudaError_t warpgroup_launch(T *out, const void *a, const void *b, const T *bias, int m, int k, int n, int dtype,
                                    int epilogue, int sm_count, cudaStream_t stream) {
    CUtensorMap a_map, b_map;
    cudaError_t error = encode_operand(&a_map, a, dtype, m, k, WG_BM);
    if (error == cudaSuccess) error = encode_operand(&b_map, b, dtype, n, k, BN);
    if (error != cudaSuccess) return error;
    const size_t shared_bytes = warpgroup_shape<BN, STAGES>::SHARED_BYTES;
    /* Set on every launch, not once per device: the attribute belongs to the kernel in a CUDA context, and
     * an application that calls cudaDeviceReset gets a fresh context with the default back, which a
     * remembered "done" would never set again. */
    error = cudaFuncSetAttribute(matmul_warpgroup_kernel<T, BN, STAGES, PINGPONG>, cudaFuncAttributeMaxDynamicSharedMemorySize,
                                 (int)shared_bytes);
    if (error != cudaSuccess) return error;
    const long long tiles = (long long)((m + WG_BM - 1) / WG_BM) * ((n + BN - 1) / BN);
    const unsigned blocks = (unsigned)(tiles < sm_count ? tiles : sm_count);
    matmul_warpgroup_kernel<T, BN, STAGES, PINGPONG><<<blocks, WG_THREADS, shared_bytes, stream>>>(a_map, b_map, out, bias, m, k, n, epilogue);
    return cudaGetLastError();
}

/* 128 x 256 tiles (cooperative) do twice the work of 128 x 128 ones per block and reuse each loaded byte
 * more, but at shapes whose tiles fill only part of the last wave the narrower tile wastes less: the
 * choice compares waves x tile width (one block per SM either way), with the narrower tile's work
 * counted 10% dearer for its lower reuse. The narrow tile runs ping-pong: measured on the H100 with the
 * bias epilogue it beat the cooperative 128 x 128 at every shape timed (M=2048 K=768 N=3072: 0.027 ms
 * against 0.030; M=8192 K=768: 0.083 against 0.093). */
static bool prefer_wide_tile(int m, int n, int sm_count) {
    const long long rows = (m + WG_BM - 1) / WG_BM;
    const long long wide_waves = (rows * ((n + 255) / 256) + sm_count - 1) / sm_count;
    const long long narrow_waves = (rows * ((n + 127) / 128) + sm_count - 1) / sm_count;
    return wide_waves * 256 * 10 <= narrow_waves * 128 * 11;
}

template <typename T>
static cudaError_t warpgroup_forward(void *out, const void *a, const void *b, const void *bias, int m, int k, int n, int dtype,
                                     int epilogue, int sm_count, int tile, cudaStream_t stream) {
    if (tile == 0) tile = prefer_wide_tile(m, n, sm_count) ? 1 : 3;
    T *o = (T *)out;
    const T *c = (const T *)bias;
    if (tile == 1) return warpgroup_launch<T, 256, 4, false>(o, a, b, c, m, k, n, dtype, epilogue, sm_count, stream);
    if (tile == 2) return warpgroup_launch<T, 128, 6, false>(o, a, b, c, m, k, n, dtype, epilogue, sm_count, stream);
    if (tile == 3) return warpgroup_launch<T, 128, 6, true>(o, a, b, c, m, k, n, dtype, epilogue, sm_count, stream);
    return cudaErrorInvalidValue;
}

/* Tile counts are computed in int as (m + 127) / 128 and (n + 255) / 256: m and n stay 256 short of INT32_MAX. */
extern "C" int matmul_warpgroup_applies(int compute_capability, int64_t m, int64_t k, int64_t n, int dtype) {
    return compute_capability == 90 && (dtype == CUDA_DTYPE_F16 || dtype == CUDA_DTYPE_BF16) && k % 8 == 0 && m >= 1 &&
           n >= 1 && m <= INT32_MAX - 256 && n <= INT32_MAX - 256 && k <= INT32_MAX;
}

extern "C" cudaError_t matmul_warpgroup_forward_tile(void *out, const void *a, const void *b, const void *bias, int64_t m,
                                                     int64_t k, int64_t n, int dtype, int epilogue, int tile, cudaStream_t stream) {
    int device = 0, compute_capability = 0, sm_count = 0;
    cudaError_t error = cudaGetDevice(&device);
    if (error == cudaSuccess) error = device_figures(device, &compute_capability, &sm_count);
    if (error != cudaSuccess) return error;
    if (!matmul_warpgroup_applies(compute_capability, m, k, n, dtype) || (((uintptr_t)a | (uintptr_t)b) & 15) ||
        ((uintptr_t)out & 3))
        return cudaErrorNotSupported;
    if (dtype == CUDA_DTYPE_F16)
        return warpgroup_forward<__half>(out, a, b, bias, (int)m, (int)k, (int)n, dtype, epilogue, sm_count, tile, stream);
    return warpgroup_forward<__nv_bfloat16>(out, a, b, bias, (int)m, (int)k, (int)n, dtype, epilogue, sm_count, tile, stream);
}

#else /* no Hopper kernel in this build */

extern "C" int matmul_warpgroup_applies(int compute_capability, int64_t m, int64_t k, int64_t n, int dtype) {
    (void)compute_capability, (void)m, (void)k, (void)n, (void)dtype;
    return 0;
}

extern "C" cudaError_t matmul_warpgroup_forward_tile(void *out, const void *a, const void *b, const void *bias, int64_t m,
                                                     int64_t k, int64_t n, int dtype, int epilogue, int tile, cudaStream_t stream) {
    (void)out, (void)a, (void)b, (void)bias, (void)m, (void)k, (void)n, (void)dtype, (void)epilogue, (void)tile, (void)stream;
    return cudaErrorNotSupported;
}

#endif /* FUSEGRAPH_WARPGROUP_KERNEL */

extern "C" cudaError_t matmul_warpgroup_forward(void *out, const void *a, const void *b, const void *bias, int64_t m, int64_t k,
                                                int64_t n, int dtype, int epilogue, cudaStream_t stream) {
    return matmul_warpgroup_forward_tile(out, a, b, bias, m, k, n, dtype, epilogue, 0, stream);
}
