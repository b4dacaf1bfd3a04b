/*
 * matmul_cpu.c — MatMul and the fused linear layer (MatMul + bias [+ GELU]) on the CPU.
 *
 * GEMM comes from oneDNN when the build found it (matmul_onednn.c says why it leads), else from
 * OpenBLAS, else from a cache-blocked loop nest below that any C compiler vectorizes. With oneDNN the
 * blocked loops are its fallback, not OpenBLAS: one thread pool (OpenMP) for every CPU kernel, since
 * OpenBLAS's spinning pool beside it slowed oneDNN 30x on a 16-core host (CMakeLists.txt says more).
 *
 * oneDNN fuses bias + GELU into its GEMM. Without it, the fused layer runs GEMM one row panel at a time and applies bias (+ GELU) to that panel right away,
 * while it is still in the cache the GEMM wrote it through: the epilogue then costs compute only, not a
 * second and third pass over an [M, N] output in main memory. Panels hold about PANEL_BYTES of output
 * (at least 64 rows, so that each GEMM call stays efficient).
 */
#include "cpu_kernels.h"

#include <string.h>

#ifdef FUSEGRAPH_HAVE_OPENBLAS
#include <cblas.h>
#endif
#ifdef FUSEGRAPH_HAVE_ONEDNN
#include "matmul_onednn.h"
#endif

#define PANEL_BYTES (1 << 20)
#define PANEL_MIN_ROWS 64

const char *matmul_library_name(void)
{
#if defined(FUSEGRAPH_HAVE_ONEDNN)
    return "oneDNN (built-in blocked GEMM if oneDNN fails)";
#elif defined(FUSEGRAPH_HAVE_OPENBLAS)
    return "OpenBLAS";
#else
    return "built-in blocked GEMM";
#endif
}

#ifndef FUSEGRAPH_HAVE_OPENBLAS
/* out = a b^T with b [N, K]: each output is a dot product of two contiguous rows. Blocks of n keep a
 * panel of b in L2 while rows of a stream past it; the inner loop is a reduction, which compilers
 * vectorize only with reassociation allowed, so 8 partial sums make the independent lanes explicit.
 * One parallel region over (column block, row): at M = 1, decoding, the rows of a alone would leave
 * every core but one idle, and the static schedule gives each thread consecutive rows of one block. */
static void blocked_gemm_transposed(float *out, const float *a, const float *b, int64_t m, int64_t k, int64_t n)
{
    enum { BLOCK_N = 64 };
    const int64_t blocks = (n + BLOCK_N - 1) / BLOCK_N;
#pragma omp parallel for collapse(2) schedule(static) if (m * n * k > (1 << 18))
    for (int64_t block = 0; block < blocks; block++) {
        for (int64_t i = 0; i < m; i++) {
            const int64_t n0 = block * BLOCK_N, n1 = n0 + BLOCK_N < n ? n0 + BLOCK_N : n;
            const float *a_row = a + i * k;
            for (int64_t j = n0; j < n1; j++) {
                const float *b_row = b + j * k;
                float partial[8] = {0, 0, 0, 0, 0, 0, 0, 0};
                int64_t p = 0;
                for (; p + 8 <= k; p += 8)
                    for (int lane = 0; lane < 8; lane++) partial[lane] += a_row[p + lane] * b_row[p + lane];
                float sum = 0.0f;
                for (; p < k; p++) sum += a_row[p] * b_row[p];
                for (int lane = 0; lane < 8; lane++) sum += partial[lane];
                out[i * n + j] = sum;
            }
        }
    }
}

/* Blocked i-k-j GEMM: the innermost loop runs along a row of b and of out, contiguous, so it
 * vectorizes; blocks of k and n keep a panel of b in L2 while rows of a stream past it. */
static void blocked_gemm(float *out, const float *a, const float *b, int64_t m, int64_t k, int64_t n)
{
    enum { BLOCK_K = 256, BLOCK_N = 512 };
    memset(out, 0, sizeof(float) * (size_t)(m * n));
    for (int64_t n0 = 0; n0 < n; n0 += BLOCK_N) {
        int64_t n1 = n0 + BLOCK_N < n ? n0 + BLOCK_N : n;
        for (int64_t k0 = 0; k0 < k; k0 += BLOCK_K) {
            int64_t k1 = k0 + BLOCK_K < k ? k0 + BLOCK_K : k;
#pragma omp parallel for schedule(static) if (m * (n1 - n0) * (k1 - k0) > (1 << 18))
            for (int64_t i = 0; i < m; i++) {
                float *row = out + i * n;
                for (int64_t p = k0; p < k1; p++) {
                    float scale = a[i * k + p];
                    const float *b_row = b + p * n;
                    for (int64_t j = n0; j < n1; j++) row[j] += scale * b_row[j];
                }
            }
        }
    }
}
#endif

/* GEMM without oneDNN: OpenBLAS or the blocked loops. */
static void blas_gemm(float *out, const float *a, const float *b, int64_t m, int64_t k, int64_t n,
                      fg_weight_layout layout)
{
    int transposed = layout == FG_WEIGHT_N_K;
#ifdef FUSEGRAPH_HAVE_OPENBLAS
    cblas_sgemm(CblasRowMajor, CblasNoTrans, transposed ? CblasTrans : CblasNoTrans, (blasint)m, (blasint)n,
                (blasint)k, 1.0f, a, (blasint)k, b, transposed ? (blasint)k : (blasint)n, 0.0f, out, (blasint)n);
#else
    if (transposed) blocked_gemm_transposed(out, a, b, m, k, n);
    else blocked_gemm(out, a, b, m, k, n);
#endif
}

void matmul_forward(float *out, const float *a, const float *b, int64_t m, int64_t k, int64_t n,
                    fg_weight_layout layout)
{
#ifdef FUSEGRAPH_HAVE_ONEDNN
    if (onednn_linear(out, a, b, NULL, m, k, n, layout == FG_WEIGHT_N_K, ONEDNN_PLAIN)) return;
#endif
    blas_gemm(out, a, b, m, k, n, layout);
}

void linear_forward_panels(float *out, const float *a, const float *b, const float *bias, int64_t m, int64_t k,
                           int64_t n, fg_weight_layout layout, int apply_gelu, fg_gelu_form form)
{
    int64_t panel_rows = PANEL_BYTES / (int64_t)sizeof(float) / n;
    if (panel_rows < PANEL_MIN_ROWS) panel_rows = PANEL_MIN_ROWS;
    for (int64_t row = 0; row < m; row += panel_rows) {
        int64_t rows = m - row < panel_rows ? m - row : panel_rows;
        float *panel = out + row * n;
        blas_gemm(panel, a + row * k, b, rows, k, n, layout);
        if (apply_gelu) bias_gelu_forward(panel, bias, rows, n, form);
        else bias_add_forward(panel, panel, bias, rows, n);
    }
}

void linear_forward(float *out, const float *a, const float *b, const float *bias, int64_t m, int64_t k,
                    int64_t n, fg_weight_layout layout, int apply_gelu, fg_gelu_form form)
{
#ifdef FUSEGRAPH_HAVE_ONEDNN
    int epilogue = !apply_gelu ? ONEDNN_BIAS : form == FG_GELU_TANH ? ONEDNN_BIAS_GELU_TANH : ONEDNN_BIAS_GELU_EXACT;
    if (onednn_linear(out, a, b, bias, m, k, n, layout == FG_WEIGHT_N_K, epilogue)) return;
#endif
    linear_forward_panels(out, a, b, bias, m, k, n, layout, apply_gelu, form);
}
