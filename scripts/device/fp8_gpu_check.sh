#!/bin/bash
# Builds and runs the GPU checks on a machine with CUDA and PyTorch >= 2.5 (its LibTorch):
#   bash scripts/device/fp8_gpu_check.sh
set -euo pipefail
here="$(cd "$(dirname "$0")" && pwd)"
prefix="$(python3 -c 'import torch; print(torch.utils.cmake_prefix_path)')"
build="${BUILD_DIR:-/tmp/r1-device-build}"
cmake -S "$here" -B "$build" -G Ninja -DCMAKE_BUILD_TYPE=Release -DCMAKE_PREFIX_PATH="$prefix" \
  -DCMAKE_CUDA_ARCHITECTURES=90 > "$build.cmake.log" 2>&1 || { cat "$build.cmake.log"; exit 1; }
ninja -C "$build"
nvidia-smi --query-gpu=name,driver_version --format=csv,noheader
python3 -c 'import torch; print("torch", torch.__version__)'
"$build/fp8_gpu_check"
