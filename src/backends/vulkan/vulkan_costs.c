/*
 * vulkan_costs.c — the cost figures the planner uses for this device, measured once at create.
 *
 * What is measured (GPU timestamps for device work where the queue has them, the host clock where the
 * host's part counts):
 *   matmul_flops_per_second[dtype]  the best rate of the plain [K,N] matmul's tuning (vulkan_matmul_choice.c):
 *                                   square matrices of 2048 on a GPU, 256 on a CPU device (lavapipe); f16
 *                                   and bf16 only where the device has 16-bit storage. f32 is exact fp32:
 *                                   no TF32 path, so matmul_tf32_flops_per_second stays 0 ("same as exact").
 *   memory_bytes_per_second         add of 16M f32 elements (1M on a CPU device): 12 bytes per element
 *                                   read and written, best of 3.
 *   launch_seconds                  host time per node for 50 back-to-back one-element GELU nodes through
 *                                   run()'s own path (descriptor set, barrier, dispatch), submit and wait.
 *   host_to_device / device_to_host through the staging path uploads and downloads use: 32 MiB (8 MiB on
 *                                   a CPU device), best of 3.
 *   transfer_latency_seconds        a 4-byte upload, median of 9.
 * Under half a second on a desktop GPU, about as long on lavapipe (most of it LLVM compiling pipelines).
 * The figures and the tile choices go to a cache file named after the device, the driver and a hash of the
 * embedded shaders ($XDG_CACHE_HOME/fusegraph or ~/.cache/fusegraph), read back by later processes and
 * written again when a class of matmuls (dtype, epilogue, weight layout, shape class) is tuned on first
 * use; a file that cannot be read or written is ignored.
 */
#define _POSIX_C_SOURCE 200809L /* getpid */
#include "vulkan_backend.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

static int compare_doubles(const void *a, const void *b)
{
    double x = *(const double *)a, y = *(const double *)b;
    return (x > y) - (x < y);
}

static double matmul_rate(vulkan_backend *vulkan, fg_dtype dtype)
{
    if (dtype != FG_F32 && !vulkan->has_16bit_storage) return 0;
    int64_t size = vulkan->properties.deviceType == VK_PHYSICAL_DEVICE_TYPE_CPU ? 256 : 2048;
    fg_node_desc node = {.op = FG_OP_MATMUL, .dtype = dtype, .input_count = 2, .m = size, .k = size, .n = size};
    double seconds = 0;
    int tile = vulkan_tuned_tile(vulkan, dtype, VULKAN_EPILOGUE_NONE, FG_WEIGHT_K_N, VULKAN_SHAPE_GENERAL);
    if (vulkan_time_node(vulkan, &node, tile, 2, 0, &seconds) != FG_OK || seconds <= 0) return 0;
    return 2.0 * (double)size * (double)size * (double)size / seconds;
}

static double streaming_bandwidth(vulkan_backend *vulkan)
{
    int64_t n = vulkan->properties.deviceType == VK_PHYSICAL_DEVICE_TYPE_CPU ? (1 << 20) : (16 << 20);
    fg_node_desc node = {.op = FG_OP_ADD, .dtype = FG_F32, .input_count = 2, .elements = n};
    double seconds = 0;
    if (vulkan_time_node(vulkan, &node, -1, 3, 0, &seconds) != FG_OK || seconds <= 0) return 0;
    return 12.0 * (double)n / seconds;
}

static double launch_overhead(vulkan_backend *vulkan)
{
    vulkan_buffer buffer;
    if (vulkan_buffer_create(vulkan, 16, 0, &buffer) != FG_OK) return 0;
    fg_node_desc node = {.op = FG_OP_GELU, .dtype = FG_F32, .input_count = 1, .elements = 1};
    vulkan_buffer *inputs[1] = {&buffer};
    fg_status status = vulkan_record_node(vulkan, &node, inputs, &buffer, -1); /* compiles the pipeline */
    if (status == FG_OK) status = vulkan_submit(vulkan, 1, "measure");
    double start = vulkan_now_seconds();
    for (int i = 0; i < 50 && status == FG_OK; i++) status = vulkan_record_node(vulkan, &node, inputs, &buffer, -1);
    if (status == FG_OK) status = vulkan_submit(vulkan, 1, "measure");
    double seconds = (vulkan_now_seconds() - start) / 50;
    vulkan_buffer_destroy(vulkan, &buffer);
    return status == FG_OK ? seconds : 0;
}

