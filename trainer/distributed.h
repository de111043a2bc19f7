// The ranks of a job as a c10d process group (LibTorch's own distributed engine): a TCPStore rendezvous
// at MASTER_ADDR:MASTER_PORT, hosted by rank 0, and a Gloo group over it (CPU tensors, loopback or
// TCP between nodes). It implements run::Collective; gradients are all-reduced through it in buckets.
#pragma once

#include <chrono>
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

// Sums the gradients of `params` over the ranks, in place, in fp32 buckets of about `bucket_bytes`
// (one collective per bucket instead of one per tensor). Parameters without a gradient take part as
// zeros, so every rank sends the same layout.
void all_reduce_gradients(run::Collective& group, const std::vector<at::Tensor>& params, int64_t bucket_bytes = 32 << 20);

// Per-rank byte counts as MB, rank order (metrics.jsonl's "optimizer_state_mb" after a step).
std::vector<double> state_mb(const std::vector<uint64_t>& bytes);

}  // namespace r1::trainer
