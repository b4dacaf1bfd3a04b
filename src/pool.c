/*
 * pool.c — the generic buffer pool (see pool.h for the rules).
 *
 * Sizes are rounded up to classes of 2^k * {1, 1.25, 1.5, 1.75} (at least 256 bytes) so that requests of
 * nearly the same size share buffers. The cache is an array in release order: index 0 is the least
 * recently released buffer, the first to be evicted. Pools hold tens of buffers, so linear scans are
 * cheaper than any index.
 */
#include "pool.h"
#include "internal.h"

#include <pthread.h>
#include <stdlib.h>
#include <string.h>

typedef struct pool_block {
    void *buffer;
    size_t bytes;
} pool_block;

typedef struct block_list {
    pool_block *blocks;
    int count, capacity;
} block_list;

struct fg_pool {
    fg_allocator allocator;
    size_t budget;
    double max_waste;
    block_list live, cached;
    fg_pool_statistics statistics;
    pthread_mutex_t lock;
};

static size_t size_class(size_t bytes)
{
    if (bytes <= 256) return 256;
    size_t power = 256;
    while (power * 2 <= bytes) power *= 2;
    for (int quarter = 0; quarter <= 4; quarter++) {
        size_t candidate = power + power / 4 * (size_t)quarter;
        if (candidate >= bytes) return candidate;
    }
    return power * 2;
}

static int list_push(block_list *list, pool_block block)
{
    if (list->count == list->capacity) {
        int capacity = list->capacity ? list->capacity * 2 : 16;
        pool_block *grown = realloc(list->blocks, sizeof(pool_block) * (size_t)capacity);
        if (!grown) return 0;
        list->blocks = grown;
        list->capacity = capacity;
    }
    list->blocks[list->count++] = block;
    return 1;
}

static pool_block list_remove(block_list *list, int index)
{
    pool_block block = list->blocks[index];
    memmove(&list->blocks[index], &list->blocks[index + 1], sizeof(pool_block) * (size_t)(list->count - index - 1));
    list->count--;
    return block;
}

fg_status fg_pool_create(fg_allocator allocator, size_t budget_bytes, double max_waste, fg_pool **out_pool)
{
    if (!out_pool || !allocator.allocate || !allocator.release)
        return fg_fail(FG_ERR_INVALID_ARGUMENT, "[pool] allocator or out_pool is NULL");
    fg_pool *pool = calloc(1, sizeof *pool);
    if (!pool) return fg_fail(FG_ERR_OUT_OF_MEMORY, "[pool] out of host memory");
    pool->allocator = allocator;
    pool->budget = budget_bytes;
    pool->max_waste = max_waste < 0 ? 0 : max_waste;
    pool->statistics.budget_bytes = budget_bytes;
    pthread_mutex_init(&pool->lock, NULL);
    *out_pool = pool;
    return FG_OK;
}

static void free_cached(fg_pool *pool, int index)
{
    pool_block block = list_remove(&pool->cached, index);
    pool->allocator.release(pool->allocator.state, block.buffer);
    pool->statistics.bytes_cached -= block.bytes;
}

static void trim_locked(fg_pool *pool)
{
    while (pool->cached.count) free_cached(pool, pool->cached.count - 1);
}

void fg_pool_destroy(fg_pool *pool)
{
    if (!pool) return;
    trim_locked(pool);
    /* Live buffers at destruction are a caller bug; free them rather than leak device memory. */
    for (int i = 0; i < pool->live.count; i++)
        pool->allocator.release(pool->allocator.state, pool->live.blocks[i].buffer);
    free(pool->live.blocks);
    free(pool->cached.blocks);
    pthread_mutex_destroy(&pool->lock);
    free(pool);
}

/* Smallest cached block that serves bytes within the waste cap, or -1. */
static int find_cached(const fg_pool *pool, size_t bytes)
{
    int best = -1;
    double limit = (double)bytes * (1.0 + pool->max_waste);
    for (int i = 0; i < pool->cached.count; i++) {
        size_t size = pool->cached.blocks[i].bytes;
        if (size < bytes || (double)size > limit) continue;
        if (best < 0 || size < pool->cached.blocks[best].bytes) best = i;
    }
    return best;
}

