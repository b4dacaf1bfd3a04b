/*
 * add_cpu.c — elementwise Add on the CPU, same-shape and bias-broadcast.
 *
 * Add is pure memory traffic (8 bytes read, 4 written per element), so the only things that matter are
 * using every core's share of memory bandwidth and not wasting any: blocks are split over threads, and
 * outputs too large for cache are written with non-temporal stores, which skip the read-for-ownership of
 * the destination (12 bytes of traffic per element instead of 16).
 */
#include "cpu_kernels.h"

#if defined(__x86_64__) || defined(__i386__)
#include <immintrin.h>
#define HAVE_X86 1
#else
#define HAVE_X86 0
#endif

#define BLOCK_ELEMENTS 65536
#define STREAMING_THRESHOLD (1 << 20)

#if HAVE_X86
__attribute__((target("avx2"))) static void add_block_avx2(float *out, const float *a, const float *b, int64_t n,
                                                            int streaming)
{
    int64_t i = 0;
    if (streaming)
        for (; i < n && ((uintptr_t)(out + i) & 31); i++) out[i] = a[i] + b[i];
    for (; i + 8 <= n; i += 8) {
        __m256 sum = _mm256_add_ps(_mm256_loadu_ps(a + i), _mm256_loadu_ps(b + i));
        if (streaming) _mm256_stream_ps(out + i, sum);
        else _mm256_storeu_ps(out + i, sum);
    }
    for (; i < n; i++) out[i] = a[i] + b[i];
    if (streaming) _mm_sfence();
}
#endif

static void add_block(float *out, const float *a, const float *b, int64_t n, int streaming)
{
#if HAVE_X86
    if (cpu_has_avx2()) {
        add_block_avx2(out, a, b, n, streaming);
        return;
    }
#endif
    (void)streaming;
    for (int64_t i = 0; i < n; i++) out[i] = a[i] + b[i];
}

void add_forward(float *out, const float *a, const float *b, int64_t n)
{
    int64_t blocks = (n + BLOCK_ELEMENTS - 1) / BLOCK_ELEMENTS;
    int streaming = n >= STREAMING_THRESHOLD;
#pragma omp parallel for schedule(static) if (blocks > 1)
    for (int64_t block = 0; block < blocks; block++) {
        int64_t start = block * BLOCK_ELEMENTS;
        int64_t count = n - start < BLOCK_ELEMENTS ? n - start : BLOCK_ELEMENTS;
        add_block(out + start, a + start, b + start, count, streaming);
    }
}

void bias_add_forward(float *out, const float *a, const float *bias, int64_t rows, int64_t columns)
{
    /* Rows per task: about one block of elements, at least one row. */
    int64_t rows_per_task = BLOCK_ELEMENTS / columns > 0 ? BLOCK_ELEMENTS / columns : 1;
    int64_t tasks = (rows + rows_per_task - 1) / rows_per_task;
#pragma omp parallel for schedule(static) if (tasks > 1)
    for (int64_t task = 0; task < tasks; task++) {
        int64_t end = (task + 1) * rows_per_task < rows ? (task + 1) * rows_per_task : rows;
        for (int64_t r = task * rows_per_task; r < end; r++)
            add_block(out + r * columns, a + r * columns, bias, columns, 0);
    }
}
