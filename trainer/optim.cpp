// AdamW with a schedule and gradient clipping: see optim.h.
#include "trainer/optim.h"

#include <nlohmann/json.hpp>
#include <torch/optim/adamw.h>
#include <torch/serialize.h>

#include <cmath>
#include <filesystem>

#include "core/config.h"
#include "core/error.h"

namespace r1::trainer {

double scheduled_lr(const run::OptimConfig& c, int64_t step, int64_t total) {
  if (step < c.warmup_steps) return c.lr * static_cast<double>(step + 1) / static_cast<double>(c.warmup_steps);
  if (c.schedule == LrSchedule::kConstant) return c.lr;
  const double p = std::clamp(static_cast<double>(step - c.warmup_steps) /
                                  static_cast<double>(std::max<int64_t>(1, total - c.warmup_steps)),
                              0.0, 1.0);
  const double floor = c.lr * c.min_lr_ratio;
  if (c.schedule == LrSchedule::kLinear) return floor + (c.lr - floor) * (1 - p);
  return floor + (c.lr - floor) * 0.5 * (1 + std::cos(M_PI * p));
}

struct Optimizer::Impl {
  std::vector<at::Tensor> params;
  std::unique_ptr<torch::optim::AdamW> adamw;
};

Optimizer::Optimizer(const std::vector<std::pair<std::string, at::Tensor>>& named, run::OptimConfig config, int64_t total_steps)
    : impl_(std::make_unique<Impl>()), config_(std::move(config)), total_steps_(total_steps) {
  std::vector<at::Tensor> decay, no_decay;
  for (const auto& [name, t] : named) {
    const bool matrix = t.dim() == 2 && name.size() > 7 && name.compare(name.size() - 7, 7, ".weight") == 0;
    (matrix ? decay : no_decay).push_back(t);
    impl_->params.push_back(t);
  }
  auto options = torch::optim::AdamWOptions(config_.lr)
                     .betas({config_.beta1, config_.beta2})
                     .eps(config_.eps)
                     .weight_decay(config_.weight_decay);
  std::vector<torch::optim::OptimizerParamGroup> groups;
  groups.emplace_back(decay, std::make_unique<torch::optim::AdamWOptions>(options));
  auto no_decay_options = options;
  no_decay_options.weight_decay(0.0);
  groups.emplace_back(no_decay, std::make_unique<torch::optim::AdamWOptions>(no_decay_options));
  impl_->adamw = std::make_unique<torch::optim::AdamW>(groups, options);
}

Optimizer::~Optimizer() = default;

void Optimizer::zero_grad() {
  for (auto& p : impl_->params)
    if (p.grad().defined()) p.mutable_grad() = at::Tensor();
}

double Optimizer::step(int64_t step) {
  // The global norm, computed here rather than by clip_grad_norm_ so a non-finite one can skip the
  // update before anything is scaled.
  double sq = 0;
  for (const auto& p : impl_->params)
    if (p.grad().defined()) sq += p.grad().to(at::kDouble).pow(2).sum().item<double>();
  const double norm = std::sqrt(sq);
  if (!std::isfinite(norm)) {
    zero_grad();
    return norm;
  }
  if (config_.max_grad_norm > 0 && norm > config_.max_grad_norm) {
    const double scale = config_.max_grad_norm / (norm + 1e-6);
    for (auto& p : impl_->params)
      if (p.grad().defined()) p.mutable_grad().mul_(scale);
  }
  const double lr = lr_at(step);
  for (auto& group : impl_->adamw->param_groups()) static_cast<torch::optim::AdamWOptions&>(group.options()).lr(lr);
  impl_->adamw->step();
  zero_grad();
  return norm;
}

void Optimizer::save(const std::string& path) const {
  try {
    torch::serialize::OutputArchive archive;
    impl_->adamw->save(archive);
    archive.save_to(path);
  } catch (const c10::Error& e) {
    throw Error(path + ": cannot write the optimiser state: " + e.what_without_backtrace());
  }
}

void Optimizer::load(const std::string& path) {
  if (!std::filesystem::exists(path)) throw Error(path + ": no optimiser state there");
  try {
    torch::serialize::InputArchive archive;
    archive.load_from(path);
    impl_->adamw->load(archive);
  } catch (const c10::Error& e) {
    throw Error(path + ": unreadable optimiser state (truncated or from another model?): " + e.what_without_backtrace());
  }
}

}  // namespace r1::trainer
