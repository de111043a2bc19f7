// A reward plugin for tests that speaks a future ABI version.
#include <cstddef>
extern "C" {
int r1_reward_v1_abi_version(void) { return 2; }
void* r1_reward_v1_create(const char*, char*, size_t) { return nullptr; }
int r1_reward_v1_score(void*, const void*, void*) { return 1; }
void r1_reward_v1_destroy(void*) {}
}
