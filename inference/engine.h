// The inference engine behind r1 generate and the rollout workers: continuous batching over a paged
// KV cache (model/transformer.h's PagedKV).
//
// - Groups (a prompt and n samples) wait in a queue and join the running batch between decode steps;
//   finished samples leave at once and give their blocks back. The n samples of a group share one
//   prefill and the prompt's full blocks.
// - A group with tools (rollout/tools.h) samples multi-turn trajectories: at the end of a model turn
//   the sequence waits, its blocks kept, while its ToolSession runs the turn's calls off this thread
//   (the others decode on); the tool messages that come back are appended to the cache in one forward
//   pass over just them (never a prefill of the trajectory so far) and the sequence samples on.
// - The cache is one budget of blocks allocated up front. A group is admitted only when every block
//   it can ever need (prompt + max_new_tokens for each sample; with tools, max_new_tokens bounds the
//   sampled and appended tokens together) is free, so no load makes the engine
//   run out of memory: groups wait instead. A group that could never fit is refused when submitted.
// - Weight updates swap the whole model between steps: every sequence runs on one version from its
//   first token to its last (those running finish on the old weights first, or are aborted).
//
// One thread drives the engine (step(), or run() on a thread of its own); submit(), cancel(),
// update_weights() and status() may be called from any thread.
#pragma once

#include <condition_variable>
#include <cstdint>
#include <deque>
#include <functional>
#include <map>
#include <memory>
#include <mutex>
#include <string>
#include <vector>

#include "core/error.h"
#include "inference/generate.h"
#include "model/transformer.h"
#include "rollout/tools.h"

namespace r1 {
class Tokenizer;
}

namespace r1::inference {

struct EngineOptions {
  int64_t kv_cache_tokens = 16384;  // the KV budget in tokens (all layers' keys and values)
  int64_t block_size = 16;          // tokens per cache block
  int64_t max_running = 256;        // sequences decoded together at most
  const Tokenizer* tokenizer = nullptr;  // for stop strings and text
  // Runs the tool calls of groups that ask for tools (tools/tool_host.h); null: such groups are refused.
  std::shared_ptr<rollout::ToolProvider> tools;
};

// A group that needs more KV cache than the whole budget: it could never run on this engine (a worker
// answers RESOURCE_EXHAUSTED, not INVALID_ARGUMENT: a worker with a larger cache could run it).
struct KvBudgetError : Error {
  using Error::Error;
};

// The KV budget in tokens that `megabytes` of cache holds for `model`.
int64_t kv_tokens_for_megabytes(const model::Transformer& model, double megabytes);
// The KV budget in tokens of `megabytes`, or, when `fraction` > 0, of that share of the free memory of
// the model's device now (model/device.h): a worker's --kv-cache-mb / --kv-cache-fraction.
int64_t kv_tokens_for_budget(const model::Transformer& model, double megabytes, double fraction);

struct EngineStatus {
  uint64_t version = 0;
  int64_t queued_groups = 0, running_sequences = 0;
  int64_t kv_blocks_used = 0, kv_blocks_total = 0, kv_cache_tokens = 0;
  double tokens_per_second = 0;  // sampled tokens, over the last few seconds
  uint64_t tokens_generated = 0;
};

class Engine {
 public:
  using GroupId = uint64_t;
  // Called on the engine's thread for each sample as it finishes (every sample of a group exactly once,
  // aborted ones too); its index and policy_version (the weights that produced all of it) are set.
  using OnCompletion = std::function<void(Completion&& completion)>;
  // Called on the engine's thread after each sampled token, with the text that became complete
  // (empty without a tokenizer); false cancels the group.
  using OnText = std::function<bool(int64_t sample, const std::string& piece)>;

  Engine(std::shared_ptr<const model::Transformer> model, EngineOptions options, uint64_t version = 0);
  ~Engine();
  Engine(const Engine&) = delete;
  Engine& operator=(const Engine&) = delete;

  // Queues a group. Throws r1::Error (naming the problem) for a malformed request, and KvBudgetError
  // for one that could never fit in the KV budget; nothing is queued then.
  GroupId submit(GroupRequest request, OnCompletion on_completion, OnText on_text = {});
  // The group's unfinished samples end with finish reason kAbort (queued: before they start). Unknown
  // or finished groups are ignored.
  void cancel(GroupId group);

