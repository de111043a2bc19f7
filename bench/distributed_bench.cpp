// r1 bench distributed (in the LibTorch module): the plumbing of data-parallel training. A full weight
// push of a model to one `r1 rollout serve` worker on loopback, in MB/s of bf16 on the wire (the
// worker's own split of the time is in its log line); the trainer-side conversion of the same
// weights to bf16 chunks alone, as its ceiling; pushes after each of N AdamW steps with and without
// deltas (bytes on the wire, seconds); and Gloo's all-reduce between two ranks on loopback
// (two threads of this process, a TCPStore rendezvous) against memcpy of the same bytes.
#include <ATen/ATen.h>
#include <unistd.h>

#include <chrono>
#include <cstdio>
#include <cstring>
#include <filesystem>
#include <thread>

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

}  // namespace

void bench_distributed(int threads_asked, const DistributedBenchOptions& o) {
  const int threads = model::configure_threads(threads_asked);
  model::configure_allocator(model::kFastMmapThreshold);  // the trainer's setting: the bench is the pushing side
  at::NoGradGuard no_grad;
  std::printf("r1 bench distributed (%d threads)\n", threads);
  if (o.push) bench_push(threads, o);
  if (o.deltas) bench_deltas(threads, o);
  if (o.allreduce) bench_allreduce(o);
}

}  // namespace r1::bench
