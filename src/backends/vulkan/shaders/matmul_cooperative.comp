#version 450
// matmul_cooperative.comp — out[M,N] = a[M,K] x b (+ bias[N]) (then GELU) for f16 through
// VK_KHR_cooperative_matrix (tensor cores on NVIDIA, matrix cores / WMMA on AMD, XMX on Intel):
// f16 inputs, f32 accumulation, f16 output. b is [K,N], or [N,K] (out = a b^T) when the specialization
// constant WEIGHT_N_K is 1.
//
// Shape of the work. A workgroup of 256 invocations = 8 subgroups of 32 owns a 128 x 256 block of out;
// the subgroups form a 2 x 4 grid, each owning 64 x 64 = 4 x 4 accumulators of 16 x 16 (f32). Why this
// size: each 16 x 16 x 16 multiply needs one A and one B fragment from shared memory, and a 4 x 4 block
// reuses every fragment four times, which keeps the shared-memory traffic under what the tensor cores
// consume; a large block per workgroup keeps the global (L2) reads per FLOP low.
//
// K advances 32 at a time through one shared-memory panel set: while the subgroups multiply the panels
// of step s, every invocation has already loaded the global data of step s + 1 into registers, and
// stores it into the panels after a barrier, so the global latency hides behind the tensor-core work.
// Two panel sets (double buffering, one barrier per step) are the alternative (PANEL_SETS 2): for this
// block with 32-deep panels they need 53 KiB of shared memory, past the 48 KiB NVIDIA's Vulkan driver
// offers, and with 16-deep ones they measured slower (below). Global loads are 16 bytes (8 halves) when
// K and N are multiples of 8 (the "vector" push constant), else gathered element by element; either way
// anything outside the matrices reads as zero, so every M, K, N works. Panel rows are padded by 8 halves
// (16 bytes): 80- and 528-byte row pitches put the 8 rows a fragment load reads in different banks.
//
// Every loop but K's is unrolled ([[unroll]]): the accumulators and staged registers are indexed by
// loop counters, and a loop left rolled puts them in (slow, local) memory.
//
// Measured on the H100 (NVIDIA 580 driver), f16 4096^3, `FUSEGRAPH_VULKAN_TILE=cooperative fusegraph
// bench --dtype f16 --op matmul --size 4096`: the first version (64 x 64 per workgroup, rolled loops)
// 28 TFLOP/s; 128 x 128 unrolled with f16vec4 panels 56; with uvec4 panels 155 (K 32 per panel, two
// sets) or 58 (K 16); 4 subgroups of 64 x 64 119; 128 x 256 with K 16, two sets 170. Then on an H200,
// one run: 128 x 256 K 16 two sets 149, 256 x 128 K 16 two sets 146, 128 x 256 K 32 one set (this file)
// 192, 256 x 128 K 32 one set 183; cuBLAS 731. The gap is the instruction set: cuBLAS on Hopper issues
// wgmma (warpgroup-wide, operands straight from shared memory), which VK_KHR_cooperative_matrix's
// subgroup-scope multiply does not reach. Nor, on this driver, does the workgroup-scope multiply of
// VK_NV_cooperative_matrix2 (matmul_workgroup.comp: 67 TFLOP/s at best, a third of this shader).
//
// b as [N,K] (WEIGHT_N_K): its panel is stored n-major, TILE_N rows of STEP_K halves padded like the A
// panel's (same 80-byte pitch), filled by 16-byte loads along K exactly as A's, and each B fragment is
// loaded column-major from it; nothing else changes. That panel is 20 KiB instead of 16.5, so this
// variant needs 38 KiB of shared memory (VULKAN_COOPERATIVE_SHARED_BYTES_N_K).
//
// The epilogue goes through a per-subgroup 16 x 16 f32 scratch in shared memory (cooperative matrices
// do not say which invocation holds which element, so bias by column cannot be added in registers):
// each invocation then takes 8 consecutive elements of one row, adds bias, applies GELU, and writes
// them as one 16-byte store when the row allows it.
//
// The backend uses it only when the device lists a 16x16x16 f16 x f16 + f32 -> f32 subgroup-scope
// configuration in vkGetPhysicalDeviceCooperativeMatrixPropertiesKHR, a subgroup size of 32, 35 KiB of
// shared memory, and the features this module declares (cooperativeMatrix, shaderFloat16,
// storageBuffer16BitAccess, vulkanMemoryModel); it needs glslang 13 or later to compile.
#extension GL_GOOGLE_include_directive : require
#extension GL_KHR_cooperative_matrix : require
#extension GL_KHR_memory_scope_semantics : require
#extension GL_KHR_shader_subgroup_basic : require
#extension GL_EXT_control_flow_attributes : require
#extension GL_EXT_shader_16bit_storage : require
#extension GL_EXT_shader_explicit_arithmetic_types_float16 : require
#include "gelu.glsl"

