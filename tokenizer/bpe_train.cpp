#include "tokenizer/bpe_train.h"

#include <nlohmann/json.hpp>

#include <algorithm>
#include <filesystem>
#include <fstream>
#include <mutex>
#include <optional>
#include <queue>
#include <set>
#include <string_view>
#include <unordered_map>

#include "core/error.h"
#include "core/thread_pool.h"
#include "tokenizer/bpe.h"
#include "tokenizer/pretokenizer.h"
#include "tokenizer/unicode.h"

namespace r1 {
namespace {

using ojson = nlohmann::ordered_json;  // keeps the vocabulary in id order in the written file

// Qwen2's split regex: like GPT-4's, but \p{N} alone, so every digit is its own pre-token.
constexpr const char* kQwen2Pattern =
    R"((?i:'s|'t|'re|'ve|'m|'ll|'d)|[^\r\n\p{L}\p{N}]?\p{L}+|\p{N}| ?[^\s\p{L}\p{N}]+[\r\n]*|\s*[\r\n]+|\s+(?!\S)|\s+)";

ojson byte_level_step() {
  return {{"type", "ByteLevel"}, {"add_prefix_space", false}, {"trim_offsets", false}, {"use_regex", false}};
}

ojson pre_tokenizer_json() {
  ojson split = {{"type", "Split"}, {"pattern", {{"Regex", kQwen2Pattern}}}, {"behavior", "Isolated"}, {"invert", false}};
  return {{"type", "Sequence"}, {"pretokenizers", ojson::array({split, byte_level_step()})}};
}

std::string to_byte_level(std::string_view bytes) {
  const auto& alphabet = byte_level_alphabet();
  std::string out;
  for (unsigned char b : bytes) unicode::append(out, alphabet.byte_to_char[b]);
  return out;
}

// Calls fn(section) for the text between special tokens (leftmost, longest on ties), as encode() splits.
template <class Fn>
void for_each_section(std::string_view text, const std::vector<std::string>& specials, Fn&& fn) {
  size_t pos = 0;
  while (pos < text.size()) {
    size_t best = std::string_view::npos, best_len = 0;
    for (const auto& s : specials) {
      size_t at = text.find(s, pos);
      if (at < best || (at == best && at != std::string_view::npos && s.size() > best_len)) best = at, best_len = s.size();
    }
    if (best == std::string_view::npos) break;
    if (best > pos) fn(text.substr(pos, best - pos));
    pos = best + best_len;
  }
  if (pos < text.size()) fn(text.substr(pos));
}

using WordCounts = std::unordered_map<std::string, int64_t>;

WordCounts count_words(const std::vector<std::string>& texts, const BpeTrainOptions& options) {
  bool byte_level = false;
  auto pre = make_pre_tokenizer(nlohmann::json::parse(pre_tokenizer_json().dump()), byte_level);
  std::vector<WordCounts> parts;
  std::mutex mutex;
  ThreadPool pool(options.threads);
  pool.parallel_for(texts.size(), [&](size_t begin, size_t end) {
    WordCounts local;
    std::vector<std::string_view> words;
    for (size_t i = begin; i < end; ++i) {
      WordArena arena;
      for_each_section(texts[i], options.special_tokens, [&](std::string_view section) {
        words.assign(1, section);
        pre->split(words, arena);
        for (std::string_view w : words) {
          if (w.empty()) continue;
          auto it = local.find(std::string(w));
          if (it == local.end()) local.emplace(std::string(w), 1);
          else ++it->second;
        }
      });
    }
    std::lock_guard<std::mutex> lock(mutex);
    parts.push_back(std::move(local));
  });
  if (parts.empty()) return {};
  std::sort(parts.begin(), parts.end(), [](const WordCounts& a, const WordCounts& b) { return a.size() > b.size(); });
  WordCounts all = std::move(parts[0]);
  for (size_t p = 1; p < parts.size(); ++p) {
    for (auto& [w, c] : parts[p]) all[w] += c;
  }
  return all;
}

uint64_t pack(int32_t a, int32_t b) { return (static_cast<uint64_t>(static_cast<uint32_t>(a)) << 32) | static_cast<uint32_t>(b); }
int32_t first(uint64_t p) { return static_cast<int32_t>(p >> 32); }
int32_t second(uint64_t p) { return static_cast<int32_t>(p & 0xFFFFFFFFu); }

class Trainer {
 public:
  explicit Trainer(const WordCounts& counts) {
    for (int b = 0; b < 256; ++b) add_token(std::string(1, static_cast<char>(b)));
    // Words in byte order, so the word indices (and everything derived from them) never depend on hashing.
    std::vector<const std::pair<const std::string, int64_t>*> sorted;
    for (const auto& entry : counts) sorted.push_back(&entry);
    std::sort(sorted.begin(), sorted.end(), [](auto* x, auto* y) { return x->first < y->first; });
    for (const auto* entry : sorted) {
      std::vector<int32_t> symbols;
      for (unsigned char c : entry->first) symbols.push_back(c);
      words_.push_back(std::move(symbols));
      counts_.push_back(entry->second);
    }
    for (int32_t w = 0; w < static_cast<int32_t>(words_.size()); ++w) {
      const auto& s = words_[w];
      for (size_t i = 0; i + 1 < s.size(); ++i) {
        uint64_t p = pack(s[i], s[i + 1]);
        pair_counts_[p] += counts_[w];
        add_where(p, w);
      }
    }
    for (const auto& [p, c] : pair_counts_) heap_.push({c, p});
  }

