/*
 * cuda_backend.h — the CUDA backend's state, shared by its files:
 *   cuda_backend.c   the interface table: create/destroy, device choice, settings, failure injection
 *   cuda_transfer.c  buffers, pinned staging, chunked asynchronous uploads/downloads on a copy stream
 *   cuda_cublaslt.c  cuBLASLt, loaded with dlopen (absent: our own kernels still run)
 *   cuda_matmul.c    the matmul implementations and running a node
 *   cuda_autotune.c  picking an implementation per shape class by measurement, cached on disk
 *   cuda_costs.c     the cost figures the planner uses, measured once and cached on disk
 *
 * Streams and ordering. Kernels run in order on one compute stream; transfers run on a copy stream so
 * uploads of later inputs overlap earlier nodes' kernels. Each buffer remembers the last compute-stream
 * and copy-stream "ticket" (a counter of recorded events) that touched it; a stream waits on the other
 * stream's event for that ticket before it touches the buffer (unless it already waits for that ticket or a
 * later one), so a recycled buffer is never
 * overwritten while a kernel still reads it, and a kernel never reads a half-uploaded input. No call
 * blocks the host except download (the caller is about to read the result) and synchronize.
 */
#ifndef FUSEGRAPH_CUDA_BACKEND_H
#define FUSEGRAPH_CUDA_BACKEND_H

#include "../../backend.h"
#include "kernels/cuda_kernels.h"

#include <pthread.h>
#include <stdint.h>

#define CUDA_EVENT_RING 64      /* events remembered per stream; older tickets wait on the oldest kept */
#define CUDA_STAGING_SLOTS 4    /* pinned staging chunks in flight */
#define CUDA_STAGING_CHUNK (8u << 20) /* bytes per staging chunk */

typedef struct cuda_buffer {
    void *device_pointer;
    size_t bytes;
    uint64_t compute_ticket; /* last compute-stream event after a kernel that used it (0: none) */
    uint64_t copy_ticket;    /* last copy-stream event after a transfer into or out of it (0: none) */
    /* A kernel has written it (a node's output) since its last upload: a skinny matmul reading it as its
     * weight must not start reading before the kernels before it finish (weight_settled in
     * kernels/cuda_kernels.h). Set by cuda_run, cleared by a successful upload. */
    int written_by_kernel;
} cuda_buffer;

/* A stream and a ring of events recorded on it, numbered by tickets 1, 2, ... */
typedef struct cuda_timeline {
    cudaStream_t stream;
    cudaEvent_t events[CUDA_EVENT_RING];
    uint64_t next_ticket; /* the ticket the next record gets */
    /* The latest ticket of the other timeline this one has been made to wait for: later waits for it or
     * for an earlier one are already implied by stream order, so cuda_timeline_wait skips them. */
    uint64_t other_ticket_waited;
} cuda_timeline;

typedef struct cuda_cublaslt cuda_cublaslt; /* cuda_cublaslt.c */
typedef struct cuda_autotune cuda_autotune; /* cuda_autotune.c */

#define CUDA_TRANSFER_POINTS 5
extern const size_t cuda_transfer_sizes[CUDA_TRANSFER_POINTS];

typedef struct cuda_backend {
    const fg_backend_host *host;
    int device;
    char name[128];
    int driver_version, runtime_version, sm_count, compute_capability;
    size_t total_memory, free_memory_at_start;
    cuda_timeline compute, copy;
    /* pinned staging ring for transfers from and to pageable host memory */
    void *staging[CUDA_STAGING_SLOTS];
    cudaEvent_t staging_free[CUDA_STAGING_SLOTS];
    size_t staging_chunk;
    /* scratch for split-K partial sums and cuBLASLt; grown on demand (stream-ordered: compute stream) */
    void *workspace;
    size_t workspace_bytes;
    cuda_cublaslt *cublaslt;    /* NULL when libcublasLt could not be loaded */
    char cublaslt_reason[192];
    cuda_autotune *autotune;
    fg_cost_figures figures;
    /* Measured staged-transfer seconds at CUDA_TRANSFER_POINTS sizes (cuda_transfer_sizes), per direction
     * ([0] download, [1] upload), interpolated by cuda_transfer_seconds. */
    double transfer_curve[2][CUDA_TRANSFER_POINTS];
    int broken;                 /* a sticky CUDA error: every later call fails, the core uses the CPU */
    pthread_mutex_t lock;       /* one caller at a time in the entry points */
    char last_error[512];
} cuda_backend;

