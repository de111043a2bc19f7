// rollout/group.h's types to and from the wire: see wire.h.
#include "rollout/wire.h"

namespace r1::rollout {

v1::FinishReason to_proto(FinishReason reason) {
  switch (reason) {
    case FinishReason::kStop: return v1::FINISH_REASON_STOP;
    case FinishReason::kLength: return v1::FINISH_REASON_LENGTH;
    case FinishReason::kAbort: return v1::FINISH_REASON_ABORT;
    case FinishReason::kToolLimit: return v1::FINISH_REASON_TOOL_LIMIT;
  }
  return v1::FINISH_REASON_UNSPECIFIED;
}

FinishReason from_proto(v1::FinishReason reason) {
  if (reason == v1::FINISH_REASON_LENGTH) return FinishReason::kLength;
  if (reason == v1::FINISH_REASON_ABORT) return FinishReason::kAbort;
  if (reason == v1::FINISH_REASON_TOOL_LIMIT) return FinishReason::kToolLimit;
  return FinishReason::kStop;
}

v1::GenerateRequest to_proto(const GroupRequest& request) {
  v1::GenerateRequest out;
  out.set_request_id(request.id);
  auto* ids = out.mutable_prompt_ids();
  for (int64_t id : request.prompt) ids->add_ids(static_cast<int32_t>(id));
  const SamplingParams& p = request.params;
  v1::SamplingParams* w = out.mutable_params();
  w->set_temperature(static_cast<float>(p.temperature));
  w->set_top_p(static_cast<float>(p.top_p));
  w->set_top_k(static_cast<int32_t>(p.top_k));
  w->set_min_p(static_cast<float>(p.min_p));
  w->set_max_new_tokens(static_cast<int32_t>(p.max_new_tokens));
  w->set_n(static_cast<int32_t>(p.n));
  w->set_seed(p.seed);
  for (int64_t id : p.stop_token_ids) w->add_stop_token_ids(static_cast<int32_t>(id));
  for (const auto& s : p.stop_strings) w->add_stop(s);
  out.set_tools_config(request.tools.config);
  return out;
}

v1::Completion to_proto(const Completion& c, const std::string& request_id, int64_t prompt_tokens) {
  v1::Completion out;
  out.set_request_id(request_id);
  out.set_index(static_cast<int32_t>(c.index));
  for (int64_t t : c.ids) out.add_ids(static_cast<int32_t>(t));
  for (float l : c.logprobs) out.add_logprobs(l);
  out.set_text(c.text);
  out.set_finish_reason(to_proto(c.finish_reason));
  out.set_policy_version(c.policy_version);
  out.set_prompt_tokens(static_cast<int32_t>(prompt_tokens));
  if (!c.sampled.empty()) out.set_sampled(std::string(c.sampled.begin(), c.sampled.end()));
  if (c.tools != ToolStats{}) {
    v1::ToolStats* t = out.mutable_tools();
    t->set_turns(static_cast<int32_t>(c.tools.turns));
    t->set_calls(static_cast<int32_t>(c.tools.calls));
    t->set_errors(static_cast<int32_t>(c.tools.errors));
    t->set_tool_tokens(static_cast<int32_t>(c.tools.tool_tokens));
    t->set_tool_seconds(c.tools.tool_seconds);
  }
  return out;
}

Completion from_proto(const v1::Completion& c) {
  Completion out;
  out.index = c.index();
  out.ids.assign(c.ids().begin(), c.ids().end());
  out.logprobs.assign(c.logprobs().begin(), c.logprobs().end());
  out.text = c.text();
  out.finish_reason = from_proto(c.finish_reason());
  out.policy_version = c.policy_version();
  out.sampled.assign(c.sampled().begin(), c.sampled().end());
  if (c.has_tools()) {
    out.tools.turns = c.tools().turns();
    out.tools.calls = c.tools().calls();
    out.tools.errors = c.tools().errors();
    out.tools.tool_tokens = c.tools().tool_tokens();
    out.tools.tool_seconds = c.tools().tool_seconds();
  }
  return out;
}

}  // namespace r1::rollout
