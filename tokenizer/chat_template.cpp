#include "tokenizer/chat_template.h"

#include <nlohmann/json.hpp>

#include <algorithm>
#include <fstream>
#include <sstream>

#include "core/config.h"
#include "core/error.h"
#include "core/text.h"
#include "tokenizer/jinja.h"
#include "tokenizer/jinja_builtins.h"
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

enum class Kind { kR1Zero, kChatML, kQwen25, kQwen3, kDeepSeekV3, kDeepSeekR1, kLlama3, kFile, kJinja };

const char* const kSpecialTokenKeys[] = {"bos_token", "eos_token", "unk_token", "pad_token"};

// The message a Jinja template sees: the data's own object, or one made of role and content.
jinja::Value template_message(const ChatMessage& m) {
  if (m.message.is_dict()) return m.message;
  auto d = std::make_shared<jinja::Dict>();
  d->set(jinja::Value("role"), jinja::Value(m.role));
  d->set(jinja::Value("content"), jinja::Value(m.content));
  if (m.reasoning_content) d->set(jinja::Value("reasoning_content"), jinja::Value(*m.reasoning_content));
  return jinja::Value::dict(std::move(d));
}

jinja::Value or_none(const jinja::Value& v) { return v.is_undefined() ? jinja::Value::none() : v; }

