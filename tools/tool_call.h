// The tool calls in a model turn's text, per call format (tool_config.h's CallFormat):
//
//   hermes    <tool_call>{"name": "python", "arguments": {"code": "..."}}</tool_call>  (any whitespace
//             inside the tags; several blocks a turn; "arguments" may be a JSON string of an object)
//   deepseek  <｜tool▁calls▁begin｜><｜tool▁call▁begin｜>function<｜tool▁sep｜>NAME\n```json\n{ARGS}\n```<｜tool▁call▁end｜>
//             ...<｜tool▁calls▁end｜>  (V3 / R1; also V3.1's NAME<｜tool▁sep｜>{ARGS} without type and fence)
//   llama3    <|python_tag|> then the rest of the turn: code for the (first) python tool, or a JSON
//             {"name": ..., "parameters": {...}} object
//
// Bad input never throws: each becomes a call with an error the model is shown (malformed JSON, an
// unknown tool, arguments that do not fit the tool's schema, an opening tag never closed, a call
// inside a call, more calls than max_calls_per_turn). A turn with no call attempt has no calls.
#pragma once

#include <nlohmann/json.hpp>

#include <string>
#include <string_view>
#include <vector>

#include "tools/tool_config.h"

namespace r1::tools {

struct ToolCall {
  std::string name;         // as written ("" when it could not be read)
  nlohmann::json arguments;  // an object when the call is well-formed
  std::string error;         // "" for a call to run; else why it is not run ("unknown tool 'pyhton'; tools: python")
  bool ok() const { return error.empty(); }
};

struct ParsedTurn {
  std::vector<ToolCall> calls;
  // The text that closes the turn's call block when the model did not write it (a turn stopped at a
  // call stop inside DeepSeek's <｜tool▁calls▁begin｜> ... <｜tool▁calls▁end｜>): goes before the tool messages.
  std::string unclosed_block;
};

// `format` must be resolved (not kAuto). Names and arguments are checked against `config`'s tools.
ParsedTurn parse_tool_calls(std::string_view text, CallFormat format, const ToolConfig& config);

}  // namespace r1::tools
