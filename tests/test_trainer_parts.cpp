// The trainer's building blocks: the learning-rate schedule and AdamW, prompt datasets and their
// position, atomic checkpoints, micro-batching and scoring of completions.
#include <ATen/ATen.h>

#include <catch2/catch.hpp>
#include <cmath>
#include <filesystem>
#include <fstream>

#include "core/config.h"
#include "core/error.h"
#include "checkpoint/config.h"
#include "model/transformer.h"
#include "run/checkpoint_store.h"
#include "run/dataset.h"
#include "trainer/optim.h"
#include "trainer/grpo_step.h"
#include "trainer/logprobs.h"
#include "telemetry/run_log.h"

namespace fs = std::filesystem;
using namespace r1::trainer;
using Catch::Matchers::WithinAbs;

namespace {

fs::path fresh_dir(const std::string& name) {
  fs::path p = fs::temp_directory_path() / ("r1-test-" + name + "-" + std::to_string(::getpid()));
  fs::remove_all(p);
  fs::create_directories(p);
  return p;
}

void write(const fs::path& p, const std::string& text) { std::ofstream(p, std::ios::binary) << text; }

}  // namespace

TEST_CASE("learning-rate schedules: warmup, constant, cosine, linear", "[trainer]") {
  OptimConfig c;
  c.lr = 1.0;
  c.warmup_steps = 4;
  c.min_lr_ratio = 0.1;
  c.schedule = r1::LrSchedule::kCosine;
  CHECK_THAT(scheduled_lr(c, 0, 104), WithinAbs(0.25, 1e-12));
  CHECK_THAT(scheduled_lr(c, 3, 104), WithinAbs(1.0, 1e-12));
  CHECK_THAT(scheduled_lr(c, 4, 104), WithinAbs(1.0, 1e-12));               // p = 0
  CHECK_THAT(scheduled_lr(c, 54, 104), WithinAbs(0.1 + 0.9 * 0.5, 1e-12));  // p = 1/2: halfway
  CHECK_THAT(scheduled_lr(c, 104, 104), WithinAbs(0.1, 1e-12));             // p = 1: the floor
  c.schedule = r1::LrSchedule::kLinear;
  CHECK_THAT(scheduled_lr(c, 29, 104), WithinAbs(0.1 + 0.9 * 0.75, 1e-12));
  c.schedule = r1::LrSchedule::kConstant;
  CHECK_THAT(scheduled_lr(c, 90, 104), WithinAbs(1.0, 1e-12));
}

TEST_CASE("optimiser: AdamW's first step, weight decay on matrices only, clipping, non-finite skip", "[trainer]") {
  OptimConfig c;
  c.lr = 0.1;
  c.weight_decay = 0.5;
  c.max_grad_norm = 0;
  at::Tensor w = at::ones({2, 2}).set_requires_grad(true), b = at::ones({2}).set_requires_grad(true);
  Optimizer opt({{"layer.weight", w}, {"layer.bias", b}}, c, 10);
  (w.sum() * 3 + b.sum() * -2).backward();
  const double norm = opt.step(0);
  CHECK_THAT(norm, WithinAbs(std::sqrt(4 * 9.0 + 2 * 4.0), 1e-9));
  // Adam's first step moves each weight by lr·sign(g) (m/√v = g/|g| after bias correction), and
  // decoupled decay multiplies by (1 - lr·wd) first: 1·(1 - 0.05) - 0.1 = 0.85; the bias has no decay.
  CHECK_THAT(w[0][0].item<double>(), WithinAbs(0.85, 1e-6));
  CHECK_THAT(b[0].item<double>(), WithinAbs(1.1, 1e-6));
  CHECK_FALSE(w.grad().defined());
  // A NaN gradient: the norm says so and nothing moves.
  (w.sum() * std::nan("")).backward();
  const at::Tensor before = w.detach().clone();
  CHECK(std::isnan(opt.step(1)));
  CHECK(at::equal(before, w.detach()));
  // Clipping: a gradient of norm 10 is scaled to max_grad_norm before the step (the reported norm is the raw one).
  c.max_grad_norm = 1.0;
  c.weight_decay = 0;
  at::Tensor v = at::zeros({1, 2}).set_requires_grad(true);
  Optimizer opt2({{"v.weight", v}}, c, 10);
  (v * at::tensor(std::vector<float>{6, 8}).view({1, 2})).sum().backward();
  CHECK_THAT(opt2.step(0), WithinAbs(10.0, 1e-9));
}

