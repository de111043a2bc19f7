// The rollout seam's vocabulary: a group (one prompt and how to sample n completions from it) and a
// completion as it comes back. One type per concept, free of LibTorch and protobuf, shared by
//   - the engine and `r1 generate` (inference/engine.h, inference/generate.h), which run groups,
//   - the worker's service (inference/server.cpp), which receives them over gRPC,
//   - the trainer's client (rollout/client.h) and samplers (run/sampling.h), which send them.
// The wire forms (proto/rollout.proto) are converted in one place: rollout/wire.h.
#pragma once

#include <cstdint>
#include <string>
#include <vector>

#include "rollout/tools.h"

namespace r1::rollout {

struct SamplingParams {
  double temperature = 1.0;  // 0: greedy
  double top_p = 1.0;        // keep the smallest set of tokens whose probability reaches top_p
  int64_t top_k = 0;         // 0: all tokens
  double min_p = 0.0;        // drop tokens below min_p × the most likely token's probability
  int64_t max_new_tokens = 256;
  int64_t n = 1;             // samples of the prompt
  uint64_t seed = 0;         // sample s of the group draws from seed and s: it replays whatever shares its batch
  std::vector<int64_t> stop_token_ids;    // r1::stop_token_ids (tokenizer/chat_template.h) gives the usual set
  std::vector<std::string> stop_strings;  // need a tokenizer where the group runs
  bool operator==(const SamplingParams&) const = default;
};

// One prompt and its n samples.
struct GroupRequest {
  std::string id;                // echoed in every completion (a worker's logs and errors name it)
  std::vector<int64_t> prompt;   // token ids
  SamplingParams params;  // with tools, max_new_tokens bounds the whole trajectory (sampled + appended)
  ToolUse tools;          // multi-turn trajectories with tool calls (rollout/tools.h); default: none
  bool operator==(const GroupRequest&) const = default;
};

// Why a completion ended.
enum class FinishReason {
  kStop,    // a stop token or stop string
  kLength,  // max_new_tokens, or the end of the model's context
  kAbort,   // cancelled: the client went away, a weight update aborted it, the worker shut down
  kToolLimit,  // a trajectory with tools reached its bound on calls, turns or time (rollout/tools.h)
};
inline const char* finish_reason_name(FinishReason reason) {
  return reason == FinishReason::kLength      ? "length"
         : reason == FinishReason::kAbort     ? "abort"
         : reason == FinishReason::kToolLimit ? "tool_limit"
                                              : "stop";
}

struct Completion {
  int64_t index = 0;             // the sample's place in its group, 0..n-1
  std::vector<int64_t> ids;      // the sampled tokens (a stop token included, as it was sampled)
  std::vector<float> logprobs;   // log-probability of each under the distribution it was sampled from
  std::string text;              // decoded, cut before a stop string (empty where no tokenizer was at hand)
  FinishReason finish_reason = FinishReason::kStop;
  uint64_t policy_version = 0;   // the weights that produced every token of it
  // With tools: 1 where the model sampled the token, 0 where a tool message was appended (those have
  // log-probability 0 and no gradient); empty when every token was sampled.
  std::vector<uint8_t> sampled;
  ToolStats tools;               // zero without tools
};

}  // namespace r1::rollout
