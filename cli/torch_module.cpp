#include "cli/torch_module.h"

#include <dlfcn.h>

#include <cstdlib>
#include <filesystem>

#include "cli/command.h"
#include "core/error.h"
#include "core/log.h"

namespace r1::cli {

namespace {

// OpenBLAS (LibTorch's fp32 BLAS on Debian) picks its kernels from the CPU model it recognises; on
// a virtual CPU it often recognises none and falls back to its SSE3 "Prescott" kernels, ~4-8x slower
// than the AVX-512 or AVX2 ones the CPU has (docs/benchmarks.md, "Training"). It reads
// OPENBLAS_CORETYPE when it loads, which is when the module is loaded, so r1 names the kernel family
// from the CPU's flags unless the user already did. It also runs its own thread pool beside
// LibTorch's OpenMP one, and the two spin against each other on small products (a tiny model's
// training step spent ~45% of its time in sched_yield); one BLAS thread, with LibTorch's threads
// around it, trains the embedded recipe's model 1.8x faster. OPENBLAS_NUM_THREADS set by the user wins.
void choose_openblas_kernels() {
  setenv("OPENBLAS_NUM_THREADS", "1", 0);
  if (std::getenv("OPENBLAS_CORETYPE")) return;
  __builtin_cpu_init();
  const char* core = __builtin_cpu_supports("avx512f") && __builtin_cpu_supports("avx512bw") ? "SkylakeX"
                     : __builtin_cpu_supports("avx2") && __builtin_cpu_supports("fma")     ? "Haswell"
                                                                                           : nullptr;
  if (core) setenv("OPENBLAS_CORETYPE", core, 0);
}

}  // namespace

const TorchCommands& torch_commands() {
  static const TorchCommands* commands = [] {
    std::string path;
    if (const char* env = std::getenv("R1_TORCH_MODULE")) {
      path = env;
    } else {
      path = (std::filesystem::read_symlink("/proc/self/exe").parent_path() / "libr1_torch.so").string();
    }
    log::debug() << "loading LibTorch module " << path;
    choose_openblas_kernels();
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
