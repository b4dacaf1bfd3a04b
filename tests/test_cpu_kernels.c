/*
 * test_cpu_kernels.c — every CPU kernel against the float64 reference, on fresh random inputs at awkward
 * sizes, with outputs poisoned (NaN) first so that unwritten elements show. Also measures and prints the
 * GELU approximations' max error (the number quoted in gelu_cpu.c and the README).
 */
#include "backends/cpu/cpu_kernels.h"
#include "check.h"

static const int64_t sizes[] = {1, 7, 31, 1000, 4097};
#define SIZE_COUNT (int)(sizeof sizes / sizeof *sizes)

static void test_elementwise(void)
{
    const int64_t lengths[] = {1, 7, 31, 1000, 4097, 65536 * 3 + 5, (1 << 20) + 3};
    for (size_t t = 0; t < sizeof lengths / sizeof *lengths; t++) {
        int64_t n = lengths[t];
        float *a = check_random(n, -6, 6), *b = check_random(n, -6, 6), *out = check_poisoned(n);
        double *ref = malloc(sizeof(double) * (size_t)n);
        add_forward(out, a, b, n);
        for (int64_t i = 0; i < n; i++) ref[i] = (double)a[i] + (double)b[i];
        CHECK(check_relative_error(out, ref, n) < 1e-6);
        for (int form = 0; form < 2; form++) {
            for (int64_t i = 0; i < n; i++) out[i] = NAN;
            gelu_forward(out, a, n, (fg_gelu_form)form);
            for (int64_t i = 0; i < n; i++) ref[i] = reference_gelu(a[i], (fg_gelu_form)form);
            double error = check_relative_error(out, ref, n);
            if (error >= 1e-5) fprintf(stderr, "gelu form %d n %lld: relative error %.3g\n", form, (long long)n, error);
            CHECK(error < 1e-5);
        }
        free(a), free(b), free(out), free(ref);
    }
}

static void test_bias_add(void)
{
    for (int r = 0; r < SIZE_COUNT; r++)
        for (int c = 0; c < SIZE_COUNT; c++) {
            int64_t rows = sizes[r], columns = sizes[c];
            if (rows * columns > 4000000) continue;
            float *a = check_random(rows * columns, -3, 3), *bias = check_random(columns, -3, 3);
            float *out = check_poisoned(rows * columns);
            double *ref = malloc(sizeof(double) * (size_t)(rows * columns));
            bias_add_forward(out, a, bias, rows, columns);
            for (int64_t i = 0; i < rows * columns; i++) ref[i] = (double)a[i] + bias[i % columns];
            CHECK(check_relative_error(out, ref, rows * columns) < 1e-6);
            free(a), free(bias), free(out), free(ref);
        }
}

/* Max absolute error of GELU (relative to max(1, |x|)) over a dense sweep of [-12, 12]. */
static void test_gelu_max_error(void)
{
    const int64_t n = 2400001;
    float *x = malloc(sizeof(float) * n), *out = malloc(sizeof(float) * n);
    for (int64_t i = 0; i < n; i++) x[i] = -12.0f + 24.0f * (float)i / (float)(n - 1);
    for (int form = 0; form < 2; form++) {
        gelu_forward(out, x, n, (fg_gelu_form)form);
        double worst = 0;
        for (int64_t i = 0; i < n; i++) {
            double scale = fabs(x[i]) > 1 ? fabs(x[i]) : 1;
            double error = fabs(out[i] - reference_gelu(x[i], (fg_gelu_form)form)) / scale;
            if (error > worst) worst = error;
        }
        printf("gelu %s: max error %.3g (absolute, relative to max(1,|x|)) over [-12, 12]\n",
               form ? "tanh" : "exact", worst);
        CHECK(worst < 1e-6);
    }
    free(x), free(out);
}

