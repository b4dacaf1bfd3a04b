/*
 * cuda_matmul.c — running a node on the GPU: the matmul implementations, and the elementwise ops.
 *
 * A matmul-like node (MatMul, MatMul+bias, MatMul+bias+GELU) has up to eight implementations; which
 * ones apply depends on the dtype, the f32 precision and M:
 *
 *   implementation  f32 exact   f32 TF32 allowed   f16 / bf16   M       epilogue
 *   cublaslt        32F         32F_FAST_TF32      32F accum.   any     BIAS / GELU_BIAS (tanh) where
 *                                                                       precision is reduced; exact f32
 *                                                                       or exact GELU: BIAS + our pass
 *   tensor_core     -           mma TF32           mma          any     fused (one store)
 *   simt            FFMA        FFMA (exact)       -            any     fused
 *   skinny          FFMA        FFMA (exact)       FMA, f32     <= 16   fused after the split-K sum
 *                                                                       (weight [N, K]: a warp per 2 rows of it
 *                                                                       at M <= 4, per 4 rows at M 5..16)
 *   cublaslt_then_gelu  as cublaslt, for tanh GELU where precision is reduced: BIAS + our tanh pass
 *   skinny_tensor_core  -       mma TF32           mma          <= 16   fused after the split-K sum
 *                                                                       (weight [N, K] only)
 *   warpgroup_tensor_core -     -                  wgmma        any     fused (sm_90 only; weight [N, K],
 *                                                                       K a multiple of 8)
 *   skinny_fp64_tensor_core  FP64 mma (exact)  FP64 mma (exact)  -  <= 16   fused after the split-K sum
 *                                                                       (weight [N, K]; FP64 tensor cores:
 *                                                                       A100 / H100 class)
 *
 * The rest take the weight as [K, N] or as [N, K] (fg_weight_layout); cuBLASLt reads [N, K]
 * with its A operand transposed, its fastest form. cuda_autotune.c measures the ones that apply and
 * keeps the fastest per shape class (the layout is part of the class).
 */
#include "cuda_backend.h"

#include <stdio.h>
#include <string.h>

static const char *const implementation_names[CUDA_IMPLEMENTATION_COUNT] = {
    "cublaslt", "tensor_core", "simt", "skinny", "cublaslt_then_gelu", "skinny_tensor_core", "warpgroup_tensor_core",
    "skinny_fp64_tensor_core"};

const char *cuda_implementation_name(cuda_implementation implementation)
{
    return implementation < CUDA_IMPLEMENTATION_COUNT ? implementation_names[implementation] : "?";
}

static int is_matmul_like(fg_op op)
{
    return op == FG_OP_MATMUL || op == FG_OP_FUSED_MATMUL_ADD || op == FG_OP_FUSED_MATMUL_ADD_GELU;
}

static int epilogue_of(const fg_node_desc *node)
{
    if (node->op == FG_OP_FUSED_MATMUL_ADD) return CUDA_EPILOGUE_BIAS;
    if (node->op == FG_OP_FUSED_MATMUL_ADD_GELU)
        return node->gelu_form == FG_GELU_TANH ? CUDA_EPILOGUE_BIAS_GELU_TANH : CUDA_EPILOGUE_BIAS_GELU_EXACT;
    return CUDA_EPILOGUE_NONE;
}

static int tf32_allowed(const fg_node_desc *node)
{
    return node->dtype == FG_F32 && node->precision == FG_PRECISION_TF32;
}

int cuda_implementation_applies(const cuda_backend *cuda, cuda_implementation implementation, const fg_node_desc *node)
{
    switch (implementation) {
    case CUDA_IMPLEMENTATION_CUBLASLT: return cuda->cublaslt != NULL;
    case CUDA_IMPLEMENTATION_TENSOR_CORE: return node->dtype != FG_F32 || tf32_allowed(node);
    case CUDA_IMPLEMENTATION_SIMT: return node->dtype == FG_F32;
    case CUDA_IMPLEMENTATION_SKINNY: return node->m <= 16;
    case CUDA_IMPLEMENTATION_CUBLASLT_THEN_GELU: /* differs from cublaslt only where that uses GELU_BIAS */
        return cuda->cublaslt != NULL && node->op == FG_OP_FUSED_MATMUL_ADD_GELU && node->gelu_form == FG_GELU_TANH &&
               (node->dtype != FG_F32 || tf32_allowed(node));
    case CUDA_IMPLEMENTATION_SKINNY_TENSOR_CORE:
        return node->m <= 16 && node->weight_layout == FG_WEIGHT_N_K && (node->dtype != FG_F32 || tf32_allowed(node));
    case CUDA_IMPLEMENTATION_WARPGROUP_TENSOR_CORE:
        return node->weight_layout == FG_WEIGHT_N_K &&
               matmul_warpgroup_applies(cuda->compute_capability, node->m, node->k, node->n, (int)node->dtype);
    case CUDA_IMPLEMENTATION_SKINNY_FP64_TENSOR_CORE: /* exact, so TF32 allowed or not */
        return node->m <= 16 && node->weight_layout == FG_WEIGHT_N_K && node->dtype == FG_F32;
    default: return 0;
    }
}

