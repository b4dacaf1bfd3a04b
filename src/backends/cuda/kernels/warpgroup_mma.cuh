/*
 * warpgroup_mma.cuh — Hopper's warpgroup matrix multiply (wgmma.mma_async, sm_90a only) for
 * matmul_warpgroup.cu: d[64 x N] += a[64 x 16] x b[16 x N] for the 4 warps (128 threads) of a
 * warpgroup together, both operands read from shared memory through 64-bit matrix descriptors,
 * f32 accumulators in registers (N / 2 per thread).
 *
 * Accumulator layout (PTX ISA, "wgmma .m64nNk16 register fragment D"): warp w of the warpgroup holds
 * rows 16w..16w+15; with g = lane / 4 and t = lane % 4, d[4j + 0..1] are row 16w + g, columns 8j + 2t
 * and 8j + 2t + 1, and d[4j + 2..3] the same columns of row 16w + g + 8 — mma.sync's 16 x 8 D fragment
 * repeated N / 8 times.
 *
 * Descriptor (PTX ISA, "Matrix Descriptor Format"): bits 0-13 the start address >> 4, 16-29 the
 * leading-dimension byte offset >> 4, 32-45 the stride-dimension byte offset >> 4, 62-63 the swizzle
 * mode (1 = 128-byte). For a K-major tile with 128-byte rows in the 128-byte swizzle, the stride is
 * 1024 bytes (8 rows: one swizzle atom) and the leading offset is unused (1 by convention).
 *
 * The wgmma instructions are spelled out by a macro per shape and dtype (64 or 128 accumulator operands).
 * The trailing operands: scale-d, a predicate set to 1 (accumulate into d; the caller zeroes d first),
 * then the immediates scale-a = scale-b = 1 and no transposes (both operands K-major).
 */
#ifndef FUSEGRAPH_WARPGROUP_MMA_CUH
#define FUSEGRAPH_WARPGROUP_MMA_CUH

#include <cuda_bf16.h>
#include <cuda_fp16.h>
#include <cstdint>

/* The 128-byte swizzle (TMA writes it, the descriptors name it): the 16-byte chunk c of 128-byte row r
 * sits at chunk c ^ (r % 8) of that row; a tile starts 1024-byte aligned (the hardware swizzles by
 * address bits 7-9). */
__device__ __forceinline__ uint64_t shared_tile_descriptor(uint32_t shared_address) {
    return (uint64_t)((shared_address & 0x3FFFF) >> 4) | ((uint64_t)1 << 16) | ((uint64_t)(1024 >> 4) << 32) |
           ((uint64_t)1 << 62);
}

/* Orders this thread's earlier register and shared-memory writes before the next wgmma reads them. */
__device__ __forceinline__ void warpgroup_fence() { asm volatile("wgmma.fence.sync.aligned;\n" ::: "memory"); }
__device__ __forceinline__ void warpgroup_commit() { asm volatile("wgmma.commit_group.sync.aligned;\n" ::: "memory"); }
/* Waits until at most N committed wgmma groups of this warpgroup are in flight. */
template <int N> __device__ __forceinline__ void warpgroup_wait() {
    asm volatile("wgmma.wait_group.sync.aligned %0;\n" ::"n"(N) : "memory");
}

template <typename T, int N> __device__ __forceinline__ void warpgroup_mma(float *d, uint64_t a_descriptor, uint64_t b_descriptor);

/* The accumulator operands of one instruction: N / 2 registers, listed once per width (generated text). */
#define WARPGROUP_REGISTERS_64 \
    "%0,%1,%2,%3,%4,%5,%6,%7,%8,%9,%10,%11,%12,%13,%14,%15," \
    "%16,%17,%18,%19,%20,%21,%22,%23,%24,%25,%26,%27,%28,%29,%30,%31," \
    "%32,%33,%34,%35,%36,%37,%38,%39,%40,%41,%42,%43,%44,%45,%46,%47," \
    "%48,%49,%50,%51,%52,%53,%54,%55,%56,%57,%58,%59,%60,%61,%62,%63"
#define WARPGROUP_OUTPUTS_64 \
    "+f"(d[0]), "+f"(d[1]), "+f"(d[2]), "+f"(d[3]), "+f"(d[4]), "+f"(d[5]), "+f"(d[6]), "+f"(d[7]), \
    "+f"(d[8]), "+f"(d[9]), "+f"(d[10]), "+f"(d[11]), "+f"(d[12]), "+f"(d[13]), "+f"(d[14]), "+f"(d[15]), \
    "+f"(d[16]), "+f"(d[17]), "+f"(d[18]), "+f"(d[19]), "+f"(d[20]), "+f"(d[21]), "+f"(d[22]), "+f"(d[23]), \
    "+f"(d[24]), "+f"(d[25]), "+f"(d[26]), "+f"(d[27]), "+f"(d[28]), "+f"(d[29]), "+f"(d[30]), "+f"(d[31]), \
    "+f"(d[32]), "+f"(d[33]), "+f"(d[34]), "+f"(d[35]), "+f"(d[36]), "+f"(d[37]), "+f"(d[38]), "+f"(d[39]), \
    "+f"(d[40]), "+f"(d[41]), "+f"(d[42]), "+f"(d[43]), "+f"(d[44]), "+f"(d[45]), "+f"(d[46]), "+f"(d[47]), \
    "+f"(d[48]), "+f"(d[49]), "+f"(d[50]), "+f"(d[51]), "+f"(d[52]), "+f"(d[53]), "+f"(d[54]), "+f"(d[55]), \
    "+f"(d[56]), "+f"(d[57]), "+f"(d[58]), "+f"(d[59]), "+f"(d[60]), "+f"(d[61]), "+f"(d[62]), "+f"(d[63])