static void transfer_rates(vulkan_backend *vulkan, double *to_device, double *to_host, double *latency)
{
    size_t bytes = vulkan->properties.deviceType == VK_PHYSICAL_DEVICE_TYPE_CPU ? (8u << 20) : (32u << 20);
    *to_device = *to_host = *latency = 0;
    vulkan_buffer buffer;
    char *host = malloc(bytes);
    if (!host || vulkan_buffer_create(vulkan, bytes, 0, &buffer) != FG_OK) {
        free(host);
        return;
    }
    memset(host, 1, bytes);
    double up = 0, down = 0, small[9];
    fg_status status = vulkan_upload_locked(vulkan, &buffer, host, bytes); /* warm-up: sizes the staging buffer */
    for (int r = 0; r < 3 && status == FG_OK; r++) {
        double start = vulkan_now_seconds();
        status = vulkan_upload_locked(vulkan, &buffer, host, bytes);
        double seconds = vulkan_now_seconds() - start;
        if (up == 0 || seconds < up) up = seconds;
        start = vulkan_now_seconds();
        if (status == FG_OK) status = vulkan_download_locked(vulkan, host, &buffer, bytes);
        seconds = vulkan_now_seconds() - start;
        if (down == 0 || seconds < down) down = seconds;
    }
    for (int r = 0; r < 9 && status == FG_OK; r++) {
        double start = vulkan_now_seconds();
        status = vulkan_upload_locked(vulkan, &buffer, host, 4);
        small[r] = vulkan_now_seconds() - start;
    }
    if (status == FG_OK && up > 0 && down > 0) {
        qsort(small, 9, sizeof small[0], compare_doubles);
        *to_device = (double)bytes / up;
        *to_host = (double)bytes / down;
        *latency = small[4];
    }
    vulkan_buffer_destroy(vulkan, &buffer);
    free(host);
}

/* The cache file: "tiles" and the tile choice of every dtype, epilogue, weight layout and shape class
 * (-1: not tuned yet; vulkan_backend.tile_choice's order), then "figures" and the cost figures. */
#define TILE_CHOICE_COUNT (3 * VULKAN_EPILOGUES * 2 * VULKAN_SHAPE_CLASSES)

/* The file's text ("" when it cannot be read). */
static void read_text(const char *path, char *text, size_t capacity)
{
    FILE *file = path[0] ? fopen(path, "r") : NULL;
    size_t length = file ? fread(text, 1, capacity - 1, file) : 0;
    if (file) fclose(file);
    text[length] = 0;
}

/* The cache file's name: a device whose cooperative shaders are switched off (FUSEGRAPH_VULKAN_NO_COOPERATIVE)
 * measures different candidates, so it keeps its own file. */
static const char *cache_name(const vulkan_backend *vulkan)
{
    return vulkan->has_cooperative || vulkan->has_workgroup_cooperative ? "costs-cooperative" : "costs";
}

/* Parses the tile choices at the start of text into choices; returns what follows them, or NULL when they
 * are missing or name a choice this device cannot make (another device's file, cooperative matrices
 * switched off). */
static char *parse_tiles(const vulkan_backend *vulkan, char *text, int choices[TILE_CHOICE_COUNT])
{
    char *p = strncmp(text, "tiles ", 6) == 0 ? text + 6 : NULL;
    for (int i = 0; p && i < TILE_CHOICE_COUNT; i++) {
        char *end = NULL;
        long tile = strtol(p, &end, 10);
        int shape_class = i % VULKAN_SHAPE_CLASSES, layout = i / VULKAN_SHAPE_CLASSES % 2;
        fg_dtype dtype = (fg_dtype)(i / (VULKAN_SHAPE_CLASSES * 2 * VULKAN_EPILOGUES));
        if (end == p || tile < -1 ||
            (tile >= 0 && !vulkan_choice_possible(vulkan, (int)tile, dtype, (fg_weight_layout)layout, (vulkan_shape_class)shape_class)))
            return NULL;
        choices[i] = (int)tile;
        p = end;
    }
    return p;
}

static int read_cache(vulkan_backend *vulkan, const char *path)
{
    char text[1024];
    read_text(path, text, sizeof text);
    int tiles[3][VULKAN_EPILOGUES][2][VULKAN_SHAPE_CLASSES];
    char *p = parse_tiles(vulkan, text, (int *)tiles);
    fg_cost_figures f = {0};
    if (!p || sscanf(p, " figures %lf %lf %lf %lf %lf %lf %lf %lf", &f.matmul_flops_per_second[FG_F32],
                     &f.matmul_flops_per_second[FG_F16], &f.matmul_flops_per_second[FG_BF16], &f.memory_bytes_per_second,
                     &f.launch_seconds, &f.host_to_device_bytes_per_second, &f.device_to_host_bytes_per_second,
                     &f.transfer_latency_seconds) != 8)
        return 0;
    if (f.matmul_flops_per_second[FG_F32] <= 0 || f.memory_bytes_per_second <= 0) return 0;
    for (int d = FG_F16; d <= FG_BF16; d++)
        if (vulkan->has_16bit_storage != (f.matmul_flops_per_second[d] > 0)) return 0;
    memcpy(vulkan->tile_choice, tiles, sizeof tiles);
    vulkan->figures = f;
    return 1;
}

