// gelu.glsl — GELU in f32, both forms, shared by gelu.comp and the matmul epilogues.
//
// Exact: gelu(x) = x * Phi(x), Phi(x) = 0.5 * erfc(-x / sqrt 2). GLSL has no erf, so q = 0.5 *
// erfc(|x| / sqrt 2) comes from Abramowitz & Stegun 7.1.26 (erfc(z) = t P(t) exp(-z^2), t = 1 / (1 + p z),
// |error| <= 1.5e-7 on erf in exact arithmetic), and Phi = 1 - q for x >= 0, q for x < 0: working from
// erfc of |x| keeps the negative tail from cancelling (1 - (1 - tiny)). It is the formula the CPU
// kernels use (src/backends/cpu/gelu_cpu.c), so both devices round alike. Measured on lavapipe by
// tests/vulkan/test_vulkan_ops.c over 200001 points in [-8, 8] against float64 erfc: max
// |gelu - reference| / max(1, |x|) = 1.7e-7 (tanh form: 1.2e-7); the test prints both and fails
// above 1e-6.
// Tanh: 0.5 (1 + tanh u) = 1 / (1 + exp(-2u)), so gelu = x / (1 + exp(-2u)), u = sqrt(2/pi) (x + 0.044715
// x^3): no cancellation, and exp overflowing to +inf for very negative x gives -0, the right limit.
const uint GELU_NONE = 0u;
const uint GELU_EXACT = 1u;
const uint GELU_TANH = 2u;

float gelu_exact(float x)
{
    float z = abs(x) * 0.70710678118654752;
    float t = 1.0 / (1.0 + 0.3275911 * z);
    float poly = t * (0.254829592 + t * (-0.284496736 + t * (1.421413741 + t * (-1.453152027 + t * 1.061405429))));
    float q = 0.5 * poly * exp(-z * z);
    return x * (x >= 0.0 ? 1.0 - q : q);
}

float gelu_tanh(float x)
{
    float u = 0.7978845608028654 * (x + 0.044715 * x * x * x);
    return x / (1.0 + exp(-2.0 * u));
}

float gelu(float x, uint form)
{
    if (form == GELU_EXACT) return gelu_exact(x);
    if (form == GELU_TANH) return gelu_tanh(x);
    return x;
}
