#include "rollout/client.h"

#include <algorithm>
#include <bit>
#include <cerrno>
#include <chrono>
#include <condition_variable>
#include <cstring>
#include <deque>
#include <mutex>
#include <optional>
#include <set>
#include <sstream>
#include <thread>
#include <tuple>

#include <grpcpp/grpcpp.h>

#include "core/error.h"
#include "core/log.h"
#include "proto/rollout.grpc.pb.h"
#include "rollout/local_workers.h"
#include "rollout/wire.h"
#include "rollout/worker_options.h"

namespace r1::rollout {
namespace {

using Clock = std::chrono::steady_clock;
using Stub = v1::Rollout::Stub;

constexpr const char* kTokenKey = "x-r1-token";
constexpr double kStatusTimeoutS = 5;  // one GetStatus of a running worker

Clock::duration seconds(double s) {
  return std::chrono::duration_cast<Clock::duration>(std::chrono::duration<double>(s));
}

std::chrono::system_clock::time_point deadline_in(double s) {
  return std::chrono::system_clock::now() +
         std::chrono::duration_cast<std::chrono::system_clock::duration>(std::chrono::duration<double>(s));
}

const char* code_name(grpc::StatusCode code) {
  switch (code) {
    case grpc::StatusCode::OK: return "OK";
    case grpc::StatusCode::CANCELLED: return "CANCELLED";
    case grpc::StatusCode::UNKNOWN: return "UNKNOWN";
    case grpc::StatusCode::INVALID_ARGUMENT: return "INVALID_ARGUMENT";
    case grpc::StatusCode::DEADLINE_EXCEEDED: return "DEADLINE_EXCEEDED";
    case grpc::StatusCode::NOT_FOUND: return "NOT_FOUND";
    case grpc::StatusCode::ALREADY_EXISTS: return "ALREADY_EXISTS";
    case grpc::StatusCode::PERMISSION_DENIED: return "PERMISSION_DENIED";
    case grpc::StatusCode::RESOURCE_EXHAUSTED: return "RESOURCE_EXHAUSTED";
    case grpc::StatusCode::FAILED_PRECONDITION: return "FAILED_PRECONDITION";
    case grpc::StatusCode::ABORTED: return "ABORTED";
    case grpc::StatusCode::OUT_OF_RANGE: return "OUT_OF_RANGE";
    case grpc::StatusCode::UNIMPLEMENTED: return "UNIMPLEMENTED";
    case grpc::StatusCode::INTERNAL: return "INTERNAL";
    case grpc::StatusCode::UNAVAILABLE: return "UNAVAILABLE";
    case grpc::StatusCode::DATA_LOSS: return "DATA_LOSS";
    case grpc::StatusCode::UNAUTHENTICATED: return "UNAUTHENTICATED";
    default: return "UNKNOWN";
  }
}

std::string describe(const grpc::Status& status) {
  std::string s = code_name(status.error_code());
  if (!status.error_message().empty()) s += ": " + status.error_message();
  return s;
}

// The codes that say the worker itself is gone or stuck, not that this request was wrong.
bool worker_down(grpc::StatusCode code) {
  return code == grpc::StatusCode::UNAVAILABLE || code == grpc::StatusCode::INTERNAL ||
         code == grpc::StatusCode::UNKNOWN || code == grpc::StatusCode::DEADLINE_EXCEEDED ||
         code == grpc::StatusCode::CANCELLED;
}

std::string token_error(const std::string& address, const std::string& token, const grpc::Status& status) {
  return "rollout worker " + address + (token.empty() ? " requires a token" : " refused the token") + " (" +
         describe(status) + ")";
}

std::shared_ptr<Stub> make_stub(const std::string& address) {
  grpc::ChannelArguments args;
  // A worker that comes back is reconnected within seconds, not after gRPC's 2-minute backoff.
  args.SetInt(GRPC_ARG_INITIAL_RECONNECT_BACKOFF_MS, 200);
  args.SetInt(GRPC_ARG_MIN_RECONNECT_BACKOFF_MS, 200);
  args.SetInt(GRPC_ARG_MAX_RECONNECT_BACKOFF_MS, 2000);
  args.SetMaxReceiveMessageSize(256 << 20);  // long completions
  // Every worker gets its own connection, even two on one address (restarts reuse ports).
  args.SetInt(GRPC_ARG_USE_LOCAL_SUBCHANNEL_POOL, 1);
  return v1::Rollout::NewStub(grpc::CreateCustomChannel(address, grpc::InsecureChannelCredentials(), args));
}

// --- bf16 -------------------------------------------------------------------------------------------

static_assert(std::endian::native == std::endian::little, "tensor bytes travel little-endian");

// Round to nearest, ties to even; a NaN stays a NaN (quiet, sign kept).
uint16_t bf16_from_f32(uint32_t bits) {
  if ((bits & 0x7fffffffu) > 0x7f800000u) return static_cast<uint16_t>((bits >> 16) | 0x0040u);
  return static_cast<uint16_t>((bits + 0x7fffu + ((bits >> 16) & 1u)) >> 16);
}

// --- generation state ---------------------------------------------------------------------------

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
  std::string why_down;
  Clock::time_point next_probe{}, next_refresh{};
  std::unique_ptr<LocalProcess> process;
  LocalProcess* starting = nullptr;  // being started by a restart
  std::thread restarter;
  std::set<Attempt*> attempts;
};

}  // namespace

