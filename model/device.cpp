#include "model/device.h"

#include <torch/cuda.h>
#include <torch/version.h>

#include <cstdlib>
#include <fstream>
#include <string>

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
    // No device seen by a CUDA build: none there, hidden, or a driver older than the CUDA this
    // LibTorch was built for (its runtime then reports no device rather than an error).
    throw Error(where + ": " + named + ": no CUDA device is visible" +
                (visible ? std::string(" (CUDA_VISIBLE_DEVICES=") + visible + ")" : std::string()) +
                " to this LibTorch " + TORCH_VERSION + " (check nvidia-smi, and that the driver supports the CUDA "
                "version LibTorch was built for); use device 'cpu' or 'auto'");
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

std::string describe_devices() {
  std::string out = "devices: cpu";
  if (!built_with_cuda()) return out + " (LibTorch " + TORCH_VERSION + " without CUDA: docs/gpu.md)";
  const int count = cuda_device_count();
  if (count == 0) return out + " (no CUDA device visible)";
  for (int i = 0; i < count; ++i) out += ", " + describe_device(c10::Device(c10::kCUDA, static_cast<c10::DeviceIndex>(i)));
  return out;
}

int64_t free_memory_bytes(const c10::Device& device) {
#if R1_TORCH_CUDA
  if (device.is_cuda()) {
    int previous = 0;
    cudaGetDevice(&previous);
    cudaSetDevice(device.index());
    size_t free = 0, total = 0;
    const cudaError_t status = cudaMemGetInfo(&free, &total);
    cudaSetDevice(previous);
    if (status != cudaSuccess) throw Error(device.str() + ": cannot read its free memory: " + cudaGetErrorString(status));
    return static_cast<int64_t>(free);
  }
#endif
  std::ifstream in("/proc/meminfo");
  std::string key;
  int64_t kb = 0;
  while (in >> key >> kb) {
    if (key == "MemAvailable:") return kb * 1024;
    in.ignore(256, '\n');
  }
  throw Error("/proc/meminfo: no MemAvailable line");
}

void synchronize(const c10::Device& device) {
  if (device.is_cuda()) torch::cuda::synchronize(device.index());
}

}  // namespace r1::model
