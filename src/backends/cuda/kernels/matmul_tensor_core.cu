/*
 * matmul_tensor_core.cu — matmul on the tensor cores through mma.sync (sm_80 and newer):
 *   out[M, N] = epilogue(a[M, K] x b[K, N] + bias[N]),  b row-major [K, N] or [N, K] (B_TRANSPOSED:
 *   PyTorch's nn.Linear weight), f32 accumulation.
 * dtype f32 runs as TF32 (inputs rounded with cvt.rna, mma m16n8k8); f16 and bf16 use m16n8k16.
 *
 * One template serves the three dtypes: every size is set in bytes, so a K slice is 64 bytes of K
 * (BK = 16 f32 or 32 halves) and an mma k-step is 32 bytes of K (8 f32 or 16 halves).
 *  - Block tile 128 x 128 x BK, 256 threads = 8 warps in 2 (M) x 4 (N), each warp 64 x 32
 *    (4 x 4 mma tiles, 64 f32 accumulators per thread).
 *  - 4-stage cp.async pipeline through dynamic shared memory (18,944 bytes a stage, 75,776 in all).
 *  - A tile [128][BK] with rows padded to 80 bytes and B tile [BK][128] with rows padded by 8
 *    elements: the 8 row addresses of every ldmatrix (and the TF32 scalar B reads) land on
 *    distinct banks.
 *  - A fragments: ldmatrix.x4 for every dtype (for f32, a 16-byte ldmatrix row is 4 floats, which
 *    is exactly the TF32 A fragment layout). B is [K][N] row-major, i.e. not the "col" layout mma
 *    wants: for 16-bit types ldmatrix.x4.trans transposes it on the way; for TF32 each thread reads
 *    its two B elements (k = t and t + 4, n = g) with scalar loads.
 *  - Loads: 16-byte cp.async.cg with a zero-fill src-size at the boundaries when rows are 16-byte
 *    aligned (K resp. N a multiple of 16 bytes' worth of elements); otherwise a scalar path: 4-byte
 *    cp.async for f32, plain loads + shared stores for 16-bit types (cp.async has no 2-byte form).
 *  - B_TRANSPOSED (b is [N, K]): b's tile is loaded exactly like a's ([128][BK], rows padded to 80
 *    bytes), and that [n][k] order is already the "col" layout mma wants, so one ldmatrix.x4 (no
 *    .trans) gives {b0, b1} of two n8 tiles for every dtype, TF32 included (a 16-byte ldmatrix row is
 *    4 floats = b0 or b1 of 8 columns).
 *  - The epilogue runs on the accumulators, converted to the output dtype in the one store.
 * Measured on an H100 SXM (tests/cuda/check_matmul_kernels.cu): ~305 TFLOP/s bf16/f16 and ~130 TF32
 * at 4096^3. The knobs below were tried there: 128-byte slices (3 or 4 stages), 6 stages, and a
 * 128 x 256 tile with 64 x 64 warp tiles (1 block/SM) were all equal or slower than 128 x 128, 64-byte
 * slices, 4 stages, 2 blocks/SM; 128-byte slices also spill registers.
 */
#include <climits>
#include <cstdint>

#include "cuda_kernels.h"
#include "async_copy.cuh"
#include "matmul_epilogue.cuh"
#include "mma_fragments.cuh" /* to_tf32, mma_step */

#define TC_BM 128
#ifndef TC_BN
#define TC_BN 128
#endif
#define TC_WN (TC_BN / 4)     /* warp tile columns (4 warps across N) */
#define TC_NT (TC_WN / 8)     /* n8 mma tiles per warp */
#define TC_MIN_BLOCKS (TC_BN == 128 ? 2 : 1) /* 2 blocks/SM caps registers at 128 a thread */
#ifndef TC_SLICE_BYTES
#define TC_SLICE_BYTES 64 /* bytes of K per pipeline stage (a row of the A tile) */
#endif
#ifndef TC_STAGES
#define TC_STAGES 4
#endif
#define TC_THREADS 256
#define TC_GROUP_M 8 /* blocks walk 8 row-tiles per column-tile group, so concurrent blocks share B in L2 */

