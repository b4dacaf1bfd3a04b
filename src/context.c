/*
 * context.c — finding, loading and initialising backends.
 *
 * The CPU is device 0 and always ready. Every other backend is a module libfusegraph-backend-NAME.so,
 * looked for in each folder of $FUSEGRAPH_BACKEND_PATH, then beside the fusegraph library (or program)
 * itself, then in the install folder. A module that is absent, fails to load (a missing driver or
 * library shows in dlerror's text), or whose create() fails is kept in the device list, not ready, with
 * the reason — `fusegraph info` prints it — and the CPU runs everything.
 */
#define _GNU_SOURCE
#include "context.h"
#include "internal.h"

#include <dlfcn.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#ifndef FUSEGRAPH_MODULE_INSTALL_DIR
#define FUSEGRAPH_MODULE_INSTALL_DIR ""
#endif

static const char *const default_backends[] = {"cuda", "vulkan"};

static const char *environment_variable(const char *name) { return getenv(name); }

/* The context's settings first (NAME=VALUE entries separated by zeros), then the environment. */
static const char *context_setting(const fg_backend_host *host, const char *name)
{
    const fg_context *context = host->context;
    size_t name_length = strlen(name);
    for (size_t at = 0; at < context->settings_length; at += strlen(context->settings + at) + 1) {
        const char *entry = context->settings + at;
        if (strncmp(entry, name, name_length) == 0 && entry[name_length] == '=') return entry + name_length + 1;
    }
    return getenv(name);
}

/* Folder of the file that holds this code (libfusegraph.so, or a program that links it statically). */
static void own_folder(char *folder, size_t capacity)
{
    Dl_info info;
    folder[0] = 0;
    if (dladdr((void *)own_folder, &info) && info.dli_fname) {
        snprintf(folder, capacity, "%s", info.dli_fname);
        char *slash = strrchr(folder, '/');
        if (slash) *slash = 0;
        else snprintf(folder, capacity, ".");
    }
}

/* Tries each folder in a colon-separated list; on success returns the dlopen handle. Accumulates what
 * was tried, and the first dlerror of a file that exists but would not load, into reason. */
static void *open_module(const char *name, char *reason, size_t capacity)
{
    char folders[4096], own[1024];
    own_folder(own, sizeof own);
    const char *environment = getenv("FUSEGRAPH_BACKEND_PATH");
    snprintf(folders, sizeof folders, "%s%s%s:%s", environment ? environment : "", environment ? ":" : "", own,
             FUSEGRAPH_MODULE_INSTALL_DIR);
    char load_error[512] = "";
    for (char *save = NULL, *folder = strtok_r(folders, ":", &save); folder; folder = strtok_r(NULL, ":", &save)) {
        if (!*folder) continue;
        char path[1200];
        snprintf(path, sizeof path, "%s/libfusegraph-backend-%s.so", folder, name);
        FILE *exists = fopen(path, "rb");
        if (!exists) continue;
        fclose(exists);
        void *handle = dlopen(path, RTLD_NOW | RTLD_LOCAL);
        if (handle) return handle;
        if (!load_error[0]) snprintf(load_error, sizeof load_error, "%s", dlerror());
    }
    if (load_error[0]) snprintf(reason, capacity, "module failed to load (missing library?): %s", load_error);
    else snprintf(reason, capacity, "module libfusegraph-backend-%s.so not found (not built, or not on FUSEGRAPH_BACKEND_PATH)", name);
    return NULL;
}

static fg_status start_device(fg_context *context, fg_device *device, const fg_backend_interface *interface,
                              size_t budget)
{
    char reason[sizeof device->info.reason] = "";
    device->interface = interface;
    fg_status status = interface->create(&context->host, &device->state, reason, sizeof reason);
    snprintf(device->info.reason, sizeof device->info.reason, "%s", reason);
    if (status != FG_OK) {
        device->state = NULL;
        return status;
    }
    interface->describe(device->state, device->info.name, sizeof device->info.name);
    interface->cost_figures(device->state, &device->info.cost);
    fg_allocator allocator = {device->state, interface->allocate, interface->release};
    size_t pool_budget = budget ? budget : interface->default_budget(device->state);
    status = fg_pool_create(allocator, pool_budget, FG_POOL_MAX_WASTE, &device->pool);
    if (status != FG_OK) {
        interface->destroy(device->state);
        device->state = NULL;
        snprintf(device->info.reason, sizeof device->info.reason, "cannot create its buffer pool");
        return status;
    }
    device->info.ready = 1;
    (void)context;
    return FG_OK;
}

