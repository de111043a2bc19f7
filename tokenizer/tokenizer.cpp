#include "tokenizer/tokenizer.h"

#include <nlohmann/json.hpp>
#include <simdjson.h>

#include <algorithm>
#include <chrono>
#include <filesystem>
#include <unordered_map>

#include "core/config.h"
#include "core/error.h"
#include "core/log.h"
#include "core/thread_pool.h"
#include "tokenizer/bpe.h"
#include "tokenizer/pretokenizer.h"
#include "tokenizer/unicode.h"

namespace r1 {
namespace {

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

  void build(const std::vector<AddedToken>& tokens, bool normalized) {
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

  bool empty() const { return !any_; }

  void split(std::string_view text, std::vector<Section>& out) const {
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

 private:
  static char32_t last_char(std::string_view s) {
    size_t i = s.size();
    while (i > 0 && (static_cast<unsigned char>(s[i - 1]) & 0xC0) == 0x80) --i;
    if (i == 0) return 0;
    std::vector<char32_t> cps;
    std::vector<uint32_t> offsets;
    unicode::decode(s.substr(i - 1), cps, offsets);
    return cps.empty() ? 0 : cps.back();
  }
  static char32_t first_char(std::string_view s) {
    if (s.empty()) return 0;
    size_t len = 1;
    while (len < s.size() && len < 4 && (static_cast<unsigned char>(s[len]) & 0xC0) == 0x80) ++len;
    std::vector<char32_t> cps;
    std::vector<uint32_t> offsets;
    unicode::decode(s.substr(0, len), cps, offsets);
    return cps.empty() ? 0 : cps[0];
  }
  static bool is_word_char(char32_t c) {
    return c == '_' || (unicode::category_bit(c) & (unicode::kLetterMask | unicode::kNumberMask)) != 0;
  }
  static bool ends_with_word(std::string_view s) { return !s.empty() && is_word_char(last_char(s)); }
  static bool starts_with_word(std::string_view s) { return !s.empty() && is_word_char(first_char(s)); }
  static size_t strip_left(std::string_view text, size_t start, size_t floor) {
    while (start > floor) {
      size_t i = start - 1;
      while (i > floor && (static_cast<unsigned char>(text[i]) & 0xC0) == 0x80) --i;
      if (!unicode::is_white_space(first_char(text.substr(i, start - i)))) break;
      start = i;
    }
    return start;
  }
  static size_t strip_right(std::string_view text, size_t stop) {
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

std::optional<std::string> token_string(const nlohmann::json* config, const char* key) {
  if (!config || !config->is_object()) return std::nullopt;
  auto it = config->find(key);
  if (it == config->end() || it->is_null()) return std::nullopt;
  if (it->is_string()) return it->get<std::string>();
  if (it->is_object() && it->contains("content") && (*it)["content"].is_string()) return (*it)["content"].get<std::string>();
  throw Error(std::string("tokenizer_config.json: ") + key + ": expected string or {\"content\": ...}");
}

}  // namespace

struct Tokenizer::Impl {
  std::unique_ptr<Normalizer> normalizer;
  std::unique_ptr<PreTokenizer> pre_tokenizer;
  std::unique_ptr<Bpe> bpe;
  bool byte_level = false;
  std::vector<AddedToken> added;
  std::unordered_map<std::string, int32_t> added_by_content;
  size_t vocab_size = 0;               // largest id + 1 over model and added tokens
  std::vector<int32_t> added_index;    // id -> index into `added`, or -1 for a model token
  std::vector<int8_t> special;         // id -> 1 when an added special token

  // The text of a token ("" for an id no token uses).
  const std::string& token_text(int32_t id) const {
    static const std::string kNone;
    if (int32_t a = added_index[id]; a >= 0) return added[a].content;
    const auto& model = bpe->id_to_token();
    return static_cast<size_t>(id) < model.size() ? model[id] : kNone;
  }
  AddedTokenMatcher raw_matcher;        // tokens matched before normalization
  AddedTokenMatcher normalized_matcher; // tokens matched in normalized text
  std::vector<int32_t> prefix_ids, suffix_ids;  // added by add_special_tokens
  bool byte_level_decoder = false;
  bool clean_up_spaces = false;
  std::optional<int32_t> bos, eos, pad;
  std::string bos_text, eos_text;
  std::string chat_template, tokenizer_class;

  void encode_section(std::string_view text, std::vector<int32_t>& ids) const {
    std::string normalized_storage;
    std::string_view normalized = text;
    if (normalizer) {
      normalized_storage = normalizer->normalize(std::string(text));
      normalized = normalized_storage;
    }
    std::vector<AddedTokenMatcher::Section> sections;
    normalized_matcher.split(normalized, sections);
    WordArena arena;
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

  // Bytes of one token for decoding.
  void append_token_bytes(int32_t id, std::string& out) const {
    if (id < 0 || static_cast<size_t>(id) >= vocab_size) {
      throw Error("token id " + std::to_string(id) + " is out of range (vocabulary size " + std::to_string(vocab_size) + ")");
    }
    const std::string& token = token_text(id);
    if (!byte_level_decoder) {
      if (!out.empty() && !token.empty()) out.push_back(' ');
      out += token;
      return;
    }
    // ByteLevel decoder: map each character back to its byte; a token with a character outside the
    // byte alphabet (e.g. "<｜User｜>") contributes its own UTF-8 bytes, as in `tokenizers`.
    const auto& alphabet = byte_level_alphabet();
    size_t mark = out.size();
    std::vector<char32_t> cps;
    std::vector<uint32_t> offsets;
    unicode::decode(token, cps, offsets);
    for (char32_t cp : cps) {
      int b = alphabet.byte_of(cp);
      if (b < 0) {
        out.resize(mark);
        out += token;
        return;
      }
      out.push_back(static_cast<char>(b));
    }
  }
};

namespace {

void parse_post_processor(const nlohmann::json& pp, Tokenizer::Impl& impl) {
  if (pp.is_null()) return;
  std::string type = pp.value("type", std::string());
  auto lookup = [&](const std::string& token) -> int32_t {
    auto it = impl.added_by_content.find(token);
    if (it != impl.added_by_content.end()) return it->second;
    if (int32_t id = impl.bpe->lookup(token); id >= 0) return id;
    throw Error("tokenizer.json: post_processor uses unknown token '" + token + "'");
  };
  if (type == "ByteLevel") return;
  if (type == "Sequence") {
    for (const auto& p : pp.at("processors")) parse_post_processor(p, impl);
    return;
  }
  if (type == "TemplateProcessing") {
    const auto& specials = pp.at("special_tokens");
    bool after = false;
    for (const auto& piece : pp.at("single")) {
      if (piece.contains("Sequence")) {
        after = true;
        continue;
      }
      const std::string name = piece.at("SpecialToken").at("id").get<std::string>();
      std::vector<int32_t> ids;
      if (specials.contains(name)) {
        ids = specials[name].at("ids").get<std::vector<int32_t>>();
      } else {
        ids.push_back(lookup(name));
      }
      auto& target = after ? impl.suffix_ids : impl.prefix_ids;
      target.insert(target.end(), ids.begin(), ids.end());
    }
    return;
  }
  if (type == "BertProcessing" || type == "RobertaProcessing") {
    impl.prefix_ids.push_back(pp.at("cls").at(1).get<int32_t>());
    impl.suffix_ids.push_back(pp.at("sep").at(1).get<int32_t>());
    return;
  }
  throw Error("tokenizer.json: post_processor type '" + type + "' is not supported");
}

void parse_decoder(const nlohmann::json& decoder, Tokenizer::Impl& impl) {
  if (decoder.is_null()) return;
  std::string type = decoder.value("type", std::string());
  if (type == "ByteLevel") {
    impl.byte_level_decoder = true;
    return;
  }
  if (type == "Sequence") {
    for (const auto& d : decoder.at("decoders")) parse_decoder(d, impl);
    return;
  }
  throw Error("tokenizer.json: decoder type '" + type + "' is not supported (r1 decodes byte-level BPE)");
}

}  // namespace

Tokenizer::Tokenizer(std::unique_ptr<Impl> impl) : impl_(std::move(impl)) {}
Tokenizer::Tokenizer(Tokenizer&&) noexcept = default;
Tokenizer& Tokenizer::operator=(Tokenizer&&) noexcept = default;
Tokenizer::~Tokenizer() = default;

namespace {
void check_model_type(const nlohmann::json& model);
}  // namespace

namespace {

// tokenizer.json files are large (Qwen3's: 11 MB, 151k tokens, 151k merges). simdjson parses them in
// tens of milliseconds and hands out views into its buffer, so the vocabulary and merges go straight
// into the BPE tables; every other (small) part is converted to nlohmann::json for the typed readers.
nlohmann::json to_nlohmann(simdjson::dom::element element) {
  return nlohmann::json::parse(simdjson::minify(element));
}

Tokenizer load_with_simdjson(const std::string& file, const nlohmann::json* config,
                             Tokenizer (*build)(const nlohmann::json&, const BpeSpec&, const nlohmann::json*)) {
  simdjson::padded_string text;
  if (auto error = simdjson::padded_string::load(file).get(text)) {
    throw Error(file + ": cannot read (" + simdjson::error_message(error) + ")");
  }
  simdjson::dom::parser parser;
  simdjson::dom::element root;
  if (parser.parse(text).get(root)) {
    read_json_file(file);  // reports the syntax error with line and column
    throw Error(file + ": malformed JSON");
  }
  simdjson::dom::object top;
  if (root.get_object().get(top)) throw Error(file + ": expected a JSON object");
  nlohmann::json rest = nlohmann::json::object();
  BpeSpec spec;
  bool has_model = false;
  nlohmann::json model_options = nlohmann::json::object();
  for (auto [key, value] : top) {
    if (key != "model") {
      rest[std::string(key)] = to_nlohmann(value);
      continue;
    }
    has_model = true;
    simdjson::dom::object model;
    if (value.get_object().get(model)) throw Error("tokenizer.json: model: expected object");
    for (auto [mkey, mvalue] : model) {
      if (mkey == "vocab") {
        simdjson::dom::object vocab;
        if (mvalue.get_object().get(vocab)) throw Error("tokenizer.json: model.vocab: expected object");
        spec.vocab.reserve(vocab.size());
        for (auto [token, id] : vocab) {
          int64_t v;
          if (id.get_int64().get(v)) {
            throw Error("tokenizer.json: model.vocab[\"" + std::string(token) + "\"]: expected an integer id");
          }
          spec.vocab.emplace_back(token, v);
        }
      } else if (mkey == "merges") {
        simdjson::dom::array merges;
        if (mvalue.get_array().get(merges)) throw Error("tokenizer.json: model.merges: expected array");
        size_t rank = 0;
        for (simdjson::dom::element m : merges) {
          std::string_view s, a, b;
          simdjson::dom::array pair;
          if (!m.get_string().get(s)) {
            auto space = s.find(' ');
            if (space == std::string_view::npos) {
              throw Error("tokenizer.json: model.merges[" + std::to_string(rank) + "]: expected \"a b\"");
            }
            spec.merges.emplace_back(s.substr(0, space), s.substr(space + 1));
          } else if (!m.get_array().get(pair) && pair.size() == 2 && !pair.at(0).get_string().get(a) &&
                     !pair.at(1).get_string().get(b)) {
            spec.merges.emplace_back(a, b);
          } else {
            throw Error("tokenizer.json: model.merges[" + std::to_string(rank) + "]: expected \"a b\" or [a, b]");
          }
          ++rank;
        }
      } else {
        model_options[std::string(mkey)] = to_nlohmann(mvalue);
      }
    }
  }
  if (!has_model) throw Error("tokenizer.json: no \"model\" object");
  if (!model_options.contains("type") && !spec.merges.empty()) model_options["type"] = "BPE";
  check_model_type(model_options);
  rest["model"] = model_options;
  spec.options = &rest["model"];
  return build(rest, spec, config);
}

}  // namespace

Tokenizer Tokenizer::load(const std::string& path) {
  namespace fs = std::filesystem;
  fs::path file = path;
  if (fs::is_directory(file)) file /= "tokenizer.json";
  if (!fs::exists(file)) throw Error(file.string() + ": no such file");
  auto start = std::chrono::steady_clock::now();
  auto elapsed_ms = [&] {
    return std::chrono::duration<double, std::milli>(std::chrono::steady_clock::now() - start).count();
  };
  fs::path config_path = file.parent_path() / "tokenizer_config.json";
  nlohmann::json config;
  bool has_config = fs::exists(config_path);
  if (has_config) config = read_json_file(config_path.string());
  try {
    Tokenizer loaded = load_with_simdjson(file.string(), has_config ? &config : nullptr, &Tokenizer::build);
    log::debug() << "tokenizer: loaded " << loaded.vocab_size() << " tokens from " << file.string() << " in "
                 << elapsed_ms() << " ms";
    return loaded;
  } catch (const nlohmann::json::exception& e) {
    throw Error(file.string() + ": " + e.what());
  } catch (const Error& e) {
    std::string what = e.what();
    if (what.rfind(file.string(), 0) == 0) throw;
    throw Error(file.string() + ": " + what);
  }
}

namespace {

void check_model_type(const nlohmann::json& model) {
  std::string model_type = model.value("type", std::string());
  if (model_type.empty() && model.contains("merges")) model_type = "BPE";
  if (model_type != "BPE") {
    throw Error("tokenizer.json: model type '" + model_type + "' is not supported (r1 supports byte-level BPE models)");
  }
}

}  // namespace

Tokenizer Tokenizer::from_json(const nlohmann::json& tokenizer, const nlohmann::json* config) {
  if (!tokenizer.is_object() || !tokenizer.contains("model")) throw Error("tokenizer.json: no \"model\" object");
  check_model_type(tokenizer["model"]);
  return build(tokenizer, BpeSpec::from_json(tokenizer["model"]), config);
}

Tokenizer Tokenizer::build(const nlohmann::json& tokenizer, const BpeSpec& spec, const nlohmann::json* config) {
  auto impl = std::make_unique<Impl>();
  impl->normalizer = make_normalizer(tokenizer.value("normalizer", nlohmann::json()));
  impl->pre_tokenizer = make_pre_tokenizer(tokenizer.value("pre_tokenizer", nlohmann::json()), impl->byte_level);
  impl->bpe = std::make_unique<Bpe>(spec, impl->byte_level);

  impl->vocab_size = impl->bpe->id_to_token().size();
  if (tokenizer.contains("added_tokens") && tokenizer["added_tokens"].is_array()) {
    for (const auto& t : tokenizer["added_tokens"]) {
      AddedToken tok;
      int64_t id = t.at("id").get<int64_t>();
      tok.content = t.at("content").get<std::string>();
      tok.special = t.value("special", false);
      tok.lstrip = t.value("lstrip", false);
      tok.rstrip = t.value("rstrip", false);
      tok.single_word = t.value("single_word", false);
      tok.normalized = t.value("normalized", !tok.special);
      const int64_t id_limit = static_cast<int64_t>(impl->bpe->id_to_token().size() + tokenizer["added_tokens"].size()) * 2 + 65536;
      if (id < 0 || id >= id_limit) {
        throw Error("tokenizer.json: added token '" + tok.content + "' has id " + std::to_string(id) +
                    ", outside the vocabulary");
      }
      tok.id = static_cast<int32_t>(id);
      impl->vocab_size = std::max(impl->vocab_size, static_cast<size_t>(tok.id) + 1);
      impl->added_by_content[tok.content] = tok.id;
      impl->added.push_back(std::move(tok));
    }
  }
  impl->added_index.assign(impl->vocab_size, -1);
  impl->special.assign(impl->vocab_size, 0);
  for (size_t i = 0; i < impl->added.size(); ++i) {
    impl->added_index[impl->added[i].id] = static_cast<int32_t>(i);
    if (impl->added[i].special) impl->special[impl->added[i].id] = 1;
  }
  impl->raw_matcher.build(impl->added, false);
  impl->normalized_matcher.build(impl->added, true);

  parse_decoder(tokenizer.value("decoder", nlohmann::json()), *impl);
  parse_post_processor(tokenizer.value("post_processor", nlohmann::json()), *impl);

  auto find_id = [&](const std::optional<std::string>& token) -> std::optional<int32_t> {
    if (!token) return std::nullopt;
    if (auto it = impl->added_by_content.find(*token); it != impl->added_by_content.end()) return it->second;
    if (int32_t id = impl->bpe->lookup(*token); id >= 0) return id;
    return std::nullopt;
  };
  auto bos = token_string(config, "bos_token");
  auto eos = token_string(config, "eos_token");
  impl->bos = find_id(bos);
  impl->eos = find_id(eos);
  impl->pad = find_id(token_string(config, "pad_token"));
  impl->bos_text = bos.value_or("");
  impl->eos_text = eos.value_or("");
  if (config && config->is_object()) {
    impl->clean_up_spaces = config->value("clean_up_tokenization_spaces", false);
    impl->tokenizer_class = config->value("tokenizer_class", std::string());
    auto tmpl = config->find("chat_template");
    if (tmpl != config->end() && tmpl->is_string()) impl->chat_template = tmpl->get<std::string>();
    // transformers' Llama/Gemma fast tokenizers rebuild the post-processor from add_bos_token and
    // add_eos_token (LlamaTokenizerFast.update_post_processor); DeepSeek-V3/R1 ship that class.
    const std::string& cls = impl->tokenizer_class;
    if (cls == "LlamaTokenizerFast" || cls == "LlamaTokenizer" || cls == "CodeLlamaTokenizerFast" ||
        cls == "GemmaTokenizerFast" || cls == "GemmaTokenizer") {
      impl->prefix_ids.clear();
      impl->suffix_ids.clear();
      if (config->value("add_bos_token", true) && impl->bos) impl->prefix_ids.push_back(*impl->bos);
      if (config->value("add_eos_token", false) && impl->eos) impl->suffix_ids.push_back(*impl->eos);
    }
  }
  return Tokenizer(std::move(impl));
}

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
    else impl_->encode_section(s.text, ids);
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
  std::string bytes;
  for (int32_t id : ids) {
    if (skip_special_tokens && is_special(id)) continue;
    impl_->append_token_bytes(id, bytes);
  }
  std::string text = unicode::repair(bytes);
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
const std::string& Tokenizer::chat_template() const { return impl_->chat_template; }
const std::string& Tokenizer::tokenizer_class() const { return impl_->tokenizer_class; }

DecodeStream::DecodeStream(const Tokenizer& tokenizer, bool skip_special_tokens)
    : tokenizer_(tokenizer), skip_special_(skip_special_tokens) {}

std::string DecodeStream::step(int32_t id) {
  if (skip_special_ && tokenizer_.is_special(id)) return "";
  const auto& impl = *tokenizer_.impl_;
  if (!impl.byte_level_decoder) {
    std::string out;
    impl.append_token_bytes(id, out);
    if (started_ && !out.empty()) out.insert(out.begin(), ' ');
    started_ = started_ || !out.empty();
    return out;
  }
  impl.append_token_bytes(id, pending_);
  size_t complete = unicode::complete_prefix(pending_);
  std::string out = unicode::repair(std::string_view(pending_).substr(0, complete));
  pending_.erase(0, complete);
  return out;
}

std::string DecodeStream::finish() {
  std::string out = unicode::repair(pending_);
  pending_.clear();
  return out;
}

}  // namespace r1
