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
