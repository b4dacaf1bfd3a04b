/*
 * pool.h — a buffer pool generic over any backend's allocator.
 *
 * Freed buffers are kept in a cache and reused for later requests of a similar size (a cached buffer is
 * reused when it is at least the request and wastes at most max_waste of it). The pool counts live
 * (handed out) and cached bytes against a byte budget: when a new allocation would pass the budget, the
 * least recently released cached buffers are freed first (LRU). A request that can never fit the budget
 * is a hard error (FG_ERR_BUDGET), as is one that does not fit beside the live buffers. When the
 * allocator itself fails, the pool frees its whole cache and retries once (as tinygrad's LRU allocator
 * does) before reporting FG_ERR_OUT_OF_MEMORY. All calls are thread-safe.
 */
#ifndef FUSEGRAPH_POOL_H
#define FUSEGRAPH_POOL_H

#include "fusegraph.h"

typedef struct fg_allocator {
    void *state;
    fg_status (*allocate)(void *state, size_t bytes, void **out_buffer);
    void (*release)(void *state, void *buffer);
} fg_allocator;

typedef struct fg_pool fg_pool;

/* budget_bytes 0 means unlimited; max_waste is a fraction (0.25: a cached buffer up to 25% larger than
 * the request may serve it). */
fg_status fg_pool_create(fg_allocator allocator, size_t budget_bytes, double max_waste, fg_pool **out_pool);
/* Frees every cached buffer. Live buffers must have been released first. */
void fg_pool_destroy(fg_pool *pool);

/* Hands out a buffer of at least bytes. */
fg_status fg_pool_acquire(fg_pool *pool, size_t bytes, void **out_buffer);
/* Returns a buffer handed out by fg_pool_acquire to the cache. */
void fg_pool_release(fg_pool *pool, void *buffer);
/* Frees every cached buffer. */
void fg_pool_trim(fg_pool *pool);
void fg_pool_read_statistics(fg_pool *pool, fg_pool_statistics *out_statistics);

#endif /* FUSEGRAPH_POOL_H */
