// run/launch.h and run/run_lock.h: where a process stands in a job (torchrun's and Slurm's variables),
// and one writer per run folder.
#include <catch2/catch.hpp>

#include <filesystem>
#include <map>
#include <string>

#include "core/error.h"
#include "run/launch.h"
#include "run/run_lock.h"
#include "tests/run_helpers.h"

using namespace r1::run;

namespace {

Environment env_of(std::map<std::string, std::string> vars) {
  auto shared = std::make_shared<std::map<std::string, std::string>>(std::move(vars));
  return [shared](const char* name) -> const char* {
    auto it = shared->find(name);
    return it == shared->end() ? nullptr : it->second.c_str();
  };
}

}  // namespace

TEST_CASE("launch: no launcher variables is one process", "[launch]") {
  const Launch l = read_launch(env_of({}));
  CHECK_FALSE(l.distributed());
  CHECK(l.rank == 0);
  CHECK(l.world_size == 1);
  CHECK(l.launcher == "single");
  // An sbatch script's own environment (no srun step) stays one process.
  const Launch batch = read_launch(env_of({{"SLURM_PROCID", "0"}, {"SLURM_NTASKS", "4"}, {"SLURM_JOB_NODELIST", "n[1-2]"}}));
  CHECK_FALSE(batch.distributed());
}

TEST_CASE("launch: torchrun's variables", "[launch]") {
  const Launch l = read_launch(env_of({{"RANK", "5"}, {"WORLD_SIZE", "8"}, {"LOCAL_RANK", "1"}, {"LOCAL_WORLD_SIZE", "4"},
                                       {"GROUP_RANK", "1"}, {"MASTER_ADDR", "10.0.0.7"}, {"MASTER_PORT", "29400"}}));
  CHECK(l.distributed());
  CHECK(l.launcher == "torchrun");
  CHECK(l.rank == 5);
  CHECK(l.world_size == 8);
  CHECK(l.local_rank == 1);
  CHECK(l.local_world_size == 4);
  CHECK(l.node_rank == 1);
  CHECK(l.master_addr == "10.0.0.7");
  CHECK(l.master_port == 29400);
  CHECK_FALSE(l.leader());
  CHECK(l.describe() == "rank 5 of 8 (node 1, local rank 1; torchrun, master 10.0.0.7:29400)");
  // Defaults: one node, the local rank from the rank, the default port.
  const Launch d = read_launch(env_of({{"RANK", "1"}, {"WORLD_SIZE", "2"}}));
  CHECK(d.local_world_size == 2);
  CHECK(d.local_rank == 1);
  CHECK(d.master_addr == "127.0.0.1");
  CHECK(d.master_port == 29500);
}

TEST_CASE("launch: Slurm's variables, the master from the node list", "[launch]") {
  const Launch l = read_launch(env_of({{"SLURM_PROCID", "3"}, {"SLURM_STEP_NUM_TASKS", "6"}, {"SLURM_LOCALID", "0"},
                                       {"SLURM_NODEID", "2"}, {"SLURM_STEP_TASKS_PER_NODE", "2(x2),1,1"},
                                       {"SLURM_JOB_NODELIST", "gpu[007-009,012],cpu1"}}));
  CHECK(l.launcher == "slurm");
  CHECK(l.rank == 3);
  CHECK(l.world_size == 6);
  CHECK(l.node_rank == 2);
  CHECK(l.local_world_size == 1);
  CHECK(l.master_addr == "gpu007");
  // torchrun's variables win inside an allocation.
  const Launch t = read_launch(env_of({{"RANK", "0"}, {"WORLD_SIZE", "2"}, {"SLURM_PROCID", "3"}, {"SLURM_STEP_NUM_TASKS", "6"}}));
  CHECK(t.launcher == "torchrun");
  CHECK(first_slurm_host("a,b") == "a");
  CHECK(first_slurm_host("node[01-04]") == "node01");
  CHECK(first_slurm_host("rack1-n[3,5]x") == "rack1-n3x");
  CHECK(slurm_tasks_on_node("2(x3),1", 0) == 2);
  CHECK(slurm_tasks_on_node("2(x3),1", 2) == 2);
  CHECK(slurm_tasks_on_node("2(x3),1", 3) == 1);
}

TEST_CASE("launch: bad values are one error naming the variable", "[launch]") {
  CHECK_THROWS_WITH(read_launch(env_of({{"RANK", "x"}, {"WORLD_SIZE", "2"}})), Catch::Contains("RANK=x"));
  CHECK_THROWS_WITH(read_launch(env_of({{"RANK", "2"}, {"WORLD_SIZE", "2"}})), Catch::Contains("RANK=2 is not below WORLD_SIZE=2"));
  CHECK_THROWS_WITH(read_launch(env_of({{"RANK", "0"}, {"WORLD_SIZE", "0"}})), Catch::Contains("WORLD_SIZE=0"));
  CHECK_THROWS_WITH(read_launch(env_of({{"RANK", "0"}, {"WORLD_SIZE", "2"}, {"MASTER_PORT", "70000"}})),
                    Catch::Contains("MASTER_PORT=70000"));
  CHECK_THROWS_WITH(read_launch(env_of({{"SLURM_PROCID", "0"}, {"SLURM_STEP_NUM_TASKS", "2"}, {"SLURM_JOB_NODELIST", "n[1-2"}})),
                    Catch::Contains("SLURM_JOB_NODELIST"));
  CHECK_THROWS_WITH(slurm_tasks_on_node("2(x2", 0), Catch::Contains("N(xK)"));
  CHECK_THROWS_WITH(slurm_tasks_on_node("2(x2)", 2), Catch::Contains("no entry for node 2"));
}

TEST_CASE("run lock: a second writer of a run folder is refused, naming the holder, and the lock ends with it", "[launch]") {
  const std::filesystem::path dir = r1::test::fresh_dir("run-lock");
  {
    RunLock first(dir.string());
    CHECK_THROWS_WITH(RunLock(dir.string()), Catch::Contains("another r1 run (pid " + std::to_string(::getpid())));
  }
  RunLock again(dir.string());  // released when the first ended
  SUCCEED();
}
