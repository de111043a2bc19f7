// The trainer's side of the rollout workers (proto/rollout.proto, spoken through rollout/wire.h): one client over N workers, local
// ones it starts itself and remote ones it is given.
//
// - generate() spreads groups (one GenerateRequest with its n samples each) over the live workers by
//   load and hands each group back whole as soon as its last completion arrives. A worker that dies
//   or times out loses its groups to the others: each group is delivered exactly once, from one
//   attempt, never a mix of two.
// - Local workers run `<r1_binary> -q rollout serve ...` (rollout/worker_options.h's worker_command, on a
//   free port; the token in their environment) and say where
//   they listen on their first stdout line; one that crashes is restarted, and the destructor stops
//   them (SIGTERM, then SIGKILL after a grace period). They also get SIGTERM if the trainer dies.
// - update_weights() streams tensors to every live worker (bf16 on the wire unless told otherwise)
//   and returns once each reports the new version. A worker that holds the previous update gets only
//   the elements whose bytes changed (weight_deltas; the client keeps that update's wire bytes to
//   compare with: 2 bytes a parameter in bf16); any other gets the update whole. A worker that missed
//   an update (it was down) takes no work until the next one reaches it.
//
// Thread-safe: generate() and update_weights() may run at once from different threads. Errors are
// r1::Error, one line naming the request, tensor or worker at fault. No LibTorch.
#pragma once

#include <cstddef>
#include <cstdint>
#include <functional>
#include <memory>
#include <string>
#include <vector>

#include "rollout/group.h"
#include "rollout/worker_options.h"

namespace r1::rollout {

// Workers the client starts and owns.
struct LocalWorkers {
  std::string r1_binary;                // path of the `r1` executable
  WorkerOptions worker;                 // what each serves (port and token are the client's: 0 and `token`)
  std::vector<std::string> extra_args;  // after the worker's flags (a test's fake worker takes its own)
  int count = 0;
  int max_restarts = 3;                 // per worker, over the client's life
  double start_timeout_s = 120;         // until the worker prints its address (model loading included)
  double stop_grace_s = 10;             // between SIGTERM and SIGKILL
};

struct ClientOptions {
  std::vector<std::string> addresses;   // remote workers, "host:port"
  LocalWorkers local;
  std::string token;                    // sent as x-r1-token on every call; local workers get --token
  double connect_timeout_s = 30;        // a remote worker must answer GetStatus this soon at start
  double group_timeout_s = 600;         // an attempt not finished by then is cancelled, its worker counted down
  int max_attempts = 3;                 // failed attempts of one group before generate() gives up
  int max_groups_per_worker = 16;       // in flight at once on one worker
  double status_interval_s = 0.5;       // GetStatus of live workers while generating; local exits checked as often
  double reprobe_interval_s = 2;        // GetStatus of a remote worker that is down, until it answers
  size_t weight_chunk_bytes = 1 << 20;  // data bytes per TensorChunk
  bool weights_as_f32 = false;          // send F32 tensors as F32 instead of bf16
  bool weight_deltas = true;            // to a worker holding the previous update: only what changed
  double update_timeout_s = 600;        // one weight update: the stream and the switch to the new version
  // Each worker's stream of an update is written by a thread of its own, so a slow worker holds
  // nobody else: a stream that takes no chunk for straggler_s while another stream progresses (or has
  // finished) is cancelled and its worker counted down (it is sent the next update whole).
  double straggler_s = 10;
  // A worker holding groups is stalled (marked down, its groups sent to the others at once, a local one
  // restarted) when it answers no GetStatus for stall_s (a stopped or wedged process), or answers but
  // samples no token for 4 x stall_s while another worker does (a stuck engine): seconds, not the
  // minutes of group_timeout_s.
  double stall_s = 15;
  size_t push_buffer_bytes = 64u << 20;  // built chunks waiting for the slower streams, at most
};

struct GroupResult {
  size_t index = 0;                          // of the request in generate()'s list
  std::vector<Completion> completions;       // exactly n, sorted by index
  uint64_t policy_version = 0;               // shared by every completion
  int attempts = 0;                          // times the group was sent (1 unless it was resubmitted)
  std::string worker;                        // the address that produced it
};

// One tensor of a weight update; `data` stays the caller's and must hold `bytes` bytes until
// update_weights() returns.
// The element types a weight update carries (safetensors' names on the wire: "BF16", "F32").
enum class WireDtype { kBf16, kF32 };
inline const char* wire_name(WireDtype d) { return d == WireDtype::kBf16 ? "BF16" : "F32"; }
inline size_t element_bytes(WireDtype d) { return d == WireDtype::kBf16 ? 2 : 4; }

struct WeightTensor {
  std::string name;                     // Hugging Face's name
  WireDtype dtype = WireDtype::kF32;
  std::vector<int64_t> shape;
  const void* data = nullptr;
  size_t bytes = 0;
};

// What generates a trainer's groups: worker processes over gRPC (RolloutClient, below), or an engine in
// the trainer's own process on the trainer's device (trainer/colocated.h, `rollout.colocate`). The
// samplers (run/sampling.h) see only this.
class GroupGenerator {
 public:
  virtual ~GroupGenerator() = default;
  // Runs every request as one group of params.n samples; on_group runs on the calling thread once per
  // request with all n completions, in finishing order. Throws r1::Error when a group cannot be made.
  virtual void generate(const std::vector<GroupRequest>& requests, const std::function<void(GroupResult&&)>& on_group) = 0;
};

class RolloutClient : public GroupGenerator {
 public:
  // Starts the local workers (in parallel) and waits until every worker answers GetStatus; throws
  // r1::Error naming the worker that did not (local workers started so far are stopped again).
  explicit RolloutClient(ClientOptions options);
  // Stops the local workers and waits for them: no process is left behind.
  ~RolloutClient();
  RolloutClient(const RolloutClient&) = delete;
  RolloutClient& operator=(const RolloutClient&) = delete;

