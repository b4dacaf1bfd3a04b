/*
 * cuda_costs.c — the cost figures the planner uses for this GPU, measured once.
 *
 * What is measured (device events for GPU work, the host clock where the host's part counts):
 *   matmul_flops_per_second[dtype], matmul_tf32_flops_per_second
 *       2048^3 (17.2 GFLOP) through the autotuner, so the rate is that of the implementation the
 *       backend will actually use (and the autotune cache gets that class for free).
 *   memory_bytes_per_second   add of 16M f32 elements: 192 MiB read + written, median of 5.
 *   launch_seconds            host time per node for 200 back-to-back tiny kernels (what a small node
 *                             costs: the launch call plus the GPU's per-kernel overhead).
 *   transfer curve            our staged upload (+ synchronize) and download of 4 B, 64 KiB, 1 MiB, 8 MiB
 *                             and 32 MiB from/to ordinary (pageable) host memory, which is what
 *                             fg_plan_run's inputs and outputs are; medians of 5-9. The planner prices a
 *                             transfer by interpolating it (cuda_transfer_seconds): on the H100 a few KiB
 *                             cost ~10 us, 1 MiB ~40-60 us, 32 MiB ~0.8-0.9 ms (staging copies), which
 *                             no single line fits.
 *   host_to_device / device_to_host_bytes_per_second   the curve's 32 MiB point
 *   transfer_latency_seconds  the curve's 4-byte point (mean of both directions)
 * Altogether well under a second on an H100 (most of it the four 2048^3 autotunes). The figures are
 * cached in a file named after the GPU and driver and read back by later processes.
 */
#define _POSIX_C_SOURCE 200809L /* clock_gettime */
#include "cuda_backend.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

static double now_seconds(void)
{
    struct timespec t;
    clock_gettime(CLOCK_MONOTONIC, &t);
    return (double)t.tv_sec + (double)t.tv_nsec * 1e-9;
}

static int compare_doubles(const void *a, const void *b)
{
    double x = *(const double *)a, y = *(const double *)b;
    return (x > y) - (x < y);
}

double cuda_median(double *values, int count)
{
    qsort(values, (size_t)count, sizeof *values, compare_doubles);
    return values[count / 2];
}

int cuda_batch_size(double seconds)
{
    if (seconds >= CUDA_BATCH_SECONDS) return 1;
    if (seconds * CUDA_BATCH_MOST <= CUDA_BATCH_SECONDS) return CUDA_BATCH_MOST;
    return (int)(CUDA_BATCH_SECONDS / seconds) + 1;
}

static double matmul_rate(cuda_backend *cuda, fg_dtype dtype, fg_matmul_precision precision)
{
    fg_node_desc node = {.op = FG_OP_MATMUL, .dtype = dtype, .precision = precision, .input_count = 2,
                         .m = 2048, .k = 2048, .n = 2048};
    cuda_implementation implementation;
    double seconds = 0;
    /* The autotuned choice even where FUSEGRAPH_CUDA_IMPLEMENTATION forces one: a forced implementation
     * is not measured, and a rate of 0 would tell the planner this device cannot run matmuls. */
    if (cuda_autotune_measured(cuda, &node, &implementation, &seconds) != FG_OK || seconds <= 0) return 0;
    return 2.0 * 2048 * 2048 * 2048 / seconds;
}

static double streaming_bandwidth(cuda_backend *cuda)
{
    const int64_t n = 16 << 20;
    void *buffers[3] = {NULL, NULL, NULL};
    double times[5] = {0};
    int ok = 1;
    for (int i = 0; i < 3 && ok; i++) ok = cudaMalloc(&buffers[i], (size_t)n * 4) == cudaSuccess && cudaMemset(buffers[i], 0x3C, (size_t)n * 4) == cudaSuccess;
    cudaEvent_t start, stop;
    cudaEventCreate(&start);
    cudaEventCreate(&stop);
    ok = ok && add_forward(buffers[2], buffers[0], buffers[1], n, CUDA_DTYPE_F32, cuda->compute.stream) == cudaSuccess;
    for (int r = 0; r < 5 && ok; r++) {
        cudaEventRecord(start, cuda->compute.stream);
        add_forward(buffers[2], buffers[0], buffers[1], n, CUDA_DTYPE_F32, cuda->compute.stream);
        cudaEventRecord(stop, cuda->compute.stream);
        ok = cudaEventSynchronize(stop) == cudaSuccess;
        float milliseconds = 0;
        cudaEventElapsedTime(&milliseconds, start, stop);
        times[r] = milliseconds * 1e-3;
    }
    cudaEventDestroy(start);
    cudaEventDestroy(stop);
    for (int i = 0; i < 3; i++)
        if (buffers[i]) cudaFree(buffers[i]);
    (void)cudaGetLastError();
    return ok ? 3.0 * 4 * (double)n / cuda_median(times, 5) : 0;
}