struct RolloutClient::Impl {
  ClientOptions options;
  std::mutex mutex;
  std::condition_variable changed;  // any change a waiting generate() or the monitor cares about
  std::vector<std::unique_ptr<Worker>> workers;
  bool stopping = false;
  int generating = 0, updating = 0;
  std::optional<uint64_t> policy_version;  // the last version pushed
  std::thread monitor;

  explicit Impl(ClientOptions o) : options(std::move(o)) {}

  void bump() { changed.notify_all(); }

  // Takes work: alive and not behind the last weight update.
  bool eligible(const Worker& w) const { return w.alive && !(policy_version && w.version < *policy_version); }

  grpc::Status get_status(Stub& stub, v1::Status* reply, double timeout_s, bool wait_for_ready) const {
    grpc::ClientContext context;
    context.set_deadline(deadline_in(timeout_s));
    context.set_wait_for_ready(wait_for_ready);
    if (!options.token.empty()) context.AddMetadata(kTokenKey, options.token);
    return stub.GetStatus(&context, v1::StatusRequest(), reply);
  }

  // Lock held. Cancels the worker's streams; their groups go elsewhere.
  void mark_down(Worker& w, const std::string& why) {
    if (!w.alive) return;
    w.alive = false;
    w.why_down = why;
    w.next_probe = Clock::now() + seconds(options.reprobe_interval_s);
    log::warn() << "rollout worker " << w.address << " is down (" << why << ")"
                << (w.attempts.empty() ? "" : "; its groups go to the other workers");
    for (Attempt* a : w.attempts) {
      a->cancelled = true;
      a->context.TryCancel();
    }
    bump();
  }

  // Lock held. A worker's status as GetStatus just reported it.
  void take_status(Worker& w, const v1::Status& s) {
    w.version = s.version();
    w.queue_depth = s.queue_depth();
    if (!w.alive) {
      w.alive = true;
      log::info() << "rollout worker " << w.address << " is back (version " << s.version() << ")";
      if (policy_version && w.version < *policy_version)
        log::warn() << "rollout worker " << w.address << " has version " << w.version << ", the policy is at "
                    << *policy_version << ": it takes work again after the next weight update";
    }
    bump();
  }

  // Starts the local worker of `w`'s slot and waits until it answers; fills nothing in `w` but
  // `starting`. Throws r1::Error.
  std::pair<std::unique_ptr<LocalProcess>, v1::Status> start_local(Worker& w, std::string* address) {
    const LocalWorkers& l = options.local;
    WorkerOptions worker = l.worker;
    worker.port = 0;  // a free one, read from the first line
    worker.token.clear();
    std::vector<std::string> args = worker_command(worker, true);
    args.insert(args.end(), l.extra_args.begin(), l.extra_args.end());
    auto process = std::make_unique<LocalProcess>(l.r1_binary, args, "rollout worker " + std::to_string(w.slot),
                                                  std::vector<std::string>{"R1_ROLLOUT_TOKEN=" + options.token});
    {
      std::lock_guard<std::mutex> lock(mutex);
      if (stopping) process->interrupt();
      w.starting = process.get();
    }
    struct Clear {
      Impl* self;
      Worker& w;
      ~Clear() {
        std::lock_guard<std::mutex> lock(self->mutex);
        w.starting = nullptr;
      }
    } clear{this, w};
    try {
      int port = parse_port(process->first_line(l.start_timeout_s), process->command());
      *address = "127.0.0.1:" + std::to_string(port);
      auto stub = make_stub(*address);
      v1::Status status;
      grpc::Status s = get_status(*stub, &status, 10, true);
      if (s.error_code() == grpc::StatusCode::UNAUTHENTICATED) throw Error(token_error(*address, options.token, s));
      if (!s.ok())
        throw Error("rollout worker " + process->command() + " listens on " + *address +
                    " but does not answer GetStatus (" + describe(s) + ")");
      return {std::move(process), status};
    } catch (...) {
      process->stop(options.local.stop_grace_s);
      throw;
    }
  }

