/*
 * vulkan_device.c — choosing and opening the device (vulkan_instance.c loads the loader and creates the
 * instance first).
 *
 * Device choice: FUSEGRAPH_VULKAN_DEVICE (a setting: context options first, then the environment) is
 * either an index into the enumerated devices or a case-insensitive part of a device name; a value that
 * matches no device fails create() with the list of devices. Without it the first device of the best
 * type wins: discrete GPU, then integrated, then virtual, then CPU (lavapipe), then anything else.
 * Every candidate needs Vulkan 1.1 and a compute queue. The device enables VK_KHR_portability_subset
 * when it lists it (MoltenVK), as the spec requires.
 */
#define _GNU_SOURCE /* strcasestr */
#include "vulkan_backend.h"
#include "vulkan_spirv.h"

#include <dlfcn.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#define MAX_DEVICES 16
#define MAX_EXTENSIONS 512

static int type_rank(VkPhysicalDeviceType type)
{
    switch (type) {
    case VK_PHYSICAL_DEVICE_TYPE_DISCRETE_GPU: return 0;
    case VK_PHYSICAL_DEVICE_TYPE_INTEGRATED_GPU: return 1;
    case VK_PHYSICAL_DEVICE_TYPE_VIRTUAL_GPU: return 2;
    case VK_PHYSICAL_DEVICE_TYPE_CPU: return 3;
    default: return 4;
    }
}

static const char *type_name(VkPhysicalDeviceType type)
{
    static const char *const names[] = {"other", "integrated GPU", "discrete GPU", "virtual GPU", "CPU"};
    return (unsigned)type < 5 ? names[type] : "other";
}

static int has_extension(const VkExtensionProperties *extensions, uint32_t count, const char *name)
{
    for (uint32_t i = 0; i < count; i++)
        if (strcmp(extensions[i].extensionName, name) == 0) return 1;
    return 0;
}

/* The compute queue family of device, or -1. */
static int compute_family(vulkan_backend *vulkan, VkPhysicalDevice device)
{
    uint32_t count = 16;
    VkQueueFamilyProperties families[16];
    vulkan->vk.vkGetPhysicalDeviceQueueFamilyProperties(device, &count, families);
    for (uint32_t i = 0; i < count; i++)
        if (families[i].queueFlags & VK_QUEUE_COMPUTE_BIT) return (int)i;
    return -1;
}

/* Picks a physical device: the setting's choice, or the best type. */
static fg_status choose_device(vulkan_backend *vulkan, char *reason, size_t capacity)
{
    vulkan_functions *vk = &vulkan->vk;
    VkPhysicalDevice devices[MAX_DEVICES];
    uint32_t count = MAX_DEVICES;
    VkResult result = vk->vkEnumeratePhysicalDevices(vulkan->instance, &count, devices);
    if (result < 0) count = 0;
    char list[512] = "";
    int best = -1, best_rank = 99;
    const char *wanted = vulkan_setting(vulkan, "FUSEGRAPH_VULKAN_DEVICE");
    char *end = NULL;
    long wanted_index = wanted && *wanted ? strtol(wanted, &end, 10) : -1;
    int by_index = wanted && *wanted && end && *end == 0;
    for (uint32_t i = 0; i < count; i++) {
        VkPhysicalDeviceProperties properties;
        vk->vkGetPhysicalDeviceProperties(devices[i], &properties);
        size_t used = strlen(list);
        snprintf(list + used, sizeof list - used, "%s%u: %s (%s)", i ? ", " : "", i, properties.deviceName,
                 type_name(properties.deviceType));
        int usable = properties.apiVersion >= VK_API_VERSION_1_1 && compute_family(vulkan, devices[i]) >= 0;
        if (wanted && *wanted) {
            int match = by_index ? (long)i == wanted_index : strcasestr(properties.deviceName, wanted) != NULL;
            if (match && usable && best < 0) best = (int)i;
            continue;
        }
        if (usable && type_rank(properties.deviceType) < best_rank) {
            best = (int)i;
            best_rank = type_rank(properties.deviceType);
        }
    }
    if (best < 0 && wanted && *wanted) {
        snprintf(reason, capacity, "FUSEGRAPH_VULKAN_DEVICE=%s matches no usable Vulkan device (devices: %s)", wanted,
                 count ? list : "none");
        return FG_ERR_NOT_FOUND;
    }
    if (best < 0) {
        snprintf(reason, capacity, "no Vulkan device with compute queue%s%s%s", count ? " (devices: " : "",
                 count ? list : "", count ? ")" : "");
        return FG_ERR_NOT_FOUND;
    }
    vulkan->physical_device = devices[best];
    vulkan->queue_family = (uint32_t)compute_family(vulkan, devices[best]);
    vk->vkGetPhysicalDeviceProperties(devices[best], &vulkan->properties);
    if (vulkan->properties.apiVersion < vulkan->api_version) vulkan->api_version = vulkan->properties.apiVersion;
    return FG_OK;
}

