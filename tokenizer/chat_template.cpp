#include "tokenizer/chat_template.h"

#include <nlohmann/json.hpp>

#include <algorithm>

#include "core/config.h"
#include "core/error.h"
#include "core/text.h"
#include "tokenizer/tokenizer.h"

namespace r1 {
namespace {

const char* const kR1ZeroPreamble =
    "A conversation between User and Assistant. The user asks a question, and the Assistant solves it. "
    "The assistant first thinks about the reasoning process in the mind and then provides the user with the "
    "answer. The reasoning process and answer are enclosed within <think> </think> and <answer> </answer> tags, "
    "respectively, i.e., <think> reasoning process here </think> <answer> answer here </answer>.";

const char* const kQwen25DefaultSystem = "You are Qwen, created by Alibaba Cloud. You are a helpful assistant.";

// Python's str.strip / lstrip / rstrip with a set of characters.
std::string_view lstrip(std::string_view s, std::string_view chars) {
  size_t b = s.find_first_not_of(chars);
  return b == std::string_view::npos ? std::string_view() : s.substr(b);
}
std::string_view rstrip(std::string_view s, std::string_view chars) {
  size_t e = s.find_last_not_of(chars);
  return e == std::string_view::npos ? std::string_view() : s.substr(0, e + 1);
}
std::string_view strip(std::string_view s, std::string_view chars) { return lstrip(rstrip(s, chars), chars); }
constexpr std::string_view kWhitespace = " \t\n\r\v\f";

// Python's s.split(sep)[-1] and s.split(sep)[0].
std::string_view after_last(std::string_view s, std::string_view sep) {
  size_t at = s.rfind(sep);
  return at == std::string_view::npos ? s : s.substr(at + sep.size());
}
std::string_view before_first(std::string_view s, std::string_view sep) {
  size_t at = s.find(sep);
  return at == std::string_view::npos ? s : s.substr(0, at);
}

std::string replace_all(std::string text, std::string_view from, std::string_view to) {
  if (from.empty()) return text;
  std::string out;
  size_t at = 0;
  for (size_t hit; (hit = text.find(from, at)) != std::string::npos; at = hit + from.size()) {
    out.append(text, at, hit - at).append(to);
  }
  return out.append(text, at);
}

enum class Kind { kR1Zero, kChatML, kQwen25, kQwen3, kDeepSeekV3, kDeepSeekR1, kLlama3, kFile };

struct FileTemplate {
  std::string bos, system, user, assistant, generation_prompt;
  std::optional<std::string> default_system;
};

}  // namespace

struct ChatTemplate::Impl {
  Kind kind;
  std::string name;
  std::string bos_token, eos_token;
  FileTemplate file;

  std::string render(const std::vector<ChatMessage>& messages, const ChatOptions& options) const {
    switch (kind) {
      case Kind::kR1Zero: return r1_zero(messages, options);
      case Kind::kChatML:
      case Kind::kQwen25: return chatml(messages, options);
      case Kind::kQwen3: return qwen3(messages, options);
      case Kind::kDeepSeekV3:
      case Kind::kDeepSeekR1: return deepseek(messages, options);
      case Kind::kLlama3: return llama3(messages, options);
      case Kind::kFile: return from_file(messages, options);
    }
    return {};
  }

  std::string r1_zero(const std::vector<ChatMessage>& messages, const ChatOptions& options) const {
    std::string out;
    size_t i = 0;
    if (!messages.empty() && messages[0].role == "system") {
      out = messages[0].content;
      i = 1;
    } else {
      out = kR1ZeroPreamble;
    }
    for (; i < messages.size(); ++i) {
      const auto& m = messages[i];
      if (m.role == "user") out += " User: " + m.content + ".";
      else if (m.role == "assistant") out += " Assistant: " + m.content;
      else out += "\n\n" + m.content;
    }
    if (options.add_generation_prompt) out += " Assistant:";
    return out;
  }

