// FP8 e4m3: known codes, rounding to nearest-even, saturation, every finite code round-tripping, and
// weights quantised per channel or per 128x128 block within e4m3's precision, at about half of bf16's size.
#include <ATen/ATen.h>

#include <catch2/catch.hpp>

#include <cmath>
#include <vector>

#include "model/fp8.h"

using namespace r1::model;

TEST_CASE("fp8: e4m3 codes on known values", "[model][fp8]") {
  CHECK(float_to_e4m3(0.0f) == 0x00);
  CHECK(float_to_e4m3(1.0f) == 0x38);
  CHECK(float_to_e4m3(1.125f) == 0x39);
  CHECK(float_to_e4m3(-2.0f) == 0xC0);
  CHECK(float_to_e4m3(448.0f) == 0x7E);
  CHECK(float_to_e4m3(-448.0f) == 0xFE);
  CHECK(float_to_e4m3(1e6f) == 0x7E);                    // saturates
  CHECK(float_to_e4m3(std::ldexp(1.0f, -6)) == 0x08);    // smallest normal
  CHECK(float_to_e4m3(std::ldexp(1.0f, -9)) == 0x01);    // smallest subnormal
  CHECK(float_to_e4m3(std::ldexp(1.0f, -11)) == 0x00);   // below half of it: zero
  CHECK(float_to_e4m3(NAN) == 0x7F);
  CHECK(float_to_e4m3(1.0625f) == 0x38);  // halfway between 1 and 1.125: the even code
  CHECK(float_to_e4m3(1.1875f) == 0x3A);  // halfway between 1.125 and 1.25: the even code
  CHECK(float_to_e4m3(1.07f) == 0x39);
  CHECK(e4m3_to_float(0x7E) == 448.0f);
  CHECK(e4m3_to_float(0x01) == std::ldexp(1.0f, -9));
  CHECK(std::isnan(e4m3_to_float(0xFF)));
  // Every finite code decodes and encodes back to itself.
  at::Tensor values = e4m3_values();
  at::Tensor codes = encode_e4m3(values);
  for (int c = 0; c < 256; ++c) {
    if (c == 0x7F || c == 0xFF) continue;
    INFO("code " << c);
    CHECK(codes[c].item<uint8_t>() == c);
  }
}

TEST_CASE("fp8: the encoder is the nearest code, ties to even, on every midpoint and a million random floats", "[model][fp8]") {
  // The oracle: the nearest of the 127 finite non-negative values by exact distance (double), ties
  // to the even code; magnitudes clamped to 448; the sign bit kept (-0 is 0x80).
  std::vector<double> pos;
  for (int c = 0; c < 127; ++c) pos.push_back(e4m3_to_float(static_cast<uint8_t>(c)));
  auto oracle = [&](float x) -> int {
    const double a = std::min(std::fabs(static_cast<double>(x)), 448.0);
    int best = 0;
    for (int c = 1; c < 127; ++c) {
      const double d = std::fabs(pos[c] - a), db = std::fabs(pos[best] - a);
      if (d < db || (d == db && c % 2 == 0)) best = c;
    }
    return (std::signbit(x) ? 0x80 : 0) | best;
  };
  std::vector<float> xs;
  for (int c = 0; c + 1 < 127; ++c) {  // every midpoint, and just either side of it
    const float mid = static_cast<float>((pos[c] + pos[c + 1]) / 2);
    xs.insert(xs.end(), {mid, std::nextafter(mid, 0.0f), std::nextafter(mid, 1000.0f), -mid});
  }
  at::Tensor r = at::randn({1000000}) * at::exp(at::randn({1000000}) * 4);  // magnitudes over many octaves
  xs.insert(xs.end(), r.data_ptr<float>(), r.data_ptr<float>() + r.numel());
  xs.insert(xs.end(), {0.0f, -0.0f, 448.0f, 449.0f, 464.0f, 1e30f, -1e30f, 1e-30f, INFINITY, -INFINITY});
  at::Tensor codes = encode_e4m3(at::tensor(xs));
  const uint8_t* got = codes.data_ptr<uint8_t>();
  int64_t wrong = 0;
  for (size_t i = 0; i < xs.size(); ++i)
    if (got[i] != oracle(xs[i]) && wrong++ < 5) FAIL_CHECK("x = " << xs[i] << ": code " << int(got[i]) << ", want " << oracle(xs[i]));
  CHECK(wrong == 0);
}

