/*
 * cuda_transfer.c — device buffers, and moving data between them and the caller's host memory.
 *
 * The caller's memory is pageable: a DMA engine cannot read it directly (cudaMemcpy from pageable
 * memory copies through a driver bounce buffer and blocks). We stage through a ring of pinned chunks
 * instead: the host copies chunk i into a free pinned slot while the copy engine moves chunk i-1, so
 * the transfer runs at about max(host memcpy, PCIe) rather than their sum. Uploads return as soon as
 * the last chunk is queued (the caller's memory is already copied out), so the compute stream can go
 * on; downloads return when the data is in the caller's memory, since the caller reads it next.
 *
 * Two things make staging nearly free beside the DMA itself:
 *  - chunks are a quarter of the transfer (512 KiB to 8 MiB), so a 4 MiB activation is a pipeline of
 *    four: the host fills chunk i+1 while the copy engine moves chunk i;
 *  - the host-side copy of a chunk is split over up to 8 OpenMP threads, one per 64 KiB: one core copies
 *    ~10 GB/s, less than PCIe 4/5 moves (25-50 GB/s), so a single-threaded memcpy is the bottleneck.
 * Measured on the H100 host (2026-11-27, bench/probes/transfer_probe.cu: upload + synchronize
 * / download, us, median of 21, two rounds agreeing within 5%), against the settings before (quarters
 * of at least 256 KiB, a thread per 256 KiB):
 *     size     before          now (>= 512 KiB, a thread per 64 KiB)
 *     256 KiB   28.6 /  24.2    24.8 /  17.0   (one chunk)
 *     1 MiB    110.4 /  80.9    62.0 /  37.2   (two chunks)
 *     4 MiB    234.6 / 142.7   195.8 / 112.6
 *     32 MiB   8 MiB chunks, 8 threads, as before: 889-918 / 765-776
 * Quarters of at least 256 KiB with 8 threads each, of at least 1 or 2 MiB, or one chunk up to 8 MiB
 * were within 10% of these at 4 MiB and up, and up to 12% slower at 1 MiB.
 *
 * A chunk that fails is retried in quarter-size pieces down to 64 KiB; if that fails too the call
 * reports FG_ERR_DEVICE and the core runs the node on the CPU.
 */
#include "cuda_backend.h"

#include <stdlib.h>
#include <string.h>
#ifdef _OPENMP
#include <omp.h>
#endif

#define SMALLEST_RETRY_CHUNK (64u << 10)
#define SMALLEST_PIPELINE_CHUNK (512u << 10)
#define COPY_PIECE (64u << 10) /* bytes per thread's share of a staging copy, at least */
#define COPY_THREADS_MAX 8      /* past ~8 cores a host memcpy is limited by memory, not cores */

/* memcpy split over up to COPY_THREADS_MAX threads for large chunks. */
static void staging_copy(void *destination, const void *source, size_t bytes)
{
#ifdef _OPENMP
    int threads = (int)(bytes / COPY_PIECE);
    if (threads > COPY_THREADS_MAX) threads = COPY_THREADS_MAX;
    if (threads > omp_get_max_threads()) threads = omp_get_max_threads();
    if (threads >= 2) {
        size_t share = (bytes / (size_t)threads + 63) & ~(size_t)63;
#pragma omp parallel for num_threads(threads) schedule(static)
        for (int t = 0; t < threads; t++) {
            size_t begin = (size_t)t * share;
            if (begin < bytes)
                memcpy((char *)destination + begin, (const char *)source + begin, bytes - begin < share ? bytes - begin : share);
        }
        return;
    }
#endif
    memcpy(destination, source, bytes);
}

/* The first chunk size for a transfer of bytes: a quarter of it, within [512 KiB, the staging chunk]. */
static size_t pipeline_chunk(const cuda_backend *cuda, size_t bytes)
{
    size_t chunk = ((bytes / 4) + (64u << 10) - 1) & ~(size_t)((64u << 10) - 1);
    if (chunk < SMALLEST_PIPELINE_CHUNK) chunk = SMALLEST_PIPELINE_CHUNK;
    return chunk > cuda->staging_chunk ? cuda->staging_chunk : chunk;
}

uint64_t cuda_timeline_record(cuda_timeline *timeline)
{
    uint64_t ticket = ++timeline->next_ticket;
    /* A record that fails leaves the slot's older event, so a wait for this ticket would not cover the
     * work before it (and cuda_timeline_wait would then skip the tickets in between): finish that work
     * instead, which makes every wait for it or earlier tickets moot. */
    if (cudaEventRecord(timeline->events[ticket % CUDA_EVENT_RING], timeline->stream) != cudaSuccess)
        cudaStreamSynchronize(timeline->stream);
    return ticket;
}

