/*
 * matmul_simt.cu — exact f32 matmul on the CUDA cores (FFMA, no TF32):
 *   out[M, N] = epilogue(a[M, K] x b[K, N] + bias[N]),  b row-major [K, N], or [N, K] (B_TRANSPOSED).
 *
 * Classic shared-memory SGEMM. A block of 256 threads computes a 128x128 tile of out, stepping
 * through K 8 at a time; each thread owns an 8x8 register tile (two 4-row x two 4-column quads, so
 * its shared-memory reads are float4 and a warp's reads are broadcasts or contiguous). The next K
 * slice is fetched from global memory into registers while the current one is multiplied out of
 * the other half of a double-buffered shared tile, so there is one __syncthreads per slice.
 * A is stored transposed in shared memory ([k][m]) so the 4 rows a thread needs are one float4; a b
 * given as [N, K] is loaded and stored exactly like A (its rows are columns of out), so both layouts
 * meet the same [k][n] shared tile and the inner loop is one code.
 * Boundaries (any M, K, N >= 1) are zero-filled on load and masked on store; when K or N is not a
 * multiple of 4 (or a pointer not 16-byte aligned) rows do not start 16-byte aligned, and the
 * scalar-load instance is used instead of float4 loads.
 */
#include <climits>
#include <cstdint>

#include "cuda_kernels.h"
#include "matmul_epilogue.cuh"

#define SIMT_BM 128
#define SIMT_BN 128
#define SIMT_BK 8
#define SIMT_THREADS 256
/* +4 floats per row of transposed A: the two threads that store one A row's halves hit different
 * banks (4 * 132 = 528 = 16 banks apart), and rows stay 16-byte aligned for float4 reads. */
#define SIMT_A_STRIDE (SIMT_BM + 4)

/* 4 consecutive floats of a row from column `col` on, zeros past `columns` or for a row out of range.
 * VEC: rows are 16-byte aligned (columns % 4 == 0), so an in-bounds quad is wholly in bounds. */
template <bool VEC>
__device__ __forceinline__ float4 simt_load_quad(const float *row, bool row_ok, int col, int columns) {
    if (VEC) return (row_ok && col < columns) ? __ldg(reinterpret_cast<const float4 *>(row + col)) : make_float4(0.f, 0.f, 0.f, 0.f);
    float4 q;
    q.x = (row_ok && col + 0 < columns) ? __ldg(row + col + 0) : 0.f;
    q.y = (row_ok && col + 1 < columns) ? __ldg(row + col + 1) : 0.f;
    q.z = (row_ok && col + 2 < columns) ? __ldg(row + col + 2) : 0.f;
    q.w = (row_ok && col + 3 < columns) ? __ldg(row + col + 3) : 0.f;
    return q;
}

/* Loads this thread's share of one K slice into registers: 4 consecutive k of one A row (thread
 * tid: row tid/2, k 4*(tid%2)) and of B either 4 consecutive n of one row of b [K, N] (row tid/32, n
 * 4*(tid%32)) or, B_TRANSPOSED, 4 consecutive k of one row of b [N, K] (as for A). */
template <bool VEC, bool B_TRANSPOSED>
__device__ __forceinline__ void simt_load_slice(float4 &ra, float4 &rb, const float *a, const float *b, int M, int K,
                                                int N, int block_m, int block_n, int k0, int tid) {
    int am = block_m + (tid >> 1), ak = k0 + (tid & 1) * 4;
    ra = simt_load_quad<VEC>(a + (int64_t)am * K, am < M, ak, K);
    if (B_TRANSPOSED) {
        int bn = block_n + (tid >> 1);
        rb = simt_load_quad<VEC>(b + (int64_t)bn * K, bn < N, ak, K);
    } else {
        int bk = k0 + (tid >> 5), bn = block_n + (tid & 31) * 4;
        rb = simt_load_quad<VEC>(b + (int64_t)bk * N, bk < K, bn, N);
    }
}

