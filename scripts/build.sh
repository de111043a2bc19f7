#!/usr/bin/env bash
# Configures (once) and builds r1 into build/ with Ninja and ccache. Extra arguments go to ninja.
set -euo pipefail
REPO_ROOT="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
BUILD_DIR="${R1_BUILD_DIR:-${REPO_ROOT}/build}"
# ccache keys on paths relative to the checkout, so every clone (CI's fresh ones too) shares its hits.
export CCACHE_BASEDIR="${CCACHE_BASEDIR:-${REPO_ROOT}}"
if [[ ! -f "${BUILD_DIR}/build.ninja" ]]; then
  cmake -S "${REPO_ROOT}" -B "${BUILD_DIR}" -G Ninja -DCMAKE_BUILD_TYPE="${R1_BUILD_TYPE:-Release}"
fi
ninja -C "${BUILD_DIR}" "$@"
