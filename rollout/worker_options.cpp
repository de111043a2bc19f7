// `r1 rollout serve`'s flags, declared and written in one place: see worker_options.h.
#include "rollout/worker_options.h"

#include <CLI/CLI.hpp>

#include <map>
#include <sstream>

namespace r1::rollout {

std::string exposure_warning(const WorkerOptions& o) {
  const std::string& h = o.host;
  bool loopback = h == "localhost" || h == "::1" || h == "[::1]" || h.rfind("127.", 0) == 0;
  if (loopback || !o.token.empty()) return "";
  return "serving on " + h + " with no token: anyone who can reach port " + (o.port ? std::to_string(o.port) : "(any)") +
         " can generate with this model and replace its weights. Set --token (or $R1_ROLLOUT_TOKEN) on the worker and "
         "rollout.token in the recipe, and keep the port inside a private network (docs/recipes.md, \"Workers on other "
         "machines\")";
}

void add_serve_options(CLI::App& serve, WorkerOptions& o) {
  serve.add_option("--model", o.model_dir, "Model folder (config.json, safetensors, tokenizer.json)")->required();
  serve.add_option("--host", o.host, "Address to bind (0.0.0.0: every interface; only with --token on shared networks)")
      ->capture_default_str();
  serve.add_option("--port", o.port, "Port (0: a free one, printed on the first line)")->check(CLI::Range(0, 65535))
      ->capture_default_str();
  const std::map<std::string, WeightPrecision> precisions = {
      {"fp8", WeightPrecision::kFp8}, {"bf16", WeightPrecision::kBf16}, {"fp32", WeightPrecision::kFp32}};
  serve.add_option("--precision", o.precision, "Weights: fp8 (e4m3 with scales), bf16 or fp32")
      ->transform(CLI::CheckedTransformer(precisions))->default_str(name(o.precision));
  serve.add_option("--fp8-scaling", o.fp8_scaling, "FP8 scales per output channel, or per 128x128 block")
      ->check(CLI::IsMember({"channel", "block"}))->capture_default_str();
  serve.add_option("--kv-cache-mb", o.kv_cache_mb, "KV cache budget; requests wait in the queue when it is full")
      ->check(CLI::PositiveNumber)->capture_default_str();
  serve.add_option("--kv-cache-fraction", o.kv_cache_fraction,
                   "KV cache budget as this share of the device's free memory once the weights are loaded "
                   "(a GPU's, or the CPU's MemAvailable); 0: --kv-cache-mb")
      ->check(CLI::Range(0.0, 0.95))->capture_default_str();
  serve.add_option("--max-running", o.max_running, "Sequences decoded together at most")->check(CLI::PositiveNumber)
      ->capture_default_str();
  serve.add_option("--max-n", o.max_n, "Samples per request at most")->check(CLI::PositiveNumber)->capture_default_str();
  serve.add_option("--max-message-mb", o.max_message_mb, "gRPC message size limit")->check(CLI::Range(1, 2000))
      ->capture_default_str();
  serve.add_option("--token", o.token,
                   "Shared token every call must carry (metadata x-r1-token); default: $R1_ROLLOUT_TOKEN, else none");
  serve.add_option("--policy-version", o.version, "Policy version of the loaded weights")->capture_default_str();
  add_device_option(serve, o.device, "Where the model and its KV cache live: auto (a GPU when there is one), cpu, cuda, cuda:N");
  serve.add_option("--adapter", o.adapter_dir,
                   "PEFT LoRA adapter folder (adapter_config.json, adapter_model.safetensors) applied to --model from the "
                   "start; adapter updates from the trainer replace it");
  serve.add_option("--lora-apply", o.lora_apply,
                   "How LoRA adapters are applied: merged into the weights (W + scale BA, requantised in FP8), unmerged "
                   "(the low-rank product in every forward pass), or auto (merged; docs/benchmarks.md, \"LoRA workers\")")
      ->check(CLI::IsMember({"merged", "unmerged", "auto"}))->capture_default_str();
}

void add_device_option(CLI::App& app, DeviceChoice& device, const std::string& help) {
  app.add_option_function<std::string>(
         "--device", [&device](const std::string& text) { device = parse_device(text, "--device"); }, help)
      ->check(CLI::Validator(
          [](std::string& text) {
            try {
              parse_device(text, "--device");
              return std::string();
            } catch (const std::exception&) {  // CLI11 names the flag itself
              return "'" + text + "' is not a device (auto, cpu, cuda or cuda:N)";
            }
          },
          "DEVICE", "device"))
      ->default_str(name(device));
}

namespace {

// A number as CLI11 reads it back exactly: doubles with every significant digit.
template <typename T>
std::string text(T v) {
  std::ostringstream s;
  s.precision(17);
  s << v;
  return s.str();
}

}  // namespace

std::vector<std::string> worker_command(const WorkerOptions& o, bool quiet) {
  const WorkerOptions d;
  std::vector<std::string> a;
  if (o.threads != d.threads) a.insert(a.end(), {"--threads", text(o.threads)});
  if (quiet) a.push_back("-q");
  a.insert(a.end(), {"rollout", "serve", "--model", o.model_dir});
  auto flag = [&](const char* name, const auto& value, const auto& default_value) {
    if (value != default_value) a.insert(a.end(), {name, text(value)});
  };
  flag("--host", o.host, d.host);
  flag("--port", o.port, d.port);
  if (o.precision != d.precision) a.insert(a.end(), {"--precision", name(o.precision)});
  flag("--fp8-scaling", o.fp8_scaling, d.fp8_scaling);
  flag("--kv-cache-mb", o.kv_cache_mb, d.kv_cache_mb);
  flag("--kv-cache-fraction", o.kv_cache_fraction, d.kv_cache_fraction);
  flag("--max-running", o.max_running, d.max_running);
  flag("--max-n", o.max_n, d.max_n);
  flag("--max-message-mb", o.max_message_mb, d.max_message_mb);
  flag("--policy-version", o.version, d.version);
  flag("--adapter", o.adapter_dir, d.adapter_dir);
  flag("--lora-apply", o.lora_apply, d.lora_apply);
  if (o.device != d.device) a.insert(a.end(), {"--device", name(o.device)});
  return a;
}

}  // namespace r1::rollout
