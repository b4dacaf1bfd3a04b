#version 450
// gelu.comp — out = gelu(x), elementwise; the form (exact or tanh) is a specialization constant, so each
// form is its own pipeline with no per-element branch. Grid-stride loop, vec4 for f32 when the count is a
// multiple of 4 (see add.comp).
#extension GL_GOOGLE_include_directive : require
#include "dtype.glsl"
#include "gelu.glsl"

layout(local_size_x = 256) in;
layout(constant_id = 0) const uint GELU_FORM = GELU_EXACT;

layout(std430, binding = 0) readonly buffer Input { STORAGE_TYPE x[]; };
layout(std430, binding = 3) writeonly buffer Output { STORAGE_TYPE result[]; };
#if defined(DTYPE_F32)
layout(std430, binding = 0) readonly buffer Input4 { vec4 x4[]; };
layout(std430, binding = 3) writeonly buffer Output4 { vec4 result4[]; };
#endif

layout(push_constant) uniform Parameters { uint count; uint bias_length; uint vector; } parameters;

void main()
{
    uint stride = gl_NumWorkGroups.x * gl_WorkGroupSize.x;
    uint first = gl_GlobalInvocationID.x;
#if defined(DTYPE_F32)
    if (parameters.vector != 0u) {
        uint count4 = parameters.count / 4u;
        for (uint i = first; i < count4; i += stride) {
            vec4 v = x4[i];
            result4[i] = vec4(gelu(v.x, GELU_FORM), gelu(v.y, GELU_FORM), gelu(v.z, GELU_FORM), gelu(v.w, GELU_FORM));
        }
        return;
    }
#endif
    for (uint i = first; i < parameters.count; i += stride) result[i] = store_value(gelu(load_value(x[i]), GELU_FORM));
}
