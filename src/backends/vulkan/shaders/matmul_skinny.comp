#version 450
// matmul_skinny.comp — out[M,N] = a[M,K] x b (+ bias[N]) (then GELU) for M <= 16, b as [K,N] or [N,K]
// (WEIGHT_N_K), f32 accumulation: decoding a few tokens, where the time is reading the weight once.
//
// The tiled shader (matmul.comp) computes at least a 32-row tile per workgroup, so at M = 1 it does 32
// times the arithmetic and makes only N / 32 workgroups; this shader does M rows' worth of work and
// spreads the weight over every invocation. Each invocation keeps ROWS partial sums (ROWS: M rounded up
// to a power of two, a specialization constant, so the sums stay in registers and the backend compiles
// at most five variants per epilogue and layout; rows past M are skipped by a uniform branch). Both
// layouts read the weight once, coalesced, and a (M x K, small) from cache.
//
// b as [N,K] (PyTorch's nn.Linear weight): a subgroup computes a pair of output columns at a time (each
// loaded chunk of a serves both). Its lanes stride along K with 16-byte loads of the two weight rows
// (4 f32 or 8 f16/bf16; element by element when K is not a multiple of that), each lane multiplying
// its chunk by the same chunk of every row of a; then subgroupAdd (GL_KHR_shader_subgroup_arithmetic)
// reduces each of the 2 x ROWS partial sums across the lanes, and one lane per output applies the
// epilogue and stores it. A workgroup owns COLUMNS_PER_GROUP columns; its subgroups take pairs in turn,
// so any subgroup size works (the backend sizes the workgroup at COLUMNS_PER_GROUP / 2 subgroups of the
// size the device reports). Lane counts come from subgroupAdd(1) and lane ranks from
// subgroupExclusiveAdd(1), not gl_SubgroupSize, so a partly filled subgroup still covers all of K.
//
// b as [K,N]: a row of b is contiguous along N, so invocations own columns instead. A workgroup owns
// COLUMNS_PER_GROUP columns (64 from the backend), COLUMN_LANES = COLUMNS_PER_GROUP / 4 invocations
// across them, 4 columns each, and its WORKGROUP / COLUMN_LANES slices of invocations split K (slice s
// takes k = s, s + slices, ...). Per k, consecutive invocations read consecutive 32-bit words of the row (f32: one column per
// word, 4 words COLUMN_LANES apart; f16/bf16: two columns per word when N is even, 2 words), the fully
// coalesced pattern; 16-byte loads of 4 consecutive columns per invocation measured 3x slower for f32 on
// lavapipe (M=1, K=4096, N=3072: 43 ms against 14). The slices' partial sums meet in shared memory, one
// output row at a time; that reduction is across subgroups, so no subgroup operation is needed there.
//
// f16 and bf16 wide loads read the buffer as uvec4 (or uint) and widen in 32 bits (unpackHalf2x16; bf16
// by shifting into the high half), so, like dtype.glsl, no Float16 or Int16 capability is needed. The
// backend offers this shader only on devices that report subgroup arithmetic for compute
// (VkPhysicalDeviceSubgroupProperties); elsewhere the tiled shader runs every M.
#extension GL_GOOGLE_include_directive : require
#extension GL_EXT_control_flow_attributes : require
#extension GL_KHR_shader_subgroup_basic : require
#extension GL_KHR_shader_subgroup_arithmetic : require
#include "dtype.glsl"
#include "gelu.glsl"

layout(constant_id = 0) const uint ROWS = 1;              // M rounded up to 1, 2, 4, 8 or 16
layout(constant_id = 1) const uint HAS_BIAS = 0;
layout(constant_id = 2) const uint GELU_FORM = GELU_NONE;
layout(constant_id = 3) const uint WEIGHT_N_K = 0;        // 1: b is [N,K]
layout(constant_id = 4) const uint COLUMNS_PER_GROUP = 8; // [N,K]: even; [K,N]: a multiple of 4
layout(constant_id = 5) const uint WORKGROUP = 128;       // invocations; [K,N]: a multiple of COLUMN_LANES
layout(local_size_x_id = 5) in;

