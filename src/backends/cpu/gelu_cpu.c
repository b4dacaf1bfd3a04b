/*
 * gelu_cpu.c — GELU on the CPU, exact (erf) and tanh forms.
 *
 * Exact: gelu(x) = x * Phi(x), Phi(x) = 0.5 * erfc(-x / sqrt 2). The vector path computes
 * q = 0.5 * erfc(|x| / sqrt 2) with Abramowitz & Stegun 7.1.26 (erfc(z) = t P(t) exp(-z^2),
 * t = 1 / (1 + p z); |error| <= 1.5e-7 on erf) and takes Phi = 1 - q for x >= 0, q for x < 0. Working
 * from erfc of |x| keeps the negative tail accurate instead of computing 1 - (1 - tiny).
 * Tanh: 0.5 (1 + tanh(u)) = 1 / (1 + exp(-2u)), so gelu_tanh(x) = x / (1 + exp(-2u)), u = sqrt(2/pi)
 * (x + 0.044715 x^3): one exp and one division per element.
 * exp is a Cephes-style range reduction (x = n ln2 + r, |r| <= ln2/2) with a degree-6 Taylor polynomial,
 * relative error ~2e-7 over the float range.
 * Measured max error against float64 (tests/test_cpu_kernels.c prints it): exact ~1.5e-7 absolute
 * (relative to max(1,|x|)), tanh ~2.5e-7.
 *
 * Multithreaded over 64K-element blocks (OpenMP when the build has it); arrays past 4 MiB are written
 * with non-temporal stores, since they will not fit in cache anyway and streaming saves the
 * read-for-ownership traffic.
 */
#include "cpu_kernels.h"

#include <math.h>

#if defined(__x86_64__) || defined(__i386__)
#include <immintrin.h>
#define HAVE_X86 1
#else
#define HAVE_X86 0
#endif

#define BLOCK_ELEMENTS 65536
#define STREAMING_THRESHOLD (1 << 20) /* elements */

float gelu_reference(float x, fg_gelu_form form)
{
    if (form == FG_GELU_TANH) {
        /* 0.5 (1 + tanh u) = 1 / (1 + exp(-2u)): no cancellation in the negative tail */
        const float k = 0.7978845608028654f; /* sqrt(2/pi) */
        return x / (1.0f + expf(-2.0f * k * (x + 0.044715f * x * x * x)));
    }
    return 0.5f * x * erfcf(-x * 0.70710678118654752f);
}

int cpu_has_avx2(void)
{
#if HAVE_X86
    static int cached = -1;
    if (cached < 0) cached = __builtin_cpu_supports("avx2") && __builtin_cpu_supports("fma");
    return cached;
#else
    return 0;
#endif
}

#if HAVE_X86
#define AVX2 __attribute__((target("avx2,fma")))

AVX2 static inline __m256 exp_avx2(__m256 x)
{
    x = _mm256_min_ps(_mm256_max_ps(x, _mm256_set1_ps(-87.0f)), _mm256_set1_ps(88.0f));
    __m256 n = _mm256_round_ps(_mm256_mul_ps(x, _mm256_set1_ps(1.44269504088896341f)),
                               _MM_FROUND_TO_NEAREST_INT | _MM_FROUND_NO_EXC);
    __m256 r = _mm256_fnmadd_ps(n, _mm256_set1_ps(0.693359375f), x);
    r = _mm256_fnmadd_ps(n, _mm256_set1_ps(-2.12194440e-4f), r);
    __m256 p = _mm256_set1_ps(1.0f / 720.0f);
    p = _mm256_fmadd_ps(p, r, _mm256_set1_ps(1.0f / 120.0f));
    p = _mm256_fmadd_ps(p, r, _mm256_set1_ps(1.0f / 24.0f));
    p = _mm256_fmadd_ps(p, r, _mm256_set1_ps(1.0f / 6.0f));
    p = _mm256_fmadd_ps(p, r, _mm256_set1_ps(0.5f));
    p = _mm256_fmadd_ps(p, r, _mm256_set1_ps(1.0f));
    p = _mm256_fmadd_ps(p, r, _mm256_set1_ps(1.0f));
    __m256i exponent = _mm256_slli_epi32(_mm256_add_epi32(_mm256_cvtps_epi32(n), _mm256_set1_epi32(127)), 23);
    return _mm256_mul_ps(p, _mm256_castsi256_ps(exponent));
}

