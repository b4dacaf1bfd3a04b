/*
 * vulkan_dispatch.c — which nodes this device runs, and recording them into the current batch.
 *
 * Ops: ADD (same shape, or bias [N] broadcast over rows), GELU (exact, tanh), MATMUL, FUSED_MATMUL_ADD
 * and FUSED_MATMUL_ADD_GELU: every op the core hands a backend (fg_op); matmuls with the weight as [K,N]
 * or [N,K] (fg_weight_layout), each matmul shader taking the layout as a specialization constant.
 * Dtypes: f32 everywhere; f16 and bf16 where the device has 16-bit storage (dtype.glsl says how). A node
 * is refused (and the CPU runs it) when any of its tensors is larger than one storage-buffer binding may
 * be (maxStorageBufferRange, 128 MiB on lavapipe, 4 GiB on most desktop GPUs) or than one allocation may
 * be, or when its grid would need more workgroups than the device dispatches: the reason is logged at
 * FG_LOG_INFO.
 */
#include "vulkan_backend.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

const char *vulkan_op_name(fg_op op)
{
    static const char *const names[] = {"matmul", "add", "gelu", "fused_matmul_add", "fused_matmul_add_gelu"};
    return (unsigned)op < FG_OP_COUNT ? names[op] : "unknown op";
}

const char *vulkan_dtype_name(fg_dtype dtype)
{
    static const char *const names[] = {"f32", "f16", "bf16"};
    return (unsigned)dtype < 3 ? names[dtype] : "unknown dtype";
}

static size_t dtype_bytes(fg_dtype dtype) { return dtype == FG_F32 ? 4 : 2; }

static int64_t shape_elements(const fg_shape *shape)
{
    int64_t n = 1;
    for (int d = 0; d < shape->rank; d++) n *= shape->dims[d];
    return n;
}

static int is_matmul(fg_op op) { return op == FG_OP_MATMUL || op == FG_OP_FUSED_MATMUL_ADD || op == FG_OP_FUSED_MATMUL_ADD_GELU; }

int vulkan_supports_node(vulkan_backend *vulkan, const fg_node_desc *node, int log_reason)
{
    if ((unsigned)node->op >= FG_OP_COUNT || (unsigned)node->dtype > FG_BF16) return 0;
    if (node->dtype != FG_F32 && !vulkan->has_16bit_storage) return 0;
    static const int input_counts[] = {2, 2, 1, 3, 3};
    if (node->input_count != input_counts[node->op]) return 0;
    if (is_matmul(node->op) && node->weight_layout != FG_WEIGHT_K_N && node->weight_layout != FG_WEIGHT_N_K) return 0;
    const char *op = vulkan_op_name(node->op);
    for (int i = 0; i <= node->input_count; i++) {
        const fg_shape *shape = i < node->input_count ? &node->inputs[i] : &node->output;
        int64_t elements = shape_elements(shape);
        uint64_t bytes = (uint64_t)elements * dtype_bytes(node->dtype);
        if (bytes <= vulkan->max_binding_bytes && bytes <= vulkan->max_allocation_bytes && elements < (1ll << 32) - 16) continue;
        if (log_reason) {
            char what[32];
            if (i < node->input_count) snprintf(what, sizeof what, "input %d", i);
            else snprintf(what, sizeof what, "the output");
            vulkan_log(vulkan, FG_LOG_INFO,
                       "[vulkan %s] %s is %llu bytes, more than one storage-buffer binding on %s allows "
                       "(maxStorageBufferRange %llu, maxMemoryAllocationSize %llu): the CPU runs it",
                       op, what, (unsigned long long)bytes, vulkan->name, (unsigned long long)vulkan->max_binding_bytes,
                       (unsigned long long)vulkan->max_allocation_bytes);
        }
        return 0;
    }
    if (is_matmul(node->op)) {
        /* the smallest tile (32 x 32) makes the most workgroups */
        const uint32_t *limit = vulkan->properties.limits.maxComputeWorkGroupCount;
        if ((node->n + 31) / 32 > limit[0] || (node->m + 31) / 32 > limit[1]) {
            if (log_reason)
                vulkan_log(vulkan, FG_LOG_INFO, "[vulkan %s] %lld x %lld output needs more workgroups than %s dispatches: the CPU runs it",
                           op, (long long)node->m, (long long)node->n, vulkan->name);
            return 0;
        }
    }
    return 1;
}

/* The shader, specialization constants, push constants and grid of a matmul-like node with tile choice
 * tile (< 0: the node's own choice). */
