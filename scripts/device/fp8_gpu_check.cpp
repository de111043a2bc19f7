// FP8 on a GPU, against LibTorch >= 2.5 with CUDA (run by scripts/device/fp8_gpu_check.sh on a GPU
// machine): r1's e4m3 codes are float8_e4m3fn's bytes; Fp8Weight::linear through _scaled_mm matches
// the dequantised product; its error against bf16; its speed against a bf16 product; weight bytes.
#include <ATen/ATen.h>
#include <ATen/cuda/CUDAContext.h>

#include <chrono>
#include <cstdio>

#include "model/fp8.h"
#include "model/torch_compat.h"

using r1::model::Fp8Weight;

static double time_ms(const std::function<void()>& f, int reps = 50) {
  f();
  at::cuda::getCurrentCUDAStream().synchronize();
  auto t = std::chrono::steady_clock::now();
  for (int i = 0; i < reps; ++i) f();
  at::cuda::getCurrentCUDAStream().synchronize();
  return std::chrono::duration<double, std::milli>(std::chrono::steady_clock::now() - t).count() / reps;
}

int main() {
  static_assert(R1_TORCH_HAS_SCALED_MM_ROWWISE, "needs LibTorch >= 2.5");
  at::manual_seed(0);
  int failures = 0;
  // 1. Codes: r1's encoder against LibTorch's own float8_e4m3fn conversion. Beyond +-448 r1 saturates
  // (as its quantiser needs) where LibTorch's cast gives NaN: those are compared apart.
  at::Tensor x = at::randn({1 << 20}) * 100;
  at::Tensor ours = r1::model::encode_e4m3(x);
  at::Tensor theirs = x.to(at::kFloat8_e4m3fn).view(at::kByte);
  at::Tensor in_range = x.abs() <= 448;
  const double same = ours.eq(theirs).masked_select(in_range).to(at::kFloat).mean().item<double>();
  const int64_t beyond = (~in_range).sum().item<int64_t>();
  const bool saturated = (ours.masked_select(~in_range).bitwise_and(0x7F) == 0x7E).all().item<bool>();
  std::printf("e4m3 codes equal to LibTorch's float8_e4m3fn: %.6f of %lld values within +-448; the %lld beyond "
              "saturate to +-448: %s\n", same, (long long)in_range.sum().item<int64_t>(), (long long)beyond,
              saturated ? "yes" : "NO");
  failures += same < 1.0 || !saturated;

  for (int64_t out : {4096, 11008}) {
    const int64_t in = 4096;
    at::Tensor w = (at::randn({out, in}) * 0.02).to(at::kBFloat16);
    Fp8Weight q = Fp8Weight::quantize(w).to(at::kCUDA);
    at::Tensor wc = w.to(at::kCUDA);
    for (int64_t M : {1, 37, 256, 4096}) {
      at::Tensor a = at::randn({M, in}, at::TensorOptions(at::kCUDA).dtype(at::kBFloat16));
      at::Tensor y8 = q.linear(a);
      at::Tensor ydq = at::linear(a, q.dequantize(at::kBFloat16));
      at::Tensor y16 = at::linear(a, wc);
      auto rel = [](const at::Tensor& p, const at::Tensor& r) {
        return ((p.to(at::kFloat) - r.to(at::kFloat)).norm() / r.to(at::kFloat).norm()).item<double>();
      };
      const double e_dq = rel(y8, ydq), e_16 = rel(y8, y16);
      const double t8 = time_ms([&] { q.linear(a); }), t16 = time_ms([&] { at::linear(a, wc); });
      const double flop = 2.0 * M * in * out;
      std::printf("[%5lld x %lld] x [%lld x %lld]^T: rel. error vs dequantised %.4f, vs bf16 %.4f; "
                  "fp8 %.3f ms (%.0f TFLOP/s) vs bf16 %.3f ms (%.0f TFLOP/s): %.2fx\n",
                  (long long)M, (long long)in, (long long)out, (long long)in, e_dq, e_16, t8, flop / t8 / 1e9, t16,
                  flop / t16 / 1e9, t16 / t8);
      failures += !(e_dq < 0.05) || !(e_16 < 0.08) || y8.sizes() != y16.sizes();
    }
    std::printf("weight bytes: fp8 %lld vs bf16 %lld (%.1f%%)\n", (long long)q.bytes(), (long long)(w.numel() * 2),
                100.0 * q.bytes() / (w.numel() * 2));
  }
  // 3-D input, as the transformer passes it.
  at::Tensor w = (at::randn({512, 1024}) * 0.02).to(at::kBFloat16);
  Fp8Weight q = Fp8Weight::quantize(w).to(at::kCUDA);
  at::Tensor a = at::randn({3, 7, 1024}, at::TensorOptions(at::kCUDA).dtype(at::kBFloat16));
  at::Tensor y = q.linear(a);
  std::printf("3-D input: output [%lld, %lld, %lld]\n", (long long)y.size(0), (long long)y.size(1), (long long)y.size(2));
  failures += y.sizes() != at::IntArrayRef({3, 7, 512});
  std::printf(failures ? "FAILED (%d)\n" : "all checks passed\n", failures);
  return failures ? 1 : 0;
}
