// The memory model (checkpoint/memory_model.h) against what r1 allocates: the weight, gradient and
// AdamW byte counts equal the real tensors' for full fine-tuning and LoRA on every architecture; the
// adapter's parameter count equals LoraAdapter::parameter_count; the rollout weights equal a bf16 and
// an FP8 model's weight_bytes(); and the activation estimate is checked against the resident-memory
// peak of a real forward and backward of the 25m config on the CPU (the figures are printed).
#include <ATen/ATen.h>

#include <catch2/catch.hpp>

#include <cstdio>
#include <fstream>
#include <memory>
#include <string>

#include "checkpoint/memory_model.h"
#include "model/lora.h"
#include "model/runtime.h"
#include "model/transformer.h"
#include "trainer/logprobs.h"
#include "trainer/optim.h"

using namespace r1;
using checkpoint::LoraOptions;
using checkpoint::TrainingMemoryOptions;

namespace {

int64_t grad_bytes(const std::vector<at::Tensor>& params) {
  int64_t n = 0;
  for (const at::Tensor& p : params)
    if (p.grad().defined()) n += p.grad().numel() * p.grad().element_size();
  return n;
}

std::vector<trainer::TokenSequence> batch(int64_t sequences, int64_t prompt, int64_t completion, int64_t vocab) {
  std::vector<trainer::TokenSequence> out;
  for (int64_t s = 0; s < sequences; ++s) {
    trainer::TokenSequence t;
    for (int64_t i = 0; i < prompt; ++i) t.prompt.push_back((7 * i + s) % vocab);
    for (int64_t i = 0; i < completion; ++i) t.completion.push_back((11 * i + 3 * s + 1) % vocab);
    out.push_back(std::move(t));
  }
  return out;
}

// One forward and backward of every sequence as one micro-batch, as GrpoUpdate's micro_step runs it.
void forward_backward(const model::Transformer& m, const std::vector<trainer::TokenSequence>& seqs) {
  std::vector<size_t> idx(seqs.size());
  for (size_t i = 0; i < idx.size(); ++i) idx[i] = i;
  trainer::CompletionScores s = trainer::score_completions(m, seqs, idx, 1.0);
  (s.logprobs * s.mask).sum().backward();
}

// An AdamW step over `named`, returning the moments' bytes.
int64_t adamw_state_bytes(const std::vector<std::pair<std::string, at::Tensor>>& named) {
  run::OptimConfig oc;
  oc.lr = 1e-4;
  trainer::Optimizer optim(named, oc, 10);
  optim.step(0);
  return optim.state_bytes();
}

int64_t status_kb(const char* key) {
  std::ifstream f("/proc/self/status");
  std::string line;
  while (std::getline(f, line))
    if (line.rfind(key, 0) == 0) return std::stoll(line.substr(std::string(key).size()));
  return -1;
}

}  // namespace

TEST_CASE("memory model: weights, gradients and AdamW moments are the bytes of r1's tensors", "[memory]") {
  for (const char* arch : {"qwen2", "qwen3", "llama"}) {
    INFO(arch);
    const checkpoint::ModelConfig config = checkpoint::preset_config(arch, "tiny", 97);
    model::Transformer m(config, at::kFloat);
    m.init_random(3);
    for (at::Tensor& p : m.parameters()) p.requires_grad_(true);
    TrainingMemoryOptions o;
    o.reference = true;
    const checkpoint::TrainingMemory est = checkpoint::estimate_training_memory(config, o);
    CHECK(est.parameters == config.parameter_count());
    CHECK(est.trained_weights == m.weight_bytes());
    CHECK(est.reference == m.weight_bytes());  // the trainer's reference: a second fp32 model
    CHECK(est.frozen_weights == 0);
    forward_backward(m, batch(2, 5, 7, config.vocab_size));
    CHECK(est.gradients == grad_bytes(m.parameters()));
    std::vector<std::pair<std::string, at::Tensor>> named(m.weights().begin(), m.weights().end());
    CHECK(est.optimizer == adamw_state_bytes(named));

    // The rollout engine's copies: bf16, and bf16 quantised to FP8 as a worker does.
    model::Transformer bf16(config, at::kBFloat16);
    CHECK(checkpoint::rollout_weight_bytes(config, WeightPrecision::kBf16) == bf16.weight_bytes());
    bf16.quantize_fp8();
    CHECK(checkpoint::rollout_weight_bytes(config, WeightPrecision::kFp8) == bf16.weight_bytes());
    CHECK(checkpoint::rollout_weight_bytes(config, WeightPrecision::kFp32) == m.weight_bytes());
  }
}

