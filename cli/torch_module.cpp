#include "cli/torch_module.h"

#include <dlfcn.h>

#include <cstdlib>
#include <filesystem>

#include "cli/command.h"
#include "core/error.h"
#include "core/log.h"

namespace r1::cli {

const TorchCommands& torch_commands() {
  static const TorchCommands* commands = [] {
    std::string path;
    if (const char* env = std::getenv("R1_TORCH_MODULE")) {
      path = env;
    } else {
      path = (std::filesystem::read_symlink("/proc/self/exe").parent_path() / "libr1_torch.so").string();
    }
    log::debug() << "loading LibTorch module " << path;
    void* handle = dlopen(path.c_str(), RTLD_NOW | RTLD_LOCAL);
    if (!handle) throw Error("this command needs LibTorch, but its module did not load: " + std::string(dlerror()));
    auto entry = reinterpret_cast<const TorchCommands* (*)()>(dlsym(handle, "r1_torch_commands"));
    if (!entry) throw Error(path + ": not an r1 LibTorch module (no r1_torch_commands)");
    const TorchCommands* table = entry();
    if (!table || table->abi_version != kTorchAbiVersion) {
      throw Error(path + ": built for another r1 version (module ABI " + std::to_string(table ? table->abi_version : 0) +
                  ", r1 expects " + std::to_string(kTorchAbiVersion) + ")");
    }
    return table;
  }();
  return *commands;
}

TorchContext torch_context() {
  TorchContext context;
  context.threads = global_options().threads;
  context.log_level = static_cast<int>(log::level());
  return context;
}

}  // namespace r1::cli
