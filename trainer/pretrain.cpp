// The pretrain-synthetic stage: see pretrain.h.
#include "trainer/pretrain.h"

#include <ATen/ATen.h>

#include <chrono>
#include <cstdio>
#include <filesystem>
#include <fstream>
#include <optional>
#include <random>
#include <set>

#include "checkpoint/config.h"
#include "core/clock.h"
#include "core/error.h"
#include "core/log.h"
#include "core/text.h"
#include "core/thread_pool.h"
#include "model/device.h"
#include "model/runtime.h"
#include "model/transformer.h"
#include "run/collective.h"
#include "telemetry/run_log.h"
#include "tokenizer/bpe_train.h"
#include "tokenizer/tokenizer.h"
#include "trainer/distributed.h"
#include "trainer/grad_sync.h"
#include "trainer/optim.h"
#include "trainer/run_start.h"

namespace fs = std::filesystem;

namespace r1::trainer {

namespace {


// 1. Problems: held-out first (its own seed), then training problems, chat sets and the corpus, which
// all avoid them. Writes the problem sets into `out`; returns the corpus.
std::vector<std::string> write_problem_sets(const run::PretrainConfig& c, const fs::path& out) {
  std::vector<tasks::Problem> heldout = tasks::make_problems(static_cast<size_t>(c.heldout_problems), c.heldout_seed, c.task);
  std::set<std::string> held;
  for (const auto& p : heldout) held.insert(tasks::problem_key(p));
  std::vector<tasks::Problem> train = tasks::make_problems(static_cast<size_t>(c.train_problems), c.seed + 1, c.task, &held);
  tasks::write_problems_jsonl((out / "heldout.jsonl").string(), heldout);
  tasks::write_problems_jsonl((out / "train.jsonl").string(), train);
  if (c.cold_start_examples > 0) {
    std::string text;
    for (const auto& p : tasks::make_problems(static_cast<size_t>(c.cold_start_examples), c.seed + 2, c.task, &held))
      text += tasks::cold_start_row(p).dump() + "\n";
    write_file_atomic((out / "coldstart.jsonl").string(), text);
  }
  if (c.chat_examples > 0) {
    std::mt19937_64 rng(c.seed + 3);
    std::string text;
    for (int64_t i = 0; i < c.chat_examples; ++i) text += tasks::fact_row(rng, c.task).dump() + "\n";
    write_file_atomic((out / "chat.jsonl").string(), text);
  }
  std::vector<std::string> corpus = tasks::make_corpus(static_cast<size_t>(c.documents), c.task, &held);
  log::info() << "pretrain: " << corpus.size() << " documents, " << train.size() << " training and " << heldout.size()
              << " held-out problems";
  return corpus;
}

// 2. The tokenizer learnt on the corpus (written into model_dir) and the corpus encoded with it: one
// stream of tokens, documents separated by end-of-text.
struct TokenStream {
  std::vector<int64_t> tokens;
  int64_t eos = 0;
  int64_t vocab_size = 0;
};

TokenStream tokenize_corpus(const std::vector<std::string>& corpus, const run::PretrainConfig& c, const fs::path& model_dir,
                            int threads) {
  BpeTrainOptions bo;
  bo.vocab_size = c.vocab_size;
  train_byte_tokenizer(corpus, bo, model_dir.string());
  Tokenizer tok = Tokenizer::load(model_dir.string());
  TokenStream s;
  s.eos = *tok.eos_id();
  s.vocab_size = static_cast<int64_t>(tok.vocab_size());
  ThreadPool pool(static_cast<size_t>(threads > 0 ? threads : 0));
  std::vector<std::vector<int32_t>> encoded = tok.encode_batch(corpus, false, &pool);
  for (const auto& doc : encoded) {
    s.tokens.insert(s.tokens.end(), doc.begin(), doc.end());
    s.tokens.push_back(s.eos);
  }
  return s;
}

// 3. The model's shapes: Qwen2's tiny preset with the stage's sizes.
checkpoint::ModelConfig model_config(const run::PretrainConfig& c, const TokenStream& s) {
  checkpoint::ModelConfig mc = checkpoint::preset_config("qwen2", "tiny", s.vocab_size);
  mc.hidden_size = c.hidden_size;
  mc.intermediate_size = c.intermediate_size;
  mc.num_hidden_layers = c.layers;
  mc.num_attention_heads = c.heads;
  mc.num_key_value_heads = c.kv_heads;
  mc.head_dim = c.hidden_size / c.heads;
  mc.max_position_embeddings = c.context;
  mc.eos_token_ids = {s.eos};
  return mc;
}

// The training rows: windows of seq_len + 1 tokens cut from the stream, drawn in a seeded order,
// reshuffled after each pass.
class Windows {
 public:
  Windows(const TokenStream& s, const run::PretrainConfig& c) : s_(s), T_(c.seq_len), rng_(c.seed * 7 + 3) {
    const int64_t windows = static_cast<int64_t>(s.tokens.size()) / (T_ + 1);
    if (windows < c.batch_rows)
      throw Error("pretrain: the corpus has " + std::to_string(s.tokens.size()) + " tokens, too few for one batch of " +
                  std::to_string(c.batch_rows) + " x " + std::to_string(T_ + 1));
    order_.resize(static_cast<size_t>(windows));
    for (int64_t i = 0; i < windows; ++i) order_[static_cast<size_t>(i)] = i;
    std::shuffle(order_.begin(), order_.end(), rng_);
  }

