#include "inference/lora_apply.h"

#include "core/error.h"
#include "model/lora.h"
#include "model/transformer.h"

namespace r1::inference {

LoraMode resolve_lora_apply(const std::string& choice) {
  if (choice == "merged" || choice == "auto") return LoraMode::kMerged;
  if (choice == "unmerged") return LoraMode::kUnmerged;
  throw Error("--lora-apply: '" + choice + "' is not one of merged, unmerged, auto");
}

const char* lora_mode_name(LoraMode mode) { return mode == LoraMode::kMerged ? "merged" : "unmerged"; }

std::shared_ptr<model::Transformer> adapted_model(const model::Transformer& base, std::shared_ptr<model::LoraAdapter> adapter,
                                                  LoraMode mode, const std::map<std::string, at::Tensor>* unquantised,
                                                  model::Fp8Scaling scaling) {
  at::NoGradGuard no_grad;
  base.check_lora(*adapter);
  auto out = std::make_shared<model::Transformer>(base);  // shares every tensor of the base
  out->set_lora(nullptr);
  if (mode == LoraMode::kUnmerged) {
    out->set_lora(std::move(adapter));
    return out;
  }
  for (const model::LoraModule& m : adapter->modules()) {
    const std::string& name = m.target.weight;
    at::Tensor delta = adapter->merged_delta(m);
    if (base.fp8()) {
      const at::Tensor* kept = nullptr;
      if (unquantised)
        if (auto it = unquantised->find(name); it != unquantised->end()) kept = &it->second;
      if (!kept) throw Error("merging a LoRA adapter into FP8 weights: no bf16 copy of '" + name + "' was kept");
      const at::Tensor merged = (kept->to(at::kFloat) + delta.to(kept->device())).to(base.dtype());
      out->set_fp8_weight(name, model::Fp8Weight::quantize(merged, scaling));
    } else {
      const at::Tensor& w = base.weights().at(name);
      out->set_weight(name, (w.to(at::kFloat) + delta.to(w.device())).to(w.scalar_type()));  // a new tensor: the base's stays
    }
  }
  return out;
}

}  // namespace r1::inference
