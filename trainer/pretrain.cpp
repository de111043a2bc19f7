// The pretrain-synthetic stage: see pretrain.h.
#include "trainer/pretrain.h"

#include <ATen/ATen.h>

#include <chrono>
#include <cstdio>
#include <filesystem>
#include <fstream>
#include <random>
#include <set>

#include "core/config.h"
#include "core/error.h"
#include "core/text.h"
#include "core/log.h"
#include "core/thread_pool.h"
#include "tokenizer/bpe_train.h"
#include "checkpoint/config.h"
#include "model/runtime.h"
#include "tokenizer/tokenizer.h"
#include "model/transformer.h"
#include "telemetry/run_log.h"
#include "trainer/optim.h"

namespace fs = std::filesystem;

namespace r1::trainer {

PretrainResult run_pretrain(const PretrainConfig& c, const std::string& out_dir, int threads) {
  const auto t0 = std::chrono::steady_clock::now();
  model::configure_threads(threads);
  model::configure_allocator(model::kFastMmapThreshold);
  at::manual_seed(c.seed);
  const fs::path out(out_dir), model_dir = out / "model";
  fs::create_directories(model_dir);

  // 1. Problems: held-out first (its own seed), then training problems and corpus that avoid them.
  std::vector<Problem> heldout = make_problems(static_cast<size_t>(c.heldout_problems), c.heldout_seed, c.task);
  std::set<std::string> held;
  for (const auto& p : heldout) held.insert(problem_key(p));
  std::vector<Problem> train = make_problems(static_cast<size_t>(c.train_problems), c.seed + 1, c.task, &held);
  write_problems_jsonl((out / "heldout.jsonl").string(), heldout);
  write_problems_jsonl((out / "train.jsonl").string(), train);
  if (c.cold_start_examples > 0) {
    std::string text;
    for (const auto& p : make_problems(static_cast<size_t>(c.cold_start_examples), c.seed + 2, c.task, &held))
      text += cold_start_row(p).dump() + "\n";
    write_file_atomic((out / "coldstart.jsonl").string(), text);
  }
  if (c.chat_examples > 0) {
    std::mt19937_64 rng(c.seed + 3);
    std::string text;
    for (int64_t i = 0; i < c.chat_examples; ++i) text += fact_row(rng, c.task).dump() + "\n";
    write_file_atomic((out / "chat.jsonl").string(), text);
  }
  std::vector<std::string> corpus = make_corpus(static_cast<size_t>(c.documents), c.task, &held);
  log::info() << "pretrain: " << corpus.size() << " documents, " << train.size() << " training and " << heldout.size()
              << " held-out problems";

  // 2. Tokenizer.
  BpeTrainOptions bo;
  bo.vocab_size = c.vocab_size;
  train_byte_tokenizer(corpus, bo, model_dir.string());
  Tokenizer tok = Tokenizer::load(model_dir.string());
  const int64_t eos = *tok.eos_id();
  ThreadPool pool(static_cast<size_t>(threads > 0 ? threads : 0));
  std::vector<std::vector<int32_t>> encoded = tok.encode_batch(corpus, false, &pool);
  std::vector<int64_t> stream;
  for (const auto& doc : encoded) {
    stream.insert(stream.end(), doc.begin(), doc.end());
    stream.push_back(eos);
  }

  // 3. The model.
  model::ModelConfig mc = model::preset_config("qwen2", "tiny", static_cast<int64_t>(tok.vocab_size()));
  mc.hidden_size = c.hidden_size;
  mc.intermediate_size = c.intermediate_size;
  mc.num_hidden_layers = c.layers;
  mc.num_attention_heads = c.heads;
  mc.num_key_value_heads = c.kv_heads;
  mc.head_dim = c.hidden_size / c.heads;
  mc.max_position_embeddings = c.context;
  mc.eos_token_ids = {eos};
  model::Transformer m(mc, at::kFloat);
  m.init_random(c.seed);
  const std::string compute = model::resolve_compute_dtype(c.compute_dtype);
  m.set_compute_dtype(compute == "bf16" ? at::kBFloat16 : at::kFloat);
  m.set_activation_checkpointing(c.activation_checkpointing);
  log::info() << "pretrain: matrix products in " << compute << (c.compute_dtype == "auto" ? " (auto)" : "")
              << (c.activation_checkpointing ? ", activation checkpointing" : "");
  for (auto& p : m.parameters()) p.requires_grad_(true);
  std::vector<std::pair<std::string, at::Tensor>> named(m.weights().begin(), m.weights().end());
  Optimizer optim(named, c.optim, c.steps);

  const int64_t T = c.seq_len, B = c.batch_rows;
  const int64_t windows = static_cast<int64_t>(stream.size()) / (T + 1);
  if (windows < B) throw Error("pretrain: the corpus has " + std::to_string(stream.size()) + " tokens, too few for one batch of " +
                               std::to_string(B) + " x " + std::to_string(T + 1));
  std::mt19937_64 rng(c.seed * 7 + 3);
  std::vector<int64_t> order(static_cast<size_t>(windows));
  for (int64_t i = 0; i < windows; ++i) order[static_cast<size_t>(i)] = i;
  std::shuffle(order.begin(), order.end(), rng);
  StepProgress progress("pretrain", c.steps, 0, 50);
  double loss_avg = 0;
  size_t cursor = 0;
  const auto train_start = std::chrono::steady_clock::now();
  for (int64_t step = 0; step < c.steps; ++step) {
    std::vector<int64_t> ids(static_cast<size_t>(B * (T + 1))), pos(static_cast<size_t>(B * T));
    for (int64_t b = 0; b < B; ++b) {
      if (cursor == order.size()) {
        cursor = 0;
        std::shuffle(order.begin(), order.end(), rng);
      }
      const int64_t start = order[cursor++] * (T + 1);
      std::copy(stream.begin() + start, stream.begin() + start + T + 1, ids.begin() + b * (T + 1));
      int64_t p = 0;  // positions restart after each end-of-text, so documents do not see each other
      for (int64_t t = 0; t < T; ++t) {
        pos[static_cast<size_t>(b * T + t)] = p;
        p = ids[static_cast<size_t>(b * (T + 1) + t)] == eos ? 0 : p + 1;
      }
    }
    at::Tensor all = at::tensor(ids, at::kLong).view({B, T + 1});
    at::Tensor x = all.narrow(1, 0, T), y = all.narrow(1, 1, T);
    at::Tensor hidden = m.forward(x, at::tensor(pos, at::kLong).view({B, T}), {}, /*packed=*/true);
    auto [lp, ent] = m.token_logprobs(hidden, y);
    at::Tensor loss = -lp.mean();
    loss.backward();
    optim.step(step);
    const double lv = loss.item<double>();
    loss_avg = step == 0 ? lv : 0.95 * loss_avg + 0.05 * lv;
    char fields[64];
    std::snprintf(fields, sizeof fields, "loss %.3f", loss_avg);
    progress.update(step + 1, fields);
  }
  progress.finish();
  const double train_s = std::chrono::duration<double>(std::chrono::steady_clock::now() - train_start).count();
  for (auto& p : m.parameters()) p.requires_grad_(false);
  m.save(model_dir.string());

  PretrainResult r;
  r.final_loss = loss_avg;
  r.parameters = mc.parameter_count();
  r.corpus_tokens = static_cast<int64_t>(stream.size());
  r.tokens_per_s = static_cast<double>(c.steps * B * T) / std::max(train_s, 1e-9);
  r.wall_s = std::chrono::duration<double>(std::chrono::steady_clock::now() - t0).count();
  nlohmann::json stage = {{"kind", "pretrain-synthetic"}, {"identity", c.identity()}, {"final_loss", r.final_loss},
                          {"parameters", r.parameters}, {"corpus_tokens", r.corpus_tokens},
                          {"tokens_per_s", r.tokens_per_s}, {"wall_s", r.wall_s}};
  std::ofstream(out / "stage.json") << stage.dump(2) << "\n";
  log::info() << "pretrain: " << r.parameters << " parameters, " << r.corpus_tokens << " corpus tokens, loss "
              << r.final_loss << ", " << static_cast<int64_t>(r.tokens_per_s) << " tokens/s, " << r.wall_s << " s";
  return r;
}

}  // namespace r1::trainer
