#!/usr/bin/python3
"""The GRPO objective computed independently of r1, in plain PyTorch (float64), from the formulas TRL
documents for its GRPOTrainer, to check r1's trainer/grpo.cpp against.

For completion i, token t, with log-probabilities under the policy (logp), the policy that sampled
the group as the trainer scores it (old), the rollout worker (rollout) and the reference (ref):
  ratio       r = exp(logp - old)
  surrogate   -min(r * A_i, clip(r, 1 - eps_low, 1 + eps_high) * A_i)
  KL (k3)     exp(ref - logp) - (ref - logp) - 1,           added with weight beta when beta > 0
  importance  w = min(exp(old - rollout), C) per token, or min(exp(sum_t (old - rollout)), C) per
              sequence (truncated importance sampling of the rollout's mismatch), a constant;
              w = 1 when off
  loss types  "grpo":    mean over sequences of each sequence's token mean
              "dapo":    sum over all tokens / number of tokens
              "dr_grpo": sum over all tokens / (number of sequences * max completion length)
The normalisers (sequences, tokens, max length) are given, as a batch split into micro-batches
shares them.

Reads a JSON list of cases on stdin; writes, per case, the loss, its gradient with respect to logp,
and the masked sums of the k3 KL and of the importance weights.
"""
import json
import sys

import torch


def objective(case):
    d = torch.float64
    logp = torch.tensor(case["logprobs"], dtype=d, requires_grad=True)
    old = torch.tensor(case["old_logprobs"], dtype=d)
    rollout = torch.tensor(case["rollout_logprobs"], dtype=d)
    ref = torch.tensor(case["ref_logprobs"], dtype=d)
    adv = torch.tensor(case["advantages"], dtype=d)[:, None]
    mask = torch.tensor(case["mask"], dtype=d)
    o, n = case["options"], case["norm"]

    ratio = torch.exp(logp - old)
    surrogate = -torch.minimum(ratio * adv, torch.clamp(ratio, 1 - o["clip_low"], 1 + o["clip_high"]) * adv)

    if o["importance"] == "token":
        w = torch.clamp(torch.exp(old - rollout), max=o["cap"])
    elif o["importance"] == "sequence":
        w = torch.clamp(torch.exp(((old - rollout) * mask).sum(dim=1, keepdim=True)), max=o["cap"]).expand_as(logp)
    else:
        w = torch.ones_like(logp)
    per_token = w * surrogate

    log_ratio_ref = ref - logp
    kl = torch.exp(log_ratio_ref) - log_ratio_ref - 1
    if o["beta"] > 0:
        per_token = per_token + o["beta"] * kl

    masked = per_token * mask
    if o["loss_type"] == "grpo":
        loss = (masked.sum(dim=1) / mask.sum(dim=1).clamp(min=1)).sum() / max(n["sequences"], 1)
    elif o["loss_type"] == "dapo":
        loss = masked.sum() / max(n["tokens"], 1)
    else:  # dr_grpo
        loss = masked.sum() / max(n["sequences"] * n["max_length"], 1)
    loss.backward()
    return {
        "loss": loss.item(),
        "grad": logp.grad.tolist(),
        "kl_sum": (kl * mask).sum().item(),
        "importance_sum": (w * mask).sum().item(),
    }


if __name__ == "__main__":
    json.dump([objective(c) for c in json.load(sys.stdin)], sys.stdout)