static double launch_overhead(cuda_backend *cuda)
{
    void *scratch = NULL;
    if (cudaMalloc(&scratch, 256) != cudaSuccess) return 0;
    cudaMemset(scratch, 0, 256);
    gelu_forward(scratch, scratch, 1, CUDA_GELU_EXACT, CUDA_DTYPE_F32, cuda->compute.stream);
    cudaStreamSynchronize(cuda->compute.stream);
    double start = now_seconds();
    for (int i = 0; i < 200; i++) gelu_forward(scratch, scratch, 1, CUDA_GELU_EXACT, CUDA_DTYPE_F32, cuda->compute.stream);
    cudaStreamSynchronize(cuda->compute.stream);
    double seconds = (now_seconds() - start) / 200;
    cudaFree(scratch);
    return seconds;
}

const size_t cuda_transfer_sizes[CUDA_TRANSFER_POINTS] = {4, 64u << 10, 1u << 20, 8u << 20, 32u << 20};

/* Staged transfers through the same path fg_plan_run uses, at each of cuda_transfer_sizes: the median of
 * a few uploads (each followed by a synchronize) and downloads, after a warm-up. 1 when all ran. */
static int transfer_curve(cuda_backend *cuda)
{
    const size_t largest = cuda_transfer_sizes[CUDA_TRANSFER_POINTS - 1];
    void *buffer = NULL;
    char *host = malloc(largest);
    if (!host || cuda_allocate(cuda, largest, &buffer) != FG_OK) {
        free(host);
        return 0;
    }
    memset(host, 1, largest);
    int ok = cuda_upload(cuda, buffer, host, largest) == FG_OK && cuda_synchronize(cuda) == FG_OK &&
             cuda_download(cuda, host, buffer, largest) == FG_OK; /* warm-up: pinned staging, page faults */
    for (int point = 0; point < CUDA_TRANSFER_POINTS && ok; point++) {
        size_t bytes = cuda_transfer_sizes[point];
        int repeats = bytes <= (1u << 20) ? 9 : 5;
        double up[9], down[9];
        ok = cuda_upload(cuda, buffer, host, bytes) == FG_OK && cuda_synchronize(cuda) == FG_OK &&
             cuda_download(cuda, host, buffer, bytes) == FG_OK;
        for (int r = 0; r < repeats && ok; r++) {
            double start = now_seconds();
            ok = cuda_upload(cuda, buffer, host, bytes) == FG_OK && cuda_synchronize(cuda) == FG_OK;
            up[r] = now_seconds() - start;
            start = now_seconds();
            ok = ok && cuda_download(cuda, host, buffer, bytes) == FG_OK;
            down[r] = now_seconds() - start;
        }
        if (ok) {
            cuda->transfer_curve[1][point] = cuda_median(up, repeats);
            cuda->transfer_curve[0][point] = cuda_median(down, repeats);
        }
    }
    cuda_release(cuda, buffer);
    free(host);
    return ok;
}

static void figures_from_curve(cuda_backend *cuda)
{
    fg_cost_figures *f = &cuda->figures;
    const int last = CUDA_TRANSFER_POINTS - 1;
    f->host_to_device_bytes_per_second = (double)cuda_transfer_sizes[last] / cuda->transfer_curve[1][last];
    f->device_to_host_bytes_per_second = (double)cuda_transfer_sizes[last] / cuda->transfer_curve[0][last];
    f->transfer_latency_seconds = 0.5 * (cuda->transfer_curve[1][0] + cuda->transfer_curve[0][0]);
}

double cuda_transfer_seconds(void *state, size_t bytes, int to_device)
{
    const cuda_backend *cuda = state;
    const double *curve = cuda->transfer_curve[to_device ? 1 : 0];
    const size_t *sizes = cuda_transfer_sizes;
    const int last = CUDA_TRANSFER_POINTS - 1;
    if (curve[last] <= 0) { /* not measured: the figures' line */
        const fg_cost_figures *f = &cuda->figures;
        double rate = to_device ? f->host_to_device_bytes_per_second : f->device_to_host_bytes_per_second;
        return (double)bytes / (rate > 0 ? rate : 1e9) + f->transfer_latency_seconds;
    }
    if (bytes <= sizes[0]) return curve[0];
    for (int point = 1; point <= last; point++)
        if (bytes <= sizes[point]) { /* linear between the measured neighbours */
            double fraction = (double)(bytes - sizes[point - 1]) / (double)(sizes[point] - sizes[point - 1]);
            return curve[point - 1] + fraction * (curve[point] - curve[point - 1]);
        }
    return curve[last] + (double)(bytes - sizes[last]) * curve[last] / (double)sizes[last]; /* the largest's rate */
}

