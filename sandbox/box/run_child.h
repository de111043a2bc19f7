// A forked child's way into a run: its descriptors, process group, rlimits, working folder, uid and
// seccomp filters, set up in that order before it execs (or runs the in-process runner).
#pragma once

#include <linux/filter.h>
#include <seccomp.h>
#include <sys/types.h>

#include <cstdint>
#include <vector>

namespace r1::sandbox::box {

// The uid (and gid) the candidate runs under inside the box when the host maps two uids.
constexpr uid_t kCandidateUid = 1000;

struct RunLimits {
  double cpu_seconds = 2, wall_seconds = 10;
  int64_t memory_mb = 256;     // address space of each process
  int64_t output_kb = 1024;    // stdout; more is OLE (the process is killed)
  int64_t file_size_mb = 64;   // largest file a process may write
  int64_t processes = 32;      // processes and threads of the candidate's uid
  int64_t open_files = 64;
  int64_t stack_mb = 64;
};

// Where the child's descriptors come from (the parent's numbering, -1: none) and what it may do.
struct ChildSetup {
  int in = -1, out = -1, err = -1, ctl = -1, chan = -1, errpipe = -1;
  int control_fd = 3, channel_fd = 4;
  RunLimits limits;
  const char* work_dir = "/work";
  bool drop_privileges = true, separate_uids = false;
  bool default_signals = true;  // exec'd programs start with default signal dispositions
  scmp_filter_ctx seccomp = nullptr;
  const std::vector<sock_filter>* gate = nullptr;  // a second filter: the gate's (gate_filter.h)
};

// In a freshly forked child: descriptors, process group, rlimits, cwd, uid, no_new_privs, seccomp.
// Returns the child's copy of errpipe (or -1); _exit()s when a step fails.
int enter_run(const ChildSetup& s);

}  // namespace r1::sandbox::box