  // Puts `model` into service as `version` at the next safe point: at once when nothing runs; else the
  // running sequences first finish on the old weights (queued groups wait) or, with abort_in_flight,
  // end with kAbort. Returns when the new weights are in service. The model must have this engine's
  // config; throws r1::Error otherwise.
  void update_weights(std::shared_ptr<const model::Transformer> model, uint64_t version, bool abort_in_flight);

  // One round: admit what fits, prefill it, append the tool messages that came back, one decode step
  // for every running sequence not waiting for its tools. Returns false when there was nothing to do;
  // when every running sequence waits for its tools, waits (briefly) for one of them and returns true.
  bool step();
  // step() until stop(); sleeps while idle.
  void run();
  void stop();
  // Runs `task` on the thread in run() between two steps and returns once it has run, rethrowing its
  // exception; runs it on the calling thread when no run() loop is active. A worker keeps all its
  // tensor work on one thread this way: with OpenMP, every thread that runs a parallel region keeps a
  // team of its own, and once a process has more team threads than cores, libgomp stops spinning
  // between regions and every decode step pays for sleeping threads' wake-ups (~20% of a worker's
  // throughput on 2 cores; docs/benchmarks.md, "Rollout").
  void call(const std::function<void()>& task);

  EngineStatus status() const;
  std::shared_ptr<const model::Transformer> model() const;
  uint64_t version() const;

 private:
  struct Group;
  struct Sequence;
  struct WeightUpdate;

  void admit_locked(std::vector<std::shared_ptr<Group>>& admitted);
  void prefill(const std::shared_ptr<Group>& group);
  int64_t decode();  // returns the sequences decoded
  // Draws the next token of each of `rows` from logits [rows, vocab] in one batch on the model's
  // device (inference/sampling.h), then accept()s each.
  void sample(const std::vector<Sequence*>& rows, const at::Tensor& logits);
  void accept(Sequence& seq, int64_t token, float logprob);  // stops, text, budget; on the host
  void finish(Sequence& seq);
  // Tools: hands the turns that just ended to their sessions; appends (or ends on) what came back.
  void end_turns();
  int64_t apply_tool_outcomes();  // returns the outcomes applied and extensions sampled
  void extend(Sequence& seq, const rollout::TurnOutcome& outcome);
  void apply_weight_update_if_ready();
  struct BlockPlan {
    int64_t shared, own;  // blocks of the prompt shared by a group's samples; blocks each sample owns
  };
  BlockPlan block_plan(const GroupRequest& request) const;
  void retire();                 // finished sequences leave and give their blocks back
  void abort_queued(Group& g);   // every sample of a group that never started ends as aborted
  int64_t allocate_block();
  void release_block(int64_t block);

  EngineOptions options_;
  std::shared_ptr<const model::Transformer> model_;  // swapped only by the engine's thread, under mutex_
  uint64_t version_;
  model::PagedKV cache_;
  std::vector<int64_t> free_blocks_;
  std::vector<int32_t> block_refs_;
  std::vector<std::unique_ptr<Sequence>> running_;

  mutable std::mutex mutex_;
  std::condition_variable wake_, updated_;
  std::deque<std::shared_ptr<Group>> queue_;
  std::map<GroupId, std::shared_ptr<Group>> groups_;  // queued or running
  std::shared_ptr<WeightUpdate> update_;
  GroupId next_group_ = 1;
  bool stopping_ = false, looping_ = false;
  std::deque<std::function<void()>> tasks_;  // call()'s, for the run() loop
  int64_t running_count_ = 0, blocks_used_ = 0;
  // Tools: sequences waiting for their session, and the outcomes that came back (by sequence id).
  int64_t waiting_ = 0;
  uint64_t next_sequence_ = 1, events_ = 0;  // events_: anything that may give a waiting step work
  std::vector<std::pair<uint64_t, rollout::TurnOutcome>> tool_done_;
  struct ToolInbox {  // where sessions' answers go; cleared when the engine goes
    std::mutex mutex;
    Engine* engine = nullptr;
  };
  std::shared_ptr<ToolInbox> inbox_ = std::make_shared<ToolInbox>();

  std::deque<std::pair<double, int64_t>> rate_window_;  // (seconds, tokens) per step, last few seconds
  uint64_t tokens_generated_ = 0;
};

}  // namespace r1::inference
