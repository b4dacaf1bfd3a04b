/*
 * cuda_autotune.c — choosing a matmul implementation by measurement, never by guess.
 *
 * A shape class is (op, dtype, f32 precision, GELU form, weight layout, M class, K, N), where the M class is M itself
 * up to 16 (the skinny kernel's range, where every M behaves differently) and M rounded up to a power of
 * two above. On the first node of a class every implementation that applies runs on scratch buffers of
 * the node's own size: one warm-up, then the median of up to 9 timed samples, each a back-to-back
 * batch of launches, ~200 us of them or 32, whichever is fewer (see measure; 3 samples when one run
 * takes over 2 ms, so a class costs well under a second). The fastest is kept in memory and appended to
 * a cache file named after the GPU and driver, read back when the backend starts, so later processes
 * skip the measurement. The measured seconds also go to the planner, scaled by M / measured M.
 */
#include "cuda_backend.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

typedef struct tuned_class {
    char key[128];
    uint64_t hash; /* of key: most lookups compare this alone */
    cuda_implementation implementation;
    double seconds;
    int64_t measured_m;
} tuned_class;

/* Every matmul run looks its class up (cuda_matmul.c), and a cache file that has served many shapes holds
 * thousands of classes: a linear scan of their keys cost more host time than a small matmul takes on the
 * GPU. So the classes are indexed by an open-addressing table of their hashes (slots: a power of two, at
 * most half full; a slot holds index + 1, 0 when empty). */
struct cuda_autotune {
    tuned_class *classes;
    int count, capacity;
    int *slots;
    size_t slot_count;
    char path[1024];
};

static uint64_t key_hash(const char *key)
{
    uint64_t hash = 14695981039346656037ull; /* FNV-1a */
    for (; *key; key++) hash = (hash ^ (unsigned char)*key) * 1099511628211ull;
    return hash;
}

/* Inserts classes[index] into the table; the table has a free slot. */
static void index_class(cuda_autotune *autotune, int index)
{
    size_t mask = autotune->slot_count - 1, slot = autotune->classes[index].hash & mask;
    while (autotune->slots[slot]) slot = (slot + 1) & mask;
    autotune->slots[slot] = index + 1;
}

static tuned_class *find_class(const cuda_autotune *autotune, const char *key)
{
    if (!autotune->slot_count) return NULL;
    uint64_t hash = key_hash(key);
    size_t mask = autotune->slot_count - 1;
    for (size_t slot = hash & mask; autotune->slots[slot]; slot = (slot + 1) & mask) {
        tuned_class *entry = &autotune->classes[autotune->slots[slot] - 1];
        if (entry->hash == hash && strcmp(entry->key, key) == 0) return entry;
    }
    return NULL;
}

int64_t cuda_m_class(int64_t m)
{
    if (m <= 16) return m;
    int64_t power = 32;
    while (power < m) power *= 2;
    return power;
}

static void class_key(const fg_node_desc *node, char *key, size_t capacity)
{
    snprintf(key, capacity, "op%d-dtype%d-precision%d-gelu%d-layout%d-m%lld-k%lld-n%lld", (int)node->op, (int)node->dtype,
             node->dtype == FG_F32 ? (int)node->precision : 0, node->op == FG_OP_FUSED_MATMUL_ADD_GELU ? (int)node->gelu_form : 0,
             (int)node->weight_layout, (long long)cuda_m_class(node->m), (long long)node->k, (long long)node->n);
}