  std::string chatml(const std::vector<ChatMessage>& messages, const ChatOptions& options) const {
    std::string out;
    if (kind == Kind::kQwen25 && (messages.empty() || messages[0].role != "system")) {
      out += std::string("<|im_start|>system\n") + kQwen25DefaultSystem + "<|im_end|>\n";
    }
    for (const auto& m : messages) out += "<|im_start|>" + m.role + "\n" + m.content + "<|im_end|>\n";
    if (options.add_generation_prompt) out += "<|im_start|>assistant\n";
    return out;
  }

  // Qwen3's template (tools aside), step for step.
  std::string qwen3(const std::vector<ChatMessage>& messages, const ChatOptions& options) const {
    std::string out;
    if (!messages.empty() && messages[0].role == "system") {
      out += "<|im_start|>system\n" + messages[0].content + "<|im_end|>\n";
    }
    // The last user turn that is not a wrapped tool response.
    size_t last_query = messages.empty() ? 0 : messages.size() - 1;
    for (size_t k = messages.size(); k-- > 0;) {
      const auto& c = messages[k].content;
      bool tool_response = c.starts_with("<tool_response>") && c.ends_with("</tool_response>");
      if (messages[k].role == "user" && !tool_response) {
        last_query = k;
        break;
      }
    }
    for (size_t i = 0; i < messages.size(); ++i) {
      const auto& m = messages[i];
      if (m.role == "user" || (m.role == "system" && i != 0)) {
        out += "<|im_start|>" + m.role + "\n" + m.content + "<|im_end|>\n";
      } else if (m.role == "assistant") {
        std::string_view content = m.content;
        std::string_view reasoning;
        if (m.reasoning_content) {
          reasoning = *m.reasoning_content;
        } else if (content.find("</think>") != std::string_view::npos) {
          std::string_view whole = m.content;
          content = lstrip(after_last(whole, "</think>"), "\n");
          reasoning = lstrip(after_last(rstrip(before_first(whole, "</think>"), "\n"), "<think>"), "\n");
        }
        bool last = i + 1 == messages.size();
        if (i > last_query && (last || !reasoning.empty())) {
          out += "<|im_start|>" + m.role + "\n<think>\n" + std::string(strip(reasoning, "\n")) + "\n</think>\n\n" +
                 std::string(lstrip(content, "\n"));
        } else {
          out += "<|im_start|>" + m.role + "\n" + std::string(content);
        }
        out += "<|im_end|>\n";
      }
    }
    if (options.add_generation_prompt) {
      out += "<|im_start|>assistant\n";
      if (options.enable_thinking.has_value() && !*options.enable_thinking) out += "<think>\n\n</think>\n\n";
    }
    return out;
  }

  std::string deepseek(const std::vector<ChatMessage>& messages, const ChatOptions& options) const {
    std::string system;
    bool first_system = true;
    for (const auto& m : messages) {
      if (m.role != "system") continue;
      system += first_system ? m.content : "\n\n" + m.content;
      first_system = false;
    }
    std::string out = bos_token + system;
    for (const auto& m : messages) {
      if (m.role == "user") {
        out += "<｜User｜>" + m.content;
      } else if (m.role == "assistant") {
        std::string content = m.content;
        if (kind == Kind::kDeepSeekR1) content = std::string(after_last(content, "</think>"));
        out += "<｜Assistant｜>" + content + "<｜end▁of▁sentence｜>";
      }
    }
    if (options.add_generation_prompt) out += kind == Kind::kDeepSeekR1 ? "<｜Assistant｜><think>\n" : "<｜Assistant｜>";
    return out;
  }

  std::string llama3(const std::vector<ChatMessage>& messages, const ChatOptions& options) const {
    std::string out = bos_token.empty() ? "<|begin_of_text|>" : bos_token;
    for (const auto& m : messages) {
      out += "<|start_header_id|>" + m.role + "<|end_header_id|>\n\n" + std::string(strip(m.content, kWhitespace)) +
             "<|eot_id|>";
    }
    if (options.add_generation_prompt) out += "<|start_header_id|>assistant<|end_header_id|>\n\n";
    return out;
  }

