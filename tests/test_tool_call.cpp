// tools/: the "tools" config (defaults, errors naming the key, schemas, the call format a template
// implies) and the calls parsed out of a turn in each format, bad input included.
#include <catch2/catch.hpp>
#include <nlohmann/json.hpp>

#include <filesystem>
#include <fstream>

#include "core/error.h"
#include "fixtures.h"
#include "tokenizer/tokenizer.h"
#include "tools/tool_call.h"
#include "tools/tool_config.h"
#include "tools/tool_kinds.h"

using nlohmann::json;
using r1::tools::CallFormat;
using r1::tools::parse_tool_calls;
using r1::tools::read_tool_config;
using r1::tools::ToolConfig;

namespace {

ToolConfig python_config(json extra = json::object()) {
  json c = {{"tools", json::array({{{"kind", "python"}}})}};
  c.update(extra);
  return read_tool_config(c, "tools");
}

}  // namespace

TEST_CASE("tool config: defaults, the python tool's options and its schema", "[tools]") {
  ToolConfig c = python_config();
  CHECK(c.format == CallFormat::kAuto);
  CHECK(c.template_spec == "auto");
  CHECK_FALSE(c.stop_after_call);
  CHECK(c.max_calls == 8);
  CHECK(c.max_turns == 9);
  CHECK(c.max_seconds == 120);
  CHECK(c.max_calls_per_turn == 4);
  REQUIRE(c.tools.size() == 1);
  const auto& py = c.tools[0];
  CHECK(py.name == "python");
  CHECK(py.python.timeout_s == 5);
  CHECK(py.python.memory_mb == 256);
  CHECK(py.python.max_output_bytes == 2048);
  CHECK(py.python.replay);
  CHECK(c.schemas() == json::array({{{"type", "function"},
                                     {"function",
                                      {{"name", "python"},
                                       {"description", "Run Python code; what it prints is returned"},
                                       {"parameters",
                                        {{"type", "object"},
                                         {"properties", {{"code", {{"type", "string"}, {"description", "The Python code to run"}}}}},
                                         {"required", json::array({"code"})}}}}}}}));

  ToolConfig full = read_tool_config(json::parse(R"({"format": "deepseek", "template": "deepseek-r1", "stop_after_call": true,
      "max_calls": 3, "max_turns": 4, "max_seconds": 30, "max_calls_per_turn": 2, "failed_call_penalty": 0.1, "call_cap": 2,
      "tools": [{"kind": "python", "name": "py", "timeout_s": 2.5, "memory_mb": 128, "max_output_bytes": 512, "state": "none"}]})"));
  CHECK(full.format == CallFormat::kDeepSeek);
  CHECK(full.template_spec == "deepseek-r1");
  CHECK(full.stop_after_call);
  CHECK(full.max_calls == 3);
  CHECK(full.max_turns == 4);
  CHECK(full.max_seconds == 30);
  CHECK(full.max_calls_per_turn == 2);
  CHECK(full.failed_call_penalty == 0.1);
  CHECK(full.call_cap == 2);
  CHECK(full.tools[0].name == "py");
  CHECK(full.tools[0].python.timeout_s == 2.5);
  CHECK(full.tools[0].python.memory_mb == 128);
  CHECK(full.tools[0].python.max_output_bytes == 512);
  CHECK_FALSE(full.tools[0].python.replay);
  CHECK(full.find("py") == &full.tools[0]);
  CHECK(full.find("python") == nullptr);
  CHECK(full.schemas()[0]["function"]["name"] == "py");
}