// The shape parameters (defaults: the measured best, see above); a build may override them with -D.
#ifndef SUBGROUPS_M
#define SUBGROUPS_M 2
#endif
#ifndef SUBGROUPS_N
#define SUBGROUPS_N 4
#endif
const uint SUBGROUPS = SUBGROUPS_M * SUBGROUPS_N, INVOCATIONS = 32 * SUBGROUPS;
layout(local_size_x = INVOCATIONS) in;
layout(constant_id = 0) const uint HAS_BIAS = 0;
layout(constant_id = 1) const uint GELU_FORM = GELU_NONE;
layout(constant_id = 2) const uint WEIGHT_N_K = 0; // 1: b is [N,K]

#ifndef TILE_N_SIZE
#define TILE_N_SIZE 256
#endif
#ifndef STEP_K_SIZE
#define STEP_K_SIZE 32
#endif
#ifndef TILE_M_SIZE
#define TILE_M_SIZE 128
#endif
#ifndef PANEL_SETS
#define PANEL_SETS 1
#endif
const uint TILE_M = TILE_M_SIZE, TILE_N = TILE_N_SIZE; // the workgroup's block of out (VULKAN_COOPERATIVE_TILE_*)
const uint STEP_K = STEP_K_SIZE;               // K per panel
const uint FRAGMENT = 16;              // cooperative matrix M = N = K
const uint SUBGROUP_M = TILE_M / SUBGROUPS_M, SUBGROUP_N = TILE_N / SUBGROUPS_N;
// 16-byte loads per invocation and panel; a panel row holds A_GROUPS (B_GROUPS) of them.
const uint A_LOADS = TILE_M * STEP_K / 8u / INVOCATIONS, B_LOADS = STEP_K * TILE_N / 8u / INVOCATIONS;
const uint A_GROUPS = STEP_K / 8u;
const uint B_GROUPS = WEIGHT_N_K != 0u ? STEP_K / 8u : TILE_N / 8u; // 16-byte groups in a stored B panel row
const uint FRAGMENTS_M = SUBGROUP_M / FRAGMENT, FRAGMENTS_N = SUBGROUP_N / FRAGMENT;
// Panels hold uvec4 (8 halves, what one 16-byte global load brings); the cooperative loads read them as
// f16 (SPV_KHR_cooperative_matrix reinterprets the pointer's type), with strides and offsets in uvec4s.
const uint A_STRIDE = (STEP_K + 8u) / 8u; // a row of the A panel: STEP_K halves + 8 of padding
// a row of the B panel: TILE_N halves + 8 of padding; as [N,K], STEP_K halves + 8, like A
const uint B_STRIDE = WEIGHT_N_K != 0u ? (STEP_K + 8u) / 8u : (TILE_N + 8u) / 8u;
const uint A_PANEL = TILE_M * A_STRIDE, B_PANEL = (WEIGHT_N_K != 0u ? TILE_N : STEP_K) * B_STRIDE;

layout(std430, binding = 0) readonly buffer InputA { float16_t a[]; };
layout(std430, binding = 0) readonly buffer InputAVector { uvec4 a8[]; };
layout(std430, binding = 1) readonly buffer InputB { float16_t b[]; };
layout(std430, binding = 1) readonly buffer InputBVector { uvec4 b8[]; };
layout(std430, binding = 2) readonly buffer Bias { float16_t bias[]; };
layout(std430, binding = 3) writeonly buffer Output { float16_t result[]; };
layout(std430, binding = 3) writeonly buffer OutputVector { uvec4 result8[]; };

