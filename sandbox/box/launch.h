// The host side of isolation: creates the namespaces and the cgroup, runs `inside` as pid 1 of the new
// namespaces (or as a plain child in weak mode), and returns what it wrote to its result descriptor.
//
// The processes: the caller forks a relay, which enters the new namespaces and forks pid 1 (inside).
// The relay stays outside the box's PID namespace and serves in-process runs for it (spawn.h): it forks
// them from its own memory, which is the caller's from before the job was read (see python_zygote.h),
// and reports their exit. Everything inside dies with pid 1.
#pragma once

#include <cstdint>
#include <string>

namespace r1::sandbox::box {

class Cgroup;

struct Launch {
  bool isolate = true;
  // >= 0: given to `inside` as its result fd, and launch() returns when the box has ended without
  // reading it (the zygote passes the caller's pipe through, so no job's result enters its memory).
  int result_fd = -1;
  Cgroup* slot = nullptr;  // run inside this (already joined) cgroup instead of a new one
  int64_t cgroup_memory_mb = 0, cgroup_pids = 0;  // the cgroup's limits (0: none)
  double watchdog_seconds = 120;  // the whole job is killed after this
};

struct Launched {
  std::string result;      // what `inside` wrote to its result fd
  int64_t peak_memory_kb = 0;  // the cgroup's peak, when there is one
  bool watchdog_fired = false;
};

// What the box's pid 1 is given.
struct InsideContext {
  int result_fd = -1;      // where the result goes
  int oom_fd = -1;         // the cgroup's OOM event counter (-1: none)
  bool separate_uids = false;
  int spawn_fd = -1;       // Box::Options::spawn_fd
};

// inside(context, arg) runs in the box's pid 1 and returns its exit code. Throws std::runtime_error
// when the box cannot be made.
Launched launch(const Launch& launch, int (*inside)(const InsideContext& context, void* arg), void* arg);

}  // namespace r1::sandbox::box
