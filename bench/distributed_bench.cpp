// r1 bench distributed (in the LibTorch module): the plumbing of data-parallel training. A full weight
// push of a model to one `r1 rollout serve` worker on loopback, in MB/s of bf16 on the wire (the
// worker's own split of the time is in its log line); the trainer-side conversion of the same
// weights to bf16 chunks alone, as its ceiling; pushes after each of N AdamW steps with and without
// deltas (bytes on the wire, seconds); Gloo's all-reduce between two ranks on loopback (two threads
// of this process, a TCPStore rendezvous) against memcpy of the same bytes; and a data-parallel SFT
// step (`r1 run`) on one process and on two ranks, overlapped or not, ZeRO-2, from metrics.jsonl.
#include <ATen/ATen.h>
#include <unistd.h>

#include <chrono>
#include <cstdio>
#include <cstring>
#include <filesystem>
#include <fstream>
#include <thread>

#include <nlohmann/json.hpp>

#include "bench/scratch_dir.h"
#include "bench/torch_bench.h"
#include "core/clock.h"
#include "core/error.h"
#include "checkpoint/config.h"
#include "core/process.h"
#include "model/runtime.h"
#include "model/transformer.h"
#include "rollout/client.h"
#include "rollout/weight_chunks.h"
#include "run/launch.h"
#include "run/local_ranks.h"
#include "tokenizer/byte_tokenizer.h"
#include "trainer/distributed.h"
#include "trainer/grpo_trainer.h"
#include "trainer/optim.h"

namespace r1::bench {
namespace {

namespace fs = std::filesystem;

// An `r1 rollout serve` worker of the model in `dir`; its "in service" log lines collected.
struct BenchWorker {
  std::mutex log_mutex;
  std::vector<std::string> log;
  std::unique_ptr<Process> process;
  std::string address;

