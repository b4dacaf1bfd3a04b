// Probe: fixed per-launch cost of weight-streaming kernels on the H100, and whether programmatic
// dependent launch (PDL) hides it in back-to-back launches (with and without event records between).
#include <cuda_runtime.h>
#include <cuda_bf16.h>
#include <cstdio>
#include <cstdint>
#include <vector>
#include <algorithm>

__device__ __forceinline__ uint4 lds(const void *p) {
    uint4 r;
    asm volatile("ld.global.nc.L1::no_allocate.v4.u32 {%0,%1,%2,%3}, [%4];" : "=r"(r.x), "=r"(r.y), "=r"(r.z), "=r"(r.w) : "l"(p));
    return r;
}
__device__ __forceinline__ void pdl_trigger() { asm volatile("griddepcontrol.launch_dependents;"); }
__device__ __forceinline__ void pdl_wait() { asm volatile("griddepcontrol.wait;" ::: "memory"); }

// Pure read: sum of words, one store per block.
template <bool PDL>
__global__ void __launch_bounds__(256) read_kernel(const uint4 *w, int64_t n16, unsigned *out) {
    if (PDL) pdl_trigger();
    int64_t i = (int64_t)blockIdx.x * blockDim.x + threadIdx.x, stride = (int64_t)gridDim.x * blockDim.x;
    uint4 v[4];
#pragma unroll
    for (int u = 0; u < 4; u++) v[u] = i + u * stride < n16 ? lds(w + i + u * stride) : make_uint4(0, 0, 0, 0);
    if (PDL) pdl_wait();
    unsigned acc = 0;
    for (;;) {
#pragma unroll
        for (int u = 0; u < 4; u++) acc += v[u].x ^ v[u].y ^ v[u].z ^ v[u].w;
        i += 4 * stride;
        if (i >= n16) break;
#pragma unroll
        for (int u = 0; u < 4; u++) v[u] = i + u * stride < n16 ? lds(w + i + u * stride) : make_uint4(0, 0, 0, 0);
    }
    __shared__ unsigned s;
    if (threadIdx.x == 0) s = 0;
    __syncthreads();
    atomicAdd(&s, acc);
    __syncthreads();
    if (threadIdx.x == 0) out[blockIdx.x] = s;
}

// bf16 M=1 y = a . b^T, b [N, K]; a warp per 2 rows, 8 loads a lane in flight (the library's kernel),
// PIPE: the next step's b loads issued before this step's FMAs; PDL: the first b loads before the wait.
template <bool PDL, bool PIPE>
__global__ void __launch_bounds__(128) gemv_kernel(float *out, const __nv_bfloat16 *a, const __nv_bfloat16 *b, int K, int N) {
    if (PDL) pdl_trigger();
    const int lane = threadIdx.x & 31;
    const int64_t warp = ((int64_t)blockIdx.x * blockDim.x + threadIdx.x) >> 5;
    const int64_t row0 = warp * 2;
    if (row0 >= N) return;
    const int chunks = K / 8;
    const __nv_bfloat16 *rows[2] = {b + row0 * K, b + (row0 + 1 < N ? row0 + 1 : row0) * (int64_t)K};
    float acc[2] = {0.f, 0.f};
    uint4 w[2][4], nw[2][4];
    auto load = [&](int base, uint4 (&d)[2][4]) {
#pragma unroll
        for (int r = 0; r < 2; r++)
#pragma unroll
            for (int u = 0; u < 4; u++) d[r][u] = base + 32 * u < chunks ? lds(rows[r] + (base + 32 * u) * 8) : make_uint4(0, 0, 0, 0);
    };
    auto fma_step = [&](int base, const uint4 (&d)[2][4]) {
#pragma unroll
        for (int u = 0; u < 4; u++) {
            int c = base + 32 * u;
            uint4 av = c < chunks ? __ldg(reinterpret_cast<const uint4 *>(a + c * 8)) : make_uint4(0, 0, 0, 0);
            const uint32_t aw[4] = {av.x, av.y, av.z, av.w};
#pragma unroll
            for (int r = 0; r < 2; r++) {
                const uint32_t bw[4] = {d[r][u].x, d[r][u].y, d[r][u].z, d[r][u].w};
#pragma unroll
                for (int q = 0; q < 4; q++) {
                    acc[r] = fmaf(__uint_as_float(aw[q] << 16), __uint_as_float(bw[q] << 16), acc[r]);
                    acc[r] = fmaf(__uint_as_float(aw[q] & 0xFFFF0000u), __uint_as_float(bw[q] & 0xFFFF0000u), acc[r]);
                }
            }
        }
    };
    load(lane, w);
    if (PDL) pdl_wait();
    for (int base = lane; base < chunks; base += 128) {
        if (PIPE && base + 128 < chunks) load(base + 128, nw);
        fma_step(base, w);
        if (PIPE) {
#pragma unroll
            for (int r = 0; r < 2; r++)
#pragma unroll
                for (int u = 0; u < 4; u++) w[r][u] = nw[r][u];
        } else if (base + 128 < chunks) load(base + 128, w);
    }
#pragma unroll
    for (int r = 0; r < 2; r++) {
        float s = acc[r];
        for (int o = 16; o; o /= 2) s += __shfl_xor_sync(0xffffffffu, s, o);
        if (lane == r && row0 + r < N) out[row0 + r] = s;
    }
}

