#include "inference/sampling.h"

#include "core/error.h"

namespace r1::inference {
namespace {

constexpr uint64_t kGolden = 0x9e3779b97f4a7c15ull, kMix1 = 0xbf58476d1ce4e5b9ull, kMix2 = 0x94d049bb133111ebull;

int64_t as_signed(uint64_t x) { return static_cast<int64_t>(x); }

// x >> s on the 64 bits as unsigned: an arithmetic shift, then the sign's copies cleared.
at::Tensor shift_right(const at::Tensor& x, int s) {
  return at::bitwise_and(at::bitwise_right_shift(x, s), as_signed((~0ull) >> s));
}

// A per-row column of each row's value.
at::Tensor column(const std::vector<double>& values, const at::Tensor& like) {
  return at::tensor(values, at::kDouble).to(like.device(), at::kFloat).unsqueeze(1);
}

}  // namespace

float uniform_noise_at(uint64_t key, int64_t j) {
  uint64_t x = key + static_cast<uint64_t>(j) * kGolden;
  x = (x ^ (x >> 30)) * kMix1;
  x = (x ^ (x >> 27)) * kMix2;
  x ^= x >> 31;
  return (static_cast<float>(x >> 40) + 0.5f) / 16777216.0f;
}

at::Tensor uniform_noise(const at::Tensor& keys, int64_t vocab) {
  // int64 arithmetic wraps modulo 2^64 on every device LibTorch runs on, so these are uint64 hashes.
  at::Tensor x = keys.unsqueeze(1) + at::arange(vocab, keys.options().dtype(at::kLong)).mul_(as_signed(kGolden));
  x = at::bitwise_xor(x, shift_right(x, 30)).mul_(as_signed(kMix1));
  x = at::bitwise_xor(x, shift_right(x, 27)).mul_(as_signed(kMix2));
  x = at::bitwise_xor(x, shift_right(x, 31));
  return shift_right(x, 40).to(at::kFloat).add_(0.5f).div_(16777216.0f);
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

Draw draw_tokens(const at::Tensor& logits, const std::vector<const rollout::SamplingParams*>& params,
                 const std::vector<uint64_t>& keys) {
  const int64_t R = logits.size(0);
  if (static_cast<int64_t>(keys.size()) != R) throw Error("sampling: one key per row");
  Draw out;
  if (R == 0) return out;
  at::Tensor probs = sampling_distributions(logits, params);
  std::vector<int64_t> signed_keys;
  for (uint64_t k : keys) signed_keys.push_back(as_signed(k));
  at::Tensor key = at::tensor(signed_keys, at::kLong).to(probs.device());
  at::Tensor race = probs / uniform_noise(key, probs.size(1)).log_().neg_();  // p_j / E_j
  at::Tensor token = race.argmax(-1, /*keepdim=*/true);
  // One transfer: ids (exact in double below 2^53) and log-probabilities side by side.
  at::Tensor both = at::cat({token.to(at::kDouble), probs.gather(1, token).log().to(at::kDouble)}, 1).to(at::kCPU);
  const double* v = both.data_ptr<double>();
  for (int64_t r = 0; r < R; ++r) {
    out.tokens.push_back(static_cast<int64_t>(v[2 * r]));
    out.logprobs.push_back(static_cast<float>(v[2 * r + 1]));
  }
  return out;
}

}  // namespace r1::inference
