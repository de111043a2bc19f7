// model/tokenizer on small hand-built tokenizer.json files: BPE merge order, added tokens
// (lstrip/rstrip/single_word), post-processing, decoding and streaming, and refusal of what r1
// does not support.
#include <catch2/catch.hpp>
#include <nlohmann/json.hpp>

#include <filesystem>
#include <fstream>

#include "core/error.h"
#include "core/thread_pool.h"
#include "tokenizer/bpe.h"
#include "tokenizer/tokenizer.h"
#include "tokenizer/unicode.h"

using nlohmann::json;
using r1::Tokenizer;
using Ids = std::vector<int32_t>;

namespace {

std::string byte_char(unsigned char b) {
  std::string s;
  r1::unicode::append(s, r1::byte_level_alphabet().byte_to_char[b]);
  return s;
}

// A byte-level BPE: ids 0..255 are the bytes; merges build "he", "ll", "hell", "hello", "Ġw", "Ġwo".
json tiny_tokenizer() {
  json vocab = json::object();
  for (int b = 0; b < 256; ++b) vocab[byte_char(static_cast<unsigned char>(b))] = b;
  const std::vector<std::pair<std::string, std::string>> merges = {
      {"h", "e"}, {"l", "l"}, {"he", "ll"}, {"hell", "o"}, {"Ġ", "w"}, {"Ġw", "o"}, {"e", "l"}, {"h", "-"}, {"-", "e"}};
  json merge_list = json::array();
  int next = 256;
  for (const auto& [a, b] : merges) {
    merge_list.push_back(json::array({a, b}));
    if (!vocab.contains(a + b)) vocab[a + b] = next++;
  }
  json t;
  t["model"] = {{"type", "BPE"}, {"vocab", vocab}, {"merges", merge_list}, {"dropout", nullptr}};
  t["normalizer"] = nullptr;
  t["pre_tokenizer"] = {{"type", "ByteLevel"}, {"add_prefix_space", false}, {"use_regex", true}};
  t["decoder"] = {{"type", "ByteLevel"}};
  t["post_processor"] = nullptr;
  t["added_tokens"] = json::array({
      {{"id", 300}, {"content", "<|end|>"}, {"special", true}, {"normalized", false}},
      {{"id", 301}, {"content", "<sep>"}, {"special", false}, {"lstrip", true}, {"rstrip", true}, {"normalized", false}},
      {{"id", 302}, {"content", "[W]"}, {"special", false}, {"single_word", true}, {"normalized", false}},
      {{"id", 303}, {"content", "<|end|>x"}, {"special", true}, {"normalized", false}},
  });
  return t;
}

int32_t id_of(const Tokenizer& t, const std::string& token) {
  auto id = t.token_to_id(token);
  REQUIRE(id.has_value());
  return *id;
}

}  // namespace

TEST_CASE("tokenizer: BPE merges by rank, leftmost first", "[tokenizer]") {
  Tokenizer t = Tokenizer::from_json(tiny_tokenizer(), nullptr);
  CHECK(t.encode("hello") == Ids{id_of(t, "hello")});
  CHECK(t.encode("hello world") == Ids{id_of(t, "hello"), id_of(t, "Ġwo"), 'r', 'l', 'd'});
  // "hel": h+e (rank 0) beats e+l (rank 6), leaving "he" "l".
  CHECK(t.encode("hel") == Ids{id_of(t, "he"), 'l'});
  // A long word takes the heap path and must agree with the short-word path.
  std::string word;
  for (int i = 0; i < 40; ++i) word += "hello";
  CHECK(t.encode(word) == Ids(40, id_of(t, "hello")));
  // Bytes outside ASCII go through the byte alphabet: "é" is 0xC3 0xA9.
  CHECK(t.encode("é") == Ids{0xC3, 0xA9});
}