  // Merges until the vocabulary (without specials) holds `target` tokens or no pair occurs min_frequency times.
  void train(size_t target, int64_t min_frequency) {
    while (tokens_.size() < target) {
      auto top = pop_best();
      if (!top || top->count < min_frequency) break;
      merge(top->pair);
    }
  }

  const std::vector<std::string>& tokens() const { return tokens_; }
  const std::vector<std::pair<int32_t, int32_t>>& merges() const { return merges_; }

 private:
  struct Entry {
    int64_t count;
    uint64_t pair;
  };
  // Orders the heap: higher count first, then the pair whose token bytes are lexicographically smaller.
  struct Lower {
    const std::vector<std::string>* tokens;
    bool operator()(const Entry& x, const Entry& y) const {
      if (x.count != y.count) return x.count < y.count;
      const auto& t = *tokens;
      if (int c = t[first(x.pair)].compare(t[first(y.pair)]); c != 0) return c > 0;
      return t[second(x.pair)] > t[second(y.pair)];
    }
  };

  int32_t add_token(std::string s) {
    int32_t id = static_cast<int32_t>(tokens_.size());
    token_ids_.emplace(s, id);
    tokens_.push_back(std::move(s));
    return id;
  }

  void add_where(uint64_t p, int32_t w) {
    auto& list = where_[p];
    if (list.empty() || list.back() != w) list.push_back(w);
  }

  // The most frequent live pair; heap entries whose count is out of date are dropped (every change
  // of a count pushes a fresh entry).
  std::optional<Entry> pop_best() {
    while (!heap_.empty()) {
      Entry e = heap_.top();
      heap_.pop();
      auto it = pair_counts_.find(e.pair);
      if (it != pair_counts_.end() && it->second == e.count) return e;
    }
    return std::nullopt;
  }

  void merge(uint64_t p) {
    const int32_t a = first(p), b = second(p);
    std::string merged = tokens_[a] + tokens_[b];
    auto known = token_ids_.find(merged);  // the same bytes reached by another split: same id
    const int32_t c = known != token_ids_.end() ? known->second : add_token(std::move(merged));
    if (merged_pairs_.insert(p).second) merges_.emplace_back(a, b);

    std::vector<int32_t> affected = std::move(where_[p]);
    where_.erase(p);
    pair_counts_.erase(p);
    std::sort(affected.begin(), affected.end());
    affected.erase(std::unique(affected.begin(), affected.end()), affected.end());

    std::unordered_map<uint64_t, int64_t> delta;
    for (int32_t w : affected) {
      auto& s = words_[w];
      const int64_t n = counts_[w];
      auto change = [&](int32_t x, int32_t y, int64_t sign) {
        uint64_t q = pack(x, y);
        if (q == p) return;  // the merged pair is gone everywhere
        delta[q] += sign * n;
        if (sign > 0) add_where(q, w);
      };
      // Left to right, non-overlapping, as encoding applies one merge: "a a a" + (a,a) -> "aa a".
      size_t out = 0;
      for (size_t i = 0; i < s.size();) {
        if (i + 1 < s.size() && s[i] == a && s[i + 1] == b) {
          if (out > 0) change(s[out - 1], a, -1), change(s[out - 1], c, +1);
          if (i + 2 < s.size()) change(b, s[i + 2], -1), change(c, s[i + 2], +1);
          s[out++] = c;
          i += 2;
        } else {
          s[out++] = s[i++];
        }
      }
      s.resize(out);
    }
    for (const auto& [q, d] : delta) {
      if (d == 0) continue;
      auto it = pair_counts_.emplace(q, 0).first;
      it->second += d;
      if (it->second <= 0) {
        pair_counts_.erase(it);
        where_.erase(q);
      } else {
        heap_.push({it->second, q});
      }
    }
  }

