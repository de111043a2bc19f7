// The rollout seam on the wire: rollout/group.h's types to and from proto/rollout.proto's messages.
// Every field copy between the two lives here, so the protocol has one translation and the rest of
// r1 never sees protobuf: the client (rollout/client.cpp) sends with these, the worker's service
// (inference/server.cpp) receives with rollout/request.h's checked reading and answers with these.
#pragma once

#include <cstdint>
#include <string>

#include "proto/rollout.pb.h"
#include "rollout/group.h"

namespace r1::rollout {

v1::FinishReason to_proto(FinishReason reason);
// FINISH_REASON_UNSPECIFIED (a worker of another build) reads as kStop: the sample ended on its own.
FinishReason from_proto(v1::FinishReason reason);

// Every parameter is written, so the worker reads exactly these (a request without params would get
// the worker's defaults instead).
v1::GenerateRequest to_proto(const GroupRequest& request);

v1::Completion to_proto(const Completion& completion, const std::string& request_id, int64_t prompt_tokens);
Completion from_proto(const v1::Completion& completion);

}  // namespace r1::rollout
