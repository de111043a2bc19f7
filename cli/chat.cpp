// r1 render-chat: JSON lines {"messages": [...]} -> {"text": ..., "ids": [...]} through a chat
// template, to check how training or inference prompts look for a model.
#include <CLI/CLI.hpp>

#include <fstream>
#include <iostream>
#include <optional>

#include "cli/command.h"
#include "core/config.h"
#include "core/error.h"
#include "core/jsonl.h"
#include "tokenizer/chat_template.h"
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
  nlohmann::json row;
  while (reader.next(row)) {
    if (!row.is_object() || !row.contains("messages")) throw Error(reader.where() + "expected an object with \"messages\"");
    ChatOptions options;
    std::string text;
    try {
      // Rows may carry other dataset fields (answer, tests, ...): only these keys are read.
      ConfigReader r(row, "");
      options.add_generation_prompt = r.get("add_generation_prompt", !opt.no_generation_prompt);
      if (!opt.enable_thinking.empty()) options.enable_thinking = opt.enable_thinking == "true";
      if (r.has("enable_thinking")) options.enable_thinking = r.get("enable_thinking", false);
      text = tmpl.render(parse_messages(*r.raw("messages"), ""), options);
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
  auto* cmd = app.add_subcommand("render-chat", "Render JSON lines {\"messages\"} through a chat template");
  cmd->add_option("--tokenizer", opt->tokenizer, "tokenizer.json or model folder (adds \"ids\"; enables 'auto')");
  cmd->add_option("--template", opt->template_spec,
                  "auto (from tokenizer_config.json), r1-zero, chatml, qwen2.5, qwen3, deepseek-v3, deepseek-r1, "
                  "llama3, or a template file (.json)");
  cmd->add_option("--input", opt->input, "JSON-lines file (default: stdin)");
  cmd->add_flag("--no-generation-prompt", opt->no_generation_prompt, "Do not open an assistant turn at the end");
  cmd->add_option("--enable-thinking", opt->enable_thinking, "qwen3: true or false")
      ->check(CLI::IsMember({"true", "false"}));
  cmd->callback([opt] { run_chat(*opt); });
}

}  // namespace r1::cli