layout(push_constant) uniform Parameters { uint m; uint k; uint n; uint vector; } parameters;

shared uvec4 panel_a[PANEL_SETS * A_PANEL];
shared uvec4 panel_b[PANEL_SETS * B_PANEL];
shared float scratch[SUBGROUPS * FRAGMENT * FRAGMENT];

// The next step's panels, in registers between the global load and the shared store: each invocation
// moves A_LOADS x 8 halves of A and B_LOADS x 8 of B.
uvec4 staged_a[A_LOADS], staged_b[B_LOADS];

uvec4 pack8(float16_t h[8])
{
    return uvec4(packFloat2x16(f16vec2(h[0], h[1])), packFloat2x16(f16vec2(h[2], h[3])), packFloat2x16(f16vec2(h[4], h[5])),
                 packFloat2x16(f16vec2(h[6], h[7])));
}

void load_panels(uint k0, uint row0, uint column0)
{
    uint M = parameters.m, K = parameters.k, N = parameters.n;
    [[unroll]] for (uint i = 0u; i < A_LOADS; i++) {
        uint index = gl_LocalInvocationID.x + INVOCATIONS * i;
        uint row = row0 + index / A_GROUPS, k = k0 + (index % A_GROUPS) * 8u;
        if (parameters.vector != 0u) {
            staged_a[i] = row < M && k < K ? a8[(row * K + k) / 8u] : uvec4(0u);
        } else {
            float16_t h[8];
            [[unroll]] for (uint e = 0u; e < 8u; e++) h[e] = row < M && k + e < K ? a[row * K + k + e] : float16_t(0.0);
            staged_a[i] = pack8(h);
        }
    }
    [[unroll]] for (uint i = 0u; i < B_LOADS; i++) {
        uint index = gl_LocalInvocationID.x + INVOCATIONS * i;
        if (WEIGHT_N_K != 0u) {
            uint column = column0 + index / B_GROUPS, k = k0 + (index % B_GROUPS) * 8u;
            if (parameters.vector != 0u) {
                staged_b[i] = column < N && k < K ? b8[(column * K + k) / 8u] : uvec4(0u);
            } else {
                float16_t h[8];
                [[unroll]] for (uint e = 0u; e < 8u; e++) h[e] = column < N && k + e < K ? b[column * K + k + e] : float16_t(0.0);
                staged_b[i] = pack8(h);
            }
            continue;
        }
        uint k = k0 + index / B_GROUPS, column = column0 + (index % B_GROUPS) * 8u;
        if (parameters.vector != 0u) {
            staged_b[i] = k < K && column < N ? b8[(k * N + column) / 8u] : uvec4(0u);
        } else {
            float16_t h[8];
            [[unroll]] for (uint e = 0u; e < 8u; e++) h[e] = k < K && column + e < N ? b[k * N + column + e] : float16_t(0.0);
            staged_b[i] = pack8(h);
        }
    }
}

void store_panels(uint set)
{
    [[unroll]] for (uint i = 0u; i < A_LOADS; i++) {
        uint index = gl_LocalInvocationID.x + INVOCATIONS * i;
        panel_a[set * A_PANEL + (index / A_GROUPS) * A_STRIDE + index % A_GROUPS] = staged_a[i];
    }
    [[unroll]] for (uint i = 0u; i < B_LOADS; i++) {
        uint index = gl_LocalInvocationID.x + INVOCATIONS * i;
        panel_b[set * B_PANEL + (index / B_GROUPS) * B_STRIDE + index % B_GROUPS] = staged_b[i];
    }
}

