// SentencePiece-lineage tokenizer.json parts on small hand-built files: the Metaspace
// pre-tokenizer (each prepend_scheme, split on and off, the legacy add_prefix_space), byte
// fallback, and the decoders Replace, ByteFallback, Fuse, Strip and Metaspace, in one go and
// streamed; and refusal, by name, of what r1 does not support. The real Llama 2 and Gemma 3 files
// are checked against Hugging Face's Rust library in test_tokenizer_reference.cpp.
#include <catch2/catch.hpp>
#include <nlohmann/json.hpp>

#include <cstdio>

#include "tokenizer/tokenizer.h"

using nlohmann::json;
using r1::Tokenizer;
using Ids = std::vector<int32_t>;

namespace {

const std::string kSpace = "\u2581";  // "▁"
const std::string kFffd = "\xEF\xBF\xBD";

// A character BPE in SentencePiece's style: <unk> <s> </s>, the 256 <0xNN> byte tokens (ids 3..258),
// then characters and merges over "▁"-prefixed words. Ranks: "▁ h" < "l l" < "▁h e" < "ll o" <
// "▁he llo" < "o ▁" < "▁ w" < "o r".
json sp_tokenizer() {
  json vocab = {{"<unk>", 0}, {"<s>", 1}, {"</s>", 2}};
  for (int b = 0; b < 256; ++b) {
    char name[8];
    std::snprintf(name, sizeof name, "<0x%02X>", b);
    vocab[name] = 3 + b;
  }
  int next = 259;
  for (const char* c : {"\u2581", "h", "e", "l", "o", "w", "r", "d"}) vocab[c] = next++;
  const std::vector<std::pair<std::string, std::string>> merges = {
      {kSpace, "h"}, {"l", "l"}, {kSpace + "h", "e"}, {"ll", "o"}, {kSpace + "he", "llo"},
      {"o", kSpace}, {kSpace, "w"}, {"o", "r"}};
  json merge_list = json::array();
  for (const auto& [a, b] : merges) {
    merge_list.push_back(a + " " + b);
    if (!vocab.contains(a + b)) vocab[a + b] = next++;
  }
  json t;
  t["model"] = {{"type", "BPE"},          {"vocab", vocab},       {"merges", merge_list}, {"unk_token", "<unk>"},
                {"byte_fallback", true}, {"fuse_unk", true},    {"dropout", nullptr}};
  // Llama 2's pipeline: Prepend("▁") and Replace(" " -> "▁") normalizers, no pre-tokenizer.
  t["normalizer"] = {{"type", "Sequence"},
                     {"normalizers", json::array({{{"type", "Prepend"}, {"prepend", kSpace}},
                                                  {{"type", "Replace"}, {"pattern", {{"String", " "}}}, {"content", kSpace}}})}};
  t["pre_tokenizer"] = nullptr;
  t["decoder"] = {{"type", "Sequence"},
                  {"decoders", json::array({{{"type", "Replace"}, {"pattern", {{"String", kSpace}}}, {"content", " "}},
                                            {{"type", "ByteFallback"}},
                                            {{"type", "Fuse"}},
                                            {{"type", "Strip"}, {"content", " "}, {"start", 1}, {"stop", 0}}})}};
  t["post_processor"] = nullptr;
  t["added_tokens"] = json::array({
      {{"id", 0}, {"content", "<unk>"}, {"special", true}, {"normalized", false}},
      {{"id", 1}, {"content", "<s>"}, {"special", true}, {"normalized", false}},
      {{"id", 2}, {"content", "</s>"}, {"special", true}, {"normalized", false}},
  });
  return t;
}

// The same vocabulary with a Metaspace pre-tokenizer (and decoder) instead of the normalizers.
json metaspace_tokenizer(json options) {
  json t = sp_tokenizer();
  t["normalizer"] = nullptr;
  json pre = {{"type", "Metaspace"}, {"replacement", kSpace}};
  pre.update(options);
  t["pre_tokenizer"] = pre;
  t["decoder"] = pre;
  return t;
}

int32_t id(const Tokenizer& t, const std::string& token) {
  auto found = t.token_to_id(token);
  REQUIRE(found.has_value());
  return *found;
}

int32_t byte_id(int b) { return 3 + b; }

std::string streamed(const Tokenizer& t, const Ids& ids, bool skip_special = false) {
  r1::DecodeStream stream(t, skip_special);
  std::string out;
  for (int32_t i : ids) out += stream.step(i);
  return out + stream.finish();
}

}  // namespace

