#version 450
// matmul_workgroup.comp — out[M,N] = a[M,K] x b (+ bias[N]) (then GELU) for f16 through workgroup-scope
// cooperative matrices (VK_NV_cooperative_matrix2): f16 inputs, f32 accumulation, f16 output. b is
// [K,N], or [N,K] (out = a b^T) when the specialization constant WEIGHT_N_K is 1.
//
// Why a second cooperative shader. matmul_cooperative.comp (VK_KHR_cooperative_matrix) multiplies
// 16 x 16 x 16 fragments per subgroup and stages the panels through shared memory itself; on the H100
// that reaches ~200 TFLOP/s in f16, a quarter of cuBLAS, because cuBLAS's rate on Hopper comes from
// warpgroup-wide multiplies reading their operands straight from shared memory, which a subgroup-scope
// fragment cannot express. Here the whole workgroup owns one TILE_M x TILE_N accumulator and loads
// whole TILE_M x TILE_K and TILE_K x TILE_N operands from global memory with tensor addressing: the
// driver chooses the staging through shared memory, the pipelining and the instructions, which is what
// the extension exists for.
//
// The tile is specialization constants (TILE_M, TILE_N, TILE_K, INVOCATIONS, the workgroup size, and
// N_PARTS, the accumulator split into that many TILE_M x TILE_N / N_PARTS blocks, each with its own B
// load), so the backend measures a few and keeps the best per device (vulkan_matmul_choice.c). The
// device must list a workgroup-scope f16 x f16 + f32 configuration of that many invocations whose
// granularities divide the tile (vkGetPhysicalDeviceCooperativeMatrixFlexibleDimensionsPropertiesNV; the
// H100 lists 32, 64, 128 and 256 invocations, granularity 32 x 32 x 16 at 256).
//
// Measured on the H100 (NVIDIA 580 driver), f16 4096^3 with b as [K,N] (as [N,K]), `FUSEGRAPH_VULKAN_TILE=
// workgroup-... fusegraph bench --dtype f16 --op matmul --size 4096 --device 2 [--weight nk]`, one run:
// 128x128x32 3.09 ms (3.65), 128x256x32 2.19 (2.78), 128x256x32 in 4 parts 2.40 (2.83), 256x128x32 in 4
// parts 3.03 (3.26), 256x256x32 in 4 parts 3.97 (4.03), 128x256x64 in 4 parts 2.05 (2.69), against 0.69
// (0.73) for matmul_cooperative.comp and 0.187 for cuBLAS through PyTorch: 67 TFLOP/s at best, a third of
// the subgroup-scope shader. Loading the next K step before multiplying the current one (two operand
// sets) was slower still (128x256x32 3.74 ms; 128x128x128 8.21). This driver's workgroup-scope
// path is not what makes the H100 fast; the shader stays a measured candidate because the tuning is
// per device and the extension exists on other NVIDIA GPUs, where it may win, and the measurement keeps
// it from being chosen where it does not.
//
// Edges. Tensor layouts know the matrices' dimensions. A workgroup whose tile lies inside the matrices
// (and K a multiple of TILE_K) uses layouts without clamping (no bounds arithmetic per element); one on
// the edge uses "constant" clamping, which loads zeros outside the matrices and, for the store, drops
// elements outside the output (SPV_NV_tensor_addressing: any clamp mode but Undefined discards
// out-of-bounds stores). So every M, K, N works.
//
// Epilogue. Bias and GELU are a per-element operation on the f32 accumulator (the callback gets each
// element's row and column in the tile), then one conversion to f16 and one tensor store; the bias is
// read by column, clamped to the last column so that edge tiles never read past the bias buffer (those
// elements are discarded by the store anyway).
//
// The backend uses it only where the device has VK_NV_cooperative_matrix2 with workgroup scope, tensor
// addressing and per-element operations, and the tile's configuration (vulkan_device.c); it needs
// glslang 15 or later to compile (scripts/cooperative-glslang.sh builds one). No MoltenVK device has the
// extension, so the Metal translation check (tests/vulkan/check_shaders.cmake) skips this shader by name.
#pragma use_vulkan_memory_model
#extension GL_GOOGLE_include_directive : require
#extension GL_KHR_cooperative_matrix : require
#extension GL_NV_cooperative_matrix2 : require
#extension GL_KHR_memory_scope_semantics : require
#extension GL_EXT_control_flow_attributes : require
#extension GL_EXT_shader_16bit_storage : require
#extension GL_EXT_shader_explicit_arithmetic_types_float16 : require
#include "gelu.glsl"

layout(constant_id = 0) const uint HAS_BIAS = 0;
layout(constant_id = 1) const uint GELU_FORM = GELU_NONE;
layout(constant_id = 2) const uint WEIGHT_N_K = 0; // 1: b is [N,K]
layout(constant_id = 3) const uint TILE_M = 128;
layout(constant_id = 4) const uint TILE_N = 128;
layout(constant_id = 5) const uint TILE_K = 32;
layout(constant_id = 6) const uint INVOCATIONS = 256;
layout(constant_id = 7) const uint N_PARTS = 1; // the accumulator as N_PARTS blocks of TILE_M x TILE_N / N_PARTS
const uint PART_N = TILE_N / N_PARTS;
layout(local_size_x_id = 6) in;

