#!/usr/bin/env bash
# Host cost of the CUDA autotune's class lookup, which every matmul run makes: the linear suite at M=1 (the
# GPU time is a few microseconds there) with a fresh autotune cache, then with 5000 more classes ahead of
# them in the cache file, for each build named (old: .gpu-bundle/variants.tar.xz as in ab_linear.sh; new: the bundle's).
#   bench/probes/autotune_lookup.sh "old new"
set -uo pipefail
variants=${1:?usage: autotune_lookup.sh "VARIANTS"}
[[ -f .gpu-bundle/variants.tar.xz ]] && tar -xJf .gpu-bundle/variants.tar.xz -C .gpu-bundle
mkdir -p .gpu-bundle/variants/new && cp .gpu-bundle/build/libfusegraph-backend-cuda.so .gpu-bundle/variants/new/
for variant in $variants; do
  cache=/tmp/autotune-lookup-$variant
  rm -rf "$cache"
  for pass in fresh "with 5000 more classes"; do
    if [[ $pass != fresh ]]; then
      file=$(ls "$cache"/fusegraph/cuda-*-autotune-v*.txt 2>/dev/null | tail -1)
      [[ -f $file ]] || { echo "no CUDA autotune file in $cache/fusegraph (did the fresh pass run on CUDA?)" >&2; exit 1; }
      # keys as the real ones (a long shared prefix), before them in the file: a scan meets them first
      { for i in $(seq 5000); do
          echo "op4-dtype$((i % 3))-precision0-gelu1-layout1-m$((1 + i % 16))-k$((768 + i))-n3072 cublaslt 1e-05 1"
        done; cat "$file"; } > "$file.new" && mv "$file.new" "$file"
      echo "$(wc -l < "$file") classes in $(basename "$file")"
    fi
    echo "== $variant, $pass"
    XDG_CACHE_HOME=$cache FUSEGRAPH_BACKEND_PATH=$PWD/.gpu-bundle/variants/$variant .gpu-bundle/run \
      ./fusegraph bench --suite linear --size 1 --device 1 2>&1 | grep -E "^cuda +nk .* (768|4096) " | awk '{printf "%s %s %s %s %s %s %s", $7, $8, $9, $4, $5, $6, $10; for (i = 12; i <= NF; i++) printf " %s", $i; print ""}'
  done
done
