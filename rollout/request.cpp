#include "rollout/request.h"

#include <algorithm>
#include <cmath>
#include <optional>

#include "core/error.h"
#include "tokenizer/chat_template.h"
#include "tokenizer/tokenizer.h"
#include "proto/rollout.pb.h"

namespace r1::rollout {

namespace {

// The prompt's token ids: given, or the messages rendered through the chat template and encoded.
std::vector<int64_t> read_prompt(const v1::GenerateRequest& req, const ModelLimits& limits, const Tokenizer* tokenizer) {
  std::vector<int64_t> prompt;
  if (req.prompt_case() == v1::GenerateRequest::kPromptIds) {
    const auto& ids = req.prompt_ids().ids();
    if (ids.empty()) throw InvalidRequest("prompt_ids: empty");
    for (int i = 0; i < ids.size(); ++i) {
      if (ids[i] < 0 || ids[i] >= limits.vocab_size)
        throw InvalidRequest("prompt_ids[" + std::to_string(i) + "]: token id " + std::to_string(ids[i]) +
                    " is outside the vocabulary (" + std::to_string(limits.vocab_size) + ")");
      prompt.push_back(ids[i]);
    }
  } else if (req.prompt_case() == v1::GenerateRequest::kMessages) {
    if (!tokenizer) throw InvalidRequest("messages: this worker has no tokenizer; send prompt_ids");
    const auto& msgs = req.messages().messages();
    if (msgs.empty()) throw InvalidRequest("messages: empty");
    std::vector<ChatMessage> chat;
    for (int i = 0; i < msgs.size(); ++i) {
      const std::string& role = msgs[i].role();
      if (role != "system" && role != "user" && role != "assistant")
        throw InvalidRequest("messages[" + std::to_string(i) + "].role: '" + role + "' is not system, user or assistant");
      chat.push_back({role, msgs[i].content(), std::nullopt});
    }
    try {
      const std::string& name = req.messages().chat_template();
      ChatTemplate tmpl = name.empty() ? ChatTemplate::detect(*tokenizer) : ChatTemplate::named(name, tokenizer);
      for (int32_t id : tokenizer->encode(tmpl.render(chat))) prompt.push_back(id);
    } catch (const Error& e) {
      throw InvalidRequest(std::string("messages: ") + e.what());
    }
    if (prompt.empty()) throw InvalidRequest("messages: they render to no tokens");
  } else {
    throw InvalidRequest("prompt: set prompt_ids or messages");
  }

  return prompt;
}

SamplingParams read_params(const v1::SamplingParams& p, const ModelLimits& limits, const Tokenizer* tokenizer) {
  SamplingParams params;
  if (!std::isfinite(p.temperature()) || p.temperature() < 0) throw InvalidRequest("params.temperature: must be a number >= 0");
  params.temperature = p.temperature();
  params.top_p = p.top_p() == 0 ? 1.0 : p.top_p();
  if (!(params.top_p > 0 && params.top_p <= 1)) throw InvalidRequest("params.top_p: must be in (0, 1]");
  if (p.top_k() < 0) throw InvalidRequest("params.top_k: must be >= 0");
  params.top_k = p.top_k();
  if (!(p.min_p() >= 0 && p.min_p() < 1)) throw InvalidRequest("params.min_p: must be in [0, 1)");
  params.min_p = p.min_p();
  if (p.n() < 1) throw InvalidRequest("params.n: must be >= 1");
  if (p.n() > limits.max_n) throw InvalidRequest("params.n: at most " + std::to_string(limits.max_n) + " samples a request");
  params.n = p.n();
  if (p.max_new_tokens() < 1) throw InvalidRequest("params.max_new_tokens: must be >= 1");
  params.max_new_tokens = p.max_new_tokens();
  params.seed = p.seed();
  for (int i = 0; i < p.stop_token_ids_size(); ++i) {
    const int32_t id = p.stop_token_ids(i);
    if (id < 0 || id >= limits.vocab_size)
      throw InvalidRequest("params.stop_token_ids[" + std::to_string(i) + "]: token id " + std::to_string(id) +
                  " is outside the vocabulary (" + std::to_string(limits.vocab_size) + ")");
    params.stop_token_ids.push_back(id);
  }
  for (int i = 0; i < p.stop_size(); ++i) {
    if (p.stop(i).empty()) throw InvalidRequest("params.stop[" + std::to_string(i) + "]: empty");
    if (!tokenizer) throw InvalidRequest("params.stop: this worker has no tokenizer to find stop strings with");
    params.stop_strings.push_back(p.stop(i));
  }
  return params;
}

}  // namespace

GroupRequest prepare_request(const v1::GenerateRequest& req, const ModelLimits& limits, const Tokenizer* tokenizer) {
  GroupRequest r;
  r.id = req.request_id();
  if (r.id.size() > 256) throw InvalidRequest("request_id: longer than 256 bytes");
  r.prompt = read_prompt(req, limits, tokenizer);
  if (req.has_params()) r.params = read_params(req.params(), limits, tokenizer);
  SamplingParams& params = r.params;
  const int64_t room = limits.context - static_cast<int64_t>(r.prompt.size());
  if (room < 1)
    throw InvalidRequest("prompt: " + std::to_string(r.prompt.size()) + " tokens leave no room in the model's context of " +
                std::to_string(limits.context));
  if (!req.has_params()) params.max_new_tokens = std::min<int64_t>(params.max_new_tokens, room);
  const int64_t total = static_cast<int64_t>(r.prompt.size()) + params.max_new_tokens;
  if (total > limits.context)
    throw InvalidRequest("prompt: " + std::to_string(r.prompt.size()) + " tokens + params.max_new_tokens " +
                std::to_string(params.max_new_tokens) + " exceed the model's context of " + std::to_string(limits.context));
  if (req.tools_config().size() > (1u << 20)) throw InvalidRequest("tools_config: longer than 1 MiB");
  r.tools.config = req.tools_config();  // the worker's tool provider checks it (Engine::submit)
  return r;
}

}  // namespace r1::rollout
