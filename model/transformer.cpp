#include "model/transformer.h"

#include <ATen/CPUGeneratorImpl.h>
#include <torch/csrc/autograd/autograd.h>
#include <torch/csrc/autograd/custom_function.h>

#include <cmath>
#include <filesystem>
#include <fstream>
#include <limits>
#include <set>

#include "checkpoint/safetensors.h"
#include "core/error.h"
#include "model/lora.h"
#include "model/torch_compat.h"

namespace r1::model {
namespace {

at::ScalarType scalar_type_of(checkpoint::DType d, const std::string& where) {
  switch (d) {
    case checkpoint::DType::kF32: return at::kFloat;
    case checkpoint::DType::kBF16: return at::kBFloat16;
    case checkpoint::DType::kF16: return at::kHalf;
    case checkpoint::DType::kF64: return at::kDouble;
    default: throw Error(where + ": dtype " + checkpoint::dtype_name(d) + " cannot hold weights (F32, BF16, F16 or F64)");
  }
}

checkpoint::DType dtype_of(at::ScalarType t) {
  switch (t) {
    case at::kFloat: return checkpoint::DType::kF32;
    case at::kBFloat16: return checkpoint::DType::kBF16;
    case at::kHalf: return checkpoint::DType::kF16;
    case at::kDouble: return checkpoint::DType::kF64;
    default: throw Error("weights of this dtype cannot be saved");
  }
}

std::string shape_text(at::IntArrayRef s) {
  std::string out = "[";
  for (size_t i = 0; i < s.size(); ++i) out += (i ? ", " : "") + std::to_string(s[i]);
  return out + "]";
}

at::Tensor linear(const at::Tensor& x, const at::Tensor& w, const at::Tensor& b) {
  return b.defined() ? at::linear(x, w, b) : at::linear(x, w);
}

}  // namespace

// ---- building blocks ---------------------------------------------------------------------------------

at::Tensor rms_norm(const at::Tensor& x, const at::Tensor& weight, double eps) {
  at::Tensor xf = x.to(at::kFloat);
  at::Tensor y = xf * at::rsqrt(xf.pow(2).mean(-1, true) + eps);
  return weight * y.to(x.scalar_type());
}

at::Tensor rotary_inv_freq(const checkpoint::ModelConfig& c) {
  const int64_t d = c.head_dim;
  at::Tensor inv = 1.0 / at::pow(c.rope_theta, at::arange(0, d, 2, at::kLong).to(at::kFloat) / static_cast<double>(d));
  const checkpoint::RopeScaling& s = c.rope_scaling;
  if (s.factor > 0) {  // Llama 3: low frequencies slowed by `factor`, a smooth blend between
    const double old_len = static_cast<double>(s.original_max_position_embeddings);
    const double low_wavelen = old_len / s.low_freq_factor, high_wavelen = old_len / s.high_freq_factor;
    at::Tensor wavelen = 2 * M_PI / inv;
    at::Tensor scaled = at::where(wavelen > low_wavelen, inv / s.factor, inv);
    at::Tensor smooth = (old_len / wavelen - s.low_freq_factor) / (s.high_freq_factor - s.low_freq_factor);
    at::Tensor smoothed = (1 - smooth) * scaled / s.factor + smooth * scaled;
    at::Tensor medium = (wavelen >= high_wavelen).logical_and(wavelen <= low_wavelen);
    inv = at::where(medium, smoothed, scaled);
  }
  return inv;
}

at::Tensor apply_rotary(const at::Tensor& x, const at::Tensor& cos, const at::Tensor& sin) {
  const int64_t half = x.size(-1) / 2;
  at::Tensor rotated = at::cat({-x.narrow(-1, half, half), x.narrow(-1, 0, half)}, -1);
  return x * cos.unsqueeze(1) + rotated * sin.unsqueeze(1);
}

KVCache KVCache::repeat_interleave(int64_t n) const {
  KVCache out;
  for (const auto& t : k) out.k.push_back(t.repeat_interleave(n, 0));
  for (const auto& t : v) out.v.push_back(t.repeat_interleave(n, 0));
  out.valid = valid.repeat_interleave(n, 0);
  out.next_position = next_position.repeat_interleave(n, 0);
  out.length = length;
  return out;
}

// ---- the model ---------------------------------------------------------------------------------------

Transformer::Transformer(checkpoint::ModelConfig config, at::ScalarType dtype, at::Device device)
    : Transformer(std::move(config), dtype, device, true) {}

Transformer::Transformer(checkpoint::ModelConfig config, at::ScalarType dtype, at::Device device, bool allocate)
    : config_(std::move(config)), dtype_(dtype), device_(device), compute_dtype_(dtype) {
  if (dtype_ != at::kFloat && dtype_ != at::kBFloat16) throw Error("the transformer computes in fp32 or bf16");
  if (allocate)
    for (const checkpoint::TensorShape& t : checkpoint::checkpoint_tensors(config_))
      weights_[t.name] = at::zeros(t.shape, options(dtype_));
  inv_freq_ = rotary_inv_freq(config_).to(device_);
}

const at::Tensor& Transformer::w(const std::string& name) const {
  auto it = weights_.find(name);
  if (it == weights_.end()) throw Error("the model has no weight '" + name + "'");
  return it->second;
}

at::Tensor& Transformer::weight(const std::string& name) {
  auto it = weights_.find(name);
  if (it == weights_.end()) throw Error("the model has no weight '" + name + "'");
  return it->second;
}

at::Tensor Transformer::project(const at::Tensor& x, const std::string& name, const at::Tensor& bias) const {
  at::Tensor y;
  auto it = fp8_.find(name);
  if (it != fp8_.end()) {
    y = it->second.linear(x);
    if (bias.defined()) y = y + bias;
  } else if (compute_dtype_ == x.scalar_type()) {
    y = linear(x, w(name), bias);
  } else {
    const at::Tensor b = bias.defined() ? bias.to(compute_dtype_) : bias;
    y = linear(x.to(compute_dtype_), w(name).to(compute_dtype_), b).to(x.scalar_type());
  }
  // LoRA's seam: the adapter's low-rank term for this matrix, when it adapts it.
  if (lora_active())
    if (const LoraModule* m = lora_->find(name)) y = y + lora_->delta(*m, x, compute_dtype_);
  return y;
}

std::vector<at::Tensor> Transformer::parameters() const {
  std::vector<at::Tensor> out;
  for (const auto& [name, t] : weights_) out.push_back(t);
  return out;
}

void Transformer::init_random(uint64_t seed) {
  at::Generator gen = at::detail::createCPUGenerator(seed);
  for (const checkpoint::TensorShape& t : checkpoint::checkpoint_tensors(config_)) {
    at::Tensor& x = weights_[t.name];
    const std::string& n = t.name;
    at::Tensor init;
    if (n.size() > 5 && n.compare(n.size() - 5, 5, ".bias") == 0) {
      init = at::zeros(t.shape, at::kFloat);
    } else if (t.shape.size() == 1) {  // norms
      init = at::ones(t.shape, at::kFloat);
    } else {
      init = at::empty(t.shape, at::kFloat).normal_(0.0, 0.02, gen);
    }
    x = init.to(device_, dtype_);
  }
}

Transformer Transformer::load(const std::string& dir, at::ScalarType dtype, at::Device device) {
  Transformer m(checkpoint::read_model_config(dir + "/config.json"), dtype, device, /*allocate=*/false);
  checkpoint::Checkpoint ck(dir);
  std::set<std::string> expected;
  for (const checkpoint::TensorShape& t : checkpoint::checkpoint_tensors(m.config_)) {
    expected.insert(t.name);
    if (!ck.contains(t.name)) throw Error(dir + ": the checkpoint has no tensor '" + t.name + "', which config.json needs");
    auto [file, info] = ck.at(t.name);
    const std::string where = file->path() + ": tensor '" + t.name + "'";
    at::IntArrayRef want(t.shape);
    if (info->shape != t.shape)
      throw Error(where + " has shape " + shape_text(info->shape) + ", config.json needs " + shape_text(want));
    at::Tensor view = at::from_blob(const_cast<uint8_t*>(file->data(*info)), info->shape,
                                    at::TensorOptions(scalar_type_of(info->dtype, where)));
    m.weights_[t.name] = view.to(device, dtype, /*non_blocking=*/false, /*copy=*/true);
  }
  for (const std::string& name : ck.names()) {
    if (expected.count(name)) continue;
    // Tolerated: a tied model's copy of its embedding, and rotary buffers older exports saved.
    if ((name == "lm_head.weight" && m.config_.tie_word_embeddings) ||
        name.find("rotary_emb.inv_freq") != std::string::npos)
      continue;
    throw Error(ck.at(name).first->path() + ": unexpected tensor '" + name + "' (not part of a " +
                m.config_.architecture_name() + " with this config.json)");
  }
  m.source_dir_ = dir;
  return m;
}

void Transformer::save(const std::string& dir, uint64_t max_shard_bytes) const {
  if (fp8()) throw Error(dir + ": an FP8 model is for inference; save the model it was quantised from");
  std::vector<at::Tensor> keep;
  std::vector<checkpoint::TensorToWrite> out;
  for (const auto& [name, t] : weights_) {
    at::Tensor c = t.detach().to(at::kCPU).contiguous();
    keep.push_back(c);
    out.push_back({name, dtype_of(c.scalar_type()), std::vector<int64_t>(c.sizes().begin(), c.sizes().end()),
                   c.data_ptr(), static_cast<size_t>(c.numel() * c.element_size())});
  }
  checkpoint::write_checkpoint(dir, out, max_shard_bytes);
  checkpoint::ModelConfig c = config_;
  c.torch_dtype = dtype_ == at::kBFloat16 ? "bfloat16" : "float32";
  const std::string path = dir + "/config.json";
  std::ofstream f(path, std::ios::trunc);
  f << checkpoint::model_config_json(c);
  if (!f) throw Error(path + ": cannot write");
  namespace fs = std::filesystem;
  std::error_code ec;
  if (source_dir_.empty() || fs::equivalent(source_dir_, dir, ec)) return;
  auto copy_along = [&](const char* name) {
    const fs::path from = fs::path(source_dir_) / name;
    if (fs::exists(from) && !fs::copy_file(from, fs::path(dir) / name, fs::copy_options::overwrite_existing, ec))
      throw Error((fs::path(dir) / name).string() + ": cannot copy from " + from.string() + ": " + ec.message());
  };
  for (const char* name : checkpoint::kTokenizerFiles) copy_along(name);
  copy_along(checkpoint::kGenerationConfigFile);
}

std::pair<at::Tensor, at::Tensor> Transformer::rope(const at::Tensor& positions) const {
  at::Tensor freqs = positions.to(at::kFloat).unsqueeze(-1) * inv_freq_;  // [B, T, D/2]
  at::Tensor emb = at::cat({freqs, freqs}, -1);
  return {emb.cos().to(dtype_), emb.sin().to(dtype_)};
}

at::Tensor Transformer::layer(int64_t i, const at::Tensor& x, const at::Tensor& cos, const at::Tensor& sin,
                              const at::Tensor& mask, const KeyValueHook& keys_values) const {
  const checkpoint::ModelConfig& c = config_;
  const std::string p = "model.layers." + std::to_string(i) + ".";
  const int64_t B = x.size(0), T = x.size(1), D = c.head_dim;
  auto bias = [&](const char* name) {
    auto it = weights_.find(p + name);
    return it == weights_.end() ? at::Tensor() : it->second;
  };
  at::Tensor h = rms_norm(x, w(p + "input_layernorm.weight"), c.rms_norm_eps);
  at::Tensor q = project(h, p + "self_attn.q_proj.weight", bias("self_attn.q_proj.bias")).view({B, T, -1, D});
  at::Tensor k = project(h, p + "self_attn.k_proj.weight", bias("self_attn.k_proj.bias")).view({B, T, -1, D});
  at::Tensor v = project(h, p + "self_attn.v_proj.weight", bias("self_attn.v_proj.bias")).view({B, T, -1, D});
  if (c.qk_norm) {
    q = rms_norm(q, w(p + "self_attn.q_norm.weight"), c.rms_norm_eps);
    k = rms_norm(k, w(p + "self_attn.k_norm.weight"), c.rms_norm_eps);
  }
  q = apply_rotary(q.transpose(1, 2), cos, sin);
  k = apply_rotary(k.transpose(1, 2), cos, sin);
  v = v.transpose(1, 2);
  if (keys_values) std::tie(k, v) = keys_values(i, k, v);
  // Query head j reads key/value head j / rep. The rep query heads of a group are stacked along the
  // token axis, [B, kv_heads, rep * T, D], so the group's one key/value head is read as it is, never
  // copied rep times.
  //
  // Keys and values laid out head-major in memory ([kv_heads, B, S, D] seen through a transpose, as
  // forward_paged() gathers them) are computed on in that order, [G, B, ...]: the batched products
  // then read them where they lie, with no [B, G, S, D] copy per layer per step.
  const int64_t rep = c.num_attention_heads / c.num_key_value_heads, S = k.size(2), G = c.num_key_value_heads;
  const double scale = 1.0 / std::sqrt(static_cast<double>(D));
  at::Tensor attn;
#if R1_TORCH_HAS_SDPA_GQA
  // On a GPU, LibTorch's fused attention (flash or memory-efficient kernels, fp32 accumulation) with
  // the same mask as a boolean "may attend"; the CPU keeps the path below, tuned for its caches.
  if (x.is_cuda()) {
    attn = at::scaled_dot_product_attention(q, k, v, mask.eq(0), 0.0, false, scale, /*enable_gqa=*/true)
               .transpose(1, 2).reshape({B, T, -1});
  } else
#endif
  if (B > 1 && G > 1 && k.stride(1) > k.stride(0) && v.stride(1) > v.stride(0)) {
    at::Tensor qg = q.reshape({B, G, rep * T, D}).transpose(0, 1);
    at::Tensor scores = at::matmul(qg, k.transpose(0, 1).transpose(-1, -2)) * scale;  // [G, B, rep * T, S]
    at::Tensor probs =
        at::softmax(scores.to(at::kFloat).view({G, B, rep, T, S}) + mask.reshape({1, B, 1, T, S}), -1).to(dtype_);
    attn = at::matmul(probs.view({G, B, rep * T, S}), v.transpose(0, 1)).transpose(0, 1)
               .reshape({B, c.num_attention_heads, T, D}).transpose(1, 2).reshape({B, T, -1});
  } else {
    at::Tensor qg = q.reshape({B, G, rep * T, D});
    at::Tensor scores = at::matmul(qg, k.transpose(-1, -2)) * scale;
    at::Tensor probs = at::softmax(scores.to(at::kFloat).view({B, G, rep, T, S}) + mask.unsqueeze(1), -1).to(dtype_);
    attn = at::matmul(probs.view({B, G, rep * T, S}), v).view({B, c.num_attention_heads, T, D})
               .transpose(1, 2).reshape({B, T, -1});
  }
  at::Tensor out = x + project(attn, p + "self_attn.o_proj.weight", bias("self_attn.o_proj.bias"));
  at::Tensor h2 = rms_norm(out, w(p + "post_attention_layernorm.weight"), c.rms_norm_eps);
  at::Tensor mlp = project(at::silu(project(h2, p + "mlp.gate_proj.weight")) * project(h2, p + "mlp.up_proj.weight"),
                           p + "mlp.down_proj.weight");
  return out + mlp;
}

at::Tensor Transformer::forward(const at::Tensor& input_ids, const at::Tensor& position_ids,
                                const at::Tensor& attention_mask, bool packed) const {
  if (input_ids.dim() != 2) throw Error("forward: input_ids must be [batch, tokens]");
  const int64_t B = input_ids.size(0), T = input_ids.size(1);
  at::Tensor valid =
      attention_mask.defined() ? attention_mask.to(device_, at::kBool) : at::ones({B, T}, options(at::kBool));
  at::Tensor positions = position_ids.defined() ? position_ids.to(device_, at::kLong)
                                                : (valid.to(at::kLong).cumsum(1) - 1).clamp_min(0);
  // allowed[b, i, j]: query i may read key j — causal, a real token, the same sequence when packed; and
  // itself always, so a padding row is never empty (its output is unused).
  at::Tensor idx = at::arange(T, options(at::kLong));
  at::Tensor allowed = (idx.unsqueeze(1) >= idx.unsqueeze(0)).unsqueeze(0) & valid.unsqueeze(1);
  if (packed) {
    at::Tensor seq = (positions == 0).to(at::kLong).cumsum(1);
    allowed = allowed & (seq.unsqueeze(2) == seq.unsqueeze(1));
  }
  allowed = allowed | at::eye(T, options(at::kBool)).unsqueeze(0);
  at::Tensor mask = at::zeros({B, 1, T, T}, options(at::kFloat))
                        .masked_fill(allowed.logical_not().unsqueeze(1), std::numeric_limits<float>::lowest());
  auto [cos, sin] = rope(positions);
  at::Tensor x = at::embedding(w("model.embed_tokens.weight"), input_ids.to(device_));
  const bool checkpoint = checkpoint_layers_ && at::GradMode::is_enabled();
  for (int64_t i = 0; i < config_.num_hidden_layers; ++i)
    x = checkpoint ? checkpointed_layer(i, x, cos, sin, mask) : layer(i, x, cos, sin, mask, nullptr);
  return rms_norm(x, w("model.norm.weight"), config_.rms_norm_eps);
}

// Activation checkpointing: the forward runs the layer without a graph (Function::apply turns
// gradients off) and keeps only its input; the backward runs it again with gradients and
// back-propagates through that fresh graph into the input and the layer's weights.
struct CheckpointedLayer : public torch::autograd::Function<CheckpointedLayer> {
  static torch::autograd::variable_list forward(torch::autograd::AutogradContext* ctx, const at::Tensor& x,
                                                at::TensorList params, const at::Tensor& cos, const at::Tensor& sin,
                                                const at::Tensor& mask, const Transformer* self, int64_t i) {
    ctx->save_for_backward({x, cos, sin, mask});
    ctx->saved_data["layer"] = i;
    ctx->saved_data["self"] = reinterpret_cast<int64_t>(self);
    ctx->saved_data["params"] = static_cast<int64_t>(params.size());
    // LoRA's dropout draws random numbers: the recomputation replays the generator's state.
    if (self->lora_active() && self->lora_->uses_rng()) {
      at::Generator gen = at::globalContext().defaultGenerator(x.device());
      std::lock_guard<std::mutex> lock(gen.mutex());
      ctx->saved_data["rng"] = gen.get_state();
    }
    return {self->layer(i, x, cos, sin, mask, nullptr)};
  }

