/*
 * check.h — the tests' small harness: CHECK macros that count failures, fresh random inputs, float64
 * reference kernels, the norm-wise relative error, and NaN poisoning of outputs.
 *
 * A test program returns 0 when every check passed, 1 otherwise, and CHECK_SKIP_CODE (77, CTest's
 * SKIP_RETURN_CODE) after printing "skipped: <reason>" when it cannot run here.
 */
#ifndef FUSEGRAPH_TEST_CHECK_H
#define FUSEGRAPH_TEST_CHECK_H

#include "fusegraph.h"

#include <math.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#define CHECK_SKIP_CODE 77

static int check_failures;
static int check_count;

#define CHECK(condition)                                                                                  \
    do {                                                                                                  \
        check_count++;                                                                                    \
        if (!(condition)) {                                                                               \
            check_failures++;                                                                             \
            fprintf(stderr, "%s:%d: CHECK failed: %s\n", __FILE__, __LINE__, #condition);                \
        }                                                                                                 \
    } while (0)

#define CHECK_OK(call)                                                                                    \
    do {                                                                                                  \
        fg_status check_status_ = (call);                                                                 \
        check_count++;                                                                                    \
        if (check_status_ != FG_OK) {                                                                     \
            check_failures++;                                                                             \
            fprintf(stderr, "%s:%d: %s returned %s: %s\n", __FILE__, __LINE__, #call,                     \
                    fg_status_name(check_status_), fg_last_error());                                      \
        }                                                                                                 \
    } while (0)

/* The call must fail with status, and its message must contain text. */
#define CHECK_FAILS(call, status, text)                                                                   \
    do {                                                                                                  \
        fg_status check_status_ = (call);                                                                 \
        check_count++;                                                                                    \
        if (check_status_ != (status) || !strstr(fg_last_error(), (text))) {                              \
            check_failures++;                                                                             \
            fprintf(stderr, "%s:%d: %s: expected %s with \"%s\", got %s: \"%s\"\n", __FILE__, __LINE__, #call, \
                    fg_status_name(status), text, fg_status_name(check_status_), fg_last_error());         \
        }                                                                                                 \
    } while (0)

/* Seconds since start, a CLOCK_MONOTONIC reading: for the lines that say where a slow run's time went. */
static inline double check_seconds_since(const struct timespec *start)
{
    struct timespec now;
    clock_gettime(CLOCK_MONOTONIC, &now);
    return (double)(now.tv_sec - start->tv_sec) + (double)(now.tv_nsec - start->tv_nsec) * 1e-9;
}

static inline int check_finish(const char *name)
{
    printf("%s: %d checks, %d failed\n", name, check_count, check_failures);
    return check_failures ? 1 : 0;
}

/* xorshift64*: fresh inputs per run (seeded from time unless FUSEGRAPH_TEST_SEED is set). */
static uint64_t check_rng_state;
static inline void check_seed(void)
{
    const char *seed = getenv("FUSEGRAPH_TEST_SEED");
    check_rng_state = seed ? strtoull(seed, NULL, 10) : (uint64_t)time(NULL) ^ (uint64_t)(uintptr_t)&check_rng_state;
    if (!check_rng_state) check_rng_state = 88172645463325252ull;
    printf("seed %llu (set FUSEGRAPH_TEST_SEED to repeat)\n", (unsigned long long)check_rng_state);
}
static inline float check_uniform(float low, float high)
{
    check_rng_state ^= check_rng_state >> 12;
    check_rng_state ^= check_rng_state << 25;
    check_rng_state ^= check_rng_state >> 27;
    uint64_t bits = check_rng_state * 2685821657736338717ull;
    return low + (high - low) * (float)((bits >> 40) * (1.0 / 16777216.0));
}
static inline float *check_random(int64_t n, float low, float high)
{
    float *data = malloc(sizeof(float) * (size_t)(n ? n : 1));
    for (int64_t i = 0; i < n; i++) data[i] = check_uniform(low, high);
    return data;
}
static inline float *check_poisoned(int64_t n)
{
    float *data = malloc(sizeof(float) * (size_t)(n ? n : 1));
    for (int64_t i = 0; i < n; i++) data[i] = NAN;
    return data;
}

/* ||out - ref|| / ||ref|| in float64; NaN anywhere in out makes it infinite. */
static inline double check_relative_error(const float *out, const double *ref, int64_t n)
{
    double diff = 0, norm = 0;
    for (int64_t i = 0; i < n; i++) {
        if (isnan(out[i])) return INFINITY;
        double d = (double)out[i] - ref[i];
        diff += d * d;
        norm += ref[i] * ref[i];
    }
    return norm > 0 ? sqrt(diff / norm) : sqrt(diff);
}

/* float64 references */
static inline double reference_gelu(double x, fg_gelu_form form)
{
    if (form == FG_GELU_TANH) return 0.5 * x * (1.0 + tanh(0.7978845608028654 * (x + 0.044715 * x * x * x)));
    return 0.5 * x * erfc(-x / sqrt(2.0));
}
static inline double *reference_matmul(const float *a, const float *b, const float *bias, int64_t m, int64_t k, int64_t n,
                                int apply_gelu, fg_gelu_form form)
{
    double *out = malloc(sizeof(double) * (size_t)(m * n));
    for (int64_t i = 0; i < m; i++)
        for (int64_t j = 0; j < n; j++) {
            double sum = bias ? bias[j] : 0.0;
            for (int64_t p = 0; p < k; p++) sum += (double)a[i * k + p] * (double)b[p * n + j];
            out[i * n + j] = apply_gelu ? reference_gelu(sum, form) : sum;
        }
    return out;
}

/* The factor that turns ||out - ref|| / ||ref|| of a matmul (+ bias) (+ GELU) into an error measured
 * against the magnitude of its terms, for tiny outputs. With a handful of outputs one element is the
 * whole norm, and where a x b and the bias nearly cancel, any rounding (f32's 6e-8, TF32's and bf16's
 * ~1e-3) is amplified without bound relative to the result (seen: 1.02e-5 for a 1x1x1 f32 case on the
 * CPU, 1.3e-3 for a 1x1x1 TF32 one on the H100). Error analysis bounds a dot product's error by the
 * magnitude of its terms, so for outputs under 16 elements the error is measured against
 * max(||ref||, || |a| |b| + |bias| ||) (GELU's slope is at most 1.13, so it adds no more than that
 * factor): the result is ||ref|| / that, at most 1. Larger outputs keep the plain norm-wise measure (1).
 * a [M, K], b [K, N], bias [N] or NULL; ref the reference of the whole node. */
static inline double check_cancellation_scale(const float *a, const float *b, const float *bias, const double *ref,
                                              int64_t m, int64_t k, int64_t n)
{
    if (m * n >= 16) return 1.0;
    double reference_norm = 0, magnitude_norm = 0;
    for (int64_t i = 0; i < m; i++)
        for (int64_t j = 0; j < n; j++) {
            double magnitude = bias ? fabs((double)bias[j]) : 0.0;
            for (int64_t p = 0; p < k; p++) magnitude += fabs((double)a[i * k + p] * (double)b[p * n + j]);
            reference_norm += ref[i * n + j] * ref[i * n + j];
            magnitude_norm += magnitude * magnitude;
        }
    return magnitude_norm > reference_norm ? sqrt(reference_norm / magnitude_norm) : 1.0;
}

/* b [K, N] copied as its transpose [N, K] (the FG_WEIGHT_N_K form of the same weight); any element size. */
static inline void *check_transposed(const void *b, int64_t k, int64_t n, size_t element_size)
{
    size_t elements = (size_t)(k * n);
    unsigned char *out = malloc(element_size * (elements ? elements : 1));
    const unsigned char *in = b;
    for (int64_t p = 0; p < k; p++)
        for (int64_t j = 0; j < n; j++)
            memcpy(out + (size_t)(j * k + p) * element_size, in + (size_t)(p * n + j) * element_size, element_size);
    return out;
}

#endif /* FUSEGRAPH_TEST_CHECK_H */
