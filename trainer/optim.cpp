// AdamW with a schedule and gradient clipping: see optim.h.
#include "trainer/optim.h"

#include <nlohmann/json.hpp>
#include <torch/optim/adamw.h>
#include <torch/serialize.h>

#include <algorithm>
#include <cmath>
#include <cerrno>
#include <cstdio>
#include <cstring>
#include <filesystem>

#include "core/config.h"
#include "core/error.h"
#include "run/collective.h"
#include "trainer/grad_sync.h"

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
  run::Collective* group = nullptr;  // set when the moments are partitioned
  std::vector<int> owner;            // of each parameter, when partitioned

  static std::string key(const at::Tensor& p) { return c10::guts::to_string(p.unsafeGetTensorImpl()); }
  bool mine(size_t i) const { return !group || owner[i] == group->rank(); }

  // The moments of parameters this rank does not own, removed (after a save or a load).
  void drop_foreign_state() {
    for (size_t i = 0; i < params.size(); ++i)
      if (!mine(i)) adamw->state().erase(key(params[i]));
  }

  // The parameters rank `r` owns, and their element count.
  std::vector<size_t> owned_by(int r, int64_t& elements) const {
    std::vector<size_t> owned;
    elements = 0;
    for (size_t i = 0; i < params.size(); ++i)
      if (owner[i] == r) {
        owned.push_back(i);
        elements += params[i].numel();
      }
    return owned;
  }

  // Each rank's parameters, updated by it, sent to every other rank (one broadcast per owner).
  void share_updates() {
    for (int r = 0; r < group->world_size(); ++r) {
      int64_t n = 0;
      const std::vector<size_t> owned = owned_by(r, n);
      if (n == 0) continue;
      at::Tensor flat = r == group->rank() ? flatten(owned) : at::empty({n}, at::kFloat);
      group->broadcast(flat.data_ptr<float>(), n, r);
      if (r != group->rank()) scatter(flat, owned);
    }
  }

  at::Tensor flatten(const std::vector<size_t>& idx) const {
    std::vector<at::Tensor> parts;
    for (size_t i : idx) parts.push_back(params[i].detach().reshape({-1}).to(at::kFloat));
    return at::cat(parts).to(at::kCPU).contiguous();  // the collective reads host memory
  }

  void scatter(const at::Tensor& flat, const std::vector<size_t>& idx) {
    at::NoGradGuard no_grad;
    int64_t at_ = 0;
    for (size_t i : idx) {
      at::Tensor p = params[i];
      p.copy_(flat.narrow(0, at_, p.numel()).view(p.sizes()));
      at_ += p.numel();
    }
  }
};

Optimizer::Optimizer(const std::vector<std::pair<std::string, at::Tensor>>& named, run::OptimConfig config, int64_t total_steps,
                     run::Collective* group)
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
  if (group && group->world_size() > 1 && config_.zero_stage >= 1) {
    impl_->group = group;
    // Contiguous runs of parameters, so that ZeRO-2's gradient buckets each have one owner.
    impl_->owner = assign_owners(named, group->world_size());
  }
}

bool Optimizer::partitioned() const { return impl_->group != nullptr; }

const std::vector<int>& Optimizer::owners() const { return impl_->owner; }

int64_t Optimizer::state_bytes() const {
  int64_t n = 0;
  for (const auto& [key, state] : impl_->adamw->state()) {
    const auto& s = static_cast<const torch::optim::AdamWParamState&>(*state);
    n += (s.exp_avg().numel() + s.exp_avg_sq().numel()) * 4;
  }
  return n;
}

Optimizer::~Optimizer() = default;

void Optimizer::zero_grad() {
  for (auto& p : impl_->params)
    if (p.grad().defined()) p.mutable_grad() = at::Tensor();
}

double Optimizer::step(int64_t step) {
  // The global norm, computed here rather than by clip_grad_norm_ so a non-finite one can skip the
  // update before anything is scaled.
  // Summed where the gradients live and read once: one host synchronisation per step on a GPU, not
  // one per parameter.
  // ZeRO-2: each rank holds its own parameters' gradients, so the squares are summed over the ranks.
  std::vector<at::Tensor> squares;
  for (const auto& p : impl_->params)
    if (p.grad().defined()) squares.push_back(p.grad().to(at::kDouble).pow(2).sum());
  double squared = squares.empty() ? 0.0 : at::stack(squares).sum().item<double>();
  if (impl_->group && config_.zero_stage == 2) impl_->group->all_reduce_sum(&squared, 1);
  const double norm = std::sqrt(squared);
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
  // Partitioned: AdamW skips a parameter without a gradient, so only the owned ones are stepped (and
  // only they ever get moments).
  for (size_t i = 0; i < impl_->params.size(); ++i)
    if (!impl_->mine(i)) impl_->params[i].mutable_grad() = at::Tensor();
  impl_->adamw->step();
  if (impl_->group) impl_->share_updates();
  zero_grad();
  return norm;
}

