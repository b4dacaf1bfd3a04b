/*
 * elementwise.cu — add, bias add and GELU at HBM bandwidth, for f32 / f16 / bf16 (math in f32).
 *
 * These ops do almost no arithmetic per byte, so the only goal is to keep the memory system busy:
 *  - Every access is 16 bytes wide (one float4, or 8 halves / bfloat16s): a warp moves 512 contiguous
 *    bytes per instruction, and four times fewer load/store instructions are issued than with scalars.
 *  - Each thread first issues ELEMENTWISE_UNROLL independent 16-byte loads per input, then computes,
 *    then stores. The bandwidth-delay product of an H100 is about 3.35 TB/s x ~0.7 us ~ 2.3 MB in
 *    flight, ~18 KB per SM; at 2048 resident threads per SM and 4 x 16 B per input each, an SM has
 *    ~128 KB requested at once, comfortably more than needed.
 *  - The grid is sized so that each thread handles one such group of vectors (100M f32 elements:
 *    25M vectors, ~24k blocks of 256 threads, i.e. ~23 waves of 132 SMs x 8 blocks). A grid-stride
 *    loop covers sizes beyond the grid cap.
 * Vector accesses need every pointer 16-byte aligned; when one is not (a tensor view into the middle
 * of a buffer), or for a bias add when a row is not a whole number of vectors, the same kernels run with
 * a vector width of one element (still coalesced, just more instructions). Elements past the last
 * whole vector (n not a multiple of the width) are done one per thread by block 0.
 * Plain (coherent) loads, not ld.global.nc: gelu_forward(out, out, ...) runs in place, and add may too.
 */
#include <cstdint>
#include <cstring>

#include "cuda_kernels.h"
#include "matmul_epilogue.cuh" /* gelu_erf, gelu_tanh, to_float, from_float: the same rounding as the matmuls */

#define ELEMENTWISE_THREADS 256
#define ELEMENTWISE_UNROLL 4
/* 4 blocks of 256 threads per SM at least: caps registers at 64, so occupancy (and bytes in flight) stays high */
#define ELEMENTWISE_MIN_BLOCKS 4
#define ELEMENTWISE_MAX_BLOCKS (1 << 20) /* beyond this the grid-stride loop takes over */

/* Two 16-bit values in one 32-bit word <-> two floats (element 0 in the low half: little endian). */
template <typename T> __device__ __forceinline__ float2 unpack_pair(uint32_t word);
template <> __device__ __forceinline__ float2 unpack_pair<__half>(uint32_t word) {
    __half2 pair;
    memcpy(&pair, &word, 4);
    return __half22float2(pair);
}
template <> __device__ __forceinline__ float2 unpack_pair<__nv_bfloat16>(uint32_t word) {
    return make_float2(__uint_as_float(word << 16), __uint_as_float(word & 0xFFFF0000u)); /* bf16 is f32's top half */
}
template <typename T> __device__ __forceinline__ uint32_t pack_pair(float low, float high);
template <> __device__ __forceinline__ uint32_t pack_pair<__half>(float low, float high) {
    __half2 pair = __floats2half2_rn(low, high); /* round to nearest even, like from_float */
    uint32_t word;
    memcpy(&word, &pair, 4);
    return word;
}
template <> __device__ __forceinline__ uint32_t pack_pair<__nv_bfloat16>(float low, float high) {
    __nv_bfloat162 pair = __floats2bfloat162_rn(low, high);
    uint32_t word;
    memcpy(&word, &pair, 4);
    return word;
}

/* WIDTH consecutive elements of T held in registers, loaded and stored as one access. VECTOR: 16 bytes
 * (4 f32 or 8 f16/bf16) kept as four raw 32-bit words, so 16-bit values stay two to a register until
 * they are converted; otherwise one element. */
