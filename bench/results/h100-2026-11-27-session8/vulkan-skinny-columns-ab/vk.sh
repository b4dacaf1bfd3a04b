#!/usr/bin/env bash
# A/B of the Vulkan skinny shader: base (2 columns a subgroup) against new (4 columns a subgroup at M > 4).
out=${OUT:-/tmp/out}; mkdir -p $out
r=.gpu-bundle/run; so=.gpu-bundle/build/libfusegraph-backend-vulkan.so; ab=.gpu-bundle/ab
cp $ab/vulkan-new.so $so
vk=$($r ./fusegraph info | awk '$2 == "vulkan" && $3 == "ready:" {print $1}'); echo "vulkan device $vk"
FUSEGRAPH_TEST_IMPLEMENTATIONS=skinny FUSEGRAPH_TEST_PARTS=ops $r ./test_gpu_backend vulkan > $out/new-test_gpu_backend-skinny.txt 2>&1; echo "new: test_gpu_backend vulkan skinny rc=$?: $(tail -1 $out/new-test_gpu_backend-skinny.txt)"
$r ./test_vulkan_ops > $out/new-test_vulkan_ops.txt 2>&1; echo "new: test_vulkan_ops rc=$?: $(tail -1 $out/new-test_vulkan_ops.txt)"
for round in 1 2 3; do for v in base new; do
  cp $ab/vulkan-$v.so $so
  for m in 16 1; do FUSEGRAPH_VULKAN_TILE=skinny $r ./fusegraph bench --suite linear --device $vk --size $m --quick > $out/$v-m$m-$round.txt 2>&1; done
  echo "round $round $v: $(cat $out/$v-m16-$round.txt $out/$v-m1-$round.txt | awk '$1 == "vulkan" && $8 == "tanh" {printf "%s M=%s K=%s %s%s %s | ", $2, $3, $4, $6, ($7 == "tf32" ? "/tf32" : ""), $9}')"
done; done
cp $ab/vulkan-new.so $so
