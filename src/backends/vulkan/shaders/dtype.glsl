// dtype.glsl — how a storage element of the build's dtype becomes a float and back.
//
// Every shader computes in f32; only storage changes with the dtype, chosen by one #define per SPIR-V
// module (DTYPE_F32, DTYPE_F16 or DTYPE_BF16):
//   f32   float storage.
//   f16   float16_t storage through GL_EXT_shader_16bit_storage (the device needs only
//         storageBuffer16BitAccess: loads and stores convert, no f16 arithmetic, no Float16 capability).
//   bf16  uint16_t storage, widened by bits << 16 and narrowed with round-to-nearest-even (NaN stays a
//         quiet NaN), the same rounding as fg_convert. This needs no VK_KHR_shader_bfloat16, so bf16 runs
//         on every device that has 16-bit storage.
// Shaders that include this must not enable the 16-bit extensions themselves.
#if defined(DTYPE_F32)
#define STORAGE_TYPE float
#define load_value(value) (value)
#define store_value(value) (value)
#elif defined(DTYPE_F16)
#extension GL_EXT_shader_16bit_storage : require
#define STORAGE_TYPE float16_t
// macros, not functions: a 16-bit function parameter would need the Float16 capability
#define load_value(value) float(value)
#define store_value(value) float16_t(value)
#elif defined(DTYPE_BF16)
#extension GL_EXT_shader_16bit_storage : require
#define STORAGE_TYPE uint16_t
// rounded in 32 bits and narrowed once by a macro: no 16-bit arithmetic or parameters, so no Int16
// capability is needed
#define load_value(value) uintBitsToFloat(uint(value) << 16)
#define store_value(value) uint16_t(bf16_round(value))
uint bf16_round(float value)
{
    uint bits = floatBitsToUint(value);
    return (isnan(value) ? 0x7FC00000u : bits + 0x7FFFu + ((bits >> 16) & 1u)) >> 16;
}
#else
#error "define DTYPE_F32, DTYPE_F16 or DTYPE_BF16"
#endif
