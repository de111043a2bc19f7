// The machine's own matrix-product peak, which every LibTorch benchmark reports its figures against:
// a square product of peak_size(device) (2048 on a CPU, 8192 on a GPU, which needs the larger one to
// reach its tensor cores' rate) in `dtype`, with the threads in force, after one warm-up; the best of 3.
#pragma once

#include <ATen/ATen.h>

#include <cstdint>

namespace r1::bench {

int64_t peak_size(const at::Device& device);
double matmul_peak_flops(at::ScalarType dtype, const at::Device& device);  // FLOP/s

}  // namespace r1::bench
