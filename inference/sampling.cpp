#include "inference/sampling.h"

#include "core/error.h"

namespace r1::inference {
namespace {

// A per-row column of each row's value.
at::Tensor column(const std::vector<double>& values, const at::Tensor& like) {
  return at::tensor(values, at::kDouble).to(like.device(), at::kFloat).unsqueeze(1);
}

}  // namespace

float uniform_of_key(uint64_t x) {
  x = (x ^ (x >> 30)) * 0xbf58476d1ce4e5b9ull;
  x = (x ^ (x >> 27)) * 0x94d049bb133111ebull;
  x ^= x >> 31;
  return (static_cast<float>(x >> 40) + 0.5f) / 16777216.0f;
}

at::Tensor sampling_distributions(const at::Tensor& logits, const std::vector<const rollout::SamplingParams*>& params) {
  if (logits.dim() != 2 || logits.size(0) != static_cast<int64_t>(params.size()))
    throw Error("sampling: logits must be [rows, vocab] with one SamplingParams per row");
  const int64_t V = logits.size(1);
  std::vector<double> temperature, top_k, top_p, min_p;
  bool greedy = false, any_k = false, any_p = false, any_min = false;
  for (const rollout::SamplingParams* p : params) {
    greedy |= p->temperature <= 0;
    temperature.push_back(p->temperature > 0 ? p->temperature : 1.0);
    const bool k = p->top_k > 0 && p->top_k < V;
    any_k |= k;
    top_k.push_back(static_cast<double>(k ? p->top_k : V));
    any_p |= p->top_p < 1;
    top_p.push_back(p->top_p);
    any_min |= p->min_p > 0;
    min_p.push_back(p->min_p);
  }
  at::Tensor l = logits.to(at::kFloat);
  at::Tensor probs = at::softmax(l / column(temperature, l), -1);
  if (any_k) {  // keep what reaches the k-th largest probability
    at::Tensor sorted = std::get<0>(probs.sort(-1, /*descending=*/true));
    at::Tensor kth = sorted.gather(1, column(top_k, l).to(at::kLong) - 1);
    probs = probs.masked_fill(probs < kth, 0);
  }
  if (any_p) {  // keep a token while the mass before it is still short of top_p (the first always)
    auto [sorted, order] = probs.sort(-1, /*descending=*/true);
    at::Tensor before = sorted.cumsum(-1) - sorted;
    at::Tensor drop_sorted = before >= column(top_p, l) * probs.sum(-1, /*keepdim=*/true);
    probs = probs.masked_fill(at::zeros_like(drop_sorted).scatter_(1, order, drop_sorted), 0);
  }
  if (any_min) probs = probs.masked_fill(probs < column(min_p, l) * std::get<0>(probs.max(-1, true)), 0);
  probs = probs / probs.sum(-1, /*keepdim=*/true);
  if (greedy) {
    std::vector<uint8_t> rows;
    for (const rollout::SamplingParams* p : params) rows.push_back(p->temperature <= 0);
    at::Tensor is_greedy = at::tensor(rows, at::kByte).to(l.device(), at::kBool).unsqueeze(1);
    at::Tensor one_hot = at::zeros_like(probs).scatter_(1, l.argmax(-1, /*keepdim=*/true), 1.0);
    probs = at::where(is_greedy, one_hot, probs);
  }
  return probs;
}

at::Tensor sampling_distribution(const at::Tensor& logits, const rollout::SamplingParams& params) {
  return sampling_distributions(logits.unsqueeze(0), {&params})[0];
}

namespace {

// Rows [from, from + n) of logits, drawn in one batch; results appended to `out`.
void draw_rows(const at::Tensor& logits, const std::vector<const rollout::SamplingParams*>& params,
               const std::vector<uint64_t>& keys, int64_t from, int64_t n, Draw& out) {
  const auto first = params.begin() + from;
  at::Tensor probs = sampling_distributions(logits.narrow(0, from, n), {first, first + n});
  std::vector<double> u;
  for (int64_t r = from; r < from + n; ++r) u.push_back(uniform_of_key(keys[static_cast<size_t>(r)]));
  at::Tensor cdf = probs.cumsum(-1);
  // u x the row's total mass, kept strictly below the total (where rounding could reach it), so the
  // search never runs past the last token of non-zero probability.
  at::Tensor total = cdf.narrow(1, cdf.size(1) - 1, 1);
  at::Tensor target = at::minimum(column(u, probs) * total, at::nextafter(total, at::zeros_like(total)));
  at::Tensor token = at::searchsorted(cdf, target, /*out_int32=*/false, /*right=*/true).clamp_max_(cdf.size(1) - 1);
  // One transfer: ids (exact in double below 2^53) and log-probabilities side by side.
  at::Tensor both = at::cat({token.to(at::kDouble), probs.gather(1, token).log().to(at::kDouble)}, 1).to(at::kCPU);
  const double* v = both.data_ptr<double>();
  for (int64_t r = 0; r < n; ++r) {
    out.tokens.push_back(static_cast<int64_t>(v[2 * r]));
    out.logprobs.push_back(static_cast<float>(v[2 * r + 1]));
  }
}

}  // namespace

Draw draw_tokens(const at::Tensor& logits, const std::vector<const rollout::SamplingParams*>& params,
                 const std::vector<uint64_t>& keys) {
  const int64_t R = logits.size(0);
  if (static_cast<int64_t>(keys.size()) != R || static_cast<int64_t>(params.size()) != R)
    throw Error("sampling: one key and one SamplingParams per row");
  Draw out;
  // A GPU draws every row at once: one synchronisation per step. The CPU draws rows a few at a time,
  // so each step's temporaries stay under the allocator's mmap threshold (model/runtime.h) and are
  // reused from the heap: a 152k vocabulary's [64, V] tensors were fresh mappings, page-faulted on
  // every decode step (~25% of a 0.5B model's decode time). Rows draw the same tokens either way.
  const int64_t chunk = logits.is_cuda() ? std::max<int64_t>(R, 1)
                                         : std::max<int64_t>(1, (512 << 10) / (4 * std::max<int64_t>(logits.size(1), 1)));
  for (int64_t from = 0; from < R; from += chunk) draw_rows(logits, params, keys, from, std::min(chunk, R - from), out);
  return out;
}

}  // namespace r1::inference
