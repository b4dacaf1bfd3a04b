/*
 * matmul_onednn.c — MatMul and the fused linear layer through oneDNN's matmul primitive.
 *
 * Why oneDNN and not OpenBLAS for the CPU backend (measured by build/bench_cpu_gemm_libraries on the
 * 2-core AMD EPYC dev machine, numbers in BENCHMARKS.md): oneDNN's brgemm kernels ran f32 GEMM as fast
 * as OpenBLAS at 1024 and ~20% faster at 2048, and its post-ops apply bias + GELU inside the GEMM's own
 * output loop, so the fused layer costs 1.00-1.01x a plain MatMul. Both libraries use OpenMP here, like
 * our elementwise kernels, so no two thread pools fight over the cores (OpenBLAS's pthreads pool
 * spinning against OpenMP made the row-panel fused path 2.2x slower than its plain GEMM).
 *
 * Creating a primitive takes a while (JIT), so primitives are cached by (M, K, N, weight layout, epilogue) in a small
 * LRU table behind a mutex; executing one is thread-safe.
 */
#include "matmul_onednn.h"

#include <oneapi/dnnl/dnnl.h>
#include <pthread.h>
#include <string.h>

#define CACHE_ENTRIES 32

typedef struct cached_primitive {
    int64_t m, k, n;
    int b_transposed, epilogue;
    uint64_t last_use;
    dnnl_primitive_t primitive;
} cached_primitive;

static dnnl_engine_t engine;
static int engine_ready;
static pthread_once_t engine_once = PTHREAD_ONCE_INIT;
static pthread_mutex_t cache_lock = PTHREAD_MUTEX_INITIALIZER;
static cached_primitive cache[CACHE_ENTRIES];
static uint64_t use_clock;

static void create_engine(void) { engine_ready = dnnl_engine_create(&engine, dnnl_cpu, 0) == dnnl_success; }

/* A [rows, columns] f32 matrix, row-major ("ab"), or stored as its transpose ("ba": columns outermost,
 * which is how a [N, K] weight presents the [K, N] matrix the primitive multiplies by). */
static void describe(dnnl_memory_desc_t *md, int64_t rows, int64_t columns, int transposed)
{
    dnnl_dims_t dims = {rows, columns};
    dnnl_memory_desc_init_by_tag(md, 2, dims, dnnl_f32, transposed ? dnnl_ba : dnnl_ab);
}

static dnnl_primitive_t create_primitive(int64_t m, int64_t k, int64_t n, int b_transposed, int epilogue)
{
    dnnl_memory_desc_t a_md, b_md, bias_md, c_md;
    describe(&a_md, m, k, 0);
    describe(&b_md, k, n, b_transposed);
    describe(&bias_md, 1, n, 0);
    describe(&c_md, m, n, 0);
    dnnl_matmul_desc_t desc;
    if (dnnl_matmul_desc_init(&desc, &a_md, &b_md, epilogue == ONEDNN_PLAIN ? NULL : &bias_md, &c_md) != dnnl_success)
        return NULL;
    dnnl_primitive_attr_t attr = NULL;
    if (dnnl_primitive_attr_create(&attr) != dnnl_success) return NULL;
    if (epilogue == ONEDNN_BIAS_GELU_EXACT || epilogue == ONEDNN_BIAS_GELU_TANH) {
        dnnl_post_ops_t ops = NULL;
        if (dnnl_post_ops_create(&ops) == dnnl_success) {
            dnnl_post_ops_append_eltwise(ops, 1.0f, epilogue == ONEDNN_BIAS_GELU_TANH ? dnnl_eltwise_gelu_tanh : dnnl_eltwise_gelu_erf,
                                         0.0f, 0.0f);
            dnnl_primitive_attr_set_post_ops(attr, ops);
            dnnl_post_ops_destroy(ops);
        }
    }
    dnnl_primitive_desc_t pd = NULL;
    dnnl_primitive_t primitive = NULL;
    if (dnnl_primitive_desc_create(&pd, &desc, attr, engine, NULL) == dnnl_success) {
        if (dnnl_primitive_create(&primitive, pd) != dnnl_success) primitive = NULL;
        dnnl_primitive_desc_destroy(pd);
    }
    dnnl_primitive_attr_destroy(attr);
    return primitive;
}

