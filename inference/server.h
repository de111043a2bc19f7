// The rollout worker: the engine (inference/engine.h) behind the gRPC service of proto/rollout.proto, plus
// r1.v1.Health. `r1 rollout serve` runs one.
//
// - Generate streams each completion as its sample finishes; a client that goes away cancels its
//   group and frees its KV blocks.
// - UpdateWeights gathers every tensor of the model (checked by name, dtype, shape and offsets),
//   builds the new model (quantised again in FP8), and swaps it in atomically (inference/engine.h).
// - Every malformed request gets INVALID_ARGUMENT naming the field or tensor, and the worker goes on
//   serving; a wrong or missing token gets UNAUTHENTICATED.
#pragma once

#include <cstdint>
#include <memory>
#include <string>

#include "rollout/worker_options.h"

namespace r1::inference {

class RolloutServer {
 public:
  // Loads the model and starts serving; throws r1::Error when the model cannot be loaded or the
  // address cannot be bound.
  explicit RolloutServer(const rollout::WorkerOptions& options);
  ~RolloutServer();
  int port() const;
  std::string address() const;  // host:port
  // Blocks until shutdown() (from another thread or a signal handler's helper thread).
  void wait();
  // Stops accepting calls, ends streams in flight (their groups abort) and stops the engine.
  void shutdown();

 private:
  struct Impl;
  std::unique_ptr<Impl> impl_;
};

}  // namespace r1::inference
