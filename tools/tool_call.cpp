#include "tools/tool_call.h"

#include "tools/tool_kinds.h"

namespace r1::tools {
namespace {

using nlohmann::json;

constexpr std::string_view kSpace = " \t\r\n\v\f";

std::string_view strip(std::string_view s) {
  size_t b = s.find_first_not_of(kSpace);
  if (b == std::string_view::npos) return {};
  size_t e = s.find_last_not_of(kSpace);
  return s.substr(b, e - b + 1);
}

// A block between an opening and a closing tag: its body, or why it cannot be read.
struct Block {
  std::string_view body;
  std::string error;
};

// Every block of `open` ... `close` in the text, in order. Nesting is followed to the outer block's
// close (and is an error); a close before any open and an open never closed are errors.
std::vector<Block> blocks(std::string_view text, std::string_view open, std::string_view close) {
  std::vector<Block> out;
  const std::string o(open), c(close);
  size_t pos = 0;
  while (pos < text.size()) {
    size_t at_open = text.find(open, pos), at_close = text.find(close, pos);
    if (at_open == std::string_view::npos && at_close == std::string_view::npos) break;
    if (at_close < at_open) {
      out.push_back({{}, "a " + c + " with no " + o + " before it"});
      pos = at_close + close.size();
      continue;
    }
    int depth = 1;
    bool nested = false;
    size_t scan = at_open + open.size(), body_end = std::string_view::npos;
    while (depth > 0) {
      size_t next_open = text.find(open, scan), next_close = text.find(close, scan);
      if (next_close == std::string_view::npos) break;
      if (next_open < next_close) {
        ++depth;
        nested = true;
        scan = next_open + open.size();
      } else {
        --depth;
        body_end = next_close;
        scan = next_close + close.size();
      }
    }
    if (depth > 0) {
      out.push_back({{}, o + " is never closed (no " + c + ")"});
      break;
    }
    if (nested) out.push_back({{}, "a call inside another call (" + o + " inside " + o + ")"});
    else out.push_back({text.substr(at_open + open.size(), body_end - at_open - open.size()), ""});
    pos = scan;
  }
  return out;
}

std::string json_error(const std::exception& e) {
  std::string what = e.what();
  if (what.starts_with("[json.exception.")) {
    size_t end = what.find("] ");
    if (end != std::string::npos) what = what.substr(end + 2);
  }
  return what.size() > 200 ? what.substr(0, 200) + "..." : what;
}

// Parses `text` as one JSON value; on failure sets *error.
json parse(std::string_view text, std::string* error) {
  try {
    return json::parse(text.begin(), text.end());
  } catch (const json::exception& e) {
    *error = json_error(e);
    return json();
  }
}

// The named tool and the arguments checked against its schema.
ToolCall resolve(std::string name, json arguments, const ToolConfig& config) {
  ToolCall call{std::move(name), std::move(arguments), ""};
  const ToolSpec* tool = config.find(call.name);
  if (!tool) {
    call.error = "unknown tool '" + call.name + "'; tools: " + config.names();
    return call;
  }
  if (call.arguments.is_string()) {  // OpenAI's habit: the arguments as a JSON string
    std::string error;
    json inner = parse(call.arguments.get<std::string>(), &error);
    if (error.empty() && inner.is_object()) call.arguments = std::move(inner);
  }
  const json& parameters = tool->schema.at("function").at("parameters");
  call.error = check_arguments(parameters, call.arguments);
  return call;
}

// {"name": ..., "arguments" | "parameters": {...}}
ToolCall json_call(std::string_view body, const ToolConfig& config) {
  std::string error;
  json j = parse(strip(body), &error);
  if (!error.empty()) return {"", json(), "malformed JSON in the call: " + error};
  if (!j.is_object()) return {"", json(), "a call must be a JSON object {\"name\": ..., \"arguments\": {...}}"};
  auto name = j.find("name");
  if (name == j.end() || !name->is_string()) return {"", json(), "the call has no \"name\" string"};
  json arguments = json::object();
  if (auto a = j.find("arguments"); a != j.end()) arguments = *a;
  else if (auto p = j.find("parameters"); p != j.end()) arguments = *p;
  return resolve(name->get<std::string>(), std::move(arguments), config);
}

void parse_hermes(std::string_view text, const ToolConfig& config, ParsedTurn& out) {
  for (const Block& b : blocks(text, "<tool_call>", "</tool_call>"))
    out.calls.push_back(b.error.empty() ? json_call(b.body, config) : ToolCall{"", json(), b.error});
}

constexpr std::string_view kCallsBegin = "<｜tool▁calls▁begin｜>", kCallsEnd = "<｜tool▁calls▁end｜>";
constexpr std::string_view kCallBegin = "<｜tool▁call▁begin｜>", kCallEnd = "<｜tool▁call▁end｜>";
constexpr std::string_view kSep = "<｜tool▁sep｜>";

// V3 / R1: TYPE<｜tool▁sep｜>NAME\n```json\n{ARGS}\n```; V3.1: NAME<｜tool▁sep｜>{ARGS}.
ToolCall deepseek_call(std::string_view body, const ToolConfig& config) {
  size_t sep = body.find(kSep);
  if (sep == std::string_view::npos) return {"", json(), "no <｜tool▁sep｜> in the call"};
  std::string_view left = strip(body.substr(0, sep)), right = body.substr(sep + kSep.size());
  std::string_view name = left, args = strip(right);
  size_t newline = right.find('\n');
  if (left == "function" && newline != std::string_view::npos) {
    name = strip(right.substr(0, newline));
    args = strip(right.substr(newline + 1));
    if (args.starts_with("```")) {
      size_t eol = args.find('\n');
      args = eol == std::string_view::npos ? std::string_view() : args.substr(eol + 1);
    }
    if (args.ends_with("```")) args.remove_suffix(3);
    args = strip(args);
  }
  if (name.empty()) return {"", json(), "the call names no function"};
  std::string error;
  json arguments = args.empty() ? json::object() : parse(args, &error);
  if (!error.empty()) return {std::string(name), json(), "malformed JSON arguments: " + error};
  return resolve(std::string(name), std::move(arguments), config);
}

void parse_deepseek(std::string_view text, const ToolConfig& config, ParsedTurn& out) {
  for (const Block& b : blocks(text, kCallBegin, kCallEnd))
    out.calls.push_back(b.error.empty() ? deepseek_call(b.body, config) : ToolCall{"", json(), b.error});
  size_t begin = text.rfind(kCallsBegin);
  if (begin != std::string_view::npos) {
    if (text.find(kCallBegin, begin) == std::string_view::npos && out.calls.empty())
      out.calls.push_back({"", json(), "no call inside <｜tool▁calls▁begin｜>"});
    if (text.find(kCallsEnd, begin) == std::string_view::npos) out.unclosed_block = std::string(kCallsEnd);
  }
}

void parse_llama3(std::string_view text, const ToolConfig& config, ParsedTurn& out) {
  constexpr std::string_view kTag = "<|python_tag|>";
  size_t at = text.find(kTag);
  if (at == std::string_view::npos) return;
  std::string_view rest = text.substr(at + kTag.size());
  for (std::string_view end : {"<|eom_id|>", "<|eot_id|>"}) {
    rest = strip(rest);
    if (rest.ends_with(end)) rest.remove_suffix(end.size());
  }
  if (rest.find(kTag) != std::string_view::npos) {
    out.calls.push_back({"", json(), "a call inside another call (<|python_tag|> after <|python_tag|>)"});
    return;
  }
  std::string_view body = strip(rest);
  if (body.starts_with("{")) {
    std::string error;
    json j = parse(body, &error);
    if (error.empty() && j.is_object() && j.contains("name")) {
      out.calls.push_back(json_call(body, config));
      return;
    }
  }
  const ToolSpec* python = nullptr;
  for (const ToolSpec& t : config.tools)
    if (t.kind == "python" && !python) python = &t;
  if (!python) {
    out.calls.push_back({"", json(), "<|python_tag|> code needs a python tool; tools: " + config.names()});
  } else if (body.empty()) {
    out.calls.push_back({python->name, json(), "no code after <|python_tag|>"});
  } else {
    out.calls.push_back(resolve(python->name, json{{"code", std::string(body)}}, config));
  }
}

}  // namespace

ParsedTurn parse_tool_calls(std::string_view text, CallFormat format, const ToolConfig& config) {
  ParsedTurn out;
  switch (format) {
    case CallFormat::kDeepSeek: parse_deepseek(text, config, out); break;
    case CallFormat::kLlama3: parse_llama3(text, config, out); break;
    case CallFormat::kHermes:
    case CallFormat::kAuto: parse_hermes(text, config, out); break;
  }
  const size_t max = static_cast<size_t>(std::max<int64_t>(config.max_calls_per_turn, 1));
  for (size_t i = max; i < out.calls.size(); ++i)
    out.calls[i].error = "more than " + std::to_string(max) + " calls in one turn; this one was not run";
  return out;
}

}  // namespace r1::tools
