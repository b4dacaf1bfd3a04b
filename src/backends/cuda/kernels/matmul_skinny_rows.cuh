/*
 * matmul_skinny_rows.cuh — the main kernel of the skinny matmul (M <= 16) for a weight given as [N, K]
 * (PyTorch's nn.Linear layout), included by matmul_skinny.cu, which launches it with the same split-K
 * plan, workspace and reduction kernel as the [K, N] kernel there.
 *
 * For M = 5..16 (matmul_skinny_forward sends M <= 4 to matmul_skinny_transposed.cu, faster there).
 * With b as [N, K] every output column n is a dot product of a's rows with one contiguous row of b.
 * The M <= 4 kernel gives each warp two rows of b, lanes striding along K, and sums the lanes with
 * shuffles; every lane then needs different elements of a, read through L1 — at M = 16, 8 bytes of a
 * per byte of b, and L1 bandwidth held it to 16% of HBM on the H100 (bf16 K=4096 N=14336; this kernel:
 * 22%, and f32 40% against 18%). Here each lane owns one row of b instead, so the 32 lanes of a warp
 * need the same element of a at the same time: a broadcast from shared memory, as in the [K, N] kernel,
 * and no reduction across lanes at all.
 *  - A block is 8 warps = 256 rows of b (output columns), over one K split of at most 512 (the plan's);
 *    a's slice is staged once per block in shared memory as f32 [k][m] and read as float4 broadcasts.
 *  - Lane l walks its row 4 x 16 bytes at a time (64 contiguous bytes, two whole 32-byte sectors), two
 *    such steps in flight (8 loads, 128 bytes a lane). The loads allocate in L1: one instruction reads
 *    16 bytes of 32 different rows, and the rest of each sector is read by the next load of the lane.
 *  - Each lane keeps M f32 sums; the split writes them to the workspace (or, with one split, applies
 *    bias + GELU and writes out), coalesced along n.
 * k_per_split is a multiple of 32 (the plan rounds it), so every chunk of a split starts 16-byte aligned
 * when K is a multiple of the vector width; otherwise (VECTOR false) elements are loaded one by one.
 */
#ifndef FUSEGRAPH_MATMUL_SKINNY_ROWS_CUH
#define FUSEGRAPH_MATMUL_SKINNY_ROWS_CUH

#define SKINNY_ROWS_WARPS 8
#define SKINNY_ROWS_CHUNKS 4 /* 16-byte chunks per step */

/* Chunk `chunk` of a row of b (WIDTH elements from chunk * WIDTH of the split), zeros past k_count. */
template <typename T, bool VECTOR>
__device__ __forceinline__ uint4 skinny_rows_chunk(const T *row, int chunk, int k_count, bool row_ok) {
    constexpr int WIDTH = 16 / sizeof(T);
    const int first = chunk * WIDTH;
    if (!row_ok || first >= k_count) return make_uint4(0, 0, 0, 0);
    if constexpr (VECTOR) return __ldg(reinterpret_cast<const uint4 *>(row + first));
    else return load_elements_packed(row, first, k_count);
}

/* 4 blocks an SM (64 registers): at 68 registers (f32, M = 16) 3 fitted, and the 448 blocks of K=4096
 * N=14336 took 1.13 waves, the second one 13% full (ncu on the H100). */
