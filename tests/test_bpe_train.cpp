// model/bpe_train: merges learnt on a corpus, loaded back by r1's own Tokenizer: compression of a
// repeated prompt template, exact round trips, one token per digit, merge order on a hand-checked
// corpus, special tokens, determinism and the errors.
#include <catch2/catch.hpp>
#include <nlohmann/json.hpp>

#include <filesystem>
#include <fstream>
#include <random>
#include <sstream>

#include <unistd.h>

#include "core/error.h"
#include "tokenizer/bpe_train.h"
#include "tokenizer/tokenizer.h"
#include "tokenizer/unicode.h"

namespace fs = std::filesystem;
using r1::Tokenizer;
using Ids = std::vector<int32_t>;

namespace {

const std::string kTemplate =
    "A conversation between User and Assistant. The user asks a question, and the Assistant solves it. "
    "The assistant first thinks about the reasoning process in the mind and then provides the user with the "
    "answer. The reasoning process and answer are enclosed within <think> </think> and <answer> </answer> tags, "
    "respectively, i.e., <think> reasoning process here </think> <answer> answer here </answer>. User: ";

struct TempDir {
  fs::path path;
  TempDir() {
    static int n = 0;
    path = fs::temp_directory_path() / ("r1_test_bpe_train_" + std::to_string(::getpid()) + "_" + std::to_string(n++));
    fs::remove_all(path);
    fs::create_directories(path);
  }
  ~TempDir() { fs::remove_all(path); }
  std::string str() const { return path.string(); }
};

std::string slurp(const fs::path& p) {
  std::ifstream in(p, std::ios::binary);
  std::stringstream ss;
  ss << in.rdbuf();
  return ss.str();
}

std::vector<std::string> arithmetic_corpus() {
  std::mt19937 rng(7);
  std::vector<std::string> texts;
  const char* ops[] = {" + ", " - ", " * "};
  for (int i = 0; i < 200; ++i) {
    std::string q = "What is " + std::to_string(rng() % 1000) + ops[i % 3] + std::to_string(rng() % 1000) + "?";
    texts.push_back(kTemplate + q + ". Assistant:");
  }
  return texts;
}

Tokenizer train(const std::vector<std::string>& texts, const r1::BpeTrainOptions& options, const TempDir& dir) {
  r1::train_byte_tokenizer(texts, options, dir.str());
  return Tokenizer::load(dir.str());
}

std::vector<std::string> tokens_of(const Tokenizer& t, const Ids& ids) {
  std::vector<std::string> out;
  for (int32_t id : ids) out.push_back(t.decode(Ids{id}));
  return out;
}

// Valid UTF-8 from random code points of every length (controls, spaces, CJK, emoji, astral planes).
std::string random_text(std::mt19937& rng, size_t n) {
  std::string s;
  for (size_t i = 0; i < n; ++i) {
    char32_t cp;
    switch (rng() % 5) {
      case 0: cp = rng() % 0x80; break;
      case 1: cp = 0x80 + rng() % 0x780; break;
      case 2: cp = 0x800 + rng() % 0xF800; break;
      case 3: cp = 0x10000 + rng() % 0x100000; break;
      default: cp = " \n\t0123456789"[rng() % 13]; break;
    }
    if (cp >= 0xD800 && cp <= 0xDFFF) cp = 'x';
    r1::unicode::append(s, cp);
  }
  return s;
}

}  // namespace

TEST_CASE("bpe_train: the repeated template compresses and every text round-trips", "[bpe_train]") {
  TempDir dir;
  auto corpus = arithmetic_corpus();
  Tokenizer tok = train(corpus, {}, dir);
  CHECK(tok.vocab_size() <= 1024);

  Ids ids = tok.encode(kTemplate);
  INFO("template: " << kTemplate.size() << " bytes, " << ids.size() << " tokens");
  CHECK(ids.size() * 4 < kTemplate.size());
  CHECK(tok.decode(ids) == kTemplate);

  for (const auto& text : corpus) REQUIRE(tok.decode(tok.encode(text)) == text);

  std::vector<std::string> unseen = {
      "",
      "数学很有趣：二加二等于四。",
      "emoji 👨‍👩‍👧‍👦 🇯🇵 👍🏽 done",
      "tabs\tand\r\nCRLF  \n\n   spaces   ",
      "control \x01\x02\x1f\x7f and é vs e\xcc\x81 (not normalized)",
      "<|im_start|>user\nWhat is 2 + 2?<|im_end|>\n<|im_start|>assistant\n<think>4</think><|endoftext|>",
  };
  std::mt19937 rng(11);
  for (int i = 0; i < 50; ++i) unseen.push_back(random_text(rng, 1 + rng() % 200));
  for (const auto& text : unseen) REQUIRE(tok.decode(tok.encode(text)) == text);
}

