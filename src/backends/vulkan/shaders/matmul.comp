#version 450
// matmul.comp — out[M,N] = a[M,K] x b (+ bias[N]) (then GELU), row-major, f32 accumulation, where b is
// [K,N] (FG_WEIGHT_K_N: out = a b) or [N,K] (FG_WEIGHT_N_K: out = a b^T, PyTorch's nn.Linear weight).
//
// The classic shared-memory tiling: a workgroup owns a TILE_M x TILE_N block of out and walks K in
// steps of TILE_K. Each step the workgroup copies a TILE_M x TILE_K panel of a and a TILE_K x TILE_N
// panel of b into shared memory (zero outside the matrices, so awkward sizes need no special case), then
// every invocation accumulates a THREAD_M x THREAD_N register tile from it: per k, THREAD_M + THREAD_N
// shared loads feed THREAD_M * THREAD_N FMAs. An invocation's rows and columns are interleaved (row
// ty + i * threads_m, column tx + j * threads_n), so neighbouring invocations read neighbouring shared
// words (no bank conflicts) and write neighbouring output words (coalesced). The a panel is stored
// transposed (k-major) with one word of padding per row, so its stores do not all hit one bank.
//
// Tile sizes are specialization constants: the backend times each configuration per device, dtype,
// epilogue, weight layout and shape class on first use and keeps the fastest (vulkan_matmul_choice.c);
// the driver compiles each one with
// constant loop bounds. The epilogue (bias, GELU form) is a specialization constant too. f32 is exact
// fp32: fma() in f32, no reduced-precision path.
// For f32, when K is a multiple of 4 (and N too, for b as [K,N]), the panels are read from global memory
// as vec4 (a flag in the push constants; the whole dispatch takes one side of the branch).
//
// The weight layout is a specialization constant (WEIGHT_N_K), so each layout is a pipeline of its own
// and the branch below is folded away by the driver. Only the b panel's load changes: b as [N,K] is
// read exactly like a (consecutive invocations along K, vec4 along K for f32 when K is a multiple of 4,
// whatever N is) and stored transposed into the panel, k-major like the a panel, with one word of
// padding per row (B_STRIDE = TILE_N + 1) so those transposed stores spread over the banks. The K loop
// then reads both layouts' panels the same way.
//
// Keeping the register tile in registers. accumulator, a_values and b_values stay in registers only if
// every access has a constant index once the driver has unrolled the loops around it; otherwise the
// array goes to local (per-invocation, off-chip) memory, and every FMA of the K loop with it. On an H100
// (NVIDIA 580) the 8x8 tile ran at 1.7-2 TFLOP/s instead of 28 exactly for the exact-GELU and bf16
// variants, those whose old epilogue (a loop nest over the 64 tile elements with bias, GELU and store
// inlined in each) was largest, while f32 tanh and the plain bf16 matmul ran at full speed: the mark of
// a loop left rolled by the driver's unrolling budget. So every loop over the register tile is marked
// [[unroll]]; the epilogue copies the tile to shared memory one row at a time, always row 0, shifting
// the next row down after each copy, so even a rolled loop there indexes the tile with constants only;
// and bias, GELU and store run on the shared copy in a plain loop: one copy of that code per row step,
// whatever the tile size. The tuning measures every epilogue on its own pipeline besides.
#extension GL_GOOGLE_include_directive : require
#extension GL_EXT_control_flow_attributes : require
#include "dtype.glsl"
#include "gelu.glsl"

layout(constant_id = 0) const uint TILE_M = 64;
layout(constant_id = 1) const uint TILE_N = 64;
layout(constant_id = 2) const uint TILE_K = 16;
layout(constant_id = 3) const uint THREAD_M = 4;
layout(constant_id = 4) const uint THREAD_N = 4;
layout(constant_id = 5) const uint HAS_BIAS = 0;
layout(constant_id = 6) const uint GELU_FORM = GELU_NONE;
layout(constant_id = 8) const uint WEIGHT_N_K = 0; // 1: b is [N,K]
// (TILE_M / THREAD_M) * (TILE_N / THREAD_N), set by the backend
layout(local_size_x_id = 7) in;

