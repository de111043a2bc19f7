// model/runtime: LibTorch builds and links, and the thread count is set explicitly (Debian's
// LibTorch starts with one intra-op thread).
#include <catch2/catch.hpp>

#include "core/thread_pool.h"
#include "model/runtime.h"

TEST_CASE("runtime: intra-op threads follow the option, 0 meaning one per core", "[model]") {
  CHECK(r1::model::configure_threads(1) == 1);
  CHECK(r1::model::configure_threads(0) == static_cast<int>(r1::hardware_threads()));
  CHECK(r1::model::configure_threads(3) == 3);
  std::string info = r1::model::describe_runtime();
  CHECK(info.find("ATen/Parallel") != std::string::npos);
  CHECK(info.find("at::get_num_threads() : 3") != std::string::npos);
}