TEST_CASE("optimiser state round-trips through a file, a truncated one is refused", "[trainer]") {
  const fs::path dir = fresh_dir("optim");
  OptimConfig c;
  c.lr = 0.01;
  at::Tensor w = at::ones({3, 3}).set_requires_grad(true);
  Optimizer a({{"x.weight", w}}, c, 10);
  for (int s = 0; s < 3; ++s) {
    (w * w).sum().backward();
    a.step(s);
  }
  a.save((dir / "opt.pt").string());
  at::Tensor w2 = w.detach().clone().set_requires_grad(true);
  Optimizer b({{"x.weight", w2}}, c, 10);
  b.load((dir / "opt.pt").string());
  (w * w).sum().backward();
  (w2 * w2).sum().backward();
  a.step(3);
  b.step(3);
  CHECK(at::allclose(w, w2));  // same moments, same step count: the same update
  const auto size = fs::file_size(dir / "opt.pt");
  fs::resize_file(dir / "opt.pt", size / 2);
  CHECK_THROWS_AS(b.load((dir / "opt.pt").string()), r1::Error);
  CHECK_THROWS_WITH(b.load((dir / "missing.pt").string()), Catch::Contains("missing.pt"));
  fs::remove_all(dir);
}

TEST_CASE("optimiser config: typos and bad values name the key", "[trainer]") {
  nlohmann::json j = {{"lr", 1e-3}, {"schedul", "cosine"}};
  r1::ConfigReader r(j, "optim");
  OptimConfig::read(r, OptimConfig{});
  CHECK_THROWS_WITH(r.finish(), Catch::Contains("schedule"));
  nlohmann::json bad = {{"lr", -1.0}};
  r1::ConfigReader r2(bad, "optim");
  CHECK_THROWS_WITH(OptimConfig::read(r2, OptimConfig{}), Catch::Contains("optim.lr"));
}

TEST_CASE("prompt dataset: rows, reference fields, bad lines stop or skip with their line number", "[trainer]") {
  const fs::path dir = fresh_dir("dataset");
  write(dir / "ok.jsonl",
        "{\"prompt\": \"Compute 2 + 3\", \"answer\": \"5\"}\n\n"
        "{\"messages\": [{\"role\": \"user\", \"content\": \"hi\"}], \"tests\": {\"type\": \"stdio\"}}\n");
  PromptDataset d = PromptDataset::load((dir / "ok.jsonl").string(), false, 1);
  REQUIRE(d.size() == 2);
  CHECK(d.row(0).prompt == "Compute 2 + 3");
  CHECK(d.row(0).reference["answer"] == "5");
  CHECK(d.row(1).messages.size() == 1);
  CHECK(d.row(1).line == 3);
  CHECK(d.row(1).reference.contains("tests"));

  write(dir / "bad.jsonl", "{\"prompt\": \"a\"}\n{\"prompt\": \"b\"\n{\"answer\": \"1\"}\n{\"prompt\": \"c\"}\n");
  CHECK_THROWS_WITH(PromptDataset::load((dir / "bad.jsonl").string(), false, 1), Catch::Contains("bad.jsonl:2"));
  PromptDataset s = PromptDataset::load((dir / "bad.jsonl").string(), true, 1);
  CHECK(s.size() == 2);
  CHECK(s.skipped() == 2);
  write(dir / "third.jsonl", "{\"answer\": \"1\"}\n");
  CHECK_THROWS_WITH(PromptDataset::load((dir / "third.jsonl").string(), false, 1),
                    Catch::Contains("third.jsonl:1") && Catch::Contains("\"prompt\""));
  CHECK_THROWS_WITH(PromptDataset::load((dir / "none.jsonl").string(), false, 1), Catch::Contains("none.jsonl"));
  write(dir / "empty.jsonl", "\n");
  CHECK_THROWS_WITH(PromptDataset::load((dir / "empty.jsonl").string(), false, 1), Catch::Contains("no usable rows"));
  fs::remove_all(dir);
}

TEST_CASE("prompt dataset: a seeded order per epoch, and a position that resumes exactly", "[trainer]") {
  const fs::path dir = fresh_dir("order");
  std::string text;
  for (int i = 0; i < 10; ++i) text += "{\"prompt\": \"p" + std::to_string(i) + "\"}\n";
  write(dir / "d.jsonl", text);
  PromptDataset d = PromptDataset::load((dir / "d.jsonl").string(), false, 7);
  DatasetPosition p;
  std::vector<size_t> first = d.next(10, p);  // one epoch: a permutation
  std::vector<size_t> sorted = first;
  std::sort(sorted.begin(), sorted.end());
  for (size_t i = 0; i < 10; ++i) CHECK(sorted[i] == i);
  CHECK(p.epoch == 0);
  CHECK(p.index == 10);
  // Straight through vs. stopped, saved as JSON and resumed: the same rows.
  DatasetPosition a;
  std::vector<size_t> straight = d.next(23, a);
  DatasetPosition b;
  std::vector<size_t> part = d.next(7, b);
  DatasetPosition c = DatasetPosition::from_json(nlohmann::json::parse(b.to_json().dump()));
  std::vector<size_t> rest = d.next(16, c);
  part.insert(part.end(), rest.begin(), rest.end());
  CHECK(part == straight);
  CHECK(a.epoch == 2);
  std::vector<size_t> epoch1(straight.begin() + 10, straight.begin() + 20);
  CHECK(epoch1 != first);  // reshuffled
  fs::remove_all(dir);
}

