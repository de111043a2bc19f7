// A node's rollout workers for a controller on another node: see node_workers.h.
#include "rollout/node_workers.h"

#include <chrono>
#include <numeric>

#include "core/error.h"
#include "core/log.h"
#include "rollout/worker_options.h"

namespace r1::rollout {

NodeWorkers::NodeWorkers(const LocalWorkers& spec, const std::string& host, const std::string& token)
    : spec_(spec), host_(host), token_(token) {
  const size_t n = static_cast<size_t>(std::max(0, spec.count));
  ports_.assign(n, 0);
  restarts_.assign(n, 0);
  try {
    // All started first, so their models load at once; then each one's address.
    for (size_t i = 0; i < n; ++i) processes_.push_back(start(i, 0));
    for (size_t i = 0; i < n; ++i) {
      ports_[i] = parse_port(processes_[i]->first_line(spec.start_timeout_s), processes_[i]->command());
      addresses_.push_back(host + ":" + std::to_string(ports_[i]));
    }
  } catch (...) {
    for (auto& p : processes_) p->stop(spec.stop_grace_s);
    throw;
  }
  std::string list;
  for (const std::string& a : addresses_) list += (list.empty() ? "" : ", ") + a;
  log::info() << "rollout: " << n << " worker" << (n == 1 ? "" : "s") << " on this node for the controller: " << list;
  watcher_ = std::thread([this] { watch(); });
}

NodeWorkers::~NodeWorkers() {
  {
    std::lock_guard<std::mutex> lock(mutex_);
    stopping_ = true;
    for (auto& p : processes_)
      if (p) p->interrupt();  // a restart waiting for its first line
  }
  wake_.notify_all();
  if (watcher_.joinable()) watcher_.join();
  for (auto& p : processes_)
    if (p) p->stop(spec_.stop_grace_s);
}

int NodeWorkers::restarts() const {
  std::lock_guard<std::mutex> lock(mutex_);
  return std::accumulate(restarts_.begin(), restarts_.end(), 0);
}

std::vector<int> NodeWorkers::pids() const {
  std::lock_guard<std::mutex> lock(mutex_);
  std::vector<int> out;
  for (const auto& p : processes_) out.push_back(p->pid());
  return out;
}

std::unique_ptr<LocalProcess> NodeWorkers::start(size_t i, int port) {
  WorkerOptions w = spec_.worker;
  w.host = host_;
  w.port = port;
  w.token.clear();  // in the environment, never on a command line
  std::vector<std::string> args = worker_command(w, true);
  args.insert(args.end(), spec_.extra_args.begin(), spec_.extra_args.end());
  return std::make_unique<LocalProcess>(spec_.r1_binary, args, "node rollout worker " + std::to_string(i),
                                        std::vector<std::string>{"R1_ROLLOUT_TOKEN=" + token_});
}

// Every half second: a worker that exited is started again on its port, while restarts are left.
void NodeWorkers::watch() {
  std::unique_lock<std::mutex> lock(mutex_);
  while (!wake_.wait_for(lock, std::chrono::milliseconds(500), [this] { return stopping_; })) {
    for (size_t i = 0; i < processes_.size() && !stopping_; ++i) {
      LocalProcess& p = *processes_[i];
      if (!p.exited() || restarts_[i] < 0) continue;
      if (restarts_[i] >= spec_.max_restarts) {
        log::error() << "rollout worker " << addresses_[i] << " " << p.exit_description() << ", and has been restarted "
                     << restarts_[i] << " times: left down";
        restarts_[i] = -1;  // given up on
        continue;
      }
      ++restarts_[i];
      log::warn() << "rollout worker " << addresses_[i] << " " << p.exit_description() << "; restarting it on the same port ("
                  << restarts_[i] << " of " << spec_.max_restarts << ")";
      p.stop(0);
      try {
        processes_[i] = start(i, ports_[i]);
        LocalProcess* fresh = processes_[i].get();
        lock.unlock();  // its model loads meanwhile; the destructor may interrupt it
        const int port = parse_port(fresh->first_line(spec_.start_timeout_s), fresh->command());
        lock.lock();
        if (port != ports_[i]) log::warn() << "rollout worker " << i << " came back on port " << port << ", not " << ports_[i];
      } catch (const std::exception& e) {
        if (!lock.owns_lock()) lock.lock();
        if (!stopping_) log::error() << "rollout worker " << addresses_[i] << " did not restart: " << e.what();
      }
    }
  }
}

}  // namespace r1::rollout
