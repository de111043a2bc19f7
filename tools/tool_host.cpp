#include "tools/tool_host.h"

#include <nlohmann/json.hpp>

#include <atomic>
#include <condition_variable>
#include <cstdio>
#include <deque>
#include <random>
#include <thread>

#include "core/clock.h"
#include "core/error.h"
#include "core/log.h"
#include "tokenizer/chat_template.h"
#include "tokenizer/tokenizer.h"
#include "tools/tool.h"
#include "tools/tool_call.h"
#include "tools/tool_kinds.h"
#include "tools/tool_render.h"

namespace r1::tools {

using nlohmann::json;

struct ToolHost::Prepared {
  ToolConfig config;
  CallFormat format = CallFormat::kHermes;
  std::vector<std::string> call_stops;
  std::unique_ptr<ChatTemplate> chat_template;
  std::unique_ptr<TurnRenderer> renderer;
  std::map<std::string, std::unique_ptr<Tool>> tools;
};

// A few threads running turns' calls; a task is told whether it may run (false: the host is going).
struct ToolHost::Pool {
  std::mutex mutex;
  std::condition_variable wake;
  std::deque<std::function<void(bool run)>> queue;
  std::vector<std::thread> threads;
  bool stopping = false;

  explicit Pool(size_t n) {
    for (size_t i = 0; i < std::max<size_t>(n, 1); ++i) threads.emplace_back([this] { work(); });
  }

  void work() {
    for (;;) {
      std::function<void(bool)> task;
      {
        std::unique_lock<std::mutex> lock(mutex);
        wake.wait(lock, [&] { return stopping || !queue.empty(); });
        if (queue.empty()) return;  // stopping, and nothing left
        task = std::move(queue.front());
        queue.pop_front();
        if (stopping) {
          lock.unlock();
          task(false);
          continue;
        }
      }
      task(true);
    }
  }

  // false when the host is going (the task is not queued).
  bool submit(std::function<void(bool)> task) {
    {
      std::lock_guard<std::mutex> lock(mutex);
      if (stopping) return false;
      queue.push_back(std::move(task));
    }
    wake.notify_one();
    return true;
  }

  void stop() {
    {
      std::lock_guard<std::mutex> lock(mutex);
      stopping = true;
    }
    wake.notify_all();
    for (auto& t : threads) t.join();
  }
};

namespace {

rollout::TurnOutcome ended(bool limit = false, int64_t calls = 0) {
  rollout::TurnOutcome out;
  out.finished = true;
  out.limit = limit;
  out.calls = calls;
  return out;
}

std::string rstrip(std::string s) {
  size_t end = s.find_last_not_of(" \t\r\n\v\f");
  s.erase(end == std::string::npos ? 0 : end + 1);
  return s;
}

// A trajectory's id, given to custom tools: a random prefix per process and a counter, so ids from
// several workers calling one service do not collide.
std::string next_trajectory_id() {
  static const std::string prefix = [] {
    std::random_device rd;
    char buf[20];
    std::snprintf(buf, sizeof buf, "%08x%08x", rd(), rd());
    return std::string(buf);
  }();
  static std::atomic<uint64_t> counter{0};
  return prefix + "-" + std::to_string(++counter);
}

// One trajectory's state, shared with the turn running on the pool.
struct SessionState {
  std::string id = next_trajectory_id();
  std::shared_ptr<const ToolHost::Prepared> prepared;
  std::mutex mutex;  // one turn at a time; guards everything below
  int64_t turns = 0, calls = 0;
  double tool_seconds = 0;
  std::vector<ChatMessage> history;                         // earlier turns and tool messages
  std::map<std::string, std::vector<std::string>> tool_state;  // per tool: its history (python: cells)

  rollout::TurnOutcome run_turn(const std::string& turn_text, bool call_stop) {
    std::lock_guard<std::mutex> lock(mutex);
    const ToolConfig& config = prepared->config;
    ++turns;
    ParsedTurn parsed = parse_tool_calls(turn_text, prepared->format, config);
    const int64_t n = static_cast<int64_t>(parsed.calls.size());
    if (n == 0) return ended();
    // The model called: it needs another turn to read the results, and the calls must fit.
    if (turns >= config.max_turns || calls + n > config.max_calls || tool_seconds >= config.max_seconds) {
      calls += n;
      return ended(true, n);
    }
    calls += n;
    const auto start = Clock::now();
    rollout::TurnOutcome out;
    out.finished = false;
    out.calls = n;
    std::vector<ToolMessage> messages;
    for (const ToolCall& call : parsed.calls) {
      ToolMessage m;
      m.name = call.name;
      m.call_id = "call_" + std::to_string(calls - n + static_cast<int64_t>(messages.size()) + 1);
      if (!call.ok()) {
        m.content = "Error: " + call.error;
        ++out.errors;
      } else {
        ToolCallContext context;
        context.history = &tool_state[call.name];
        context.trajectory = id;
        context.seconds_left = config.max_seconds - tool_seconds - seconds_since(start);
        ToolResult r;
        if (context.seconds_left <= 0) {
          char limit[32];
          std::snprintf(limit, sizeof limit, "%g", config.max_seconds);
          r = {std::string("Error: the trajectory's time for tools (max_seconds ") + limit + ") is spent; this call was not run", true};
        } else {
          r = prepared->tools.at(call.name)->call(call.arguments, context);
        }
        m.content = rstrip(std::move(r.content));
        if (r.error) ++out.errors;
      }
      messages.push_back(std::move(m));
    }
    out.seconds = seconds_since(start);
    tool_seconds += out.seconds;
    RenderedTurn rendered = prepared->renderer->render(history, turn_text, call_stop, messages, parsed.unclosed_block);
    history.push_back({"assistant", turn_text, std::nullopt, {}});
    for (const ToolMessage& m : messages) history.push_back(tool_chat_message(m));
    out.append = std::move(rendered.ids);
    out.append_text = std::move(rendered.text);
    return out;
  }
};

class HostSession : public rollout::ToolSession {
 public:
  HostSession(std::shared_ptr<const ToolHost::Prepared> prepared, std::shared_ptr<ToolHost::Pool> pool)
      : state_(std::make_shared<SessionState>()), pool_(std::move(pool)) {
    state_->prepared = std::move(prepared);
  }

