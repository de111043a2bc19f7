// Bucketed gradient sums overlapped with the backward, optionally partitioned: see grad_sync.h.
#include "trainer/grad_sync.h"

#include <ATen/ATen.h>
#include <torch/csrc/autograd/function.h>
#include <torch/csrc/autograd/utils/lambda_post_hook.h>
#include <torch/csrc/autograd/variable.h>

#include <algorithm>
#include <mutex>
#include <numeric>
#include <tuple>

#include "run/collective.h"

namespace r1::trainer {

namespace {

// Where a parameter sits in a backward: 0 for what follows the layers in the forward (final norm,
// head: their gradients come first), 1 for a layer (key: its index), 2 for the embeddings (last).
std::tuple<int, long, std::string> backward_key(const std::string& name) {
  if (name.find("embed") != std::string::npos) return {2, 0, name};
  const size_t at = name.find("layers.");
  if (at == std::string::npos) return {0, 0, name};
  return {1, std::strtol(name.c_str() + at + 7, nullptr, 10), name};
}

}  // namespace

std::vector<size_t> backward_order(const std::vector<std::string>& names) {
  std::vector<size_t> order(names.size());
  std::iota(order.begin(), order.end(), size_t{0});
  std::sort(order.begin(), order.end(), [&](size_t a, size_t b) {
    auto [ga, la, na] = backward_key(names[a]);
    auto [gb, lb, nb] = backward_key(names[b]);
    if (ga != gb) return ga < gb;
    if (la != lb) return la > lb;  // the last layer first
    return na > nb;
  });
  return order;
}

std::vector<int> assign_owners(const std::vector<std::pair<std::string, at::Tensor>>& named, int world_size) {
  std::vector<std::string> names;
  for (const auto& [name, t] : named) names.push_back(name);
  const std::vector<size_t> order = backward_order(names);
  // Ranks filled in order, each up to `cap` elements (a tensor alone may exceed it): how many are
  // used, and (with `owner`) which rank each parameter lands on.
  auto pack = [&](int64_t cap, std::vector<int>* owner) {
    int rank = 0;
    int64_t load = 0;
    for (size_t i : order) {
      const int64_t n = named[i].second.numel();
      if (load + n > cap && load > 0) {
        ++rank;
        load = 0;
      }
      if (owner) (*owner)[i] = rank;
      load += n;
    }
    return rank + 1;
  };
  // The smallest capacity at which that needs at most world_size ranks: a binary search between the
  // largest tensor and the whole.
  int64_t lo = 0, hi = 0;
  for (const auto& [name, t] : named) {
    lo = std::max<int64_t>(lo, t.numel());
    hi += t.numel();
  }
  while (lo < hi) {
    const int64_t mid = lo + (hi - lo) / 2;
    if (pack(mid, nullptr) <= world_size) hi = mid;
    else lo = mid + 1;
  }
  std::vector<int> owner(named.size(), 0);
  pack(lo, &owner);
  return owner;
}

struct GradientSync::Impl {
  struct Bucket {
    std::vector<size_t> members;  // parameter indices, in the buffer's order
    int64_t elements = 0;
    int owner = -1;               // partitioned: the rank that keeps the sum; -1: every rank
    bool keep = true;             // this rank keeps the sum
    size_t landed = 0;            // members whose gradient the armed backward has accumulated
    at::Tensor kept;              // the buffer, across steps, of a bucket this rank keeps
    at::Tensor flat;              // the buffer in flight
    std::unique_ptr<run::Pending> pending;
  };

  run::Collective& group;
  std::vector<at::Tensor> params;
  std::vector<Bucket> buckets;
  std::vector<size_t> bucket_of;  // of each parameter
  std::vector<std::pair<std::shared_ptr<torch::autograd::Node>, uintptr_t>> hooks;
  std::mutex mu;                  // hooks may run on the autograd engine's device threads
  // Send buffers for other ranks' buckets (partitioned): at most two, reused step after step (fresh
  // memory each step would be page faults each step), each as large as the largest such bucket.
  static constexpr size_t kSendBuffers = 2;
  std::vector<at::Tensor> send;
  std::vector<long> send_user;    // the bucket using each, or -1
  int64_t send_elements = 0;
  bool armed = false;
  bool overlap = true;
  size_t next = 0;                // the next bucket to start

