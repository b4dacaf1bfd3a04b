#version 450
// matmul_cooperative.comp — out[M,N] = a[M,K] x b[K,N] (+ bias[N]) (then GELU) for f16 through
// VK_KHR_cooperative_matrix (tensor cores on NVIDIA, matrix cores / WMMA on AMD, XMX on Intel):
// f16 inputs, f32 accumulation, f16 output.
//
// Deliberately small and careful, since no device here can run it (lavapipe has no cooperative
// matrices): one workgroup of 128 invocations = 4 subgroups of 32 owns a 64 x 64 block of out; each
// subgroup owns a 32 x 32 quarter, 2 x 2 accumulators of 16 x 16. K advances 32 at a time: the
// workgroup stages a 64 x 32 panel of a and a 32 x 64 panel of b in shared memory (zero-filled outside
// the matrices, so any M, K, N works and every cooperative load is in bounds and aligned), and each
// subgroup multiplies its fragments from there. At the end the accumulators go to shared memory, where
// every invocation adds bias, applies GELU and writes f16 with bounds checks.
// The backend uses it only when the device lists a 16x16x16 f16 x f16 + f32 -> f32 subgroup-scope
// configuration in vkGetPhysicalDeviceCooperativeMatrixPropertiesKHR, a subgroup size of 32, and the
// features this module declares (cooperativeMatrix, shaderFloat16, storageBuffer16BitAccess,
// vulkanMemoryModel); it needs glslang 13 or later to compile.
#extension GL_GOOGLE_include_directive : require
#extension GL_KHR_cooperative_matrix : require
#extension GL_KHR_memory_scope_semantics : require
#extension GL_KHR_shader_subgroup_basic : require
#extension GL_EXT_shader_16bit_storage : require
#extension GL_EXT_shader_explicit_arithmetic_types_float16 : require
#include "gelu.glsl"

layout(local_size_x = 128) in;
layout(constant_id = 0) const uint HAS_BIAS = 0;
layout(constant_id = 1) const uint GELU_FORM = GELU_NONE;

const uint TILE = 64;     // the workgroup's block of out
const uint STEP_K = 32;   // K per shared-memory panel
const uint FRAGMENT = 16; // cooperative matrix M = N = K

layout(std430, binding = 0) readonly buffer InputA { float16_t a[]; };
layout(std430, binding = 1) readonly buffer InputB { float16_t b[]; };
layout(std430, binding = 2) readonly buffer Bias { float16_t bias[]; };
layout(std430, binding = 3) writeonly buffer Output { float16_t result[]; };

layout(push_constant) uniform Parameters { uint m; uint k; uint n; uint vector; } parameters;

shared float16_t panel_a[TILE * STEP_K]; // row-major, TILE rows of STEP_K
shared float16_t panel_b[STEP_K * TILE]; // row-major, STEP_K rows of TILE
shared float panel_out[TILE * TILE];

void main()
{
    uint M = parameters.m, K = parameters.k, N = parameters.n;
    uint thread = gl_LocalInvocationID.x;
    uint row0 = gl_WorkGroupID.y * TILE, column0 = gl_WorkGroupID.x * TILE;
    uint sub_row = (gl_SubgroupID / 2u) * 32u, sub_column = (gl_SubgroupID % 2u) * 32u;

    coopmat<float, gl_ScopeSubgroup, FRAGMENT, FRAGMENT, gl_MatrixUseAccumulator> accumulator[4];
    for (uint i = 0u; i < 4u; i++) accumulator[i] = coopmat<float, gl_ScopeSubgroup, FRAGMENT, FRAGMENT, gl_MatrixUseAccumulator>(0.0);

    for (uint k0 = 0u; k0 < K; k0 += STEP_K) {
        for (uint l = thread; l < TILE * STEP_K; l += 128u) {
            uint r = l / STEP_K, c = l % STEP_K;
            uint row = row0 + r, k = k0 + c;
            panel_a[l] = row < M && k < K ? a[row * K + k] : float16_t(0.0);
        }
        for (uint l = thread; l < STEP_K * TILE; l += 128u) {
            uint r = l / TILE, c = l % TILE;
            uint k = k0 + r, column = column0 + c;
            panel_b[l] = k < K && column < N ? b[k * N + column] : float16_t(0.0);
        }
        barrier();
        for (uint kk = 0u; kk < STEP_K; kk += FRAGMENT) {
            coopmat<float16_t, gl_ScopeSubgroup, FRAGMENT, FRAGMENT, gl_MatrixUseA> fragment_a[2];
            coopmat<float16_t, gl_ScopeSubgroup, FRAGMENT, FRAGMENT, gl_MatrixUseB> fragment_b[2];
            for (uint i = 0u; i < 2u; i++)
                coopMatLoad(fragment_a[i], panel_a, (sub_row + i * FRAGMENT) * STEP_K + kk, STEP_K,
                            gl_CooperativeMatrixLayoutRowMajor);
            for (uint j = 0u; j < 2u; j++)
                coopMatLoad(fragment_b[j], panel_b, kk * TILE + sub_column + j * FRAGMENT, TILE,
                            gl_CooperativeMatrixLayoutRowMajor);
            for (uint i = 0u; i < 2u; i++)
                for (uint j = 0u; j < 2u; j++)
                    accumulator[i * 2u + j] = coopMatMulAdd(fragment_a[i], fragment_b[j], accumulator[i * 2u + j]);
        }
        barrier();
    }

    for (uint i = 0u; i < 2u; i++)
        for (uint j = 0u; j < 2u; j++)
            coopMatStore(accumulator[i * 2u + j], panel_out, (sub_row + i * FRAGMENT) * TILE + sub_column + j * FRAGMENT,
                         TILE, gl_CooperativeMatrixLayoutRowMajor);
    barrier();
    for (uint l = thread; l < TILE * TILE; l += 128u) {
        uint row = row0 + l / TILE, column = column0 + l % TILE;
        if (row >= M || column >= N) continue;
        float value = panel_out[l];
        if (HAS_BIAS != 0u) value += float(bias[column]);
        result[row * N + column] = float16_t(gelu(value, GELU_FORM));
    }
}
