/*
 * gpu_backend_failure_paths.h — the failure paths test_gpu_backend.c checks after the ops: each injected
 * failure (FUSEGRAPH_<BACKEND>_FAIL) falls back to the CPU with a right result; a failed upload is retried
 * in smaller chunks (CUDA); cuBLASLt's timed algorithm is shared within an M class (CUDA); a small pool
 * budget evicts and stays right. Included once, by test_gpu_backend.c, after gpu_backend_cases.h.
 */
#ifndef FUSEGRAPH_TEST_GPU_BACKEND_FAILURE_PATHS_H
#define FUSEGRAPH_TEST_GPU_BACKEND_FAILURE_PATHS_H

#include "gpu_backend_cases.h"

/* FUSEGRAPH_TEST_LOG=1 (any value but empty or 0): the checks below that watch the library's log also
 * print each message with the seconds since the first one, so a run under a slow tool (compute-sanitizer)
 * shows where its time goes; time before the first message shows as its absence (and in run_timed's
 * total for the group). */
static void echo_log(fg_log_level level, const char *message)
{
    static struct timespec first;
    static int started;
    const char *setting = getenv("FUSEGRAPH_TEST_LOG");
    if (!setting || !setting[0] || strcmp(setting, "0") == 0) return;
    if (!started) clock_gettime(CLOCK_MONOTONIC, &first), started = 1;
    printf("     log %7.1f s [%d] %s\n", check_seconds_since(&first), (int)level, message);
}

/* Each injected failure: the node runs on the CPU instead and the result is still right. */
static void check_injected_failures(void)
{
    static const char *const calls[] = {"run", "upload", "download", "sync", "allocate"};
    test_case c = {MATMUL_BIAS_GELU, FG_F32, FG_PRECISION_EXACT, FG_GELU_EXACT, 64, 128, 96, FG_WEIGHT_N_K};
    prepared p = prepare(&c);
    for (size_t i = 0; i < sizeof calls / sizeof *calls; i++) {
        char settings[128], reason[256];
        snprintf(settings, sizeof settings, "%s=%s", fail_setting, calls[i]);
        int device, fallbacks, on_device;
        fg_context *context = open_backend(settings, 0, &device, reason, sizeof reason);
        if (device < 0) {
            fail_not_started(settings, reason);
            fg_context_destroy(context);
            continue;
        }
        double error = run_case(context, device, &c, &p, &fallbacks, &on_device);
        int ok = error <= 1e-5 && fallbacks > 0;
        check_count++;
        if (!ok) check_failures++;
        printf("%s %s injected failure of %-8s: error %.2e, %d node(s) fell back to the CPU\n", ok ? "ok  " : "FAIL", backend,
               calls[i], error, fallbacks);
        fg_context_destroy(context);
    }
    release_prepared(&p);
}

static int retry_messages;
static void count_retry_messages(fg_log_level level, const char *message, void *user_data)
{
    (void)user_data;
    echo_log(level, message);
    if (strstr(message, "after a retry")) retry_messages++;
}

/* CUDA: a transfer whose large chunks fail is retried in smaller chunks and needs no fallback. */
static void check_transfer_retry(void)
{
    /* 16 MiB in and out: the first try moves it in chunks well over 1 MiB, which fail; the retry's smaller
     * chunks pass. The log must show the retry, so the check cannot pass by never failing. */
    test_case c = {GELU, FG_F32, FG_PRECISION_EXACT, FG_GELU_EXACT, 4096, 0, 1024, FG_WEIGHT_K_N};
    prepared p = prepare(&c);
    char settings[128], reason[256];
    snprintf(settings, sizeof settings, "%s=upload_large", fail_setting);
    int device, fallbacks, on_device;
    fg_context *context = open_backend(settings, 0, &device, reason, sizeof reason);
    retry_messages = 0;
    fg_set_log_callback(count_retry_messages, NULL, FG_LOG_WARN);
    double error = device >= 0 ? run_case(context, device, &c, &p, &fallbacks, &on_device) : INFINITY;
    fg_set_log_callback(NULL, NULL, FG_LOG_WARN);
    int ok = error <= 1e-5 && fallbacks == 0 && retry_messages > 0;
    check_count++;
    if (!ok) check_failures++;
    printf("%s %s upload whose chunks over 1 MiB fail: error %.2e, %d fallback(s) (retried in smaller chunks)\n",
           ok ? "ok  " : "FAIL", backend, error, device >= 0 ? fallbacks : -1);
    fg_context_destroy(context);
    release_prepared(&p);
}

