// LibTorch runtime settings shared by every command that computes with tensors.
//
// Debian's LibTorch starts with one intra-op thread; r1 sets the count explicitly from --threads
// (default: one per core), so a benchmark and the work it is compared with run with the same setting.
// This header stays free of LibTorch so the CLI and tools can include it cheaply.
#pragma once

#include <string>

namespace r1::model {

// Sets LibTorch's intra-op threads (0 = one per core); returns the count in force.
int configure_threads(int threads);
// LibTorch's version, build configuration (BLAS, CPU capability) and parallel settings.
std::string describe_runtime();

}  // namespace r1::model
