// The closed sets r1's configurations and command lines name, as enums: code switches on these, and
// the spelling a user writes ("bf16", "cosine") is parsed once, where it is read, and printed back
// with name(). parse_*() throw r1::ConfigError naming the accepted spellings; `where` leads the
// message (a key path or a flag).
#pragma once

#include <string>

namespace r1 {

// The type matrix products run in; auto picks whichever is faster on this machine (model/runtime.h).
enum class ComputeDtype { kAuto, kFp32, kBf16 };
ComputeDtype parse_compute_dtype(const std::string& text, const std::string& where);  // auto | fp32 | bf16
const char* name(ComputeDtype dtype);

// How the learning rate moves after warm-up (trainer/optim.h).
enum class LrSchedule { kConstant, kCosine, kLinear };
LrSchedule parse_lr_schedule(const std::string& text, const std::string& where);  // constant | cosine | linear
const char* name(LrSchedule schedule);

// The format a rollout worker holds its weights in (rollout/worker_options.h, docs/model.md).
enum class WeightPrecision { kFp8, kBf16, kFp32 };
WeightPrecision parse_weight_precision(const std::string& text, const std::string& where);  // fp8 | bf16 | fp32
const char* name(WeightPrecision precision);

// Where tensors live: "auto" (the first CUDA device when this build and machine have one, else the
// CPU), "cpu", "cuda" (= cuda:0) or "cuda:N". Resolved against the machine by model/device.h, which
// refuses a CUDA device that is not there rather than falling back to the CPU.
struct DeviceChoice {
  enum Kind { kAuto, kCpu, kCuda } kind = kAuto;
  int index = 0;  // kCuda's device number
  bool operator==(const DeviceChoice&) const = default;
};
DeviceChoice parse_device(const std::string& text, const std::string& where);  // auto | cpu | cuda | cuda:N
std::string name(const DeviceChoice& device);

}  // namespace r1