  explicit Impl(run::Collective& g) : group(g) {}

  // The buffer, kept from step to step, of a bucket this rank keeps.
  at::Tensor& kept(Bucket& b) {
    if (!b.kept.defined()) b.kept = at::empty({b.elements}, at::kFloat);
    return b.kept;
  }

  void layout(const std::vector<std::pair<std::string, at::Tensor>>& named, const std::vector<int>& owners,
              int64_t bucket_bytes) {
    std::vector<std::string> names;
    for (const auto& [name, t] : named) names.push_back(name);
    bucket_of.assign(params.size(), 0);
    const int64_t cap = std::max<int64_t>(1, bucket_bytes / 4);
    for (size_t i : backward_order(names)) {
      const int owner = owners.empty() ? -1 : owners[i];
      const int64_t n = params[i].numel();
      if (buckets.empty() || buckets.back().owner != owner || buckets.back().elements + n > cap) {
        buckets.emplace_back();
        buckets.back().owner = owner;
        buckets.back().keep = owner < 0 || owner == group.rank();
      }
      buckets.back().members.push_back(i);
      buckets.back().elements += n;
      bucket_of[i] = buckets.size() - 1;
    }
    for (const Bucket& b : buckets)
      if (!b.keep) send_elements = std::max(send_elements, b.elements);
  }

  void hook_accumulators() {
    for (size_t i = 0; i < params.size(); ++i) {
      if (!params[i].requires_grad()) continue;
      std::shared_ptr<torch::autograd::Node> acc = torch::autograd::impl::grad_accumulator(params[i]);
      if (!acc) continue;
      // Held here: the variable keeps only a weak reference, and a fresh accumulator would have no hook.
      const uintptr_t key = acc->add_post_hook(std::make_unique<torch::autograd::utils::LambdaPostHook>(
          [this, i](const torch::autograd::variable_list& outputs, const torch::autograd::variable_list&) {
            landed(i);
            return outputs;
          }));
      hooks.emplace_back(std::move(acc), key);
    }
  }

  void landed(size_t i) {
    std::lock_guard<std::mutex> lock(mu);
    if (!armed) return;
    ++buckets[bucket_of[i]].landed;
    while (next < buckets.size() && buckets[next].landed == buckets[next].members.size()) start(next++);
  }

  // Copies bucket k's gradients into its buffer (zeros for those that never came) and starts its sum.
  void start(size_t k) {
    Bucket& b = buckets[k];
    b.flat = b.keep ? kept(b) : send_buffer(k).narrow(0, 0, b.elements);
    int64_t at_ = 0;
    for (size_t i : b.members) {
      at::Tensor& p = params[i];
      at::Tensor slot = b.flat.narrow(0, at_, p.numel());
      if (!p.grad().defined()) slot.zero_();
      else if (p.grad().data_ptr() != slot.data_ptr()) slot.copy_(p.grad().reshape({-1}));  // else accumulated in place
      if (!b.keep) p.mutable_grad() = at::Tensor();  // another rank's: copied out, no longer held here
      at_ += p.numel();
    }
    b.pending = b.owner < 0 ? group.start_all_reduce_sum(b.flat.data_ptr<float>(), b.elements)
                            : group.start_reduce_sum(b.flat.data_ptr<float>(), b.elements, b.owner);
  }

