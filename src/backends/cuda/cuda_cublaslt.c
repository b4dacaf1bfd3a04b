/*
 * cuda_cublaslt.c — cuBLASLt as one of the matmul implementations, loaded at run time.
 *
 * dlopen rather than linking: a machine with the NVIDIA driver but without the CUDA toolkit's
 * libcublasLt still runs our own kernels. Only the major version we were compiled against is tried,
 * since cuBLASLt's ABI changes between majors.
 *
 * Row-major through a column-major library: C[M,N] = A[M,K] B[K,N] in row-major is, read as
 * column-major, C^T[N,M] = B^T[N,K] A^T[K,M]; so we ask cuBLASLt for m' = N, n' = M, k' = K with its A
 * = our B (leading dimension N) and its B = our A (leading dimension K), no transposes. The bias then
 * runs along m' = N, as BIAS epilogues want. A weight given as [N, K] (PyTorch's layout) is, read as
 * column-major, a [K x N] matrix with leading dimension K: cuBLASLt's A with TRANSA = T, the "TN"
 * GEMM that cuBLAS is tuned for first (K=768 f32 ran 5-23% faster than our [K, N] "NN" form).
 *
 * The GELU_BIAS epilogue is the tanh form (cuBLASLt documents GELU as the tanh approximation); exact
 * GELU is BIAS here plus our exact GELU pass over the output (cuda_matmul.c), one extra read+write of
 * M*N elements.
 *
 * Descriptors and the algorithm are cached per (m, k, n, weight layout, dtype, precision, epilogue): the heuristic
 * query costs tens of microseconds, comparable to a small matmul. The heuristic's first answer is not
 * always its fastest (on the H100 we measured TF32 and K=768 shapes 10-20% behind PyTorch's call of the
 * same library), so when a plan is made we time up to HEURISTIC_CANDIDATES of its answers on the
 * caller's own buffers (choose_fastest) and keep the fastest: 16 x 7 runs of that shape (16 x 5 where a
 * candidate runs over 2 ms), or where a run is under 200 us, 16 x (2 runs + 5 batches of ~200 us), about
 * 16 ms; about 0.1 s for M=8192, K=768, N=3072 in f32. A plan is one exact (M, K, N, ...) among the
 * PLAN_CACHE_SIZE most recently used; a new plan whose M is in the class of a cached plan whose candidates
 * were timed (the M classes of cuda_autotune.c: M itself up to 16, else the power of two at or above M),
 * and whose heuristic lists that plan's chosen algorithm, takes it without timing: a workload whose M
 * keeps changing within a class pays the timing once per class while such a plan stays cached, as the
 * implementation choice is made once per class.
 */
#include "cuda_backend.h"

#include <cublasLt.h>
#include <dlfcn.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#define STRINGIFY_(x) #x
#define STRINGIFY(x) STRINGIFY_(x)
#define PLAN_CACHE_SIZE 64
#define CUBLASLT_WORKSPACE_BYTES (32u << 20)
#define HEURISTIC_CANDIDATES 16

typedef struct matmul_plan {
    int64_t m, k, n;
    int b_transposed, dtype, tf32, epilogue, valid;
    uint64_t last_use;
    cublasLtMatmulDesc_t description;
    cublasLtMatrixLayout_t a_layout, b_layout, c_layout;
    cublasLtMatmulAlgo_t algorithm;
    int chosen_candidate; /* which of the heuristic's answers was fastest (0: its first) */
    int timed;            /* the algorithm was chosen by timing this plan's candidates */
} matmul_plan;

struct cuda_cublaslt {
    void *library;
    cublasLtHandle_t handle;
    void *workspace; /* CUBLASLT_WORKSPACE_BYTES of device memory, allocated on first use */
    matmul_plan plans[PLAN_CACHE_SIZE];
    uint64_t clock;
#define FUNCTION(name) __typeof__(&name) name
    FUNCTION(cublasLtCreate);
    FUNCTION(cublasLtDestroy);
    FUNCTION(cublasLtMatmulDescCreate);
    FUNCTION(cublasLtMatmulDescDestroy);
    FUNCTION(cublasLtMatmulDescSetAttribute);
    FUNCTION(cublasLtMatrixLayoutCreate);
    FUNCTION(cublasLtMatrixLayoutDestroy);
    FUNCTION(cublasLtMatmulPreferenceCreate);
    FUNCTION(cublasLtMatmulPreferenceDestroy);
    FUNCTION(cublasLtMatmulPreferenceSetAttribute);
    FUNCTION(cublasLtMatmulAlgoGetHeuristic);
    FUNCTION(cublasLtMatmul);
#undef FUNCTION
};

