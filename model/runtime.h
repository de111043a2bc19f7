// LibTorch runtime settings shared by every command that computes with tensors.
//
// Debian's LibTorch starts with one intra-op thread; r1 sets the count explicitly from --threads
// (default: one per core), so a benchmark and the work it is compared with run with the same setting.
// This header stays free of LibTorch so the CLI and tools can include it cheaply.
#pragma once

#include "core/choices.h"

#include <cstddef>
#include <string>

namespace r1::model {

// Sets LibTorch's intra-op threads (0 = one per core); returns the count in force.
int configure_threads(int threads);
// Serves allocations of at least `mmap_threshold` bytes with their own mappings, returned to the system
// when freed (and turns off glibc's dynamic threshold). Inference wants kLeanMmapThreshold: glibc's
// default raises the threshold as large blocks are freed, after which a decode step's transients
// (logits, prefill activations) stay resident: 1.2-1.7x the weights + KV cache at decode batch 64
// instead of 1.01-1.09x. Training wants kFastMmapThreshold: its activations are reused step after
// step, and fresh mappings would page-fault each time (~10% slower). docs/benchmarks.md, "Model".
// Memory freed at the top of an arena is kept up to twice the threshold (at least 64 MiB) instead of
// glibc's 128 KiB, so streams of mid-sized buffers (gRPC messages) do not fault their pages in again.
constexpr size_t kLeanMmapThreshold = 1u << 20, kFastMmapThreshold = 32u << 20;
void configure_allocator(size_t mmap_threshold);
// The dtype of a trainer's matrix products: "fp32" or "bf16" as named; "auto" measures a 1024^3
// matrix product in both with the threads in force (once per process, ~0.1-0.5 s) and returns the
// faster, so bf16 is used where the CPU (AMX, AVX512-BF16) or GPU runs it faster and fp32 elsewhere.
// kFp32 and kBf16 are returned as they are.
ComputeDtype resolve_compute_dtype(ComputeDtype choice);
// The matrix-product rates "auto" compared, GFLOP/s (measured on first use).
struct MatmulRates {
  double fp32 = 0, bf16 = 0;
};
MatmulRates matmul_rates();
// LibTorch's version, build configuration (BLAS, CPU capability) and parallel settings.
std::string describe_runtime();

}  // namespace r1::model