/* Whether the device offers the cooperative configuration matmul_cooperative.comp is written for. */
static int cooperative_configuration(vulkan_backend *vulkan)
{
    PFN_vkGetPhysicalDeviceCooperativeMatrixPropertiesKHR get = (PFN_vkGetPhysicalDeviceCooperativeMatrixPropertiesKHR)
        vulkan->vk.vkGetInstanceProcAddr(vulkan->instance, "vkGetPhysicalDeviceCooperativeMatrixPropertiesKHR");
    if (!get) return 0;
    uint32_t count = 0;
    if (get(vulkan->physical_device, &count, NULL) != VK_SUCCESS || count == 0) return 0;
    VkCooperativeMatrixPropertiesKHR *list = calloc(count, sizeof *list);
    if (!list) return 0;
    for (uint32_t i = 0; i < count; i++) list[i].sType = VK_STRUCTURE_TYPE_COOPERATIVE_MATRIX_PROPERTIES_KHR;
    int found = 0;
    if (get(vulkan->physical_device, &count, list) == VK_SUCCESS)
        for (uint32_t i = 0; i < count && !found; i++)
            found = list[i].MSize == 16 && list[i].NSize == 16 && list[i].KSize == 16 &&
                    list[i].AType == VK_COMPONENT_TYPE_FLOAT16_KHR && list[i].BType == VK_COMPONENT_TYPE_FLOAT16_KHR &&
                    list[i].CType == VK_COMPONENT_TYPE_FLOAT32_KHR && list[i].ResultType == VK_COMPONENT_TYPE_FLOAT32_KHR &&
                    list[i].scope == VK_SCOPE_SUBGROUP_KHR;
    free(list);
    vulkan->vk.vkGetPhysicalDeviceCooperativeMatrixPropertiesKHR = get;
    return found;
}

/* Which tiles of matmul_workgroup.comp the device can run. VK_NV_cooperative_matrix2 lists workgroup-scope
 * configurations by workgroup size and M, N, K granularities: any matrix sizes that are multiples of them
 * (up to max_dimension) work. A tile needs an f16 x f16 + f32 -> f32 configuration of its workgroup size
 * whose granularities divide its matrices (TILE_M x TILE_K, TILE_K x TILE_N / n_parts). */