static vulkan_shader matmul_dispatch(vulkan_backend *vulkan, const fg_node_desc *node, int tile,
                                     uint32_t constants[VULKAN_CONSTANTS], uint32_t push[4], uint32_t groups[3])
{
    uint32_t has_bias = node->op != FG_OP_MATMUL, n_k = node->weight_layout == FG_WEIGHT_N_K;
    uint32_t gelu = node->op == FG_OP_FUSED_MATMUL_ADD_GELU ? (uint32_t)node->gelu_form + 1 : 0;
    if (tile < 0) tile = vulkan_tile_for_node(vulkan, node);
    if ((tile == VULKAN_USE_COOPERATIVE && !vulkan_cooperative_applies(vulkan, node)) ||
        (tile == VULKAN_USE_SKINNY && !vulkan_skinny_applies(vulkan, node)) ||
        (VULKAN_IS_WORKGROUP(tile) &&
         !vulkan_choice_possible(vulkan, tile, node->dtype, node->weight_layout, vulkan_node_shape_class(node))))
        tile = 0;
    push[0] = (uint32_t)node->m;
    push[1] = (uint32_t)node->k;
    push[2] = (uint32_t)node->n;
    if (tile == VULKAN_USE_COOPERATIVE) {
        constants[0] = has_bias;
        constants[1] = gelu;
        constants[2] = n_k;
        push[3] = node->k % 8 == 0 && node->n % 8 == 0; /* 16-byte loads and stores (8 halves) */
        groups[0] = (uint32_t)((node->n + VULKAN_COOPERATIVE_TILE_N - 1) / VULKAN_COOPERATIVE_TILE_N);
        groups[1] = (uint32_t)((node->m + VULKAN_COOPERATIVE_TILE_M - 1) / VULKAN_COOPERATIVE_TILE_M);
        return VULKAN_SHADER_MATMUL_COOPERATIVE_F16;
    }
    if (VULKAN_IS_WORKGROUP(tile)) {
        const vulkan_workgroup_config *c = &vulkan_workgroup_configs[tile - VULKAN_USE_WORKGROUP];
        uint32_t values[8] = {has_bias, gelu, n_k, c->tile_m, c->tile_n, c->tile_k, c->invocations, c->n_parts};
        memcpy(constants, values, sizeof values);
        groups[0] = (uint32_t)((node->n + c->tile_n - 1) / c->tile_n);
        groups[1] = (uint32_t)((node->m + c->tile_m - 1) / c->tile_m);
        return VULKAN_SHADER_MATMUL_WORKGROUP_F16;
    }
    if (tile == VULKAN_USE_SKINNY) {
        uint32_t rows = 1, columns = 0, workgroup = 0;
        while (rows < node->m) rows *= 2; /* M rounded up to a power of two: at most 5 variants */
        vulkan_skinny_grid(vulkan, node, &columns, &workgroup);
        uint32_t values[6] = {rows, has_bias, gelu, n_k, columns, workgroup};
        memcpy(constants, values, sizeof values);
        /* [N,K]: 16-byte loads along K (4 f32 or 8 halves); [K,N]: 16-bit elements two to a 32-bit load */
        push[3] = n_k ? node->k % (node->dtype == FG_F32 ? 4 : 8) == 0 : node->dtype != FG_F32 && node->n % 2 == 0;
        groups[0] = (uint32_t)((node->n + columns - 1) / columns);
        return (vulkan_shader)(VULKAN_SHADER_MATMUL_SKINNY + node->dtype);
    }
    const vulkan_tile_config *c = &vulkan_tile_configs[tile];
    uint32_t values[9] = {c->tile_m, c->tile_n, c->tile_k, c->thread_m, c->thread_n, has_bias, gelu,
                          (c->tile_m / c->thread_m) * (c->tile_n / c->thread_n), n_k};
    memcpy(constants, values, sizeof values);
    /* vec4 loads along K for a (and for b as [N,K]), along N for b as [K,N] */
    push[3] = node->dtype == FG_F32 && node->k % 4 == 0 && (n_k || node->n % 4 == 0);
    groups[0] = (uint32_t)((node->n + c->tile_n - 1) / c->tile_n);
    groups[1] = (uint32_t)((node->m + c->tile_m - 1) / c->tile_m);
    return (vulkan_shader)(VULKAN_SHADER_MATMUL + node->dtype);
}

