/*
 * vulkan_instance.c — loading the Vulkan loader and creating the instance (vulkan_device.c then chooses
 * and opens the device).
 *
 * The loader is opened with dlopen ("libvulkan.so.1", then "libvulkan.so"); a machine without it gets
 * create() failing with the loader's dlerror as the reason. The instance enables
 * VK_KHR_portability_enumeration when the loader has it, so MoltenVK's devices (Apple GPUs through
 * Metal) are enumerated.
 *
 * The loader and the drivers and layers it loads stay loaded until the process ends (RTLD_NODELETE),
 * as in most Vulkan applications: unloading Mesa's lavapipe takes LLVM with it, so a second context would
 * pay for loading it again, and Mesa keeps a few process-lifetime allocations in its globals that
 * LeakSanitizer would report as leaks once the library holding those globals is gone (vulkaninfo shows
 * the same 128 bytes).
 */
#define _GNU_SOURCE /* dl_iterate_phdr */
#include "vulkan_backend.h"

#include <dlfcn.h>
#include <link.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

/* The shared objects loaded in the process, as one string of paths separated by newlines. */
static int add_object(struct dl_phdr_info *info, size_t size, void *data)
{
    (void)size;
    char *list = data;
    size_t used = strlen(list);
    if (info->dlpi_name && info->dlpi_name[0] && used + strlen(info->dlpi_name) + 2 < 16384)
        snprintf(list + used, 16384 - used, "%s\n", info->dlpi_name);
    return 0;
}

/* Keeps every object loaded since before (the drivers and layers vkCreateInstance loaded) loaded. */
static void pin_new_objects(const char *before)
{
    char *after = calloc(1, 16384);
    if (!after) return;
    dl_iterate_phdr(add_object, after);
    for (char *line = after, *end; (end = strchr(line, '\n')) != NULL; line = end + 1) {
        *end = 0;
        char needle[1024];
        snprintf(needle, sizeof needle, "%s\n", line);
        *end = '\n';
        if (strstr(before, needle)) continue;
        *end = 0;
        void *handle = dlopen(line, RTLD_NOW | RTLD_NOLOAD | RTLD_NODELETE);
        if (handle) dlclose(handle); /* NODELETE stays: the object is never unloaded */
        *end = '\n';
    }
    free(after);
}

static fg_status load_library(vulkan_backend *vulkan, char *reason, size_t capacity)
{
    vulkan->library = dlopen("libvulkan.so.1", RTLD_NOW | RTLD_LOCAL | RTLD_NODELETE);
    if (!vulkan->library) {
        char first_error[256];
        snprintf(first_error, sizeof first_error, "%s", dlerror());
        vulkan->library = dlopen("libvulkan.so", RTLD_NOW | RTLD_LOCAL | RTLD_NODELETE);
        if (!vulkan->library) {
            snprintf(reason, capacity, "Vulkan loader libvulkan.so.1 not found (%s)", first_error);
            return FG_ERR_NOT_FOUND;
        }
    }
    vulkan_functions *vk = &vulkan->vk;
    *(void **)&vk->vkGetInstanceProcAddr = dlsym(vulkan->library, "vkGetInstanceProcAddr");
    if (!vk->vkGetInstanceProcAddr) {
        snprintf(reason, capacity, "Vulkan loader has no vkGetInstanceProcAddr (%s)", dlerror());
        return FG_ERR_NOT_FOUND;
    }
    vk->vkEnumerateInstanceVersion = (PFN_vkEnumerateInstanceVersion)vk->vkGetInstanceProcAddr(NULL, "vkEnumerateInstanceVersion");
#define LOAD_GLOBAL(name)                                                                                  \
    if (!(vk->name = (PFN_##name)vk->vkGetInstanceProcAddr(NULL, #name))) {                                \
        snprintf(reason, capacity, "Vulkan loader lacks " #name);                                         \
        return FG_ERR_NOT_FOUND;                                                                           \
    }
    VULKAN_GLOBAL_FUNCTIONS(LOAD_GLOBAL)
    return FG_OK;
}

static fg_status create_instance(vulkan_backend *vulkan, char *reason, size_t capacity)
{
    vulkan_functions *vk = &vulkan->vk;
    uint32_t version = VK_API_VERSION_1_0;
    if (vk->vkEnumerateInstanceVersion) vk->vkEnumerateInstanceVersion(&version);
    if (version < VK_API_VERSION_1_1) {
        snprintf(reason, capacity, "Vulkan loader is version 1.0; fusegraph needs 1.1");
        return FG_ERR_DEVICE;
    }
    const char *enabled[1] = {"VK_KHR_portability_enumeration"};
    VkApplicationInfo application = {.sType = VK_STRUCTURE_TYPE_APPLICATION_INFO, .pApplicationName = "fusegraph",
                                     .pEngineName = "fusegraph",
                                     .apiVersion = version >= VK_API_VERSION_1_3 ? VK_API_VERSION_1_3 : VK_API_VERSION_1_1};
    vulkan->api_version = application.apiVersion; /* a device's newer core structures are off limits beyond it */
    /* Portability enumeration is asked for first and dropped when the loader lacks it (loaders before
     * 1.3.216), rather than listing the loader's extensions first: listing them loads and unloads every
     * driver once more. */
    VkInstanceCreateInfo info = {.sType = VK_STRUCTURE_TYPE_INSTANCE_CREATE_INFO, .pApplicationInfo = &application,
                                 .enabledExtensionCount = 1, .ppEnabledExtensionNames = enabled,
                                 .flags = 0x00000001 /* VK_INSTANCE_CREATE_ENUMERATE_PORTABILITY_BIT_KHR */};
    char *loaded_before = calloc(1, 16384);
    if (!loaded_before) return FG_ERR_OUT_OF_MEMORY;
    dl_iterate_phdr(add_object, loaded_before);
    VkResult result = vk->vkCreateInstance(&info, NULL, &vulkan->instance);
    if (result == VK_ERROR_EXTENSION_NOT_PRESENT) {
        info.enabledExtensionCount = 0;
        info.flags = 0;
        result = vk->vkCreateInstance(&info, NULL, &vulkan->instance);
    }
    if (result == VK_SUCCESS) pin_new_objects(loaded_before);
    free(loaded_before);
    if (result != VK_SUCCESS) {
        snprintf(reason, capacity, "vkCreateInstance failed: %s", vulkan_result_name(result));
        return FG_ERR_DEVICE;
    }
#define LOAD_INSTANCE(name)                                                                                \
    if (!(vk->name = (PFN_##name)vk->vkGetInstanceProcAddr(vulkan->instance, #name))) {                    \
        snprintf(reason, capacity, "Vulkan instance lacks " #name);                                       \
        return FG_ERR_NOT_FOUND;                                                                           \
    }
    VULKAN_INSTANCE_FUNCTIONS(LOAD_INSTANCE)
    return FG_OK;
}

fg_status vulkan_instance_open(vulkan_backend *vulkan, char *reason, size_t capacity)
{
    fg_status status = load_library(vulkan, reason, capacity);
    return status == FG_OK ? create_instance(vulkan, reason, capacity) : status;
}
