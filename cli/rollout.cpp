// r1 rollout serve: a rollout worker (inference/server.h), run from the LibTorch module.
#include <CLI/CLI.hpp>

#include <cstdlib>

#include "cli/command.h"
#include "cli/torch_module.h"
#include "core/log.h"
#include "rollout/worker_options.h"

namespace r1::cli {

void add_rollout_command(CLI::App& app) {
  auto* rollout = app.add_subcommand("rollout", "Rollout workers: generate completions for the trainer over gRPC");
  rollout->require_subcommand(1);
  auto o = std::make_shared<RolloutServeOptions>();
  auto* serve = rollout->add_subcommand(
      "serve",
      "Serve a model over gRPC (proto/rollout.proto): continuous batching, FP8 weights, live weight updates. "
      "The first line on stdout is 'listening on HOST:PORT'; SIGTERM or SIGINT stops it cleanly");
  rollout::add_serve_options(*serve, *o);
  serve->callback([o] {
    if (o->token.empty())
      if (const char* t = std::getenv("R1_ROLLOUT_TOKEN")) o->token = t;
    if (std::string warning = rollout::exposure_warning(*o); !warning.empty()) log::warn() << warning;
    torch_commands().rollout_serve(torch_context(), *o);
  });
}

}  // namespace r1::cli
