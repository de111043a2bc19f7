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
