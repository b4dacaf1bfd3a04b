/*
 * cpu_figures_cache.c — the CPU's cost figures kept between processes: each process measures them at
 * start (cpu_backend.c, ~20 ms) and uses the best of that measurement and the best any earlier process
 * measured on this CPU.
 *
 * Why: the figures say what the CPU can do, and a measurement taken while other work holds the cores
 * says less. Seen on the H100 host: a `fusegraph bench --suite routing` started right after a PyTorch run
 * measured 66 GFLOP/s and 27 GB/s where every other process measured ~1226 GFLOP/s and ~229 GB/s, and
 * that process's planner sent elementwise ops of 10^7 floats and a 512^3 matmul to the GPU, 3.4x slower
 * than the CPU. Kept for the process, one bad measurement routes every plan of it wrongly.
 *
 * The rule, per figure: GEMM rate and memory bandwidth the larger, launch cost the smaller, of the
 * fresh measurement and the cache. A fresh figure worse than half (or twice, for the launch cost) the
 * cached one is logged at FG_LOG_INFO as a measurement disturbed by other work. Each process writes the
 * best of its measurement and what it read, so the cache only improves (two processes starting together
 * may each write theirs; the later rename wins, and the next start measures again). A CPU that becomes
 * slower for good (a power cap) keeps being priced at its best: delete the file (named in the log at
 * FG_LOG_DEBUG) to measure afresh.
 *
 * Key: the CPU model, the CPUs this process may run on (its affinity mask: taskset, Slurm and cpusets
 * give fewer; a cgroup CPU quota such as `docker --cpus` does not show there), the GEMM library, and
 * OMP_NUM_THREADS / OPENBLAS_NUM_THREADS when set (each changes what the same cores deliver). File: see
 * cache_file.h.
 */
#define _GNU_SOURCE /* sched_getaffinity, CPU_COUNT */
#include "cpu_figures_cache.h"

#include "../../internal.h"
#include "../common/cache_file.h"
#include "cpu_kernels.h"

#include <math.h>
#include <sched.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#define DISTURBED_FACTOR 2.0 /* a fresh figure this much worse than the cached one is logged */

void cpu_model_name(char *name, size_t capacity)
{
    snprintf(name, capacity, "CPU");
    FILE *info = fopen("/proc/cpuinfo", "r");
    if (!info) return;
    char line[256];
    while (fgets(line, sizeof line, info)) {
        if (strncmp(line, "model name", 10) != 0) continue;
        char *colon = strchr(line, ':');
        if (colon) {
            snprintf(name, capacity, "%s", colon + 2);
            name[strcspn(name, "\n")] = 0;
        }
        break;
    }
    fclose(info);
}

/* The CPUs this process may run on: its affinity mask, else the CPUs online. */
static long usable_cpus(void)
{
    cpu_set_t set;
    if (sched_getaffinity(0, sizeof set, &set) == 0 && CPU_COUNT(&set) > 0) return CPU_COUNT(&set);
    return sysconf(_SC_NPROCESSORS_ONLN);
}

void cpu_figures_cache_path(char *path, size_t capacity)
{
    char model[96], key[256];
    const char *omp = getenv("OMP_NUM_THREADS"), *openblas = getenv("OPENBLAS_NUM_THREADS");
    cpu_model_name(model, sizeof model);
    snprintf(key, sizeof key, "%s-%ldcpus-%s-omp%s-openblas%s", model, usable_cpus(),
             matmul_library_name(), omp && *omp ? omp : "default", openblas && *openblas ? openblas : "default");
    backend_cache_file("cpu", key, "figures-v1", path, capacity);
}

int cpu_figures_read(const char *path, fg_cost_figures *figures)
{
    FILE *file = path[0] ? fopen(path, "r") : NULL;
    if (!file) return 0;
    double gemm = 0, memory = 0, launch = 0;
    int fields = fscanf(file, "gemm_f32_flops_per_second %lf memory_bytes_per_second %lf launch_seconds %lf", &gemm,
                        &memory, &launch);
    fclose(file);
    if (fields != 3 || !isfinite(gemm) || !isfinite(memory) || !isfinite(launch) || !(gemm > 0) || !(memory > 0) ||
        !(launch > 0))
        return 0;
    memset(figures, 0, sizeof *figures);
    for (int dtype = 0; dtype < 3; dtype++) figures->matmul_flops_per_second[dtype] = gemm;
    figures->memory_bytes_per_second = memory;
    figures->launch_seconds = launch;
    return 1;
}

