/*
 * vulkan_pipelines.c — shader modules, compute pipelines by specialization constants, matmul tile tuning.
 *
 * Every embedded SPIR-V module becomes a VkShaderModule at create (16-bit ones only where the device has
 * 16-bit storage, the cooperative one only where it has cooperative matrices). Pipelines are created on
 * first use for each (module, specialization constants) pair and kept until destroy; the constants carry
 * the matmul tile sizes, the epilogue (bias, GELU form) and the elementwise GELU form, so the driver
 * compiles each variant with everything constant. All pipelines share one layout: four storage buffers
 * (a, b, bias, out; unused ones are bound to out) and 16 bytes of push constants.
 *
 * Tile tuning. Which tile configuration is fastest depends on the device (register file, shared memory,
 * core count; a CPU running lavapipe likes small tiles), so none is assumed: on first use of a dtype and
 * epilogue, each configuration (and for f16 the cooperative shader, where it runs) multiplies two square
 * matrices of a mid size (2048 on a GPU, 256 on a CPU device) with that epilogue, the best of 3 timed
 * runs after a warm-up, and the fastest is kept. The epilogue is part of the measurement because each
 * (configuration, epilogue) pair is a pipeline the driver compiles on its own: on an H100 the 128x128
 * configuration ran the plain matmul at 28 TFLOP/s and the exact-GELU one at 1.7 (see matmul.comp), and
 * a choice measured on the plain matmul alone sent every large fused layer to it. The plain matmul of
 * each dtype is tuned at create (its rate is a cost figure); the epilogues when a plan first asks for
 * them (choose_implementation). vulkan_costs.c stores the choices in the cache file named after the
 * device, the driver and the embedded shaders, so later processes skip the measurement. A node whose
 * output gives the device too few workgroups for the chosen tile steps down to smaller tiles
 * (vulkan_tile_for_node). FUSEGRAPH_VULKAN_TILE=32x32|64x64|128x128|cooperative makes every matmul use
 * one configuration instead (tests run each; benchmarks compare them).
 */
#include "vulkan_backend.h"
#include "vulkan_spirv.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

const vulkan_tile_config vulkan_tile_configs[VULKAN_TILE_CONFIG_COUNT] = {
    /* name, tile m, n, k, per-invocation m, n: 64, 256 and 256 invocations */
    {"32x32", 32, 32, 16, 4, 4},
    {"64x64", 64, 64, 16, 4, 4},
    {"128x128", 128, 128, 8, 8, 8},
};

/* Whether config fits the device's workgroup limits and shared memory (matmul.comp's panels, or its
 * epilogue's slab of THREADS_M rows where that is larger). */
static int config_fits(const vulkan_backend *vulkan, int config)
{
    const vulkan_tile_config *c = &vulkan_tile_configs[config];
    uint32_t invocations = (c->tile_m / c->thread_m) * (c->tile_n / c->thread_n);
    uint32_t panels = c->tile_k * (c->tile_m + 1) + c->tile_k * c->tile_n, slab = c->tile_m / c->thread_m * c->tile_n;
    uint32_t shared = (panels > slab ? panels : slab) * 4;
    return invocations <= vulkan->properties.limits.maxComputeWorkGroupInvocations &&
           invocations <= vulkan->properties.limits.maxComputeWorkGroupSize[0] &&
           shared <= vulkan->properties.limits.maxComputeSharedMemorySize;
}

static const uint32_t *spirv_words(vulkan_shader shader, size_t *out_bytes)
{
#define SPIRV(name) (*out_bytes = vulkan_spirv_##name##_bytes, vulkan_spirv_##name)
    switch ((int)shader) {
    case VULKAN_SHADER_ADD + FG_F32: return SPIRV(add_f32);
    case VULKAN_SHADER_ADD + FG_F16: return SPIRV(add_f16);
    case VULKAN_SHADER_ADD + FG_BF16: return SPIRV(add_bf16);
    case VULKAN_SHADER_GELU + FG_F32: return SPIRV(gelu_f32);
    case VULKAN_SHADER_GELU + FG_F16: return SPIRV(gelu_f16);
    case VULKAN_SHADER_GELU + FG_BF16: return SPIRV(gelu_bf16);
    case VULKAN_SHADER_MATMUL + FG_F32: return SPIRV(matmul_f32);
    case VULKAN_SHADER_MATMUL + FG_F16: return SPIRV(matmul_f16);
    case VULKAN_SHADER_MATMUL + FG_BF16: return SPIRV(matmul_bf16);
#if VULKAN_HAVE_COOPERATIVE_SHADER
    case VULKAN_SHADER_MATMUL_COOPERATIVE_F16: return SPIRV(matmul_cooperative_f16);
#endif
    default: *out_bytes = 0; return NULL;
    }
#undef SPIRV
}

