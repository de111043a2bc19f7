// Rollout workers that one rank of a multi-node job starts on its own node for the job's controller
// (rank 0, on another node), which adds them to its client as remote workers: every node's workers
// serve the job, each near the GPUs or cores of its node. They listen on `host` (this node's address
// as the controller reaches it) and require `token`. One that exits is started again on the same
// port (up to max_restarts), which the controller's client sees as a remote worker that went down
// and came back. The destructor stops them all. No gRPC.
#pragma once

#include <condition_variable>
#include <memory>
#include <mutex>
#include <string>
#include <thread>
#include <vector>

#include "rollout/client.h"
#include "rollout/local_workers.h"

namespace r1::rollout {

class NodeWorkers {
 public:
  // Starts spec.count workers of spec.worker (its host, port and token replaced) and waits until each
  // has said where it listens; throws r1::Error naming the one that did not (the others stopped).
  NodeWorkers(const LocalWorkers& spec, const std::string& host, const std::string& token);
  ~NodeWorkers();
  NodeWorkers(const NodeWorkers&) = delete;
  NodeWorkers& operator=(const NodeWorkers&) = delete;

  // "host:port" of each, in order.
  const std::vector<std::string>& addresses() const { return addresses_; }
  // Restarts so far, over all workers; each one's process id now.
  int restarts() const;
  std::vector<int> pids() const;

 private:
  std::unique_ptr<LocalProcess> start(size_t i, int port);
  void watch();

  LocalWorkers spec_;
  std::string host_, token_;
  std::vector<int> ports_;
  std::vector<std::string> addresses_;
  std::vector<std::unique_ptr<LocalProcess>> processes_;
  std::vector<int> restarts_;
  mutable std::mutex mutex_;
  std::condition_variable wake_;
  bool stopping_ = false;
  std::thread watcher_;
};

}  // namespace r1::rollout
