// r1 info: versions and runtime settings (LibTorch threads and build, gRPC), for bug reports and to
// check that a machine is set up.
#include <CLI/CLI.hpp>
#include <grpcpp/grpcpp.h>

#include <cstdio>

#include "cli/command.h"
#include "model/runtime.h"

namespace r1::cli {

void add_info_command(CLI::App& app) {
  auto* cmd = app.add_subcommand("info", "Print versions and runtime settings (LibTorch, threads, gRPC)");
  cmd->callback([] {
    int threads = model::configure_threads(global_options().threads);
    std::printf("r1 0.1.0\ngRPC %s\nLibTorch intra-op threads: %d\n\n%s", grpc::Version().c_str(), threads,
                model::describe_runtime().c_str());
  });
}

}  // namespace r1::cli