void vulkan_costs_save(vulkan_backend *vulkan)
{
    const fg_cost_figures *f = &vulkan->figures;
    char path[1024], temporary[1100];
    vulkan_cache_path(vulkan, cache_name(vulkan), path, sizeof path);
    if (!path[0] || vulkan->lost || f->matmul_flops_per_second[FG_F32] <= 0 || f->memory_bytes_per_second <= 0) return;
    /* Choices another process (or another context of this one) measured since this one read the file are
     * kept where this one has measured nothing: they are measurements of the same device and shaders, and
     * without this the last context to save would drop every class only the others measured. */
    char text[1024];
    int theirs[TILE_CHOICE_COUNT];
    int *choices = (int *)vulkan->tile_choice;
    unsigned char *is_default = (unsigned char *)vulkan->tile_is_default;
    read_text(path, text, sizeof text);
    if (parse_tiles(vulkan, text, theirs))
        for (int i = 0; i < TILE_CHOICE_COUNT; i++)
            if ((choices[i] < 0 || is_default[i]) && theirs[i] >= 0) choices[i] = theirs[i], is_default[i] = 0;
    /* Written beside it and renamed over it: a process reading the file meanwhile sees the old one or the
     * new one, never half of one. Two processes tuning at once: the last one's choices win, and a class
     * only the other measured is measured again by a later process. */
    snprintf(temporary, sizeof temporary, "%s.%ld", path, (long)getpid());
    FILE *file = fopen(temporary, "w");
    if (!file) return;
    fprintf(file, "tiles");
    for (int i = 0; i < TILE_CHOICE_COUNT; i++) fprintf(file, " %d", is_default[i] ? -1 : choices[i]);
    fprintf(file, " figures %.6g %.6g %.6g %.6g %.6g %.6g %.6g %.6g\n", f->matmul_flops_per_second[FG_F32],
            f->matmul_flops_per_second[FG_F16], f->matmul_flops_per_second[FG_BF16], f->memory_bytes_per_second,
            f->launch_seconds, f->host_to_device_bytes_per_second, f->device_to_host_bytes_per_second,
            f->transfer_latency_seconds);
    if (fclose(file) != 0 || rename(temporary, path) != 0) remove(temporary);
}

void vulkan_costs_measure(vulkan_backend *vulkan)
{
    fg_cost_figures *f = &vulkan->figures;
    char path[1024];
    vulkan_cache_path(vulkan, cache_name(vulkan), path, sizeof path);
    if (read_cache(vulkan, path)) {
        vulkan_log(vulkan, FG_LOG_DEBUG, "[vulkan] cost figures and tile choices read from %s", path);
        return;
    }
    double start = vulkan_now_seconds();
    memset(f, 0, sizeof *f);
    for (int d = 0; d < 3; d++) f->matmul_flops_per_second[d] = matmul_rate(vulkan, (fg_dtype)d);
    f->memory_bytes_per_second = streaming_bandwidth(vulkan);
    f->launch_seconds = launch_overhead(vulkan);
    transfer_rates(vulkan, &f->host_to_device_bytes_per_second, &f->device_to_host_bytes_per_second, &f->transfer_latency_seconds);
    vulkan_log(vulkan, FG_LOG_INFO,
               "[vulkan] measured in %.0f ms: matmul f32 %.1f, f16 %.1f, bf16 %.1f GFLOP/s; memory %.1f GB/s; launch %.1f us; "
               "host->device %.2f GB/s, device->host %.2f GB/s, latency %.1f us",
               (vulkan_now_seconds() - start) * 1e3, f->matmul_flops_per_second[FG_F32] * 1e-9,
               f->matmul_flops_per_second[FG_F16] * 1e-9, f->matmul_flops_per_second[FG_BF16] * 1e-9,
               f->memory_bytes_per_second * 1e-9, f->launch_seconds * 1e6, f->host_to_device_bytes_per_second * 1e-9,
               f->device_to_host_bytes_per_second * 1e-9, f->transfer_latency_seconds * 1e6);
    vulkan_costs_save(vulkan);
}
