// The GRPO objective against values computed by hand (trainer/grpo.h), and against an independent
// PyTorch implementation of TRL's formulas (tests/reference/grpo_objective.py).
#include <ATen/ATen.h>
#include <torch/csrc/autograd/autograd.h>

#include <catch2/catch.hpp>
#include <nlohmann/json.hpp>
#include <unistd.h>

#include <cmath>
#include <cstdlib>
#include <filesystem>
#include <fstream>
#include <random>

#include "core/error.h"
#include "trainer/grpo.h"

using namespace r1::trainer;
using Catch::Matchers::WithinAbs;

namespace {

at::Tensor row(std::vector<float> v) { return at::tensor(v, at::kFloat).view({1, -1}); }

// A one-sequence batch whose tokens have the given ratios π_θ/π_old (old log-probs fixed at log 0.5).
GrpoBatch ratios_batch(const std::vector<float>& ratios, double advantage) {
  std::vector<float> old(ratios.size(), std::log(0.5f)), now;
  for (float r : ratios) now.push_back(std::log(0.5f * r));
  GrpoBatch b;
  b.logprobs = row(now).set_requires_grad(true);
  b.old_logprobs = row(old);
  b.rollout_logprobs = row(old);
  b.advantages = at::tensor(std::vector<float>{static_cast<float>(advantage)});
  b.mask = at::ones({1, static_cast<int64_t>(ratios.size())});
  return b;
}

}  // namespace

TEST_CASE("group advantages: (r - mean) / (std + eps) per group, population std", "[grpo]") {
  // Group {1, 0, 0, 0}: mean 0.25, std sqrt(0.1875) = 0.4330127.
  auto a = group_advantages({1, 0, 0, 0, 0.5, 0.5, 0.5, 0.5}, 4, r1::run::AdvantageScale::kGroup, 0.0);
  REQUIRE(a.size() == 8);
  CHECK_THAT(a[0], WithinAbs(0.75 / 0.4330127, 1e-6));
  CHECK_THAT(a[1], WithinAbs(-0.25 / 0.4330127, 1e-6));
  // An all-equal group has advantage 0, not NaN (eps keeps the division finite).
  a = group_advantages({1, 0, 0, 0, 0.5, 0.5, 0.5, 0.5}, 4, r1::run::AdvantageScale::kGroup, 1e-4);
  CHECK_THAT(a[0], WithinAbs(0.75 / (0.4330127 + 1e-4), 1e-6));
  for (int i = 4; i < 8; ++i) CHECK(a[i] == 0.0);
}

TEST_CASE("group advantages: batch scale and none (Dr. GRPO)", "[grpo]") {
  // Batch {1, 0, 1, 1}: std over all four = sqrt(0.1875); group means 0.5 and 1.
  auto a = group_advantages({1, 0, 1, 1}, 2, r1::run::AdvantageScale::kBatch, 0.0);
  CHECK_THAT(a[0], WithinAbs(0.5 / 0.4330127, 1e-6));
  CHECK_THAT(a[1], WithinAbs(-0.5 / 0.4330127, 1e-6));
  CHECK(a[2] == 0.0);
  a = group_advantages({1, 0, 3, 1}, 2, r1::run::AdvantageScale::kNone);
  CHECK(a == std::vector<double>{0.5, -0.5, 1.0, -1.0});
  CHECK_THROWS_AS(group_advantages({1, 0, 1}, 2, r1::run::AdvantageScale::kGroup), r1::Error);
}

TEST_CASE("dynamic sampling: degenerate groups", "[grpo]") {
  const double same[] = {1, 1, 1}, mixed[] = {1, 1, 0};
  CHECK(group_is_degenerate(same, 3));
  CHECK_FALSE(group_is_degenerate(mixed, 3));
}

