#include "tokenizer/pretokenizer.h"

#include <nlohmann/json.hpp>

#include "core/error.h"
#include "tokenizer/regex.h"
#include "tokenizer/unicode.h"

namespace r1 {
namespace {

std::string type_of(const nlohmann::json& config, const char* what) {
  if (!config.is_object() || !config.contains("type") || !config["type"].is_string()) {
    throw Error(std::string("tokenizer.json: ") + what + ": expected an object with a \"type\"");
  }
  return config["type"].get<std::string>();
}

bool flag(const nlohmann::json& config, const char* key, bool fallback) {
  auto it = config.find(key);
  return it != config.end() && it->is_boolean() ? it->get<bool>() : fallback;
}

// ---- normalizers ----

class UnicodeNormalizer : public Normalizer {
 public:
  explicit UnicodeNormalizer(unicode::Form form) : form_(form) {}
  std::string normalize(std::string text) const override { return unicode::normalize(text, form_); }

 private:
  unicode::Form form_;
};

class LowercaseNormalizer : public Normalizer {
 public:
  std::string normalize(std::string text) const override { return unicode::lowercase(text); }
};

class PrependNormalizer : public Normalizer {
 public:
  explicit PrependNormalizer(std::string prefix) : prefix_(std::move(prefix)) {}
  std::string normalize(std::string text) const override { return text.empty() ? text : prefix_ + text; }

 private:
  std::string prefix_;
};

class StripNormalizer : public Normalizer {
 public:
  StripNormalizer(bool left, bool right) : left_(left), right_(right) {}
  std::string normalize(std::string text) const override {
    std::vector<char32_t> cps;
    std::vector<uint32_t> offsets;
    unicode::decode(text, cps, offsets);
    size_t b = 0, e = cps.size();
    if (left_) while (b < e && unicode::is_white_space(cps[b])) ++b;
    if (right_) while (e > b && unicode::is_white_space(cps[e - 1])) --e;
    return text.substr(offsets[b], offsets[e] - offsets[b]);
  }

 private:
  bool left_, right_;
};

class ReplaceNormalizer : public Normalizer {
 public:
  ReplaceNormalizer(const nlohmann::json& pattern, std::string content) : content_(std::move(content)) {
    if (pattern.contains("String")) {
      literal_ = pattern["String"].get<std::string>();
      if (literal_.empty()) throw Error("tokenizer.json: Replace with an empty pattern");
    } else if (pattern.contains("Regex")) {
      regex_ = std::make_unique<Regex>(pattern["Regex"].get<std::string>());
    } else {
      throw Error("tokenizer.json: Replace pattern must be {\"String\": ...} or {\"Regex\": ...}");
    }
  }
  std::string normalize(std::string text) const override {
    std::string out;
    if (!regex_) {
      size_t at = 0;
      for (size_t hit; (hit = text.find(literal_, at)) != std::string::npos; at = hit + literal_.size()) {
        out.append(text, at, hit - at).append(content_);
      }
      return out.append(text, at);
    }
    std::vector<char32_t> cps;
    std::vector<uint32_t> offsets;
    unicode::decode(text, cps, offsets);
    std::vector<std::pair<uint32_t, uint32_t>> matches;
    regex_->find_all(cps.data(), cps.size(), matches);
    uint32_t at = 0;
    for (auto [b, e] : matches) {
      out.append(text, offsets[at], offsets[b] - offsets[at]).append(content_);
      at = e;
    }
    return out.append(text, offsets[at]);
  }