/* Written to a file of its own and renamed over the cache, so that a process starting meanwhile reads
 * the old figures or the new ones, never half a file. */
int cpu_figures_write(const char *path, const fg_cost_figures *figures)
{
    char temporary[1100];
    if (!path[0] || snprintf(temporary, sizeof temporary, "%s.%ld.tmp", path, (long)getpid()) >= (int)sizeof temporary)
        return 0;
    FILE *file = fopen(temporary, "w");
    if (!file) return 0;
    int ok = fprintf(file, "gemm_f32_flops_per_second %.9g\nmemory_bytes_per_second %.9g\nlaunch_seconds %.9g\n",
                     figures->matmul_flops_per_second[FG_F32], figures->memory_bytes_per_second,
                     figures->launch_seconds) > 0;
    ok = fclose(file) == 0 && ok && rename(temporary, path) == 0;
    if (!ok) remove(temporary);
    return ok;
}

static int differs(double a, double b) { return a > b * (1 + 1e-6) || b > a * (1 + 1e-6); }

int cpu_figures_combine(const fg_cost_figures *measured, const fg_cost_figures *cached, fg_cost_figures *best)
{
    *best = *measured;
    if (!cached) return 0;
    const double gemm = measured->matmul_flops_per_second[FG_F32], cached_gemm = cached->matmul_flops_per_second[FG_F32];
    int disturbed = gemm * DISTURBED_FACTOR < cached_gemm ||
                    measured->memory_bytes_per_second * DISTURBED_FACTOR < cached->memory_bytes_per_second ||
                    measured->launch_seconds > DISTURBED_FACTOR * cached->launch_seconds;
    if (cached_gemm > gemm)
        for (int dtype = 0; dtype < 3; dtype++) best->matmul_flops_per_second[dtype] = cached_gemm;
    if (cached->memory_bytes_per_second > best->memory_bytes_per_second)
        best->memory_bytes_per_second = cached->memory_bytes_per_second;
    if (cached->launch_seconds < best->launch_seconds) best->launch_seconds = cached->launch_seconds;
    return disturbed;
}

void cpu_figures_keep_best(fg_cost_figures *figures)
{
    char path[1024];
    cpu_figures_cache_path(path, sizeof path);
    fg_cost_figures cached, best;
    int have_cache = cpu_figures_read(path, &cached);
    int disturbed = cpu_figures_combine(figures, have_cache ? &cached : NULL, &best);
    if (disturbed)
        fg_log(FG_LOG_INFO,
               "[cpu] cost figures measured at start (GEMM %.0f GFLOP/s, memory %.1f GB/s, launch %.2f us) are worse "
               "than half the best measured on this CPU before (%.0f GFLOP/s, %.1f GB/s, %.2f us): taken as disturbed "
               "by other work on the cores; the planner uses the best of both",
               figures->matmul_flops_per_second[FG_F32] * 1e-9, figures->memory_bytes_per_second * 1e-9,
               figures->launch_seconds * 1e6, cached.matmul_flops_per_second[FG_F32] * 1e-9,
               cached.memory_bytes_per_second * 1e-9, cached.launch_seconds * 1e6);
    int improved = !have_cache || differs(best.matmul_flops_per_second[FG_F32], cached.matmul_flops_per_second[FG_F32]) ||
                   differs(best.memory_bytes_per_second, cached.memory_bytes_per_second) ||
                   differs(best.launch_seconds, cached.launch_seconds);
    if (improved && path[0] && !cpu_figures_write(path, &best))
        fg_log(FG_LOG_DEBUG, "[cpu] could not write the cost figures cache %s", path);
    else if (path[0])
        fg_log(FG_LOG_DEBUG, "[cpu] cost figures cache: %s", path);
    *figures = best;
}
