#include "sandbox/box/cgroup.h"

#include <fcntl.h>
#include <sys/stat.h>
#include <unistd.h>

#include <cerrno>
#include <cstdlib>
#include <cstring>
#include <exception>
#include <fstream>
#include <sstream>

#include "sandbox/box/io.h"

namespace r1::sandbox::box {
namespace {

struct CgroupMounts {
  std::string v1_memory, v1_pids, v2;
};

CgroupMounts find_cgroup_mounts() {
  CgroupMounts m;
  std::ifstream in("/proc/self/mountinfo");
  std::string line;
  while (std::getline(in, line)) {
    // ... mount_point ... - fstype source super_options
    std::istringstream s(line);
    std::string id, parent, devno, root, point, opts;
    s >> id >> parent >> devno >> root >> point >> opts;
    size_t dash = line.find(" - ");
    if (dash == std::string::npos) continue;
    std::istringstream t(line.substr(dash + 3));
    std::string fstype, source, super;
    t >> fstype >> source >> super;
    if (fstype == "cgroup2") m.v2 = point;
    if (fstype == "cgroup") {
      std::string o = "," + super + ",";
      if (o.find(",memory,") != std::string::npos) m.v1_memory = point;
      if (o.find(",pids,") != std::string::npos) m.v1_pids = point;
    }
  }
  return m;
}

// Our own cgroup path for a v1 controller ("memory") or v2 (controller "").
std::string own_cgroup(const std::string& controller) {
  std::ifstream in("/proc/self/cgroup");
  std::string line;
  while (std::getline(in, line)) {
    size_t a = line.find(':'), b = line.find(':', a + 1);
    if (a == std::string::npos || b == std::string::npos) continue;
    std::string ctrls = "," + line.substr(a + 1, b - a - 1) + ",";
    if (controller.empty() ? line.substr(0, a) == "0" && ctrls == ",,"
                           : ctrls.find("," + controller + ",") != std::string::npos)
      return line.substr(b + 1);
  }
  return "";
}

bool try_write(const std::string& path, const std::string& value) {
  try {
    write_file(path, value);
    return true;
  } catch (const std::exception&) {
    return false;
  }
}

// The box's processes are dead, but their exit may still be in flight: retry briefly.
void remove_dir(const std::string& dir) {
  for (int i = 0; i < 200 && ::rmdir(dir.c_str()) != 0 && errno == EBUSY; ++i) ::usleep(1000);
}

}  // namespace

bool Cgroup::make(const std::string& dir) {
  if (::mkdir(dir.c_str(), 0755) != 0 && errno != EEXIST) return false;
  dirs_.push_back(dir);
  return true;
}

void Cgroup::create(int64_t memory_mb, int64_t pids) {
  CgroupMounts m = find_cgroup_mounts();
  std::string name = "/r1-box-" + std::to_string(::getpid());
  if (!m.v1_memory.empty() || !m.v1_pids.empty()) {
    version_ = "v1";
    if (!m.v1_memory.empty() && memory_mb > 0) {
      std::string dir = m.v1_memory + own_cgroup("memory") + name;
      if (make(dir) && try_write(dir + "/memory.limit_in_bytes", std::to_string(memory_mb << 20))) {
        try_write(dir + "/memory.memsw.limit_in_bytes", std::to_string(memory_mb << 20));  // absent without swap accounting
        memory_dir_ = dir;
        oom_fd_ = ::open((dir + "/memory.oom_control").c_str(), O_RDONLY | O_CLOEXEC);
      }
    }
    if (!m.v1_pids.empty() && pids > 0) {
      std::string dir = m.v1_pids + own_cgroup("pids") + name;
      if (make(dir) && try_write(dir + "/pids.max", std::to_string(pids))) pids_dir_ = dir;
    }
  } else if (!m.v2.empty()) {
    version_ = "v2";
    v2_ = true;
    std::string dir = m.v2 + own_cgroup("") + name;
    if (make(dir)) {
      if (memory_mb > 0 && try_write(dir + "/memory.max", std::to_string(memory_mb << 20))) {
        try_write(dir + "/memory.swap.max", "0");
        memory_dir_ = dir;
        oom_fd_ = ::open((dir + "/memory.events").c_str(), O_RDONLY | O_CLOEXEC);
      }
      if (pids > 0 && try_write(dir + "/pids.max", std::to_string(pids))) pids_dir_ = dir;
    }
  }
}

void Cgroup::add(pid_t pid) {
  std::string p = std::to_string(pid);
  if (!memory_dir_.empty()) try_write(memory_dir_ + "/cgroup.procs", p);
  if (!pids_dir_.empty() && pids_dir_ != memory_dir_) try_write(pids_dir_ + "/cgroup.procs", p);
}

void Cgroup::join() {
  add(::getpid());
  joined_ = true;
}

void Cgroup::set_limits(int64_t memory_mb, int64_t pids) {
  if (!memory_dir_.empty() && memory_mb > 0) {
    const std::string m = std::to_string(memory_mb << 20);
    // v1 keeps memsw >= memory: order the writes so neither is refused.
    if (!v2_) {
      try_write(memory_dir_ + "/memory.memsw.limit_in_bytes", "-1");
      try_write(memory_dir_ + "/memory.limit_in_bytes", m);
      try_write(memory_dir_ + "/memory.memsw.limit_in_bytes", m);
      try_write(memory_dir_ + "/memory.max_usage_in_bytes", "0");  // resets the peak
    } else {
      try_write(memory_dir_ + "/memory.max", m);
    }
  }
  if (!pids_dir_.empty() && pids > 0) try_write(pids_dir_ + "/pids.max", std::to_string(pids));
}

int64_t Cgroup::peak_kb() const { return read_kb(v2_ ? "/memory.peak" : "/memory.max_usage_in_bytes"); }
int64_t Cgroup::usage_kb() const { return read_kb(v2_ ? "/memory.current" : "/memory.usage_in_bytes"); }

int64_t Cgroup::read_kb(const char* file) const {
  if (memory_dir_.empty()) return 0;
  std::string s = read_small_file(memory_dir_ + file);
  try {
    return std::stoll(s) / 1024;
  } catch (...) {
    return 0;
  }
}

Cgroup::~Cgroup() {
  if (oom_fd_ >= 0) ::close(oom_fd_);
  if (joined_) {
    // A cgroup with a member cannot be removed: step back out into the parent first.
    std::string p = std::to_string(::getpid());
    for (const std::string& dir : {memory_dir_, pids_dir_})
      if (!dir.empty()) try_write(dir.substr(0, dir.rfind('/')) + "/cgroup.procs", p);
  }
  for (auto it = dirs_.rbegin(); it != dirs_.rend(); ++it) remove_dir(*it);
}

int64_t oom_kills(int fd) {
  if (fd < 0) return 0;
  char buf[1024];
  ssize_t n = ::pread(fd, buf, sizeof buf - 1, 0);
  if (n <= 0) return 0;
  buf[n] = 0;
  const char* p = std::strstr(buf, "oom_kill ");
  return p ? std::atoll(p + 9) : 0;
}

void remove_cgroups_of(pid_t pid) {
  CgroupMounts m = find_cgroup_mounts();
  const std::string name = "/r1-box-" + std::to_string(pid);
  std::vector<std::string> dirs;
  if (!m.v1_memory.empty()) dirs.push_back(m.v1_memory + own_cgroup("memory") + name);
  if (!m.v1_pids.empty()) dirs.push_back(m.v1_pids + own_cgroup("pids") + name);
  if (!m.v2.empty()) dirs.push_back(m.v2 + own_cgroup("") + name);
  for (const std::string& dir : dirs) remove_dir(dir);
}

}  // namespace r1::sandbox::box
