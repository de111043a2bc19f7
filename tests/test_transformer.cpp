// The transformer against hand-derived expectations (no reference implementation runs here): RMSNorm
// and rotary embeddings on known vectors, Llama 3's frequency scaling, grouped-query attention's head
// mapping, causality, padding and packing invariance, KV-cache decoding equal to a full forward pass,
// chunked log-probabilities equal to the whole-vocabulary ones, and checkpoints that round-trip or are
// refused by name.
// ATen first: c10 defines a glog-style CHECK that Catch's must replace, not the other way round.
#include <ATen/ATen.h>

#include <catch2/catch.hpp>

#include <cmath>
#include <filesystem>
#include <fstream>
#include <map>
#include <unistd.h>

#include "core/error.h"
#include "checkpoint/safetensors.h"
#include "model/transformer.h"

using namespace r1::model;

namespace {

double max_diff(const at::Tensor& a, const at::Tensor& b) { return (a.to(at::kDouble) - b.to(at::kDouble)).abs().max().item<double>(); }

Transformer tiny(const char* arch, uint64_t seed = 7) {
  Transformer m(r1::checkpoint::preset_config(arch, "tiny", 97));
  m.init_random(seed);
  // Random norms and biases too, so a mistake in either shows.
  at::Generator gen = at::detail::createCPUGenerator(seed + 1);
  for (const r1::checkpoint::TensorShape& t : r1::checkpoint::checkpoint_tensors(m.config()))
    if (t.shape.size() == 1) m.weight(t.name) = at::empty(t.shape, at::kFloat).uniform_(0.5, 1.5, gen);
  return m;
}

at::Tensor ids(std::vector<std::vector<int64_t>> rows) {
  const int64_t T = static_cast<int64_t>(rows[0].size());
  at::Tensor t = at::zeros({static_cast<int64_t>(rows.size()), T}, at::kLong);
  for (size_t i = 0; i < rows.size(); ++i)
    for (int64_t j = 0; j < T; ++j) t[static_cast<int64_t>(i)][j] = rows[i][static_cast<size_t>(j)];
  return t;
}

struct TempDir {
  std::string path;
  TempDir() {
    char t[] = "/tmp/r1_test_transformer_XXXXXX";
    path = ::mkdtemp(t);
  }
  ~TempDir() { std::filesystem::remove_all(path); }
};

}  // namespace

TEST_CASE("transformer: RMSNorm and rotary embeddings on known vectors", "[model]") {
  at::Tensor x = at::tensor({3.0f, 4.0f});
  at::Tensor y = rms_norm(x, at::tensor({1.0f, 2.0f}), 0.0);
  const double r = std::sqrt(12.5);
  CHECK(y[0].item<float>() == Approx(3 / r));
  CHECK(y[1].item<float>() == Approx(2 * 4 / r));

  r1::checkpoint::ModelConfig c = r1::checkpoint::preset_config("qwen2", "tiny", 10);
  c.head_dim = 4;
  c.rope_theta = 10000;
  at::Tensor inv = rotary_inv_freq(c);
  CHECK(inv[0].item<float>() == Approx(1.0));
  CHECK(inv[1].item<float>() == Approx(0.01));
  // Position p rotates the pairs (x0, x2) by p and (x1, x3) by p / 100.
  const double p = 3.0;
  at::Tensor freqs = at::tensor({float(p), float(p * 0.01)});
  at::Tensor emb = at::cat({freqs, freqs}).view({1, 1, 4});
  at::Tensor q = at::tensor({1.0f, 2.0f, 0.5f, -1.0f}).view({1, 1, 1, 4});
  at::Tensor out = apply_rotary(q, emb.cos(), emb.sin()).view({4});
  CHECK(out[0].item<float>() == Approx(1.0 * std::cos(p) - 0.5 * std::sin(p)));
  CHECK(out[2].item<float>() == Approx(0.5 * std::cos(p) + 1.0 * std::sin(p)));
  CHECK(out[1].item<float>() == Approx(2.0 * std::cos(0.03) + 1.0 * std::sin(0.03)));
  CHECK(out[3].item<float>() == Approx(-1.0 * std::cos(0.03) + 2.0 * std::sin(0.03)));
}