TEST_CASE("clipped surrogate: the four cases of min(ρA, clip(ρ)A)", "[grpo]") {
  r1::run::GrpoLossOptions o;
  o.clip_low = 0.2;
  o.clip_high = 0.28;  // clip-higher
  o.aggregation = r1::run::LossAggregation::kTokenMean;
  o.importance = r1::run::ImportanceLevel::kNone;
  GrpoNorm n{1, 1, 1};
  struct Case { float ratio; double adv, loss, grad; bool clipped; };
  // d loss/d log π = -A·ρ where the unclipped term is the minimum, 0 where the clip took effect.
  for (const Case& c : {Case{1.5f, 1.0, -1.28, 0.0, true}, Case{0.5f, 1.0, -0.5, -0.5, false},
                        Case{0.5f, -1.0, 0.8, 0.0, true}, Case{1.5f, -1.0, 1.5, 1.5, false},
                        Case{1.1f, 2.0, -2.2, -2.2, false}}) {
    GrpoBatch b = ratios_batch({c.ratio}, c.adv);
    GrpoLoss l = grpo_loss(b, o, n);
    CHECK_THAT(l.loss.item<double>(), WithinAbs(c.loss, 1e-5));
    l.loss.backward();
    CHECK_THAT(b.logprobs.grad()[0][0].item<double>(), WithinAbs(c.grad, 1e-5));
    CHECK(l.stats.clipped == (c.clipped ? 1.0 : 0.0));
    CHECK_THAT(l.stats.ratio, WithinAbs(c.ratio, 1e-5));
  }
}

TEST_CASE("loss aggregation: seq-mean-token-mean, token-mean, seq-mean-token-sum-norm", "[grpo]") {
  // Two sequences: lengths 1 and 3 (the second row's 4th position is padding). Ratio 1, so the
  // per-token loss is -A: sequence 0 has A = 1, sequence 1 has A = -2.
  GrpoBatch b;
  b.logprobs = at::full({2, 4}, std::log(0.5), at::kFloat).set_requires_grad(true);
  b.old_logprobs = at::full({2, 4}, std::log(0.5), at::kFloat);
  b.advantages = at::tensor(std::vector<float>{1.0f, -2.0f});
  b.mask = at::tensor(std::vector<float>{1, 0, 0, 0, 1, 1, 1, 0}).view({2, 4});
  r1::run::GrpoLossOptions o;
  o.importance = r1::run::ImportanceLevel::kNone;
  GrpoNorm n{2, 4, 8};
  o.aggregation = r1::run::LossAggregation::kSeqMeanTokenMean;
  CHECK_THAT(grpo_loss(b, o, n).loss.item<double>(), WithinAbs((-1.0 / 1 + 6.0 / 3) / 2, 1e-6));
  o.aggregation = r1::run::LossAggregation::kTokenMean;
  CHECK_THAT(grpo_loss(b, o, n).loss.item<double>(), WithinAbs((-1.0 + 6.0) / 4, 1e-6));
  o.aggregation = r1::run::LossAggregation::kSeqMeanTokenSumNorm;
  CHECK_THAT(grpo_loss(b, o, n).loss.item<double>(), WithinAbs((-1.0 + 6.0) / (2 * 8), 1e-6));
  // Padding gets no gradient.
  GrpoLoss l = grpo_loss(b, o, n);
  l.loss.backward();
  CHECK(b.logprobs.grad()[1][3].item<double>() == 0.0);
  CHECK(b.logprobs.grad()[0][2].item<double>() == 0.0);
  CHECK(l.stats.tokens == 4);
}