/* FUSEGRAPH_VULKAN_TILE: a configuration's name or "cooperative"; anything else is ignored, with a warning. */
static int forced_tile(const vulkan_backend *vulkan)
{
    const char *name = vulkan_setting(vulkan, "FUSEGRAPH_VULKAN_TILE");
    if (!name || !*name) return -1;
    if (strcmp(name, "cooperative") == 0) return VULKAN_USE_COOPERATIVE;
    for (int config = 0; config < VULKAN_TILE_CONFIG_COUNT; config++)
        if (strcmp(name, vulkan_tile_configs[config].name) == 0) {
            if (config_fits(vulkan, config)) return config;
            vulkan_log(vulkan, FG_LOG_WARN, "[vulkan] FUSEGRAPH_VULKAN_TILE=%s does not fit %s: ignored", name, vulkan->name);
            return -1;
        }
    vulkan_log(vulkan, FG_LOG_WARN, "[vulkan] FUSEGRAPH_VULKAN_TILE=%s is none of 32x32, 64x64, 128x128, cooperative: ignored",
               name);
    return -1;
}

fg_status vulkan_pipelines_create(vulkan_backend *vulkan)
{
    vulkan_functions *vk = &vulkan->vk;
    vulkan->forced_tile = forced_tile(vulkan);
    vulkan->shader_hash = 2166136261u; /* FNV-1a over every embedded module */
    for (int shader = 0; shader < VULKAN_SHADER_COUNT; shader++) {
        size_t bytes = 0;
        const uint32_t *words = spirv_words((vulkan_shader)shader, &bytes);
        for (size_t w = 0; w < bytes / 4; w++) vulkan->shader_hash = (vulkan->shader_hash ^ words[w]) * 16777619u;
    }
    for (int shader = 0; shader < VULKAN_SHADER_COUNT; shader++) {
        int sixteen_bit = shader < VULKAN_SHADER_MATMUL_COOPERATIVE_F16 && shader % 3 != FG_F32;
        if ((sixteen_bit && !vulkan->has_16bit_storage) ||
            (shader == VULKAN_SHADER_MATMUL_COOPERATIVE_F16 && !vulkan->has_cooperative))
            continue;
        size_t bytes = 0;
        const uint32_t *words = spirv_words((vulkan_shader)shader, &bytes);
        if (!words) continue;
        VkShaderModuleCreateInfo info = {.sType = VK_STRUCTURE_TYPE_SHADER_MODULE_CREATE_INFO, .codeSize = bytes, .pCode = words};
        fg_status status = vulkan_check(vulkan, vk->vkCreateShaderModule(vulkan->device, &info, NULL, &vulkan->modules[shader]),
                                        "create", "vkCreateShaderModule");
        if (status != FG_OK) return status;
    }
    VkDescriptorSetLayoutBinding bindings[4];
    for (uint32_t b = 0; b < 4; b++)
        bindings[b] = (VkDescriptorSetLayoutBinding){b, VK_DESCRIPTOR_TYPE_STORAGE_BUFFER, 1, VK_SHADER_STAGE_COMPUTE_BIT, NULL};
    VkDescriptorSetLayoutCreateInfo set = {.sType = VK_STRUCTURE_TYPE_DESCRIPTOR_SET_LAYOUT_CREATE_INFO, .bindingCount = 4,
                                           .pBindings = bindings};
    fg_status status = vulkan_check(vulkan, vk->vkCreateDescriptorSetLayout(vulkan->device, &set, NULL, &vulkan->set_layout),
                                    "create", "vkCreateDescriptorSetLayout");
    VkPushConstantRange push = {VK_SHADER_STAGE_COMPUTE_BIT, 0, 16};
    VkPipelineLayoutCreateInfo layout = {.sType = VK_STRUCTURE_TYPE_PIPELINE_LAYOUT_CREATE_INFO, .setLayoutCount = 1,
                                         .pSetLayouts = &vulkan->set_layout, .pushConstantRangeCount = 1,
                                         .pPushConstantRanges = &push};
    if (status == FG_OK)
        status = vulkan_check(vulkan, vk->vkCreatePipelineLayout(vulkan->device, &layout, NULL, &vulkan->pipeline_layout),
                              "create", "vkCreatePipelineLayout");
    return status;
}

