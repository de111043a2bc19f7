#!/usr/bin/env python3
"""Golden fixtures for r1's transformer, made by Hugging Face `transformers` itself.

Run on a machine with PyTorch >= 2 and `transformers` (the GPU machines r1 is used with have both; the
fixtures are computed on CPU in fp32 so they do not depend on the GPU):

    python3 scripts/golden/make_goldens.py --out tests/data/golden

For each of Qwen2ForCausalLM, Qwen3ForCausalLM and LlamaForCausalLM it writes a folder with a tiny
random model (fixed seed; norms and biases randomised too, so a mistake in either shows):
  config.json, model.safetensors     as `save_pretrained` writes them
  golden.safetensors                 input_ids [2, 16] (int64), logits [2, 16, vocab] (fp32),
                                     greedy [2, 32] (int64): 32-token greedy continuations
and prints the sizes (well under 2 MB in all). r1's tests load each folder with Transformer::load and
require logits max |delta| <= 1e-4 and identical greedy tokens.
"""
import argparse
import json
import os

import torch
from safetensors.torch import save_file
import transformers

VOCAB = 256


def tiny_configs():
    common = dict(vocab_size=VOCAB, hidden_size=64, intermediate_size=128, num_hidden_layers=2,
                  num_attention_heads=4, num_key_value_heads=2, max_position_embeddings=2048,
                  rms_norm_eps=1e-6, hidden_act="silu")
    return {
        "qwen2": transformers.Qwen2Config(**common, rope_theta=1e6, tie_word_embeddings=True,
                                          use_sliding_window=False),
        "qwen3": transformers.Qwen3Config(**common, head_dim=32, rope_theta=1e6, tie_word_embeddings=True,
                                          attention_bias=False, use_sliding_window=False),
        "llama": transformers.LlamaConfig(**common, head_dim=16, rope_theta=500000.0, tie_word_embeddings=False,
                                          attention_bias=False, mlp_bias=False,
                                          rope_scaling={"rope_type": "llama3", "factor": 8.0,
                                                        "low_freq_factor": 1.0, "high_freq_factor": 4.0,
                                                        "original_max_position_embeddings": 64}),
    }


def main():
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--out", default="tests/data/golden")
    ap.add_argument("--seed", type=int, default=1234)
    args = ap.parse_args()
    classes = {"qwen2": transformers.Qwen2ForCausalLM, "qwen3": transformers.Qwen3ForCausalLM,
               "llama": transformers.LlamaForCausalLM}
    total = 0
    for name, config in tiny_configs().items():
        config._attn_implementation = "eager"
        torch.manual_seed(args.seed)
        model = classes[name](config).eval().to(torch.float32)
        with torch.no_grad():
            for pname, p in model.named_parameters():
                if p.dim() == 1:  # norms and biases: random, not ones and zeros
                    p.uniform_(0.5, 1.5) if pname.endswith("weight") else p.normal_(0.0, 0.1)
        g = torch.Generator().manual_seed(args.seed + 1)
        input_ids = torch.randint(0, VOCAB, (2, 16), generator=g)
        with torch.no_grad():
            logits = model(input_ids).logits.float()
            model.generation_config.eos_token_id = None
            model.generation_config.pad_token_id = 0
            out = model.generate(input_ids, max_new_tokens=32, do_sample=False,
                                 attention_mask=torch.ones_like(input_ids))
        folder = os.path.join(args.out, name)
        os.makedirs(folder, exist_ok=True)
        model.save_pretrained(folder, safe_serialization=True)
        save_file({"input_ids": input_ids.contiguous(), "logits": logits.contiguous(),
                   "greedy": out[:, 16:].contiguous()}, os.path.join(folder, "golden.safetensors"),
                  metadata={"transformers": transformers.__version__, "torch": torch.__version__})
        size = sum(os.path.getsize(os.path.join(folder, f)) for f in os.listdir(folder))
        total += size
        print(f"{name}: {folder} ({size / 1024:.0f} KiB)")
    print(f"total {total / 1024:.0f} KiB")
    with open(os.path.join(args.out, "README.json"), "w") as f:
        json.dump({"made_by": "scripts/golden/make_goldens.py", "seed": args.seed,
                   "transformers": transformers.__version__, "torch": torch.__version__}, f, indent=2)


if __name__ == "__main__":
    main()