static fg_status hand_out(fg_pool *pool, pool_block block, void **out_buffer)
{
    if (!list_push(&pool->live, block)) {
        pool->allocator.release(pool->allocator.state, block.buffer);
        return fg_fail(FG_ERR_OUT_OF_MEMORY, "[pool] out of host memory for bookkeeping");
    }
    pool->statistics.bytes_live += block.bytes;
    size_t total = pool->statistics.bytes_live + pool->statistics.bytes_cached;
    if (total > pool->statistics.bytes_peak) pool->statistics.bytes_peak = total;
    *out_buffer = block.buffer;
    return FG_OK;
}

static fg_status acquire_locked(fg_pool *pool, size_t bytes, void **out_buffer)
{
    int hit = find_cached(pool, bytes);
    if (hit >= 0) {
        pool->statistics.hits++;
        pool_block block = list_remove(&pool->cached, hit);
        pool->statistics.bytes_cached -= block.bytes;
        return hand_out(pool, block, out_buffer);
    }
    pool->statistics.misses++;
    size_t rounded = size_class(bytes);
    if (pool->budget && rounded > pool->budget)
        return fg_fail(FG_ERR_BUDGET, "[pool] a request of %zu bytes can never fit the budget of %zu bytes", bytes,
                       pool->budget);
    if (pool->budget && pool->statistics.bytes_live + rounded > pool->budget)
        return fg_fail(FG_ERR_BUDGET, "[pool] %zu bytes do not fit beside %zu live bytes in the budget of %zu",
                       bytes, pool->statistics.bytes_live, pool->budget);
    /* LRU eviction: free the oldest cached buffers until the new one fits the budget. */
    while (pool->budget && pool->cached.count &&
           pool->statistics.bytes_live + pool->statistics.bytes_cached + rounded > pool->budget) {
        free_cached(pool, 0);
        pool->statistics.evictions++;
    }
    pool_block block = {NULL, rounded};
    fg_status status = pool->allocator.allocate(pool->allocator.state, rounded, &block.buffer);
    if (status != FG_OK && pool->cached.count) {
        /* The device may be out of memory because of our own cache: free it and retry once. */
        pool->statistics.evictions += (uint64_t)pool->cached.count;
        trim_locked(pool);
        status = pool->allocator.allocate(pool->allocator.state, rounded, &block.buffer);
    }
    if (status != FG_OK) {
        pool->statistics.allocation_failures++;
        return fg_fail(FG_ERR_OUT_OF_MEMORY, "[pool] the allocator failed for %zu bytes (after trimming the cache)",
                       rounded);
    }
    return hand_out(pool, block, out_buffer);
}

fg_status fg_pool_acquire(fg_pool *pool, size_t bytes, void **out_buffer)
{
    if (!pool || !out_buffer) return fg_fail(FG_ERR_INVALID_ARGUMENT, "[pool] pool or out_buffer is NULL");
    pthread_mutex_lock(&pool->lock);
    fg_status status = acquire_locked(pool, bytes, out_buffer);
    pthread_mutex_unlock(&pool->lock);
    return status;
}

void fg_pool_release(fg_pool *pool, void *buffer)
{
    if (!pool || !buffer) return;
    pthread_mutex_lock(&pool->lock);
    for (int i = pool->live.count - 1; i >= 0; i--) {
        if (pool->live.blocks[i].buffer != buffer) continue;
        pool_block block = list_remove(&pool->live, i);
        pool->statistics.bytes_live -= block.bytes;
        if (list_push(&pool->cached, block)) {
            pool->statistics.bytes_cached += block.bytes;
        } else {
            pool->allocator.release(pool->allocator.state, block.buffer);
        }
        break;
    }
    pthread_mutex_unlock(&pool->lock);
}

void fg_pool_trim(fg_pool *pool)
{
    if (!pool) return;
    pthread_mutex_lock(&pool->lock);
    trim_locked(pool);
    pthread_mutex_unlock(&pool->lock);
}

void fg_pool_read_statistics(fg_pool *pool, fg_pool_statistics *out_statistics)
{
    pthread_mutex_lock(&pool->lock);
    *out_statistics = pool->statistics;
    pthread_mutex_unlock(&pool->lock);
}