void vulkan_pipelines_destroy(vulkan_backend *vulkan)
{
    vulkan_functions *vk = &vulkan->vk;
    for (int p = 0; p < vulkan->pipeline_count; p++) vk->vkDestroyPipeline(vulkan->device, vulkan->pipelines[p].pipeline, NULL);
    free(vulkan->pipelines);
    vulkan->pipelines = NULL;
    vulkan->pipeline_count = vulkan->pipeline_capacity = 0;
    if (vulkan->pipeline_layout) vk->vkDestroyPipelineLayout(vulkan->device, vulkan->pipeline_layout, NULL);
    if (vulkan->set_layout) vk->vkDestroyDescriptorSetLayout(vulkan->device, vulkan->set_layout, NULL);
    for (int shader = 0; shader < VULKAN_SHADER_COUNT; shader++)
        if (vulkan->modules[shader]) vk->vkDestroyShaderModule(vulkan->device, vulkan->modules[shader], NULL);
}

fg_status vulkan_get_pipeline(vulkan_backend *vulkan, vulkan_shader shader, const uint32_t constants[8], const char *op,
                          VkPipeline *out_pipeline)
{
    for (int p = 0; p < vulkan->pipeline_count; p++)
        if (vulkan->pipelines[p].shader == shader && memcmp(vulkan->pipelines[p].constants, constants, sizeof(uint32_t) * 8) == 0) {
            *out_pipeline = vulkan->pipelines[p].pipeline;
            return FG_OK;
        }
    if (!vulkan->modules[shader])
        return vulkan_fail(vulkan, FG_ERR_UNSUPPORTED, "[vulkan %s] shader %d is not available on %s", op, (int)shader, vulkan->name);
    if (vulkan->pipeline_count == vulkan->pipeline_capacity) {
        int capacity = vulkan->pipeline_capacity ? vulkan->pipeline_capacity * 2 : 32;
        vulkan_pipeline_entry *grown = realloc(vulkan->pipelines, sizeof *grown * (size_t)capacity);
        if (!grown) return vulkan_fail(vulkan, FG_ERR_OUT_OF_MEMORY, "[vulkan %s] out of host memory", op);
        vulkan->pipelines = grown;
        vulkan->pipeline_capacity = capacity;
    }
    VkSpecializationMapEntry entries[8];
    for (uint32_t i = 0; i < 8; i++) entries[i] = (VkSpecializationMapEntry){i, i * 4, 4};
    VkSpecializationInfo specialization = {8, entries, sizeof(uint32_t) * 8, constants};
    VkComputePipelineCreateInfo info = {
        .sType = VK_STRUCTURE_TYPE_COMPUTE_PIPELINE_CREATE_INFO,
        .stage = {.sType = VK_STRUCTURE_TYPE_PIPELINE_SHADER_STAGE_CREATE_INFO, .stage = VK_SHADER_STAGE_COMPUTE_BIT,
                  .module = vulkan->modules[shader], .pName = "main", .pSpecializationInfo = &specialization},
        .layout = vulkan->pipeline_layout};
    VkPipeline pipeline = VK_NULL_HANDLE;
    fg_status status = vulkan_check(vulkan, vulkan->vk.vkCreateComputePipelines(vulkan->device, VK_NULL_HANDLE, 1, &info, NULL, &pipeline),
                                    op, "vkCreateComputePipelines");
    if (status != FG_OK) return status;
    vulkan_pipeline_entry *entry = &vulkan->pipelines[vulkan->pipeline_count++];
    entry->shader = shader;
    memcpy(entry->constants, constants, sizeof entry->constants);
    entry->pipeline = pipeline;
    *out_pipeline = pipeline;
    return FG_OK;
}

vulkan_epilogue vulkan_node_epilogue(const fg_node_desc *node)
{
    if (node->op == FG_OP_MATMUL) return VULKAN_EPILOGUE_NONE;
    if (node->op == FG_OP_FUSED_MATMUL_ADD) return VULKAN_EPILOGUE_BIAS;
    return node->gelu_form == FG_GELU_TANH ? VULKAN_EPILOGUE_GELU_TANH : VULKAN_EPILOGUE_GELU_EXACT;
}

