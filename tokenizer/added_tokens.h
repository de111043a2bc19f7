// Internal to the tokenizer (tokenizer.h): finding added tokens in text.
#pragma once

#include <cstdint>
#include <string_view>
#include <utility>
#include <vector>

#include "tokenizer/tokenizer.h"

namespace r1 {

// Finds added tokens in text: leftmost match, longest at that position (Aho-Corasick
// LeftmostLongest in `tokenizers`), then applies single_word / lstrip / rstrip. A byte trie: at each
// position whose byte can start a token, the walk costs the length of the match, not the number of
// tokens (DeepSeek-V3 has 818, most starting with "<｜").
class AddedTokenMatcher {
 public:
  struct Section {
    std::string_view text;
    int32_t token = -1;  // index into the added-token list, -1 for ordinary text
  };

  // Indexes the tokens whose `normalized` flag equals `normalized` (matched before or after
  // normalization); `tokens` must outlive the matcher.
  void build(const std::vector<AddedToken>& tokens, bool normalized);
  bool empty() const { return !any_; }
  // Cuts `text` into ordinary sections and added tokens, in order.
  void split(std::string_view text, std::vector<Section>& out) const;

 private:
  struct TrieNode {
    std::vector<std::pair<unsigned char, int32_t>> children;
    int32_t token = -1;  // index into the added-token list when a token ends here
  };
  int32_t find_child(int32_t node, unsigned char b) const {
    for (const auto& [byte, child] : nodes_[node].children) {
      if (byte == b) return child;
    }
    return -1;
  }

  const std::vector<AddedToken>* tokens_ = nullptr;
  std::vector<TrieNode> nodes_;
  bool first_byte_[256] = {};
  bool any_ = false;
};

}  // namespace r1
