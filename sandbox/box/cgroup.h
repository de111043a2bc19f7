// The box's cgroup: v1 memory + pids controllers or the v2 unified tree, best effort. It bounds the
// memory and processes of everything a job starts, and its OOM counter says when the kernel killed
// for memory.
#pragma once

#include <sys/types.h>

#include <cstdint>
#include <string>
#include <vector>

namespace r1::sandbox::box {

// A cgroup named r1-box-<pid of its creator> under this process's own, removed when destroyed.
class Cgroup {
 public:
  Cgroup() = default;
  ~Cgroup();
  Cgroup(const Cgroup&) = delete;
  Cgroup& operator=(const Cgroup&) = delete;

  void create(int64_t memory_mb, int64_t pids);  // best effort: active() says whether it worked
  void join();                                    // moves this process in (~10 ms on cgroup v1)
  void add(pid_t pid);                            // moves `pid` in
  void set_limits(int64_t memory_mb, int64_t pids);  // and resets the memory peak
  bool active() const { return has_memory() || has_pids(); }
  bool has_memory() const { return !memory_dir_.empty(); }
  bool has_pids() const { return !pids_dir_.empty(); }
  const std::string& version() const { return version_; }  // "v1", "v2" or "" (none found)
  int oom_fd() const { return oom_fd_; }  // the file whose oom_kill count oom_kills() reads (-1: none)
  int64_t peak_kb() const;
  int64_t usage_kb() const;

 private:
  bool make(const std::string& dir);
  int64_t read_kb(const char* file) const;

  std::vector<std::string> dirs_;  // created folders, removed at the end
  std::string memory_dir_, pids_dir_, version_;
  bool v2_ = false, joined_ = false;
  int oom_fd_ = -1;
};

// How many times the OOM killer fired in the cgroup whose oom_fd() is `fd` (0 for -1).
int64_t oom_kills(int fd);

// Removes the cgroups a process `pid` of the same parent cgroup created (Cgroup::create) and could not
// remove itself (it was killed). Nothing happens where there are none.
void remove_cgroups_of(pid_t pid);

}  // namespace r1::sandbox::box