/* The split-K kernels' partial sums: the backend's workspace grown to bytes (none needed when 0). 0 with
 * error written when it cannot be had. */
static int split_workspace(cuda_backend *cuda, size_t bytes, void **out_workspace, char *error, size_t capacity)
{
    *out_workspace = NULL;
    if (!bytes || cuda_workspace(cuda, bytes, out_workspace) == FG_OK) return 1;
    snprintf(error, capacity, "split-K workspace of %zu bytes: %s", bytes, cuda->last_error);
    return 0;
}

cudaError_t cuda_matmul_run(cuda_backend *cuda, cuda_implementation implementation, const fg_node_desc *node,
                            const void *a, const void *b, const void *bias, void *out, int weight_settled, char *error,
                            size_t capacity)
{
    cudaStream_t stream = cuda->compute.stream;
    int epilogue = epilogue_of(node), dtype = (int)node->dtype, transposed = node->weight_layout == FG_WEIGHT_N_K;
    cudaError_t result = cudaErrorNotSupported;
    error[0] = 0;
    switch (implementation) {
    case CUDA_IMPLEMENTATION_CUBLASLT:
    case CUDA_IMPLEMENTATION_CUBLASLT_THEN_GELU: {
        /* cuBLASLt's GELU_BIAS epilogue is the tanh form computed with a fast tanh: measured on the H100
         * at 2.2e-5 relative error on a single f32 element, outside exact f32's 1e-5. So only where the
         * caller accepted reduced precision (f16, bf16, TF32) does cuBLASLt apply the GELU itself; exact
         * f32 and exact GELU get the BIAS epilogue and our GELU pass over the output (one extra read and
         * write of M x N, small beside the matmul wherever cuBLASLt wins the autotune). */
        int reduced_precision = dtype != FG_F32 || tf32_allowed(node);
        int gelu_pass = epilogue == CUDA_EPILOGUE_BIAS_GELU_EXACT ||
                        (epilogue == CUDA_EPILOGUE_BIAS_GELU_TANH &&
                         (!reduced_precision || implementation == CUDA_IMPLEMENTATION_CUBLASLT_THEN_GELU));
        result = cuda_cublaslt_matmul(cuda, out, a, b, bias, node->m, node->k, node->n, transposed, dtype,
                                      tf32_allowed(node), gelu_pass ? CUDA_EPILOGUE_BIAS : epilogue, stream, error, capacity);
        if (result == cudaSuccess && gelu_pass)
            result = gelu_forward(out, out, node->m * node->n,
                                  epilogue == CUDA_EPILOGUE_BIAS_GELU_TANH ? CUDA_GELU_TANH : CUDA_GELU_EXACT, dtype, stream);
        break;
    }
    case CUDA_IMPLEMENTATION_TENSOR_CORE:
        result = matmul_tensor_core_forward(out, a, b, bias, node->m, node->k, node->n, transposed, dtype, epilogue, stream);
        break;
    case CUDA_IMPLEMENTATION_WARPGROUP_TENSOR_CORE:
        result = matmul_warpgroup_forward(out, a, b, bias, node->m, node->k, node->n, dtype, epilogue, stream);
        break;
    case CUDA_IMPLEMENTATION_SIMT:
        result = matmul_simt_forward(out, a, b, bias, node->m, node->k, node->n, transposed, epilogue, stream);
        break;
    case CUDA_IMPLEMENTATION_SKINNY: {
        void *workspace = NULL;
        if (!split_workspace(cuda, matmul_skinny_workspace_bytes(node->m, node->k, node->n, transposed), &workspace, error, capacity))
            return cudaErrorMemoryAllocation;
        result = matmul_skinny_forward(out, a, b, bias, node->m, node->k, node->n, transposed, dtype, epilogue, workspace,
                                       weight_settled, stream);
        break;
    }
    case CUDA_IMPLEMENTATION_SKINNY_TENSOR_CORE:
    case CUDA_IMPLEMENTATION_SKINNY_FP64_TENSOR_CORE: { /* one kernel, one plan, one workspace size */
        void *workspace = NULL;
        if (!split_workspace(cuda, matmul_skinny_tensor_core_workspace_bytes(node->m, node->k, node->n), &workspace, error, capacity))
            return cudaErrorMemoryAllocation;
        if (implementation == CUDA_IMPLEMENTATION_SKINNY_FP64_TENSOR_CORE)
            result = matmul_skinny_tensor_core_exact_forward(out, a, b, bias, node->m, node->k, node->n, epilogue,
                                                             workspace, weight_settled, stream);
        else
            result = matmul_skinny_tensor_core_forward(out, a, b, bias, node->m, node->k, node->n, dtype, epilogue,
                                                       workspace, weight_settled, stream);
        break;
    }
    default:
        break;
    }
    if (result != cudaSuccess && !error[0]) snprintf(error, capacity, "%s", cudaGetErrorString(result));
    return result;
}