template <typename T, int M_BUCKET, bool VECTOR>
__global__ void __launch_bounds__(32 * SKINNY_ROWS_WARPS, 4)
    matmul_skinny_rows_kernel(T *out, float *partial, const T *a, const T *b, const T *bias, int M, int K, int N,
                              int k_per_split, int64_t n_padded, int epilogue) {
    constexpr int WIDTH = 16 / sizeof(T), STEP = SKINNY_ROWS_CHUNKS * WIDTH; /* elements of K per step */
    __shared__ __align__(16) float stage[SKINNY_MAX_K_PER_SPLIT * M_BUCKET];
#if __CUDA_ARCH__ >= 900
    asm volatile("griddepcontrol.launch_dependents;"); /* see matmul_skinny_kernel */
#endif
    const int lane = threadIdx.x & 31, warp = threadIdx.x >> 5;
    const int64_t n = (int64_t)blockIdx.x * 32 * SKINNY_ROWS_WARPS + warp * 32 + lane;
    const bool row_ok = n < N;
    const int k_begin = blockIdx.y * k_per_split;
    const int k_count = min(k_per_split, K - k_begin);
    const int k_rounded = (k_count + 2 * STEP - 1) / (2 * STEP) * (2 * STEP);
    const T *row = b + (row_ok ? n : 0) * (int64_t)K + k_begin;

    /* The first step's loads before staging a, so memory is busy from the start. */
    uint4 bits_a[SKINNY_ROWS_CHUNKS], bits_b[SKINNY_ROWS_CHUNKS];
#pragma unroll
    for (int c = 0; c < SKINNY_ROWS_CHUNKS; c++) bits_a[c] = skinny_rows_chunk<T, VECTOR>(row, c, k_count, row_ok);

    for (int i = threadIdx.x; i < M_BUCKET * k_rounded; i += blockDim.x) {
        int m = i / k_rounded, kk = i - m * k_rounded;
        stage[kk * M_BUCKET + m] = (m < M && kk < k_count) ? to_float(a[(int64_t)m * K + k_begin + kk]) : 0.f;
    }
    __syncthreads();

    float acc[M_BUCKET];
#pragma unroll
    for (int m = 0; m < M_BUCKET; m++) acc[m] = 0.f;
    auto multiply = [&](int k0, const uint4 (&bits)[SKINNY_ROWS_CHUNKS]) {
#pragma unroll
        for (int c = 0; c < SKINNY_ROWS_CHUNKS; c++) {
            float w[WIDTH];
            unpack_vector<T>(bits[c], w);
#pragma unroll
            for (int e = 0; e < WIDTH; e++) {
                const float *a_row = stage + (k0 + c * WIDTH + e) * M_BUCKET;
                if constexpr (M_BUCKET % 4 == 0) {
#pragma unroll
                    for (int m = 0; m < M_BUCKET; m += 4) {
                        float4 q = *reinterpret_cast<const float4 *>(a_row + m);
                        acc[m] = fmaf(q.x, w[e], acc[m]);
                        acc[m + 1] = fmaf(q.y, w[e], acc[m + 1]);
                        acc[m + 2] = fmaf(q.z, w[e], acc[m + 2]);
                        acc[m + 3] = fmaf(q.w, w[e], acc[m + 3]);
                    }
                } else {
#pragma unroll
                    for (int m = 0; m < M_BUCKET; m++) acc[m] = fmaf(a_row[m], w[e], acc[m]);
                }
            }
        }
    };
    /* Two steps per iteration, ping-ponging between two register buffers (as the [K, N] kernel). */
    for (int k0 = 0; k0 < k_rounded; k0 += 2 * STEP) {
#pragma unroll
        for (int c = 0; c < SKINNY_ROWS_CHUNKS; c++)
            bits_b[c] = skinny_rows_chunk<T, VECTOR>(row, (k0 + STEP) / WIDTH + c, k_count, row_ok);
        multiply(k0, bits_a);
        if (k0 + 2 * STEP < k_rounded) {
#pragma unroll
            for (int c = 0; c < SKINNY_ROWS_CHUNKS; c++)
                bits_a[c] = skinny_rows_chunk<T, VECTOR>(row, (k0 + 2 * STEP) / WIDTH + c, k_count, row_ok);
        }
        multiply(k0 + STEP, bits_b);
    }
    if (!row_ok) return;
    if (gridDim.y == 1) {
        const float bias_value = epilogue != CUDA_EPILOGUE_NONE ? to_float(bias[n]) : 0.f;
#pragma unroll
        for (int m = 0; m < M_BUCKET; m++)
            if (m < M) out[(int64_t)m * N + n] = from_float<T>(apply_epilogue(acc[m], bias_value, epilogue));
    } else {
#pragma unroll
        for (int m = 0; m < M_BUCKET; m++)
            if (m < M) partial[((int64_t)blockIdx.y * M + m) * n_padded + n] = acc[m];
    }
}

#endif /* FUSEGRAPH_MATMUL_SKINNY_ROWS_CUH */