template <typename T, bool VECTOR> struct Pack {
    static constexpr int WIDTH = VECTOR ? 16 / sizeof(T) : 1;
    uint32_t word[4]; /* the vector's bits (VECTOR) */
    T value;          /* the element (!VECTOR); the unused member costs no registers */

    __device__ __forceinline__ void load(const T *pointer) {
        if constexpr (VECTOR) {
            uint4 bits = *reinterpret_cast<const uint4 *>(pointer); /* one 128-bit load */
            word[0] = bits.x, word[1] = bits.y, word[2] = bits.z, word[3] = bits.w;
        } else {
            value = *pointer;
        }
    }
    __device__ __forceinline__ void store(T *pointer) const {
        if constexpr (VECTOR) *reinterpret_cast<uint4 *>(pointer) = make_uint4(word[0], word[1], word[2], word[3]);
        else *pointer = value;
    }
    __device__ __forceinline__ void to_floats(float (&f)[WIDTH]) const {
        if constexpr (!VECTOR) {
            f[0] = to_float(value);
        } else if constexpr (sizeof(T) == 4) {
#pragma unroll
            for (int e = 0; e < 4; e++) f[e] = __uint_as_float(word[e]);
        } else {
#pragma unroll
            for (int w = 0; w < 4; w++) {
                float2 pair = unpack_pair<T>(word[w]);
                f[2 * w] = pair.x, f[2 * w + 1] = pair.y;
            }
        }
    }
    __device__ __forceinline__ void from_floats(const float (&f)[WIDTH]) {
        if constexpr (!VECTOR) {
            value = from_float<T>(f[0]);
        } else if constexpr (sizeof(T) == 4) {
#pragma unroll
            for (int e = 0; e < 4; e++) word[e] = __float_as_uint(f[e]);
        } else {
#pragma unroll
            for (int w = 0; w < 4; w++) word[w] = pack_pair<T>(f[2 * w], f[2 * w + 1]);
        }
    }
};

/* The functions each kernel applies, on f32 values. */
struct GeluExact {
    __device__ __forceinline__ float operator()(float x) const { return gelu_erf(x); }
};
struct GeluTanh {
    __device__ __forceinline__ float operator()(float x) const { return gelu_tanh(x); }
};

/* The loop shared by the kernels. Thread t of block b handles the packs
 *   (b * UNROLL + u) * blockDim + t,  u = 0..UNROLL-1
 * (a warp's UNROLL accesses are each 32 consecutive packs), then strides by the whole grid.
 * `body(pack_index, u, phase)` is called with phase 0 to load pack u and phase 1 to compute and store
 * it, so that all UNROLL loads of a thread are issued before the first one is waited on.
 * FROM_END: block b takes the place of block gridDim.x - 1 - b. The GPU starts blocks roughly in index
 * order, so the end of the tensor is read first: where the kernel before wrote the tensor front to back
 * (a matmul's output, then the GELU pass over it), its last-written part is still in L2. Not measured on
 * its own: together with the cuBLASLt choice of the same change (cuda_cublaslt.c), on the H100 bf16
 * M=8192 K=768 N=3072 with exact GELU (cuBLASLt BIAS + this pass over 50 MB) went from 0.105 to
 * 0.097-0.099 ms (bench/results/h100-2026-11-27-autotune-lookup/ab). */
template <bool FROM_END = false, typename Body> __device__ __forceinline__ void for_each_pack(int64_t packs, Body body) {
    const int64_t stride = (int64_t)gridDim.x * ELEMENTWISE_UNROLL * blockDim.x;
    const int64_t block = FROM_END ? gridDim.x - 1 - blockIdx.x : blockIdx.x;
    for (int64_t base = block * ELEMENTWISE_UNROLL * blockDim.x + threadIdx.x; base < packs; base += stride) {
#pragma unroll
        for (int u = 0; u < ELEMENTWISE_UNROLL; u++) {
            int64_t i = base + (int64_t)u * blockDim.x;
            if (i < packs) body(i, u, 0);
        }
#pragma unroll
        for (int u = 0; u < ELEMENTWISE_UNROLL; u++) {
            int64_t i = base + (int64_t)u * blockDim.x;
            if (i < packs) body(i, u, 1);
        }
    }
}

