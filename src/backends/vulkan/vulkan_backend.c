/*
 * vulkan_backend.c — the Vulkan backend module: the interface table, create/destroy, the lock, errors.
 *
 * One portable GPU path: NVIDIA, AMD and Intel through their Vulkan drivers, Apple GPUs through MoltenVK,
 * and Mesa's lavapipe (a CPU "device") where CI runs it. See vulkan_backend.h for how the files divide
 * the work and how commands are ordered.
 *
 * Settings (fg_context_options.settings, or environment variables of the same names):
 *   FUSEGRAPH_VULKAN_DEVICE=N|NAME       which device: an index, or part of its name (vulkan_device.c)
 *   FUSEGRAPH_VULKAN_FAIL=run|upload|download|allocate|sync (+-separated)   injected failures for tests,
 *                                        read at every call, so the core's CPU fallback can be tested
 *   FUSEGRAPH_VULKAN_NO_CACHE=1          neither read nor write the cost/tuning cache file
 *   FUSEGRAPH_VULKAN_NO_COOPERATIVE=1    do not use cooperative matrices even where the device has them
 *   FUSEGRAPH_VULKAN_TILE=32x32|64x64|128x128|cooperative|skinny|workgroup-128x128|workgroup-128x256|
 *                          workgroup-128x256x64q   every matmul this shader or tile
 *                                        configuration can run uses it instead of the measured choice
 *                                        (tests, benchmarks; vulkan_matmul_choice.c)
 *   FUSEGRAPH_VULKAN_DISABLE=1           create() fails at once (tests that want no Vulkan device)
 *
 * Every entry point takes the lock (plans of one context may run on several threads) and fails at once
 * when the device was lost: after VK_ERROR_DEVICE_LOST nothing on it can be trusted, and the core then
 * runs everything on the CPU.
 */
#include "vulkan_backend.h"
#include "../common/backend_support.h"
#include "../common/cache_file.h"

#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

fg_status vulkan_fail(vulkan_backend *vulkan, fg_status status, const char *format, ...)
{
    va_list arguments;
    va_start(arguments, format);
    backend_fail_formatted(vulkan->last_error, sizeof vulkan->last_error, status, format, arguments);
    va_end(arguments);
    return status;
}

const char *vulkan_result_name(VkResult result)
{
    switch (result) {
    case VK_SUCCESS: return "VK_SUCCESS";
    case VK_TIMEOUT: return "VK_TIMEOUT";
    case VK_ERROR_OUT_OF_HOST_MEMORY: return "VK_ERROR_OUT_OF_HOST_MEMORY";
    case VK_ERROR_OUT_OF_DEVICE_MEMORY: return "VK_ERROR_OUT_OF_DEVICE_MEMORY";
    case VK_ERROR_INITIALIZATION_FAILED: return "VK_ERROR_INITIALIZATION_FAILED";
    case VK_ERROR_DEVICE_LOST: return "VK_ERROR_DEVICE_LOST";
    case VK_ERROR_MEMORY_MAP_FAILED: return "VK_ERROR_MEMORY_MAP_FAILED";
    case VK_ERROR_EXTENSION_NOT_PRESENT: return "VK_ERROR_EXTENSION_NOT_PRESENT";
    case VK_ERROR_FEATURE_NOT_PRESENT: return "VK_ERROR_FEATURE_NOT_PRESENT";
    case VK_ERROR_INCOMPATIBLE_DRIVER: return "VK_ERROR_INCOMPATIBLE_DRIVER";
    case VK_ERROR_TOO_MANY_OBJECTS: return "VK_ERROR_TOO_MANY_OBJECTS";
    case VK_ERROR_OUT_OF_POOL_MEMORY: return "VK_ERROR_OUT_OF_POOL_MEMORY";
    case VK_ERROR_INVALID_SHADER_NV: return "VK_ERROR_INVALID_SHADER_NV";
    default: return "VkResult (other)";
    }
}