// transformers' continue_final_message: cut the text right after the final message's content (its
// last text part for multi-part content), keeping the content's own trailing whitespace only when
// the template kept it.
std::string continue_final(const std::vector<ChatMessage>& messages, const std::string& rendered) {
  if (messages.empty()) throw ConfigError("continue_final_message: there are no messages");
  std::string final_text = messages.back().content;
  const jinja::Value& m = messages.back().message;
  if (m.is_dict()) {
    const jinja::Value* content = m.as_dict().find("content");
    if (content && content->is_list()) {
      bool found = false;
      for (auto it = content->as_list().rbegin(); it != content->as_list().rend() && !found; ++it) {
        if (!it->is_dict()) continue;
        if (const jinja::Value* text = it->as_dict().find("text")) {
          final_text = text->str();
          found = true;
        }
      }
      if (!found) throw ConfigError("continue_final_message: the final message has no text part to continue");
    }
  }
  const jinja::Value none = jinja::Value::none();
  const std::string stripped = jinja::strip(final_text, none, true, true);
  const std::string lstripped = jinja::strip(final_text, none, true, false);
  const size_t at = rendered.rfind(stripped);
  if (at == std::string::npos) {
    throw ConfigError("continue_final_message: the final message does not appear in the text the template renders");
  }
  if (rendered.compare(at, lstripped.size(), final_text) == 0) return rendered.substr(0, at + lstripped.size());
  return rendered.substr(0, at + stripped.size());
}

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
  // Jinja: the template (and the model's "tool_use" one, used when tools are given), the special
  // tokens it sees, and its end of turn (found once, by rendering).
  std::shared_ptr<const jinja::Template> jinja_default, jinja_tool_use;
  std::vector<std::pair<std::string, std::string>> specials;
  std::string jinja_end_of_turn;

  std::string render(const std::vector<ChatMessage>& messages, const ChatOptions& options,
                     std::vector<std::pair<size_t, size_t>>* spans) const {
    if (options.continue_final_message && options.add_generation_prompt) {
      throw ConfigError("continue_final_message and add_generation_prompt cannot both be set (the first continues "
                        "the last message, the second opens a new one)");
    }
    std::string text = kind == Kind::kJinja ? render_jinja(messages, options, spans) : render_plain(messages, options);
    return options.continue_final_message ? continue_final(messages, text) : text;
  }

  std::string render_jinja(const std::vector<ChatMessage>& messages, const ChatOptions& options,
                           std::vector<std::pair<size_t, size_t>>* spans) const {
    auto ctx = std::make_shared<jinja::Dict>();
    for (const auto& [key, text] : specials) ctx->set(jinja::Value(key), jinja::Value(text));
    jinja::List list;
    list.reserve(messages.size());
    for (const auto& m : messages) list.push_back(template_message(m));
    ctx->set(jinja::Value("messages"), jinja::Value::list(std::move(list)));
    ctx->set(jinja::Value("tools"), or_none(options.tools));
    ctx->set(jinja::Value("documents"), or_none(options.documents));
    ctx->set(jinja::Value("add_generation_prompt"), jinja::Value(options.add_generation_prompt));
    if (options.enable_thinking) ctx->set(jinja::Value("enable_thinking"), jinja::Value(*options.enable_thinking));
    for (const auto& [key, v] : options.extra) ctx->set(jinja::Value(key), v);
    const bool tools = !options.tools.is_undefined() && !options.tools.is_none();
    const jinja::Template& t = tools && jinja_tool_use ? *jinja_tool_use : *jinja_default;
    return t.render(jinja::Value::dict(std::move(ctx)), spans);
  }

  // The built-in templates render text turns only; anything more is refused rather than dropped.
  void check_plain(const std::vector<ChatMessage>& messages, const ChatOptions& options) const {
    const std::string where = "the '" + name + "' template";
    if (!options.tools.is_undefined() && !options.tools.is_none()) {
      throw ConfigError(where + " renders no tools; use the model's own template (--template auto) or a .jinja file");
    }
    for (size_t i = 0; i < messages.size(); ++i) {
      const auto& m = messages[i];
      const std::string at = "messages[" + std::to_string(i) + "]";
      const bool tool_ok = kind == Kind::kR1Zero && m.role == "tool";  // r1-zero renders tool results inline
      if (m.role != "system" && m.role != "user" && m.role != "assistant" && !tool_ok) {
        throw ConfigError(at + ".role: " + where + " renders system, user and assistant turns, not '" + m.role + "'");
      }
      if (m.message.is_dict()) {
        if (m.message.as_dict().find("tool_calls")) throw ConfigError(at + ".tool_calls: " + where + " renders no tool calls");
        const jinja::Value* content = m.message.as_dict().find("content");
        if (content && content->is_list()) throw ConfigError(at + ".content: " + where + " renders text content only");
      }
    }
  }

  std::string render_plain(const std::vector<ChatMessage>& messages, const ChatOptions& options) const {
    check_plain(messages, options);
    switch (kind) {
      case Kind::kR1Zero: return r1_zero(messages, options);
      case Kind::kChatML:
      case Kind::kQwen25: return chatml(messages, options);
      case Kind::kQwen3: return qwen3(messages, options);
      case Kind::kDeepSeekV3:
      case Kind::kDeepSeekR1: return deepseek(messages, options);
      case Kind::kLlama3: return llama3(messages, options);
      case Kind::kFile: return from_file(messages, options);
      case Kind::kJinja: break;
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
    // Tool results sit inside the assistant's turn: " <tool_response> {content} </tool_response>"
    // right after the call the model wrote, and the turn goes on after one space (an assistant message
    // after a tool message is its continuation; no generation prompt after a tool message).
    for (; i < messages.size(); ++i) {
      const auto& m = messages[i];
      const bool after_tool = i > 0 && messages[i - 1].role == "tool";
      if (m.role == "user") out += " User: " + m.content + ".";
      else if (m.role == "assistant" && after_tool) out += " " + std::string(lstrip(m.content, kWhitespace));
      else if (m.role == "assistant") out += " Assistant: " + m.content;
      else if (m.role == "tool") out += " <tool_response> " + m.content + " </tool_response>";
      else out += "\n\n" + m.content;
    }
    const bool continues = !messages.empty() && messages.back().role == "tool";
    if (options.add_generation_prompt && !continues) out += " Assistant:";
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
      case Kind::kJinja: return jinja_end_of_turn;
    }
    return "";
  }

  // What the Jinja template writes after an assistant message: rendered once with a marker for the
  // content; the first special token there when one starts it (Gemma's "<end_of_turn>\n" stops at
  // <end_of_turn>). "" when the template will not render the probe.
  std::string probe_end_of_turn(const Tokenizer* tokenizer) const {
    const std::string marker = "r1-end-of-turn-probe";
    std::string text;
    try {
      ChatOptions options;
      options.add_generation_prompt = false;
      text = render_jinja({{"user", "Hi", std::nullopt, {}}, {"assistant", marker, std::nullopt, {}}}, options, nullptr);
    } catch (const Error&) {
      return "";
    }
    const size_t at = text.rfind(marker);
    if (at == std::string::npos) return "";
    const std::string after(strip(std::string_view(text).substr(at + marker.size()), kWhitespace));
    std::string best;
    if (tokenizer) {
      for (const auto& t : tokenizer->added_tokens()) {
        if (t.special && t.content.size() > best.size() && after.starts_with(t.content)) best = t.content;
      }
    }
    return best.empty() ? after : best;
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
  const auto& templates = tokenizer.chat_templates();
  const std::string* default_source = nullptr;
  const std::string* tool_use_source = nullptr;
  for (const auto& [name, source] : templates) {
    if (name == "default") default_source = &source;
    if (name == "tool_use") tool_use_source = &source;
  }
  if (!default_source) {
    std::string message = templates.empty() ? "the tokenizer has no chat template (tokenizer_config.json's chat_template or chat_template.jinja)"
                                            : "the tokenizer's chat templates have no \"default\" one";
    throw ConfigError(message + "; choose a template by name (r1-zero, chatml, qwen2.5, qwen3, deepseek-v3, "
                                "deepseek-r1, llama3) or give a .jinja or .json file");
  }
  ChatTemplate t = jinja(*default_source, &tokenizer, "auto");
  if (tool_use_source) {
    try {
      t.impl_->jinja_tool_use = std::make_shared<const jinja::Template>(*tool_use_source);
    } catch (const jinja::TemplateError& e) {
      throw ConfigError("chat template 'tool_use': " + std::string(e.what()));
    }
  }
  return t;
}