layout(std430, binding = 0) readonly buffer InputA { STORAGE_TYPE a[]; };
layout(std430, binding = 1) readonly buffer InputB { STORAGE_TYPE b[]; };
layout(std430, binding = 2) readonly buffer Bias { STORAGE_TYPE bias[]; };
layout(std430, binding = 3) writeonly buffer Output { STORAGE_TYPE result[]; };
#if defined(DTYPE_F32)
layout(std430, binding = 0) readonly buffer InputA4 { vec4 a4[]; };
layout(std430, binding = 1) readonly buffer InputB4 { vec4 b4[]; };
#endif

layout(push_constant) uniform Parameters { uint m; uint k; uint n; uint vector; } parameters;

const uint THREADS_M = TILE_M / THREAD_M;
const uint THREADS_N = TILE_N / THREAD_N;
const uint THREADS = THREADS_M * THREADS_N;
const uint A_STRIDE = TILE_M + 1; // padded row of the transposed a panel
const uint PANEL_B = TILE_K * A_STRIDE; // where the b panel starts in panels
const uint B_STRIDE = WEIGHT_N_K != 0u ? TILE_N + 1u : TILE_N; // a row of the b panel (padded when stored transposed)
const uint PANEL_WORDS = PANEL_B + TILE_K * B_STRIDE;
const uint SLAB_WORDS = THREADS_M * TILE_N; // one row step of the epilogue: row i of every register tile
const uint SHARED_WORDS = PANEL_WORDS > SLAB_WORDS ? PANEL_WORDS : SLAB_WORDS;

// The a panel (k-major), then the b panel; the epilogue reuses the words once the K loop is done.
shared float panels[SHARED_WORDS];

void load_panels(uint row0, uint column0, uint k0, uint thread)
{
    uint M = parameters.m, K = parameters.k, N = parameters.n;
#if defined(DTYPE_F32)
    if (parameters.vector != 0u) {
        for (uint l = thread; l < TILE_M * TILE_K / 4u; l += THREADS) {
            uint r = l / (TILE_K / 4u), c = (l % (TILE_K / 4u)) * 4u;
            uint row = row0 + r, k = k0 + c;
            vec4 v = row < M && k < K ? a4[(row * K + k) / 4u] : vec4(0.0);
            panels[(c + 0u) * A_STRIDE + r] = v.x;
            panels[(c + 1u) * A_STRIDE + r] = v.y;
            panels[(c + 2u) * A_STRIDE + r] = v.z;
            panels[(c + 3u) * A_STRIDE + r] = v.w;
        }
        if (WEIGHT_N_K != 0u) {
            for (uint l = thread; l < TILE_N * TILE_K / 4u; l += THREADS) {
                uint r = l / (TILE_K / 4u), c = (l % (TILE_K / 4u)) * 4u;
                uint column = column0 + r, k = k0 + c;
                vec4 v = column < N && k < K ? b4[(column * K + k) / 4u] : vec4(0.0);
                panels[PANEL_B + (c + 0u) * B_STRIDE + r] = v.x;
                panels[PANEL_B + (c + 1u) * B_STRIDE + r] = v.y;
                panels[PANEL_B + (c + 2u) * B_STRIDE + r] = v.z;
                panels[PANEL_B + (c + 3u) * B_STRIDE + r] = v.w;
            }
            return;
        }
        for (uint l = thread; l < TILE_K * TILE_N / 4u; l += THREADS) {
            uint r = l / (TILE_N / 4u), c = (l % (TILE_N / 4u)) * 4u;
            uint k = k0 + r, column = column0 + c;
            vec4 v = k < K && column < N ? b4[(k * N + column) / 4u] : vec4(0.0);
            panels[PANEL_B + r * B_STRIDE + c + 0u] = v.x;
            panels[PANEL_B + r * B_STRIDE + c + 1u] = v.y;
            panels[PANEL_B + r * B_STRIDE + c + 2u] = v.z;
            panels[PANEL_B + r * B_STRIDE + c + 3u] = v.w;
        }
        return;
    }
#endif
    for (uint l = thread; l < TILE_M * TILE_K; l += THREADS) {
        uint r = l / TILE_K, c = l % TILE_K;
        uint row = row0 + r, k = k0 + c;
        panels[c * A_STRIDE + r] = row < M && k < K ? load_value(a[row * K + k]) : 0.0;
    }
    if (WEIGHT_N_K != 0u) {
        for (uint l = thread; l < TILE_N * TILE_K; l += THREADS) {
            uint r = l / TILE_K, c = l % TILE_K;
            uint column = column0 + r, k = k0 + c;
            panels[PANEL_B + c * B_STRIDE + r] = column < N && k < K ? load_value(b[column * K + k]) : 0.0;
        }
        return;
    }
    for (uint l = thread; l < TILE_K * TILE_N; l += THREADS) {
        uint r = l / TILE_N, c = l % TILE_N;
        uint k = k0 + r, column = column0 + c;
        panels[PANEL_B + r * B_STRIDE + c] = k < K && column < N ? load_value(b[k * N + column]) : 0.0;
    }
}

