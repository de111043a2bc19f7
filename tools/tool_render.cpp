#include "tools/tool_render.h"

#include <nlohmann/json.hpp>

#include <algorithm>

#include "core/error.h"
#include "tokenizer/tokenizer.h"

namespace r1::tools {
namespace {

// Stands for the assistant turn's content: the appended text is what the template writes after it.
const char* const kMarker = "r1-tool-turn-content-marker";

}  // namespace

ChatMessage tool_chat_message(const ToolMessage& m) {
  ChatMessage out;
  out.role = "tool";
  out.content = m.content;
  nlohmann::json j = {{"role", "tool"}, {"content", m.content}};
  if (!m.name.empty()) j["name"] = m.name;
  if (!m.call_id.empty()) j["tool_call_id"] = m.call_id;
  out.message = jinja::Value::from_json(j);
  return out;
}

TurnRenderer::TurnRenderer(const ChatTemplate& chat_template, const Tokenizer& tokenizer, jinja::Value tools)
    : template_(chat_template), tokenizer_(tokenizer) {
  options_.add_generation_prompt = true;
  // The built-in and placeholder-file templates render no tool list (the prompt had none either).
  const auto named = ChatTemplate::names();
  const bool builtin = std::find(named.begin(), named.end(), chat_template.name()) != named.end() ||
                       chat_template.name().ends_with(".json");
  if (!builtin) options_.tools = std::move(tools);
}

RenderedTurn TurnRenderer::render(const std::vector<ChatMessage>& earlier, const std::string& turn_text, bool call_stop,
                                  const std::vector<ToolMessage>& messages, const std::string& unclosed_block) const {
  std::vector<ChatMessage> conversation;
  conversation.reserve(earlier.size() + messages.size() + 2);
  conversation.push_back({"user", "Hi", std::nullopt, {}});
  conversation.insert(conversation.end(), earlier.begin(), earlier.end());
  conversation.push_back({"assistant", kMarker, std::nullopt, {}});
  for (const ToolMessage& m : messages) conversation.push_back(tool_chat_message(m));
  std::string text;
  try {
    text = template_.render(conversation, options_);
  } catch (const std::exception& e) {
    throw Error("the chat template '" + template_.name() + "' cannot render tool messages: " + e.what());
  }
  const size_t at = text.rfind(kMarker);
  if (at == std::string::npos)
    throw Error("the chat template '" + template_.name() + "' drops the assistant turn before tool messages");
  std::string suffix = text.substr(at + std::string(kMarker).size());
  // The end of turn the model wrote itself: the stop token it ended at, or its text ending the turn.
  const std::string eot = template_.end_of_turn();
  if (!eot.empty() && suffix.starts_with(eot) && (!call_stop || turn_text.ends_with(eot))) suffix.erase(0, eot.size());
  RenderedTurn out;
  out.text = unclosed_block + suffix;
  for (int32_t id : tokenizer_.encode(out.text, false)) out.ids.push_back(id);
  return out;
}

void TurnRenderer::check(const std::string& where) const {
  try {
    render({}, "", true, {{"python", "call_1", "ok"}});
  } catch (const Error& e) {
    throw ConfigError(where + ": " + e.what() + " (use the model's own template, \"auto\", a .jinja file or r1-zero)");
  }
}

}  // namespace r1::tools
