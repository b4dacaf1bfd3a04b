/*
 * test_pool.c — the generic buffer pool over a counting allocator: reuse by size class within the waste
 * cap, LRU eviction under a budget, the hard error for a request that can never fit, trim, statistics,
 * the trim-and-retry-once path when the allocator fails, and no leak.
 */
#include "check.h"
#include "pool.h"

typedef struct counting_allocator {
    int live_allocations;
    size_t live_bytes;
    int fail_next;   /* fail this many allocations */
    size_t capacity; /* 0: unlimited; else allocations past it fail, like a full device */
    void *released[64];
    int released_count;
} counting_allocator;

static fg_status counting_allocate(void *state, size_t bytes, void **out)
{
    counting_allocator *a = state;
    if (a->fail_next > 0) {
        a->fail_next--;
        return FG_ERR_OUT_OF_MEMORY;
    }
    if (a->capacity && a->live_bytes + bytes > a->capacity) return FG_ERR_OUT_OF_MEMORY;
    size_t *block = malloc(bytes + sizeof(size_t));
    block[0] = bytes;
    a->live_allocations++;
    a->live_bytes += bytes;
    *out = block + 1;
    return FG_OK;
}

static void counting_release(void *state, void *buffer)
{
    counting_allocator *a = state;
    size_t *block = (size_t *)buffer - 1;
    a->live_allocations--;
    a->live_bytes -= block[0];
    if (a->released_count < 64) a->released[a->released_count++] = buffer;
    free(block);
}

static fg_pool *make_pool(counting_allocator *a, size_t budget)
{
    fg_pool *pool = NULL;
    fg_allocator allocator = {a, counting_allocate, counting_release};
    CHECK_OK(fg_pool_create(allocator, budget, 0.25, &pool));
    return pool;
}

static void test_reuse(void)
{
    counting_allocator a = {0};
    fg_pool *pool = make_pool(&a, 0);
    void *first, *second, *third;
    CHECK_OK(fg_pool_acquire(pool, 1000, &first));
    fg_pool_release(pool, first);
    CHECK_OK(fg_pool_acquire(pool, 990, &second)); /* same size class: reused */
    CHECK(second == first);
    fg_pool_release(pool, second);
    CHECK_OK(fg_pool_acquire(pool, 100, &third)); /* far smaller: would waste > 25%, new buffer */
    CHECK(third != first);
    fg_pool_statistics stats;
    fg_pool_read_statistics(pool, &stats);
    CHECK(stats.hits == 1 && stats.misses == 2);
    CHECK(stats.bytes_live == 256 && stats.bytes_cached == 1024);
    fg_pool_release(pool, third);
    fg_pool_read_statistics(pool, &stats);
    CHECK(stats.bytes_live == 0);
    fg_pool_trim(pool);
    fg_pool_read_statistics(pool, &stats);
    CHECK(stats.bytes_cached == 0);
    CHECK(a.live_allocations == 0);
    fg_pool_destroy(pool);
}

static void test_lru_eviction(void)
{
    counting_allocator a = {0};
    fg_pool *pool = make_pool(&a, 4096);
    void *b[3];
    for (int i = 0; i < 3; i++) CHECK_OK(fg_pool_acquire(pool, 1024, &b[i]));
    /* Release in the order 1, 0, 2: buffer 1 is the least recently released. */
    fg_pool_release(pool, b[1]);
    fg_pool_release(pool, b[0]);
    fg_pool_release(pool, b[2]);
    void *big;
    CHECK_OK(fg_pool_acquire(pool, 2048, &big)); /* 3072 cached + 2048 > 4096: evict one, the LRU (b[1]) */
    CHECK(a.released_count == 1 && a.released[0] == b[1]);
    fg_pool_statistics stats;
    fg_pool_read_statistics(pool, &stats);
    CHECK(stats.evictions == 1);
    CHECK(stats.bytes_live + stats.bytes_cached <= 4096);
    CHECK(stats.bytes_peak <= 4096);
    /* Never fits: a hard error naming the sizes. */
    void *huge;
    CHECK_FAILS(fg_pool_acquire(pool, 5000, &huge), FG_ERR_BUDGET, "can never fit the budget of 4096");
    /* Fits the budget, but not beside what is live. */
    void *more;
    CHECK_FAILS(fg_pool_acquire(pool, 3000, &more), FG_ERR_BUDGET, "do not fit beside 2048 live bytes");
    fg_pool_release(pool, big);
    fg_pool_destroy(pool);
    CHECK(a.live_allocations == 0);
}

static void test_allocator_failure_retry(void)
{
    counting_allocator a = {0};
    a.capacity = 3000; /* the "device" holds less than the pool's budget */
    fg_pool *pool = make_pool(&a, 1 << 20);
    void *x, *y;
    CHECK_OK(fg_pool_acquire(pool, 2048, &x));
    fg_pool_release(pool, x); /* cached: the device is now mostly full of our own cache */
    CHECK_OK(fg_pool_acquire(pool, 1200, &y)); /* no cached fit; allocate fails; trim; retry succeeds */
    fg_pool_statistics stats;
    fg_pool_read_statistics(pool, &stats);
    CHECK(stats.bytes_cached == 0 && stats.evictions == 1);
    a.fail_next = 2; /* fails the first try and the retry: a clean error, nothing leaked */
    void *z;
    CHECK_FAILS(fg_pool_acquire(pool, 100, &z), FG_ERR_OUT_OF_MEMORY, "[pool] the allocator failed");
    fg_pool_read_statistics(pool, &stats);
    CHECK(stats.allocation_failures == 1);
    fg_pool_release(pool, y);
    fg_pool_destroy(pool);
    CHECK(a.live_allocations == 0 && a.live_bytes == 0);
}

static void test_no_leak_under_churn(void)
{
    counting_allocator a = {0};
    fg_pool *pool = make_pool(&a, 1 << 16);
    void *held[8] = {0};
    for (int round = 0; round < 2000; round++) {
        int slot = (int)check_uniform(0, 8);
        if (held[slot]) {
            fg_pool_release(pool, held[slot]);
            held[slot] = NULL;
        } else if (fg_pool_acquire(pool, (size_t)check_uniform(1, 8000), &held[slot]) != FG_OK) {
            held[slot] = NULL;
        }
        fg_pool_statistics stats;
        fg_pool_read_statistics(pool, &stats);
        CHECK(stats.bytes_live + stats.bytes_cached <= (1 << 16));
        CHECK(stats.bytes_live + stats.bytes_cached == a.live_bytes);
    }
    for (int i = 0; i < 8; i++) fg_pool_release(pool, held[i]);
    fg_pool_statistics stats;
    fg_pool_read_statistics(pool, &stats);
    CHECK(stats.bytes_live == 0);
    fg_pool_destroy(pool);
    CHECK(a.live_allocations == 0);
}

int main(void)
{
    check_seed();
    test_reuse();
    test_lru_eviction();
    test_allocator_failure_retry();
    test_no_leak_under_churn();
    return check_finish("test_pool");
}
