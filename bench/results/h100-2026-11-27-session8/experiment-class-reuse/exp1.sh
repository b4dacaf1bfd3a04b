#!/usr/bin/env bash
# racecheck experiment: the cuBLASLt class-reuse check alone
out=${OUT:-/tmp/out}; mkdir -p $out
san=$(command -v compute-sanitizer || echo /usr/local/cuda/bin/compute-sanitizer)
r=.gpu-bundle/run
export FUSEGRAPH_TEST_LOG=1
FUSEGRAPH_TEST_PARTS=cublaslt_class_reuse $r ./test_gpu_backend cuda > $out/plain.txt 2>&1; echo plain rc=$?; grep -c "log " $out/plain.txt; tail -3 $out/plain.txt
FUSEGRAPH_TEST_QUICK=1 FUSEGRAPH_TEST_PARTS=injected_failures,transfer_retry,small_budget timeout 150 $r $san --tool racecheck --error-exitcode 3 ./test_gpu_backend cuda > $out/racecheck-others.txt 2>&1; echo others rc=$?; tail -4 $out/racecheck-others.txt
FUSEGRAPH_TEST_PARTS=cublaslt_class_reuse timeout 120 $r $san --tool racecheck --error-exitcode 3 --kernel-name-exclude 'regex=xmma|nvjet|cutlass|gemm|gemv|splitKreduce' ./test_gpu_backend cuda > $out/racecheck-reuse-excluded.txt 2>&1; echo excluded rc=$?; tail -6 $out/racecheck-reuse-excluded.txt
FUSEGRAPH_TEST_PARTS=cublaslt_class_reuse timeout 200 $r $san --tool racecheck --error-exitcode 3 ./test_gpu_backend cuda > $out/racecheck-reuse.txt 2>&1; echo all rc=$?; tail -6 $out/racecheck-reuse.txt
