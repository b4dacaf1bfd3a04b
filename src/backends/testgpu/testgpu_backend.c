/*
 * testgpu_backend.c — a pretend GPU for testing the planner, transfers and fallback without a GPU.
 *
 * It is a real backend module (loaded with dlopen like CUDA and Vulkan, when named in
 * fg_context_options.extra_backends or $FUSEGRAPH_BACKENDS), with memory of its own (separate
 * allocations, so every transfer is a real copy), running the CPU kernels, but reporting GPU-like cost
 * figures. Everything about it is set by $FUSEGRAPH_TESTGPU, a comma-separated list of key=value:
 *   flops=2e13 bandwidth=2e12 launch=1e-5 h2d=2e10 d2h=2e10 latency=1e-5   cost figures (read at create)
 *   memory=BYTES      device memory: allocations past it fail with FG_ERR_OUT_OF_MEMORY (read at create)
 *   ops=matmul+add    only these ops are supported (default: all; read at every call)
 *   fail=run|upload|download|allocate|sync[+...]   these calls fail (read at every call)
 *   fail_op=NAME      with fail=run: only nodes of this op fail
 *   run_delay=SECONDS each run takes at least this much longer (read at every call): a slow device
 *   create=fail       create() fails, with a reason
 * Tests change $FUSEGRAPH_TESTGPU between calls to script failures.
 */
#define _POSIX_C_SOURCE 200809L /* nanosleep */
#include "../../backend.h"
#include "../cpu/cpu_dispatch.h"

#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

typedef struct testgpu {
    const fg_backend_host *host;
    fg_cost_figures figures;
    double memory_limit;
    size_t memory_used;
    char last_error[256];
} testgpu;

typedef struct allocation_header {
    size_t bytes;
    size_t padding[7]; /* keeps the payload 64-byte aligned */
} allocation_header;

/* Value of key in $FUSEGRAPH_TESTGPU into value (empty when absent). */
static void option(const testgpu *gpu, const char *key, char *value, size_t capacity)
{
    value[0] = 0;
    const char *settings = gpu->host->setting(gpu->host, "FUSEGRAPH_TESTGPU");
    if (!settings) return;
    size_t key_length = strlen(key);
    for (const char *p = settings; *p;) {
        const char *end = strchr(p, ',');
        size_t length = end ? (size_t)(end - p) : strlen(p);
        if (length > key_length && strncmp(p, key, key_length) == 0 && p[key_length] == '=') {
            size_t value_length = length - key_length - 1;
            if (value_length >= capacity) value_length = capacity - 1;
            memcpy(value, p + key_length + 1, value_length);
            value[value_length] = 0;
            return;
        }
        p += length + (end ? 1 : 0);
    }
}

static double number_option(const testgpu *gpu, const char *key, double fallback)
{
    char value[64];
    option(gpu, key, value, sizeof value);
    return value[0] ? strtod(value, NULL) : fallback;
}

/* Whether the list option key contains word (words separated by '+'). */
static int list_has(const testgpu *gpu, const char *key, const char *word)
{
    char value[256];
    option(gpu, key, value, sizeof value);
    for (char *save = NULL, *item = strtok_r(value, "+", &save); item; item = strtok_r(NULL, "+", &save))
        if (strcmp(item, word) == 0) return 1;
    return 0;
}

static fg_status injected(testgpu *gpu, const char *call)
{
    if (!list_has(gpu, "fail", call)) return FG_OK;
    snprintf(gpu->last_error, sizeof gpu->last_error, "testgpu: injected failure of %s", call);
    return FG_ERR_DEVICE;
}

static fg_status testgpu_create(const fg_backend_host *host, void **out_state, char *reason, size_t capacity)
{
    testgpu *gpu = calloc(1, sizeof *gpu);
    if (!gpu) return FG_ERR_OUT_OF_MEMORY;
    gpu->host = host;
    char create[16];
    option(gpu, "create", create, sizeof create);
    if (strcmp(create, "fail") == 0) {
        snprintf(reason, capacity, "testgpu: no device (create=fail in FUSEGRAPH_TESTGPU)");
        free(gpu);
        return FG_ERR_DEVICE;
    }
    gpu->figures.matmul_flops_per_second[FG_F32] = number_option(gpu, "flops", 2e13);
    gpu->figures.memory_bytes_per_second = number_option(gpu, "bandwidth", 2e12);
    gpu->figures.launch_seconds = number_option(gpu, "launch", 1e-5);
    gpu->figures.host_to_device_bytes_per_second = number_option(gpu, "h2d", 2e10);
    gpu->figures.device_to_host_bytes_per_second = number_option(gpu, "d2h", 2e10);
    gpu->figures.transfer_latency_seconds = number_option(gpu, "latency", 1e-5);
    gpu->memory_limit = number_option(gpu, "memory", 0);
    snprintf(reason, capacity, "test backend: CPU kernels on separate memory, GPU-like cost figures");
    *out_state = gpu;
    return FG_OK;
}