TEST_CASE("bpe_train: every digit is its own token", "[bpe_train]") {
  TempDir dir;
  std::vector<std::string> corpus(100, "12345 + 12345 = 24690, 1000000 and 12 12 12");
  Tokenizer tok = train(corpus, {}, dir);
  Ids ids = tok.encode("12345");
  REQUIRE(ids.size() == 5);
  CHECK(tokens_of(tok, ids) == std::vector<std::string>{"1", "2", "3", "4", "5"});
  CHECK(tok.encode("x=9876543210;").size() >= 10);
  for (int32_t id = 0; id < static_cast<int32_t>(tok.vocab_size()); ++id) {
    std::string t = tok.decode(Ids{id});
    size_t digits = std::count_if(t.begin(), t.end(), [](char c) { return c >= '0' && c <= '9'; });
    INFO("token " << id << " '" << t << "'");
    CHECK((digits == 0 || t.size() == 1));
  }
}

TEST_CASE("bpe_train: merges are learnt and applied in training order", "[bpe_train]") {
  TempDir dir;
  std::vector<std::string> corpus(10, "aaab");
  corpus.insert(corpus.end(), 5, "ab");
  r1::BpeTrainOptions options;
  Tokenizer tok = train(corpus, options, dir);
  // (a,a) 20 times, then (a,b) 15 (10 + 5), then (aa,ab) 10; nothing is left to merge.
  auto j = nlohmann::json::parse(slurp(dir.path / "tokenizer.json"));
  CHECK(j["model"]["merges"] == nlohmann::json::parse(R"([["a","a"],["a","b"],["aa","ab"]])"));
  CHECK(tok.token_to_id("aa") == 256);
  CHECK(tok.token_to_id("ab") == 257);
  CHECK(tok.token_to_id("aaab") == 258);
  CHECK(tok.vocab_size() == 262);  // 256 bytes + 3 merges + 3 specials
  CHECK(tok.encode("aaab") == Ids{258});
  CHECK(tok.encode("ab") == Ids{257});
  CHECK(tok.encode("aaaa") == Ids{256, 256});
  CHECK(tok.encode("aab") == Ids{256, 'b'});  // (a,a) ranks before (a,b)

  SECTION("vocab_size stops training early") {
    TempDir small;
    options.vocab_size = 256 + 2 + 3;
    Tokenizer t = train(corpus, options, small);
    CHECK(t.vocab_size() == 261);
    CHECK(t.encode("aaab") == Ids{256, 257});
    CHECK(t.token_to_id("<|endoftext|>") == 258);
  }
  SECTION("min_frequency stops training early") {
    TempDir rare;
    options.min_frequency = 16;  // only (a,a) occurs 16 times or more (20; (a,b) 15)
    Tokenizer t = train(corpus, options, rare);
    CHECK(t.encode("aaab") == Ids{256, 'a', 'b'});
    CHECK(t.vocab_size() == 260);
  }
  SECTION("ties go to the lexicographically smaller pair") {
    TempDir ties;
    std::vector<std::string> words = {"dc", "cd", "ba", "ab", "dc", "cd", "ba", "ab"};
    Tokenizer t = train(words, options, ties);
    auto m = nlohmann::json::parse(slurp(ties.path / "tokenizer.json"))["model"]["merges"];
    // Every pair occurs twice, so byte order decides, whatever the order of the corpus.
    CHECK(m == nlohmann::json::parse(R"([["a","b"],["b","a"],["c","d"],["d","c"]])"));
    CHECK(t.encode("abba") == Ids{256, 257});
  }
}

