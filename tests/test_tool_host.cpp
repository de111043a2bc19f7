// tools/tool_render and tools/tool_host: the appended text is exactly what the chat template renders
// for the whole conversation after its prefix (Qwen3's and DeepSeek-V3's own templates, r1-zero), and
// the host's sessions: limits, turns without calls, several calls a turn, done called once, the host
// going away with calls in flight, and the python tool end to end in the real sandbox.
#include <catch2/catch.hpp>
#include <nlohmann/json.hpp>

#include <atomic>
#include <chrono>
#include <future>
#include <thread>

#include "core/error.h"
#include "fixtures.h"
#include "sandbox/sandbox.h"
#include "tokenizer/chat_template.h"
#include "tokenizer/tokenizer.h"
#include "tools/tool_config.h"
#include "tools/tool_host.h"
#include "tools/tool_render.h"

using nlohmann::json;
using r1::ChatMessage;
using r1::ChatOptions;
using r1::ChatTemplate;
using r1::Tokenizer;
using r1::rollout::ToolUse;
using r1::rollout::TurnOutcome;
using r1::tools::ToolHost;
using r1::tools::TurnRenderer;

namespace {

const Tokenizer& qwen() {
  static Tokenizer t = Tokenizer::load(r1::test::qwen3_dir());
  return t;
}

std::vector<int64_t> ids_of(const std::string& text) {
  std::vector<int64_t> out;
  for (int32_t id : qwen().encode(text, false)) out.push_back(id);
  return out;
}

r1::jinja::Value python_schemas() {
  return r1::jinja::Value::from_json(r1::tools::read_tool_config(json{{"tools", json::array({{{"kind", "python"}}})}}).schemas());
}

ChatMessage msg(const std::string& role, const std::string& content) { return {role, content, std::nullopt, {}}; }

const std::string kQwenCall1 =
    "I'll compute it.\n<tool_call>\n{\"name\": \"python\", \"arguments\": {\"code\": \"print(385 * 47)\"}}\n</tool_call>";
const std::string kQwenCall2 = "Now the square.\n<tool_call>\n{\"name\": \"python\", \"arguments\": {\"code\": \"print(18095 ** 2)\"}}\n</tool_call>";

}  // namespace

TEST_CASE("tool render: Qwen3's own template, the delta after a call stop and after a stop token", "[tools][render]") {
  ChatTemplate t = ChatTemplate::detect(qwen());
  TurnRenderer renderer(t, qwen(), python_schemas());
  ChatOptions options;
  options.tools = python_schemas();
  const std::string prompt = t.render({msg("user", "Compute 385 * 47.")}, options);
  const r1::tools::ToolMessage result{"python", "call_1", "18095"};
  const std::string full = t.render({msg("user", "Compute 385 * 47."), msg("assistant", kQwenCall1),
                                     r1::tools::tool_chat_message(result)}, options);

  // Stopped at "</tool_call>": the turn's closing is appended too.
  auto a = renderer.render({}, kQwenCall1, true, {result});
  CHECK(a.text == "<|im_end|>\n<|im_start|>user\n<tool_response>\n18095\n</tool_response><|im_end|>\n<|im_start|>assistant\n");
  CHECK(prompt + kQwenCall1 + a.text == full);
  CHECK(a.ids == ids_of(a.text));
  CHECK(a.ids.front() == *qwen().token_to_id("<|im_end|>"));  // special tokens are single ids
  // Stopped at <|im_end|>, which the model sampled (its text in the turn or not): only the rest.
  auto b = renderer.render({}, kQwenCall1, false, {result});
  CHECK(prompt + kQwenCall1 + "<|im_end|>" + b.text == full);
  auto c = renderer.render({}, kQwenCall1 + "<|im_end|>", false, {result});
  CHECK(c.text == b.text);
  CHECK(b.text.starts_with("\n<|im_start|>user\n<tool_response>"));

  // A second turn, two results at once: the whole trajectory is the template's rendering.
  std::vector<ChatMessage> earlier = {msg("assistant", kQwenCall1), r1::tools::tool_chat_message(result)};
  const r1::tools::ToolMessage r2{"python", "call_2", "327429025"}, r3{"python", "call_3", "Error: boom"};
  auto d = renderer.render(earlier, kQwenCall2, true, {r2, r3});
  const std::string full2 = t.render({msg("user", "Compute 385 * 47."), earlier[0], earlier[1], msg("assistant", kQwenCall2),
                                      r1::tools::tool_chat_message(r2), r1::tools::tool_chat_message(r3)}, options);
  CHECK(prompt + kQwenCall1 + a.text + kQwenCall2 + d.text == full2);
  CHECK(d.text.find("</tool_response>\n<tool_response>\nError: boom\n</tool_response>") != std::string::npos);
}

