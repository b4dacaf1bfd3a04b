#!/bin/sh
# Runs `cmake ARGS...` with the CMake that configured the build, or with the one on PATH when the build was
# carried to another machine (the GPU host has CMake elsewhere). Usage: run_cmake_script.sh CMAKE ARGS...
cmake_program=$1
shift
[ -x "$cmake_program" ] || cmake_program=cmake
exec "$cmake_program" "$@"