TEST_CASE("sentencepiece: Prepend + Replace normalizers, character BPE, byte fallback", "[tokenizer]") {
  Tokenizer t = Tokenizer::from_json(sp_tokenizer(), nullptr);
  const int32_t hello = id(t, kSpace + "hello"), w = id(t, kSpace + "w"), o_r = id(t, "or");
  CHECK(t.encode("hello world") == Ids{hello, w, o_r, id(t, "l"), id(t, "d")});
  // "é" is not in the vocabulary: its UTF-8 bytes 0xC3 0xA9 as <0xC3> <0xA9>.
  CHECK(t.encode("é") == Ids{id(t, kSpace), byte_id(0xC3), byte_id(0xA9)});
  // Each section between added tokens is normalized on its own, so each gets its "▁".
  CHECK(t.encode("hello<s>hello") == Ids{hello, 1, hello});
  // A run of spaces is a run of "▁" (no pre-tokenizer: one word, merged as a whole).
  CHECK(t.encode("lo w") == Ids{id(t, kSpace), id(t, "l"), id(t, "o" + kSpace), id(t, "w")});
}

TEST_CASE("sentencepiece: byte fallback without a byte token falls back to <unk>, fused", "[tokenizer]") {
  json j = sp_tokenizer();
  j["model"]["vocab"].erase("<0xA9>");
  Tokenizer t = Tokenizer::from_json(j, nullptr);
  // "é" needs <0xA9>, which is missing: the whole character is unknown; fuse_unk joins neighbours.
  CHECK(t.encode("éé") == Ids{id(t, kSpace), 0});
  j["model"]["fuse_unk"] = false;
  CHECK(Tokenizer::from_json(j, nullptr).encode("éé") == Ids{id(t, kSpace), 0, 0});
}

TEST_CASE("sentencepiece: Replace + ByteFallback + Fuse + Strip decoding", "[tokenizer]") {
  Tokenizer t = Tokenizer::from_json(sp_tokenizer(), nullptr);
  for (const std::string text : {"hello world", "é hello", "  hello  ", "wörld 👍🏽 你好"}) {
    Ids ids = t.encode(text);
    CHECK(t.decode(ids) == text);  // Strip takes back the one "▁" the normalizer prepended
    CHECK(streamed(t, ids) == t.decode(ids));
  }
  // After an added token the section's own "▁" stays: only the start of the text is stripped.
  CHECK(t.decode(t.encode("hello<s>hello")) == "hello<s> hello");
  const int32_t sp = id(t, kSpace);
  CHECK(t.decode(Ids{sp, sp, id(t, "d")}) == " d");  // Strip(start 1) removes one space only
  // ByteFallback: a valid run is its UTF-8 text; an invalid one is one U+FFFD per byte.
  CHECK(t.decode(Ids{byte_id(0xE4), byte_id(0xBD), byte_id(0xA0)}) == "你");
  CHECK(t.decode(Ids{byte_id(0xE4), byte_id(0xBD), id(t, "d")}) == kFffd + kFffd + "d");
  CHECK(t.decode(Ids{byte_id(0xE4), byte_id(0xBD), byte_id(0xA0), byte_id(0xFF)}) == kFffd + kFffd + kFffd + kFffd);
  CHECK(t.decode(Ids{byte_id(0x41), id(t, "d"), byte_id(0x42)}) == "AdB");
  // skip_special_tokens drops <s> before the decoders run.
  CHECK(t.decode(Ids{1, id(t, kSpace + "hello")}, true) == "hello");
  CHECK(t.decode(Ids{1, id(t, kSpace + "hello")}, false) == "<s> hello");
}

TEST_CASE("sentencepiece: streaming holds a <0xNN> run until it ends, then equals decode", "[tokenizer]") {
  Tokenizer t = Tokenizer::from_json(sp_tokenizer(), nullptr);
  r1::DecodeStream stream(t);
  CHECK(stream.step(id(t, kSpace + "hello")) == "hello");
  CHECK(stream.step(byte_id(0xE4)).empty());
  CHECK(stream.step(byte_id(0xBD)).empty());
  CHECK(stream.step(byte_id(0xA0)).empty());  // complete, but a following invalid byte would spoil it
  CHECK(stream.step(id(t, kSpace + "w")) == "你 w");
  CHECK(stream.step(byte_id(0xE4)).empty());
  CHECK(stream.finish() == kFffd);
  // Every cut of a mixed sequence streams to exactly decode(all).
  Ids ids = {id(t, kSpace), id(t, kSpace), byte_id(0xC3), byte_id(0xA9), byte_id(0xFF), id(t, "d"), 1,
             byte_id(0x41), id(t, kSpace + "hello"), byte_id(0xF0)};
  for (size_t n = 0; n <= ids.size(); ++n) {
    Ids prefix(ids.begin(), ids.begin() + static_cast<std::ptrdiff_t>(n));
    CHECK(streamed(t, prefix) == t.decode(prefix));
    CHECK(streamed(t, prefix, true) == t.decode(prefix, true));
  }
}