TEST_CASE("tokenizer: added tokens split first, leftmost-longest, with lstrip/rstrip/single_word", "[tokenizer]") {
  Tokenizer t = Tokenizer::from_json(tiny_tokenizer(), nullptr);
  CHECK(t.encode("a<|end|>b") == Ids{'a', 300, 'b'});
  CHECK(t.encode("a<|end|>xb") == Ids{'a', 303, 'b'});           // the longer token wins
  CHECK(t.encode("a <sep>  b") == Ids{'a', 301, 'b'});            // whitespace on both sides absorbed
  CHECK(t.encode("x [W] y") == Ids{'x', id_of(t, "Ġ"), 302, id_of(t, "Ġ"), 'y'});
  CHECK(t.encode("x[W]y") == Ids{'x', '[', 'W', ']', 'y'});       // not a single word: plain text
  CHECK(t.encode("<|end") == Ids{'<', '|', 'e', 'n', 'd'});
}

TEST_CASE("tokenizer: decode, skip_special_tokens and streaming decode", "[tokenizer]") {
  Tokenizer t = Tokenizer::from_json(tiny_tokenizer(), nullptr);
  std::string text = "hello <|end|> 你好 👍🏽";
  Ids ids = t.encode(text);
  CHECK(t.decode(ids) == text);
  CHECK(t.decode(ids, true) == "hello  你好 👍🏽");
  // Streaming: a character split across byte tokens is held back until complete.
  r1::DecodeStream stream(t);
  Ids you = t.encode("你");
  REQUIRE(you.size() == 3);
  CHECK(stream.step(you[0]).empty());
  CHECK(stream.step(you[1]).empty());
  CHECK(stream.step(you[2]) == "你");
  std::string streamed;
  r1::DecodeStream whole(t);
  for (int32_t id : ids) streamed += whole.step(id);
  streamed += whole.finish();
  CHECK(streamed == text);
  // A dangling partial character becomes U+FFFD at the end, as decode() does.
  r1::DecodeStream cut(t);
  CHECK(cut.step(you[0]).empty());
  CHECK(cut.finish() == "\xEF\xBF\xBD");
  CHECK(t.decode(Ids{you[0], 'a'}) == "\xEF\xBF\xBD" "a");
  CHECK_THROWS_WITH(t.decode(Ids{999999}), Catch::Contains("token id 999999 is out of range"));
}

TEST_CASE("tokenizer: without a decoder, tokens are joined by spaces, streamed the same way", "[tokenizer]") {
  json j = tiny_tokenizer();
  j["decoder"] = nullptr;
  Tokenizer t = Tokenizer::from_json(j, nullptr);
  Ids ids = t.encode("hello world");
  CHECK(t.decode(ids) == "hello Ġwo r l d");
  r1::DecodeStream stream(t);
  std::string streamed;
  for (int32_t id : ids) streamed += stream.step(id);
  CHECK(streamed + stream.finish() == t.decode(ids));
}

TEST_CASE("tokenizer: invalid UTF-8 input is an error naming the byte", "[tokenizer]") {
  Tokenizer t = Tokenizer::from_json(tiny_tokenizer(), nullptr);
  CHECK_THROWS_WITH(t.encode("ok\xFFno"), Catch::Contains("not valid UTF-8 (byte offset 2)"));
  CHECK_THROWS_WITH(t.encode("\xE4\xBD"), Catch::Contains("byte offset 0"));
}

TEST_CASE("tokenizer: post-processors add special tokens only when asked", "[tokenizer]") {
  json j = tiny_tokenizer();
  j["post_processor"] = {
      {"type", "TemplateProcessing"},
      {"single", json::array({{{"SpecialToken", {{"id", "<|end|>"}, {"type_id", 0}}}},
                              {{"Sequence", {{"id", "A"}, {"type_id", 0}}}}})},
      {"special_tokens", {{"<|end|>", {{"id", "<|end|>"}, {"ids", {300}}, {"tokens", {"<|end|>"}}}}}}};
  Tokenizer t = Tokenizer::from_json(j, nullptr);
  CHECK(t.encode("a", true) == Ids{300, 'a'});
  CHECK(t.encode("a", false) == Ids{'a'});
  // LlamaTokenizerFast configs rebuild it from add_bos_token / add_eos_token, as transformers does.
  json config = {{"tokenizer_class", "LlamaTokenizerFast"}, {"bos_token", "<sep>"}, {"eos_token", "<|end|>"},
                 {"add_bos_token", true}, {"add_eos_token", true}};
  Tokenizer llama = Tokenizer::from_json(j, &config);
  CHECK(llama.encode("a", true) == Ids{301, 'a', 300});
  CHECK(llama.bos_id() == 301);
  CHECK(llama.eos_id() == 300);
}

