/*
 * matmul_epilogue.cuh — device helpers shared by the tiled matmul kernels (matmul_simt.cu,
 * matmul_tensor_core.cu): the epilogue (bias, exact or tanh GELU) applied to f32 accumulators in
 * registers, and f32 <-> storage-dtype conversions, so every kernel rounds and activates the same way.
 */
#ifndef FUSEGRAPH_MATMUL_EPILOGUE_CUH
#define FUSEGRAPH_MATMUL_EPILOGUE_CUH

#include <cuda_bf16.h>
#include <cuda_fp16.h>
#include <cuda_runtime.h>

#include "cuda_kernels.h"

/* gelu(x) = x * Phi(x), with the exact normal CDF through erf (PyTorch's default "none"). */
__device__ __forceinline__ float gelu_erf(float x) { return 0.5f * x * (1.0f + erff(x * 0.70710678118654752f)); }

/* gelu(x) = x * Phi(x) for 16-bit outputs, with Phi from Abramowitz & Stegun 7.1.26 (|erf error| <= 1.5e-7):
 * 0.5 erfc(z) = t P(t) exp(-z^2), t = 1 / (1 + p z), z = |x| / sqrt 2, the coefficients halved. About 15
 * instructions (two of them MUFU: the reciprocal and exp2) against erff's ~27, which the Hopper kernel's
 * epilogue spends per element while the tensor cores wait. Accuracy, on every 7th float in [-12, 12]
 * against float64 (313M inputs): the largest relative error where |gelu| > 1e-4 is 5.1e-4 (gelu_erf's:
 * 6.0e-4, both from the cancellation in the negative tail), and the bf16-rounded result differs from the
 * rounded reference for 1.37M inputs (gelu_erf: 1.64M) (bench/probes/gelu_erf_16bit_accuracy.c). f32
 * outputs keep gelu_erf: this one's absolute error in Phi is ~3x erff's (3.2e-7 against 1.1e-7), under any
 * 16-bit rounding but not under f32's. */
__device__ __forceinline__ float gelu_erf_16bit(float x) {
    const float z = fabsf(x) * 0.70710678118654752f;
    /* The approximate reciprocal and exp2 (1-2 ulp) without the range fix-ups of 1.0f / d and exp2f: d >= 1,
     * and exp2 of a large negative argument is 0 (ftz) either way. */
    float t, e;
    asm("rcp.approx.ftz.f32 %0, %1;" : "=f"(t) : "f"(fmaf(0.3275911f, z, 1.0f)));
    asm("ex2.approx.ftz.f32 %0, %1;" : "=f"(e) : "f"(z * z * -1.4426950408889634f));
    float p = fmaf(0.5307027145f, t, -0.7265760135f);
    p = fmaf(p, t, 0.7107068705f);
    p = fmaf(p, t, -0.142248368f);
    p = fmaf(p, t, 0.127414796f);
    const float half_erfc = p * t * e;
    return x * (x >= 0.0f ? 1.0f - half_erfc : half_erfc);
}

/* gelu(x) ~ 0.5 x (1 + tanh(sqrt(2/pi) (x + 0.044715 x^3))) (PyTorch's approximate="tanh", GPT-2).
 * tanhf, not the tanh.approx instruction: the approximation is the formula, not the arithmetic. */
__device__ __forceinline__ float gelu_tanh(float x) {
    float inner = 0.7978845608028654f * (x + 0.044715f * x * x * x);
    return 0.5f * x * (1.0f + tanhf(inner));
}

/* The epilogue on one accumulator; `bias_value` is ignored for CUDA_EPILOGUE_NONE. `epilogue` is
 * uniform across the grid, so the branches do not diverge. */
__device__ __forceinline__ float apply_epilogue(float acc, float bias_value, int epilogue) {
    if (epilogue == CUDA_EPILOGUE_NONE) return acc;
    float x = acc + bias_value;
    if (epilogue == CUDA_EPILOGUE_BIAS_GELU_EXACT) return gelu_erf(x);
    if (epilogue == CUDA_EPILOGUE_BIAS_GELU_TANH) return gelu_tanh(x);
    return x;
}

/* apply_epilogue for a result stored as T: a 16-bit T takes gelu_erf_16bit for exact GELU (its error lies
 * under 16-bit rounding), f32 keeps erff. The Hopper kernel's epilogue uses it, where erff's cost was
 * measured; the other kernels still call apply_epilogue (gelu_erf for every dtype). */
template <typename T> __device__ __forceinline__ float apply_epilogue_as(float acc, float bias_value, int epilogue) {
    if (sizeof(T) == 2 && epilogue == CUDA_EPILOGUE_BIAS_GELU_EXACT) return gelu_erf_16bit(acc + bias_value);
    return apply_epilogue(acc, bias_value, epilogue);
}

/* Storage type <-> f32 (round to nearest even on the way down). */
template <typename T> __device__ __forceinline__ float to_float(T v);
template <> __device__ __forceinline__ float to_float<float>(float v) { return v; }
template <> __device__ __forceinline__ float to_float<__half>(__half v) { return __half2float(v); }
template <> __device__ __forceinline__ float to_float<__nv_bfloat16>(__nv_bfloat16 v) { return __bfloat162float(v); }

template <typename T> __device__ __forceinline__ T from_float(float v);
template <> __device__ __forceinline__ float from_float<float>(float v) { return v; }
template <> __device__ __forceinline__ __half from_float<__half>(float v) { return __float2half_rn(v); }
template <> __device__ __forceinline__ __nv_bfloat16 from_float<__nv_bfloat16>(float v) { return __float2bfloat16_rn(v); }

#endif /* FUSEGRAPH_MATMUL_EPILOGUE_CUH */
