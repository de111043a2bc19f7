// r1 tokenize / r1 detokenize: JSON lines in, JSON lines out.
//   tokenize:   {"text": "..."}  ->  {"ids": [...]}
//   detokenize: {"ids": [...]}   ->  {"text": "..."}
// Lines are processed in batches on the thread pool; output order is input order. A malformed line
// stops the run with one error naming its line, after every line before it has been written.
#include <CLI/CLI.hpp>

#include <filesystem>
#include <fstream>
#include <iostream>
#include <mutex>

#include "cli/command.h"
#include "core/error.h"
#include "core/jsonl.h"
#include "core/progress.h"
#include "core/thread_pool.h"
#include "tokenizer/tokenizer.h"

namespace r1::cli {
namespace {

struct TokenizeOptions {
  std::string tokenizer;
  std::string input = "-";
  bool add_special_tokens = false;
  bool skip_special_tokens = false;
};

std::istream& open_input(const std::string& path, std::ifstream& file) {
  if (path == "-") return std::cin;
  file.open(path, std::ios::binary);
  if (!file) throw Error(path + ": cannot open");
  return file;
}

constexpr size_t kBatch = 512;

void run_tokenize(const TokenizeOptions& opt) {
  Tokenizer tokenizer = Tokenizer::load(opt.tokenizer);
  ThreadPool pool(static_cast<size_t>(global_options().threads));
  std::ifstream file;
  JsonLinesReader reader(open_input(opt.input, file), opt.input == "-" ? "<stdin>" : opt.input);
  uint64_t total = 0;
  if (opt.input != "-") {
    std::error_code ec;
    total = std::filesystem::file_size(opt.input, ec);
    if (ec) total = 0;
  }
  Progress progress("tokenize", total);
  uint64_t done = 0;
  std::vector<std::string> texts;
  std::vector<int64_t> lines;
  auto flush = [&] {
    std::vector<std::vector<int32_t>> ids(texts.size());
    std::exception_ptr error;
    size_t failed_at = texts.size();
    std::mutex error_mutex;
    pool.parallel_for(texts.size(), [&](size_t b, size_t e) {
      for (size_t i = b; i < e; ++i) {
        try {
          ids[i] = tokenizer.encode(texts[i], opt.add_special_tokens);
        } catch (...) {
          // Keep the first failing line (lowest index) to report.
          std::lock_guard<std::mutex> lock(error_mutex);
          if (i < failed_at) {
            failed_at = i;
            error = std::current_exception();
          }
        }
      }
    });
    std::string out;
    for (size_t i = 0; i < failed_at; ++i) out += to_json_line({{"ids", ids[i]}}) + "\n";
    std::cout << out << std::flush;
    done += failed_at;
    progress.update(reader.bytes_read(), done);
    if (error) {
      try {
        std::rethrow_exception(error);
      } catch (const std::exception& e) {
        throw Error(reader.source() + ":" + std::to_string(lines[failed_at]) + ": " + e.what());
      }
    }
    texts.clear();
    lines.clear();
  };
  nlohmann::json row;
  for (;;) {
    bool more;
    try {
      more = reader.next(row);
    } catch (...) {
      flush();  // write what came before the bad line
      throw;
    }
    if (!more) break;
    if (!row.is_object() || !row.contains("text") || !row["text"].is_string()) {
      flush();
      throw Error(reader.where() + "expected an object with a string \"text\"");
    }
    texts.push_back(row["text"].get<std::string>());
    lines.push_back(reader.line());
    if (texts.size() == kBatch) flush();
  }
  flush();
}

void run_detokenize(const TokenizeOptions& opt) {
  Tokenizer tokenizer = Tokenizer::load(opt.tokenizer);
  std::ifstream file;
  JsonLinesReader reader(open_input(opt.input, file), opt.input == "-" ? "<stdin>" : opt.input);
  nlohmann::json row;
  std::vector<int32_t> ids;
  while (reader.next(row)) {
    if (!row.is_object() || !row.contains("ids") || !row["ids"].is_array()) {
      throw Error(reader.where() + "expected an object with an array \"ids\"");
    }
    ids.clear();
    for (const auto& v : row["ids"]) {
      if (!v.is_number_integer() || v.get<int64_t>() < 0 || v.get<int64_t>() > INT32_MAX) {
        throw Error(reader.where() + "\"ids\" must hold non-negative integers, got " + v.dump());
      }
      ids.push_back(v.get<int32_t>());
    }
    std::string text;
    try {
      text = tokenizer.decode(ids, opt.skip_special_tokens);
    } catch (const Error& e) {
      throw Error(reader.where() + e.what());
    }
    std::cout << to_json_line({{"text", text}}) << '\n';
  }
  std::cout.flush();
}

}  // namespace

void add_tokenize_commands(CLI::App& app) {
  auto opt = std::make_shared<TokenizeOptions>();
  auto* tok = app.add_subcommand("tokenize", "Encode JSON lines {\"text\"} from stdin into {\"ids\"}");
  tok->add_option("--tokenizer", opt->tokenizer, "tokenizer.json, or a model folder holding it")->required();
  tok->add_option("--input", opt->input, "JSON-lines file (default: stdin)");
  tok->add_flag("--add-special-tokens", opt->add_special_tokens,
                "Add the model's BOS/EOS as Hugging Face does with add_special_tokens=True");
  tok->callback([opt] { run_tokenize(*opt); });

  auto* detok = app.add_subcommand("detokenize", "Decode JSON lines {\"ids\"} from stdin into {\"text\"}");
  detok->add_option("--tokenizer", opt->tokenizer, "tokenizer.json, or a model folder holding it")->required();
  detok->add_option("--input", opt->input, "JSON-lines file (default: stdin)");
  detok->add_flag("--skip-special-tokens", opt->skip_special_tokens, "Leave special tokens out of the text");
  detok->callback([opt] { run_detokenize(*opt); });
}

}  // namespace r1::cli
