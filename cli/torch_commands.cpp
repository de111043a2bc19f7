// libr1_torch.so: the LibTorch side of the r1 command line (see torch_module.h). Each entry sets
// LibTorch's threads and log level from the caller's context first.
#include <fcntl.h>
#include <signal.h>
#include <unistd.h>

#include <cerrno>

#include <chrono>
#include <cstdio>
#include <filesystem>
#include <optional>
#include <stdexcept>
#include <fstream>
#include <thread>

#include <nlohmann/json.hpp>

#include "cli/torch_module.h"
#include "core/error.h"
#include "core/stop.h"
#include "core/log.h"
#include "tokenizer/byte_tokenizer.h"
#include "tokenizer/chat_template.h"
#include "inference/generate.h"
#include "model/device.h"
#include "model/lora.h"
#include "model/runtime.h"
#include "bench/torch_bench.h"
#include "checkpoint/config.h"
#include "tokenizer/tokenizer.h"
#include "model/transformer.h"
#include "inference/server.h"
#include "sandbox/sandbox.h"
#include "core/text.h"

namespace {

namespace fs = std::filesystem;
using r1::Error;

void apply(const r1::cli::TorchContext& context) {
  r1::log::set_level(static_cast<r1::log::Level>(context.log_level));
  r1::model::configure_threads(context.threads);
  r1::model::configure_allocator(r1::model::kLeanMmapThreshold);  // these commands infer
}

std::string runtime_info(const r1::cli::TorchContext& context) {
  apply(context);
  // The devices `device: auto` chooses from, first: what a user asks `r1 info` before a GPU run.
  return r1::model::describe_devices() + "\n" + r1::model::describe_runtime();
}

at::ScalarType parse_dtype(const std::string& d) {
  if (d == "bf16" || d == "bfloat16") return at::kBFloat16;
  if (d == "fp32" || d == "float32") return at::kFloat;
  throw Error("--dtype: '" + d + "' is not one of bf16, fp32");
}


void model_init(const r1::cli::TorchContext& context, const r1::cli::ModelInitOptions& o) {
  apply(context);
  if (o.out.empty()) throw Error("--out is required");
  // The tokenizer: the one given, else r1's built-in byte-level one (no download anywhere).
  fs::create_directories(o.out);
  if (o.tokenizer.empty()) {
    r1::write_byte_tokenizer(o.out);
  } else {
    const fs::path from = fs::is_directory(o.tokenizer) ? fs::path(o.tokenizer) : fs::path(o.tokenizer).parent_path();
    if (!fs::exists(from / "tokenizer.json")) throw Error(o.tokenizer + ": no tokenizer.json there");
    if (fs::weakly_canonical(from) != fs::weakly_canonical(o.out))
      for (const char* f : r1::checkpoint::kTokenizerFiles)
        if (fs::exists(from / f)) fs::copy_file(from / f, fs::path(o.out) / f, fs::copy_options::overwrite_existing);
  }
  std::optional<r1::Tokenizer> tok = r1::Tokenizer::load(o.out);
  const int64_t vocab = std::max<int64_t>(o.vocab_size, static_cast<int64_t>(tok->vocab_size()));
  r1::checkpoint::ModelConfig config = r1::checkpoint::preset_config(o.arch, o.preset, vocab);
  if (tok) {
    if (auto b = tok->bos_id()) config.bos_token_id = *b;
    if (auto e = tok->eos_id()) config.eos_token_ids = {*e};
  }
  const at::ScalarType dtype = parse_dtype(o.dtype);
  r1::model::Transformer m(config, dtype);
  m.init_random(o.seed);
  m.save(o.out);
  nlohmann::json gen = {{"do_sample", true}, {"temperature", 1.0}, {"top_p", 1.0}};
  if (config.bos_token_id >= 0) gen["bos_token_id"] = config.bos_token_id;
  if (!config.eos_token_ids.empty()) gen["eos_token_id"] = config.eos_token_ids;
  std::ofstream(o.out + "/" + r1::checkpoint::kGenerationConfigFile, std::ios::trunc) << gen.dump(2) << "\n";
  std::printf("%s: %s (%s preset, %s), %.2fM parameters, vocabulary %lld (%s tokenizer), seed %llu\n", o.out.c_str(),
              config.architecture_name(), o.preset.c_str(), dtype == at::kBFloat16 ? "bf16" : "fp32",
              config.parameter_count() / 1e6, static_cast<long long>(vocab),
              o.tokenizer.empty() ? "r1's byte-level" : "the given", static_cast<unsigned long long>(o.seed));
}

void generate(const r1::cli::TorchContext& context, const r1::cli::GenerateOptions& o) {
  apply(context);
  r1::Tokenizer tok = r1::Tokenizer::load(o.model);
  r1::model::Transformer m =
      r1::model::Transformer::load(o.model, parse_dtype(o.dtype), r1::model::resolve_device(o.device, "--device"));
  if (!o.adapter.empty()) m.set_lora(r1::model::LoraAdapter::load(o.adapter, m.config(), m.device()));
  std::string text = o.prompt;
  std::optional<r1::ChatTemplate> tmpl;
  if (o.chat) {
    tmpl.emplace(r1::ChatTemplate::detect(tok));
    text = tmpl->render({{"user", o.prompt, std::nullopt}});
  }
  r1::rollout::GroupRequest q;
  for (int32_t id : tok.encode(text)) q.prompt.push_back(id);
  if (q.prompt.empty()) throw Error("--prompt: the prompt encodes to no tokens");
  q.params = o.sampling;
  // The trainer's and the workers' rule (tokenizer/chat_template.h); the end of turn counts with --chat.
  q.params.stop_token_ids = r1::stop_token_ids(tok, tmpl ? &*tmpl : nullptr, r1::checkpoint::read_eos_token_ids(o.model));
  r1::inference::GenerateOptions go;
  go.tokenizer = &tok;
  const int64_t n = o.sampling.n;
  if (n == 1)
    go.on_text = [](size_t, int64_t, const std::string& piece) {
      std::fwrite(piece.data(), 1, piece.size(), stdout);
      std::fflush(stdout);
      return true;
    };
  const auto start = std::chrono::steady_clock::now();
  auto out = r1::inference::generate(m, {q}, go);
  const double seconds = std::chrono::duration<double>(std::chrono::steady_clock::now() - start).count();
  size_t tokens = 0;
  for (size_t s = 0; s < out[0].size(); ++s) {
    const auto& c = out[0][s];
    tokens += c.ids.size();
    if (n > 1)
      std::printf("--- sample %zu (%s, %zu tokens) ---\n%s\n", s + 1, r1::rollout::finish_reason_name(c.finish_reason),
                  c.ids.size(), c.text.c_str());
  }
  if (n == 1) std::printf("\n");
  std::fprintf(stderr, "[%zu prompt tokens, %zu generated in %.2f s: %.1f tokens/s; finish: %s]\n", q.prompt.size(),
               tokens, seconds, tokens / std::max(seconds, 1e-9), r1::rollout::finish_reason_name(out[0][0].finish_reason));
}

void model_merge_lora(const r1::cli::TorchContext& context, const r1::cli::ModelMergeLoraOptions& o) {
  apply(context);
  // The base in its own dtype (bf16 or fp32); each merged weight is computed in fp32 and rounded once.
  const r1::checkpoint::ModelConfig config = r1::checkpoint::read_model_config(o.base + "/config.json");
  const at::ScalarType dtype = o.dtype != "auto" ? parse_dtype(o.dtype)
                               : config.torch_dtype == "float32" ? at::kFloat : at::kBFloat16;
  r1::model::Transformer m = r1::model::Transformer::load(o.base, dtype);
  auto adapter = r1::model::LoraAdapter::load(o.adapter, m.config());
  r1::model::merge_lora(m, *adapter);
  m.save(o.out);
  std::printf("%s: %s merged with %s (r %lld, lora_alpha %g, scale %g, %zu modules), %s\n", o.out.c_str(), o.base.c_str(),
              o.adapter.c_str(), static_cast<long long>(adapter->options().r), adapter->options().lora_alpha,
              adapter->scale(), adapter->modules().size(), dtype == at::kBFloat16 ? "bf16" : "fp32");
}

void rollout_serve(const r1::cli::TorchContext& context, const r1::cli::RolloutServeOptions& o) {
  // SIGINT and SIGTERM (whichever thread they land on) write a byte to a pipe; a thread waiting on it
  // shuts the server down cleanly.
  static int stop_pipe[2] = {-1, -1};
  if (pipe2(stop_pipe, O_CLOEXEC) != 0) throw Error("rollout serve: cannot create a pipe");
  struct sigaction sa = {};
  sa.sa_handler = [](int sig) {
    const char c = static_cast<char>(sig);
    [[maybe_unused]] ssize_t n = write(stop_pipe[1], &c, 1);
  };
  sigemptyset(&sa.sa_mask);
  sigaction(SIGINT, &sa, nullptr);
  sigaction(SIGTERM, &sa, nullptr);
  apply(context);
  r1::rollout::WorkerOptions so = o;
  so.threads = context.threads;
  r1::inference::RolloutServer server(so);
  std::printf("listening on %s\n", server.address().c_str());
  std::fflush(stdout);
  std::thread waiter([&] {
    char sig = 0;
    while (read(stop_pipe[0], &sig, 1) < 0 && errno == EINTR) {
    }
    r1::log::info() << "signal " << static_cast<int>(sig) << ": shutting down";
    server.shutdown();
  });
  server.wait();
  waiter.join();
}

void run_recipe(const r1::cli::TorchContext& context, const r1::cli::RunRecipeOptions& o) {
  apply(context);
  // SIGINT / SIGTERM: a training stage stops after its step, with a checkpoint. Installed here, in the
  // module, because the handler's state must be the one the trainer's loops (in this module) poll:
  // r1 and the module each link their own copy of core/.
  r1::install_stop_handlers();
  r1::trainer::RecipeRun run = o;
  run.threads = context.threads;
  if (run.r1_binary.empty()) run.r1_binary = std::filesystem::read_symlink("/proc/self/exe").string();
  // The sandbox starts only if a stage's rewards name the code kind; where it cannot isolate, that
  // stage is refused with the reason and a pointer to `r1 sandbox info`.
  run.reward_services.code_runner = r1::sandbox::shared_sandbox({static_cast<size_t>(context.threads > 0 ? context.threads : 0)});
  r1::trainer::run_recipe(run);
}

void bench_model(const r1::cli::TorchContext& context, const r1::bench::ModelBenchOptions& o) {
  r1::log::set_level(static_cast<r1::log::Level>(context.log_level));
  r1::bench::bench_model(context.threads, o);
}
void bench_rollout(const r1::cli::TorchContext& context, const r1::bench::RolloutBenchOptions& o) {
  r1::log::set_level(static_cast<r1::log::Level>(context.log_level));
  r1::bench::bench_rollout(context.threads, o);
}
void bench_train(const r1::cli::TorchContext& context, const r1::bench::TrainBenchOptions& o) {
  r1::log::set_level(static_cast<r1::log::Level>(context.log_level));
  r1::bench::bench_train(context.threads, o);
}
void bench_lora(const r1::cli::TorchContext& context, const r1::bench::LoraBenchOptions& o) {
  r1::log::set_level(static_cast<r1::log::Level>(context.log_level));
  r1::bench::bench_lora(context.threads, o);
}

void bench_distributed(const r1::cli::TorchContext& context, const r1::bench::DistributedBenchOptions& o) {
  r1::log::set_level(static_cast<r1::log::Level>(context.log_level));
  r1::bench::bench_distributed(context.threads, o);
}

// Every command, with LibTorch's own errors (c10::Error, whose what() carries a page of C++ backtrace)
// turned into one line: "r1: error: <what went wrong>".
template <auto F>
struct Guarded;
template <typename R, typename... A, R (*F)(A...)>
struct Guarded<F> {
  static R call(A... a) {
    try {
      return F(a...);
    } catch (const c10::Error& e) {
      throw std::runtime_error(e.what_without_backtrace());
    }
  }
};

const r1::cli::TorchCommands kCommands = {
    r1::cli::kTorchAbiVersion,         &Guarded<&runtime_info>::call,          &Guarded<&model_init>::call,
    &Guarded<&generate>::call,         &Guarded<&bench_model>::call,  &Guarded<&rollout_serve>::call,
    &Guarded<&bench_rollout>::call, &Guarded<&run_recipe>::call,      &Guarded<&bench_train>::call,
    &Guarded<&bench_distributed>::call, &Guarded<&model_merge_lora>::call, &Guarded<&bench_lora>::call};

}  // namespace

extern "C" __attribute__((visibility("default"))) const r1::cli::TorchCommands* r1_torch_commands() {
  return &kCommands;
}
