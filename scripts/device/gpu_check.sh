#!/usr/bin/env bash
# Everything r1 checks on a GPU, in one call from a bare GPU machine (CUDA, PyTorch >= 2.5 with
# transformers, CMake, ninja; no network): build, smoke-test each device path, then measure against
# transformers and plain PyTorch on the same GPU. Each stage's log and JSON land in $RESULTS as soon
# as it ends (a failure midway still reports what ran); the last lines print one table.
#
#   bash scripts/device/gather_debs.sh                 # once, on Debian 12: .debs/prefix.tar.xz
#   bash scripts/device/gpu_check.sh [--smoke]         # on the GPU machine, .debs carried along
#
# --smoke stops after the build and one short step of each kind. RESULTS defaults to $OUT (the device
# tool's folder) or /tmp/r1-gpu-results.
set -uo pipefail
REPO_ROOT="$(cd "$(dirname "${BASH_SOURCE[0]}")/../.." && pwd)"
RESULTS="${RESULTS:-${OUT:-/tmp/r1-gpu-results}}"
WORK="${WORK:-/tmp/r1-gpu-work}"
export R1_BUILD_DIR="${R1_BUILD_DIR:-/tmp/r1-gpu-build}"
SMOKE=0
[[ "${1:-}" == "--smoke" ]] && SMOKE=1
mkdir -p "$RESULTS" "$WORK"
: > "$RESULTS/stages.jsonl"

# stage NAME COMMAND...: runs it with its output in NAME.log; one JSON line per stage in stages.jsonl.
stage() {
  local name="$1"; shift
  local start end status ms
  start=$(date +%s%N)
  if "$@" > "$RESULTS/$name.log" 2>&1; then status=ok; else status=failed; fi
  end=$(date +%s%N)
  ms=$(( (end - start) / 1000000 ))
  printf '{"stage": "%s", "status": "%s", "seconds": %d.%03d}\n' "$name" "$status" $((ms / 1000)) $((ms % 1000)) \
    >> "$RESULTS/stages.jsonl"
  echo "== $name: $status ($((ms / 1000)) s)"
  tail -n 25 "$RESULTS/$name.log"
  [[ "$status" == ok ]]
}

nvidia-smi --query-gpu=name,driver_version,memory.total --format=csv,noheader | tee "$RESULTS/gpu.txt"
python3 -c 'import torch, transformers; print("torch", torch.__version__, "transformers", transformers.__version__)' \
  | tee -a "$RESULTS/gpu.txt"
stage build bash "$REPO_ROOT/scripts/device/build_gpu.sh" || { echo "build failed: see $RESULTS/build.log"; exit 1; }
# shellcheck disable=SC1091
source "$R1_BUILD_DIR/env.sh"
R1="$R1_BUILD_DIR/cli/r1"
DUMP="$R1_BUILD_DIR/scripts/device/checks/r1_logits_dump"
UPDATE_CHECK="$R1_BUILD_DIR/scripts/device/checks/r1_grpo_update_check"

stage info "$R1" info
stage generate bash -c "'$R1' model init --out '$WORK/tiny' --preset tiny >/dev/null &&
  '$R1' generate --model '$WORK/tiny' --prompt 'hello' --device cuda --n 4 --max-new-tokens 16 &&
  '$R1' generate --model '$WORK/tiny' --prompt 'hello' --device cuda --dtype bf16 --max-new-tokens 16"
stage fp8_kernels bash "$REPO_ROOT/scripts/device/fp8_gpu_check.sh"
if (( SMOKE )); then
  stage bench_model "$R1" bench model --device cuda --presets 25m --decode-batches 8 --decode-steps 4
  stage bench_train "$R1" bench train --device cuda --configs tiny --updates 1 --grpo-steps 0 --no-checkpointing
  stage recipe "$R1" run "$REPO_ROOT/recipes/r1-zero-tiny.json" --runs-dir "$WORK/runs" --set base.train.steps=20 \
    --set base.device=cuda --set zero.steps=2 --set zero.device=cuda
  # LoRA on the device: the adapter trained on the GPU, pushed to FP8 workers on it, and colocated.
  stage recipe_lora "$R1" run "$REPO_ROOT/recipes/r1-zero-tiny.json" --runs-dir "$WORK/runs" --name lora \
    --set base.train.steps=20 --set base.device=cuda --set zero.steps=2 --set zero.device=cuda \
    --set 'zero.lora={"r": 16, "lora_alpha": 32, "target_modules": "all-linear"}' --set zero.kl.reference_reset_every=0
  stage recipe_lora_colocated "$R1" run "$REPO_ROOT/recipes/r1-zero-tiny.json" --runs-dir "$WORK/runs" --name lora-colocated \
    --set base.train.steps=20 --set base.device=cuda --set zero.steps=2 --set zero.device=cuda --set zero.rollout.colocate=true \
    --set 'zero.lora={"r": 16, "lora_alpha": 32, "target_modules": "all-linear", "base_dtype": "bf16"}' \
    --set zero.kl.reference_reset_every=0
else
  stage exactness python3 "$REPO_ROOT/scripts/device/exactness.py" "$R1" "$DUMP" "$UPDATE_CHECK" qwen2.5-0.5b "$WORK" \
    "$RESULTS/exactness.json"
  for preset in qwen2.5-0.5b qwen2.5-1.5b; do
    stage "r1_decode_$preset" "$R1" bench rollout --device cuda --preset "$preset" --prompts 8 --samples 8 \
      --prompt-tokens 64 --new-tokens 512 --kv-cache-mb 16384 --no-naive --no-grpc
    stage "hf_decode_$preset" python3 "$REPO_ROOT/scripts/device/baselines.py" decode "$R1" "$preset" "$WORK" 64 64 512 \
      "$RESULTS/hf_decode_$preset.json"
    stage "r1_update_$preset" "$R1" bench train --device cuda --configs "$preset" --groups 8 --group-size 8 \
      --prompt-tokens 128 --completion-tokens 384 --micro-batch-tokens 4096 --updates 2 --grpo-steps 0 --no-checkpointing
    stage "torch_update_$preset" python3 "$REPO_ROOT/scripts/device/baselines.py" update "$R1" "$preset" "$WORK" 64 128 384 8 \
      "$RESULTS/torch_update_$preset.json"
  done
  stage bench_model "$R1" bench model --device cuda --presets qwen2.5-0.5b qwen2.5-1.5b --decode-batches 1 64
  stage recipe "$R1" run "$REPO_ROOT/recipes/r1-zero-tiny.json" --runs-dir "$WORK/runs" --set base.device=cuda \
    --set zero.device=cuda
  stage recipe_lora "$R1" run "$REPO_ROOT/recipes/r1-zero-tiny.json" --runs-dir "$WORK/runs" --name lora --set base.device=cuda \
    --set zero.device=cuda --set 'zero.lora={"r": 16, "lora_alpha": 32, "target_modules": "all-linear"}' \
    --set zero.kl.reference_reset_every=0 --set zero.optim.lr=1e-3
fi
echo "== stages"
cat "$RESULTS/stages.jsonl"
