// The rollout engine in the trainer's own process, on the trainer's device (`rollout.colocate: true`
// in a grpo stage): the common case of one GPU, and of one small CPU box, where worker processes
// would only copy weights over gRPC and compete with the trainer for the same chip.
//
// - Weights never leave the device: after each update the engine's model is made from the policy's
//   tensors where they lie (a device-to-device cast to the rollout precision: bf16, fp32, or FP8
//   quantised from them), replacing the previous one (which generations still running keep alive).
//   A LoRA policy's frozen base is cast once; each update copies only the adapter, which the engine's
//   model applies as a low-rank product over the base in the rollout precision.
// - The KV cache exists only while a generate() call runs: the engine and its cache are built for
//   the call and released after it, so the optimizer step and the backward pass have that memory.
//
// Same engine, same sampler and the same seeds as a worker: a colocated run samples exactly what a run
// with one fp32 worker samples (tests/test_grpo_run.cpp).
#pragma once

#include <cstdint>
#include <functional>
#include <memory>
#include <mutex>
#include <vector>

#include "core/choices.h"
#include "model/transformer.h"
#include "rollout/client.h"

namespace r1 {
class Tokenizer;
}

namespace r1::trainer {

struct ColocatedOptions {
  WeightPrecision precision = WeightPrecision::kFp8;
  double kv_cache_mb = 256;
  double kv_cache_fraction = 0;  // > 0: that share of the device's free memory when a generation starts
  int64_t max_running = 256;
  const Tokenizer* tokenizer = nullptr;  // stop strings and text
  std::shared_ptr<rollout::ToolProvider> tools;  // runs groups' tool calls (tools/tool_host.h); null: none
};

class ColocatedEngine : public rollout::GroupGenerator {
 public:
  // Serves `policy`'s current weights as `version`.
  ColocatedEngine(const model::Transformer& policy, uint64_t version, ColocatedOptions options);
  // Puts the policy's current weights into service as `version` (generations already running finish
  // on the weights they started with).
  void refresh(const model::Transformer& policy, uint64_t version);
  void generate(const std::vector<rollout::GroupRequest>& requests,
                const std::function<void(rollout::GroupResult&&)>& on_group) override;

 private:
  ColocatedOptions options_;
  std::mutex mutex_;  // guards the snapshot: a prefetching generation may read it while the trainer refreshes
  std::shared_ptr<const model::Transformer> snapshot_;
  std::shared_ptr<const model::Transformer> base_;  // a LoRA policy's base in the rollout precision
  uint64_t version_ = 0;
};

}  // namespace r1::trainer