static void testgpu_destroy(void *state) { free(state); }

static void testgpu_describe(void *state, char *name, size_t capacity)
{
    (void)state;
    snprintf(name, capacity, "fusegraph test GPU (runs on the CPU)");
}

static void testgpu_cost_figures(void *state, fg_cost_figures *out) { *out = ((testgpu *)state)->figures; }

static size_t testgpu_default_budget(void *state) { return (size_t)((testgpu *)state)->memory_limit; }

static fg_status testgpu_allocate(void *state, size_t bytes, void **out_buffer)
{
    testgpu *gpu = state;
    *out_buffer = NULL;
    if (injected(gpu, "allocate") != FG_OK) return FG_ERR_OUT_OF_MEMORY;
    if (gpu->memory_limit > 0 && (double)(gpu->memory_used + bytes) > gpu->memory_limit) {
        snprintf(gpu->last_error, sizeof gpu->last_error, "testgpu: out of memory (%zu used + %zu asked > %.0f)",
                 gpu->memory_used, bytes, gpu->memory_limit);
        return FG_ERR_OUT_OF_MEMORY;
    }
    allocation_header *header = NULL;
    if (posix_memalign((void **)&header, 64, sizeof *header + bytes) != 0) return FG_ERR_OUT_OF_MEMORY;
    header->bytes = bytes;
    gpu->memory_used += bytes;
    *out_buffer = header + 1;
    return FG_OK;
}

static void testgpu_release(void *state, void *buffer)
{
    if (!buffer) return;
    allocation_header *header = (allocation_header *)buffer - 1;
    ((testgpu *)state)->memory_used -= header->bytes;
    free(header);
}

static fg_status testgpu_upload(void *state, void *buffer, const void *host_data, size_t bytes)
{
    fg_status status = injected(state, "upload");
    if (status == FG_OK) memcpy(buffer, host_data, bytes);
    return status;
}

static fg_status testgpu_download(void *state, void *host_data, const void *buffer, size_t bytes)
{
    fg_status status = injected(state, "download");
    if (status == FG_OK) memcpy(host_data, buffer, bytes);
    return status;
}

static int testgpu_supports(void *state, const fg_node_desc *node)
{
    testgpu *gpu = state;
    char ops[256];
    option(gpu, "ops", ops, sizeof ops);
    static const char *const names[] = {"matmul", "add", "gelu", "fused_matmul_add", "fused_matmul_add_gelu"};
    if (ops[0] && !list_has(gpu, "ops", names[node->op])) return 0;
    return cpu_supports_node(node);
}

static fg_status testgpu_run(void *state, const fg_node_desc *node, void *const *inputs, void *output)
{
    testgpu *gpu = state;
    static const char *const names[] = {"matmul", "add", "gelu", "fused_matmul_add", "fused_matmul_add_gelu"};
    char fail_op[64];
    option(gpu, "fail_op", fail_op, sizeof fail_op);
    if (!fail_op[0] || strcmp(fail_op, names[node->op]) == 0) {
        fg_status status = injected(gpu, "run");
        if (status != FG_OK) {
            /* Like a real device that dies mid-kernel: the output is garbage, not untouched. */
            memset(output, 0xff, 4);
            return status;
        }
    }
    double delay = number_option(gpu, "run_delay", 0);
    if (delay > 0) {
        struct timespec wait = {(time_t)delay, (long)((delay - (double)(time_t)delay) * 1e9)};
        while (nanosleep(&wait, &wait) != 0 && errno == EINTR) {
        }
    }
    return cpu_run_node(node, inputs, output);
}

static fg_status testgpu_synchronize(void *state) { return injected(state, "sync"); }

static const char *testgpu_last_error(void *state) { return ((testgpu *)state)->last_error; }

__attribute__((visibility("default"))) const fg_backend_interface *fusegraph_backend_entry(void)
{
    static const fg_backend_interface interface = {
        FG_BACKEND_ABI_VERSION, "testgpu", testgpu_create, testgpu_destroy, testgpu_describe,
        testgpu_cost_figures, testgpu_default_budget, testgpu_allocate, testgpu_release, testgpu_upload,
        testgpu_download, testgpu_supports, testgpu_run, testgpu_synchronize, testgpu_last_error, NULL, NULL,
    };
    return &interface;
}