  void end_turn(const std::string& turn_text, bool call_stop, std::function<void(rollout::TurnOutcome)> done) override {
    auto state = state_;
    auto callback = std::make_shared<std::function<void(rollout::TurnOutcome)>>(std::move(done));
    bool queued = pool_->submit([state, turn_text, call_stop, callback](bool run) {
      rollout::TurnOutcome out = ended();
      if (run) {
        try {
          out = state->run_turn(turn_text, call_stop);
        } catch (const std::exception& e) {
          log::warn() << "tools: a trajectory ended on an error: " << e.what();
          out = ended();
        }
      }
      (*callback)(std::move(out));
    });
    if (!queued) (*callback)(ended());
  }

 private:
  std::shared_ptr<SessionState> state_;
  std::shared_ptr<ToolHost::Pool> pool_;
};

}  // namespace

namespace {

// The caller's factory, called on the first call that needs a runner (again after one that threw).
ToolHost::RunnerFactory once(ToolHost::RunnerFactory factory) {
  struct Once {
    std::mutex mutex;
    ToolHost::RunnerFactory factory;
    std::shared_ptr<sandbox::Runner> runner;
  };
  auto o = std::make_shared<Once>();
  o->factory = std::move(factory);
  return [o]() {
    std::lock_guard<std::mutex> lock(o->mutex);
    if (!o->runner && o->factory) o->runner = o->factory();
    return o->runner;
  };
}

}  // namespace

ToolHost::ToolHost(const Tokenizer& tokenizer, RunnerFactory runner, ToolHostOptions options)
    : tokenizer_(tokenizer), runner_(std::make_shared<RunnerFactory>(once(std::move(runner)))),
      pool_(std::make_shared<Pool>(options.threads)) {}

ToolHost::~ToolHost() { pool_->stop(); }

std::shared_ptr<const ToolHost::Prepared> ToolHost::prepare(const rollout::ToolUse& use) {
  std::lock_guard<std::mutex> lock(mutex_);
  if (auto it = prepared_.find(use.config); it != prepared_.end()) return it->second;
  if (!use.enabled()) throw ConfigError("tools: no tools config");
  json j;
  try {
    j = json::parse(use.config);
  } catch (const json::exception& e) {
    throw ConfigError(std::string("tools: malformed JSON: ") + e.what());
  }
  auto p = std::make_shared<Prepared>();
  p->config = read_tool_config(j, "tools");
  p->format = resolve_format(p->config.format, p->config.template_spec, &tokenizer_);
  p->call_stops = call_stop_strings(p->format, p->config.stop_after_call);
  try {
    p->chat_template = std::make_unique<ChatTemplate>(ChatTemplate::resolve(p->config.template_spec, &tokenizer_));
  } catch (const Error& e) {
    throw ConfigError(std::string("tools.template: ") + e.what());
  }
  p->renderer = std::make_unique<TurnRenderer>(*p->chat_template, tokenizer_, jinja::Value::from_json(p->config.schemas()));
  p->renderer->check("tools.template");
  ToolServices services;
  services.runner = *runner_;
  for (const ToolSpec& spec : p->config.tools) p->tools[spec.name] = find_kind(spec.kind)->make(spec, services);
  prepared_[use.config] = p;
  return p;
}

void ToolHost::check(const rollout::ToolUse& use) { prepare(use); }

std::vector<std::string> ToolHost::call_stops(const rollout::ToolUse& use) { return prepare(use)->call_stops; }

std::unique_ptr<rollout::ToolSession> ToolHost::open(const rollout::ToolUse& use) {
  return std::make_unique<HostSession>(prepare(use), pool_);
}

const ToolConfig& ToolHost::config(const rollout::ToolUse& use) { return prepare(use)->config; }

CallFormat ToolHost::format(const rollout::ToolUse& use) { return prepare(use)->format; }

}  // namespace r1::tools
