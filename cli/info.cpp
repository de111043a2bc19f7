// r1 info: versions and runtime settings, for bug reports and to check that a machine is set up.
// The LibTorch part comes from the LibTorch module (torch_module.h), loaded only for this.
#include <CLI/CLI.hpp>
#include <grpcpp/grpcpp.h>
#include <utf8proc.h>

#include <cstdio>

#include "cli/command.h"
#include "cli/torch_module.h"
#include "core/thread_pool.h"

namespace r1::cli {

void add_info_command(CLI::App& app) {
  auto* cmd = app.add_subcommand("info", "Print versions and runtime settings (gRPC, utf8proc, LibTorch)");
  cmd->callback([] {
    int threads = global_options().threads > 0 ? global_options().threads : static_cast<int>(hardware_threads());
    std::printf("r1 0.1.0\nthreads: %d (of %zu cores)\ngRPC %s\nutf8proc %s (Unicode %s)\n\nLibTorch:\n", threads,
                hardware_threads(), grpc::Version().c_str(), utf8proc_version(), utf8proc_unicode_version());
    std::fflush(stdout);
    std::printf("%s", torch_commands().runtime_info(torch_context()).c_str());
  });
}

}  // namespace r1::cli