TEST_CASE("tokenizer: batch encode on a pool equals one-by-one", "[tokenizer]") {
  Tokenizer t = Tokenizer::from_json(tiny_tokenizer(), nullptr);
  std::vector<std::string> texts;
  for (int i = 0; i < 200; ++i) texts.push_back("hello " + std::to_string(i) + " <|end|> world");
  r1::ThreadPool pool(2);
  auto batch = t.encode_batch(texts, false, &pool);
  for (size_t i = 0; i < texts.size(); ++i) CHECK(batch[i] == t.encode(texts[i]));
}

TEST_CASE("tokenizer: unsupported files are refused by name", "[tokenizer]") {
  json unigram = tiny_tokenizer();
  unigram["model"] = {{"type", "Unigram"}, {"vocab", json::array()}};
  CHECK_THROWS_WITH(Tokenizer::from_json(unigram, nullptr), Catch::Contains("model type 'Unigram' is not supported"));
  json wordpiece = tiny_tokenizer();
  wordpiece["model"]["type"] = "WordPiece";
  CHECK_THROWS_WITH(Tokenizer::from_json(wordpiece, nullptr), Catch::Contains("'WordPiece' is not supported"));
  json scripts = tiny_tokenizer();
  scripts["pre_tokenizer"] = {{"type", "UnicodeScripts"}};
  CHECK_THROWS_WITH(Tokenizer::from_json(scripts, nullptr), Catch::Contains("pre_tokenizer type 'UnicodeScripts'"));
  json bert = tiny_tokenizer();
  bert["normalizer"] = {{"type", "BertNormalizer"}};
  CHECK_THROWS_WITH(Tokenizer::from_json(bert, nullptr), Catch::Contains("normalizer type 'BertNormalizer'"));
  json decoder = tiny_tokenizer();
  decoder["decoder"] = {{"type", "WordPiece"}};
  CHECK_THROWS_WITH(Tokenizer::from_json(decoder, nullptr), Catch::Contains("decoder type 'WordPiece'"));
  json dropout = tiny_tokenizer();
  dropout["model"]["dropout"] = 0.1;
  CHECK_THROWS_WITH(Tokenizer::from_json(dropout, nullptr), Catch::Contains("dropout"));
  json bad_merge = tiny_tokenizer();
  bad_merge["model"]["merges"].push_back(json::array({"zz", "q"}));
  CHECK_THROWS_WITH(Tokenizer::from_json(bad_merge, nullptr), Catch::Contains("not in the vocabulary"));
  json bad_regex = tiny_tokenizer();
  bad_regex["pre_tokenizer"] = {{"type", "Split"}, {"pattern", {{"Regex", "(?<=x)y"}}}, {"behavior", "Isolated"}};
  CHECK_THROWS_WITH(Tokenizer::from_json(bad_regex, nullptr), Catch::Contains("lookbehind"));
  CHECK_THROWS_WITH(Tokenizer::load("/nonexistent/tokenizer.json"), Catch::Contains("no such file"));
}