TEST_CASE("k3 KL to the reference, weighted by beta", "[grpo]") {
  // log π_ref - log π_θ = log 2: k3 = 2 - log 2 - 1 = 0.3068528; advantage 0 leaves only the KL.
  GrpoBatch b = ratios_batch({1.0f}, 0.0);
  b.ref_logprobs = row({std::log(1.0f)});  // π_ref = 1, π_θ = 0.5
  r1::run::GrpoLossOptions o;
  o.beta = 0.04;
  o.importance = r1::run::ImportanceLevel::kNone;
  GrpoLoss l = grpo_loss(b, o, GrpoNorm{1, 1, 1});
  CHECK_THAT(l.stats.kl, WithinAbs(2 - std::log(2.0) - 1, 1e-6));
  CHECK_THAT(l.loss.item<double>(), WithinAbs(0.04 * (2 - std::log(2.0) - 1), 1e-6));
  // d k3 / d log π_θ = 1 - π_ref/π_θ = 1 - 2 = -1.
  l.loss.backward();
  CHECK_THAT(b.logprobs.grad()[0][0].item<double>(), WithinAbs(0.04 * -1.0, 1e-6));
  // k3 is zero where the policy equals the reference, and never negative.
  b.ref_logprobs = b.old_logprobs.clone();
  CHECK_THAT(grpo_loss(b, o, GrpoNorm{1, 1, 1}).stats.kl, WithinAbs(0.0, 1e-7));
  o.beta = 0.1;
  b.ref_logprobs = at::Tensor();
  CHECK_THROWS_AS(grpo_loss(b, o, GrpoNorm{1, 1, 1}), r1::Error);
}

TEST_CASE("truncated importance sampling: token and sequence level, capped at C", "[grpo]") {
  // Ratio 1 (π_θ = π_old), A = 1: pg = -1 per token. π_old/π_rollout = 3 (capped to 2) and 0.5.
  GrpoBatch b = ratios_batch({1.0f, 1.0f}, 1.0);
  b.rollout_logprobs = row({std::log(0.5f / 3), std::log(0.5f / 0.5f)});
  r1::run::GrpoLossOptions o;
  o.aggregation = r1::run::LossAggregation::kTokenMean;
  o.importance_cap = 2.0;
  o.importance = r1::run::ImportanceLevel::kToken;
  GrpoLoss l = grpo_loss(b, o, GrpoNorm{1, 2, 2});
  CHECK_THAT(l.loss.item<double>(), WithinAbs((-2.0 - 0.5) / 2, 1e-5));
  CHECK(l.stats.is_capped == 1);
  CHECK_THAT(l.stats.is_weight_max, WithinAbs(2.0, 1e-6));
  CHECK_THAT(l.stats.is_weight, WithinAbs(2.5, 1e-5));
  // The weight is a constant: the gradient is -A·ρ·w.
  l.loss.backward();
  CHECK_THAT(b.logprobs.grad()[0][0].item<double>(), WithinAbs(-2.0 / 2, 1e-5));
  CHECK_THAT(b.logprobs.grad()[0][1].item<double>(), WithinAbs(-0.5 / 2, 1e-5));
  // Sequence level: the product 3 · 0.5 = 1.5 (under the cap) weighs both tokens.
  o.importance = r1::run::ImportanceLevel::kSequence;
  l = grpo_loss(b, o, GrpoNorm{1, 2, 2});
  CHECK_THAT(l.loss.item<double>(), WithinAbs(-1.5, 1e-5));
  CHECK(l.stats.is_capped == 0);
  o.importance = r1::run::ImportanceLevel::kNone;
  CHECK_THAT(grpo_loss(b, o, GrpoNorm{1, 2, 2}).loss.item<double>(), WithinAbs(-1.0, 1e-6));
}

