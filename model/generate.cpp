#include "model/generate.h"

#include <ATen/CPUGeneratorImpl.h>

#include <algorithm>
#include <cmath>
#include <memory>
#include <optional>

#include "core/error.h"
#include "model/tokenizer.h"

namespace r1::model {
namespace {

uint64_t splitmix(uint64_t x) {
  x += 0x9e3779b97f4a7c15ull;
  x = (x ^ (x >> 30)) * 0xbf58476d1ce4e5b9ull;
  x = (x ^ (x >> 27)) * 0x94d049bb133111ebull;
  return x ^ (x >> 31);
}

void check_params(const SamplingParams& p, size_t r, const Tokenizer* tok) {
  const std::string where = "request " + std::to_string(r) + ": ";
  if (!(p.temperature >= 0) || !std::isfinite(p.temperature)) throw Error(where + "temperature must be >= 0");
  if (!(p.top_p > 0 && p.top_p <= 1)) throw Error(where + "top_p must be in (0, 1]");
  if (p.top_k < 0) throw Error(where + "top_k must be >= 0");
  if (!(p.min_p >= 0 && p.min_p < 1)) throw Error(where + "min_p must be in [0, 1)");
  if (p.max_new_tokens < 1) throw Error(where + "max_new_tokens must be >= 1");
  if (p.n < 1) throw Error(where + "n must be >= 1");
  if (!p.stop_strings.empty() && !tok) throw Error(where + "stop strings need a tokenizer");
  for (const auto& s : p.stop_strings)
    if (s.empty()) throw Error(where + "an empty stop string");
}

// One sample being generated.
struct Row {
  size_t request;
  int64_t sample;
  at::Generator gen;
  Completion out;
  std::unique_ptr<DecodeStream> stream;
  bool done = false;
};

KVCache select_rows(const KVCache& c, const at::Tensor& index) {
  KVCache out;
  for (const auto& t : c.k) out.k.push_back(t.index_select(0, index));
  for (const auto& t : c.v) out.v.push_back(t.index_select(0, index));
  out.valid = c.valid.index_select(0, index);
  out.next_position = c.next_position.index_select(0, index);
  out.length = c.length;
  return out;
}

}  // namespace

at::Tensor sampling_distribution(const at::Tensor& logits, const SamplingParams& p) {
  at::Tensor l = logits.to(at::kFloat);
  if (p.temperature <= 0) return at::zeros_like(l).index_fill_(0, l.argmax().view({1}), 1.0);
  at::Tensor probs = at::softmax(l / p.temperature, -1);
  const int64_t V = probs.size(0);
  if (p.top_k > 0 && p.top_k < V) {
    at::Tensor keep = at::zeros_like(probs, at::kBool).index_fill_(0, std::get<1>(probs.topk(p.top_k)), true);
    probs = probs.masked_fill(keep.logical_not(), 0);
  }
  if (p.top_p < 1) {
    auto [sorted, order] = probs.sort(-1, /*descending=*/true);
    // Keep a token while the mass before it is still short of top_p (the first is always kept).
    at::Tensor before = sorted.cumsum(-1) - sorted;
    at::Tensor drop_sorted = before >= p.top_p * probs.sum().item<float>();
    probs = probs.masked_fill(at::zeros_like(drop_sorted).scatter_(0, order, drop_sorted), 0);
  }
  if (p.min_p > 0) probs = probs.masked_fill(probs < p.min_p * probs.max(), 0);
  return probs / probs.sum();
}

std::vector<std::vector<Completion>> generate(const Transformer& model, const std::vector<GenerationRequest>& requests,
                                              const GenerateOptions& options) {
  std::vector<std::vector<Completion>> results(requests.size());
  if (requests.empty()) return results;
  const int64_t vocab = model.config().vocab_size;
  int64_t longest = 0, budget = 0;
  for (size_t r = 0; r < requests.size(); ++r) {
    const auto& q = requests[r];
    check_params(q.params, r, options.tokenizer);
    if (q.prompt.empty()) throw Error("request " + std::to_string(r) + ": an empty prompt");
    for (int64_t id : q.prompt)
      if (id < 0 || id >= vocab)
        throw Error("request " + std::to_string(r) + ": token id " + std::to_string(id) + " is outside the vocabulary (" +
                    std::to_string(vocab) + ")");
    const int64_t context = model.config().max_position_embeddings;
    if (static_cast<int64_t>(q.prompt.size()) + q.params.max_new_tokens > context)
      throw Error("request " + std::to_string(r) + ": the prompt (" + std::to_string(q.prompt.size()) +
                  " tokens) and max_new_tokens (" + std::to_string(q.params.max_new_tokens) +
                  ") exceed the model's context of " + std::to_string(context) + " tokens");
    longest = std::max<int64_t>(longest, static_cast<int64_t>(q.prompt.size()));
    budget = std::max(budget, q.params.max_new_tokens);
  }
  const int64_t R = static_cast<int64_t>(requests.size());
  // Prefill every prompt once, left-padded to the longest.
  at::Tensor ids = at::zeros({R, longest}, at::kLong), valid = at::zeros({R, longest}, at::kBool);
  for (int64_t r = 0; r < R; ++r) {
    const auto& p = requests[static_cast<size_t>(r)].prompt;
    const int64_t pad = longest - static_cast<int64_t>(p.size());
    for (size_t j = 0; j < p.size(); ++j) ids[r][pad + static_cast<int64_t>(j)] = p[j];
    valid[r].narrow(0, pad, static_cast<int64_t>(p.size())).fill_(true);
  }
  at::NoGradGuard no_grad;
  KVCache cache = model.new_cache(R, longest + budget);
  at::Tensor last = model.forward_cached(ids, cache, valid).select(1, longest - 1);

  // Fork each prompt's cache into its n samples.
  std::vector<Row> rows;
  std::vector<int64_t> fork;
  for (size_t r = 0; r < requests.size(); ++r)
    for (int64_t s = 0; s < requests[r].params.n; ++s) {
      Row row{r, s, at::detail::createCPUGenerator(splitmix(requests[r].params.seed ^ splitmix(static_cast<uint64_t>(s)))),
              {}, nullptr, false};
      if (options.tokenizer) row.stream = std::make_unique<DecodeStream>(*options.tokenizer, /*skip_special_tokens=*/true);
      rows.push_back(std::move(row));
      fork.push_back(static_cast<int64_t>(r));
    }
  at::Tensor index = at::tensor(fork, at::kLong);
  cache = select_rows(cache, index);
  last = last.index_select(0, index);
  constexpr size_t kIdle = static_cast<size_t>(-1);  // a cache row whose sample has finished
  std::vector<size_t> active(rows.size());           // cache row i holds rows[active[i]]
  for (size_t i = 0; i < rows.size(); ++i) active[i] = i;
  bool aborted = false;

  while (!active.empty()) {
    at::Tensor logits = model.logits(last);  // [active, vocab]
    std::vector<int64_t> next(active.size(), 0);
    for (size_t i = 0; i < active.size(); ++i) {
      if (active[i] == kIdle) continue;
      Row& row = rows[active[i]];
      const SamplingParams& p = requests[row.request].params;
      at::Tensor dist = sampling_distribution(logits[static_cast<int64_t>(i)], p);
      const int64_t token = p.temperature <= 0 ? dist.argmax().item<int64_t>()
                                               : at::multinomial(dist, 1, false, row.gen).item<int64_t>();
      next[i] = token;
      row.out.ids.push_back(token);
      row.out.logprobs.push_back(std::log(dist[token].item<float>()));
      std::string piece;
      if (row.stream) piece = row.stream->step(static_cast<int32_t>(token));
      if (std::find(p.stop_token_ids.begin(), p.stop_token_ids.end(), token) != p.stop_token_ids.end()) {
        row.done = true;
        row.out.finish_reason = "stop";
      }
      if (!piece.empty()) {
        const size_t from = row.out.text.size();
        row.out.text += piece;
        for (const std::string& stop : p.stop_strings) {
          size_t at = row.out.text.find(stop, from >= stop.size() ? from - stop.size() + 1 : 0);
          if (at != std::string::npos) {
            piece = piece.substr(0, std::min(piece.size(), at > from ? at - from : 0));
            row.out.text.resize(at);
            row.done = true;
            row.out.finish_reason = "stop";
          }
        }
      }
      if (!row.done && static_cast<int64_t>(row.out.ids.size()) >= p.max_new_tokens) {
        row.done = true;
        row.out.finish_reason = "length";
      }
      if (row.done && row.stream && row.out.finish_reason != "stop") {
        std::string tail = row.stream->finish();
        row.out.text += tail;
        piece += tail;
      }
      if (options.on_text && !options.on_text(row.request, row.sample, piece)) aborted = true;
    }
    if (aborted) {
      for (size_t a : active)
        if (a != kIdle && !rows[a].done) {
          rows[a].done = true;
          rows[a].out.finish_reason = "abort";
        }
    }
    // Feed each live sample the token it drew. Finished samples leave the batch once they are a quarter
    // of it (dropping a row copies the whole cache); until then they idle on a padding token.
    size_t live = 0, idle = 0;
    for (size_t i = 0; i < active.size(); ++i) {
      if (active[i] != kIdle && rows[active[i]].done) active[i] = kIdle;
      (active[i] == kIdle ? idle : live) += 1;
    }
    if (live == 0) break;
    if (idle * 4 >= active.size()) {
      std::vector<int64_t> keep;
      std::vector<size_t> still;
      std::vector<int64_t> still_next;
      for (size_t i = 0; i < active.size(); ++i)
        if (active[i] != kIdle) {
          keep.push_back(static_cast<int64_t>(i));
          still.push_back(active[i]);
          still_next.push_back(next[i]);
        }
      cache = select_rows(cache, at::tensor(keep, at::kLong));
      active = std::move(still);
      next = std::move(still_next);
    }
    at::Tensor step = at::tensor(next, at::kLong).view({-1, 1});
    at::Tensor step_valid = at::ones({static_cast<int64_t>(active.size()), 1}, at::kBool);
    for (size_t i = 0; i < active.size(); ++i)
      if (active[i] == kIdle) step_valid[static_cast<int64_t>(i)][0] = false;
    last = model.forward_cached(step, cache, step_valid).select(1, 0);
  }
  for (Row& row : rows) results[row.request].push_back(std::move(row.out));
  return results;
}

}  // namespace r1::model
