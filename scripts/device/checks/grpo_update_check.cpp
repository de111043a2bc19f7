// r1's side of the GRPO-update comparison with plain PyTorch (scripts/device/exactness.py): one
// grpo_update on a batch given as JSON, with token-mean aggregation, no importance correction, β = 0 and
// μ = 1 (so ρ = 1 at the forward and the loss is -(1/ΣL) Σ_i A_i Σ_t ρ_it), on a device, in bf16 products
// over fp32 weights on a GPU (fp32 on the CPU); prints {"loss", "grad_norm", "tokens"} as one JSON line.
//
//   r1_grpo_update_check MODEL_DIR BATCH_JSON DEVICE
//   BATCH_JSON: {"prompts": [[ids]], "completions": [[ids]], "advantages": [a]}
#include <ATen/ATen.h>
#include <nlohmann/json.hpp>

#include <cstdio>
#include <fstream>

#include "core/choices.h"
#include "model/device.h"
#include "model/transformer.h"
#include "trainer/grpo_step.h"
#include "trainer/optim.h"

int main(int argc, char** argv) {
  if (argc != 4) {
    std::fprintf(stderr, "usage: r1_grpo_update_check MODEL_DIR BATCH_JSON DEVICE\n");
    return 2;
  }
  try {
    namespace t = r1::trainer;
    const at::Device device = r1::model::resolve_device(r1::parse_device(argv[3], "device"), "device");
    r1::model::Transformer m = r1::model::Transformer::load(argv[1], at::kFloat, device);
    for (auto& p : m.parameters()) p.requires_grad_(true);
    m.set_compute_dtype(device.is_cuda() ? at::kBFloat16 : at::kFloat);
    std::ifstream in(argv[2]);
    const nlohmann::json j = nlohmann::json::parse(in);
    t::TrainBatch batch;
    int64_t longest = 1;
    for (size_t i = 0; i < j.at("prompts").size(); ++i) {
      t::TokenSequence s{j["prompts"][i].get<std::vector<int64_t>>(), j["completions"][i].get<std::vector<int64_t>>()};
      longest = std::max<int64_t>(longest, static_cast<int64_t>(s.completion.size()));
      batch.rollout_logprobs.emplace_back(s.completion.size(), 0.0f);
      batch.sequences.push_back(std::move(s));
      batch.advantages.push_back(j["advantages"][i].get<double>());
      batch.group.push_back(i);
    }
    batch.groups = batch.sequences.size();
    r1::run::OptimConfig oc;
    oc.lr = 0;  // the gradient is what is compared; the weights stay as they are
    std::vector<std::pair<std::string, at::Tensor>> named(m.weights().begin(), m.weights().end());
    t::Optimizer optim(named, oc, 1);
    t::TrainedPolicy policy{m, optim, nullptr};
    t::UpdateOptions o;
    o.loss.aggregation = r1::run::LossAggregation::kTokenMean;
    o.loss.importance = r1::run::ImportanceLevel::kNone;
    o.loss.beta = 0;
    o.micro_batch_tokens = 4096;
    o.max_new_tokens = longest;
    const t::StepUpdate u = t::grpo_update(policy, batch, o);
    std::printf("%s\n", nlohmann::json{{"loss", u.loss}, {"grad_norm", u.grad_norm}, {"tokens", u.tokens},
                                       {"skipped", u.skipped}}.dump().c_str());
  } catch (const std::exception& e) {
    std::fprintf(stderr, "r1_grpo_update_check: %s\n", e.what());
    return 1;
  }
}