TEST_CASE("memory model: LoRA trains the adapter's parameters only, over an fp32 base, with no reference copy", "[memory][lora]") {
  const checkpoint::ModelConfig config = checkpoint::preset_config("qwen2", "tiny", 97);
  const std::vector<std::vector<std::string>> targets = {
      {"q_proj", "v_proj"}, {"q_proj", "k_proj", "v_proj", "o_proj", "gate_proj", "up_proj", "down_proj"}, {"down_proj"}};
  for (const auto& modules : targets)
    for (int64_t r : {1, 8, 64}) {
      INFO("r " << r << ", " << modules.size() << " modules");
      LoraOptions lo;
      lo.r = r;
      lo.lora_alpha = 2.0 * static_cast<double>(r);
      lo.target_modules = modules;
      auto adapter = std::make_shared<model::LoraAdapter>(config, lo, 5);
      CHECK(checkpoint::lora_parameter_count(config, lo) == adapter->parameter_count());
      TrainingMemoryOptions o;
      o.lora = true;
      o.lora_options = lo;
      o.reference = true;
      const checkpoint::TrainingMemory est = checkpoint::estimate_training_memory(config, o);
      CHECK(est.trained_parameters == adapter->parameter_count());
      CHECK(est.trained_weights == adapter->bytes());
      CHECK(est.reference == 0);
      model::Transformer m(config, at::kFloat);
      m.init_random(3);
      CHECK(est.frozen_weights == m.weight_bytes());
      m.set_lora(adapter);
      adapter->set_training(true);
      // B starts at zero: a nudge, so every adapter tensor gets a gradient.
      for (at::Tensor& p : adapter->parameters()) p.data().add_(0.01);
      forward_backward(m, batch(2, 5, 7, config.vocab_size));
      CHECK(grad_bytes(m.parameters()) == 0);  // the base is frozen
      CHECK(est.gradients == grad_bytes(adapter->parameters()));
      std::vector<std::pair<std::string, at::Tensor>> named;
      for (const model::LoraModule& mod : adapter->modules()) {
        named.emplace_back(mod.target.a_name, mod.a);
        named.emplace_back(mod.target.b_name, mod.b);
      }
      CHECK(est.optimizer == adamw_state_bytes(named));
    }
}

// The activation estimate against the resident-memory peak of one forward and backward, the second
// micro-batch of a minibatch: the weights and the first one's gradients already resident, so the
// activations, log-prob chunks and (checkpointing) the recomputed layer are what the peak adds. Large
// tensors are mmapped (the lean allocator threshold), so a freed one leaves the resident set at once
// and the peak is that of the live tensors. The figures are printed for docs/benchmarks.md.
TEST_CASE("memory model: the 25m config's activation peak on the CPU is within 30% of the estimate", "[memory][measured]") {
  model::configure_allocator(model::kLeanMmapThreshold);
  const checkpoint::ModelConfig config = checkpoint::preset_config("qwen2", "25m", 4096);
  const bool bf16 = false;
  for (const bool checkpointing : {false, true}) {
      model::Transformer m(config, at::kFloat);
      m.init_random(3);
      for (at::Tensor& p : m.parameters()) p.requires_grad_(true);
      m.set_compute_dtype(bf16 ? at::kBFloat16 : at::kFloat);
      m.set_activation_checkpointing(checkpointing);
      const int64_t B = 2, prompt = 96, completion = 416;
      const auto seqs = batch(B, prompt, completion, config.vocab_size);
      forward_backward(m, seqs);  // the first micro-batch: its gradients stay
      { std::ofstream("/proc/self/clear_refs") << "5"; }
      const int64_t before = status_kb("VmRSS:");
      forward_backward(m, seqs);
      const double measured = static_cast<double>(status_kb("VmHWM:") - before) * 1024.0;
      TrainingMemoryOptions o;
      o.cuda = false;
      o.bf16_compute = bf16;
      o.activation_checkpointing = checkpointing;
      o.sequence_tokens = prompt + completion;
      o.micro_batch_tokens = B * o.sequence_tokens;
      const checkpoint::TrainingMemory est = checkpoint::estimate_training_memory(config, o);
      const double predicted = static_cast<double>(est.backward_peak - est.steady - est.gradients);
      std::printf("25m CPU %s products%s: measured peak over the weights %.1f MiB, estimated %.1f MiB (activations %.1f, "
                  "transients %.1f): error %+.0f%%\n",
                  bf16 ? "bf16" : "fp32", checkpointing ? ", checkpointing" : "", measured / (1 << 20), predicted / (1 << 20),
                  static_cast<double>(est.activations) / (1 << 20),
                  static_cast<double>(std::max(est.logits, est.backward_workspace)) / (1 << 20),
                  100.0 * (predicted - measured) / measured);
      CHECK(predicted > 0.7 * measured);
      CHECK(predicted < 1.3 * measured);
    }
  model::configure_allocator(model::kFastMmapThreshold);
}