template <typename T, bool B_TRANSPOSED = false> struct tc_shape {
    static constexpr int BK = TC_SLICE_BYTES / (int)sizeof(T);    /* elements of K per slice */
    static constexpr int VEC = 16 / (int)sizeof(T);               /* elements per 16-byte chunk */
    static constexpr int A_STRIDE = BK + VEC;                     /* 80 (or 144) bytes a row */
    static constexpr int B_STRIDE = TC_BN + 8;                    /* 272 (16-bit) or 544 (f32) bytes */
    static constexpr int A_BYTES = TC_BM * A_STRIDE * (int)sizeof(T);
    /* [BK][B_STRIDE] for b [K, N]; [TC_BN][A_STRIDE] (a's layout) for b [N, K] */
    static constexpr int B_BYTES = (B_TRANSPOSED ? TC_BN * A_STRIDE : BK * B_STRIDE) * (int)sizeof(T);
    static constexpr int STAGE_BYTES = A_BYTES + B_BYTES;
    static constexpr int SMEM_BYTES = TC_STAGES * STAGE_BYTES;
    static constexpr int B_CHUNKS_PER_ROW = TC_BN / VEC;
    static constexpr int A_CHUNKS_PER_ROW = TC_SLICE_BYTES / 16;
    static constexpr int A_CHUNKS_PER_THREAD = TC_BM * A_CHUNKS_PER_ROW / TC_THREADS;
    static constexpr int B_CHUNKS_PER_THREAD = BK * B_CHUNKS_PER_ROW / TC_THREADS;
    static constexpr int BT_CHUNKS_PER_THREAD = TC_BN * A_CHUNKS_PER_ROW / TC_THREADS; /* b [N, K] */
    static constexpr int KSTEPS = TC_SLICE_BYTES / 32; /* mma k-steps (32 bytes of K each) per slice */
};

__device__ __forceinline__ void ldmatrix_x4(uint32_t (&r)[4], uint32_t addr) {
    asm volatile("ldmatrix.sync.aligned.m8n8.x4.shared.b16 {%0,%1,%2,%3}, [%4];\n"
                 : "=r"(r[0]), "=r"(r[1]), "=r"(r[2]), "=r"(r[3])
                 : "r"(addr));
}
__device__ __forceinline__ void ldmatrix_x4_trans(uint32_t (&r)[4], uint32_t addr) {
    asm volatile("ldmatrix.sync.aligned.m8n8.x4.trans.shared.b16 {%0,%1,%2,%3}, [%4];\n"
                 : "=r"(r[0]), "=r"(r[1]), "=r"(r[2]), "=r"(r[3])
                 : "r"(addr));
}
/* Copies `count` consecutive elements of one row (global, starting at column `col` of a row of
 * `cols`) into shared memory, zero-filling past the row's end or when the row is out of range.
 * VEC_OK: the row start is 16-byte aligned and count is one whole chunk. */
template <typename T, bool VEC_OK>
__device__ __forceinline__ void tc_copy_chunk(T *dst, const T *base, const T *row_ptr, bool row_ok, int col, int cols) {
    constexpr int VEC = tc_shape<T>::VEC;
    if (VEC_OK) {
        bool ok = row_ok && col < cols; /* cols % VEC == 0: an in-range chunk is whole */
        cp_async_16(smem_u32(dst), ok ? (const void *)(row_ptr + col) : (const void *)base, ok ? 16 : 0);
    } else if constexpr (sizeof(T) == 4) {
#pragma unroll
        for (int e = 0; e < VEC; e++) {
            bool ok = row_ok && col + e < cols;
            cp_async_4(smem_u32(dst + e), ok ? (const void *)(row_ptr + col + e) : (const void *)base, ok ? 4 : 0);
        }
    } else {
        const unsigned short *src = reinterpret_cast<const unsigned short *>(row_ptr);
        unsigned short *d = reinterpret_cast<unsigned short *>(dst);
#pragma unroll
        for (int e = 0; e < VEC; e++) d[e] = (row_ok && col + e < cols) ? __ldg(src + col + e) : (unsigned short)0;
    }
}