void cuda_timeline_wait(cuda_timeline *waiter, const cuda_timeline *other, uint64_t ticket)
{
    if (ticket == 0) return;
    /* The ring keeps the last CUDA_EVENT_RING tickets; an older one has passed when the oldest kept has. */
    uint64_t oldest_kept = other->next_ticket >= CUDA_EVENT_RING ? other->next_ticket - CUDA_EVENT_RING + 1 : 1;
    if (ticket < oldest_kept) ticket = oldest_kept;
    /* Each run of a node waits for the uploads of its inputs; with the inputs resident those are the same
     * old tickets run after run, so all but the first wait are redundant API calls and device-side
     * waits. Measured on the H100 (bench/results/h100-2026-11-27-session9/wait-ab/, three rounds of
     * `fusegraph bench --suite linear` alternating with the module before): bf16 M=1 K=4096 N=14336
     * 0.0454-0.0456 ms against 0.0456-0.0463; other rows within the noise. */
    if (ticket <= waiter->other_ticket_waited) return;
    if (cudaStreamWaitEvent(waiter->stream, other->events[ticket % CUDA_EVENT_RING], 0) == cudaSuccess)
        waiter->other_ticket_waited = ticket;
}

static fg_status timeline_create(cuda_backend *cuda, cuda_timeline *timeline)
{
    fg_status status = cuda_check(cuda, cudaStreamCreateWithFlags(&timeline->stream, cudaStreamNonBlocking), "create", "cudaStreamCreate");
    for (int i = 0; i < CUDA_EVENT_RING && status == FG_OK; i++)
        status = cuda_check(cuda, cudaEventCreateWithFlags(&timeline->events[i], cudaEventDisableTiming), "create", "cudaEventCreate");
    return status;
}

fg_status cuda_streams_create(cuda_backend *cuda)
{
    fg_status status = timeline_create(cuda, &cuda->compute);
    if (status == FG_OK) status = timeline_create(cuda, &cuda->copy);
    cuda->staging_chunk = CUDA_STAGING_CHUNK;
    for (int i = 0; i < CUDA_STAGING_SLOTS && status == FG_OK; i++) {
        status = cuda_check(cuda, cudaHostAlloc(&cuda->staging[i], cuda->staging_chunk, cudaHostAllocDefault), "create",
                            "cudaHostAlloc (pinned staging)");
        if (status == FG_OK)
            status = cuda_check(cuda, cudaEventCreateWithFlags(&cuda->staging_free[i], cudaEventDisableTiming), "create", "cudaEventCreate");
    }
    return status;
}

void cuda_streams_destroy(cuda_backend *cuda)
{
    cuda_timeline *timelines[2] = {&cuda->compute, &cuda->copy};
    for (int t = 0; t < 2; t++) {
        for (int i = 0; i < CUDA_EVENT_RING; i++)
            if (timelines[t]->events[i]) cudaEventDestroy(timelines[t]->events[i]);
        if (timelines[t]->stream) cudaStreamDestroy(timelines[t]->stream);
    }
    for (int i = 0; i < CUDA_STAGING_SLOTS; i++) {
        if (cuda->staging[i]) cudaFreeHost(cuda->staging[i]);
        if (cuda->staging_free[i]) cudaEventDestroy(cuda->staging_free[i]);
    }
    if (cuda->workspace) cudaFree(cuda->workspace);
}

fg_status cuda_enter(cuda_backend *cuda, const char *op)
{
    pthread_mutex_lock(&cuda->lock);
    if (cuda->broken) {
        pthread_mutex_unlock(&cuda->lock);
        return cuda_fail(cuda, FG_ERR_DEVICE, "[cuda %s] the device had an unrecoverable error earlier", op);
    }
    fg_status status = cuda_check(cuda, cudaSetDevice(cuda->device), op, "cudaSetDevice");
    if (status != FG_OK) pthread_mutex_unlock(&cuda->lock);
    return status;
}

fg_status cuda_leave(cuda_backend *cuda, fg_status status)
{
    pthread_mutex_unlock(&cuda->lock);
    return status;
}

