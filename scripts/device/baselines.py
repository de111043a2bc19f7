"""What r1's GPU numbers are measured against, on the same GPU in the same run (scripts/device/gpu_check.sh):

  decode:  transformers' generate, batch B x N new tokens (sampling, no early stop) from P-token prompts,
           on a random Qwen2.5-shaped checkpoint that `r1 model init` wrote;
  update:  one GRPO update written in plain PyTorch on the same shapes as `r1 bench train`: the
           transformers model in bf16 autocast over fp32 weights, micro-batches, token log-probs from
           log_softmax, the clipped ratio objective with group advantages, AdamW.

    python3 baselines.py decode R1 PRESET WORK_DIR B P N OUT_JSON
    python3 baselines.py update R1 PRESET WORK_DIR SEQS PROMPT COMPLETION MICRO_SEQS OUT_JSON
"""
import json
import subprocess
import sys
import time

import torch
from transformers import AutoModelForCausalLM


def load(r1, preset, work, dtype):
    model_dir = f"{work}/base-{preset}"
    subprocess.run([r1, "model", "init", "--preset", preset, "--out", model_dir, "--seed", "3"], check=True)
    try:
        m = AutoModelForCausalLM.from_pretrained(model_dir, dtype=dtype)
    except TypeError:
        m = AutoModelForCausalLM.from_pretrained(model_dir, torch_dtype=dtype)
    return m.cuda()


def decode(r1, preset, work, B, P, N, out):
    m = load(r1, preset, work, torch.bfloat16).eval()
    ids = torch.randint(0, 259, (B, P), device="cuda")
    kw = dict(attention_mask=torch.ones_like(ids), do_sample=True, temperature=1.0, top_p=1.0,
              max_new_tokens=N, min_new_tokens=N, pad_token_id=0)
    with torch.no_grad():
        m.generate(ids, **dict(kw, max_new_tokens=8, min_new_tokens=8))  # warm-up
        torch.cuda.synchronize()
        t = time.time()
        m.generate(ids, **kw)
        torch.cuda.synchronize()
        s = time.time() - t
    r = {"what": "transformers generate", "preset": preset, "batch": B, "prompt": P, "new_tokens": N,
         "seconds": s, "tokens_per_s": B * N / s, "peak_gib": torch.cuda.max_memory_allocated() / 2**30}
    json.dump(r, open(out, "w"), indent=1)
    print(json.dumps(r))


def update(r1, preset, work, S, P, C, micro, out):
    m = load(r1, preset, work, torch.float32).train()
    opt = torch.optim.AdamW(m.parameters(), lr=1e-6, weight_decay=0.0)
    vocab = m.config.vocab_size
    ids = torch.randint(0, vocab, (S, P + C), device="cuda")
    adv = torch.where(torch.arange(S, device="cuda") % 2 == 1, 1.0, -1.0)
    old = torch.full((S, C), -float(torch.log(torch.tensor(float(vocab)))), device="cuda")

    def step():
        opt.zero_grad(set_to_none=True)
        for i in range(0, S, micro):
            x = ids[i:i + micro]
            with torch.autocast("cuda", dtype=torch.bfloat16):
                logits = m(x).logits[:, P - 1:-1]
            lp = torch.log_softmax(logits.float(), -1).gather(-1, x[:, P:].unsqueeze(-1)).squeeze(-1)
            ratio = torch.exp(lp - old[i:i + micro])
            a = adv[i:i + micro].unsqueeze(1)
            loss = -torch.min(ratio * a, ratio.clamp(0.8, 1.28) * a).sum() / (S * C)
            loss.backward()
        torch.nn.utils.clip_grad_norm_(m.parameters(), 1.0)
        opt.step()

    step()  # warm-up
    torch.cuda.synchronize()
    t = time.time()
    step()
    torch.cuda.synchronize()
    s = time.time() - t
    n = sum(p.numel() for p in m.parameters())
    tokens = S * (P + C)
    r = {"what": "plain PyTorch GRPO update", "preset": preset, "sequences": S, "prompt": P, "completion": C,
         "micro_sequences": micro, "seconds": s, "tokens_per_s": tokens / s, "parameters": n,
         "peak_gib": torch.cuda.max_memory_allocated() / 2**30}
    json.dump(r, open(out, "w"), indent=1)
    print(json.dumps(r))


if __name__ == "__main__":
    kind, r1, preset, work = sys.argv[1:5]
    a = sys.argv[5:]
    if kind == "decode":
        decode(r1, preset, work, int(a[0]), int(a[1]), int(a[2]), a[3])
    else:
        update(r1, preset, work, int(a[0]), int(a[1]), int(a[2]), int(a[3]), a[4])