/* A [rows][BK] slice (K columns k0..) of a row-major [row_count, K] matrix, from row `first_row` on,
 * into shared memory with a's padded stride: CHUNKS 16-byte chunks per thread. Used for a, and for b
 * when it is given as [N, K]. */
template <typename T, bool VEC, int CHUNKS>
__device__ __forceinline__ void tc_load_k_rows(T *tile, const T *matrix, int first_row, int row_count, int k0, int K,
                                               int tid) {
    using S = tc_shape<T>;
#pragma unroll
    for (int i = 0; i < CHUNKS; i++) {
        int c = tid + i * TC_THREADS;
        int row = c / S::A_CHUNKS_PER_ROW, ch = c % S::A_CHUNKS_PER_ROW;
        int global_row = first_row + row;
        tc_copy_chunk<T, VEC>(tile + row * S::A_STRIDE + ch * S::VEC, matrix, matrix + (int64_t)global_row * K,
                              global_row < row_count, k0 + ch * S::VEC, K);
    }
}

/* Issues the loads of K slice `k0` into one stage: 512 16-byte chunks of A and 512 of B, 2 each per thread. */
template <typename T, bool A_VEC, bool B_VEC, bool B_TRANSPOSED>
__device__ __forceinline__ void tc_load_stage(unsigned char *stage, const T *a, const T *b, int M, int K, int N,
                                              int block_m, int block_n, int k0, int tid) {
    using S = tc_shape<T, B_TRANSPOSED>;
    T *As = reinterpret_cast<T *>(stage);
    T *Bs = reinterpret_cast<T *>(stage + S::A_BYTES);
    tc_load_k_rows<T, A_VEC, S::A_CHUNKS_PER_THREAD>(As, a, block_m, M, k0, K, tid);
    if constexpr (B_TRANSPOSED) { /* rows of b are columns of out: the same copy as a's */
        tc_load_k_rows<T, B_VEC, S::BT_CHUNKS_PER_THREAD>(Bs, b, block_n, N, k0, K, tid);
    } else {
#pragma unroll
        for (int i = 0; i < S::B_CHUNKS_PER_THREAD; i++) {
            int c = tid + i * TC_THREADS;
            int row = c / S::B_CHUNKS_PER_ROW, ch = c % S::B_CHUNKS_PER_ROW;
            int gk = k0 + row;
            tc_copy_chunk<T, B_VEC>(Bs + row * S::B_STRIDE + ch * S::VEC, b, b + (int64_t)gk * N, gk < K,
                                    block_n + ch * S::VEC, N);
        }
    }
}

