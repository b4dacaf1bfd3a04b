/*
 * vulkan_memory.c — device buffers, the staging buffer, uploads and downloads.
 *
 * Each fusegraph buffer is one VkBuffer with its own device-local allocation: the core's generic pool
 * sits above allocate/release and reuses them, so sub-allocating here would only duplicate it. Sizes are
 * rounded up to 16 bytes so that vec4 views and 16-bit element pairs never reach past the end.
 * A request larger than maxMemoryAllocationSize, or VK_ERROR_OUT_OF_DEVICE_MEMORY, is FG_ERR_OUT_OF_MEMORY
 * (the pool then trims its cache and retries; the executor falls back to the CPU for that node).
 *
 * Transfers go through one host-visible, coherent staging buffer that grows to the largest transfer
 * seen, up to VULKAN_STAGING_MAX; larger transfers go in chunks of that size. Each chunk is a copy
 * command in the current batch (so it is ordered after every node recorded before it), submitted and
 * waited for before the staging buffer is touched again.
 */
#include "vulkan_backend.h"

#include <string.h>

fg_status vulkan_buffer_create(vulkan_backend *vulkan, VkDeviceSize bytes, int staging, vulkan_buffer *out)
{
    vulkan_functions *vk = &vulkan->vk;
    const char *op = staging ? "staging" : "allocate";
    memset(out, 0, sizeof *out);
    bytes = bytes < 16 ? 16 : (bytes + 15) & ~(VkDeviceSize)15;
    if (bytes > vulkan->max_allocation_bytes)
        return vulkan_fail(vulkan, FG_ERR_OUT_OF_MEMORY,
                           "[vulkan %s] %llu bytes is more than one allocation may be on %s (maxMemoryAllocationSize %llu)", op,
                           (unsigned long long)bytes, vulkan->name, (unsigned long long)vulkan->max_allocation_bytes);
    VkBufferCreateInfo info = {.sType = VK_STRUCTURE_TYPE_BUFFER_CREATE_INFO, .size = bytes,
                               .usage = VK_BUFFER_USAGE_STORAGE_BUFFER_BIT | VK_BUFFER_USAGE_TRANSFER_SRC_BIT |
                                        VK_BUFFER_USAGE_TRANSFER_DST_BIT,
                               .sharingMode = VK_SHARING_MODE_EXCLUSIVE};
    fg_status status = vulkan_check(vulkan, vk->vkCreateBuffer(vulkan->device, &info, NULL, &out->buffer), op, "vkCreateBuffer");
    if (status != FG_OK) return status;
    VkMemoryRequirements requirements;
    vk->vkGetBufferMemoryRequirements(vulkan->device, out->buffer, &requirements);
    uint32_t type = staging ? vulkan->staging_memory_type : vulkan->device_memory_type;
    if (!(requirements.memoryTypeBits & (1u << type))) {
        vk->vkDestroyBuffer(vulkan->device, out->buffer, NULL);
        out->buffer = VK_NULL_HANDLE;
        return vulkan_fail(vulkan, FG_ERR_DEVICE, "[vulkan %s] the buffer cannot live in memory type %u", op, type);
    }
    VkMemoryAllocateInfo allocate = {.sType = VK_STRUCTURE_TYPE_MEMORY_ALLOCATE_INFO, .allocationSize = requirements.size,
                                     .memoryTypeIndex = type};
    VkResult result = vk->vkAllocateMemory(vulkan->device, &allocate, NULL, &out->memory);
    if (result == VK_SUCCESS) result = vk->vkBindBufferMemory(vulkan->device, out->buffer, out->memory, 0);
    if (result != VK_SUCCESS) {
        status = vulkan_check(vulkan, result, op, "vkAllocateMemory");
        if (status == FG_ERR_OUT_OF_MEMORY)
            vulkan_fail(vulkan, status, "[vulkan %s] out of device memory for %llu bytes on %s (%s)", op,
                        (unsigned long long)bytes, vulkan->name, vulkan_result_name(result));
        vulkan_buffer_destroy(vulkan, out);
        return status;
    }
    out->bytes = bytes;
    return FG_OK;
}

void vulkan_buffer_destroy(vulkan_backend *vulkan, vulkan_buffer *buffer)
{
    if (buffer->buffer) vulkan->vk.vkDestroyBuffer(vulkan->device, buffer->buffer, NULL);
    if (buffer->memory) vulkan->vk.vkFreeMemory(vulkan->device, buffer->memory, NULL);
    memset(buffer, 0, sizeof *buffer);
}