int cuda_supports(void *state, const fg_node_desc *node)
{
    (void)state;
    if (node->dtype != FG_F32 && node->dtype != FG_F16 && node->dtype != FG_BF16) return 0;
    return node->op == FG_OP_ADD || node->op == FG_OP_GELU || is_matmul_like(node->op);
}

/* The core's fg_op_name / fg_dtype_name are not available to a module (it links nothing of the core). */
static const char *op_name(fg_op op)
{
    static const char *const names[FG_OP_COUNT] = {"matmul", "add", "gelu", "fused_matmul_add", "fused_matmul_add_gelu"};
    return op < FG_OP_COUNT ? names[op] : "?";
}

static const char *dtype_name(fg_dtype dtype) { return dtype == FG_F16 ? "f16" : dtype == FG_BF16 ? "bf16" : "f32"; }

static void describe_node(const fg_node_desc *node, char *text, size_t capacity)
{
    if (is_matmul_like(node->op) && node->weight_layout == FG_WEIGHT_N_K)
        snprintf(text, capacity, "%s %s [%lld x %lld] x [%lld x %lld]^T", op_name(node->op), dtype_name(node->dtype),
                 (long long)node->m, (long long)node->k, (long long)node->n, (long long)node->k);
    else if (is_matmul_like(node->op))
        snprintf(text, capacity, "%s %s [%lld x %lld] x [%lld x %lld]", op_name(node->op), dtype_name(node->dtype),
                 (long long)node->m, (long long)node->k, (long long)node->k, (long long)node->n);
    else
        snprintf(text, capacity, "%s %s, %lld elements", op_name(node->op), dtype_name(node->dtype),
                 (long long)node->elements);
}

fg_status cuda_run(void *state, const fg_node_desc *node, void *const *inputs, void *output)
{
    cuda_backend *cuda = state;
    fg_status status = cuda_enter(cuda, "run");
    if (status != FG_OK) return status;
    char what[160], error[256] = "";
    describe_node(node, what, sizeof what);
    if (cuda_injected_failure(cuda, "run")) return cuda_leave(cuda, cuda_fail(cuda, FG_ERR_DEVICE, "[cuda %s] injected failure", what));
    cuda_buffer *buffers[4] = {NULL, NULL, NULL, output};
    for (int i = 0; i < node->input_count; i++) buffers[i] = inputs[i];
    /* The kernel reads inputs after their uploads and writes the output after any copy out of it. */
    for (int i = 0; i < 4; i++)
        if (buffers[i]) cuda_timeline_wait(&cuda->compute, &cuda->copy, buffers[i]->copy_ticket);
    void *out = buffers[3]->device_pointer;
    const void *a = buffers[0]->device_pointer, *b = buffers[1] ? buffers[1]->device_pointer : NULL;
    const void *bias = buffers[2] ? buffers[2]->device_pointer : NULL;
    cudaError_t result = cudaSuccess;
    if (node->op == FG_OP_ADD) {
        result = node->bias_length
                     ? bias_add_forward(out, a, b, node->elements / node->bias_length, node->bias_length, node->dtype, cuda->compute.stream)
                     : add_forward(out, a, b, node->elements, node->dtype, cuda->compute.stream);
    } else if (node->op == FG_OP_GELU) {
        result = gelu_forward(out, a, node->elements, node->gelu_form == FG_GELU_TANH ? CUDA_GELU_TANH : CUDA_GELU_EXACT,
                              node->dtype, cuda->compute.stream);
    } else if (is_matmul_like(node->op)) {
        cuda_implementation implementation;
        double seconds;
        status = cuda_autotune_choose(cuda, node, &implementation, &seconds);
        if (status != FG_OK) return cuda_leave(cuda, status);
        /* A weight no kernel wrote (uploaded, as a model's weights are) may be read before the kernel before
         * finishes; one a node computed may still be being written. */
        const int weight_settled = buffers[1] && !buffers[1]->written_by_kernel;
        result = cuda_matmul_run(cuda, implementation, node, a, b, bias, out, weight_settled, error, sizeof error);
        if (result != cudaSuccess) {
            cuda_check(cuda, result, "run", cuda_implementation_name(implementation));
            return cuda_leave(cuda, cuda_fail(cuda, result == cudaErrorMemoryAllocation ? FG_ERR_OUT_OF_MEMORY : FG_ERR_DEVICE,
                                              "[cuda %s] %s: %s%s", what, cuda_implementation_name(implementation), error,
                                              cuda->broken ? "; the device is unusable" : ""));
        }
    } else {
        return cuda_leave(cuda, cuda_fail(cuda, FG_ERR_UNSUPPORTED, "[cuda %s] not supported", what));
    }
    if (result != cudaSuccess) return cuda_leave(cuda, cuda_check(cuda, result, op_name(node->op), what));
    uint64_t ticket = cuda_timeline_record(&cuda->compute);
    for (int i = 0; i < 4; i++)
        if (buffers[i]) buffers[i]->compute_ticket = ticket;
    buffers[3]->written_by_kernel = 1;
    return cuda_leave(cuda, FG_OK);
}
