// Multi-turn trajectories in the engine (rollout/tools.h): a turn's end goes to the trajectory's tool
// session; what it answers is appended to the cached sequence and sampling goes on. Checked against a
// whole forward pass (the appended tokens change the distribution exactly as a prefill of the whole
// trajectory would), for layout and masks, bounds, answers from other threads, and aborts while a
// tool runs.
// ATen first: c10 defines a glog-style CHECK that Catch's must replace, not the other way round.
#include <ATen/ATen.h>

#include <catch2/catch.hpp>

#include <atomic>
#include <chrono>
#include <filesystem>
#include <map>
#include <mutex>
#include <thread>
#include <unistd.h>

#include "core/error.h"
#include "inference/engine.h"
#include "tokenizer/byte_tokenizer.h"
#include "tokenizer/tokenizer.h"

using namespace r1::model;
using namespace r1::inference;
using r1::rollout::ToolSession;
using r1::rollout::ToolUse;
using r1::rollout::TurnOutcome;

namespace {

// A byte tokenizer in a temporary folder, for the text side of the engine.
struct ByteTok {
  std::string dir;
  r1::Tokenizer tok;
  ByteTok() : dir(make()), tok(r1::Tokenizer::load(dir)) {}
  ~ByteTok() { std::filesystem::remove_all(dir); }
  static std::string make() {
    char tmpl[] = "/tmp/r1_test_engine_tools_XXXXXX";
    const std::string d = ::mkdtemp(tmpl);
    r1::write_byte_tokenizer(d);
    return d;
  }
};

std::shared_ptr<Transformer> model() {
  auto m = std::make_shared<Transformer>(r1::checkpoint::preset_config("qwen2", "tiny", r1::kByteTokenizerVocab));
  m->init_random(11);
  for (auto& [name, t] : m->weights())
    if (t.dim() == 2) m->weight(name) = t * 8;
  return m;
}

// A provider whose sessions append `append` after each turn, `turns` - 1 times, then end the
// trajectory (with `limit` set, as a bound would). Answers come from a thread of their own after
// `delay_ms`, or at once (0). Counts the turns it saw.
struct FakeTools : r1::rollout::ToolProvider {
  std::vector<int64_t> append = {65, 66, 67};  // "ABC"
  int turns = 3;
  bool limit = false;
  int delay_ms = 0;
  std::atomic<int> seen{0};
  std::vector<std::thread> threads;
  std::mutex mutex;
  ~FakeTools() override {
    for (auto& t : threads) t.join();
  }
  void check(const ToolUse& use) override {
    if (use.config == "bad") throw r1::Error("tools.format: unknown format 'bad'");
  }
  std::vector<std::string> call_stops(const ToolUse&) override { return {}; }
  std::unique_ptr<ToolSession> open(const ToolUse&) override;
};

struct FakeSession : ToolSession {
  FakeTools& tools;
  int turn = 0;
  explicit FakeSession(FakeTools& t) : tools(t) {}
  void end_turn(const std::string&, bool, std::function<void(TurnOutcome)> done) override {
    ++tools.seen;
    TurnOutcome o;
    ++turn;
    if (turn >= tools.turns) {
      o.finished = true;
      o.limit = tools.limit;
    } else {
      o.finished = false;
      o.append = tools.append;
      o.append_text = "ABC";
      o.calls = 1;
      o.errors = turn == 1 ? 1 : 0;
      o.seconds = 0.001;
    }
    if (tools.delay_ms == 0) return done(std::move(o));
    std::lock_guard<std::mutex> lock(tools.mutex);
    tools.threads.emplace_back([o = std::move(o), done = std::move(done), ms = tools.delay_ms]() mutable {
      std::this_thread::sleep_for(std::chrono::milliseconds(ms));
      done(std::move(o));
    });
  }
};

std::unique_ptr<ToolSession> FakeTools::open(const ToolUse&) { return std::make_unique<FakeSession>(*this); }

GroupRequest tool_request(std::vector<int64_t> prompt, int64_t n, int64_t max_new, uint64_t seed) {
  GroupRequest q{.prompt = std::move(prompt)};
  q.params.n = n;
  q.params.max_new_tokens = max_new;
  q.params.seed = seed;
  // Many stop ids, so that turns end after a few tokens.
  for (int64_t id = 100; id < 160; ++id) q.params.stop_token_ids.push_back(id);
  q.tools.config = "{}";
  return q;
}

struct Sink {
  std::mutex mutex;
  std::map<std::pair<int, int64_t>, Completion> got;
  Engine::OnCompletion to(int key) {
    return [this, key](Completion&& c) {
      std::lock_guard<std::mutex> lock(mutex);
      REQUIRE(got.count({key, c.index}) == 0);
      got[{key, c.index}] = std::move(c);
    };
  }
};

// log p(token t | prompt, ids[:t]) of every sampled token, from one forward pass over the whole
// trajectory (temperature 1).
std::vector<float> full_pass_logprobs(const Transformer& m, const std::vector<int64_t>& prompt, const Completion& c) {
  std::vector<int64_t> all = prompt;
  all.insert(all.end(), c.ids.begin(), c.ids.end());
  at::NoGradGuard no_grad;
  at::Tensor input = at::tensor(all, at::kLong).view({1, static_cast<int64_t>(all.size())});
  at::Tensor lp = at::log_softmax(m.logits(m.forward(input)).squeeze(0), -1);
  std::vector<float> out;
  const size_t P = prompt.size();
  for (size_t t = 0; t < c.ids.size(); ++t) out.push_back(lp[static_cast<int64_t>(P + t - 1)][c.ids[t]].item<float>());
  return out;
}

}  // namespace

