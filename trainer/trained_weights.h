// What a training stage (grpo, sft, distill) trains and what it writes: every weight of the model, or,
// with the stage's `lora` block (run/lora_stage.h), a LoRA adapter over the frozen base (model/lora.h).
//
//               trained                      a checkpoint holds              the stage's output
//   full        every weight (fp32)          the model, Hugging Face layout  model/
//   LoRA        A and B of each targeted     the adapter as PEFT saves it    adapter/ (PEFT's folder, loadable
//               matrix (fp32); the base      (adapter_config.json +          by peft), and model/ (the adapter
//               frozen, read from the        adapter_model.safetensors),     merged: a plain checkpoint later
//               stage's model, never         beside optimizer.pt             stages, r1 eval and Hugging Face
//               written                                                      tools load)
//
// With LoRA the model's config, tokenizer and stop ids always come from the base model: a LoRA
// checkpoint holds none of them.
#pragma once

#include <ATen/ATen.h>

#include <cstdint>
#include <string>
#include <utility>
#include <vector>

#include "run/checkpoint_store.h"
#include "run/lora_stage.h"

namespace r1::model {
class Transformer;
}

namespace r1::trainer {

// The model to train at a run's start point, on `device`, in fp32: the folder's weights (full), or the
// base `base_model` (fp32, or bf16 with lora.base_bf16) with an adapter attached: the checkpoint's at step > 0, else lora.adapter's, else a
// fresh one drawn from `seed` (B = 0: the adapted model starts equal to its base). An adapter that does
// not fit the base is an r1::Error naming the file and tensor.
model::Transformer load_trained(const run::StageLora& lora, const std::string& base_model, const run::StartPoint& from,
                                at::Device device, uint64_t seed);

// Where the model's config.json, tokenizer and stop ids are read at this start point: the base model
// with LoRA, else the start point's folder.
std::string model_files_dir(const run::StageLora& lora, const std::string& base_model, const run::StartPoint& from);

// The parameters the optimiser updates and the gradient sums cover, named: the adapter's A and B
// (PEFT's names) when one is attached, else every weight (Hugging Face's names).
std::vector<std::pair<std::string, at::Tensor>> trained_parameters(const model::Transformer& m);

// Dropout of an attached adapter on (training forward passes) or off, restored on destruction.
class AdapterTraining {
 public:
  AdapterTraining(const model::Transformer& m, bool on);
  ~AdapterTraining();
  AdapterTraining(const AdapterTraining&) = delete;
  AdapterTraining& operator=(const AdapterTraining&) = delete;

 private:
  const model::Transformer& m_;
  bool was_ = false;
};

// The model computing as its base alone (the adapter switched off) until destruction: GRPO's reference
// policy with LoRA, with no second model in memory.
class AdapterOff {
 public:
  explicit AdapterOff(model::Transformer& m);
  ~AdapterOff();
  AdapterOff(const AdapterOff&) = delete;
  AdapterOff& operator=(const AdapterOff&) = delete;

 private:
  model::Transformer& m_;
  bool was_ = true;
};

// A checkpoint's weights into `dir`: the adapter alone (PEFT's two files), or the whole model.
void save_trained(const model::Transformer& m, const std::string& dir);

// The stage's output in `run_dir`: model/, and with LoRA adapter/ first, then the adapter merged into
// the model (it is done training: the model is plain afterwards), or, for a base held in bf16, into
// the fp32 weights of `base_model` read again. Returns model/'s path.
std::string save_final(model::Transformer& m, const std::string& run_dir, const std::string& base_model);

}  // namespace r1::trainer
