// Gradients summed over the ranks of a data-parallel job, overlapped with the backward that makes
// them (as PyTorch's DistributedDataParallel does), optionally partitioned (ZeRO-2).
//
// The parameters are laid out in buckets of about bucket_bytes, in the order a backward produces
// their gradients (the last layer first). Before the last backward of an optimiser step the caller
// arms the sync; as each parameter's gradient is accumulated (a post-hook on its AccumulateGrad node),
// its bucket counts it, and a bucket whose every gradient has landed is copied into an fp32 buffer
// and its sum started in the background while the backward goes on. Buckets start strictly in order,
// the same on every rank, so the ranks' collectives pair up. finish() starts what is left (gradients
// that never came take part as zeros: every rank sends the same layout), waits, and puts the sums
// back on the parameters.
//
// Partitioned (owners given, ZeRO-2): each bucket holds the parameters of one owning rank, its sum is
// reduced onto that rank only, and the other ranks drop those gradients as soon as the bucket is
// copied out, so a rank ends the backward holding about 1/N of the gradients.
#pragma once

#include <cstdint>
#include <memory>
#include <string>
#include <utility>
#include <vector>

namespace at {
class Tensor;
}

namespace r1::run {
class Collective;
}

namespace r1::trainer {

// Indices of `names` in the order a backward usually produces their gradients: Hugging Face names in
// reverse natural order ("layers.10" after "layers.9"), so the last layer and the head come first.
std::vector<size_t> backward_order(const std::vector<std::string>& names);

// Each parameter's owning rank for a partitioned optimiser: contiguous runs of backward_order, one per
// rank, with the largest run as small as whole tensors allow (so a bucket never spans two owners).
std::vector<int> assign_owners(const std::vector<std::pair<std::string, at::Tensor>>& named, int world_size);

class GradientSync {
 public:
  struct Options {
    std::vector<int> owners;             // one rank per parameter, contiguous along backward_order: partitioned
    int64_t bucket_bytes = 25 << 20;
    bool overlap = true;                 // false: arm() does nothing, every sum starts in finish()
  };
  // A one-rank group makes every call a no-op.
  GradientSync(run::Collective& group, const std::vector<std::pair<std::string, at::Tensor>>& named, Options options);
  ~GradientSync();
  GradientSync(const GradientSync&) = delete;
  GradientSync& operator=(const GradientSync&) = delete;

  // Before a step's first backward: the gradients this rank keeps become zeroed views into their
  // buckets' buffers (those without a gradient yet), so the backward accumulates straight into them:
  // no copy into the bucket, no fresh memory each step (PyTorch DDP's gradient_as_bucket_view).
  void begin();
  // The next backward is the step's last: its gradients are summed as they land.
  void arm();
  // Sums what was not started yet, waits for every bucket, and leaves each parameter the summed
  // gradient, or (partitioned, another rank's parameter) none. Every rank must call it once per step,
  // armed or not, with or without a backward since.
  void finish();

  // Bytes of gradient this rank holds now (metrics.jsonl's gradient_mb after the sums).
  int64_t gradient_bytes() const;

 private:
  struct Impl;
  std::unique_ptr<Impl> impl_;
};

}  // namespace r1::trainer
