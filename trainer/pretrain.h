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
// final loss, the time it took). Its configuration and cache identity are run/pretrain_config.h's.
#pragma once

#include <cstdint>
#include <string>

#include "run/pretrain_config.h"

namespace r1::run {
class Collective;
}

namespace r1::trainer {

struct PretrainResult {
  double final_loss = 0, wall_s = 0, tokens_per_s = 0;
  int64_t parameters = 0, corpus_tokens = 0;
};

// Runs the stage into `out_dir` (created). threads: LibTorch threads (0: one per core). With `group`
// (a data-parallel job), every rank makes the same corpus and tokenizer (each in its own `out_dir`:
// rank 0's is the stage's, the others' scratch), each backpropagates every world_size-th row of a
// step, gradients are summed before the step, and rank 0's model is the result.
PretrainResult run_pretrain(const run::PretrainConfig& config, const std::string& out_dir, int threads,
                            run::Collective* group = nullptr);

}  // namespace r1::trainer
