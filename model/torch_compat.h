// What differs between the LibTorch versions r1 builds against: Debian 12's 1.13 (CPU) and the 2.x of
// GPU machines. Code asks these macros, never TORCH_VERSION_* directly.
#pragma once

#include <torch/version.h>

// float8 dtypes (at::kFloat8_e4m3fn) and at::_scaled_mm arrived in 2.1; rowwise scales (one per row
// of each operand) in _scaled_mm in 2.5.
#if TORCH_VERSION_MAJOR > 2 || (TORCH_VERSION_MAJOR == 2 && TORCH_VERSION_MINOR >= 5)
#define R1_TORCH_HAS_SCALED_MM_ROWWISE 1
#else
#define R1_TORCH_HAS_SCALED_MM_ROWWISE 0
#endif

// at::scaled_dot_product_attention (flash / memory-efficient kernels) with grouped-query attention
// (enable_gqa: key/value heads shared by several query heads, never copied): 2.5.
#if TORCH_VERSION_MAJOR > 2 || (TORCH_VERSION_MAJOR == 2 && TORCH_VERSION_MINOR >= 5)
#define R1_TORCH_HAS_SDPA_GQA 1
#else
#define R1_TORCH_HAS_SDPA_GQA 0
#endif