void Optimizer::gather_state() {
  if (!impl_->group) return;
  run::Collective& g = *impl_->group;
  // For each rank's parameters in turn: their moments and steps, from the owner to every rank; rank 0
  // keeps them. A parameter never stepped has no moments: sent as step 0, and left without state.
  for (int r = 1; r < g.world_size(); ++r) {
    int64_t n = 0;
    const std::vector<size_t> owned = impl_->owned_by(r, n);
    if (owned.empty()) continue;
    const int64_t k = static_cast<int64_t>(owned.size());
    at::Tensor buf = at::zeros({2 * n + k}, at::kFloat);  // exp_avg, exp_avg_sq, then each parameter's step
    if (g.rank() == r) {
      int64_t at_ = 0;
      for (int64_t j = 0; j < k; ++j) {
        const at::Tensor& p = impl_->params[owned[static_cast<size_t>(j)]];
        auto it = impl_->adamw->state().find(Impl::key(p));
        if (it != impl_->adamw->state().end()) {
          const auto& s = static_cast<const torch::optim::AdamWParamState&>(*it->second);
          buf.narrow(0, at_, p.numel()).copy_(s.exp_avg().reshape({-1}));
          buf.narrow(0, n + at_, p.numel()).copy_(s.exp_avg_sq().reshape({-1}));
          buf[2 * n + j] = static_cast<float>(s.step());
        }
        at_ += p.numel();
      }
    }
    g.broadcast(buf.data_ptr<float>(), buf.numel(), r);
    if (g.rank() != 0) continue;
    int64_t at_ = 0;
    for (int64_t j = 0; j < k; ++j) {
      const at::Tensor& p = impl_->params[owned[static_cast<size_t>(j)]];
      const int64_t step = static_cast<int64_t>(buf[2 * n + j].item<float>());
      if (step > 0) {
        auto s = std::make_unique<torch::optim::AdamWParamState>();
        s->step(step);
        s->exp_avg(buf.narrow(0, at_, p.numel()).view(p.sizes()).to(p.device(), /*non_blocking=*/false, /*copy=*/true));
        s->exp_avg_sq(buf.narrow(0, n + at_, p.numel()).view(p.sizes()).to(p.device(), false, true));
        impl_->adamw->state()[Impl::key(p)] = std::move(s);
      }
      at_ += p.numel();
    }
  }
}

void Optimizer::save(const std::string& path) {
  struct Drop {
    Impl& impl;
    ~Drop() {
      if (impl.group) impl.drop_foreign_state();
    }
  } drop{*impl_};
  // LibTorch's own file writer finishes the file in its destructor and throws from there when the disk
  // is full, which aborts the process. So the archive streams into a writer of ours that only records
  // a failure; the failure is reported once LibTorch is done, and a half-written file never stays.
  const std::string tmp = path + ".partial";
  std::FILE* file = std::fopen(tmp.c_str(), "wb");
  if (!file) throw Error(path + ": cannot write the optimiser state (" + std::strerror(errno) + ")");
  int write_error = 0;
  try {
    torch::serialize::OutputArchive archive;
    impl_->adamw->save(archive);
    archive.save_to([&](const void* data, size_t size) -> size_t {
      if (write_error == 0 && std::fwrite(data, 1, size, file) != size) write_error = errno ? errno : EIO;
      return size;
    });
  } catch (const c10::Error& e) {
    std::fclose(file);
    std::remove(tmp.c_str());
    throw Error(path + ": cannot write the optimiser state: " + e.what_without_backtrace());
  }
  if (std::fflush(file) != 0 && write_error == 0) write_error = errno;
  if (std::fclose(file) != 0 && write_error == 0) write_error = errno;
  if (write_error == 0 && std::rename(tmp.c_str(), path.c_str()) != 0) write_error = errno;
  if (write_error != 0) {
    std::remove(tmp.c_str());
    throw Error(path + ": cannot write the optimiser state (" + std::strerror(write_error) + "; disk full?)");
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
  if (impl_->group) impl_->drop_foreign_state();
}

}  // namespace r1::trainer