static void workgroup_configurations(vulkan_backend *vulkan, uint32_t max_dimension, uint32_t max_workgroup)
{
    PFN_vkGetPhysicalDeviceCooperativeMatrixFlexibleDimensionsPropertiesNV get =
        (PFN_vkGetPhysicalDeviceCooperativeMatrixFlexibleDimensionsPropertiesNV)vulkan->vk.vkGetInstanceProcAddr(
            vulkan->instance, "vkGetPhysicalDeviceCooperativeMatrixFlexibleDimensionsPropertiesNV");
    uint32_t count = 0;
    if (!get || get(vulkan->physical_device, &count, NULL) != VK_SUCCESS || count == 0) return;
    VkCooperativeMatrixFlexibleDimensionsPropertiesNV *list = calloc(count, sizeof *list);
    if (!list) return;
    for (uint32_t i = 0; i < count; i++) list[i].sType = VK_STRUCTURE_TYPE_COOPERATIVE_MATRIX_FLEXIBLE_DIMENSIONS_PROPERTIES_NV;
    if (get(vulkan->physical_device, &count, list) == VK_SUCCESS) {
        char listed[512] = "";
        for (uint32_t i = 0; i < count; i++) {
            const VkCooperativeMatrixFlexibleDimensionsPropertiesNV *p = &list[i];
            if (p->scope != VK_SCOPE_WORKGROUP_KHR || p->AType != VK_COMPONENT_TYPE_FLOAT16_KHR ||
                p->CType != VK_COMPONENT_TYPE_FLOAT32_KHR)
                continue;
            size_t used = strlen(listed);
            snprintf(listed + used, sizeof listed - used, "%s%u invocations M %u N %u K %u", used ? "; " : "",
                     p->workgroupInvocations, p->MGranularity, p->NGranularity, p->KGranularity);
        }
        vulkan_log(vulkan, FG_LOG_INFO, "[vulkan] %s: workgroup-scope f16 x f16 + f32 cooperative matrices (max dimension %u, "
                   "max workgroup %u): %s", vulkan->name, max_dimension, max_workgroup, listed[0] ? listed : "none");
        for (int c = 0; c < VULKAN_WORKGROUP_CONFIG_COUNT; c++) {
            const vulkan_workgroup_config *config = &vulkan_workgroup_configs[c];
            const uint32_t part_n = config->tile_n / config->n_parts; /* the B and accumulator matrices' width */
            if (config->tile_m > max_dimension || part_n > max_dimension || config->tile_k > max_dimension ||
                config->invocations > max_workgroup)
                continue;
            for (uint32_t i = 0; i < count && !vulkan->has_workgroup_config[c]; i++) {
                const VkCooperativeMatrixFlexibleDimensionsPropertiesNV *p = &list[i];
                vulkan->has_workgroup_config[c] =
                    p->scope == VK_SCOPE_WORKGROUP_KHR && p->workgroupInvocations == config->invocations &&
                    p->AType == VK_COMPONENT_TYPE_FLOAT16_KHR && p->BType == VK_COMPONENT_TYPE_FLOAT16_KHR &&
                    p->CType == VK_COMPONENT_TYPE_FLOAT32_KHR && p->ResultType == VK_COMPONENT_TYPE_FLOAT32_KHR &&
                    p->MGranularity && p->NGranularity && p->KGranularity && config->tile_m % p->MGranularity == 0 &&
                    part_n % p->NGranularity == 0 && config->tile_k % p->KGranularity == 0;
            }
            vulkan->has_workgroup_cooperative |= vulkan->has_workgroup_config[c];
        }
    }
    free(list);
}

