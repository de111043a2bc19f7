#!/usr/bin/env bash
# Builds r1 on a GPU machine against python3's PyTorch (its CUDA LibTorch, >= 2.5), taking the other
# C++ libraries from .debs/prefix.tar.xz (scripts/device/gather_debs.sh, made on Debian 12) unpacked
# into a private prefix: nothing is installed into /. Where those libraries are installed already
# (a Debian 12 GPU box after scripts/setup.sh), set R1_DEPS_PREFIX=/ to skip the unpacking.
#
#   bash scripts/device/build_gpu.sh            -> $R1_BUILD_DIR (default /tmp/r1-gpu-build)/cli/r1
#
# Prints the environment later commands need (source the file it writes: $R1_BUILD_DIR/env.sh).
set -euo pipefail
REPO_ROOT="$(cd "$(dirname "${BASH_SOURCE[0]}")/../.." && pwd)"
BUILD="${R1_BUILD_DIR:-/tmp/r1-gpu-build}"
PREFIX="${R1_DEPS_PREFIX:-/tmp/r1-deps}"

if [[ "$PREFIX" != "/" ]]; then
  archive="${REPO_ROOT}/.debs/prefix.tar.xz"
  [[ -f "$archive" ]] || { echo "build_gpu: $archive missing: run scripts/device/gather_debs.sh on Debian 12 first" >&2; exit 1; }
  if [[ ! -f "$PREFIX/PACKAGES" || "$archive" -nt "$PREFIX/PACKAGES" ]]; then
    rm -rf "$PREFIX" && mkdir -p "$PREFIX" && tar -C "$PREFIX" -xJf "$archive"
  fi
  lib="$PREFIX/usr/lib/x86_64-linux-gnu"
  cat > "$BUILD.env.sh" <<ENV
export PATH="$PREFIX/usr/bin:\$PATH"
export LD_LIBRARY_PATH="$lib\${LD_LIBRARY_PATH:+:\$LD_LIBRARY_PATH}"
export PKG_CONFIG_PATH="$lib/pkgconfig:$PREFIX/usr/share/pkgconfig"
export PKG_CONFIG_SYSROOT_DIR="$PREFIX"
ENV
  # shellcheck disable=SC1090
  source "$BUILD.env.sh"
  prefix_args=(-DCMAKE_PREFIX_PATH="$PREFIX/usr;$lib/cmake" -DPKG_CONFIG_EXECUTABLE="$PREFIX/usr/bin/pkgconf")
else
  : > "$BUILD.env.sh"
  prefix_args=()
fi
mkdir -p "$BUILD"
cp "$BUILD.env.sh" "$BUILD/env.sh"
if [[ ! -f "$BUILD/build.ninja" ]]; then
  # R1_TORCH_ARGS: how CMake finds LibTorch (default: python3's PyTorch; -DR1_LIBTORCH=DIR for an unpacked one).
  # shellcheck disable=SC2086
  cmake -S "$REPO_ROOT" -B "$BUILD" -G Ninja -DCMAKE_BUILD_TYPE=Release ${R1_TORCH_ARGS--DR1_TORCH_FROM_PYTHON=ON} -DR1_BUILD_TESTS=OFF -DR1_DEVICE_CHECKS=ON \
    "${prefix_args[@]}"
fi
ninja -C "$BUILD" r1 r1_torch r1-box r1_logits_dump r1_grpo_update_check
echo "build_gpu: $BUILD/cli/r1 (source $BUILD/env.sh first)"
