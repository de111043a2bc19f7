// Scoring completions in micro-batches: see logprobs.h.
#include "trainer/logprobs.h"

#include <algorithm>

#include "core/error.h"

namespace r1::trainer {

std::vector<std::vector<size_t>> micro_batches(const std::vector<TokenSequence>& seqs, int64_t budget) {
  std::vector<std::vector<size_t>> out;
  std::vector<size_t> cur;
  int64_t longest = 0;
  for (size_t i = 0; i < seqs.size(); ++i) {
    const int64_t len = seqs[i].size();
    const int64_t grown = std::max(longest, len) * static_cast<int64_t>(cur.size() + 1);
    if (!cur.empty() && grown > budget) {
      out.push_back(std::move(cur));
      cur.clear();
      longest = 0;
    }
    cur.push_back(i);
    longest = std::max(longest, len);
  }
  if (!cur.empty()) out.push_back(std::move(cur));
  return out;
}

CompletionScores score_completions(const model::Transformer& model, const std::vector<TokenSequence>& seqs,
                                   const std::vector<size_t>& idx, double temperature) {
  const int64_t B = static_cast<int64_t>(idx.size());
  int64_t T = 0, L = 0;
  for (size_t i : idx) {
    if (seqs[i].prompt.empty()) throw Error("score_completions: a sequence has an empty prompt");
    T = std::max(T, seqs[i].size());
    L = std::max<int64_t>(L, static_cast<int64_t>(seqs[i].completion.size()));
  }
  std::vector<int64_t> ids(static_cast<size_t>(B * T), 0);
  std::vector<int64_t> rows_at, targets, slots;  // hidden row (b*T + t) predicting each completion token
  for (int64_t b = 0; b < B; ++b) {
    const TokenSequence& s = seqs[idx[static_cast<size_t>(b)]];
    std::copy(s.prompt.begin(), s.prompt.end(), ids.begin() + b * T);
    std::copy(s.completion.begin(), s.completion.end(), ids.begin() + b * T + static_cast<int64_t>(s.prompt.size()));
    const int64_t P = static_cast<int64_t>(s.prompt.size());
    if (!s.sampled.empty() && s.sampled.size() != s.completion.size())
      throw Error("score_completions: a sequence marks " + std::to_string(s.sampled.size()) + " of its " +
                  std::to_string(s.completion.size()) + " completion tokens");
    for (int64_t t = 0; t < static_cast<int64_t>(s.completion.size()); ++t) {
      if (!s.is_sampled(static_cast<size_t>(t))) continue;  // a tool's token: context, no log-probability
      rows_at.push_back(b * T + P - 1 + t);
      targets.push_back(s.completion[static_cast<size_t>(t)]);
      slots.push_back(b * L + t);
    }
  }
  CompletionScores out;
  const at::TensorOptions f32 = model.options(at::kFloat);
  out.logprobs = at::zeros({B * L}, f32);
  out.entropy = at::zeros({B * L}, f32);
  out.mask = at::zeros({B * L}, f32);
  if (!rows_at.empty()) {
    auto on_device = [&](const std::vector<int64_t>& v) { return at::tensor(v, at::kLong).to(model.device()); };
    at::Tensor hidden = model.forward(on_device(ids).view({B, T})).reshape({B * T, -1});
    // logits / T = (hidden / T) · headᵀ: the chunked log-softmax sees the tempered logits, and the
    // gradient flows through the scaling.
    if (temperature > 0 && temperature != 1.0) hidden = hidden / temperature;
    at::Tensor rows = on_device(rows_at), slot = on_device(slots);
    auto [lp, ent] = model.token_logprobs(hidden.index_select(0, rows).unsqueeze(0), on_device(targets).unsqueeze(0));
    out.logprobs = out.logprobs.index_put({slot}, lp.squeeze(0));
    out.entropy = out.entropy.index_put({slot}, ent.squeeze(0).detach());
    out.mask.index_put_({slot}, at::ones({static_cast<int64_t>(slots.size())}, f32));
  }
  out.logprobs = out.logprobs.view({B, L});
  out.entropy = out.entropy.view({B, L});
  out.mask = out.mask.view({B, L});
  return out;
}

int64_t TokenSequence::sampled_tokens() const {
  if (sampled.empty()) return static_cast<int64_t>(completion.size());
  return static_cast<int64_t>(std::count(sampled.begin(), sampled.end(), uint8_t{1}));
}

at::Tensor pad_rows(const std::vector<std::vector<float>>& rows, const std::vector<size_t>& idx) {
  size_t L = 0;
  for (size_t i : idx) L = std::max(L, rows[i].size());
  at::Tensor out = at::zeros({static_cast<int64_t>(idx.size()), static_cast<int64_t>(L)}, at::kFloat);
  auto a = out.accessor<float, 2>();
  for (size_t b = 0; b < idx.size(); ++b)
    for (size_t t = 0; t < rows[idx[b]].size(); ++t) a[static_cast<int64_t>(b)][static_cast<int64_t>(t)] = rows[idx[b]][t];
  return out;
}

}  // namespace r1::trainer