/* A (and a transposed B) quad of 4 k of one row goes to 4 rows of the [k][row] tile. */
__device__ __forceinline__ void simt_store_transposed(float (*tile)[SIMT_A_STRIDE], const float4 &q, int tid) {
    int row = tid >> 1, k = (tid & 1) * 4;
    tile[k + 0][row] = q.x;
    tile[k + 1][row] = q.y;
    tile[k + 2][row] = q.z;
    tile[k + 3][row] = q.w;
}

template <bool B_TRANSPOSED>
__device__ __forceinline__ void simt_store_slice(float (*As)[SIMT_A_STRIDE], float (*Bs)[SIMT_A_STRIDE], const float4 &ra,
                                                 const float4 &rb, int tid) {
    simt_store_transposed(As, ra, tid);
    if (B_TRANSPOSED) simt_store_transposed(Bs, rb, tid);
    else *reinterpret_cast<float4 *>(&Bs[tid >> 5][(tid & 31) * 4]) = rb;
}

template <bool VEC, bool B_TRANSPOSED>
__global__ void __launch_bounds__(SIMT_THREADS, 2)
    matmul_simt_kernel(float *__restrict__ out, const float *__restrict__ a, const float *__restrict__ b,
                       const float *__restrict__ bias, int M, int K, int N, int epilogue, bool vec_out) {
    __shared__ __align__(16) float As[2][SIMT_BK][SIMT_A_STRIDE];
    /* B's rows padded like A's (SIMT_BN == SIMT_BM): a transposed B is stored as A is */
    __shared__ __align__(16) float Bs[2][SIMT_BK][SIMT_A_STRIDE];

    const int tid = threadIdx.x;
    const int tx = tid & 15, ty = tid >> 4; /* 16 x 16 threads over the 128 x 128 tile */
    const int block_m = blockIdx.y * SIMT_BM, block_n = blockIdx.x * SIMT_BN;

    float acc[8][8];
#pragma unroll
    for (int i = 0; i < 8; i++)
#pragma unroll
        for (int j = 0; j < 8; j++) acc[i][j] = 0.f;

    float4 ra, rb;
    simt_load_slice<VEC, B_TRANSPOSED>(ra, rb, a, b, M, K, N, block_m, block_n, 0, tid);
    simt_store_slice<B_TRANSPOSED>(As[0], Bs[0], ra, rb, tid);
    __syncthreads();

    const int slices = (K + SIMT_BK - 1) / SIMT_BK;
    for (int s = 0; s < slices; s++) {
        const int cur = s & 1;
        const bool more = s + 1 < slices;
        /* Issue the next slice's global loads first so their latency hides behind the FFMAs. */
        if (more) simt_load_slice<VEC, B_TRANSPOSED>(ra, rb, a, b, M, K, N, block_m, block_n, (s + 1) * SIMT_BK, tid);
#pragma unroll
        for (int k = 0; k < SIMT_BK; k++) {
            float4 a0 = *reinterpret_cast<const float4 *>(&As[cur][k][ty * 4]);
            float4 a1 = *reinterpret_cast<const float4 *>(&As[cur][k][64 + ty * 4]);
            float4 b0 = *reinterpret_cast<const float4 *>(&Bs[cur][k][tx * 4]);
            float4 b1 = *reinterpret_cast<const float4 *>(&Bs[cur][k][64 + tx * 4]);
            float av[8] = {a0.x, a0.y, a0.z, a0.w, a1.x, a1.y, a1.z, a1.w};
            float bv[8] = {b0.x, b0.y, b0.z, b0.w, b1.x, b1.y, b1.z, b1.w};
#pragma unroll
            for (int i = 0; i < 8; i++)
#pragma unroll
                for (int j = 0; j < 8; j++) acc[i][j] = fmaf(av[i], bv[j], acc[i][j]);
        }
        /* The other buffer was last read in iteration s-1, which every thread finished before the
         * barrier at its end, so writing it now is race-free; this barrier publishes it for s+1. */
        if (more) simt_store_slice<B_TRANSPOSED>(As[cur ^ 1], Bs[cur ^ 1], ra, rb, tid);
        __syncthreads();
    }

    /* Epilogue in registers, then the one store. Thread columns: tx*4 + 0..3 and 64 + tx*4 + 0..3. */
    float bias_v[8];
#pragma unroll
    for (int j = 0; j < 8; j++) {
        int col = block_n + (j < 4 ? tx * 4 + j : 64 + tx * 4 + (j - 4));
        bias_v[j] = (epilogue != CUDA_EPILOGUE_NONE && col < N) ? bias[col] : 0.f;
    }
#pragma unroll
    for (int i = 0; i < 8; i++) {
        int row = block_m + (i < 4 ? ty * 4 + i : 64 + ty * 4 + (i - 4));
        if (row >= M) continue;
        float *orow = out + (int64_t)row * N;
#pragma unroll
        for (int h = 0; h < 2; h++) {
            int col = block_n + h * 64 + tx * 4;
            float v[4];
#pragma unroll
            for (int j = 0; j < 4; j++) v[j] = apply_epilogue(acc[i][h * 4 + j], bias_v[h * 4 + j], epilogue);
            if (vec_out) {
                if (col < N) *reinterpret_cast<float4 *>(orow + col) = make_float4(v[0], v[1], v[2], v[3]);
            } else {
#pragma unroll
                for (int j = 0; j < 4; j++)
                    if (col + j < N) orow[col + j] = v[j];
            }
        }
    }
}