TEST_CASE("tool render: DeepSeek-V3's own template, its call block closed when a call stop cut it", "[tools][render]") {
  Tokenizer ds = Tokenizer::load(r1::test::deepseek_dir());
  ChatTemplate t = ChatTemplate::detect(ds);
  TurnRenderer renderer(t, ds, python_schemas());
  const std::string calls = "Let me compute.<｜tool▁calls▁begin｜><｜tool▁call▁begin｜>function<｜tool▁sep｜>python\n```json\n"
                            "{\"code\": \"print(6 * 7)\"}\n```<｜tool▁call▁end｜>";
  const r1::tools::ToolMessage result{"python", "call_1", "42"};
  const std::string prompt = t.render({msg("user", "What is 6 * 7?")});
  const std::string full = t.render({msg("user", "What is 6 * 7?"), msg("assistant", calls + "<｜tool▁calls▁end｜>"),
                                     r1::tools::tool_chat_message(result)});
  // Ended at the end-of-sentence token after the model closed its block.
  auto a = renderer.render({}, calls + "<｜tool▁calls▁end｜>", false, {result});
  CHECK(prompt + calls + "<｜tool▁calls▁end｜>" + "<｜end▁of▁sentence｜>" + a.text == full);
  CHECK(a.text == "<｜tool▁outputs▁begin｜><｜tool▁output▁begin｜>42<｜tool▁output▁end｜><｜tool▁outputs▁end｜>");
  // Stopped at <｜tool▁call▁end｜>: the block's close and the end of sentence are appended.
  auto b = renderer.render({}, calls, true, {result}, "<｜tool▁calls▁end｜>");
  CHECK(prompt + calls + b.text == full);
  std::vector<int64_t> ids;
  for (int32_t id : ds.encode(b.text, false)) ids.push_back(id);
  CHECK(b.ids == ids);
}

TEST_CASE("tool render: r1-zero appends the response inside the turn", "[tools][render]") {
  ChatTemplate t = ChatTemplate::named("r1-zero", &qwen());
  TurnRenderer renderer(t, qwen(), python_schemas());
  const std::string prompt = t.render({msg("user", "Compute 385 * 47")});
  const std::string turn1 = " <think> <tool_call> {\"name\": \"python\", \"arguments\": {\"code\": \"print(385 * 47)\"}} </tool_call>";
  auto a = renderer.render({}, turn1, true, {{"python", "call_1", "18095"}});
  CHECK(a.text == " <tool_response> 18095 </tool_response>");
  CHECK(a.ids == ids_of(a.text));
  const std::string turn2 = " So 385 * 47 = 18095. </think> <answer> 18095 </answer>";
  ChatOptions no_prompt;
  no_prompt.add_generation_prompt = false;
  const std::string full = t.render({msg("user", "Compute 385 * 47"), msg("assistant", turn1.substr(1)), msg("tool", "18095"),
                                     msg("assistant", turn2)}, no_prompt);
  CHECK(prompt + turn1 + a.text + turn2 == full);
  CHECK(full.ends_with("User: Compute 385 * 47. Assistant: <think> <tool_call> {\"name\": \"python\", \"arguments\": {\"code\": "
                       "\"print(385 * 47)\"}} </tool_call> <tool_response> 18095 </tool_response> So 385 * 47 = 18095. </think> "
                       "<answer> 18095 </answer>"));
}

