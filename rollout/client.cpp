// RolloutClient (rollout/client.h): its construction, generate() and the dispatch of groups to the
// workers behind it (pick, dispatch, stream, judge), and workers(). The workers themselves are
// client_workers.cpp, weight updates client_weights.cpp; the shared state is client_impl.h.
#include "rollout/client.h"

#include <algorithm>
#include <tuple>

#include "core/error.h"
#include "core/log.h"
#include "rollout/client_impl.h"
#include "rollout/wire.h"

namespace r1::rollout {

using namespace detail;

namespace {

// What is wrong with a stream that ended OK with n completions, or "": one request_id, indices
// 0..n-1 each once, one policy version. `aborted`: some completion ended as FINISH_REASON_ABORT.
std::string completions_problem(const Group& g, const Attempt& a, bool* aborted) {
  const std::string& id = g.request.request_id();
  std::vector<bool> seen(g.n, false);
  *aborted = false;
  for (const auto& c : a.completions) {
    if (c.request_id() != id) return "a completion carries request_id \"" + c.request_id() + "\"";
    if (c.index() < 0 || c.index() >= g.n || seen[c.index()])
      return "completion index " + std::to_string(c.index()) + " is out of range or repeated";
    seen[c.index()] = true;
    if (c.logprobs_size() != c.ids_size())
      return "completion " + std::to_string(c.index()) + " has " + std::to_string(c.ids_size()) + " ids and " +
             std::to_string(c.logprobs_size()) + " log-probabilities";
    if (!c.sampled().empty() && static_cast<int>(c.sampled().size()) != c.ids_size())
      return "completion " + std::to_string(c.index()) + " marks " + std::to_string(c.sampled().size()) +
             " ids as sampled or appended, of " + std::to_string(c.ids_size());
    if (c.policy_version() != a.completions.front().policy_version())
      return "its completions mix policy versions " + std::to_string(a.completions.front().policy_version()) +
             " and " + std::to_string(c.policy_version());
    *aborted = *aborted || c.finish_reason() == v1::FINISH_REASON_ABORT;
  }
  return "";
}

GroupResult whole_group(const Group& g, Attempt& a) {
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

}  // namespace

RolloutClient::RolloutClient(ClientOptions options) : impl_(std::make_unique<Impl>(std::move(options))) {
  const ClientOptions& o = impl_->options;
  if (o.addresses.empty() && o.local.count <= 0)
    throw Error("the rollout client has no workers: give worker addresses or a number of local workers");
  if (o.local.count > 0 && o.local.r1_binary.empty())
    throw Error("the rollout client was asked for local workers without the path of the r1 binary");
  if (o.max_attempts < 1 || o.max_groups_per_worker < 1 || o.group_timeout_s <= 0 || o.weight_chunk_bytes < 4 ||
      !(o.stall_s > 0))
    throw Error("rollout client options: max_attempts and max_groups_per_worker must be >= 1, group_timeout_s > 0, "
                "weight_chunk_bytes >= 4, stall_s > 0");
  impl_->start_all();
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

// The live worker for a group: fewest groups in flight from here, then the shortest queue; one the
// group failed on only when no other live worker exists.
RolloutClient::Impl::Worker* RolloutClient::Impl::pick(const Group& g) const {
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

void RolloutClient::Impl::dispatch(Run& run) {
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
    if (w->attempts.empty()) w->last_answer = w->last_token = Clock::now();  // its stall clock starts with work
    w->attempts.insert(a.get());
    run.started.insert(a);
    it = run.pending.erase(it);
    a->request = &g.request;
    a->thread = std::thread([this, a] { stream(a); });
  }
}

void RolloutClient::Impl::stream(std::shared_ptr<Attempt> attempt) {
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
    std::lock_guard<std::mutex> lock(mutex);
    a.worker->last_answer = a.worker->last_token = Clock::now();
  }
  grpc::Status status = reader->Finish();
  std::lock_guard<std::mutex> lock(mutex);
  a.status = std::move(status);
  --a.worker->in_flight;
  a.worker->attempts.erase(&a);
  a.run->finished.push_back(std::move(attempt));
  bump();
}

// INVALID_ARGUMENT, UNAUTHENTICATED, PERMISSION_DENIED and UNIMPLEMENTED end generate(); a group
// aborted by a weight update is resubmitted for free; any other failure counts towards max_attempts
// and steers the group away from the worker it failed on.
std::optional<GroupResult> RolloutClient::Impl::judge(Run& run, Attempt& a) {
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
    bool aborted = false;
    failure = completions_problem(g, a, &aborted);
    if (failure.empty() && aborted) {
      failure = "a weight update aborted it";
      retry_free = true;
    }
  }
  if (failure.empty()) return whole_group(g, a);

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
