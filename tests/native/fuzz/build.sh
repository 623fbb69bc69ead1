#!/usr/bin/env bash
# The native modules built with clang for AddressSanitizer + UBSan and libFuzzer coverage, into
# a directory of their own (the venv's modules stay as they are). One build serves both
# `make native-sanitize` and `make native-fuzz`: instrumenting for coverage costs the tests
# little, and a second build would cost CI two more minutes.
# Not checked: vptr (needs UBSan's C++ runtime, which the fuzzer's runtime lacks) and function
# (clang 14's handler is not in the newer runtime atheris ships); both are about calls through
# mistyped pointers, which this code does not make.
#   tests/native/fuzz/build.sh PYTHON TOOLS_DIR BUILD_DIR
set -euo pipefail
python=$1 tools=$2 build=$3
cmake -S native -B "$build" -G Ninja -DCMAKE_BUILD_TYPE=Debug \
  -DCMAKE_CXX_COMPILER=clang++ -DPython_EXECUTABLE="$python" \
  -Dpybind11_DIR="$(PYTHONPATH=$tools "$python" -m pybind11 --cmakedir)" \
  -DATHENA_NATIVE_OPT=-O1 \
  "-DCMAKE_CXX_FLAGS=-fsanitize=address,undefined,fuzzer-no-link -fno-sanitize=vptr,function -fno-sanitize-recover=undefined -fno-omit-frame-pointer -gline-tables-only" \
  >/dev/null
ninja -C "$build"
