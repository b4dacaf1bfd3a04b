/*
 * fusegraph.h — the whole public API of fusegraph.
 *
 * fusegraph runs small inference graphs (MatMul, Add, GELU, fused MatMul+bias+GELU) on the fastest device
 * the machine has, and falls back to the CPU — with the reason logged — whenever a device is missing,
 * fails, or would be slower.
 *
 * Conventions
 *  - Every call that can fail returns fg_status. FG_OK is 0. On failure, fg_last_error() returns a
 *    readable message for the calling thread, prefixed with the operation, e.g.
 *    "[matmul] inner dims differ: a is [4, 3], b is [5, 2]".
 *  - Handles are opaque. Each object documents who owns and frees it.
 *  - The library never prints, exits or aborts: it reports through statuses and the log callback.
 *  - Thread safety: fg_set_log_callback must be called before other threads use the library. A context
 *    may be shared by several threads: plans of one context may be created and run concurrently
 *    (device pools are locked). One plan must not be run by two threads at once. A graph must not be
 *    modified while another thread reads it (building a plan reads it).
 */
#ifndef FUSEGRAPH_H
#define FUSEGRAPH_H

#include <stddef.h>
#include <stdint.h>

#ifdef __cplusplus
extern "C" {
#endif

#if defined(_WIN32)
#define FG_API __declspec(dllexport)
#else
#define FG_API __attribute__((visibility("default")))
#endif

#define FG_MAX_DIMS 4
#define FG_MAX_DEVICES 8

/* ---------------------------------------------------------------------------------------------------- */
/* Status, errors, logging                                                                                */
/* ---------------------------------------------------------------------------------------------------- */

typedef enum fg_status {
    FG_OK = 0,
    FG_ERR_INVALID_ARGUMENT, /* a NULL pointer, an unknown id, a bad option */
    FG_ERR_SHAPE,            /* shapes do not fit the operation */
    FG_ERR_DTYPE,            /* dtypes do not fit the operation */
    FG_ERR_UNSUPPORTED,      /* no ready device can run this (op, dtype) */
    FG_ERR_OUT_OF_MEMORY,    /* an allocation failed even after trimming caches */
    FG_ERR_BUDGET,           /* a request can never fit the memory budget */
    FG_ERR_DEVICE,           /* a device reported an error (the executor falls back; callers rarely see it) */
    FG_ERR_NOT_FOUND,        /* a backend module or symbol was not found */
    FG_ERR_INTERNAL
} fg_status;

/* A constant string naming the status ("FG_ERR_SHAPE"). Never NULL. */
FG_API const char *fg_status_name(fg_status status);

/* The message of the last failing call made by this thread ("" when none). Owned by the library, valid
 * until the next failing call on this thread. */
FG_API const char *fg_last_error(void);

typedef enum fg_log_level {
    FG_LOG_ERROR = 0,
    FG_LOG_WARN = 1, /* device fallbacks are logged here */
    FG_LOG_INFO = 2, /* backend discovery, plan decisions */
    FG_LOG_DEBUG = 3
} fg_log_level;

typedef void (*fg_log_fn)(fg_log_level level, const char *message, void *user_data);

/* Sets the process-wide log callback and the most verbose level delivered. NULL silences the library
 * (the default). Call before other threads use the library. */
FG_API void fg_set_log_callback(fg_log_fn callback, void *user_data, fg_log_level max_level);

/* ---------------------------------------------------------------------------------------------------- */
/* Tensors                                                                                                */
/* ---------------------------------------------------------------------------------------------------- */

/* Element types. f32 runs everywhere; f16 and bf16 are part of the type so that the API does not change
 * when devices add them; a graph using a dtype that no ready device runs fails at plan time with
 * FG_ERR_UNSUPPORTED. */
typedef enum fg_dtype { FG_F32 = 0, FG_F16 = 1, FG_BF16 = 2 } fg_dtype;

FG_API size_t fg_dtype_size(fg_dtype dtype);
/* Converts n elements between dtypes (f32 <-> f16 / bf16, round to nearest even), e.g. to prepare f16
 * inputs. src and dst must not overlap. */
FG_API fg_status fg_convert(const void *src, fg_dtype src_dtype, void *dst, fg_dtype dst_dtype, int64_t n);
FG_API const char *fg_dtype_name(fg_dtype dtype);

/* Shape of a tensor: rank 1..FG_MAX_DIMS, row-major contiguous data (the last dim varies fastest). */
typedef struct fg_shape {
    int rank;
    int64_t dims[FG_MAX_DIMS];
} fg_shape;

/* Builds a shape from a dims array. */
FG_API fg_shape fg_shape_make(int rank, const int64_t *dims);
FG_API int64_t fg_shape_elements(const fg_shape *shape);
/* Row-major contiguous strides in elements. */
FG_API void fg_shape_strides(const fg_shape *shape, int64_t strides[FG_MAX_DIMS]);

/* ---------------------------------------------------------------------------------------------------- */
/* Graph                                                                                                  */
/* ---------------------------------------------------------------------------------------------------- */

typedef struct fg_graph fg_graph;
typedef int32_t fg_value; /* id of a tensor in a graph (input, constant, or node output); -1 is none */

typedef enum fg_gelu_form {
    /* 0.5 x (1 + erf(x / sqrt 2)): the definition, what BERT/GPT-2 checkpoints were trained against in
     * PyTorch's default nn.GELU(), so it is the default: a model gives the numbers its authors saw. */
    FG_GELU_EXACT = 0,
    /* 0.5 x (1 + tanh(sqrt(2/pi) (x + 0.044715 x^3))): the approximation some models (GPT-2's original
     * TF code, cuBLASLt's epilogue) use. Differs from exact by up to ~5e-4 absolute. */
    FG_GELU_TANH = 1
} fg_gelu_form;

/* How the second operand of a matmul (the weight) is laid out in memory. */
typedef enum fg_weight_layout {
    /* b is [K, N]: out = a b, numpy's a @ b. The default. */
    FG_WEIGHT_K_N = 0,
    /* b is [N, K]: out = a b^T. The layout of PyTorch's nn.Linear weight (and of the checkpoints saved
     * from it), used as stored, without a transposed copy. Every backend runs both layouts; which is
     * faster depends on the device and the shape (BENCHMARKS.md). */
    FG_WEIGHT_N_K = 1
} fg_weight_layout;

typedef enum fg_op {
    FG_OP_MATMUL = 0,                 /* [..., M, K] x [K, N] (or [N, K], see fg_weight_layout) -> [..., M, N] */
    FG_OP_ADD = 1,                    /* same shape, or bias [N] broadcast over rows of [..., N] */
    FG_OP_GELU = 2,                   /* elementwise */
    FG_OP_FUSED_MATMUL_ADD = 3,       /* matmul + bias [N] */
    FG_OP_FUSED_MATMUL_ADD_GELU = 4,  /* gelu(matmul + bias [N]) */
    FG_OP_COUNT
} fg_op;

FG_API const char *fg_op_name(fg_op op);

/* Creates an empty graph. The caller owns it and frees it with fg_graph_destroy. */
FG_API fg_status fg_graph_create(fg_graph **out_graph);
FG_API void fg_graph_destroy(fg_graph *graph);

/* A graph input: data supplied at run time. name is copied; it may be NULL. */
FG_API fg_status fg_graph_input(fg_graph *graph, const char *name, fg_dtype dtype, int rank,
                                const int64_t *dims, fg_value *out_value);
/* A constant (a weight). data (row-major, dtype elements) is copied into the graph. */
FG_API fg_status fg_graph_constant(fg_graph *graph, const char *name, fg_dtype dtype, int rank,
                                   const int64_t *dims, const void *data, fg_value *out_value);

/* Nodes. Each checks shapes and dtypes when added, and returns FG_ERR_SHAPE / FG_ERR_DTYPE /
 * FG_ERR_INVALID_ARGUMENT with a message naming the op and the shapes. */
FG_API fg_status fg_graph_matmul(fg_graph *graph, fg_value a, fg_value b, fg_value *out_value);
FG_API fg_status fg_graph_add(fg_graph *graph, fg_value a, fg_value b, fg_value *out_value);
FG_API fg_status fg_graph_gelu(fg_graph *graph, fg_value x, fg_gelu_form form, fg_value *out_value);
FG_API fg_status fg_graph_fused_matmul_add_gelu(fg_graph *graph, fg_value a, fg_value w, fg_value bias,
                                                fg_gelu_form form, fg_value *out_value);
/* The same two nodes with the weight's layout named: FG_WEIGHT_N_K takes b (w) as [N, K], so that a
 * PyTorch linear layer y = gelu(x W^T + b) is fg_graph_fused_matmul_add_gelu_with_layout(g, x, W,
 * FG_WEIGHT_N_K, b, ...) with W exactly as the checkpoint stores it. The fusion pass keeps the layout. */
FG_API fg_status fg_graph_matmul_with_layout(fg_graph *graph, fg_value a, fg_value b, fg_weight_layout layout,
                                             fg_value *out_value);
FG_API fg_status fg_graph_fused_matmul_add_gelu_with_layout(fg_graph *graph, fg_value a, fg_value w,
                                                            fg_weight_layout layout, fg_value bias,
                                                            fg_gelu_form form, fg_value *out_value);

/* Marks a value as a graph output (readable after a run). */
FG_API fg_status fg_graph_mark_output(fg_graph *graph, fg_value value);

/* The fusion pass: MatMul -> Add(bias [N]) -> GELU becomes one FUSED_MATMUL_ADD_GELU, and MatMul ->
 * Add(bias [N]) becomes FUSED_MATMUL_ADD, when the intermediates have no other consumer and are not
 * outputs. Rewrites the graph in place; out_rewrites (may be NULL) receives how many fusions were made. */
FG_API fg_status fg_graph_fuse(fg_graph *graph, int *out_rewrites);

/* Introspection: number of live nodes, a node's op, and a value's shape/dtype. */
FG_API int fg_graph_node_count(const fg_graph *graph);
FG_API fg_status fg_graph_node_op(const fg_graph *graph, int node_index, fg_op *out_op);
/* The weight layout of live node node_index (FG_WEIGHT_K_N for nodes that are not matmul-like). */
FG_API fg_status fg_graph_node_weight_layout(const fg_graph *graph, int node_index, fg_weight_layout *out_layout);
FG_API fg_status fg_graph_value_info(const fg_graph *graph, fg_value value, fg_shape *out_shape,
                                     fg_dtype *out_dtype);

/* ---------------------------------------------------------------------------------------------------- */
/* Context and devices                                                                                    */
/* ---------------------------------------------------------------------------------------------------- */

typedef struct fg_context fg_context;

typedef struct fg_context_options {
    /* Extra backend modules to load besides the built-in list (comma-separated names, e.g. "testgpu").
     * NULL for none. The environment variable FUSEGRAPH_BACKENDS adds to it. */
    const char *extra_backends;
    /* Set to 1 to load none of the built-in GPU backends (CUDA, Vulkan); modules named in extra_backends
     * or FUSEGRAPH_BACKENDS still load. */
    int cpu_only;
    /* Memory budget per device pool in bytes; 0 lets each backend choose (see fg_device_info). */
    size_t pool_budget_bytes;
    /* Backend settings for this context, "NAME=VALUE;NAME=VALUE", with the names of the environment
     * variables they override (e.g. "FUSEGRAPH_VULKAN_DEVICE=1" or "FUSEGRAPH_CUDA_DEVICE=0"); a name set
     * here wins over the environment. NULL for none. Copied: the string need not outlive the call. */
    const char *settings;
} fg_context_options;

/* Measured cost figures of a device, in SI units, used by the planner. */
typedef struct fg_cost_figures {
    double matmul_flops_per_second[3]; /* indexed by fg_dtype; 0 = not supported; f32 is exact fp32 */
    double matmul_tf32_flops_per_second; /* f32 matmul when TF32 is allowed; 0 = same as exact */
    double memory_bytes_per_second;    /* elementwise streaming bandwidth on device memory */
    double launch_seconds;             /* fixed cost of one node */
    double host_to_device_bytes_per_second; /* 0 for the CPU (data is already in host memory) */
    double device_to_host_bytes_per_second;
    double transfer_latency_seconds;        /* fixed cost of one transfer */
} fg_cost_figures;

typedef struct fg_pool_statistics {
    uint64_t hits, misses, evictions, allocation_failures;
    size_t bytes_live, bytes_cached, bytes_peak, budget_bytes;
} fg_pool_statistics;

typedef struct fg_device_info {
    char backend[32];  /* "cpu", "cuda", "vulkan", "testgpu" */
    char name[128];    /* e.g. "NVIDIA H100 80GB HBM3"; empty when not ready */
    int ready;         /* 1 when the device runs nodes */
    char reason[256];  /* why not ready (missing driver, missing library, no device), or a short note */
    fg_cost_figures cost;
} fg_device_info;

/* Creates a context: the CPU device plus every backend module that loads and initialises. options may
 * be NULL. A backend that fails is recorded with its reason and logged at FG_LOG_INFO; it is not an
 * error. The caller owns the context and frees it with fg_context_destroy after every plan made from it. */
FG_API fg_status fg_context_create(const fg_context_options *options, fg_context **out_context);
FG_API void fg_context_destroy(fg_context *context);

/* Devices known to the context, ready or not: index 0 is always the CPU. */
FG_API int fg_context_device_count(const fg_context *context);
FG_API fg_status fg_context_device_info(const fg_context *context, int device_index,
                                        fg_device_info *out_info);
FG_API fg_status fg_context_pool_statistics(fg_context *context, int device_index,
                                            fg_pool_statistics *out_statistics);
/* Frees every cached (not live) buffer of every device pool. */
FG_API void fg_context_trim(fg_context *context);

/* ---------------------------------------------------------------------------------------------------- */
/* Plans: device choice + execution                                                                       */
/* ---------------------------------------------------------------------------------------------------- */

typedef struct fg_plan fg_plan;

/* How f32 matmuls may be computed (like PyTorch's torch.set_float32_matmul_precision). */
typedef enum fg_matmul_precision {
    FG_PRECISION_EXACT = 0, /* full f32 arithmetic (the default): results match a float64 reference to ~1e-6 */
    FG_PRECISION_TF32 = 1   /* f32 data through TF32 tensor cores where a device has them: ~1e-3 relative */
} fg_matmul_precision;

typedef struct fg_plan_options {
    /* 1: upload constants once to the device that runs their consumer and keep them there across runs;
     * the planner then counts no transfer for them. 0 (default): constants live in host memory and
     * travel to a device on each run that uses them there. */
    int constants_resident;
    /* 0 (default): choose a device per node by cost. 1: every node that device forced_device supports
     * runs there, the rest on the CPU. A zeroed struct is the default everywhere. */
    int use_forced_device;
    int forced_device;
    /* f32 matmul precision; FG_PRECISION_EXACT (0) by default. */
    fg_matmul_precision matmul_precision;
    /* 0 (default): where a GPU's estimate for a node is within 2x of the CPU's (a close call), the planner
     * times the node on that GPU and on the CPU as a run would move its data (a warm-up and five runs each,
     * at plan creation) and decides by those times; fg_plan_explain shows them beside the model's
     * estimates. 1: decide by the cost model alone. */
    int model_only;
} fg_plan_options;

/* Chooses a device for every node of graph (which must have at least one output) and records why. The
 * plan reads the graph (its constants above all, which it does not copy, so weights are held once):
 * the graph must stay alive and unmodified while the plan exists. The caller owns the plan and frees it
 * with fg_plan_destroy before destroying the graph or the context. */
FG_API fg_status fg_plan_create(fg_context *context, const fg_graph *graph, const fg_plan_options *options,
                                fg_plan **out_plan);
FG_API void fg_plan_destroy(fg_plan *plan);

/* The plan in words: per node, the op, its shapes, the device chosen, every candidate's estimate
 * (compute, memory, launch, transfer, total, in microseconds) and the reason. Owned by the plan. */
FG_API const char *fg_plan_explain(const fg_plan *plan);
/* The device index chosen for node node_index (in execution order). */
FG_API fg_status fg_plan_node_device(const fg_plan *plan, int node_index, int *out_device_index);

typedef struct fg_binding {
    fg_value value;
    void *data; /* host memory: read for inputs, written for outputs; row-major, the value's dtype */
} fg_binding;

/* Runs the plan. inputs must bind every graph input; outputs bind any subset of graph outputs. A device
 * failure during the run makes that node run on the CPU instead (logged at FG_LOG_WARN); the result is
 * still right. out_fallbacks (may be NULL) receives how many nodes fell back in this run. */
FG_API fg_status fg_plan_run(fg_plan *plan, const fg_binding *inputs, int input_count,
                             const fg_binding *outputs, int output_count, int *out_fallbacks);

typedef enum fg_timing_mode {
    /* each run takes its inputs from host memory and returns its outputs to host memory (fg_plan_run) */
    FG_TIMING_HOST = 0,
    /* inputs are uploaded once before timing and outputs stay where they were computed: the time of
     * the computation alone, as when a model keeps its activations on the device */
    FG_TIMING_RESIDENT = 1
} fg_timing_mode;

/* Runs the plan warmup + repeats times and returns the median seconds of the timed runs, on the host
 * clock. FG_TIMING_HOST: each run alone, ending when its outputs are in host memory. FG_TIMING_RESIDENT:
 * each sample is a batch of back-to-back runs (about 2 ms, at most 50) divided by its size, ending when
 * every device has finished — device throughput, as timing a loop with device events measures it.
 * outputs receive the result of the last run in either mode. For benchmarks (`fusegraph bench`). */
FG_API fg_status fg_plan_time(fg_plan *plan, const fg_binding *inputs, int input_count, const fg_binding *outputs,
                              int output_count, fg_timing_mode mode, int warmup, int repeats,
                              double *out_median_seconds);

#ifdef __cplusplus
}
#endif
#endif /* FUSEGRAPH_H */
