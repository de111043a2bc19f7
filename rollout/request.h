// A GenerateRequest (proto/rollout.proto) turned into what the engine runs: the prompt's token ids
// (messages rendered through a chat template) and checked sampling parameters. Every problem is one
// message naming the field at fault, which the service returns as INVALID_ARGUMENT while it goes on
// serving. No LibTorch.
#pragma once

#include <cstdint>
#include <string>
#include <vector>

namespace r1 {
class Tokenizer;
namespace v1 {
class GenerateRequest;
}
}  // namespace r1

namespace r1::rollout {

struct ModelLimits {
  int64_t vocab_size = 0;
  int64_t context = 0;       // max_position_embeddings
  int64_t max_n = 64;        // samples per request
};

struct PreparedRequest {
  std::string request_id;
  std::vector<int64_t> prompt;
  double temperature = 1.0, top_p = 1.0, min_p = 0.0;
  int64_t top_k = 0, max_new_tokens = 256, n = 1;
  uint64_t seed = 0;
  std::vector<int64_t> stop_token_ids;
  std::vector<std::string> stop;
};

// `error` empty: `request` is ready. A request without params gets the defaults above (max_new_tokens
// capped by the room left in the context); a request with params must set n and max_new_tokens (0 is
// refused, as proto3 cannot tell it from unset).
struct Prepared {
  PreparedRequest request;
  std::string error;
};
Prepared prepare_request(const v1::GenerateRequest& request, const ModelLimits& limits, const Tokenizer* tokenizer);

}  // namespace r1::rollout
