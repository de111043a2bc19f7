// The engine's tool loop (engine.h, rollout/tools.h): turns that ended go to their sessions, and what
// the sessions answer is appended to the cached sequence (or ends it). Split from engine.cpp by concern.
#include <algorithm>

#include "inference/engine.h"
#include "inference/engine_state.h"
#include "tokenizer/tokenizer.h"

namespace r1::inference {

void Engine::end_turns() {
  for (auto& s : running_) {
    if (!s->turn_ended || s->done) continue;
    Sequence& seq = *s;
    seq.turn_ended = false;
    {
      std::lock_guard<std::mutex> lock(mutex_);
      seq.waiting = true;
      ++waiting_;
    }
    const std::string turn = seq.out.text.substr(std::min(seq.turn_from, seq.out.text.size()));
    const bool call_stop = seq.call_stop;
    seq.call_stop = false;
    // The session answers on its own thread (or at once); the outcome waits for the next step.
    seq.session->end_turn(turn, call_stop, [inbox = inbox_, id = seq.id](rollout::TurnOutcome outcome) {
      // A call may answer after its sequence was aborted, or after the engine is gone: the inbox
      // outlives the engine and drops what comes too late.
      std::lock_guard<std::mutex> hold(inbox->mutex);
      if (!inbox->engine) return;
      Engine& e = *inbox->engine;
      std::lock_guard<std::mutex> lock(e.mutex_);
      e.tool_done_.emplace_back(id, std::move(outcome));
      ++e.events_;
      e.wake_.notify_all();
    });
  }
}

int64_t Engine::apply_tool_outcomes() {
  std::vector<std::pair<uint64_t, rollout::TurnOutcome>> outcomes;
  {
    std::lock_guard<std::mutex> lock(mutex_);
    outcomes.swap(tool_done_);
  }
  int64_t extended = 0;
  for (auto& [id, outcome] : outcomes) {
    auto it = std::find_if(running_.begin(), running_.end(), [id = id](const auto& s) { return s->id == id && s->waiting; });
    if (it == running_.end()) continue;  // aborted meanwhile
    Sequence& seq = **it;
    {
      std::lock_guard<std::mutex> lock(mutex_);
      seq.waiting = false;
      --waiting_;
    }
    rollout::ToolStats& stats = seq.out.tools;
    stats.calls += outcome.calls;
    stats.errors += outcome.errors;
    stats.tool_seconds += outcome.seconds;
    const int64_t budget = seq.group->request.params.max_new_tokens;
    if (!outcome.finished && outcome.append.empty()) outcome.finished = true;  // nothing to go on with
    if (outcome.finished) {
      seq.done = true;
      seq.out.finish_reason = outcome.limit ? FinishReason::kToolLimit : FinishReason::kStop;
    } else if (static_cast<int64_t>(seq.out.ids.size() + outcome.append.size()) >= budget) {
      seq.done = true;  // the tool messages leave no room for another token
      seq.out.finish_reason = FinishReason::kLength;
    } else {
      extend(seq, outcome);
      ++extended;
    }
  }
  return static_cast<int64_t>(outcomes.size()) + extended;
}

// Appends a turn's tool messages to the sequence: one forward pass over the token sampled last (not
// yet in the cache) and the appended ids, at their positions after the cached ones, attending to the
// whole trajectory through the block table; then the next turn's first token is sampled.
void Engine::extend(Sequence& seq, const rollout::TurnOutcome& outcome) {
  const int64_t bs = options_.block_size, L = seq.length, T = 1 + static_cast<int64_t>(outcome.append.size());
  std::vector<int64_t> ids{seq.pending};
  ids.insert(ids.end(), outcome.append.begin(), outcome.append.end());
  std::vector<int64_t> slots(static_cast<size_t>(L + T));
  for (int64_t t = 0; t < L + T; ++t) slots[static_cast<size_t>(t)] = seq.table[static_cast<size_t>(t / bs)] * bs + t % bs;
  const at::Device device = model_->device();
  at::Tensor all = at::tensor(slots, at::kLong).view({1, L + T}).to(device);
  model::PagedStep step;
  step.input_ids = at::tensor(ids, at::kLong).view({1, T}).to(device);
  step.positions = at::arange(L, L + T, model_->options(at::kLong)).view({1, T});
  step.write = all.narrow(1, L, T);
  step.read = all;
  at::Tensor hidden = model_->forward_paged(step, cache_);
  seq.length = L + T;
  // The appended tokens: context, not sampled (log-probability 0, Completion::sampled 0).
  Completion& out = seq.out;
  if (out.sampled.empty()) out.sampled.assign(out.ids.size(), 1);
  out.ids.insert(out.ids.end(), outcome.append.begin(), outcome.append.end());
  out.logprobs.insert(out.logprobs.end(), outcome.append.size(), 0.0f);
  out.sampled.insert(out.sampled.end(), outcome.append.size(), 0);
  out.text += outcome.append_text;
  out.tools.tool_tokens += static_cast<int64_t>(outcome.append.size());
  out.tools.turns += 1;
  seq.turn_from = out.text.size();
  seq.stream = std::make_unique<DecodeStream>(*options_.tokenizer, /*skip_special_tokens=*/true);
  if (seq.group->on_text && !outcome.append_text.empty() && !seq.group->on_text(seq.sample, outcome.append_text)) {
    std::lock_guard<std::mutex> lock(mutex_);
    seq.group->cancelled = true;
  }
  sample({&seq}, model_->logits(hidden.select(1, T - 1)));
}

}  // namespace r1::inference