static void test_matmul(void)
{
    const int64_t shapes[][3] = {{1, 1, 1}, {7, 31, 1}, {1, 1000, 7}, {31, 7, 1000}, {64, 4097, 33},
                                 {1000, 31, 7}, {257, 129, 4097}, {300, 300, 300}};
    for (size_t s = 0; s < sizeof shapes / sizeof *shapes; s++) {
        int64_t m = shapes[s][0], k = shapes[s][1], n = shapes[s][2];
        float *a = check_random(m * k, -1, 1), *b = check_random(k * n, -1, 1), *bias = check_random(n, -1, 1);
        float *b_transposed = check_transposed(b, k, n, sizeof(float));
        float *out = check_poisoned(m * n);
        double *ref = reference_matmul(a, b, NULL, m, k, n, 0, FG_GELU_EXACT);
        for (int layout = 0; layout < 2; layout++) { /* FG_WEIGHT_K_N, then the same weight as [N, K] */
            const float *weight = layout == FG_WEIGHT_N_K ? b_transposed : b;
            for (int64_t i = 0; i < m * n; i++) out[i] = NAN;
            matmul_forward(out, a, weight, m, k, n, (fg_weight_layout)layout);
            CHECK(check_relative_error(out, ref, m * n) * check_cancellation_scale(a, b, NULL, ref, m, k, n) < 1e-5);
        }
        free(ref);
        for (int form = 0; form < 2; form++) {
            for (int gelu = 0; gelu < 2; gelu++) {
                ref = reference_matmul(a, b, bias, m, k, n, gelu, (fg_gelu_form)form);
                for (int layout = 0; layout < 2; layout++) {
                    const float *weight = layout == FG_WEIGHT_N_K ? b_transposed : b;
                    for (int64_t i = 0; i < m * n; i++) out[i] = NAN;
                    linear_forward(out, a, weight, bias, m, k, n, (fg_weight_layout)layout, gelu, (fg_gelu_form)form);
                    double error = check_relative_error(out, ref, m * n) * check_cancellation_scale(a, b, bias, ref, m, k, n);
                    if (error >= 1e-5)
                        fprintf(stderr, "linear %lldx%lldx%lld layout %d gelu %d form %d: %.3g\n", (long long)m,
                                (long long)k, (long long)n, layout, gelu, form, error);
                    CHECK(error < 1e-5);
                }
                free(ref);
            }
        }
        free(a), free(b), free(b_transposed), free(bias), free(out);
    }
}

/* Conversions: exact values, rounding to nearest even, specials. */
static void test_conversions(void)
{
    CHECK(f32_to_f16(1.0f) == 0x3c00 && f16_to_f32(0x3c00) == 1.0f);
    CHECK(f32_to_f16(-2.0f) == 0xc000 && f16_to_f32(0x7bff) == 65504.0f);
    CHECK(f32_to_f16(65520.0f) == 0x7c00);                        /* rounds to infinity */
    CHECK(f32_to_f16(1.0f + 1.0f / 2048) == 0x3c00);              /* tie: to even */
    CHECK(f32_to_f16(1.0f + 3.0f / 2048) == 0x3c02);              /* tie: to even (up) */
    CHECK(f16_to_f32(0x0001) == 5.9604644775390625e-8f);          /* smallest subnormal */
    CHECK(f32_to_f16(5.9604644775390625e-8f) == 0x0001);
    CHECK(f32_to_bf16(1.0f) == 0x3f80 && bf16_to_f32(0x3f80) == 1.0f);
    CHECK(f32_to_bf16(1.0f + 1.0f / 256) == 0x3f80);              /* tie: to even */
    CHECK(f32_to_bf16(1.0f + 3.0f / 256) == 0x3f82);
    CHECK(isnan(bf16_to_f32(f32_to_bf16(NAN))) && isnan(f16_to_f32(f32_to_f16(NAN))));
    /* vector and scalar paths agree over many values */
    const int64_t n = 100003;
    float *x = check_random(n, -70000, 70000), *back = malloc(sizeof(float) * n);
    uint16_t *half = malloc(2 * n);
    convert_from_f32(half, x, FG_F16, n);
    int mismatches = 0;
    for (int64_t i = 0; i < n; i++) mismatches += half[i] != f32_to_f16(x[i]);
    CHECK(mismatches == 0);
    convert_to_f32(back, half, FG_F16, n);
    for (int64_t i = 0; i < n; i++) mismatches += back[i] != f16_to_f32(half[i]);
    CHECK(mismatches == 0);
    free(x), free(back), free(half);
}

int main(void)
{
    check_seed();
    printf("GEMM: %s, elementwise: %s\n", matmul_library_name(), cpu_has_avx2() ? "AVX2+FMA" : "scalar");
    test_conversions();
    test_elementwise();
    test_bias_add();
    test_gelu_max_error();
    test_matmul();
    return check_finish("test_cpu_kernels");
}