/* Reads features and limits, then creates the device with what the shaders need. */
static fg_status create_device(vulkan_backend *vulkan, char *reason, size_t capacity)
{
    vulkan_functions *vk = &vulkan->vk;
    uint32_t count = MAX_EXTENSIONS;
    VkExtensionProperties *extensions = calloc(MAX_EXTENSIONS, sizeof *extensions);
    if (!extensions) return FG_ERR_OUT_OF_MEMORY;
    if (vk->vkEnumerateDeviceExtensionProperties(vulkan->physical_device, NULL, &count, extensions) < 0) count = 0;
    int portability = has_extension(extensions, count, VK_KHR_PORTABILITY_SUBSET_EXTENSION_NAME);
    int cooperative_extension = has_extension(extensions, count, VK_KHR_COOPERATIVE_MATRIX_EXTENSION_NAME);
    int workgroup_extension = cooperative_extension && has_extension(extensions, count, VK_NV_COOPERATIVE_MATRIX_2_EXTENSION_NAME);
    vulkan->has_memory_budget = has_extension(extensions, count, VK_EXT_MEMORY_BUDGET_EXTENSION_NAME);
    free(extensions);

    /* Features: 16-bit storage (1.1 core); f16 arithmetic, memory model, cooperative matrices (for the
     * cooperative shaders only); workgroup-scope ones and maintenance4 (the workgroup size as a
     * specialization constant, LocalSizeId) for matmul_workgroup.comp. */
    VkPhysicalDeviceMaintenance4Features maintenance4 = {.sType = VK_STRUCTURE_TYPE_PHYSICAL_DEVICE_MAINTENANCE_4_FEATURES};
    VkPhysicalDeviceCooperativeMatrix2FeaturesNV workgroup = {
        .sType = VK_STRUCTURE_TYPE_PHYSICAL_DEVICE_COOPERATIVE_MATRIX_2_FEATURES_NV, .pNext = &maintenance4};
    VkPhysicalDeviceCooperativeMatrixFeaturesKHR cooperative = {
        .sType = VK_STRUCTURE_TYPE_PHYSICAL_DEVICE_COOPERATIVE_MATRIX_FEATURES_KHR,
        .pNext = workgroup_extension && vulkan->api_version >= VK_API_VERSION_1_3 ? &workgroup : NULL};
    VkPhysicalDeviceVulkanMemoryModelFeatures memory_model = {
        .sType = VK_STRUCTURE_TYPE_PHYSICAL_DEVICE_VULKAN_MEMORY_MODEL_FEATURES,
        .pNext = cooperative_extension ? &cooperative : NULL};
    VkPhysicalDeviceShaderFloat16Int8Features float16 = {.sType = VK_STRUCTURE_TYPE_PHYSICAL_DEVICE_SHADER_FLOAT16_INT8_FEATURES,
                                                         .pNext = &memory_model};
    VkPhysicalDevice16BitStorageFeatures storage16 = {.sType = VK_STRUCTURE_TYPE_PHYSICAL_DEVICE_16BIT_STORAGE_FEATURES,
                                                      .pNext = vulkan->api_version >= VK_API_VERSION_1_2 ? &float16 : NULL};
    VkPhysicalDeviceFeatures2 features = {.sType = VK_STRUCTURE_TYPE_PHYSICAL_DEVICE_FEATURES_2, .pNext = &storage16};
    vk->vkGetPhysicalDeviceFeatures2(vulkan->physical_device, &features);
    vulkan->has_16bit_storage = storage16.storageBuffer16BitAccess == VK_TRUE;

    VkPhysicalDeviceCooperativeMatrix2PropertiesNV workgroup_properties = {
        .sType = VK_STRUCTURE_TYPE_PHYSICAL_DEVICE_COOPERATIVE_MATRIX_2_PROPERTIES_NV};
    VkPhysicalDeviceSubgroupProperties subgroup = {.sType = VK_STRUCTURE_TYPE_PHYSICAL_DEVICE_SUBGROUP_PROPERTIES,
                                                   .pNext = workgroup_extension ? &workgroup_properties : NULL};
    VkPhysicalDeviceMaintenance3Properties maintenance3 = {.sType = VK_STRUCTURE_TYPE_PHYSICAL_DEVICE_MAINTENANCE_3_PROPERTIES,
                                                           .pNext = &subgroup};
    VkPhysicalDeviceDriverProperties driver = {.sType = VK_STRUCTURE_TYPE_PHYSICAL_DEVICE_DRIVER_PROPERTIES,
                                               .pNext = &maintenance3};
    VkPhysicalDeviceProperties2 properties = {.sType = VK_STRUCTURE_TYPE_PHYSICAL_DEVICE_PROPERTIES_2,
                                              .pNext = vulkan->api_version >= VK_API_VERSION_1_2 ? (void *)&driver
                                                                                                          : (void *)&maintenance3};
    vk->vkGetPhysicalDeviceProperties2(vulkan->physical_device, &properties);
    vulkan->subgroup_size = subgroup.subgroupSize;
    /* matmul_skinny.comp reduces with subgroupAdd; Vulkan 1.1 promises only basic subgroup operations */
    vulkan->has_subgroup_arithmetic = (subgroup.supportedOperations & VK_SUBGROUP_FEATURE_ARITHMETIC_BIT) &&
                                      (subgroup.supportedStages & VK_SHADER_STAGE_COMPUTE_BIT) && subgroup.subgroupSize > 0;
    vulkan->max_binding_bytes = vulkan->properties.limits.maxStorageBufferRange;
    vulkan->max_allocation_bytes = maintenance3.maxMemoryAllocationSize ? maintenance3.maxMemoryAllocationSize : (1ull << 31);
    snprintf(vulkan->name, sizeof vulkan->name, "%s", vulkan->properties.deviceName);
    if (driver.driverName[0])
        snprintf(vulkan->driver, sizeof vulkan->driver, "%.40s %.50s", driver.driverName, driver.driverInfo);
    else
        snprintf(vulkan->driver, sizeof vulkan->driver, "driver 0x%x", vulkan->properties.driverVersion);

    int cooperative_basics = cooperative_extension && cooperative.cooperativeMatrix && float16.shaderFloat16 &&
                             memory_model.vulkanMemoryModel && vulkan->has_16bit_storage &&
                             vulkan->api_version >= VK_API_VERSION_1_3 &&
                             !vulkan_setting(vulkan, "FUSEGRAPH_VULKAN_NO_COOPERATIVE");
    vulkan->has_cooperative = VULKAN_HAVE_COOPERATIVE_SHADER && cooperative_basics && vulkan->subgroup_size == 32 &&
                              vulkan->properties.limits.maxComputeSharedMemorySize >= 35328 && /* the shader's panels and scratch */
                              cooperative_configuration(vulkan);
    if (VULKAN_HAVE_WORKGROUP_SHADER && cooperative_basics && workgroup_extension && workgroup.cooperativeMatrixWorkgroupScope &&
        workgroup.cooperativeMatrixFlexibleDimensions && workgroup.cooperativeMatrixPerElementOperations &&
        workgroup.cooperativeMatrixTensorAddressing && maintenance4.maintenance4)
        workgroup_configurations(vulkan, workgroup_properties.cooperativeMatrixFlexibleDimensionsMaxDimension,
                                 workgroup_properties.cooperativeMatrixWorkgroupScopeMaxWorkgroupSize);
    int any_cooperative = vulkan->has_cooperative || vulkan->has_workgroup_cooperative;

    /* Enable only what is used. */
    VkPhysicalDeviceMaintenance4Features enable_maintenance4 = {
        .sType = VK_STRUCTURE_TYPE_PHYSICAL_DEVICE_MAINTENANCE_4_FEATURES, .maintenance4 = VK_TRUE};
    VkPhysicalDeviceCooperativeMatrix2FeaturesNV enable_workgroup = {
        .sType = VK_STRUCTURE_TYPE_PHYSICAL_DEVICE_COOPERATIVE_MATRIX_2_FEATURES_NV, .pNext = &enable_maintenance4,
        .cooperativeMatrixWorkgroupScope = VK_TRUE, .cooperativeMatrixFlexibleDimensions = VK_TRUE,
        .cooperativeMatrixPerElementOperations = VK_TRUE, .cooperativeMatrixTensorAddressing = VK_TRUE};
    VkPhysicalDeviceCooperativeMatrixFeaturesKHR enable_cooperative = {
        .sType = VK_STRUCTURE_TYPE_PHYSICAL_DEVICE_COOPERATIVE_MATRIX_FEATURES_KHR,
        .pNext = vulkan->has_workgroup_cooperative ? &enable_workgroup : NULL, .cooperativeMatrix = VK_TRUE};
    VkPhysicalDeviceVulkanMemoryModelFeatures enable_memory_model = {
        .sType = VK_STRUCTURE_TYPE_PHYSICAL_DEVICE_VULKAN_MEMORY_MODEL_FEATURES, .pNext = &enable_cooperative,
        .vulkanMemoryModel = VK_TRUE};
    VkPhysicalDeviceShaderFloat16Int8Features enable_float16 = {
        .sType = VK_STRUCTURE_TYPE_PHYSICAL_DEVICE_SHADER_FLOAT16_INT8_FEATURES, .pNext = &enable_memory_model,
        .shaderFloat16 = VK_TRUE};
    VkPhysicalDevice16BitStorageFeatures enable_storage16 = {
        .sType = VK_STRUCTURE_TYPE_PHYSICAL_DEVICE_16BIT_STORAGE_FEATURES,
        .pNext = any_cooperative ? &enable_float16 : NULL, .storageBuffer16BitAccess = VK_TRUE};
    const char *enabled[3];
    uint32_t enabled_count = 0;
    if (portability) enabled[enabled_count++] = VK_KHR_PORTABILITY_SUBSET_EXTENSION_NAME;
    if (any_cooperative) enabled[enabled_count++] = VK_KHR_COOPERATIVE_MATRIX_EXTENSION_NAME;
    if (vulkan->has_workgroup_cooperative) enabled[enabled_count++] = VK_NV_COOPERATIVE_MATRIX_2_EXTENSION_NAME;
    float priority = 1.0f;
    VkDeviceQueueCreateInfo queue = {.sType = VK_STRUCTURE_TYPE_DEVICE_QUEUE_CREATE_INFO, .queueFamilyIndex = vulkan->queue_family,
                                     .queueCount = 1, .pQueuePriorities = &priority};
    VkDeviceCreateInfo info = {.sType = VK_STRUCTURE_TYPE_DEVICE_CREATE_INFO,
                               .pNext = vulkan->has_16bit_storage ? &enable_storage16 : NULL, .queueCreateInfoCount = 1,
                               .pQueueCreateInfos = &queue, .enabledExtensionCount = enabled_count,
                               .ppEnabledExtensionNames = enabled};
    VkResult result = vk->vkCreateDevice(vulkan->physical_device, &info, NULL, &vulkan->device);
    if (result != VK_SUCCESS) {
        snprintf(reason, capacity, "vkCreateDevice failed on %s: %s", vulkan->name, vulkan_result_name(result));
        return FG_ERR_DEVICE;
    }
#define LOAD_DEVICE(name)                                                                                  \
    if (!(vk->name = (PFN_##name)vk->vkGetDeviceProcAddr(vulkan->device, #name))) {                        \
        snprintf(reason, capacity, "Vulkan device lacks " #name);                                         \
        return FG_ERR_NOT_FOUND;                                                                           \
    }
    VULKAN_DEVICE_FUNCTIONS(LOAD_DEVICE)
    vk->vkGetDeviceQueue(vulkan->device, vulkan->queue_family, 0, &vulkan->queue);
    return FG_OK;
}

/* Memory types: device-local for tensors (host-visible allowed: unified memory), host-visible coherent
 * (cached preferred: downloads read it) for staging; the device-local heap sizes the budget. */
static fg_status choose_memory_types(vulkan_backend *vulkan, char *reason, size_t capacity)
{
    VkPhysicalDeviceMemoryProperties memory;
    vulkan->vk.vkGetPhysicalDeviceMemoryProperties(vulkan->physical_device, &memory);
    int device_type = -1, staging_type = -1, staging_score = -1;
    for (uint32_t i = 0; i < memory.memoryTypeCount; i++) {
        VkMemoryPropertyFlags flags = memory.memoryTypes[i].propertyFlags;
        if (device_type < 0 && (flags & VK_MEMORY_PROPERTY_DEVICE_LOCAL_BIT)) device_type = (int)i;
        VkMemoryPropertyFlags coherent = VK_MEMORY_PROPERTY_HOST_VISIBLE_BIT | VK_MEMORY_PROPERTY_HOST_COHERENT_BIT;
        if ((flags & coherent) != coherent) continue;
        int score = (flags & VK_MEMORY_PROPERTY_HOST_CACHED_BIT) ? 1 : 0;
        if (score > staging_score) staging_type = (int)i, staging_score = score;
    }
    if (device_type < 0) device_type = staging_type; /* no device-local type at all: host memory it is */
    if (device_type < 0 || staging_type < 0) {
        snprintf(reason, capacity, "%s has no host-visible coherent memory type for staging", vulkan->name);
        return FG_ERR_DEVICE;
    }
    vulkan->device_memory_type = (uint32_t)device_type;
    vulkan->staging_memory_type = (uint32_t)staging_type;
    vulkan->device_heap = memory.memoryTypes[device_type].heapIndex;
    return FG_OK;
}

fg_status vulkan_device_open(vulkan_backend *vulkan, char *reason, size_t capacity)
{
    fg_status status = vulkan_instance_open(vulkan, reason, capacity); /* vulkan_instance.c */
    if (status == FG_OK) status = choose_device(vulkan, reason, capacity);
    if (status == FG_OK) status = create_device(vulkan, reason, capacity);
    if (status == FG_OK) status = choose_memory_types(vulkan, reason, capacity);
    if (status != FG_OK) return status;
    uint32_t count = 16;
    VkQueueFamilyProperties families[16];
    vulkan->vk.vkGetPhysicalDeviceQueueFamilyProperties(vulkan->physical_device, &count, families);
    vulkan->timestamp_seconds = families[vulkan->queue_family].timestampValidBits
                                    ? (double)vulkan->properties.limits.timestampPeriod * 1e-9 : 0;
    return FG_OK;
}

void vulkan_device_close(vulkan_backend *vulkan)
{
    vulkan_functions *vk = &vulkan->vk;
    if (vulkan->device) vk->vkDestroyDevice(vulkan->device, NULL);
    if (vulkan->instance) vk->vkDestroyInstance(vulkan->instance, NULL);
    if (vulkan->library) dlclose(vulkan->library);
    vulkan->device = NULL;
    vulkan->instance = NULL;
    vulkan->library = NULL;
}
