#include "sandbox/box/run_child.h"

#include <fcntl.h>
#include <grp.h>
#include <linux/capability.h>
#include <linux/seccomp.h>
#include <signal.h>
#include <sys/prctl.h>
#include <sys/resource.h>
#include <sys/syscall.h>
#include <unistd.h>

#include <cmath>

namespace r1::sandbox::box {
namespace {

// Stdin, stdout, stderr, control and channel at their numbers; every other descriptor closed but the
// exec-error pipe, whose new number is returned.
int place_descriptors(const ChildSetup& s) {
  // Move every fd the child keeps above 100 first, so the dup2s below cannot clobber one another.
  auto high = [](int fd) { return fd < 0 ? -1 : ::fcntl(fd, F_DUPFD_CLOEXEC, 100); };
  int hin = high(s.in), hout = high(s.out), herr = high(s.err), hctl = high(s.ctl), hchan = high(s.chan);
  int herrno = high(s.errpipe);
  ::dup2(hin, 0);
  ::dup2(hout, 1);
  ::dup2(herr, 2);
  if (hctl >= 0) ::dup2(hctl, s.control_fd);
  if (hchan >= 0) ::dup2(hchan, s.channel_fd);
  for (int fd = 3; fd < 100; ++fd)
    if (!(hctl >= 0 && fd == s.control_fd) && !(hchan >= 0 && fd == s.channel_fd)) ::close(fd);
  if (herrno >= 0) {
    ::close_range(100, static_cast<unsigned>(herrno - 1), 0);
    ::close_range(static_cast<unsigned>(herrno + 1), ~0U, 0);
  } else {
    ::close_range(100, ~0U, 0);
  }
  return herrno;
}

void reset_signals(bool to_defaults) {
  sigset_t none;
  sigemptyset(&none);
  ::sigprocmask(SIG_SETMASK, &none, nullptr);
  if (to_defaults)
    for (int sig = 1; sig < NSIG; ++sig) ::signal(sig, SIG_DFL);
}

void apply_rlimits(const RunLimits& l) {
  auto limit = [](int resource, rlim_t soft, rlim_t hard) {
    rlimit r{soft, hard};
    ::setrlimit(resource, &r);
  };
  rlim_t cpu = static_cast<rlim_t>(std::ceil(l.cpu_seconds));
  limit(RLIMIT_CPU, cpu, cpu + 1);
  limit(RLIMIT_AS, static_cast<rlim_t>(l.memory_mb) << 20, static_cast<rlim_t>(l.memory_mb) << 20);
  limit(RLIMIT_STACK, static_cast<rlim_t>(l.stack_mb) << 20, static_cast<rlim_t>(l.stack_mb) << 20);
  limit(RLIMIT_FSIZE, static_cast<rlim_t>(l.file_size_mb) << 20, static_cast<rlim_t>(l.file_size_mb) << 20);
  limit(RLIMIT_NOFILE, static_cast<rlim_t>(l.open_files), static_cast<rlim_t>(l.open_files));
  limit(RLIMIT_NPROC, static_cast<rlim_t>(l.processes), static_cast<rlim_t>(l.processes));
  limit(RLIMIT_CORE, 0, 0);
  limit(RLIMIT_MEMLOCK, 0, 0);
  limit(RLIMIT_MSGQUEUE, 0, 0);
}

void drop_capabilities() {
  for (int cap = 0; cap <= 63; ++cap) ::prctl(PR_CAPBSET_DROP, cap, 0, 0, 0);
  __user_cap_header_struct header{_LINUX_CAPABILITY_VERSION_3, 0};
  __user_cap_data_struct data[2] = {};
  ::syscall(SYS_capset, &header, data);
}

// The candidate's uid where the host mapped two; otherwise the namespace's root without capabilities.
void drop_privileges(bool separate_uids) {
  if (separate_uids) {
    const gid_t g = kCandidateUid;
    if (::setgroups(0, nullptr) != 0 || ::setresgid(g, g, g) != 0 ||
        ::setresuid(kCandidateUid, kCandidateUid, kCandidateUid) != 0)
      _exit(125);
  } else {
    drop_capabilities();
  }
}

void load_filters(const ChildSetup& s) {
  ::prctl(PR_SET_NO_NEW_PRIVS, 1, 0, 0, 0);
  if (s.seccomp && seccomp_load(s.seccomp) != 0) _exit(124);
  if (s.gate) {
    sock_fprog prog{static_cast<unsigned short>(s.gate->size()), const_cast<sock_filter*>(s.gate->data())};
    if (::prctl(PR_SET_SECCOMP, SECCOMP_MODE_FILTER, &prog) != 0) _exit(124);
  }
}

}  // namespace

int enter_run(const ChildSetup& s) {
  int herrno = place_descriptors(s);
  reset_signals(s.default_signals);
  ::setpgid(0, 0);
  ::prctl(PR_SET_PDEATHSIG, SIGKILL, 0, 0, 0);
  apply_rlimits(s.limits);
  if (::chdir(s.work_dir) != 0) _exit(126);
  if (s.drop_privileges) drop_privileges(s.separate_uids);
  load_filters(s);
  return herrno;
}

}  // namespace r1::sandbox::box
