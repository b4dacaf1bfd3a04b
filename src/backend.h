/*
 * backend.h — the whole contract between the fusegraph core and a device backend.
 *
 * Like ggml-backend, a backend is a small table of function pointers. The CPU backend is linked into the
 * library; every other backend is a shared object (libfusegraph-backend-NAME.so) that exports
 * FG_BACKEND_ENTRY_SYMBOL, found and loaded at run time, so one build runs on machines with and without a
 * GPU. A module links nothing of the core: what it needs from the core (logging) comes through
 * fg_backend_host.
 *
 * Buffers are opaque handles that hold one tensor each. Calls may be asynchronous (run, upload); the core
 * calls synchronize before it reads results in host memory that a download wrote. A backend reports a
 * failure by returning a status other than FG_OK and describing it in last_error; the core then runs that
 * node on the CPU.
 */
#ifndef FUSEGRAPH_BACKEND_H
#define FUSEGRAPH_BACKEND_H

#include "fusegraph.h"

#define FG_BACKEND_ABI_VERSION 5
#define FG_BACKEND_ENTRY_SYMBOL "fusegraph_backend_entry"

/* A node as a backend sees it: the op, its dtype and shapes, and the derived sizes every kernel needs. */
typedef struct fg_node_desc {
    fg_op op;
    fg_dtype dtype;
    fg_gelu_form gelu_form;
    fg_matmul_precision precision; /* for f32 matmul-like ops: exact, or TF32 allowed */
    fg_weight_layout weight_layout; /* matmul-like ops: inputs[1] is [K, N] or [N, K]; m, k, n below either way */
    int input_count;
    fg_shape inputs[3];
    fg_shape output;
    /* matmul-like ops: rows (all leading dims times M), inner dim, columns */
    int64_t m, k, n;
    /* elementwise ops: element count; for add, bias_length is N when the second input is a bias [N]
     * broadcast over rows, 0 when both inputs have the same shape */
    int64_t elements;
    int64_t bias_length;
} fg_node_desc;

/* Services the core gives a backend. */
typedef struct fg_backend_host {
    void (*log)(fg_log_level level, const char *message);
    const char *(*getenv)(const char *name); /* the process environment only */
    /* A setting for options like device choice: the context's settings (fg_context_options.settings)
     * first, then the environment variable of that name; NULL when neither sets it. The pointer stays
     * valid while the context lives. */
    const char *(*setting)(const struct fg_backend_host *host, const char *name);
    const void *context; /* for setting() only */
} fg_backend_host;

typedef struct fg_backend_interface {
    int abi_version; /* FG_BACKEND_ABI_VERSION */
    const char *name;

    /* Creates an instance. On failure writes why into reason (missing driver, missing library, no
     * device) and returns a status; state is then not used. */
    fg_status (*create)(const fg_backend_host *host, void **out_state, char *reason, size_t reason_capacity);
    void (*destroy)(void *state);
    /* The device's name, e.g. "NVIDIA H100 80GB HBM3". */
    void (*describe)(void *state, char *name, size_t capacity);
    /* Measured cost figures (see fg_cost_figures). */
    void (*cost_figures)(void *state, fg_cost_figures *out_figures);
    /* A sensible pool budget in bytes for this device (for example a fraction of free memory). */
    size_t (*default_budget)(void *state);

    fg_status (*allocate)(void *state, size_t bytes, void **out_buffer);
    void (*release)(void *state, void *buffer);
    fg_status (*upload)(void *state, void *buffer, const void *host_data, size_t bytes);
    fg_status (*download)(void *state, void *host_data, const void *buffer, size_t bytes);

    /* 1 when this device runs the node (op, dtype, sizes, and for matmul-like ops node->weight_layout:
     * a backend that cannot read a weight as [N, K] must return 0 for it), 0 otherwise. */
    int (*supports)(void *state, const fg_node_desc *node);
    /* Runs the node: inputs[i] are buffers of this backend, output a buffer of this backend. */
    fg_status (*run)(void *state, const fg_node_desc *node, void *const *inputs, void *output);
    /* Waits for every call made so far; reports failures of asynchronous work. */
    fg_status (*synchronize)(void *state);
    /* Details of the last failure of this instance ("" when none). */
    const char *(*last_error)(void *state);

    /* Optional (NULL when the backend has one implementation per op). Names the implementation this
     * device would run the node with (e.g. "cublaslt bias+gelu", "skinny split-k") and, when it has
     * measured it, its seconds on data already on the device (0 when not measured). A backend may
     * measure the candidates here (autotune on first use of a shape class, then cached); the planner
     * then uses the measured seconds instead of its roofline estimate for compute + memory + launch. */
    fg_status (*choose_implementation)(void *state, const fg_node_desc *node, char *name, size_t capacity,
                                       double *out_measured_seconds);
    /* Optional (NULL: the planner charges bytes / rate + transfer_latency_seconds from the cost figures).
     * Seconds for an upload (to_device 1) or a download (0) of bytes between ordinary host memory and
     * this device, from the backend's own measurements. For when one rate and one latency cannot
     * describe the transfer path: CUDA's staged copies cost ~10 us for a few KiB but ~40-60 us for 1 MiB,
     * and a line through either point misprices the other by several times. */
    double (*transfer_seconds)(void *state, size_t bytes, int to_device);
} fg_backend_interface;

typedef const fg_backend_interface *(*fg_backend_entry_fn)(void);

/* The CPU backend, linked into the library. */
const fg_backend_interface *fg_cpu_backend_interface(void);

#endif /* FUSEGRAPH_BACKEND_H */