TEST_CASE("engine tools: appended tool messages continue the cached trajectory exactly", "[model][engine][tools]") {
  ByteTok bt;
  auto m = model();
  auto tools = std::make_shared<FakeTools>();
  EngineOptions o;
  o.kv_cache_tokens = 4096;
  o.tokenizer = &bt.tok;
  o.tools = tools;
  Engine engine(m, o);
  Sink sink;
  const std::vector<int64_t> prompt = {72, 105, 33, 32, 80, 108, 101, 97, 115, 101, 32, 99, 111, 117, 110, 116, 32, 116, 111};
  engine.submit(tool_request(prompt, 4, 120, 7), sink.to(0));
  while (engine.step()) {
  }
  int with_appends = 0;
  for (int64_t s = 0; s < 4; ++s) {
    const Completion& c = sink.got.at({0, s});
    REQUIRE(c.logprobs.size() == c.ids.size());
    const int64_t appended = c.tools.tool_tokens;
    CHECK(c.tools.turns == 1 + appended / 3);
    if (appended == 0) {
      CHECK(c.sampled.empty());
      continue;
    }
    ++with_appends;
    REQUIRE(c.sampled.size() == c.ids.size());
    CHECK(c.finish_reason == FinishReason::kStop);
    CHECK(c.tools.calls == appended / 3);
    CHECK(c.tools.errors == 1);
    CHECK(c.text.find("ABC") != std::string::npos);
    // Appended runs are the session's ids, log-probability 0, marked unsampled; every other token sampled.
    int64_t zeros = 0;
    for (size_t t = 0; t < c.ids.size(); ++t)
      if (!c.sampled[t]) {
        ++zeros;
        CHECK(c.logprobs[t] == 0.0f);
      }
    CHECK(zeros == appended);
    for (size_t t = 0; t + 2 < c.ids.size(); ++t)
      if (!c.sampled[t] && (t == 0 || c.sampled[t - 1])) {
        CHECK(c.ids[t] == 65);
        CHECK(c.ids[t + 1] == 66);
        CHECK(c.ids[t + 2] == 67);
        CHECK(t > 0);
        CHECK(c.ids[t - 1] >= 100);  // the turn ended at a stop id, kept in the trajectory
        CHECK(c.ids[t - 1] < 160);
      }
    // The sampled tokens' log-probabilities are those of a whole forward pass over the trajectory.
    const std::vector<float> ref = full_pass_logprobs(*m, prompt, c);
    for (size_t t = 0; t < c.ids.size(); ++t)
      if (c.sampled[t]) CHECK(c.logprobs[t] == Approx(ref[t]).margin(2e-3));
  }
  CHECK(with_appends >= 1);
}

