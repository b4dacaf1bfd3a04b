#!/usr/bin/env bash
# Installs the Debian packages fusegraph builds and tests with, when they are missing.
# Run as root: installs them (and says so). Otherwise: prints the exact apt-get line and goes on, so the
# build uses what is present (only a C compiler and CMake are required).
set -u
packages=(cmake make gcc g++ pkg-config libopenblas-dev libdnnl-dev libvulkan-dev glslc spirv-tools spirv-cross mesa-vulkan-drivers)
missing=()
for p in "${packages[@]}"; do
  dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q "install ok installed" || missing+=("$p")
done
[ ${#missing[@]} -eq 0 ] && exit 0
if [ "$(id -u)" = 0 ] && command -v apt-get >/dev/null; then
  echo "fusegraph: installing missing Debian packages: ${missing[*]}"
  export DEBIAN_FRONTEND=noninteractive
  apt-get update -qq && apt-get install -y -qq --no-install-recommends "${missing[@]}" >/dev/null ||
    echo "fusegraph: apt-get failed; building with what is present"
else
  echo "fusegraph: missing Debian packages; to install them run:"
  echo "  sudo apt-get install -y ${missing[*]}"
  echo "fusegraph: building with what is present"
fi
exit 0
