"""r1 against transformers on one GPU, on the same random Qwen2.5-shaped checkpoint (made by `r1 model
init`, its layer matrices scaled x4 so next-token distributions are peaked, as a trained model's are):
bf16 logits (max and mean |delta|), greedy continuations of 64 tokens (positions that agree), and one
GRPO update's loss and gradient norm against the same objective in plain PyTorch on the same batch
(token-mean, no importance correction, beta 0, mu 1; bf16 products over fp32 weights on both sides).

    python3 exactness.py R1 R1_LOGITS_DUMP R1_GRPO_UPDATE_CHECK PRESET WORK_DIR OUT_JSON
"""
import json
import subprocess
import sys
import time

import numpy as np
import torch
from safetensors.torch import load_file, save_file
from transformers import AutoModelForCausalLM

r1, dump, update_check, preset, work, out_path = sys.argv[1:7]
model_dir = f"{work}/exact-{preset}"
subprocess.run([r1, "model", "init", "--preset", preset, "--out", model_dir, "--seed", "5"], check=True)
weights = load_file(f"{model_dir}/model.safetensors")
for name, t in weights.items():
    if t.dim() == 2 and name != "model.embed_tokens.weight":
        weights[name] = (t.float() * 4).to(t.dtype)
save_file(weights, f"{model_dir}/model.safetensors", metadata={"format": "pt"})

config = json.load(open(f"{model_dir}/config.json"))
vocab, rows, T, new = config["vocab_size"], 4, 64, 64
torch.manual_seed(0)
ids = torch.randint(0, 259, (rows, T))
with open(f"{work}/ids.txt", "w") as f:
    for row in ids.tolist():
        f.write(" ".join(map(str, row)) + "\n")
t0 = time.time()
subprocess.run([dump, model_dir, f"{work}/ids.txt", f"{work}/r1", "cuda", "bf16", str(new)], check=True)
r1_logits = torch.from_numpy(np.fromfile(f"{work}/r1.logits", dtype=np.float32).reshape(rows, T, vocab))
r1_greedy = [list(map(int, line.split())) for line in open(f"{work}/r1.greedy")]

try:
    hf = AutoModelForCausalLM.from_pretrained(model_dir, dtype=torch.bfloat16)
except TypeError:
    hf = AutoModelForCausalLM.from_pretrained(model_dir, torch_dtype=torch.bfloat16)
hf = hf.cuda().eval()
with torch.no_grad():
    hf_logits = hf(ids.cuda()).logits.float().cpu()
    gen = hf.generate(ids.cuda(), attention_mask=torch.ones_like(ids).cuda(), do_sample=False,
                      max_new_tokens=new, min_new_tokens=new, pad_token_id=0)[:, T:].cpu().tolist()
delta = (r1_logits - hf_logits).abs()
same = sum(a == b for r, h in zip(r1_greedy, gen) for a, b in zip(r, h))
prefix = []
for r, h in zip(r1_greedy, gen):
    k = 0
    while k < min(len(r), len(h)) and r[k] == h[k]:
        k += 1
    prefix.append(k)
result = {
    "preset": preset, "dtype": "bf16", "rows": rows, "tokens": T,
    "logits_max_abs_delta": delta.max().item(), "logits_mean_abs_delta": delta.mean().item(),
    "logits_scale_mean_abs": hf_logits.abs().mean().item(),
    "greedy_positions_agreeing": same / (rows * new), "greedy_common_prefix": prefix,
    "argmax_agreement": (r1_logits.argmax(-1) == hf_logits.argmax(-1)).float().mean().item(),
}

# One GRPO update on 8 sequences (32-token prompts, 16-64-token completions, advantages ~ N(0, 1)).
del hf
torch.cuda.empty_cache()
g = torch.Generator().manual_seed(1)
prompts = [torch.randint(0, 259, (32,), generator=g).tolist() for _ in range(8)]
comps = [torch.randint(0, 259, (int(n),), generator=g).tolist() for n in torch.randint(16, 65, (8,), generator=g)]
adv = torch.randn(8, generator=g).tolist()
with open(f"{work}/batch.json", "w") as f:
    json.dump({"prompts": prompts, "completions": comps, "advantages": adv}, f)
run = subprocess.run([update_check, model_dir, f"{work}/batch.json", "cuda"], check=True, capture_output=True, text=True)
r1_update = json.loads(run.stdout.strip().splitlines()[-1])
try:
    policy = AutoModelForCausalLM.from_pretrained(model_dir, dtype=torch.float32)
except TypeError:
    policy = AutoModelForCausalLM.from_pretrained(model_dir, torch_dtype=torch.float32)
policy = policy.cuda().train()
total = sum(len(c) for c in comps)
loss_sum = 0.0
for p, c, a in zip(prompts, comps, adv):
    ids = torch.tensor([p + c], device="cuda")
    with torch.autocast("cuda", dtype=torch.bfloat16):
        logits = policy(ids).logits[:, len(p) - 1:-1]
    lp = torch.log_softmax(logits.float(), -1).gather(-1, ids[:, len(p):].unsqueeze(-1)).squeeze(-1)
    ratio = torch.exp(lp - lp.detach())
    loss = -torch.min(ratio * a, ratio.clamp(0.8, 1.2) * a).sum() / total
    loss.backward()
    loss_sum += loss.item()
grad_norm = torch.sqrt(sum((q.grad.float() ** 2).sum() for q in policy.parameters() if q.grad is not None)).item()
result.update({
    "update_tokens": total, "update_loss_r1": r1_update["loss"], "update_loss_torch": loss_sum,
    "update_grad_norm_r1": r1_update["grad_norm"], "update_grad_norm_torch": grad_norm,
    "update_grad_norm_rel_delta": abs(r1_update["grad_norm"] - grad_norm) / max(grad_norm, 1e-12),
})
json.dump(result, open(out_path, "w"), indent=1)
print(json.dumps(result))
