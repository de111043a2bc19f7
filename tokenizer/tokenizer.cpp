// Encoding and decoding with a loaded tokenizer (tokenizer.h); loading is in tokenizer_load.cpp.
#include "tokenizer/tokenizer.h"

#include <string_view>

#include "core/error.h"
#include "core/thread_pool.h"
#include "tokenizer/decoder.h"
#include "tokenizer/tokenizer_impl.h"
#include "tokenizer/unicode.h"

namespace r1 {

void Tokenizer::Impl::encode_section(std::string_view text, bool at_start, std::vector<int32_t>& ids) const {
  std::string normalized_storage;
  std::string_view normalized = text;
  if (normalizer) {
    normalized_storage = normalizer->normalize(std::string(text));
    normalized = normalized_storage;
  }
  std::vector<AddedTokenMatcher::Section> sections;
  normalized_matcher.split(normalized, sections);
  WordArena arena;
  if (at_start) arena.text_start = normalized.data();
  std::vector<std::string_view> words;
  for (const auto& s : sections) {
    if (s.token >= 0) {
      ids.push_back(added[s.token].id);
      continue;
    }
    words.assign(1, s.text);
    if (pre_tokenizer) pre_tokenizer->split(words, arena);
    for (std::string_view w : words) bpe->encode_word(w, ids);
  }
}

const std::string& Tokenizer::Impl::checked_token(int32_t id) const {
  if (id < 0 || static_cast<size_t>(id) >= vocab_size) {
    throw Error("token id " + std::to_string(id) + " is out of range (vocabulary size " + std::to_string(vocab_size) + ")");
  }
  return token_text(id);
}

void Tokenizer::Impl::append_token_bytes(int32_t id, std::string& out) const {
  append_byte_level(checked_token(id), out);
}

Tokenizer::Tokenizer(std::unique_ptr<Impl> impl) : impl_(std::move(impl)) {}
Tokenizer::Tokenizer(Tokenizer&&) noexcept = default;
Tokenizer& Tokenizer::operator=(Tokenizer&&) noexcept = default;
Tokenizer::~Tokenizer() = default;

std::vector<int32_t> Tokenizer::encode(std::string_view text, bool add_special_tokens) const {
  if (auto bad = unicode::find_invalid(text)) {
    throw Error("tokenizer: input is not valid UTF-8 (byte offset " + std::to_string(*bad) + ")");
  }
  std::vector<int32_t> ids;
  ids.reserve(text.size() / 3 + 4);
  if (add_special_tokens) ids = impl_->prefix_ids;
  std::vector<AddedTokenMatcher::Section> sections;
  impl_->raw_matcher.split(text, sections);
  for (const auto& s : sections) {
    if (s.token >= 0) ids.push_back(impl_->added[s.token].id);
    else impl_->encode_section(s.text, s.text.data() == text.data(), ids);
  }
  if (add_special_tokens) ids.insert(ids.end(), impl_->suffix_ids.begin(), impl_->suffix_ids.end());
  return ids;
}

std::vector<std::vector<int32_t>> Tokenizer::encode_batch(const std::vector<std::string>& texts,
                                                          bool add_special_tokens, ThreadPool* pool) const {
  std::vector<std::vector<int32_t>> out(texts.size());
  auto work = [&](size_t begin, size_t end) {
    for (size_t i = begin; i < end; ++i) out[i] = encode(texts[i], add_special_tokens);
  };
  if (pool) pool->parallel_for(texts.size(), work);
  else work(0, texts.size());
  return out;
}

namespace {
// transformers' clean_up_tokenization: drop the space before punctuation and English contractions.
std::string clean_up_tokenization(std::string text) {
  static const std::pair<const char*, const char*> kRules[] = {
      {" .", "."}, {" ?", "?"}, {" !", "!"}, {" ,", ","}, {" ' ", "'"}, {" n't", "n't"},
      {" 'm", "'m"}, {" 's", "'s"}, {" 've", "'ve"}, {" 're", "'re"}};
  for (auto [from, to] : kRules) {
    std::string out;
    std::string_view f = from;
    size_t at = 0;
    for (size_t hit; (hit = text.find(f, at)) != std::string::npos; at = hit + f.size()) {
      out.append(text, at, hit - at).append(to);
    }
    out.append(text, at);
    text = std::move(out);
  }
  return text;
}
}  // namespace

std::string Tokenizer::decode(std::span<const int32_t> ids, bool skip_special_tokens,
                              std::optional<bool> clean_up_spaces) const {
  std::string text;
  if (impl_->byte_level_decoder) {
    std::string bytes;
    for (int32_t id : ids) {
      if (skip_special_tokens && is_special(id)) continue;
      impl_->append_token_bytes(id, bytes);
    }
    text = unicode::repair(bytes);
  } else {
    std::vector<std::string> tokens;
    tokens.reserve(ids.size());
    for (int32_t id : ids) {
      if (skip_special_tokens && is_special(id)) continue;
      tokens.push_back(impl_->checked_token(id));
    }
    text = impl_->decoder.decode(std::move(tokens));
  }
  return clean_up_spaces.value_or(impl_->clean_up_spaces) ? clean_up_tokenization(std::move(text)) : text;
}

size_t Tokenizer::vocab_size() const { return impl_->vocab_size; }

std::optional<int32_t> Tokenizer::token_to_id(std::string_view token) const {
  if (auto it = impl_->added_by_content.find(std::string(token)); it != impl_->added_by_content.end()) return it->second;
  if (int32_t id = impl_->bpe->lookup(token); id >= 0) return id;
  return std::nullopt;
}

std::string Tokenizer::id_to_token(int32_t id) const {
  if (id < 0 || static_cast<size_t>(id) >= impl_->vocab_size) return "";
  return impl_->token_text(id);
}

bool Tokenizer::is_special(int32_t id) const {
  return id >= 0 && static_cast<size_t>(id) < impl_->special.size() && impl_->special[id];
}

const std::vector<AddedToken>& Tokenizer::added_tokens() const { return impl_->added; }
std::optional<int32_t> Tokenizer::bos_id() const { return impl_->bos; }
std::optional<int32_t> Tokenizer::eos_id() const { return impl_->eos; }
std::optional<int32_t> Tokenizer::pad_id() const { return impl_->pad; }
std::string Tokenizer::bos_token() const { return impl_->bos_text; }
std::string Tokenizer::eos_token() const { return impl_->eos_text; }
std::string Tokenizer::special_token_text(std::string_view key) const {
  if (key == "bos_token") return impl_->bos_text;
  if (key == "eos_token") return impl_->eos_text;
  if (key == "unk_token") return impl_->unk_text;
  if (key == "pad_token") return impl_->pad_text;
  return "";
}
const std::vector<std::pair<std::string, std::string>>& Tokenizer::chat_templates() const { return impl_->chat_templates; }
const std::string& Tokenizer::chat_template() const {
  static const std::string kNone;
  for (const auto& [name, source] : impl_->chat_templates) {
    if (name == "default") return source;
  }
  return kNone;
}
const std::string& Tokenizer::tokenizer_class() const { return impl_->tokenizer_class; }

DecodeStream::DecodeStream(const Tokenizer& tokenizer, bool skip_special_tokens)
    : tokenizer_(tokenizer), skip_special_(skip_special_tokens) {
  const auto& impl = *tokenizer.impl_;
  if (!impl.byte_level_decoder && !impl.decoder.empty()) chain_ = std::make_unique<DecoderStream>(impl.decoder);
}

DecodeStream::~DecodeStream() = default;

std::string DecodeStream::step(int32_t id) {
  if (skip_special_ && tokenizer_.is_special(id)) return "";
  const auto& impl = *tokenizer_.impl_;
  if (impl.decoder.empty()) {
    // No decoder: tokens joined with single spaces.
    std::string out = started_ ? " " : "";
    out += impl.checked_token(id);
    started_ = true;
    return out;
  }
  if (chain_) return chain_->push(impl.checked_token(id));
  impl.append_token_bytes(id, pending_);
  size_t complete = unicode::complete_prefix(pending_);
  std::string out = unicode::repair(std::string_view(pending_).substr(0, complete));
  pending_.erase(0, complete);
  return out;
}

std::string DecodeStream::finish() {
  if (chain_) return chain_->finish();
  std::string out = unicode::repair(pending_);
  pending_.clear();
  return out;
}

}  // namespace r1
