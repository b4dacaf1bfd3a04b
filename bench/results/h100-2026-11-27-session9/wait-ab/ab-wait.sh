#!/usr/bin/env bash
# A/B of the CUDA backend module: old (286af6d) vs new (skips redundant cross-stream waits), the linear suite at M=1 and M=16, cuda only.
cd /work/main
for round in 1 2 3; do
  for v in old new; do
    for m in 1 16; do
      if [[ $v == old ]]; then p=/work/main/.gpu-bundle/ab/old; else p=/work/main/.gpu-bundle/build; fi
      FUSEGRAPH_BACKEND_PATH=$p .gpu-bundle/run ./fusegraph bench --suite linear --size $m --device 1 2>&1 | grep -E "^cuda +nk +$m +4096" | sed "s/^/$v round$round /"
    done
  done
done