void main()
{
    uint M = parameters.m, K = parameters.k, N = parameters.n;
    uint row0 = gl_WorkGroupID.y * TILE_M, column0 = gl_WorkGroupID.x * TILE_N;
    uint sub_row = (gl_SubgroupID / SUBGROUPS_N) * SUBGROUP_M, sub_column = (gl_SubgroupID % SUBGROUPS_N) * SUBGROUP_N;

    coopmat<float, gl_ScopeSubgroup, FRAGMENT, FRAGMENT, gl_MatrixUseAccumulator> accumulator[FRAGMENTS_M * FRAGMENTS_N];
    [[unroll]] for (uint i = 0u; i < FRAGMENTS_M * FRAGMENTS_N; i++)
        accumulator[i] = coopmat<float, gl_ScopeSubgroup, FRAGMENT, FRAGMENT, gl_MatrixUseAccumulator>(0.0);

    load_panels(0u, row0, column0);
    store_panels(0u);
    barrier();
    uint set = 0u;
    for (uint k0 = 0u; k0 < K; k0 += STEP_K) {
        bool more = k0 + STEP_K < K;
        if (more) load_panels(k0 + STEP_K, row0, column0);
        [[unroll]] for (uint kk = 0u; kk < STEP_K; kk += FRAGMENT) {
            coopmat<float16_t, gl_ScopeSubgroup, FRAGMENT, FRAGMENT, gl_MatrixUseA> fragment_a[FRAGMENTS_M];
            coopmat<float16_t, gl_ScopeSubgroup, FRAGMENT, FRAGMENT, gl_MatrixUseB> fragment_b[FRAGMENTS_N];
            [[unroll]] for (uint i = 0u; i < FRAGMENTS_M; i++)
                coopMatLoad(fragment_a[i], panel_a, set * A_PANEL + (sub_row + i * FRAGMENT) * A_STRIDE + kk / 8u, A_STRIDE,
                            gl_CooperativeMatrixLayoutRowMajor);
            [[unroll]] for (uint j = 0u; j < FRAGMENTS_N; j++) {
                if (WEIGHT_N_K != 0u)
                    coopMatLoad(fragment_b[j], panel_b, set * B_PANEL + (sub_column + j * FRAGMENT) * B_STRIDE + kk / 8u, B_STRIDE,
                                gl_CooperativeMatrixLayoutColumnMajor);
                else
                    coopMatLoad(fragment_b[j], panel_b, set * B_PANEL + kk * B_STRIDE + (sub_column + j * FRAGMENT) / 8u, B_STRIDE,
                                gl_CooperativeMatrixLayoutRowMajor);
            }
            [[unroll]] for (uint i = 0u; i < FRAGMENTS_M; i++)
                [[unroll]] for (uint j = 0u; j < FRAGMENTS_N; j++)
                    accumulator[i * FRAGMENTS_N + j] = coopMatMulAdd(fragment_a[i], fragment_b[j], accumulator[i * FRAGMENTS_N + j]);
        }
#if PANEL_SETS == 2
        if (more) store_panels(set ^ 1u);
        barrier();
        set ^= 1u;
#else
        barrier();
        if (more) store_panels(0u);
        barrier();
#endif
    }

    uint lane = gl_SubgroupInvocationID, base = gl_SubgroupID * FRAGMENT * FRAGMENT;
    uint r = lane / 2u, c = (lane % 2u) * 8u;
    [[unroll]] for (uint i = 0u; i < FRAGMENTS_M; i++)
        [[unroll]] for (uint j = 0u; j < FRAGMENTS_N; j++) {
            coopMatStore(accumulator[i * FRAGMENTS_N + j], scratch, base, FRAGMENT, gl_CooperativeMatrixLayoutRowMajor);
            subgroupMemoryBarrierShared();
            subgroupBarrier();
            uint row = row0 + sub_row + i * FRAGMENT + r, column = column0 + sub_column + j * FRAGMENT + c;
            if (row < M && column < N) {
                float16_t h[8];
                [[unroll]] for (uint e = 0u; e < 8u; e++) {
                    float value = scratch[base + r * FRAGMENT + c + e];
                    if (HAS_BIAS != 0u && column + e < N) value += float(bias[column + e]);
                    h[e] = float16_t(gelu(value, GELU_FORM));
                }
                if (parameters.vector != 0u && column + 8u <= N) {
                    result8[(row * N + column) / 8u] = pack8(h);
                } else {
                    [[unroll]] for (uint e = 0u; e < 8u; e++)
                        if (column + e < N) result[row * N + column + e] = h[e];
                }
            }
            subgroupBarrier();
        }
}
