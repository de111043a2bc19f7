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

namespace r1::rollout {

struct ServerOptions {
  std::string model_dir;
  std::string precision = "fp8";        // fp8 | bf16 | fp32
  std::string fp8_scaling = "channel";  // channel | block (128 x 128)
  double kv_cache_mb = 512;
  int64_t max_running = 256;
  int64_t max_n = 64;                   // samples per request
  std::string host = "127.0.0.1";
  int port = 0;                         // 0: any free port
  std::string token;                    // "": no token required
  int64_t max_message_mb = 64;
  uint64_t version = 0;                 // the policy version of the loaded weights
  int threads = 0;                      // LibTorch intra-op threads of the engine (0: one per core)
};

class RolloutServer {
 public:
  // Loads the model and starts serving; throws r1::Error when the model cannot be loaded or the
  // address cannot be bound.
  explicit RolloutServer(const ServerOptions& options);
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

}  // namespace r1::rollout
