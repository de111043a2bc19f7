// Where this process stands in a multi-process job, read the way the ecosystem launches jobs: torchrun's
// variables, Slurm's (an `srun` step), or r1's own `r1 run --nproc-per-node N` (which sets torchrun's).
// LibTorch-free; trainer/distributed.h turns a Launch into a c10d process group.
//
//   torchrun:  RANK, WORLD_SIZE, LOCAL_RANK, LOCAL_WORLD_SIZE, GROUP_RANK (the node), MASTER_ADDR, MASTER_PORT
//   Slurm:     SLURM_PROCID, SLURM_STEP_NUM_TASKS (set by srun for its step only, so a plain `r1 run`
//              inside an sbatch script stays one process), SLURM_LOCALID, SLURM_NODEID,
//              SLURM_STEP_TASKS_PER_NODE ("2(x3),1"), SLURM_JOB_NODELIST ("node[01-04]": the first host
//              is the master unless MASTER_ADDR says otherwise); MASTER_PORT, else 29500.
//
// torchrun's variables win when both are set (torchrun inside an allocation). Bad values are one
// ConfigError naming the variable.
#pragma once

#include <functional>
#include <optional>
#include <string>

namespace r1::run {

struct Launch {
  int rank = 0, world_size = 1;
  int local_rank = 0, local_world_size = 1;
  int node_rank = 0;
  std::string master_addr = "127.0.0.1";
  int master_port = 29500;
  std::string launcher = "single";  // single | torchrun | slurm

  bool distributed() const { return world_size > 1; }
  bool leader() const { return rank == 0; }
  // "rank 1 of 4 (node 0, local rank 1; torchrun, master 10.0.0.1:29500)"
  std::string describe() const;
};

using Environment = std::function<const char*(const char*)>;

// The launch this process belongs to, from `env` (the process's environment by default).
Launch read_launch(const Environment& env = nullptr);

// The first host of a Slurm node list: "node[01-04,07],gpu5" -> "node01"; "a,b" -> "a".
std::string first_slurm_host(const std::string& nodelist);

// Tasks on node `node` from Slurm's tasks-per-node list: ("2(x3),1", 3) -> 1.
int slurm_tasks_on_node(const std::string& tasks_per_node, int node);

}  // namespace r1::run