TEST_CASE("tool config: bad input names the key at fault", "[tools]") {
  auto error = [](const std::string& text) {
    try {
      read_tool_config(json::parse(text), "tools");
    } catch (const r1::ConfigError& e) {
      return std::string(e.what());
    }
    return std::string("no error");
  };
  CHECK(error(R"({"tools": [{"kind": "python"}], "max_call": 3})") == "tools.max_call: unknown key (did you mean 'max_calls'?)");
  CHECK(error(R"({"tools": [{"kind": "python", "timeout": 3}]})").starts_with("tools.tools[0].timeout: unknown key (did you mean 'timeout_s'?)"));
  CHECK(error(R"({"tools": [{"kind": "pyton"}]})") == "tools.tools[0].kind: unknown tool kind 'pyton' (did you mean 'python'?); kinds: python, external, plugin, remote");
  CHECK(error(R"({"tools": [{"kind": "python", "timeout_s": -1}]})") == "tools.tools[0].timeout_s: must be in (0, 600]");
  CHECK(error(R"({"tools": [{"kind": "python", "timeout_s": "5"}]})").starts_with("tools.tools[0].timeout_s: expected number"));
  CHECK(error(R"({"tools": [{"kind": "python", "state": "notebook"}]})").find("tools.tools[0].state: expected one of replay|none") == 0);
  CHECK(error(R"({"tools": [{"kind": "python"}], "format": "qwen"})").find("tools.format: expected one of auto|hermes|deepseek|llama3") == 0);
  CHECK(error(R"({"tools": [{"kind": "python"}, {"kind": "python"}]})") == "tools.tools[1].name: tool 'python' appears twice");
  CHECK(error(R"({"tools": []})") == "tools.tools: expected a non-empty list of tools");
  CHECK(error(R"({})").starts_with("tools.tools: missing"));
  CHECK(error(R"({"tools": [{"kind": "python"}], "max_calls": 0})") == "tools.max_calls: must be at least 1");
  CHECK(error(R"({"tools": [{"kind": "python", "name": "my tool"}]})").starts_with("tools.tools[0].name: 'my tool' is not a tool name"));
  CHECK(error(R"([1])") == "tools: expected an object");
}

TEST_CASE("tool config: the call format follows the chat template", "[tools]") {
  using r1::tools::resolve_format;
  CHECK(resolve_format(CallFormat::kDeepSeek, "r1-zero", nullptr) == CallFormat::kDeepSeek);  // given: kept
  for (const char* name : {"r1-zero", "chatml", "qwen2.5", "qwen3"}) CHECK(resolve_format(CallFormat::kAuto, name, nullptr) == CallFormat::kHermes);
  CHECK(resolve_format(CallFormat::kAuto, "deepseek-v3", nullptr) == CallFormat::kDeepSeek);
  CHECK(resolve_format(CallFormat::kAuto, "deepseek-r1", nullptr) == CallFormat::kDeepSeek);
  CHECK(resolve_format(CallFormat::kAuto, "llama3", nullptr) == CallFormat::kLlama3);
  // A model's own template: what its source writes.
  r1::Tokenizer qwen = r1::Tokenizer::load(r1::test::qwen3_dir());
  CHECK(resolve_format(CallFormat::kAuto, "auto", &qwen) == CallFormat::kHermes);
  r1::Tokenizer deepseek = r1::Tokenizer::load(r1::test::deepseek_dir());
  CHECK(resolve_format(CallFormat::kAuto, "auto", &deepseek) == CallFormat::kDeepSeek);
  const auto file = std::filesystem::temp_directory_path() / "r1_test_llama_tools.jinja";
  std::ofstream(file) << "{% for m in messages %}{% if m.tool_calls %}<|python_tag|>{% endif %}{{ m.content }}{% endfor %}";
  CHECK(resolve_format(CallFormat::kAuto, file.string(), nullptr) == CallFormat::kLlama3);
  std::filesystem::remove(file);
  CHECK_THROWS_WITH(resolve_format(CallFormat::kAuto, "auto", nullptr), Catch::Contains("needs the model's tokenizer"));

  CHECK(r1::tools::call_stop_strings(CallFormat::kHermes, true) == std::vector<std::string>{"</tool_call>"});
  CHECK(r1::tools::call_stop_strings(CallFormat::kDeepSeek, true) == std::vector<std::string>{"<｜tool▁call▁end｜>"});
  CHECK(r1::tools::call_stop_strings(CallFormat::kLlama3, true).empty());
  CHECK(r1::tools::call_stop_strings(CallFormat::kHermes, false).empty());
}