  // Lock held. Restarts a local worker on its own thread.
  void begin_restart(Worker& w) {
    if (w.restarter.joinable()) w.restarter.join();  // the previous one has finished (restarting was false)
    w.restarting = true;
    ++w.restarts;
    log::warn() << "restarting rollout worker " << w.slot << " (" << w.why_down << "), restart " << w.restarts
                << " of " << options.local.max_restarts;
    bump();
    w.restarter = std::thread([this, &w] { restart(w); });
  }

  void restart(Worker& w) {
    std::unique_ptr<LocalProcess> old;
    {
      std::lock_guard<std::mutex> lock(mutex);
      old = std::move(w.process);
    }
    if (old) old->stop(options.local.stop_grace_s);
    std::string error, address;
    std::pair<std::unique_ptr<LocalProcess>, v1::Status> started;
    try {
      {
        std::lock_guard<std::mutex> lock(mutex);
        if (stopping) throw Error("the client is closing");
      }
      started = start_local(w, &address);
    } catch (const std::exception& e) {
      error = e.what();
    }
    std::lock_guard<std::mutex> lock(mutex);
    w.restarting = false;
    if (error.empty()) {
      w.process = std::move(started.first);
      w.address = address;
      w.stub = make_stub(address);
      take_status(w, started.second);
    } else {
      w.why_down = error;
      if (!stopping) log::error() << "could not restart rollout worker " << w.slot << ": " << error;
    }
    bump();
  }

  // Keeps the picture of the workers current: local exits, restarts, re-probes, queue depths.
  void monitor_loop() {
    std::unique_lock<std::mutex> lock(mutex);
    while (!stopping) {
      auto now = Clock::now();
      for (auto& wp : workers) {
        Worker& w = *wp;
        if (stopping) break;
        if (w.local) {
          if (w.alive && w.process && w.process->exited()) mark_down(w, w.process->exit_description());
          if (!w.alive && !w.restarting && !w.gone) {
            if (w.restarts < options.local.max_restarts) {
              begin_restart(w);
            } else {
              w.gone = true;
              log::error() << "rollout worker " << w.slot << " is down for good after " << w.restarts
                           << " restarts (" << w.why_down << ")";
              bump();
            }
          }
        } else if (!w.alive && now >= w.next_probe) {
          w.next_probe = now + seconds(options.reprobe_interval_s);
          probe(w, lock);
        }
        if (w.alive && generating > 0 && now >= w.next_refresh) {
          w.next_refresh = now + seconds(options.status_interval_s);
          probe(w, lock);
        }
      }
      changed.wait_for(lock, seconds(options.status_interval_s));
    }
  }

  // Lock held (released during the call). One GetStatus; a worker that cannot be reached is down.
  bool probe(Worker& w, std::unique_lock<std::mutex>& lock) {
    auto stub = w.stub;
    const std::string address = w.address;
    lock.unlock();
    v1::Status reply;
    grpc::Status s = get_status(*stub, &reply, kStatusTimeoutS, false);
    lock.lock();
    if (w.address != address) return w.alive;  // restarted meanwhile
    if (s.ok()) {
      take_status(w, reply);
      return true;
    }
    if (s.error_code() == grpc::StatusCode::UNAVAILABLE) mark_down(w, describe(s));
    return false;
  }

  // Lock held. Whether some worker takes work now or may do so without the caller's help.
  bool any_hope() const {
    if (updating) return true;
    for (const auto& w : workers)
      if (eligible(*w) || w->restarting ||
          (w->local && !w->alive && !w->gone && w->restarts < options.local.max_restarts))
        return true;
    return false;
  }

