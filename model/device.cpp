#include "model/device.h"

#include <torch/cuda.h>
#include <torch/version.h>

#include <cstdlib>

#include "core/error.h"

#if R1_TORCH_CUDA
#include <ATen/cuda/CUDAContext.h>
#endif

namespace r1::model {

bool built_with_cuda() { return R1_TORCH_CUDA != 0; }

int cuda_device_count() { return built_with_cuda() ? static_cast<int>(torch::cuda::device_count()) : 0; }

c10::Device resolve_device(const DeviceChoice& choice, const std::string& where) {
  if (choice.kind == DeviceChoice::kCpu) return c10::Device(c10::kCPU);
  const int count = cuda_device_count();
  if (choice.kind == DeviceChoice::kAuto)
    return count > 0 ? c10::Device(c10::kCUDA, 0) : c10::Device(c10::kCPU);
  const std::string named = "device '" + name(choice) + "'";
  if (!built_with_cuda())
    throw Error(where + ": " + named + " needs a LibTorch built with CUDA; this r1 is built against LibTorch " +
                TORCH_VERSION + " without it (docs/gpu.md: building against a CUDA LibTorch)");
  if (count == 0) {
    const char* visible = std::getenv("CUDA_VISIBLE_DEVICES");
    throw Error(where + ": " + named + ": no CUDA device is visible" +
                (visible ? std::string(" (CUDA_VISIBLE_DEVICES=") + visible + ")" : std::string()) +
                "; use device 'cpu' or 'auto'");
  }
  if (choice.index >= count)
    throw Error(where + ": " + named + ": this machine has " + std::to_string(count) + " CUDA device" +
                (count == 1 ? "" : "s") + " (cuda:0" + (count > 1 ? " .. cuda:" + std::to_string(count - 1) : "") + ")");
  return c10::Device(c10::kCUDA, static_cast<c10::DeviceIndex>(choice.index));
}

std::string describe_device(const c10::Device& device) {
  if (device.is_cpu()) return "cpu";
  std::string out = device.str();
#if R1_TORCH_CUDA
  const cudaDeviceProp* p = at::cuda::getDeviceProperties(device.index());
  char memory[32];
  std::snprintf(memory, sizeof memory, "%.1f GiB", static_cast<double>(p->totalGlobalMem) / (1u << 30));
  out += std::string(" (") + p->name + ", " + memory + ")";
#endif
  return out;
}

void synchronize(const c10::Device& device) {
  if (device.is_cuda()) torch::cuda::synchronize(device.index());
}

}  // namespace r1::model
