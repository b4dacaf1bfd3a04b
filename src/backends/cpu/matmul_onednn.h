/*
 * matmul_onednn.h — GEMM with a fused epilogue through oneDNN (see matmul_onednn.c).
 */
#ifndef FUSEGRAPH_MATMUL_ONEDNN_H
#define FUSEGRAPH_MATMUL_ONEDNN_H

#include <stdint.h>

enum { ONEDNN_PLAIN = 0, ONEDNN_BIAS = 1, ONEDNN_BIAS_GELU_EXACT = 2, ONEDNN_BIAS_GELU_TANH = 3 };

/* out[M, N] = a[M, K] x b[K, N] (+ bias [N]) (then GELU), per epilogue. Returns 1 on success, 0 when
 * oneDNN could not run it (the caller then uses another GEMM). */
int onednn_linear(float *out, const float *a, const float *b, const float *bias, int64_t m, int64_t k, int64_t n,
                  int epilogue);

#endif