fg_status cuda_allocate(void *state, size_t bytes, void **out_buffer)
{
    cuda_backend *cuda = state;
    fg_status status = cuda_enter(cuda, "allocate");
    if (status != FG_OK) return status;
    if (cuda_injected_failure(cuda, "allocate"))
        return cuda_leave(cuda, cuda_fail(cuda, FG_ERR_OUT_OF_MEMORY, "[cuda allocate] injected out of memory (%zu bytes)", bytes));
    cuda_buffer *buffer = calloc(1, sizeof *buffer);
    if (!buffer) return cuda_leave(cuda, cuda_fail(cuda, FG_ERR_OUT_OF_MEMORY, "[cuda allocate] out of host memory"));
    cudaError_t error = cudaMalloc(&buffer->device_pointer, bytes ? bytes : 1);
    if (error != cudaSuccess) {
        free(buffer);
        (void)cudaGetLastError();
        return cuda_leave(cuda, cuda_fail(cuda, error == cudaErrorMemoryAllocation ? FG_ERR_OUT_OF_MEMORY : FG_ERR_DEVICE,
                                     "[cuda allocate] cudaMalloc of %zu bytes: %s", bytes, cudaGetErrorString(error)));
    }
    buffer->bytes = bytes;
    *out_buffer = buffer;
    return cuda_leave(cuda, FG_OK);
}

void cuda_release(void *state, void *opaque)
{
    cuda_backend *cuda = state;
    cuda_buffer *buffer = opaque;
    if (!buffer) return;
    pthread_mutex_lock(&cuda->lock);
    cudaSetDevice(cuda->device);
    /* cudaFree waits for the device to finish with the memory; the pool above calls this rarely. */
    if (!cuda->broken) cudaFree(buffer->device_pointer);
    free(buffer);
    pthread_mutex_unlock(&cuda->lock);
}

/* One chunk host -> device through staging slot, or device -> staging slot (the caller copies out). */
static cudaError_t queue_chunk(cuda_backend *cuda, int slot, void *device_pointer, const void *host, size_t bytes, int upload)
{
    cudaError_t error = cudaEventSynchronize(cuda->staging_free[slot]); /* the slot's previous copy is done */
    if (error != cudaSuccess) return error;
    if (upload && cuda_injected_failure(cuda, "upload")) return cudaErrorInvalidValue;
    if (upload && bytes > (1u << 20) && cuda_injected_failure(cuda, "upload_large")) return cudaErrorInvalidValue;
    if (upload) {
        staging_copy(cuda->staging[slot], host, bytes);
        error = cudaMemcpyAsync(device_pointer, cuda->staging[slot], bytes, cudaMemcpyHostToDevice, cuda->copy.stream);
    } else {
        error = cudaMemcpyAsync(cuda->staging[slot], device_pointer, bytes, cudaMemcpyDeviceToHost, cuda->copy.stream);
    }
    if (error == cudaSuccess) error = cudaEventRecord(cuda->staging_free[slot], cuda->copy.stream);
    return error;
}

/* Copies chunk index of a download out of its staging slot into the caller's memory, once its copy is done. */
static cudaError_t copy_out(cuda_backend *cuda, char *host, size_t bytes, size_t chunk, size_t index)
{
    int slot = (int)(index % CUDA_STAGING_SLOTS);
    cudaError_t error = cudaEventSynchronize(cuda->staging_free[slot]);
    if (error != cudaSuccess) return error;
    size_t offset = index * chunk;
    staging_copy(host + offset, cuda->staging[slot], bytes - offset < chunk ? bytes - offset : chunk);
    return cudaSuccess;
}

/* Moves bytes between the caller's memory and a device pointer in chunks of chunk bytes. */
static cudaError_t transfer(cuda_backend *cuda, char *device_pointer, char *host, size_t bytes, size_t chunk, int upload)
{
    size_t chunks = (bytes + chunk - 1) / chunk;
    cudaError_t error = cudaSuccess;
    for (size_t c = 0; c < chunks && error == cudaSuccess; c++) {
        /* A download reuses a slot only after the chunk it held was copied out. */
        if (!upload && c >= CUDA_STAGING_SLOTS) error = copy_out(cuda, host, bytes, chunk, c - CUDA_STAGING_SLOTS);
        size_t offset = c * chunk, length = bytes - offset < chunk ? bytes - offset : chunk;
        if (error == cudaSuccess)
            error = queue_chunk(cuda, (int)(c % CUDA_STAGING_SLOTS), device_pointer + offset, host + offset, length, upload);
    }
    if (!upload)
        for (size_t c = chunks > CUDA_STAGING_SLOTS ? chunks - CUDA_STAGING_SLOTS : 0; c < chunks && error == cudaSuccess; c++)
            error = copy_out(cuda, host, bytes, chunk, c);
    return error;
}

