// r1 bench rollout's multi-turn line: trajectories with tool calls through the engine, the loop in the
// engine (tool messages appended to the cached sequence), against the same trajectories run as a loop
// outside the engine would run them without a prefix cache (every turn a new request whose prompt is
// the whole trajectory so far, prefilled again), and the time spent in tools.
//
// The model is random, so turns end at stop ids (a share of the vocabulary sized so a turn runs about
// new_tokens / turns tokens); each turn's end runs one real python call in the sandbox
// (`print(12345 * 678)`), whose output and fixed framing are appended as the tool message. The
// re-prefilled replay uses the first run's trajectories: the same prompts, the same appended tokens at
// the same places, the same number of sampled tokens per turn; only where the cost falls differs.
#include <ATen/ATen.h>

#include <atomic>
#include <cstdio>
#include <filesystem>
#include <map>
#include <mutex>
#include <thread>

#include "bench/scratch_dir.h"
#include "bench/torch_bench.h"
#include "core/clock.h"
#include "inference/engine.h"
#include "sandbox/sandbox.h"
#include "tokenizer/byte_tokenizer.h"
#include "tokenizer/tokenizer.h"

namespace r1::bench {
namespace {

// Appends a python call's output, framed, after each turn but the last. The call runs on a thread of
// its own, as tools::ToolHost runs them, so the engine decodes other trajectories meanwhile.
struct SandboxTools : rollout::ToolProvider {
  int64_t turns = 3;
  bool instant = false;        // answer at once with the output the call gives (no sandbox)
  std::vector<int64_t> frame;  // token ids around the output
  std::function<std::shared_ptr<sandbox::Runner>()> runner;
  std::mutex mutex;
  std::vector<std::thread> threads;
  std::atomic<int64_t> calls{0};
  std::atomic<double> seconds{0}, job_seconds{0};  // per call: waiting for a slot included; the job alone
  ~SandboxTools() override {
    for (auto& t : threads) t.join();
  }
  void check(const rollout::ToolUse&) override {}
  std::vector<std::string> call_stops(const rollout::ToolUse&) override { return {}; }
  std::unique_ptr<rollout::ToolSession> open(const rollout::ToolUse&) override;
};

struct SandboxSession : rollout::ToolSession {
  SandboxTools& tools;
  int64_t turn = 0;
  explicit SandboxSession(SandboxTools& t) : tools(t) {}
  void end_turn(const std::string&, bool, std::function<void(rollout::TurnOutcome)> done) override {
    if (++turn >= tools.turns) {
      rollout::TurnOutcome o;
      o.finished = true;
      return done(std::move(o));
    }
    if (tools.instant) {
      rollout::TurnOutcome o;
      o.finished = false;
      o.append = tools.frame;
      for (unsigned char ch : std::string("8369910\n")) o.append.push_back(ch);
      return done(std::move(o));
    }
    std::lock_guard<std::mutex> lock(tools.mutex);
    tools.threads.emplace_back([this, done = std::move(done)] {
      const auto t0 = Clock::now();
      sandbox::Job job;
      job.language = "python";
      job.source = "print(12345 * 678)";
      job.tests = {{"type", "run"}};
      const sandbox::Result r = tools.runner()->run(job);
      rollout::TurnOutcome o;
      o.finished = false;
      o.append = tools.frame;
      for (unsigned char ch : r.output) o.append.push_back(ch);  // byte-level ids
      o.calls = 1;
      o.errors = r.verdict == sandbox::Verdict::AC ? 0 : 1;
      o.seconds = seconds_since(t0);
      tools.calls += 1;
      double s = tools.seconds.load();
      while (!tools.seconds.compare_exchange_weak(s, s + o.seconds)) {
      }
      double j = tools.job_seconds.load();
      while (!tools.job_seconds.compare_exchange_weak(j, j + r.wall_ms / 1000.0)) {
      }
      done(std::move(o));
    });
  }
};

std::unique_ptr<rollout::ToolSession> SandboxTools::open(const rollout::ToolUse&) { return std::make_unique<SandboxSession>(*this); }

}  // namespace

void bench_multiturn(std::shared_ptr<const model::Transformer> m, const std::vector<rollout::GroupRequest>& base, int64_t turns,
                     double kv_mb) {
  const ScratchDir scratch("multiturn");
  write_byte_tokenizer(scratch.path.string());
  const Tokenizer tok = Tokenizer::load(scratch.path.string());
  auto tools = std::make_shared<SandboxTools>();
  tools->turns = turns;
  tools->frame = {32, 60, 111, 117, 116, 62, 32};  // " <out> "
  tools->runner = sandbox::shared_sandbox({4});  // a rollout worker's slots (inference/server.cpp)
  tools->runner();  // started before the clock
  // Stop ids: a share of the vocabulary that ends a turn after about new_tokens / turns tokens.
  const int64_t vocab = m->config().vocab_size, new_tokens = base.front().params.max_new_tokens;
  const int64_t stops = std::max<int64_t>(1, vocab * turns / std::max<int64_t>(new_tokens, 1));
  std::vector<rollout::GroupRequest> qs = base;
  for (auto& q : qs) {
    q.tools.config = "{}";
    q.params.stop_token_ids.clear();
    for (int64_t id = 0; id < stops; ++id) q.params.stop_token_ids.push_back(vocab - 1 - id);
  }
  inference::EngineOptions eo;
  eo.kv_cache_tokens = inference::kv_tokens_for_megabytes(*m, kv_mb);
  eo.tokenizer = &tok;
  eo.tools = tools;
  // The tool loop in the engine, with the sandbox's real calls, then with tools that answer at once
  // (the same appended tokens: the call's output does not change): the second leaves the engine's
  // own cost, which the re-prefilled replay below is measured against.
  std::vector<std::vector<rollout::Completion>> out(qs.size());
  auto run_loop = [&] {
    inference::Engine engine(m, eo);
    for (size_t r = 0; r < qs.size(); ++r) {
      out[r].assign(static_cast<size_t>(qs[r].params.n), {});
      engine.submit(qs[r], [&out, r](rollout::Completion&& c) { out[r][static_cast<size_t>(c.index)] = std::move(c); });
    }
    const auto t = Clock::now();
    while (engine.step()) {
    }
    return seconds_since(t);
  };
  const double with_sandbox = run_loop();
  const double tool_seconds = tools->seconds.load(), job_seconds = tools->job_seconds.load();
  const double calls = static_cast<double>(tools->calls.load());
  tools->instant = true;
  const double in_loop = run_loop();
  // The same trajectories as separate requests, one per turn: the prompt is everything before the
  // turn (tool messages included), its budget the tokens the turn sampled.
  int64_t sampled = 0, appended = 0, turn_count = 0, reprefilled = 0;
  std::vector<rollout::GroupRequest> replay;
  for (size_t r = 0; r < qs.size(); ++r)
    for (const rollout::Completion& c : out[r]) {
      std::vector<int64_t> prefix = qs[r].prompt;
      size_t t = 0;
      while (t < c.ids.size()) {
        size_t end = t;
        while (end < c.ids.size() && (c.sampled.empty() || c.sampled[end])) ++end;
        rollout::GroupRequest q;
        q.prompt = prefix;
        q.params.max_new_tokens = static_cast<int64_t>(end - t);
        q.params.seed = static_cast<uint64_t>(replay.size());
        if (q.params.max_new_tokens > 0) {
          reprefilled += static_cast<int64_t>(prefix.size() - qs[r].prompt.size());
          replay.push_back(q);
          ++turn_count;
        }
        sampled += static_cast<int64_t>(end - t);
        prefix.insert(prefix.end(), c.ids.begin() + static_cast<std::ptrdiff_t>(t), c.ids.begin() + static_cast<std::ptrdiff_t>(end));
        t = end;
        while (t < c.ids.size() && !c.sampled.empty() && !c.sampled[t]) {
          prefix.push_back(c.ids[t++]);
          ++appended;
        }
      }
    }
  double replayed = 0;
  {
    inference::EngineOptions plain;
    plain.kv_cache_tokens = eo.kv_cache_tokens;
    inference::Engine engine(m, plain);
    for (const auto& q : replay) engine.submit(q, [](rollout::Completion&&) {});
    const auto t = Clock::now();
    while (engine.step()) {
    }
    replayed = seconds_since(t);
  }
  std::printf("  multi-turn: %lld trajectories, %.2f turns each, %lld sampled + %lld appended tokens, python tool in the sandbox\n",
              static_cast<long long>(qs.size() * static_cast<size_t>(qs.front().params.n)),
              static_cast<double>(turn_count) / static_cast<double>(qs.size() * static_cast<size_t>(qs.front().params.n)),
              static_cast<long long>(sampled), static_cast<long long>(appended));
  std::printf("  %-34s %9.0f tokens/s sampled\n", "tool loop in the engine, sandbox", static_cast<double>(sampled) / with_sandbox);
  std::printf("  %-34s %9.0f tokens/s sampled\n", "tool loop in the engine, instant", static_cast<double>(sampled) / in_loop);
  std::printf("  %-34s %9.0f tokens/s sampled  (%.2fx the engine's loop; %lld trajectory tokens prefilled again)\n",
              "same turns as requests, re-prefilled", static_cast<double>(sampled) / replayed, in_loop / replayed,
              static_cast<long long>(reprefilled));
  std::printf("  time in tools: %.0f python calls (4 sandbox slots), %.1f ms each from the turn's end to its answer, %.1f ms of it the "
              "job itself; the sandbox's calls cost the loop %.0f%% of its wall time\n",
              calls, calls > 0 ? 1000.0 * tool_seconds / calls : 0.0, calls > 0 ? 1000.0 * job_seconds / calls : 0.0,
              100.0 * (with_sandbox - in_loop) / with_sandbox);
}

}  // namespace r1::bench
