// r1 bench train (in the LibTorch module): the trainer's own speed.
//
//  1. The matrix-product peak in fp32 and bf16 (2048^3, the threads in force), and which the trainer's
//     compute_dtype "auto" picks.
//  2. For each model config, a GRPO update exactly as the trainer runs it (grpo_update: micro-batches
//     under the token budget, the clipped importance-weighted loss, backward, clipping, AdamW) on a
//     synthetic batch of groups: tokens/s and model-FLOP utilisation, 6·N·tokens/s over the peak of the
//     dtype the products ran in (N: the parameters of every matrix a token passes through — the layers
//     and the output head; the embedding lookup is no product). With activation checkpointing too
//     (its recomputation is extra work the 6·N count does not credit).
//  3. Whole GRPO steps of a real run (2 FP8 rollout workers over gRPC, rewards, update, weight push)
//     with max_staleness 0 and 1: the time split, and the share spent waiting on rollouts.
#include <ATen/ATen.h>

#include <chrono>
#include <cstdio>
#include <filesystem>
#include <fstream>
#include <random>
#include <string>
#include <unistd.h>

#include "bench/matmul_peak.h"
#include "bench/torch_bench.h"
#include "core/clock.h"
#include "core/error.h"
#include "core/log.h"
#include "tokenizer/bpe_train.h"
#include "model/device.h"
#include "model/runtime.h"
#include "tokenizer/tokenizer.h"
#include "model/transformer.h"
#include "tasks/arith.h"
#include "trainer/grpo_step.h"
#include "trainer/grpo_trainer.h"
#include "trainer/optim.h"