/* Adds a class, or updates it where the key is known (a cache file may name a class twice: the last wins). */
static tuned_class *remember(cuda_autotune *autotune, const char *key, cuda_implementation implementation, double seconds,
                             int64_t measured_m)
{
    tuned_class *entry = find_class(autotune, key);
    if (!entry) {
        if (autotune->count == autotune->capacity) {
            int capacity = autotune->capacity ? autotune->capacity * 2 : 64;
            tuned_class *grown = realloc(autotune->classes, sizeof *grown * (size_t)capacity);
            int *slots = calloc((size_t)capacity * 2, sizeof *slots);
            if (grown) autotune->classes = grown;
            if (!grown || !slots) {
                free(slots);
                return NULL;
            }
            free(autotune->slots);
            autotune->slots = slots;
            autotune->slot_count = (size_t)capacity * 2;
            autotune->capacity = capacity;
            for (int i = 0; i < autotune->count; i++) index_class(autotune, i);
        }
        entry = &autotune->classes[autotune->count];
        snprintf(entry->key, sizeof entry->key, "%s", key);
        entry->hash = key_hash(entry->key);
        index_class(autotune, autotune->count++);
    }
    entry->implementation = implementation;
    entry->seconds = seconds;
    entry->measured_m = measured_m;
    return entry;
}

cuda_autotune *cuda_autotune_create(cuda_backend *cuda)
{
    cuda_autotune *autotune = calloc(1, sizeof *autotune);
    if (!autotune) return NULL;
    /* v2: cublaslt_then_gelu joined the candidates; v3: the weight layout joined the class; v4:
     * skinny_tensor_core joined the candidates; v5: timed back to back (measure); v6:
     * warpgroup_tensor_core joined the candidates; v7: skinny_fp64_tensor_core joined the candidates */
    cuda_cache_path(cuda, "autotune-v7", autotune->path, sizeof autotune->path);
    FILE *file = autotune->path[0] ? fopen(autotune->path, "r") : NULL;
    if (!file) return autotune;
    char key[128], name[32];
    double seconds;
    long long measured_m;
    while (fscanf(file, "%127s %31s %lf %lld", key, name, &seconds, &measured_m) == 4)
        for (int i = 0; i < CUDA_IMPLEMENTATION_COUNT; i++)
            if (strcmp(name, cuda_implementation_name((cuda_implementation)i)) == 0 &&
                (i != CUDA_IMPLEMENTATION_CUBLASLT || cuda->cublaslt))
                remember(autotune, key, (cuda_implementation)i, seconds, measured_m);
    fclose(file);
    cuda_log(cuda, FG_LOG_DEBUG, "[cuda] read %d tuned shape classes from %s", autotune->count, autotune->path);
    return autotune;
}

void cuda_autotune_destroy(cuda_autotune *autotune)
{
    if (!autotune) return;
    free(autotune->classes);
    free(autotune->slots);
    free(autotune);
}

static size_t dtype_bytes(fg_dtype dtype) { return dtype == FG_F32 ? 4 : 2; }

/* Median seconds of implementation on scratch buffers; negative when it fails.
 *
 * Timed as the runs of a decoding loop or a resident batch meet the GPU: back to back, CUDA_BATCH_SECONDS
 * of launches (at most CUDA_BATCH_MOST; cuda_batch_size) between two events, the sample that time over the
 * launches. A single
 * launch between events also counts the GPU's idle wait for the launch itself, and that wait differs by
 * implementation: on the H100, bf16 M=16 K=4096 N=14336, cuBLASLt timed 52-60 us alone but 44.8-45.7 us
 * back to back, the tensor-core skinny kernel 50-51 us alone and 46.4-48.1 back to back, so timed alone
 * the slower one won (bench/results/h100-2026-11-27-close-calls/autotune-*.txt). */
