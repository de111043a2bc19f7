// r1 bench distributed (in the LibTorch module): the plumbing of data-parallel training. A full weight
// push of a model to one `r1 rollout serve` worker on loopback, in MB/s of bf16 on the wire (the
// worker's own split of the time is in its log line); the trainer-side conversion of the same
// weights to bf16 chunks alone, as its ceiling; and Gloo's all-reduce between two ranks on loopback
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

namespace r1::bench {
namespace {

namespace fs = std::filesystem;

void bench_push(int threads, const DistributedBenchOptions& o) {
  const ScratchDir scratch("push");
  const fs::path& dir = scratch.path;
  write_byte_tokenizer(dir.string());
  {
    model::Transformer base(checkpoint::preset_config("qwen2", o.preset, 259), at::kBFloat16);
    base.init_random(3);
    base.save(dir.string());
  }
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

  ProcessSpec spec;
  spec.exe = fs::read_symlink("/proc/self/exe").string();
  spec.args = {"--threads", std::to_string(threads), "rollout", "serve", "--model", dir.string(), "--precision", o.precision,
               "--port", "0", "--kv-cache-mb", "16"};
  spec.err = ProcessSpec::Stream::pipe;
  std::mutex log_mutex;
  std::vector<std::string> worker_log;
  spec.on_stderr_line = [&](const std::string& line) {
    std::lock_guard<std::mutex> lock(log_mutex);
    if (line.find("in service") != std::string::npos) worker_log.push_back(line);
  };
  Process worker(spec);
  std::string line;
  if (worker.read_line(line) != Process::Io::ok || line.rfind("listening on ", 0) != 0)
    throw Error("bench distributed: the worker did not start");
  struct Stop {
    Process& p;
    ~Stop() { p.stop(60); }
  } stop{worker};
  rollout::ClientOptions co;
  co.addresses = {line.substr(13)};
  co.weight_chunk_bytes = static_cast<size_t>(o.chunk_mb * (1 << 20));
  rollout::RolloutClient client(co);
  for (int64_t i = 1; i <= o.pushes; ++i) {
    const auto t = Clock::now();
    client.update_weights(static_cast<uint64_t>(i), tensors);
    const double s = seconds_since(t);
    std::this_thread::sleep_for(std::chrono::milliseconds(100));  // the worker's log line
    std::lock_guard<std::mutex> lock(log_mutex);
    const std::string detail = worker_log.empty() ? "" : worker_log.back().substr(worker_log.back().find("received"));
    std::printf("    full push %lld                   %8.1f MB/s  (%.2f s; worker: %s)\n", static_cast<long long>(i),
                wire_mb / s, s, detail.c_str());
  }
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
  if (o.allreduce) bench_allreduce(o);
}

}  // namespace r1::bench