 private:
  std::string literal_;
  std::unique_ptr<Regex> regex_;
  std::string content_;
};

class SequenceNormalizer : public Normalizer {
 public:
  std::vector<std::unique_ptr<Normalizer>> steps;
  std::string normalize(std::string text) const override {
    for (const auto& s : steps) text = s->normalize(std::move(text));
    return text;
  }
};

// ---- pre-tokenizers ----

enum class Behavior { kRemoved, kIsolated, kMergedWithPrevious, kMergedWithNext, kContiguous };

Behavior parse_behavior(const nlohmann::json& config) {
  std::string b = config.value("behavior", std::string("Isolated"));
  if (b == "Removed") return Behavior::kRemoved;
  if (b == "Isolated") return Behavior::kIsolated;
  if (b == "MergedWithPrevious") return Behavior::kMergedWithPrevious;
  if (b == "MergedWithNext") return Behavior::kMergedWithNext;
  if (b == "Contiguous") return Behavior::kContiguous;
  throw Error("tokenizer.json: unsupported split behavior '" + b + "'");
}

struct Span {
  uint32_t begin, end;
  bool match;
};

// Turns the matches of one word into words, as tokenizers' NormalizedString::split does.
void apply_behavior(std::string_view word, const std::vector<Span>& spans, Behavior behavior,
                    std::vector<std::string_view>& out) {
  auto emit = [&](uint32_t b, uint32_t e) {
    if (e > b) out.push_back(word.substr(b, e - b));
  };
  switch (behavior) {
    case Behavior::kRemoved:
      for (const auto& s : spans) {
        if (!s.match) emit(s.begin, s.end);
      }
      return;
    case Behavior::kIsolated:
      for (const auto& s : spans) emit(s.begin, s.end);
      return;
    case Behavior::kContiguous: {
      size_t i = 0;
      while (i < spans.size()) {
        size_t j = i + 1;
        while (j < spans.size() && spans[j].match == spans[i].match) ++j;
        emit(spans[i].begin, spans[j - 1].end);
        i = j;
      }
      return;
    }
    case Behavior::kMergedWithPrevious: {
      // A match joins the word before it (unless that word is itself a match).
      std::vector<std::pair<uint32_t, uint32_t>> acc;
      bool previous_match = false;
      for (const auto& s : spans) {
        if (s.match && !previous_match && !acc.empty()) acc.back().second = s.end;
        else acc.push_back({s.begin, s.end});
        previous_match = s.match;
      }
      for (auto [b, e] : acc) emit(b, e);
      return;
    }
    case Behavior::kMergedWithNext: {
      // A match joins the word after it (unless that word is itself a match).
      std::vector<std::pair<uint32_t, uint32_t>> acc;
      bool next_match = false;
      for (auto it = spans.rbegin(); it != spans.rend(); ++it) {
        if (it->match && !next_match && !acc.empty()) acc.back().first = it->begin;
        else acc.push_back({it->begin, it->end});
        next_match = it->match;
      }
      for (auto it = acc.rbegin(); it != acc.rend(); ++it) emit(it->first, it->second);
      return;
    }
  }
}

class SplitPreTokenizer : public PreTokenizer {
 public:
  explicit SplitPreTokenizer(const nlohmann::json& config) : behavior_(parse_behavior(config)) {
    invert_ = flag(config, "invert", false);
    const auto& pattern = config.at("pattern");
    if (pattern.contains("Regex")) {
      regex_ = std::make_unique<Regex>(pattern["Regex"].get<std::string>());
    } else if (pattern.contains("String")) {
      literal_ = pattern["String"].get<std::string>();
    } else {
      throw Error("tokenizer.json: Split pattern must be {\"String\": ...} or {\"Regex\": ...}");
    }
  }

  void split(std::vector<std::string_view>& words, WordArena&) const override {
    std::vector<std::string_view> out;
    out.reserve(words.size() * 4);
    thread_local std::vector<char32_t> cps;
    thread_local std::vector<uint32_t> offsets;
    thread_local std::vector<std::pair<uint32_t, uint32_t>> matches;
    std::vector<Span> spans;
    for (std::string_view word : words) {
      spans.clear();
      uint32_t at = 0;
      auto add_match = [&](uint32_t b, uint32_t e) {
        if (b > at) spans.push_back({at, b, false});
        spans.push_back({b, e, true});
        at = e;
      };
      if (regex_) {
        if (auto bad = unicode::decode(word, cps, offsets)) throw Error("tokenizer: invalid UTF-8");
        regex_->find_all(cps.data(), cps.size(), matches);
        for (auto [b, e] : matches) add_match(offsets[b], offsets[e]);
      } else if (!literal_.empty()) {
        for (size_t hit; (hit = word.find(literal_, at)) != std::string_view::npos;) {
          add_match(static_cast<uint32_t>(hit), static_cast<uint32_t>(hit + literal_.size()));
        }
      }
      if (at < word.size()) spans.push_back({at, static_cast<uint32_t>(word.size()), false});
      if (invert_) {
        for (auto& s : spans) s.match = !s.match;
      }
      apply_behavior(word, spans, behavior_, out);
    }
    words.swap(out);
  }