TEST_CASE("checkpoints: atomic, keep the last K, a failed write leaves the previous intact", "[trainer]") {
  const fs::path dir = fresh_dir("ckpt");
  CheckpointStore store((dir / "checkpoints").string(), 2);
  CHECK_FALSE(store.latest());
  auto writer = [](const std::string& tag) {
    return [tag](const std::string& d) { write(fs::path(d) / "model.safetensors", tag); };
  };
  store.save(10, {{"step", 10}}, writer("ten"));
  store.save(20, {{"step", 20}}, writer("twenty"));
  store.save(30, {{"step", 30}}, writer("thirty"));
  auto all = store.list();
  REQUIRE(all.size() == 2);  // step 10 removed
  CHECK(all[0].first == 20);
  CHECK(CheckpointStore::read_state(*store.latest())["step"] == 30);

  // A write that dies halfway (the disk filled up): partial files are removed, nothing else changes.
  CHECK_THROWS_WITH(store.save(40, {{"step", 40}}, [](const std::string& d) {
    write(fs::path(d) / "model.safetensors", "half");
    throw r1::Error(d + "/optimizer.pt: No space left on device");
  }), Catch::Contains("No space left"));
  all = store.list();
  REQUIRE(all.size() == 2);
  CHECK(all.back().first == 30);
  CHECK_FALSE(fs::exists(dir / "checkpoints" / "step-000040.partial"));
  CHECK_FALSE(fs::exists(dir / "checkpoints" / "step-000040"));
  std::ifstream in(fs::path(all.back().second) / "model.safetensors");
  std::string content((std::istreambuf_iterator<char>(in)), {});
  CHECK(content == "thirty");

  // Leftovers of a crash mid-write are not checkpoints.
  fs::create_directories(dir / "checkpoints" / "step-000050.partial");
  fs::create_directories(dir / "checkpoints" / "step-000060");  // no trainer_state.json
  CHECK(store.list().back().first == 30);
  CHECK_THROWS_WITH(CheckpointStore::read_state((dir / "checkpoints" / "step-000060").string()),
                    Catch::Contains("not a checkpoint"));
  fs::remove_all(dir);
}

TEST_CASE("micro-batches stay under the token budget and keep order", "[trainer]") {
  std::vector<TokenSequence> s = {{{1, 2}, {3}}, {{1}, {2, 3, 4}}, {{1, 2, 3, 4, 5}, {6, 7, 8}}, {{1}, {2}}};
  auto mb = micro_batches(s, 8);  // sizes 3, 4, 8, 2
  REQUIRE(mb.size() == 3);
  CHECK(mb[0] == std::vector<size_t>{0, 1});  // 2 x 4 = 8
  CHECK(mb[1] == std::vector<size_t>{2});
  CHECK(mb[2] == std::vector<size_t>{3});
  CHECK(micro_batches(s, 1).size() == 4);  // longer than the budget: alone
}

TEST_CASE("scoring completions in a padded micro-batch equals scoring each alone", "[trainer]") {
  r1::model::Transformer m(r1::model::preset_config("qwen2", "tiny", 50), at::kFloat);
  m.init_random(3);
  std::vector<TokenSequence> s = {{{1, 2, 3}, {4, 5}}, {{7}, {8, 9, 10, 11}}, {{12, 13, 14, 15, 16}, {17}}};
  CompletionScores all = score_completions(m, s, {0, 1, 2});
  REQUIRE(all.logprobs.sizes() == std::vector<int64_t>{3, 4});
  for (size_t i = 0; i < s.size(); ++i) {
    // By hand: the full sequence's log-softmax at each completion token.
    std::vector<int64_t> ids = s[i].prompt;
    ids.insert(ids.end(), s[i].completion.begin(), s[i].completion.end());
    at::Tensor lsm = at::log_softmax(m.logits(m.forward(at::tensor(ids, at::kLong).view({1, -1}))), -1)[0];
    const int64_t P = static_cast<int64_t>(s[i].prompt.size());
    for (size_t t = 0; t < s[i].completion.size(); ++t) {
      const double want = lsm[P - 1 + static_cast<int64_t>(t)][s[i].completion[t]].item<double>();
      CHECK_THAT(all.logprobs[static_cast<int64_t>(i)][static_cast<int64_t>(t)].item<double>(), WithinAbs(want, 1e-5));
      CHECK(all.mask[static_cast<int64_t>(i)][static_cast<int64_t>(t)].item<double>() == 1.0);
    }
    for (size_t t = s[i].completion.size(); t < 4; ++t) CHECK(all.mask[static_cast<int64_t>(i)][static_cast<int64_t>(t)].item<double>() == 0.0);
  }
  // Gradients flow to the weights.
  for (auto& p : m.parameters()) p.requires_grad_(true);
  CompletionScores g = score_completions(m, s, {0, 2});
  (g.logprobs * g.mask).sum().backward();
  CHECK(m.weights().at("model.embed_tokens.weight").grad().abs().sum().item<double>() > 0);
}