TEST_CASE("tool calls: hermes blocks, any whitespace, several a turn", "[tools]") {
  ToolConfig c = python_config();
  auto turn = parse_tool_calls(
      "Let me check.\n<tool_call>\n{\"name\": \"python\", \"arguments\": {\"code\": \"print(1 + 1)\"}}\n</tool_call>\n"
      "and <tool_call>{\"name\":\"python\",\n  \"arguments\":{\"code\":\"x = 3\\nprint(x)\"}}</tool_call>",
      CallFormat::kHermes, c);
  REQUIRE(turn.calls.size() == 2);
  CHECK(turn.calls[0].ok());
  CHECK(turn.calls[0].name == "python");
  CHECK(turn.calls[0].arguments == json{{"code", "print(1 + 1)"}});
  CHECK(turn.calls[1].arguments["code"] == "x = 3\nprint(x)");
  CHECK(turn.unclosed_block.empty());
  // r1-zero's spacing; arguments given as a JSON string (OpenAI's habit); "parameters" for "arguments".
  turn = parse_tool_calls("<think> <tool_call> {\"name\": \"python\", \"arguments\": \"{\\\"code\\\": \\\"print(2)\\\"}\"} </tool_call>",
                          CallFormat::kHermes, c);
  REQUIRE(turn.calls.size() == 1);
  CHECK(turn.calls[0].ok());
  CHECK(turn.calls[0].arguments == json{{"code", "print(2)"}});
  turn = parse_tool_calls("<tool_call>{\"name\": \"python\", \"parameters\": {\"code\": \"1\"}}</tool_call>", CallFormat::kHermes, c);
  CHECK(turn.calls.at(0).ok());
  // No attempt: no calls (the trajectory ends).
  CHECK(parse_tool_calls("<think> 2 + 2 = 4 </think> <answer> 4 </answer>", CallFormat::kHermes, c).calls.empty());
  CHECK(parse_tool_calls("", CallFormat::kHermes, c).calls.empty());
}

TEST_CASE("tool calls: each bad hermes call becomes a call with an error", "[tools]") {
  ToolConfig c = python_config({{"max_calls_per_turn", 2}});
  auto one = [&](const std::string& text) {
    auto turn = parse_tool_calls(text, CallFormat::kHermes, c);
    REQUIRE(turn.calls.size() == 1);
    CHECK_FALSE(turn.calls[0].ok());
    return turn.calls[0];
  };
  CHECK(one("<tool_call>{\"name\": \"python\", \"arguments\": {\"code\": \"print(1)\"}</tool_call>").error.starts_with("malformed JSON in the call: parse error"));
  CHECK(one("<tool_call>print(1)</tool_call>").error.starts_with("malformed JSON in the call"));
  auto unknown = one("<tool_call>{\"name\": \"pyhton\", \"arguments\": {\"code\": \"1\"}}</tool_call>");
  CHECK(unknown.error == "unknown tool 'pyhton'; tools: python");
  CHECK(unknown.name == "pyhton");
  CHECK(one("<tool_call>{\"name\": \"python\", \"arguments\": {\"code\": 5}}</tool_call>").error == "arguments.code: expected a string, got integer");
  CHECK(one("<tool_call>{\"name\": \"python\", \"arguments\": [\"print(1)\"]}</tool_call>").error == "arguments: expected an object, got array");
  CHECK(one("<tool_call>{\"name\": \"python\", \"arguments\": {}}</tool_call>").error == "arguments.code: missing");
  CHECK(one("<tool_call>{\"arguments\": {}}</tool_call>").error == "the call has no \"name\" string");
  CHECK(one("<tool_call>[1, 2]</tool_call>").error.starts_with("a call must be a JSON object"));
  CHECK(one("text <tool_call>{\"name\": \"python\", \"arguments\": {\"code\": \"1\"}}").error == "<tool_call> is never closed (no </tool_call>)");
  CHECK(one("<tool_call><tool_call>{\"name\": \"python\"}</tool_call></tool_call>").error ==
        "a call inside another call (<tool_call> inside <tool_call>)");
  CHECK(one("the answer </tool_call>").error == "a </tool_call> with no <tool_call> before it");

  // More calls than max_calls_per_turn: the extra ones are not run.
  const std::string call = "<tool_call>{\"name\": \"python\", \"arguments\": {\"code\": \"1\"}}</tool_call>";
  auto turn = parse_tool_calls(call + call + call, CallFormat::kHermes, c);
  REQUIRE(turn.calls.size() == 3);
  CHECK(turn.calls[0].ok());
  CHECK(turn.calls[1].ok());
  CHECK(turn.calls[2].error == "more than 2 calls in one turn; this one was not run");
  // A good call after a bad one still runs.
  turn = parse_tool_calls("<tool_call>{bad</tool_call>" + call, CallFormat::kHermes, c);
  REQUIRE(turn.calls.size() == 2);
  CHECK_FALSE(turn.calls[0].ok());
  CHECK(turn.calls[1].ok());
}