 private:
  Behavior behavior_;
  bool invert_ = false;
  std::unique_ptr<Regex> regex_;
  std::string literal_;
};

// Splits by a predicate on code points (Digits, Punctuation, WhitespaceSplit).
template <typename Predicate>
void split_by_class(std::vector<std::string_view>& words, Behavior behavior, Predicate is_delimiter) {
  std::vector<std::string_view> out;
  std::vector<char32_t> cps;
  std::vector<uint32_t> offsets;
  std::vector<Span> spans;
  for (std::string_view word : words) {
    unicode::decode(word, cps, offsets);
    spans.clear();
    for (size_t i = 0; i < cps.size(); ++i) {
      bool m = is_delimiter(cps[i]);
      // Each delimiter code point is its own match (Contiguous/Removed then group them).
      spans.push_back({offsets[i], offsets[i + 1], m});
    }
    // Merge consecutive non-matches so Isolated keeps runs of other text whole.
    std::vector<Span> merged;
    for (const auto& s : spans) {
      if (!merged.empty() && !s.match && !merged.back().match) merged.back().end = s.end;
      else merged.push_back(s);
    }
    apply_behavior(word, merged, behavior, out);
  }
  words.swap(out);
}

class DigitsPreTokenizer : public PreTokenizer {
 public:
  explicit DigitsPreTokenizer(bool individual) : individual_(individual) {}
  void split(std::vector<std::string_view>& words, WordArena&) const override {
    split_by_class(words, individual_ ? Behavior::kIsolated : Behavior::kContiguous,
                   [](char32_t c) { return (unicode::category_bit(c) & unicode::kNumberMask) != 0; });
  }

 private:
  bool individual_;
};

class PunctuationPreTokenizer : public PreTokenizer {
 public:
  explicit PunctuationPreTokenizer(Behavior behavior) : behavior_(behavior) {}
  void split(std::vector<std::string_view>& words, WordArena&) const override {
    split_by_class(words, behavior_, [](char32_t c) {
      bool ascii_punct = c < 0x80 && ((c >= 0x21 && c <= 0x2F) || (c >= 0x3A && c <= 0x40) ||
                                      (c >= 0x5B && c <= 0x60) || (c >= 0x7B && c <= 0x7E));
      return ascii_punct || (unicode::category_bit(c) & unicode::category_mask("P")) != 0;
    });
  }

 private:
  Behavior behavior_;
};

class WhitespaceSplitPreTokenizer : public PreTokenizer {
 public:
  void split(std::vector<std::string_view>& words, WordArena&) const override {
    split_by_class(words, Behavior::kRemoved, [](char32_t c) { return unicode::is_white_space(c); });
  }
};

// Keeps the matches of a regex, drops the rest (Whitespace: \w+|[^\w\s]+).
class RegexKeepPreTokenizer : public PreTokenizer {
 public:
  explicit RegexKeepPreTokenizer(const char* pattern) : regex_(pattern) {}
  void split(std::vector<std::string_view>& words, WordArena&) const override {
    std::vector<std::string_view> out;
    std::vector<char32_t> cps;
    std::vector<uint32_t> offsets;
    std::vector<std::pair<uint32_t, uint32_t>> matches;
    for (std::string_view word : words) {
      unicode::decode(word, cps, offsets);
      regex_.find_all(cps.data(), cps.size(), matches);
      for (auto [b, e] : matches) out.push_back(word.substr(offsets[b], offsets[e] - offsets[b]));
    }
    words.swap(out);
  }