template <typename T, bool A_VEC, bool B_VEC, bool B_TRANSPOSED>
__global__ void __launch_bounds__(TC_THREADS, TC_MIN_BLOCKS)
    matmul_tensor_core_kernel(T *__restrict__ out, const T *__restrict__ a, const T *__restrict__ b,
                              const T *__restrict__ bias, int M, int K, int N, int epilogue, bool pair_out) {
    using S = tc_shape<T, B_TRANSPOSED>;
    extern __shared__ __align__(128) unsigned char tc_smem[];

    const int tid = threadIdx.x, lane = tid & 31, warp = tid >> 5;
    const int warp_m = warp >> 2, warp_n = warp & 3; /* warp tile: rows warp_m*64.., columns warp_n*TC_WN.. */
    const int g = lane >> 2, t = lane & 3;           /* mma fragment coordinates */

    /* Grouped rasterisation of the 1-D grid (see TC_GROUP_M). */
    const int tiles_m = (M + TC_BM - 1) / TC_BM, tiles_n = (N + TC_BN - 1) / TC_BN;
    const int per_group = TC_GROUP_M * tiles_n;
    const int group = blockIdx.x / per_group, first_m = group * TC_GROUP_M;
    const int group_rows = min(tiles_m - first_m, TC_GROUP_M);
    const int in_group = blockIdx.x % per_group;
    const int block_m = (first_m + in_group % group_rows) * TC_BM, block_n = (in_group / group_rows) * TC_BN;

    float acc[4][TC_NT][4];
#pragma unroll
    for (int i = 0; i < 4; i++)
#pragma unroll
        for (int j = 0; j < TC_NT; j++)
#pragma unroll
            for (int e = 0; e < 4; e++) acc[i][j][e] = 0.f;

    const int slices = (K + S::BK - 1) / S::BK;
    /* Prologue: STAGES-1 slices in flight. Every step commits a group, empty or not, so that
     * wait_group<STAGES-2> below always means "slice s has landed". */
#pragma unroll
    for (int s = 0; s < TC_STAGES - 1; s++) {
        if (s < slices)
            tc_load_stage<T, A_VEC, B_VEC, B_TRANSPOSED>(tc_smem + s * S::STAGE_BYTES, a, b, M, K, N, block_m, block_n, s * S::BK, tid);
        cp_async_commit();
    }

    for (int s = 0; s < slices; s++) {
        cp_async_wait<TC_STAGES - 2>();
        /* Publishes slice s to every warp, and every warp has finished slice s-1, whose stage the
         * load below overwrites. */
        __syncthreads();
        const int next = s + TC_STAGES - 1;
        if (next < slices)
            tc_load_stage<T, A_VEC, B_VEC, B_TRANSPOSED>(tc_smem + (next % TC_STAGES) * S::STAGE_BYTES, a, b, M, K, N, block_m,
                                           block_n, next * S::BK, tid);
        cp_async_commit();

        const unsigned char *stage = tc_smem + (s % TC_STAGES) * S::STAGE_BYTES;
        const uint32_t a_base = smem_u32(stage), b_base = smem_u32(stage + S::A_BYTES);
#pragma unroll
        for (int ks = 0; ks < S::KSTEPS; ks++) {
            uint32_t af[4][4], bf[TC_NT][2];
#pragma unroll
            for (int mt = 0; mt < 4; mt++) {
                /* lanes 0-15: rows 0-15 at the step's first 16 bytes; lanes 16-31: the next 16 bytes */
                int row = warp_m * 64 + mt * 16 + (lane & 15);
                ldmatrix_x4(af[mt], a_base + row * (S::A_STRIDE * (int)sizeof(T)) + ks * 32 + (lane >> 4) * 16);
                if constexpr (sizeof(T) == 4) {
#pragma unroll
                    for (int e = 0; e < 4; e++) af[mt][e] = to_tf32(af[mt][e]);
                }
            }
            if constexpr (B_TRANSPOSED) {
                /* b's tile is [n][k]: matrices (n0-7, first 16 bytes of the step), (n0-7, next 16),
                 * (n8-15, first 16), (n8-15, next 16) = {b0, b1} of two n8 tiles, for 16-bit types and
                 * for TF32 alike. */
#pragma unroll
                for (int np = 0; np < TC_NT / 2; np++) {
                    int nrow = warp_n * TC_WN + np * 16 + (lane & 7) + (lane >> 4) * 8;
                    uint32_t r[4];
                    ldmatrix_x4(r, b_base + nrow * (S::A_STRIDE * (int)sizeof(T)) + ks * 32 + ((lane >> 3) & 1) * 16);
                    if constexpr (sizeof(T) == 4) {
#pragma unroll
                        for (int e = 0; e < 4; e++) r[e] = to_tf32(r[e]);
                    }
                    bf[2 * np][0] = r[0];
                    bf[2 * np][1] = r[1];
                    bf[2 * np + 1][0] = r[2];
                    bf[2 * np + 1][1] = r[3];
                }
            } else if constexpr (sizeof(T) == 2) {
                /* Each x4.trans covers k 0-15 x n 0-15 of the step: matrices (k0-7,n0-7), (k8-15,n0-7),
                 * (k0-7,n8-15), (k8-15,n8-15) = {b0,b1} of two n8 tiles. */
#pragma unroll
                for (int np = 0; np < TC_NT / 2; np++) {
                    int krow = ks * 16 + (lane & 7) + ((lane >> 3) & 1) * 8;
                    int col = warp_n * TC_WN + np * 16 + (lane >> 4) * 8;
                    uint32_t r[4];
                    ldmatrix_x4_trans(r, b_base + (krow * S::B_STRIDE + col) * (int)sizeof(T));
                    bf[2 * np][0] = r[0];
                    bf[2 * np][1] = r[1];
                    bf[2 * np + 1][0] = r[2];
                    bf[2 * np + 1][1] = r[3];
                }
            } else {
                /* TF32 B fragment: b0 = B[k = t][n = g], b1 = B[k = t + 4][n = g]; a stride of
                 * TC_BN + 8 floats puts the 4 k rows 8 banks apart, so the warp's 32 reads are conflict-free. */
                const float *Bs = reinterpret_cast<const float *>(stage + S::A_BYTES);
#pragma unroll
                for (int nt = 0; nt < TC_NT; nt++) {
                    int col = warp_n * TC_WN + nt * 8 + g;
                    bf[nt][0] = to_tf32(__float_as_uint(Bs[(ks * 8 + t) * S::B_STRIDE + col]));
                    bf[nt][1] = to_tf32(__float_as_uint(Bs[(ks * 8 + t + 4) * S::B_STRIDE + col]));
                }
            }
#pragma unroll
            for (int mt = 0; mt < 4; mt++)
#pragma unroll
                for (int nt = 0; nt < TC_NT; nt++) mma_step<T>(acc[mt][nt], af[mt], bf[nt][0], bf[nt][1]);
        }
    }
    cp_async_wait<0>(); /* only empty groups remain; leave nothing in flight at exit */

    /* Epilogue: accumulator e of tile (mt, nt) is row g (+8 for e >= 2), column 2t + (e & 1). */
    float bias_v[TC_NT][2];
#pragma unroll
    for (int nt = 0; nt < TC_NT; nt++)
#pragma unroll
        for (int e = 0; e < 2; e++) {
            int col = block_n + warp_n * TC_WN + nt * 8 + 2 * t + e;
            bias_v[nt][e] = (epilogue != CUDA_EPILOGUE_NONE && col < N) ? to_float<T>(bias[col]) : 0.f;
        }
#pragma unroll
    for (int mt = 0; mt < 4; mt++)
#pragma unroll
        for (int h = 0; h < 2; h++) {
            int row = block_m + warp_m * 64 + mt * 16 + g + h * 8;
            if (row >= M) continue;
            T *orow = out + (int64_t)row * N;
#pragma unroll
            for (int nt = 0; nt < TC_NT; nt++) {
                int col = block_n + warp_n * TC_WN + nt * 8 + 2 * t;
                T v0 = from_float<T>(apply_epilogue(acc[mt][nt][2 * h], bias_v[nt][0], epilogue));
                T v1 = from_float<T>(apply_epilogue(acc[mt][nt][2 * h + 1], bias_v[nt][1], epilogue));
                if (pair_out) { /* N even, so col (even) < N means col + 1 < N too */
                    if (col < N) {
                        if constexpr (sizeof(T) == 4) {
                            *reinterpret_cast<float2 *>(orow + col) = make_float2(to_float<T>(v0), to_float<T>(v1));
                        } else {
                            uint32_t packed = (uint32_t)*reinterpret_cast<unsigned short *>(&v0) |
                                              ((uint32_t)*reinterpret_cast<unsigned short *>(&v1) << 16);
                            *reinterpret_cast<uint32_t *>(orow + col) = packed;
                        }
                    }
                } else {
                    if (col < N) orow[col] = v0;
                    if (col + 1 < N) orow[col + 1] = v1;
                }
            }
        }
}