TEST_CASE("transformer: Llama 3's rotary frequency scaling", "[model]") {
  r1::checkpoint::ModelConfig c = r1::checkpoint::preset_config("llama", "tiny", 10);
  c.head_dim = 128;
  c.rope_theta = 500000;
  c.rope_scaling = r1::checkpoint::RopeScaling{8.0, 1.0, 4.0, 8192};
  at::Tensor scaled = rotary_inv_freq(c);
  c.rope_scaling.factor = 0;
  at::Tensor plain = rotary_inv_freq(c);
  for (int64_t i = 0; i < 64; ++i) {
    const double f = plain[i].item<double>(), wavelen = 2 * M_PI / f, s = scaled[i].item<double>();
    if (wavelen < 8192 / 4.0) {
      CHECK(s == Approx(f));  // high frequencies untouched
    } else if (wavelen > 8192 / 1.0) {
      CHECK(s == Approx(f / 8));  // low frequencies slowed by the factor
    } else {
      const double smooth = (8192 / wavelen - 1) / (4 - 1);
      CHECK(s == Approx((1 - smooth) * f / 8 + smooth * f));
    }
  }
}

TEST_CASE("transformer: grouped-query attention reads key/value head j / rep", "[model]") {
  Transformer gqa = tiny("qwen2");  // 4 query heads, 2 key/value heads
  r1::checkpoint::ModelConfig full_c = gqa.config();
  full_c.num_key_value_heads = 4;
  Transformer full(full_c);
  for (const auto& [name, t] : gqa.weights()) {
    if (name.find("k_proj") != std::string::npos || name.find("v_proj") != std::string::npos) {
      // Each key/value head copied for the two query heads that share it.
      at::Tensor per_head = t.view({2, 16, -1});
      full.weight(name) = per_head.repeat_interleave(2, 0).reshape({64, -1}).squeeze(-1);
    } else {
      full.weight(name) = t.clone();
    }
  }
  at::Tensor x = ids({{1, 5, 9, 33, 2, 7}});
  CHECK(max_diff(gqa.forward(x), full.forward(x)) < 1e-5);
}

TEST_CASE("transformer: causal, padding- and packing-invariant", "[model]") {
  for (const char* arch : {"qwen2", "qwen3", "llama"}) {
    INFO(arch);
    Transformer m = tiny(arch);
    at::Tensor a = ids({{3, 14, 15, 92, 65, 35}});
    at::Tensor b = ids({{3, 14, 15, 92, 1, 2}});
    at::Tensor ha = m.forward(a), hb = m.forward(b);
    CHECK(max_diff(ha.narrow(1, 0, 4), hb.narrow(1, 0, 4)) < 1e-6);  // later tokens change nothing earlier
    CHECK(max_diff(ha.narrow(1, 4, 2), hb.narrow(1, 4, 2)) > 1e-3);

    // Right and left padding: the real tokens' states equal the unpadded sequence's.
    at::Tensor short_seq = ids({{8, 6, 7}});
    at::Tensor hs = m.forward(short_seq);
    at::Tensor right = ids({{3, 14, 15, 92, 65, 35}, {8, 6, 7, 0, 0, 0}});
    at::Tensor right_mask = ids({{1, 1, 1, 1, 1, 1}, {1, 1, 1, 0, 0, 0}});
    at::Tensor hr = m.forward(right, {}, right_mask);
    CHECK(max_diff(hr[1].narrow(0, 0, 3), hs[0]) < 1e-5);
    CHECK(max_diff(hr[0], ha[0]) < 1e-5);
    at::Tensor left = ids({{0, 0, 0, 8, 6, 7}});
    at::Tensor hl = m.forward(left, {}, ids({{0, 0, 0, 1, 1, 1}}));
    CHECK(max_diff(hl[0].narrow(0, 3, 3), hs[0]) < 1e-5);

    // Packed: two sequences in one row, positions restarting at 0.
    at::Tensor packed = ids({{3, 14, 15, 92, 65, 35, 8, 6, 7}});
    at::Tensor pos = ids({{0, 1, 2, 3, 4, 5, 0, 1, 2}});
    at::Tensor hp = m.forward(packed, pos, {}, true);
    CHECK(max_diff(hp[0].narrow(0, 0, 6), ha[0]) < 1e-5);
    CHECK(max_diff(hp[0].narrow(0, 6, 3), hs[0]) < 1e-5);
  }
}