  BenchWorker(const fs::path& dir, int threads, const std::string& precision) {
    ProcessSpec spec;
    spec.exe = fs::read_symlink("/proc/self/exe").string();
    spec.args = {"--threads", std::to_string(threads), "rollout", "serve", "--model", dir.string(), "--precision", precision,
                 "--port", "0", "--kv-cache-mb", "16"};
    spec.err = ProcessSpec::Stream::pipe;
    spec.on_stderr_line = [this](const std::string& line) {
      std::lock_guard<std::mutex> lock(log_mutex);
      if (line.find("in service") != std::string::npos) log.push_back(line);
    };
    process = std::make_unique<Process>(spec);
    std::string line;
    if (process->read_line(line) != Process::Io::ok || line.rfind("listening on ", 0) != 0)
      throw Error("bench distributed: the worker did not start");
    address = line.substr(13);
  }
  ~BenchWorker() { process->stop(60); }
  // The worker's split of its last update's time.
  std::string last_split() {
    std::this_thread::sleep_for(std::chrono::milliseconds(100));  // the log line
    std::lock_guard<std::mutex> lock(log_mutex);
    return log.empty() ? "" : log.back().substr(log.back().find("received"));
  }
};

// A model folder a worker can serve: a `preset`-shaped Qwen2 of random weights (r1's byte tokenizer).
void save_random_model(const fs::path& dir, const std::string& preset, at::ScalarType dtype, uint64_t seed) {
  write_byte_tokenizer(dir.string());
  model::Transformer base(checkpoint::preset_config("qwen2", preset, 259), dtype);
  base.init_random(seed);
  base.save(dir.string());
}

void bench_push(int threads, const DistributedBenchOptions& o) {
  const ScratchDir scratch("push");
  const fs::path& dir = scratch.path;
  save_random_model(dir, o.preset, at::kBFloat16, 3);
  const model::Transformer trainer = model::Transformer::load(dir.string(), at::kFloat);  // the trainer's fp32 weights
  const trainer::HostWeights pushed = trainer::weight_tensors(trainer);
  const std::vector<rollout::WeightTensor>& tensors = pushed.tensors;
  double wire_mb = 0;
  for (const auto& t : tensors) wire_mb += static_cast<double>(t.bytes) / 2 / 1e6;
  std::printf("  weight push: %s preset, %.1f MB of bf16 on the wire in chunks of %.2f MiB, worker in %s\n", o.preset.c_str(),
              wire_mb, o.chunk_mb, o.precision.c_str());

  // The conversion alone: every chunk built, none sent.
  {
    v1::TensorChunk chunk;
    size_t bytes = 0;
    const auto t = Clock::now();
    for (const auto& w : tensors)
      rollout::for_each_chunk(w, 1 << 20, false, chunk, [&](const v1::TensorChunk& c) { bytes += c.data().size(); });
    const double s = seconds_since(t);
    std::printf("    chunks built, none sent        %8.1f MB/s  (%.2f s)\n", static_cast<double>(bytes) / 1e6 / s, s);
  }

  BenchWorker worker(dir, threads, o.precision);
  rollout::ClientOptions co;
  co.addresses = {worker.address};
  co.weight_chunk_bytes = static_cast<size_t>(o.chunk_mb * (1 << 20));
  co.weight_deltas = false;  // every push whole
  rollout::RolloutClient client(co);
  for (int64_t i = 1; i <= o.pushes; ++i) {
    const auto t = Clock::now();
    client.update_weights(static_cast<uint64_t>(i), tensors);
    const double s = seconds_since(t);
    std::printf("    full push %lld%s               %8.1f MB/s  (%.2f s; worker: %s)\n", static_cast<long long>(i),
                i == 1 ? " (cold)" : "       ", wire_mb / s, s, worker.last_split().c_str());
  }
}

// `steps` AdamW steps of a language-model loss on random tokens at learning rate `lr`, each followed by
// a push to one worker, with deltas or whole: bytes on the wire and seconds per push.
struct DeltaRun {
  uint64_t bytes = 0, full_bytes = 0;
  double seconds = 0;
};

DeltaRun run_pushes(const fs::path& dir, int threads, const DistributedBenchOptions& o, bool deltas) {
  at::AutoGradMode grad(true);
  model::Transformer policy = model::Transformer::load(dir.string(), at::kFloat);
  for (auto& t : policy.parameters()) t.requires_grad_(true);
  run::OptimConfig oc;
  oc.lr = o.delta_lr;
  std::vector<std::pair<std::string, at::Tensor>> named(policy.weights().begin(), policy.weights().end());
  trainer::Optimizer optim(named, oc, o.delta_steps);
  BenchWorker worker(dir, threads, o.precision);
  rollout::ClientOptions co;
  co.addresses = {worker.address};
  co.weight_deltas = deltas;
  rollout::RolloutClient client(co);
  at::Generator gen = at::detail::createCPUGenerator(11);
  const int64_t vocab = policy.config().vocab_size;
  DeltaRun out;
  for (int64_t step = 0; step < o.delta_steps; ++step) {
    const at::Tensor ids = at::randint(vocab, {4, 65}, gen, at::kLong);
    at::Tensor logp = policy.token_logprobs(policy.forward(ids.narrow(1, 0, 64)), ids.narrow(1, 1, 64)).first;
    (-logp.mean()).backward();
    optim.step(step);
    const trainer::HostWeights pushed = trainer::weight_tensors(policy);
    const auto t = Clock::now();
    const auto stats = client.update_weights(static_cast<uint64_t>(step + 1), pushed.tensors);
    out.seconds += seconds_since(t);
    out.bytes += stats.bytes_sent;
    out.full_bytes += stats.full_bytes;
  }
  return out;
}

void bench_deltas(int threads, const DistributedBenchOptions& o) {
  const ScratchDir scratch("delta");
  const fs::path& dir = scratch.path;
  save_random_model(dir, o.delta_preset, at::kFloat, 5);
  std::printf("  weight pushes after each of %lld AdamW steps (lr %g, %s preset, worker in %s):\n",
              static_cast<long long>(o.delta_steps), o.delta_lr, o.delta_preset.c_str(), o.precision.c_str());
  const DeltaRun whole = run_pushes(dir, threads, o, false);
  const DeltaRun delta = run_pushes(dir, threads, o, true);
  auto line = [&](const char* what, const DeltaRun& r) {
    std::printf("    %-30s %8.1f MB sent  %6.3f s a push\n", what, static_cast<double>(r.bytes) / 1e6,
                r.seconds / static_cast<double>(o.delta_steps));
  };
  line("whole", whole);
  line("deltas (first push whole)", delta);
  std::printf("    %-30s %8.1fx fewer bytes, %.2fx the time\n", "deltas vs whole",
              static_cast<double>(whole.bytes) / static_cast<double>(std::max<uint64_t>(delta.bytes, 1)),
              delta.seconds / whole.seconds);
}

void bench_allreduce(const DistributedBenchOptions& o) {
  const int64_t n = o.allreduce_mb * (1 << 20) / 4;
  at::Tensor src = at::randn({n}), dst = at::empty({n});
  double memcpy_s = 1e30;
  for (int i = 0; i < 3; ++i) {
    const auto t = Clock::now();
    std::memcpy(dst.data_ptr(), src.data_ptr(), static_cast<size_t>(n) * 4);
    memcpy_s = std::min(memcpy_s, seconds_since(t));
  }
  const double bytes = static_cast<double>(n) * 4;
  std::printf("  all-reduce of %lld MB (fp32), 2 ranks on loopback (threads of this process):\n",
              static_cast<long long>(o.allreduce_mb));
  std::printf("    memcpy                         %8.1f MB/s\n", bytes / 1e6 / memcpy_s);
  run::Launch base;
  base.world_size = 2;
  base.local_world_size = 2;
  base.launcher = "bench";
  base.master_port = run::free_local_port();
  double best = 1e30;
  std::vector<std::thread> ranks;
  for (int r = 0; r < 2; ++r)
    ranks.emplace_back([&, r] {
      run::Launch l = base;
      l.rank = l.local_rank = r;
      auto group = trainer::join_process_group(l, std::chrono::seconds(60));
      at::Tensor buf = at::randn({n});
      for (int i = 0; i < 4; ++i) {
        group->barrier("bench");
        const auto t = Clock::now();
        group->all_reduce_sum(buf.data_ptr<float>(), n);
        const double s = seconds_since(t);
        if (r == 0 && i > 0) best = std::min(best, s);
      }
    });
  for (auto& t : ranks) t.join();
  // Bus bandwidth (NCCL's convention): 2 (W - 1) / W of the buffer crosses each link; W = 2.
  std::printf("    Gloo all-reduce                %8.1f MB/s of buffer, bus bandwidth %.1f MB/s (%.2fx memcpy)\n",
              bytes / 1e6 / best, bytes / 1e6 / best, memcpy_s / best);
}

// `r1 args...` to the end; its stderr's last lines in the error if it fails.
void run_r1(const std::vector<std::string>& args) {
  ProcessSpec spec;
  spec.exe = fs::read_symlink("/proc/self/exe").string();
  spec.args = {"-q"};
  spec.args.insert(spec.args.end(), args.begin(), args.end());
  spec.out = ProcessSpec::Stream::null;
  spec.err = ProcessSpec::Stream::pipe;
  Process p(spec);
  p.wait_exit();
  const auto st = p.exit_status();
  if (!st || st->code != 0) {
    std::string tail;
    for (const std::string& l : p.stderr_tail()) tail += "\n    " + l;
    std::string command;
    for (const std::string& a : args) command += " " + a;
    throw Error("bench distributed: `r1" + command + "` " + p.describe_exit() + tail);
  }
}

double median(std::vector<double> v) {
  std::sort(v.begin(), v.end());
  return v.empty() ? 0 : v[v.size() / 2];
}

// One SFT run's step figures: medians over the steps after the first, from rank 0's metrics.jsonl.
struct DpRun {
  double step_s = 0, allreduce_s = 0, last_loss = 0, gradient_mb = 0;
};

DpRun sft_run(const fs::path& dir, const std::string& runs, int threads, std::vector<std::string> extra) {
  std::vector<std::string> args;
  if (threads > 0) args = {"--threads", std::to_string(threads)};
  for (const std::string& a : {std::string("run"), (dir / "recipe.json").string(), std::string("--runs-dir"), (dir / runs).string()})
    args.push_back(a);
  args.insert(args.end(), extra.begin(), extra.end());
  run_r1(args);
  std::ifstream in(dir / runs / "dp/s/metrics.jsonl");
  std::vector<double> step, reduce;
  DpRun r;
  for (std::string line; std::getline(in, line);) {
    const auto j = nlohmann::json::parse(line);
    if (j.at("step").get<int64_t>() > 1) {
      step.push_back(j.at("time").at("step_s").get<double>());
      reduce.push_back(j.at("time").at("allreduce_s").get<double>());
    }
    r.last_loss = j.at("loss").get<double>();
    if (j.contains("gradient_mb")) r.gradient_mb = j.at("gradient_mb").at(0).get<double>();
  }
  r.step_s = median(step);
  r.allreduce_s = median(reduce);
  return r;
}

// SFT of a `preset` model (fp32) on 64 chat rows, seq_len 256, 8 rows a step in micro-batches of 512
// tokens: one process with every thread, then two ranks sharing them, with and without overlap, and
// with ZeRO-2.
void bench_data_parallel(int threads, const DistributedBenchOptions& o) {
  ScratchDir scratch("dp");
  const fs::path dir = scratch.path;
  run_r1({"model", "init", "--preset", o.dp_preset, "--dtype", "fp32", "--seed", "3", "--out", (dir / "model").string()});
  {
    std::ofstream rows(dir / "train.jsonl");
    for (int i = 0; i < 64; ++i) {
      std::string count;
      for (int k = 0; k < 40; ++k) count += std::to_string(i + k) + " ";
      rows << nlohmann::json{{"prompt", "Count up from " + std::to_string(i) + "."}, {"completion", count}}.dump() << "\n";
    }
  }
  const nlohmann::json stage = {{"name", "s"}, {"kind", "sft"}, {"model", (dir / "model").string()},
                                {"train", (dir / "train.jsonl").string()}, {"seq_len", 256}, {"batch_tokens", 2048},
                                {"micro_batch_tokens", 512}, {"steps", o.dp_steps}, {"compute_dtype", "fp32"},
                                {"optim", {{"lr", 1e-4}, {"schedule", "constant"}}}, {"checkpoint", {{"every", 0}}}};
  std::ofstream(dir / "recipe.json") << nlohmann::json{{"name", "dp"}, {"stages", {stage}}}.dump(2);
  std::printf("  data-parallel SFT, %s (fp32), 8 rows of 256 tokens a step in micro-batches of 512, %lld steps; medians of steps 2-%lld:\n",
              o.dp_preset.c_str(), static_cast<long long>(o.dp_steps), static_cast<long long>(o.dp_steps));
  std::printf("    %-34s %8s %12s %8s %12s %10s\n", "run", "step s", "waiting s", "share", "grads MB/rank", "last loss");
  auto row = [](const char* name, const DpRun& r) {
    std::printf("    %-34s %8.2f %12.3f %7.0f%% %12.1f %10.5f\n", name, r.step_s, r.allreduce_s,
                100 * r.allreduce_s / std::max(r.step_s, 1e-9), r.gradient_mb, r.last_loss);
    std::fflush(stdout);
  };
  // Two ranks share the threads out between them (no --threads).
  row(("1 process, " + std::to_string(threads) + " threads").c_str(), sft_run(dir, "one", threads, {}));
  row("2 ranks, overlapped", sft_run(dir, "two", 0, {"--nproc-per-node", "2"}));
  row("2 ranks, after the backward", sft_run(dir, "two-after", 0, {"--nproc-per-node", "2", "--set", "s.optim.overlap_comm=false"}));
  row("2 ranks, ZeRO-2, overlapped", sft_run(dir, "two-zero2", 0, {"--nproc-per-node", "2", "--set", "s.optim.zero_stage=2"}));
}

}  // namespace

void bench_distributed(int threads_asked, const DistributedBenchOptions& o) {
  const int threads = model::configure_threads(threads_asked);
  model::configure_allocator(model::kFastMmapThreshold);  // the trainer's setting: the bench is the pushing side
  at::NoGradGuard no_grad;
  std::printf("r1 bench distributed (%d threads)\n", threads);
  if (o.push) bench_push(threads, o);
  if (o.deltas) bench_deltas(threads, o);
  if (o.allreduce) bench_allreduce(o);
  if (o.data_parallel) bench_data_parallel(threads, o);
}

}  // namespace r1::bench