TEST_CASE("micro-batches accumulate to the gradient of the whole batch", "[grpo]") {
  at::manual_seed(3);
  const int64_t B = 6, T = 5;
  at::Tensor logits = at::randn({B, T}).set_requires_grad(true);
  at::Tensor old = at::randn({B, T}) * 0.1 - 1;
  at::Tensor rollout = old + at::randn({B, T}) * 0.05;
  at::Tensor ref = old + at::randn({B, T}) * 0.1;
  at::Tensor adv = at::randn({B});
  at::Tensor mask = (at::rand({B, T}) > 0.3).to(at::kFloat);
  mask.select(1, 0).fill_(1);
  for (auto agg : {r1::run::LossAggregation::kSeqMeanTokenMean, r1::run::LossAggregation::kTokenMean, r1::run::LossAggregation::kSeqMeanTokenSumNorm}) {
    r1::run::GrpoLossOptions o;
    o.aggregation = agg;
    o.beta = 0.05;
    GrpoNorm n{static_cast<double>(B), mask.sum().item<double>(), static_cast<double>(T)};
    auto lp_of = [&](int64_t from, int64_t len) { return at::log_sigmoid(logits.narrow(0, from, len)) ; };
    auto batch = [&](int64_t from, int64_t len) {
      GrpoBatch b;
      b.logprobs = lp_of(from, len);
      b.old_logprobs = old.narrow(0, from, len);
      b.rollout_logprobs = rollout.narrow(0, from, len);
      b.ref_logprobs = ref.narrow(0, from, len);
      b.advantages = adv.narrow(0, from, len);
      b.mask = mask.narrow(0, from, len);
      return b;
    };
    at::Tensor whole = grpo_loss(batch(0, B), o, n).loss;
    at::Tensor g_whole = torch::autograd::grad({whole}, {logits})[0];
    at::Tensor parts = grpo_loss(batch(0, 2), o, n).loss + grpo_loss(batch(2, 4), o, n).loss;
    at::Tensor g_parts = torch::autograd::grad({parts}, {logits})[0];
    CHECK_THAT(whole.item<double>(), WithinAbs(parts.item<double>(), 1e-6));
    CHECK(at::allclose(g_whole, g_parts, 1e-5, 1e-7));
  }
}

TEST_CASE("option names parse, typos are refused", "[grpo]") {
  CHECK(r1::run::parse_advantage_scale("none") == r1::run::AdvantageScale::kNone);
  CHECK(r1::run::parse_loss_aggregation("token-mean") == r1::run::LossAggregation::kTokenMean);
  CHECK(r1::run::parse_importance_level("sequence") == r1::run::ImportanceLevel::kSequence);
  CHECK_THROWS_WITH(r1::run::parse_loss_aggregation("token_mean"), Catch::Contains("token-mean"));
  CHECK_THROWS_AS(r1::run::parse_advantage_scale("grp"), r1::ConfigError);
}

