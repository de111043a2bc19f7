// The box: set up in pid 1 of fresh namespaces (or a plain child in weak mode), it holds the private
// root and the seccomp filter, and runs one command at a time with every limit enforced. Single-threaded
// code: r1-box is its own process (started by the sandbox pool), so fork() here is safe.
#pragma once

#include <seccomp.h>
#include <sys/types.h>

#include <cstdint>
#include <optional>
#include <string>
#include <vector>

#include "sandbox/box/root.h"
#include "sandbox/box/run_child.h"

namespace r1::sandbox::box {

struct RunSpec {
  std::vector<std::string> argv;  // argv[0]: absolute path inside the box
  std::string stdin_data;
  RunLimits limits;
  bool drop_privileges = true;        // run as the candidate uid (false: the judge, which drops in its child)
  std::optional<std::string> control;  // written to a pipe at control_fd for the harness, then closed
  bool result_channel = false;         // channel_fd is a pipe whose contents come back in RunOutcome::channel
  int control_fd = 3, channel_fd = 4;
  // Non-zero: run this entry of the in-process runner (the Python zygote) instead of exec'ing argv,
  // when the box has one; argv is the fallback. in_process_argv: the entry's arguments.
  int in_process_entry = 0;
  std::vector<std::string> in_process_argv;
  // Non-zero: a gated run (assert-main's proof of success). Control and channel are sockets that only
  // a system call made from this instruction address may touch (read, write, dup, splice, ... are
  // refused anywhere else), and the run may not create AF_UNIX sockets, which could pass them on.
  uint64_t gate_ip = 0;
};

struct RunOutcome {
  int exit_code = -1;     // when exited normally
  int signal = 0;         // when killed by a signal
  bool wall_timeout = false;
  bool output_exceeded = false;
  bool oom_killed = false;  // the cgroup's OOM killer fired during the run
  int exec_errno = 0;       // execve failed with this
  std::string out, err, channel;
  double cpu_ms = 0, wall_ms = 0;
  int64_t max_rss_kb = 0;
};

struct RunPipes;
struct StartedRun;
struct RunBaseline;

class Box {
 public:
  struct Options {
    bool isolate = true;  // false: the weak mode (no namespaces; only rlimits, seccomp, a temp folder)
    std::vector<std::string> binds;  // host paths shown read-only inside (globs allowed)
    int64_t disk_mb = 64;
    bool use_seccomp = true;
    int oom_events_fd = -1;  // cgroup file whose oom_kill count says the OOM killer fired
    bool separate_uids = false;  // the candidate runs as kCandidateUid (the host mapped two uids)
    int spawn_fd = -1;  // the relay's spawn service (spawn.h): in-process runs are forked there
  };
  // Sets up the box in the calling process, which must be pid 1 of fresh namespaces (isolate) or a
  // plain child (weak mode). Throws std::runtime_error when a step fails.
  explicit Box(Options options);
  ~Box();
  Box(const Box&) = delete;
  Box& operator=(const Box&) = delete;
  const Layout& layout() const { return layout_; }
  // Writes a file into the work folder (path relative to it), owned by the candidate.
  void write_work_file(const std::string& name, const std::string& data);
  // Writes a read-only harness file.
  void write_harness_file(const std::string& name, const std::string& data);
  // Runs one command; every process it leaves behind is killed before this returns.
  RunOutcome run(const RunSpec& spec);
  uid_t candidate_uid() const { return candidate_uid_; }
  bool separate_uids() const { return separate_uids_; }

 private:
  // The steps of run() (box.cpp).
  StartedRun start_exec(const RunSpec& spec, const RunPipes& pipes, const std::vector<sock_filter>* gate);
  StartedRun start_in_process(const RunSpec& spec, const RunPipes& pipes);
  void finish(const StartedRun& child, const RunBaseline& before, RunPipes& pipes, RunOutcome& out);
  void kill_leftovers(pid_t pgid);

  Options options_;
  Layout layout_;
  scmp_filter_ctx seccomp_ctx_ = nullptr;
  uid_t candidate_uid_ = 0;
  bool separate_uids_ = false;
  std::string weak_root_;  // weak mode: the temp folder to remove
};

}  // namespace r1::sandbox::box
