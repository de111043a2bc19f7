// What the machine lets the box use. Probed once by `r1-box --probe` (reported by `r1 sandbox info`).
#pragma once

#include <string>
#include <vector>

namespace r1::sandbox::box {

struct Protections {
  bool user_ns = false, pid_ns = false, net_ns = false, mount_ns = false, ipc_ns = false, uts_ns = false;
  bool seccomp = false;
  bool cgroup_memory = false, cgroup_pids = false;
  bool separate_uids = false;  // the candidate runs under a uid other than the judge's (root on the host)
  std::string cgroup_version;  // "v1", "v2" or ""
  std::vector<std::string> missing;  // one line per protection that is not available, saying why
};
Protections probe();

}  // namespace r1::sandbox::box
