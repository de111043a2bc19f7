// A turn's tool messages as the text (and ids) the engine appends after the model's turn: exactly
// what the chat template renders for the conversation [..., the assistant's turn, its tool messages]
// with add_generation_prompt, after the assistant's content:
//
//   the closing of the assistant turn the model did not write itself
//     (ChatTemplate::end_of_turn(): skipped when the turn ended at a stop token, or its text ends the
//     turn; written when the turn ended at a call stop string such as "</tool_call>"),
//   + the close of a call block the model left open at a call stop (DeepSeek's <｜tool▁calls▁end｜>),
//   + the tool messages, and the opening of the model's next turn.
//
// Qwen2.5/Qwen3 (their own Jinja): "<|im_end|>\n<|im_start|>user\n<tool_response>\n18095\n</tool_response><|im_end|>\n<|im_start|>assistant\n"
// after a turn stopped at </tool_call> ("\n<|im_start|>user..." after one ended at <|im_end|>);
// r1-zero: " <tool_response> 18095 </tool_response>" (the turn goes on). No LibTorch.
#pragma once

#include <cstdint>
#include <string>
#include <vector>

#include "tokenizer/chat_template.h"

namespace r1 {
class Tokenizer;
}

namespace r1::tools {

struct ToolMessage {
  std::string name;     // the tool called ("" for a call that named none)
  std::string call_id;  // "call_1", "call_2", ... in the trajectory
  std::string content;
};

// A role "tool" message as templates expect it: {"role": "tool", "content", "name", "tool_call_id"}.
ChatMessage tool_chat_message(const ToolMessage& message);

struct RenderedTurn {
  std::string text;
  std::vector<int64_t> ids;  // text tokenized without BOS
};

class TurnRenderer {
 public:
  // `tools`: the tool schemas the prompt was rendered with (ChatOptions::tools; a model with a
  // "tool_use" template renders with it). Both must outlive the renderer.
  TurnRenderer(const ChatTemplate& chat_template, const Tokenizer& tokenizer, jinja::Value tools);

  // What follows a model turn whose tool messages are `messages`. `earlier`: the trajectory's
  // messages before this turn (assistant turns and tool messages; templates with state across the
  // conversation, like DeepSeek's, render them as they would); `turn_text`: the model's turn,
  // `call_stop` whether it ended at a call stop string; `unclosed_block`: see ParsedTurn. Throws
  // r1::Error when the template cannot render it.
  RenderedTurn render(const std::vector<ChatMessage>& earlier, const std::string& turn_text, bool call_stop,
                      const std::vector<ToolMessage>& messages, const std::string& unclosed_block = "") const;

  // Throws ConfigError (naming `where`) when the template cannot render a tool message after an
  // assistant turn.
  void check(const std::string& where) const;

 private:
  const ChatTemplate& template_;
  const Tokenizer& tokenizer_;
  ChatOptions options_;
};

}  // namespace r1::tools