TEST_CASE("transformer: KV-cache decoding equals a full forward pass", "[model]") {
  for (const char* arch : {"qwen2", "qwen3", "llama"}) {
    INFO(arch);
    Transformer m = tiny(arch);
    // Two prompts of different lengths, left-padded, then three decode steps.
    std::vector<std::vector<int64_t>> prompts = {{5, 17, 23, 42, 8}, {61, 2}};
    std::vector<std::vector<int64_t>> next = {{9, 4, 77}, {13, 88, 21}};
    KVCache cache = m.new_cache(2, 16);
    at::Tensor prefill = ids({{5, 17, 23, 42, 8}, {0, 0, 0, 61, 2}});
    at::Tensor hp = m.forward_cached(prefill, cache, ids({{1, 1, 1, 1, 1}, {0, 0, 0, 1, 1}}));
    std::vector<at::Tensor> steps;
    for (int s = 0; s < 3; ++s) steps.push_back(m.forward_cached(ids({{next[0][s]}, {next[1][s]}}), cache));
    CHECK(cache.length == 8);
    CHECK(cache.next_position[0].item<int64_t>() == 8);
    CHECK(cache.next_position[1].item<int64_t>() == 5);
    for (int r = 0; r < 2; ++r) {
      std::vector<int64_t> whole = prompts[static_cast<size_t>(r)];
      whole.insert(whole.end(), next[static_cast<size_t>(r)].begin(), next[static_cast<size_t>(r)].end());
      at::Tensor full = m.forward(ids({whole}))[0];
      const int64_t plen = static_cast<int64_t>(prompts[static_cast<size_t>(r)].size());
      CHECK(max_diff(hp[r].narrow(0, 5 - plen, plen), full.narrow(0, 0, plen)) < 1e-5);
      for (int s = 0; s < 3; ++s) CHECK(max_diff(steps[static_cast<size_t>(s)][r][0], full[plen + s]) < 1e-5);
    }
    // n samples of one prompt share its prefill: the cache forks, and each copy decodes on its own.
    KVCache one = m.new_cache(1, 8);
    m.forward_cached(ids({{5, 17, 23}}), one);
    KVCache three = one.repeat_interleave(3);
    at::Tensor h3 = m.forward_cached(ids({{1}, {2}, {3}}), three);
    for (int64_t k = 0; k < 3; ++k) {
      at::Tensor full = m.forward(ids({{5, 17, 23, k + 1}}))[0][3];
      CHECK(max_diff(h3[k][0], full) < 1e-5);
    }
    KVCache small = m.new_cache(1, 2);
    CHECK_THROWS_WITH(m.forward_cached(ids({{1, 2, 3}}), small), Catch::Contains("exceed the cache's capacity of 2"));
  }
}

