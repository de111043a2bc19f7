// r1 render-chat: JSON lines {"messages": [...], ...} -> {"text": ..., "ids": [...]} through a chat
// template, exactly as transformers' apply_chat_template renders them, to check how training or
// inference prompts look for a model.
//
// Each line: "messages", and optionally "tools", "documents", "add_generation_prompt",
// "continue_final_message", "enable_thinking"; every other key is passed to the template as a
// keyword, as apply_chat_template passes its **kwargs (dataset fields such as "answer" go along
// harmlessly). Lines keep their key order (a tool schema prints as written).
#include <CLI/CLI.hpp>

#include <fstream>
#include <iostream>
#include <optional>

#include "cli/command.h"
#include "core/config.h"
#include "core/error.h"
#include "core/jsonl.h"
#include "tokenizer/chat_template.h"
#include "tokenizer/jinja.h"
#include "tokenizer/tokenizer.h"

namespace r1::cli {
namespace {

struct ChatCommandOptions {
  std::string tokenizer;
  std::string template_spec = "auto";
  std::string input = "-";
  bool no_generation_prompt = false;
  std::string enable_thinking;  // "", "true", "false"
};

bool read_bool(const nlohmann::ordered_json& row, const char* key, bool fallback) {
  auto it = row.find(key);
  if (it == row.end() || it->is_null()) return fallback;
  if (!it->is_boolean()) throw ConfigError(std::string(key) + ": expected true or false");
  return it->get<bool>();
}

// The options a line asks for; the command line's flags are the defaults a line overrides.
ChatOptions line_options(const nlohmann::ordered_json& row, const ChatCommandOptions& opt) {
  ChatOptions options;
  options.add_generation_prompt = read_bool(row, "add_generation_prompt", !opt.no_generation_prompt);
  options.continue_final_message = read_bool(row, "continue_final_message", false);
  if (options.continue_final_message && !row.contains("add_generation_prompt")) options.add_generation_prompt = false;
  if (!opt.enable_thinking.empty()) options.enable_thinking = opt.enable_thinking == "true";
  if (row.contains("enable_thinking") && !row["enable_thinking"].is_null()) options.enable_thinking = read_bool(row, "enable_thinking", false);
  for (auto it = row.begin(); it != row.end(); ++it) {
    const std::string& key = it.key();
    if (key == "tools" || key == "documents") {
      if (!it->is_null() && !it->is_array()) throw ConfigError(key + ": expected a list");
      (key == "tools" ? options.tools : options.documents) = jinja::Value::from_json(*it);
    } else if (key != "messages" && key != "add_generation_prompt" && key != "continue_final_message" && key != "enable_thinking") {
      options.extra.emplace_back(key, jinja::Value::from_json(*it));
    }
  }
  return options;
}

void run_chat(const ChatCommandOptions& opt) {
  std::optional<Tokenizer> tokenizer;
  if (!opt.tokenizer.empty()) tokenizer.emplace(Tokenizer::load(opt.tokenizer));
  ChatTemplate tmpl = ChatTemplate::resolve(opt.template_spec, tokenizer ? &*tokenizer : nullptr);
  std::ifstream file;
  if (opt.input != "-") {
    file.open(opt.input);
    if (!file) throw Error(opt.input + ": cannot open");
  }
  JsonLinesReader reader(opt.input == "-" ? std::cin : file, opt.input == "-" ? "<stdin>" : opt.input);
  nlohmann::ordered_json row;
  while (reader.next(row)) {
    if (!row.is_object() || !row.contains("messages")) throw Error(reader.where() + "expected an object with \"messages\"");
    std::string text;
    try {
      text = tmpl.render(parse_messages(row["messages"], ""), line_options(row, opt));
    } catch (const jinja::TemplateError& e) {
      // The template's own raise_exception is the whole message a user needs; other failures say where.
      throw Error(reader.where() + (e.raised() ? "the chat template refuses this conversation: " + e.message()
                                              : "the chat template failed at its " + std::string(e.what())));
    } catch (const ConfigError& e) {
      throw Error(reader.where() + e.what());
    }
    nlohmann::json out = {{"text", text}};
    if (tokenizer) out["ids"] = tokenizer->encode(text);
    std::cout << to_json_line(out) << '\n';
  }
}

}  // namespace

void add_chat_command(CLI::App& app) {
  auto opt = std::make_shared<ChatCommandOptions>();
  auto* cmd = app.add_subcommand(
      "render-chat",
      "Render JSON lines {\"messages\", \"tools\"?, ...} through a chat template (a model's own Jinja one by default), "
      "printing {\"text\", \"ids\"}");
  cmd->add_option("--tokenizer", opt->tokenizer, "tokenizer.json or model folder (adds \"ids\"; enables 'auto')");
  cmd->add_option("--template", opt->template_spec,
                  "auto (the model's Jinja template), r1-zero, chatml, qwen2.5, qwen3, deepseek-v3, deepseek-r1, "
                  "llama3, or a template file (.jinja, or .json placeholders)");
  cmd->add_option("--input", opt->input, "JSON-lines file (default: stdin)");
  cmd->add_flag("--no-generation-prompt", opt->no_generation_prompt,
                "Do not open an assistant turn at the end (a line's add_generation_prompt overrides)");
  cmd->add_option("--enable-thinking", opt->enable_thinking, "Pass enable_thinking=true|false to the template")
      ->check(CLI::IsMember({"true", "false"}));
  cmd->callback([opt] { run_chat(*opt); });
}

}  // namespace r1::cli
