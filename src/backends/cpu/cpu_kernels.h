/*
 * cpu_kernels.h — the CPU kernels (f32, row-major). Each fast kernel has a plain scalar version beside
 * it (the *_reference functions) that the tests compare against and that runs where AVX2 is absent.
 * These kernels are also linked into the test backend module, which runs them on "device" memory.
 */
#ifndef FUSEGRAPH_CPU_KERNELS_H
#define FUSEGRAPH_CPU_KERNELS_H

#include <stddef.h>
#include <stdint.h>

#include "fusegraph.h"

/* out = a + b, n elements. */
void add_forward(float *out, const float *a, const float *b, int64_t n);
/* out[r, j] = a[r, j] + bias[j] for rows x columns. */
void bias_add_forward(float *out, const float *a, const float *bias, int64_t rows, int64_t columns);

/* out = gelu(x), n elements, exact (erf) or tanh form. */
void gelu_forward(float *out, const float *x, int64_t n, fg_gelu_form form);
/* inout[r, j] = gelu(inout[r, j] + bias[j]): the fused epilogue, one pass over a cached panel. */
void bias_gelu_forward(float *inout, const float *bias, int64_t rows, int64_t columns, fg_gelu_form form);
/* One element, scalar libm math: the slow, obviously-right version. */
float gelu_reference(float x, fg_gelu_form form);

/* out[M, N] = a[M, K] x b, with b [K, N] (FG_WEIGHT_K_N) or [N, K] (FG_WEIGHT_N_K: out = a b^T). */
void matmul_forward(float *out, const float *a, const float *b, int64_t m, int64_t k, int64_t n,
                    fg_weight_layout layout);
/* out = a x b + bias, then GELU when apply_gelu: the epilogue runs on each row panel right after the
 * panel's GEMM, while the panel is still in cache. */
void linear_forward(float *out, const float *a, const float *b, const float *bias, int64_t m, int64_t k,
                    int64_t n, fg_weight_layout layout, int apply_gelu, fg_gelu_form form);

/* The fused layer without oneDNN: GEMM (OpenBLAS or built-in) one row panel at a time, each panel's
 * epilogue applied while it is in cache. linear_forward uses it when oneDNN is absent. */
void linear_forward_panels(float *out, const float *a, const float *b, const float *bias, int64_t m, int64_t k,
                           int64_t n, fg_weight_layout layout, int apply_gelu, fg_gelu_form form);

/* convert_cpu.c: f16/bf16 <-> f32, round to nearest even. */
float f16_to_f32(uint16_t value);
uint16_t f32_to_f16(float value);
float bf16_to_f32(uint16_t value);
uint16_t f32_to_bf16(float value);
void convert_to_f32(float *out, const void *in, fg_dtype dtype, int64_t n);
void convert_from_f32(void *out, const float *in, fg_dtype dtype, int64_t n);

/* Which GEMM library the kernels were built with ("OpenBLAS", "built-in blocked GEMM"). */
const char *matmul_library_name(void);
/* Whether the vectorized (AVX2+FMA) elementwise path is in use on this CPU. */
int cpu_has_avx2(void);

#endif /* FUSEGRAPH_CPU_KERNELS_H */