/* cuBLASLt's algorithm is timed once per M class (cuda_cublaslt.c): a second M of the class takes the
 * first one's choice without timing where cuBLASLt's heuristic lists it for the second M, and otherwise
 * says so and times; which of the two happens depends on which candidate M=100's timing picked (on the
 * H100 both have been seen). Both results must be right, and the log must show that the second M looked
 * for the first's choice. The cuBLASLt plans live in the context, so a fresh context times afresh; the
 * cost figures come from the cache file like everywhere else (FUSEGRAPH_CUDA_NO_CACHE would measure them
 * again, which under compute-sanitizer's racecheck ran for minutes, and made the sanitizer fail when
 * cuBLASLt's kernels were left uninstrumented). */
static int reuse_messages, lookup_messages, first_timings, second_timings;
static void count_reuse_messages(fg_log_level level, const char *message, void *user)
{
    (void)user;
    echo_log(level, message);
    int timing = strstr(message, ": candidate ") && strstr(message, " of "); /* choose_fastest ran */
    if (strstr(message, "[cuda cublaslt] M=100 ") && timing) first_timings++;
    if (!strstr(message, "[cuda cublaslt] M=120 ")) return;
    if (strstr(message, "as timed at M=100")) reuse_messages++;
    if (strstr(message, "timed at M=100 is not among")) lookup_messages++;
    if (timing) second_timings++;
}

static void check_cublaslt_class_reuse(void)
{
    char reason[256];
    int device, fallbacks, on_device;
    fg_context *context = open_backend("FUSEGRAPH_CUDA_IMPLEMENTATION=cublaslt", 0, &device, reason, sizeof reason);
    reuse_messages = lookup_messages = first_timings = second_timings = 0;
    fg_set_log_callback(count_reuse_messages, NULL, FG_LOG_DEBUG);
    double worst = 0;
    for (int64_t m = 100; m <= 120; m += 20) {
        test_case c = {MATMUL_BIAS, FG_BF16, FG_PRECISION_EXACT, FG_GELU_EXACT, m, 256, 512, FG_WEIGHT_N_K};
        prepared p = prepare(&c);
        double error = device >= 0 ? run_case(context, device, &c, &p, &fallbacks, &on_device) : INFINITY;
        if (!(error <= worst)) worst = error; /* NaN-safe: a NaN error stays the worst */
        release_prepared(&p);
    }
    fg_set_log_callback(NULL, NULL, FG_LOG_WARN);
    /* With one heuristic answer for M=100 nothing was timed and there is nothing to share; otherwise M=120
     * either reused the choice (and timed nothing) or said it was not listed (and timed). */
    int ok = worst <= 1e-2 && (first_timings == 0 || (reuse_messages == 1 && second_timings == 0) ||
                               (lookup_messages == 1 && second_timings == 1));
    check_count++;
    if (!ok) check_failures++;
    printf("%s %s cuBLASLt bf16 M=100 then M=120 (one M class): worst error %.2e, M=100's algorithm %s\n", ok ? "ok  " : "FAIL",
           backend, worst,
           first_timings == 0     ? "not timed (one candidate)"
           : reuse_messages       ? (second_timings ? "reused, yet M=120 timed again" : "reused")
           : lookup_messages      ? "not listed for M=120 (timed)"
                                  : "not looked up");
    fg_context_destroy(context);
}

/* A small pool budget: cached buffers are evicted to make room, a request that can never fit the budget
 * runs on the CPU, and the results stay right. */