TEST_CASE("fp8: weights per channel and per block, at about half of bf16's bytes", "[model][fp8]") {
  at::Generator gen = at::detail::createCPUGenerator(3);
  at::Tensor w = at::empty({200, 300}, at::kFloat).normal_(0, 0.02, gen);
  w[7] *= 50;  // one loud row: per-channel scales keep the others precise
  for (Fp8Scaling s : {Fp8Scaling::kPerChannel, Fp8Scaling::kPerBlock}) {
    INFO((s == Fp8Scaling::kPerChannel ? "per channel" : "per block"));
    Fp8Weight q = Fp8Weight::quantize(w, s);
    CHECK(q.codes.scalar_type() == at::kByte);
    CHECK(q.scale.sizes() == (s == Fp8Scaling::kPerChannel ? at::IntArrayRef{200} : at::IntArrayRef{2, 3}));
    at::Tensor back = q.dequantize(at::kFloat);
    // Within half a unit in the last place of a 3-bit mantissa (1/16 relative) where the value is normal;
    // tiny values sit in the subnormal range of their row's (block's) scale.
    at::Tensor err = (back - w).abs();
    at::Tensor row_max = w.abs().amax(1, true);
    at::Tensor scale = s == Fp8Scaling::kPerChannel
                           ? q.scale.unsqueeze(1)
                           : q.scale.repeat_interleave(128, 0).repeat_interleave(128, 1).narrow(0, 0, 200).narrow(1, 0, 300);
    CHECK((err <= w.abs() / 16 + scale * std::ldexp(1.0, -10) + 1e-12).all().item<bool>());
    CHECK((err / w.abs().clamp_min(1e-6)).median().item<double>() < 0.04);
    // The maximum of each row (block) is exactly representable: 448 x scale.
    CHECK((back.abs().amax(1) - row_max.squeeze(1)).abs().max().item<double>() < 1e-6 + 0.07 * row_max.max().item<double>());
  }
  // The one-pass per-channel path (float and bf16 sources) is the tensor-op formula, bit for bit.
  for (at::ScalarType dtype : {at::kFloat, at::kBFloat16}) {
    const at::Tensor src = w.to(dtype);
    const Fp8Weight fast = Fp8Weight::quantize(src);
    const at::Tensor f = src.to(at::kFloat);
    const at::Tensor want_scale = (f.abs().amax(1) / 448.0f).clamp_min(1e-12f);
    CHECK(at::equal(fast.scale, want_scale));
    CHECK(at::equal(fast.codes, encode_e4m3(f / want_scale.unsqueeze(1))));
  }
  Fp8Weight big = Fp8Weight::quantize(at::randn({896, 4864}), Fp8Scaling::kPerBlock);
  CHECK(static_cast<double>(big.bytes()) <= 0.55 * 896 * 4864 * 2);
  Fp8Weight per_row = Fp8Weight::quantize(at::randn({896, 4864}));
  CHECK(static_cast<double>(per_row.bytes()) <= 0.55 * 896 * 4864 * 2);
}

#include "model/transformer.h"

// The FP8 model against the model it was quantised from: the next-token distributions over a batch of
// positions stay close (the rollout workers' mismatch, which the trainer corrects by importance sampling).
TEST_CASE("fp8: a quantised transformer stays close to its source, in half the matrix bytes", "[model][fp8]") {
  for (Fp8Scaling s : {Fp8Scaling::kPerChannel, Fp8Scaling::kPerBlock}) {
    INFO((s == Fp8Scaling::kPerChannel ? "per channel" : "per block"));
    Transformer ref(r1::checkpoint::preset_config("qwen3", "tiny", 97), at::kBFloat16);
    ref.init_random(21);
    for (const auto& [name, t] : ref.weights())
      if (t.dim() == 2) ref.weight(name) = t * 20;  // peaked distributions, so differences show
    Transformer q = ref;  // shares tensors; quantize_fp8 replaces the matrices with FP8 copies
    int64_t matrix_bytes = 0;
    for (const auto& [name, t] : ref.weights())
      if (name.rfind("model.layers.", 0) == 0 && t.dim() == 2) matrix_bytes += t.numel() * 2;
    q.quantize_fp8(s);
    CHECK(q.fp8());
    CHECK(q.weight_bytes() <= ref.weight_bytes() - matrix_bytes * 45 / 100);

    at::Tensor ids = at::randint(97, {4, 24}, at::detail::createCPUGenerator(5), at::kLong);
    at::NoGradGuard no_grad;
    at::Tensor lp_ref = at::log_softmax(ref.logits(ref.forward(ids)), -1);
    at::Tensor lp_q = at::log_softmax(q.logits(q.forward(ids)), -1);
    const double kl = (lp_ref.exp() * (lp_ref - lp_q)).sum(-1).mean().item<double>();
    // |delta log p| of the token the reference would pick (the sampled token, greedily).
    at::Tensor top = lp_ref.argmax(-1, true);
    const double dlp = (lp_ref.gather(-1, top) - lp_q.gather(-1, top)).abs().mean().item<double>();
    INFO("KL " << kl << ", mean |delta log p| of the chosen token " << dlp);
    CHECK(kl < 0.1);
    CHECK(kl >= 0);
    CHECK(dlp < 0.3);
    CHECK((lp_ref.argmax(-1) == lp_q.argmax(-1)).to(at::kFloat).mean().item<double>() > 0.8);
    CHECK_THROWS_WITH(q.save("/tmp/never"), Catch::Contains("an FP8 model is for inference"));
  }
}
