// libr1_torch.so: the LibTorch side of the r1 command line (see torch_module.h). Each entry sets
// LibTorch's threads and log level from the caller's context first.
#include "cli/torch_module.h"
#include "core/log.h"
#include "model/runtime.h"

namespace {

void apply(const r1::cli::TorchContext& context) {
  r1::log::set_level(static_cast<r1::log::Level>(context.log_level));
  r1::model::configure_threads(context.threads);
}

std::string runtime_info(const r1::cli::TorchContext& context) {
  apply(context);
  return r1::model::describe_runtime();
}

const r1::cli::TorchCommands kCommands = {r1::cli::kTorchAbiVersion, &runtime_info};

}  // namespace

extern "C" __attribute__((visibility("default"))) const r1::cli::TorchCommands* r1_torch_commands() {
  return &kCommands;
}
