/*
 * matmul_onednn.h — GEMM with a fused epilogue through oneDNN (see matmul_onednn.c).
 */
#ifndef FUSEGRAPH_MATMUL_ONEDNN_H
#define FUSEGRAPH_MATMUL_ONEDNN_H

#include <stdint.h>

enum { ONEDNN_PLAIN = 0, ONEDNN_BIAS = 1, ONEDNN_BIAS_GELU_EXACT = 2, ONEDNN_BIAS_GELU_TANH = 3 };

/* out[M, N] = a[M, K] x b (+ bias [N]) (then GELU), per epilogue; b is [K, N], or [N, K] when
 * b_transposed (out = a b^T). Returns 1 on success, 0 when oneDNN could not run it (the caller then
 * uses another GEMM). */
int onednn_linear(float *out, const float *a, const float *b, const float *bias, int64_t m, int64_t k, int64_t n,
                  int b_transposed, int epilogue);

#endif