TEST_CASE("the objective agrees with an independent PyTorch implementation of TRL's formulas", "[grpo]") {
  // tests/reference/grpo_objective.py computes the loss, its gradient with respect to the log-probs,
  // the k3 KL and the importance weights in float64 from the formulas alone; r1 computes in float32.
  REQUIRE(std::system("/usr/bin/python3 -c 'import torch' 2>/dev/null") == 0);  // python3-torch (scripts/setup.sh)
  std::mt19937 rng(2025);
  std::normal_distribution<float> noise(0.f, 0.3f);
  std::uniform_real_distribution<float> logp(-4.f, -0.05f);
  const std::vector<std::pair<r1::run::LossAggregation, const char*>> aggregations = {
      {r1::run::LossAggregation::kSeqMeanTokenMean, "grpo"},
      {r1::run::LossAggregation::kTokenMean, "dapo"},
      {r1::run::LossAggregation::kSeqMeanTokenSumNorm, "dr_grpo"}};
  const std::vector<std::pair<r1::run::ImportanceLevel, const char*>> levels = {
      {r1::run::ImportanceLevel::kNone, "none"}, {r1::run::ImportanceLevel::kToken, "token"}, {r1::run::ImportanceLevel::kSequence, "sequence"}};
  struct Case {
    GrpoBatch batch;
    r1::run::GrpoLossOptions options;
    GrpoNorm norm;
  };
  std::vector<Case> cases;
  nlohmann::json input = nlohmann::json::array();
  const int64_t B = 5, T = 7;
  for (const auto& [aggregation, loss_type] : aggregations)
    for (const auto& [level, level_name] : levels)
      for (double beta : {0.0, 0.04}) {
        Case c;
        c.options.aggregation = aggregation;
        c.options.importance = level;
        c.options.beta = beta;
        c.options.clip_low = 0.2;
        c.options.clip_high = 0.28;  // DAPO's clip-higher
        c.options.importance_cap = 1.5;
        std::vector<float> lp(B * T), old(B * T), rollout(B * T), ref(B * T), mask(B * T), adv(B);
        for (int64_t i = 0; i < B * T; ++i) {
          old[i] = logp(rng);
          lp[i] = old[i] + noise(rng);  // ratios on both sides of the clip range
          rollout[i] = old[i] + 0.5f * noise(rng);
          ref[i] = old[i] + noise(rng);
          mask[i] = (i % T) < T - (i / T) % 3 ? 1.f : 0.f;  // ragged lengths: padding at the end
        }
        for (auto& a : adv) a = 2.f * noise(rng);
        auto tensor = [&](const std::vector<float>& v, bool grad = false) {
          return at::tensor(v, at::kFloat).view({B, T}).set_requires_grad(grad);
        };
        c.batch.logprobs = tensor(lp, true);
        c.batch.old_logprobs = tensor(old);
        c.batch.rollout_logprobs = tensor(rollout);
        c.batch.ref_logprobs = tensor(ref);
        c.batch.advantages = at::tensor(adv, at::kFloat);
        c.batch.mask = tensor(mask);
        c.norm.sequences = B;
        c.norm.tokens = at::tensor(mask).sum().item<double>();
        c.norm.max_length = T + 3;  // the completion-length limit, longer than any row here
        auto nested = [&](const std::vector<float>& v) {
          nlohmann::json rows = nlohmann::json::array();
          for (int64_t b = 0; b < B; ++b) rows.push_back(std::vector<double>(v.begin() + b * T, v.begin() + (b + 1) * T));
          return rows;
        };
        input.push_back({{"logprobs", nested(lp)}, {"old_logprobs", nested(old)}, {"rollout_logprobs", nested(rollout)},
                         {"ref_logprobs", nested(ref)}, {"mask", nested(mask)},
                         {"advantages", std::vector<double>(adv.begin(), adv.end())},
                         {"options", {{"clip_low", 0.2}, {"clip_high", 0.28}, {"beta", beta}, {"cap", 1.5},
                                      {"importance", level_name}, {"loss_type", loss_type}}},
                         {"norm", {{"sequences", c.norm.sequences}, {"tokens", c.norm.tokens}, {"max_length", c.norm.max_length}}}});
        cases.push_back(std::move(c));
      }
  const std::string dir = "/tmp/r1_test_grpo_reference_" + std::to_string(::getpid());
  std::filesystem::create_directories(dir);
  { std::ofstream(dir + "/in.json") << input.dump(); }
  const std::string cmd = "/usr/bin/python3 " R1_SOURCE_DIR "/tests/reference/grpo_objective.py < " + dir + "/in.json > " +
                          dir + "/out.json";
  REQUIRE(std::system(cmd.c_str()) == 0);
  std::ifstream in(dir + "/out.json");
  const nlohmann::json want = nlohmann::json::parse(in);
  std::filesystem::remove_all(dir);
  REQUIRE(want.size() == cases.size());
  for (size_t k = 0; k < cases.size(); ++k) {
    INFO("case " << k << ": " << input[k]["options"].dump());
    Case& c = cases[k];
    GrpoLoss got = grpo_loss(c.batch, c.options, c.norm);
    got.loss.backward();
    CHECK_THAT(got.loss.item<double>(), WithinAbs(want[k]["loss"].get<double>(), 1e-6));
    if (c.options.beta > 0)  // r1 measures the KL only when it is part of the loss
      CHECK_THAT(got.stats.kl, WithinAbs(want[k]["kl_sum"].get<double>(), 1e-5 * std::max(1.0, std::abs(got.stats.kl))));
    CHECK_THAT(got.stats.is_weight, WithinAbs(want[k]["importance_sum"].get<double>(), 1e-6 * 35));
    const at::Tensor grad = c.batch.logprobs.grad();
    double worst = 0;
    for (int64_t b = 0; b < B; ++b)
      for (int64_t t = 0; t < T; ++t)
        worst = std::max(worst, std::abs(grad[b][t].item<double>() - want[k]["grad"][b][t].get<double>()));
    CHECK(worst < 1e-6);
  }
}
