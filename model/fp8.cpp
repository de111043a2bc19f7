#include "model/fp8.h"

#include <ATen/Parallel.h>

#include <algorithm>
#include <cmath>
#include <cstring>
#include <vector>
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
// 0x7F. Branch-free, so the loops over a tensor become vector instructions (a worker re-quantises
// every layer matrix after each weight update). Exact by construction:
//   below 2^-6 (e4m3's smallest normal) codes are multiples of 2^-9: round(a * 512), the scaling
//     exact in float, the rounding to an integer done by adding and subtracting 1.5 * 2^23 (ties to
//     even, the default rounding mode); a result of 8 is 2^-6, whose code is 0x08;
//   above, a's float bits rounded to 3 mantissa bits, ties to even (bit 20), a carry moving into the
//     exponent as it should; the exponent rebiased from 127 to 7, i.e. code = (bits >> 20) - (120 << 3).
inline uint8_t encode_one(float x) {
  // Signed 32-bit integers throughout (every value here is below 2^31): SSE2 has no unsigned compares.
  int32_t xbits = 0;
  std::memcpy(&xbits, &x, sizeof xbits);
  const int32_t magnitude = xbits & 0x7FFFFFFF;
  const bool nan = magnitude > 0x7F800000;
  const int32_t sign = (xbits >> 24) & 0x80;
  const int32_t abits = std::min(nan ? 0 : magnitude, 0x43E00000);  // 448.0f: non-negative floats order as their bits
  float a = 0;
  std::memcpy(&a, &abits, sizeof a);
  const int32_t small = static_cast<int32_t>((a * 512.0f + 12582912.0f) - 12582912.0f);
  const int32_t normal = ((abits + 0x7FFFF + ((abits >> 20) & 1)) >> 20) - (120 << 3);
  const int32_t code = (abits < 0x3C800000 ? small : normal) | sign;  // 0x3C800000: 2^-6
  return static_cast<uint8_t>(nan ? 0x7F : code);
}

// A row as floats (bf16 to float is a shift): the loops below then see plain float arrays.
inline void row_to_float(const float* src, float* dst, int64_t n) { std::memcpy(dst, src, static_cast<size_t>(n) * 4); }
inline void row_to_float(const at::BFloat16* src, float* __restrict dst, int64_t n) {
  const auto* bits = reinterpret_cast<const uint16_t*>(src);
  for (int64_t j = 0; j < n; ++j) {
    const uint32_t wide = static_cast<uint32_t>(bits[j]) << 16;
    std::memcpy(dst + j, &wide, 4);
  }
}

// The largest magnitude of n floats (NaN ignored): the bits of non-negative floats order as
// unsigned integers, so the reduction vectorises without fast-math.
inline float largest_magnitude(const float* __restrict v, int64_t n) {
  int32_t most = 0;
  for (int64_t j = 0; j < n; ++j) {
    int32_t bits = 0;
    std::memcpy(&bits, v + j, sizeof bits);
    bits &= 0x7FFFFFFF;
    most = std::max(most, bits > 0x7F800000 ? 0 : bits);
  }
  float out = 0;
  std::memcpy(&out, &most, sizeof out);
  return out;
}

// Codes of src / s (restrict: no aliasing, so the loop vectorises; model/CMakeLists.txt says why the
// file is built with -fno-trapping-math).
inline void encode_row(const float* __restrict src, float s, uint8_t* __restrict dst, int64_t n) {
  for (int64_t j = 0; j < n; ++j) dst[j] = encode_one(src[j] / s);
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
    encode_row(src + begin, 1.0f, dst + begin, end - begin);
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
    std::vector<float> row(static_cast<size_t>(in));
    for (int64_t r = begin; r < end; ++r) {
      row_to_float(w + r * in, row.data(), in);
      const float s = std::max(largest_magnitude(row.data(), in) / 448.0f, 1e-12f);
      scale[r] = s;
      encode_row(row.data(), s, codes + r * in, in);
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

void Fp8Weight::quantize_into(const at::Tensor& weight, Fp8Scaling scaling_asked) {
  const bool in_place = scaling_asked == Fp8Scaling::kPerChannel && scaling == scaling_asked && weight.dim() == 2 &&
                        weight.device().is_cpu() && codes.defined() && codes.device().is_cpu() &&
                        codes.is_contiguous() && codes.sizes() == weight.sizes() && scale.defined() &&
                        scale.is_contiguous() && scale.dim() == 1 && scale.size(0) == weight.size(0) &&
                        (weight.scalar_type() == at::kFloat || weight.scalar_type() == at::kBFloat16);
  if (!in_place) {
    *this = quantize(weight, scaling_asked);
    return;
  }
  const at::Tensor w = weight.contiguous();
  if (w.scalar_type() == at::kFloat)
    quantize_rows(w.data_ptr<float>(), w.size(0), w.size(1), scale.data_ptr<float>(), codes.data_ptr<uint8_t>());
  else
    quantize_rows(w.data_ptr<at::BFloat16>(), w.size(0), w.size(1), scale.data_ptr<float>(), codes.data_ptr<uint8_t>());
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