 private:
  Regex regex_;
};

// GPT-2's pattern, used by ByteLevel when use_regex is true.
constexpr const char* kGpt2Pattern =
    R"('s|'t|'re|'ve|'m|'ll|'d| ?\p{L}+| ?\p{N}+| ?[^\s\p{L}\p{N}]+|\s+(?!\S)|\s+)";

class ByteLevelPreTokenizer : public PreTokenizer {
 public:
  ByteLevelPreTokenizer(bool add_prefix_space, bool use_regex) : add_prefix_space_(add_prefix_space) {
    if (use_regex) regex_ = std::make_unique<SplitPreTokenizer>(nlohmann::json{
                       {"pattern", {{"Regex", kGpt2Pattern}}}, {"behavior", "Isolated"}, {"invert", false}});
  }
  // The byte -> character mapping itself happens in BPE, which starts from bytes.
  void split(std::vector<std::string_view>& words, WordArena& arena) const override {
    if (add_prefix_space_) {
      for (auto& w : words) {
        if (!w.empty() && w.front() != ' ') w = arena.keep(" " + std::string(w));
      }
    }
    if (regex_) regex_->split(words, arena);
  }

 private:
  bool add_prefix_space_;
  std::unique_ptr<SplitPreTokenizer> regex_;
};

// SentencePiece's view of spaces: every " " becomes the replacement ("▁"), a "▁" is prepended
// (always, or only to the word at the start of the input, or never) unless the word already starts
// with one, and with `split` each "▁" starts a new word ("▁Hey▁▁you" -> "▁Hey", "▁", "▁you").
class MetaspacePreTokenizer : public PreTokenizer {
 public:
  MetaspacePreTokenizer(std::string replacement, PrependScheme scheme, bool split)
      : replacement_(std::move(replacement)), scheme_(scheme), split_(split) {}

  void split(std::vector<std::string_view>& words, WordArena& arena) const override {
    std::vector<std::string_view> out;
    out.reserve(words.size() * 2);
    for (std::string_view word : words) {
      if (word.empty()) continue;
      bool prepend = scheme_ == PrependScheme::kAlways || (scheme_ == PrependScheme::kFirst && word.data() == arena.text_start);
      std::string text;
      text.reserve(word.size() + replacement_.size() + 8);
      if (prepend && word.substr(0, replacement_.size()) != replacement_ && word.front() != ' ') text = replacement_;
      for (char c : word) {
        if (c == ' ') text += replacement_;
        else text.push_back(c);
      }
      std::string_view kept = arena.keep(std::move(text));
      if (!split_) {
        out.push_back(kept);
        continue;
      }
      size_t begin = 0;
      for (size_t hit = kept.find(replacement_, 1); hit != std::string_view::npos; hit = kept.find(replacement_, hit + 1)) {
        out.push_back(kept.substr(begin, hit - begin));
        begin = hit;
      }
      out.push_back(kept.substr(begin));
    }
    words.swap(out);
  }