fg_status vulkan_check(vulkan_backend *vulkan, VkResult result, const char *op, const char *call)
{
    if (result == VK_SUCCESS) return FG_OK;
    if (result == VK_ERROR_DEVICE_LOST || result == VK_TIMEOUT) vulkan->lost = 1;
    fg_status status = result == VK_ERROR_OUT_OF_DEVICE_MEMORY || result == VK_ERROR_OUT_OF_HOST_MEMORY
                           ? FG_ERR_OUT_OF_MEMORY : FG_ERR_DEVICE;
    return vulkan_fail(vulkan, status, "[vulkan %s] %s: %s (%d)%s", op, call, vulkan_result_name(result), (int)result,
                       vulkan->lost ? "; the device is unusable for the rest of the process" : "");
}

void vulkan_log(const vulkan_backend *vulkan, fg_log_level level, const char *format, ...)
{
    va_list arguments;
    va_start(arguments, format);
    backend_log_formatted(vulkan->host, level, format, arguments);
    va_end(arguments);
}

const char *vulkan_setting(const vulkan_backend *vulkan, const char *name) { return vulkan->host->setting(vulkan->host, name); }

void vulkan_cache_path(const vulkan_backend *vulkan, const char *what, char *path, size_t capacity)
{
    path[0] = 0;
    if (vulkan_setting(vulkan, "FUSEGRAPH_VULKAN_NO_CACHE")) return;
    /* The shaders' hash too: the tile choices are measurements of these shaders, stale once they change. */
    char key[256];
    snprintf(key, sizeof key, "%.120s-%.100s-%08x-%08x", vulkan->name, vulkan->driver, vulkan->properties.driverVersion,
             vulkan->shader_hash);
    backend_cache_file("vulkan", key, what, path, capacity);
}

/* 1 when the setting FUSEGRAPH_VULKAN_FAIL (a '+'-separated list) names call. */
static int injected(const vulkan_backend *vulkan, const char *call)
{
    return !vulkan->measuring && backend_setting_names(vulkan->host, "FUSEGRAPH_VULKAN_FAIL", call);
}

/* Takes the lock; fails (unlocked) when the device is lost or call is an injected failure. */
static fg_status enter(vulkan_backend *vulkan, const char *op, const char *call)
{
    pthread_mutex_lock(&vulkan->lock);
    fg_status status = FG_OK;
    if (vulkan->lost)
        status = vulkan_fail(vulkan, FG_ERR_DEVICE, "[vulkan %s] the device was lost earlier; every call fails", op);
    else if (call && injected(vulkan, call))
        status = vulkan_fail(vulkan, call[0] == 'a' ? FG_ERR_OUT_OF_MEMORY : FG_ERR_DEVICE,
                             "[vulkan %s] injected failure of %s (FUSEGRAPH_VULKAN_FAIL)", op, call);
    if (status != FG_OK) pthread_mutex_unlock(&vulkan->lock);
    return status;
}

static fg_status leave(vulkan_backend *vulkan, fg_status status)
{
    pthread_mutex_unlock(&vulkan->lock);
    return status;
}

static void vulkan_destroy(void *state)
{
    vulkan_backend *vulkan = state;
    if (!vulkan) return;
    if (vulkan->device) {
        if (!vulkan->lost) vulkan_submit(vulkan, 1, "destroy");
        vulkan->vk.vkDeviceWaitIdle(vulkan->device);
        vulkan_staging_destroy(vulkan);
        vulkan_pipelines_destroy(vulkan);
        vulkan_commands_destroy(vulkan);
    }
    vulkan_device_close(vulkan);
    pthread_mutex_destroy(&vulkan->lock);
    free(vulkan);
}