TEST_CASE("tokenizer: Split behaviours and Digits follow tokenizers' definitions", "[tokenizer]") {
  auto with_pre = [](json pre) {
    json j = tiny_tokenizer();
    j["pre_tokenizer"] = {{"type", "Sequence"}, {"pretokenizers", json::array({pre, {{"type", "ByteLevel"},
                                                  {"add_prefix_space", false}, {"use_regex", false}}})}};
    return Tokenizer::from_json(j, nullptr);
  };
  auto split = [&](const std::string& behavior, bool invert, const std::string& text) {
    return with_pre({{"type", "Split"}, {"pattern", {{"String", "-"}}}, {"behavior", behavior}, {"invert", invert}})
        .encode(text);
  };
  Tokenizer plain = Tokenizer::from_json(tiny_tokenizer(), nullptr);
  const int32_t h_dash = id_of(plain, "h-"), dash_e = id_of(plain, "-e");
  // The merges "h -" and "- e" show which word the delimiter ended up in.
  CHECK(split("Isolated", false, "h-e") == Ids{'h', '-', 'e'});
  CHECK(split("Removed", false, "h-e") == Ids{'h', 'e'});
  CHECK(split("MergedWithPrevious", false, "h-e") == Ids{h_dash, 'e'});
  CHECK(split("MergedWithNext", false, "h-e") == Ids{'h', dash_e});
  CHECK(split("Contiguous", false, "h--e") == Ids{'h', '-', '-', 'e'});
  CHECK(split("Removed", true, "h-e") == Ids{'-'});  // invert: the pattern marks what to keep
  // Digits splits digits from letters: "he" merges, the digits stay apart.
  Tokenizer digits = with_pre({{"type", "Digits"}, {"individual_digits", true}});
  CHECK(digits.encode("he12") == Ids{id_of(digits, "he"), '1', '2'});
}

TEST_CASE("tokenizer: broken tokenizer.json files give one clear error naming the file", "[tokenizer]") {
  const std::string dir = "/tmp/r1_test_tokenizer_files";
  std::filesystem::create_directories(dir);
  auto write = [&](const std::string& name, const std::string& text) {
    std::ofstream(dir + "/" + name) << text;
    return dir + "/" + name;
  };
  std::string good = tiny_tokenizer().dump();
  // Every truncation of a valid file is refused with the file's name, never crashes.
  for (size_t cut : {size_t{0}, size_t{1}, good.size() / 3, good.size() / 2, good.size() - 1}) {
    std::string path = write("truncated.json", good.substr(0, cut));
    CHECK_THROWS_WITH(Tokenizer::load(path), Catch::StartsWith(path));
  }
  CHECK_THROWS_WITH(Tokenizer::load(write("array.json", "[1, 2]")), Catch::Contains("expected a JSON object"));
  json bad_id = tiny_tokenizer();
  bad_id["model"]["vocab"]["h"] = "seven";
  CHECK_THROWS_WITH(Tokenizer::load(write("bad_id.json", bad_id.dump())), Catch::Contains("model.vocab[\"h\"]: expected an integer id"));
  json negative = tiny_tokenizer();
  negative["model"]["vocab"]["h"] = -3;
  CHECK_THROWS_WITH(Tokenizer::load(write("negative.json", negative.dump())), Catch::Contains("non-negative"));
  json bad_merge = tiny_tokenizer();
  bad_merge["model"]["merges"].push_back(42);
  CHECK_THROWS_WITH(Tokenizer::load(write("bad_merge.json", bad_merge.dump())), Catch::Contains("model.merges[9]"));
  json huge_id = tiny_tokenizer();
  huge_id["model"]["vocab"]["h"] = 2000000000;  // found by fuzz_tokenizer_json: must not allocate gigabytes
  CHECK_THROWS_WITH(Tokenizer::load(write("huge_id.json", huge_id.dump())), Catch::Contains("far beyond"));
  json huge_added = tiny_tokenizer();
  huge_added["added_tokens"][0]["id"] = 2000000000;
  CHECK_THROWS_WITH(Tokenizer::load(write("huge_added.json", huge_added.dump())), Catch::Contains("outside the vocabulary"));
  json no_model = tiny_tokenizer();
  no_model.erase("model");
  CHECK_THROWS_WITH(Tokenizer::load(write("no_model.json", no_model.dump())), Catch::Contains("no \"model\" object"));
  json unigram = tiny_tokenizer();
  unigram["model"]["type"] = "Unigram";
  CHECK_THROWS_WITH(Tokenizer::load(write("unigram.json", unigram.dump())), Catch::Contains("'Unigram' is not supported"));
  // The same file, whole, loads through the fast path and encodes like from_json.
  Tokenizer loaded = Tokenizer::load(write("tokenizer.json", good));
  CHECK(loaded.encode("hello world <|end|>") == Tokenizer::from_json(tiny_tokenizer(), nullptr).encode("hello world <|end|>"));
}
