#include "model/runtime.h"

#include <ATen/Parallel.h>
#include <ATen/Version.h>
#include <malloc.h>

#include "core/thread_pool.h"

namespace r1::model {

int configure_threads(int threads) {
  int n = threads > 0 ? threads : static_cast<int>(hardware_threads());
  at::set_num_threads(n);
  return at::get_num_threads();
}

void configure_allocator(size_t mmap_threshold) {
  // Setting the threshold also turns off glibc's dynamic adjustment of it.
  ::mallopt(M_MMAP_THRESHOLD, static_cast<int>(mmap_threshold));
}

std::string describe_runtime() { return at::show_config() + at::get_parallel_info(); }

}  // namespace r1::model
