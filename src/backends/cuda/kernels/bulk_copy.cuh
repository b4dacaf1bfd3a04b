/*
 * bulk_copy.cuh — Hopper's tensor memory accelerator (TMA, sm_90) and the shared-memory barriers
 * (mbarrier) that say when its copies have landed, for matmul_warpgroup.cu.
 *
 * A TMA copy moves a whole box of a 2-D tensor (described on the host by a CUtensorMap: sizes, row
 * stride, box size, swizzle) from global to shared memory, issued by one thread; elements outside the
 * tensor arrive as zeros. It counts its bytes against an mbarrier, which completes its phase once the
 * expected bytes (mbarrier_expect_bytes) and arrivals are in; waiters wait on the phase's parity.
 */
#ifndef FUSEGRAPH_BULK_COPY_CUH
#define FUSEGRAPH_BULK_COPY_CUH

#include <cstdint>

__device__ __forceinline__ void mbarrier_init(uint32_t barrier, uint32_t arrivals) {
    asm volatile("mbarrier.init.shared::cta.b64 [%0], %1;\n" ::"r"(barrier), "r"(arrivals) : "memory");
}
/* Makes initialized barriers visible to the TMA unit (the async proxy) before any copy uses them. */
__device__ __forceinline__ void mbarrier_init_fence() { asm volatile("fence.mbarrier_init.release.cluster;\n" ::: "memory"); }
/* One arrival that also tells the barrier to expect `bytes` more from copies. */
__device__ __forceinline__ void mbarrier_expect_bytes(uint32_t barrier, uint32_t bytes) {
    asm volatile("mbarrier.arrive.expect_tx.shared::cta.b64 _, [%0], %1;\n" ::"r"(barrier), "r"(bytes) : "memory");
}
__device__ __forceinline__ void mbarrier_arrive(uint32_t barrier) {
    asm volatile("mbarrier.arrive.shared::cta.b64 _, [%0];\n" ::"r"(barrier) : "memory");
}
/* Waits until the phase with this parity (0, 1, 0, ... for phases 0, 1, 2, ...) has completed. */
__device__ __forceinline__ void mbarrier_wait(uint32_t barrier, uint32_t parity) {
    asm volatile("{\n"
                 ".reg .pred done;\n"
                 "WAIT:\n"
                 "mbarrier.try_wait.parity.shared::cta.b64 done, [%0], %1;\n"
                 "@!done bra WAIT;\n"
                 "}\n" ::"r"(barrier),
                 "r"(parity)
                 : "memory");
}

/* Copies the box whose first element is (column, row) of the tensor `tensor_map` describes into shared
 * memory at destination, counting its bytes against barrier. */
__device__ __forceinline__ void tensor_copy_2d(uint32_t destination, const void *tensor_map, int column, int row,
                                               uint32_t barrier) {
    asm volatile("cp.async.bulk.tensor.2d.shared::cluster.global.tile.mbarrier::complete_tx::bytes [%0], [%1, {%2, %3}], [%4];\n"
                 ::"r"(destination), "l"(tensor_map), "r"(column), "r"(row), "r"(barrier)
                 : "memory");
}

/* Warp-specialized kernels give the copying warpgroup few registers and the computing ones many. */
template <int REGISTERS> __device__ __forceinline__ void registers_release() {
    asm volatile("setmaxnreg.dec.sync.aligned.u32 %0;\n" ::"n"(REGISTERS));
}
template <int REGISTERS> __device__ __forceinline__ void registers_claim() {
    asm volatile("setmaxnreg.inc.sync.aligned.u32 %0;\n" ::"n"(REGISTERS));
}

#endif /* FUSEGRAPH_BULK_COPY_CUH */