/* The cached primitive for the key, created on a miss (evicting the least recently used). */
static dnnl_primitive_t lookup(int64_t m, int64_t k, int64_t n, int b_transposed, int epilogue)
{
    pthread_mutex_lock(&cache_lock);
    int victim = 0;
    dnnl_primitive_t found = NULL;
    for (int i = 0; i < CACHE_ENTRIES; i++) {
        cached_primitive *entry = &cache[i];
        if (entry->primitive && entry->m == m && entry->k == k && entry->n == n && entry->b_transposed == b_transposed &&
            entry->epilogue == epilogue) {
            entry->last_use = ++use_clock;
            found = entry->primitive;
            break;
        }
        if (!entry->primitive || (cache[victim].primitive && entry->last_use < cache[victim].last_use)) victim = i;
    }
    if (!found) {
        found = create_primitive(m, k, n, b_transposed, epilogue);
        if (found) {
            cached_primitive *entry = &cache[victim];
            if (entry->primitive) dnnl_primitive_destroy(entry->primitive);
            *entry = (cached_primitive){m, k, n, b_transposed, epilogue, ++use_clock, found};
        }
    }
    pthread_mutex_unlock(&cache_lock);
    return found;
}

int onednn_linear(float *out, const float *a, const float *b, const float *bias, int64_t m, int64_t k, int64_t n,
                  int b_transposed, int epilogue)
{
    pthread_once(&engine_once, create_engine);
    if (!engine_ready) return 0;
    dnnl_primitive_t primitive = lookup(m, k, n, b_transposed, epilogue);
    if (!primitive) return 0;
    dnnl_memory_desc_t a_md, b_md, bias_md, c_md;
    describe(&a_md, m, k, 0);
    describe(&b_md, k, n, b_transposed);
    describe(&bias_md, 1, n, 0);
    describe(&c_md, m, n, 0);
    dnnl_memory_t memories[4] = {NULL, NULL, NULL, NULL};
    dnnl_stream_t stream = NULL;
    int ok = dnnl_memory_create(&memories[0], &a_md, engine, (void *)a) == dnnl_success &&
             dnnl_memory_create(&memories[1], &b_md, engine, (void *)b) == dnnl_success &&
             dnnl_memory_create(&memories[2], &c_md, engine, out) == dnnl_success &&
             (epilogue == ONEDNN_PLAIN || dnnl_memory_create(&memories[3], &bias_md, engine, (void *)bias) == dnnl_success) &&
             dnnl_stream_create(&stream, engine, dnnl_stream_default_flags) == dnnl_success;
    if (ok) {
        dnnl_exec_arg_t args[4] = {{DNNL_ARG_SRC, memories[0]}, {DNNL_ARG_WEIGHTS, memories[1]},
                                   {DNNL_ARG_DST, memories[2]}, {DNNL_ARG_BIAS, memories[3]}};
        ok = dnnl_primitive_execute(primitive, stream, epilogue == ONEDNN_PLAIN ? 3 : 4, args) == dnnl_success &&
             dnnl_stream_wait(stream) == dnnl_success;
    }
    if (stream) dnnl_stream_destroy(stream);
    for (int i = 0; i < 4; i++)
        if (memories[i]) dnnl_memory_destroy(memories[i]);
    return ok;
}

/* Frees the cached primitives and the engine when the library or module holding this code is unloaded
 * (the test backend module is dlclose'd while the process goes on). */
__attribute__((destructor)) static void release_onednn(void)
{
    for (int i = 0; i < CACHE_ENTRIES; i++)
        if (cache[i].primitive) dnnl_primitive_destroy(cache[i].primitive);
    memset(cache, 0, sizeof cache);
    if (engine_ready) dnnl_engine_destroy(engine);
    engine_ready = 0;
}