  std::string end_of_turn() const {
    switch (kind) {
      case Kind::kR1Zero: return "";
      case Kind::kChatML:
      case Kind::kQwen25:
      case Kind::kQwen3: return "<|im_end|>";
      case Kind::kDeepSeekV3:
      case Kind::kDeepSeekR1: return eos_token.empty() ? "<｜end▁of▁sentence｜>" : eos_token;
      case Kind::kLlama3: return "<|eot_id|>";
      case Kind::kFile: {
        const size_t at = file.assistant.find("{content}");
        if (at == std::string::npos) return "";
        ChatMessage none;
        return std::string(strip(fill(file.assistant.substr(at + 9), none), kWhitespace));
      }
    }
    return "";
  }

  std::string fill(const std::string& pattern, const ChatMessage& m) const {
    std::string s = replace_all(pattern, "{bos_token}", bos_token);
    s = replace_all(std::move(s), "{eos_token}", eos_token);
    s = replace_all(std::move(s), "{role}", m.role);
    return replace_all(std::move(s), "{content}", m.content);
  }

  std::string from_file(const std::vector<ChatMessage>& messages, const ChatOptions& options) const {
    ChatMessage none;
    std::string out = fill(file.bos, none);
    if (file.default_system && (messages.empty() || messages[0].role != "system")) {
      out += fill(file.system, ChatMessage{"system", *file.default_system, std::nullopt});
    }
    for (const auto& m : messages) {
      const std::string& pattern = m.role == "system" ? file.system : m.role == "user" ? file.user : file.assistant;
      out += fill(pattern, m);
    }
    if (options.add_generation_prompt) out += fill(file.generation_prompt, none);
    return out;
  }
};

namespace {

struct NamedKind {
  const char* name;
  Kind kind;
};
const NamedKind kNamed[] = {{"r1-zero", Kind::kR1Zero},         {"chatml", Kind::kChatML},
                            {"qwen2.5", Kind::kQwen25},         {"qwen3", Kind::kQwen3},
                            {"deepseek-v3", Kind::kDeepSeekV3}, {"deepseek-r1", Kind::kDeepSeekR1},
                            {"llama3", Kind::kLlama3}};

}  // namespace

ChatTemplate::ChatTemplate(std::unique_ptr<Impl> impl) : impl_(std::move(impl)) {}
ChatTemplate::ChatTemplate(ChatTemplate&&) noexcept = default;
ChatTemplate& ChatTemplate::operator=(ChatTemplate&&) noexcept = default;
ChatTemplate::~ChatTemplate() = default;

std::vector<std::string> ChatTemplate::names() {
  std::vector<std::string> out;
  for (const auto& n : kNamed) out.emplace_back(n.name);
  return out;
}

ChatTemplate ChatTemplate::named(std::string_view name, const Tokenizer* tokenizer) {
  for (const auto& n : kNamed) {
    if (name != n.name) continue;
    auto impl = std::make_unique<Impl>();
    impl->kind = n.kind;
    impl->name = n.name;
    if (tokenizer) {
      impl->bos_token = tokenizer->bos_token();
      impl->eos_token = tokenizer->eos_token();
    }
    if ((n.kind == Kind::kDeepSeekV3 || n.kind == Kind::kDeepSeekR1) && impl->bos_token.empty()) {
      impl->bos_token = "<｜begin▁of▁sentence｜>";
    }
    return ChatTemplate(std::move(impl));
  }
  std::string message = "unknown chat template '" + std::string(name) + "'";
  if (auto near = closest_match(name, names()); !near.empty()) message += " (did you mean '" + near + "'?)";
  std::string list;
  for (const auto& n : kNamed) list += std::string(list.empty() ? "" : ", ") + n.name;
  throw ConfigError(message + "; known: " + list + ", or a template file (.json)");
}

ChatTemplate ChatTemplate::detect(const Tokenizer& tokenizer) {
  const std::string& t = tokenizer.chat_template();
  auto has = [&](std::string_view s) { return t.find(s) != std::string::npos; };
  const char* name = nullptr;
  if (t.empty()) {
    throw ConfigError("the tokenizer has no chat_template in tokenizer_config.json; choose a template by name (" +
                      std::string("r1-zero, chatml, qwen2.5, qwen3, deepseek-v3, deepseek-r1, llama3) or a file"));
  } else if (has("<|im_start|>") && has("enable_thinking")) {
    name = "qwen3";
  } else if (has("<|im_start|>") && has("You are Qwen, created by Alibaba Cloud")) {
    name = "qwen2.5";
  } else if (has("<|im_start|>")) {
    name = "chatml";
  } else if (has("<｜Assistant｜>")) {
    name = has("<｜Assistant｜><think>\\n") ? "deepseek-r1" : "deepseek-v3";
  } else if (has("<|start_header_id|>")) {
    name = "llama3";
  } else {
    throw ConfigError("tokenizer_config.json: chat_template is not one r1 recognises; choose one by name "
                      "(r1-zero, chatml, qwen2.5, qwen3, deepseek-v3, deepseek-r1, llama3) or give a template file");
  }
  return named(name, &tokenizer);
}

ChatTemplate ChatTemplate::from_file(const std::string& path, const Tokenizer* tokenizer) {
  nlohmann::json json = read_json_file(path);
  auto impl = std::make_unique<Impl>();
  impl->kind = Kind::kFile;
  impl->name = path;
  ConfigReader r(json, "");
  try {
    impl->file.bos = r.get("bos", "");
    impl->file.system = r.get("system", "{content}\n");
    impl->file.user = r.require_string("user");
    impl->file.assistant = r.require_string("assistant");
    impl->file.generation_prompt = r.get("generation_prompt", "");
    if (r.has("default_system")) impl->file.default_system = r.get("default_system", "");
    impl->bos_token = r.get("bos_token", tokenizer ? tokenizer->bos_token() : std::string());
    impl->eos_token = r.get("eos_token", tokenizer ? tokenizer->eos_token() : std::string());
    r.finish();
  } catch (const ConfigError& e) {
    throw ConfigError(path + ": " + e.what());
  }
  return ChatTemplate(std::move(impl));
}

ChatTemplate ChatTemplate::resolve(const std::string& spec, const Tokenizer* tokenizer) {
  if (spec.ends_with(".json")) return from_file(spec, tokenizer);
  if (spec.empty() || spec == "auto") {
    if (!tokenizer) throw ConfigError("chat template 'auto' needs a tokenizer");
    return detect(*tokenizer);
  }
  return named(spec, tokenizer);
}

const std::string& ChatTemplate::name() const { return impl_->name; }

std::string ChatTemplate::render(const std::vector<ChatMessage>& messages, const ChatOptions& options) const {
  return impl_->render(messages, options);
}

std::string ChatTemplate::end_of_turn() const { return impl_->end_of_turn(); }

std::vector<int64_t> stop_token_ids(const Tokenizer& tokenizer, const ChatTemplate* chat_template,
                                    const std::vector<int64_t>& model_eos_ids) {
  std::vector<int64_t> ids;
  auto add = [&](int64_t id) {
    if (std::find(ids.begin(), ids.end(), id) == ids.end()) ids.push_back(id);
  };
  for (int64_t id : model_eos_ids) add(id);
  if (auto eos = tokenizer.eos_id()) add(*eos);
  if (chat_template) {
    const std::string end = chat_template->end_of_turn();
    if (auto id = end.empty() ? std::nullopt : tokenizer.token_to_id(end)) add(*id);
  }
  return ids;
}

std::vector<ChatMessage> parse_messages(const nlohmann::json& messages, const std::string& where) {
  if (!messages.is_array()) throw ConfigError(where + "messages: expected array");
  std::vector<ChatMessage> out;
  for (size_t i = 0; i < messages.size(); ++i) {
    ChatMessage m;
    try {
      ConfigReader r(messages[i], "messages[" + std::to_string(i) + "]");
      m.role = r.get_choice("role", "", {"system", "user", "assistant"});
      m.content = r.get("content", "");
      if (r.has("reasoning_content")) m.reasoning_content = r.get("reasoning_content", "");
      r.raw("name");  // accepted and ignored, as chat templates do
      r.finish();
    } catch (const ConfigError& e) {
      throw ConfigError(where + e.what());
    }
    out.push_back(std::move(m));
  }
  return out;
}

}  // namespace r1
