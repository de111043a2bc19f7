#include "inference/engine.h"
#include "inference/engine_state.h"

#include <algorithm>
#include <chrono>
#include <cmath>

#include "core/error.h"
#include "inference/sampling.h"
#include "model/device.h"
#include "tokenizer/tokenizer.h"

namespace r1::inference {
namespace {

uint64_t splitmix(uint64_t x) {
  x += 0x9e3779b97f4a7c15ull;
  x = (x ^ (x >> 30)) * 0xbf58476d1ce4e5b9ull;
  x = (x ^ (x >> 27)) * 0x94d049bb133111ebull;
  return x ^ (x >> 31);
}

double now_seconds() {
  return std::chrono::duration<double>(std::chrono::steady_clock::now().time_since_epoch()).count();
}

void check_request(const GroupRequest& q, const checkpoint::ModelConfig& config, const Tokenizer* tok) {
  const SamplingParams& p = q.params;
  if (!(p.temperature >= 0) || !std::isfinite(p.temperature)) throw Error("temperature must be >= 0");
  if (!(p.top_p > 0 && p.top_p <= 1)) throw Error("top_p must be in (0, 1]");
  if (p.top_k < 0) throw Error("top_k must be >= 0");
  if (!(p.min_p >= 0 && p.min_p < 1)) throw Error("min_p must be in [0, 1)");
  if (p.max_new_tokens < 1) throw Error("max_new_tokens must be >= 1");
  if (p.n < 1) throw Error("n must be >= 1");
  if (!p.stop_strings.empty() && !tok) throw Error("stop strings need a tokenizer");
  for (const auto& s : p.stop_strings)
    if (s.empty()) throw Error("an empty stop string");
  if (q.prompt.empty()) throw Error("an empty prompt");
  for (int64_t id : q.prompt)
    if (id < 0 || id >= config.vocab_size)
      throw Error("token id " + std::to_string(id) + " is outside the vocabulary (" + std::to_string(config.vocab_size) + ")");
  const int64_t context = config.max_position_embeddings;
  if (static_cast<int64_t>(q.prompt.size()) + p.max_new_tokens > context)
    throw Error("the prompt (" + std::to_string(q.prompt.size()) + " tokens) and max_new_tokens (" +
                std::to_string(p.max_new_tokens) + ") exceed the model's context of " + std::to_string(context) + " tokens");
}

}  // namespace

int64_t kv_tokens_for_budget(const model::Transformer& model, double megabytes, double fraction) {
  if (fraction > 0) megabytes = fraction * static_cast<double>(model::free_memory_bytes(model.device())) / 1048576.0;
  return kv_tokens_for_megabytes(model, megabytes);
}

int64_t kv_tokens_for_megabytes(const model::Transformer& model, double megabytes) {
  return static_cast<int64_t>(megabytes * 1024.0 * 1024.0 / static_cast<double>(model.kv_bytes_per_token()));
}

struct Engine::WeightUpdate {
  std::shared_ptr<const model::Transformer> model;
  uint64_t version = 0;
  bool abort_in_flight = false;
  bool done = false;
};

Engine::Engine(std::shared_ptr<const model::Transformer> model, EngineOptions options, uint64_t version)
    : options_(options), model_(std::move(model)), version_(version) {
  inbox_->engine = this;
  if (!model_) throw Error("engine: no model");
  if (options_.block_size < 1) throw Error("engine: block_size must be >= 1");
  if (options_.max_running < 1) throw Error("engine: max_running must be >= 1");
  const int64_t usable = options_.kv_cache_tokens / options_.block_size;
  if (usable < 1)
    throw Error("engine: a KV cache of " + std::to_string(options_.kv_cache_tokens) + " tokens holds no block of " +
                std::to_string(options_.block_size));
  // Block 0 is scratch: rows' unused read slots point at it; it is never handed out.
  cache_ = model_->new_paged_cache(usable + 1, options_.block_size);
  block_refs_.assign(static_cast<size_t>(usable + 1), 0);
  for (int64_t b = usable; b >= 1; --b) free_blocks_.push_back(b);
}

Engine::~Engine() {
  stop();
  std::lock_guard<std::mutex> hold(inbox_->mutex);
  inbox_->engine = nullptr;
}

Engine::BlockPlan Engine::block_plan(const GroupRequest& q) const {
  const int64_t bs = options_.block_size, P = static_cast<int64_t>(q.prompt.size());
  // The last sampled token is never fed back, so a sample caches at most P + max_new - 1 tokens. The
  // prompt's full blocks are shared; the rest (its partial block included) are each sample's own.
  const int64_t most = P + q.params.max_new_tokens - 1, shared = P / bs;
  return {shared, (most + bs - 1) / bs - shared};
}

Engine::GroupId Engine::submit(GroupRequest request, OnCompletion on_completion, OnText on_text) {
  auto group = std::make_shared<Group>();
  {
    std::lock_guard<std::mutex> lock(mutex_);
    check_request(request, model_->config(), options_.tokenizer);
  }
  if (request.tools.enabled()) {
    if (!options_.tools) throw Error("this engine runs no tools (the request asks for them)");
    if (!options_.tokenizer) throw Error("tools need a tokenizer");
    options_.tools->check(request.tools);
    group->call_stops = options_.tools->call_stops(request.tools);
  }
  const BlockPlan plan = block_plan(request);
  group->blocks = plan.shared + request.params.n * plan.own;
  const int64_t total = static_cast<int64_t>(block_refs_.size()) - 1;
  if (group->blocks > total)
    throw KvBudgetError("the request needs " + std::to_string(group->blocks * options_.block_size) +
                " tokens of KV cache (prompt + max_new_tokens for each of n = " + std::to_string(request.params.n) +
                " samples) and the budget is " + std::to_string(total * options_.block_size));
  group->unfinished = request.params.n;
  group->request = std::move(request);
  group->on_completion = std::move(on_completion);
  group->on_text = std::move(on_text);
  std::lock_guard<std::mutex> lock(mutex_);
  group->id = next_group_++;
  groups_[group->id] = group;
  queue_.push_back(group);
  ++events_;
  wake_.notify_all();
  return group->id;
}

void Engine::cancel(GroupId id) {
  std::lock_guard<std::mutex> lock(mutex_);
  auto it = groups_.find(id);
  if (it == groups_.end()) return;
  it->second->cancelled = true;
  ++events_;
  wake_.notify_all();
}

void Engine::update_weights(std::shared_ptr<const model::Transformer> model, uint64_t version, bool abort_in_flight) {
  if (!model) throw Error("update_weights: no model");
  if (model->dtype() != model_->dtype() || model->device() != model_->device() ||
      checkpoint::model_config_json(model->config()) != checkpoint::model_config_json(model_->config()))
    throw Error("update_weights: the new model's config, dtype or device differs from the one in service");
  auto update = std::make_shared<WeightUpdate>();
  update->model = std::move(model);
  update->version = version;
  update->abort_in_flight = abort_in_flight;
  std::unique_lock<std::mutex> lock(mutex_);
  updated_.wait(lock, [&] { return !update_ || stopping_; });  // one update at a time
  if (stopping_) throw Error("update_weights: the engine is stopping");
  update_ = update;
  ++events_;
  wake_.notify_all();
  updated_.wait(lock, [&] { return update->done || stopping_; });
  if (!update->done) throw Error("update_weights: the engine stopped before the new weights went into service");
}

int64_t Engine::allocate_block() {
  const int64_t b = free_blocks_.back();
  free_blocks_.pop_back();
  block_refs_[static_cast<size_t>(b)] = 1;
  return b;
}

void Engine::release_block(int64_t b) {
  if (--block_refs_[static_cast<size_t>(b)] == 0) free_blocks_.push_back(b);
}

void Engine::finish(Sequence& seq) {
  for (int64_t b : seq.table) release_block(b);
  seq.table.clear();
  seq.session.reset();  // a call still in flight answers a sequence that is gone: apply_tool_outcomes drops it
  {
    std::lock_guard<std::mutex> lock(mutex_);
    if (seq.waiting) --waiting_;
    seq.waiting = false;
    blocks_used_ = static_cast<int64_t>(block_refs_.size()) - 1 - static_cast<int64_t>(free_blocks_.size());
    --running_count_;
    if (--seq.group->unfinished == 0) groups_.erase(seq.group->id);
  }
  seq.out.index = seq.sample;
  seq.out.policy_version = version_;
  if (seq.group->on_completion) seq.group->on_completion(std::move(seq.out));
}

void Engine::sample(const std::vector<Sequence*>& rows, const at::Tensor& logits) {
  std::vector<const SamplingParams*> params;
  std::vector<uint64_t> keys;
  for (const Sequence* seq : rows) {
    params.push_back(&seq->group->request.params);
    keys.push_back(splitmix(seq->noise ^ splitmix(static_cast<uint64_t>(seq->out.ids.size()))));
  }
  Draw draw = draw_tokens(logits, params, keys);
  for (size_t r = 0; r < rows.size(); ++r) accept(*rows[r], draw.tokens[r], draw.logprobs[r]);
}

// Records the token drawn for `seq`; marks the sequence done at a stop id, a stop string or its budget.
void Engine::accept(Sequence& seq, int64_t token, float logprob) {
  const SamplingParams& p = seq.group->request.params;
  seq.pending = token;
  seq.out.ids.push_back(token);
  seq.out.logprobs.push_back(logprob);
  if (!seq.out.sampled.empty()) seq.out.sampled.push_back(1);
  std::string piece;
  // The model's vocabulary may be larger than the tokenizer's (Qwen2.5 pads 151,665 tokens to 151,936
  // rows): a sampled id the tokenizer does not have is returned with the others but adds no text, as in
  // Hugging Face's decode and vLLM.
  if (seq.stream && token < static_cast<int64_t>(options_.tokenizer->vocab_size()))
    piece = seq.stream->step(static_cast<int32_t>(token));
  if (std::find(p.stop_token_ids.begin(), p.stop_token_ids.end(), token) != p.stop_token_ids.end()) {
    seq.done = true;
    seq.out.finish_reason = FinishReason::kStop;
  }
  if (!piece.empty()) {
    const size_t from = seq.out.text.size();
    seq.out.text += piece;
    for (const std::string& stop : p.stop_strings) {
      size_t at = seq.out.text.find(stop, from >= stop.size() ? from - stop.size() + 1 : 0);
      if (at != std::string::npos) {
        piece = piece.substr(0, std::min(piece.size(), at > from ? at - from : 0));
        seq.out.text.resize(at);
        seq.done = true;
        seq.out.finish_reason = FinishReason::kStop;
      }
    }
  }
  if (!seq.done && !seq.group->call_stops.empty() && !piece.empty()) {
    // A call stop ends the turn and stays in the text: the tools parse the call out of it.
    const size_t from = seq.out.text.size() - piece.size();
    for (const std::string& stop : seq.group->call_stops) {
      size_t at = seq.out.text.find(stop, from >= stop.size() ? from - stop.size() + 1 : 0);
      if (at != std::string::npos) {
        const size_t end = at + stop.size();
        piece = piece.substr(0, piece.size() - std::min(piece.size(), seq.out.text.size() - end));
        seq.out.text.resize(end);
        seq.turn_ended = seq.call_stop = true;
        break;
      }
    }
  }
  if (seq.done && seq.session && seq.out.finish_reason == FinishReason::kStop) {
    seq.done = false;  // the end of a turn: the tools say whether the trajectory goes on
    seq.turn_ended = true;
  }
  const bool over_budget = static_cast<int64_t>(seq.out.ids.size()) >= p.max_new_tokens;
  if (seq.turn_ended && over_budget) {
    seq.turn_ended = false;  // no room for another turn: the trajectory ends at its budget
    seq.done = true;
    seq.out.finish_reason = FinishReason::kLength;
  }
  if (!seq.done && !seq.turn_ended && over_budget) {
    seq.done = true;
    seq.out.finish_reason = FinishReason::kLength;
  }
  if (seq.done && seq.stream && seq.out.finish_reason != FinishReason::kStop) {
    std::string tail = seq.stream->finish();
    seq.out.text += tail;
    piece += tail;
  }
  if (seq.group->on_text && !seq.group->on_text(seq.sample, piece)) {
    std::lock_guard<std::mutex> lock(mutex_);
    seq.group->cancelled = true;
  }
}

void Engine::prefill(const std::shared_ptr<Group>& group) {
  const GroupRequest& q = group->request;
  const int64_t bs = options_.block_size, P = static_cast<int64_t>(q.prompt.size()), n = q.params.n;
  const auto [shared, own] = block_plan(q);
  std::vector<int64_t> shared_blocks;
  for (int64_t i = 0; i < shared; ++i) shared_blocks.push_back(allocate_block());
  std::vector<std::unique_ptr<Sequence>> seqs;
  for (int64_t s = 0; s < n; ++s) {
    auto seq = std::make_unique<Sequence>();
    seq->sample = s;
    seq->table = shared_blocks;
    for (int64_t b : shared_blocks) block_refs_[static_cast<size_t>(b)] += s > 0 ? 1 : 0;
    for (int64_t i = 0; i < own; ++i) seq->table.push_back(allocate_block());
    seq->length = P;
    seq->noise = splitmix(q.params.seed ^ splitmix(static_cast<uint64_t>(s)));
    seq->id = next_sequence_++;
    if (q.tools.enabled()) {
      seq->session = options_.tools->open(q.tools);
      seq->out.tools.turns = 1;
    }
    if (options_.tokenizer) seq->stream = std::make_unique<DecodeStream>(*options_.tokenizer, /*skip_special_tokens=*/true);
    seqs.push_back(std::move(seq));
  }
  auto slot = [&](const Sequence& seq, int64_t t) { return seq.table[static_cast<size_t>(t / bs)] * bs + t % bs; };
  std::vector<int64_t> slots(static_cast<size_t>(P));
  for (int64_t t = 0; t < P; ++t) slots[static_cast<size_t>(t)] = slot(*seqs[0], t);
  model::PagedStep step;
  const at::Device device = model_->device();
  step.input_ids = at::tensor(q.prompt, at::kLong).view({1, P}).to(device);
  step.positions = at::arange(P, model_->options(at::kLong)).view({1, P});
  step.write = at::tensor(slots, at::kLong).view({1, P}).to(device);
  step.read = step.write;
  at::Tensor hidden = model_->forward_paged(step, cache_);
  // The prompt's last, partial block is each sample's own: copy sample 0's.
  if (P % bs != 0 && n > 1) {
    std::vector<int64_t> src, dst_all;
    for (int64_t t = shared * bs; t < P; ++t) src.push_back(slot(*seqs[0], t));
    at::Tensor src_t = at::tensor(src, at::kLong).to(device);
    for (int64_t s = 1; s < n; ++s)
      for (int64_t t = shared * bs; t < P; ++t) dst_all.push_back(slot(*seqs[static_cast<size_t>(s)], t));
    at::Tensor dst = at::tensor(dst_all, at::kLong).to(device), from = src_t.repeat({n - 1});
    for (size_t l = 0; l < cache_.k.size(); ++l) {
      cache_.k[l].index_copy_(1, dst, cache_.k[l].index_select(1, from));
      cache_.v[l].index_copy_(1, dst, cache_.v[l].index_select(1, from));
    }
  }
  at::Tensor logits = model_->logits(hidden.select(1, P - 1));  // [1, vocab], shared by the n samples
  std::vector<Sequence*> rows;
  for (auto& seq : seqs) {
    seq->group = group;
    rows.push_back(seq.get());
  }
  sample(rows, logits.expand({n, logits.size(1)}));
  for (auto& seq : seqs) running_.push_back(std::move(seq));
}

int64_t Engine::decode() {
  std::vector<Sequence*> active;
  for (auto& s : running_)
    if (!s->waiting && !s->done && !s->turn_ended) active.push_back(s.get());
  const int64_t B = static_cast<int64_t>(active.size()), bs = options_.block_size;
  if (B == 0) return 0;
  int64_t longest = 0;
  size_t widest = 0;
  for (const Sequence* s : active) {
    longest = std::max(longest, s->length + 1);
    widest = std::max(widest, s->table.size());
  }
  std::vector<int64_t> ids(static_cast<size_t>(B)), pos(static_cast<size_t>(B)), write(static_cast<size_t>(B));
  std::vector<int64_t> tables(static_cast<size_t>(B) * widest, 0);  // block 0: scratch
  for (int64_t r = 0; r < B; ++r) {
    const Sequence& s = *active[static_cast<size_t>(r)];
    ids[static_cast<size_t>(r)] = s.pending;
    pos[static_cast<size_t>(r)] = s.length;
    write[static_cast<size_t>(r)] = s.table[static_cast<size_t>(s.length / bs)] * bs + s.length % bs;
    std::copy(s.table.begin(), s.table.end(), tables.begin() + static_cast<std::ptrdiff_t>(static_cast<size_t>(r) * widest));
  }
  model::PagedStep step;
  // The step's inputs go to the device in one copy: ids, positions, write slots, then the block tables.
  std::vector<int64_t> host;
  host.reserve(3 * static_cast<size_t>(B) + tables.size());
  for (const auto* part : {&ids, &pos, &write, &tables}) host.insert(host.end(), part->begin(), part->end());
  at::Tensor all = at::tensor(host, at::kLong).to(model_->device());
  step.input_ids = all.narrow(0, 0, B).view({B, 1});
  step.positions = all.narrow(0, B, B).view({B, 1});
  step.write = all.narrow(0, 2 * B, B).view({B, 1});
  at::Tensor table = all.narrow(0, 3 * B, B * static_cast<int64_t>(widest)).view({B, static_cast<int64_t>(widest)});
  step.read = (table.unsqueeze(2) * bs + at::arange(bs, model_->options(at::kLong))).view({B, -1}).narrow(1, 0, longest);
  at::Tensor logits = model_->logits(model_->forward_paged(step, cache_).select(1, 0));
  for (Sequence* s : active) s->length += 1;
  sample(active, logits);
  return B;
}

void Engine::retire() {
  for (auto& s : running_)
    if (s->done) finish(*s);
  std::erase_if(running_, [](const auto& s) { return s->done; });
}

void Engine::abort_queued(Group& g) {
  for (int64_t s = 0; s < g.request.params.n; ++s)
    if (g.on_completion) {
      Completion aborted;
      aborted.index = s;
      aborted.finish_reason = FinishReason::kAbort;
      aborted.policy_version = version_;
      g.on_completion(std::move(aborted));
    }
}

void Engine::apply_weight_update_if_ready() {
  std::shared_ptr<WeightUpdate> update;
  {
    std::lock_guard<std::mutex> lock(mutex_);
    update = update_;
  }
  if (!update) return;
  if (update->abort_in_flight)
    for (auto& s : running_)
      if (!s->done) {
        s->done = true;
        s->out.finish_reason = FinishReason::kAbort;
      }
  retire();
  if (!running_.empty()) return;  // the old weights finish what they started
  std::lock_guard<std::mutex> lock(mutex_);
  model_ = update->model;
  version_ = update->version;
  update->done = true;
  update_.reset();
  updated_.notify_all();
}

bool Engine::step() {
  apply_weight_update_if_ready();
  // Cancelled groups: queued ones end before they start, running ones now.
  std::vector<std::shared_ptr<Group>> dropped, admitted;
  uint64_t events = 0;
  {
    std::lock_guard<std::mutex> lock(mutex_);
    events = events_;
    for (auto it = queue_.begin(); it != queue_.end();) {
      if ((*it)->cancelled) {
        dropped.push_back(*it);
        groups_.erase((*it)->id);
        it = queue_.erase(it);
      } else {
        ++it;
      }
    }
    for (auto& s : running_)
      if (!s->done && s->group->cancelled) {
        s->done = true;
        s->out.finish_reason = FinishReason::kAbort;
      }
    if (!update_) admit_locked(admitted);
  }
  for (auto& g : dropped) abort_queued(*g);
  for (auto& g : admitted) prefill(g);
  const int64_t outcomes = apply_tool_outcomes();
  // Samples that finished in prefill (a one-token budget, a stop at once), on their tools' word or
  // were cancelled leave before the decode step.
  retire();
  int64_t sampled = decode();  // one token per decoded sequence, one per prefilled sample
  for (auto& g : admitted) sampled += g->request.params.n;
  end_turns();
  retire();
  const double end = now_seconds();
  std::unique_lock<std::mutex> lock(mutex_);
  if (sampled > 0) {
    tokens_generated_ += static_cast<uint64_t>(sampled);
    rate_window_.emplace_back(end, sampled);
  }
  while (!rate_window_.empty() && rate_window_.front().first < end - 5.0) rate_window_.pop_front();
  if (sampled > 0 || !dropped.empty() || outcomes > 0) return true;
  if (waiting_ == 0) return false;
  // Every running sequence waits for its tools: sleep until one answers (or anything else happens).
  wake_.wait_for(lock, std::chrono::milliseconds(200), [&] { return stopping_ || events_ != events || !tasks_.empty(); });
  return true;
}

void Engine::admit_locked(std::vector<std::shared_ptr<Group>>& admitted) {
  int64_t free = static_cast<int64_t>(free_blocks_.size());
  while (!queue_.empty()) {
    const auto& g = queue_.front();
    const int64_t n = g->request.params.n;
    const bool room = running_count_ == 0 || running_count_ + n <= options_.max_running;
    if (!room || g->blocks > free) break;  // first come, first served: later groups wait too
    free -= g->blocks;
    running_count_ += n;
    admitted.push_back(g);
    queue_.pop_front();
  }
  blocks_used_ = static_cast<int64_t>(block_refs_.size()) - 1 - free;
}

void Engine::run() {
  {
    std::lock_guard<std::mutex> lock(mutex_);
    looping_ = true;
  }
  while (true) {
    std::deque<std::function<void()>> tasks;
    {
      std::unique_lock<std::mutex> lock(mutex_);
      wake_.wait(lock, [&] { return stopping_ || !queue_.empty() || update_ || running_count_ > 0 || !tasks_.empty(); });
      if (stopping_) break;
      tasks.swap(tasks_);
    }
    for (auto& task : tasks) task();
    step();
  }
  std::deque<std::function<void()>> tasks;
  {
    std::lock_guard<std::mutex> lock(mutex_);
    looping_ = false;
    tasks.swap(tasks_);
  }
  for (auto& task : tasks) task();  // callers never wait for a loop that has ended
  // Whatever is left ends as aborted, so nobody waits for it.
  for (auto& s : running_) {
    if (!s->done) s->out.finish_reason = FinishReason::kAbort;
    s->done = true;
    finish(*s);
  }
  running_.clear();
  std::deque<std::shared_ptr<Group>> left;
  {
    std::lock_guard<std::mutex> lock(mutex_);
    left.swap(queue_);
    groups_.clear();
  }
  for (auto& g : left) abort_queued(*g);
}

void Engine::call(const std::function<void()>& task) {
  std::mutex done_mutex;
  std::condition_variable done_cv;
  bool done = false;
  std::exception_ptr error;
  bool queued = false;
  {
    std::lock_guard<std::mutex> lock(mutex_);
    if (looping_) {
      queued = true;
      ++events_;
      tasks_.push_back([&] {
        try {
          task();
        } catch (...) {
          error = std::current_exception();
        }
        std::lock_guard<std::mutex> l(done_mutex);
        done = true;
        done_cv.notify_all();
      });
      wake_.notify_all();
    }
  }
  if (!queued) {
    task();
    return;
  }
  std::unique_lock<std::mutex> l(done_mutex);
  done_cv.wait(l, [&] { return done; });
  if (error) std::rethrow_exception(error);
}

void Engine::stop() {
  std::lock_guard<std::mutex> lock(mutex_);
  stopping_ = true;
  ++events_;
  wake_.notify_all();
  updated_.notify_all();
}

EngineStatus Engine::status() const {
  std::lock_guard<std::mutex> lock(mutex_);
  EngineStatus s;
  s.version = version_;
  s.queued_groups = static_cast<int64_t>(queue_.size());
  s.running_sequences = running_count_;
  s.kv_blocks_total = static_cast<int64_t>(block_refs_.size()) - 1;
  s.kv_blocks_used = blocks_used_;
  s.kv_cache_tokens = s.kv_blocks_total * options_.block_size;
  s.tokens_generated = tokens_generated_;
  if (!rate_window_.empty()) {
    const double now = now_seconds(), span = std::min(5.0, std::max(1e-3, now - rate_window_.front().first));
    int64_t tokens = 0;
    for (const auto& [t, n] : rate_window_) tokens += n;
    s.tokens_per_second = now - rate_window_.back().first > 5.0 ? 0.0 : static_cast<double>(tokens) / span;
  }
  return s;
}

std::shared_ptr<const model::Transformer> Engine::model() const {
  std::lock_guard<std::mutex> lock(mutex_);
  return model_;
}

uint64_t Engine::version() const {
  std::lock_guard<std::mutex> lock(mutex_);
  return version_;
}

}  // namespace r1::inference
