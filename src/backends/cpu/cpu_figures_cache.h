/*
 * cpu_figures_cache.h — the CPU's cost figures kept between processes (best measured so far); see
 * cpu_figures_cache.c for why and the rule.
 */
#ifndef FUSEGRAPH_CPU_FIGURES_CACHE_H
#define FUSEGRAPH_CPU_FIGURES_CACHE_H

#include "fusegraph.h"

#include <stddef.h>

/* The CPU's model name from /proc/cpuinfo ("CPU" where there is none). */
void cpu_model_name(char *name, size_t capacity);
/* The cache file for this CPU, thread settings and GEMM library ("" when no cache folder exists). */
void cpu_figures_cache_path(char *path, size_t capacity);
/* Reads / writes the three measured figures (GEMM rate, memory bandwidth, launch cost); 1 on success. */
int cpu_figures_read(const char *path, fg_cost_figures *figures);
int cpu_figures_write(const char *path, const fg_cost_figures *figures);
/* best = per figure the better of measured and cached (cached may be NULL: best = measured). Returns 1
 * when a measured figure is worse than half the cached one (a measurement disturbed by other work). */
int cpu_figures_combine(const fg_cost_figures *measured, const fg_cost_figures *cached, fg_cost_figures *best);
/* Replaces figures (this process's measurement) with the best of it and the cache, logs a disturbed
 * measurement, and writes the cache when the result improves on it. */
void cpu_figures_keep_best(fg_cost_figures *figures);

#endif