namespace r1::bench {
namespace {

namespace fs = std::filesystem;

checkpoint::ModelConfig bench_config(const std::string& name) {
  if (name == "tiny") {  // the model of recipes/r1-zero-tiny.json
    checkpoint::ModelConfig c = checkpoint::preset_config("qwen2", "tiny", 512);
    c.hidden_size = 128;
    c.intermediate_size = 384;
    c.num_hidden_layers = 4;
    c.num_attention_heads = 4;
    c.num_key_value_heads = 2;
    c.head_dim = 32;
    c.max_position_embeddings = 512;
    return c;
  }
  if (name == "25m") return checkpoint::preset_config("qwen2", "25m", 8192);  // ~24M in the layers, an 8k vocabulary
  if (name.rfind("qwen2.5-", 0) == 0) return checkpoint::preset_config("qwen2", name, 151936);  // Qwen2.5's shapes
  throw ConfigError("r1 bench train: unknown config '" + name + "' (known: tiny, 25m, qwen2.5-0.5b, qwen2.5-1.5b, qwen2.5-7b)");
}

// Parameters of every matrix a token is multiplied by: the layers' and the output head's.
double matmul_params(const checkpoint::ModelConfig& c) {
  const double emb = static_cast<double>(c.vocab_size * c.hidden_size);
  return static_cast<double>(c.parameter_count()) - (c.tie_word_embeddings ? 0.0 : emb);
}

struct UpdateTiming {
  double tokens_per_s = 0, mfu = 0, seconds = 0;
};

UpdateTiming time_update(const checkpoint::ModelConfig& mc, at::ScalarType compute, bool checkpointing,
                         const TrainBenchOptions& o, double peak, const at::Device& device) {
  model::Transformer policy(mc, at::kFloat, device);
  policy.init_random(1);
  policy.set_compute_dtype(compute);
  policy.set_activation_checkpointing(checkpointing);
  for (auto& t : policy.parameters()) t.requires_grad_(true);
  std::vector<std::pair<std::string, at::Tensor>> named(policy.weights().begin(), policy.weights().end());
  run::GrpoConfig c;
  c.micro_batch_tokens = o.micro_batch_tokens;
  c.loss.beta = 0;
  trainer::Optimizer optim(named, c.optim, 1000);

  std::mt19937_64 rng(7);
  std::uniform_int_distribution<int64_t> token(0, mc.vocab_size - 1);
  std::vector<std::vector<int64_t>> prompts(static_cast<size_t>(o.groups));
  for (auto& p : prompts)
    for (int64_t i = 0; i < o.prompt_tokens; ++i) p.push_back(token(rng));
  std::vector<std::vector<run::ScoredSample>> groups(static_cast<size_t>(o.groups));
  for (size_t g = 0; g < groups.size(); ++g)
    for (int64_t k = 0; k < o.group_size; ++k) {
      run::ScoredSample s;
      s.row = g;
      s.index = static_cast<int>(k);
      s.prompt_ids = &prompts[g];
      for (int64_t i = 0; i < o.completion_tokens; ++i) s.ids.push_back(token(rng));
      s.logprobs.assign(s.ids.size(), -std::log(static_cast<float>(mc.vocab_size)));
      s.advantage = k % 2 ? 1.0 : -1.0;
      groups[g].push_back(std::move(s));
    }
  const double tokens = static_cast<double>(o.groups * o.group_size * (o.prompt_tokens + o.completion_tokens));
  trainer::TrainedPolicy trained{policy, optim};
  // Warm-up (allocator, kernels); then the timed updates, each from the groups as the trainer runs it.
  trainer::grpo_update(trained, trainer::TrainBatch::from_groups(groups, false), trainer::UpdateOptions::of(c, 0));
  double best = 1e30;
  for (int64_t i = 0; i < o.updates; ++i) {
    const auto t = Clock::now();
    trainer::StepUpdate u =
        trainer::grpo_update(trained, trainer::TrainBatch::from_groups(groups, false), trainer::UpdateOptions::of(c, i + 1));
    model::synchronize(device);
    best = std::min(best, seconds_since(t));
    if (u.skipped) throw Error("r1 bench train: the update was skipped (non-finite loss)");
  }
  UpdateTiming r;
  r.seconds = best;
  r.tokens_per_s = tokens / best;
  r.mfu = 6.0 * matmul_params(mc) * r.tokens_per_s / peak;
  return r;
}

struct StepSplit {
  double step = 0, generation = 0, rewards = 0, wait = 0, update = 0, sync = 0;
  int64_t steps = 0;
};

// A short GRPO run of a random tiny model on the arithmetic task; the mean split of its steps after the first.
StepSplit time_grpo_steps(const std::string& dir, int staleness, const TrainBenchOptions& o, int threads) {
  const fs::path root(dir);
  const fs::path model_dir = root / "model";
  if (!fs::exists(model_dir / "config.json")) {
    tasks::ArithOptions task;
    task.min_digits = 1;
    task.max_digits = 2;
    std::vector<std::string> corpus = tasks::make_corpus(2000, task);
    BpeTrainOptions bo;
    bo.vocab_size = 512;
    fs::create_directories(model_dir);
    train_byte_tokenizer(corpus, bo, model_dir.string());
    checkpoint::ModelConfig mc = bench_config("tiny");
    const Tokenizer tok = Tokenizer::load(model_dir.string());
    mc.vocab_size = static_cast<int64_t>(tok.vocab_size());  // the BPE learns fewer than 512 on a small corpus
    mc.eos_token_ids = {*tok.eos_id()};
    model::Transformer m(mc, at::kFloat);
    m.init_random(3);
    m.save(model_dir.string());
    tasks::write_problems_jsonl((root / "train.jsonl").string(), tasks::make_problems(500, 5, task));
  }
  run::GrpoConfig c;
  c.model = model_dir.string();
  c.train_data = (root / "train.jsonl").string();
  c.device = o.device;
  c.rollout.device = o.device;
  c.steps = o.grpo_steps;
  c.prompts_per_step = o.groups;
  c.group_size = o.group_size;
  c.max_new_tokens = o.completion_tokens;
  c.rewards = {{"rewards", {{{"name", "math"}, {"id", "accuracy"}, {"extraction", {"answer_tag"}}}, {{"name", "format"}}}}};
  c.rollout.workers = 2;
  c.rollout.kv_cache_mb = 32;
  c.rollout.max_staleness = staleness;
  c.loss.beta = 0.001;
  c.micro_batch_tokens = o.micro_batch_tokens;
  trainer::GrpoRun run;
  run.run_dir = (root / ("staleness-" + std::to_string(staleness))).string();
  run.r1_binary = fs::read_symlink("/proc/self/exe").string();
  run.threads = threads;
  fs::remove_all(run.run_dir);
  trainer::run_grpo(c, run);
  StepSplit s;
  std::ifstream in(fs::path(run.run_dir) / "metrics.jsonl");
  std::string line;
  while (std::getline(in, line)) {
    const nlohmann::json m = nlohmann::json::parse(line);
    if (m.at("step").get<int64_t>() == 1) continue;  // workers warming up, first weight push
    const nlohmann::json& t = m.at("time");
    s.step += t.at("step_s").get<double>();
    s.generation += t.at("generation_s").get<double>();
    s.rewards += t.at("rewards_s").get<double>();
    s.wait += t.at("wait_rollouts_s").get<double>();
    s.update += t.at("update_s").get<double>();
    s.sync += t.at("weight_sync_s").get<double>();
    ++s.steps;
  }
  if (s.steps == 0) throw Error("r1 bench train: the GRPO run wrote no step after the first (use --grpo-steps >= 2)");
  for (double* v : {&s.step, &s.generation, &s.rewards, &s.wait, &s.update, &s.sync}) *v /= static_cast<double>(s.steps);
  return s;
}

}  // namespace

void bench_train(int threads_asked, const TrainBenchOptions& o) {
  const int threads = model::configure_threads(threads_asked);
  model::configure_allocator(model::kFastMmapThreshold);
  const at::Device device = model::resolve_device(o.device, "--device");
  const double peak32 = matmul_peak_flops(at::kFloat, device), peak16 = matmul_peak_flops(at::kBFloat16, device);
  const ComputeDtype asked = parse_compute_dtype(o.dtype, "--dtype");
  const ComputeDtype dtype = asked == ComputeDtype::kAuto && device.is_cuda() ? ComputeDtype::kBf16
                                                                               : model::resolve_compute_dtype(asked);
  const at::ScalarType compute = dtype == ComputeDtype::kBf16 ? at::kBFloat16 : at::kFloat;
  const double peak = compute == at::kBFloat16 ? peak16 : peak32;
  std::printf("r1 bench train (%s, %d threads)\n", model::describe_device(device).c_str(), threads);
  std::printf("  peak 2048^3 matrix product: fp32 %.0f GFLOP/s, bf16 %.0f GFLOP/s -> products in %s%s\n", peak32 / 1e9,
              peak16 / 1e9, name(dtype), o.dtype == "auto" ? " (auto: the faster)" : "");
  std::printf("  GRPO update: %lld groups x %lld samples, %lld prompt + %lld completion tokens, micro-batches <= %lld tokens\n",
              static_cast<long long>(o.groups), static_cast<long long>(o.group_size), static_cast<long long>(o.prompt_tokens),
              static_cast<long long>(o.completion_tokens), static_cast<long long>(o.micro_batch_tokens));
  for (const std::string& name : o.configs) {
    const checkpoint::ModelConfig mc = bench_config(name);
    std::printf("  %-5s %5.1fM parameters (%.1fM in matrix products), vocab %lld\n", name.c_str(),
                static_cast<double>(mc.parameter_count()) / 1e6, matmul_params(mc) / 1e6, static_cast<long long>(mc.vocab_size));
    const UpdateTiming plain = time_update(mc, compute, false, o, peak, device);
    std::printf("        update %7.2f s   %8.0f tokens/s   MFU %5.1f%%\n", plain.seconds, plain.tokens_per_s, 100 * plain.mfu);
    std::fflush(stdout);
    if (o.checkpointing) {
      const UpdateTiming ck = time_update(mc, compute, true, o, peak, device);
      std::printf("        update %7.2f s   %8.0f tokens/s   MFU %5.1f%%   activation checkpointing (%.2fx the time)\n",
                  ck.seconds, ck.tokens_per_s, 100 * ck.mfu, ck.seconds / plain.seconds);
    }
  }
  if (o.grpo_steps <= 0) return;
  char tmpl[] = "/tmp/r1_bench_train_XXXXXX";
  if (!::mkdtemp(tmpl)) throw Error("r1 bench train: cannot create a temporary folder");
  const std::string dir = tmpl;
  std::printf("  GRPO steps (tiny, random weights, 2 fp8 workers over gRPC, %lld x %lld samples, <= %lld new tokens; mean of steps 2..%lld)\n",
              static_cast<long long>(o.groups), static_cast<long long>(o.group_size),
              static_cast<long long>(o.completion_tokens), static_cast<long long>(o.grpo_steps));
  std::printf("    staleness   step s   generation   rewards   waiting   update   weight sync   waiting share\n");
  const int level = static_cast<int>(log::level());
  for (int staleness : {0, 1}) {
    // The run's own progress and info lines would break up the table; -v keeps them (and the workers' output).
    if (level == static_cast<int>(log::Level::info)) log::set_level(log::Level::warn);
    StepSplit s;
    try {
      s = time_grpo_steps(dir, staleness, o, threads);
    } catch (...) {
      log::set_level(static_cast<log::Level>(level));
      fs::remove_all(dir);
      throw;
    }
    log::set_level(static_cast<log::Level>(level));
    std::printf("    %9d   %6.2f   %10.2f   %7.2f   %7.2f   %6.2f   %11.2f   %12.0f%%\n", staleness, s.step, s.generation,
                s.rewards, s.wait, s.update, s.sync, 100 * s.wait / s.step);
    std::fflush(stdout);
  }
  fs::remove_all(dir);
}

}  // namespace r1::bench
