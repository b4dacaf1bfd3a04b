/*
 * cublaslt_search_probe.cu — does cuBLASLt have a faster configuration than its heuristic's answers for the
 * f32 rows where eager PyTorch ties us (both sides run cuBLASLt's BIAS GEMM, BENCHMARKS.md "The misses")?
 *
 * For each shape, the problem exactly as cuda_cublaslt.c builds it (column-major view: A' = the [N, K]
 * weight transposed, B' = a as [K x M], C' = out as [N x M]; BIAS epilogue; COMPUTE_32F, or
 * COMPUTE_32F_FAST_TF32) is timed
 *   1. with each of the heuristic's first 16 answers (what fusegraph's choose_fastest picks among; PyTorch
 *      runs the first), and
 *   2. over an enumeration of configurations (cublasLtMatmulAlgoGetIds, then each algorithm's tiles,
 *      stages, split-K 1-8 with each reduction scheme, CTA swizzle 0/1, custom options), each accepted by
 *      cublasLtMatmulAlgoCheck screened with one batch; the fastest 8 are timed again like the heuristic's.
 * Timing: back-to-back batches of ~2 ms between CUDA events after a warm-up, median of 5 batches.
 * Prints the heuristic's first answer, its best, and the enumeration's best 8 with their configuration.
 *
 * Build here, run on the GPU host from the repository root:
 *   nvcc -O2 -arch=sm_90 -o bench/probes/cublaslt_search_probe bench/probes/cublaslt_search_probe.cu -lcublasLt
 *   .gpu-bundle/run bench/probes/cublaslt_search_probe
 */
#include <cublasLt.h>
#include <cuda_runtime.h>
#include <stdio.h>
#include <stdlib.h>
#include <algorithm>
#include <vector>

