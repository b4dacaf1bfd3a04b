#!/usr/bin/env bash
# A/B of CUDA backend builds on the linear suite, PyTorch side by side in the same process each time.
# Run on the GPU host from the repository root after scripts/gpu-bundle.sh, with the other builds'
# libfusegraph-backend-cuda.so packed as .gpu-bundle/variants.tar.xz (variants/NAME/...); "new" is the
# bundle's own. Each (round, variant, M) runs bench/torch_compare.py --skip-seed --size M on the CUDA device
# (index 1), ROUNDS (default 2) times, the autotune and cost caches off (FUSEGRAPH_CUDA_NO_CACHE) so each process measures afresh.
#   bench/probes/ab_linear.sh "old new" 512 8192
set -uo pipefail
variants=${1:?usage: ab_linear.sh "VARIANTS" M...}; shift
out=${OUT:-$PWD/ab-out}
mkdir -p "$out"
[[ -f .gpu-bundle/variants.tar.xz ]] && tar -xJf .gpu-bundle/variants.tar.xz -C .gpu-bundle
mkdir -p .gpu-bundle/variants/new && cp .gpu-bundle/build/libfusegraph-backend-cuda.so .gpu-bundle/variants/new/
for round in $(seq "${ROUNDS:-2}"); do
  for variant in $variants; do
    for size in "$@"; do
      FUSEGRAPH_CUDA_NO_CACHE=1 FUSEGRAPH_BACKEND_PATH=$PWD/.gpu-bundle/variants/$variant .gpu-bundle/run \
        python3 "$PWD/bench/torch_compare.py" --fusegraph ./fusegraph --skip-seed --device 1 --size "$size" \
        > "$out/$variant-m$size-round$round.txt" 2>&1
      echo "== round $round $variant M=$size"
      grep -E "^\| cuda \| M=" "$out/$variant-m$size-round$round.txt" | grep -v "W\[K,N\]"
    done
  done
done
