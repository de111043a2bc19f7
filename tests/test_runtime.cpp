// model/runtime: LibTorch builds and links, and the thread count is set explicitly (Debian's
// LibTorch starts with one intra-op thread). model/device: device choices, and a model that lives on
// its device.
// ATen first: c10 defines a glog-style CHECK that Catch's must replace, not the other way round.
#include <ATen/ATen.h>

#include <catch2/catch.hpp>
#include <unistd.h>

#include "core/error.h"
#include "core/thread_pool.h"
#include "model/device.h"
#include "model/runtime.h"
#include "model/transformer.h"

TEST_CASE("runtime: intra-op threads follow the option, 0 meaning one per core", "[model]") {
  CHECK(r1::model::configure_threads(1) == 1);
  CHECK(r1::model::configure_threads(0) == static_cast<int>(r1::hardware_threads()));
  CHECK(r1::model::configure_threads(3) == 3);
  std::string info = r1::model::describe_runtime();
  CHECK(info.find("ATen/Parallel") != std::string::npos);
  CHECK(info.find("at::get_num_threads() : 3") != std::string::npos);
}

TEST_CASE("device: choices parse, resolve on this machine, and a missing GPU is one clear error", "[model][device]") {
  using r1::DeviceChoice;
  CHECK(r1::parse_device("auto", "device") == (DeviceChoice{DeviceChoice::kAuto, 0}));
  CHECK(r1::parse_device("cpu", "device") == (DeviceChoice{DeviceChoice::kCpu, 0}));
  CHECK(r1::parse_device("cuda", "device") == (DeviceChoice{DeviceChoice::kCuda, 0}));
  CHECK(r1::parse_device("cuda:3", "device") == (DeviceChoice{DeviceChoice::kCuda, 3}));
  CHECK(r1::name(r1::parse_device("cuda", "x")) == "cuda:0");
  for (const char* bad : {"gpu", "cuda:", "cuda:x", "CUDA", "cuda:-1", "cuda:123456789"})
    CHECK_THROWS_WITH(r1::parse_device(bad, "stages[1].device"),
                      "stages[1].device: '" + std::string(bad) + "' is not a device (auto, cpu, cuda or cuda:N)");

  const int gpus = r1::model::cuda_device_count();
  const c10::Device picked = r1::model::resolve_device(r1::parse_device("auto", "--device"), "--device");
  CHECK(picked.is_cuda() == (gpus > 0));
  CHECK(r1::model::resolve_device(r1::parse_device("cpu", "--device"), "--device").is_cpu());
  if (!r1::model::built_with_cuda()) {
    CHECK(gpus == 0);
    CHECK_THROWS_WITH(r1::model::resolve_device(r1::parse_device("cuda", "--device"), "--device"),
                      Catch::StartsWith("--device: device 'cuda:0' needs a LibTorch built with CUDA; this r1 is built "
                                        "against LibTorch ") &&
                          Catch::Contains("docs/gpu.md"));
  }
  // One past the last device is refused naming how many there are (on a CPU build: no CUDA at all).
  CHECK_THROWS_AS(r1::model::resolve_device({DeviceChoice::kCuda, gpus}, "device"), r1::Error);
  CHECK(r1::model::describe_device(c10::Device(c10::kCPU)) == "cpu");
  // The CPU's free memory: MemAvailable, between nothing and all of it.
  const int64_t free = r1::model::free_memory_bytes(c10::Device(c10::kCPU));
  CHECK(free > 0);
  CHECK(free <= static_cast<int64_t>(sysconf(_SC_PHYS_PAGES)) * sysconf(_SC_PAGESIZE));
}

TEST_CASE("device: a model's weights, caches and outputs live on its device", "[model][device]") {
  const c10::Device device = r1::model::resolve_device({r1::DeviceChoice::kAuto, 0}, "device");
  r1::model::Transformer m(r1::checkpoint::preset_config("qwen2", "tiny", 97), at::kFloat, device);
  m.init_random(3);
  CHECK(m.device() == device);
  for (const auto& [name, t] : m.weights()) CHECK(t.device() == device);
  // Inputs made on the CPU are moved; every output is on the model's device.
  at::Tensor ids = at::tensor(std::vector<int64_t>{1, 2, 3}, at::kLong).view({1, 3});
  at::Tensor hidden = m.forward(ids);
  CHECK(hidden.device() == device);
  CHECK(m.logits(hidden).device() == device);
  r1::model::KVCache cache = m.new_cache(1, 8);
  CHECK(cache.k[0].device() == device);
  CHECK(m.forward_cached(ids, cache).device() == device);
  // The same seed gives the same weights wherever the model lives.
  r1::model::Transformer cpu(r1::checkpoint::preset_config("qwen2", "tiny", 97), at::kFloat, c10::Device(c10::kCPU));
  cpu.init_random(3);
  CHECK(at::equal(cpu.weight("model.embed_tokens.weight"), m.weight("model.embed_tokens.weight").to(at::kCPU)));
}
