// The isolation layer of r1-box: namespaces, a private root, seccomp, rlimits, cgroups, and running
// one command in the box with every limit enforced. Single-threaded code: r1-box is its own process
// (started by the sandbox pool), so fork() here is safe.
#pragma once

#include <sys/types.h>

#include <cstdint>
#include <memory>
#include <optional>
#include <string>
#include <vector>

namespace r1::sandbox::box {

// What the machine lets the box use. Probed once by `r1-box --probe` (reported by `r1 sandbox info`).
struct Protections {
  bool user_ns = false, pid_ns = false, net_ns = false, mount_ns = false, ipc_ns = false, uts_ns = false;
  bool seccomp = false;
  bool cgroup_memory = false, cgroup_pids = false;
  bool separate_uids = false;  // the candidate runs under a uid other than the judge's (root on the host)
  std::string cgroup_version;  // "v1", "v2" or ""
  std::vector<std::string> missing;  // one line per protection that is not available, saying why
};
Protections probe();

// Where the box's files are, seen from inside it.
struct Layout {
  std::string root = "/";       // "/" inside the namespaces; a temp folder in weak mode
  std::string work = "/work";   // the candidate's writable tmpfs (its cwd, $HOME, $TMPDIR)
  std::string harness = "/r1";  // read-only harness files
};

struct RunLimits {
  double cpu_seconds = 2, wall_seconds = 10;
  int64_t memory_mb = 256;     // address space of each process
  int64_t output_kb = 1024;    // stdout; more is OLE (the process is killed)
  int64_t file_size_mb = 64;   // largest file a process may write
  int64_t processes = 32;      // processes and threads of the candidate's uid
  int64_t open_files = 64;
  int64_t stack_mb = 64;
};

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

// Whether gated runs are available here (x86-64: the gate is four moves and a syscall instruction).
bool gate_supported();

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

class Box {
 public:
  struct Options {
    bool isolate = true;  // false: the weak mode (no namespaces; only rlimits, seccomp, a temp folder)
    std::vector<std::string> binds;  // host paths shown read-only inside (globs allowed)
    int64_t disk_mb = 64;
    bool use_seccomp = true;
    int oom_events_fd = -1;  // cgroup file whose oom_kill count says the OOM killer fired
    bool separate_uids = false;  // the candidate runs as kCandidateUid (the host mapped two uids)
    int spawn_fd = -1;  // the relay's spawn service (launch()): in-process runs are forked there
  };
  // Sets up the box in the calling process, which must be pid 1 of fresh namespaces (isolate) or a
  // plain child (weak mode). Throws std::runtime_error when a step fails.
  explicit Box(Options options);
  ~Box();
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
  void setup_root();
  void kill_leftovers(pid_t pgid);
  Options options_;
  Layout layout_;
  void* seccomp_ctx_ = nullptr;
  uid_t candidate_uid_ = 0;
  bool separate_uids_ = false;
  std::string weak_root_;  // weak mode: the temp folder to remove
};

// The host side of isolation: creates the namespaces and the cgroup, runs `inside` as pid 1 of the
// new namespaces (or as a plain child in weak mode), and returns what it wrote to the result pipe.
// limits_mb/pids: the cgroup's limits (0: none). Throws std::runtime_error on failure.
struct CgroupImpl;
// A cgroup (v1 memory + pids controllers, or v2) with memory and process limits, removed when destroyed.
class Cgroup {
 public:
  Cgroup();
  ~Cgroup();
  void create(int64_t memory_mb, int64_t pids);  // best effort: active() says whether it worked
  void join();                                    // moves this process in (~10 ms on cgroup v1)
  void set_limits(int64_t memory_mb, int64_t pids);  // and resets the memory peak
  bool active() const;
  int oom_fd() const;
  int64_t peak_kb() const;

  std::unique_ptr<CgroupImpl> impl_;
};

// Removes the cgroups a process `pid` of the same parent cgroup created (Cgroup::create) and could not
// remove itself (it was killed). Nothing happens where there are none.
void remove_cgroups_of(pid_t pid);

struct Launch {
  bool isolate = true;
  // >= 0: given to `inside` as its result fd, and launch() returns when the box has ended without
  // reading it (the zygote passes the caller's pipe through, so no job's result enters its memory).
  int result_fd = -1;
  Cgroup* slot = nullptr;  // run inside this (already joined) cgroup instead of a new one
  int64_t cgroup_memory_mb = 0, cgroup_pids = 0;
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
// inside(context, arg) runs in the box's pid 1 and returns its exit code.
//
// The processes: the caller forks a relay, which enters the new namespaces and forks pid 1 (inside).
// The relay stays outside the box's PID namespace and serves in-process runs for it: it forks them
// from its own memory, which is the caller's from before the job was read (see python_zygote.h), and
// reports their exit. Everything inside dies with pid 1.
Launched launch(const Launch& launch, int (*inside)(const InsideContext& context, void* arg), void* arg);

// The in-process runner: called in a forked child that has entered the box (fds, rlimits, uid,
// seccomp), it runs `entry` with `argv` and never returns. extra_address_space_mb: what the runner's
// own image adds to a run's address space, added to its memory limit.
using InProcessRunner = void (*)(int entry, const std::vector<std::string>& argv);
void set_in_process_runner(InProcessRunner runner, int64_t extra_address_space_mb);

constexpr uid_t kCandidateUid = 1000;

// A message on a SOCK_SEQPACKET socket with descriptors attached (SCM_RIGHTS, at most 8).
bool send_message(int sock, const void* data, size_t size, const int* fds, int nfds);
// One message of at most `size` bytes and up to max_fds descriptors (received close-on-exec); the
// message's length, 0 at end of file, -1 on error.
ssize_t recv_message(int sock, void* data, size_t size, int* fds, int max_fds, int* nfds);  // inside the box, when the host lets the box map two uids

}  // namespace r1::sandbox::box