static double measure(cuda_backend *cuda, cuda_implementation implementation, const fg_node_desc *node, void *const *scratch)
{
    cudaStream_t stream = cuda->compute.stream;
    char error[256];
    cudaEvent_t start, stop;
    cudaEventCreate(&start);
    cudaEventCreate(&stop);
    double times[9];
    int runs = 0, limit = 9, batch = 1;
    /* The scratch weight is settled (weight_settled 1) as a model's is: only the memset before the first,
     * untimed run writes it, and that run's result is never read. */
    cudaError_t result = cuda_matmul_run(cuda, implementation, node, scratch[0], scratch[1], scratch[2], scratch[3], 1, error, sizeof error);
    if (result == cudaSuccess) result = cudaStreamSynchronize(stream);
    while (result == cudaSuccess && runs < limit) {
        cudaEventRecord(start, stream);
        for (int b = 0; b < batch && result == cudaSuccess; b++)
            result = cuda_matmul_run(cuda, implementation, node, scratch[0], scratch[1], scratch[2], scratch[3], 1, error, sizeof error);
        cudaEventRecord(stop, stream);
        if (result == cudaSuccess) result = cudaEventSynchronize(stop);
        float milliseconds = 0;
        cudaEventElapsedTime(&milliseconds, start, stop);
        double seconds = milliseconds * 1e-3 / batch;
        if (batch == 1 && result == cudaSuccess) { /* the first sample sizes the batch, and is not kept */
            batch = cuda_batch_size(seconds);
            if (seconds > 2e-3) limit = 3;
            if (batch > 1) continue;
        }
        times[runs++] = seconds;
    }
    cudaEventDestroy(start);
    cudaEventDestroy(stop);
    if (result != cudaSuccess) {
        cuda_check(cuda, result, "autotune", cuda_implementation_name(implementation));
        cuda_log(cuda, FG_LOG_INFO, "[cuda autotune] %s failed for M=%lld K=%lld N=%lld: %s", cuda_implementation_name(implementation),
                 (long long)node->m, (long long)node->k, (long long)node->n, error[0] ? error : cuda->last_error);
        return -1;
    }
    return cuda_median(times, runs);
}

/* Measures every implementation that applies; FG_OK with the fastest, or an error when none runs. */
static fg_status tune(cuda_backend *cuda, const fg_node_desc *node, const char *key, tuned_class **out)
{
    size_t element = dtype_bytes(node->dtype);
    size_t sizes[4] = {(size_t)(node->m * node->k) * element, (size_t)(node->k * node->n) * element,
                       (size_t)node->n * element, (size_t)(node->m * node->n) * element};
    void *scratch[4] = {NULL, NULL, NULL, NULL};
    fg_status status = FG_OK;
    for (int i = 0; i < 4 && status == FG_OK; i++) {
        status = cuda_check(cuda, cudaMalloc(&scratch[i], sizes[i]), "autotune", "cudaMalloc (scratch)");
        /* 0x3C bytes: small nonzero values in every dtype (f32 ~0.0115, f16 ~1.06, bf16 ~0.0115) */
        if (status == FG_OK) status = cuda_check(cuda, cudaMemsetAsync(scratch[i], 0x3C, sizes[i], cuda->compute.stream), "autotune", "cudaMemset");
    }
    int best = -1;
    double best_seconds = 0;
    char summary[256] = "";
    for (int i = 0; i < CUDA_IMPLEMENTATION_COUNT && status == FG_OK && !cuda->broken; i++) {
        if (!cuda_implementation_applies(cuda, (cuda_implementation)i, node)) continue;
        double seconds = measure(cuda, (cuda_implementation)i, node, scratch);
        size_t used = strlen(summary);
        snprintf(summary + used, sizeof summary - used, " %s %.1f us", cuda_implementation_name((cuda_implementation)i), seconds * 1e6);
        if (seconds > 0 && (best < 0 || seconds < best_seconds)) best = i, best_seconds = seconds;
    }
    for (int i = 0; i < 4; i++)
        if (scratch[i]) cudaFree(scratch[i]);
    if (status != FG_OK) return status;
    if (best < 0) return cuda_fail(cuda, FG_ERR_DEVICE, "[cuda autotune] no implementation ran M=%lld K=%lld N=%lld: %s",
                                   (long long)node->m, (long long)node->k, (long long)node->n, cuda->last_error);
    cuda_log(cuda, FG_LOG_INFO, "[cuda autotune] %s:%s -> %s", key, summary, cuda_implementation_name((cuda_implementation)best));
    *out = remember(cuda->autotune, key, (cuda_implementation)best, best_seconds, node->m);
    if (!*out) return cuda_fail(cuda, FG_ERR_OUT_OF_MEMORY, "[cuda autotune] out of host memory");
    FILE *file = cuda->autotune->path[0] ? fopen(cuda->autotune->path, "a") : NULL;
    if (file) {
        fprintf(file, "%s %s %.9g %lld\n", key, cuda_implementation_name((cuda_implementation)best), best_seconds, (long long)node->m);
        fclose(file);
    }
    return FG_OK;
}