  std::string no_worker_message(const Group& g) const {
    std::string s = "no rollout worker is left to run request \"" + g.request.request_id() + "\": ";
    for (size_t i = 0; i < workers.size(); ++i) {
      const Worker& w = *workers[i];
      s += (i ? "; " : "") + (w.local ? "local worker " + std::to_string(w.slot) + " (" + w.address + ")" : w.address);
      if (w.alive)
        s += " is at version " + std::to_string(w.version) + ", behind the policy's " + std::to_string(*policy_version);
      else
        s += " is down (" + w.why_down + ")" +
             (w.local ? " after " + std::to_string(w.restarts) + " restart" + (w.restarts == 1 ? "" : "s") : "");
    }
    return s;
  }

  // Lock held. The live worker for a group: fewest groups in flight from here, then the shortest
  // queue; one the group failed on only when no other live worker exists. nullptr: wait.
  Worker* pick(const Group& g) const {
    Worker* best = nullptr;
    bool other_exists = false;
    auto key = [&](const Worker& w) { return std::tuple(g.failed_on.count(w.slot) > 0, w.in_flight, w.queue_depth); };
    for (const auto& wp : workers) {
      const Worker& w = *wp;
      if (!eligible(w)) continue;
      if (!g.failed_on.count(w.slot)) other_exists = true;
      if (w.in_flight >= options.max_groups_per_worker) continue;
      if (!best || key(w) < key(*best)) best = wp.get();
    }
    if (best && g.failed_on.count(best->slot) && other_exists) return nullptr;
    return best;
  }

  // Lock held. Sends pending groups to workers while there is room.
  void dispatch(Run& run) {
    auto room = [&] {
      for (const auto& w : workers)
        if (eligible(*w) && w->in_flight < options.max_groups_per_worker) return true;
      return false;
    };
    for (auto it = run.pending.begin(); it != run.pending.end() && room();) {
      Group& g = run.groups[*it];
      Worker* w = pick(g);
      if (!w) {
        ++it;
        continue;
      }
      auto a = std::make_shared<Attempt>();
      a->run = &run;
      a->group = *it;
      a->worker = w;
      a->address = w->address;
      a->stub = w->stub;
      a->n = g.n;
      a->context.set_deadline(deadline_in(options.group_timeout_s));
      if (!options.token.empty()) a->context.AddMetadata(kTokenKey, options.token);
      ++g.attempts;
      ++w->in_flight;
      w->attempts.insert(a.get());
      run.started.insert(a);
      it = run.pending.erase(it);
      a->request = &g.request;
      a->thread = std::thread([this, a] { stream(a); });
    }
  }

  void stream(std::shared_ptr<Attempt> attempt) {
    Attempt& a = *attempt;
    auto reader = a.stub->Generate(&a.context, *a.request);
    v1::Completion c;
    while (reader->Read(&c)) {
      if (static_cast<int>(a.completions.size()) == a.n) {
        a.overflow = true;
        a.context.TryCancel();
        while (reader->Read(&c)) {
        }
        break;
      }
      a.completions.push_back(std::move(c));
    }
    grpc::Status status = reader->Finish();
    std::lock_guard<std::mutex> lock(mutex);
    a.status = std::move(status);
    --a.worker->in_flight;
    a.worker->attempts.erase(&a);
    a.run->finished.push_back(std::move(attempt));
    bump();
  }