namespace {

// Answers every python call with "out<N>" after `delay`; counts runs.
struct FakeRunner : r1::sandbox::Runner {
  std::atomic<int> runs{0};
  std::chrono::milliseconds delay{0};
  r1::sandbox::Result run(const r1::sandbox::Job& job) override {
    int n = ++runs;
    std::this_thread::sleep_for(delay);
    r1::sandbox::Result r;
    r.verdict = r1::sandbox::Verdict::AC;
    r.output = "out" + std::to_string(n) + "\n";
    return r;
  }
};

struct Harness {
  std::shared_ptr<FakeRunner> runner = std::make_shared<FakeRunner>();
  std::atomic<int> factory_calls{0};
  std::unique_ptr<ToolHost> host;
  explicit Harness(size_t threads = 2) {
    r1::tools::ToolHostOptions o;
    o.threads = threads;
    host = std::make_unique<ToolHost>(qwen(), [this] {
      ++factory_calls;
      return std::static_pointer_cast<r1::sandbox::Runner>(runner);
    }, o);
  }
};

ToolUse use(json extra = json::object()) {
  json c = {{"template", "r1-zero"}, {"stop_after_call", true}, {"tools", json::array({{{"kind", "python"}}})}};
  c.update(extra);
  return ToolUse{c.dump()};
}

std::string call(const std::string& code, const std::string& name = "python") {
  return " <tool_call> " + json{{"name", name}, {"arguments", {{"code", code}}}}.dump() + " </tool_call>";
}

// Ends a turn and waits for its outcome; done must be called exactly once, off this thread.
TurnOutcome end_turn(r1::rollout::ToolSession& s, const std::string& text, bool call_stop = true) {
  std::promise<TurnOutcome> p;
  std::atomic<int> calls{0};
  std::thread::id on;
  s.end_turn(text, call_stop, [&](TurnOutcome o) {
    on = std::this_thread::get_id();
    if (++calls == 1) p.set_value(std::move(o));
  });
  TurnOutcome o = p.get_future().get();
  std::this_thread::sleep_for(std::chrono::milliseconds(5));
  CHECK(calls == 1);
  CHECK(on != std::this_thread::get_id());
  return o;
}

}  // namespace

TEST_CASE("tool host: config checks name the key, call stops follow the format", "[tools][host]") {
  Harness h;
  CHECK_NOTHROW(h.host->check(use()));
  CHECK_THROWS_WITH(h.host->check(ToolUse{"{\"tools\": [{\"kind\": \"python\", \"timeout_s\": 0}]}"}),
                    "tools.tools[0].timeout_s: must be in (0, 600]");
  CHECK_THROWS_WITH(h.host->check(ToolUse{"{\"tools\": "}), Catch::StartsWith("tools: malformed JSON"));
  CHECK_THROWS_WITH(h.host->check(use({{"template", "qwen3"}})),
                    Catch::StartsWith("tools.template: the chat template 'qwen3' cannot render tool messages"));
  CHECK_THROWS_WITH(h.host->check(use({{"template", "no-such"}})), Catch::StartsWith("tools.template: unknown chat template"));
  CHECK(h.host->call_stops(use()) == std::vector<std::string>{"</tool_call>"});
  CHECK(h.host->call_stops(use({{"stop_after_call", false}})).empty());
  CHECK(h.host->call_stops(use({{"template", "auto"}})) == std::vector<std::string>{"</tool_call>"});  // Qwen3's: hermes
  CHECK(h.host->format(use({{"template", "auto"}})) == r1::tools::CallFormat::kHermes);
  CHECK(h.host->config(use({{"max_calls", 3}})).max_calls == 3);
  CHECK(h.factory_calls == 0);  // the sandbox is not started for checks
}