template <typename T, bool A_VEC, bool B_VEC, bool B_TRANSPOSED>
static cudaError_t tc_launch(T *out, const T *a, const T *b, const T *bias, int m, int k, int n, int epilogue,
                             bool pair_out, unsigned blocks, cudaStream_t stream) {
    auto kernel = matmul_tensor_core_kernel<T, A_VEC, B_VEC, B_TRANSPOSED>;
    constexpr int smem_bytes = tc_shape<T, B_TRANSPOSED>::SMEM_BYTES;
    /* Over 48 KB of shared memory must be opted into; set every launch (cheap, per device, idempotent). */
    cudaError_t err = cudaFuncSetAttribute(kernel, cudaFuncAttributeMaxDynamicSharedMemorySize, smem_bytes);
    if (err != cudaSuccess) return err;
    kernel<<<blocks, TC_THREADS, smem_bytes, stream>>>(out, a, b, bias, m, k, n, epilogue, pair_out);
    return cudaGetLastError();
}

template <typename T, bool B_TRANSPOSED>
static cudaError_t tc_forward(void *out, const void *a, const void *b, const void *bias, int m, int k, int n,
                              int epilogue, unsigned blocks, cudaStream_t stream) {
    constexpr int VEC = tc_shape<T>::VEC;
    /* 16-byte chunks need every row start 16-byte aligned: the base pointer and the row length. */
    bool a_vec = k % VEC == 0 && ((uintptr_t)a & 15) == 0;
    bool b_vec = (B_TRANSPOSED ? k : n) % VEC == 0 && ((uintptr_t)b & 15) == 0;
    bool pair_out = n % 2 == 0 && ((uintptr_t)out & (2 * sizeof(T) - 1)) == 0;
    T *o = (T *)out;
    const T *pa = (const T *)a, *pb = (const T *)b, *pbias = (const T *)bias;
    if (a_vec && b_vec)
        return tc_launch<T, true, true, B_TRANSPOSED>(o, pa, pb, pbias, m, k, n, epilogue, pair_out, blocks, stream);
    if (a_vec) return tc_launch<T, true, false, B_TRANSPOSED>(o, pa, pb, pbias, m, k, n, epilogue, pair_out, blocks, stream);
    if (b_vec) return tc_launch<T, false, true, B_TRANSPOSED>(o, pa, pb, pbias, m, k, n, epilogue, pair_out, blocks, stream);
    return tc_launch<T, false, false, B_TRANSPOSED>(o, pa, pb, pbias, m, k, n, epilogue, pair_out, blocks, stream);
}

