// A broken reward plugin for tests: r1_reward_v1_destroy is missing.
#include <cstddef>
extern "C" {
int r1_reward_v1_abi_version(void) { return 1; }
void* r1_reward_v1_create(const char*, char*, size_t) { return nullptr; }
int r1_reward_v1_score(void*, const void*, void*) { return 1; }
}