TEST_CASE("bpe_train: the folder loads with special tokens and eos", "[bpe_train]") {
  TempDir dir;
  r1::BpeTrainOptions options;
  options.vocab_size = 300;
  Tokenizer tok = train(arithmetic_corpus(), options, dir);
  CHECK(tok.vocab_size() == 300);
  CHECK(tok.token_to_id("<|endoftext|>") == 297);
  CHECK(tok.token_to_id("<|im_start|>") == 298);
  CHECK(tok.token_to_id("<|im_end|>") == 299);
  CHECK(tok.eos_id() == 297);
  CHECK(tok.pad_id() == 297);
  CHECK(!tok.bos_id().has_value());
  CHECK(tok.is_special(299));
  CHECK(tok.chat_template().find("<|im_start|>assistant") != std::string::npos);
  Ids ids = tok.encode("<|im_start|>user\nHi<|im_end|><|endoftext|>");
  REQUIRE(ids.size() >= 4);
  CHECK(ids.front() == 298);
  CHECK(ids[ids.size() - 2] == 299);
  CHECK(ids.back() == 297);
  CHECK(tok.decode(ids, /*skip_special_tokens=*/true) == "user\nHi");

  SECTION("specials in the corpus are never merged into other tokens") {
    TempDir chat;
    std::vector<std::string> corpus(50, "<|im_start|>user\nhello<|im_end|>\n<|endoftext|>");
    Tokenizer t = train(corpus, {}, chat);
    for (int32_t id = 0; id < static_cast<int32_t>(t.vocab_size()); ++id) {
      if (!t.is_special(id)) CHECK(t.decode(Ids{id}).find("<|") == std::string::npos);
    }
    CHECK(t.encode(corpus[0]).size() <= 8);
  }
}

TEST_CASE("bpe_train: the same input gives a byte-identical tokenizer.json", "[bpe_train]") {
  TempDir a, b;
  auto corpus = arithmetic_corpus();
  std::mt19937 rng(3);
  for (int i = 0; i < 100; ++i) corpus.push_back(random_text(rng, 100));
  r1::BpeTrainOptions one, many;
  one.threads = 1;
  many.threads = 4;
  r1::train_byte_tokenizer(corpus, one, a.str());
  r1::train_byte_tokenizer(corpus, many, b.str());
  CHECK(slurp(a.path / "tokenizer.json") == slurp(b.path / "tokenizer.json"));
  CHECK(slurp(a.path / "tokenizer_config.json") == slurp(b.path / "tokenizer_config.json"));
}

TEST_CASE("bpe_train: an empty corpus gives a byte-only tokenizer", "[bpe_train]") {
  TempDir dir;
  Tokenizer tok = train({}, {}, dir);
  CHECK(tok.vocab_size() == 259);
  CHECK(tok.encode("hi 12") == Ids{'h', 'i', ' ', '1', '2'});
  CHECK(tok.decode(tok.encode("数学 👍")) == "数学 👍");
  CHECK(tok.eos_id() == 256);
}

TEST_CASE("bpe_train: bad input is refused with one clear error", "[bpe_train]") {
  TempDir dir;
  r1::BpeTrainOptions options;
  options.vocab_size = 258;
  CHECK_THROWS_WITH(r1::train_byte_tokenizer({"abc"}, options, dir.str()), Catch::Matchers::Contains("vocab_size 258 is too small") && Catch::Matchers::Contains("259"));
  CHECK(!fs::exists(dir.path / "tokenizer.json"));

  options = {};
  options.special_tokens = {"<a>", "<a>"};
  CHECK_THROWS_WITH(r1::train_byte_tokenizer({"abc"}, options, dir.str()), Catch::Matchers::Contains("'<a>' is listed twice"));
  options.special_tokens = {""};
  CHECK_THROWS_WITH(r1::train_byte_tokenizer({"abc"}, options, dir.str()), Catch::Matchers::Contains("empty"));

  CHECK_THROWS_WITH(r1::train_byte_tokenizer({"ok", "bad \xff"}, {}, dir.str()), Catch::Matchers::Contains("text 1 is not valid UTF-8 (byte offset 4)"));

  std::ofstream(dir.path / "file") << "x";
  std::string below_file = (dir.path / "file" / "sub").string();
  CHECK_THROWS_WITH(r1::train_byte_tokenizer({"abc"}, {}, below_file), Catch::Matchers::Contains(below_file));

  fs::create_directories(dir.path / "out" / "tokenizer.json");  // a folder where the file must go
  std::string target = (dir.path / "out" / "tokenizer.json").string();
  CHECK_THROWS_WITH(r1::train_byte_tokenizer({"abc"}, {}, (dir.path / "out").string()), Catch::Matchers::Contains(target + ": cannot write"));
}
