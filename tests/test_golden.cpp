// The transformer against Hugging Face `transformers` itself: tiny random Qwen2, Qwen3 and Llama models
// and the logits and greedy continuations transformers computed for them (scripts/golden/make_goldens.py,
// committed under tests/data/golden/). Built only when those fixtures are present.
#include <ATen/ATen.h>

#include <catch2/catch.hpp>

#include <cstring>
#include <string>

#include "inference/generate.h"
#include "checkpoint/safetensors.h"
#include "model/transformer.h"

using namespace r1::model;
using namespace r1::inference;

namespace {

at::Tensor load_tensor(const r1::checkpoint::SafetensorsFile& f, const std::string& name) {
  const r1::checkpoint::TensorInfo& t = f.at(name);
  at::ScalarType type = t.dtype == r1::checkpoint::DType::kI64 ? at::kLong : at::kFloat;
  REQUIRE((t.dtype == r1::checkpoint::DType::kI64 || t.dtype == r1::checkpoint::DType::kF32));
  return at::from_blob(const_cast<uint8_t*>(f.data(t)), t.shape, at::TensorOptions(type)).clone();
}

}  // namespace

TEST_CASE("golden: logits and greedy continuations equal transformers'", "[model][golden]") {
  for (const char* arch : {"qwen2", "qwen3", "llama"}) {
    INFO(arch);
    const std::string dir = std::string(R1_SOURCE_DIR) + "/tests/data/golden/" + arch;
    Transformer m = Transformer::load(dir, at::kFloat);
    r1::checkpoint::SafetensorsFile golden(dir + "/golden.safetensors");
    at::Tensor ids = load_tensor(golden, "input_ids"), logits = load_tensor(golden, "logits"),
               greedy = load_tensor(golden, "greedy");
    at::NoGradGuard no_grad;
    at::Tensor ours = m.logits(m.forward(ids));
    CHECK((ours - logits).abs().max().item<double>() <= 1e-4);
    std::vector<GroupRequest> qs;
    for (int64_t r = 0; r < ids.size(0); ++r) {
      GroupRequest q;
      for (int64_t j = 0; j < ids.size(1); ++j) q.prompt.push_back(ids[r][j].item<int64_t>());
      q.params.temperature = 0;
      q.params.max_new_tokens = greedy.size(1);
      qs.push_back(q);
    }
    auto out = r1::inference::generate(m, qs);
    for (int64_t r = 0; r < ids.size(0); ++r) {
      std::vector<int64_t> want;
      for (int64_t j = 0; j < greedy.size(1); ++j) want.push_back(greedy[r][j].item<int64_t>());
      CHECK(out[static_cast<size_t>(r)][0].ids == want);
    }
  }
}
