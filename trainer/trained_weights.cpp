// What a training stage trains and writes: see trained_weights.h.
#include "trainer/trained_weights.h"

#include <filesystem>
#include <memory>

#include "core/log.h"
#include "model/lora.h"
#include "model/transformer.h"

namespace fs = std::filesystem;

namespace r1::trainer {

model::Transformer load_trained(const run::StageLora& lora, const std::string& base_model, const run::StartPoint& from,
                                at::Device device, uint64_t seed) {
  if (!lora.enabled) return model::Transformer::load(from.model_dir, at::kFloat, device);
  model::Transformer m = model::Transformer::load(base_model, lora.base_bf16 ? at::kBFloat16 : at::kFloat, device);
  std::shared_ptr<model::LoraAdapter> adapter;
  if (from.step > 0) {
    adapter = model::LoraAdapter::load(from.model_dir, m.config(), device);
  } else if (!lora.adapter.empty()) {
    adapter = model::LoraAdapter::load(lora.adapter, m.config(), device);
    log::info() << "lora: starting from the adapter in " << lora.adapter;
  } else {
    adapter = std::make_shared<model::LoraAdapter>(m.config(), lora.options, seed, device);
  }
  adapter->options().base_model_name_or_path = base_model;
  const checkpoint::LoraOptions& o = adapter->options();
  std::vector<checkpoint::LoraTarget> targets;
  for (const model::LoraModule& mod : adapter->modules()) targets.push_back(mod.target);
  std::string names;
  for (const std::string& n : checkpoint::lora_target_names(targets)) names += (names.empty() ? "" : ", ") + n;
  log::info() << "lora: r " << o.r << ", alpha " << o.lora_alpha << (o.use_rslora ? " (rsLoRA)" : "") << ", dropout "
              << o.lora_dropout << ", " << adapter->modules().size() << " matrices (" << names << "): "
              << adapter->parameter_count() << " trained parameters, "
              << 100.0 * static_cast<double>(adapter->parameter_count()) / static_cast<double>(m.config().parameter_count())
              << "% of the model's";
  m.set_lora(std::move(adapter));
  return m;
}

std::string model_files_dir(const run::StageLora& lora, const std::string& base_model, const run::StartPoint& from) {
  return lora.enabled ? base_model : from.model_dir;
}

std::vector<std::pair<std::string, at::Tensor>> trained_parameters(const model::Transformer& m) {
  std::vector<std::pair<std::string, at::Tensor>> named;
  if (const auto& adapter = m.lora()) {
    for (const model::LoraModule& mod : adapter->modules()) {
      named.emplace_back(mod.target.a_name, mod.a);
      named.emplace_back(mod.target.b_name, mod.b);
    }
    return named;
  }
  named.assign(m.weights().begin(), m.weights().end());
  return named;
}

AdapterTraining::AdapterTraining(const model::Transformer& m, bool on) : m_(m) {
  if (!m_.lora()) return;
  was_ = m_.lora()->training();
  m_.lora()->set_training(on);
}

AdapterTraining::~AdapterTraining() {
  if (m_.lora()) m_.lora()->set_training(was_);
}

AdapterOff::AdapterOff(model::Transformer& m) : m_(m), was_(m.lora_enabled()) { m_.set_lora_enabled(false); }

AdapterOff::~AdapterOff() { m_.set_lora_enabled(was_); }

void save_trained(const model::Transformer& m, const std::string& dir) {
  if (m.lora())
    m.lora()->save(dir);
  else
    m.save(dir);
}

std::string save_final(model::Transformer& m, const std::string& run_dir, const std::string& base_model) {
  const std::string model_dir = (fs::path(run_dir) / "model").string();
  const std::shared_ptr<model::LoraAdapter> adapter = m.lora();
  if (!adapter) {
    for (auto& t : m.parameters()) t.requires_grad_(false);
    m.save(model_dir);
    return model_dir;
  }
  adapter->save((fs::path(run_dir) / "adapter").string());
  if (m.dtype() == at::kFloat) {
    model::merge_lora(m, *adapter);  // detaches it
    m.save(model_dir);
    return model_dir;
  }
  // A base held in bf16 for training: merged into the base's own fp32 weights instead, since a small
  // update added to a bf16 weight mostly rounds away.
  m.set_lora(nullptr);
  model::Transformer full = model::Transformer::load(base_model, at::kFloat, at::kCPU);
  model::merge_lora(full, *adapter->snapshot());
  full.save(model_dir);
  return model_dir;
}

}  // namespace r1::trainer