/* Binds buffers (a, b, bias, out) and records one dispatch of pipeline. */
static fg_status record_dispatch(vulkan_backend *vulkan, VkPipeline pipeline, vulkan_buffer *const bindings[4],
                                 const uint32_t push[4], const uint32_t groups[3], const char *op)
{
    vulkan_functions *vk = &vulkan->vk;
    vulkan_batch *batch = NULL;
    fg_status status = vulkan_next_command(vulkan, op, &batch);
    if (status != FG_OK) return status;
    VkDescriptorSetAllocateInfo allocate = {.sType = VK_STRUCTURE_TYPE_DESCRIPTOR_SET_ALLOCATE_INFO,
                                            .descriptorPool = batch->descriptors, .descriptorSetCount = 1,
                                            .pSetLayouts = &vulkan->set_layout};
    VkDescriptorSet set = VK_NULL_HANDLE;
    status = vulkan_check(vulkan, vk->vkAllocateDescriptorSets(vulkan->device, &allocate, &set), op, "vkAllocateDescriptorSets");
    if (status != FG_OK) return status;
    VkDescriptorBufferInfo buffers[4];
    VkWriteDescriptorSet writes[4];
    for (uint32_t b = 0; b < 4; b++) {
        /* A pooled buffer may be larger than the tensor; one binding may not pass maxStorageBufferRange. */
        VkDeviceSize range = bindings[b]->bytes < vulkan->max_binding_bytes ? bindings[b]->bytes : vulkan->max_binding_bytes;
        buffers[b] = (VkDescriptorBufferInfo){bindings[b]->buffer, 0, range};
        writes[b] = (VkWriteDescriptorSet){.sType = VK_STRUCTURE_TYPE_WRITE_DESCRIPTOR_SET, .dstSet = set, .dstBinding = b,
                                           .descriptorCount = 1, .descriptorType = VK_DESCRIPTOR_TYPE_STORAGE_BUFFER,
                                           .pBufferInfo = &buffers[b]};
    }
    vk->vkUpdateDescriptorSets(vulkan->device, 4, writes, 0, NULL);
    vk->vkCmdBindPipeline(batch->commands, VK_PIPELINE_BIND_POINT_COMPUTE, pipeline);
    vk->vkCmdBindDescriptorSets(batch->commands, VK_PIPELINE_BIND_POINT_COMPUTE, vulkan->pipeline_layout, 0, 1, &set, 0, NULL);
    vk->vkCmdPushConstants(batch->commands, vulkan->pipeline_layout, VK_SHADER_STAGE_COMPUTE_BIT, 0, 16, push);
    vk->vkCmdDispatch(batch->commands, groups[0], groups[1], groups[2]);
    return FG_OK;
}

fg_status vulkan_record_node(vulkan_backend *vulkan, const fg_node_desc *node, vulkan_buffer *const *inputs,
                             vulkan_buffer *output, int tile)
{
    const char *op = vulkan_op_name(node->op);
    uint32_t constants[VULKAN_CONSTANTS] = {0}, push[4] = {0}, groups[3] = {1, 1, 1};
    vulkan_buffer *bindings[4] = {inputs[0], output, output, output};
    vulkan_shader shader;
    if (!is_matmul(node->op)) {
        if (node->elements == 0) return FG_OK;
        int add = node->op == FG_OP_ADD;
        shader = (vulkan_shader)((add ? VULKAN_SHADER_ADD : VULKAN_SHADER_GELU) + node->dtype);
        if (add) bindings[1] = inputs[1];
        else constants[0] = (uint32_t)node->gelu_form + 1;
        uint32_t vector = node->dtype == FG_F32 && node->elements % 4 == 0 && (!add || node->bias_length % 4 == 0);
        uint64_t units = vector ? (uint64_t)node->elements / 4 : (uint64_t)node->elements;
        uint64_t wanted = (units + 255) / 256, limit = vulkan->properties.limits.maxComputeWorkGroupCount[0];
        if (limit > 65535) limit = 65535; /* a grid-stride loop covers the rest */
        groups[0] = (uint32_t)(wanted < limit ? wanted : limit);
        push[0] = (uint32_t)node->elements;
        push[1] = add ? (uint32_t)node->bias_length : 0;
        push[2] = vector;
    } else {
        if (node->m == 0 || node->n == 0) return FG_OK;
        bindings[1] = inputs[1];
        if (node->op != FG_OP_MATMUL) bindings[2] = inputs[2];
        shader = matmul_dispatch(vulkan, node, tile, constants, push, groups);
    }
    VkPipeline pipeline = VK_NULL_HANDLE;
    fg_status status = vulkan_get_pipeline(vulkan, shader, constants, op, &pipeline);
    if (status == FG_OK) status = record_dispatch(vulkan, pipeline, bindings, push, groups, op);
    return status;
}

