// r1 rollout serve: a rollout worker (inference/server.h), run from the LibTorch module.
#include <CLI/CLI.hpp>

#include <cstdlib>

#include "cli/command.h"
#include "cli/torch_module.h"

namespace r1::cli {

void add_rollout_command(CLI::App& app) {
  auto* rollout = app.add_subcommand("rollout", "Rollout workers: generate completions for the trainer over gRPC");
  rollout->require_subcommand(1);
  auto o = std::make_shared<RolloutServeOptions>();
  auto* serve = rollout->add_subcommand(
      "serve",
      "Serve a model over gRPC (proto/rollout.proto): continuous batching, FP8 weights, live weight updates. "
      "The first line on stdout is 'listening on HOST:PORT'; SIGTERM or SIGINT stops it cleanly");
  serve->add_option("--model", o->model_dir, "Model folder (config.json, safetensors, tokenizer.json)")->required();
  serve->add_option("--host", o->host, "Address to bind (0.0.0.0: every interface; only with --token on shared networks)")
      ->capture_default_str();
  serve->add_option("--port", o->port, "Port (0: a free one, printed on the first line)")->check(CLI::Range(0, 65535))
      ->capture_default_str();
  serve->add_option("--precision", o->precision, "Weights: fp8 (e4m3 with scales), bf16 or fp32")
      ->check(CLI::IsMember({"fp8", "bf16", "fp32"}))->capture_default_str();
  serve->add_option("--fp8-scaling", o->fp8_scaling, "FP8 scales per output channel, or per 128x128 block")
      ->check(CLI::IsMember({"channel", "block"}))->capture_default_str();
  serve->add_option("--kv-cache-mb", o->kv_cache_mb, "KV cache budget; requests wait in the queue when it is full")
      ->check(CLI::PositiveNumber)->capture_default_str();
  serve->add_option("--max-running", o->max_running, "Sequences decoded together at most")->check(CLI::PositiveNumber)
      ->capture_default_str();
  serve->add_option("--max-n", o->max_n, "Samples per request at most")->check(CLI::PositiveNumber)->capture_default_str();
  serve->add_option("--max-message-mb", o->max_message_mb, "gRPC message size limit")->check(CLI::Range(1, 2000))
      ->capture_default_str();
  serve->add_option("--token", o->token,
                    "Shared token every call must carry (metadata x-r1-token); default: $R1_ROLLOUT_TOKEN, else none");
  serve->add_option("--policy-version", o->version, "Policy version of the loaded weights")->capture_default_str();
  serve->callback([o] {
    if (o->token.empty())
      if (const char* t = std::getenv("R1_ROLLOUT_TOKEN")) o->token = t;
    torch_commands().rollout_serve(torch_context(), *o);
  });
}

}  // namespace r1::cli
