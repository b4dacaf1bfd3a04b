/*
 * warpgroup_store.cuh — the epilogue of matmul_warpgroup.cu's consumer warpgroups: bias + GELU on the
 * accumulators in registers, then one store of the 16-bit results through a staging area in shared memory.
 * Included by matmul_warpgroup.cu alone (sm_90a, FUSEGRAPH_WARPGROUP_KERNEL).
 */
#ifndef FUSEGRAPH_WARPGROUP_STORE_CUH
#define FUSEGRAPH_WARPGROUP_STORE_CUH

#include <cuda_bf16.h>
#include <cuda_fp16.h>
#include <cstdint>

#include "cuda_kernels.h"      /* CUDA_EPILOGUE_* */
#include "matmul_epilogue.cuh" /* apply_epilogue_as, to_float */

/* A consumer's staging area for its results: 64 rows x 64 columns of T, rows padded to 144 bytes so the
 * fragment writes (8 rows x 4 column pairs per warp instruction) fall on distinct banks. */
#define WG_STAGING_ROW_BYTES 144
#define WG_STAGING_BYTES (64 * WG_STAGING_ROW_BYTES)

/* Two values rounded to T, the first in the low half (the order of two adjacent elements in memory). */
template <typename T> __device__ __forceinline__ uint32_t packed_pair(float v0, float v1);
template <> __device__ __forceinline__ uint32_t packed_pair<__half>(float v0, float v1) {
    __half2 pair = __floats2half2_rn(v0, v1);
    return *reinterpret_cast<uint32_t *>(&pair);
}
template <> __device__ __forceinline__ uint32_t packed_pair<__nv_bfloat16>(float v0, float v1) {
    __nv_bfloat162 pair = __floats2bfloat162_rn(v0, v1);
    return *reinterpret_cast<uint32_t *>(&pair);
}

/* Named barrier of one consumer warpgroup (id 0 is __syncthreads). */
__device__ __forceinline__ void warpgroup_barrier(int consumer) {
    asm volatile("bar.sync %0, 128;\n" ::"r"(1 + consumer) : "memory");
}

/* The epilogue of one consumer warpgroup's 64 x BN accumulators, stored at rows from `row0`.
 * The form is a template argument: with all forms inlined per element (apply_epilogue's runtime
 * branches), the unrolled code outgrew the instruction cache and the 128 x 256 tile stalled on
 * instruction fetch 42% of the time (ncu on the H100).
 * The results go through shared memory, 64 columns at a time: written there in the accumulator
 * layout, read back as 16-byte row pieces, so each warp's global store covers whole 128-byte rows
 * (stored straight from the fragments, every store instruction touched 8 rows with 16 bytes each and
 * the 128 x 256 tile at K = 768 spent most of its time storing). */
template <typename T, int BN, int EPILOGUE>
__device__ __forceinline__ void store_tile_as(const float *accumulators, T *out, const T *bias, int m, int n, int row0, int n0,
                                              uint32_t staging, int consumer) {
    const int thread = threadIdx.x % 128, lane = thread % 32, warp = thread / 32;
    const int fragment_row = warp * 16 + lane / 4;
    const bool whole_pieces = (n % 8) == 0 && ((uintptr_t)out & 15) == 0; /* 16-byte stores stay aligned */
#pragma unroll
    for (int chunk = 0; chunk < BN / 64; chunk++) {
        warpgroup_barrier(consumer); /* the previous chunk has been read out */
#pragma unroll
        for (int jj = 0; jj < 8; jj++) {
            const int j = chunk * 8 + jj, local_column = jj * 8 + (lane % 4) * 2, column = n0 + chunk * 64 + local_column;
            float bias0 = 0.0f, bias1 = 0.0f;
            if (EPILOGUE != CUDA_EPILOGUE_NONE) {
                if (column < n) bias0 = to_float(bias[column]);
                if (column + 1 < n) bias1 = to_float(bias[column + 1]);
            }
#pragma unroll
            for (int half = 0; half < 2; half++) {
                const float v0 = apply_epilogue_as<T>(accumulators[j * 4 + half * 2], bias0, EPILOGUE);
                const float v1 = apply_epilogue_as<T>(accumulators[j * 4 + half * 2 + 1], bias1, EPILOGUE);
                const uint32_t address = staging + (fragment_row + half * 8) * WG_STAGING_ROW_BYTES + local_column * 2;
                asm volatile("st.shared.b32 [%0], %1;\n" ::"r"(address), "r"(packed_pair<T>(v0, v1)) : "memory");
            }
        }
        warpgroup_barrier(consumer); /* the chunk is complete */
#pragma unroll
        for (int i = 0; i < 4; i++) { /* 64 rows x 8 pieces of 16 bytes over 128 threads */
            const int piece = thread + i * 128, local_row = piece / 8, local_column = (piece % 8) * 8;
            const int row = row0 + local_row, column = n0 + chunk * 64 + local_column;
            if (row >= m || column >= n) continue;
            uint4 values;
            asm volatile("ld.shared.v4.b32 {%0, %1, %2, %3}, [%4];\n"
                         : "=r"(values.x), "=r"(values.y), "=r"(values.z), "=r"(values.w)
                         : "r"(staging + local_row * WG_STAGING_ROW_BYTES + local_column * 2));
            T *target = out + (size_t)row * n + column;
            if (whole_pieces) {
                *reinterpret_cast<uint4 *>(target) = values;
            } else {
                const uint32_t words[4] = {values.x, values.y, values.z, values.w};
#pragma unroll
                for (int e = 0; e < 8; e++)
                    if (column + e < n) {
                        const unsigned short bits = (unsigned short)(words[e / 2] >> (16 * (e % 2)));
                        *reinterpret_cast<unsigned short *>(target + e) = bits;
                    }
            }
        }
    }
}

template <typename T, int BN>
__device__ __forceinline__ void store_tile(const float *accumulators, T *out, const T *bias, int m, int n, int row0, int n0,
                                           int epilogue, uint32_t staging, int consumer) {
    switch (epilogue) {
    case CUDA_EPILOGUE_NONE:
        store_tile_as<T, BN, CUDA_EPILOGUE_NONE>(accumulators, out, bias, m, n, row0, n0, staging, consumer);
        break;
    case CUDA_EPILOGUE_BIAS:
        store_tile_as<T, BN, CUDA_EPILOGUE_BIAS>(accumulators, out, bias, m, n, row0, n0, staging, consumer);
        break;
    case CUDA_EPILOGUE_BIAS_GELU_EXACT:
        store_tile_as<T, BN, CUDA_EPILOGUE_BIAS_GELU_EXACT>(accumulators, out, bias, m, n, row0, n0, staging, consumer);
        break;
    default:
        store_tile_as<T, BN, CUDA_EPILOGUE_BIAS_GELU_TANH>(accumulators, out, bias, m, n, row0, n0, staging, consumer);
        break;
    }
}

#endif /* FUSEGRAPH_WARPGROUP_STORE_CUH */