  // The next B rows: ids [B, T + 1] and positions [B, T], which restart after each end-of-text so
  // documents do not see each other.
  void next(int64_t B, std::vector<int64_t>& ids, std::vector<int64_t>& pos) {
    ids.assign(static_cast<size_t>(B * (T_ + 1)), 0);
    pos.assign(static_cast<size_t>(B * T_), 0);
    for (int64_t b = 0; b < B; ++b) {
      if (cursor_ == order_.size()) {
        cursor_ = 0;
        std::shuffle(order_.begin(), order_.end(), rng_);
      }
      const int64_t start = order_[cursor_++] * (T_ + 1);
      std::copy(s_.tokens.begin() + start, s_.tokens.begin() + start + T_ + 1, ids.begin() + b * (T_ + 1));
      int64_t p = 0;
      for (int64_t t = 0; t < T_; ++t) {
        pos[static_cast<size_t>(b * T_ + t)] = p;
        p = ids[static_cast<size_t>(b * (T_ + 1) + t)] == s_.eos ? 0 : p + 1;
      }
    }
  }

 private:
  const TokenStream& s_;
  int64_t T_;
  std::mt19937_64 rng_;
  std::vector<int64_t> order_;
  size_t cursor_ = 0;
};

struct Trained {
  double final_loss = 0;  // smoothed
  double seconds = 0;     // of the steps alone
};

// The training loop: next-token loss over whole windows; in a job, this rank's rows of each step.
Trained train(model::Transformer& m, const TokenStream& s, const run::PretrainConfig& c, run::Collective& group) {
  std::vector<std::pair<std::string, at::Tensor>> named(m.weights().begin(), m.weights().end());
  Optimizer optim(named, c.optim, c.steps, &group);
  GradientSync gradients(group, named, optim.gradient_sync());
  const int64_t T = c.seq_len, B = c.batch_rows, W = group.world_size();
  Windows windows(s, c);
  std::optional<telemetry::StepProgress> progress;
  if (group.leader()) progress.emplace("pretrain", c.steps, 0, 50);
  double loss_avg = 0;
  std::vector<int64_t> ids, pos;
  const auto started = Clock::now();
  for (int64_t step = 0; step < c.steps; ++step) {
    windows.next(B, ids, pos);  // every rank draws the whole step's rows, and keeps its own
    at::Tensor all = at::tensor(ids, at::kLong).view({B, T + 1});
    at::Tensor rows = at::tensor(pos, at::kLong).view({B, T});
    if (W > 1) {
      at::Tensor mine = at::arange(group.rank(), B, W, at::kLong);
      all = all.index_select(0, mine);
      rows = rows.index_select(0, mine);
    }
    gradients.begin();
    at::Tensor x = all.narrow(1, 0, T), y = all.narrow(1, 1, T);
    at::Tensor hidden = m.forward(x, rows, {}, /*packed=*/true);
    auto [lp, ent] = m.token_logprobs(hidden, y);
    // This rank's share of the batch mean (one process: the mean itself).
    at::Tensor loss = W > 1 ? -lp.sum() / static_cast<double>(B * T) : -lp.mean();
    gradients.arm();
    loss.backward();
    double lv = loss.item<double>();
    if (W > 1) {
      gradients.finish();
      group.all_reduce_sum(&lv, 1);
    }
    optim.step(step);
    loss_avg = step == 0 ? lv : 0.95 * loss_avg + 0.05 * lv;
    if (!progress) continue;
    char fields[64];
    std::snprintf(fields, sizeof fields, "loss %.3f", loss_avg);
    progress->update(step + 1, fields);
  }
  if (progress) progress->finish();
  return {loss_avg, seconds_since(started)};
}

}  // namespace

PretrainResult run_pretrain(const run::PretrainConfig& c, const std::string& out_dir, int threads, run::Collective* group) {
  run::SingleProcess alone;
  run::Collective& ranks = group ? *group : alone;
  const auto t0 = Clock::now();
  configure_training(threads, c.seed);
  const fs::path out(out_dir), model_dir = out / "model";
  fs::create_directories(model_dir);
  const std::vector<std::string> corpus = write_problem_sets(c, out);
  const TokenStream stream = tokenize_corpus(corpus, c, model_dir, threads);

  const checkpoint::ModelConfig mc = model_config(c, stream);
  model::Transformer m(mc, at::kFloat, model::resolve_device(c.device, c.device_key));
  m.init_random(c.seed);
  const ComputeDtype compute = make_trainable(m, c.compute_dtype, c.activation_checkpointing);
  log::info() << "pretrain: on " << model::describe_device(m.device()) << ", matrix products in " << name(compute) << (c.compute_dtype == ComputeDtype::kAuto ? " (auto)" : "")
              << (c.activation_checkpointing ? ", activation checkpointing" : "");
  const Trained trained = train(m, stream, c, ranks);
  if (!ranks.leader()) return {};
  for (auto& p : m.parameters()) p.requires_grad_(false);
  m.save(model_dir.string());

  PretrainResult r;
  r.final_loss = trained.final_loss;
  r.parameters = mc.parameter_count();
  r.corpus_tokens = static_cast<int64_t>(stream.tokens.size());
  r.tokens_per_s = static_cast<double>(c.steps * c.batch_rows * c.seq_len) / std::max(trained.seconds, 1e-9);
  r.wall_s = seconds_since(t0);
  nlohmann::json stage = {{"kind", "pretrain-synthetic"}, {"identity", c.identity()}, {"final_loss", r.final_loss},
                          {"parameters", r.parameters}, {"corpus_tokens", r.corpus_tokens},
                          {"tokens_per_s", r.tokens_per_s}, {"wall_s", r.wall_s}};
  std::ofstream(out / "stage.json") << stage.dump(2) << "\n";
  log::info() << "pretrain: " << r.parameters << " parameters, " << r.corpus_tokens << " corpus tokens, loss "
              << r.final_loss << ", " << static_cast<int64_t>(r.tokens_per_s) << " tokens/s, " << r.wall_s << " s";
  return r;
}

}  // namespace r1::trainer