cuda_cublaslt *cuda_cublaslt_load(char *reason, size_t capacity)
{
    const char *file = "libcublasLt.so." STRINGIFY(CUBLAS_VER_MAJOR);
    const char *candidates[] = {file,
#ifdef FUSEGRAPH_CUDA_LIBRARY_DIR
                                FUSEGRAPH_CUDA_LIBRARY_DIR "/libcublasLt.so." STRINGIFY(CUBLAS_VER_MAJOR),
#endif
                                "/usr/local/cuda/lib64/libcublasLt.so." STRINGIFY(CUBLAS_VER_MAJOR)};
    void *library = NULL;
    char first_error[256] = "";
    for (size_t i = 0; i < sizeof candidates / sizeof *candidates && !library; i++) {
        library = dlopen(candidates[i], RTLD_NOW | RTLD_LOCAL);
        if (!library && !first_error[0]) snprintf(first_error, sizeof first_error, "%s", dlerror());
    }
    if (!library) {
        snprintf(reason, capacity, "cuBLASLt not found (%s)", first_error);
        return NULL;
    }
    cuda_cublaslt *lt = calloc(1, sizeof *lt);
    if (!lt) {
        dlclose(library);
        snprintf(reason, capacity, "out of host memory");
        return NULL;
    }
    lt->library = library;
    int missing = 0;
#define LOAD(name)                                                                                             \
    do {                                                                                                       \
        *(void **)&lt->name = dlsym(library, #name);                                                           \
        if (!lt->name && !missing++) snprintf(reason, capacity, "cuBLASLt lacks %s", #name);                   \
    } while (0)
    LOAD(cublasLtCreate); LOAD(cublasLtDestroy); LOAD(cublasLtMatmulDescCreate); LOAD(cublasLtMatmulDescDestroy);
    LOAD(cublasLtMatmulDescSetAttribute); LOAD(cublasLtMatrixLayoutCreate); LOAD(cublasLtMatrixLayoutDestroy);
    LOAD(cublasLtMatmulPreferenceCreate); LOAD(cublasLtMatmulPreferenceDestroy);
    LOAD(cublasLtMatmulPreferenceSetAttribute); LOAD(cublasLtMatmulAlgoGetHeuristic); LOAD(cublasLtMatmul);
#undef LOAD
    cublasStatus_t status = missing ? CUBLAS_STATUS_NOT_INITIALIZED : lt->cublasLtCreate(&lt->handle);
    if (missing || status != CUBLAS_STATUS_SUCCESS) {
        if (!missing) snprintf(reason, capacity, "cublasLtCreate failed (status %d)", (int)status);
        dlclose(library);
        free(lt);
        return NULL;
    }
    return lt;
}

static void forget_plan(cuda_cublaslt *lt, matmul_plan *plan)
{
    if (!plan->valid) return;
    lt->cublasLtMatmulDescDestroy(plan->description);
    lt->cublasLtMatrixLayoutDestroy(plan->a_layout);
    lt->cublasLtMatrixLayoutDestroy(plan->b_layout);
    lt->cublasLtMatrixLayoutDestroy(plan->c_layout);
    plan->valid = 0;
}

void cuda_cublaslt_unload(cuda_cublaslt *lt)
{
    if (!lt) return;
    for (int i = 0; i < PLAN_CACHE_SIZE; i++) forget_plan(lt, &lt->plans[i]);
    if (lt->workspace) cudaFree(lt->workspace);
    lt->cublasLtDestroy(lt->handle);
    dlclose(lt->library);
    free(lt);
}

static cudaDataType_t data_type(int dtype)
{
    return dtype == CUDA_DTYPE_F16 ? CUDA_R_16F : dtype == CUDA_DTYPE_BF16 ? CUDA_R_16BF : CUDA_R_32F;
}

/* Builds descriptors and asks the heuristic for up to HEURISTIC_CANDIDATES algorithms, best first;
 * 0 on success, else 1 with the reason in error. */
static int build_plan(cuda_cublaslt *lt, matmul_plan *plan, cublasLtMatmulHeuristicResult_t *candidates, int *out_found,
                      char *error, size_t capacity)
{
    cublasComputeType_t compute = plan->dtype == CUDA_DTYPE_F32 && plan->tf32 ? CUBLAS_COMPUTE_32F_FAST_TF32 : CUBLAS_COMPUTE_32F;
    cudaDataType_t type = data_type(plan->dtype);
    cublasLtEpilogue_t epilogue = plan->epilogue == CUDA_EPILOGUE_BIAS_GELU_TANH ? CUBLASLT_EPILOGUE_GELU_BIAS
                                  : plan->epilogue == CUDA_EPILOGUE_NONE       ? CUBLASLT_EPILOGUE_DEFAULT
                                                                               : CUBLASLT_EPILOGUE_BIAS;
    cublasStatus_t status = lt->cublasLtMatmulDescCreate(&plan->description, compute, CUDA_R_32F);
    if (status != CUBLAS_STATUS_SUCCESS) return snprintf(error, capacity, "cublasLtMatmulDescCreate: status %d", (int)status), 1;
    lt->cublasLtMatmulDescSetAttribute(plan->description, CUBLASLT_MATMUL_DESC_EPILOGUE, &epilogue, sizeof epilogue);
    /* column-major view: A' = our b as [N x K] ld N (or, b given as [N, K], [K x N] ld K transposed);
     * B' = our a as [K x M] ld K; C' = out as [N x M] ld N */
    if (plan->b_transposed) {
        cublasOperation_t transpose = CUBLAS_OP_T;
        lt->cublasLtMatmulDescSetAttribute(plan->description, CUBLASLT_MATMUL_DESC_TRANSA, &transpose, sizeof transpose);
        lt->cublasLtMatrixLayoutCreate(&plan->a_layout, type, (uint64_t)plan->k, (uint64_t)plan->n, plan->k);
    } else {
        lt->cublasLtMatrixLayoutCreate(&plan->a_layout, type, (uint64_t)plan->n, (uint64_t)plan->k, plan->n);
    }
    lt->cublasLtMatrixLayoutCreate(&plan->b_layout, type, (uint64_t)plan->k, (uint64_t)plan->m, plan->k);
    lt->cublasLtMatrixLayoutCreate(&plan->c_layout, type, (uint64_t)plan->n, (uint64_t)plan->m, plan->n);
    plan->valid = 1;
    cublasLtMatmulPreference_t preference;
    lt->cublasLtMatmulPreferenceCreate(&preference);
    uint64_t workspace = CUBLASLT_WORKSPACE_BYTES;
    lt->cublasLtMatmulPreferenceSetAttribute(preference, CUBLASLT_MATMUL_PREF_MAX_WORKSPACE_BYTES, &workspace, sizeof workspace);
    int found = 0;
    status = lt->cublasLtMatmulAlgoGetHeuristic(lt->handle, plan->description, plan->a_layout, plan->b_layout,
                                                plan->c_layout, plan->c_layout, preference, HEURISTIC_CANDIDATES,
                                                candidates, &found);
    lt->cublasLtMatmulPreferenceDestroy(preference);
    if (status != CUBLAS_STATUS_SUCCESS || found == 0) {
        snprintf(error, capacity, "cuBLASLt has no algorithm for this case (status %d)", (int)status);
        forget_plan(lt, plan);
        return 1;
    }
    *out_found = found;
    plan->algorithm = candidates[0].algo;
    return 0;
}

static cublasStatus_t run_plan(cuda_cublaslt *lt, const matmul_plan *plan, const cublasLtMatmulAlgo_t *algorithm,
                               void *out, const void *a, const void *b, cudaStream_t stream)
{
    const float one = 1.0f, zero = 0.0f;
    return lt->cublasLtMatmul(lt->handle, plan->description, &one, b, plan->a_layout, a, plan->b_layout, &zero, out,
                              plan->c_layout, out, plan->c_layout, algorithm, lt->workspace, CUBLASLT_WORKSPACE_BYTES,
                              stream);
}

/* Milliseconds per run of batch back-to-back runs of one candidate between two events; negative when a run
 * or the timing fails. */
static float time_batch(cuda_cublaslt *lt, const matmul_plan *plan, const cublasLtMatmulAlgo_t *algorithm, int batch,
                        void *out, const void *a, const void *b, cudaStream_t stream, cudaEvent_t start, cudaEvent_t stop)
{
    int ok = cudaEventRecord(start, stream) == cudaSuccess;
    for (int r = 0; r < batch && ok; r++) ok = run_plan(lt, plan, algorithm, out, a, b, stream) == CUBLAS_STATUS_SUCCESS;
    float milliseconds = 0;
    ok = ok && cudaEventRecord(stop, stream) == cudaSuccess && cudaEventSynchronize(stop) == cudaSuccess &&
         cudaEventElapsedTime(&milliseconds, start, stop) == cudaSuccess;
    return ok ? milliseconds / (float)batch : -1.0f;
}

/* Times the candidates and keeps the fastest in the plan; 1 when some candidate was timed. Candidates
 * that fail to run are skipped; if timing itself fails the heuristic's first answer stays (and 0).
 *
 * Why rounds: each candidate was one sample of three runs, timed one candidate after another, so the
 * choice followed that sample's noise (clocks, the GPU's state as the sweep went on): on the H100,
 * f32 M=128 K=768 N=3072 GELU_BIAS kept an algorithm at 41 us where PyTorch's call of the heuristic's
 * first answer took 32 us (bench/results/h100-2026-11-27-close-calls/torch_compare-final.txt). Now every
 * candidate is timed in each of CANDIDATE_ROUNDS rounds, each sample a back-to-back batch (cuda_batch_size,
 * as the autotune times implementations), and judged by its median. The
 * heuristic's first answer, what PyTorch runs, stays unless another is faster by more than
 * FIRST_ANSWER_MARGIN: a difference under the noise is no reason to leave it. Measured against the
 * single samples in one call, each process tuning afresh (bench/results/h100-2026-11-27-autotune-lookup/ab):
 * TF32 M=8192 K=4096 N=14336 2.64-2.65 ms against 2.72-2.83, K=768 N=3072 0.174-0.176 against 0.190-0.197, bf16
 * M=8192 K=768 N=3072 (GELU_BIAS) 0.061 against 0.065. */
#define CANDIDATE_ROUNDS 5
#define FIRST_ANSWER_MARGIN 1.03f
static int choose_fastest(cuda_cublaslt *lt, matmul_plan *plan, const cublasLtMatmulHeuristicResult_t *candidates,
                          int found, void *out, const void *a, const void *b, cudaStream_t stream)
{
    cudaEvent_t start, stop;
    if (cudaEventCreate(&start) != cudaSuccess) return 0;
    if (cudaEventCreate(&stop) != cudaSuccess) {
        cudaEventDestroy(start);
        return 0;
    }
    int batch[HEURISTIC_CANDIDATES], rounds = CANDIDATE_ROUNDS;
    double samples[HEURISTIC_CANDIDATES][CANDIDATE_ROUNDS];
    float fastest_seconds = 0;
    for (int i = 0; i < found; i++) { /* a warm-up run, then one timed run that sizes the batch */
        float milliseconds = -1;
        if (run_plan(lt, plan, &candidates[i].algo, out, a, b, stream) == CUBLAS_STATUS_SUCCESS)
            milliseconds = time_batch(lt, plan, &candidates[i].algo, 1, out, a, b, stream, start, stop);
        float seconds = milliseconds * 1e-3f;
        batch[i] = milliseconds < 0 ? 0 : cuda_batch_size(seconds);
        if (milliseconds >= 0 && (fastest_seconds == 0 || seconds < fastest_seconds)) fastest_seconds = seconds;
    }
    /* A large shape (even the fastest candidate over 2 ms: ~3 x 16 runs of it are already seconds) takes 3
     * rounds; judged by the fastest, so that one slow candidate does not cut the rounds of a mid-size one. */
    if (fastest_seconds > 2e-3f) rounds = 3;
    for (int r = 0; r < rounds; r++)
        for (int i = 0; i < found; i++)
            if (batch[i] > 0) {
                samples[i][r] = time_batch(lt, plan, &candidates[i].algo, batch[i], out, a, b, stream, start, stop);
                if (samples[i][r] < 0) batch[i] = 0;
            }
    double best = 0, first = batch[0] > 0 ? cuda_median(samples[0], rounds) : 0;
    for (int i = 0; i < found; i++) {
        double milliseconds = batch[i] > 0 ? (i == 0 ? first : cuda_median(samples[i], rounds)) : 0;
        if (milliseconds > 0 && (best == 0 || milliseconds < best)) {
            best = milliseconds;
            plan->algorithm = candidates[i].algo;
            plan->chosen_candidate = i;
        }
    }
    if (first > 0 && first <= best * FIRST_ANSWER_MARGIN) {
        plan->algorithm = candidates[0].algo;
        plan->chosen_candidate = 0;
    }
    (void)cudaGetLastError(); /* a candidate's failure is not the caller's error */
    cudaEventDestroy(start);
    cudaEventDestroy(stop);
    return best > 0;
}

/* A cached plan other than plan for the same case but another M of the same M class whose algorithm was
 * chosen by timing (or NULL). */
static const matmul_plan *same_class_plan(const cuda_cublaslt *lt, const matmul_plan *plan)
{
    for (int i = 0; i < PLAN_CACHE_SIZE; i++) {
        const matmul_plan *p = &lt->plans[i];
        if (p != plan && p->valid && p->timed && p->m != plan->m && cuda_m_class(p->m) == cuda_m_class(plan->m) &&
            p->k == plan->k && p->n == plan->n && p->b_transposed == plan->b_transposed && p->dtype == plan->dtype &&
            p->tf32 == plan->tf32 && p->epilogue == plan->epilogue)
            return p;
    }
    return NULL;
}

cudaError_t cuda_cublaslt_matmul(cuda_backend *cuda, void *out, const void *a, const void *b, const void *bias,
                                 int64_t m, int64_t k, int64_t n, int b_transposed, int dtype, int tf32, int epilogue,
                                 cudaStream_t stream, char *error, size_t capacity)
{
    cuda_cublaslt *lt = cuda->cublaslt;
    if (!lt->workspace) {
        cudaError_t allocation = cudaMalloc(&lt->workspace, CUBLASLT_WORKSPACE_BYTES);
        if (allocation != cudaSuccess) {
            lt->workspace = NULL;
            snprintf(error, capacity, "cuBLASLt workspace: %s", cudaGetErrorString(allocation));
            return allocation;
        }
    }
    if (epilogue == CUDA_EPILOGUE_BIAS_GELU_EXACT) epilogue = CUDA_EPILOGUE_BIAS; /* the caller adds the GELU */
    tf32 = dtype == CUDA_DTYPE_F32 ? tf32 : 0;
    matmul_plan *plan = NULL, *oldest = &lt->plans[0];
    for (int i = 0; i < PLAN_CACHE_SIZE && !plan; i++) {
        matmul_plan *p = &lt->plans[i];
        if (p->valid && p->m == m && p->k == k && p->n == n && p->b_transposed == b_transposed && p->dtype == dtype &&
            p->tf32 == tf32 && p->epilogue == epilogue)
            plan = p;
        else if (!p->valid || (oldest->valid && p->last_use < oldest->last_use))
            oldest = p;
    }
    int found = 0;
    cublasLtMatmulHeuristicResult_t candidates[HEURISTIC_CANDIDATES];
    if (!plan) {
        forget_plan(lt, oldest);
        plan = oldest;
        *plan = (matmul_plan){.m = m, .k = k, .n = n, .b_transposed = b_transposed, .dtype = dtype, .tf32 = tf32,
                              .epilogue = epilogue};
        if (build_plan(lt, plan, candidates, &found, error, capacity)) return cudaErrorNotSupported;
    }
    plan->last_use = ++lt->clock;
    const matmul_plan *sibling = found > 1 ? same_class_plan(lt, plan) : NULL;
    for (int i = 0; sibling && i < found; i++)
        if (memcmp(&candidates[i].algo, &sibling->algorithm, sizeof sibling->algorithm) == 0) {
            plan->algorithm = candidates[i].algo;
            plan->chosen_candidate = i;
            found = 0; /* chosen: no timing */
            cuda_log(cuda, FG_LOG_DEBUG, "[cuda cublaslt] M=%lld K=%lld N=%lld epilogue %d: candidate %d, as timed at M=%lld",
                     (long long)m, (long long)k, (long long)n, epilogue, i, (long long)sibling->m);
        }
    if (sibling && found > 1)
        cuda_log(cuda, FG_LOG_DEBUG, "[cuda cublaslt] M=%lld K=%lld N=%lld epilogue %d: the choice timed at M=%lld is not "
                 "among this M's candidates; timing them", (long long)m, (long long)k, (long long)n, epilogue,
                 (long long)sibling->m);
    if (epilogue != CUDA_EPILOGUE_NONE)
        lt->cublasLtMatmulDescSetAttribute(plan->description, CUBLASLT_MATMUL_DESC_BIAS_POINTER, &bias, sizeof bias);
    if (found > 1) {
        plan->timed = choose_fastest(lt, plan, candidates, found, out, a, b, stream);
        cuda_log(cuda, FG_LOG_DEBUG, "[cuda cublaslt] M=%lld K=%lld N=%lld epilogue %d: candidate %d of %d", (long long)m,
                 (long long)k, (long long)n, epilogue, plan->chosen_candidate, found);
    }
    cublasStatus_t status = run_plan(lt, plan, &plan->algorithm, out, a, b, stream);
    if (status != CUBLAS_STATUS_SUCCESS) {
        snprintf(error, capacity, "cublasLtMatmul: status %d", (int)status);
        cudaError_t launch = cudaGetLastError();
        return launch != cudaSuccess ? launch : cudaErrorNotSupported;
    }
    return cudaGetLastError();
}
