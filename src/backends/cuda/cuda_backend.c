/*
 * cuda_backend.c — the CUDA backend module: the interface table, device choice, settings, errors.
 *
 * The module links the CUDA runtime statically (so it needs no libcudart on the user's machine) and
 * finds the driver (libcuda.so.1) at run time through it: no driver, no device or an unsupported
 * driver each fail create() with a reason that `fusegraph info` shows, and the CPU runs everything.
 * cuBLASLt is loaded with dlopen; without it our own kernels still run.
 *
 * Settings (fg_context_options.settings or environment variables of the same names):
 *   FUSEGRAPH_CUDA_DEVICE=N              which GPU (default 0)
 *   FUSEGRAPH_CUDA_IMPLEMENTATION=NAME   force a matmul implementation (cublaslt, tensor_core, simt,
 *                                        skinny, cublaslt_then_gelu, skinny_tensor_core, warpgroup_tensor_core,
 *                                        skinny_fp64_tensor_core)
 *                                        where it applies, instead of the measured choice
 *   FUSEGRAPH_CUDA_NO_CUBLASLT=1         do not load cuBLASLt (as if missing)
 *   FUSEGRAPH_CUDA_FAIL=run|upload|upload_large|download|allocate|sync (+-separated)   injected failures
 *                                        for tests; upload_large fails only chunks above 1 MiB, so the
 *                                        retry in smaller chunks succeeds
 *   FUSEGRAPH_CUDA_NO_CACHE=1            neither read nor write the cost/autotune cache files
 */
#include "cuda_backend.h"
#include "../common/backend_support.h"
#include "../common/cache_file.h"

#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

fg_status cuda_fail(cuda_backend *cuda, fg_status status, const char *format, ...)
{
    va_list arguments;
    va_start(arguments, format);
    backend_fail_formatted(cuda->last_error, sizeof cuda->last_error, status, format, arguments);
    va_end(arguments);
    return status;
}

void cuda_log(const cuda_backend *cuda, fg_log_level level, const char *format, ...)
{
    va_list arguments;
    va_start(arguments, format);
    backend_log_formatted(cuda->host, level, format, arguments);
    va_end(arguments);
}

const char *cuda_setting(const cuda_backend *cuda, const char *name) { return cuda->host->setting(cuda->host, name); }

int cuda_injected_failure(const cuda_backend *cuda, const char *call)
{
    return backend_setting_names(cuda->host, "FUSEGRAPH_CUDA_FAIL", call);
}

/* Errors after which the CUDA context cannot be used again (the process would have to restart it). */
static int is_sticky(cudaError_t error)
{
    switch (error) {
    case cudaErrorIllegalAddress: case cudaErrorLaunchFailure: case cudaErrorHardwareStackError:
    case cudaErrorIllegalInstruction: case cudaErrorMisalignedAddress: case cudaErrorInvalidAddressSpace:
    case cudaErrorInvalidPc: case cudaErrorAssert: case cudaErrorLaunchTimeout: case cudaErrorECCUncorrectable:
    case cudaErrorContextIsDestroyed: case cudaErrorDevicesUnavailable: case cudaErrorUnknown:
        return 1;
    default:
        return 0;
    }
}

fg_status cuda_check(cuda_backend *cuda, cudaError_t error, const char *op, const char *call)
{
    if (error == cudaSuccess) return FG_OK;
    (void)cudaGetLastError(); /* clear a non-sticky error so later calls are not blamed for it */
    if (is_sticky(error)) cuda->broken = 1;
    fg_status status = error == cudaErrorMemoryAllocation ? FG_ERR_OUT_OF_MEMORY : FG_ERR_DEVICE;
    return cuda_fail(cuda, status, "[cuda %s] %s: %s (%s)%s", op, call, cudaGetErrorString(error),
                     cudaGetErrorName(error), cuda->broken ? "; the device is unusable for the rest of the process" : "");
}

void cuda_cache_path(const cuda_backend *cuda, const char *what, char *path, size_t capacity)
{
    path[0] = 0;
    if (cuda_setting(cuda, "FUSEGRAPH_CUDA_NO_CACHE")) return;
    char key[192];
    snprintf(key, sizeof key, "%.120s-driver%d", cuda->name, cuda->driver_version);
    backend_cache_file("cuda", key, what, path, capacity);
}