  std::vector<std::string> tokens_;  // raw bytes of each id
  std::unordered_map<std::string, int32_t> token_ids_;
  std::vector<std::pair<int32_t, int32_t>> merges_;
  std::set<uint64_t> merged_pairs_;
  std::vector<std::vector<int32_t>> words_;
  std::vector<int64_t> counts_;
  std::unordered_map<uint64_t, int64_t> pair_counts_;
  std::unordered_map<uint64_t, std::vector<int32_t>> where_;  // pair -> words that may hold it
  std::priority_queue<Entry, std::vector<Entry>, Lower> heap_{Lower{&tokens_}};
};

void write_json(const std::filesystem::path& path, const ojson& j) {
  std::ofstream out(path, std::ios::binary | std::ios::trunc);
  if (out) out << j.dump(2) << "\n";
  out.close();
  if (!out) throw Error(path.string() + ": cannot write");
}

void check_input(const std::vector<std::string>& texts, const BpeTrainOptions& options) {
  for (size_t i = 0; i < texts.size(); ++i) {
    if (auto bad = unicode::find_invalid(texts[i])) {
      throw Error("bpe train: text " + std::to_string(i) + " is not valid UTF-8 (byte offset " + std::to_string(*bad) + ")");
    }
  }
  const auto& specials = options.special_tokens;
  const int64_t minimum = 256 + static_cast<int64_t>(specials.size());
  if (options.vocab_size < minimum) {
    throw Error("bpe train: vocab_size " + std::to_string(options.vocab_size) + " is too small: it must hold 256 bytes + " +
                std::to_string(specials.size()) + " special tokens = " + std::to_string(minimum));
  }
  for (size_t i = 0; i < specials.size(); ++i) {
    if (specials[i].empty()) throw Error("bpe train: special token " + std::to_string(i) + " is empty");
    if (unicode::find_invalid(specials[i])) throw Error("bpe train: special token " + std::to_string(i) + " is not valid UTF-8");
    if (std::find(specials.begin(), specials.begin() + i, specials[i]) != specials.begin() + i) {
      throw Error("bpe train: special token '" + specials[i] + "' is listed twice");
    }
  }
}

}  // namespace

void train_byte_tokenizer(const std::vector<std::string>& texts, const BpeTrainOptions& options, const std::string& dir) {
  check_input(texts, options);
  namespace fs = std::filesystem;
  std::error_code ec;
  if (!fs::is_directory(dir, ec)) {
    fs::create_directories(dir, ec);
    if (ec || !fs::is_directory(dir)) {
      throw Error(dir + ": cannot create the tokenizer folder" + (ec ? " (" + ec.message() + ")" : std::string()));
    }
  }

  Trainer trainer(count_words(texts, options));
  const auto& specials = options.special_tokens;
  trainer.train(static_cast<size_t>(options.vocab_size) - specials.size(), std::max<int64_t>(options.min_frequency, 1));

  ojson vocab = ojson::object();
  for (size_t id = 0; id < trainer.tokens().size(); ++id) vocab[to_byte_level(trainer.tokens()[id])] = id;
  ojson merges = ojson::array();
  for (auto [a, b] : trainer.merges()) {
    merges.push_back({to_byte_level(trainer.tokens()[a]), to_byte_level(trainer.tokens()[b])});
  }
  ojson added = ojson::array();
  for (size_t i = 0; i < specials.size(); ++i) {
    if (vocab.contains(specials[i])) throw Error("bpe train: special token '" + specials[i] + "' is also a vocabulary token");
    added.push_back({{"id", trainer.tokens().size() + i}, {"content", specials[i]}, {"single_word", false}, {"lstrip", false},
                     {"rstrip", false}, {"normalized", false}, {"special", true}});
  }
  ojson tokenizer = {{"version", "1.0"},
                     {"truncation", nullptr},
                     {"padding", nullptr},
                     {"added_tokens", added},
                     {"normalizer", nullptr},
                     {"pre_tokenizer", pre_tokenizer_json()},
                     {"post_processor", byte_level_step()},
                     {"decoder", byte_level_step()},
                     {"model",
                      {{"type", "BPE"},
                       {"dropout", nullptr},
                       {"unk_token", nullptr},
                       {"continuing_subword_prefix", ""},
                       {"end_of_word_suffix", ""},
                       {"fuse_unk", false},
                       {"byte_fallback", false},
                       {"ignore_merges", false},
                       {"vocab", vocab},
                       {"merges", merges}}}};

  // tokenizer_config.json as write_byte_tokenizer writes it: <|endoftext|> is eos and pad, no bos.
  auto has = [&](const char* s) { return std::find(specials.begin(), specials.end(), s) != specials.end(); };
  ojson eos = has("<|endoftext|>") ? ojson("<|endoftext|>") : specials.empty() ? ojson(nullptr) : ojson(specials[0]);
  ojson config = {{"tokenizer_class", "PreTrainedTokenizerFast"},
                  {"eos_token", eos},
                  {"pad_token", eos},
                  {"bos_token", nullptr},
                  {"model_max_length", 4096}};
  if (has("<|im_start|>") && has("<|im_end|>")) {
    config["chat_template"] =
        "{% for message in messages %}<|im_start|>{{ message['role'] }}\n{{ message['content'] }}<|im_end|>\n"
        "{% endfor %}{% if add_generation_prompt %}<|im_start|>assistant\n{% endif %}";
  }
  write_json(fs::path(dir) / "tokenizer.json", tokenizer);
  write_json(fs::path(dir) / "tokenizer_config.json", config);
}

}  // namespace r1
