// Closed sets parsed once and named back: see choices.h.
#include "core/choices.h"

#include "core/error.h"

namespace r1 {

ComputeDtype parse_compute_dtype(const std::string& text, const std::string& where) {
  if (text == "auto") return ComputeDtype::kAuto;
  if (text == "fp32") return ComputeDtype::kFp32;
  if (text == "bf16") return ComputeDtype::kBf16;
  throw ConfigError(where + ": '" + text + "' is not a compute dtype (auto, fp32 or bf16)");
}

const char* name(ComputeDtype dtype) {
  switch (dtype) {
    case ComputeDtype::kAuto: return "auto";
    case ComputeDtype::kFp32: return "fp32";
    case ComputeDtype::kBf16: return "bf16";
  }
  return "auto";
}

LrSchedule parse_lr_schedule(const std::string& text, const std::string& where) {
  if (text == "constant") return LrSchedule::kConstant;
  if (text == "cosine") return LrSchedule::kCosine;
  if (text == "linear") return LrSchedule::kLinear;
  throw ConfigError(where + ": '" + text + "' is not a schedule (constant, cosine or linear)");
}

const char* name(LrSchedule schedule) {
  switch (schedule) {
    case LrSchedule::kConstant: return "constant";
    case LrSchedule::kCosine: return "cosine";
    case LrSchedule::kLinear: return "linear";
  }
  return "constant";
}

WeightPrecision parse_weight_precision(const std::string& text, const std::string& where) {
  if (text == "fp8") return WeightPrecision::kFp8;
  if (text == "bf16") return WeightPrecision::kBf16;
  if (text == "fp32") return WeightPrecision::kFp32;
  throw ConfigError(where + ": '" + text + "' is not a weight precision (fp8, bf16 or fp32)");
}

const char* name(WeightPrecision precision) {
  switch (precision) {
    case WeightPrecision::kFp8: return "fp8";
    case WeightPrecision::kBf16: return "bf16";
    case WeightPrecision::kFp32: return "fp32";
  }
  return "fp8";
}

DeviceChoice parse_device(const std::string& text, const std::string& where) {
  if (text == "auto") return {DeviceChoice::kAuto, 0};
  if (text == "cpu") return {DeviceChoice::kCpu, 0};
  if (text == "cuda") return {DeviceChoice::kCuda, 0};
  if (text.rfind("cuda:", 0) == 0 && text.size() > 5 && text.size() <= 8 &&
      text.find_first_not_of("0123456789", 5) == std::string::npos)
    return {DeviceChoice::kCuda, std::stoi(text.substr(5))};
  throw ConfigError(where + ": '" + text + "' is not a device (auto, cpu, cuda or cuda:N)");
}

std::string name(const DeviceChoice& device) {
  switch (device.kind) {
    case DeviceChoice::kAuto: return "auto";
    case DeviceChoice::kCpu: return "cpu";
    case DeviceChoice::kCuda: return "cuda:" + std::to_string(device.index);
  }
  return "auto";
}

}  // namespace r1
