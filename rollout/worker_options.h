// A rollout worker's options, and its command line, defined once: `r1 rollout serve` takes exactly
// the flags add_serve_options() declares, and a trainer starting local workers (rollout/client.h)
// writes them with worker_command(), so the two cannot drift apart (tests/test_rollout_request.cpp
// parses what worker_command() writes back through add_serve_options()). No LibTorch.
#pragma once

#include <cstdint>
#include <string>
#include <vector>

#include "core/choices.h"

namespace CLI {
class App;
}

namespace r1::rollout {

struct WorkerOptions {
  std::string model_dir;
  WeightPrecision precision = WeightPrecision::kFp8;
  std::string fp8_scaling = "channel";  // channel | block (128 x 128)
  double kv_cache_mb = 512;
  double kv_cache_fraction = 0;         // > 0: the KV budget is this share of the device's free memory
                                        // once the weights are loaded, instead of kv_cache_mb
  int64_t max_running = 256;
  int64_t max_n = 64;                   // samples per request
  std::string host = "127.0.0.1";
  int port = 0;                         // 0: any free port, printed on the first line
  std::string token;                    // "": no token required
  int64_t max_message_mb = 64;
  uint64_t version = 0;                 // the policy version of the loaded weights
  int threads = 0;                      // LibTorch intra-op threads of the engine (0: one per core); `r1 --threads`
  DeviceChoice device;                  // where the model and its KV cache live (auto: a GPU when there is one)
  // LoRA (proto/rollout.proto's adapter updates): a PEFT adapter folder applied to the loaded weights
  // from the start ("": none), and how adapters are applied: merged into the targeted matrices
  // (W + scale B A, requantised in FP8; an FP8 worker then keeps its layer matrices in bf16 too, to
  // merge each adapter from the base), unmerged (the low-rank product beside each matrix in every
  // forward pass), or auto (inference/lora_apply.h: which of the two measured faster).
  std::string adapter_dir;
  std::string lora_apply = "auto";      // merged | unmerged | auto
  bool operator==(const WorkerOptions&) const = default;
};

// The warning a worker that serves beyond this machine without a token must print, or "" (a
// loopback host, or a token set): with --host 0.0.0.0 (or any address other than 127.x / ::1 /
// localhost) and no token, anyone who reaches the port can generate and replace the weights.
std::string exposure_warning(const WorkerOptions& o);

// Declares `rollout serve`'s flags on `serve`, writing into `o` (threads is r1's global --threads).
void add_serve_options(CLI::App& serve, WorkerOptions& o);
// `--device auto|cpu|cuda|cuda:N` on `app`, parsed into `device` (every command that runs a model
// declares it this way: rollout serve, generate, bench).
void add_device_option(CLI::App& app, DeviceChoice& device, const std::string& help);

// The arguments after the r1 binary that start a worker with `o`: r1's global flags (--threads N,
// and -q when `quiet`), then `rollout serve` and every flag of `o` whose value differs from the
// default. The token is not among them: a command line is visible to every user of the machine, so
// a local worker gets it in its environment as R1_ROLLOUT_TOKEN (which `rollout serve` reads).
std::vector<std::string> worker_command(const WorkerOptions& o, bool quiet);

}  // namespace r1::rollout
