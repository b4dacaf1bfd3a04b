/*
 * convert_cpu.c — f16 and bf16 to and from f32 on the CPU.
 *
 * The CPU computes f16/bf16 graphs in f32 (its reference for the GPU kernels, which also accumulate in
 * f32): inputs are widened, the f32 kernel runs, the output is rounded back. Rounding is to nearest,
 * ties to even, as the GPUs' conversion instructions do, so CPU and GPU results compare bit for bit on
 * the conversion itself. f16 uses the F16C instructions where the CPU has them.
 */
#include "cpu_kernels.h"

#include <string.h>

#if defined(__x86_64__) || defined(__i386__)
#include <cpuid.h>
#include <immintrin.h>
#define HAVE_X86 1
#else
#define HAVE_X86 0
#endif

static uint32_t float_bits(float value)
{
    uint32_t bits;
    memcpy(&bits, &value, 4);
    return bits;
}

static float bits_float(uint32_t bits)
{
    float value;
    memcpy(&value, &bits, 4);
    return value;
}

uint16_t f32_to_bf16(float value)
{
    uint32_t bits = float_bits(value);
    if ((bits & 0x7fffffffu) > 0x7f800000u) return (uint16_t)((bits >> 16) | 0x40); /* quiet NaN */
    bits += 0x7fffu + ((bits >> 16) & 1u);
    return (uint16_t)(bits >> 16);
}

float bf16_to_f32(uint16_t value) { return bits_float((uint32_t)value << 16); }

float f16_to_f32(uint16_t value)
{
    uint32_t sign = (uint32_t)(value & 0x8000u) << 16, exponent = (value >> 10) & 0x1fu, mantissa = value & 0x3ffu;
    if (exponent == 0x1f) return bits_float(sign | 0x7f800000u | (mantissa << 13)); /* inf / NaN */
    if (exponent == 0) {
        if (!mantissa) return bits_float(sign);
        float magnitude = (float)mantissa * (1.0f / 16777216.0f); /* subnormal: mantissa * 2^-24 */
        return bits_float(sign | float_bits(magnitude));
    }
    return bits_float(sign | ((exponent + 112u) << 23) | (mantissa << 13));
}

uint16_t f32_to_f16(float value)
{
    uint32_t bits = float_bits(value);
    uint32_t sign = (bits >> 16) & 0x8000u, magnitude = bits & 0x7fffffffu;
    if (magnitude > 0x7f800000u) return (uint16_t)(sign | 0x7e00u);  /* NaN */
    if (magnitude >= 0x477ff000u) return (uint16_t)(sign | 0x7c00u); /* rounds to infinity */
    if (magnitude < 0x38800000u) {                                    /* subnormal or zero in f16 */
        float scaled = bits_float(magnitude) * 16777216.0f;           /* in units of 2^-24 */
        uint32_t units = (uint32_t)scaled;
        float rest = scaled - (float)units;
        if (rest > 0.5f || (rest == 0.5f && (units & 1u))) units++;
        return (uint16_t)(sign | units);
    }
    uint32_t rounded = magnitude + 0xfffu + ((magnitude >> 13) & 1u); /* to nearest, ties to even */
    return (uint16_t)(sign | ((rounded - 0x38000000u) >> 13));
}

#if HAVE_X86
__attribute__((target("avx2,f16c"))) static void f16_to_f32_f16c(float *out, const uint16_t *in, int64_t n)
{
    int64_t i = 0;
    for (; i + 8 <= n; i += 8) _mm256_storeu_ps(out + i, _mm256_cvtph_ps(_mm_loadu_si128((const __m128i *)(in + i))));
    for (; i < n; i++) out[i] = f16_to_f32(in[i]);
}

__attribute__((target("avx2,f16c"))) static void f32_to_f16_f16c(uint16_t *out, const float *in, int64_t n)
{
    int64_t i = 0;
    for (; i + 8 <= n; i += 8)
        _mm_storeu_si128((__m128i *)(out + i), _mm256_cvtps_ph(_mm256_loadu_ps(in + i), _MM_FROUND_TO_NEAREST_INT));
    for (; i < n; i++) out[i] = f32_to_f16(in[i]);
}

static int has_f16c(void)
{
    static int cached = -1;
    if (cached < 0) {
        /* F16C is CPUID.1:ECX bit 29, read directly: clang 14's __builtin_cpu_supports does not know
         * "f16c". AVX2 through the builtin, which also checks that the OS saves the YMM registers. */
        unsigned eax = 0, ebx = 0, ecx = 0, edx = 0;
        cached = __get_cpuid(1, &eax, &ebx, &ecx, &edx) && (ecx & (1u << 29)) && __builtin_cpu_supports("avx2");
    }
    return cached;
}
#endif

void convert_to_f32(float *out, const void *in, fg_dtype dtype, int64_t n)
{
    const uint16_t *half = in;
    if (dtype == FG_F32) {
        memcpy(out, in, sizeof(float) * (size_t)n);
    } else if (dtype == FG_BF16) {
#pragma omp parallel for schedule(static) if (n > (1 << 18))
        for (int64_t i = 0; i < n; i++) out[i] = bf16_to_f32(half[i]);
    } else {
#if HAVE_X86
        if (has_f16c()) {
            f16_to_f32_f16c(out, half, n);
            return;
        }
#endif
        for (int64_t i = 0; i < n; i++) out[i] = f16_to_f32(half[i]);
    }
}

void convert_from_f32(void *out, const float *in, fg_dtype dtype, int64_t n)
{
    uint16_t *half = out;
    if (dtype == FG_F32) {
        memcpy(out, in, sizeof(float) * (size_t)n);
    } else if (dtype == FG_BF16) {
#pragma omp parallel for schedule(static) if (n > (1 << 18))
        for (int64_t i = 0; i < n; i++) half[i] = f32_to_bf16(in[i]);
    } else {
#if HAVE_X86
        if (has_f16c()) {
            f32_to_f16_f16c(half, in, n);
            return;
        }
#endif
        for (int64_t i = 0; i < n; i++) half[i] = f32_to_f16(in[i]);
    }
}
