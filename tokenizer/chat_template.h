// Chat templates: conversations rendered to the exact text (and ids) a model was trained on.
//
// Hugging Face models carry a Jinja template in tokenizer_config.json. r1 does not run Jinja; it
// implements the templates RL post-training uses as plain code, recognises them from the Jinja
// text, and lets users describe any other format in a small JSON file with placeholders:
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
// Template file (JSON): {"bos": "...", "system": "...{content}...", "user": "...", "assistant": "...",
// "generation_prompt": "...", "default_system": "..."}; placeholders {content}, {role},
// {bos_token}, {eos_token}. Unknown keys are errors.
#pragma once

#include <nlohmann/json_fwd.hpp>

#include <cstdint>
#include <memory>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

namespace r1 {

class Tokenizer;

struct ChatMessage {
  std::string role;  // system | user | assistant
  std::string content;
  std::optional<std::string> reasoning_content;  // qwen3: reasoning given separately
};

struct ChatOptions {
  bool add_generation_prompt = true;
  std::optional<bool> enable_thinking;  // qwen3 only
};

class ChatTemplate {
 public:
  // By name (see above); bos/eos text comes from the tokenizer when one is given.
  static ChatTemplate named(std::string_view name, const Tokenizer* tokenizer = nullptr);
  // Recognises the template from tokenizer_config.json's chat_template; throws naming the choices.
  static ChatTemplate detect(const Tokenizer& tokenizer);
  // A user template file (JSON, see above).
  static ChatTemplate from_file(const std::string& path, const Tokenizer* tokenizer = nullptr);
  // `spec`: a name, or a path to a template file (anything ending in .json).
  static ChatTemplate resolve(const std::string& spec, const Tokenizer* tokenizer);
  static std::vector<std::string> names();

  ChatTemplate(ChatTemplate&&) noexcept;
  ChatTemplate& operator=(ChatTemplate&&) noexcept;
  ~ChatTemplate();

  const std::string& name() const;
  std::string render(const std::vector<ChatMessage>& messages, const ChatOptions& options = {}) const;
  // The text that closes an assistant turn, where the model must stop: "<|im_end|>" (chatml, qwen2.5,
  // qwen3), "<|eot_id|>" (llama3), the tokenizer's eos text (deepseek-v3, deepseek-r1), what a template
  // file's "assistant" pattern has after {content} (trimmed); "" when the turn has no closing text
  // (r1-zero, whose completions end at the tokenizer's eos).
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

// Reads {"role": ..., "content": ...} objects; errors name `where` ("line 3: messages[1].role: ...").
std::vector<ChatMessage> parse_messages(const nlohmann::json& messages, const std::string& where);

}  // namespace r1
