/* The C ABI of r1 reward plugins, version 1. A plugin is a shared library exporting these four
 * functions; r1 loads it by path from the reward config ({"name": "plugin", "path": "...", "config": {...}})
 * and refuses it, naming the symbol, when one is missing or the version differs.
 *
 * Threading: r1 may call r1_reward_v1_score from several threads at once on the same state; a plugin
 * that is not thread-safe must lock inside. Strings are UTF-8 and valid during the call only.
 */
#ifndef R1_REWARDS_PLUGIN_ABI_H
#define R1_REWARDS_PLUGIN_ABI_H

#include <stddef.h>

#ifdef __cplusplus
extern "C" {
#endif

#define R1_REWARD_ABI_VERSION 1

typedef struct {
  const char* prompt;
  const char* completion;
  const char* target_language;
  const char* reference_json;  /* the dataset row's reference fields as a JSON object */
  long long completion_tokens; /* -1 when unknown */
  int truncated;
} r1_reward_v1_sample;

typedef struct {
  double value;
  char reason[256]; /* empty, or why (NUL-terminated) */
} r1_reward_v1_result;

/* Returns R1_REWARD_ABI_VERSION. */
int r1_reward_v1_abi_version(void);
/* Creates the plugin's state from its config (a JSON text); NULL with a message in `error` on failure. */
void* r1_reward_v1_create(const char* config_json, char* error, size_t error_size);
/* Scores one sample: 0 on success; non-zero on failure with the reason in result->reason. */
int r1_reward_v1_score(void* state, const r1_reward_v1_sample* sample, r1_reward_v1_result* result);
void r1_reward_v1_destroy(void* state);

#ifdef __cplusplus
}
#endif

#endif
