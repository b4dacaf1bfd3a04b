/*
 * vector_loads.cuh — 16-byte loads of a weight that is read once, and their unpacking to floats: shared
 * by the skinny (M <= 16) kernels, matmul_skinny.cu (b as [K, N]), matmul_skinny_transposed.cu and
 * matmul_skinny_transposed_split.cu (b as [N, K]).
 */
#ifndef FUSEGRAPH_VECTOR_LOADS_CUH
#define FUSEGRAPH_VECTOR_LOADS_CUH

#include <cuda_bf16.h>
#include <cuda_fp16.h>
#include <cstdint>
#include <cstring>
#include <type_traits>

/* 16 bytes of b, read once: no L1 allocation, non-coherent (read-only) path. */
__device__ __forceinline__ uint4 load_streaming(const void *pointer) {
    uint4 r;
    asm("ld.global.nc.L1::no_allocate.v4.u32 {%0, %1, %2, %3}, [%4];"
        : "=r"(r.x), "=r"(r.y), "=r"(r.z), "=r"(r.w)
        : "l"(pointer));
    return r;
}

/* The WIDTH values of a 16-byte vector as floats. */
template <typename T> __device__ __forceinline__ void unpack_vector(uint4 bits, float *f) {
    const uint32_t word[4] = {bits.x, bits.y, bits.z, bits.w};
    if constexpr (sizeof(T) == 4) {
#pragma unroll
        for (int w = 0; w < 4; w++) f[w] = __uint_as_float(word[w]);
    } else {
#pragma unroll
        for (int w = 0; w < 4; w++) {
            if constexpr (std::is_same<T, __nv_bfloat16>::value) { /* bf16 is the top half of an f32 */
                f[2 * w] = __uint_as_float(word[w] << 16);
                f[2 * w + 1] = __uint_as_float(word[w] & 0xFFFF0000u);
            } else {
                __half2 pair;
                memcpy(&pair, &word[w], 4);
                float2 v = __half22float2(pair);
                f[2 * w] = v.x, f[2 * w + 1] = v.y;
            }
        }
    }
}

/* Elements 4q .. 4q + 3 of a 16-byte vector (q < 16 / sizeof(T) / 4: 0 for f32, 0 or 1 for f16/bf16) as
 * floats: a quarter of what unpack_vector gives, for kernels that use a vector 4 elements at a time. */
template <typename T> __device__ __forceinline__ float4 unpack_vector_quad(uint4 bits, int q) {
    if constexpr (sizeof(T) == 4) {
        return make_float4(__uint_as_float(bits.x), __uint_as_float(bits.y), __uint_as_float(bits.z),
                           __uint_as_float(bits.w));
    } else {
        float f[4];
        const uint32_t word[2] = {q == 0 ? bits.x : bits.z, q == 0 ? bits.y : bits.w};
        if constexpr (std::is_same<T, __nv_bfloat16>::value) {
#pragma unroll
            for (int w = 0; w < 2; w++) {
                f[2 * w] = __uint_as_float(word[w] << 16);
                f[2 * w + 1] = __uint_as_float(word[w] & 0xFFFF0000u);
            }
        } else {
#pragma unroll
            for (int w = 0; w < 2; w++) {
                __half2 pair;
                memcpy(&pair, &word[w], 4);
                float2 v = __half22float2(pair);
                f[2 * w] = v.x, f[2 * w + 1] = v.y;
            }
        }
        return make_float4(f[0], f[1], f[2], f[3]);
    }
}

/* The WIDTH (= 16 / sizeof(T)) elements of row from `first` on, each loaded on its own and packed into
 * the 16-byte layout of a vector load, zeros from `limit` on: for rows that do not start 16-byte aligned. */
template <typename T> __device__ __forceinline__ uint4 load_elements_packed(const T *row, int first, int limit) {
    constexpr int WIDTH = 16 / sizeof(T);
    uint32_t word[4] = {0, 0, 0, 0};
#pragma unroll
    for (int e = 0; e < WIDTH; e++) {
        if (first + e >= limit) break;
        if constexpr (sizeof(T) == 4)
            word[e] = __ldg(reinterpret_cast<const unsigned int *>(row) + first + e);
        else
            word[e / 2] |= (uint32_t)__ldg(reinterpret_cast<const unsigned short *>(row) + first + e) << (16 * (e % 2));
    }
    return make_uint4(word[0], word[1], word[2], word[3]);
}

#endif /* FUSEGRAPH_VECTOR_LOADS_CUH */