  static torch::autograd::variable_list backward(torch::autograd::AutogradContext* ctx,
                                                 torch::autograd::variable_list grads) {
    auto saved = ctx->get_saved_variables();
    const auto* self = reinterpret_cast<const Transformer*>(ctx->saved_data["self"].toInt());
    const int64_t i = ctx->saved_data["layer"].toInt(), n = ctx->saved_data["params"].toInt();
    std::vector<at::Tensor> params = self->layer_parameters(i);
    if (static_cast<int64_t>(params.size()) != n) throw Error("activation checkpointing: the layer's weights changed");
    at::AutoGradMode on(true);
    at::Tensor x = saved[0].detach().requires_grad_(saved[0].requires_grad());
    at::Generator gen;
    at::Tensor rng_now;
    if (ctx->saved_data.count("rng")) {
      gen = at::globalContext().defaultGenerator(x.device());
      std::lock_guard<std::mutex> lock(gen.mutex());
      rng_now = gen.get_state();
      gen.set_state(ctx->saved_data["rng"].toTensor());
    }
    at::Tensor y = self->layer(i, x, saved[1], saved[2], saved[3], nullptr);
    if (rng_now.defined()) {
      std::lock_guard<std::mutex> lock(gen.mutex());
      gen.set_state(rng_now);
    }
    std::vector<at::Tensor> inputs, out;
    if (x.requires_grad()) inputs.push_back(x);
    for (const auto& p : params) inputs.push_back(p);
    torch::autograd::variable_list g =
        torch::autograd::grad({y}, inputs, {grads[0]}, /*retain_graph=*/false, /*create_graph=*/false, /*allow_unused=*/true);
    size_t k = 0;
    out.push_back(x.requires_grad() ? g[k++] : at::Tensor());
    for (size_t j = 0; j < params.size(); ++j) out.push_back(g[k++]);
    for (int j = 0; j < 5; ++j) out.emplace_back();  // cos, sin, mask, self, i
    return out;
  }
};

std::vector<at::Tensor> Transformer::layer_parameters(int64_t i) const {
  const std::string prefix = "model.layers." + std::to_string(i) + ".";
  std::vector<at::Tensor> out;
  for (auto it = weights_.lower_bound(prefix); it != weights_.end() && it->first.rfind(prefix, 0) == 0; ++it)
    if (it->second.requires_grad()) out.push_back(it->second);
  if (lora_active())
    for (at::Tensor& t : lora_->layer_parameters(i)) out.push_back(std::move(t));
  return out;
}

at::Tensor Transformer::checkpointed_layer(int64_t i, const at::Tensor& x, const at::Tensor& cos, const at::Tensor& sin,
                                           const at::Tensor& mask) const {
  std::vector<at::Tensor> params = layer_parameters(i);
  return CheckpointedLayer::apply(x, at::TensorList(params), cos, sin, mask, this, i)[0];
}

at::Tensor Transformer::logits(const at::Tensor& hidden) const {
  const at::Tensor& head = config_.tie_word_embeddings ? w("model.embed_tokens.weight") : w("lm_head.weight");
  return at::linear(hidden, head).to(at::kFloat);
}

namespace {

using torch::autograd::AutogradContext;
using torch::autograd::variable_list;

// log p(target) and entropy over the vocabulary, `chunk` rows at a time, in both directions: the
// forward keeps no logits, and the backward recomputes each chunk's, so a whole-vocabulary tensor
// exists for one chunk at a time in training as in inference.
//   d logp/dz = onehot(target) - p;   d H/dz = -p (log p + H)   (H = -sum p log p)
struct ChunkedLogprobs : public torch::autograd::Function<ChunkedLogprobs> {
  static variable_list forward(AutogradContext* ctx, const at::Tensor& hidden, const at::Tensor& head,
                               const at::Tensor& targets, int64_t chunk) {
    const int64_t N = hidden.size(0);
    at::Tensor lp = at::empty({N}, hidden.options().dtype(at::kFloat)), ent = at::empty({N}, hidden.options().dtype(at::kFloat));
    for (int64_t r = 0; r < N; r += chunk) {
      const int64_t n = std::min(chunk, N - r);
      at::Tensor z = at::linear(hidden.narrow(0, r, n), head).to(at::kFloat);
      at::Tensor lsm = at::log_softmax(z, -1);
      lp.narrow(0, r, n).copy_(lsm.gather(1, targets.narrow(0, r, n).unsqueeze(1)).squeeze(1));
      ent.narrow(0, r, n).copy_(-(lsm.exp() * lsm).sum(-1));
    }
    ctx->save_for_backward({hidden, head, targets, ent});
    ctx->saved_data["chunk"] = chunk;
    return {lp, ent};
  }

