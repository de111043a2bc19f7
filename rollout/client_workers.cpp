// The rollout client's workers (rollout/client_impl.h): starting them (local ones as processes,
// remote ones asked for GetStatus), watching them (local exits, re-probes, queue depths), restarting
// local ones that crashed, and stopping them.
#include <algorithm>

#include "core/error.h"
#include "core/log.h"
#include "rollout/client_impl.h"
#include "rollout/worker_options.h"

namespace r1::rollout {

using namespace detail;

grpc::Status RolloutClient::Impl::get_status(Stub& stub, v1::Status* reply, double timeout_s,
                                             bool wait_for_ready) const {
  grpc::ClientContext context;
  context.set_deadline(deadline_in(timeout_s));
  context.set_wait_for_ready(wait_for_ready);
  if (!options.token.empty()) context.AddMetadata(kTokenKey, options.token);
  return stub.GetStatus(&context, v1::StatusRequest(), reply);
}

void RolloutClient::Impl::start_all() {
  const ClientOptions& o = options;
  for (size_t i = 0; i < o.addresses.size() + static_cast<size_t>(std::max(0, o.local.count)); ++i) {
    auto w = std::make_unique<Worker>();
    w->slot = i;
    w->local = i >= o.addresses.size();
    if (!w->local) {
      w->address = o.addresses[i];
      w->stub = make_stub(w->address);
    }
    workers.push_back(std::move(w));
  }
  // Every worker comes up on its own thread: model loads overlap.
  std::vector<std::string> errors(workers.size());
  std::vector<std::thread> threads;
  for (auto& wp : workers) {
    threads.emplace_back([this, &errors, &o, w = wp.get()] {
      try {
        v1::Status status;
        if (w->local) {
          std::string address;
          auto [process, s] = start_local(*w, &address);
          std::lock_guard<std::mutex> lock(mutex);
          w->process = std::move(process);
          w->address = address;
          w->stub = make_stub(address);
          status = s;
        } else {
          grpc::Status s = get_status(*w->stub, &status, o.connect_timeout_s, true);
          if (s.error_code() == grpc::StatusCode::UNAUTHENTICATED) throw Error(token_error(w->address, o.token, s));
          if (!s.ok())
            throw Error("rollout worker " + w->address + " did not answer GetStatus within " +
                        std::to_string(static_cast<int>(o.connect_timeout_s)) + " s (" + describe(s) + ")");
        }
        std::lock_guard<std::mutex> lock(mutex);
        w->version = status.version();
        w->queue_depth = status.queue_depth();
        w->alive = true;
      } catch (const std::exception& e) {
        errors[w->slot] = e.what();
        std::lock_guard<std::mutex> lock(mutex);  // the others need not finish starting
        stopping = true;
        for (auto& other : workers)
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
    shutdown();
    throw Error(error);
  }
  monitor = std::thread([this] { monitor_loop(); });
}

void RolloutClient::Impl::mark_down(Worker& w, const std::string& why) {
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

void RolloutClient::Impl::take_status(Worker& w, const v1::Status& s) {
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

std::pair<std::unique_ptr<LocalProcess>, v1::Status> RolloutClient::Impl::start_local(Worker& w,
                                                                                     std::string* address) {
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

void RolloutClient::Impl::begin_restart(Worker& w) {
  if (w.restarter.joinable()) w.restarter.join();  // the previous one has finished (restarting was false)
  w.restarting = true;
  ++w.restarts;
  log::warn() << "restarting rollout worker " << w.slot << " (" << w.why_down << "), restart " << w.restarts
              << " of " << options.local.max_restarts;
  bump();
  w.restarter = std::thread([this, &w] { restart(w); });
}

void RolloutClient::Impl::restart(Worker& w) {
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
  // Back with the base weights of --model: the last adapter update goes to it again before it takes
  // work. Updates wait meanwhile (update_mutex, taken before `mutex` as update_weights takes them).
  std::unique_lock<std::mutex> updates(update_mutex, std::defer_lock);
  if (error.empty()) {
    updates.lock();
    started.second = resend_adapter(w, address, std::move(started.second));
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

void RolloutClient::Impl::monitor_loop() {
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
      if (const std::string why = stalled(w, Clock::now()); !why.empty()) mark_down(w, why);
    }
    changed.wait_for(lock, seconds(options.status_interval_s));
  }
}

bool RolloutClient::Impl::probe(Worker& w, std::unique_lock<std::mutex>& lock) {
  auto stub = w.stub;
  const std::string address = w.address;
  lock.unlock();
  v1::Status reply;
  // Never waiting longer than the stall window: a frozen worker is found stalled by the next check.
  grpc::Status s = get_status(*stub, &reply, std::min(kStatusTimeoutS, options.stall_s), false);
  lock.lock();
  if (w.address != address) return w.alive;  // restarted meanwhile
  if (s.ok()) {
    const auto now = Clock::now();
    w.last_answer = now;
    if (reply.tokens_per_second() > 0) w.last_token = now;
    take_status(w, reply);
    return true;
  }
  if (s.error_code() == grpc::StatusCode::UNAVAILABLE) mark_down(w, describe(s));
  return false;
}

std::string RolloutClient::Impl::stalled(const Worker& w, Clock::time_point now) const {
  if (!w.alive || w.attempts.empty()) return "";
  const double silent = std::chrono::duration<double>(now - w.last_answer).count();
  if (silent > options.stall_s) {
    char why[160];
    std::snprintf(why, sizeof why, "stalled: it holds %zu group%s and has not answered for %.0f s", w.attempts.size(),
                  w.attempts.size() == 1 ? "" : "s", silent);
    return why;
  }
  // Answering but sampling nothing while another worker samples: its engine is stuck.
  const double idle = std::chrono::duration<double>(now - w.last_token).count();
  if (idle <= 4 * options.stall_s) return "";
  for (const auto& other : workers)
    if (other.get() != &w && other->alive && other->last_token > w.last_token) {
      char why[160];
      std::snprintf(why, sizeof why, "stalled: it holds %zu group%s and has sampled no token for %.0f s while others did",
                    w.attempts.size(), w.attempts.size() == 1 ? "" : "s", idle);
      return why;
    }
  return "";
}

void RolloutClient::Impl::probe_down_remotes(std::unique_lock<std::mutex>& lock) {
  for (auto& wp : workers)
    if (!wp->local && !wp->alive) probe(*wp, lock);
}

bool RolloutClient::Impl::any_hope() const {
  if (updating) return true;
  for (const auto& w : workers)
    if (eligible(*w) || w->restarting ||
        (w->local && !w->alive && !w->gone && w->restarts < options.local.max_restarts))
      return true;
  return false;
}

std::string RolloutClient::Impl::no_worker_message(const Group& g) const {
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

void RolloutClient::Impl::shutdown() {
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

}  // namespace r1::rollout
