// The common start of a training loop: see run_start.h.
#include "trainer/run_start.h"

#include <ATen/ATen.h>

#include <filesystem>

#include "model/runtime.h"
#include "model/transformer.h"

namespace r1::trainer {

void configure_training(int threads, uint64_t seed) {
  model::configure_threads(threads);
  model::configure_allocator(model::kFastMmapThreshold);
  at::manual_seed(seed);
}

ComputeDtype make_trainable(model::Transformer& m, ComputeDtype compute_dtype, bool activation_checkpointing) {
  // With a LoRA adapter attached the base stays frozen: only the adapter's A and B train.
  if (!m.lora())
    for (auto& t : m.parameters()) t.requires_grad_(true);
  // auto on a GPU: bf16 (tensor cores); on a CPU, whichever product runs faster here.
  // A frozen base held in bf16 (LoRA's base_dtype) computes in bf16 whatever was asked.
  const ComputeDtype compute = m.dtype() == at::kBFloat16 || (compute_dtype == ComputeDtype::kAuto && m.device().is_cuda())
                                   ? ComputeDtype::kBf16
                                   : model::resolve_compute_dtype(compute_dtype);
  m.set_compute_dtype(compute == ComputeDtype::kBf16 ? at::kBFloat16 : at::kFloat);
  m.set_activation_checkpointing(activation_checkpointing);
  return compute;
}

RunStart begin_run(const std::string& run_dir, int threads, uint64_t seed, int keep_last, bool resume,
                   const std::string& base_model) {
  configure_training(threads, seed);
  std::filesystem::create_directories(run_dir);
  run::CheckpointStore checkpoints((std::filesystem::path(run_dir) / "checkpoints").string(), keep_last);
  run::StartPoint from = run::start_point(checkpoints, resume, base_model);
  run::DatasetPosition position = from.step > 0 ? run::DatasetPosition::from_json(from.state.at("dataset")) : run::DatasetPosition();
  return {std::move(checkpoints), std::move(from), position};
}

}  // namespace r1::trainer