static const char *const epilogue_names[VULKAN_EPILOGUES] = {"", " + bias", " + bias + gelu exact", " + bias + gelu tanh"};

int vulkan_tuned_tile(vulkan_backend *vulkan, fg_dtype dtype, vulkan_epilogue epilogue)
{
    int *choice = &vulkan->tile_choice[dtype][epilogue];
    if (*choice >= 0) return *choice;
    int64_t size = vulkan->properties.deviceType == VK_PHYSICAL_DEVICE_TYPE_CPU ? 256 : 2048;
    static const fg_op ops[VULKAN_EPILOGUES] = {FG_OP_MATMUL, FG_OP_FUSED_MATMUL_ADD, FG_OP_FUSED_MATMUL_ADD_GELU,
                                                FG_OP_FUSED_MATMUL_ADD_GELU};
    fg_node_desc node = {.op = ops[epilogue], .dtype = dtype, .input_count = epilogue == VULKAN_EPILOGUE_NONE ? 2 : 3,
                         .m = size, .k = size, .n = size,
                         .gelu_form = epilogue == VULKAN_EPILOGUE_GELU_TANH ? FG_GELU_TANH : FG_GELU_EXACT};
    int best = -1;
    double best_seconds = 0;
    char report[256] = "";
    for (int config = 0; config <= VULKAN_TILE_CONFIG_COUNT; config++) {
        int cooperative = config == VULKAN_USE_COOPERATIVE;
        if (cooperative ? !(dtype == FG_F16 && vulkan->has_cooperative) : !config_fits(vulkan, config)) continue;
        double seconds = 0;
        if (vulkan_time_node(vulkan, &node, config, 3, &seconds) != FG_OK || seconds <= 0) continue;
        size_t used = strlen(report);
        snprintf(report + used, sizeof report - used, "%s%s %.1f GFLOP/s", used ? ", " : "",
                 cooperative ? "cooperative" : vulkan_tile_configs[config].name, 2.0 * (double)(size * size * size) / seconds * 1e-9);
        if (best < 0 || seconds < best_seconds) best = config, best_seconds = seconds;
    }
    /* Nothing ran (out of device memory for the scratch matrices, a lost device): the plain matmul's
     * choice, or 64x64, for this process only; nothing is cached, so a later process measures again. */
    int fallback = epilogue != VULKAN_EPILOGUE_NONE && vulkan->tile_choice[dtype][VULKAN_EPILOGUE_NONE] >= 0
                       ? vulkan->tile_choice[dtype][VULKAN_EPILOGUE_NONE] : 1;
    *choice = best < 0 ? fallback : best;
    vulkan_log(vulkan, FG_LOG_INFO, "[vulkan matmul] %s%s tile tuning at %lld^3: %s; chosen %s%s", vulkan_dtype_name(dtype),
               epilogue_names[epilogue], (long long)size, report[0] ? report : "nothing ran",
               *choice == VULKAN_USE_COOPERATIVE ? "cooperative" : vulkan_tile_configs[*choice].name, best < 0 ? " (default)" : "");
    /* At create the figures are not measured yet: vulkan_costs_measure saves once they are. */
    if (best >= 0 && !vulkan->measuring) vulkan_costs_save(vulkan);
    return *choice;
}

int vulkan_tile_for_node(vulkan_backend *vulkan, const fg_node_desc *node)
{
    int forced = vulkan->forced_tile;
    if (forced == VULKAN_USE_COOPERATIVE ? node->dtype == FG_F16 && vulkan->has_cooperative : forced >= 0) return forced;
    int tile = vulkan_tuned_tile(vulkan, node->dtype, vulkan_node_epilogue(node));
    if (tile == VULKAN_USE_COOPERATIVE) return tile;
    /* Too few workgroups leave most of the device idle: a GPU wants at least a few per core; lavapipe's
     * threads want a handful. Smaller tiles make more of them. */
    int64_t wanted = vulkan->properties.deviceType == VK_PHYSICAL_DEVICE_TYPE_CPU ? 8 : 128;
    while (tile > 0) {
        const vulkan_tile_config *c = &vulkan_tile_configs[tile];
        int64_t groups = ((node->m + c->tile_m - 1) / c->tile_m) * ((node->n + c->tile_n - 1) / c->tile_n);
        if (groups >= wanted) break;
        tile--;
    }
    while (tile > 0 && !config_fits(vulkan, tile)) tile--;
    return tile;
}
