// trainer/logprobs.h: micro-batches under a token budget, and log-probabilities of completions scored
// in a padded micro-batch against each scored alone.
#include <ATen/ATen.h>

#include <catch2/catch.hpp>
#include <map>

#include "model/transformer.h"
#include "trainer/logprobs.h"

using namespace r1::trainer;
using Catch::Matchers::WithinAbs;

TEST_CASE("micro-batches stay under the token budget and keep order", "[logprobs]") {
  std::vector<TokenSequence> s = {{{1, 2}, {3}}, {{1}, {2, 3, 4}}, {{1, 2, 3, 4, 5}, {6, 7, 8}}, {{1}, {2}}};
  auto mb = micro_batches(s, 8);  // sizes 3, 4, 8, 2
  REQUIRE(mb.size() == 3);
  CHECK(mb[0] == std::vector<size_t>{0, 1});  // 2 x 4 = 8
  CHECK(mb[1] == std::vector<size_t>{2});
  CHECK(mb[2] == std::vector<size_t>{3});
  CHECK(micro_batches(s, 1).size() == 4);  // longer than the budget: alone
}

TEST_CASE("scoring completions in a padded micro-batch equals scoring each alone", "[logprobs]") {
  r1::model::Transformer m(r1::checkpoint::preset_config("qwen2", "tiny", 50), at::kFloat);
  m.init_random(3);
  std::vector<TokenSequence> s = {{{1, 2, 3}, {4, 5}}, {{7}, {8, 9, 10, 11}}, {{12, 13, 14, 15, 16}, {17}}};
  CompletionScores all = score_completions(m, s, {0, 1, 2});
  REQUIRE(all.logprobs.sizes() == std::vector<int64_t>{3, 4});
  for (size_t i = 0; i < s.size(); ++i) {
    // By hand: the full sequence's log-softmax at each completion token.
    std::vector<int64_t> ids = s[i].prompt;
    ids.insert(ids.end(), s[i].completion.begin(), s[i].completion.end());
    at::Tensor lsm = at::log_softmax(m.logits(m.forward(at::tensor(ids, at::kLong).view({1, -1}))), -1)[0];
    const int64_t P = static_cast<int64_t>(s[i].prompt.size());
    for (size_t t = 0; t < s[i].completion.size(); ++t) {
      const double want = lsm[P - 1 + static_cast<int64_t>(t)][s[i].completion[t]].item<double>();
      CHECK_THAT(all.logprobs[static_cast<int64_t>(i)][static_cast<int64_t>(t)].item<double>(), WithinAbs(want, 1e-5));
      CHECK(all.mask[static_cast<int64_t>(i)][static_cast<int64_t>(t)].item<double>() == 1.0);
    }
    for (size_t t = s[i].completion.size(); t < 4; ++t) CHECK(all.mask[static_cast<int64_t>(i)][static_cast<int64_t>(t)].item<double>() == 0.0);
  }
  // Gradients flow to the weights.
  for (auto& p : m.parameters()) p.requires_grad_(true);
  CompletionScores g = score_completions(m, s, {0, 2});
  (g.logprobs * g.mask).sum().backward();
  CHECK(m.weights().at("model.embed_tokens.weight").grad().abs().sum().item<double>() > 0);
}

TEST_CASE("tool tokens in a completion are context only: no log-probability, no mask, no gradient", "[logprobs][tools]") {
  r1::model::Transformer m(r1::checkpoint::preset_config("qwen2", "tiny", 50), at::kFloat);
  m.init_random(4);
  for (auto& p : m.parameters()) p.requires_grad_(true);
  // Sampled 4 5 | tool 30 31 32 | sampled 6 7.
  TokenSequence s{{1, 2, 3}, {4, 5, 30, 31, 32, 6, 7}, {1, 1, 0, 0, 0, 1, 1}};
  CHECK(s.sampled_tokens() == 4);
  CompletionScores g = score_completions(m, {s}, {0});
  for (int64_t t = 0; t < 7; ++t) {
    const bool sampled = s.sampled[static_cast<size_t>(t)] != 0;
    CHECK(g.mask[0][t].item<double>() == (sampled ? 1.0 : 0.0));
    if (!sampled) CHECK(g.logprobs[0][t].item<double>() == 0.0);
  }
  (g.logprobs * g.mask).sum().backward();
  std::map<std::string, at::Tensor> got;
  for (const auto& [n, t] : m.weights()) {
    got[n] = t.grad().clone();
    t.mutable_grad().zero_();
  }
  // By hand: the whole sequence through the model, the sampled tokens' log-probabilities summed. The
  // tool tokens shape what follows them (they are inputs) but are no one's target.
  std::vector<int64_t> ids = s.prompt;
  ids.insert(ids.end(), s.completion.begin(), s.completion.end());
  at::Tensor lsm = at::log_softmax(m.logits(m.forward(at::tensor(ids, at::kLong).view({1, -1}))), -1)[0];
  at::Tensor want = at::zeros({}, at::kFloat);
  for (int64_t t = 0; t < 7; ++t)
    if (s.sampled[static_cast<size_t>(t)]) {
      want = want + lsm[2 + t][s.completion[static_cast<size_t>(t)]];
      CHECK_THAT(g.logprobs[0][t].item<double>(), WithinAbs(lsm[2 + t][s.completion[static_cast<size_t>(t)]].item<double>(), 1e-5));
    }
  want.backward();
  for (const auto& [n, t] : m.weights()) CHECK(at::allclose(got[n], t.grad(), 1e-4, 1e-5));
  // A mask of the wrong length is refused, naming what is wrong.
  TokenSequence bad{{1}, {2, 3}, {1}};
  CHECK_THROWS_WITH(score_completions(m, {bad}, {0}), Catch::Contains("marks 1 of its 2"));
}
