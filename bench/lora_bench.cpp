// r1 bench lora (in the LibTorch module): a rollout worker's two ways of applying a LoRA adapter
// (inference/lora_apply.h), on the engine in-process as the worker runs it. For each preset, weight
// precision and set of targeted modules: the bytes an adapter update puts on the wire against a full
// push (bf16 both), the time to make the adapted model from the received tensors (the adapter built
// and checked, then merged and requantised, or attached), and decode tokens/s with the adapter in
// place, each as a ratio to the base model's tokens/s measured in the same run.
#include <ATen/ATen.h>
#include <ATen/CPUGeneratorImpl.h>

#include <algorithm>
#include <cstdio>
#include <map>
#include <random>

#include "bench/torch_bench.h"
#include "bench/workload.h"
#include "core/clock.h"
#include "core/error.h"
#include "checkpoint/lora_config.h"
#include "inference/engine.h"
#include "inference/lora_apply.h"
#include "model/device.h"
#include "model/lora.h"
#include "model/runtime.h"
#include "model/transformer.h"

namespace r1::bench {
namespace {

std::vector<rollout::GroupRequest> workload(const LoraBenchOptions& o, int64_t vocab) {
  return random_workload(o.prompts, o.prompt_tokens, o.samples, o.new_tokens, vocab);
}

// Sampled tokens per second of the engine on this thread, the best of `runs`.
double tokens_per_second(std::shared_ptr<const model::Transformer> m, const std::vector<rollout::GroupRequest>& qs, double kv_mb,
                         int64_t runs) {
  double best = 0;
  for (int64_t r = 0; r < runs; ++r) {
    inference::EngineOptions eo;
    eo.kv_cache_tokens = inference::kv_tokens_for_megabytes(*m, kv_mb);
    inference::Engine engine(m, eo);
    int64_t tokens = 0;
    const auto t = Clock::now();
    for (const auto& q : qs) engine.submit(q, [&](rollout::Completion&& c) { tokens += static_cast<int64_t>(c.ids.size()); });
    while (engine.step()) {
    }
    best = std::max(best, static_cast<double>(tokens) / seconds_since(t));
  }
  return best;
}

// A trained-looking adapter's tensors by PEFT's names (B drawn too), as an update brings them (bf16).
std::map<std::string, at::Tensor> adapter_tensors(const checkpoint::ModelConfig& c, const checkpoint::LoraOptions& o) {
  model::LoraAdapter a(c, o, 11);
  at::Generator gen = at::detail::createCPUGenerator(12);
  std::map<std::string, at::Tensor> out;
  for (const model::LoraModule& m : a.modules()) {
    out[m.target.a_name] = m.a.detach().to(at::kBFloat16);
    out[m.target.b_name] = at::empty(m.b.sizes(), at::kFloat).normal_(0.0, 0.02, gen).to(at::kBFloat16);
  }
  return out;
}

}  // namespace

void bench_lora(int threads_asked, const LoraBenchOptions& o) {
  const int threads = model::configure_threads(threads_asked);
  model::configure_allocator(model::kLeanMmapThreshold);
  at::NoGradGuard no_grad;
  const at::Device device = model::resolve_device(o.device, "--device");
  std::printf("r1 bench lora (%s, %d threads): r %lld, %lld prompts x %lld samples x %lld new tokens (prompts of %lld); "
              "decode tokens/s the best of %lld runs, apply time the best of %lld\n",
              model::describe_device(device).c_str(), threads, static_cast<long long>(o.r), static_cast<long long>(o.prompts),
              static_cast<long long>(o.samples), static_cast<long long>(o.new_tokens), static_cast<long long>(o.prompt_tokens),
              static_cast<long long>(o.runs), static_cast<long long>(o.apply_runs));
  double merged_vs_unmerged_min = 1e30, merged_vs_unmerged_max = 0;
  for (const std::string& preset : o.presets) {
    const checkpoint::ModelConfig config = checkpoint::preset_config("qwen2", preset, 259);
    model::Transformer loaded(config, at::kBFloat16, device);
    loaded.init_random(7);
    for (auto& [name, t] : loaded.weights())
      if (t.dim() == 2 && name != "model.embed_tokens.weight") loaded.weight(name) = t * 4;  // peaked, as trained
    int64_t full_bytes = 0;
    for (const auto& t : checkpoint::checkpoint_tensors(config)) {
      int64_t n = 1;
      for (int64_t d : t.shape) n *= d;
      full_bytes += 2 * n;
    }
    const auto qs = workload(o, config.vocab_size);
    for (const std::string& precision : o.precisions) {
      const bool fp8 = precision == "fp8";
      std::map<std::string, at::Tensor> unquantised;
      auto base = std::make_shared<model::Transformer>(loaded);
      if (fp8) {
        for (const auto& [name, t] : base->weights())
          if (model::Transformer::quantized_in_fp8(name, t.dim())) unquantised[name] = t;
        base->quantize_fp8();
      }
      const double base_tps = tokens_per_second(base, qs, o.kv_cache_mb, o.runs);
      std::printf("  %s %s: base %.0f tokens/s\n", preset.c_str(), precision.c_str(), base_tps);
      for (const std::string& targets : o.targets) {
        checkpoint::LoraOptions lo;
        lo.r = o.r;
        lo.lora_alpha = 2.0 * static_cast<double>(o.r);
        lo.target_modules.clear();
        if (targets == "all-linear") lo.target_modules.assign(std::begin(checkpoint::kLoraModules), std::end(checkpoint::kLoraModules));
        else
          for (size_t at = 0; at <= targets.size();) {  // "q_proj,v_proj"
            const size_t comma = std::min(targets.find(',', at), targets.size());
            lo.target_modules.push_back(targets.substr(at, comma - at));
            at = comma + 1;
          }
        const auto tensors = adapter_tensors(config, lo);
        int64_t adapter_bytes = 0;
        for (const auto& [name, t] : tensors) adapter_bytes += t.numel() * 2;
        std::printf("    %-22s adapter %.2f MiB on the wire vs %.1f MiB for a full push (%.1fx fewer bytes)\n", targets.c_str(),
                    adapter_bytes / 1048576.0, full_bytes / 1048576.0, static_cast<double>(full_bytes) / adapter_bytes);
        double tps[2] = {0, 0};
        for (inference::LoraMode mode : {inference::LoraMode::kUnmerged, inference::LoraMode::kMerged}) {
          std::shared_ptr<model::Transformer> adapted;
          double apply_s = 1e30;
          for (int64_t r = 0; r < o.apply_runs; ++r) {
            const auto t = Clock::now();
            auto adapter = model::LoraAdapter::from_tensors(config, lo, tensors, "bench", device);
            adapted = inference::adapted_model(*base, adapter, mode, &unquantised, model::Fp8Scaling::kPerChannel);
            if (device.is_cuda()) model::synchronize(device);
            apply_s = std::min(apply_s, seconds_since(t));
          }
          const double v = tokens_per_second(adapted, qs, o.kv_cache_mb, o.runs);
          tps[mode == inference::LoraMode::kMerged] = v;
          std::printf("      %-9s %9.0f tokens/s (%.2fx base), put in service in %.1f ms\n", inference::lora_mode_name(mode), v,
                      v / base_tps, 1e3 * apply_s);
        }
        merged_vs_unmerged_min = std::min(merged_vs_unmerged_min, tps[1] / tps[0]);
        merged_vs_unmerged_max = std::max(merged_vs_unmerged_max, tps[1] / tps[0]);
      }
    }
  }
  std::printf("  merged / unmerged decode tokens/s: %.2fx to %.2fx over these runs (--lora-apply auto is merged)\n",
              merged_vs_unmerged_min, merged_vs_unmerged_max);
}

}  // namespace r1::bench
