// PRIVATE to rollout/client*.cpp, not for users (they include rollout/client.h): the state of
// RolloutClient::Impl, shared by the files that implement it by concern:
//   client.cpp          the constructor, generate(): dispatch, stream, judge; workers()
//   client_workers.cpp  starting, watching, restarting, probing and stopping the workers
//   client_weights.cpp  update_weights(): one stream per live worker, then each worker's version
//   client_rpc.cpp      the gRPC helpers below (statuses, stubs, deadlines)
// One mutex guards everything here; "lock held" on a function means the caller holds it.
#pragma once

#include <chrono>
#include <condition_variable>
#include <cstdint>
#include <deque>
#include <map>
#include <memory>
#include <mutex>
#include <optional>
#include <set>
#include <string>
#include <thread>
#include <utility>
#include <vector>

#include <grpcpp/grpcpp.h>

#include "proto/rollout.grpc.pb.h"
#include "rollout/client.h"
#include "rollout/local_workers.h"

namespace r1::rollout::detail {

using Clock = std::chrono::steady_clock;
using Stub = v1::Rollout::Stub;

inline constexpr const char* kTokenKey = "x-r1-token";
inline constexpr double kStatusTimeoutS = 5;  // one GetStatus of a running worker

// --- gRPC helpers (client_rpc.cpp) -------------------------------------------------------------

Clock::duration seconds(double s);
std::chrono::system_clock::time_point deadline_in(double s);
const char* code_name(grpc::StatusCode code);
std::string describe(const grpc::Status& status);  // "CODE: message"
// The codes that say the worker itself is gone or stuck, not that this request was wrong.
bool worker_down(grpc::StatusCode code);
// The one line for UNAUTHENTICATED: the worker requires a token, or refused the one given.
std::string token_error(const std::string& address, const std::string& token, const grpc::Status& status);
// A stub on its own connection, reconnecting within seconds.
std::shared_ptr<Stub> make_stub(const std::string& address);

// --- generation state ----------------------------------------------------------------------------

struct Run;
struct Worker;

// One send of one group to one worker; its stream runs on its own thread.
struct Attempt {
  Run* run = nullptr;
  size_t group = 0;
  const v1::GenerateRequest* request = nullptr;  // the group's, as sent
  Worker* worker = nullptr;
  std::string address;
  std::shared_ptr<Stub> stub;
  grpc::ClientContext context;
  int n = 0;
  std::vector<v1::Completion> completions;
  bool overflow = false;   // more than n completions
  bool cancelled = false;  // by this client (its worker went down, or generate() is leaving)
  grpc::Status status;
  std::thread thread;
};

struct Group {
  v1::GenerateRequest request;  // rollout/wire.h's form of the caller's GroupRequest
  int n = 0;
  int attempts = 0, failures = 0;
  std::set<size_t> failed_on;  // worker slots
  std::string last_failure;
};

// One generate() call.
struct Run {
  std::vector<Group> groups;
  std::deque<size_t> pending;
  std::deque<std::shared_ptr<Attempt>> finished;
  std::set<std::shared_ptr<Attempt>> started;  // not joined yet
};

struct Worker {
  size_t slot = 0;
  bool local = false;
  std::string address;
  std::shared_ptr<Stub> stub;
  bool alive = false;
  bool gone = false;        // local, out of restarts
  bool restarting = false;
  int restarts = 0;
  uint64_t version = 0;
  int queue_depth = 0;
  int in_flight = 0;
  // Signs of life while it holds groups (stall detection, ClientOptions::stall_s): the last answered
  // GetStatus or completion, and the last token sampled (a completion, or tokens_per_second > 0).
  Clock::time_point last_answer{}, last_token{};
  std::string why_down;
  Clock::time_point next_probe{}, next_refresh{};
  std::unique_ptr<LocalProcess> process;
  LocalProcess* starting = nullptr;  // being started by a restart
  std::thread restarter;
  std::set<Attempt*> attempts;
};

// One worker's stream of a weight update.
struct Push {
  Worker* worker = nullptr;
  std::string address;
  std::shared_ptr<Stub> stub;
  grpc::ClientContext context;
  v1::UpdateWeightsReply reply;
  std::unique_ptr<grpc::ClientWriter<v1::TensorChunk>> writer;
  bool open = true;
  bool delta = false;      // the changes since the snapshot's version, which the worker holds
  size_t bytes_sent = 0;   // data bytes written to the stream
  bool cut = false;        // cancelled: no progress while the other streams went on
  grpc::Status status;
};

// The wire bytes of the last weight update, by tensor name: what the next one's delta is against.
struct Snapshot {
  std::optional<uint64_t> version;  // set once every tensor of that update is in
  std::map<std::string, std::vector<uint8_t>> tensors;
};

// The last adapter update (update_adapter), its tensors owned: re-sent to a local worker that restarts
// after it (its base weights come back from --model; the adapter would not).
struct AdapterUpdate {
  uint64_t version = 0;
  std::string config;                         // PEFT's adapter_config.json
  std::vector<std::vector<uint8_t>> storage;  // the tensors' bytes
  std::vector<WeightTensor> tensors;          // pointing into storage
};

}  // namespace r1::rollout::detail

