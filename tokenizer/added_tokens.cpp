// Added tokens in text: see tokenizer/added_tokens.h.
#include "tokenizer/added_tokens.h"

#include "tokenizer/unicode.h"

namespace r1 {
namespace {

// The last and first code points of UTF-8 text (0 when there is none).
char32_t last_char(std::string_view s) {
  size_t i = s.size();
  while (i > 0 && (static_cast<unsigned char>(s[i - 1]) & 0xC0) == 0x80) --i;
  if (i == 0) return 0;
  std::vector<char32_t> cps;
  std::vector<uint32_t> offsets;
  unicode::decode(s.substr(i - 1), cps, offsets);
  return cps.empty() ? 0 : cps.back();
}

char32_t first_char(std::string_view s) {
  if (s.empty()) return 0;
  size_t len = 1;
  while (len < s.size() && len < 4 && (static_cast<unsigned char>(s[len]) & 0xC0) == 0x80) ++len;
  std::vector<char32_t> cps;
  std::vector<uint32_t> offsets;
  unicode::decode(s.substr(0, len), cps, offsets);
  return cps.empty() ? 0 : cps[0];
}

bool is_word_char(char32_t c) {
  return c == '_' || (unicode::category_bit(c) & (unicode::kLetterMask | unicode::kNumberMask)) != 0;
}

bool ends_with_word(std::string_view s) { return !s.empty() && is_word_char(last_char(s)); }
bool starts_with_word(std::string_view s) { return !s.empty() && is_word_char(first_char(s)); }

// lstrip / rstrip: the white space before (not below `floor`) or after a token goes with it.
size_t strip_left(std::string_view text, size_t start, size_t floor) {
  while (start > floor) {
    size_t i = start - 1;
    while (i > floor && (static_cast<unsigned char>(text[i]) & 0xC0) == 0x80) --i;
    if (!unicode::is_white_space(first_char(text.substr(i, start - i)))) break;
    start = i;
  }
  return start;
}

size_t strip_right(std::string_view text, size_t stop) {
  while (stop < text.size()) {
    std::string_view rest = text.substr(stop);
    char32_t c = first_char(rest);
    if (!unicode::is_white_space(c)) break;
    size_t len = 1;
    while (len < rest.size() && (static_cast<unsigned char>(rest[len]) & 0xC0) == 0x80) ++len;
    stop += len;
  }
  return stop;
}

}  // namespace

void AddedTokenMatcher::build(const std::vector<AddedToken>& tokens, bool normalized) {
  tokens_ = &tokens;
  nodes_.assign(1, TrieNode{});
  for (size_t i = 0; i < tokens.size(); ++i) {
    if (tokens[i].normalized != normalized || tokens[i].content.empty()) continue;
    int32_t node = 0;
    for (unsigned char b : tokens[i].content) {
      int32_t child = find_child(node, b);
      if (child < 0) {
        child = static_cast<int32_t>(nodes_.size());
        nodes_[node].children.emplace_back(b, child);
        nodes_.emplace_back();
      }
      node = child;
    }
    if (nodes_[node].token < 0) nodes_[node].token = static_cast<int32_t>(i);  // first definition wins
    first_byte_[static_cast<unsigned char>(tokens[i].content[0])] = true;
    any_ = true;
  }
}

void AddedTokenMatcher::split(std::string_view text, std::vector<Section>& out) const {
  if (!any_) {
    out.push_back({text, -1});
    return;
  }
  size_t gap_start = 0;  // start of the ordinary text not yet emitted
  size_t pos = 0;
  while (pos < text.size()) {
    if (!first_byte_[static_cast<unsigned char>(text[pos])]) {
      ++pos;
      continue;
    }
    // Walk the trie from pos; the last token passed is the longest match here.
    int32_t hit = -1;
    for (int32_t node = 0, k = 0; pos + k < text.size(); ++k) {
      node = find_child(node, static_cast<unsigned char>(text[pos + k]));
      if (node < 0) break;
      if (nodes_[node].token >= 0) hit = nodes_[node].token;
    }
    if (hit < 0) {
      ++pos;
      continue;
    }
    const AddedToken& tok = (*tokens_)[hit];
    size_t start = pos, stop = pos + tok.content.size();
    if (tok.single_word && (ends_with_word(text.substr(0, start)) || starts_with_word(text.substr(stop)))) {
      pos = stop;  // the match is consumed but not used, as in `tokenizers`
      continue;
    }
    if (tok.lstrip) start = strip_left(text, start, gap_start);
    if (tok.rstrip) stop = strip_right(text, stop);
    if (start > gap_start) out.push_back({text.substr(gap_start, start - gap_start), -1});
    out.push_back({text.substr(start, stop - start), hit});
    gap_start = pos = stop;
  }
  if (gap_start < text.size()) out.push_back({text.substr(gap_start), -1});
}


}  // namespace r1