void vulkan_staging_destroy(vulkan_backend *vulkan)
{
    if (vulkan->staging_mapped) vulkan->vk.vkUnmapMemory(vulkan->device, vulkan->staging.memory);
    vulkan->staging_mapped = NULL;
    vulkan_buffer_destroy(vulkan, &vulkan->staging);
}

/* Makes the staging buffer hold at least bytes (<= VULKAN_STAGING_MAX). Called with no copy pending. */
static fg_status ensure_staging(vulkan_backend *vulkan, size_t bytes, const char *op)
{
    if (vulkan->staging.bytes >= bytes) return FG_OK;
    size_t size = bytes < (1u << 20) ? (1u << 20) : bytes;
    if (size > VULKAN_STAGING_MAX) size = VULKAN_STAGING_MAX;
    if (size > vulkan->max_allocation_bytes) size = (size_t)vulkan->max_allocation_bytes;
    vulkan_staging_destroy(vulkan);
    fg_status status = vulkan_buffer_create(vulkan, size, 1, &vulkan->staging);
    if (status == FG_OK)
        status = vulkan_check(vulkan, vulkan->vk.vkMapMemory(vulkan->device, vulkan->staging.memory, 0, VK_WHOLE_SIZE, 0,
                                                             &vulkan->staging_mapped), op, "vkMapMemory");
    if (status != FG_OK) vulkan_staging_destroy(vulkan);
    return status;
}

/* Records a copy of bytes from source at source_offset to destination at destination_offset, then
 * submits and waits for it. */
static fg_status copy_and_wait(vulkan_backend *vulkan, VkBuffer source, VkDeviceSize source_offset, VkBuffer destination,
                               VkDeviceSize destination_offset, VkDeviceSize bytes, const char *op)
{
    vulkan_batch *batch = NULL;
    fg_status status = vulkan_next_command(vulkan, op, &batch);
    if (status != FG_OK) return status;
    VkBufferCopy region = {source_offset, destination_offset, bytes};
    vulkan->vk.vkCmdCopyBuffer(batch->commands, source, destination, 1, &region);
    return vulkan_submit(vulkan, 1, op);
}

fg_status vulkan_upload_locked(vulkan_backend *vulkan, vulkan_buffer *buffer, const void *host, size_t bytes)
{
    if (bytes > buffer->bytes)
        return vulkan_fail(vulkan, FG_ERR_INVALID_ARGUMENT, "[vulkan upload] %zu bytes into a buffer of %llu", bytes,
                           (unsigned long long)buffer->bytes);
    fg_status status = vulkan_submit(vulkan, 1, "upload"); /* the staging buffer may be resized below */
    if (status == FG_OK && bytes) status = ensure_staging(vulkan, bytes, "upload");
    for (size_t offset = 0; offset < bytes && status == FG_OK;) {
        size_t chunk = bytes - offset < vulkan->staging.bytes ? bytes - offset : (size_t)vulkan->staging.bytes;
        memcpy(vulkan->staging_mapped, (const char *)host + offset, chunk);
        status = copy_and_wait(vulkan, vulkan->staging.buffer, 0, buffer->buffer, offset, chunk, "upload");
        offset += chunk;
    }
    return status;
}

fg_status vulkan_download_locked(vulkan_backend *vulkan, void *host, const vulkan_buffer *buffer, size_t bytes)
{
    if (bytes > buffer->bytes)
        return vulkan_fail(vulkan, FG_ERR_INVALID_ARGUMENT, "[vulkan download] %zu bytes from a buffer of %llu", bytes,
                           (unsigned long long)buffer->bytes);
    fg_status status = vulkan_submit(vulkan, 1, "download");
    if (status == FG_OK && bytes) status = ensure_staging(vulkan, bytes, "download");
    for (size_t offset = 0; offset < bytes && status == FG_OK;) {
        size_t chunk = bytes - offset < vulkan->staging.bytes ? bytes - offset : (size_t)vulkan->staging.bytes;
        status = copy_and_wait(vulkan, buffer->buffer, offset, vulkan->staging.buffer, 0, chunk, "download");
        if (status == FG_OK) memcpy((char *)host + offset, vulkan->staging_mapped, chunk);
        offset += chunk;
    }
    return status;
}