/* cuda_backend.c */
fg_status cuda_fail(cuda_backend *cuda, fg_status status, const char *format, ...)
    __attribute__((format(printf, 3, 4)));
/* Records a CUDA error from call for op; sticky errors (the context is unusable) mark the backend broken. */
fg_status cuda_check(cuda_backend *cuda, cudaError_t error, const char *op, const char *call);
/* 1 when the setting FUSEGRAPH_CUDA_FAIL (a '+'-separated list) names call: tests inject failures. */
int cuda_injected_failure(const cuda_backend *cuda, const char *call);
const char *cuda_setting(const cuda_backend *cuda, const char *name);
void cuda_log(const cuda_backend *cuda, fg_log_level level, const char *format, ...) __attribute__((format(printf, 3, 4)));
/* A file under the user's cache folder for this GPU ("<cache>/fusegraph/cuda-<gpu>-<driver>-<what>"). */
void cuda_cache_path(const cuda_backend *cuda, const char *what, char *path, size_t capacity);

/* cuda_transfer.c */
/* Entry points take the lock and make this backend's device current for the calling thread (the CUDA
 * runtime's current device is per thread); cuda_leave unlocks and passes status through. */
fg_status cuda_enter(cuda_backend *cuda, const char *op);
fg_status cuda_leave(cuda_backend *cuda, fg_status status);
fg_status cuda_streams_create(cuda_backend *cuda);
void cuda_streams_destroy(cuda_backend *cuda);
uint64_t cuda_timeline_record(cuda_timeline *timeline);
/* Makes waiter wait (on the device) until ticket of other has passed. */
void cuda_timeline_wait(cuda_timeline *waiter, const cuda_timeline *other, uint64_t ticket);
fg_status cuda_allocate(void *state, size_t bytes, void **out_buffer);
void cuda_release(void *state, void *buffer);
fg_status cuda_upload(void *state, void *buffer, const void *host_data, size_t bytes);
fg_status cuda_download(void *state, void *host_data, const void *buffer, size_t bytes);
fg_status cuda_synchronize(void *state);
/* Grows the scratch workspace to at least bytes (stream-ordered on the compute stream). */
fg_status cuda_workspace(cuda_backend *cuda, size_t bytes, void **out_pointer);

/* cuda_cublaslt.c */
cuda_cublaslt *cuda_cublaslt_load(char *reason, size_t capacity);
void cuda_cublaslt_unload(cuda_cublaslt *cublaslt);
/* out[M,N] = a[M,K] x b[K,N] (+ bias, + tanh GELU as the epilogue says; exact GELU is not a cuBLASLt
 * epilogue: the caller asks for BIAS and runs our exact GELU after). f32 precision: exact or TF32. */
cudaError_t cuda_cublaslt_matmul(cuda_backend *cuda, void *out, const void *a, const void *b, const void *bias,
                                 int64_t m, int64_t k, int64_t n, int b_transposed, int dtype, int tf32, int epilogue,
                                 cudaStream_t stream, char *error, size_t error_capacity);

