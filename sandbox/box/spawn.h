// The relay's spawn service: the box's pid 1 asks for an in-process run (the Python zygote's); the
// relay, outside the box's PID namespace, forks it from its own memory (the caller's from before the
// job was read, see python_zygote.h) into the box's namespaces and reports its exit. One run at a time,
// over a SOCK_SEQPACKET socket (launch.h).
#pragma once

#include <sys/types.h>

#include <cstdint>
#include <string>
#include <vector>

#include "sandbox/box/run_child.h"

namespace r1::sandbox::box {

// The in-process runner: called in a forked child that has entered the box (fds, rlimits, uid,
// seccomp), it runs `entry` with `argv` and never returns. extra_address_space_mb: what the runner's
// own image adds to a run's address space, added to its memory limit.
using InProcessRunner = void (*)(int entry, const std::vector<std::string>& argv);
void set_in_process_runner(InProcessRunner runner, int64_t extra_address_space_mb);
bool has_in_process_runner();
int64_t in_process_extra_mb();

// The request, followed in the same message by the arguments, each ending in '\0', and carrying the
// child's stdin, stdout, stderr, then control and channel when it has them.
struct SpawnRequest {
  RunLimits limits;
  int32_t entry = 0;
  int32_t control_fd = 3, channel_fd = 4;
  uint8_t has_ctl = 0, has_chan = 0, drop_privileges = 1, use_seccomp = 1;
  char work_dir[240] = {};
};
struct SpawnReply {
  int32_t pid = -1;  // in the relay's PID namespace (the box's own in weak mode)
  int32_t error = 0;
};
struct SpawnExit {
  int32_t status = 0;
  double cpu_ms = 0;
  int64_t max_rss_kb = 0;
};

// The relay's side: serves requests on `sock` until pid 1 closes it.
void serve_spawns(int sock, bool separate_uids);

// Pid 1's side: asks for a run with the child's descriptor ends `fds` (stdin, stdout, stderr[, ctl][,
// chan]); sets *pidfd to a descriptor that polls readable when the run exits. Throws when refused.
pid_t request_spawn(int sock, const SpawnRequest& req, const std::vector<std::string>& argv, const int* fds,
                    int nfds, int* pidfd);
// Pid 1's side, after the run exited: its status, CPU time and peak RSS; false when the relay is gone.
bool await_spawn_exit(int sock, SpawnExit* done);

}  // namespace r1::sandbox::box
