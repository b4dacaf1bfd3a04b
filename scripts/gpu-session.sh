#!/usr/bin/env bash
# The GPU runs quoted in BENCHMARKS.md and the issues, one stage per device call (each stays under the
# device tool's 10-minute limit). Run on the GPU host from the repository root, after building here with
# ../shared/gpu-bundle and carrying .gpu-bundle:
#
#   scripts/gpu-session.sh tests       fusegraph info, the whole CTest suite (CUDA + Vulkan), kernel checks
#   scripts/gpu-session.sh sanitizer [memcheck|racecheck|"memcheck racecheck"] [1|2|3]
#                                      compute-sanitizer on the CUDA suite (quick sizes) and the kernel checks;
#                                      both tools by default, one per call when both together would pass the
#                                      10-minute limit; with a part, a third of the work:
#                                      1 = the op checks of autotuned, cublaslt, tensor_core, simt, and the
#                                          kernel checks (racecheck at 9253896: 229 s with the warm-up),
#                                      2 = the op checks of skinny, cublaslt_then_gelu, skinny_tensor_core,
#                                          warpgroup_tensor_core, skinny_fp64_tensor_core (racecheck at
#                                          9253896, before the last joined: 87 s),
#                                      3 = the failure paths, every kernel instrumented (racecheck: the
#                                          cuBLASLt class-reuse check 13 s, the others 1.4 s)
#                                      racecheck leaves cuBLASLt's kernels uninstrumented in the op checks
#                                      (--kernel-name-exclude, racecheck_exclude below): they are NVIDIA's,
#                                      and all of ours are still checked
#   scripts/gpu-session.sh bench       the seed table, PyTorch side by side (bench/torch_compare.py), routing
#   scripts/gpu-session.sh vulkan-tiles  f16 matmul 4096 on Vulkan with each cooperative shader and tile
#                                      forced, both weight layouts, and PyTorch's f16 matmul for scale
#
# Logs go to $OUT (the device tool brings that folder back), or ./gpu-session-out when $OUT is unset.
set -uo pipefail
stage=${1:?usage: scripts/gpu-session.sh tests | sanitizer [TOOLS] [1|2|3] | bench | vulkan-tiles}
out=${OUT:-$PWD/gpu-session-out}
mkdir -p "$out"
run=.gpu-bundle/run
sanitizer=$(command -v compute-sanitizer || echo /usr/local/cuda/bin/compute-sanitizer)
nvidia-smi --query-gpu=name,driver_version,memory.total --format=csv,noheader > "$out/gpu.txt" 2>&1
case $stage in
tests)
  $run ./fusegraph info 2>&1 | tee "$out/info.txt"
  # -V keeps every test's own output (checks, skips, timings) in the log; the summary is its tail.
  $run ctest -V --timeout 900 -j4 > "$out/ctest.txt" 2>&1
  grep -E "checks|skipped|tests passed|Failed|FAIL|\*\*\*" "$out/ctest.txt" | tail -40
  ;;
sanitizer)
  part=${3:-}
  # Parts (one per call where the tools are slow): 1 and 2 are halves of the op checks' variants
  # (FUSEGRAPH_TEST_IMPLEMENTATIONS), 1 also the kernel checks, 3 the failure paths (FUSEGRAPH_TEST_PARTS).
  unset FUSEGRAPH_TEST_IMPLEMENTATIONS
  case $part in
  1) export FUSEGRAPH_TEST_IMPLEMENTATIONS=autotuned,cublaslt,tensor_core,simt ; test_parts=ops ;;
  2) export FUSEGRAPH_TEST_IMPLEMENTATIONS=skinny,cublaslt_then_gelu,skinny_tensor_core,warpgroup_tensor_core,skinny_fp64_tensor_core
     test_parts=ops ;;
  3) test_parts=failure_paths ;;
  "") test_parts=ops,failure_paths ;;
  *) echo "unknown part $part (1, 2 or 3)"; exit 2 ;;
  esac
  # racecheck leaves cuBLAS(Lt)'s kernels uninstrumented in the op checks, where the variants that use it
  # launch them by the thousand: on Hopper and Ampere their names hold xmma, nvjet, cutlass, gemm, gemv or
  # splitKreduce; ours are add_kernel, gelu_kernel and matmul_*_kernel (none of those substrings). One regex
  # filter (compute-sanitizer 2023.3 and later): in a filter, comma-separated keys must all match. The
  # failure paths run with every kernel instrumented: they launch few of cuBLASLt's. (Until the cuBLASLt
  # class-reuse check stopped setting FUSEGRAPH_CUDA_NO_CACHE, it measured the cost figures afresh under
  # the tool: over 200 s under racecheck, and with the exclusion compute-sanitizer 2025.3.1 itself failed
  # there, "Internal Sanitizer Error: The Sanitizer failed to handle a hardware exception".)
  racecheck_exclude='regex=xmma|nvjet|cutlass|gemm|gemv|splitKreduce'
  "$sanitizer" --version 2>&1 | tail -1 | tee "$out/sanitizer-version.txt"
  # The same parts once without the tool first: it fills the autotune cache (~/.cache/fusegraph), so the
  # runs under the tool need not also time every candidate of every shape class (on a fresh machine that
  # alone ran over 60 s of the quick suite). The failure paths' autotuned contexts use shapes of their own.
  FUSEGRAPH_TEST_QUICK=1 FUSEGRAPH_TEST_PARTS=$test_parts $run ./test_gpu_backend cuda > "$out/warm-test_gpu_backend.txt" 2>&1
  echo "test_gpu_backend cuda without a tool (fills the autotune cache): rc=$?"
  for tool in ${2:-memcheck racecheck}; do
    # One process for memcheck; racecheck's op checks and failure paths in two (the exclusion above).
    runs=$test_parts
    [[ $tool == racecheck && $test_parts == ops,failure_paths ]] && runs="ops failure_paths"
    for test_part in $runs; do
      log="$out/$tool-test_gpu_backend-${part:+part$part-}${test_part/,/-and-}.txt"
      filter=(--error-exitcode 3)
      [[ $tool == racecheck && $test_part == ops ]] && filter+=(--kernel-name-exclude "$racecheck_exclude")
      FUSEGRAPH_TEST_QUICK=1 FUSEGRAPH_TEST_PARTS=$test_part $run "$sanitizer" --tool $tool "${filter[@]}" \
        ./test_gpu_backend cuda > "$log" 2>&1
      echo "$tool test_gpu_backend cuda, $test_part${FUSEGRAPH_TEST_IMPLEMENTATIONS:+ ($FUSEGRAPH_TEST_IMPLEMENTATIONS)}: rc=$?"
      grep -E "^FAIL" "$log" | head -5
      tail -4 "$log"
    done
    [[ $part == 2 || $part == 3 ]] && continue # the kernel checks run with part 1
    for check in check_matmul_kernels check_bandwidth_kernels; do
      $run "$sanitizer" --tool $tool --error-exitcode 3 ./$check --check-only --quick > "$out/$tool-$check.txt" 2>&1
      echo "$tool $check: rc=$?"; tail -2 "$out/$tool-$check.txt"
    done
  done
  ;;