ChatTemplate ChatTemplate::jinja(const std::string& source, const Tokenizer* tokenizer, const std::string& name) {
  auto impl = std::make_unique<Impl>();
  impl->kind = Kind::kJinja;
  impl->name = name;
  try {
    impl->jinja_default = std::make_shared<const jinja::Template>(source);
  } catch (const jinja::TemplateError& e) {
    throw ConfigError("chat template '" + name + "': " + e.what());
  }
  if (tokenizer) {
    for (const char* key : kSpecialTokenKeys) {
      if (std::string text = tokenizer->special_token_text(key); !text.empty()) impl->specials.emplace_back(key, text);
    }
    impl->bos_token = tokenizer->bos_token();
    impl->eos_token = tokenizer->eos_token();
  }
  impl->jinja_end_of_turn = impl->probe_end_of_turn(tokenizer);
  return ChatTemplate(std::move(impl));
}

ChatTemplate ChatTemplate::from_file(const std::string& path, const Tokenizer* tokenizer) {
  if (path.ends_with(".jinja")) {
    std::ifstream in(path, std::ios::binary);
    if (!in) throw ConfigError(path + ": cannot open");
    std::ostringstream source;
    source << in.rdbuf();
    return jinja(source.str(), tokenizer, path);
  }
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
  if (spec.ends_with(".json") || spec.ends_with(".jinja")) return from_file(spec, tokenizer);
  if (spec.empty() || spec == "auto") {
    if (!tokenizer) throw ConfigError("chat template 'auto' needs a tokenizer");
    return detect(*tokenizer);
  }
  return named(spec, tokenizer);
}

const std::string& ChatTemplate::name() const { return impl_->name; }
bool ChatTemplate::is_jinja() const { return impl_->kind == Kind::kJinja; }

std::string ChatTemplate::render(const std::vector<ChatMessage>& messages, const ChatOptions& options,
                                 std::vector<std::pair<size_t, size_t>>* generation_spans) const {
  return impl_->render(messages, options, generation_spans);
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

namespace {

template <class Json>
std::vector<ChatMessage> read_messages(const Json& messages, const std::string& where) {
  if (!messages.is_array()) throw ConfigError(where + "messages: expected array");
  std::vector<ChatMessage> out;
  for (size_t i = 0; i < messages.size(); ++i) {
    const Json& m = messages[i];
    const std::string at = where + "messages[" + std::to_string(i) + "]";
    if (!m.is_object()) throw ConfigError(at + ": expected an object");
    ChatMessage msg;
    auto role = m.find("role");
    if (role == m.end() || !role->is_string()) throw ConfigError(at + ".role: expected a string");
    msg.role = role->template get<std::string>();
    // Templates decide which roles they take (tool, ipython, developer, ...); a near miss of a common
    // one is a typo that would otherwise render silently wrong.
    static const std::vector<std::string> kRoles = {"system", "user", "assistant", "tool", "developer", "ipython", "function"};
    if (std::find(kRoles.begin(), kRoles.end(), msg.role) == kRoles.end()) {
      if (auto near = closest_match(msg.role, kRoles); !near.empty()) {
        throw ConfigError(at + ".role: unknown role '" + msg.role + "' (did you mean '" + near + "'?)");
      }
    }
    if (auto content = m.find("content"); content != m.end()) {
      if (content->is_string()) {
        msg.content = content->template get<std::string>();
      } else if (content->is_array()) {  // multi-part: its text parts, joined, for the built-in templates
        for (size_t k = 0; k < content->size(); ++k) {
          const Json& part = (*content)[k];
          if (!part.is_object()) throw ConfigError(at + ".content[" + std::to_string(k) + "]: expected an object");
          if (auto text = part.find("text"); text != part.end() && text->is_string()) msg.content += text->template get<std::string>();
        }
      } else if (!content->is_null()) {
        throw ConfigError(at + ".content: expected a string, a list of parts or null");
      }
    }
    if (auto reasoning = m.find("reasoning_content"); reasoning != m.end() && !reasoning->is_null()) {
      if (!reasoning->is_string()) throw ConfigError(at + ".reasoning_content: expected a string");
      msg.reasoning_content = reasoning->template get<std::string>();
    }
    try {
      msg.message = jinja::Value::from_json(m);
    } catch (const jinja::TemplateError& e) {
      throw ConfigError(at + ": " + e.message());
    }
    out.push_back(std::move(msg));
  }
  return out;
}

}  // namespace

std::vector<ChatMessage> parse_messages(const nlohmann::json& messages, const std::string& where) {
  return read_messages(messages, where);
}

std::vector<ChatMessage> parse_messages(const nlohmann::ordered_json& messages, const std::string& where) {
  return read_messages(messages, where);
}

}  // namespace r1
