/*
 * programmatic_launch.cuh — programmatic dependent launch (sm_90+): a kernel launched with
 * cudaLaunchAttributeProgrammaticStreamSerialization may start while the kernel before it on the stream
 * is still running, once every block of that kernel has executed griddepcontrol.launch_dependents (or
 * exited). It must then execute griddepcontrol.wait before it reads anything the kernel before may write
 * or writes anything that kernel may read: the wait returns when the kernels before have finished and
 * their writes are visible. On other GPUs, or launched without the attribute, both instructions do
 * nothing and the launch is stream-ordered as usual.
 *
 * Why: a skinny matmul (M <= 16) is the time to stream its weight, and each launch loses a few
 * microseconds at its start (blocks scheduled, the first loads' latency) and its end (the last blocks
 * finish alone) while HBM is partly idle. A weight no kernel in flight writes (a model's weight, uploaded
 * once) can be requested before the wait, so the next launch's first loads overlap the previous one's
 * tail. Measured on the H100, bf16 M=1 K=4096 N=14336, batches of 20 back-to-back launches between
 * events (bench/results/h100-2026-11-27-session10/pdl-probe/): a plain read of the 117 MB weight 0.0401
 * ms a launch, 0.0391 ms with the overlap (pdl_probe.txt); a warp-per-2-rows GEMV 0.0412 ms, 0.0402 with
 * it (probe2.txt). An event recorded after each launch (as every fusegraph run does) changed neither.
 *
 * Rules for the kernels launched with launch_programmatic:
 *  - griddepcontrol.wait (dependent_wait) before the first read of an activation, bias or anything a
 *    previous node computes, and before the first global write (the output, a split-K workspace);
 *  - reads before the wait only of the weight (load_weight_around_wait below), and only when the launcher
 *    was told it is settled: no kernel in flight on the stream writes it (an upload on another stream is
 *    ordered by the event wait recorded before the launch: that is a stream operation, not a kernel, and
 *    the attribute relaxes only the order after a kernel).
 */
#ifndef FUSEGRAPH_PROGRAMMATIC_LAUNCH_CUH
#define FUSEGRAPH_PROGRAMMATIC_LAUNCH_CUH

#include <cuda_runtime.h>

#include <mutex>

/* Lets the next kernel on the stream (if launched programmatically) be scheduled now. */
__device__ __forceinline__ void dependent_launch_allow() {
#if __CUDA_ARCH__ >= 900
    asm volatile("griddepcontrol.launch_dependents;");
#endif
}

/* Waits until the kernels before this one on the stream have finished and their writes are visible. */
__device__ __forceinline__ void dependent_wait() {
#if __CUDA_ARCH__ >= 900
    asm volatile("griddepcontrol.wait;" ::: "memory");
#endif
}

/* The rule for a kernel's first weight loads, stated once: load_weight() (the weight's first loads, no other
 * read) runs before the wait when the weight is settled, so its loads overlap the end of the kernel before,
 * and after the wait otherwise, when the kernel before may still be writing it. */
template <typename LoadWeight>
__device__ __forceinline__ void load_weight_around_wait(bool weight_settled, LoadWeight load_weight) {
    if (weight_settled) load_weight();
    dependent_wait();
    if (!weight_settled) load_weight();
}

/* Whether kernel, as loaded on the current device, was compiled for sm_90+ (SASS or PTX 9.0+), so that its
 * griddepcontrol instructions are there: a build for older targets only, JIT-compiled from compute_80 PTX
 * on an H100, has them compiled out, and a programmatic launch of it would start before the kernel before
 * had finished with nothing to wait for it. Asked once per (device, kernel) and remembered. */
static cudaError_t programmatic_launch_allowed(const void *kernel, bool *allowed) {
    struct Entry {
        const void *kernel;
        int device;
        bool allowed;
    };
    static Entry entries[64];
    static int count = 0;
    static std::mutex lock;
    int device = 0;
    cudaError_t result = cudaGetDevice(&device);
    if (result != cudaSuccess) return result;
    std::lock_guard<std::mutex> guard(lock);
    for (int i = 0; i < count; i++)
        if (entries[i].kernel == kernel && entries[i].device == device) {
            *allowed = entries[i].allowed;
            return cudaSuccess;
        }
    cudaFuncAttributes attributes;
    result = cudaFuncGetAttributes(&attributes, kernel);
    if (result != cudaSuccess) return result;
    *allowed = attributes.ptxVersion >= 90 && attributes.binaryVersion >= 90;
    if (count < 64) entries[count++] = {kernel, device, *allowed};
    return cudaSuccess;
}

/* Launches kernel<<<grid, block, 0, stream>>>(arguments...) as a programmatic dependent launch where the
 * kernel was compiled for sm_90+ and runs on such a device, as an ordinary launch elsewhere. */
template <typename... Parameters, typename... Arguments>
static cudaError_t launch_programmatic(void (*kernel)(Parameters...), dim3 grid, dim3 block, cudaStream_t stream,
                                       Arguments... arguments) {
    bool allowed = false;
    cudaError_t result = programmatic_launch_allowed(reinterpret_cast<const void *>(kernel), &allowed);
    if (result != cudaSuccess) return result;
    cudaLaunchAttribute attribute;
    attribute.id = cudaLaunchAttributeProgrammaticStreamSerialization;
    attribute.val.programmaticStreamSerializationAllowed = 1;
    cudaLaunchConfig_t config = {};
    config.gridDim = grid;
    config.blockDim = block;
    config.stream = stream;
    config.attrs = &attribute;
    config.numAttrs = allowed ? 1 : 0;
    return cudaLaunchKernelEx(&config, kernel, arguments...);
}

#endif /* FUSEGRAPH_PROGRAMMATIC_LAUNCH_CUH */
