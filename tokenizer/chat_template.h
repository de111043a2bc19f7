// Chat templates: conversations rendered to the exact text (and ids) a model was trained on.
//
// A model's own template is Jinja (tokenizer_config.json's chat_template, or chat_template.jinja
// beside it): r1 runs it with its Jinja engine (tokenizer/jinja.h) exactly as transformers'
// apply_chat_template does, tools, tool calls, reasoning and extra keywords included. That is
// `auto`, the default. Besides it, named templates cover prompts a model does not carry and base
// checkpoints without a template:
//
//   r1-zero      DeepSeek-R1-Zero's prompt: "A conversation between User and Assistant. ...
//                User: {prompt}. Assistant:"
//   chatml       <|im_start|>{role}\n{content}<|im_end|>\n
//   qwen2.5      chatml with Qwen2.5's default system prompt
//   qwen3        chatml with Qwen3's reasoning handling (<think> blocks kept only after the last
//                user turn; enable_thinking=false adds an empty think block)
//   deepseek-v3  <｜begin▁of▁sentence｜>{system}<｜User｜>...<｜Assistant｜>...<｜end▁of▁sentence｜>
//   deepseek-r1  deepseek-v3 with reasoning stripped from past turns and "<think>\n" opening the answer
//   llama3       <|begin_of_text|><|start_header_id|>{role}<|end_header_id|>\n\n{content}<|eot_id|>
//
// These render system / user / assistant text only (no tools), but for r1-zero, which renders a tool
// message inline in the assistant's turn: " <tool_response> {content} </tool_response>", the turn going
// on after it (tools/tool_render.h). A `.jinja` file is a Jinja template
// of one's own; a `.json` file a small placeholder format: {"bos": "...", "system":
// "...{content}...", "user": "...", "assistant": "...", "generation_prompt": "...", "default_system":
// "..."}; placeholders {content}, {role}, {bos_token}, {eos_token}. Unknown keys are errors.
#pragma once

#include <nlohmann/json_fwd.hpp>

#include <cstdint>
#include <memory>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include "tokenizer/jinja_value.h"

namespace r1 {

class Tokenizer;

struct ChatMessage {
  std::string role;     // system | user | assistant (tool, ipython, ... for Jinja templates)
  std::string content;  // a multi-part content's text parts, joined
  std::optional<std::string> reasoning_content;  // qwen3: reasoning given separately
  // The whole message as the data gave it (tool_calls, tool_call_id, name, multi-part content, ...),
  // what a Jinja template sees; undefined for a message built from the fields above alone.
  jinja::Value message;
};

struct ChatOptions {
  bool add_generation_prompt = true;
  std::optional<bool> enable_thinking;  // passed to the template when set
  // transformers' continue_final_message: the text ends right after the last message's content, so
  // generation continues it (never with add_generation_prompt).
  bool continue_final_message = false;
  jinja::Value tools;      // a list of tool schemas; undefined: none (the template sees None)
  jinja::Value documents;  // likewise, for retrieval templates
  std::vector<std::pair<std::string, jinja::Value>> extra;  // any other keyword for the template
};

class ChatTemplate {
 public:
  // By name (see above); bos/eos text comes from the tokenizer when one is given.
  static ChatTemplate named(std::string_view name, const Tokenizer* tokenizer = nullptr);
  // The model's own Jinja template (see Tokenizer::chat_templates; "tool_use" is used when tools are
  // given and the model has one, as transformers does); throws when it has none or it does not parse.
  static ChatTemplate detect(const Tokenizer& tokenizer);
  // Jinja source; the special tokens it sees come from the tokenizer when one is given.
  static ChatTemplate jinja(const std::string& source, const Tokenizer* tokenizer, const std::string& name = "jinja");
  // A user template file: Jinja (.jinja) or the placeholder format (.json).
  static ChatTemplate from_file(const std::string& path, const Tokenizer* tokenizer = nullptr);
  // `spec`: auto (or ""), a name, or a path to a template file (.json or .jinja).
  static ChatTemplate resolve(const std::string& spec, const Tokenizer* tokenizer);
  static std::vector<std::string> names();

  ChatTemplate(ChatTemplate&&) noexcept;
  ChatTemplate& operator=(ChatTemplate&&) noexcept;
  ~ChatTemplate();

  const std::string& name() const;
  bool is_jinja() const;  // a Jinja template (the model's own or a .jinja file), not a named or .json one
  // Throws jinja::TemplateError when a Jinja template refuses the conversation (its raise_exception:
  // e.raised()) or fails on it; ConfigError when a named template cannot render it (tools, roles).
  // `generation_spans`: the byte ranges {% generation %} blocks produced (Jinja templates only).
  std::string render(const std::vector<ChatMessage>& messages, const ChatOptions& options = {},
                     std::vector<std::pair<size_t, size_t>>* generation_spans = nullptr) const;
  // The text that closes an assistant turn, where the model must stop: "<|im_end|>" (chatml, qwen2.5,
  // qwen3), "<|eot_id|>" (llama3), the tokenizer's eos text (deepseek-v3, deepseek-r1), what a template
  // file's "assistant" pattern has after {content} (trimmed); "" when the turn has no closing text
  // (r1-zero, whose completions end at the tokenizer's eos). For a Jinja template: what it writes after
  // an assistant message's content (its first special token when that is one), found by rendering one.
  std::string end_of_turn() const;

  struct Impl;

 private:
  explicit ChatTemplate(std::unique_ptr<Impl> impl);
  std::unique_ptr<Impl> impl_;
};

// The token ids that end a completion, the one rule for `r1 generate`, the rollout workers and the
// trainer: `model_eos_ids` (config.json's and generation_config.json's eos_token_id,
// checkpoint/config.h's read_eos_token_ids), then the tokenizer's eos, then the template's end of turn
// when it is one token of the vocabulary; each id once, in that order.
std::vector<int64_t> stop_token_ids(const Tokenizer& tokenizer, const ChatTemplate* chat_template,
                                    const std::vector<int64_t>& model_eos_ids);

// Reads message objects: "role" (a string), "content" (a string, null or a list of parts),
// "reasoning_content", and any other key, kept for Jinja templates in ChatMessage::message (an
// ordered_json keeps the keys in the order given, as Python's json does). Errors name `where`
// ("line 3: messages[1].role: ...").
std::vector<ChatMessage> parse_messages(const nlohmann::json& messages, const std::string& where);
std::vector<ChatMessage> parse_messages(const nlohmann::ordered_json& messages, const std::string& where);

}  // namespace r1
