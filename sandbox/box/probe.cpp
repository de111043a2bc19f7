#include "sandbox/box/probe.h"

#include <sched.h>
#include <sys/prctl.h>
#include <sys/wait.h>
#include <unistd.h>

#include "sandbox/box/cgroup.h"
#include "sandbox/box/seccomp_filter.h"

namespace r1::sandbox::box {
namespace {

// Whether a child may unshare `flags`: each namespace in a child of its own, so a failure names the
// one that is missing.
bool try_unshare(int flags) {
  pid_t pid = ::fork();
  if (pid == 0) _exit(::unshare(flags) == 0 ? 0 : 1);
  int status = 0;
  ::waitpid(pid, &status, 0);
  return WIFEXITED(status) && WEXITSTATUS(status) == 0;
}

void probe_namespaces(Protections& p) {
  struct Try {
    int flag;
    bool* ok;
    const char* name;
  };
  p.user_ns = try_unshare(CLONE_NEWUSER);
  if (!p.user_ns) p.missing.push_back("user namespaces (kernel.unprivileged_userns_clone or user.max_user_namespaces)");
  Try rest[] = {{CLONE_NEWPID, &p.pid_ns, "PID namespaces"},     {CLONE_NEWNET, &p.net_ns, "network namespaces"},
                {CLONE_NEWNS, &p.mount_ns, "mount namespaces"},   {CLONE_NEWIPC, &p.ipc_ns, "IPC namespaces"},
                {CLONE_NEWUTS, &p.uts_ns, "UTS namespaces"}};
  for (const Try& t : rest) {
    *t.ok = p.user_ns && try_unshare(CLONE_NEWUSER | t.flag);
    if (!*t.ok) p.missing.push_back(t.name);
  }
}

void probe_seccomp(Protections& p) {
  pid_t pid = ::fork();
  if (pid == 0) {
    ::prctl(PR_SET_NO_NEW_PRIVS, 1, 0, 0, 0);
    scmp_filter_ctx ctx = make_seccomp();
    _exit(seccomp_load(ctx) == 0 ? 0 : 1);
  }
  int status = 0;
  ::waitpid(pid, &status, 0);
  p.seccomp = WIFEXITED(status) && WEXITSTATUS(status) == 0;
  if (!p.seccomp) p.missing.push_back("seccomp-bpf filters");
}

void probe_cgroups(Protections& p) {
  Cgroup cg;
  cg.create(64, 16);
  p.cgroup_version = cg.version();
  p.cgroup_memory = cg.has_memory();
  p.cgroup_pids = cg.has_pids();
  if (!p.cgroup_memory) p.missing.push_back("a writable cgroup memory controller (rlimits still bound memory)");
  if (!p.cgroup_pids) p.missing.push_back("a writable cgroup pids controller (RLIMIT_NPROC still bounds processes)");
}

}  // namespace

Protections probe() {
  Protections p;
  probe_namespaces(p);
  probe_seccomp(p);
  probe_cgroups(p);
  p.separate_uids = p.user_ns && ::geteuid() == 0;
  return p;
}

}  // namespace r1::sandbox::box