void vulkan_implementation_name(vulkan_backend *vulkan, const fg_node_desc *node, char *name, size_t capacity)
{
    const char *dtype = vulkan_dtype_name(node->dtype);
    const char *form = node->gelu_form == FG_GELU_TANH ? "tanh" : "exact";
    if (node->op == FG_OP_ADD || node->op == FG_OP_GELU) {
        int vector = node->dtype == FG_F32 && node->elements % 4 == 0 && (node->op != FG_OP_ADD || node->bias_length % 4 == 0);
        snprintf(name, capacity, "%s%s%s %s%s", node->op == FG_OP_ADD ? "add" : "gelu ", node->op == FG_OP_ADD ? "" : form,
                 node->op == FG_OP_ADD && node->bias_length ? " bias broadcast" : "", dtype, vector ? " vec4" : "");
        return;
    }
    const char *epilogue = node->op == FG_OP_MATMUL ? "" : node->op == FG_OP_FUSED_MATMUL_ADD ? " + bias"
                           : node->gelu_form == FG_GELU_TANH ? " + bias + gelu tanh" : " + bias + gelu exact";
    int tile = vulkan_tile_for_node(vulkan, node);
    if (tile == VULKAN_USE_COOPERATIVE) {
        snprintf(name, capacity, "matmul cooperative f16 16x16x16, %dx%d tiles%s", VULKAN_COOPERATIVE_TILE_M, VULKAN_COOPERATIVE_TILE_N, epilogue);
        return;
    }
    if (VULKAN_IS_WORKGROUP(tile)) {
        const vulkan_workgroup_config *c = &vulkan_workgroup_configs[tile - VULKAN_USE_WORKGROUP];
        snprintf(name, capacity, "matmul workgroup cooperative f16, %ux%ux%u tiles, %u invocations%s", c->tile_m, c->tile_n,
                 c->tile_k, c->invocations, epilogue);
        return;
    }
    /* The layout only where it changes the algorithm: the skinny shader's two are different kernels. */
    if (tile == VULKAN_USE_SKINNY) {
        int n_k = node->weight_layout == FG_WEIGHT_N_K;
        snprintf(name, capacity, "matmul skinny %s, weight %s%s", dtype,
                 n_k ? "[N,K]: subgroups along K, subgroupAdd" : "[K,N]: K split across the workgroup", epilogue);
        return;
    }
    const vulkan_tile_config *c = &vulkan_tile_configs[tile];
    snprintf(name, capacity, "matmul tiled %s (%ux%u per invocation) %s%s", c->name, c->thread_m, c->thread_n, dtype, epilogue);
}

fg_status vulkan_time_node(vulkan_backend *vulkan, const fg_node_desc *node, int tile, int repeats, double give_up_seconds,
                           double *out_seconds)
{
    *out_seconds = 0;
    int matmul = is_matmul(node->op);
    size_t element = dtype_bytes(node->dtype);
    size_t sizes[4] = {0};
    if (matmul) {
        sizes[0] = (size_t)(node->m * node->k) * element;
        sizes[1] = (size_t)(node->k * node->n) * element;
        sizes[2] = (size_t)node->n * element;
        sizes[3] = (size_t)(node->m * node->n) * element;
    } else {
        sizes[0] = sizes[1] = sizes[3] = (size_t)node->elements * element;
        sizes[2] = element;
    }
    vulkan_buffer buffers[4];
    memset(buffers, 0, sizeof buffers);
    fg_status status = FG_OK;
    size_t largest = sizes[0] > sizes[1] ? sizes[0] : sizes[1];
    char *host = malloc(largest);
    if (!host) return vulkan_fail(vulkan, FG_ERR_OUT_OF_MEMORY, "[vulkan measure] out of host memory");
    memset(host, 0x3C, largest); /* small finite values in every dtype: no NaN or denormal slow paths */
    for (int b = 0; b < 4 && status == FG_OK; b++) {
        status = vulkan_buffer_create(vulkan, sizes[b], 0, &buffers[b]);
        if (status == FG_OK && b < 3) status = vulkan_upload_locked(vulkan, &buffers[b], host, sizes[b]);
    }
    vulkan_buffer *inputs[3] = {&buffers[0], &buffers[1], &buffers[2]};
    double best = 0, start = 0, seconds = 0;
    if (status == FG_OK) status = vulkan_record_node(vulkan, node, inputs, &buffers[3], tile); /* warm-up */
    if (status == FG_OK) status = vulkan_submit(vulkan, 1, "measure");
    for (int r = 0; r < repeats && status == FG_OK; r++) {
        status = vulkan_timing_begin(vulkan, &start);
        if (status == FG_OK) status = vulkan_record_node(vulkan, node, inputs, &buffers[3], tile);
        if (status == FG_OK) status = vulkan_timing_end(vulkan, start, &seconds);
        if (status == FG_OK && (best == 0 || seconds < best)) best = seconds;
        if (give_up_seconds > 0 && best > give_up_seconds) break;
    }
    vulkan_submit(vulkan, 1, "measure");
    for (int b = 0; b < 4; b++) vulkan_buffer_destroy(vulkan, &buffers[b]);
    free(host);
    *out_seconds = best;
    return status;
}