TEST_CASE("run log: metrics and rollouts as JSON lines, a resume drops later steps", "[trainer]") {
  const fs::path dir = fresh_dir("runlog");
  {
    RunLog log(dir.string(), -1, /*tensorboard=*/true);
    for (int s = 1; s <= 4; ++s) log.metrics(s, {{"reward", {{"mean", s * 0.1}}}, {"loss", 1.0 / s}});
    log.rollout({{"step", 1}, {"completion", "x"}});
  }
  CHECK(fs::exists(dir / "tensorboard"));
  {
    RunLog log(dir.string(), 2);
    log.metrics(3, {{"loss", 9.0}});
    log.rollout({{"step", 3}});
  }
  std::ifstream in(dir / "metrics.jsonl");
  std::vector<nlohmann::json> rows;
  for (std::string line; std::getline(in, line);) rows.push_back(nlohmann::json::parse(line));
  REQUIRE(rows.size() == 3);
  CHECK(rows[0]["step"] == 1);
  CHECK(rows[1]["reward"]["mean"].get<double>() == Approx(0.2));
  CHECK(rows[2]["step"] == 3);
  CHECK(rows[2]["loss"] == 9.0);
  std::ifstream rin(dir / "rollouts.jsonl");
  int n = 0;
  for (std::string line; std::getline(rin, line);) ++n;
  CHECK(n == 2);  // rollouts are never dropped
  CHECK(StepProgress::render("grpo", 5, 10, "reward 0.50", 2.0) ==
        "grpo [##########----------] 5/10  reward 0.50  2.0 s/step  ETA 10s");
  CHECK(format_duration(272) == "4m32s");
  CHECK(format_duration(3720) == "1h02m");
  fs::remove_all(dir);
}

TEST_CASE("a non-finite loss skips the update and leaves every weight as it was", "[trainer]") {
  r1::model::Transformer m(r1::model::preset_config("qwen2", "tiny", 50), at::kFloat);
  m.init_random(5);
  for (auto& p : m.parameters()) p.requires_grad_(true);
  std::vector<std::pair<std::string, at::Tensor>> named(m.weights().begin(), m.weights().end());
  OptimConfig oc;
  oc.lr = 0.01;
  Optimizer opt(named, oc, 10);
  const std::vector<int64_t> prompt = {1, 2, 3};
  std::vector<ScoredSample> group(2);
  for (int i = 0; i < 2; ++i) {
    group[i].prompt_ids = &prompt;
    group[i].ids = {4, 5, static_cast<int64_t>(6 + i)};
    group[i].logprobs = {-1.f, -1.f, -1.f};
  }
  group[0].advantage = std::nan("");
  group[1].advantage = 1.0;
  GrpoConfig c;
  c.max_new_tokens = 4;
  std::map<std::string, at::Tensor> before;
  for (const auto& [n, t] : m.weights()) before[n] = t.detach().clone();
  TrainedPolicy policy{m, opt};
  StepUpdate u = grpo_update(policy, TrainBatch::from_groups({group}, false), UpdateOptions::of(c, 0));
  CHECK(u.skipped);
  CHECK(u.optimizer_steps == 0);
  for (const auto& [n, t] : m.weights()) CHECK(at::equal(before[n], t.detach()));
  // The same batch with finite advantages trains.
  group[0].advantage = -1.0;
  u = grpo_update(policy, TrainBatch::from_groups({group}, false), UpdateOptions::of(c, 0));
  CHECK_FALSE(u.skipped);
  CHECK(u.optimizer_steps == 1);
  CHECK_FALSE(at::equal(before["model.norm.weight"], m.weights().at("model.norm.weight").detach()));
}