TEST_CASE("tool calls: DeepSeek's call blocks", "[tools]") {
  ToolConfig c = python_config();
  const std::string v3 =
      "I'll compute it.<｜tool▁calls▁begin｜><｜tool▁call▁begin｜>function<｜tool▁sep｜>python\n```json\n{\"code\": \"print(6 * 7)\"}\n```"
      "<｜tool▁call▁end｜>\n<｜tool▁call▁begin｜>function<｜tool▁sep｜>python\n```json\n{\"code\": \"print(1)\"}\n```<｜tool▁call▁end｜>"
      "<｜tool▁calls▁end｜><｜end▁of▁sentence｜>";
  auto turn = parse_tool_calls(v3, CallFormat::kDeepSeek, c);
  REQUIRE(turn.calls.size() == 2);
  CHECK(turn.calls[0].ok());
  CHECK(turn.calls[0].arguments == json{{"code", "print(6 * 7)"}});
  CHECK(turn.calls[1].arguments == json{{"code", "print(1)"}});
  CHECK(turn.unclosed_block.empty());
  // Stopped at the call stop: the block is left open, and the host closes it.
  turn = parse_tool_calls("<｜tool▁calls▁begin｜><｜tool▁call▁begin｜>function<｜tool▁sep｜>python\n```json\n{\"code\": \"1\"}\n```<｜tool▁call▁end｜>",
                          CallFormat::kDeepSeek, c);
  REQUIRE(turn.calls.size() == 1);
  CHECK(turn.calls[0].ok());
  CHECK(turn.unclosed_block == "<｜tool▁calls▁end｜>");
  // V3.1's shape: NAME<｜tool▁sep｜>ARGS.
  turn = parse_tool_calls("<｜tool▁calls▁begin｜><｜tool▁call▁begin｜>python<｜tool▁sep｜>{\"code\": \"2\"}<｜tool▁call▁end｜><｜tool▁calls▁end｜>",
                          CallFormat::kDeepSeek, c);
  REQUIRE(turn.calls.size() == 1);
  CHECK(turn.calls[0].arguments == json{{"code", "2"}});
  // Bad ones.
  auto error = [&](const std::string& text) {
    auto t = parse_tool_calls(text, CallFormat::kDeepSeek, c);
    REQUIRE(t.calls.size() == 1);
    return t.calls[0].error;
  };
  CHECK(error("<｜tool▁call▁begin｜>function<｜tool▁sep｜>pyhton\n```json\n{}\n```<｜tool▁call▁end｜>") == "unknown tool 'pyhton'; tools: python");
  CHECK(error("<｜tool▁call▁begin｜>function<｜tool▁sep｜>python\n```json\n{code: 1}\n```<｜tool▁call▁end｜>").starts_with("malformed JSON arguments"));
  CHECK(error("<｜tool▁call▁begin｜>function python {}<｜tool▁call▁end｜>") == "no <｜tool▁sep｜> in the call");
  CHECK(error("<｜tool▁calls▁begin｜><｜tool▁call▁begin｜>function<｜tool▁sep｜>python\n```json\n{\"code\": \"1\"}") ==
        "<｜tool▁call▁begin｜> is never closed (no <｜tool▁call▁end｜>)");
  CHECK(error("<｜tool▁calls▁begin｜>nothing") == "no call inside <｜tool▁calls▁begin｜>");
  CHECK(parse_tool_calls("<think>no tools</think>42", CallFormat::kDeepSeek, c).calls.empty());
}