TEST_CASE("transformer: chunked log-probabilities and entropy equal the whole-vocabulary ones", "[model]") {
  Transformer m = tiny("qwen3");
  at::Tensor x = ids({{3, 14, 15, 92, 65}, {35, 8, 9, 7, 9}});
  at::Tensor targets = ids({{14, 15, 92, 65, 35}, {8, 9, 7, 9, 3}});
  at::Tensor h = m.forward(x);
  auto [lp, ent] = m.token_logprobs(h, targets, 3);
  at::Tensor lsm = at::log_softmax(m.logits(h), -1);
  at::Tensor want_lp = lsm.gather(2, targets.unsqueeze(2)).squeeze(2);
  at::Tensor want_ent = -(lsm.exp() * lsm).sum(-1);
  CHECK(lp.sizes() == targets.sizes());
  CHECK(max_diff(lp, want_lp) < 1e-6);
  CHECK(max_diff(ent, want_ent) < 1e-6);
  CHECK((ent > 0).all().item<bool>());
  CHECK((ent <= std::log(97.0) + 1e-4).all().item<bool>());

  // The chunked backward (recomputing each chunk's logits) equals autograd through the whole vocabulary.
  {
    at::Tensor hv = h.detach().clone().requires_grad_(true);
    at::Tensor head = m.weight("model.embed_tokens.weight");  // tied
    head.requires_grad_(true);
    auto [clp, cent] = m.token_logprobs(hv, targets, 3);
    (clp.sum() + 0.3 * cent.sum()).backward();
    at::Tensor g_h = hv.grad().clone(), g_w = head.grad().clone();
    hv.mutable_grad() = at::Tensor();
    head.mutable_grad() = at::Tensor();
    at::Tensor lsm2 = at::log_softmax(at::linear(hv, head), -1);
    at::Tensor naive_lp = lsm2.gather(2, targets.unsqueeze(2)).squeeze(2);
    at::Tensor naive_ent = -(lsm2.exp() * lsm2).sum(-1);
    (naive_lp.sum() + 0.3 * naive_ent.sum()).backward();
    CHECK(max_diff(g_h, hv.grad()) < 1e-5);
    CHECK(max_diff(g_w, head.grad()) < 1e-5);
    CHECK(g_w.abs().sum().item<double>() > 0);
    head.mutable_grad() = at::Tensor();
    head.requires_grad_(false);
  }

  // Gradients reach every weight through the log-probabilities.
  for (auto& t : m.parameters()) t.requires_grad_(true);
  auto [lp2, ent2] = m.token_logprobs(m.forward(x), targets, 4);
  lp2.sum().backward();
  for (const auto& [name, t] : m.weights()) {
    INFO(name);
    REQUIRE(t.grad().defined());
    CHECK(t.grad().abs().sum().item<double>() > 0);
  }
}

TEST_CASE("transformer: checkpoints round-trip, broken ones are refused by name", "[model]") {
  TempDir dir;
  Transformer m = tiny("qwen2", 11);
  m.save(dir.path);
  Transformer back = Transformer::load(dir.path);
  at::Tensor x = ids({{1, 2, 3, 4}});
  CHECK(max_diff(m.forward(x), back.forward(x)) == 0);
  CHECK(back.config().arch == r1::checkpoint::Arch::kQwen2);

  // A loaded model carries its folder's tokenizer and generation config when saved elsewhere.
  std::ofstream(dir.path + "/tokenizer.json") << "{}";
  std::ofstream(dir.path + "/generation_config.json") << "{\"do_sample\": true}";
  TempDir copy;
  back.save(copy.path);
  CHECK(std::filesystem::exists(copy.path + "/tokenizer.json"));
  CHECK(std::filesystem::exists(copy.path + "/generation_config.json"));
  back.save(dir.path);  // onto its own folder: nothing to copy, nothing lost
  CHECK(std::filesystem::exists(dir.path + "/tokenizer.json"));

  // Sharded, and bf16.
  TempDir sharded;
  m.save(sharded.path, 20000);
  CHECK(std::filesystem::exists(sharded.path + "/model.safetensors.index.json"));
  CHECK(max_diff(Transformer::load(sharded.path).forward(x), m.forward(x)) == 0);
  Transformer bf = Transformer::load(dir.path, at::kBFloat16);
  CHECK(bf.dtype() == at::kBFloat16);
  CHECK(max_diff(bf.forward(x), m.forward(x)) < 0.1);

  // A config that does not match the weights: the tensor and both shapes are named.
  {
    std::ofstream(dir.path + "/config.json", std::ios::trunc) << r1::checkpoint::model_config_json([&] {
      r1::checkpoint::ModelConfig c = m.config();
      c.intermediate_size = 96;
      return c;
    }());
    CHECK_THROWS_WITH(Transformer::load(dir.path),
                      Catch::Contains("model.layers.0.mlp.gate_proj.weight' has shape [128, 64], config.json needs [96, 64]"));
  }
  // A missing tensor and an unexpected one.
  TempDir other;
  Transformer l = tiny("llama");
  l.save(other.path);
  std::ofstream(other.path + "/config.json", std::ios::trunc) << r1::checkpoint::model_config_json([&] {
    r1::checkpoint::ModelConfig c = l.config();
    c.arch = r1::checkpoint::Arch::kQwen3;  // wants q_norm/k_norm, and ties the head
    c.qk_norm = true;
    return c;
  }());
  CHECK_THROWS_WITH(Transformer::load(other.path), Catch::Contains("no tensor 'model.layers.0.self_attn.q_norm.weight', which config.json needs"));
  std::ofstream(other.path + "/config.json", std::ios::trunc) << r1::checkpoint::model_config_json([&] {
    r1::checkpoint::ModelConfig c = l.config();
    c.num_hidden_layers = 1;
    return c;
  }());
  CHECK_THROWS_WITH(Transformer::load(other.path), Catch::Contains("unexpected tensor 'model.layers.1."));
}