template <typename T>
static cudaError_t tc_forward_layout(void *out, const void *a, const void *b, const void *bias, int m, int k, int n,
                                     int b_transposed, int epilogue, unsigned blocks, cudaStream_t stream) {
    return b_transposed ? tc_forward<T, true>(out, a, b, bias, m, k, n, epilogue, blocks, stream)
                        : tc_forward<T, false>(out, a, b, bias, m, k, n, epilogue, blocks, stream);
}

extern "C" cudaError_t matmul_tensor_core_forward(void *out, const void *a, const void *b, const void *bias, int64_t m,
                                                  int64_t k, int64_t n, int b_transposed, int dtype, int epilogue,
                                                  cudaStream_t stream) {
    if (m < 1 || k < 1 || n < 1 || m > INT_MAX || k > INT_MAX || n > INT_MAX || epilogue < CUDA_EPILOGUE_NONE ||
        epilogue > CUDA_EPILOGUE_BIAS_GELU_TANH || (epilogue != CUDA_EPILOGUE_NONE && bias == NULL))
        return cudaErrorInvalidValue;
    int64_t blocks = ((m + TC_BM - 1) / TC_BM) * ((n + TC_BN - 1) / TC_BN);
    if (blocks > INT_MAX) return cudaErrorInvalidValue;
    switch (dtype) {
    case CUDA_DTYPE_F32:
        return tc_forward_layout<float>(out, a, b, bias, (int)m, (int)k, (int)n, b_transposed, epilogue, (unsigned)blocks, stream);
    case CUDA_DTYPE_F16:
        return tc_forward_layout<__half>(out, a, b, bias, (int)m, (int)k, (int)n, b_transposed, epilogue, (unsigned)blocks, stream);
    case CUDA_DTYPE_BF16:
        return tc_forward_layout<__nv_bfloat16>(out, a, b, bias, (int)m, (int)k, (int)n, b_transposed, epilogue,
                                                (unsigned)blocks, stream);
    default: return cudaErrorInvalidValue;
    }
}
