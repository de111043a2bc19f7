#!/usr/bin/env bash
# The main job: the R1-Zero recipe on the embedded default (recipes/r1-zero-tiny.json). It pretrains a
# small base model on synthetic arithmetic (cached in runs/cache/ after the first run), then runs GRPO
# from it with the R1-Zero template, accuracy + format rewards and FP8 rollout workers over gRPC, and
# prints base vs final accuracy, format rate and response length on held-out problems. Installs and
# builds what it needs first. Extra arguments go to `r1 run` (e.g. --runs-dir DIR, --set zero.steps=20).
set -euo pipefail
REPO_ROOT="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
"${REPO_ROOT}/scripts/setup.sh" >/dev/null
"${REPO_ROOT}/scripts/build.sh" r1 >/dev/null
R1="${R1_BUILD_DIR:-${REPO_ROOT}/build}/cli/r1"
cd "${REPO_ROOT}"
exec "$R1" run recipes/r1-zero-tiny.json "$@"
