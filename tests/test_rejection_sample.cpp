// The rejection-sample stage's rows and keys (run/rejection_sample.h): a kept tool trajectory becomes
// a segments row that SFT tokenises back to the very sequence the engine sampled; the tools key.
#include <catch2/catch.hpp>
#include <nlohmann/json.hpp>

#include <string>
#include <vector>

#include "core/config.h"
#include "core/error.h"
#include "run/rejection_sample.h"
#include "run/sampling.h"
#include "run/sft_data.h"
#include "tests/run_helpers.h"
#include "tokenizer/byte_tokenizer.h"
#include "tokenizer/chat_template.h"
#include "tokenizer/tokenizer.h"

using r1::Tokenizer;

namespace {

// A sample as the Sampler hands it over: ids, 1 where the model sampled them, the whole text.
r1::run::ScoredSample sample(const Tokenizer& tok, const std::vector<std::pair<std::string, bool>>& parts) {
  r1::run::ScoredSample s;
  for (const auto& [text, sampled] : parts) {
    const std::vector<int32_t> ids = tok.encode(text);
    s.ids.insert(s.ids.end(), ids.begin(), ids.end());
    s.sampled.insert(s.sampled.end(), ids.size(), sampled ? 1 : 0);
    s.text += text;
  }
  return s;
}

}  // namespace

TEST_CASE("rejection: a kept tool trajectory becomes a segments row that SFT tokenises back to the sampled sequence", "[rejection][sft]") {
  r1::test::Dir d("r1-rejection-", "row");
  r1::write_byte_tokenizer(d.path.string());
  const Tokenizer tok = Tokenizer::load(d.path.string());
  const r1::run::ScoredSample s =
      sample(tok, {{"<tool_call>add(2, 3)</tool_call><|im_end|>", true},
                   {"\n<|im_start|>user\n<tool_response>5</tool_response><|im_end|>\n<|im_start|>assistant\n", false},
                   {"<answer> 5 </answer><|im_end|>", true}});
  r1::run::PromptRow row;
  row.prompt = "2+3?";
  row.reference = {{"answer", "5"}};

  const nlohmann::json j = r1::run::rejection_sft_row(row, s, tok);
  CHECK(j == nlohmann::json{
                 {"prompt", "2+3?"},
                 {"segments",
                  {{{"text", "<tool_call>add(2, 3)</tool_call><|im_end|>"}, {"train", true}},
                   {{"text", "\n<|im_start|>user\n<tool_response>5</tool_response><|im_end|>\n<|im_start|>assistant\n"}, {"train", false}},
                   {{"text", "<answer> 5 </answer><|im_end|>"}, {"train", true}}}},
                 {"source", "rejection"},
                 {"answer", "5"}});

  // The SFT stage, with the template the samples were drawn with, rebuilds the engine's sequence:
  // the prompt ids the Sampler sent, then the trajectory's ids, trained exactly where they were sampled.
  const r1::ChatTemplate chatml = r1::ChatTemplate::named("chatml", &tok);
  const r1::run::SftExample ex = r1::run::tokenize_row(j, chatml, tok, "sft.jsonl:1");
  std::vector<int32_t> ids = tok.encode(r1::run::PromptRenderer(tok, "chatml").text(row));
  std::vector<uint8_t> train(ids.size(), 0);
  ids.insert(ids.end(), s.ids.begin(), s.ids.end());
  train.insert(train.end(), s.sampled.begin(), s.sampled.end());
  CHECK(ex.ids == ids);
  CHECK(ex.train == train);

  // A row with "messages" keeps them as the prompt.
  r1::run::PromptRow chat;
  chat.messages = {{{"role", "system"}, {"content", "Use the tools."}}, {{"role", "user"}, {"content", "2+3?"}}};
  const nlohmann::json m = r1::run::rejection_sft_row(chat, s, tok);
  CHECK(m["messages"] == chat.messages);
  CHECK_FALSE(m.contains("prompt"));
  CHECK(m["segments"] == j["segments"]);
  std::vector<int32_t> chat_ids = tok.encode(r1::run::PromptRenderer(tok, "chatml").text(chat));
  chat_ids.insert(chat_ids.end(), s.ids.begin(), s.ids.end());
  CHECK(r1::run::tokenize_row(m, chatml, tok, "sft.jsonl:2").ids == chat_ids);

  // A completion that called no tool (every token sampled) keeps the plain shape.
  r1::run::ScoredSample plain = sample(tok, {{" <answer> 5 </answer>", true}});
  CHECK(r1::run::rejection_sft_row(row, plain, tok) ==
        nlohmann::json{{"messages", {{{"role", "user"}, {"content", "2+3?"}}, {{"role", "assistant"}, {"content", "<answer> 5 </answer>"}}}},
                       {"source", "rejection"},
                       {"answer", "5"}});
  plain.sampled.clear();
  CHECK(r1::run::rejection_sft_row(row, plain, tok).contains("messages"));
}

TEST_CASE("rejection-sample: a tools object is read with the stage's template, anything else is refused by key", "[rejection]") {
  nlohmann::json stage = {{"model", "m"}, {"prompts", "p.jsonl"}, {"template", "chatml"},
                          {"rewards", {{{"kind", "math"}, {"name", "accuracy"}}}}};
  {
    r1::ConfigReader r(stage, "stages[1]");
    CHECK(r1::run::RejectionSampleConfig::read(r).tools.is_null());
    r.finish();
  }
  const nlohmann::json python = nlohmann::json::array({{{"kind", "python"}}});
  stage["tools"] = {{"call_cap", 4}, {"tools", python}};
  {
    r1::ConfigReader r(stage, "stages[1]");
    const r1::run::RejectionSampleConfig c = r1::run::RejectionSampleConfig::read(r);
    r.finish();
    CHECK(c.tools == nlohmann::json{{"call_cap", 4}, {"tools", python}, {"template", "chatml"}});
  }
  stage["tools"] = {{"call_capp", 4}, {"tools", python}};
  {
    r1::ConfigReader r(stage, "stages[1]");
    CHECK_THROWS_WITH(r1::run::RejectionSampleConfig::read(r), Catch::Contains("stages[1].tools.call_capp: unknown key"));
  }
  stage["tools"] = "python";
  r1::ConfigReader r(stage, "stages[1]");
  CHECK_THROWS_WITH(r1::run::RejectionSampleConfig::read(r), Catch::Contains("stages[1].tools: expected an object"));
}
