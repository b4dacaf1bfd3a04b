#version 450
// add.comp — out = a + b, same shape, or out[i] = a[i] + bias[i % N] (a bias [N] broadcast over rows).
//
// Pure memory traffic, so the only goals are coalesced accesses and enough bytes in flight: a grid-stride
// loop (the dispatch is capped at a few waves of workgroups), and for f32 16-byte vec4 loads and stores
// whenever the element count (and for a bias, N) is a multiple of 4, which is when every vec4 stays inside
// one row. Buffers are allocated separately and 16-byte aligned, so the vec4 views are aligned.
#extension GL_GOOGLE_include_directive : require
#include "dtype.glsl"

layout(local_size_x = 256) in;

layout(std430, binding = 0) readonly buffer InputA { STORAGE_TYPE a[]; };
layout(std430, binding = 1) readonly buffer InputB { STORAGE_TYPE b[]; };
layout(std430, binding = 3) writeonly buffer Output { STORAGE_TYPE result[]; };
#if defined(DTYPE_F32)
layout(std430, binding = 0) readonly buffer InputA4 { vec4 a4[]; };
layout(std430, binding = 1) readonly buffer InputB4 { vec4 b4[]; };
layout(std430, binding = 3) writeonly buffer Output4 { vec4 result4[]; };
#endif

// count: elements; bias_length: N, or 0 for same shape; vector: 1 when the vec4 path applies
layout(push_constant) uniform Parameters { uint count; uint bias_length; uint vector; } parameters;

void main()
{
    uint stride = gl_NumWorkGroups.x * gl_WorkGroupSize.x;
    uint first = gl_GlobalInvocationID.x;
    uint bias_length = parameters.bias_length;
#if defined(DTYPE_F32)
    if (parameters.vector != 0u) {
        uint count4 = parameters.count / 4u, bias4 = bias_length / 4u;
        for (uint i = first; i < count4; i += stride) result4[i] = a4[i] + b4[bias4 != 0u ? i % bias4 : i];
        return;
    }
#endif
    for (uint i = first; i < parameters.count; i += stride) {
        uint j = bias_length != 0u ? i % bias_length : i;
        result[i] = store_value(load_value(a[i]) + load_value(b[j]));
    }
}