  // Lock held. Judges a finished attempt: a whole group (returned), a retry, or an r1::Error.
  std::optional<GroupResult> judge(Run& run, Attempt& a) {
    Group& g = run.groups[a.group];
    Worker& w = *a.worker;
    const std::string& id = g.request.request_id();
    const grpc::Status& s = a.status;
    auto code = s.error_code();
    if (code == grpc::StatusCode::INVALID_ARGUMENT)
      throw Error("rollout request \"" + id + "\" (request " + std::to_string(a.group) + ") was refused by " +
                  a.address + ": " + s.error_message());
    if (code == grpc::StatusCode::UNAUTHENTICATED) throw Error(token_error(a.address, options.token, s));
    if (code == grpc::StatusCode::PERMISSION_DENIED || code == grpc::StatusCode::UNIMPLEMENTED)
      throw Error("rollout worker " + a.address + " cannot run request \"" + id + "\" (" + describe(s) + ")");

    std::string failure;
    bool down = false, retry_free = false;
    if (a.cancelled && !s.ok()) {
      failure = "its worker went down";
    } else if (!s.ok()) {
      failure = describe(s);
      down = worker_down(code);
    } else if (a.overflow) {
      failure = "the stream sent more than " + std::to_string(g.n) + " completions";
    } else if (static_cast<int>(a.completions.size()) < g.n) {
      failure = "the stream ended after " + std::to_string(a.completions.size()) + " of " + std::to_string(g.n) +
                " completions";
      down = true;
    } else {
      std::vector<bool> seen(g.n, false);
      bool aborted = false;
      for (const auto& c : a.completions) {
        if (c.request_id() != id) {
          failure = "a completion carries request_id \"" + c.request_id() + "\"";
          break;
        }
        if (c.index() < 0 || c.index() >= g.n || seen[c.index()]) {
          failure = "completion index " + std::to_string(c.index()) + " is out of range or repeated";
          break;
        }
        seen[c.index()] = true;
        if (c.policy_version() != a.completions.front().policy_version()) {
          failure = "its completions mix policy versions " + std::to_string(a.completions.front().policy_version()) +
                    " and " + std::to_string(c.policy_version());
          break;
        }
        aborted = aborted || c.finish_reason() == v1::FINISH_REASON_ABORT;
      }
      if (failure.empty() && aborted) {
        failure = "a weight update aborted it";
        retry_free = true;
      }
    }

    if (failure.empty()) {
      std::sort(a.completions.begin(), a.completions.end(),
                [](const v1::Completion& x, const v1::Completion& y) { return x.index() < y.index(); });
      GroupResult r;
      r.index = a.group;
      r.policy_version = a.completions.front().policy_version();
      for (const v1::Completion& c : a.completions) r.completions.push_back(from_proto(c));
      r.attempts = g.attempts;
      r.worker = a.address;
      return r;
    }
    if (down && w.address == a.address) mark_down(w, failure);
    if (retry_free) {
      log::info() << "rollout request \"" << id << "\" on " << a.address << ": " << failure << "; resubmitting it";
    } else {
      ++g.failures;
      g.failed_on.insert(w.slot);
      g.last_failure = a.address + ": " + failure;
      if (g.failures >= options.max_attempts)
        throw Error("rollout request \"" + id + "\" (request " + std::to_string(a.group) + ") failed " +
                    std::to_string(g.failures) + " times; the last on " + g.last_failure);
      log::warn() << "rollout request \"" << id << "\" failed on " << a.address << " (" << failure
                  << "); resubmitting it";
    }
    run.pending.push_front(a.group);
    return std::nullopt;
  }

  // Lock held, released while probing. Asks each remote worker that is down once more.
  void probe_down_remotes(std::unique_lock<std::mutex>& lock) {
    for (auto& wp : workers)
      if (!wp->local && !wp->alive) probe(*wp, lock);
  }

  void shutdown() {
    {
      std::lock_guard<std::mutex> lock(mutex);
      stopping = true;
      for (auto& w : workers)
        if (w->starting) w->starting->interrupt();
      bump();
    }
    if (monitor.joinable()) monitor.join();
    for (auto& w : workers)
      if (w->restarter.joinable()) w->restarter.join();
    // SIGTERM to all first, so they drain at once.
    std::vector<std::thread> stops;
    for (auto& w : workers)
      if (w->process) stops.emplace_back([this, p = w->process.get()] { p->stop(options.local.stop_grace_s); });
    for (auto& t : stops) t.join();
    for (auto& w : workers) w->process.reset();
  }
};

