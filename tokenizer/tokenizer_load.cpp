// Loading a tokenizer: tokenizer.json (and tokenizer_config.json) into Tokenizer::Impl
// (tokenizer_impl.h). Encoding and decoding are in tokenizer.cpp.
#include <nlohmann/json.hpp>
#include <simdjson.h>

#include <algorithm>
#include <chrono>
#include <filesystem>
#include <fstream>
#include <sstream>

#include "core/config.h"
#include "core/error.h"
#include "core/log.h"
#include "tokenizer/tokenizer_impl.h"

namespace r1 {
namespace {

std::optional<std::string> token_string(const nlohmann::json* config, const char* key) {
  if (!config || !config->is_object()) return std::nullopt;
  auto it = config->find(key);
  if (it == config->end() || it->is_null()) return std::nullopt;
  if (it->is_string()) return it->get<std::string>();
  if (it->is_object() && it->contains("content") && (*it)["content"].is_string()) return (*it)["content"].get<std::string>();
  throw Error(std::string("tokenizer_config.json: ") + key + ": expected string or {\"content\": ...}");
}

// tokenizer_config.json's chat_template: a string, or a list of {"name", "template"} (transformers'
// named templates; "default" is the one used without a name).
std::vector<std::pair<std::string, std::string>> read_chat_templates(const nlohmann::json& config) {
  std::vector<std::pair<std::string, std::string>> out;
  auto it = config.find("chat_template");
  if (it == config.end() || it->is_null()) return out;
  if (it->is_string()) {
    out.emplace_back("default", it->get<std::string>());
    return out;
  }
  if (!it->is_array()) throw Error("tokenizer_config.json: chat_template: expected a string or a list of {\"name\", \"template\"}");
  for (size_t i = 0; i < it->size(); ++i) {
    const auto& t = (*it)[i];
    if (!t.is_object() || !t.contains("name") || !t["name"].is_string() || !t.contains("template") || !t["template"].is_string()) {
      throw Error("tokenizer_config.json: chat_template[" + std::to_string(i) + "]: expected {\"name\": string, \"template\": string}");
    }
    out.emplace_back(t["name"].get<std::string>(), t["template"].get<std::string>());
  }
  // "default" first, so callers that want one template take the first.
  std::stable_partition(out.begin(), out.end(), [](const auto& t) { return t.first == "default"; });
  return out;
}

std::string read_text_file(const std::filesystem::path& path) {
  std::ifstream in(path, std::ios::binary);
  if (!in) throw Error(path.string() + ": cannot open");
  std::ostringstream text;
  text << in.rdbuf();
  return text.str();
}

// chat_template.jinja replaces tokenizer_config.json's default template (transformers saves it there
// since 4.43); additional_chat_templates/NAME.jinja add named ones.
void read_template_files(const std::filesystem::path& folder, std::vector<std::pair<std::string, std::string>>& templates) {
  namespace fs = std::filesystem;
  auto set = [&](const std::string& name, std::string source) {
    for (auto& t : templates) {
      if (t.first == name) {
        t.second = std::move(source);
        return;
      }
    }
    templates.emplace_back(name, std::move(source));
  };
  if (fs::exists(folder / "chat_template.jinja")) set("default", read_text_file(folder / "chat_template.jinja"));
  const fs::path extra = folder / "additional_chat_templates";
  if (fs::is_directory(extra)) {
    std::vector<fs::path> files;
    for (const auto& e : fs::directory_iterator(extra)) {
      if (e.path().extension() == ".jinja") files.push_back(e.path());
    }
    std::sort(files.begin(), files.end());
    for (const auto& f : files) set(f.stem().string(), read_text_file(f));
  }
  std::stable_partition(templates.begin(), templates.end(), [](const auto& t) { return t.first == "default"; });
}

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

void check_model_type(const nlohmann::json& model) {
  std::string model_type = model.value("type", std::string());
  if (model_type.empty() && model.contains("merges")) model_type = "BPE";
  if (model_type != "BPE") {
    throw Error("tokenizer.json: model type '" + model_type + "' is not supported (r1 supports BPE models)");
  }
}

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
    read_template_files(file.parent_path(), loaded.impl_->chat_templates);
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

  impl->decoder = DecoderChain::from_json(tokenizer.value("decoder", nlohmann::json()));
  impl->byte_level_decoder = impl->decoder.byte_level_only();
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
  const auto pad = token_string(config, "pad_token");
  impl->pad = find_id(pad);
  impl->bos_text = bos.value_or("");
  impl->eos_text = eos.value_or("");
  impl->unk_text = token_string(config, "unk_token").value_or("");
  impl->pad_text = pad.value_or("");
  if (config && config->is_object()) {
    impl->clean_up_spaces = config->value("clean_up_tokenization_spaces", false);
    impl->tokenizer_class = config->value("tokenizer_class", std::string());
    impl->chat_templates = read_chat_templates(*config);
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

}  // namespace r1
