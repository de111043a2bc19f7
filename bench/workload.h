// The decode workload of the rollout benchmarks: `prompts` groups of `samples` samples from random
// prompts of `prompt_tokens` tokens, each sample running its whole budget of `new_tokens` (no stop).
#pragma once

#include <cstdint>
#include <random>
#include <vector>

#include "rollout/group.h"

namespace r1::bench {

inline std::vector<rollout::GroupRequest> random_workload(int64_t prompts, int64_t prompt_tokens, int64_t samples,
                                                          int64_t new_tokens, int64_t vocab) {
  std::mt19937_64 rng(1234);
  std::vector<rollout::GroupRequest> qs;
  for (int64_t p = 0; p < prompts; ++p) {
    rollout::GroupRequest q;
    for (int64_t t = 0; t < prompt_tokens; ++t) q.prompt.push_back(static_cast<int64_t>(rng() % static_cast<uint64_t>(vocab)));
    q.params.n = samples;
    q.params.max_new_tokens = new_tokens;
    q.params.temperature = 1.0;
    q.params.seed = static_cast<uint64_t>(p);
    qs.push_back(q);
  }
  return qs;
}

}  // namespace r1::bench