TEST_CASE("engine tools: bounds, budgets and refusals", "[model][engine][tools]") {
  ByteTok bt;
  auto m = model();
  auto tools = std::make_shared<FakeTools>();
  EngineOptions o;
  o.kv_cache_tokens = 4096;
  o.tokenizer = &bt.tok;
  o.tools = tools;
  SECTION("a session that ends at a bound ends the trajectory with tool_limit") {
    tools->turns = 2;
    tools->limit = true;
    Engine engine(m, o);
    Sink sink;
    engine.submit(tool_request({72, 105, 33}, 3, 200, 3), sink.to(0));
    while (engine.step()) {
    }
    for (int64_t s = 0; s < 3; ++s) {
      const Completion& c = sink.got.at({0, s});
      if (c.finish_reason == FinishReason::kLength) continue;  // never reached its second turn's end
      CHECK(c.finish_reason == FinishReason::kToolLimit);
      CHECK(std::string(finish_reason_name(c.finish_reason)) == "tool_limit");
      CHECK(c.tools.turns == 2);
    }
  }
  SECTION("tool messages that leave no room in max_new_tokens end the trajectory at its length") {
    tools->append.assign(300, 65);
    Engine engine(m, o);
    Sink sink;
    engine.submit(tool_request({72, 105, 33}, 3, 60, 3), sink.to(0));
    while (engine.step()) {
    }
    for (int64_t s = 0; s < 3; ++s) {
      const Completion& c = sink.got.at({0, s});
      CHECK(c.finish_reason == FinishReason::kLength);
      CHECK(c.ids.size() <= 60);
      CHECK(c.tools.tool_tokens == 0);
    }
  }
  SECTION("a request for tools on an engine without them, or with a config the tools refuse") {
    EngineOptions bare = o;
    bare.tools = nullptr;
    Engine plain(m, bare);
    CHECK_THROWS_WITH(plain.submit(tool_request({72}, 1, 10, 1), {}), Catch::Contains("runs no tools"));
    Engine engine(m, o);
    GroupRequest q = tool_request({72}, 1, 10, 1);
    q.tools.config = "bad";
    CHECK_THROWS_WITH(engine.submit(q, {}), Catch::Contains("tools.format"));
  }
}

TEST_CASE("engine tools: others decode while a trajectory waits, aborts while a tool runs free everything", "[model][engine][tools]") {
  ByteTok bt;
  auto m = model();
  auto tools = std::make_shared<FakeTools>();
  tools->delay_ms = 150;
  EngineOptions o;
  o.kv_cache_tokens = 4096;
  o.tokenizer = &bt.tok;
  o.tools = tools;
  SECTION("answers from another thread; a plain group finishes meanwhile") {
    Engine engine(m, o);
    Sink sink;
    engine.submit(tool_request({72, 105, 33}, 2, 100, 5), sink.to(0));
    GroupRequest plain{.prompt = {80, 81}};
    plain.params.max_new_tokens = 40;
    engine.submit(plain, sink.to(1));
    std::thread loop([&] { engine.run(); });
    const auto t0 = std::chrono::steady_clock::now();
    while (true) {
      {
        std::lock_guard<std::mutex> lock(sink.mutex);
        if (sink.got.size() == 3) break;
      }
      REQUIRE(std::chrono::steady_clock::now() - t0 < std::chrono::seconds(30));
      std::this_thread::sleep_for(std::chrono::milliseconds(5));
    }
    engine.stop();
    loop.join();
    CHECK(sink.got.at({1, 0}).ids.size() == 40);
    for (int64_t s = 0; s < 2; ++s) CHECK(sink.got.at({0, s}).finish_reason != FinishReason::kAbort);
    CHECK(engine.status().kv_blocks_used == 0);
  }
  SECTION("cancelled while its tool runs, and the engine gone before the answer") {
    Sink sink;
    {
      Engine engine(m, o);
      const auto id = engine.submit(tool_request({72, 105, 33}, 2, 100, 5), sink.to(0));
      while (tools->seen.load() == 0) REQUIRE(engine.step());
      engine.cancel(id);
      engine.step();
      CHECK(sink.got.size() == 2);
      CHECK(engine.status().kv_blocks_used == 0);
      engine.submit(tool_request({72, 105, 33}, 2, 100, 6), sink.to(1));
      while (tools->seen.load() < 3) REQUIRE(engine.step());
    }  // destroyed while the second group's tools sleep: their answers find no engine
    for (auto& t : tools->threads) t.join();
    tools->threads.clear();
    for (int64_t s = 0; s < 2; ++s) CHECK(sink.got.at({0, s}).finish_reason == FinishReason::kAbort);
  }
}
