/*
 * vulkan_pipelines.c — shader modules, and compute pipelines by specialization constants.
 *
 * Every embedded SPIR-V module becomes a VkShaderModule at create (16-bit ones only where the device has
 * 16-bit storage, the cooperative ones only where it has (workgroup-scope) cooperative matrices, the skinny ones only where
 * compute shaders have subgroup arithmetic). Pipelines are created on first use for each (module,
 * specialization constants) pair and kept until destroy; the constants carry the matmul tile sizes, the
 * weight layout, the epilogue (bias, GELU form) and the elementwise GELU form, so the driver compiles
 * each variant with everything constant, and the [K,N] and [N,K] variants of a matmul are pipelines of
 * their own. All pipelines share one layout: four storage buffers (a, b, bias, out; unused ones are
 * bound to out) and 16 bytes of push constants.
 *
 * Which pipeline each matmul-like node runs (a tile configuration, the cooperative or the skinny shader)
 * is chosen by measurement in vulkan_matmul_choice.c.
 */
#include "vulkan_backend.h"
#include "vulkan_spirv.h"

#include <stdlib.h>
#include <string.h>

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
    case VULKAN_SHADER_MATMUL_SKINNY + FG_F32: return SPIRV(matmul_skinny_f32);
    case VULKAN_SHADER_MATMUL_SKINNY + FG_F16: return SPIRV(matmul_skinny_f16);
    case VULKAN_SHADER_MATMUL_SKINNY + FG_BF16: return SPIRV(matmul_skinny_bf16);
#if VULKAN_HAVE_COOPERATIVE_SHADER
    case VULKAN_SHADER_MATMUL_COOPERATIVE_F16: return SPIRV(matmul_cooperative_f16);
#endif
#if VULKAN_HAVE_WORKGROUP_SHADER
    case VULKAN_SHADER_MATMUL_WORKGROUP_F16: return SPIRV(matmul_workgroup_f16);
#endif
    default: *out_bytes = 0; return NULL;
    }
#undef SPIRV
}

fg_status vulkan_pipelines_create(vulkan_backend *vulkan)
{
    vulkan_functions *vk = &vulkan->vk;
    vulkan->forced_tile = vulkan_forced_tile(vulkan);
    vulkan->shader_hash = 2166136261u; /* FNV-1a over every embedded module */
    for (int shader = 0; shader < VULKAN_SHADER_COUNT; shader++) {
        size_t bytes = 0;
        const uint32_t *words = spirv_words((vulkan_shader)shader, &bytes);
        for (size_t w = 0; w < bytes / 4; w++) vulkan->shader_hash = (vulkan->shader_hash ^ words[w]) * 16777619u;
    }
    for (int shader = 0; shader < VULKAN_SHADER_COUNT; shader++) {
        int sixteen_bit = shader < VULKAN_SHADER_MATMUL_COOPERATIVE_F16 && shader % 3 != FG_F32;
        int skinny = shader >= VULKAN_SHADER_MATMUL_SKINNY && shader < VULKAN_SHADER_MATMUL_SKINNY + 3;
        if ((sixteen_bit && !vulkan->has_16bit_storage) ||
            (shader == VULKAN_SHADER_MATMUL_COOPERATIVE_F16 && !vulkan->has_cooperative) ||
            (shader == VULKAN_SHADER_MATMUL_WORKGROUP_F16 && !vulkan->has_workgroup_cooperative) ||
            (skinny && !vulkan->has_subgroup_arithmetic))
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

fg_status vulkan_get_pipeline(vulkan_backend *vulkan, vulkan_shader shader, const uint32_t constants[VULKAN_CONSTANTS],
                              const char *op, VkPipeline *out_pipeline)
{
    for (int p = 0; p < vulkan->pipeline_count; p++)
        if (vulkan->pipelines[p].shader == shader &&
            memcmp(vulkan->pipelines[p].constants, constants, sizeof vulkan->pipelines[p].constants) == 0) {
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
    VkSpecializationMapEntry entries[VULKAN_CONSTANTS];
    for (uint32_t i = 0; i < VULKAN_CONSTANTS; i++) entries[i] = (VkSpecializationMapEntry){i, i * 4, 4};
    VkSpecializationInfo specialization = {VULKAN_CONSTANTS, entries, sizeof(uint32_t) * VULKAN_CONSTANTS, constants};
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
