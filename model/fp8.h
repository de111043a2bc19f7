// FP8 weights for inference: float8 e4m3 (the "fn" variant: 1 sign, 4 exponent bits with bias 7, 3
// mantissa bits, no infinities, NaN = S.1111.111, largest finite 448), with a scale per output channel
// or per 128x128 block as DeepSeek-V3 does. LibTorch 1.13 has no float8 dtype, so codes are stored as
// bytes and dequantised into the matrix product's dtype when the weight is used; on CUDA with LibTorch
// >= 2.5 the codes are read as float8_e4m3fn and multiplied by _scaled_mm (model/torch_compat.h).
#pragma once

#include <ATen/ATen.h>

#include <cstdint>

namespace r1::model {

// The value of each of the 256 codes (fp32; NaN for 0x7F and 0xFF).
const at::Tensor& e4m3_values();
float e4m3_to_float(uint8_t code);
// The nearest code (ties to the even code), saturating at +-448; NaN maps to 0x7F.
uint8_t float_to_e4m3(float x);
// Elementwise over a float tensor: uint8 codes, as float_to_e4m3.
at::Tensor encode_e4m3(const at::Tensor& x);

enum class Fp8Scaling { kPerChannel, kPerBlock };  // per output row, or per 128x128 block
constexpr int64_t kFp8Block = 128;

// A 2-D weight [out, in] in FP8: codes (uint8, same shape) and fp32 scales ([out], or
// [ceil(out/128), ceil(in/128)]); value = e4m3(code) * scale.
struct Fp8Weight {
  at::Tensor codes, scale;
  Fp8Scaling scaling = Fp8Scaling::kPerChannel;

  static Fp8Weight quantize(const at::Tensor& weight, Fp8Scaling scaling = Fp8Scaling::kPerChannel);
  // quantize(weight, scaling) into this weight's own codes and scales when they are CPU tensors of
  // the right shapes (per-channel: no memory allocated or touched for the first time), else replaced
  // by a new quantisation. The same codes and scales either way.
  void quantize_into(const at::Tensor& weight, Fp8Scaling scaling);
  at::Tensor dequantize(at::ScalarType dtype) const;
  // x [..., in] times the weight, transposed: [..., out] in x's dtype. On CUDA (LibTorch >= 2.5, bf16 x, per-
  // channel scales, in and out multiples of 16) x is quantised to e4m3 per row and _scaled_mm
  // multiplies the two in FP8 with fp32 accumulation; elsewhere the weight is dequantised into x's
  // dtype first.
  at::Tensor linear(const at::Tensor& x) const;
  Fp8Weight to(const at::Device& device) const;
  int64_t bytes() const { return codes.numel() + scale.numel() * 4; }
};

}  // namespace r1::model