fg_status cuda_autotune_choose(cuda_backend *cuda, const fg_node_desc *node, cuda_implementation *out, double *out_seconds)
{
    *out_seconds = 0;
    const char *forced = cuda_setting(cuda, "FUSEGRAPH_CUDA_IMPLEMENTATION");
    for (int i = 0; forced && i < CUDA_IMPLEMENTATION_COUNT; i++)
        if (strcmp(forced, cuda_implementation_name((cuda_implementation)i)) == 0 &&
            cuda_implementation_applies(cuda, (cuda_implementation)i, node)) {
            *out = (cuda_implementation)i; /* unmeasured: the planner falls back on the cost figures */
            return FG_OK;
        }
    return cuda_autotune_measured(cuda, node, out, out_seconds);
}

fg_status cuda_autotune_measured(cuda_backend *cuda, const fg_node_desc *node, cuda_implementation *out, double *out_seconds)
{
    *out_seconds = 0;
    if (!cuda->autotune) return cuda_fail(cuda, FG_ERR_OUT_OF_MEMORY, "[cuda autotune] not initialised (out of host memory)");
    char key[128];
    class_key(node, key, sizeof key);
    tuned_class *entry = find_class(cuda->autotune, key);
    if (!entry) {
        fg_status status = tune(cuda, node, key, &entry);
        if (status == FG_ERR_OUT_OF_MEMORY && !cuda->broken) {
            /* No room for scratch buffers now: run the first that applies, untuned, and tune later. */
            for (int i = 0; i < CUDA_IMPLEMENTATION_COUNT; i++)
                if (cuda_implementation_applies(cuda, (cuda_implementation)i, node)) {
                    cuda_log(cuda, FG_LOG_INFO, "[cuda autotune] %s: no memory to measure; using %s untuned", key,
                             cuda_implementation_name((cuda_implementation)i));
                    *out = (cuda_implementation)i;
                    return FG_OK;
                }
        }
        if (status != FG_OK) return status;
    }
    *out = entry->implementation;
    *out_seconds = entry->seconds * (double)node->m / (double)(entry->measured_m > 0 ? entry->measured_m : node->m);
    return FG_OK;
}

fg_status cuda_choose_implementation(void *state, const fg_node_desc *node, char *name, size_t capacity, double *out_measured_seconds)
{
    cuda_backend *cuda = state;
    *out_measured_seconds = 0;
    if (node->op == FG_OP_ADD || node->op == FG_OP_GELU) {
        snprintf(name, capacity, "vectorized %s", node->op == FG_OP_ADD ? (node->bias_length ? "bias add" : "add") : "gelu");
        return FG_OK;
    }
    fg_status status = cuda_enter(cuda, "choose_implementation");
    if (status != FG_OK) return status;
    cuda_implementation implementation;
    status = cuda_autotune_choose(cuda, node, &implementation, out_measured_seconds);
    if (status == FG_OK)
        snprintf(name, capacity, "%s%s", cuda_implementation_name(implementation),
                 implementation == CUDA_IMPLEMENTATION_CUBLASLT && node->op == FG_OP_FUSED_MATMUL_ADD_GELU && node->gelu_form == FG_GELU_EXACT
                     ? " bias + exact gelu pass" : "");
    return cuda_leave(cuda, status);
}
