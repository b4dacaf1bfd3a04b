#!/usr/bin/env bash
# Installs the build into a temporary prefix and builds the README example against the installed
# package twice: through pkg-config and through CMake's find_package(fusegraph).
set -euo pipefail
build=$1 source=$2
prefix=$(mktemp -d)
trap 'rm -rf "$prefix"' EXIT
cmake --install "$build" --prefix "$prefix" >/dev/null
for f in include/fusegraph.h lib/pkgconfig/fusegraph.pc lib/cmake/fusegraph/fusegraphConfig.cmake bin/fusegraph; do
  [ -e "$prefix/$f" ] || [ -e "$prefix/${f/lib\//lib64/}" ] || { echo "missing after install: $f"; exit 1; }
done
libdir=$(dirname "$(find "$prefix" -name 'libfusegraph.so' | head -1)")
PKG_CONFIG_PATH=$libdir/pkgconfig cc -o "$prefix/example_pc" "$source/examples/readme_example.c" \
  $(PKG_CONFIG_PATH=$libdir/pkgconfig pkg-config --cflags --libs fusegraph)
LD_LIBRARY_PATH=$libdir${LD_LIBRARY_PATH:+:$LD_LIBRARY_PATH} "$prefix/example_pc" | grep -q "y\[0\]\[0\] = 3.8097"
mkdir -p "$prefix/consumer"
cat >"$prefix/consumer/CMakeLists.txt" <<CMAKE
cmake_minimum_required(VERSION 3.20)
project(consumer C)
find_package(fusegraph REQUIRED)
add_executable(example $source/examples/readme_example.c)
target_link_libraries(example PRIVATE fusegraph::fusegraph)
CMAKE
cmake -S "$prefix/consumer" -B "$prefix/consumer/build" -DCMAKE_PREFIX_PATH="$prefix" >/dev/null
cmake --build "$prefix/consumer/build" >/dev/null
LD_LIBRARY_PATH=$libdir${LD_LIBRARY_PATH:+:$LD_LIBRARY_PATH} "$prefix/consumer/build/example" | grep -q "y\[0\]\[0\] = 3.8097"
echo "install_test: installed, built with pkg-config and find_package, ran: 1 passed, 0 failed"