 private:
  std::string replacement_;
  PrependScheme scheme_;
  bool split_;
};

class SequencePreTokenizer : public PreTokenizer {
 public:
  std::vector<std::unique_ptr<PreTokenizer>> steps;
  void split(std::vector<std::string_view>& words, WordArena& arena) const override {
    for (const auto& s : steps) s->split(words, arena);
  }
};

}  // namespace

PrependScheme metaspace_prepend_scheme(const nlohmann::json& config, const char* where) {
  std::string scheme = config.value("prepend_scheme", std::string("always"));
  PrependScheme parsed = scheme == "always" ? PrependScheme::kAlways
                         : scheme == "first" ? PrependScheme::kFirst
                         : scheme == "never" ? PrependScheme::kNever
                                             : throw Error(std::string("tokenizer.json: ") + where +
                                                           " Metaspace: unknown prepend_scheme '" + scheme + "'");
  if (auto it = config.find("add_prefix_space"); it != config.end() && it->is_boolean() && !it->get<bool>()) {
    if (parsed != PrependScheme::kNever) {
      throw Error(std::string("tokenizer.json: ") + where +
                  " Metaspace: add_prefix_space does not match declared prepend_scheme");
    }
  }
  return parsed;
}

std::unique_ptr<Normalizer> make_normalizer(const nlohmann::json& config) {
  if (config.is_null()) return nullptr;
  std::string type = type_of(config, "normalizer");
  if (type == "NFC") return std::make_unique<UnicodeNormalizer>(unicode::Form::NFC);
  if (type == "NFD") return std::make_unique<UnicodeNormalizer>(unicode::Form::NFD);
  if (type == "NFKC") return std::make_unique<UnicodeNormalizer>(unicode::Form::NFKC);
  if (type == "NFKD") return std::make_unique<UnicodeNormalizer>(unicode::Form::NFKD);
  if (type == "Lowercase") return std::make_unique<LowercaseNormalizer>();
  if (type == "Prepend") return std::make_unique<PrependNormalizer>(config.at("prepend").get<std::string>());
  if (type == "Strip") return std::make_unique<StripNormalizer>(flag(config, "strip_left", false), flag(config, "strip_right", false));
  if (type == "Replace") return std::make_unique<ReplaceNormalizer>(config.at("pattern"), config.at("content").get<std::string>());
  if (type == "Sequence") {
    auto seq = std::make_unique<SequenceNormalizer>();
    for (const auto& step : config.at("normalizers")) {
      if (auto n = make_normalizer(step)) seq->steps.push_back(std::move(n));
    }
    if (seq->steps.empty()) return nullptr;
    return seq;
  }
  throw Error("tokenizer.json: normalizer type '" + type + "' is not supported (supported: NFC, NFD, NFKC, NFKD, "
              "Lowercase, Strip, Prepend, Replace, Sequence)");
}

std::unique_ptr<PreTokenizer> make_pre_tokenizer(const nlohmann::json& config, bool& byte_level) {
  if (config.is_null()) return nullptr;
  std::string type = type_of(config, "pre_tokenizer");
  if (type == "Split") return std::make_unique<SplitPreTokenizer>(config);
  if (type == "ByteLevel") {
    byte_level = true;
    return std::make_unique<ByteLevelPreTokenizer>(flag(config, "add_prefix_space", true), flag(config, "use_regex", true));
  }
  if (type == "Metaspace") {
    std::string replacement = config.value("replacement", std::string("\u2581"));
    std::vector<char32_t> cps;
    std::vector<uint32_t> offsets;
    if (unicode::decode(replacement, cps, offsets) || cps.size() != 1) {
      throw Error("tokenizer.json: pre_tokenizer Metaspace replacement must be one character, got '" + replacement + "'");
    }
    return std::make_unique<MetaspacePreTokenizer>(replacement, metaspace_prepend_scheme(config, "pre_tokenizer"),
                                                   flag(config, "split", true));
  }
  if (type == "Digits") return std::make_unique<DigitsPreTokenizer>(flag(config, "individual_digits", false));
  if (type == "Punctuation") return std::make_unique<PunctuationPreTokenizer>(parse_behavior(config));
  if (type == "WhitespaceSplit") return std::make_unique<WhitespaceSplitPreTokenizer>();
  if (type == "Whitespace") return std::make_unique<RegexKeepPreTokenizer>(R"(\w+|[^\w\s]+)");
  if (type == "Sequence") {
    auto seq = std::make_unique<SequencePreTokenizer>();
    for (const auto& step : config.at("pretokenizers")) {
      if (auto p = make_pre_tokenizer(step, byte_level)) seq->steps.push_back(std::move(p));
    }
    return seq;
  }
  throw Error("tokenizer.json: pre_tokenizer type '" + type + "' is not supported (supported: Split, ByteLevel, "
              "Metaspace, Digits, Punctuation, Whitespace, WhitespaceSplit, Sequence)");
}

}  // namespace r1