  static variable_list backward(AutogradContext* ctx, variable_list grads) {
    auto saved = ctx->get_saved_variables();
    const at::Tensor &hidden = saved[0], &head = saved[1], &targets = saved[2], &ent = saved[3];
    const int64_t chunk = ctx->saved_data["chunk"].toInt(), N = hidden.size(0);
    const at::Tensor& g_lp = grads[0];
    const at::Tensor& g_ent = grads[1];
    // A frozen head (LoRA trains adapters only) gets no gradient: half the backward's products.
    const bool want_head = ctx->needs_input_grad(1);
    at::Tensor g_hidden = at::zeros_like(hidden),
               g_head = want_head ? at::zeros(head.sizes(), head.options().dtype(at::kFloat)) : at::Tensor();
    for (int64_t r = 0; r < N; r += chunk) {
      const int64_t n = std::min(chunk, N - r);
      at::Tensor h = hidden.narrow(0, r, n);
      at::Tensor lsm = at::log_softmax(at::linear(h, head).to(at::kFloat), -1);
      at::Tensor p = lsm.exp();
      at::Tensor dz = at::zeros_like(p);
      if (g_lp.defined()) {
        at::Tensor g = g_lp.narrow(0, r, n).to(at::kFloat).unsqueeze(1);
        dz = dz - p * g;
        dz.scatter_add_(1, targets.narrow(0, r, n).unsqueeze(1), g);
      }
      if (g_ent.defined())
        dz = dz - g_ent.narrow(0, r, n).to(at::kFloat).unsqueeze(1) * p * (lsm + ent.narrow(0, r, n).unsqueeze(1));
      g_hidden.narrow(0, r, n).copy_(at::matmul(dz.to(head.scalar_type()), head));
      if (want_head) g_head.add_(at::matmul(dz.t(), h.to(at::kFloat)));
    }
    return {g_hidden, want_head ? g_head.to(head.scalar_type()) : at::Tensor(), at::Tensor(), at::Tensor()};
  }
};

}  // namespace

std::pair<at::Tensor, at::Tensor> Transformer::token_logprobs(const at::Tensor& hidden, const at::Tensor& targets,
                                                              int64_t chunk) const {
  const int64_t H = hidden.size(-1);
  const at::Tensor& head = config_.tie_word_embeddings ? w("model.embed_tokens.weight") : w("lm_head.weight");
  variable_list out = ChunkedLogprobs::apply(hidden.reshape({-1, H}), head, targets.reshape({-1}).to(device_, at::kLong),
                                             std::max<int64_t>(chunk, 1));
  return {out[0].view(targets.sizes()), out[1].view(targets.sizes())};
}

KVCache Transformer::new_cache(int64_t batch, int64_t capacity) const {
  KVCache c;
  for (int64_t i = 0; i < config_.num_hidden_layers; ++i) {
    c.k.push_back(at::zeros({batch, config_.num_key_value_heads, capacity, config_.head_dim}, options(dtype_)));
    c.v.push_back(at::zeros({batch, config_.num_key_value_heads, capacity, config_.head_dim}, options(dtype_)));
  }
  c.valid = at::zeros({batch, capacity}, options(at::kBool));
  c.next_position = at::zeros({batch}, options(at::kLong));
  return c;
}

at::Tensor Transformer::forward_cached(const at::Tensor& input_ids, KVCache& cache, const at::Tensor& input_valid) const {
  if (input_ids.dim() != 2 || input_ids.size(0) != cache.batch())
    throw Error("forward_cached: input_ids must be [batch, tokens] with the cache's batch");
  const int64_t B = input_ids.size(0), T = input_ids.size(1), slot = cache.length, S = slot + T;
  if (S > cache.capacity())
    throw Error("forward_cached: " + std::to_string(S) + " tokens exceed the cache's capacity of " +
                std::to_string(cache.capacity()));
  at::Tensor valid = input_valid.defined() ? input_valid.to(device_, at::kBool) : at::ones({B, T}, options(at::kBool));
  at::Tensor positions = (cache.next_position.unsqueeze(1) + valid.to(at::kLong).cumsum(1) - 1).clamp_min(0);
  cache.valid.narrow(1, slot, T).copy_(valid);
  at::Tensor q_idx = at::arange(slot, S, options(at::kLong)), k_idx = at::arange(S, options(at::kLong));
  at::Tensor allowed = (k_idx.unsqueeze(0) <= q_idx.unsqueeze(1)).unsqueeze(0) & cache.valid.narrow(1, 0, S).unsqueeze(1);
  allowed = allowed | (k_idx.unsqueeze(0) == q_idx.unsqueeze(1)).unsqueeze(0);
  at::Tensor mask = at::zeros({B, 1, T, S}, options(at::kFloat))
                        .masked_fill(allowed.logical_not().unsqueeze(1), std::numeric_limits<float>::lowest());
  auto [cos, sin] = rope(positions);
  at::Tensor x = at::embedding(w("model.embed_tokens.weight"), input_ids.to(device_));
  auto keys_values = [&](int64_t i, const at::Tensor& k, const at::Tensor& v) {
    const auto l = static_cast<size_t>(i);
    cache.k[l].narrow(2, slot, T).copy_(k);
    cache.v[l].narrow(2, slot, T).copy_(v);
    return std::make_pair(cache.k[l].narrow(2, 0, S), cache.v[l].narrow(2, 0, S));
  };
  for (int64_t i = 0; i < config_.num_hidden_layers; ++i) x = layer(i, x, cos, sin, mask, keys_values);
  cache.length = S;
  cache.next_position = cache.next_position + valid.to(at::kLong).sum(1);
  return rms_norm(x, w("model.norm.weight"), config_.rms_norm_eps);
}

PagedKV Transformer::new_paged_cache(int64_t num_blocks, int64_t block_size) const {
  if (num_blocks < 1 || block_size < 1) throw Error("new_paged_cache: need at least one block of at least one token");
  PagedKV c;
  c.block_size = block_size;
  c.num_blocks = num_blocks;
  for (int64_t i = 0; i < config_.num_hidden_layers; ++i) {
    c.k.push_back(at::zeros({config_.num_key_value_heads, num_blocks * block_size, config_.head_dim}, options(dtype_)));
    c.v.push_back(at::zeros({config_.num_key_value_heads, num_blocks * block_size, config_.head_dim}, options(dtype_)));
  }
  return c;
}

int64_t Transformer::kv_bytes_per_token() const {
  return 2 * config_.num_hidden_layers * config_.num_key_value_heads * config_.head_dim *
         static_cast<int64_t>(c10::elementSize(dtype_));
}

at::Tensor Transformer::forward_paged(const PagedStep& step, PagedKV& cache) const {
  const at::Tensor ids = step.input_ids.to(device_);
  const at::Tensor positions = step.positions.to(device_);
  if (ids.dim() != 2 || step.positions.sizes() != ids.sizes() || step.write.sizes() != ids.sizes() ||
      step.read.dim() != 2 || step.read.size(0) != ids.size(0))
    throw Error("forward_paged: input_ids, positions and write must be [batch, tokens], read [batch, width]");
  if (static_cast<int64_t>(cache.k.size()) != config_.num_hidden_layers)
    throw Error("forward_paged: the cache was made for another model");
  const int64_t B = ids.size(0), T = ids.size(1), W = step.read.size(1);
  // Query t of row b reads the row's tokens 0..positions[b, t]: read[b, j] holds its token j.
  at::Tensor j = at::arange(W, options(at::kLong));
  at::Tensor allowed = j.view({1, 1, W}) <= positions.unsqueeze(2);
  at::Tensor mask = at::zeros({B, 1, T, W}, options(at::kFloat))
                        .masked_fill(allowed.logical_not().unsqueeze(1), std::numeric_limits<float>::lowest());
  const at::Tensor write = step.write.to(device_).reshape({-1}), read = step.read.to(device_).reshape({-1});
  // Every layer gathers its rows' keys and values ([kv, B * W, D], head-major, so layer() reads them
  // in place) into the same two buffers, kept in the cache and grown when a step needs more: a fresh
  // tensor per layer per step would be a new mapping each time (~40 MB apiece for 256 rows of 320
  // tokens on 25m), page-faulted and cleared by the kernel.
  const int64_t G = config_.num_key_value_heads, D = config_.head_dim, gathered = G * B * W * D;
  for (at::Tensor* buffer : {&cache.gather_k, &cache.gather_v})
    if (!buffer->defined() || buffer->numel() < gathered)
      *buffer = at::empty({gathered + gathered / 4}, cache.k.front().options());
  auto keys_values = [&](int64_t i, const at::Tensor& k, const at::Tensor& v) {  // k, v [B, kv, T, D]
    const auto l = static_cast<size_t>(i);
    cache.k[l].index_copy_(1, write, k.permute({1, 0, 2, 3}).reshape({G, B * T, D}));
    cache.v[l].index_copy_(1, write, v.permute({1, 0, 2, 3}).reshape({G, B * T, D}));
    at::Tensor gk = cache.gather_k.narrow(0, 0, gathered).view({G, B * W, D});
    at::Tensor gv = cache.gather_v.narrow(0, 0, gathered).view({G, B * W, D});
    for (int64_t g = 0; g < G; ++g) {  // along dim 0 of a contiguous [slots, D]: index_select's memcpy path
      at::Tensor ok = gk[g], ov = gv[g];
      at::index_select_out(ok, cache.k[l][g], 0, read);
      at::index_select_out(ov, cache.v[l][g], 0, read);
    }
    return std::make_pair(gk.view({G, B, W, D}).transpose(0, 1), gv.view({G, B, W, D}).transpose(0, 1));
  };
  auto [cos, sin] = rope(positions);
  at::Tensor x = at::embedding(w("model.embed_tokens.weight"), ids);
  for (int64_t i = 0; i < config_.num_hidden_layers; ++i) x = layer(i, x, cos, sin, mask, keys_values);
  return rms_norm(x, w("model.norm.weight"), config_.rms_norm_eps);
}

}  // namespace r1::model
