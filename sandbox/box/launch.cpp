#include "sandbox/box/launch.h"

#include <fcntl.h>
#include <grp.h>
#include <poll.h>
#include <sched.h>
#include <signal.h>
#include <sys/prctl.h>
#include <sys/socket.h>
#include <sys/syscall.h>
#include <sys/wait.h>
#include <unistd.h>

#include <algorithm>
#include <cerrno>

#include "sandbox/box/cgroup.h"
#include "sandbox/box/io.h"
#include "sandbox/box/profile.h"
#include "sandbox/box/run_child.h"
#include "sandbox/box/spawn.h"

namespace r1::sandbox::box {
namespace {

// The relay's channels to the caller: ready (the relay → caller: namespaces made, then pid 1's pid),
// go (caller → relay: the id maps are written), result (pid 1 → caller), spawn (pid 1 ↔ relay).
struct LaunchPipes {
  int result[2] = {-1, -1}, ready[2] = {-1, -1}, go[2] = {-1, -1}, spawn[2] = {-1, -1};
};

LaunchPipes open_launch_pipes(int result_fd) {
  LaunchPipes p;
  p.result[1] = result_fd;
  const bool pass_through = result_fd >= 0;
  if ((!pass_through && ::pipe2(p.result, O_CLOEXEC) != 0) || ::pipe2(p.ready, O_CLOEXEC) != 0 ||
      ::pipe2(p.go, O_CLOEXEC) != 0 || ::socketpair(AF_UNIX, SOCK_SEQPACKET | SOCK_CLOEXEC, 0, p.spawn) != 0)
    fail("pipe");
  return p;
}

// The relay: enters the namespaces, waits for its id maps, becomes the namespace's root, forks pid 1
// and serves its spawns until pid 1 ends; exits with pid 1's status.
[[noreturn]] void relay_main(const Launch& options, const LaunchPipes& p, bool separate, int oom_fd,
                             int (*inside)(const InsideContext&, void*), void* arg) {
  if (p.result[0] >= 0) ::close(p.result[0]);
  ::close(p.ready[0]);
  ::close(p.go[1]);
  ::prctl(PR_SET_PDEATHSIG, SIGKILL, 0, 0, 0);
  if (options.isolate &&
      ::unshare(CLONE_NEWUSER | CLONE_NEWNS | CLONE_NEWPID | CLONE_NEWNET | CLONE_NEWIPC | CLONE_NEWUTS) != 0) {
    _exit(111);
  }
  char c = 'r';
  if (!write_all(p.ready[1], &c, 1) || !read_exact(p.go[0], &c, 1)) _exit(112);
  // Become the namespace's root, whom the maps just defined (on the host: an unprivileged uid).
  if (options.isolate) {
    if (separate) ::setgroups(0, nullptr);
    if (::setresgid(0, 0, 0) != 0 || ::setresuid(0, 0, 0) != 0) _exit(113);
  }
  pid_t init = ::fork();
  if (init == 0) {
    ::close(p.ready[1]);
    ::close(p.spawn[0]);
    ::prctl(PR_SET_PDEATHSIG, SIGKILL, 0, 0, 0);
    InsideContext context;
    context.result_fd = p.result[1];
    context.oom_fd = oom_fd;
    context.separate_uids = separate;
    context.spawn_fd = p.spawn[1];
    _exit(inside(context, arg));
  }
  write_all(p.ready[1], &init, sizeof init);
  ::close(p.ready[1]);
  ::close(p.result[1]);
  ::close(p.spawn[1]);
  if (init > 0) serve_spawns(p.spawn[0], separate);
  int status = 0;
  while (init > 0 && ::waitpid(init, &status, 0) < 0 && errno == EINTR) {
  }
  _exit(WIFEXITED(status) ? WEXITSTATUS(status) : 128 + WTERMSIG(status));
}

// The relay's user namespace maps: its root (and, on a root host, the candidate) to host uids.
void write_id_maps(pid_t relay, bool separate) {
  std::string proc = "/proc/" + std::to_string(relay);
  if (separate) {
    // Inside root and the candidate map to two unprivileged host uids of their own.
    const unsigned base = 200000u + 2u * static_cast<unsigned>(::getpid() % 1000000);
    std::string map = "0 " + std::to_string(base) + " 1\n" + std::to_string(kCandidateUid) + " " +
                      std::to_string(base + 1) + " 1\n";
    write_file(proc + "/uid_map", map);
    write_file(proc + "/gid_map", map);
  } else {
    write_file(proc + "/setgroups", "deny");
    write_file(proc + "/uid_map", "0 " + std::to_string(::geteuid()) + " 1\n");
    write_file(proc + "/gid_map", "0 " + std::to_string(::getegid()) + " 1\n");
  }
}

// Waits for the result's end of file (it is ours to read) or, passed through, for the relay's exit;
// past the watchdog, kills pid 1 and the relay.
void await_result(int result_read, bool pass_through, pid_t relay, pid_t init, double watchdog_seconds, Launched& out) {
  const double deadline = now_ms() + watchdog_seconds * 1000.0;
  int waited = pass_through ? static_cast<int>(::syscall(SYS_pidfd_open, relay, 0)) : result_read;
  char buf[65536];
  for (;;) {
    if (waited < 0) break;
    pollfd pfd{waited, POLLIN, 0};
    int wait = static_cast<int>(std::max(0.0, deadline - now_ms()));
    int n = ::poll(&pfd, 1, wait);
    if (n < 0 && errno == EINTR) continue;
    if (n == 0) {
      out.watchdog_fired = true;
      if (init > 0) ::kill(init, SIGKILL);
      ::kill(relay, SIGKILL);
      break;
    }
    if (pass_through) break;
    ssize_t r = ::read(result_read, buf, sizeof buf);
    if (r < 0 && errno == EINTR) continue;
    if (r <= 0) break;
    if (out.result.size() < (64u << 20)) out.result.append(buf, static_cast<size_t>(r));
  }
  if (waited >= 0) ::close(waited);
}

}  // namespace

Launched launch(const Launch& options, int (*inside)(const InsideContext&, void*), void* arg) {
  mark("launch");
  // A job's own cgroup, unless it runs inside a slot's (the serve mode: joined once, since moving a
  // process into a cgroup waits for an RCU grace period, ~10 ms, while forking into one is free).
  Cgroup own;
  Cgroup& cgroup = options.slot ? *options.slot : own;
  // The slot's cgroup also holds its server (the zygote): the job's peak is counted above that.
  int64_t baseline_kb = 0;
  if (options.slot) {
    options.slot->set_limits(options.cgroup_memory_mb, options.cgroup_pids);
    baseline_kb = cgroup.usage_kb();
  } else {
    own.create(options.cgroup_memory_mb, options.cgroup_pids);
  }
  const bool pass_through = options.result_fd >= 0;
  LaunchPipes p = open_launch_pipes(options.result_fd);
  const bool separate = options.isolate && ::geteuid() == 0;

  pid_t relay = ::fork();
  if (relay < 0) fail("fork");
  if (relay == 0) relay_main(options, p, separate, cgroup.oom_fd(), inside, arg);
  if (!pass_through) ::close(p.result[1]);
  ::close(p.ready[1]);
  ::close(p.go[0]);
  ::close(p.spawn[0]);
  ::close(p.spawn[1]);
  if (!options.slot) cgroup.add(relay);
  char c = 0;
  mark("forked relay");
  if (!read_exact(p.ready[0], &c, 1)) {
    ::waitpid(relay, nullptr, 0);
    errno = EPERM;
    fail("creating the sandbox's namespaces");
  }
  if (options.isolate) write_id_maps(relay, separate);
  mark("namespaces + maps");
  c = 'g';
  write_all(p.go[1], &c, 1);
  ::close(p.go[1]);
  pid_t init = -1;
  read_exact(p.ready[0], &init, sizeof init);
  ::close(p.ready[0]);

  Launched out;
  await_result(p.result[0], pass_through, relay, init, options.watchdog_seconds, out);
  mark("result read");
  int status = 0;
  while (::waitpid(relay, &status, 0) < 0 && errno == EINTR) {
  }
  mark("relay reaped");
  out.peak_memory_kb = std::max<int64_t>(0, cgroup.peak_kb() - baseline_kb);
  return out;
}

}  // namespace r1::sandbox::box
