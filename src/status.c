/*
 * status.c — statuses, the thread-local last error, logging through the application's callback, and
 * small shared helpers (shapes, aligned memory, time).
 */
#include "internal.h"
#include "backends/cpu/cpu_kernels.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

static _Thread_local char last_error_message[1024];

static fg_log_fn log_callback;
static void *log_user_data;
static fg_log_level log_max_level = FG_LOG_ERROR;

const char *fg_status_name(fg_status status)
{
    switch (status) {
    case FG_OK: return "FG_OK";
    case FG_ERR_INVALID_ARGUMENT: return "FG_ERR_INVALID_ARGUMENT";
    case FG_ERR_SHAPE: return "FG_ERR_SHAPE";
    case FG_ERR_DTYPE: return "FG_ERR_DTYPE";
    case FG_ERR_UNSUPPORTED: return "FG_ERR_UNSUPPORTED";
    case FG_ERR_OUT_OF_MEMORY: return "FG_ERR_OUT_OF_MEMORY";
    case FG_ERR_BUDGET: return "FG_ERR_BUDGET";
    case FG_ERR_DEVICE: return "FG_ERR_DEVICE";
    case FG_ERR_NOT_FOUND: return "FG_ERR_NOT_FOUND";
    case FG_ERR_INTERNAL: return "FG_ERR_INTERNAL";
    }
    return "FG_ERR_UNKNOWN";
}

const char *fg_last_error(void) { return last_error_message; }

fg_status fg_fail(fg_status status, const char *format, ...)
{
    va_list args;
    va_start(args, format);
    vsnprintf(last_error_message, sizeof last_error_message, format, args);
    va_end(args);
    fg_log(FG_LOG_DEBUG, "%s: %s", fg_status_name(status), last_error_message);
    return status;
}

void fg_set_log_callback(fg_log_fn callback, void *user_data, fg_log_level max_level)
{
    log_callback = callback;
    log_user_data = user_data;
    log_max_level = max_level;
}

void fg_log(fg_log_level level, const char *format, ...)
{
    if (!log_callback || level > log_max_level) return;
    char message[2048];
    va_list args;
    va_start(args, format);
    vsnprintf(message, sizeof message, format, args);
    va_end(args);
    log_callback(level, message, log_user_data);
}

void fg_log_message(fg_log_level level, const char *message) { fg_log(level, "%s", message); }

size_t fg_dtype_size(fg_dtype dtype)
{
    switch (dtype) {
    case FG_F32: return 4;
    case FG_F16: return 2;
    case FG_BF16: return 2;
    }
    return 0;
}

fg_status fg_convert(const void *src, fg_dtype src_dtype, void *dst, fg_dtype dst_dtype, int64_t n)
{
    if (!src || !dst || n < 0) return fg_fail(FG_ERR_INVALID_ARGUMENT, "[convert] src or dst is NULL, or n < 0");
    if (!fg_dtype_size(src_dtype) || !fg_dtype_size(dst_dtype))
        return fg_fail(FG_ERR_DTYPE, "[convert] unknown dtype %d or %d", (int)src_dtype, (int)dst_dtype);
    if (src_dtype == dst_dtype) {
        memcpy(dst, src, (size_t)n * fg_dtype_size(src_dtype));
        return FG_OK;
    }
    if (src_dtype == FG_F32) {
        convert_from_f32(dst, src, dst_dtype, n);
        return FG_OK;
    }
    if (dst_dtype == FG_F32) {
        convert_to_f32(dst, src, src_dtype, n);
        return FG_OK;
    }
    float *wide = malloc(sizeof(float) * (size_t)(n ? n : 1));
    if (!wide) return fg_fail(FG_ERR_OUT_OF_MEMORY, "[convert] out of host memory for %lld elements", (long long)n);
    convert_to_f32(wide, src, src_dtype, n);
    convert_from_f32(dst, wide, dst_dtype, n);
    free(wide);
    return FG_OK;
}

const char *fg_dtype_name(fg_dtype dtype)
{
    switch (dtype) {
    case FG_F32: return "f32";
    case FG_F16: return "f16";
    case FG_BF16: return "bf16";
    }
    return "unknown-dtype";
}

fg_shape fg_shape_make(int rank, const int64_t *dims)
{
    fg_shape shape;
    memset(&shape, 0, sizeof shape);
    shape.rank = rank;
    for (int i = 0; i < rank && i < FG_MAX_DIMS && dims; i++) shape.dims[i] = dims[i];
    return shape;
}

int64_t fg_shape_elements(const fg_shape *shape)
{
    int64_t count = 1;
    for (int i = 0; i < shape->rank; i++) count *= shape->dims[i];
    return count;
}

void fg_shape_strides(const fg_shape *shape, int64_t strides[FG_MAX_DIMS])
{
    int64_t stride = 1;
    for (int i = FG_MAX_DIMS - 1; i >= 0; i--) {
        if (i >= shape->rank) {
            strides[i] = 0;
            continue;
        }
        strides[i] = stride;
        stride *= shape->dims[i];
    }
}

const char *fg_shape_format(const fg_shape *shape, char *buffer, size_t capacity)
{
    size_t used = 0;
    used += (size_t)snprintf(buffer + used, capacity - used, "[");
    for (int i = 0; i < shape->rank && used < capacity; i++)
        used += (size_t)snprintf(buffer + used, capacity - used, "%s%lld", i ? ", " : "",
                                 (long long)shape->dims[i]);
    if (used < capacity) snprintf(buffer + used, capacity - used, "]");
    return buffer;
}

void *fg_aligned_alloc(size_t bytes)
{
    /* 64-byte alignment: a cache line, and what AVX-512 loads like. Zero-byte tensors still get a
     * distinct pointer so that handles stay unique. */
    void *pointer = NULL;
    if (posix_memalign(&pointer, 64, bytes ? bytes : 64) != 0) return NULL;
    return pointer;
}

void fg_aligned_free(void *pointer) { free(pointer); }

double fg_now_seconds(void)
{
    struct timespec now;
    clock_gettime(CLOCK_MONOTONIC, &now);
    return (double)now.tv_sec + 1e-9 * (double)now.tv_nsec;
}
