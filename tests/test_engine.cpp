// The engine: groups joining a running batch produce what they produce alone; the KV budget makes
// groups wait and is never exceeded; groups that can never fit are refused; prompt blocks are shared
// by a group's samples; cancellation frees everything; weight updates never mix versions.
// ATen first: c10 defines a glog-style CHECK that Catch's must replace, not the other way round.
#include <ATen/ATen.h>

#include <catch2/catch.hpp>

#include <atomic>
#include <chrono>
#include <filesystem>
#include <unistd.h>
#include <map>
#include <mutex>
#include <thread>

#include "core/error.h"
#include "inference/engine.h"
#include "inference/generate.h"
#include "tokenizer/byte_tokenizer.h"
#include "tokenizer/tokenizer.h"

using namespace r1::model;
using namespace r1::inference;

namespace {

std::shared_ptr<Transformer> tiny(uint64_t seed = 5) {
  auto m = std::make_shared<Transformer>(r1::checkpoint::preset_config("qwen2", "tiny", 97));
  m->init_random(seed);
  for (auto& [name, t] : m->weights())
    if (t.dim() == 2) m->weight(name) = t * 40;  // peaked distributions, so samples differ
  return m;
}

GroupRequest request(std::vector<int64_t> prompt, int64_t n, int64_t max_new, uint64_t seed, double temperature = 1.0) {
  GroupRequest q{.prompt = std::move(prompt)};
  q.params.n = n;
  q.params.max_new_tokens = max_new;
  q.params.seed = seed;
  q.params.temperature = temperature;
  return q;
}

// Completions per group, keyed by group id, sample.
struct Sink {
  std::mutex mutex;
  std::map<std::pair<uint64_t, int64_t>, Completion> got;
  std::map<std::pair<uint64_t, int64_t>, uint64_t> version;
  r1::inference::Engine::OnCompletion to(uint64_t key) {
    return [this, key](Completion&& c) {
      std::lock_guard<std::mutex> lock(mutex);
      const int64_t s = c.index;
      REQUIRE(got.count({key, s}) == 0);  // exactly once
      version[{key, s}] = c.policy_version;
      got[{key, s}] = std::move(c);
    };
  }
};

}  // namespace

TEST_CASE("engine: groups joining a running batch generate what they generate alone", "[model][engine]") {
  auto m = tiny();
  r1::inference::EngineOptions o;
  o.kv_cache_tokens = 4096;
  r1::inference::Engine engine(m, o);
  Sink sink;
  std::vector<GroupRequest> qs = {request({5, 6, 7, 8, 9, 10}, 3, 20, 1), request({42}, 2, 12, 2),
                                       request({1, 2, 3, 4, 5, 6, 7, 8, 9, 10, 11, 12, 13, 14, 15, 16, 17, 18}, 2, 9, 3),
                                       request({9, 9}, 1, 15, 4, /*temperature=*/0)};
  // The first group starts alone; the others join at steps 3, 5 and 6, while it is decoding.
  engine.submit(qs[0], sink.to(0));
  int steps = 0;
  while (engine.step()) {
    ++steps;
    if (steps == 3) engine.submit(qs[1], sink.to(1));
    if (steps == 5) engine.submit(qs[2], sink.to(2));
    if (steps == 6) {
      engine.submit(qs[3], sink.to(3));
      CHECK(engine.status().running_sequences == 7);  // 3 + 2 + 2 running, the new one not yet prefilled
      CHECK(engine.status().queued_groups == 1);
    }
  }
  CHECK(steps >= 20);
  for (size_t g = 0; g < qs.size(); ++g) {
    auto alone = r1::inference::generate(*m, {qs[g]})[0];
    for (int64_t s = 0; s < qs[g].params.n; ++s) {
      INFO("group " << g << " sample " << s);
      const Completion& c = sink.got.at({g, s});
      CHECK(c.ids == alone[static_cast<size_t>(s)].ids);
      CHECK(c.finish_reason == FinishReason::kLength);
      REQUIRE(c.logprobs.size() == alone[static_cast<size_t>(s)].logprobs.size());
      for (size_t k = 0; k < c.logprobs.size(); ++k) CHECK(c.logprobs[k] == Approx(alone[static_cast<size_t>(s)].logprobs[k]).margin(1e-4));
    }
  }
  const r1::inference::EngineStatus st = engine.status();
  CHECK(st.kv_blocks_used == 0);
  CHECK(st.running_sequences == 0);
  CHECK(st.tokens_generated == 3 * 20 + 2 * 12 + 2 * 9 + 15);
}