static fg_status cuda_create(const fg_backend_host *host, void **out_state, char *reason, size_t capacity)
{
    int driver = 0, count = 0;
    cudaError_t error = cudaDriverGetVersion(&driver);
    if (error != cudaSuccess || driver == 0) {
        snprintf(reason, capacity, "no NVIDIA driver (libcuda.so.1 not found or not loadable)");
        return FG_ERR_NOT_FOUND;
    }
    error = cudaGetDeviceCount(&count);
    if (error != cudaSuccess || count == 0) {
        snprintf(reason, capacity, "no CUDA device (driver %d.%d: %s)", driver / 1000, driver % 1000 / 10,
                 error != cudaSuccess ? cudaGetErrorString(error) : "0 devices");
        return FG_ERR_NOT_FOUND;
    }
    cuda_backend *cuda = calloc(1, sizeof *cuda);
    if (!cuda) {
        snprintf(reason, capacity, "out of host memory");
        return FG_ERR_OUT_OF_MEMORY;
    }
    cuda->host = host;
    cuda->driver_version = driver;
    const char *chosen = cuda_setting(cuda, "FUSEGRAPH_CUDA_DEVICE");
    cuda->device = chosen ? atoi(chosen) : 0;
    if (cuda->device < 0 || cuda->device >= count) {
        snprintf(reason, capacity, "FUSEGRAPH_CUDA_DEVICE=%s, but there are %d CUDA devices (0..%d)", chosen, count, count - 1);
        free(cuda);
        return FG_ERR_INVALID_ARGUMENT;
    }
    struct cudaDeviceProp properties;
    if ((error = cudaSetDevice(cuda->device)) != cudaSuccess ||
        (error = cudaGetDeviceProperties(&properties, cuda->device)) != cudaSuccess ||
        (error = cudaMemGetInfo(&cuda->free_memory_at_start, &cuda->total_memory)) != cudaSuccess) {
        snprintf(reason, capacity, "CUDA device %d could not be initialised: %s", cuda->device, cudaGetErrorString(error));
        free(cuda);
        return FG_ERR_DEVICE;
    }
    snprintf(cuda->name, sizeof cuda->name, "%.*s", (int)sizeof cuda->name - 1, properties.name);
    cuda->compute_capability = properties.major * 10 + properties.minor;
    cuda->sm_count = properties.multiProcessorCount;
    cudaRuntimeGetVersion(&cuda->runtime_version);
    if (cuda->compute_capability < 80) {
        snprintf(reason, capacity, "%s has compute capability %d.%d; fusegraph's CUDA kernels need 8.0 or newer",
                 cuda->name, properties.major, properties.minor);
        free(cuda);
        return FG_ERR_UNSUPPORTED;
    }
    pthread_mutex_init(&cuda->lock, NULL);
    if (cuda_streams_create(cuda) != FG_OK) {
        snprintf(reason, capacity, "%s", cuda->last_error);
        cuda_streams_destroy(cuda);
        pthread_mutex_destroy(&cuda->lock);
        free(cuda);
        return FG_ERR_DEVICE;
    }
    if (cuda_setting(cuda, "FUSEGRAPH_CUDA_NO_CUBLASLT"))
        snprintf(cuda->cublaslt_reason, sizeof cuda->cublaslt_reason, "cuBLASLt disabled by FUSEGRAPH_CUDA_NO_CUBLASLT");
    else
        cuda->cublaslt = cuda_cublaslt_load(cuda->cublaslt_reason, sizeof cuda->cublaslt_reason);
    if (!cuda->cublaslt)
        cuda_log(cuda, FG_LOG_INFO, "[cuda] %s; fusegraph's own matmul kernels run instead", cuda->cublaslt_reason);
    cuda->autotune = cuda_autotune_create(cuda);
    cuda_costs_measure(cuda);
    snprintf(reason, capacity, "sm_%d, %d SMs, %.1f GiB, driver %d.%d, cuBLASLt %s", cuda->compute_capability,
             cuda->sm_count, cuda->total_memory / 1073741824.0, driver / 1000, driver % 1000 / 10,
             cuda->cublaslt ? "loaded" : "missing (own kernels only)");
    *out_state = cuda;
    return FG_OK;
}

static void cuda_destroy(void *state)
{
    cuda_backend *cuda = state;
    cudaSetDevice(cuda->device);
    cudaDeviceSynchronize();
    cuda_autotune_destroy(cuda->autotune);
    cuda_cublaslt_unload(cuda->cublaslt);
    cuda_streams_destroy(cuda);
    pthread_mutex_destroy(&cuda->lock);
    free(cuda);
}

static void cuda_describe(void *state, char *name, size_t capacity)
{
    snprintf(name, capacity, "%s", ((cuda_backend *)state)->name);
}

static void cuda_cost_figures(void *state, fg_cost_figures *out_figures) { *out_figures = ((cuda_backend *)state)->figures; }

/* 80% of the memory free when the backend started: the rest is left to cuBLASLt's workspace, the
 * split-K scratch, the CUDA context's own growth and other processes. */
static size_t cuda_default_budget(void *state) { return ((cuda_backend *)state)->free_memory_at_start / 10 * 8; }

static const char *cuda_last_error(void *state) { return ((cuda_backend *)state)->last_error; }

FG_API const fg_backend_interface *fusegraph_backend_entry(void)
{
    static const fg_backend_interface interface = {
        FG_BACKEND_ABI_VERSION, "cuda", cuda_create, cuda_destroy, cuda_describe, cuda_cost_figures,
        cuda_default_budget, cuda_allocate, cuda_release, cuda_upload, cuda_download, cuda_supports, cuda_run,
        cuda_synchronize, cuda_last_error, cuda_choose_implementation, cuda_transfer_seconds,
    };
    return &interface;
}
