// `r1 bench sandbox`: sandbox throughput. Short Python function-test jobs (HumanEval's canonical
// solutions) and C++ compile-and-run stdin/stdout jobs through the pool, in jobs/s; and, in the same
// run with the same parallelism, the same programs run bare (`python3 file.py` with the test appended;
// `g++` then the binary), so the sandbox's overhead is a ratio measured on the same machine state.
#pragma once

#include <cstddef>

namespace r1::bench {

struct SandboxBenchOptions {
  size_t python_jobs = 500;
  size_t cpp_jobs = 100;
  size_t workers = 0;  // 0: one per core
};

void run_sandbox_bench(const SandboxBenchOptions& options);

}  // namespace r1::bench