static void check_small_budget(void)
{
    const size_t budget = 6u << 20;
    char reason[512];
    int device, fallbacks, on_device;
    fg_context *context = open_backend(NULL, budget, &device, reason, sizeof reason);
    if (device < 0) {
        char what[64];
        snprintf(what, sizeof what, "a %zu MiB pool budget", budget >> 20);
        fail_not_started(what, reason);
        fg_context_destroy(context);
        return;
    }
    test_case sizes[] = {{GELU, FG_F32, FG_PRECISION_EXACT, FG_GELU_EXACT, 512, 0, 512, FG_WEIGHT_K_N},   /* 1 MiB in, 1 MiB out */
                         {GELU, FG_F32, FG_PRECISION_EXACT, FG_GELU_EXACT, 700, 0, 1000, FG_WEIGHT_K_N},  /* 2.7 MiB: no reuse */
                         {GELU, FG_F32, FG_PRECISION_EXACT, FG_GELU_EXACT, 300, 0, 1000, FG_WEIGHT_K_N},  /* 1.1 MiB */
                         {ADD, FG_F32, FG_PRECISION_EXACT, FG_GELU_EXACT, 2048, 0, 1024, FG_WEIGHT_K_N}}; /* 8 MiB each: never fits */
    for (size_t i = 0; i < sizeof sizes / sizeof *sizes; i++) {
        prepared p = prepare(&sizes[i]);
        double error = run_case(context, device, &sizes[i], &p, &fallbacks, &on_device);
        int never_fits = i == 3;
        int ok = error <= 1e-5 && (never_fits ? fallbacks > 0 : fallbacks == 0);
        check_count++;
        if (!ok) check_failures++;
        printf("%s %s pool budget %zu MiB, %s %lld x %lld: error %.2e, %d fallback(s)%s\n", ok ? "ok  " : "FAIL", backend,
               budget >> 20, kind_names[sizes[i].kind], (long long)sizes[i].m, (long long)sizes[i].n, error, fallbacks,
               never_fits ? " (expected: larger than the budget)" : "");
        release_prepared(&p);
    }
    fg_pool_statistics statistics;
    CHECK_OK(fg_context_pool_statistics(context, device, &statistics));
    printf("     pool: %llu hits, %llu misses, %llu evictions, peak %zu bytes of %zu, %zu live\n",
           (unsigned long long)statistics.hits, (unsigned long long)statistics.misses,
           (unsigned long long)statistics.evictions, statistics.bytes_peak, statistics.budget_bytes, statistics.bytes_live);
    CHECK(statistics.evictions > 0);
    CHECK(statistics.bytes_peak <= budget);
    CHECK(statistics.bytes_live == 0);
    fg_context_destroy(context);
}

/* The groups above, by the name FUSEGRAPH_TEST_PARTS knows them by, and where each applies. */
typedef enum applies_to { EVERY_BACKEND, CUDA_ONLY, CUDA_WITH_CUBLASLT } applies_to;
static const struct failure_group {
    const char *name, *title;
    void (*checks)(void);
    applies_to applies;
} failure_groups[] = {{"injected_failures", "injected failures", check_injected_failures, EVERY_BACKEND},
                      {"transfer_retry", "transfer retry", check_transfer_retry, CUDA_ONLY},
                      {"cublaslt_class_reuse", "cuBLASLt class reuse", check_cublaslt_class_reuse, CUDA_WITH_CUBLASLT},
                      {"small_budget", "small budget", check_small_budget, EVERY_BACKEND}};
#define FAILURE_GROUP_COUNT (int)(sizeof failure_groups / sizeof *failure_groups)

/* Why group g does not run on this device, or NULL when it does. */
static const char *failure_group_excluded(int g, const fg_device_info *info)
{
    const int cuda = strcmp(backend, "cuda") == 0;
    if (failure_groups[g].applies != EVERY_BACKEND && !cuda) return "CUDA only";
    if (failure_groups[g].applies == CUDA_WITH_CUBLASLT && !strstr(info->reason, "cuBLASLt loaded")) return "no cuBLASLt";
    return NULL;
}

#endif /* FUSEGRAPH_TEST_GPU_BACKEND_FAILURE_PATHS_H */
