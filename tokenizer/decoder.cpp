#include "tokenizer/decoder.h"

#include <nlohmann/json.hpp>

#include "core/error.h"
#include "tokenizer/bpe.h"
#include "tokenizer/pretokenizer.h"
#include "tokenizer/regex.h"
#include "tokenizer/unicode.h"

namespace r1 {
namespace {

using Kind = DecoderChain::Kind;
using Step = DecoderChain::Step;

char32_t one_char(const nlohmann::json& value, const char* what) {
  std::string s = value.get<std::string>();
  std::vector<char32_t> cps;
  std::vector<uint32_t> offsets;
  if (unicode::decode(s, cps, offsets) || cps.size() != 1) {
    throw Error(std::string("tokenizer.json: decoder ") + what + " must be exactly one character, got '" + s + "'");
  }
  return cps[0];
}

void parse_into(const nlohmann::json& config, std::vector<Step>& steps) {
  if (config.is_null()) return;
  if (!config.is_object() || !config.contains("type") || !config["type"].is_string()) {
    throw Error("tokenizer.json: decoder: expected an object with a \"type\"");
  }
  std::string type = config["type"].get<std::string>();
  Step step{};
  if (type == "Sequence") {
    for (const auto& d : config.at("decoders")) parse_into(d, steps);
    return;
  } else if (type == "ByteLevel") {
    step.kind = Kind::kByteLevel;
  } else if (type == "ByteFallback") {
    step.kind = Kind::kByteFallback;
  } else if (type == "Fuse") {
    step.kind = Kind::kFuse;
  } else if (type == "Replace") {
    step.kind = Kind::kReplace;
    const auto& pattern = config.at("pattern");
    if (pattern.contains("String")) {
      step.pattern = pattern["String"].get<std::string>();
      if (step.pattern.empty()) throw Error("tokenizer.json: decoder Replace with an empty pattern");
    } else if (pattern.contains("Regex")) {
      step.regex = std::make_shared<const Regex>(pattern["Regex"].get<std::string>());
    } else {
      throw Error("tokenizer.json: decoder Replace pattern must be {\"String\": ...} or {\"Regex\": ...}");
    }
    step.content = config.at("content").get<std::string>();
  } else if (type == "Strip") {
    step.kind = Kind::kStrip;
    step.strip_char = one_char(config.at("content"), "Strip content");
    step.start = config.value("start", size_t{0});
    step.stop = config.value("stop", size_t{0});
  } else if (type == "Metaspace") {
    step.kind = Kind::kMetaspace;
    step.strip_char = one_char(config.value("replacement", nlohmann::json("\u2581")), "Metaspace replacement");
    step.strip_first = metaspace_prepend_scheme(config, "decoder") != PrependScheme::kNever;
  } else {
    throw Error("tokenizer.json: decoder type '" + type + "' is not supported (supported: ByteLevel, ByteFallback, "
                "Fuse, Replace, Strip, Metaspace, Sequence)");
  }
  steps.push_back(std::move(step));
}

std::string replace_all(const Step& step, const std::string& text) {
  std::string out;
  if (!step.regex) {
    size_t at = 0;
    for (size_t hit; (hit = text.find(step.pattern, at)) != std::string::npos; at = hit + step.pattern.size()) {
      out.append(text, at, hit - at).append(step.content);
    }
    return out.append(text, at);
  }
  std::vector<char32_t> cps;
  std::vector<uint32_t> offsets;
  std::vector<std::pair<uint32_t, uint32_t>> matches;
  unicode::decode(text, cps, offsets);
  step.regex->find_all(cps.data(), cps.size(), matches);
  uint32_t at = 0;
  for (auto [b, e] : matches) {
    out.append(text, offsets[at], offsets[b] - offsets[at]).append(step.content);
    at = e;
  }
  return out.append(text, offsets[at]);
}

// Strip: up to `start` leading and `stop` trailing `content` characters.
std::string strip(const Step& step, const std::string& text) {
  std::vector<char32_t> cps;
  std::vector<uint32_t> offsets;
  unicode::decode(text, cps, offsets);
  size_t b = 0, e = cps.size();
  while (b < step.start && b < e && cps[b] == step.strip_char) ++b;
  for (size_t k = 0; k < step.stop && e > b && cps[e - 1] == step.strip_char; ++k) --e;
  return text.substr(offsets[b], offsets[e] - offsets[b]);
}

// Metaspace: the replacement character becomes a space, except in the first token, where it is
// dropped (unless prepend_scheme is "never"): the space SentencePiece prepended when encoding.
std::string metaspace(const Step& step, const std::string& token, bool first) {
  std::string out;
  std::vector<char32_t> cps;
  std::vector<uint32_t> offsets;
  unicode::decode(token, cps, offsets);
  for (size_t i = 0; i < cps.size(); ++i) {
    if (cps[i] != step.strip_char) out.append(token, offsets[i], offsets[i + 1] - offsets[i]);
    else if (!(first && step.strip_first)) out.push_back(' ');
  }
  return out;
}

// "<0xNN>" -> the byte (as Rust's u8::from_str_radix reads the two characters, which allows "+N").
int fallback_byte(std::string_view token) {
  if (token.size() != 6 || token.substr(0, 3) != "<0x" || token[5] != '>') return -1;
  auto hex = [](char c) {
    if (c >= '0' && c <= '9') return c - '0';
    if (c >= 'a' && c <= 'f') return c - 'a' + 10;
    if (c >= 'A' && c <= 'F') return c - 'A' + 10;
    return -1;
  };
  if (token[3] == '+') return hex(token[4]);
  int hi = hex(token[3]), lo = hex(token[4]);
  return hi < 0 || lo < 0 ? -1 : hi * 16 + lo;
}

// A finished run of <0xNN> bytes: its text when valid UTF-8, else one U+FFFD per byte.
void flush_run(std::string& run, std::vector<std::string>& out) {
  if (run.empty()) return;
  if (!unicode::find_invalid(run)) {
    out.push_back(run);
  } else {
    for (size_t i = 0; i < run.size(); ++i) out.emplace_back("\xEF\xBF\xBD");
  }
  run.clear();
}

}  // namespace

// ByteLevel: each token's characters back to bytes (a token with a character outside the byte
// alphabet contributes its own UTF-8), all concatenated, then lossily read as UTF-8.
void append_byte_level(std::string_view token, std::string& bytes) {
  const auto& alphabet = byte_level_alphabet();
  size_t mark = bytes.size();
  std::vector<char32_t> cps;
  std::vector<uint32_t> offsets;
  unicode::decode(token, cps, offsets);
  for (char32_t cp : cps) {
    int b = alphabet.byte_of(cp);
    if (b < 0) {
      bytes.resize(mark);
      bytes.append(token);
      return;
    }
    bytes.push_back(static_cast<char>(b));
  }
}

DecoderChain DecoderChain::from_json(const nlohmann::json& config) {
  DecoderChain chain;
  parse_into(config, chain.steps_);
  chain.present_ = !config.is_null();
  return chain;
}

std::string DecoderChain::decode(std::vector<std::string> tokens) const {
  if (!present_) {
    std::string out;
    for (size_t i = 0; i < tokens.size(); ++i) {
      if (i > 0) out.push_back(' ');
      out += tokens[i];
    }
    return out;
  }
  std::vector<std::string> next;
  for (const Step& step : steps_) {
    switch (step.kind) {
      case Kind::kByteLevel: {
        std::string bytes;
        for (const auto& t : tokens) append_byte_level(t, bytes);
        tokens.assign(1, unicode::repair(bytes));
        break;
      }
      case Kind::kFuse: {
        std::string all;
        for (const auto& t : tokens) all += t;
        tokens.assign(1, std::move(all));
        break;
      }
      case Kind::kByteFallback: {
        next.clear();
        std::string run;
        for (auto& t : tokens) {
          if (int b = fallback_byte(t); b >= 0) {
            run.push_back(static_cast<char>(b));
            continue;
          }
          flush_run(run, next);
          next.push_back(std::move(t));
        }
        flush_run(run, next);
        tokens.swap(next);
        break;
      }
      case Kind::kReplace:
        for (auto& t : tokens) t = replace_all(step, t);
        break;
      case Kind::kStrip:
        for (auto& t : tokens) t = strip(step, t);
        break;
      case Kind::kMetaspace:
        for (size_t i = 0; i < tokens.size(); ++i) tokens[i] = metaspace(step, tokens[i], i == 0);
        break;
    }
  }
  std::string out;
  for (const auto& t : tokens) out += t;
  return out;
}

// ---- streaming ----

DecoderStream::DecoderStream(const DecoderChain& chain) : chain_(chain) {
  const auto& steps = chain.steps();
  fuse_at_ = steps.size();
  for (size_t i = 0; i < steps.size(); ++i) {
    if (steps[i].kind == Kind::kFuse || steps[i].kind == Kind::kByteLevel) {
      fuse_at_ = i;
      break;
    }
  }
  for (size_t i = fuse_at_ + 1; i < steps.size(); ++i) {
    const Step& s = steps[i];
    bool streamable = s.kind == Kind::kFuse || s.kind == Kind::kStrip || s.kind == Kind::kMetaspace ||
                      (s.kind == Kind::kReplace && !s.regex);
    if (!streamable) hold_all_ = true;
  }
  seen_.assign(steps.size(), 0);
  byte_runs_.assign(steps.size(), std::string());
  tails_.assign(steps.size(), std::string());
  stripped_.assign(steps.size(), 0);
}

std::string DecoderStream::push(std::string_view token) {
  if (hold_all_) {
    held_tokens_.emplace_back(token);
    return "";
  }
  std::string out;
  feed(0, std::string(token), out);
  return out;
}

std::string DecoderStream::finish() {
  if (hold_all_) {
    std::string out = chain_.decode(std::move(held_tokens_));
    held_tokens_.clear();
    return out;
  }
  std::string out;
  flush(0, out);
  if (fuse_at_ < chain_.steps().size() && chain_.steps()[fuse_at_].kind == Kind::kByteLevel) {
    std::string rest = unicode::repair(pending_bytes_);
    pending_bytes_.clear();
    post(fuse_at_ + 1, std::move(rest), out, true);
  } else {
    post(fuse_at_ + 1, std::string(), out, true);
  }
  return out;
}

// One element (a token's string, or what an earlier step made of it) enters step `step`.
void DecoderStream::feed(size_t step, std::string element, std::string& out) {
  if (step >= fuse_at_) {
    fused(element, out);
    return;
  }
  const Step& s = chain_.steps()[step];
  size_t index = seen_[step]++;
  switch (s.kind) {
    case Kind::kReplace:
      feed(step + 1, replace_all(s, element), out);
      return;
    case Kind::kStrip:
      feed(step + 1, strip(s, element), out);
      return;
    case Kind::kMetaspace:
      feed(step + 1, metaspace(s, element, index == 0), out);
      return;
    case Kind::kByteFallback: {
      if (int b = fallback_byte(element); b >= 0) {
        byte_runs_[step].push_back(static_cast<char>(b));
        return;
      }
      std::vector<std::string> done;
      flush_run(byte_runs_[step], done);
      for (auto& d : done) feed(step + 1, std::move(d), out);
      feed(step + 1, std::move(element), out);
      return;
    }
    case Kind::kFuse:
    case Kind::kByteLevel:
      break;  // fusion steps are handled by fused()
  }
}

// At the end of the tokens: every open byte run, from the first step on, goes downstream.
void DecoderStream::flush(size_t from_step, std::string& out) {
  for (size_t step = from_step; step < fuse_at_; ++step) {
    if (chain_.steps()[step].kind != Kind::kByteFallback) continue;
    std::vector<std::string> done;
    flush_run(byte_runs_[step], done);
    for (auto& d : done) feed(step + 1, std::move(d), out);
  }
}

// Elements reaching the fusion point become one text (through the bytes for ByteLevel).
void DecoderStream::fused(std::string_view text, std::string& out) {
  if (fuse_at_ < chain_.steps().size() && chain_.steps()[fuse_at_].kind == Kind::kByteLevel) {
    append_byte_level(text, pending_bytes_);
    size_t complete = unicode::complete_prefix(pending_bytes_);
    std::string ready = unicode::repair(std::string_view(pending_bytes_).substr(0, complete));
    pending_bytes_.erase(0, complete);
    post(fuse_at_ + 1, std::move(ready), out, false);
    return;
  }
  post(fuse_at_ + 1, std::string(text), out, false);
}

// The fused text, chunk by chunk, through the steps after fusion (each acts on the whole text).
void DecoderStream::post(size_t step, std::string text, std::string& out, bool last) {
  const auto& steps = chain_.steps();
  if (step >= steps.size()) {
    out += text;
    return;
  }
  const Step& s = steps[step];
  std::string& tail = tails_[step];
  switch (s.kind) {
    case Kind::kFuse:
      break;
    case Kind::kMetaspace:
      text = metaspace(s, text, true);  // the fused text is the chain's first (and only) token
      break;
    case Kind::kReplace: {
      // Holds back the longest tail that could begin a match; replaces in the rest.
      text = tail + text;
      tail.clear();
      std::string done;
      size_t at = 0;
      for (size_t hit; (hit = text.find(s.pattern, at)) != std::string::npos; at = hit + s.pattern.size()) {
        done.append(text, at, hit - at).append(s.content);
      }
      size_t keep = 0;
      if (!last) {
        for (size_t k = std::min(s.pattern.size() - 1, text.size() - at); k > 0; --k) {
          if (text.compare(text.size() - k, k, s.pattern, 0, k) == 0) {
            keep = k;
            break;
          }
        }
      }
      done.append(text, at, text.size() - at - keep);
      tail = text.substr(text.size() - keep);
      text = std::move(done);
      break;
    }
    case Kind::kStrip: {
      std::vector<char32_t> cps;
      std::vector<uint32_t> offsets;
      unicode::decode(text, cps, offsets);
      size_t b = 0;
      // Leading: only the first `start` characters of the whole text can go.
      while (stripped_[step] < s.start && b < cps.size()) {
        if (cps[b] != s.strip_char) {
          stripped_[step] = s.start;
          break;
        }
        ++b;
        ++stripped_[step];
      }
      if (b < cps.size()) stripped_[step] = s.start;  // text beyond the stripped run has begun
      std::string rest = tail + text.substr(offsets[b]);
      tail.clear();
      if (s.stop > 0) {
        // Trailing: hold back up to `stop` content chars at the end until more text follows.
        unicode::decode(rest, cps, offsets);
        size_t e = cps.size(), held = 0;
        while (held < s.stop && e > 0 && cps[e - 1] == s.strip_char) {
          --e;
          ++held;
        }
        if (!last) tail = rest.substr(offsets[e]);
        rest.resize(offsets[e]);
      }
      text = std::move(rest);
      break;
    }
    case Kind::kByteFallback:
    case Kind::kByteLevel:
      break;  // not streamable after fusion: hold_all_ handles such chains
  }
  post(step + 1, std::move(text), out, last);
}

}  // namespace r1