void main()
{
    uint M = parameters.m, K = parameters.k, N = parameters.n;
    uint thread = gl_LocalInvocationID.x;
    uint tx = thread % THREADS_N, ty = thread / THREADS_N;
    uint row0 = gl_WorkGroupID.y * TILE_M, column0 = gl_WorkGroupID.x * TILE_N;

    float accumulator[THREAD_M * THREAD_N];
    [[unroll]] for (uint i = 0u; i < THREAD_M * THREAD_N; i++) accumulator[i] = 0.0;
    float a_values[THREAD_M];
    float b_values[THREAD_N];

    [[dont_unroll]] for (uint k0 = 0u; k0 < K; k0 += TILE_K) {
        load_panels(row0, column0, k0, thread);
        barrier();
        [[unroll]] for (uint kk = 0u; kk < TILE_K; kk++) {
            [[unroll]] for (uint i = 0u; i < THREAD_M; i++) a_values[i] = panels[kk * A_STRIDE + ty + i * THREADS_M];
            [[unroll]] for (uint j = 0u; j < THREAD_N; j++) b_values[j] = panels[PANEL_B + kk * B_STRIDE + tx + j * THREADS_N];
            [[unroll]] for (uint i = 0u; i < THREAD_M; i++)
                [[unroll]] for (uint j = 0u; j < THREAD_N; j++)
                    accumulator[i * THREAD_N + j] = fma(a_values[i], b_values[j], accumulator[i * THREAD_N + j]);
        }
        barrier();
    }

    // Row step i: every invocation copies row i of its register tile (out row ty + i * THREADS_M), which
    // the shifts have brought to row 0, into the slab; then the workgroup finishes the slab's THREADS_M x
    // TILE_N outputs, consecutive invocations on consecutive columns. The K loop's last barrier (none is
    // needed when K is 0: no panel was read) makes the first copy safe; the barrier after the stores, the
    // next one.
    [[unroll]] for (uint i = 0u; i < THREAD_M; i++) {
        [[unroll]] for (uint j = 0u; j < THREAD_N; j++) panels[ty * TILE_N + tx + j * THREADS_N] = accumulator[j];
        [[unroll]] for (uint e = 0u; e + THREAD_N < THREAD_M * THREAD_N; e++) accumulator[e] = accumulator[e + THREAD_N];
        barrier();
        uint slab_row0 = row0 + i * THREADS_M;
        [[dont_unroll]] for (uint l = thread; l < SLAB_WORDS; l += THREADS) {
            uint row = slab_row0 + l / TILE_N, column = column0 + l % TILE_N;
            if (row >= M || column >= N) continue;
            float value = panels[l];
            if (HAS_BIAS != 0u) value += load_value(bias[column]);
            result[row * N + column] = store_value(gelu(value, GELU_FORM));
        }
        barrier();
    }
}
