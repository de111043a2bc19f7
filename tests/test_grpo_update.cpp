// trainer/grpo_step.h: one GRPO update of a policy (a model and its optimiser) on a batch of scored
// groups; a non-finite loss is skipped, leaving every weight as it was.
#include <ATen/ATen.h>

#include <catch2/catch.hpp>
#include <cmath>
#include <map>

#include "model/transformer.h"
#include "trainer/grpo_step.h"
#include "trainer/optim.h"

using namespace r1::trainer;

TEST_CASE("a non-finite loss skips the update and leaves every weight as it was", "[grpo]") {
  r1::model::Transformer m(r1::checkpoint::preset_config("qwen2", "tiny", 50), at::kFloat);
  m.init_random(5);
  for (auto& p : m.parameters()) p.requires_grad_(true);
  std::vector<std::pair<std::string, at::Tensor>> named(m.weights().begin(), m.weights().end());
  r1::run::OptimConfig oc;
  oc.lr = 0.01;
  Optimizer opt(named, oc, 10);
  const std::vector<int64_t> prompt = {1, 2, 3};
  std::vector<r1::run::ScoredSample> group(2);
  for (int i = 0; i < 2; ++i) {
    group[i].prompt_ids = &prompt;
    group[i].ids = {4, 5, static_cast<int64_t>(6 + i)};
    group[i].logprobs = {-1.f, -1.f, -1.f};
  }
  group[0].advantage = std::nan("");
  group[1].advantage = 1.0;
  r1::run::GrpoConfig c;
  c.max_new_tokens = 4;
  std::map<std::string, at::Tensor> before;
  for (const auto& [n, t] : m.weights()) before[n] = t.detach().clone();
  TrainedPolicy policy{m, opt};
  StepUpdate u = grpo_update(policy, TrainBatch::from_groups({group}, false), UpdateOptions::of(c, 0));
  CHECK(u.skipped);
  CHECK(u.non_finite);
  CHECK(u.optimizer_steps == 0);
  for (const auto& [n, t] : m.weights()) CHECK(at::equal(before[n], t.detach()));
  // The same batch with finite advantages trains.
  group[0].advantage = -1.0;
  u = grpo_update(policy, TrainBatch::from_groups({group}, false), UpdateOptions::of(c, 0));
  CHECK_FALSE(u.skipped);
  CHECK(u.optimizer_steps == 1);
  CHECK_FALSE(at::equal(before["model.norm.weight"], m.weights().at("model.norm.weight").detach()));
}

TEST_CASE("a run whose updates keep failing stops, naming why, and a step with nothing to train on is no failure", "[grpo]") {
  StepUpdate ok, nan, nothing;
  nan.skipped = nan.non_finite = true;
  nothing.skipped = true;
  {
    NonFiniteGuard guard;  // 9 failures in a row, then a good step: the streak starts again
    for (int64_t s = 0; s < 9; ++s) guard.record(s, nan);
    guard.record(9, ok);
    for (int64_t s = 10; s < 19; ++s) guard.record(s, nan);
    CHECK_NOTHROW(guard.finish());
    CHECK_THROWS_WITH(guard.record(19, nan), Catch::Contains("steps 11-20: 10 updates in a row had a non-finite loss"));
  }
  {
    NonFiniteGuard guard;  // a short run where every step failed
    for (int64_t s = 0; s < 3; ++s) guard.record(s, nan);
    CHECK_THROWS_WITH(guard.finish(), Catch::Contains("every one of the run's 3 steps had a non-finite loss"));
  }
  {
    NonFiniteGuard guard;  // no learning signal is not divergence
    for (int64_t s = 0; s < 30; ++s) guard.record(s, nothing);
    CHECK_NOTHROW(guard.finish());
  }
  CHECK_NOTHROW(NonFiniteGuard().finish());  // a resumed run with nothing left to do
}

TEST_CASE("tool tokens carry no importance weight: their rollout log-probabilities change nothing, and the batch keeps its masks across ranks", "[grpo][tools]") {
  auto update_with = [](float tool_logprob) {
    r1::model::Transformer m(r1::checkpoint::preset_config("qwen2", "tiny", 50), at::kFloat);
    m.init_random(8);
    for (auto& p : m.parameters()) p.requires_grad_(true);
    std::vector<std::pair<std::string, at::Tensor>> named(m.weights().begin(), m.weights().end());
    r1::run::OptimConfig oc;
    oc.lr = 0.01;
    Optimizer opt(named, oc, 10);
    const std::vector<int64_t> prompt = {1, 2, 3};
    std::vector<r1::run::ScoredSample> group(2);
    for (int i = 0; i < 2; ++i) {
      group[i].prompt_ids = &prompt;
      group[i].ids = {4, 5, 30, 31, static_cast<int64_t>(6 + i)};
      group[i].sampled = {1, 1, 0, 0, 1};
      // Rollout log-probabilities off the policy's, so the importance weights matter; tool tokens' are
      // whatever the worker sent (0 by the seam's rule; here anything).
      group[i].logprobs = {-2.f, -3.f, tool_logprob, tool_logprob, -1.f};
      group[i].advantage = i == 0 ? 1.0 : -1.0;
    }
    r1::run::GrpoConfig c;
    c.max_new_tokens = 8;
    c.loss.aggregation = r1::run::LossAggregation::kTokenMean;
    TrainBatch batch = TrainBatch::from_groups({group}, false);
    TrainBatch round = TrainBatch::decode(batch.encode());
    REQUIRE(round.sequences.size() == 2);
    CHECK(round.sequences[0].sampled == std::vector<uint8_t>{1, 1, 0, 0, 1});
    TrainedPolicy policy{m, opt};
    StepUpdate u = grpo_update(policy, round, UpdateOptions::of(c, 0));
    CHECK_FALSE(u.skipped);
    std::map<std::string, at::Tensor> after;
    for (const auto& [n, t] : m.weights()) after[n] = t.detach().clone();
    return after;
  };
  const auto a = update_with(0.0f), b = update_with(-50.0f);
  for (const auto& [n, t] : a) CHECK(at::equal(t, b.at(n)));
}