bench)
  # The GPU's clocks, temperature, power and clock-event (throttle) reasons once a second while the bench
  # runs: one of session 9's runs, whose PyTorch rows were also far off their usual times, was disturbed
  # (bench/results/h100-2026-11-27-session9/README.md), and this log is how to tell next time. Newer
  # drivers name the reasons clocks_event_reasons, older ones clocks_throttle_reasons.
  fields=timestamp,clocks.sm,clocks.mem,temperature.gpu,power.draw
  reasons=clocks_event_reasons.active
  nvidia-smi --query-gpu=$fields,$reasons --format=csv > /dev/null 2>&1 || reasons=clocks_throttle_reasons.active
  nvidia-smi --query-gpu=$fields,$reasons --format=csv -l 1 > "$out/gpu-clocks.txt" 2>&1 &
  clock_log=$!
  trap 'kill $clock_log 2>/dev/null' EXIT # also when the bench is cut short
  $run python3 "$PWD/bench/torch_compare.py" --fusegraph ./fusegraph --markdown "$out/torch_compare.md" \
    --json "$out/torch_compare.json" 2>&1 | tee "$out/torch_compare.txt" | tail -80
  $run ./fusegraph bench --suite routing --json "$out/routing.json" > "$out/routing.txt" 2>&1
  tail -30 "$out/routing.txt"
  kill $clock_log 2>/dev/null
  wait $clock_log 2>/dev/null
  ;;
vulkan-tiles)
  vulkan=$($run ./fusegraph info | awk '$2 == "vulkan" && $3 == "ready:" {print $1}')
  [[ -n $vulkan ]] || { echo "no Vulkan device ready"; exit 1; }
  for weight in kn nk; do
    for tile in cooperative workgroup-128x128 workgroup-128x256 workgroup-128x256x64q; do
      line=$(FUSEGRAPH_VULKAN_NO_CACHE=1 FUSEGRAPH_VULKAN_TILE=$tile $run ./fusegraph bench --dtype f16 --op matmul \
             --size 4096 --device "$vulkan" --weight $weight 2>&1 | awk '$1 == "matmul" {print $4}')
      echo "vulkan f16 matmul 4096 weight $weight $tile: ${line:-failed} ms"
    done
  done | tee "$out/vulkan-tiles.txt"
  $run python3 - <<'PYTHON' | tee -a "$out/vulkan-tiles.txt"
import torch
x = torch.rand(4096, 4096, device="cuda", dtype=torch.float16)
w = torch.rand(4096, 4096, device="cuda", dtype=torch.float16)
for _ in range(10):
    torch.mm(x, w)
times = []
for _ in range(30):
    start, end = torch.cuda.Event(enable_timing=True), torch.cuda.Event(enable_timing=True)
    start.record(); torch.mm(x, w); end.record(); end.synchronize()
    times.append(start.elapsed_time(end))
median = sorted(times)[len(times) // 2]
print(f"pytorch f16 mm 4096: {median:.4f} ms ({2 * 4096**3 / median / 1e9:.1f} TFLOP/s)")
PYTHON
  ;;
*) echo "unknown stage $stage"; exit 2 ;;
esac