namespace r1::rollout {

struct RolloutClient::Impl {
  using Worker = detail::Worker;
  using Attempt = detail::Attempt;
  using Group = detail::Group;
  using Run = detail::Run;
  using Push = detail::Push;
  using Stub = detail::Stub;

  ClientOptions options;
  std::mutex mutex;
  std::condition_variable changed;  // any change a waiting generate() or the monitor cares about
  std::vector<std::unique_ptr<Worker>> workers;
  bool stopping = false;
  int generating = 0, updating = 0;
  std::optional<uint64_t> policy_version;  // the last version pushed
  std::mutex update_mutex;                 // one update_weights() at a time
  detail::Snapshot snapshot;               // with weight_deltas; under update_mutex
  // LoRA, under update_mutex: the base weights adapters go on (0: those the workers loaded, else the
  // last full update's version), and the last adapter update while it is the latest update.
  uint64_t adapter_base = 0;
  std::optional<detail::AdapterUpdate> last_adapter;
  std::thread monitor;

  explicit Impl(ClientOptions o) : options(std::move(o)) {}

  void bump() { changed.notify_all(); }

  // Takes work: alive and not behind the last weight update.
  bool eligible(const Worker& w) const { return w.alive && !(policy_version && w.version < *policy_version); }

  // --- the workers (client_workers.cpp) ---

  // One GetStatus, with the token.
  grpc::Status get_status(Stub& stub, v1::Status* reply, double timeout_s, bool wait_for_ready) const;
  // Starts every worker at once and waits until each answers; throws r1::Error with the first real
  // failure (the workers started so far stopped again). Then starts the monitor.
  void start_all();
  // Lock held. Cancels the worker's streams; their groups go elsewhere.
  void mark_down(Worker& w, const std::string& why);
  // Lock held. A worker's status as GetStatus just reported it.
  void take_status(Worker& w, const v1::Status& s);
  // Starts the local worker of `w`'s slot and waits until it answers; fills nothing in `w` but
  // `starting`. Throws r1::Error.
  std::pair<std::unique_ptr<LocalProcess>, v1::Status> start_local(Worker& w, std::string* address);
  // Lock held. Restarts a local worker on its own thread.
  void begin_restart(Worker& w);
  void restart(Worker& w);
  // Keeps the picture of the workers current: local exits, restarts, re-probes, queue depths.
  void monitor_loop();
  // Lock held (released during the call). One GetStatus; a worker that cannot be reached is down.
  bool probe(Worker& w, std::unique_lock<std::mutex>& lock);
  // Why a worker holding groups counts as stalled (ClientOptions::stall_s), or "" when it does not.
  std::string stalled(const Worker& w, detail::Clock::time_point now) const;
  // Lock held, released while probing. Asks each remote worker that is down once more.
  void probe_down_remotes(std::unique_lock<std::mutex>& lock);
  // Lock held. Whether some worker takes work now or may do so without the caller's help.
  bool any_hope() const;
  std::string no_worker_message(const Group& g) const;
  // Stops the monitor and the restarts, then the local workers (SIGTERM to all, then SIGKILL).
  void shutdown();

  // --- generation (client.cpp) ---

  // Lock held. The live worker for a group, or nullptr: wait.
  Worker* pick(const Group& g) const;
  // Lock held. Sends pending groups to workers while there is room.
  void dispatch(Run& run);
  // On the attempt's own thread: reads its completions, then hands it to run.finished.
  void stream(std::shared_ptr<Attempt> attempt);
  // Lock held. Judges a finished attempt: a whole group (returned), a retry, or an r1::Error.
  std::optional<GroupResult> judge(Run& run, Attempt& a);

  // --- weight updates (client_weights.cpp) ---

  // Counts the update in `updating` and opens nothing yet: one Push per live worker (those down are
  // warned about and skipped). Lock taken.
  std::vector<std::unique_ptr<Push>> begin_update(uint64_t version);
  // The end of an update begun by begin_update, however it ends: `updating` counted down, so that
  // generate() stops waiting for the workers on its account.
  struct UpdateInFlight {
    Impl& m;
    ~UpdateInFlight();
  };
  // Sorts the finished streams: those to wait for (returned), those down (marked), deltas the worker
  // could not take (`stale`: it holds another version; they get the update whole), errors. Lock taken.
  std::vector<Push*> judge_pushes(const std::vector<std::unique_ptr<Push>>& pushes, uint64_t version,
                                  std::vector<std::string>& errors, std::vector<Push*>* stale);
  // Polls GetStatus until each worker reports `version` (or goes down, or `until` passes); returns
  // how many did.
  size_t await_version(std::vector<Push*> switching, uint64_t version, detail::Clock::time_point until,
                       std::vector<std::string>& errors);
  // Caller holds update_mutex, not `mutex`. A local worker just restarted at `address` (answering
  // `status`) is sent the last adapter update when that is the latest update and the worker is behind
  // it; returns its status after (unchanged when nothing was sent or the worker refused it: it then
  // waits for the next update, as any worker behind the policy).
  v1::Status resend_adapter(Worker& w, const std::string& address, v1::Status status);
};

}  // namespace r1::rollout
