// The worker's reading of a GenerateRequest (proto/rollout.proto): the group it asks for
// (rollout/group.h), its prompt's token ids (messages rendered through a chat template) and sampling
// parameters checked against the model's limits. No LibTorch.
#pragma once

#include <cstdint>
#include <string>
#include <vector>

#include "core/error.h"
#include "rollout/group.h"

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

// A request the worker cannot run: the message names the field at fault. The service answers it with
// INVALID_ARGUMENT and goes on serving.
struct InvalidRequest : Error {
  using Error::Error;
};

// The request as the engine runs it. A request without params gets SamplingParams' defaults
// (max_new_tokens capped by the room left in the context); a request with params must set n and
// max_new_tokens (0 is refused, as proto3 cannot tell it from unset). Throws InvalidRequest.
GroupRequest prepare_request(const v1::GenerateRequest& request, const ModelLimits& limits, const Tokenizer* tokenizer);

}  // namespace r1::rollout