RolloutClient::RolloutClient(ClientOptions options) : impl_(std::make_unique<Impl>(std::move(options))) {
  Impl& m = *impl_;
  const ClientOptions& o = m.options;
  if (o.addresses.empty() && o.local.count <= 0)
    throw Error("the rollout client has no workers: give worker addresses or a number of local workers");
  if (o.local.count > 0 && o.local.r1_binary.empty())
    throw Error("the rollout client was asked for local workers without the path of the r1 binary");
  if (o.max_attempts < 1 || o.max_groups_per_worker < 1 || o.group_timeout_s <= 0 || o.weight_chunk_bytes < 4)
    throw Error("rollout client options: max_attempts and max_groups_per_worker must be >= 1, group_timeout_s > 0, "
                "weight_chunk_bytes >= 4");
  for (size_t i = 0; i < o.addresses.size() + static_cast<size_t>(std::max(0, o.local.count)); ++i) {
    auto w = std::make_unique<Worker>();
    w->slot = i;
    w->local = i >= o.addresses.size();
    if (!w->local) {
      w->address = o.addresses[i];
      w->stub = make_stub(w->address);
    }
    m.workers.push_back(std::move(w));
  }
  // Every worker comes up on its own thread: model loads overlap.
  std::vector<std::string> errors(m.workers.size());
  std::vector<std::thread> threads;
  for (auto& wp : m.workers) {
    threads.emplace_back([&m, &errors, &o, w = wp.get()] {
      try {
        v1::Status status;
        if (w->local) {
          std::string address;
          auto [process, s] = m.start_local(*w, &address);
          std::lock_guard<std::mutex> lock(m.mutex);
          w->process = std::move(process);
          w->address = address;
          w->stub = make_stub(address);
          status = s;
        } else {
          grpc::Status s = m.get_status(*w->stub, &status, o.connect_timeout_s, true);
          if (s.error_code() == grpc::StatusCode::UNAUTHENTICATED) throw Error(token_error(w->address, o.token, s));
          if (!s.ok())
            throw Error("rollout worker " + w->address + " did not answer GetStatus within " +
                        std::to_string(static_cast<int>(o.connect_timeout_s)) + " s (" + describe(s) + ")");
        }
        std::lock_guard<std::mutex> lock(m.mutex);
        w->version = status.version();
        w->queue_depth = status.queue_depth();
        w->alive = true;
      } catch (const std::exception& e) {
        errors[w->slot] = e.what();
        std::lock_guard<std::mutex> lock(m.mutex);  // the others need not finish starting
        m.stopping = true;
        for (auto& other : m.workers)
          if (other->starting) other->starting->interrupt();
      }
    });
  }
  for (auto& t : threads) t.join();
  // The first real failure, not the interruptions it caused.
  std::string error;
  for (const auto& e : errors)
    if (!e.empty() && (error.empty() || error.find("was interrupted") != std::string::npos)) error = e;
  if (!error.empty()) {
    m.shutdown();
    throw Error(error);
  }
  m.monitor = std::thread([&m] { m.monitor_loop(); });
}

RolloutClient::~RolloutClient() { impl_->shutdown(); }

void RolloutClient::generate(const std::vector<GroupRequest>& requests,
                             const std::function<void(GroupResult&&)>& on_group) {
  if (requests.empty()) return;
  Impl& m = *impl_;
  Run run;
  run.groups.resize(requests.size());
  for (size_t i = 0; i < requests.size(); ++i) {
    const GroupRequest& r = requests[i];
    const std::string name = "rollout request " + std::to_string(i) + " (\"" + r.id + "\")";
    if (r.prompt.empty()) throw Error(name + " has no prompt");
    if (r.params.n < 1) throw Error(name + ": params.n must be >= 1, got " + std::to_string(r.params.n));
    run.groups[i].request = to_proto(r);
    run.groups[i].n = static_cast<int>(r.params.n);
    run.pending.push_back(i);
  }

  std::unique_lock<std::mutex> lock(m.mutex);
  ++m.generating;
  m.bump();  // the monitor starts refreshing queue depths
  // Leaving, normally or not: cancel what still runs and wait for its threads.
  struct Leave {
    Impl& m;
    Run& run;
    std::unique_lock<std::mutex>& lock;
    ~Leave() {
      if (!lock.owns_lock()) lock.lock();
      for (const auto& a : run.started) {
        a->cancelled = true;
        a->context.TryCancel();
      }
      auto started = run.started;
      lock.unlock();
      for (const auto& a : started)
        if (a->thread.joinable()) a->thread.join();
      lock.lock();
      --m.generating;
    }
  } leave{m, run, lock};

  size_t delivered = 0;
  while (delivered < run.groups.size()) {
    m.dispatch(run);
    if (run.finished.empty()) {
      if (!run.pending.empty() && !m.any_hope()) {
        m.probe_down_remotes(lock);
        if (!m.any_hope()) throw Error(m.no_worker_message(run.groups[run.pending.front()]));
        continue;
      }
      m.changed.wait(lock);
      continue;
    }
    std::shared_ptr<Attempt> a = std::move(run.finished.front());
    run.finished.pop_front();
    lock.unlock();
    a->thread.join();
    lock.lock();
    run.started.erase(a);
    std::optional<GroupResult> result = m.judge(run, *a);
    if (result) {
      ++delivered;
      lock.unlock();
      on_group(std::move(*result));
      lock.lock();
    }
  }
}

