// What the ranks of one job say to each other, as a LibTorch-free interface: the run pieces (recipe
// bookkeeping, metrics) use it, and the trainer's data-parallel loops all-reduce their gradients
// through it. trainer/distributed.h implements it on LibTorch's c10d (Gloo on CPU); SingleProcess is
// the one-process job, where every call is the identity.
//
// Every rank must make the same calls in the same order (they are collectives). A call that cannot
// complete within the group's timeout (a rank died, hung or took another path) throws r1::Error.
#pragma once

#include <cstdint>
#include <memory>
#include <string>
#include <vector>

namespace r1::run {

// A collective started and not yet waited for (Collective::start_*). Its buffer must stay alive and
// untouched until wait() returns; wait() throws r1::Error as a blocking call would.
class Pending {
 public:
  virtual ~Pending() = default;
  virtual void wait() = 0;
  // Finished (well or not) without blocking: a later wait() returns at once or throws.
  virtual bool done() = 0;
};

class Collective {
 public:
  virtual ~Collective() = default;
  virtual int rank() const = 0;
  virtual int world_size() const = 0;
  bool leader() const { return rank() == 0; }
  // This process's node (torchrun's GROUP_RANK, Slurm's SLURM_NODEID) and its rank on that node.
  virtual int node_rank() const = 0;
  virtual int local_rank() const = 0;
  // This node's address as the other nodes reach it: the one its route to the master leaves from.
  virtual std::string node_address() const = 0;

  // Waits until every rank has called it. `what` names the point in errors ("before stage sft").
  virtual void barrier(const std::string& what) = 0;
  // Element-wise sums over the ranks, in place; every rank gets the same bits.
  virtual void all_reduce_sum(float* data, int64_t n) = 0;
  virtual void all_reduce_sum(double* data, int64_t n) = 0;
  // The same sums started in the background, so the caller goes on (the backward, while its first
  // gradients are summed). Started collectives count in the order they are started.
  virtual std::unique_ptr<Pending> start_all_reduce_sum(float* data, int64_t n) = 0;
  // The sums on rank `root` only; what the others' buffers hold afterwards is undefined.
  virtual std::unique_ptr<Pending> start_reduce_sum(float* data, int64_t n, int root) = 0;
  // Rank `root`'s values on every rank, in place.
  virtual void broadcast(float* data, int64_t n, int root) = 0;
  // Every rank's value, in rank order.
  virtual std::vector<uint64_t> all_gather(uint64_t value) = 0;
  virtual std::vector<std::string> all_gather(const std::string& value) = 0;
  // Rank 0's bytes on every rank (the others' `data` is replaced).
  virtual void broadcast(std::string& data) = 0;
  // Rank 0 posts `value` under `key` and returns it; the other ranks wait for it, however long rank 0
  // takes (a stage only rank 0 runs), and return it. If rank 0 dies meanwhile, they throw r1::Error.
  // Each key is posted once per job.
  virtual std::string share_from_leader(const std::string& key, const std::string& value) = 0;
};

// The largest of every rank's `value` (one all-gather): what the ranks act on when any one of them
// asks, e.g. the signal a stop was requested with, so that all stop after the same step.
inline uint64_t max_over_ranks(Collective& group, uint64_t value) {
  uint64_t most = 0;
  for (uint64_t v : group.all_gather(value)) most = v > most ? v : most;
  return most;
}

class SingleProcess final : public Collective {
  struct Done final : Pending {
    void wait() override {}
    bool done() override { return true; }
  };

 public:
  int rank() const override { return 0; }
  int world_size() const override { return 1; }
  int node_rank() const override { return 0; }
  int local_rank() const override { return 0; }
  std::string node_address() const override { return "127.0.0.1"; }
  void barrier(const std::string&) override {}
  void all_reduce_sum(float*, int64_t) override {}
  void all_reduce_sum(double*, int64_t) override {}
  std::unique_ptr<Pending> start_all_reduce_sum(float*, int64_t) override { return std::make_unique<Done>(); }
  std::unique_ptr<Pending> start_reduce_sum(float*, int64_t, int) override { return std::make_unique<Done>(); }
  void broadcast(float*, int64_t, int) override {}
  std::vector<uint64_t> all_gather(uint64_t value) override { return {value}; }
  std::vector<std::string> all_gather(const std::string& value) override { return {value}; }
  void broadcast(std::string&) override {}
  std::string share_from_leader(const std::string&, const std::string& value) override { return value; }
};

}  // namespace r1::run
