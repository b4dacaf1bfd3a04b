/*
 * cpu_dispatch.h — one node through the CPU kernels; see cpu_dispatch.c.
 */
#ifndef FUSEGRAPH_CPU_DISPATCH_H
#define FUSEGRAPH_CPU_DISPATCH_H

#include "../../backend.h"

int cpu_supports_node(const fg_node_desc *node);
fg_status cpu_run_node(const fg_node_desc *node, void *const *inputs, void *output);
/* Seconds of the fastest of repeats runs of work(argument) after one warm-up run; 0 when a run fails
 * (work returns 0). (cpu_backend.c) */
double cpu_best_of(int repeats, int (*work)(void *), void *argument);
/* The node's roofline on these figures: the larger of compute and memory time, plus the launch cost
 * (cpu_measure.c). */
double cpu_node_roofline_seconds(const fg_cost_figures *figures, const fg_node_desc *node);
/* Whether a timing of a node whose roofline is roofline_seconds is believable, or was disturbed by other
 * work on the cores (cpu_measure.c: the bound and why). */
int cpu_timing_plausible(double measured_seconds, double roofline_seconds);
/* fg_backend_interface.choose_implementation for the CPU (cpu_measure.c); state is its cost figures. */
fg_status cpu_choose_implementation(void *state, const fg_node_desc *node, char *name, size_t capacity,
                                    double *out_measured_seconds);

#endif
