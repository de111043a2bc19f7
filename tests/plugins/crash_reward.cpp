// A reward plugin for tests that crashes on demand: the completion "segv" dereferences null, "abort"
// aborts, "exit" calls exit(3); anything else scores its length. A plugin host must survive each.
#include <cstdlib>
#include <cstring>

#include "rewards/plugin_abi.h"

extern "C" {
int r1_reward_v1_abi_version(void) { return R1_REWARD_ABI_VERSION; }
void* r1_reward_v1_create(const char*, char*, size_t) { static int state; return &state; }
int r1_reward_v1_score(void*, const r1_reward_v1_sample* sample, r1_reward_v1_result* result) {
  const char* c = sample->completion ? sample->completion : "";
  if (std::strcmp(c, "segv") == 0) {
    volatile int* nowhere = nullptr;
    *nowhere = 1;
  }
  if (std::strcmp(c, "abort") == 0) std::abort();
  if (std::strcmp(c, "exit") == 0) std::exit(3);
  result->value = static_cast<double>(std::strlen(c));
  result->reason[0] = '\0';
  return 0;
}
void r1_reward_v1_destroy(void*) {}
}