layout(std430, binding = 0) readonly buffer InputA { float16_t a[]; };
layout(std430, binding = 1) readonly buffer InputB { float16_t b[]; };
layout(std430, binding = 2) readonly buffer Bias { float16_t bias[]; };
layout(std430, binding = 3) writeonly buffer Output { float16_t result[]; };

layout(push_constant) uniform Parameters { uint m; uint k; uint n; uint vector; } parameters;

// Per-element epilogue on the f32 accumulator: column is relative to the tile, column0 is the tile's.
float bias_gelu(const in uint row, const in uint column, const in float value, const in uint column0)
{
    float x = value;
    if (HAS_BIAS != 0u) x += float(bias[min(column0 + column, parameters.n - 1u)]);
    return gelu(x, GELU_FORM);
}

// One K step: a's TILE_M x TILE_K block, then each part's TILE_K x PART_N block of b, multiplied into it.
#define MULTIPLY_STEP(layout_a, layout_b, k0)                                                                      \
    coopMatLoadTensorNV(fragment_a, a, 0, sliceTensorLayoutNV(layout_a, row0, TILE_M, k0, TILE_K));              \
    [[unroll]] for (uint part = 0u; part < N_PARTS; part++) {                                                    \
        if (WEIGHT_N_K != 0u)                                                                                    \
            coopMatLoadTensorNV(fragment_b, b, 0, sliceTensorLayoutNV(layout_b, column0 + part * PART_N, PART_N, k0, TILE_K), \
                                swap_view);                                                                      \
        else                                                                                                     \
            coopMatLoadTensorNV(fragment_b, b, 0, sliceTensorLayoutNV(layout_b, k0, TILE_K, column0 + part * PART_N, PART_N)); \
        sum[part] = coopMatMulAdd(fragment_a, fragment_b, sum[part]);                                            \
    }

void main()
{
    uint M = parameters.m, K = parameters.k, N = parameters.n;
    uint row0 = gl_WorkGroupID.y * TILE_M, column0 = gl_WorkGroupID.x * TILE_N;
    bool interior = row0 + TILE_M <= M && column0 + TILE_N <= N && K % TILE_K == 0u;

    // b's layout in memory: [K,N], or [N,K] read through a view that swaps the two coordinates.
    tensorViewNV<2, false, 1, 0> swap_view = createTensorViewNV(2, false, 1, 0);
    coopmat<float, gl_ScopeWorkgroup, TILE_M, PART_N, gl_MatrixUseAccumulator> sum[N_PARTS];
    [[unroll]] for (uint part = 0u; part < N_PARTS; part++)
        sum[part] = coopmat<float, gl_ScopeWorkgroup, TILE_M, PART_N, gl_MatrixUseAccumulator>(0.0);
    coopmat<float16_t, gl_ScopeWorkgroup, TILE_M, TILE_K, gl_MatrixUseA> fragment_a;
    coopmat<float16_t, gl_ScopeWorkgroup, TILE_K, PART_N, gl_MatrixUseB> fragment_b;

    if (interior) {
        tensorLayoutNV<2> layout_a = createTensorLayoutNV(2);
        tensorLayoutNV<2> layout_b = createTensorLayoutNV(2);
        layout_a = setTensorLayoutDimensionNV(layout_a, M, K);
        layout_b = WEIGHT_N_K != 0u ? setTensorLayoutDimensionNV(layout_b, N, K) : setTensorLayoutDimensionNV(layout_b, K, N);
        for (uint k0 = 0u; k0 < K; k0 += TILE_K) {
            MULTIPLY_STEP(layout_a, layout_b, k0)
        }
    } else {
        tensorLayoutNV<2, gl_CooperativeMatrixClampModeConstantNV> layout_a =
            createTensorLayoutNV(2, gl_CooperativeMatrixClampModeConstantNV);
        tensorLayoutNV<2, gl_CooperativeMatrixClampModeConstantNV> layout_b =
            createTensorLayoutNV(2, gl_CooperativeMatrixClampModeConstantNV);
        layout_a = setTensorLayoutDimensionNV(layout_a, M, K);
        layout_b = WEIGHT_N_K != 0u ? setTensorLayoutDimensionNV(layout_b, N, K) : setTensorLayoutDimensionNV(layout_b, K, N);
        for (uint k0 = 0u; k0 < K; k0 += TILE_K) {
            MULTIPLY_STEP(layout_a, layout_b, k0)
        }
    }

    tensorLayoutNV<2, gl_CooperativeMatrixClampModeConstantNV> layout_out =
        createTensorLayoutNV(2, gl_CooperativeMatrixClampModeConstantNV);
    layout_out = setTensorLayoutDimensionNV(layout_out, M, N);
    [[unroll]] for (uint part = 0u; part < N_PARTS; part++) {
        uint part_column0 = column0 + part * PART_N;
        if (HAS_BIAS != 0u || GELU_FORM != GELU_NONE) coopMatPerElementNV(sum[part], sum[part], bias_gelu, part_column0);
        coopmat<float16_t, gl_ScopeWorkgroup, TILE_M, PART_N, gl_MatrixUseAccumulator> out16 =
            coopmat<float16_t, gl_ScopeWorkgroup, TILE_M, PART_N, gl_MatrixUseAccumulator>(sum[part]);
        coopMatStoreTensorNV(out16, result, 0, sliceTensorLayoutNV(layout_out, row0, TILE_M, part_column0, PART_N));
    }
}
