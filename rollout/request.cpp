#include "rollout/request.h"

#include <algorithm>
#include <cmath>
#include <optional>

#include "core/error.h"
#include "tokenizer/chat_template.h"
#include "tokenizer/tokenizer.h"
#include "proto/rollout.pb.h"

namespace r1::rollout {

Prepared prepare_request(const v1::GenerateRequest& req, const ModelLimits& limits, const Tokenizer* tokenizer) {
  Prepared out;
  PreparedRequest& r = out.request;
  auto fail = [&](const std::string& what) {
    out.error = what;
    return out;
  };
  r.request_id = req.request_id();
  if (r.request_id.size() > 256) return fail("request_id: longer than 256 bytes");

  // The prompt.
  if (req.prompt_case() == v1::GenerateRequest::kPromptIds) {
    const auto& ids = req.prompt_ids().ids();
    if (ids.empty()) return fail("prompt_ids: empty");
    for (int i = 0; i < ids.size(); ++i) {
      if (ids[i] < 0 || ids[i] >= limits.vocab_size)
        return fail("prompt_ids[" + std::to_string(i) + "]: token id " + std::to_string(ids[i]) +
                    " is outside the vocabulary (" + std::to_string(limits.vocab_size) + ")");
      r.prompt.push_back(ids[i]);
    }
  } else if (req.prompt_case() == v1::GenerateRequest::kMessages) {
    if (!tokenizer) return fail("messages: this worker has no tokenizer; send prompt_ids");
    const auto& msgs = req.messages().messages();
    if (msgs.empty()) return fail("messages: empty");
    std::vector<ChatMessage> chat;
    for (int i = 0; i < msgs.size(); ++i) {
      const std::string& role = msgs[i].role();
      if (role != "system" && role != "user" && role != "assistant")
        return fail("messages[" + std::to_string(i) + "].role: '" + role + "' is not system, user or assistant");
      chat.push_back({role, msgs[i].content(), std::nullopt});
    }
    try {
      const std::string& name = req.messages().chat_template();
      ChatTemplate tmpl = name.empty() ? ChatTemplate::detect(*tokenizer) : ChatTemplate::named(name, tokenizer);
      for (int32_t id : tokenizer->encode(tmpl.render(chat))) r.prompt.push_back(id);
    } catch (const Error& e) {
      return fail(std::string("messages: ") + e.what());
    }
    if (r.prompt.empty()) return fail("messages: they render to no tokens");
  } else {
    return fail("prompt: set prompt_ids or messages");
  }

  // Sampling.
  if (req.has_params()) {
    const v1::SamplingParams& p = req.params();
    if (!std::isfinite(p.temperature()) || p.temperature() < 0) return fail("params.temperature: must be a number >= 0");
    r.temperature = p.temperature();
    r.top_p = p.top_p() == 0 ? 1.0 : p.top_p();
    if (!(r.top_p > 0 && r.top_p <= 1)) return fail("params.top_p: must be in (0, 1]");
    if (p.top_k() < 0) return fail("params.top_k: must be >= 0");
    r.top_k = p.top_k();
    if (!(p.min_p() >= 0 && p.min_p() < 1)) return fail("params.min_p: must be in [0, 1)");
    r.min_p = p.min_p();
    if (p.n() < 1) return fail("params.n: must be >= 1");
    if (p.n() > limits.max_n) return fail("params.n: at most " + std::to_string(limits.max_n) + " samples a request");
    r.n = p.n();
    if (p.max_new_tokens() < 1) return fail("params.max_new_tokens: must be >= 1");
    r.max_new_tokens = p.max_new_tokens();
    r.seed = p.seed();
    for (int i = 0; i < p.stop_token_ids_size(); ++i) {
      const int32_t id = p.stop_token_ids(i);
      if (id < 0 || id >= limits.vocab_size)
        return fail("params.stop_token_ids[" + std::to_string(i) + "]: token id " + std::to_string(id) +
                    " is outside the vocabulary (" + std::to_string(limits.vocab_size) + ")");
      r.stop_token_ids.push_back(id);
    }
    for (int i = 0; i < p.stop_size(); ++i) {
      if (p.stop(i).empty()) return fail("params.stop[" + std::to_string(i) + "]: empty");
      if (!tokenizer) return fail("params.stop: this worker has no tokenizer to find stop strings with");
      r.stop.push_back(p.stop(i));
    }
  }
  const int64_t room = limits.context - static_cast<int64_t>(r.prompt.size());
  if (room < 1)
    return fail("prompt: " + std::to_string(r.prompt.size()) + " tokens leave no room in the model's context of " +
                std::to_string(limits.context));
  if (!req.has_params()) r.max_new_tokens = std::min<int64_t>(r.max_new_tokens, room);
  const int64_t total = static_cast<int64_t>(r.prompt.size()) + r.max_new_tokens;
  if (total > limits.context)
    return fail("prompt: " + std::to_string(r.prompt.size()) + " tokens + params.max_new_tokens " +
                std::to_string(r.max_new_tokens) + " exceed the model's context of " + std::to_string(limits.context));
  return out;
}

}  // namespace r1::rollout
