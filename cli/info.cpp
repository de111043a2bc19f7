// r1 info: versions and runtime settings, for bug reports and to check that a machine is set up.
// It does not load LibTorch (see docs/architecture.md, "Start-up cost"); `r1 bench` and the training
// commands report LibTorch's settings where they use it.
#include <CLI/CLI.hpp>
#include <grpcpp/grpcpp.h>
#include <utf8proc.h>

#include <cstdio>

#include "cli/command.h"
#include "core/thread_pool.h"

namespace r1::cli {

void add_info_command(CLI::App& app) {
  auto* cmd = app.add_subcommand("info", "Print versions and runtime settings");
  cmd->callback([] {
    int threads = global_options().threads > 0 ? global_options().threads : static_cast<int>(hardware_threads());
    std::printf("r1 0.1.0\nthreads: %d (of %zu cores)\ngRPC %s\nutf8proc %s (Unicode %s)\n", threads,
                hardware_threads(), grpc::Version().c_str(), utf8proc_version(), utf8proc_unicode_version());
  });
}

}  // namespace r1::cli