TEST_CASE("transformer: activation checkpointing gives the same loss and gradients", "[model]") {
  // Packed rows with padding-free restarts, so the mask and positions the recomputation reuses matter.
  at::Tensor x = ids({{3, 14, 15, 92, 65, 35}, {35, 8, 9, 7, 9, 3}});
  at::Tensor pos = ids({{0, 1, 2, 0, 1, 2}, {0, 1, 2, 3, 4, 5}});
  at::Tensor targets = ids({{14, 15, 92, 65, 35, 8}, {8, 9, 7, 9, 3, 2}});
  auto run = [&](bool checkpoint) {
    Transformer m = tiny("qwen2");  // biases too
    for (auto& t : m.parameters()) t.requires_grad_(true);
    m.set_activation_checkpointing(checkpoint);
    auto [lp, ent] = m.token_logprobs(m.forward(x, pos, {}, /*packed=*/true), targets, 4);
    at::Tensor loss = -(lp.mean() + 0.1 * ent.mean());
    loss.backward();
    std::map<std::string, at::Tensor> grads;
    for (const auto& [name, t] : m.weights()) grads[name] = t.grad().defined() ? t.grad().clone() : at::Tensor();
    return std::make_pair(loss.item<double>(), grads);
  };
  auto [plain_loss, plain] = run(false);
  auto [ckpt_loss, ckpt] = run(true);
  CHECK(std::abs(plain_loss - ckpt_loss) < 1e-6);
  REQUIRE(plain.size() == ckpt.size());
  for (const auto& [name, g] : plain) {
    INFO(name);
    REQUIRE(g.defined());
    REQUIRE(ckpt[name].defined());
    CHECK(g.abs().sum().item<double>() > 0);
    CHECK(max_diff(g, ckpt[name]) < 1e-6);
  }
  // Without gradients (scoring, generation) the option changes nothing and builds no graph.
  Transformer m = tiny("qwen2");
  m.set_activation_checkpointing(true);
  at::NoGradGuard no_grad;
  CHECK(max_diff(m.forward(x), tiny("qwen2").forward(x)) == 0);
}

TEST_CASE("transformer: bf16 compute over fp32 weights stays close and trains the fp32 weights", "[model]") {
  at::Tensor x = ids({{3, 14, 15, 92, 65}, {35, 8, 9, 7, 9}});
  at::Tensor targets = ids({{14, 15, 92, 65, 35}, {8, 9, 7, 9, 3}});
  Transformer ref = tiny("qwen2");
  Transformer m = tiny("qwen2");
  m.set_compute_dtype(at::kBFloat16);
  CHECK(m.compute_dtype() == at::kBFloat16);
  CHECK(m.dtype() == at::kFloat);
  for (auto& t : m.parameters()) t.requires_grad_(true);
  at::Tensor h = m.forward(x);
  CHECK(h.scalar_type() == at::kFloat);  // the residual stream stays in the weights' dtype
  at::Tensor want;
  {
    at::NoGradGuard g;
    want = ref.forward(x);
  }
  const double diff = max_diff(h, want);
  CHECK(diff > 0);     // the products really ran in bf16
  CHECK(diff < 0.1);   // ... and stay close (hidden states are O(1) after the final norm)
  auto [lp, ent] = m.token_logprobs(h, targets);
  lp.sum().backward();
  for (const auto& [name, t] : m.weights()) {
    INFO(name);
    REQUIRE(t.grad().defined());
    CHECK(t.grad().scalar_type() == at::kFloat);
    CHECK(t.grad().abs().sum().item<double>() > 0);
  }
}
