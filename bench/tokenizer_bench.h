// `r1 bench tokenizer`: encode the same mixed corpus with r1 and with the JavaScript port of
// Hugging Face tokenizers (@lenml/tokenizers, in node) in one run; print MB/s of each, the ratio,
// multi-threaded scaling, load time and resident memory.
#pragma once

#include <string>

namespace r1::bench {

struct TokenizerBenchOptions {
  std::string tokenizer;          // tokenizer.json (default: the reference_name package's, from the fixtures)
  std::string corpus;             // JSON lines {"text"} (default: fixtures/tokenizer/bench_corpus.jsonl)
  std::string reference_script;   // node script measuring the reference ("" = default, "none" = skip)
  std::string reference_name = "qwen3";
  int threads = 0;                // max threads for the scaling table (0 = cores)
};

// Prints the report to stdout; throws r1::Error when an input is missing.
void run_tokenizer_bench(const TokenizerBenchOptions& options);

// Fixture and source folders as configured at build time (R1_FIXTURES overrides the first).
std::string fixtures_dir();
std::string source_dir();

}  // namespace r1::bench