TEST_CASE("engine: the KV budget makes groups wait and is never exceeded", "[model][engine]") {
  auto m = tiny();
  r1::inference::EngineOptions o;
  o.kv_cache_tokens = 160;  // 10 blocks of 16
  r1::inference::Engine engine(m, o);
  // Each group: prompt 20 tokens (1 shared block), 2 samples of up to 20 + 30 - 1 = 49 tokens: 4 blocks
  // each, 3 of them their own → 1 + 2 * 3 = 7 blocks. Only one fits at a time.
  Sink sink;
  for (uint64_t g = 0; g < 4; ++g) {
    std::vector<int64_t> prompt;
    for (int i = 0; i < 20; ++i) prompt.push_back((i * 7 + static_cast<int64_t>(g)) % 97);
    engine.submit(request(prompt, 2, 30, g), sink.to(g));
  }
  int64_t most_used = 0, most_queued = 0;
  while (engine.step()) {
    const r1::inference::EngineStatus st = engine.status();
    CHECK(st.kv_blocks_used <= st.kv_blocks_total);
    most_used = std::max(most_used, st.kv_blocks_used);
    most_queued = std::max(most_queued, st.queued_groups);
    CHECK(st.running_sequences <= 2);
  }
  CHECK(most_used == 7);
  CHECK(most_queued == 3);
  CHECK(sink.got.size() == 8);
  for (auto& [key, c] : sink.got) CHECK(c.ids.size() == 30);
  CHECK(engine.status().kv_blocks_used == 0);

  // A group that can never fit is refused at once, naming the numbers.
  CHECK_THROWS_WITH(engine.submit(request(std::vector<int64_t>(100, 3), 4, 100, 0), sink.to(9)),
                    Catch::Contains("tokens of KV cache") && Catch::Contains("the budget is 160"));
  // Its own type: a worker answers it with RESOURCE_EXHAUSTED, the others with INVALID_ARGUMENT.
  CHECK_THROWS_AS(engine.submit(request(std::vector<int64_t>(100, 3), 4, 100, 0), sink.to(9)), r1::inference::KvBudgetError);
  CHECK_NOTHROW([&] {
    try {
      engine.submit(request({}, 1, 4, 0), sink.to(9));
    } catch (const r1::inference::KvBudgetError&) {
      throw;
    } catch (const r1::Error&) {
    }
  }());
  CHECK_THROWS_WITH(engine.submit(request({}, 1, 4, 0), sink.to(9)), Catch::Contains("an empty prompt"));
  CHECK_THROWS_WITH(engine.submit(request({1000}, 1, 4, 0), sink.to(9)), Catch::Contains("token id 1000 is outside"));
  CHECK(engine.status().queued_groups == 0);
}

TEST_CASE("engine: a group's samples share the prompt's full blocks", "[model][engine]") {
  auto m = tiny();
  r1::inference::EngineOptions o;
  o.kv_cache_tokens = 64 * 16;
  r1::inference::Engine engine(m, o);
  Sink sink;
  std::vector<int64_t> prompt(40, 0);
  for (int i = 0; i < 40; ++i) prompt[static_cast<size_t>(i)] = (i * 13) % 97;
  // 40 prompt tokens: 2 full blocks shared; each of 4 samples needs blocks for 40 + 24 - 1 = 63
  // tokens, 4 blocks, 2 of them its own: 2 + 4 * 2 = 10 blocks, not 16.
  engine.submit(request(prompt, 4, 24, 11), sink.to(0));
  REQUIRE(engine.step());
  CHECK(engine.status().kv_blocks_used == 10);
  while (engine.step()) {
  }
  auto alone = r1::inference::generate(*m, {request(prompt, 4, 24, 11)})[0];
  for (int64_t s = 0; s < 4; ++s) CHECK(sink.got.at({0, s}).ids == alone[static_cast<size_t>(s)].ids);
  CHECK(engine.status().kv_blocks_used == 0);
}

