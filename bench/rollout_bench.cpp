// r1 bench rollout (in the LibTorch module): a GRPO-shaped workload (prompts x samples x new tokens)
// through one gRPC worker, through the engine in-process (bf16 and fp8), and through a naive loop (no
// KV cache, no batching) as the floor; the fraction of this run's bf16 matrix-product peak; FP8's
// weight memory and its log-probability mismatch against bf16 on the same model and tokens.
#include <ATen/ATen.h>
#include <unistd.h>

#include <grpcpp/grpcpp.h>

#include <atomic>
#include <chrono>
#include <cmath>
#include <cstdio>
#include <filesystem>
#include <random>
#include <thread>

#include "bench/scratch_dir.h"
#include "bench/workload.h"
#include "bench/matmul_peak.h"
#include "bench/torch_bench.h"
#include "core/clock.h"
#include "core/error.h"
#include "core/log.h"
#include "core/process.h"
#include "tokenizer/byte_tokenizer.h"
#include "inference/engine.h"
#include "model/device.h"
#include "model/runtime.h"
#include "model/transformer.h"
#include "proto/rollout.grpc.pb.h"
#include "rollout/wire.h"

namespace r1::bench {
namespace {


}  // namespace

// Tool-calling trajectories: the tool loop in the engine against the same turns re-prefilled
// (multiturn_bench.cpp).
void bench_multiturn(std::shared_ptr<const model::Transformer> m, const std::vector<rollout::GroupRequest>& base, int64_t turns,
                     double kv_mb);

namespace {

std::vector<rollout::GroupRequest> workload(const RolloutBenchOptions& o, int64_t vocab) {
  return random_workload(o.prompts, o.prompt_tokens, o.samples, o.new_tokens, vocab);
}

// Sampled tokens per second of the engine in this thread.
double engine_tokens_per_second(std::shared_ptr<const model::Transformer> m, const std::vector<rollout::GroupRequest>& qs,
                                double kv_mb, std::vector<std::vector<rollout::Completion>>* out = nullptr) {
  inference::EngineOptions eo;
  eo.kv_cache_tokens = inference::kv_tokens_for_megabytes(*m, kv_mb);
  inference::Engine engine(m, eo);
  if (out) out->assign(qs.size(), {});
  int64_t tokens = 0;
  const auto t = Clock::now();
  for (size_t r = 0; r < qs.size(); ++r) {
    if (out) (*out)[r].resize(static_cast<size_t>(qs[r].params.n));
    engine.submit(qs[r], [&, r](rollout::Completion&& c) {
      tokens += static_cast<int64_t>(c.ids.size());
      if (out) (*out)[r][static_cast<size_t>(c.index)] = std::move(c);
    });
  }
  while (engine.step()) {
  }
  return static_cast<double>(tokens) / seconds_since(t);
}

// The bench model saved to `dir`: random weights, scaled up so next-token distributions are peaked as a
// trained model's are (init-scale weights give near-uniform ones, on which FP8 could not disagree).
void save_bench_model(const std::string& dir, const std::string& preset) {
  r1::write_byte_tokenizer(dir);
  model::Transformer base(checkpoint::preset_config("qwen2", preset, 259), at::kBFloat16);
  base.init_random(7);
  for (auto& [name, t] : base.weights())
    if (t.dim() == 2 && name != "model.embed_tokens.weight") base.weight(name) = t * 4;
  base.save(dir);
}

// Sampled tokens per second of one gRPC worker (fp8): a separate `r1 rollout serve` process as users
// run it, called by one client thread per prompt over loopback with the very groups the engine ran.
double grpc_tokens_per_second(const std::string& model_dir, const std::vector<rollout::GroupRequest>& qs, int threads,
                              const RolloutBenchOptions& o) {
  namespace fs = std::filesystem;
  const std::string self = fs::read_symlink("/proc/self/exe").string();
  ProcessSpec spec;
  spec.exe = self;
  spec.args = {"--threads", std::to_string(threads), "rollout", "serve", "--model", model_dir,
               "--precision", "fp8", "--port", "0", "--kv-cache-mb", std::to_string(o.kv_cache_mb),
               "--max-n", std::to_string(std::max<int64_t>(o.samples, 64)), "--device", name(o.device)};
  Process worker(spec);
  std::string line;
  if (worker.read_line(line) != Process::Io::ok || line.rfind("listening on ", 0) != 0)
    throw Error("bench rollout: the worker (" + self + " rollout serve) did not start");
  struct Stop {
    Process& p;
    ~Stop() { p.stop(600); }  // SIGTERM, and the worker's own time to finish
  } stop{worker};
  auto stub = v1::Rollout::NewStub(grpc::CreateChannel(line.substr(13), grpc::InsecureChannelCredentials()));
  std::atomic<int64_t> tokens{0};
  std::atomic<int> failures{0};
  const auto t = Clock::now();
  std::vector<std::thread> callers;
  for (size_t r = 0; r < qs.size(); ++r)
    callers.emplace_back([&, r] {
      rollout::GroupRequest q = qs[r];
      q.id = "bench-" + std::to_string(r);
      const v1::GenerateRequest req = rollout::to_proto(q);  // on the wire as the trainer's client sends it
      grpc::ClientContext ctx;
      auto reader = stub->Generate(&ctx, req);
      v1::Completion comp;
      while (reader->Read(&comp)) tokens += comp.ids_size();
      if (!reader->Finish().ok()) ++failures;
    });
  for (auto& th : callers) th.join();
  const double tps = static_cast<double>(tokens.load()) / seconds_since(t);
  const int64_t total = o.prompts * o.samples * o.new_tokens;
  if (failures) throw Error("bench rollout: " + std::to_string(failures.load()) + " gRPC calls failed");
  if (tokens.load() != total)
    throw Error("bench rollout: the worker returned " + std::to_string(tokens.load()) + " tokens, not " + std::to_string(total));
  return tps;
}

// The floor: one sequence at a time, the whole sequence recomputed for every token. Timed on one sample
// of at most 32 tokens (it is ~100x slower); tokens/s does not depend on how many are run.
double naive_tokens_per_second(const model::Transformer& m, std::vector<int64_t> seq, int64_t new_tokens) {
  const int64_t steps = std::min<int64_t>(32, new_tokens);
  const auto t = Clock::now();
  for (int64_t s = 0; s < steps; ++s) {
    at::Tensor ids = at::tensor(seq, at::kLong).view({1, -1});
    at::Tensor logits = m.logits(m.forward(ids).select(1, -1));
    seq.push_back(at::softmax(logits[0], -1).multinomial(1).item<int64_t>());
  }
  return static_cast<double>(steps) / seconds_since(t);
}

// FP8 against bf16 on the same tokens: the bf16 engine's samples (first 8 groups) scored by both models.
void report_fp8_mismatch(const model::Transformer& bf16, const model::Transformer& fp8,
                         const std::vector<rollout::GroupRequest>& qs,
                         const std::vector<std::vector<rollout::Completion>>& bf16_out) {
  double abs_delta = 0, kl = 0, entropy = 0;
  int64_t scored = 0;
  for (size_t r = 0; r < std::min<size_t>(qs.size(), 8); ++r) {
    const auto& comp = bf16_out[r][0];
    std::vector<int64_t> seq = qs[r].prompt;
    seq.insert(seq.end(), comp.ids.begin(), comp.ids.end());
    at::Tensor ids = at::tensor(seq, at::kLong).view({1, -1});
    const int64_t P = static_cast<int64_t>(qs[r].prompt.size()), T = static_cast<int64_t>(comp.ids.size());
    at::Tensor lb = at::log_softmax(bf16.logits(bf16.forward(ids)).narrow(1, P - 1, T)[0], -1);
    at::Tensor lf = at::log_softmax(fp8.logits(fp8.forward(ids)).narrow(1, P - 1, T)[0], -1);
    at::Tensor tok = at::tensor(comp.ids, at::kLong).view({-1, 1});
    abs_delta += (lb.gather(1, tok) - lf.gather(1, tok)).abs().sum().item<double>();
    kl += (lb.exp() * (lb - lf)).sum().item<double>();
    entropy += -(lb.exp() * lb).sum().item<double>();
    scored += T;
  }
  std::printf("  fp8 weights: %.1f MiB vs bf16 %.1f MiB (%.1f%%, goal <= 55%%)\n", fp8.weight_bytes() / 1048576.0,
              bf16.weight_bytes() / 1048576.0, 100.0 * fp8.weight_bytes() / bf16.weight_bytes());
  std::printf("  fp8 vs bf16 on %lld sampled tokens: mean |delta log-prob| %.4f, KL(bf16 || fp8) %.5f nats/token "
              "(bf16 entropy %.2f nats/token)\n",
              static_cast<long long>(scored), abs_delta / scored, kl / scored, entropy / scored);
}

}  // namespace

void bench_rollout(int threads_asked, const RolloutBenchOptions& o) {
  const int threads = r1::model::configure_threads(threads_asked);
  r1::model::configure_allocator(r1::model::kLeanMmapThreshold);
  at::NoGradGuard no_grad;
  const at::Device device = model::resolve_device(o.device, "--device");
  std::printf("r1 bench rollout (%s, %d threads): %lld prompts x %lld samples x %lld new tokens (prompts of %lld), %s preset\n",
              model::describe_device(device).c_str(), threads, static_cast<long long>(o.prompts), static_cast<long long>(o.samples),
              static_cast<long long>(o.new_tokens), static_cast<long long>(o.prompt_tokens), o.preset.c_str());
  const int64_t n = peak_size(device);
  const double peak = matmul_peak_flops(at::kBFloat16, device) / 1e9;
  std::printf("  peak     bf16 %lldx%lldx%lld matrix product: %.0f GFLOP/s\n", static_cast<long long>(n),
              static_cast<long long>(n), static_cast<long long>(n), peak);

  const ScratchDir scratch("rollout");
  const std::filesystem::path& dir = scratch.path;
  save_bench_model(dir.string(), o.preset);
  auto bf16 = std::make_shared<model::Transformer>(model::Transformer::load(dir.string(), at::kBFloat16, device));
  auto fp8 = std::make_shared<model::Transformer>(model::Transformer::load(dir.string(), at::kBFloat16, device));
  fp8->quantize_fp8();
  const auto qs = workload(o, bf16->config().vocab_size);
  // Matrix-product work per sampled token: 2 FLOP per weight of every layer matrix and the output
  // head (an untied input embedding is a lookup, no arithmetic); attention's own products left out.
  const checkpoint::ModelConfig& c = bf16->config();
  const double flop_per_token = 2.0 * static_cast<double>(c.parameter_count() -
                                                          (c.tie_word_embeddings ? 0 : c.vocab_size * c.hidden_size));
  auto report = [&](const char* what, double tps, double baseline) {
    std::printf("  %-34s %9.0f tokens/s  %5.1f%% of peak", what, tps, 100.0 * tps * flop_per_token / 1e9 / peak);
    if (baseline > 0) std::printf("  (%.2fx)", tps / baseline);
    std::printf("\n");
  };

  std::vector<std::vector<rollout::Completion>> bf16_out;
  const double inproc_bf16 = engine_tokens_per_second(bf16, qs, o.kv_cache_mb, &bf16_out);
  report("engine in-process, bf16", inproc_bf16, 0);
  const double inproc_fp8 = engine_tokens_per_second(fp8, qs, o.kv_cache_mb);
  report("engine in-process, fp8", inproc_fp8, inproc_bf16);
  if (o.grpc) {
    const double grpc_fp8 = grpc_tokens_per_second(dir.string(), qs, threads, o);
    report("one gRPC worker, fp8", grpc_fp8, inproc_fp8);
    std::printf("  gRPC overhead: %.1f%% (goal <= 5%%)\n", 100.0 * (1.0 - grpc_fp8 / inproc_fp8));
  }
  if (o.naive) report("naive loop (no cache, no batching)", naive_tokens_per_second(*bf16, qs[0].prompt, o.new_tokens), 0);
  report_fp8_mismatch(*bf16, *fp8, qs, bf16_out);
  if (o.turns > 0) bench_multiturn(bf16, qs, o.turns, o.kv_cache_mb);
}

}  // namespace r1::bench