/* cuda_matmul.c: the implementations of matmul-like nodes */
typedef enum cuda_implementation {
    CUDA_IMPLEMENTATION_CUBLASLT = 0, /* cuBLASLt with its BIAS / GELU_BIAS epilogue (+ our exact GELU pass) */
    CUDA_IMPLEMENTATION_TENSOR_CORE,  /* our mma.sync kernel, epilogue fused (TF32 / f16 / bf16) */
    CUDA_IMPLEMENTATION_SIMT,         /* our FFMA kernel, exact f32, epilogue fused */
    CUDA_IMPLEMENTATION_SKINNY,       /* our split-K weight-streaming kernel for M <= 16, epilogue fused */
    /* cuBLASLt's BIAS epilogue then our tanh GELU pass, where cuBLASLt alone would use GELU_BIAS: its
     * GELU_BIAS kernels are a narrower set, measured up to 8% slower than BIAS + a pass on the H100 */
    CUDA_IMPLEMENTATION_CUBLASLT_THEN_GELU,
    /* our weight-streaming kernel on the tensor cores for M <= 16 with the weight as [N, K] (TF32 / f16 /
     * bf16), epilogue fused */
    CUDA_IMPLEMENTATION_SKINNY_TENSOR_CORE,
    /* our wgmma kernel (sm_90 only) for f16 / bf16 with the weight as [N, K], epilogue fused: exact GELU
     * without cuBLASLt's second pass */
    CUDA_IMPLEMENTATION_WARPGROUP_TENSOR_CORE,
    /* the skinny tensor-core kernel for exact f32 on the FP64 tensor cores (A100 / H100 class; other sm_80+
     * parts run it at their low FP64 rate): products exact in f64, sums in f64; M <= 16, weight [N, K],
     * epilogue fused */
    CUDA_IMPLEMENTATION_SKINNY_FP64_TENSOR_CORE,
    CUDA_IMPLEMENTATION_COUNT
} cuda_implementation;
const char *cuda_implementation_name(cuda_implementation implementation);
/* Whether implementation can run node at all on this backend (dtype, precision, M, cuBLASLt loaded). */
int cuda_implementation_applies(const cuda_backend *cuda, cuda_implementation implementation, const fg_node_desc *node);
/* Runs node with implementation on the compute stream. weight_settled: no kernel in flight writes b (see
 * kernels/cuda_kernels.h). */
cudaError_t cuda_matmul_run(cuda_backend *cuda, cuda_implementation implementation, const fg_node_desc *node,
                            const void *a, const void *b, const void *bias, void *out, int weight_settled, char *error,
                            size_t capacity);
fg_status cuda_run(void *state, const fg_node_desc *node, void *const *inputs, void *output);
int cuda_supports(void *state, const fg_node_desc *node);

/* cuda_autotune.c */
/* The M class a choice is made for: M itself up to 16 (the skinny kernels' range), else the power of two
 * at or above M (from 32). */
int64_t cuda_m_class(int64_t m);
cuda_autotune *cuda_autotune_create(cuda_backend *cuda);
void cuda_autotune_destroy(cuda_autotune *autotune);
/* The implementation to run node with: forced by the setting FUSEGRAPH_CUDA_IMPLEMENTATION, else the
 * fastest measured for the node's shape class (measured now when not yet known). Writes the measured
 * seconds (0 when not measured). */
fg_status cuda_autotune_choose(cuda_backend *cuda, const fg_node_desc *node, cuda_implementation *out,
                               double *out_seconds);
/* The fastest measured for the node's shape class, whatever the setting forces, and its seconds. */
fg_status cuda_autotune_measured(cuda_backend *cuda, const fg_node_desc *node, cuda_implementation *out,
                                 double *out_seconds);
fg_status cuda_choose_implementation(void *state, const fg_node_desc *node, char *name, size_t capacity,
                                     double *out_measured_seconds);

/* cuda_costs.c */
void cuda_costs_measure(cuda_backend *cuda);
/* The median of count (>= 1) timings (the upper one of an even count); sorts values. Every timing the
 * backend takes (cost figures, the autotune, cuBLASLt's candidates) is judged by it. */
double cuda_median(double *values, int count);
/* Matmul timings (the autotune, cuBLASLt's candidates) take each sample over a back-to-back batch of runs,
 * as a decoding loop or a resident batch meets the GPU (cuda_autotune.c's measure says why): about
 * CUDA_BATCH_SECONDS of runs, at most CUDA_BATCH_MOST. The batch for runs of `seconds` each (>= 1). */
#define CUDA_BATCH_SECONDS 200e-6
#define CUDA_BATCH_MOST 32
int cuda_batch_size(double seconds);
/* fg_backend_interface.transfer_seconds: the measured transfer curve, interpolated. */
double cuda_transfer_seconds(void *state, size_t bytes, int to_device);

#endif /* FUSEGRAPH_CUDA_BACKEND_H */
