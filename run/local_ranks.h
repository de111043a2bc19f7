// `r1 run --nproc-per-node N`: the one-machine launcher. Starts N copies of the same command as the
// ranks of one job (torchrun's variables: RANK, WORLD_SIZE, LOCAL_RANK, LOCAL_WORLD_SIZE, GROUP_RANK,
// MASTER_ADDR=127.0.0.1, MASTER_PORT a free port), their output on this terminal, and supervises them
// as torchrun does: when one rank fails, the others are stopped (SIGTERM, then SIGKILL after a grace
// period) and the launcher fails naming that rank. No LibTorch.
#pragma once

#include <string>
#include <vector>

namespace r1::run {

struct LocalRanks {
  std::string exe;                // the program every rank runs
  std::vector<std::string> args;  // its arguments (without the launcher's own option)
  int nproc = 1;
  int threads_per_rank = 0;       // > 0: "--threads K" for each rank (put before args)
  double grace_s = 10;            // SIGTERM to SIGKILL for the surviving ranks
};

// Runs the ranks to the end. Returns 0 when every rank exited 0; otherwise stops the rest and throws
// r1::Error naming the first rank that failed and how ("rank 1 was killed by signal 9 (Killed)").
int run_local_ranks(const LocalRanks& job);

// A TCP port free on 127.0.0.1 now (the kernel's pick).
int free_local_port();

}  // namespace r1::run
