#!/usr/bin/env bash
# Builds the bundle that the GPU host runs (../shared/gpu-bundle), then adds what that script cannot see:
# our Vulkan backend opens the Vulkan loader with dlopen, so ldd finds no libvulkan to pack; the NVIDIA
# Vulkan driver also needs the GL dispatch libraries beside the loader. Arguments go to ../shared/gpu-bundle.
#
#   scripts/gpu-bundle.sh -DCMAKE_CUDA_ARCHITECTURES=90-real    # H100 only: keeps the bundle under 64 MiB
set -euo pipefail
../shared/gpu-bundle "$@"
bundle=.gpu-bundle
staging=$(mktemp -d)
tar -xzf "$bundle/lib.tar.gz" -C "$staging"
for library in libvulkan.so.1 libGLdispatch.so.0 libGLX.so.0 libEGL.so.1 libOpenGL.so.0; do
  path=$(ldconfig -p | awk -v l="$library" '$1 == l && /x86-64/ && !p {p = $NF} END {print p}') # no early exit: SIGPIPE + pipefail
  if [[ -n $path ]]; then cp -nL "$path" "$staging/$library"
  else echo "gpu-bundle.sh: $library is not installed here (Debian: libvulkan1 libglvnd0 libglx0 libegl1 libopengl0)" >&2; fi
done
tar -czf "$bundle/lib.tar.gz" -C "$staging" . && rm -rf "$staging"
echo "gpu-bundle.sh: $(du -sh "$bundle" | cut -f1) in $bundle with the Vulkan loader"