template <bool B_TRANSPOSED>
static void simt_launch(dim3 grid, bool aligned_in, float *out, const float *a, const float *b, const float *bias, int m,
                        int k, int n, int epilogue, bool vec_out, cudaStream_t stream) {
    if (aligned_in)
        matmul_simt_kernel<true, B_TRANSPOSED><<<grid, SIMT_THREADS, 0, stream>>>(out, a, b, bias, m, k, n, epilogue, vec_out);
    else
        matmul_simt_kernel<false, B_TRANSPOSED><<<grid, SIMT_THREADS, 0, stream>>>(out, a, b, bias, m, k, n, epilogue, vec_out);
}

extern "C" cudaError_t matmul_simt_forward(float *out, const float *a, const float *b, const float *bias, int64_t m,
                                           int64_t k, int64_t n, int b_transposed, int epilogue, cudaStream_t stream) {
    if (m < 1 || k < 1 || n < 1 || m > INT_MAX || k > INT_MAX || n > INT_MAX || epilogue < CUDA_EPILOGUE_NONE ||
        epilogue > CUDA_EPILOGUE_BIAS_GELU_TANH || (epilogue != CUDA_EPILOGUE_NONE && bias == NULL))
        return cudaErrorInvalidValue;
    int64_t grid_y = (m + SIMT_BM - 1) / SIMT_BM, grid_x = (n + SIMT_BN - 1) / SIMT_BN;
    if (grid_y > 65535 || grid_x > INT_MAX) return cudaErrorInvalidValue;
    /* float4 paths need every row start 16-byte aligned: the base pointer and the row length. */
    bool aligned_in = k % 4 == 0 && (b_transposed || n % 4 == 0) && ((uintptr_t)a & 15) == 0 && ((uintptr_t)b & 15) == 0;
    bool vec_out = n % 4 == 0 && ((uintptr_t)out & 15) == 0;
    dim3 grid((unsigned)grid_x, (unsigned)grid_y);
    if (b_transposed) simt_launch<true>(grid, aligned_in, out, a, b, bias, (int)m, (int)k, (int)n, epilogue, vec_out, stream);
    else simt_launch<false>(grid, aligned_in, out, a, b, bias, (int)m, (int)k, (int)n, epilogue, vec_out, stream);
    return cudaGetLastError();
}