TEST_CASE("tool host: a turn without a call ends the trajectory, calls continue it", "[tools][host]") {
  Harness h;
  auto s = h.host->open(use());
  TurnOutcome first = end_turn(*s, call("print(385 * 47)"));
  CHECK_FALSE(first.finished);
  CHECK(first.calls == 1);
  CHECK(first.errors == 0);
  CHECK(first.append_text == " <tool_response> out1 </tool_response>");
  CHECK(first.append == ids_of(first.append_text));
  TurnOutcome last = end_turn(*s, " So it is 18095. </think> <answer> 18095 </answer>", false);
  CHECK(last.finished);
  CHECK_FALSE(last.limit);
  CHECK(last.calls == 0);
  CHECK(last.append.empty());
  CHECK(h.factory_calls == 1);
}

TEST_CASE("tool host: a trajectory that keeps calling stops at its bounds", "[tools][host]") {
  Harness h;
  auto s = h.host->open(use({{"max_calls", 2}}));
  CHECK_FALSE(end_turn(*s, call("1")).finished);
  CHECK_FALSE(end_turn(*s, call("2")).finished);
  TurnOutcome third = end_turn(*s, call("3"));
  CHECK(third.finished);
  CHECK(third.limit);
  CHECK(third.calls == 1);
  CHECK(h.runner->runs == 2);  // the third call did not run

  auto t = h.host->open(use({{"max_turns", 2}}));
  CHECK_FALSE(end_turn(*t, call("1")).finished);
  TurnOutcome turn2 = end_turn(*t, call("2"));
  CHECK(turn2.finished);
  CHECK(turn2.limit);

  // Several calls in one turn count against max_calls together.
  auto u = h.host->open(use({{"max_calls", 3}, {"stop_after_call", false}}));
  CHECK_FALSE(end_turn(*u, call("1") + call("2"), false).finished);
  TurnOutcome over = end_turn(*u, call("3") + call("4"), false);
  CHECK(over.finished);
  CHECK(over.limit);
  CHECK(over.calls == 2);

  // Sessions are independent; the factory was called once for all of them.
  auto v = h.host->open(use({{"max_calls", 2}}));
  CHECK_FALSE(end_turn(*v, call("1")).finished);
  CHECK(h.factory_calls == 1);
}

TEST_CASE("tool host: the time for tools is bounded by max_seconds", "[tools][host]") {
  Harness h;
  h.runner->delay = std::chrono::milliseconds(150);
  auto s = h.host->open(use({{"max_seconds", 0.2}}));
  TurnOutcome first = end_turn(*s, call("1"));
  CHECK_FALSE(first.finished);
  CHECK(first.seconds >= 0.14);
  CHECK_FALSE(end_turn(*s, call("2")).finished);  // 0.15 s spent: still under 0.2 when it starts
  TurnOutcome third = end_turn(*s, call("3"));
  CHECK(third.finished);
  CHECK(third.limit);
  CHECK(h.runner->runs == 2);
  // A call whose turn used up the time is answered without running.
  auto t = h.host->open(use({{"max_seconds", 0.1}, {"stop_after_call", false}}));
  TurnOutcome two = end_turn(*t, call("1") + call("2"), false);
  CHECK(two.errors == 1);
  CHECK(two.append_text.find("<tool_response> Error: the trajectory's time for tools (max_seconds 0.1) is spent; this call was not run") !=
        std::string::npos);
}

TEST_CASE("tool host: several calls in one turn, errors as tool messages", "[tools][host]") {
  Harness h;
  auto s = h.host->open(use({{"stop_after_call", false}, {"max_calls_per_turn", 3}}));
  TurnOutcome o = end_turn(*s, "<think>" + call("print(1)") + call("print(2)", "pyhton") + " <tool_call> {oops} </tool_call>" +
                                   call("print(3)") + call("print(4)"),
                           false);
  CHECK_FALSE(o.finished);
  CHECK(o.calls == 5);
  CHECK(o.errors == 4);
  CHECK(o.append_text ==
        " <tool_response> out1 </tool_response>"
        " <tool_response> Error: unknown tool 'pyhton'; tools: python </tool_response>"
        " <tool_response> Error: malformed JSON in the call: parse error at line 1, column 2: syntax error while parsing object key - "
        "invalid literal; last read: '{o'; expected string literal </tool_response>"
        " <tool_response> Error: more than 3 calls in one turn; this one was not run </tool_response>"
        " <tool_response> Error: more than 3 calls in one turn; this one was not run </tool_response>");
  CHECK(h.runner->runs == 1);
  CHECK(o.append == ids_of(o.append_text));
}

