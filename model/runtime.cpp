#include "model/runtime.h"

#include <ATen/Parallel.h>
#include <ATen/Version.h>

#include "core/thread_pool.h"

namespace r1::model {

int configure_threads(int threads) {
  int n = threads > 0 ? threads : static_cast<int>(hardware_threads());
  at::set_num_threads(n);
  return at::get_num_threads();
}

std::string describe_runtime() { return at::show_config() + at::get_parallel_info(); }

}  // namespace r1::model