TEST_CASE("engine: cancelling a group ends its samples and frees their blocks", "[model][engine]") {
  auto m = tiny();
  r1::inference::EngineOptions o;
  r1::inference::Engine engine(m, o);
  Sink sink;
  auto a = engine.submit(request({1, 2, 3}, 3, 200, 1), sink.to(0));
  engine.submit(request({4, 5, 6}, 1, 10, 2), sink.to(1));
  auto queued = engine.submit(request({7, 8}, 2, 10, 3), sink.to(2));
  engine.cancel(queued);  // before it starts
  for (int i = 0; i < 4; ++i) engine.step();
  engine.cancel(a);
  engine.cancel(12345);  // unknown: ignored
  while (engine.step()) {
  }
  for (int64_t s = 0; s < 3; ++s) {
    CHECK(sink.got.at({0, s}).finish_reason == FinishReason::kAbort);
    CHECK(sink.got.at({0, s}).ids.size() == 5);  // a step prefills and decodes a new group: 2 + 3 tokens
  }
  CHECK(sink.got.at({1, 0}).finish_reason == FinishReason::kLength);
  CHECK(sink.got.at({2, 0}).finish_reason == FinishReason::kAbort);
  CHECK(sink.got.at({2, 1}).ids.empty());
  CHECK(engine.status().kv_blocks_used == 0);
}

TEST_CASE("engine: weight updates never mix versions in one sequence", "[model][engine]") {
  auto old_model = tiny(5), new_model = tiny(6);
  for (bool abort_in_flight : {false, true}) {
    INFO("abort_in_flight " << abort_in_flight);
    r1::inference::EngineOptions o;
    r1::inference::Engine engine(old_model, o, /*version=*/1);
    std::thread runner([&] { engine.run(); });
    Sink sink;
    std::atomic<int> tokens{0};
    // A long greedy group on the old weights; the update arrives while it decodes.
    engine.submit(request({3, 1, 4, 1, 5}, 2, 300, 0, 0), sink.to(0), [&](int64_t, const std::string&) {
      ++tokens;
      return true;
    });
    while (tokens < 10) std::this_thread::sleep_for(std::chrono::milliseconds(1));
    engine.update_weights(new_model, 2, abort_in_flight);
    CHECK(engine.version() == 2);
    // After the update: the new weights, tagged 2.
    engine.submit(request({3, 1, 4, 1, 5}, 1, 40, 0, 0), sink.to(1));
    while (engine.status().running_sequences > 0 || engine.status().queued_groups > 0 || sink.got.size() < 3)
      std::this_thread::sleep_for(std::chrono::milliseconds(2));
    engine.stop();
    runner.join();
    auto old_greedy = r1::inference::generate(*old_model, {request({3, 1, 4, 1, 5}, 1, 300, 0, 0)})[0][0].ids;
    auto new_greedy = r1::inference::generate(*new_model, {request({3, 1, 4, 1, 5}, 1, 40, 0, 0)})[0][0].ids;
    REQUIRE(old_greedy.size() == 300);
    for (int64_t s = 0; s < 2; ++s) {
      const Completion& c = sink.got.at({0, s});
      CHECK(sink.version.at({0, s}) == 1);
      if (abort_in_flight) {
        CHECK(c.finish_reason == FinishReason::kAbort);
        CHECK(c.ids.size() < 300);
        CHECK(c.ids == std::vector<int64_t>(old_greedy.begin(), old_greedy.begin() + static_cast<std::ptrdiff_t>(c.ids.size())));
      } else {
        CHECK(c.finish_reason == FinishReason::kLength);
        CHECK(c.ids == old_greedy);  // every token from the old weights
      }
    }
    CHECK(sink.version.at({1, 0}) == 2);
    CHECK(sink.got.at({1, 0}).ids == new_greedy);
    CHECK(new_greedy != std::vector<int64_t>(old_greedy.begin(), old_greedy.begin() + 40));
  }
  // A model of another shape is refused.
  r1::inference::Engine engine(old_model, r1::inference::EngineOptions{});
  auto other = std::make_shared<Transformer>(r1::checkpoint::preset_config("qwen2", "tiny", 120));
  CHECK_THROWS_WITH(engine.update_weights(other, 2, false), Catch::Contains("config, dtype or device differs"));
}

