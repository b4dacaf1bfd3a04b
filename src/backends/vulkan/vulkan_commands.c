/*
 * vulkan_commands.c — command batches: recording, submitting, waiting; barriers; GPU timestamps.
 *
 * Two batches, each a command buffer, a fence and a descriptor pool (one descriptor set per dispatch,
 * freed all at once by resetting the pool when the batch is reused). Commands go into the current
 * batch; when it is full it is submitted without waiting and recording moves to the other batch, which
 * is first waited for if it is still running. So a long chain of run() calls keeps the device busy while
 * the host records the next batch, and the host waits only in synchronize, transfers and release.
 *
 * Each command is preceded by a global memory barrier (shader and transfer writes before shader and
 * transfer reads and writes). Barriers order against all earlier commands in submission order, across
 * batches, so nodes, uploads and downloads see each other's results and a recycled buffer is not
 * overwritten early. Nodes of a graph mostly depend on their predecessor anyway, so the barrier costs
 * little parallelism.
 */
#define _POSIX_C_SOURCE 200809L /* clock_gettime */
#include "vulkan_backend.h"

#include <string.h>
#include <time.h>

double vulkan_now_seconds(void)
{
    struct timespec t;
    clock_gettime(CLOCK_MONOTONIC, &t);
    return (double)t.tv_sec + (double)t.tv_nsec * 1e-9;
}

fg_status vulkan_commands_create(vulkan_backend *vulkan)
{
    vulkan_functions *vk = &vulkan->vk;
    VkCommandPoolCreateInfo pool = {.sType = VK_STRUCTURE_TYPE_COMMAND_POOL_CREATE_INFO,
                                    .flags = VK_COMMAND_POOL_CREATE_RESET_COMMAND_BUFFER_BIT,
                                    .queueFamilyIndex = vulkan->queue_family};
    fg_status status = vulkan_check(vulkan, vk->vkCreateCommandPool(vulkan->device, &pool, NULL, &vulkan->command_pool),
                                    "create", "vkCreateCommandPool");
    VkDescriptorPoolSize sizes = {VK_DESCRIPTOR_TYPE_STORAGE_BUFFER, 4 * VULKAN_BATCH_COMMANDS};
    for (int b = 0; b < VULKAN_BATCHES && status == FG_OK; b++) {
        vulkan_batch *batch = &vulkan->batches[b];
        VkCommandBufferAllocateInfo allocate = {.sType = VK_STRUCTURE_TYPE_COMMAND_BUFFER_ALLOCATE_INFO,
                                                .commandPool = vulkan->command_pool,
                                                .level = VK_COMMAND_BUFFER_LEVEL_PRIMARY, .commandBufferCount = 1};
        status = vulkan_check(vulkan, vk->vkAllocateCommandBuffers(vulkan->device, &allocate, &batch->commands), "create",
                              "vkAllocateCommandBuffers");
        VkFenceCreateInfo fence = {.sType = VK_STRUCTURE_TYPE_FENCE_CREATE_INFO};
        if (status == FG_OK)
            status = vulkan_check(vulkan, vk->vkCreateFence(vulkan->device, &fence, NULL, &batch->fence), "create", "vkCreateFence");
        VkDescriptorPoolCreateInfo descriptors = {.sType = VK_STRUCTURE_TYPE_DESCRIPTOR_POOL_CREATE_INFO,
                                                  .maxSets = VULKAN_BATCH_COMMANDS, .poolSizeCount = 1, .pPoolSizes = &sizes};
        if (status == FG_OK)
            status = vulkan_check(vulkan, vk->vkCreateDescriptorPool(vulkan->device, &descriptors, NULL, &batch->descriptors),
                                  "create", "vkCreateDescriptorPool");
    }
    if (status == FG_OK && vulkan->timestamp_seconds > 0) {
        VkQueryPoolCreateInfo query = {.sType = VK_STRUCTURE_TYPE_QUERY_POOL_CREATE_INFO,
                                       .queryType = VK_QUERY_TYPE_TIMESTAMP, .queryCount = 2};
        if (vk->vkCreateQueryPool(vulkan->device, &query, NULL, &vulkan->timestamps) != VK_SUCCESS) vulkan->timestamp_seconds = 0;
    }
    return status;
}

