/*
 * mma_fragments.cuh — one tensor-core step through mma.sync (sm_80 and newer), shared by the tiled
 * tensor-core matmul (matmul_tensor_core.cu) and the skinny one (matmul_skinny_tensor_core.cu).
 *
 * f32 runs as TF32 (m16n8k8; operands rounded with to_tf32 first), f16 and bf16 as m16n8k16, all with f32
 * accumulation. The fragment layouts (PTX ISA, "Matrix Fragments for mma.m16n8k8 / m16n8k16"), with
 * g = lane / 4 and t = lane % 4:
 *   A (16 x k, row): TF32  a[0] (g, t)      a[1] (g + 8, t)      a[2] (g, t + 4)      a[3] (g + 8, t + 4)
 *                    16-bit a[0] (g, 2t..2t+1) a[1] (g + 8, 2t..2t+1) a[2] (g, 2t+8..2t+9) a[3] (g + 8, 2t+8..2t+9)
 *   B (k x 8, col):  TF32  b0 (t, g)  b1 (t + 4, g);   16-bit b0 (2t..2t+1, g)  b1 (2t+8..2t+9, g)
 *   D (16 x 8):      d[0] (g, 2t)  d[1] (g, 2t + 1)  d[2] (g + 8, 2t)  d[3] (g + 8, 2t + 1)
 * (a 16-bit register holds two elements, the lower column in its low half).
 */
#ifndef FUSEGRAPH_MMA_FRAGMENTS_CUH
#define FUSEGRAPH_MMA_FRAGMENTS_CUH

#include <cuda_bf16.h>
#include <cuda_fp16.h>
#include <cstdint>

__device__ __forceinline__ uint32_t to_tf32(uint32_t f32_bits) {
    uint32_t r;
    asm("cvt.rna.tf32.f32 %0, %1;\n" : "=r"(r) : "f"(__uint_as_float(f32_bits)));
    return r;
}

/* d += a x b on one 16 x 8 tile, for one 32-byte k-step. */
template <typename T> __device__ __forceinline__ void mma_step(float (&d)[4], const uint32_t (&a)[4], uint32_t b0, uint32_t b1);
template <> __device__ __forceinline__ void mma_step<float>(float (&d)[4], const uint32_t (&a)[4], uint32_t b0, uint32_t b1) {
    asm volatile("mma.sync.aligned.m16n8k8.row.col.f32.tf32.tf32.f32 {%0,%1,%2,%3}, {%4,%5,%6,%7}, {%8,%9}, "
                 "{%0,%1,%2,%3};\n"
                 : "+f"(d[0]), "+f"(d[1]), "+f"(d[2]), "+f"(d[3])
                 : "r"(a[0]), "r"(a[1]), "r"(a[2]), "r"(a[3]), "r"(b0), "r"(b1));
}
template <> __device__ __forceinline__ void mma_step<__half>(float (&d)[4], const uint32_t (&a)[4], uint32_t b0, uint32_t b1) {
    asm volatile("mma.sync.aligned.m16n8k16.row.col.f32.f16.f16.f32 {%0,%1,%2,%3}, {%4,%5,%6,%7}, {%8,%9}, "
                 "{%0,%1,%2,%3};\n"
                 : "+f"(d[0]), "+f"(d[1]), "+f"(d[2]), "+f"(d[3])
                 : "r"(a[0]), "r"(a[1]), "r"(a[2]), "r"(a[3]), "r"(b0), "r"(b1));
}
template <>
__device__ __forceinline__ void mma_step<__nv_bfloat16>(float (&d)[4], const uint32_t (&a)[4], uint32_t b0, uint32_t b1) {
    asm volatile("mma.sync.aligned.m16n8k16.row.col.f32.bf16.bf16.f32 {%0,%1,%2,%3}, {%4,%5,%6,%7}, {%8,%9}, "
                 "{%0,%1,%2,%3};\n"
                 : "+f"(d[0]), "+f"(d[1]), "+f"(d[2]), "+f"(d[3])
                 : "r"(a[0]), "r"(a[1]), "r"(a[2]), "r"(a[3]), "r"(b0), "r"(b1));
}

#endif /* FUSEGRAPH_MMA_FRAGMENTS_CUH */
