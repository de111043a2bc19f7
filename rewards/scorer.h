// Scores a batch of samples on worker threads without letting one slow or hanging reward stall the
// batch. Each sample runs its RewardSet on a worker; if it is still running when its budget (the sum
// of its rewards' budgets, plus a small grace) is spent, the scorer stops waiting: the sample scores
// the components it had finished, 0 for the rest, and reason "<reward>: timeout". The stuck worker
// is abandoned (a thread cannot be killed safely) and a fresh one takes its place; the abandoned one
// exits when its reward returns, and its late result is discarded. Abandoned work holds its own
// copies of the samples and rewards, so nothing it touches goes away under it.
#pragma once

#include <map>
#include <memory>
#include <vector>

#include "rewards/reward_set.h"

namespace r1::rewards {

struct BatchStats {
  size_t timeouts = 0;                      // samples given up on
  std::map<std::string, size_t> failures;   // per component: samples where it threw or timed out
};

class BatchScorer {
 public:
  // threads 0: one per core.
  BatchScorer(std::shared_ptr<const RewardSet> rewards, size_t threads = 0,
              std::chrono::milliseconds grace = std::chrono::milliseconds(50));
  std::vector<Score> score(const std::vector<Sample>& samples, BatchStats* stats = nullptr) const;
  const RewardSet& reward_set() const { return *rewards_; }

 private:
  std::shared_ptr<const RewardSet> rewards_;
  size_t threads_;
  std::chrono::milliseconds grace_;
};

}  // namespace r1::rewards
