/*
 * transfer_probe.cu — host <-> device transfers from pageable memory the way cuda_transfer.c stages them
 * (a ring of 4 pinned slots, chunks copied on the host then cudaMemcpyAsync'd), replayed with other chunk
 * sizes and staging-copy thread counts, to choose cuda_transfer.c's SMALLEST_PIPELINE_CHUNK and COPY_PIECE.
 * Prints, per size and variant, the median of 21 uploads (+ synchronize) and downloads, twice.
 *
 * Build here, run on the GPU host from the repository root:
 *   nvcc -O2 -arch=sm_90 -Xcompiler -fopenmp -o bench/probes/transfer_probe bench/probes/transfer_probe.cu -lgomp
 *   bench/probes/transfer_probe
 * Results: bench/results/h100-2026-11-27-close-calls/transfer-probe-round2.txt.
 */
#include <cuda_runtime.h>
#include <omp.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <algorithm>
#include <vector>
static double now() { timespec t; clock_gettime(CLOCK_MONOTONIC, &t); return t.tv_sec + t.tv_nsec * 1e-9; }
static const int SLOTS = 4;
static char *staging[SLOTS]; static cudaEvent_t freed[SLOTS]; static cudaStream_t stream;
static void copy_threads(void *d, const void *s, size_t bytes, int threads) {
  if (threads < 2) { memcpy(d, s, bytes); return; }
  size_t share = (bytes / threads + 63) & ~(size_t)63;
#pragma omp parallel for num_threads(threads) schedule(static)
  for (int t = 0; t < threads; t++) { size_t b = t * share; if (b < bytes) memcpy((char*)d + b, (const char*)s + b, std::min(share, bytes - b)); }
}
// upload: chunked pipeline; threads per chunk
static void upload(char *dev, const char *host, size_t bytes, size_t chunk, int threads) {
  size_t n = (bytes + chunk - 1) / chunk;
  for (size_t c = 0; c < n; c++) { int s = c % SLOTS; cudaEventSynchronize(freed[s]); size_t off = c * chunk, len = std::min(chunk, bytes - off);
    copy_threads(staging[s], host + off, len, threads); cudaMemcpyAsync(dev + off, staging[s], len, cudaMemcpyHostToDevice, stream); cudaEventRecord(freed[s], stream); }
  cudaStreamSynchronize(stream);
}
static void download(char *host, const char *dev, size_t bytes, size_t chunk, int threads) {
  size_t n = (bytes + chunk - 1) / chunk;
  auto out = [&](size_t c) { int s = c % SLOTS; cudaEventSynchronize(freed[s]); size_t off = c * chunk; copy_threads(host + off, staging[s], std::min(chunk, bytes - off), threads); };
  for (size_t c = 0; c < n; c++) { if (c >= SLOTS) out(c - SLOTS); int s = c % SLOTS; size_t off = c * chunk, len = std::min(chunk, bytes - off);
    cudaMemcpyAsync(staging[s], dev + off, len, cudaMemcpyDeviceToHost, stream); cudaEventRecord(freed[s], stream); }
  for (size_t c = n > SLOTS ? n - SLOTS : 0; c < n; c++) out(c);
}
int main() {
  cudaSetDevice(0); cudaStreamCreateWithFlags(&stream, cudaStreamNonBlocking);
  for (int i = 0; i < SLOTS; i++) { cudaHostAlloc((void**)&staging[i], 8 << 20, 0); cudaEventCreateWithFlags(&freed[i], cudaEventDisableTiming); }
  size_t maxb = 32 << 20; char *dev; cudaMalloc(&dev, maxb);
  char *hot = (char*)malloc(maxb); memset(hot, 1, maxb);
  printf("omp max threads %d\n", omp_get_max_threads());
  size_t sizes[] = {256 << 10, 1 << 20, 4 << 20, 16 << 20, 32 << 20};
  struct V { const char *name; size_t min_chunk; int threads; } vs[] = {
    {"quarters >=256K, 1 thread [current]", 256 << 10, 1}, {"quarters >=256K, 8 threads", 256 << 10, 8},
    {"quarters >=512K, 8 threads", 512 << 10, 8}, {"quarters >=1M, 8 threads", 1 << 20, 8},
    {"quarters >=1M, 4 threads", 1 << 20, 4}, {"quarters >=2M, 8 threads", 2 << 20, 8}, {"whole (<=8M), 8 threads", 64 << 20, 8}};
  for (size_t b : sizes) {
    printf("\n%zu KiB: median us of 21 (upload+sync / download)\n", b >> 10);
    for (int round = 0; round < 2; round++)
    for (auto &v : vs) {
      size_t chunk = std::min(std::max<size_t>(b / 4, v.min_chunk), (size_t)8 << 20);
      int threads = v.threads;
      std::vector<double> up, down;
      for (int r = 0; r < 24; r++) {
        double t0 = now();
        upload(dev, hot, b, chunk, std::min<int>(threads, std::max<size_t>(1, chunk / (64 << 10))));
        double t1 = now();
        download(hot, dev, b, chunk, std::min<int>(threads, std::max<size_t>(1, chunk / (64 << 10))));
        double t2 = now();
        if (r >= 3) { up.push_back(t1 - t0); down.push_back(t2 - t1); }
      }
      std::sort(up.begin(), up.end()); std::sort(down.begin(), down.end());
      printf("  %-40s %8.1f %8.1f   (%.1f / %.1f GB/s)\n", v.name, up[10] * 1e6, down[10] * 1e6, b / up[10] / 1e9, b / down[10] / 1e9);
    }
  }
  return 0;
}