TEST_CASE("tool calls: Llama 3.1's python tag", "[tools]") {
  ToolConfig c = python_config();
  auto turn = parse_tool_calls("<|python_tag|>import math\nprint(math.factorial(5))<|eom_id|>", CallFormat::kLlama3, c);
  REQUIRE(turn.calls.size() == 1);
  CHECK(turn.calls[0].ok());
  CHECK(turn.calls[0].name == "python");
  CHECK(turn.calls[0].arguments == json{{"code", "import math\nprint(math.factorial(5))"}});
  turn = parse_tool_calls("<|python_tag|>{\"name\": \"python\", \"parameters\": {\"code\": \"print(3)\"}}", CallFormat::kLlama3, c);
  REQUIRE(turn.calls.size() == 1);
  CHECK(turn.calls[0].arguments == json{{"code", "print(3)"}});
  turn = parse_tool_calls("<|python_tag|>{\"name\": \"search\", \"parameters\": {\"q\": \"x\"}}", CallFormat::kLlama3, c);
  CHECK(turn.calls.at(0).error == "unknown tool 'search'; tools: python");
  CHECK(parse_tool_calls("<|python_tag|>  <|eom_id|>", CallFormat::kLlama3, c).calls.at(0).error == "no code after <|python_tag|>");
  CHECK(parse_tool_calls("<|python_tag|>print(1)<|python_tag|>print(2)", CallFormat::kLlama3, c).calls.at(0).error ==
        "a call inside another call (<|python_tag|> after <|python_tag|>)");
  CHECK(parse_tool_calls("The answer is 4.", CallFormat::kLlama3, c).calls.empty());
}

TEST_CASE("tool calls: arguments checked against a schema", "[tools]") {
  using r1::tools::check_arguments;
  json schema = {{"type", "object"},
                 {"properties", {{"q", {{"type", "string"}}}, {"n", {{"type", "integer"}}}, {"x", {{"type", "number"}}},
                                 {"flag", {{"type", "boolean"}}}, {"list", {{"type", "array"}}}}},
                 {"required", json::array({"q"})}};
  CHECK(check_arguments(schema, {{"q", "a"}, {"n", 3}, {"x", 1.5}, {"flag", true}, {"list", json::array()}}) == "");
  CHECK(check_arguments(schema, {{"q", "a"}, {"n", 3.0}}) == "");  // 3.0 is an integer
  CHECK(check_arguments(schema, {{"q", "a"}, {"n", 3.5}}) == "arguments.n: expected an integer, got number");
  CHECK(check_arguments(schema, {{"q", "a"}, {"flag", "yes"}}) == "arguments.flag: expected a boolean, got string");
  CHECK(check_arguments(schema, {{"n", 1}}) == "arguments.q: missing");
  CHECK(check_arguments(schema, {{"q", "a"}, {"other", 1}}) == "");  // extra keys pass unless the schema forbids them
  schema["additionalProperties"] = false;
  CHECK(check_arguments(schema, {{"q", "a"}, {"other", 1}}) == "arguments.other: not a parameter of this tool");
  CHECK(check_arguments(schema, "q") == "arguments: expected an object, got string");
}
