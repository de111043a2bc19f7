// r1 bench model (in the LibTorch module): the machine's bf16 matrix-product peak, then prefill,
// training forward+backward and batched decode on random-weight models, each as tokens/s and as a
// fraction of that peak; resident memory against the arithmetic of weights + KV cache.
#include <ATen/ATen.h>
#include <malloc.h>

#include <chrono>
#include <cstdlib>
#include <cstdio>
#include <fstream>
#include <string>

#include "bench/matmul_peak.h"
#include "bench/torch_bench.h"
#include "core/clock.h"
#include "core/error.h"
#include "core/log.h"
#include "model/device.h"
#include "model/runtime.h"
#include "model/transformer.h"

namespace r1::bench {
namespace {


int64_t rss_kb() {
  std::ifstream in("/proc/self/status");
  std::string line;
  while (std::getline(in, line))
    if (line.rfind("VmRSS:", 0) == 0) return std::stoll(line.substr(6));
  return 0;
}

// The best of a few timed calls of f (after one warm-up), in seconds; a GPU's queued work is waited
// for before the clock stops.
template <typename F>
double best_of(int repeats, const at::Device& device, F&& f) {
  f();
  r1::model::synchronize(device);
  double best = 1e30;
  for (int i = 0; i < repeats; ++i) {
    auto t = Clock::now();
    f();
    r1::model::synchronize(device);
    best = std::min(best, seconds_since(t));
  }
  return best;
}

}  // namespace

void bench_model(int threads_asked, const ModelBenchOptions& o) {
  const int threads = r1::model::configure_threads(threads_asked);

  const at::ScalarType dtype = o.dtype == "fp32" ? at::kFloat : at::kBFloat16;
  const char* dname = dtype == at::kFloat ? "fp32" : "bf16";
  const at::Device device = r1::model::resolve_device(o.device, "--device");
  at::NoGradGuard outer;
  // Peak: in the same dtype and thread count as the work (bench/matmul_peak.h).
  const int64_t n = peak_size(device);
  const double peak = matmul_peak_flops(dtype, device);
  std::printf("r1 bench model (%s, %d threads, %s)\n  peak   %lldx%lldx%lld matrix product: %.0f GFLOP/s\n",
              r1::model::describe_device(device).c_str(), threads, dname, static_cast<long long>(n),
              static_cast<long long>(n), static_cast<long long>(n), peak / 1e9);

  for (const std::string& preset : o.presets) {
    r1::model::configure_allocator(r1::model::kLeanMmapThreshold);  // inference first
    ::malloc_trim(0);
    const int64_t base_rss = rss_kb();
    r1::checkpoint::ModelConfig c = r1::checkpoint::preset_config("qwen2", preset, 151936);
    r1::model::Transformer m(c, dtype, device);
    m.init_random(1);
    ::malloc_trim(0);  // the fp32 draws the weights were converted from
    // FLOPs per token: 2 per multiply-accumulate of every matrix the token passes through. The layers'
    // matrices always; the output head (vocab x hidden) only where logits are computed.
    const double emb = static_cast<double>(c.vocab_size * c.hidden_size);
    const double layer_params = static_cast<double>(c.parameter_count()) - emb * (c.tie_word_embeddings ? 1 : 2);
    const double with_head = layer_params + emb;
    const double bytes_per = dtype == at::kFloat ? 4 : 2;
    const double weight_bytes = static_cast<double>(c.parameter_count()) * bytes_per;
    std::printf("  %s: Qwen2 shapes, %.1fM parameters (%.1fM in the layers), weights %.0f MiB, resident %.0f MiB\n",
                preset.c_str(), c.parameter_count() / 1e6, layer_params / 1e6, weight_bytes / (1 << 20),
                (rss_kb() - base_rss) / 1024.0);
    auto report = [&](const std::string& what, double tokens, double seconds, double flops_per_token) {
      const double rate = tokens / seconds, frac = rate * flops_per_token / peak;
      std::printf("    %-28s %9.1f tokens/s   %5.1f%% of peak\n", what.c_str(), rate, 100 * frac);
    };
    // Decode first, while the heap holds nothing but the weights: resident memory is then weights +
    // cache + the step's activations, compared with the arithmetic.
    for (int64_t batch : o.decode_batches) {
      const int64_t cap = o.prompt_tokens + o.decode_steps + 1;
      at::Tensor prompt = at::randint(c.vocab_size, {batch, o.prompt_tokens}, at::kLong).to(device);
      r1::model::KVCache cache = m.new_cache(batch, cap);
      m.forward_cached(prompt, cache);
      at::Tensor step = at::randint(c.vocab_size, {batch, 1}, at::kLong).to(device);
      r1::model::synchronize(device);
      auto t = Clock::now();
      for (int64_t s = 0; s < o.decode_steps; ++s) m.logits(m.forward_cached(step, cache));
      r1::model::synchronize(device);
      const double secs = seconds_since(t);
      const double resident = static_cast<double>(rss_kb() - base_rss) * 1024;
      report("decode batch " + std::to_string(batch), static_cast<double>(batch * o.decode_steps), secs, 2 * with_head);
      const double kv_bytes = 2.0 * c.num_hidden_layers * c.num_key_value_heads * c.head_dim * bytes_per *
                              static_cast<double>(batch * cap);
      std::printf("      memory: %.0f MiB resident, arithmetic %.0f MiB (weights %.0f + KV cache %.1f): %.2fx\n",
                  resident / (1 << 20), (weight_bytes + kv_bytes) / (1 << 20), weight_bytes / (1 << 20),
                  kv_bytes / (1 << 20), resident / (weight_bytes + kv_bytes));
      ::malloc_trim(0);
    }
    r1::model::configure_allocator(r1::model::kFastMmapThreshold);  // then the trainer's setting
    at::Tensor ids = at::randint(c.vocab_size, {1, o.prefill_tokens}, at::kLong).to(device);
    report("prefill 1x" + std::to_string(o.prefill_tokens), static_cast<double>(o.prefill_tokens),
           best_of(1, device, [&] { m.logits(m.forward(ids).narrow(1, o.prefill_tokens - 1, 1)); }), 2 * layer_params);
    {
      at::AutoGradMode grad(true);
      for (auto& t : m.parameters()) t.requires_grad_(true);
      at::Tensor x = at::randint(c.vocab_size, {o.train_batch, o.train_tokens}, at::kLong).to(device);
      at::Tensor y = at::randint(c.vocab_size, {o.train_batch, o.train_tokens}, at::kLong).to(device);
      const double secs = best_of(1, device, [&] {  // a warm-up step, then the timed one
        auto [lp, ent] = m.token_logprobs(m.forward(x), y, 512);
        lp.sum().backward();
        for (auto& p : m.parameters()) p.mutable_grad() = at::Tensor();
      });
      report("train fwd+bwd " + std::to_string(o.train_batch) + "x" + std::to_string(o.train_tokens),
             static_cast<double>(o.train_batch * o.train_tokens), secs, 6 * with_head);
      for (auto& p : m.parameters()) p.requires_grad_(false);
    }
  }
}

}  // namespace r1::bench