AVX2 static inline __m256 gelu_exact_avx2(__m256 x)
{
    const __m256 sign_mask = _mm256_set1_ps(-0.0f);
    __m256 z = _mm256_mul_ps(_mm256_andnot_ps(sign_mask, x), _mm256_set1_ps(0.70710678118654752f));
    __m256 t = _mm256_div_ps(_mm256_set1_ps(1.0f), _mm256_fmadd_ps(z, _mm256_set1_ps(0.3275911f), _mm256_set1_ps(1.0f)));
    __m256 poly = _mm256_set1_ps(1.061405429f);
    poly = _mm256_fmadd_ps(poly, t, _mm256_set1_ps(-1.453152027f));
    poly = _mm256_fmadd_ps(poly, t, _mm256_set1_ps(1.421413741f));
    poly = _mm256_fmadd_ps(poly, t, _mm256_set1_ps(-0.284496736f));
    poly = _mm256_fmadd_ps(poly, t, _mm256_set1_ps(0.254829592f));
    poly = _mm256_mul_ps(poly, t);
    __m256 minus_z2 = _mm256_sub_ps(_mm256_setzero_ps(), _mm256_mul_ps(z, z));
    __m256 q = _mm256_mul_ps(_mm256_mul_ps(poly, exp_avx2(minus_z2)), _mm256_set1_ps(0.5f)); /* 0.5 erfc(z) */
    __m256 phi = _mm256_blendv_ps(_mm256_sub_ps(_mm256_set1_ps(1.0f), q), q, x); /* sign bit of x picks q */
    return _mm256_mul_ps(x, phi);
}

AVX2 static inline __m256 gelu_tanh_avx2(__m256 x)
{
    __m256 x3 = _mm256_mul_ps(_mm256_mul_ps(x, x), x);
    __m256 u = _mm256_mul_ps(_mm256_fmadd_ps(x3, _mm256_set1_ps(0.044715f), x), _mm256_set1_ps(0.7978845608028654f));
    __m256 e = exp_avx2(_mm256_mul_ps(u, _mm256_set1_ps(-2.0f)));
    return _mm256_div_ps(x, _mm256_add_ps(_mm256_set1_ps(1.0f), e));
}

AVX2 static void gelu_block_avx2(float *out, const float *x, int64_t n, fg_gelu_form form, int streaming)
{
    int64_t i = 0;
    /* Streaming stores need 32-byte alignment: peel scalar elements up to it. */
    if (streaming)
        for (; i < n && ((uintptr_t)(out + i) & 31); i++) out[i] = gelu_reference(x[i], form);
    for (; i + 8 <= n; i += 8) {
        __m256 v = _mm256_loadu_ps(x + i);
        __m256 y = form == FG_GELU_TANH ? gelu_tanh_avx2(v) : gelu_exact_avx2(v);
        if (streaming) _mm256_stream_ps(out + i, y);
        else _mm256_storeu_ps(out + i, y);
    }
    for (; i < n; i++) out[i] = gelu_reference(x[i], form);
    /* Each thread orders its own non-temporal stores before the parallel region's barrier. */
    if (streaming) _mm_sfence();
}

/* One row of the fused epilogue: out[j] = gelu(out[j] + bias[j]), in cache, normal stores. */
AVX2 static void bias_gelu_row_avx2(float *row, const float *bias, int64_t n, fg_gelu_form form)
{
    int64_t j = 0;
    for (; j + 8 <= n; j += 8) {
        __m256 v = _mm256_add_ps(_mm256_loadu_ps(row + j), _mm256_loadu_ps(bias + j));
        _mm256_storeu_ps(row + j, form == FG_GELU_TANH ? gelu_tanh_avx2(v) : gelu_exact_avx2(v));
    }
    for (; j < n; j++) row[j] = gelu_reference(row[j] + bias[j], form);
}
#endif

static void bias_gelu_row(float *row, const float *bias, int64_t n, fg_gelu_form form)
{
#if HAVE_X86
    if (cpu_has_avx2()) {
        bias_gelu_row_avx2(row, bias, n, form);
        return;
    }
#endif
    for (int64_t j = 0; j < n; j++) row[j] = gelu_reference(row[j] + bias[j], form);
}

void bias_gelu_forward(float *inout, const float *bias, int64_t rows, int64_t columns, fg_gelu_form form)
{
    int64_t rows_per_task = BLOCK_ELEMENTS / columns > 0 ? BLOCK_ELEMENTS / columns : 1;
    int64_t tasks = (rows + rows_per_task - 1) / rows_per_task;
#pragma omp parallel for schedule(static) if (tasks > 1)
    for (int64_t task = 0; task < tasks; task++) {
        int64_t end = (task + 1) * rows_per_task < rows ? (task + 1) * rows_per_task : rows;
        for (int64_t r = task * rows_per_task; r < end; r++) bias_gelu_row(inout + r * columns, bias, columns, form);
    }
}

static void gelu_block(float *out, const float *x, int64_t n, fg_gelu_form form, int streaming)
{
#if HAVE_X86
    if (cpu_has_avx2()) {
        gelu_block_avx2(out, x, n, form, streaming);
        return;
    }
#endif
    (void)streaming;
    for (int64_t i = 0; i < n; i++) out[i] = gelu_reference(x[i], form);
}

void gelu_forward(float *out, const float *x, int64_t n, fg_gelu_form form)
{
    int64_t blocks = (n + BLOCK_ELEMENTS - 1) / BLOCK_ELEMENTS;
    int streaming = n >= STREAMING_THRESHOLD;
#pragma omp parallel for schedule(static) if (blocks > 1)
    for (int64_t block = 0; block < blocks; block++) {
        int64_t start = block * BLOCK_ELEMENTS;
        int64_t count = n - start < BLOCK_ELEMENTS ? n - start : BLOCK_ELEMENTS;
        gelu_block(out + start, x + start, count, form, streaming);
    }
}