TEST_CASE("sentencepiece: Metaspace pre-tokenizer prepend_scheme always / first / never", "[tokenizer]") {
  Tokenizer always = Tokenizer::from_json(metaspace_tokenizer({{"prepend_scheme", "always"}}), nullptr);
  Tokenizer first = Tokenizer::from_json(metaspace_tokenizer({{"prepend_scheme", "first"}}), nullptr);
  Tokenizer never = Tokenizer::from_json(metaspace_tokenizer({{"prepend_scheme", "never"}}), nullptr);
  const int32_t hello = id(always, kSpace + "hello"), h = id(always, "h"), e = id(always, "e"), llo = id(always, "llo");
  CHECK(always.encode("hello") == Ids{hello});
  CHECK(first.encode("hello") == Ids{hello});
  CHECK(never.encode("hello") == Ids{h, e, llo});
  // After an added token: "always" prepends to every section, "first" only at the start of the input.
  CHECK(always.encode("hello<s>hello") == Ids{hello, 1, hello});
  CHECK(first.encode("hello<s>hello") == Ids{hello, 1, h, e, llo});
  CHECK(first.encode("<s>hello") == Ids{1, h, e, llo});
  CHECK(never.encode("<s>hello") == Ids{1, h, e, llo});
  // A word already starting with a space gets no second "▁".
  CHECK(always.encode(" hello") == Ids{hello});
  // The legacy add_prefix_space key: true keeps the default "always"; false needs "never" declared
  // too (tokenizers refuses it alone, since the scheme then defaults to "always").
  CHECK(Tokenizer::from_json(metaspace_tokenizer({{"add_prefix_space", true}}), nullptr).encode("hello") == Ids{hello});
  CHECK(Tokenizer::from_json(metaspace_tokenizer({{"add_prefix_space", false}, {"prepend_scheme", "never"}}), nullptr)
            .encode("hello") == Ids{h, e, llo});
  CHECK_THROWS_WITH(Tokenizer::from_json(metaspace_tokenizer({{"add_prefix_space", false}}), nullptr),
                    Catch::Contains("add_prefix_space does not match declared prepend_scheme"));
  CHECK(Tokenizer::from_json(metaspace_tokenizer(json::object()), nullptr).encode("hello") == Ids{hello});
}

TEST_CASE("sentencepiece: Metaspace split on and off", "[tokenizer]") {
  Tokenizer split = Tokenizer::from_json(metaspace_tokenizer({{"split", true}}), nullptr);
  Tokenizer whole = Tokenizer::from_json(metaspace_tokenizer({{"split", false}}), nullptr);
  const int32_t sp = id(split, kSpace), l = id(split, "l"), o = id(split, "o");
  // split: "▁lo" and "▁w" are words of their own, so the merge "o ▁" cannot cross them.
  CHECK(split.encode("lo w") == Ids{sp, l, o, id(split, kSpace + "w")});
  CHECK(whole.encode("lo w") == Ids{sp, l, id(split, "o" + kSpace), id(split, "w")});
  // Each "▁" starts a word: "lo  w" is "▁lo", "▁", "▁w".
  CHECK(split.encode("lo  w") == Ids{sp, l, o, sp, id(split, kSpace + "w")});
}

TEST_CASE("sentencepiece: Metaspace decoder drops the first token's spaces unless prepend_scheme is never",
          "[tokenizer]") {
  Tokenizer always = Tokenizer::from_json(metaspace_tokenizer({{"prepend_scheme", "always"}}), nullptr);
  Tokenizer never = Tokenizer::from_json(metaspace_tokenizer({{"prepend_scheme", "never"}}), nullptr);
  const int32_t hello = id(always, kSpace + "hello"), w = id(always, kSpace + "w"), sp = id(always, kSpace);
  CHECK(always.decode(Ids{hello, w}) == "hello w");
  CHECK(never.decode(Ids{hello, w}) == " hello w");
  // Only the first token is special, and in it every "▁" goes (as tokenizers does).
  CHECK(always.decode(Ids{sp, hello}) == " hello");
  CHECK(always.decode(Ids{1, hello}, true) == "hello");  // skipped tokens do not count as first
  CHECK(always.decode(Ids{1, hello}, false) == "<s> hello");
  for (const Ids& ids : {Ids{hello, w}, Ids{sp, hello}, Ids{1, hello, byte_id(0xC3), byte_id(0xA9), w}}) {
    CHECK(streamed(always, ids) == always.decode(ids));
    CHECK(streamed(always, ids, true) == always.decode(ids, true));
    CHECK(streamed(never, ids) == never.decode(ids));
  }
}