/* transfer(), retried in smaller pieces when it fails (the failure may be a transient resource issue). */
static fg_status transfer_with_retry(cuda_backend *cuda, cuda_buffer *buffer, char *host, size_t bytes, int upload)
{
    const char *op = upload ? "upload" : "download";
    if (bytes > buffer->bytes)
        return cuda_fail(cuda, FG_ERR_INVALID_ARGUMENT, "[cuda %s] %zu bytes into a buffer of %zu", op, bytes, buffer->bytes);
    cudaError_t error = cudaSuccess;
    size_t first_chunk = pipeline_chunk(cuda, bytes);
    for (size_t chunk = first_chunk; chunk >= SMALLEST_RETRY_CHUNK; chunk /= 4) {
        error = transfer(cuda, buffer->device_pointer, host, bytes, chunk, upload);
        if (error == cudaSuccess) {
            if (chunk != first_chunk)
                cuda_log(cuda, FG_LOG_WARN, "[cuda %s] succeeded after a retry in %zu-byte chunks", op, chunk);
            return FG_OK;
        }
        (void)cudaGetLastError();
        for (int s = 0; s < CUDA_STAGING_SLOTS; s++) (void)cudaEventSynchronize(cuda->staging_free[s]);
        cuda_log(cuda, FG_LOG_WARN, "[cuda %s] %zu bytes in %zu-byte chunks failed (%s); retrying in smaller chunks", op,
                 bytes, chunk, cudaGetErrorString(error));
    }
    return cuda_check(cuda, error, op, "cudaMemcpyAsync (every chunk size down to 64 KiB)");
}

fg_status cuda_upload(void *state, void *opaque, const void *host_data, size_t bytes)
{
    cuda_backend *cuda = state;
    cuda_buffer *buffer = opaque;
    fg_status status = cuda_enter(cuda, "upload");
    if (status != FG_OK) return status;
    cuda_timeline_wait(&cuda->copy, &cuda->compute, buffer->compute_ticket); /* no kernel still reads it */
    status = transfer_with_retry(cuda, buffer, (char *)host_data, bytes, 1);
    if (status == FG_OK) {
        buffer->copy_ticket = cuda_timeline_record(&cuda->copy);
        /* Its contents are now the upload's, ordered after every kernel that used it (the wait above) and
         * before every kernel that reads it (they wait for copy_ticket): a weight again, not an output. */
        buffer->written_by_kernel = 0;
    }
    return cuda_leave(cuda, status);
}

fg_status cuda_download(void *state, void *host_data, const void *opaque, size_t bytes)
{
    cuda_backend *cuda = state;
    cuda_buffer *buffer = (cuda_buffer *)opaque;
    fg_status status = cuda_enter(cuda, "download");
    if (status != FG_OK) return status;
    if (cuda_injected_failure(cuda, "download")) {
        return cuda_leave(cuda, cuda_fail(cuda, FG_ERR_DEVICE, "[cuda download] injected failure (%zu bytes)", bytes));
    }
    cuda_timeline_wait(&cuda->copy, &cuda->compute, buffer->compute_ticket); /* the kernel that wrote it is done */
    status = transfer_with_retry(cuda, buffer, host_data, bytes, 0);
    if (status == FG_OK) buffer->copy_ticket = cuda_timeline_record(&cuda->copy);
    return cuda_leave(cuda, status);
}

fg_status cuda_synchronize(void *state)
{
    cuda_backend *cuda = state;
    fg_status status = cuda_enter(cuda, "synchronize");
    if (status != FG_OK) return status;
    if (cuda_injected_failure(cuda, "sync")) return cuda_leave(cuda, cuda_fail(cuda, FG_ERR_DEVICE, "[cuda synchronize] injected failure"));
    status = cuda_check(cuda, cudaStreamSynchronize(cuda->compute.stream), "synchronize", "cudaStreamSynchronize (compute)");
    if (status == FG_OK)
        status = cuda_check(cuda, cudaStreamSynchronize(cuda->copy.stream), "synchronize", "cudaStreamSynchronize (copy)");
    return cuda_leave(cuda, status);
}

fg_status cuda_workspace(cuda_backend *cuda, size_t bytes, void **out_pointer)
{
    if (bytes <= cuda->workspace_bytes) {
        *out_pointer = cuda->workspace;
        return FG_OK;
    }
    if (cuda->workspace) {
        /* cudaFree waits for the device, so kernels still using the old workspace finish first. */
        cudaFree(cuda->workspace);
        cuda->workspace = NULL;
        cuda->workspace_bytes = 0;
    }
    size_t grown = bytes < (1u << 20) ? (1u << 20) : bytes;
    fg_status status = cuda_check(cuda, cudaMalloc(&cuda->workspace, grown), "workspace", "cudaMalloc");
    if (status != FG_OK) return status;
    cuda->workspace_bytes = grown;
    *out_pointer = cuda->workspace;
    return FG_OK;
}