#define WARPGROUP_REGISTERS_128 \
    WARPGROUP_REGISTERS_64 "," \
    "%64,%65,%66,%67,%68,%69,%70,%71,%72,%73,%74,%75,%76,%77,%78,%79," \
    "%80,%81,%82,%83,%84,%85,%86,%87,%88,%89,%90,%91,%92,%93,%94,%95," \
    "%96,%97,%98,%99,%100,%101,%102,%103,%104,%105,%106,%107,%108,%109,%110,%111," \
    "%112,%113,%114,%115,%116,%117,%118,%119,%120,%121,%122,%123,%124,%125,%126,%127"
#define WARPGROUP_OUTPUTS_128 \
    WARPGROUP_OUTPUTS_64, \
    "+f"(d[64]), "+f"(d[65]), "+f"(d[66]), "+f"(d[67]), "+f"(d[68]), "+f"(d[69]), "+f"(d[70]), "+f"(d[71]), \
    "+f"(d[72]), "+f"(d[73]), "+f"(d[74]), "+f"(d[75]), "+f"(d[76]), "+f"(d[77]), "+f"(d[78]), "+f"(d[79]), \
    "+f"(d[80]), "+f"(d[81]), "+f"(d[82]), "+f"(d[83]), "+f"(d[84]), "+f"(d[85]), "+f"(d[86]), "+f"(d[87]), \
    "+f"(d[88]), "+f"(d[89]), "+f"(d[90]), "+f"(d[91]), "+f"(d[92]), "+f"(d[93]), "+f"(d[94]), "+f"(d[95]), \
    "+f"(d[96]), "+f"(d[97]), "+f"(d[98]), "+f"(d[99]), "+f"(d[100]), "+f"(d[101]), "+f"(d[102]), "+f"(d[103]), \
    "+f"(d[104]), "+f"(d[105]), "+f"(d[106]), "+f"(d[107]), "+f"(d[108]), "+f"(d[109]), "+f"(d[110]), "+f"(d[111]), \
    "+f"(d[112]), "+f"(d[113]), "+f"(d[114]), "+f"(d[115]), "+f"(d[116]), "+f"(d[117]), "+f"(d[118]), "+f"(d[119]), \
    "+f"(d[120]), "+f"(d[121]), "+f"(d[122]), "+f"(d[123]), "+f"(d[124]), "+f"(d[125]), "+f"(d[126]), "+f"(d[127])

/* One specialization: the operands after the accumulators are the two descriptors and the scale-d flag. */
#define DEFINE_WARPGROUP_MMA(STORAGE, PTX_TYPE, N, REGISTERS, OUTPUTS, A_OPERAND, B_OPERAND, SCALE_OPERAND)              \
    template <>                                                                                                       \
    __device__ __forceinline__ void warpgroup_mma<STORAGE, N>(float *d, uint64_t a_descriptor, uint64_t b_descriptor) { \
        asm volatile("{\n.reg .pred accumulate;\nsetp.ne.b32 accumulate, " SCALE_OPERAND ", 0;\n"                     \
                     "wgmma.mma_async.sync.aligned.m64n" #N "k16.f32." PTX_TYPE "." PTX_TYPE " {" REGISTERS "}, "        \
                     A_OPERAND ", " B_OPERAND ", accumulate, 1, 1, 0, 0;\n}\n"                                          \
                     : OUTPUTS                                                                                        \
                     : "l"(a_descriptor), "l"(b_descriptor), "r"(1));                                                 \
    }

DEFINE_WARPGROUP_MMA(__half, "f16", 128, WARPGROUP_REGISTERS_64, WARPGROUP_OUTPUTS_64, "%64", "%65", "%66")
DEFINE_WARPGROUP_MMA(__nv_bfloat16, "bf16", 128, WARPGROUP_REGISTERS_64, WARPGROUP_OUTPUTS_64, "%64", "%65", "%66")
DEFINE_WARPGROUP_MMA(__half, "f16", 256, WARPGROUP_REGISTERS_128, WARPGROUP_OUTPUTS_128, "%128", "%129", "%130")
DEFINE_WARPGROUP_MMA(__nv_bfloat16, "bf16", 256, WARPGROUP_REGISTERS_128, WARPGROUP_OUTPUTS_128, "%128", "%129", "%130")

#undef DEFINE_WARPGROUP_MMA

#endif /* FUSEGRAPH_WARPGROUP_MMA_CUH */