TEST_CASE("tool host: done is called once per turn, also when the host goes away with calls in flight", "[tools][host]") {
  std::atomic<int> done_calls{0}, ran{0}, ended{0};
  std::vector<std::unique_ptr<r1::rollout::ToolSession>> sessions;
  {
    Harness h(1);
    h.runner->delay = std::chrono::milliseconds(150);
    for (int i = 0; i < 6; ++i) sessions.push_back(h.host->open(use()));
    for (auto& s : sessions) {
      s->end_turn(call("print(1)"), true, [&](TurnOutcome o) {
        ++done_calls;
        (o.finished ? ended : ran)++;
      });
    }
    std::this_thread::sleep_for(std::chrono::milliseconds(50));
  }  // the host waits for the call running, ends the queued ones
  CHECK(done_calls == 6);
  CHECK(ran >= 1);
  CHECK(ended >= 1);
  // A session outliving its host ends its turns at once.
  std::atomic<int> late{0};
  sessions[0]->end_turn(call("print(2)"), true, [&](TurnOutcome o) {
    CHECK(o.finished);
    ++late;
  });
  CHECK(late == 1);
}

TEST_CASE("tool host: many trajectories at once each get their own answers", "[tools][host]") {
  Harness h(4);
  h.runner->delay = std::chrono::milliseconds(5);
  std::vector<std::unique_ptr<r1::rollout::ToolSession>> sessions;
  for (int i = 0; i < 16; ++i) sessions.push_back(h.host->open(use()));
  std::atomic<int> done{0}, errors{0};
  for (auto& s : sessions)
    s->end_turn(call("print(1)"), true, [&](TurnOutcome o) {
      if (o.finished || o.calls != 1 || !o.append_text.starts_with(" <tool_response> out")) ++errors;
      ++done;
    });
  for (int i = 0; i < 400 && done < 16; ++i) std::this_thread::sleep_for(std::chrono::milliseconds(10));
  CHECK(done == 16);
  CHECK(errors == 0);
  CHECK(h.runner->runs == 16);
}

TEST_CASE("tool host: the python tool end to end in the sandbox (r1-zero and Qwen3)", "[tools][host][python]") {
  auto shared = r1::sandbox::shared_sandbox();
  ToolHost host(qwen(), shared);
  auto s = host.open(use());
  TurnOutcome o = end_turn(*s, " <think>" + call("print(385 * 47)"));
  CHECK_FALSE(o.finished);
  CHECK(o.append_text == " <tool_response> 18095 </tool_response>");
  CHECK(o.append == ids_of(o.append_text));
  CHECK(o.seconds > 0);
  // The notebook's state is the session's.
  TurnOutcome again = end_turn(*s, call("r = 385 * 47\nprint(r % 1000)"));
  CHECK(again.append_text == " <tool_response> 95 </tool_response>");
  CHECK(end_turn(*s, call("print(r + 1)")).append_text == " <tool_response> 18096 </tool_response>");
  auto other = host.open(use());
  TurnOutcome fresh = end_turn(*other, call("print(r)"));
  CHECK(fresh.errors == 1);
  CHECK(fresh.append_text.find("NameError: name 'r' is not defined </tool_response>") != std::string::npos);

  auto q = host.open(use({{"template", "auto"}, {"stop_after_call", false}}));
  TurnOutcome qo = end_turn(*q, kQwenCall1 + "\n" + kQwenCall2 + "<|im_end|>", false);
  CHECK(qo.calls == 2);
  CHECK(qo.errors == 0);
  CHECK(qo.append_text == "\n<|im_start|>user\n<tool_response>\n18095\n</tool_response>\n<tool_response>\n327429025\n</tool_response>"
                          "<|im_end|>\n<|im_start|>assistant\n");
}