void vulkan_commands_destroy(vulkan_backend *vulkan)
{
    vulkan_functions *vk = &vulkan->vk;
    for (int b = 0; b < VULKAN_BATCHES; b++) {
        vulkan_batch *batch = &vulkan->batches[b];
        if (batch->descriptors) vk->vkDestroyDescriptorPool(vulkan->device, batch->descriptors, NULL);
        if (batch->fence) vk->vkDestroyFence(vulkan->device, batch->fence, NULL);
    }
    if (vulkan->timestamps) vk->vkDestroyQueryPool(vulkan->device, vulkan->timestamps, NULL);
    if (vulkan->command_pool) vk->vkDestroyCommandPool(vulkan->device, vulkan->command_pool, NULL);
}

static fg_status wait_batch(vulkan_backend *vulkan, vulkan_batch *batch, const char *op)
{
    if (!batch->in_flight) return FG_OK;
    VkResult result = vulkan->vk.vkWaitForFences(vulkan->device, 1, &batch->fence, VK_TRUE, VULKAN_WAIT_NANOSECONDS);
    batch->in_flight = 0;
    return vulkan_check(vulkan, result, op, result == VK_TIMEOUT ? "vkWaitForFences (the device is hung)" : "vkWaitForFences");
}

fg_status vulkan_submit(vulkan_backend *vulkan, int wait, const char *op)
{
    vulkan_functions *vk = &vulkan->vk;
    vulkan_batch *batch = &vulkan->batches[vulkan->current_batch];
    fg_status status = FG_OK;
    if (batch->recording) {
        batch->recording = 0;
        status = vulkan_check(vulkan, vk->vkEndCommandBuffer(batch->commands), op, "vkEndCommandBuffer");
        if (status == FG_OK) status = vulkan_check(vulkan, vk->vkResetFences(vulkan->device, 1, &batch->fence), op, "vkResetFences");
        VkSubmitInfo submit = {.sType = VK_STRUCTURE_TYPE_SUBMIT_INFO, .commandBufferCount = 1, .pCommandBuffers = &batch->commands};
        if (status == FG_OK) status = vulkan_check(vulkan, vk->vkQueueSubmit(vulkan->queue, 1, &submit, batch->fence), op, "vkQueueSubmit");
        batch->in_flight = status == FG_OK;
        vulkan->current_batch = (vulkan->current_batch + 1) % VULKAN_BATCHES;
    }
    for (int b = 0; b < VULKAN_BATCHES && wait; b++) {
        fg_status waited = wait_batch(vulkan, &vulkan->batches[b], op);
        if (status == FG_OK) status = waited;
    }
    return status;
}

static fg_status begin_batch(vulkan_backend *vulkan, vulkan_batch *batch, const char *op)
{
    vulkan_functions *vk = &vulkan->vk;
    fg_status status = wait_batch(vulkan, batch, op);
    if (status == FG_OK)
        status = vulkan_check(vulkan, vk->vkResetDescriptorPool(vulkan->device, batch->descriptors, 0), op, "vkResetDescriptorPool");
    VkCommandBufferBeginInfo begin = {.sType = VK_STRUCTURE_TYPE_COMMAND_BUFFER_BEGIN_INFO,
                                      .flags = VK_COMMAND_BUFFER_USAGE_ONE_TIME_SUBMIT_BIT};
    if (status == FG_OK) status = vulkan_check(vulkan, vk->vkBeginCommandBuffer(batch->commands, &begin), op, "vkBeginCommandBuffer");
    batch->recording = status == FG_OK;
    batch->command_count = 0;
    return status;
}