/* Elements [packs * WIDTH, n): fewer than WIDTH, one per thread of block 0. */
#define FOR_EACH_TAIL_ELEMENT(n, packs, WIDTH, index) \
    for (int64_t index = (packs) * (WIDTH) + threadIdx.x; blockIdx.x == 0 && index < (n); index += blockDim.x)

/* out = a + b, n elements, of which the first `packs` * WIDTH as packs. With BROADCAST, b is one row of
 * `period` elements added to every row of a (a bias): a pack of b starts at (i * WIDTH) % period, which
 * is a whole pack because the launcher takes the vector path only when period is a multiple of WIDTH.
 * That row stays in L1/L2; only a and out travel to and from HBM. Without BROADCAST no division at all. */
template <typename T, bool VECTOR, bool BROADCAST>
__global__ void __launch_bounds__(ELEMENTWISE_THREADS, ELEMENTWISE_MIN_BLOCKS)
    add_kernel(T *out, const T *a, const T *b, int64_t n, int64_t packs, int64_t period) {
    using P = Pack<T, VECTOR>;
    P pa[ELEMENTWISE_UNROLL], pb[ELEMENTWISE_UNROLL];
    for_each_pack(packs, [&](int64_t i, int u, int phase) {
        if (phase == 0) {
            pa[u].load(a + i * P::WIDTH);
            pb[u].load(b + (BROADCAST ? (i * P::WIDTH) % period : i * P::WIDTH));
        } else {
            float fa[P::WIDTH], fb[P::WIDTH];
            pa[u].to_floats(fa);
            pb[u].to_floats(fb);
#pragma unroll
            for (int e = 0; e < P::WIDTH; e++) fa[e] += fb[e];
            pa[u].from_floats(fa);
            pa[u].store(out + i * P::WIDTH);
        }
    });
    FOR_EACH_TAIL_ELEMENT(n, packs, P::WIDTH, i)
        out[i] = from_float<T>(to_float(a[i]) + to_float(b[BROADCAST ? i % period : i]));
}

/* out = gelu(x) with Gelu = GeluExact or GeluTanh; out may be x. From the end (for_each_pack): GELU most
 * often follows a matmul that has just written x. */
template <typename T, bool VECTOR, typename Gelu>
__global__ void __launch_bounds__(ELEMENTWISE_THREADS, ELEMENTWISE_MIN_BLOCKS)
    gelu_kernel(T *out, const T *x, int64_t n, int64_t packs) {
    using P = Pack<T, VECTOR>;
    Gelu gelu;
    P px[ELEMENTWISE_UNROLL];
    for_each_pack<true>(packs, [&](int64_t i, int u, int phase) {
        if (phase == 0) {
            px[u].load(x + i * P::WIDTH);
        } else {
            float f[P::WIDTH];
            px[u].to_floats(f);
#pragma unroll
            for (int e = 0; e < P::WIDTH; e++) f[e] = gelu(f[e]);
            px[u].from_floats(f);
            px[u].store(out + i * P::WIDTH);
        }
    });
    FOR_EACH_TAIL_ELEMENT(n, packs, P::WIDTH, i) out[i] = from_float<T>(gelu(to_float(x[i])));
}

/* ---- launchers ---- */

static bool aligned16(const void *pointer) { return ((uintptr_t)pointer & 15) == 0; }

/* One group of UNROLL packs per thread; at least one block (the tail needs block 0 even when packs == 0). */
static unsigned grid_for(int64_t packs) {
    int64_t per_block = (int64_t)ELEMENTWISE_THREADS * ELEMENTWISE_UNROLL;
    int64_t blocks = (packs + per_block - 1) / per_block;
    if (blocks < 1) blocks = 1;
    if (blocks > ELEMENTWISE_MAX_BLOCKS) blocks = ELEMENTWISE_MAX_BLOCKS;
    return (unsigned)blocks;
}

