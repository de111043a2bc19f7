// The `pretrain-synthetic` stage: makes a base model from nothing, for the embedded recipes.
//
//   1. the synthetic arithmetic corpus (tasks/arith.h) and its problem sets: train.jsonl for RL,
//      heldout.jsonl (a different seed, disjoint from everything the model sees) for evaluation
//   2. a byte-level BPE tokenizer learnt on the corpus (tokenizer/bpe_train.h): the R1-Zero template
//      becomes a few dozen tokens, digits stay one token each
//   3. a small transformer (Qwen2 architecture) trained with next-token loss on the corpus: documents
//      packed into rows of seq_len tokens, separated by <|endoftext|>, position ids restarting at
//      each document so attention stays within it
//
// The output folder holds model/ (Hugging Face layout: loads in r1 and in transformers), train.jsonl,
// heldout.jsonl, coldstart.jsonl and chat.jsonl when asked for, and stage.json (what was made, the
// final loss, the time it took).
#pragma once

#include <nlohmann/json.hpp>

#include <cstdint>
#include <string>

#include "tasks/arith.h"
#include "trainer/optim.h"

namespace r1 {
class ConfigReader;
}

namespace r1::trainer {

struct PretrainConfig {
  ArithOptions task;
  int64_t documents = 50000;
  int64_t train_problems = 5000, heldout_problems = 200;
  uint64_t heldout_seed = 1000;
  // Chat SFT sets for the R1 pipeline (0: not written): coldstart.jsonl, readable long chains of
  // thought in English (arith.h's cold_start_row, problems apart from the held-out ones), and
  // chat.jsonl, non-reasoning one-step facts (fact_row).
  int64_t cold_start_examples = 0, chat_examples = 0;
  int64_t vocab_size = 512;
  // The model: Qwen2 shapes.
  int64_t hidden_size = 128, intermediate_size = 384, layers = 4, heads = 4, kv_heads = 2, context = 512;
  // Training.
  int64_t steps = 500, seq_len = 256, batch_rows = 16;
  std::string compute_dtype = "auto";  // matrix products: auto (the faster here) | fp32 | bf16
  bool activation_checkpointing = false;
  OptimConfig optim;
  uint64_t seed = 1;

  static PretrainConfig read(ConfigReader& r);
  // The canonical JSON of everything that decides the output (its content hash keys the cache).
  nlohmann::json identity() const;
};

struct PretrainResult {
  double final_loss = 0, wall_s = 0, tokens_per_s = 0;
  int64_t parameters = 0, corpus_tokens = 0;
};

// Runs the stage into `out_dir` (created). threads: LibTorch threads (0: one per core).
PretrainResult run_pretrain(const PretrainConfig& config, const std::string& out_dir, int threads);

}  // namespace r1::trainer
