// The optimiser every trainer stage shares: AdamW (decoupled weight decay on matrices only, not on
// norms and biases), a learning-rate schedule, and gradient clipping by global norm.
//
// Schedule at step s (0-based) of S, with W warmup steps and peak lr η:
//   s < W:       η · (s + 1) / W                              (linear warmup)
//   constant:    η
//   cosine:      η_min + (η - η_min) · (1 + cos(π · p)) / 2,   p = (s - W) / max(1, S - W),  η_min = η · min_lr_ratio
//   linear:      η_min + (η - η_min) · (1 - p)
#pragma once

#include <cstdint>
#include <memory>
#include <string>
#include <vector>

#include "run/grpo_config.h"
#include "trainer/grad_sync.h"

namespace r1::run {
class Collective;
}

namespace at {
class Tensor;
}

namespace r1::trainer {

// The learning rate at `step` of `total_steps` (see above).
double scheduled_lr(const run::OptimConfig& config, int64_t step, int64_t total_steps);

class Optimizer {
 public:
  // `named` parameters (Hugging Face names): those whose name ends in ".weight" and have two
  // dimensions take weight decay, the rest do not.
  // With `group` (a data-parallel job) and config.zero_stage 1, the moments are partitioned: each
  // parameter has one owning rank (whole tensors in contiguous runs, balanced by size: assign_owners),
  // only the owner keeps its moments and updates it, then sends it to the others. Gradients must
  // already be summed over the ranks. With zero_stage 2 the gradients are partitioned too: each rank
  // holds (GradientSync with owners()) only its own parameters' sums, and the global norm is summed
  // over the ranks.
  Optimizer(const std::vector<std::pair<std::string, at::Tensor>>& named, run::OptimConfig config, int64_t total_steps,
            run::Collective* group = nullptr);
  ~Optimizer();

  // Sets this step's learning rate, clips the gradients, takes the AdamW step and zeroes the
  // gradients. Returns the global gradient norm before clipping; a non-finite norm skips the update
  // (returned as is, so the caller can log it) and leaves parameters and state untouched.
  double step(int64_t step);
  void zero_grad();
  double lr_at(int64_t step) const { return scheduled_lr(config_, step, total_steps_); }

  // The AdamW moments and step counts, in LibTorch's archive format: always the whole state, so a run
  // resumes on any number of ranks, partitioned or not. When partitioned, every rank calls
  // gather_state() first (rank 0 receives the others' moments), then rank 0 calls save(), which drops
  // them again. load() on every rank keeps only the rank's own part.
  void gather_state();
  void save(const std::string& path);
  void load(const std::string& path);
  // Bytes of moments this rank holds.
  int64_t state_bytes() const;
  bool partitioned() const;
  // Each parameter's owning rank when partitioned, in the order given; else empty.
  const std::vector<int>& owners() const;
  // How a GradientSync sums this optimiser's gradients over the ranks: partitioned by owners() under
  // ZeRO-2 (else every rank gets every sum), in the configured buckets, overlapped or not.
  GradientSync::Options gradient_sync() const {
    return {config_.zero_stage == 2 ? owners() : std::vector<int>{},
            static_cast<int64_t>(config_.bucket_cap_mb * (1 << 20)), config_.overlap_comm};
  }

 private:
  struct Impl;
  std::unique_ptr<Impl> impl_;
  run::OptimConfig config_;
  int64_t total_steps_;
};

}  // namespace r1::trainer