fg_status vulkan_next_command(vulkan_backend *vulkan, const char *op, vulkan_batch **out_batch)
{
    vulkan_batch *batch = &vulkan->batches[vulkan->current_batch];
    fg_status status = FG_OK;
    if (batch->recording && batch->command_count >= VULKAN_BATCH_COMMANDS) {
        status = vulkan_submit(vulkan, 0, op);
        batch = &vulkan->batches[vulkan->current_batch];
    }
    if (status == FG_OK && !batch->recording) status = begin_batch(vulkan, batch, op);
    if (status != FG_OK) return status;
    VkMemoryBarrier barrier = {.sType = VK_STRUCTURE_TYPE_MEMORY_BARRIER,
                               .srcAccessMask = VK_ACCESS_SHADER_WRITE_BIT | VK_ACCESS_TRANSFER_WRITE_BIT,
                               .dstAccessMask = VK_ACCESS_SHADER_READ_BIT | VK_ACCESS_SHADER_WRITE_BIT |
                                                VK_ACCESS_TRANSFER_READ_BIT | VK_ACCESS_TRANSFER_WRITE_BIT};
    VkPipelineStageFlags stages = VK_PIPELINE_STAGE_COMPUTE_SHADER_BIT | VK_PIPELINE_STAGE_TRANSFER_BIT;
    vulkan->vk.vkCmdPipelineBarrier(batch->commands, stages, stages, 0, 1, &barrier, 0, NULL, 0, NULL);
    batch->command_count++;
    *out_batch = batch;
    return FG_OK;
}

fg_status vulkan_timing_begin(vulkan_backend *vulkan, double *host_start)
{
    fg_status status = vulkan_submit(vulkan, 1, "timing");
    vulkan_batch *batch = NULL;
    if (status == FG_OK) status = begin_batch(vulkan, &vulkan->batches[vulkan->current_batch], "timing");
    batch = &vulkan->batches[vulkan->current_batch];
    if (status == FG_OK && vulkan->timestamp_seconds > 0) {
        vulkan->vk.vkCmdResetQueryPool(batch->commands, vulkan->timestamps, 0, 2);
        vulkan->vk.vkCmdWriteTimestamp(batch->commands, VK_PIPELINE_STAGE_TOP_OF_PIPE_BIT, vulkan->timestamps, 0);
    }
    *host_start = vulkan_now_seconds();
    return status;
}

/* What was recorded since vulkan_timing_begin must fit one batch (fewer than VULKAN_BATCH_COMMANDS). */
fg_status vulkan_timing_end(vulkan_backend *vulkan, double host_start, double *out_seconds)
{
    *out_seconds = 0;
    vulkan_batch *batch = &vulkan->batches[vulkan->current_batch];
    int timestamps = vulkan->timestamp_seconds > 0 && batch->recording;
    if (timestamps)
        vulkan->vk.vkCmdWriteTimestamp(batch->commands, VK_PIPELINE_STAGE_BOTTOM_OF_PIPE_BIT, vulkan->timestamps, 1);
    fg_status status = vulkan_submit(vulkan, 1, "timing");
    double host_seconds = vulkan_now_seconds() - host_start;
    if (status != FG_OK) return status;
    uint64_t ticks[2] = {0, 0};
    if (timestamps && vulkan->vk.vkGetQueryPoolResults(vulkan->device, vulkan->timestamps, 0, 2, sizeof ticks, ticks, sizeof ticks[0],
                                                       VK_QUERY_RESULT_64_BIT | VK_QUERY_RESULT_WAIT_BIT) == VK_SUCCESS &&
        ticks[1] > ticks[0]) {
        *out_seconds = (double)(ticks[1] - ticks[0]) * vulkan->timestamp_seconds;
        return FG_OK;
    }
    *out_seconds = host_seconds;
    return FG_OK;
}