#define CHECK(x)                                                                                  \
    do {                                                                                          \
        if ((x) != 0) { fprintf(stderr, "%s:%d: %s failed\n", __FILE__, __LINE__, #x); exit(1); } \
    } while (0)

struct Problem {
    cublasLtHandle_t handle;
    cublasLtMatmulDesc_t description;
    cublasLtMatrixLayout_t a_layout, b_layout, c_layout;
    float *weight, *activation, *bias, *out;
    void *workspace;
    size_t workspace_bytes;
    cudaStream_t stream;
    cudaEvent_t start, stop;
};

static bool run_batch(Problem &p, const cublasLtMatmulAlgo_t &algorithm, int runs, float *milliseconds) {
    const float one = 1.0f, zero = 0.0f;
    cudaEventRecord(p.start, p.stream);
    for (int i = 0; i < runs; i++)
        if (cublasLtMatmul(p.handle, p.description, &one, p.weight, p.a_layout, p.activation, p.b_layout, &zero, p.out,
                           p.c_layout, p.out, p.c_layout, &algorithm, p.workspace, p.workspace_bytes, p.stream) !=
            CUBLAS_STATUS_SUCCESS)
            return false;
    cudaEventRecord(p.stop, p.stream);
    if (cudaEventSynchronize(p.stop) != cudaSuccess) return false;
    cudaEventElapsedTime(milliseconds, p.start, p.stop);
    *milliseconds /= runs;
    return true;
}

/* Median of 5 batches of ~2 ms after a warm-up; negative when the algorithm fails to run. */
static float time_algorithm(Problem &p, const cublasLtMatmulAlgo_t &algorithm, int rounds = 5) {
    float one_run;
    if (!run_batch(p, algorithm, 1, &one_run) || !run_batch(p, algorithm, 1, &one_run)) return -1;
    int runs = std::max(1, std::min(200, (int)(2.0f / one_run)));
    std::vector<float> samples;
    for (int r = 0; r < rounds; r++) {
        float milliseconds;
        if (!run_batch(p, algorithm, runs, &milliseconds)) return -1;
        samples.push_back(milliseconds);
    }
    std::sort(samples.begin(), samples.end());
    return samples[samples.size() / 2];
}

static void describe(const cublasLtMatmulAlgo_t &algorithm, char *text, size_t capacity) {
    int id = 0, tile = 0, splits = 0, reduction = 0, swizzle = 0, custom = 0, stages = 0;
    cublasLtMatmulAlgoConfigGetAttribute(&algorithm, CUBLASLT_ALGO_CONFIG_ID, &id, sizeof id, NULL);
    cublasLtMatmulAlgoConfigGetAttribute(&algorithm, CUBLASLT_ALGO_CONFIG_TILE_ID, &tile, sizeof tile, NULL);
    cublasLtMatmulAlgoConfigGetAttribute(&algorithm, CUBLASLT_ALGO_CONFIG_SPLITK_NUM, &splits, sizeof splits, NULL);
    cublasLtMatmulAlgoConfigGetAttribute(&algorithm, CUBLASLT_ALGO_CONFIG_REDUCTION_SCHEME, &reduction, sizeof reduction, NULL);
    cublasLtMatmulAlgoConfigGetAttribute(&algorithm, CUBLASLT_ALGO_CONFIG_CTA_SWIZZLING, &swizzle, sizeof swizzle, NULL);
    cublasLtMatmulAlgoConfigGetAttribute(&algorithm, CUBLASLT_ALGO_CONFIG_CUSTOM_OPTION, &custom, sizeof custom, NULL);
    cublasLtMatmulAlgoConfigGetAttribute(&algorithm, CUBLASLT_ALGO_CONFIG_STAGES_ID, &stages, sizeof stages, NULL);
    snprintf(text, capacity, "id %d tile %d stages %d splitK %d reduction %d swizzle %d custom %d", id, tile, stages,
             splits, reduction, swizzle, custom);
}

struct Timed {
    cublasLtMatmulAlgo_t algorithm;
    float milliseconds;
};

static void search(int64_t M, int64_t K, int64_t N, bool tf32, int max_timed) {
    Problem p = {};
    CHECK(cublasLtCreate(&p.handle));
    CHECK(cudaStreamCreate(&p.stream));
    CHECK(cudaEventCreate(&p.start));
    CHECK(cudaEventCreate(&p.stop));
    p.workspace_bytes = 32u << 20; /* as CUBLASLT_WORKSPACE_BYTES */
    CHECK(cudaMalloc(&p.workspace, p.workspace_bytes));
    CHECK(cudaMalloc(&p.weight, N * K * 4));
    CHECK(cudaMalloc(&p.activation, M * K * 4));
    CHECK(cudaMalloc(&p.bias, N * 4));
    CHECK(cudaMalloc(&p.out, M * N * 4));
    std::vector<float> host(std::max(N * K, M * K));
    for (size_t i = 0; i < host.size(); i++) host[i] = (float)((i * 2654435761u) % 1000) / 1000.0f - 0.5f;
    CHECK(cudaMemcpy(p.weight, host.data(), N * K * 4, cudaMemcpyHostToDevice));
    CHECK(cudaMemcpy(p.activation, host.data(), M * K * 4, cudaMemcpyHostToDevice));
    CHECK(cudaMemcpy(p.bias, host.data(), N * 4, cudaMemcpyHostToDevice));
    cublasComputeType_t compute = tf32 ? CUBLAS_COMPUTE_32F_FAST_TF32 : CUBLAS_COMPUTE_32F;
    CHECK(cublasLtMatmulDescCreate(&p.description, compute, CUDA_R_32F));
    cublasLtEpilogue_t epilogue = CUBLASLT_EPILOGUE_BIAS;
    cublasOperation_t transpose = CUBLAS_OP_T;
    CHECK(cublasLtMatmulDescSetAttribute(p.description, CUBLASLT_MATMUL_DESC_EPILOGUE, &epilogue, sizeof epilogue));
    CHECK(cublasLtMatmulDescSetAttribute(p.description, CUBLASLT_MATMUL_DESC_BIAS_POINTER, &p.bias, sizeof p.bias));
    CHECK(cublasLtMatmulDescSetAttribute(p.description, CUBLASLT_MATMUL_DESC_TRANSA, &transpose, sizeof transpose));
    CHECK(cublasLtMatrixLayoutCreate(&p.a_layout, CUDA_R_32F, K, N, K));
    CHECK(cublasLtMatrixLayoutCreate(&p.b_layout, CUDA_R_32F, K, M, K));
    CHECK(cublasLtMatrixLayoutCreate(&p.c_layout, CUDA_R_32F, N, M, N));

    printf("== M=%ld K=%ld N=%ld %s, BIAS epilogue\n", (long)M, (long)K, (long)N, tf32 ? "tf32" : "f32 exact");
    cublasLtMatmulPreference_t preference;
    CHECK(cublasLtMatmulPreferenceCreate(&preference));
    CHECK(cublasLtMatmulPreferenceSetAttribute(preference, CUBLASLT_MATMUL_PREF_MAX_WORKSPACE_BYTES, &p.workspace_bytes,
                                               sizeof p.workspace_bytes));
    cublasLtMatmulHeuristicResult_t answers[16];
    int found = 0;
    CHECK(cublasLtMatmulAlgoGetHeuristic(p.handle, p.description, p.a_layout, p.b_layout, p.c_layout, p.c_layout,
                                         preference, 16, answers, &found));
    char text[200];
    float first = -1, best_heuristic = -1;
    for (int i = 0; i < found; i++) {
        float ms = time_algorithm(p, answers[i].algo);
        describe(answers[i].algo, text, sizeof text);
        printf("heuristic %2d: %.4f ms  %s\n", i, ms, text);
        if (i == 0) first = ms;
        if (ms > 0 && (best_heuristic < 0 || ms < best_heuristic)) best_heuristic = ms;
    }

    int ids[128], id_count = 0;
    CHECK(cublasLtMatmulAlgoGetIds(p.handle, compute, CUDA_R_32F, CUDA_R_32F, CUDA_R_32F, CUDA_R_32F, CUDA_R_32F, 128,
                                   ids, &id_count));
    std::vector<Timed> timed;
    int checked = 0;
    const int splits_tried[] = {1, 2, 3, 4, 6, 8};
    for (int a = 0; a < id_count && (int)timed.size() < max_timed; a++) {
        cublasLtMatmulAlgo_t algorithm;
        if (cublasLtMatmulAlgoInit(p.handle, compute, CUDA_R_32F, CUDA_R_32F, CUDA_R_32F, CUDA_R_32F, CUDA_R_32F, ids[a],
                                   &algorithm) != CUBLAS_STATUS_SUCCESS)
            continue;
        size_t written = 0;
        int tiles[128] = {0}, stages[128] = {0}, splitk_support = 0, reduction_mask = 0, swizzle_max = 0, custom_max = 0;
        cublasLtMatmulAlgoCapGetAttribute(&algorithm, CUBLASLT_ALGO_CAP_TILE_IDS, tiles, sizeof tiles, &written);
        int tile_count = std::max(1, (int)(written / sizeof(int)));
        cublasLtMatmulAlgoCapGetAttribute(&algorithm, CUBLASLT_ALGO_CAP_STAGES_IDS, stages, sizeof stages, &written);
        int stage_count = std::max(1, (int)(written / sizeof(int)));
        cublasLtMatmulAlgoCapGetAttribute(&algorithm, CUBLASLT_ALGO_CAP_SPLITK_SUPPORT, &splitk_support, sizeof(int), NULL);
        cublasLtMatmulAlgoCapGetAttribute(&algorithm, CUBLASLT_ALGO_CAP_REDUCTION_SCHEME_MASK, &reduction_mask, sizeof(int), NULL);
        cublasLtMatmulAlgoCapGetAttribute(&algorithm, CUBLASLT_ALGO_CAP_CTA_SWIZZLING_SUPPORT, &swizzle_max, sizeof(int), NULL);
        cublasLtMatmulAlgoCapGetAttribute(&algorithm, CUBLASLT_ALGO_CAP_CUSTOM_OPTION_MAX, &custom_max, sizeof(int), NULL);
        for (int t = 0; t < tile_count; t++)
            for (int s = 0; s < stage_count; s++)
                for (int custom = 0; custom <= std::min(custom_max, 3); custom++)
                    for (int swizzle = 0; swizzle <= std::min(swizzle_max, 1); swizzle++)
                        for (int split : splits_tried) {
                            if (split > 1 && !splitk_support) break;
                            for (int reduction = split > 1 ? 1 : 0; reduction <= (split > 1 ? 4 : 0);
                                 reduction = reduction ? reduction << 1 : 1) {
                                if (split > 1 && !(reduction & reduction_mask)) continue;
                                if ((int)timed.size() >= max_timed) break;
                                cublasLtMatmulAlgoConfigSetAttribute(&algorithm, CUBLASLT_ALGO_CONFIG_TILE_ID, &tiles[t], sizeof(int));
                                cublasLtMatmulAlgoConfigSetAttribute(&algorithm, CUBLASLT_ALGO_CONFIG_STAGES_ID, &stages[s], sizeof(int));
                                cublasLtMatmulAlgoConfigSetAttribute(&algorithm, CUBLASLT_ALGO_CONFIG_CUSTOM_OPTION, &custom, sizeof(int));
                                cublasLtMatmulAlgoConfigSetAttribute(&algorithm, CUBLASLT_ALGO_CONFIG_CTA_SWIZZLING, &swizzle, sizeof(int));
                                int split_value = split > 1 ? split : 1;
                                cublasLtMatmulAlgoConfigSetAttribute(&algorithm, CUBLASLT_ALGO_CONFIG_SPLITK_NUM, &split_value, sizeof(int));
                                cublasLtMatmulAlgoConfigSetAttribute(&algorithm, CUBLASLT_ALGO_CONFIG_REDUCTION_SCHEME, &reduction, sizeof(int));
                                cublasLtMatmulHeuristicResult_t result;
                                checked++;
                                if (cublasLtMatmulAlgoCheck(p.handle, p.description, p.a_layout, p.b_layout, p.c_layout,
                                                            p.c_layout, &algorithm, &result) != CUBLAS_STATUS_SUCCESS ||
                                    result.workspaceSize > p.workspace_bytes)
                                    continue;
                                float ms = time_algorithm(p, algorithm, 1);
                                if (ms > 0) timed.push_back({algorithm, ms});
                            }
                        }
    }
    (void)cudaGetLastError();
    std::sort(timed.begin(), timed.end(), [](const Timed &x, const Timed &y) { return x.milliseconds < y.milliseconds; });
    printf("enumerated: %d algorithm ids, %d configurations checked, %zu timed (one batch each)\n", id_count, checked,
           timed.size());
    float best_enumerated = -1;
    for (size_t i = 0; i < timed.size() && i < 8; i++) {
        float ms = time_algorithm(p, timed[i].algorithm);
        describe(timed[i].algorithm, text, sizeof text);
        printf("enumerated %zu: %.4f ms (screen %.4f)  %s\n", i, ms, timed[i].milliseconds, text);
        if (ms > 0 && (best_enumerated < 0 || ms < best_enumerated)) best_enumerated = ms;
    }
    float again = time_algorithm(p, answers[0].algo);
    printf("summary M=%ld K=%ld N=%ld %s: heuristic first %.4f (again %.4f), heuristic best %.4f, enumerated best %.4f "
           "(first/enumerated %.3fx)\n\n",
           (long)M, (long)K, (long)N, tf32 ? "tf32" : "f32", first, again, best_heuristic, best_enumerated,
           best_enumerated > 0 ? std::min(first, again) / best_enumerated : 0.0);
    fflush(stdout);
    cublasLtMatmulPreferenceDestroy(preference);
    cublasLtMatrixLayoutDestroy(p.a_layout);
    cublasLtMatrixLayoutDestroy(p.b_layout);
    cublasLtMatrixLayoutDestroy(p.c_layout);
    cublasLtMatmulDescDestroy(p.description);
    cudaFree(p.weight), cudaFree(p.activation), cudaFree(p.bias), cudaFree(p.out), cudaFree(p.workspace);
    cudaEventDestroy(p.start), cudaEventDestroy(p.stop), cudaStreamDestroy(p.stream);
    cublasLtDestroy(p.handle);
}

int main() {
    search(512, 768, 3072, false, 600);
    search(2048, 768, 3072, false, 600);
    search(512, 4096, 14336, true, 600);
    search(128, 768, 3072, false, 600);
    search(8192, 4096, 14336, false, 40);
    return 0;
}
