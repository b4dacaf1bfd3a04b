/*
 * check_harness.h — what the CUDA kernel checks (check_*_kernels.cu) share: the CUDA error macro, the
 * command line (--check-only | --time-only, --quick), the "skipped: <reason>" exit without a device, and
 * the closing verdict. Header-only: each check is one translation unit.
 */
#pragma once

#include <cuda_bf16.h>
#include <cuda_fp16.h>
#include <cuda_runtime.h>

#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <type_traits>

#include "cuda_kernels.h"

#define CHECK_CUDA(call)                                                                                     \
    do {                                                                                                     \
        cudaError_t err_ = (call);                                                                           \
        if (err_ != cudaSuccess) {                                                                           \
            fprintf(stderr, "FAIL: %s at %s:%d: %s\n", #call, __FILE__, __LINE__, cudaGetErrorString(err_)); \
            exit(1);                                                                                         \
        }                                                                                                    \
    } while (0)

/* CTest's SKIP_RETURN_CODE for these checks. */
#define CHECK_SKIPPED 77

struct check_options {
    bool check = true, time = true, quick = false;
    cudaDeviceProp device;
};

/* Parses the command line and finds device 0. Returns -1 to go on, else the exit code: 2 for a bad
 * argument, CHECK_SKIPPED (after printing "skipped: <reason>") when there is no device. */
static int check_start(int argc, char **argv, check_options *options) {
    for (int i = 1; i < argc; i++) {
        if (!strcmp(argv[i], "--check-only")) options->time = false;
        else if (!strcmp(argv[i], "--time-only")) options->check = false;
        else if (!strcmp(argv[i], "--quick")) options->quick = true;
        else {
            fprintf(stderr, "usage: %s [--check-only | --time-only] [--quick]\n", argv[0]);
            return 2;
        }
    }
    int devices = 0;
    cudaError_t err = cudaGetDeviceCount(&devices);
    if (err != cudaSuccess || devices == 0) {
        printf("skipped: no CUDA device (%s)\n", err != cudaSuccess ? cudaGetErrorString(err) : "device count is 0");
        return CHECK_SKIPPED;
    }
    cudaDeviceProp *prop = &options->device;
    CHECK_CUDA(cudaGetDeviceProperties(prop, 0));
    printf("device 0: %s (sm_%d%d, %d SMs)\n", prop->name, prop->major, prop->minor, prop->multiProcessorCount);
    return -1;
}

/* Prints the verdict; returns the exit code. */
static int check_finish(int cases, int failures) {
    if (failures) printf("FAILED: %d of %d case(s) exceeded their tolerance or produced NaN (unwritten output)\n", failures, cases);
    else printf("all ok\n");
    return failures ? 1 : 0;
}

/* Fills p (n elements of dtype) on the device with hashed uniform values in (-1, 1), never 0, for timing
 * runs where the host reference is not needed. */
template <typename T> __global__ void fill_uniform_kernel(T *p, size_t n, uint32_t seed) {
    for (size_t i = blockIdx.x * (size_t)blockDim.x + threadIdx.x; i < n; i += (size_t)gridDim.x * blockDim.x) {
        uint32_t h = (uint32_t)i * 2654435761u ^ seed;
        h ^= h >> 16;
        h *= 0x7feb352du;
        h ^= h >> 15;
        h *= 0x846ca68bu;
        h ^= h >> 16;
        float v = ((h >> 8) | 1) * (2.0f / 16777216.0f) - 1.0f; /* odd numerator: never 0 */
        if constexpr (sizeof(T) == 4) p[i] = v;
        else if constexpr (std::is_same<T, __half>::value) p[i] = __float2half_rn(v);
        else p[i] = __float2bfloat16_rn(v);
    }
}
static void fill_uniform(void *p, size_t n, int dtype, uint32_t seed) {
    if (dtype == CUDA_DTYPE_F32) fill_uniform_kernel<<<1024, 256>>>((float *)p, n, seed);
    else if (dtype == CUDA_DTYPE_F16) fill_uniform_kernel<<<1024, 256>>>((__half *)p, n, seed);
    else fill_uniform_kernel<<<1024, 256>>>((__nv_bfloat16 *)p, n, seed);
    CHECK_CUDA(cudaGetLastError());
}
