// Transformer's weights one by one: assembling a model weight by weight (a rollout worker's update),
// writing over a model's weights in place (a recycled model), FP8 quantisation of the layer matrices,
// and the bytes they hold. The forward passes, loading and saving are transformer.cpp.
#include "core/error.h"
#include "model/lora.h"
#include "model/transformer.h"

namespace r1::model {

bool Transformer::quantized_in_fp8(const std::string& name, int64_t dims) {
  return name.rfind("model.layers.", 0) == 0 && dims == 2;
}

Transformer Transformer::unfilled(checkpoint::ModelConfig config, at::ScalarType dtype, at::Device device) {
  return Transformer(std::move(config), dtype, device, false);
}

namespace {

// The checkpoint's shape of weight `name`; an r1::Error when the model has no such weight.
std::vector<int64_t> checkpoint_shape(const checkpoint::ModelConfig& config, const std::string& name) {
  for (checkpoint::TensorShape& t : checkpoint::checkpoint_tensors(config))
    if (t.name == name) return std::move(t.shape);
  throw Error("the model has no weight '" + name + "'");
}

}  // namespace

void Transformer::set_weight(const std::string& name, at::Tensor value) {
  if (value.sizes().vec() != checkpoint_shape(config_, name) || value.scalar_type() != dtype_)
    throw Error("weight '" + name + "': not the checkpoint's shape in the model's dtype");
  fp8_.erase(name);
  weights_[name] = value.device() == device_ ? std::move(value) : value.to(device_);
}

void Transformer::set_fp8_weight(const std::string& name, Fp8Weight value) {
  const std::vector<int64_t> shape = checkpoint_shape(config_, name);
  if (!quantized_in_fp8(name, static_cast<int64_t>(shape.size())) || value.codes.sizes().vec() != shape)
    throw Error("weight '" + name + "': not a layer matrix of the checkpoint's shape");
  weights_.erase(name);
  fp8_[name] = value.codes.device() == device_ ? std::move(value) : value.to(device_);
}

void Transformer::overwrite_weight(const std::string& name, const at::Tensor& value) {
  const std::vector<int64_t> shape = checkpoint_shape(config_, name);
  if (value.sizes().vec() != shape) throw Error("weight '" + name + "': not the checkpoint's shape");
  auto it = weights_.find(name);
  if (it != weights_.end() && it->second.sizes() == value.sizes() && it->second.scalar_type() == dtype_ &&
      it->second.device() == device_) {
    it->second.copy_(value);
    return;
  }
  set_weight(name, value.to(device_, dtype_, /*non_blocking=*/false, /*copy=*/true));
}

void Transformer::overwrite_fp8_weight(const std::string& name, const at::Tensor& value, Fp8Scaling scaling) {
  const std::vector<int64_t> shape = checkpoint_shape(config_, name);
  if (!quantized_in_fp8(name, static_cast<int64_t>(shape.size())) || value.sizes().vec() != shape)
    throw Error("weight '" + name + "': not a layer matrix of the checkpoint's shape");
  auto it = fp8_.find(name);
  if (it == fp8_.end() || it->second.codes.device() != device_) {
    set_fp8_weight(name, Fp8Weight::quantize(value.to(dtype_), scaling));
    return;
  }
  // Quantised from the model's dtype, as quantize_fp8() does from a loaded model's copy.
  it->second.quantize_into(value.scalar_type() == dtype_ ? value : value.to(dtype_), scaling);
}

void Transformer::quantize_fp8(Fp8Scaling scaling) {
  for (auto it = weights_.begin(); it != weights_.end();) {
    const std::string& n = it->first;
    const bool layer_matrix = quantized_in_fp8(n, it->second.dim());
    if (!layer_matrix) {
      ++it;
      continue;
    }
    fp8_[n] = Fp8Weight::quantize(it->second, scaling);
    it = weights_.erase(it);
  }
}

void Transformer::check_lora(const LoraAdapter& adapter) const {
  std::map<std::string, std::vector<int64_t>> shapes;
  for (checkpoint::TensorShape& t : checkpoint::checkpoint_tensors(config_)) shapes[t.name] = std::move(t.shape);
  const std::string model = std::string("a ") + config_.architecture_name() + " of " +
                            std::to_string(config_.num_hidden_layers) + " layers";
  for (const LoraModule& m : adapter.modules()) {
    auto it = shapes.find(m.target.weight);
    if (it == shapes.end())
      throw Error("LoRA adapter: the model (" + model + ") has no module '" + m.target.module + "'");
    const std::vector<int64_t> want = {m.b.size(0), m.a.size(1)};
    if (it->second != want || m.a.size(0) != m.b.size(1))
      throw Error("LoRA adapter: '" + m.target.a_name + "' " + std::to_string(m.a.size(0)) + "x" + std::to_string(m.a.size(1)) +
                  " and '" + m.target.b_name + "' " + std::to_string(m.b.size(0)) + "x" + std::to_string(m.b.size(1)) +
                  " do not adapt the model's '" + m.target.weight + "' of " + std::to_string(it->second[0]) + "x" +
                  std::to_string(it->second.size() > 1 ? it->second[1] : 0) + " (" + model + ")");
    if (m.a.device() != device_ || m.b.device() != device_)
      throw Error("LoRA adapter: '" + m.target.a_name + "' is on " + m.a.device().str() + ", the model on " + device_.str());
  }
}

void Transformer::set_lora(std::shared_ptr<LoraAdapter> adapter) {
  if (adapter) {
    check_lora(*adapter);
    for (auto& [name, t] : weights_) t.requires_grad_(false);
  }
  lora_ = std::move(adapter);
  lora_enabled_ = true;
}

int64_t Transformer::weight_bytes() const {
  int64_t n = 0;
  for (const auto& [name, t] : weights_) n += t.numel() * t.element_size();
  for (const auto& [name, q] : fp8_) n += q.bytes();
  return n;
}

}  // namespace r1::model