  // Runs every request as one group of params.n samples. on_group runs on the calling thread for each
  // group once all n completions have arrived, in finishing order, once per request. A request
  // without a prompt or with n < 1 is refused before anything is sent.
  // Resubmits a group whose worker died, timed out, mixed policy versions within the group, or
  // aborted it for a weight update; gives up (r1::Error) on INVALID_ARGUMENT or UNAUTHENTICATED at
  // once, after max_attempts failures of one group, or when no worker is left. An exception from
  // on_group cancels the groups in flight and propagates.
  void generate(const std::vector<GroupRequest>& requests, const std::function<void(GroupResult&&)>& on_group) override;
  // The same, collected and ordered by index.
  std::vector<GroupResult> generate_all(const std::vector<GroupRequest>& requests);

  // Streams the tensors to every live worker in chunks of weight_chunk_bytes (a delta to those
  // holding the previous update, with weight_deltas), then waits until each reports `version` in
  // GetStatus. abort_in_flight: sequences running end at once (their groups are resubmitted) instead
  // of finishing on the old weights. A worker that goes down meanwhile is skipped with a warning; one
  // that refuses a delta (it holds another version) gets the update whole; any other failure is an
  // r1::Error naming the worker.
  struct PushStats {
    int workers_full = 0, workers_delta = 0;  // streams of each kind that the workers took
    uint64_t bytes_sent = 0;                  // data bytes written, over every stream
    uint64_t full_bytes = 0;                  // data bytes of the update whole, for one worker
  };
  // A full or delta update replaces the workers' base weights and drops any adapter.
  PushStats update_weights(uint64_t version, const std::vector<WeightTensor>& tensors, bool abort_in_flight = false);
  // LoRA: streams only an adapter (proto/rollout.proto's adapter update: `adapter_config_json` is
  // PEFT's adapter_config.json, `tensors` its lora_A / lora_B with PEFT's names) to every live worker,
  // each stream whole (no deltas), through the same machinery as update_weights (stragglers, workers
  // down, the wait for `version`). Each worker serves its own base weights (never re-sent) plus the
  // adapter. bytes_sent counts the adapter's data bytes over every stream, full_bytes one stream's:
  // what this update cost, to set against a full push. A worker that refuses the adapter
  // (INVALID_ARGUMENT: a bad config or tensor) is an r1::Error naming it and the tensor; one holding
  // other base weights (restarted after a full update) is skipped with a warning and takes no work
  // until an update it can take reaches it. A local worker restarted after this update is sent it
  // again before it takes work (its base comes back from --model, the adapter would not).
  PushStats update_adapter(uint64_t version, const std::vector<WeightTensor>& tensors, const std::string& adapter_config_json,
                           bool abort_in_flight = false);

  struct WorkerInfo {
    std::string address;
    bool alive = false;
    bool local = false;
    int restarts = 0;
    uint64_t version = 0;
    int queue_depth = 0;   // as GetStatus last reported it
    int in_flight = 0;     // groups this client has on it now
    int pid = 0;           // local workers; 0 otherwise
  };
  // In a fixed order: remote addresses first, then the local workers.
  std::vector<WorkerInfo> workers();

 private:
  struct Impl;
  std::unique_ptr<Impl> impl_;
};

}  // namespace r1::rollout
