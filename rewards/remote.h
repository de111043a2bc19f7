// Rewards over gRPC (proto/reward.proto).
//
// Client: the "remote" reward kind, {"name": "remote", "address": "host:port", "token": "..."}: one
// Score call per sample with the reward's time budget as the deadline. An unreachable server scores 0
// with reason "unavailable: ...", a late one 0 with "timeout"; both are counted like any other failed
// component (BatchStats::failures).
// Server: RewardServer scores requests with a RewardSet (what `r1 reward serve` runs), binding
// 127.0.0.1 unless told otherwise, checking an optional shared token on every call.
#pragma once

#include <memory>
#include <string>

#include "rewards/reward_set.h"

namespace r1::rewards {

std::unique_ptr<Reward> make_remote_reward(const std::string& id, const std::string& address, const std::string& token);

class RewardServer {
 public:
  // Starts serving at once; port 0 picks a free one (see port()).
  RewardServer(std::shared_ptr<const RewardSet> rewards, const std::string& host, int port, const std::string& token,
               size_t threads = 0);
  ~RewardServer();
  int port() const;
  void wait();      // blocks until shutdown()
  void shutdown();

  struct Impl;

 private:
  std::unique_ptr<Impl> impl_;
};

}  // namespace r1::rewards
