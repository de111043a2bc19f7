#include "trainer/colocated.h"

#include <ATen/ATen.h>

#include <map>

#include "core/error.h"
#include "inference/engine.h"
#include "model/lora.h"

namespace r1::trainer {
namespace {

// The policy's weights in the rollout precision, on the policy's device: a cast (bf16), a copy (fp32),
// or bf16 quantised to FP8 as a worker would. An attached adapter is not included.
std::shared_ptr<const model::Transformer> snapshot_of(const model::Transformer& policy, WeightPrecision precision) {
  at::NoGradGuard no_grad;
  const at::ScalarType dtype = precision == WeightPrecision::kFp32 ? at::kFloat : at::kBFloat16;
  model::Transformer m = model::Transformer::unfilled(policy.config(), dtype, policy.device());
  for (const auto& [name, t] : policy.weights())
    m.set_weight(name, t.detach().to(dtype, /*non_blocking=*/false, /*copy=*/true));
  if (precision == WeightPrecision::kFp8) m.quantize_fp8();
  return std::make_shared<const model::Transformer>(std::move(m));
}

// A LoRA policy's model to sample from: the base's snapshot (its tensors shared) with a copy of the
// adapter as it is now.
std::shared_ptr<const model::Transformer> with_adapter(const model::Transformer& base, const model::Transformer& policy) {
  auto m = std::make_shared<model::Transformer>(base);
  m->set_lora(policy.lora()->snapshot());
  return m;
}

}  // namespace

ColocatedEngine::ColocatedEngine(const model::Transformer& policy, uint64_t version, ColocatedOptions options)
    : options_(options), version_(version) {
  if (policy.lora()) {
    base_ = snapshot_of(policy, options.precision);
    snapshot_ = with_adapter(*base_, policy);
  } else {
    snapshot_ = snapshot_of(policy, options.precision);
  }
}

void ColocatedEngine::refresh(const model::Transformer& policy, uint64_t version) {
  auto next = base_ ? with_adapter(*base_, policy) : snapshot_of(policy, options_.precision);
  std::lock_guard<std::mutex> lock(mutex_);
  snapshot_ = std::move(next);
  version_ = version;
}

void ColocatedEngine::generate(const std::vector<rollout::GroupRequest>& requests,
                               const std::function<void(rollout::GroupResult&&)>& on_group) {
  std::shared_ptr<const model::Transformer> model;
  uint64_t version = 0;
  {
    std::lock_guard<std::mutex> lock(mutex_);
    model = snapshot_;
    version = version_;
  }
  at::NoGradGuard no_grad;
  inference::EngineOptions eo;
  eo.kv_cache_tokens = inference::kv_tokens_for_budget(*model, options_.kv_cache_mb, options_.kv_cache_fraction);
  eo.max_running = options_.max_running;
  eo.tokenizer = options_.tokenizer;
  eo.tools = options_.tools;
  // Built for this call: its KV cache is freed when the call returns, before the trainer's update.
  inference::Engine engine(model, eo, version);
  struct Pending {
    rollout::GroupResult result;
    int64_t arrived = 0;
  };
  std::map<size_t, Pending> pending;
  std::vector<rollout::GroupResult> done;
  for (size_t r = 0; r < requests.size(); ++r) {
    rollout::GroupResult& g = pending[r].result;
    g.index = r;
    g.attempts = 1;
    g.worker = "colocated";
    g.policy_version = version;
    g.completions.resize(static_cast<size_t>(std::max<int64_t>(requests[r].params.n, 0)));
    auto on_completion = [&pending, &done, r, n = requests[r].params.n](rollout::Completion&& c) {
      Pending& p = pending.at(r);
      p.result.completions[static_cast<size_t>(c.index)] = std::move(c);
      if (++p.arrived == n) {
        done.push_back(std::move(p.result));
        pending.erase(r);
      }
    };
    try {
      engine.submit(requests[r], on_completion);
    } catch (const inference::KvBudgetError& e) {
      throw Error("rollout.kv_cache_mb: " + std::string(e.what()) + " (colocated engine)");
    } catch (const Error& e) {
      throw Error("request " + std::to_string(r) + ": " + e.what());
    }
  }
  // Groups are handed on as they finish, between engine steps, on this thread.
  while (engine.step() || !done.empty()) {
    std::vector<rollout::GroupResult> ready;
    ready.swap(done);
    for (auto& g : ready) on_group(std::move(g));
  }
  if (!pending.empty()) throw Error("colocated engine: " + std::to_string(pending.size()) + " groups did not finish");
}

}  // namespace r1::trainer