TEST_CASE("sentencepiece: Strip per token, Strip with stop after Fuse, and other chains stream exactly",
          "[tokenizer]") {
  auto with_decoders = [](json decoders) {
    json j = sp_tokenizer();
    j["decoder"] = {{"type", "Sequence"}, {"decoders", decoders}};
    return Tokenizer::from_json(j, nullptr);
  };
  json replace = {{"type", "Replace"}, {"pattern", {{"String", kSpace}}}, {"content", " "}};
  // Without Fuse first, Strip acts on every token.
  Tokenizer per_token = with_decoders(json::array({replace, {{"type", "Strip"}, {"content", " "}, {"start", 1}, {"stop", 0}}}));
  Tokenizer t = Tokenizer::from_json(sp_tokenizer(), nullptr);
  const int32_t hello = id(t, kSpace + "hello"), w = id(t, kSpace + "w"), sp = id(t, kSpace), d = id(t, "d");
  CHECK(per_token.decode(Ids{hello, w}) == "hellow");
  // stop: trailing spaces of the whole text, held back while streaming until more text follows.
  Tokenizer tail = with_decoders(json::array({replace, {{"type", "Fuse"}}, {{"type", "Strip"}, {"content", " "},
                                                                           {"start", 0}, {"stop", 2}}}));
  CHECK(tail.decode(Ids{hello, sp, sp, sp}) == " hello ");
  CHECK(tail.decode(Ids{hello, sp, sp, d}) == " hello  d");
  // Replace after Fuse, with a two-character pattern that can span tokens.
  Tokenizer late = with_decoders(json::array({{{"type", "Fuse"}}, {{"type", "Replace"}, {"pattern", {{"String", kSpace + kSpace}}},
                                                                    {"content", "_"}}}));
  CHECK(late.decode(Ids{sp, sp, sp, d}) == "_" + kSpace + "d");
  // A regex Replace after Fuse: streamed by holding everything until finish().
  Tokenizer held = with_decoders(json::array({{{"type", "Fuse"}}, {{"type", "Replace"}, {"pattern", {{"Regex", "o+"}}},
                                                                    {"content", "0"}}}));
  CHECK(held.decode(Ids{id(t, "o"), id(t, "o"), d}) == "0d");
  r1::DecodeStream stream(held);
  CHECK(stream.step(id(t, "o")).empty());
  CHECK(stream.finish() == "0");
  // An empty Sequence is a decoder that changes nothing: tokens are joined without spaces.
  Tokenizer bare = with_decoders(json::array());
  CHECK(bare.decode(Ids{hello, d}) == kSpace + "hellod");
  const Ids ids = {sp, sp, hello, sp, sp, sp, byte_id(0xC3), byte_id(0xA9), sp, d, sp, sp};
  for (const Tokenizer* k : {&per_token, &tail, &late, &held, &bare}) {
    for (size_t n = 0; n <= ids.size(); ++n) {
      Ids prefix(ids.begin(), ids.begin() + static_cast<std::ptrdiff_t>(n));
      CHECK(streamed(*k, prefix) == k->decode(prefix));
    }
  }
}

TEST_CASE("sentencepiece: unsupported or contradictory parts are refused by name", "[tokenizer]") {
  json ctc = sp_tokenizer();
  ctc["decoder"] = {{"type", "CTC"}};
  CHECK_THROWS_WITH(Tokenizer::from_json(ctc, nullptr), Catch::Contains("decoder type 'CTC' is not supported"));
  json precompiled = sp_tokenizer();
  precompiled["normalizer"] = {{"type", "Precompiled"}, {"precompiled_charsmap", ""}};
  CHECK_THROWS_WITH(Tokenizer::from_json(precompiled, nullptr), Catch::Contains("normalizer type 'Precompiled'"));
  CHECK_THROWS_WITH(Tokenizer::from_json(metaspace_tokenizer({{"prepend_scheme", "sometimes"}}), nullptr),
                    Catch::Contains("unknown prepend_scheme 'sometimes'"));
  CHECK_THROWS_WITH(
      Tokenizer::from_json(metaspace_tokenizer({{"add_prefix_space", false}, {"prepend_scheme", "first"}}), nullptr),
      Catch::Contains("add_prefix_space does not match declared prepend_scheme"));
  CHECK_THROWS_WITH(Tokenizer::from_json(metaspace_tokenizer({{"replacement", "__"}}), nullptr),
                    Catch::Contains("Metaspace replacement must be one character"));
  json unigram = sp_tokenizer();
  unigram["model"] = {{"type", "Unigram"}, {"vocab", json::array()}};
  CHECK_THROWS_WITH(Tokenizer::from_json(unigram, nullptr), Catch::Contains("model type 'Unigram' is not supported"));
}
