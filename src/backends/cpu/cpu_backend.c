/*
 * cpu_backend.c — the CPU as a fusegraph backend: host memory, the CPU kernels, and cost figures
 * measured once per process.
 *
 * Cost figures (units: FLOP/s, bytes/s, seconds):
 *  - matmul_flops_per_second[f32]: best of 3 timed 512^3 GEMMs after one warm-up (268 MFLOP each).
 *    Smaller GEMMs run slower than this, so the planner slightly favours the CPU for tiny matmuls —
 *    harmless, since those also pay a GPU's launch and transfer costs.
 *  - memory_bytes_per_second: best of 3 timed Adds of 4M floats (48 MiB of traffic: past any cache).
 *  - launch_seconds: best of 20 Adds of 64 elements: the fixed cost of entering a kernel.
 *  - host transfer figures: 0 — CPU nodes read host memory in place.
 * Measuring takes ~20 ms, once per process; the figures used are the best of this measurement and those
 * of earlier processes on this CPU (cpu_figures_cache.c: a measurement taken while the cores were busy
 * must not route a whole process's plans).
 */
#include "../../backend.h"
#include "../../internal.h"
#include "cpu_dispatch.h"
#include "cpu_figures_cache.h"
#include "cpu_kernels.h"

#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

static fg_cost_figures measured_figures;
static pthread_once_t measure_once = PTHREAD_ONCE_INIT;

double cpu_best_of(int repeats, int (*work)(void *), void *argument)
{
    double best = 1e30;
    if (!work(argument)) return 0; /* warm-up: thread pools, page faults */
    for (int i = 0; i < repeats; i++) {
        double start = fg_now_seconds();
        if (!work(argument)) return 0;
        double elapsed = fg_now_seconds() - start;
        if (elapsed < best) best = elapsed;
    }
    return best > 1e-9 ? best : 1e-9;
}

typedef struct measure_buffers {
    float *a, *b, *c;
    int64_t size;
} measure_buffers;

static int gemm_work(void *argument)
{
    measure_buffers *m = argument;
    matmul_forward(m->c, m->a, m->b, m->size, m->size, m->size, FG_WEIGHT_K_N);
    return 1;
}

static int add_work(void *argument)
{
    measure_buffers *m = argument;
    add_forward(m->c, m->a, m->b, m->size);
    return 1;
}

static void measure(void)
{
    /* Conservative defaults in case the measurement buffers cannot be allocated. */
    measured_figures.matmul_flops_per_second[FG_F32] = 50e9;
    measured_figures.matmul_flops_per_second[FG_F16] = 50e9;
    measured_figures.matmul_flops_per_second[FG_BF16] = 50e9;
    measured_figures.memory_bytes_per_second = 10e9;
    measured_figures.launch_seconds = 2e-6;
    const int64_t elements = 4 << 20;
    measure_buffers m = {fg_aligned_alloc(sizeof(float) * elements), fg_aligned_alloc(sizeof(float) * elements),
                         fg_aligned_alloc(sizeof(float) * elements), 512};
    if (m.a && m.b && m.c) {
        for (int64_t i = 0; i < elements; i++) {
            m.a[i] = (float)(i % 97) * 0.01f;
            m.b[i] = (float)(i % 89) * 0.02f;
        }
        double gemm = cpu_best_of(3, gemm_work, &m);
        measured_figures.matmul_flops_per_second[FG_F32] = 2.0 * 512 * 512 * 512 / gemm;
        /* f16/bf16 run as f32 after widening: the same GEMM rate (the conversions are memory traffic). */
        measured_figures.matmul_flops_per_second[FG_F16] = measured_figures.matmul_flops_per_second[FG_F32];
        measured_figures.matmul_flops_per_second[FG_BF16] = measured_figures.matmul_flops_per_second[FG_F32];
        m.size = elements;
        double add = cpu_best_of(3, add_work, &m);
        measured_figures.memory_bytes_per_second = 12.0 * (double)elements / add;
        m.size = 64;
        measured_figures.launch_seconds = cpu_best_of(20, add_work, &m);
        cpu_figures_keep_best(&measured_figures);
    }
    fg_aligned_free(m.a);
    fg_aligned_free(m.b);
    fg_aligned_free(m.c);
}

static fg_status cpu_create(const fg_backend_host *host, void **out_state, char *reason, size_t capacity)
{
    (void)host;
    pthread_once(&measure_once, measure);
    snprintf(reason, capacity, "GEMM: %s; elementwise: %s", matmul_library_name(),
             cpu_has_avx2() ? "AVX2+FMA" : "scalar");
    *out_state = &measured_figures;
    return FG_OK;
}

static void cpu_destroy(void *state) { (void)state; }

static void cpu_describe(void *state, char *name, size_t capacity)
{
    (void)state;
    cpu_model_name(name, capacity);
}

static void cpu_cost_figures(void *state, fg_cost_figures *out_figures) { *out_figures = *(fg_cost_figures *)state; }

static size_t cpu_default_budget(void *state)
{
    (void)state;
    return 0; /* host memory: no budget unless the application sets one */
}

static fg_status cpu_allocate(void *state, size_t bytes, void **out_buffer)
{
    (void)state;
    *out_buffer = fg_aligned_alloc(bytes);
    return *out_buffer ? FG_OK : FG_ERR_OUT_OF_MEMORY;
}

static void cpu_release(void *state, void *buffer)
{
    (void)state;
    fg_aligned_free(buffer);
}

static fg_status cpu_upload(void *state, void *buffer, const void *host_data, size_t bytes)
{
    (void)state;
    memcpy(buffer, host_data, bytes);
    return FG_OK;
}

static fg_status cpu_download(void *state, void *host_data, const void *buffer, size_t bytes)
{
    (void)state;
    memcpy(host_data, buffer, bytes);
    return FG_OK;
}

static int cpu_supports(void *state, const fg_node_desc *node)
{
    (void)state;
    return cpu_supports_node(node);
}

static fg_status cpu_run(void *state, const fg_node_desc *node, void *const *inputs, void *output)
{
    (void)state;
    return cpu_run_node(node, inputs, output);
}

static fg_status cpu_synchronize(void *state)
{
    (void)state;
    return FG_OK;
}

static const char *cpu_last_error(void *state)
{
    (void)state;
    return "";
}

const fg_backend_interface *fg_cpu_backend_interface(void)
{
    static const fg_backend_interface interface = {
        FG_BACKEND_ABI_VERSION, "cpu", cpu_create, cpu_destroy, cpu_describe, cpu_cost_figures,
        cpu_default_budget, cpu_allocate, cpu_release, cpu_upload, cpu_download, cpu_supports, cpu_run,
        cpu_synchronize, cpu_last_error, cpu_choose_implementation, NULL /* host memory: no transfers */
    };
    return &interface;
}
