// Where a model's tensors live, resolved once from the user's choice (core/choices.h: auto | cpu |
// cuda | cuda:N) against this build of LibTorch and this machine. A CUDA device that is not there is
// an error naming what is missing (a LibTorch without CUDA, no visible GPU, too few GPUs), never a
// silent fall-back to the CPU; only "auto" picks the CPU when no GPU is there.
#pragma once

#include <c10/core/Device.h>

#include <string>

#include "core/choices.h"

namespace r1::model {

// The device `choice` names on this machine. `where` leads the error (a key path or a flag).
c10::Device resolve_device(const DeviceChoice& choice, const std::string& where);
// CUDA devices LibTorch sees (0 when it was built without CUDA).
int cuda_device_count();
// Whether this r1 was built against a LibTorch with CUDA.
bool built_with_cuda();
// "cpu", or "cuda:0 (NVIDIA H100 80GB HBM3, 79.1 GiB)" where the build can ask the device.
std::string describe_device(const c10::Device& device);
// One line: "devices: cpu, cuda:0 (NVIDIA H100 80GB HBM3, 79.1 GiB)", or the CPU and why there is no GPU.
std::string describe_devices();
// Memory the device has free now, in bytes: the CPU's MemAvailable (/proc/meminfo), a GPU's free memory
// as its driver reports it (what LibTorch's caching allocator holds counts as used).
int64_t free_memory_bytes(const c10::Device& device);
// Waits for the device's queued work (a no-op on the CPU): timers around GPU work call it.
void synchronize(const c10::Device& device);

}  // namespace r1::model