static cudaStream_t stream;
static cudaEvent_t e0, e1, mid;

template <typename F> static float median_ms(F launch, int batch, bool events_between) {
    std::vector<float> t;
    for (int round = 0; round < 15; round++) {
        cudaEventRecord(e0, stream);
        for (int i = 0; i < batch; i++) {
            launch();
            if (events_between) cudaEventRecord(mid, stream);
        }
        cudaEventRecord(e1, stream);
        cudaEventSynchronize(e1);
        float ms;
        cudaEventElapsedTime(&ms, e0, e1);
        if (round >= 3) t.push_back(ms / batch);
    }
    std::sort(t.begin(), t.end());
    return t[t.size() / 2];
}

template <typename Kernel, typename... Args>
static void launch(Kernel k, dim3 grid, dim3 block, bool pdl, Args... args) {
    cudaLaunchAttribute at;
    at.id = cudaLaunchAttributeProgrammaticStreamSerialization;
    at.val.programmaticStreamSerializationAllowed = 1;
    cudaLaunchConfig_t c = {};
    c.gridDim = grid, c.blockDim = block, c.stream = stream, c.attrs = &at, c.numAttrs = pdl ? 1 : 0;
    cudaError_t e = cudaLaunchKernelEx(&c, k, args...);
    if (e != cudaSuccess) { printf("launch: %s\n", cudaGetErrorString(e)); exit(1); }
}

int main() {
    cudaStreamCreateWithFlags(&stream, cudaStreamNonBlocking);
    cudaEventCreate(&e0), cudaEventCreate(&e1), cudaEventCreateWithFlags(&mid, cudaEventDisableTiming);
    const int K = 4096;
    const int Ns[2] = {14336, 28672};
    size_t max_bytes = (size_t)K * Ns[1] * 2;
    void *w; cudaMalloc(&w, max_bytes);
    cudaMemset(w, 0x3c, max_bytes);
    __nv_bfloat16 *a; cudaMalloc(&a, K * 2); cudaMemset(a, 0x3c, K * 2);
    float *out; cudaMalloc(&out, Ns[1] * 4 * 2);
    unsigned *block_out; cudaMalloc(&block_out, 1 << 20);
    int sms; cudaDeviceGetAttribute(&sms, cudaDevAttrMultiProcessorCount, 0);
    printf("%-34s %10s %10s %10s %10s\n", "kernel (ms per launch; GB/s at batch)", "single", "batch20", "b20+event", "GB/s");
    for (int pass = 0; pass < 2; pass++)
    for (int ni = 0; ni < 2; ni++) {
        int N = Ns[ni];
        double bytes = (double)K * N * 2;
        int64_t n16 = (int64_t)K * N / 8;
        for (int pdl = 0; pdl < 2; pdl++) {
            auto rk = [&] { launch(pdl ? read_kernel<true> : read_kernel<false>, dim3(sms * 8), dim3(256), pdl, (const uint4 *)w, n16, block_out); };
            float s = median_ms(rk, 1, false), b = median_ms(rk, 20, false), be = median_ms(rk, 20, true);
            printf("read      N=%5d pdl=%d               %10.4f %10.4f %10.4f %10.0f\n", N, pdl, s, b, be, bytes / b / 1e6);
        }
        for (int v = 0; v < 4; v++) {
            bool pdl = v & 1, pipe = v & 2;
            auto kern = pdl ? (pipe ? gemv_kernel<true, true> : gemv_kernel<true, false>) : (pipe ? gemv_kernel<false, true> : gemv_kernel<false, false>);
            auto gk = [&] { launch(kern, dim3((N / 2 * 32 + 127) / 128), dim3(128), pdl, out, (const __nv_bfloat16 *)a, (const __nv_bfloat16 *)w, K, N); };
            float s = median_ms(gk, 1, false), b = median_ms(gk, 20, false), be = median_ms(gk, 20, true);
            printf("gemv bf16 M=1 N=%5d pdl=%d pipe=%d     %10.4f %10.4f %10.4f %10.0f\n", N, pdl, pipe, s, b, be, bytes / b / 1e6);
        }
    }
    cudaError_t e = cudaDeviceSynchronize();
    printf("final: %s\n", cudaGetErrorString(e));
    return 0;
}