static void load_backend(fg_context *context, const char *name, size_t budget)
{
    for (int i = 0; i < context->device_count; i++)
        if (strcmp(context->devices[i].info.backend, name) == 0) return; /* listed twice */
    if (context->device_count >= FG_MAX_DEVICES) {
        fg_log(FG_LOG_WARN, "[context] backend %s ignored: at most %d devices", name, FG_MAX_DEVICES);
        return;
    }
    fg_device *device = &context->devices[context->device_count++];
    memset(device, 0, sizeof *device);
    snprintf(device->info.backend, sizeof device->info.backend, "%s", name);
    device->module = open_module(name, device->info.reason, sizeof device->info.reason);
    if (!device->module) {
        fg_log(FG_LOG_INFO, "[context] backend %s not available: %s", name, device->info.reason);
        return;
    }
    fg_backend_entry_fn entry = (fg_backend_entry_fn)dlsym(device->module, FG_BACKEND_ENTRY_SYMBOL);
    const fg_backend_interface *interface = entry ? entry() : NULL;
    if (!interface || interface->abi_version != FG_BACKEND_ABI_VERSION) {
        snprintf(device->info.reason, sizeof device->info.reason, "module has no %s of ABI version %d",
                 FG_BACKEND_ENTRY_SYMBOL, FG_BACKEND_ABI_VERSION);
    } else if (start_device(context, device, interface, budget) == FG_OK) {
        fg_log(FG_LOG_INFO, "[context] backend %s ready: %s (%s)", name, device->info.name, device->info.reason);
        return;
    }
    fg_log(FG_LOG_INFO, "[context] backend %s not ready: %s", name, device->info.reason);
    device->interface = NULL;
    dlclose(device->module);
    device->module = NULL;
}

static void load_list(fg_context *context, const char *list, size_t budget)
{
    if (!list) return;
    char copy[512];
    snprintf(copy, sizeof copy, "%s", list);
    for (char *save = NULL, *name = strtok_r(copy, ", ", &save); name; name = strtok_r(NULL, ", ", &save))
        load_backend(context, name, budget);
}

fg_status fg_context_create(const fg_context_options *options, fg_context **out_context)
{
    if (!out_context) return fg_fail(FG_ERR_INVALID_ARGUMENT, "[context_create] out_context is NULL");
    fg_context_options defaults = {0};
    if (!options) options = &defaults;
    fg_context *context = calloc(1, sizeof *context);
    if (!context) return fg_fail(FG_ERR_OUT_OF_MEMORY, "[context_create] out of host memory");
    context->host = (fg_backend_host){fg_log_message, environment_variable, context_setting, context};
    if (options->settings) {
        size_t length = strlen(options->settings);
        if (length >= sizeof context->settings) {
            free(context);
            return fg_fail(FG_ERR_INVALID_ARGUMENT, "[context_create] settings are %zu characters, at most %zu",
                           length, sizeof context->settings - 1);
        }
        memcpy(context->settings, options->settings, length + 1);
        for (size_t i = 0; i < length; i++)
            if (context->settings[i] == ';') context->settings[i] = 0;
        context->settings_length = length;
    }
    fg_device *cpu = &context->devices[context->device_count++];
    snprintf(cpu->info.backend, sizeof cpu->info.backend, "cpu");
    fg_status status = start_device(context, cpu, fg_cpu_backend_interface(), options->pool_budget_bytes);
    if (status != FG_OK) {
        status = fg_fail(status, "[context_create] the CPU backend failed to start: %s", cpu->info.reason);
        free(context);
        return status;
    }
    if (!options->cpu_only) {
        for (size_t i = 0; i < sizeof default_backends / sizeof *default_backends; i++)
            load_backend(context, default_backends[i], options->pool_budget_bytes);
    }
    load_list(context, options->extra_backends, options->pool_budget_bytes);
    load_list(context, getenv("FUSEGRAPH_BACKENDS"), options->pool_budget_bytes);
    *out_context = context;
    return FG_OK;
}

void fg_context_destroy(fg_context *context)
{
    if (!context) return;
    for (int i = context->device_count - 1; i >= 0; i--) {
        fg_device *device = &context->devices[i];
        fg_pool_destroy(device->pool);
        if (device->interface && device->state) device->interface->destroy(device->state);
        if (device->module) dlclose(device->module);
    }
    free(context);
}

int fg_context_device_count(const fg_context *context) { return context ? context->device_count : 0; }

fg_status fg_context_device_info(const fg_context *context, int device_index, fg_device_info *out_info)
{
    if (!context || !out_info) return fg_fail(FG_ERR_INVALID_ARGUMENT, "[device_info] context or out_info is NULL");
    if (device_index < 0 || device_index >= context->device_count)
        return fg_fail(FG_ERR_INVALID_ARGUMENT, "[device_info] device %d does not exist (%d devices)", device_index,
                       context->device_count);
    *out_info = context->devices[device_index].info;
    return FG_OK;
}

fg_status fg_context_pool_statistics(fg_context *context, int device_index, fg_pool_statistics *out_statistics)
{
    if (!context || !out_statistics)
        return fg_fail(FG_ERR_INVALID_ARGUMENT, "[pool_statistics] context or out_statistics is NULL");
    if (device_index < 0 || device_index >= context->device_count || !context->devices[device_index].pool)
        return fg_fail(FG_ERR_INVALID_ARGUMENT, "[pool_statistics] device %d has no pool", device_index);
    fg_pool_read_statistics(context->devices[device_index].pool, out_statistics);
    return FG_OK;
}

void fg_context_trim(fg_context *context)
{
    for (int i = 0; context && i < context->device_count; i++) fg_pool_trim(context->devices[i].pool);
}
