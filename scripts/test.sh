#!/usr/bin/env bash
# The whole test suite from a clean clone: setup (packages, fixtures), build, ctest.
set -euo pipefail
REPO_ROOT="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
"${REPO_ROOT}/scripts/setup.sh"
"${REPO_ROOT}/scripts/build.sh"
cd "${R1_BUILD_DIR:-${REPO_ROOT}/build}"
ctest --output-on-failure -j "$(nproc)"
