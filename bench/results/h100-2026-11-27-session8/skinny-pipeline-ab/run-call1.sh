#!/usr/bin/env bash
# A/B of matmul_skinny_transposed_split.cu variants (f32 M_BUCKET 16): A base; B 3 register buffers, 1 block
# of 8 warps an SM; C 2 buffers, 1 block of 8 warps; D 3 buffers, 1 block of 12 warps.
cd "$(dirname "$0")"; out=${OUT:-/tmp/out}; mkdir -p $out
export LD_LIBRARY_PATH=/usr/local/cuda/lib64:$LD_LIBRARY_PATH
for v in B C D; do ./$v --check-only --quick > $out/$v-check.txt 2>&1; echo "$v check rc=$? $(grep -c '^FAIL' $out/$v-check.txt) FAIL"; done
for round in 1 2 3; do for v in A B C D; do
  ./$v --time-only > $out/$v-time-$round.txt 2>&1
  echo "round $round $v: $(awk '$2 == "skinny^T" && $5 == "K=4096" && ($4 == "M=16" || $4 == "M=8") {printf "%s %s %s  ", $3, $4, $7}' $out/$v-time-$round.txt)"
done; done
