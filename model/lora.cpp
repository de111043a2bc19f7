#include "model/lora.h"

#include <ATen/CPUGeneratorImpl.h>

#include <cmath>
#include <filesystem>
#include <fstream>
#include <set>

#include "checkpoint/safetensors.h"
#include "core/error.h"
#include "model/transformer.h"

namespace r1::model {
namespace {

namespace fs = std::filesystem;

// Written into the adapter's safetensors metadata (PEFT ignores it) and checked when present.
constexpr const char* kBaseArchitectureKey = "r1_base_architecture";

std::string shape_text(at::IntArrayRef s) {
  std::string out = "[";
  for (size_t i = 0; i < s.size(); ++i) out += (i ? ", " : "") + std::to_string(s[i]);
  return out + "]";
}

at::ScalarType float_type(checkpoint::DType d, const std::string& where) {
  switch (d) {
    case checkpoint::DType::kF32: return at::kFloat;
    case checkpoint::DType::kBF16: return at::kBFloat16;
    case checkpoint::DType::kF16: return at::kHalf;
    case checkpoint::DType::kF64: return at::kDouble;
    default: throw Error(where + ": dtype " + checkpoint::dtype_name(d) + " cannot hold LoRA weights (F32, BF16, F16 or F64)");
  }
}

}  // namespace

LoraAdapter::LoraAdapter(const checkpoint::ModelConfig& config, checkpoint::LoraOptions options, at::Device device)
    : config_(config), options_(std::move(options)), device_(device) {
  checkpoint::check_lora_options(options_, "lora");
  scale_ = options_.scale();
}

LoraAdapter::LoraAdapter(const checkpoint::ModelConfig& config, checkpoint::LoraOptions options, uint64_t seed,
                         at::Device device)
    : LoraAdapter(config, std::move(options), device) {
  at::Generator gen = at::detail::createCPUGenerator(seed);
  for (checkpoint::LoraTarget& t : checkpoint::lora_targets(config_, options_, "lora")) {
    at::Tensor a = at::empty({options_.r, t.in}, at::kFloat);
    if (options_.init_lora_weights == "gaussian") {
      a.normal_(0.0, 1.0 / static_cast<double>(options_.r), gen);
    } else {
      // kaiming_uniform_(a = sqrt(5)): gain sqrt(2 / (1 + 5)), bound gain * sqrt(3 / fan_in) = 1 / sqrt(in).
      const double bound = 1.0 / std::sqrt(static_cast<double>(t.in));
      a.uniform_(-bound, bound, gen);
    }
    at::Tensor b = at::zeros({t.out, options_.r}, at::kFloat);
    if (options_.init_lora_weights == "false") b.uniform_(-1.0 / std::sqrt(static_cast<double>(options_.r)),
                                                         1.0 / std::sqrt(static_cast<double>(options_.r)), gen);
    by_weight_[t.weight] = modules_.size();
    modules_.push_back({std::move(t), a.to(device_).requires_grad_(true), b.to(device_).requires_grad_(true)});
  }
}

std::shared_ptr<LoraAdapter> LoraAdapter::load(const std::string& dir, const checkpoint::ModelConfig& config,
                                               at::Device device) {
  const std::string config_path = dir + "/" + checkpoint::kPeftConfigFile;
  const std::string path = dir + "/" + checkpoint::kPeftWeightsFile;
  checkpoint::LoraOptions options = checkpoint::read_peft_config(config_path);
  std::vector<checkpoint::LoraTarget> targets = checkpoint::lora_targets(config, options, config_path);
  if (!fs::exists(path)) {
    if (fs::exists(dir + "/adapter_model.bin"))
      throw Error(dir + ": the adapter's weights are adapter_model.bin (pickle); r1 reads " + checkpoint::kPeftWeightsFile +
                  " (PEFT's save_pretrained(..., safe_serialization=True), its default)");
    throw Error(path + ": cannot open (a PEFT adapter folder holds " + checkpoint::kPeftWeightsFile + ")");
  }
  checkpoint::SafetensorsFile file(path);
  if (auto it = file.header().metadata.find(kBaseArchitectureKey);
      it != file.header().metadata.end() && it->second != config.architecture_name())
    throw Error(path + ": metadata " + kBaseArchitectureKey + " says the adapter was made for a " + it->second +
                ", the model is a " + config.architecture_name());
  auto adapter = std::shared_ptr<LoraAdapter>(new LoraAdapter(config, std::move(options), device));
  const int64_t r = adapter->options_.r;
  std::set<std::string> expected;
  auto read = [&](const std::string& name, std::vector<int64_t> shape, const checkpoint::LoraTarget& t) {
    expected.insert(name);
    const checkpoint::TensorInfo* info = file.find(name);
    if (!info)
      throw Error(path + ": no tensor '" + name + "', which " + checkpoint::kPeftConfigFile + "'s target_modules (r " +
                  std::to_string(r) + ") need in this " + config.architecture_name() + " of " +
                  std::to_string(config.num_hidden_layers) + " layers (an adapter made for another base model?)");
    const std::string where = path + ": tensor '" + name + "'";
    if (info->shape != shape)
      throw Error(where + " has shape " + shape_text(info->shape) + ", the model's " + t.module + " with r " +
                  std::to_string(r) + " needs " + shape_text(shape) + " (an adapter made for another base model?)");
    at::Tensor view = at::from_blob(const_cast<uint8_t*>(file.data(*info)), info->shape,
                                    at::TensorOptions(float_type(info->dtype, where)));
    at::Tensor out = view.to(device, at::kFloat, /*non_blocking=*/false, /*copy=*/true);
    if (!at::isfinite(out).all().item<bool>()) throw Error(where + " holds a value that is not finite");
    return out.requires_grad_(true);
  };
  for (checkpoint::LoraTarget& t : targets) {
    at::Tensor a = read(t.a_name, {r, t.in}, t), b = read(t.b_name, {t.out, r}, t);
    adapter->by_weight_[t.weight] = adapter->modules_.size();
    adapter->modules_.push_back({std::move(t), a, b});
  }
  for (const checkpoint::TensorInfo& info : file.header().tensors)
    if (!expected.count(info.name))
      throw Error(path + ": unexpected tensor '" + info.name + "' (not a LoRA weight that " + checkpoint::kPeftConfigFile +
                  "'s target_modules give a " + config.architecture_name() + " of " +
                  std::to_string(config.num_hidden_layers) + " layers)");
  return adapter;
}

std::shared_ptr<LoraAdapter> LoraAdapter::from_tensors(const checkpoint::ModelConfig& config, checkpoint::LoraOptions options,
                                                       const std::map<std::string, at::Tensor>& tensors,
                                                       const std::string& where, at::Device device) {
  std::vector<checkpoint::LoraTarget> targets = checkpoint::lora_targets(config, options, where);
  auto adapter = std::shared_ptr<LoraAdapter>(new LoraAdapter(config, std::move(options), device));
  const int64_t r = adapter->options_.r;
  std::set<std::string> expected;
  auto take = [&](const std::string& name, const std::vector<int64_t>& shape, const checkpoint::LoraTarget& t) {
    expected.insert(name);
    auto it = tensors.find(name);
    if (it == tensors.end())
      throw Error(where + ": no tensor '" + name + "', which the adapter's target_modules (r " + std::to_string(r) +
                  ") need in this " + config.architecture_name());
    if (it->second.sizes().vec() != shape)
      throw Error(where + ": tensor '" + name + "' has shape " + shape_text(it->second.sizes()) + ", the model's " +
                  t.module + " with r " + std::to_string(r) + " needs " + shape_text(shape));
    at::Tensor out = it->second.detach().to(device, at::kFloat, /*non_blocking=*/false, /*copy=*/true);
    if (!at::isfinite(out).all().item<bool>()) throw Error(where + ": tensor '" + name + "' holds a value that is not finite");
    return out;
  };
  for (checkpoint::LoraTarget& t : targets) {
    at::Tensor a = take(t.a_name, {r, t.in}, t), b = take(t.b_name, {t.out, r}, t);
    adapter->by_weight_[t.weight] = adapter->modules_.size();
    adapter->modules_.push_back({std::move(t), a, b});
  }
  for (const auto& [name, t] : tensors)
    if (!expected.count(name))
      throw Error(where + ": unexpected tensor '" + name + "' (not a LoRA weight the adapter's target_modules give a " +
                  config.architecture_name() + " of " + std::to_string(config.num_hidden_layers) + " layers)");
  return adapter;
}

void LoraAdapter::save(const std::string& dir) const {
  fs::create_directories(dir);
  std::vector<at::Tensor> keep;
  std::vector<checkpoint::TensorToWrite> out;
  auto add = [&](const std::string& name, const at::Tensor& t) {
    at::Tensor c = t.detach().to(at::kCPU, at::kFloat).contiguous();
    keep.push_back(c);
    out.push_back({name, checkpoint::DType::kF32, c.sizes().vec(), c.data_ptr(), static_cast<size_t>(c.numel() * 4)});
  };
  for (const LoraModule& m : modules_) {
    add(m.target.a_name, m.a);
    add(m.target.b_name, m.b);
  }
  checkpoint::write_safetensors(dir + "/" + checkpoint::kPeftWeightsFile, out,
                                {{"format", "pt"}, {kBaseArchitectureKey, config_.architecture_name()}});
  const std::string path = dir + "/" + checkpoint::kPeftConfigFile;
  std::ofstream f(path, std::ios::trunc);
  f << checkpoint::peft_config_json(options_);
  if (!f) throw Error(path + ": cannot write");
}

std::shared_ptr<LoraAdapter> LoraAdapter::snapshot() const {
  auto copy = std::shared_ptr<LoraAdapter>(new LoraAdapter(config_, options_, device_));
  copy->by_weight_ = by_weight_;
  for (const LoraModule& m : modules_) copy->modules_.push_back({m.target, m.a.detach().clone(), m.b.detach().clone()});
  return copy;
}

const LoraModule* LoraAdapter::find(const std::string& weight) const {
  auto it = by_weight_.find(weight);
  return it == by_weight_.end() ? nullptr : &modules_[it->second];
}

LoraModule& LoraAdapter::module(const std::string& weight) {
  auto it = by_weight_.find(weight);
  if (it == by_weight_.end()) throw Error("the LoRA adapter does not adapt '" + weight + "'");
  return modules_[it->second];
}

std::vector<at::Tensor> LoraAdapter::parameters() const {
  std::vector<at::Tensor> out;
  for (const LoraModule& m : modules_) {
    out.push_back(m.a);
    out.push_back(m.b);
  }
  return out;
}

std::vector<at::Tensor> LoraAdapter::layer_parameters(int64_t layer) const {
  std::vector<at::Tensor> out;
  for (const LoraModule& m : modules_)
    if (m.target.layer == layer)
      for (const at::Tensor* t : {&m.a, &m.b})
        if (t->requires_grad()) out.push_back(*t);
  return out;
}

int64_t LoraAdapter::parameter_count() const {
  int64_t n = 0;
  for (const LoraModule& m : modules_) n += m.a.numel() + m.b.numel();
  return n;
}

int64_t LoraAdapter::bytes() const {
  int64_t n = 0;
  for (const LoraModule& m : modules_) n += m.a.numel() * m.a.element_size() + m.b.numel() * m.b.element_size();
  return n;
}

at::Tensor LoraAdapter::delta(const LoraModule& m, const at::Tensor& x, at::ScalarType compute) const {
  at::Tensor h = uses_rng() ? at::dropout(x, options_.lora_dropout, /*train=*/true) : x;
  if (h.scalar_type() != compute) h = h.to(compute);
  const at::Tensor a = m.a.scalar_type() == compute ? m.a : m.a.to(compute);
  const at::Tensor b = m.b.scalar_type() == compute ? m.b : m.b.to(compute);
  at::Tensor out = at::linear(at::linear(h, a), b) * scale_;
  return out.scalar_type() == x.scalar_type() ? out : out.to(x.scalar_type());
}

at::Tensor LoraAdapter::merged_delta(const LoraModule& m) const {
  return at::matmul(m.b.detach().to(at::kFloat), m.a.detach().to(at::kFloat)) * scale_;
}

void merge_lora(Transformer& model, const LoraAdapter& adapter) {
  if (model.fp8()) throw Error("merge_lora: the model's layer matrices are FP8; merge the adapter before quantising");
  if (model.lora().get() == &adapter) model.set_lora(nullptr);
  model.check_lora(adapter);
  at::NoGradGuard no_grad;
  for (const LoraModule& m : adapter.modules()) {
    at::Tensor& w = model.weight(m.target.weight);
    w.copy_((w.to(at::kFloat) + adapter.merged_delta(m).to(w.device())).to(w.scalar_type()));
  }
}

}  // namespace r1::model