std::vector<GroupResult> RolloutClient::generate_all(const std::vector<GroupRequest>& requests) {
  std::vector<GroupResult> results;
  results.reserve(requests.size());
  generate(requests, [&](GroupResult&& r) { results.push_back(std::move(r)); });
  std::sort(results.begin(), results.end(),
            [](const GroupResult& x, const GroupResult& y) { return x.index < y.index; });
  return results;
}

void RolloutClient::update_weights(uint64_t version, const std::vector<WeightTensor>& tensors, bool abort_in_flight) {
  Impl& m = *impl_;
  const ClientOptions& o = m.options;
  if (tensors.empty()) throw Error("weight update to version " + std::to_string(version) + " has no tensors");
  std::set<std::string> names;
  for (const auto& t : tensors) {
    const std::string name = "weight \"" + t.name + "\"";
    if (t.name.empty()) throw Error("a weight of the update to version " + std::to_string(version) + " has no name");
    if (!names.insert(t.name).second) throw Error(name + " appears twice in the update");
    if (t.dtype != "BF16" && t.dtype != "F32")
      throw Error(name + " has dtype \"" + t.dtype + "\"; BF16 or F32 expected");
    size_t elements = 1;
    for (int64_t d : t.shape) {
      if (d < 0) throw Error(name + " has a negative dimension");
      elements *= static_cast<size_t>(d);
    }
    size_t expected = elements * (t.dtype == "BF16" ? 2 : 4);
    if (t.bytes != expected)
      throw Error(name + " holds " + std::to_string(t.bytes) + " bytes; its shape and dtype need " +
                  std::to_string(expected));
    if (t.bytes && !t.data) throw Error(name + " has no data");
  }

  struct Push {
    Worker* worker;
    std::string address;
    std::shared_ptr<Stub> stub;
    grpc::ClientContext context;
    v1::UpdateWeightsReply reply;
    std::unique_ptr<grpc::ClientWriter<v1::TensorChunk>> writer;
    bool open = true;
    grpc::Status status;
  };
  std::vector<std::unique_ptr<Push>> pushes;
  {
    std::lock_guard<std::mutex> lock(m.mutex);
    ++m.updating;
    for (auto& w : m.workers) {
      if (!w->alive) {
        log::warn() << "rollout worker " << w->address << " is down and misses weights version " << version
                    << "; it takes work again after a later update reaches it";
        continue;
      }
      auto p = std::make_unique<Push>();
      p->worker = w.get();
      p->address = w->address;
      p->stub = w->stub;
      pushes.push_back(std::move(p));
    }
  }
  struct Done {
    Impl& m;
    ~Done() {
      std::lock_guard<std::mutex> lock(m.mutex);
      --m.updating;
      m.bump();
    }
  } done{m};
  if (pushes.empty()) throw Error("no rollout worker is alive to take weights version " + std::to_string(version));

  const auto deadline = deadline_in(o.update_timeout_s);
  const auto until = Clock::now() + seconds(o.update_timeout_s);
  for (auto& p : pushes) {
    p->context.set_deadline(deadline);
    if (!o.token.empty()) p->context.AddMetadata(kTokenKey, o.token);
    p->writer = p->stub->UpdateWeights(&p->context, &p->reply);
  }

  // Each chunk is built once and written to every worker in turn.
  v1::TensorChunk chunk;
  chunk.set_version(version);
  chunk.set_abort_in_flight(abort_in_flight);
  std::string wire;
  for (const auto& t : tensors) {
    const bool convert = t.dtype == "F32" && !o.weights_as_f32;
    const size_t wire_bytes = convert ? t.bytes / 2 : t.bytes;
    const size_t step = o.weight_chunk_bytes / 4 * 4;  // whole elements in every chunk
    chunk.set_name(t.name);
    chunk.set_dtype(convert ? "BF16" : t.dtype);
    chunk.clear_shape();
    for (int64_t d : t.shape) chunk.add_shape(d);
    const auto* src = static_cast<const char*>(t.data);
    size_t offset = 0;
    do {
      size_t len = std::min(step, wire_bytes - offset);
      if (convert) {
        wire.resize(len);
        for (size_t i = 0; i < len / 2; ++i) {
          uint32_t bits;
          std::memcpy(&bits, src + (offset / 2 + i) * 4, 4);
          uint16_t half = bf16_from_f32(bits);
          std::memcpy(wire.data() + i * 2, &half, 2);
        }
        chunk.set_data(wire);
      } else {
        chunk.set_data(src + offset, len);
      }
      chunk.set_offset(offset);
      for (auto& p : pushes)
        if (p->open && !p->writer->Write(chunk)) p->open = false;
      offset += len;
    } while (offset < wire_bytes);
  }
  for (auto& p : pushes) {
    if (p->open) p->writer->WritesDone();
    p->status = p->writer->Finish();
  }

  // Then each worker must report the version in service.
  std::vector<std::string> errors;
  std::vector<Push*> switching;
  {
    std::lock_guard<std::mutex> lock(m.mutex);
    for (auto& p : pushes) {
      const grpc::Status& s = p->status;
      Worker& w = *p->worker;
      if (s.ok() && p->reply.version() != version) {
        errors.push_back("rollout worker " + p->address + " answered version " + std::to_string(p->reply.version()) +
                         " to the weight update to version " + std::to_string(version));
      } else if (s.ok()) {
        switching.push_back(p.get());
      } else if (s.error_code() == grpc::StatusCode::UNAUTHENTICATED) {
        errors.push_back(token_error(p->address, o.token, s));
      } else if (worker_down(s.error_code()) && s.error_code() != grpc::StatusCode::DEADLINE_EXCEEDED) {
        if (w.address == p->address) m.mark_down(w, "weight update: " + describe(s));
      } else {
        errors.push_back("rollout worker " + p->address + " did not take weights version " + std::to_string(version) +
                         " (" + describe(s) + ")");
      }
    }
  }
  size_t confirmed = 0;
  while (!switching.empty()) {
    for (auto it = switching.begin(); it != switching.end();) {
      Push& p = **it;
      v1::Status status;
      grpc::Status s = m.get_status(*p.stub, &status, kStatusTimeoutS, false);
      std::lock_guard<std::mutex> lock(m.mutex);
      Worker& w = *p.worker;
      const bool same = w.address == p.address;
      if (s.ok() && status.version() >= version) {
        if (same) m.take_status(w, status);
        ++confirmed;
        it = switching.erase(it);
      } else if (s.ok() && Clock::now() >= until) {
        errors.push_back("rollout worker " + p.address + " still reports version " + std::to_string(status.version()) +
                         " " + std::to_string(static_cast<int>(o.update_timeout_s)) +
                         " s after taking weights version " + std::to_string(version));
        it = switching.erase(it);
      } else if (!s.ok() && s.error_code() == grpc::StatusCode::UNAVAILABLE) {
        if (same) m.mark_down(w, "after the weight update: " + describe(s));
        it = switching.erase(it);
      } else if (!s.ok() && Clock::now() >= until) {
        errors.push_back("rollout worker " + p.address + " took weights version " + std::to_string(version) +
                         " but GetStatus fails (" + describe(s) + ")");
        it = switching.erase(it);
      } else {
        ++it;
      }
    }
    if (!switching.empty()) std::this_thread::sleep_for(std::chrono::milliseconds(50));
  }
  {
    std::lock_guard<std::mutex> lock(m.mutex);
    if (confirmed) m.policy_version = std::max(m.policy_version.value_or(0), version);
    m.bump();
  }
  if (!errors.empty())
    throw Error(errors.front() + (errors.size() > 1 ? " (and " + std::to_string(errors.size() - 1) + " more)" : ""));
  if (!confirmed)
    throw Error("no rollout worker took weights version " + std::to_string(version) +
                ": all went down during the update");
}

std::vector<RolloutClient::WorkerInfo> RolloutClient::workers() {
  std::lock_guard<std::mutex> lock(impl_->mutex);
  std::vector<WorkerInfo> out;
  for (const auto& w : impl_->workers) {
    WorkerInfo i;
    i.address = w->address;
    i.alive = w->alive;
    i.local = w->local;
    i.restarts = w->restarts;
    i.version = w->version;
    i.queue_depth = w->queue_depth;
    i.in_flight = w->in_flight;
    i.pid = w->process ? static_cast<int>(w->process->pid()) : 0;
    out.push_back(i);
  }
  return out;
}

}  // namespace r1::rollout