layout(std430, binding = 0) readonly buffer InputA { STORAGE_TYPE a[]; };
layout(std430, binding = 1) readonly buffer InputB { STORAGE_TYPE b[]; };
layout(std430, binding = 2) readonly buffer Bias { STORAGE_TYPE bias[]; };
layout(std430, binding = 3) writeonly buffer Output { STORAGE_TYPE result[]; };

// vector (set by the backend): [N,K]: K is a multiple of CHUNK; [K,N], f16/bf16: N is even (word loads)
layout(push_constant) uniform Parameters { uint m; uint k; uint n; uint vector; } parameters;

// 16-byte chunks (CHUNK elements, as CHUNK / 4 vec4) of a and of b's rows ([N,K]); b's 32-bit words
// ([K,N], 16-bit dtypes).
#if defined(DTYPE_F32)
const uint CHUNK = 4u;
#define CHUNK_VECTORS 1
layout(std430, binding = 0) readonly buffer InputAChunks { vec4 a_chunks[]; };
layout(std430, binding = 1) readonly buffer InputBChunks { vec4 b_chunks[]; };
void a_chunk(uint index, out vec4 values[CHUNK_VECTORS]) { values[0] = a_chunks[index]; }
void b_chunk(uint index, out vec4 values[CHUNK_VECTORS]) { values[0] = b_chunks[index]; }
const uint PER_WORD = 1u; // elements per 32-bit word
#else
const uint CHUNK = 8u;
#define CHUNK_VECTORS 2
layout(std430, binding = 0) readonly buffer InputAChunks { uvec4 a_chunks[]; };
layout(std430, binding = 1) readonly buffer InputBChunks { uvec4 b_chunks[]; };
layout(std430, binding = 1) readonly buffer InputBWords { uint b_words[]; };
const uint PER_WORD = 2u; // elements per 32-bit word
// two 16-bit elements of one 32-bit word (the lower one first) as floats
vec2 widen_pair(uint word)
{
#if defined(DTYPE_F16)
    return unpackHalf2x16(word);
#else
    return vec2(uintBitsToFloat(word << 16), uintBitsToFloat(word & 0xFFFF0000u));
#endif
}
void widen_chunk(uvec4 words, out vec4 values[CHUNK_VECTORS])
{
    values[0] = vec4(widen_pair(words.x), widen_pair(words.y));
    values[1] = vec4(widen_pair(words.z), widen_pair(words.w));
}
void a_chunk(uint index, out vec4 values[CHUNK_VECTORS]) { widen_chunk(a_chunks[index], values); }
void b_chunk(uint index, out vec4 values[CHUNK_VECTORS]) { widen_chunk(b_chunks[index], values); }
#endif

const uint PAIR = 2u;                                // [N,K]: columns a subgroup computes together
const uint COLUMN_LANES = COLUMNS_PER_GROUP / 4u;    // [K,N]: invocations across the block's columns
const uint SLICES = WORKGROUP / COLUMN_LANES;        // [K,N]: invocations along K
// [K,N]: one output row's partial sums, [slice][column in the block]; one word for [N,K], which does
// not use it.
shared float partial[WEIGHT_N_K != 0u ? 1u : SLICES * COLUMNS_PER_GROUP];

void store_output(uint row, uint column, float sum)
{
    if (HAS_BIAS != 0u) sum += load_value(bias[column]);
    result[row * parameters.n + column] = store_value(gelu(sum, GELU_FORM));
}

