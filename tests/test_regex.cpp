// model/regex: the tokenizer regex dialect, checked on hand-derived splits of the real patterns.
#include <catch2/catch.hpp>

#include "tokenizer/regex.h"
#include "tokenizer/unicode.h"

namespace {

// Splits text into the matched substrings.
std::vector<std::string> matches(const r1::Regex& re, const std::string& text) {
  std::vector<char32_t> cps;
  std::vector<uint32_t> offsets;
  REQUIRE_FALSE(r1::unicode::decode(text, cps, offsets).has_value());
  std::vector<std::pair<uint32_t, uint32_t>> found;
  re.find_all(cps.data(), cps.size(), found);
  std::vector<std::string> out;
  for (auto [b, e] : found) out.push_back(text.substr(offsets[b], offsets[e] - offsets[b]));
  return out;
}

const char* kQwen =
    R"((?i:'s|'t|'re|'ve|'m|'ll|'d)|[^\r\n\p{L}\p{N}]?\p{L}+|\p{N}| ?[^\s\p{L}\p{N}]+[\r\n]*|\s*[\r\n]+|\s+(?!\S)|\s+)";
using V = std::vector<std::string>;

}  // namespace

TEST_CASE("regex: Qwen's pre-tokenizer pattern splits as Hugging Face does", "[regex]") {
  r1::Regex re(kQwen);
  CHECK(matches(re, "Hello world") == V{"Hello", " world"});
  CHECK(matches(re, "I'LL don't") == V{"I", "'LL", " don", "'t"});
  CHECK(matches(re, "abc123") == V{"abc", "1", "2", "3"});
  // \s+(?!\S) leaves the last space to join the next word.
  CHECK(matches(re, "a   b") == V{"a", "  ", " b"});
  CHECK(matches(re, "x  \n\n  y") == V{"x", "  \n\n", " ", " y"});
  CHECK(matches(re, "end   ") == V{"end", "   "});
  CHECK(matches(re, "f(x);\n") == V{"f", "(x", ");\n"});
  CHECK(matches(re, "你好，世界") == V{"你好", "，世界"});
  // Oniguruma's case folding: ſ folds to s, so 'ſ is a contraction.
  CHECK(matches(re, "'ſa") == V{"'ſ", "a"});
}

TEST_CASE("regex: DeepSeek-V3's patterns (counted digits, CJK ranges, punctuation-letter)", "[regex]") {
  CHECK(matches(r1::Regex(R"(\p{N}{1,3})"), "1234567") == V{"123", "456", "7"});
  CHECK(matches(r1::Regex("[一-龥\u3040-ゟ゠-ヿ]+"), "ab日本語かなカナcd") == V{"日本語かなカナ"});
  r1::Regex re(R"([!"#$%&'()*+,\-./:;<=>?@\[\\\]^_`{|}~][A-Za-z]+|[^\r\n\p{L}\p{P}\p{S}]?[\p{L}\p{M}]+| ?[\p{P}\p{S}]+[\r\n]*|\s*[\r\n]+|\s+(?!\S)|\s+)");
  CHECK(matches(re, ".NET and x.y") == V{".NET", " and", " x", ".y"});
}

TEST_CASE("regex: quantifiers, alternation order, lookahead, anchors", "[regex]") {
  CHECK(matches(r1::Regex("a+?"), "aaa") == V{"a", "a", "a"});
  CHECK(matches(r1::Regex("a{2,}"), "a aa aaaa") == V{"aa", "aaaa"});
  CHECK(matches(r1::Regex("ab|abc"), "abc") == V{"ab"});  // leftmost-first, not longest
  CHECK(matches(r1::Regex("(?:ab)+c"), "ababc abc") == V{"ababc", "abc"});
  CHECK(matches(r1::Regex("x(?=y)"), "xy xz") == V{"x"});
  CHECK(matches(r1::Regex("^a"), "aa") == V{"a"});
  CHECK(matches(r1::Regex("a$"), "aa") == V{"a"});
  CHECK(matches(r1::Regex(R"(\x41\u00e9.)"), "Aé!") == V{"Aé!"});
  CHECK(matches(r1::Regex(R"([\d]+|\w+)"), "ab_1 23") == V{"ab_1", "23"});
  CHECK(matches(r1::Regex("[^a-c]+"), "abxyzc") == V{"xyz"});
}

TEST_CASE("regex: a 1 MB run of spaces is matched in linear time", "[regex]") {
  r1::Regex re(kQwen);
  std::string spaces(1 << 20, ' ');
  auto m = matches(re, spaces + "x");
  REQUIRE(m.size() == 2);
  CHECK(m[0].size() == spaces.size() - 1);
  CHECK(m[1] == " x");
}

TEST_CASE("regex: constructs outside the dialect are refused by name", "[regex]") {
  CHECK_THROWS_WITH(r1::Regex(R"((a)\1)"), Catch::Contains("backreferences are not supported"));
  CHECK_THROWS_WITH(r1::Regex("(?<=a)b"), Catch::Contains("lookbehind is not supported"));
  CHECK_THROWS_WITH(r1::Regex(R"(\bword)"), Catch::Contains("unsupported escape \\b"));
  CHECK_THROWS_WITH(r1::Regex("a++"), Catch::Contains("possessive"));
  CHECK_THROWS_WITH(r1::Regex(R"(\p{Greek})"), Catch::Contains("unsupported Unicode property"));
  CHECK_THROWS_WITH(r1::Regex("(a"), Catch::Contains("missing ')'"));
  CHECK_THROWS_WITH(r1::Regex("a)"), Catch::Contains("unbalanced ')'"));
  CHECK_THROWS_WITH(r1::Regex("[abc"), Catch::Contains("missing ']'"));
  CHECK_THROWS_WITH(r1::Regex("(?:a?)*"), Catch::Contains("empty string"));
  CHECK_THROWS_WITH(r1::Regex("*a"), Catch::Contains("nothing to repeat"));
}
