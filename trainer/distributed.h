// The ranks of a job as a c10d process group (LibTorch's own distributed engine): a TCPStore rendezvous
// at MASTER_ADDR:MASTER_PORT, hosted by rank 0, and a Gloo group over it (CPU tensors, loopback or
// TCP between nodes). It implements run::Collective; trainer/grad_sync.h sums gradients through it in buckets.
#pragma once

#include <chrono>
#include <cstdint>
#include <memory>
#include <vector>

#include "run/collective.h"
#include "run/launch.h"

namespace at {
class Tensor;
}

namespace r1::trainer {

// Joins the job `launch` describes. Every rank must call it; it returns once all world_size ranks are
// there, or throws r1::Error naming the master and the ranks missing after `timeout`. The same
// timeout bounds every later collective: a rank that dies or hangs fails the others' next call.
// A one-process launch gets a SingleProcess.
std::shared_ptr<run::Collective> join_process_group(const run::Launch& launch, std::chrono::seconds timeout);

// Per-rank byte counts as MB, rank order (metrics.jsonl's "optimizer_state_mb" after a step).
std::vector<double> state_mb(const std::vector<uint64_t>& bytes);

}  // namespace r1::trainer