void weight_n_k()
{
    uint M = parameters.m, K = parameters.k, N = parameters.n;
    uint lanes = subgroupAdd(1u), lane = subgroupExclusiveAdd(1u);
    for (uint first = gl_SubgroupID * PAIR; first < COLUMNS_PER_GROUP; first += gl_NumSubgroups * PAIR) {
        uint column0 = gl_WorkGroupID.x * COLUMNS_PER_GROUP + first;
        if (column0 >= N) break; // the same for the whole subgroup: subgroupAdd below stays uniform
        // N odd: the pair's second column is past the end; it reads the first one's row, never stored
        uint column1 = column0 + 1u < N ? column0 + 1u : column0;
        float sums[PAIR * ROWS];
        [[unroll]] for (uint i = 0u; i < PAIR * ROWS; i++) sums[i] = 0.0;
        if (parameters.vector != 0u) {
            uint chunks = K / CHUNK;
            for (uint c = lane; c < chunks; c += lanes) {
                vec4 w0[CHUNK_VECTORS], w1[CHUNK_VECTORS];
                b_chunk(column0 * chunks + c, w0);
                b_chunk(column1 * chunks + c, w1);
                [[unroll]] for (uint r = 0u; r < ROWS; r++) {
                    if (r >= M) continue;
                    vec4 x[CHUNK_VECTORS];
                    a_chunk(r * chunks + c, x);
                    [[unroll]] for (uint v = 0u; v < CHUNK_VECTORS; v++) {
                        sums[r] += dot(x[v], w0[v]);
                        sums[ROWS + r] += dot(x[v], w1[v]);
                    }
                }
            }
        } else {
            for (uint k = lane; k < K; k += lanes) {
                float w0 = load_value(b[column0 * K + k]), w1 = load_value(b[column1 * K + k]);
                [[unroll]] for (uint r = 0u; r < ROWS; r++) {
                    if (r >= M) continue;
                    float x = load_value(a[r * K + k]);
                    sums[r] = fma(x, w0, sums[r]);
                    sums[ROWS + r] = fma(x, w1, sums[ROWS + r]);
                }
            }
        }
        [[unroll]] for (uint p = 0u; p < PAIR; p++)
            [[unroll]] for (uint r = 0u; r < ROWS; r++) {
                float sum = subgroupAdd(sums[p * ROWS + r]);
                uint column = column0 + p;
                if (r < M && column < N && lane == (p * ROWS + r) % lanes) store_output(r, column, sum);
            }
    }
}

void weight_k_n()
{
    uint M = parameters.m, K = parameters.k, N = parameters.n;
    uint thread = gl_LocalInvocationID.x, column_lane = thread % COLUMN_LANES, slice = thread / COLUMN_LANES;
    uint block = gl_WorkGroupID.x * COLUMNS_PER_GROUP;
    // This invocation's 4 columns, as block-relative offsets: word w of the row holds PER_WORD columns.
    uint offsets[4];
    [[unroll]] for (uint i = 0u; i < 4u; i++)
        offsets[i] = (column_lane + (i / PER_WORD) * COLUMN_LANES) * PER_WORD + i % PER_WORD;
    float sums[4u * ROWS];
    [[unroll]] for (uint i = 0u; i < 4u * ROWS; i++) sums[i] = 0.0;
    for (uint k = slice; k < K; k += SLICES) {
        float w[4];
#if !defined(DTYPE_F32)
        if (parameters.vector != 0u) {
            [[unroll]] for (uint i = 0u; i < 4u; i += 2u) {
                vec2 pair = block + offsets[i] < N ? widen_pair(b_words[(k * N + block + offsets[i]) / 2u]) : vec2(0.0);
                w[i] = pair.x;
                w[i + 1u] = pair.y;
            }
        } else
#endif
        {
            [[unroll]] for (uint i = 0u; i < 4u; i++) {
                uint column = block + offsets[i];
                w[i] = column < N ? load_value(b[k * N + column]) : 0.0;
            }
        }
        [[unroll]] for (uint r = 0u; r < ROWS; r++) {
            if (r >= M) continue;
            float x = load_value(a[r * K + k]);
            [[unroll]] for (uint i = 0u; i < 4u; i++) sums[r * 4u + i] = fma(x, w[i], sums[r * 4u + i]);
        }
    }
    // One output row at a time through shared memory; M is the same for the whole workgroup, so the
    // barriers are in uniform control flow.
    [[unroll]] for (uint r = 0u; r < ROWS; r++) {
        if (r >= M) break;
        [[unroll]] for (uint i = 0u; i < 4u; i++) partial[slice * COLUMNS_PER_GROUP + offsets[i]] = sums[r * 4u + i];
        barrier();
        for (uint l = thread; l < COLUMNS_PER_GROUP; l += WORKGROUP) {
            float sum = 0.0;
            for (uint s = 0u; s < SLICES; s++) sum += partial[s * COLUMNS_PER_GROUP + l];
            if (block + l < N) store_output(r, block + l, sum);
        }
        barrier();
    }
}

void main()
{
    if (WEIGHT_N_K != 0u) weight_n_k();
    else weight_k_n();
}