void cuda_costs_measure(cuda_backend *cuda)
{
    fg_cost_figures *f = &cuda->figures;
    char path[1024];
    cuda_cache_path(cuda, "costs-v4", path, sizeof path); /* v4: faster staging (cuda_transfer.c) */
    FILE *file = path[0] ? fopen(path, "r") : NULL;
    if (file) {
        int read = fscanf(file, "%lf %lf %lf %lf %lf %lf", &f->matmul_flops_per_second[FG_F32], &f->matmul_tf32_flops_per_second,
                          &f->matmul_flops_per_second[FG_F16], &f->matmul_flops_per_second[FG_BF16],
                          &f->memory_bytes_per_second, &f->launch_seconds);
        for (int direction = 0; direction < 2; direction++)
            for (int point = 0; point < CUDA_TRANSFER_POINTS; point++)
                read += fscanf(file, "%lf", &cuda->transfer_curve[direction][point]);
        fclose(file);
        if (read == 6 + 2 * CUDA_TRANSFER_POINTS && f->matmul_flops_per_second[FG_F32] > 0 && f->memory_bytes_per_second > 0 &&
            cuda->transfer_curve[0][CUDA_TRANSFER_POINTS - 1] > 0 && cuda->transfer_curve[1][CUDA_TRANSFER_POINTS - 1] > 0) {
            figures_from_curve(cuda);
            cuda_log(cuda, FG_LOG_DEBUG, "[cuda] cost figures read from %s", path);
            return;
        }
        memset(f, 0, sizeof *f);
        memset(cuda->transfer_curve, 0, sizeof cuda->transfer_curve);
    }
    double start = now_seconds();
    f->matmul_flops_per_second[FG_F32] = matmul_rate(cuda, FG_F32, FG_PRECISION_EXACT);
    f->matmul_tf32_flops_per_second = matmul_rate(cuda, FG_F32, FG_PRECISION_TF32);
    f->matmul_flops_per_second[FG_F16] = matmul_rate(cuda, FG_F16, FG_PRECISION_EXACT);
    f->matmul_flops_per_second[FG_BF16] = matmul_rate(cuda, FG_BF16, FG_PRECISION_EXACT);
    f->memory_bytes_per_second = streaming_bandwidth(cuda);
    f->launch_seconds = launch_overhead(cuda);
    if (transfer_curve(cuda)) figures_from_curve(cuda);
    else memset(cuda->transfer_curve, 0, sizeof cuda->transfer_curve);
    cuda_log(cuda, FG_LOG_INFO,
             "[cuda] measured in %.0f ms: matmul f32 %.1f, tf32 %.1f, f16 %.1f, bf16 %.1f TFLOP/s; memory %.0f GB/s; "
             "launch %.1f us; host->device %.1f GB/s, device->host %.1f GB/s, latency %.1f us",
             (now_seconds() - start) * 1e3, f->matmul_flops_per_second[FG_F32] / 1e12, f->matmul_tf32_flops_per_second / 1e12,
             f->matmul_flops_per_second[FG_F16] / 1e12, f->matmul_flops_per_second[FG_BF16] / 1e12,
             f->memory_bytes_per_second / 1e9, f->launch_seconds * 1e6, f->host_to_device_bytes_per_second / 1e9,
             f->device_to_host_bytes_per_second / 1e9, f->transfer_latency_seconds * 1e6);
    if (cuda->broken || f->memory_bytes_per_second <= 0 || f->matmul_flops_per_second[FG_F32] <= 0) return;
    file = path[0] ? fopen(path, "w") : NULL;
    if (file) {
        fprintf(file, "%.6g %.6g %.6g %.6g %.6g %.6g\n", f->matmul_flops_per_second[FG_F32], f->matmul_tf32_flops_per_second,
                f->matmul_flops_per_second[FG_F16], f->matmul_flops_per_second[FG_BF16], f->memory_bytes_per_second,
                f->launch_seconds);
        for (int direction = 0; direction < 2; direction++)
            for (int point = 0; point < CUDA_TRANSFER_POINTS; point++)
                fprintf(file, "%.6g%s", cuda->transfer_curve[direction][point], point < CUDA_TRANSFER_POINTS - 1 ? " " : "\n");
        fclose(file);
    }
}