TEST_CASE("engine: ids past the tokenizer's vocabulary are returned without text, never a crash", "[model][engine]") {
  // Model rows beyond the tokenizer's ids are normal (Qwen2.5 pads 151,665 tokens to 151,936 rows); a
  // random model samples them.
  char tmpl[] = "/tmp/r1_test_engine_XXXXXX";
  const std::string dir = ::mkdtemp(tmpl);
  r1::write_byte_tokenizer(dir);
  const r1::Tokenizer tok = r1::Tokenizer::load(dir);
  REQUIRE(tok.vocab_size() == static_cast<size_t>(r1::kByteTokenizerVocab));
  auto m = std::make_shared<Transformer>(r1::checkpoint::preset_config("qwen2", "tiny", 400));
  m->init_random(3);
  r1::inference::EngineOptions o;
  o.kv_cache_tokens = 4096;
  o.tokenizer = &tok;
  r1::inference::Engine engine(m, o);
  Sink sink;
  engine.submit(request({72, 105}, 4, 40, 9), sink.to(0));
  while (engine.step()) {
  }
  int beyond = 0;
  for (int64_t s = 0; s < 4; ++s) {
    const Completion& c = sink.got.at({0, s});
    CHECK(c.ids.size() == 40);
    std::vector<int32_t> known;
    for (int64_t id : c.ids) {
      if (id >= r1::kByteTokenizerVocab) ++beyond;
      else known.push_back(static_cast<int32_t>(id));
    }
    CHECK(c.text == tok.decode(known, /*skip_special_tokens=*/true, /*clean_up_spaces=*/false));
  }
  CHECK(beyond > 0);  // (400 - 259) / 400 of a near-uniform distribution: ~56 of 160 tokens
  std::filesystem::remove_all(dir);
}

TEST_CASE("engine: call() runs tasks on the run() thread between steps, inline without one, and passes errors on", "[model][engine]") {
  auto m = tiny();
  r1::inference::EngineOptions o;
  o.kv_cache_tokens = 1024;
  r1::inference::Engine engine(m, o);
  // No run() loop: the task runs on the caller's thread.
  std::thread::id where;
  engine.call([&] { where = std::this_thread::get_id(); });
  CHECK(where == std::this_thread::get_id());

  std::thread loop([&] { engine.run(); });
  const std::thread::id loop_thread = loop.get_id();
  // Until run() has started, calls still run inline; wait for the loop.
  for (int i = 0; i < 500; ++i) {
    engine.call([&] { where = std::this_thread::get_id(); });
    if (where == loop_thread) break;
    std::this_thread::sleep_for(std::chrono::milliseconds(2));
  }
  REQUIRE(where == loop_thread);
  // While a group decodes, tasks still run, on the loop's thread.
  Sink sink;
  engine.submit(request({1, 2, 3}, 2, 40, 9), sink.to(0));
  for (int i = 0; i < 5; ++i) {
    engine.call([&] { where = std::this_thread::get_id(); });
    CHECK(where == loop_thread);
  }
  CHECK_THROWS_WITH(engine.call([] { throw r1::Error("task failed"); }), "task failed");
  for (int i = 0; i < 200 && sink.got.size() < 2; ++i) std::this_thread::sleep_for(std::chrono::milliseconds(10));
  engine.stop();
  loop.join();
  CHECK(sink.got.size() == 2);
  // After the loop has ended, calls run inline again rather than wait forever.
  engine.call([&] { where = std::this_thread::get_id(); });
  CHECK(where == std::this_thread::get_id());
}