static fg_status vulkan_create(const fg_backend_host *host, void **out_state, char *reason, size_t capacity)
{
    *out_state = NULL;
    const char *disable = host->setting(host, "FUSEGRAPH_VULKAN_DISABLE");
    if (disable && strcmp(disable, "0") != 0) {
        snprintf(reason, capacity, "disabled by FUSEGRAPH_VULKAN_DISABLE=%s", disable);
        return FG_ERR_NOT_FOUND;
    }
    vulkan_backend *vulkan = calloc(1, sizeof *vulkan);
    if (!vulkan) return FG_ERR_OUT_OF_MEMORY;
    vulkan->host = host;
    pthread_mutex_init(&vulkan->lock, NULL);
    memset(vulkan->tile_choice, 0xFF, sizeof vulkan->tile_choice); /* every entry -1: untuned */
    fg_status status = vulkan_device_open(vulkan, reason, capacity);
    if (status == FG_OK) {
        status = vulkan_commands_create(vulkan);
        if (status == FG_OK) status = vulkan_pipelines_create(vulkan);
        if (status != FG_OK) snprintf(reason, capacity, "%s", vulkan->last_error);
    }
    if (status != FG_OK) {
        vulkan_destroy(vulkan);
        return status;
    }
    vulkan->measuring = 1;
    vulkan_costs_measure(vulkan);
    vulkan->measuring = 0;
    if (vulkan->lost || vulkan->figures.matmul_flops_per_second[FG_F32] <= 0) {
        snprintf(reason, capacity, "%s failed its first measurements: %s", vulkan->name, vulkan->last_error);
        vulkan_destroy(vulkan);
        return FG_ERR_DEVICE;
    }
    char workgroup[160] = "";
    for (int c = 0; c < VULKAN_WORKGROUP_CONFIG_COUNT; c++)
        if (vulkan->has_workgroup_config[c]) {
            size_t used = strlen(workgroup);
            snprintf(workgroup + used, sizeof workgroup - used, "%s%s", used ? ", " : "",
                     vulkan_workgroup_configs[c].name + strlen("workgroup-"));
        }
    snprintf(reason, capacity, "Vulkan %u.%u, %s; f16/bf16 %s; cooperative matrices %s; workgroup cooperative matrices %s%s%s; "
             "skinny matmul %s (subgroups of %u%s)",
             VK_API_VERSION_MAJOR(vulkan->properties.apiVersion), VK_API_VERSION_MINOR(vulkan->properties.apiVersion),
             vulkan->driver, vulkan->has_16bit_storage ? "yes" : "no (no 16-bit storage)",
             vulkan->has_cooperative ? "yes (f16)" : "no", vulkan->has_workgroup_cooperative ? "yes (f16: " : "no",
             workgroup, vulkan->has_workgroup_cooperative ? ")" : "", vulkan->has_subgroup_arithmetic ? "yes" : "no",
             vulkan->subgroup_size, vulkan->has_subgroup_arithmetic ? "" : ", no subgroup arithmetic in compute");
    vulkan_log(vulkan, FG_LOG_INFO, "[vulkan] %s: %s", vulkan->name, reason);
    *out_state = vulkan;
    return FG_OK;
}

static void vulkan_describe(void *state, char *name, size_t capacity)
{
    snprintf(name, capacity, "%s", ((vulkan_backend *)state)->name);
}

static void vulkan_cost_figures(void *state, fg_cost_figures *out) { *out = ((vulkan_backend *)state)->figures; }

/* 80% of the device-local heap (of what VK_EXT_memory_budget says is left to this process, when the
 * driver has it): room for the driver, other processes and the staging buffer. */
static size_t vulkan_default_budget(void *state)
{
    vulkan_backend *vulkan = state;
    VkPhysicalDeviceMemoryBudgetPropertiesEXT budget = {.sType = VK_STRUCTURE_TYPE_PHYSICAL_DEVICE_MEMORY_BUDGET_PROPERTIES_EXT};
    VkPhysicalDeviceMemoryProperties2 memory = {.sType = VK_STRUCTURE_TYPE_PHYSICAL_DEVICE_MEMORY_PROPERTIES_2,
                                                .pNext = vulkan->has_memory_budget ? &budget : NULL};
    vulkan->vk.vkGetPhysicalDeviceMemoryProperties2(vulkan->physical_device, &memory);
    VkDeviceSize heap = memory.memoryProperties.memoryHeaps[vulkan->device_heap].size;
    if (vulkan->has_memory_budget && budget.heapBudget[vulkan->device_heap] > 0) heap = budget.heapBudget[vulkan->device_heap];
    return (size_t)(heap / 10 * 8);
}

static fg_status vulkan_allocate(void *state, size_t bytes, void **out_buffer)
{
    vulkan_backend *vulkan = state;
    *out_buffer = NULL;
    fg_status status = enter(vulkan, "allocate", "allocate");
    if (status != FG_OK) return status;
    vulkan_buffer *buffer = calloc(1, sizeof *buffer);
    if (!buffer) return leave(vulkan, vulkan_fail(vulkan, FG_ERR_OUT_OF_MEMORY, "[vulkan allocate] out of host memory"));
    status = vulkan_buffer_create(vulkan, bytes, 0, buffer);
    if (status != FG_OK) free(buffer);
    else *out_buffer = buffer;
    return leave(vulkan, status);
}

