#include "model/fp8.h"

#include <ATen/Parallel.h>

#include <algorithm>
#include <cmath>
#include <cstring>
#include <limits>

#include "core/error.h"
#include "model/torch_compat.h"

namespace r1::model {
namespace {

float decode(uint8_t code) {
  const int sign = code >> 7, exp = (code >> 3) & 0xF, man = code & 7;
  if (exp == 0xF && man == 7) return std::numeric_limits<float>::quiet_NaN();
  const float v = exp == 0 ? std::ldexp(static_cast<float>(man) / 8.0f, -6)
                           : std::ldexp(1.0f + static_cast<float>(man) / 8.0f, exp - 7);
  return sign ? -v : v;
}

// A per-block scale [ceil(out/128), ceil(in/128)] spread over the weight's [out, in].
at::Tensor spread_blocks(const at::Tensor& scale, int64_t out, int64_t in) {
  return scale.repeat_interleave(kFp8Block, 0).repeat_interleave(kFp8Block, 1).narrow(0, 0, out).narrow(1, 0, in);
}

}  // namespace

const at::Tensor& e4m3_values() {
  static const at::Tensor values = [] {
    at::Tensor t = at::empty({256}, at::kFloat);
    for (int c = 0; c < 256; ++c) t[c] = decode(static_cast<uint8_t>(c));
    return t;
  }();
  return values;
}

float e4m3_to_float(uint8_t code) { return decode(code); }

uint8_t float_to_e4m3(float x) {
  return encode_e4m3(at::full({1}, x, at::kFloat))[0].item<uint8_t>();
}

namespace {

// One value's code: the nearest e4m3 value (ties to the even code), magnitudes clamped to 448, NaN
// 0x7F. Exact by construction: scaling by powers of two is exact in float, and nearbyint rounds
// half to even in the default rounding mode, which on this grid is the even code.
inline uint8_t encode_one(float x) {
  if (std::isnan(x)) return 0x7F;
  const uint8_t sign = std::signbit(x) ? 0x80 : 0;
  const float a = std::min(std::fabs(x), 448.0f);
  if (a < 0.015625f) {  // below the smallest normal, 2^-6: multiples of 2^-9 (a result of 8 is 2^-6, code 0x08)
    return sign | static_cast<uint8_t>(std::nearbyint(a * 512.0f));
  }
  // a = 1.m · 2^e (a float normal here): e from the bits; 2^-e built from bits too (no libm calls).
  uint32_t bits = 0;
  std::memcpy(&bits, &a, sizeof bits);
  int e = static_cast<int>((bits >> 23) & 0xFF) - 127;
  const uint32_t inv_bits = static_cast<uint32_t>(127 - e) << 23;
  float inv = 0;
  std::memcpy(&inv, &inv_bits, sizeof inv);
  int m = static_cast<int>(std::nearbyint((a * inv - 1.0f) * 8.0f));
  if (m == 8) {
    m = 0;
    ++e;
  }
  const int code = ((e + 7) << 3) | m;
  return sign | static_cast<uint8_t>(std::min(code, 0x7E));
}

}  // namespace

at::Tensor encode_e4m3(const at::Tensor& input) {
  // An element-wise loop over the floats, in parallel: the tensor-op version (a sorted search and a
  // dozen int64 temporaries per element) made a worker's weight update take seconds per 25M weights.
  at::Tensor x = input.to(at::kFloat).contiguous();
  at::Tensor codes = at::empty(x.sizes(), at::TensorOptions(at::kByte));
  const float* src = x.data_ptr<float>();
  uint8_t* dst = codes.data_ptr<uint8_t>();
  at::parallel_for(0, x.numel(), 1 << 16, [&](int64_t begin, int64_t end) {
    for (int64_t i = begin; i < end; ++i) dst[i] = encode_one(src[i]);
  });
  return codes;
}

namespace {

// Per-channel quantisation of a CPU matrix in one pass over its rows, from its own dtype: the same
// arithmetic as the tensor-op form below (the row's largest magnitude in float / 448, floored at
// 1e-12; each value divided by it in float, then encoded), without its float copy and temporaries.
template <typename T>
void quantize_rows(const T* w, int64_t out, int64_t in, float* scale, uint8_t* codes) {
  at::parallel_for(0, out, std::max<int64_t>(1, (1 << 16) / std::max<int64_t>(in, 1)), [&](int64_t begin, int64_t end) {
    for (int64_t r = begin; r < end; ++r) {
      const T* row = w + r * in;
      float amax = 0;
      for (int64_t j = 0; j < in; ++j) amax = std::max(amax, std::fabs(static_cast<float>(row[j])));
      const float s = std::max(amax / 448.0f, 1e-12f);
      scale[r] = s;
      uint8_t* dst = codes + r * in;
      for (int64_t j = 0; j < in; ++j) dst[j] = encode_one(static_cast<float>(row[j]) / s);
    }
  });
}

}  // namespace

Fp8Weight Fp8Weight::quantize(const at::Tensor& weight, Fp8Scaling scaling) {
  if (weight.dim() != 2) throw Error("FP8 weights are matrices");
  // Quantised where the bit-level encoder runs (the CPU), then moved back: once per load or update.
  if (!weight.device().is_cpu()) return quantize(weight.to(at::kCPU), scaling).to(weight.device());
  if (scaling == Fp8Scaling::kPerChannel && weight.device().is_cpu() &&
      (weight.scalar_type() == at::kFloat || weight.scalar_type() == at::kBFloat16)) {
    const at::Tensor w = weight.contiguous();
    const int64_t out = w.size(0), in = w.size(1);
    Fp8Weight q;
    q.scaling = scaling;
    q.scale = at::empty({out}, at::kFloat);
    q.codes = at::empty({out, in}, at::TensorOptions(at::kByte));
    if (w.scalar_type() == at::kFloat)
      quantize_rows(w.data_ptr<float>(), out, in, q.scale.data_ptr<float>(), q.codes.data_ptr<uint8_t>());
    else
      quantize_rows(w.data_ptr<at::BFloat16>(), out, in, q.scale.data_ptr<float>(), q.codes.data_ptr<uint8_t>());
    return q;
  }
  at::Tensor w = weight.to(at::kFloat);
  Fp8Weight q;
  q.scaling = scaling;
  const int64_t out = w.size(0), in = w.size(1);
  at::Tensor full_scale;
  if (scaling == Fp8Scaling::kPerChannel) {
    q.scale = (w.abs().amax(1) / 448.0f).clamp_min(1e-12f);
    full_scale = q.scale.unsqueeze(1);
  } else {
    const int64_t bo = (out + kFp8Block - 1) / kFp8Block, bi = (in + kFp8Block - 1) / kFp8Block;
    at::Tensor padded = at::zeros({bo * kFp8Block, bi * kFp8Block}, at::kFloat);
    padded.narrow(0, 0, out).narrow(1, 0, in).copy_(w.abs());
    q.scale = (padded.view({bo, kFp8Block, bi, kFp8Block}).amax({1, 3}) / 448.0f).clamp_min(1e-12f);
    full_scale = spread_blocks(q.scale, out, in);
  }
  q.codes = encode_e4m3(w / full_scale);
  return q;
}

at::Tensor Fp8Weight::dequantize(at::ScalarType dtype) const {
  const int64_t out = codes.size(0), in = codes.size(1);
  at::Tensor v = e4m3_values().to(codes.device()).index_select(0, codes.reshape({-1}).to(at::kLong)).view({out, in});
  if (scaling == Fp8Scaling::kPerChannel) {
    v = v * scale.unsqueeze(1);
  } else {
    v = v * spread_blocks(scale, out, in);
  }
  return v.to(dtype);
}

at::Tensor Fp8Weight::linear(const at::Tensor& x) const {
#if R1_TORCH_HAS_SCALED_MM_ROWWISE
  const int64_t out = codes.size(0), in = codes.size(1);
  if (x.is_cuda() && x.scalar_type() == at::kBFloat16 && scaling == Fp8Scaling::kPerChannel && in % 16 == 0 &&
      out % 16 == 0) {
    at::Tensor rows = x.reshape({-1, in});
    const int64_t M = rows.size(0), padded = (M + 15) / 16 * 16;  // _scaled_mm wants M % 16 == 0 too
    if (padded != M) rows = at::cat({rows, at::zeros({padded - M, in}, rows.options())});
    at::Tensor x_scale = (rows.abs().amax(1, /*keepdim=*/true).to(at::kFloat) / 448.0f).clamp_min(1e-12f);
    at::Tensor x_fp8 = (rows.to(at::kFloat) / x_scale).to(at::kFloat8_e4m3fn);
    at::Tensor w_fp8 = codes.view(at::kFloat8_e4m3fn);  // r1's codes are e4m3fn's bytes
    at::Tensor y = at::_scaled_mm(x_fp8, w_fp8.t(), x_scale, scale.to(at::kFloat).view({1, out}), std::nullopt,
                                  std::nullopt, x.scalar_type(), /*use_fast_accum=*/false);
    auto sizes = x.sizes().vec();
    sizes.back() = out;
    return y.narrow(0, 0, M).view(sizes);
  }
#endif
  if (x.is_cuda() || scaling != Fp8Scaling::kPerChannel) return at::linear(x, dequantize(x.scalar_type()));
  // CPU, per-channel scales: dequantise into this thread's scratch buffers, reused call after call.
  // Fresh tensors for the index, the values and the cast (~11 bytes per weight) went to the kernel as
  // new mappings on every decode step: a 25M model's worker spent ~40% of its time in page faults.
  struct Scratch {
    at::Tensor index, values, cast;
  };
  thread_local Scratch s;
  const int64_t out = codes.size(0), in = codes.size(1), n = out * in;
  auto fit = [n](at::Tensor& t, at::ScalarType dtype) {
    if (!t.defined() || t.scalar_type() != dtype) t = at::empty({n}, at::TensorOptions(dtype));
    else if (t.numel() < n) t.resize_({n});
  };
  fit(s.index, at::kLong);
  fit(s.values, at::kFloat);
  at::Tensor index = s.index.narrow(0, 0, n), values = s.values.narrow(0, 0, n);
  index.copy_(codes.reshape({-1}));
  at::index_select_out(values, e4m3_values(), 0, index);
  at::Tensor w = values.view({out, in});
  w.mul_(scale.to(at::kFloat).unsqueeze(1));
  if (x.scalar_type() == at::kFloat) return at::linear(x, w);
  fit(s.cast, x.scalar_type());
  at::Tensor cast = s.cast.narrow(0, 0, n).view({out, in});
  cast.copy_(w);
  return at::linear(x, cast);
}

Fp8Weight Fp8Weight::to(const at::Device& device) const {
  Fp8Weight w = *this;
  w.codes = codes.to(device);
  w.scale = scale.to(device);
  return w;
}

}  // namespace r1::model
