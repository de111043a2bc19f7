// LoRA adapters on a rollout worker's base weights (proto/rollout.proto's adapter updates, `r1 rollout
// serve --adapter / --lora-apply`): the model an adapter makes of the base, in one of two ways.
//
//   merged:   a copy of the base whose targeted matrices are W + scale B A, computed in fp32 from the
//             base's own matrices and stored in the base's dtype; in FP8, requantised from the bf16
//             base matrices the worker kept from load (`unquantised`), so every merge starts from the
//             base and never from the previous merge. No cost per forward pass.
//   unmerged: a copy of the base with the adapter attached (Transformer::set_lora): the low-rank
//             product scale B (A x) beside each targeted matrix in every forward pass.
//
// Either way the copy shares every tensor it does not replace with the base (a Transformer copy is
// shallow), so the base is never altered, and only the adapter's bytes or the merged matrices are new.
// auto is merged: in `r1 bench lora` a merged adapter decoded at the base's rate and an unmerged one on
// every module at 0.66-0.85x of it; a merge is a one-off per update (docs/benchmarks.md, "LoRA workers").
#pragma once

#include <ATen/ATen.h>

#include <map>
#include <memory>
#include <string>

#include "model/fp8.h"

namespace r1::model {
class Transformer;
class LoraAdapter;
}  // namespace r1::model

namespace r1::inference {

enum class LoraMode { kMerged, kUnmerged };

// --lora-apply's choice ("merged", "unmerged", "auto") for a worker of this precision; an r1::Error
// naming the flag for anything else.
LoraMode resolve_lora_apply(const std::string& choice);
const char* lora_mode_name(LoraMode mode);

// The model `adapter` makes of `base` (see above). `unquantised`: for an FP8 base in merged mode, the
// base's layer matrices in bf16 by weight name (an r1::Error naming the first missing one). The
// adapter's shapes are checked against the base (Transformer::check_lora).
std::shared_ptr<model::Transformer> adapted_model(const model::Transformer& base, std::shared_ptr<model::LoraAdapter> adapter,
                                                  LoraMode mode, const std::map<std::string, at::Tensor>* unquantised,
                                                  model::Fp8Scaling scaling);

}  // namespace r1::inference
