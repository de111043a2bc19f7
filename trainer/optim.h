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
  Optimizer(const std::vector<std::pair<std::string, at::Tensor>>& named, run::OptimConfig config, int64_t total_steps);
  ~Optimizer();

  // Sets this step's learning rate, clips the gradients, takes the AdamW step and zeroes the
  // gradients. Returns the global gradient norm before clipping; a non-finite norm skips the update
  // (returned as is, so the caller can log it) and leaves parameters and state untouched.
  double step(int64_t step);
  void zero_grad();
  double lr_at(int64_t step) const { return scheduled_lr(config_, step, total_steps_); }

  // The AdamW moments and step counts, in LibTorch's archive format.
  void save(const std::string& path) const;
  void load(const std::string& path);

 private:
  struct Impl;
  std::unique_ptr<Impl> impl_;
  run::OptimConfig config_;
  int64_t total_steps_;
};

}  // namespace r1::trainer
