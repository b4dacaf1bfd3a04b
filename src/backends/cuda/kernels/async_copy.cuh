/*
 * async_copy.cuh — cp.async (sm_80 and newer): global -> shared copies that bypass registers, issued
 * in groups and waited for by count, for the pipelined mma.sync matmul (matmul_tensor_core.cu); and
 * smem_u32, a shared-memory address as the 32-bit value PTX wants (matmul_warpgroup.cu uses it too).
 */
#ifndef FUSEGRAPH_ASYNC_COPY_CUH
#define FUSEGRAPH_ASYNC_COPY_CUH

#include <cstdint>

__device__ __forceinline__ uint32_t smem_u32(const void *p) { return (uint32_t)__cvta_generic_to_shared(p); }

/* src_bytes 0 zero-fills the 16 bytes and reads nothing (the pointer is still a valid one). */
__device__ __forceinline__ void cp_async_16(uint32_t dst, const void *src, int src_bytes) {
    asm volatile("cp.async.cg.shared.global [%0], [%1], 16, %2;\n" ::"r"(dst), "l"(src), "r"(src_bytes));
}
__device__ __forceinline__ void cp_async_4(uint32_t dst, const void *src, int src_bytes) {
    asm volatile("cp.async.ca.shared.global [%0], [%1], 4, %2;\n" ::"r"(dst), "l"(src), "r"(src_bytes));
}
__device__ __forceinline__ void cp_async_commit() { asm volatile("cp.async.commit_group;\n" ::); }
/* Waits until at most N of this thread's committed groups are still in flight. */
template <int N> __device__ __forceinline__ void cp_async_wait() { asm volatile("cp.async.wait_group %0;\n" ::"n"(N)); }

#endif /* FUSEGRAPH_ASYNC_COPY_CUH */