  // A send buffer for bucket k: a free one, else one whose bucket's sum has gone out, else a new one
  // while there are fewer than kSendBuffers, else the oldest once its sum has gone out.
  at::Tensor send_buffer(size_t k) {
    auto take = [&](size_t j) {
      const long user = send_user[j];
      if (user >= 0) {
        Bucket& b = buckets[static_cast<size_t>(user)];
        if (b.pending) b.pending->wait();  // a failure surfaces here
        b.pending.reset();
        b.flat = at::Tensor();
      }
      send_user[j] = static_cast<long>(k);
      return send[j];
    };
    for (size_t j = 0; j < send.size(); ++j)
      if (send_user[j] < 0) return take(j);
    for (size_t j = 0; j < send.size(); ++j) {
      const auto& pending = buckets[static_cast<size_t>(send_user[j])].pending;
      if (!pending || pending->done()) return take(j);
    }
    if (send.size() < kSendBuffers) {
      send.push_back(at::empty({send_elements}, at::kFloat));
      send_user.push_back(-1);
      return take(send.size() - 1);
    }
    return take(static_cast<size_t>(std::min_element(send_user.begin(), send_user.end()) - send_user.begin()));
  }

  // The sum of a bucket this rank keeps, made its parameters' gradients: views into the buffer where
  // the parameter is an fp32 host tensor (no copy), else copied to where the parameter lives.
  void put_back(Bucket& b) {
    int64_t at_ = 0;
    for (size_t i : b.members) {
      at::Tensor& p = params[i];
      at::Tensor sum = b.flat.narrow(0, at_, p.numel()).view(p.sizes());
      if (p.device().is_cpu() && p.scalar_type() == at::kFloat) p.mutable_grad() = sum;
      else if (p.grad().defined()) p.mutable_grad().copy_(sum);
      else p.mutable_grad() = sum.to(p.device(), p.scalar_type(), /*non_blocking=*/false, /*copy=*/true);
      at_ += p.numel();
    }
  }
};

GradientSync::GradientSync(run::Collective& group, const std::vector<std::pair<std::string, at::Tensor>>& named,
                           Options options)
    : impl_(std::make_unique<Impl>(group)) {
  for (const auto& [name, t] : named) impl_->params.push_back(t);
  impl_->overlap = options.overlap;
  if (group.world_size() == 1) return;
  impl_->layout(named, options.owners, options.bucket_bytes);
  impl_->hook_accumulators();
}

GradientSync::~GradientSync() {
  for (auto& [acc, key] : impl_->hooks) acc->del_post_hook(key);
}

void GradientSync::begin() {
  Impl& s = *impl_;
  if (s.group.world_size() == 1) return;
  at::NoGradGuard no_grad;
  for (Impl::Bucket& b : s.buckets) {
    if (!b.keep) continue;
    at::Tensor& buffer = s.kept(b);
    int64_t at_ = 0;
    for (size_t i : b.members) {
      at::Tensor& p = s.params[i];
      const bool host_fp32 = p.device().is_cpu() && p.scalar_type() == at::kFloat;
      if (host_fp32 && p.requires_grad() && !p.grad().defined()) {
        at::Tensor slot = buffer.narrow(0, at_, p.numel());
        slot.zero_();
        p.mutable_grad() = slot.view(p.sizes());
      }
      at_ += p.numel();
    }
  }
}

void GradientSync::arm() {
  std::lock_guard<std::mutex> lock(impl_->mu);
  impl_->armed = impl_->overlap && impl_->group.world_size() > 1;
}

void GradientSync::finish() {
  Impl& s = *impl_;
  if (s.group.world_size() == 1) return;
  {
    std::lock_guard<std::mutex> lock(s.mu);
    s.armed = false;
    while (s.next < s.buckets.size()) s.start(s.next++);
  }
  for (Impl::Bucket& b : s.buckets) {
    if (b.pending) b.pending->wait();
    b.pending.reset();
    if (b.keep) s.put_back(b);
    b.flat = at::Tensor();
    b.landed = 0;
  }
  std::fill(s.send_user.begin(), s.send_user.end(), -1);
  s.next = 0;
}

int64_t GradientSync::gradient_bytes() const {
  int64_t n = 0;
  for (const at::Tensor& p : impl_->params)
    if (p.grad().defined()) n += p.grad().numel() * static_cast<int64_t>(p.grad().element_size());
  return n;
}

}  // namespace r1::trainer
