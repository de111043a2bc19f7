// Supervised fine-tuning: see sft.h.
#include "trainer/sft.h"

#include <ATen/ATen.h>

#include <chrono>
#include <cmath>
#include <filesystem>
#include <optional>
#include <random>

#include "core/clock.h"
#include "core/error.h"
#include "core/stop.h"
#include "core/log.h"
#include "core/text.h"
#include "model/device.h"
#include "model/runtime.h"
#include "model/transformer.h"
#include "run/checkpoint_store.h"
#include "run/collective.h"
#include "run/dataset.h"
#include "run/sft_data.h"
#include "telemetry/run_log.h"
#include "tokenizer/chat_template.h"
#include "tokenizer/tokenizer.h"
#include "trainer/distributed.h"
#include "trainer/grad_sync.h"
#include "trainer/optim.h"
#include "trainer/run_start.h"
#include "trainer/trained_weights.h"

namespace fs = std::filesystem;

namespace r1::trainer {

namespace {


// The rows of one epoch: the examples in a seeded order, packed.
std::vector<run::PackedRow> epoch_rows(const run::SftDataset& data, const run::SftConfig& c, int64_t epoch, int32_t pad,
                                  run::PackStats* stats) {
  std::vector<size_t> order(data.examples.size());
  for (size_t i = 0; i < order.size(); ++i) order[i] = i;
  std::mt19937_64 rng(c.seed * 1000003ULL + static_cast<uint64_t>(epoch));
  std::shuffle(order.begin(), order.end(), rng);
  return run::pack_examples(data.examples, order, c.seq_len, pad, stats);
}

// The examples, tokenised through the chat template, and what the run's length follows from.
struct SftData {
  run::SftDataset data;
  int32_t pad = 0;
  run::PackStats first;                     // epoch 0's packing
  std::vector<run::PackedRow> first_rows;   // its rows
  int64_t steps = 0;                   // the run's optimiser steps
};

SftData load_data(const run::SftConfig& c, const Tokenizer& tokenizer) {
  const ChatTemplate chat =
      c.chat_template.empty() ? ChatTemplate::detect(tokenizer) : ChatTemplate::resolve(c.chat_template, &tokenizer);
  SftData d;
  d.data = run::SftDataset::load(c.train_data, chat, tokenizer, c.skip_bad_lines);
  d.pad = tokenizer.pad_id().value_or(tokenizer.eos_id().value_or(0));
  // The step count comes from epoch 0's packing whatever epoch a resumed run is in: the rows per epoch
  // vary a little with the order, and the schedule must span the same total steps as the first run.
  d.first_rows = epoch_rows(d.data, c, 0, d.pad, &d.first);
  const int64_t R = c.rows_per_step();
  d.steps = c.steps > 0 ? c.steps : c.epochs * ((d.first.rows + R - 1) / R);
  log::info() << "sft: " << d.data.examples.size() << " examples (" << d.data.skipped << " skipped) -> " << d.first.rows
              << " rows of " << c.seq_len << " tokens, " << d.first.trained_tokens << " trained tokens per epoch"
              << (d.first.cut ? ", " + std::to_string(d.first.cut) + " examples cut to seq_len" : std::string()) << "; "
              << d.steps << " steps of " << R << " rows";
  if (d.first.cut > 0)
    log::warn() << c.train_data << ": " << d.first.cut << " examples are longer than seq_len " << c.seq_len
                << " and were cut (raise seq_len to keep them whole)";
  return d;
}

// The model to train (every weight, or a LoRA adapter over the frozen base: trained_weights.h).
model::Transformer load_trainable(const run::StartPoint& from, const Tokenizer& tokenizer, const run::SftConfig& c) {
  const at::Device device = model::resolve_device(c.device, c.device_key);
  model::Transformer m = load_trained(c.lora, c.model, from, device, c.seed);
  if (static_cast<int64_t>(tokenizer.vocab_size()) > m.config().vocab_size)
    throw Error(model_files_dir(c.lora, c.model, from) + ": the tokenizer has " + std::to_string(tokenizer.vocab_size()) +
                " tokens but the model only " + std::to_string(m.config().vocab_size) + " rows");
  make_trainable(m, c.compute_dtype, c.activation_checkpointing);
  return m;
}

// This step's rows, moving on through the epochs. Copies: a batch that crosses into the next epoch
// replaces `rows`, and must not point into the epoch it came from.
std::vector<run::PackedRow> next_batch(std::vector<run::PackedRow>& rows, run::DatasetPosition& position, const SftData& d,
                                  const run::SftConfig& c) {
  std::vector<run::PackedRow> batch;
  while (static_cast<int64_t>(batch.size()) < c.rows_per_step()) {
    if (position.index >= static_cast<int64_t>(rows.size())) {
      ++position.epoch;
      position.index = 0;
      rows = epoch_rows(d.data, c, position.epoch, d.pad, nullptr);
    }
    batch.push_back(rows[static_cast<size_t>(position.index++)]);
  }
  return batch;
}

// Backward of this rank's share of the batch's loss, micro-batch by micro-batch: the mean next-token
// loss over the whole batch's `trained` target tokens (every rank's rows), accumulated exactly, so the
// ranks' gradients sum to the batch's. Returns this rank's share of the loss.
double backward_share(model::Transformer& m, const std::vector<run::PackedRow>& whole, int64_t trained, const run::SftConfig& c,
                      const run::Collective& group, GradientSync& gradients) {
  std::vector<run::PackedRow> batch;
  for (size_t r = static_cast<size_t>(group.rank()); r < whole.size(); r += static_cast<size_t>(group.world_size()))
    batch.push_back(whole[r]);
  const size_t micro_rows = static_cast<size_t>(std::max<int64_t>(1, c.micro_batch_tokens / c.seq_len));
  const int64_t T = c.seq_len;
  double loss_sum = 0;
  for (size_t b0 = 0; b0 < batch.size(); b0 += micro_rows) {
    const size_t n = std::min(batch.size() - b0, micro_rows);
    std::vector<int64_t> ids(n * static_cast<size_t>(T + 1)), pos(n * static_cast<size_t>(T));
    std::vector<float> mask(n * static_cast<size_t>(T));
    for (size_t b = 0; b < n; ++b) {
      const run::PackedRow& r = batch[b0 + b];
      std::copy(r.ids.begin(), r.ids.end(), ids.begin() + static_cast<std::ptrdiff_t>(b * (T + 1)));
      std::copy(r.positions.begin(), r.positions.end(), pos.begin() + static_cast<std::ptrdiff_t>(b * T));
      std::copy(r.train.begin(), r.train.end(), mask.begin() + static_cast<std::ptrdiff_t>(b * T));
    }
    const int64_t B = static_cast<int64_t>(n);
    at::Tensor all = at::tensor(ids, at::kLong).view({B, T + 1});
    at::Tensor hidden = m.forward(all.narrow(1, 0, T), at::tensor(pos, at::kLong).view({B, T}), {}, /*packed=*/true);
    auto [lp, ent] = m.token_logprobs(hidden, all.narrow(1, 1, T));
    at::Tensor loss = -(lp * at::tensor(mask).view({B, T})).sum() / static_cast<double>(trained);
    if (b0 + n == batch.size()) gradients.arm();  // the last backward: its gradients are summed as they land
    loss.backward();
    loss_sum += loss.item<double>();
  }
  return loss_sum;
}

// One metrics.jsonl row.
nlohmann::json step_metrics(double loss, bool skipped, double grad_norm, double lr, int64_t trained, int64_t epoch,
                            double secs, double allreduce_s, const run::SftConfig& c) {
  return {{"loss", skipped ? nlohmann::json(nullptr) : nlohmann::json(loss)},
          {"grad_norm", std::isfinite(grad_norm) ? nlohmann::json(grad_norm) : nlohmann::json(nullptr)},
          {"lr", lr},
          {"trained_tokens", trained},
          {"epoch", epoch},
          {"skipped", skipped},
          {"throughput", {{"tokens_per_s", static_cast<double>(c.rows_per_step() * c.seq_len) / std::max(secs, 1e-9)},
                          {"trained_tokens_per_s", static_cast<double>(trained) / std::max(secs, 1e-9)}}},
          {"time", {{"step_s", secs}, {"allreduce_s", allreduce_s}}}};  // the gradient all-reduce, waiting included
}

// A checkpoint after `done` steps: weights, optimiser, dataset position. A failed write is logged and
// the previous checkpoint stays: the run goes on.
void save_checkpoint(run::CheckpointStore& checkpoints, int64_t done, const run::DatasetPosition& position, const run::SftConfig& c,
                     const model::Transformer& m, Optimizer& optim) {
  const nlohmann::json state = {{"step", done}, {"dataset", position.to_json()}, {"seed", c.seed}};
  try {
    checkpoints.save(done, state, [&](const std::string& dir) {
      save_trained(m, dir);  // the model, or the adapter alone
      optim.save((fs::path(dir) / "optimizer.pt").string());
    });
  } catch (const Error& e) {
    log::error() << "checkpoint of step " << done << " not written, the previous one stays: " << e.what();
  }
}

// The final model (with LoRA, the adapter too) and summary.json.
void finish_run(model::Transformer& m, const SftData& d, const run::SftConfig& c, const SftRun& run, Clock::time_point started,
                SftResult& result) {
  const bool lora = m.lora() != nullptr;
  result.model_dir = save_final(m, run.run_dir, c.model);
  result.wall_s = seconds_since(started);
  const nlohmann::json summary = {{"steps", result.steps},
                                  {"final_loss", result.final_loss},
                                  {"trained_tokens", result.trained_tokens},
                                  {"examples", d.data.examples.size()},
                                  {"skipped_lines", d.data.skipped},
                                  {"examples_cut", d.first.cut},
                                  {"model", result.model_dir},
                                  {"wall_s", result.wall_s}};
  nlohmann::json out = summary;
  if (lora) out["adapter"] = (fs::path(run.run_dir) / "adapter").string();
  write_file_atomic((fs::path(run.run_dir) / "summary.json").string(), out.dump(2) + "\n");
  log::info() << "sft: " << result.steps << " steps, loss " << result.final_loss << ", model in " << result.model_dir;
}

}  // namespace

SftResult run_sft(const run::SftConfig& c, const SftRun& run) {
  const auto started = Clock::now();
  if (run.group && c.rows_per_step() % run.group->world_size() != 0)
    throw ConfigError("sft: the rows per step (" + std::to_string(c.rows_per_step()) + ") must be a multiple of the " +
                      std::to_string(run.group->world_size()) + " ranks, so each rank takes the same share");
  // Threads, allocator, seed, the run folder; the base model or the latest checkpoint.
  RunStart begun = begin_run(run.run_dir, run.threads, static_cast<uint64_t>(c.seed), c.keep_last, run.resume, c.model);
  const int64_t start_step = begun.from.step;
  const std::string& model_dir = begun.from.model_dir;
  run::DatasetPosition& position = begun.position;
  const Tokenizer tokenizer = Tokenizer::load(model_files_dir(c.lora, c.model, begun.from));
  SftData d = load_data(c, tokenizer);
  std::vector<run::PackedRow> rows = std::move(d.first_rows);
  if (position.epoch > 0) rows = epoch_rows(d.data, c, position.epoch, d.pad, nullptr);
  model::Transformer m = load_trainable(begun.from, tokenizer, c);
  const AdapterTraining dropout(m, true);  // an adapter's dropout on: every forward pass here trains
  const std::vector<std::pair<std::string, at::Tensor>> named = trained_parameters(m);
  run::SingleProcess alone;
  run::Collective& group = run.group ? *run.group : alone;
  Optimizer optim(named, c.optim, d.steps, run.group);
  GradientSync gradients(group, named, optim.gradient_sync());
  if (start_step > 0) optim.load((fs::path(model_dir) / "optimizer.pt").string());

  const bool leader = group.leader();
  std::optional<telemetry::RunLog> runlog;
  std::optional<telemetry::StepProgress> progress;
  if (leader) {
    runlog.emplace(run.run_dir, start_step > 0 ? start_step : -1);
    progress.emplace("sft", d.steps, start_step, 10);
  }
  SftResult result;
  double loss_avg = 0;
  int64_t step = start_step;
  const StopPoints stop_points;  // a first SIGINT / SIGTERM waits for the step's end and its checkpoint
  for (; step < d.steps; ++step) {
    const auto t0 = Clock::now();
    const std::vector<run::PackedRow> batch = next_batch(rows, position, d, c);
    int64_t trained = 0;
    for (const run::PackedRow& r : batch) trained += r.trained();
    gradients.begin();
    double loss_sum = trained > 0 ? backward_share(m, batch, trained, c, group, gradients) : 0;
    const auto reduce_start = Clock::now();
    int64_t gradient_bytes = 0;
    if (trained > 0) {
      gradients.finish();
      gradient_bytes = gradients.gradient_bytes();
      group.all_reduce_sum(&loss_sum, 1);
    }
    const double allreduce_s = seconds_since(reduce_start);
    const double grad_norm = trained > 0 ? optim.step(step) : 0.0;
    const bool skipped = trained == 0 || !std::isfinite(loss_sum) || !std::isfinite(grad_norm);
    if (skipped) {
      optim.zero_grad();
      if (leader) log::warn() << "sft step " << step + 1 << ": "
                  << (trained == 0 ? "no trained tokens in the batch" : "non-finite loss or gradient")
                  << "; the update is skipped";
    } else {
      loss_avg = step == start_step ? loss_sum : 0.9 * loss_avg + 0.1 * loss_sum;
      result.trained_tokens += trained;
    }
    const bool last = step + 1 == d.steps;
    // The signal any rank was asked to stop with: every rank stops after this step.
    const int stop = static_cast<int>(run::max_over_ranks(group, static_cast<uint64_t>(stop_requested())));
    const bool save_now = !skipped && ((c.save_every > 0 && (step + 1) % c.save_every == 0) || last || stop);
    const std::vector<uint64_t> state_bytes = group.all_gather(static_cast<uint64_t>(optim.state_bytes()));
    const std::vector<uint64_t> grad_bytes = group.all_gather(static_cast<uint64_t>(gradient_bytes));
    if (save_now) optim.gather_state();  // every rank: a partitioned optimiser's moments to rank 0
    const std::string stopped = "stopped by " + signal_name(stop) + " after step " + std::to_string(step + 1) + " of " +
                                std::to_string(d.steps) + ", its checkpoint in " + begun.checkpoints.dir() +
                                ": run the same command again to resume";
    if (!leader) {
      if (stop && !last) throw Stopped(stopped, stop);
      continue;
    }
    nlohmann::json metrics = step_metrics(loss_sum, skipped, grad_norm, optim.lr_at(step), trained, position.epoch,
                                          seconds_since(t0), allreduce_s, c);
    metrics["world_size"] = group.world_size();
    metrics["optimizer_state_mb"] = state_mb(state_bytes);
    if (group.world_size() > 1) metrics["gradient_mb"] = state_mb(grad_bytes);
    runlog->metrics(step + 1, metrics);
    char fields[96];
    std::snprintf(fields, sizeof fields, "loss %.4f  lr %.2e  epoch %lld", loss_avg, optim.lr_at(step),
                  static_cast<long long>(position.epoch + 1));
    progress->update(step + 1, fields);
    if (save_now) save_checkpoint(begun.checkpoints, step + 1, position, c, m, optim);
    if (stop && !last) {
      progress->finish();
      throw Stopped(stopped, stop);
    }
  }
  result.steps = step;
  result.final_loss = loss_avg;
  if (!leader) return result;
  progress->finish();
  finish_run(m, d, c, run, started, result);
  return result;
}

}  // namespace r1::trainer
