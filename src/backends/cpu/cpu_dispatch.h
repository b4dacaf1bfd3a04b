/*
 * cpu_dispatch.h — one node through the CPU kernels; see cpu_dispatch.c.
 */
#ifndef FUSEGRAPH_CPU_DISPATCH_H
#define FUSEGRAPH_CPU_DISPATCH_H

#include "../../backend.h"

int cpu_supports_node(const fg_node_desc *node);
fg_status cpu_run_node(const fg_node_desc *node, void *const *inputs, void *output);

#endif
