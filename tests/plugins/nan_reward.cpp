// A reward plugin for tests that answers NaN, or +infinity when the completion says "inf": a reward
// must never hand a non-finite value to the advantages.
#include <cmath>
#include <cstring>
#include <limits>

#include "rewards/plugin_abi.h"

extern "C" {
int r1_reward_v1_abi_version(void) { return R1_REWARD_ABI_VERSION; }
void* r1_reward_v1_create(const char*, char*, size_t) { static int state; return &state; }
int r1_reward_v1_score(void*, const r1_reward_v1_sample* sample, r1_reward_v1_result* result) {
  bool inf = sample->completion && std::strcmp(sample->completion, "inf") == 0;
  result->value = inf ? std::numeric_limits<double>::infinity() : std::nan("");
  result->reason[0] = '\0';
  return 0;
}
void r1_reward_v1_destroy(void*) {}
}
