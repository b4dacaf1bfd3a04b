#!/usr/bin/env bash
# A/B of matmul_skinny_transposed_split.cu variants (f32 M_BUCKET 16): A base; 2 rows of b a warp (M_BUCKET 16
# only) with E 2 buffers 3 blocks an SM, F 3 buffers 3 blocks, G 3 buffers 2 blocks, H 2 buffers 4 blocks.
cd "$(dirname "$0")"; out=${OUT:-/tmp/out}; mkdir -p $out
export LD_LIBRARY_PATH=/usr/local/cuda/lib64:$LD_LIBRARY_PATH
for v in E F G H; do ./$v --check-only --quick > $out/$v-check.txt 2>&1; echo "$v check rc=$? $(grep -c '^FAIL' $out/$v-check.txt) FAIL"; done
for round in 1 2 3; do for v in A E F G H; do
  ./$v --time-only > $out/$v-time-$round.txt 2>&1
  echo "round $round $v: $(awk '$2 == "skinny^T" && $5 == "K=4096" && ($4 == "M=16" || $4 == "M=8") {printf "%s %s %s  ", $3, $4, $7}' $out/$v-time-$round.txt)"
done; done