/* a + b, or with period > 0 a + one row of `period` elements of b broadcast over the rows of a. */
template <typename T>
static void launch_add(void *out, const void *a, const void *b, int64_t n, int64_t period, cudaStream_t stream) {
    const int64_t width = 16 / sizeof(T);
    const bool vector = aligned16(out) && aligned16(a) && aligned16(b) && period % width == 0;
    const int64_t packs = vector ? n / width : n;
    auto kernel = period > 0 ? (vector ? add_kernel<T, true, true> : add_kernel<T, false, true>)
                             : (vector ? add_kernel<T, true, false> : add_kernel<T, false, false>);
    kernel<<<grid_for(packs), ELEMENTWISE_THREADS, 0, stream>>>((T *)out, (const T *)a, (const T *)b, n, packs, period);
}

template <typename T, typename Gelu>
static void launch_gelu(void *out, const void *x, int64_t n, cudaStream_t stream) {
    const int64_t width = 16 / sizeof(T);
    if (aligned16(out) && aligned16(x))
        gelu_kernel<T, true, Gelu><<<grid_for(n / width), ELEMENTWISE_THREADS, 0, stream>>>((T *)out, (const T *)x,
                                                                                             n, n / width);
    else
        gelu_kernel<T, false, Gelu><<<grid_for(n), ELEMENTWISE_THREADS, 0, stream>>>((T *)out, (const T *)x, n, n);
}

extern "C" cudaError_t add_forward(void *out, const void *a, const void *b, int64_t n, int dtype,
                                   cudaStream_t stream) {
    if (n < 1 || !out || !a || !b) return cudaErrorInvalidValue;
    switch (dtype) {
    case CUDA_DTYPE_F32: launch_add<float>(out, a, b, n, 0, stream); break;
    case CUDA_DTYPE_F16: launch_add<__half>(out, a, b, n, 0, stream); break;
    case CUDA_DTYPE_BF16: launch_add<__nv_bfloat16>(out, a, b, n, 0, stream); break;
    default: return cudaErrorInvalidValue;
    }
    return cudaGetLastError();
}

extern "C" cudaError_t bias_add_forward(void *out, const void *a, const void *bias, int64_t rows, int64_t columns,
                                        int dtype, cudaStream_t stream) {
    if (rows < 1 || columns < 1 || rows > INT64_MAX / columns || !out || !a || !bias) return cudaErrorInvalidValue;
    switch (dtype) {
    case CUDA_DTYPE_F32: launch_add<float>(out, a, bias, rows * columns, columns, stream); break;
    case CUDA_DTYPE_F16: launch_add<__half>(out, a, bias, rows * columns, columns, stream); break;
    case CUDA_DTYPE_BF16: launch_add<__nv_bfloat16>(out, a, bias, rows * columns, columns, stream); break;
    default: return cudaErrorInvalidValue;
    }
    return cudaGetLastError();
}

extern "C" cudaError_t gelu_forward(void *out, const void *x, int64_t n, int gelu_form, int dtype,
                                    cudaStream_t stream) {
    if (n < 1 || !out || !x || (gelu_form != CUDA_GELU_EXACT && gelu_form != CUDA_GELU_TANH))
        return cudaErrorInvalidValue;
    bool exact = gelu_form == CUDA_GELU_EXACT;
    switch (dtype) {
    case CUDA_DTYPE_F32:
        exact ? launch_gelu<float, GeluExact>(out, x, n, stream) : launch_gelu<float, GeluTanh>(out, x, n, stream);
        break;
    case CUDA_DTYPE_F16:
        exact ? launch_gelu<__half, GeluExact>(out, x, n, stream) : launch_gelu<__half, GeluTanh>(out, x, n, stream);
        break;
    case CUDA_DTYPE_BF16:
        exact ? launch_gelu<__nv_bfloat16, GeluExact>(out, x, n, stream)
              : launch_gelu<__nv_bfloat16, GeluTanh>(out, x, n, stream);
        break;
    default: return cudaErrorInvalidValue;
    }
    return cudaGetLastError();
}