static void vulkan_release(void *state, void *buffer)
{
    vulkan_backend *vulkan = state;
    if (!buffer) return;
    pthread_mutex_lock(&vulkan->lock);
    /* Recorded or running commands may still use it: let them finish first (the pool caches buffers,
     * so this is rare). A lost device runs nothing any more. */
    if (!vulkan->lost) vulkan_submit(vulkan, 1, "release");
    vulkan_buffer_destroy(vulkan, buffer);
    free(buffer);
    pthread_mutex_unlock(&vulkan->lock);
}

static fg_status vulkan_upload(void *state, void *buffer, const void *host_data, size_t bytes)
{
    fg_status status = enter(state, "upload", "upload");
    if (status != FG_OK) return status;
    return leave(state, vulkan_upload_locked(state, buffer, host_data, bytes));
}

static fg_status vulkan_download(void *state, void *host_data, const void *buffer, size_t bytes)
{
    fg_status status = enter(state, "download", "download");
    if (status != FG_OK) return status;
    return leave(state, vulkan_download_locked(state, host_data, buffer, bytes));
}

static int vulkan_supports(void *state, const fg_node_desc *node)
{
    vulkan_backend *vulkan = state;
    pthread_mutex_lock(&vulkan->lock);
    int supported = !vulkan->lost && vulkan_supports_node(vulkan, node, 1);
    pthread_mutex_unlock(&vulkan->lock);
    return supported;
}

static fg_status vulkan_run(void *state, const fg_node_desc *node, void *const *inputs, void *output)
{
    vulkan_backend *vulkan = state;
    const char *op = (unsigned)node->op < FG_OP_COUNT ? vulkan_op_name(node->op) : "run";
    fg_status status = enter(vulkan, op, "run");
    if (status != FG_OK) return status;
    if (!vulkan_supports_node(vulkan, node, 0))
        return leave(vulkan, vulkan_fail(vulkan, FG_ERR_UNSUPPORTED, "[vulkan %s] not supported on %s (%s)", op,
                                         vulkan->name, vulkan_dtype_name(node->dtype)));
    return leave(vulkan, vulkan_record_node(vulkan, node, (vulkan_buffer *const *)inputs, output, -1));
}

static fg_status vulkan_synchronize(void *state)
{
    vulkan_backend *vulkan = state;
    fg_status status = enter(vulkan, "synchronize", NULL);
    if (status != FG_OK) return status;
    status = vulkan_submit(vulkan, 1, "synchronize");
    if (status == FG_OK && injected(vulkan, "sync"))
        status = vulkan_fail(vulkan, FG_ERR_DEVICE, "[vulkan synchronize] injected failure of sync (FUSEGRAPH_VULKAN_FAIL)");
    return leave(vulkan, status);
}

static const char *vulkan_last_error(void *state) { return ((vulkan_backend *)state)->last_error; }

static fg_status vulkan_choose_implementation(void *state, const fg_node_desc *node, char *name, size_t capacity,
                                              double *out_measured_seconds)
{
    vulkan_backend *vulkan = state;
    *out_measured_seconds = 0;
    fg_status status = enter(vulkan, "choose_implementation", NULL);
    if (status != FG_OK) return status;
    vulkan_implementation_name(vulkan, node, name, capacity);
    return leave(vulkan, FG_OK);
}

__attribute__((visibility("default"))) const fg_backend_interface *fusegraph_backend_entry(void)
{
    static const fg_backend_interface interface = {
        FG_BACKEND_ABI_VERSION, "vulkan", vulkan_create, vulkan_destroy, vulkan_describe, vulkan_cost_figures,
        vulkan_default_budget, vulkan_allocate, vulkan_release, vulkan_upload, vulkan_download, vulkan_supports,
        vulkan_run, vulkan_synchronize, vulkan_last_error, vulkan_choose_implementation, NULL /* transfers: the line */
    };
    return &interface;
}
