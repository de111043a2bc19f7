#include "sandbox/box/box.h"

#include <fcntl.h>
#include <poll.h>
#include <signal.h>
#include <sys/prctl.h>
#include <sys/resource.h>
#include <sys/socket.h>
#include <sys/syscall.h>
#include <sys/wait.h>
#include <unistd.h>

#include <algorithm>
#include <cerrno>
#include <cstdio>
#include <filesystem>
#include <stdexcept>

#include "sandbox/box/cgroup.h"
#include "sandbox/box/gate_filter.h"
#include "sandbox/box/io.h"
#include "sandbox/box/profile.h"
#include "sandbox/box/seccomp_filter.h"
#include "sandbox/box/spawn.h"

namespace r1::sandbox::box {

// A run's pipes, both ends of each; the child's ends are closed once it has started.
struct RunPipes {
  int in[2] = {-1, -1}, out[2] = {-1, -1}, err[2] = {-1, -1}, execerr[2] = {-1, -1};
  int ctl[2] = {-1, -1}, chan[2] = {-1, -1};
};

// The started run: its pid and a descriptor that polls readable when it exits.
struct StartedRun {
  pid_t pid = -1;
  int pidfd = -1;
  bool in_process = false;  // forked by the relay, which reaps it (spawn.h)
};

// What the box had used before the run: the run's share is what it adds.
struct RunBaseline {
  rusage children{};
  int64_t oom_kills = 0;
};

namespace {

void close_fd(int& fd) {
  if (fd >= 0) ::close(fd);
  fd = -1;
}

double ms(const timeval& t) { return t.tv_sec * 1000.0 + t.tv_usec / 1000.0; }

// stdin, stdout, stderr and the exec-error pipe; the control (filled, its writing end closed) and
// the channel when the run has them. A gated run's control and channel are sockets: unlike a pipe, a
// socket cannot be opened again through /proc/self/fd, so the gate's filter sees every way to its data.
RunPipes open_pipes(const RunSpec& spec) {
  RunPipes p;
  if (::pipe2(p.in, O_CLOEXEC) || ::pipe2(p.out, O_CLOEXEC) || ::pipe2(p.err, O_CLOEXEC) ||
      ::pipe2(p.execerr, O_CLOEXEC))
    fail("pipe");
  const bool gated = spec.gate_ip != 0;
  auto channel = [&](int fds[2]) {
    return gated ? ::socketpair(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0, fds) : ::pipe2(fds, O_CLOEXEC);
  };
  if (spec.control) {
    if (channel(p.ctl)) fail("pipe");
    if (static_cast<int64_t>(spec.control->size()) >= 65536)
      ::fcntl(p.ctl[1], F_SETPIPE_SZ, static_cast<int>(spec.control->size() + 4096));
    if (!write_all(p.ctl[1], *spec.control)) throw std::runtime_error("the test data is larger than a pipe can hold");
    close_fd(p.ctl[1]);
  }
  if (spec.result_channel && channel(p.chan)) fail("pipe");
  return p;
}

void close_child_ends(RunPipes& p) {
  for (int* fd : {&p.in[0], &p.out[1], &p.err[1], &p.execerr[1], &p.ctl[0], &p.chan[1]}) close_fd(*fd);
}

// Feeds the child's stdin and collects its stdout, stderr and channel until it has exited and they
// reached end of file; the wall-clock and output limits are enforced by killing the run.
class Pump {
 public:
  Pump(const RunSpec& spec, RunPipes& pipes, int pidfd, pid_t kill_target, double start, RunOutcome& out)
      : spec_(spec), p_(pipes), pidfd_(pidfd), kill_target_(kill_target), out_(out),
        deadline_(start + spec.limits.wall_seconds * 1000.0),
        open_outputs_(2 + (pipes.chan[0] >= 0 ? 1 : 0)) {}

  void run() {
    ::fcntl(p_.in[1], F_SETFL, O_NONBLOCK);
    if (spec_.stdin_data.empty()) close_fd(p_.in[1]);
    const size_t out_cap = static_cast<size_t>(spec_.limits.output_kb) * 1024;
    while (!exited_ || open_outputs_ > 0) {
      pollfd fds[5];
      int n = 0;
      int idx_out = -1, idx_err = -1, idx_chan = -1, idx_in = -1, idx_pid = -1;
      if (p_.out[0] >= 0) fds[idx_out = n++] = {p_.out[0], POLLIN, 0};
      if (p_.err[0] >= 0) fds[idx_err = n++] = {p_.err[0], POLLIN, 0};
      if (p_.chan[0] >= 0) fds[idx_chan = n++] = {p_.chan[0], POLLIN, 0};
      if (p_.in[1] >= 0) fds[idx_in = n++] = {p_.in[1], POLLOUT, 0};
      if (!exited_ && pidfd_ >= 0) fds[idx_pid = n++] = {pidfd_, POLLIN, 0};
      int wait = static_cast<int>(std::max(0.0, deadline_ - now_ms()));
      if (exited_) wait = std::min(wait, 1000);
      int r = ::poll(fds, static_cast<nfds_t>(n), wait);
      if (r < 0 && errno == EINTR) continue;
      if (r == 0) {
        if (!on_timeout()) break;
        continue;
      }
      if (idx_out >= 0 && fds[idx_out].revents) drain(p_.out[0], out_.out, out_cap, true);
      if (idx_err >= 0 && fds[idx_err].revents) drain(p_.err[0], out_.err, 64 * 1024, false);
      if (idx_chan >= 0 && fds[idx_chan].revents) drain(p_.chan[0], out_.channel, 16u << 20, false);
      if (idx_in >= 0 && fds[idx_in].revents) feed_stdin(fds[idx_in].revents);
      if (idx_pid >= 0 && fds[idx_pid].revents) {
        exited_ = true;
        kill_now();  // daemons and stray children: nothing outlives the run
      }
    }
    for (int* fd : {&p_.out[0], &p_.err[0], &p_.chan[0], &p_.in[1]}) close_fd(*fd);
  }

 private:
  void kill_now() { ::kill(kill_target_, SIGKILL); }

  // The wall-clock limit passed: everything is killed, and the pipes reach end of file (or never
  // will, if a stray kept them: false gives up).
  bool on_timeout() {
    if (!exited_) out_.wall_timeout = true;
    kill_now();
    exited_ = true;
    return now_ms() <= deadline_ + 2000;
  }

  void drain(int& fd, std::string& into, size_t cap, bool is_stdout) {
    ssize_t k = ::read(fd, buf_, sizeof buf_);
    if (k < 0 && errno == EINTR) return;
    if (k <= 0) {
      close_fd(fd);
      --open_outputs_;
      return;
    }
    size_t room = cap > into.size() ? cap - into.size() : 0;
    into.append(buf_, std::min(room, static_cast<size_t>(k)));
    if (is_stdout && static_cast<size_t>(k) > room && !out_.output_exceeded) {
      out_.output_exceeded = true;
      kill_now();
    }
  }

  void feed_stdin(short revents) {
    if (revents & (POLLERR | POLLHUP)) {
      close_fd(p_.in[1]);
      return;
    }
    const std::string& data = spec_.stdin_data;
    ssize_t k = ::write(p_.in[1], data.data() + stdin_at_, data.size() - stdin_at_);
    if (k > 0) stdin_at_ += static_cast<size_t>(k);
    if (stdin_at_ >= data.size() || (k < 0 && errno != EAGAIN && errno != EINTR)) close_fd(p_.in[1]);
  }

  const RunSpec& spec_;
  RunPipes& p_;
  int pidfd_;
  pid_t kill_target_;  // -1: every process of the box's PID namespace; -pgid: the run's group (weak mode)
  RunOutcome& out_;
  const double deadline_;
  int open_outputs_;
  bool exited_ = false;
  size_t stdin_at_ = 0;
  char buf_[65536];
};

}  // namespace

Box::Box(Options options) : options_(std::move(options)) {
  mark("init started");
  separate_uids_ = options_.isolate && options_.separate_uids;
  candidate_uid_ = separate_uids_ ? kCandidateUid : 0;
  if (options_.isolate) {
    setup_root(layout_, options_.binds, options_.disk_mb, candidate_uid_);
  } else {
    layout_ = make_weak_root();
    weak_root_ = layout_.root;
    ::prctl(PR_SET_CHILD_SUBREAPER, 1, 0, 0, 0);
  }
  mark("root set up");
  if (options_.use_seccomp) seccomp_ctx_ = make_seccomp();
  mark("seccomp built");
}

Box::~Box() {
  if (seccomp_ctx_) seccomp_release(seccomp_ctx_);
  if (!weak_root_.empty()) {
    std::error_code ec;
    std::filesystem::remove_all(weak_root_, ec);
  }
}

void Box::write_work_file(const std::string& name, const std::string& data) {
  create_file(layout_.work + "/" + name, data, 0644);
}

void Box::write_harness_file(const std::string& name, const std::string& data) {
  create_file(layout_.harness + "/" + name, data, 0444);
}

RunOutcome Box::run(const RunSpec& spec) {
  mark("run");
  RunPipes pipes = open_pipes(spec);
  const bool gated = spec.gate_ip != 0;
  std::vector<sock_filter> gate;
  if (gated)
    gate = gate_filter(spec.control ? spec.control_fd : -1, spec.result_channel ? spec.channel_fd : -1, spec.gate_ip);
  RunBaseline before;
  ::getrusage(RUSAGE_CHILDREN, &before.children);
  before.oom_kills = oom_kills(options_.oom_events_fd);

  // An in-process run (the Python zygote) is forked by the relay; anything else is exec'd from here.
  const bool in_process = spec.in_process_entry != 0 && options_.spawn_fd >= 0 && has_in_process_runner() && !gated;
  const double start = now_ms();
  StartedRun child = in_process ? start_in_process(spec, pipes) : start_exec(spec, pipes, gated ? &gate : nullptr);
  close_child_ends(pipes);

  RunOutcome out;
  Pump(spec, pipes, child.pidfd, options_.isolate ? -1 : -child.pid, start, out).run();
  if (child.pidfd >= 0) ::close(child.pidfd);
  out.wall_ms = now_ms() - start;
  finish(child, before, pipes, out);
  mark("run done");
  return out;
}

StartedRun Box::start_exec(const RunSpec& spec, const RunPipes& pipes, const std::vector<sock_filter>* gate) {
  std::vector<std::string> env = {"PATH=/usr/local/bin:/usr/bin:/bin", "HOME=" + layout_.work,
                                  "TMPDIR=" + layout_.work, "LANG=C.UTF-8", "LC_ALL=C.UTF-8"};
  std::vector<char*> envp, argv;
  for (auto& s : env) envp.push_back(s.data());
  envp.push_back(nullptr);
  std::vector<std::string> args = spec.argv;
  for (auto& s : args) argv.push_back(s.data());
  argv.push_back(nullptr);
  StartedRun child;
  child.pid = ::fork();
  if (child.pid < 0) fail("fork");
  if (child.pid == 0) {
    ChildSetup s;
    s.in = pipes.in[0];
    s.out = pipes.out[1];
    s.err = pipes.err[1];
    s.ctl = pipes.ctl[0];
    s.chan = pipes.chan[1];
    s.errpipe = pipes.execerr[1];
    s.control_fd = spec.control_fd;
    s.channel_fd = spec.channel_fd;
    s.limits = spec.limits;
    s.work_dir = layout_.work.c_str();
    s.drop_privileges = spec.drop_privileges;
    s.separate_uids = separate_uids_;
    s.seccomp = seccomp_ctx_;
    s.gate = gate;
    int herrno = enter_run(s);
    ::execve(argv[0], argv.data(), envp.data());
    int err = errno;
    write_all(herrno, &err, sizeof err);
    _exit(127);
  }
  child.pidfd = static_cast<int>(::syscall(SYS_pidfd_open, child.pid, 0));
  return child;
}

StartedRun Box::start_in_process(const RunSpec& spec, const RunPipes& pipes) {
  SpawnRequest req;
  req.limits = spec.limits;
  req.limits.memory_mb += in_process_extra_mb();
  req.entry = spec.in_process_entry;
  req.control_fd = spec.control_fd;
  req.channel_fd = spec.channel_fd;
  req.has_ctl = pipes.ctl[0] >= 0;
  req.has_chan = pipes.chan[1] >= 0;
  req.drop_privileges = spec.drop_privileges;
  req.use_seccomp = seccomp_ctx_ != nullptr;
  std::snprintf(req.work_dir, sizeof req.work_dir, "%s", layout_.work.c_str());
  int fds[5] = {pipes.in[0], pipes.out[1], pipes.err[1]};
  int nfds = 3;
  if (pipes.ctl[0] >= 0) fds[nfds++] = pipes.ctl[0];
  if (pipes.chan[1] >= 0) fds[nfds++] = pipes.chan[1];
  StartedRun child;
  child.in_process = true;
  child.pid = request_spawn(options_.spawn_fd, req, spec.in_process_argv, fds, nfds, &child.pidfd);
  return child;
}

// After the run's outputs closed: its exit status and usage, then nothing it left behind survives.
void Box::finish(const StartedRun& child, const RunBaseline& before, RunPipes& pipes, RunOutcome& out) {
  int status = 0;
  rusage usage{};
  double relayed_cpu_ms = 0;
  if (child.in_process) {
    // The relay reaped it: its status, and the CPU time of it and the children it waited for.
    SpawnExit done;
    if (await_spawn_exit(options_.spawn_fd, &done)) {
      status = done.status;
      relayed_cpu_ms = done.cpu_ms;
      usage.ru_maxrss = done.max_rss_kb;
    } else {
      status = SIGKILL;  // the relay is gone: the box is being torn down
    }
  } else {
    while (::wait4(child.pid, &status, 0, &usage) < 0 && errno == EINTR) {
    }
  }
  kill_leftovers(child.pid);
  rusage after{};
  ::getrusage(RUSAGE_CHILDREN, &after);
  out.cpu_ms = relayed_cpu_ms + ms(after.ru_utime) + ms(after.ru_stime) - ms(before.children.ru_utime) -
               ms(before.children.ru_stime);
  out.max_rss_kb = usage.ru_maxrss;
  if (WIFEXITED(status)) out.exit_code = WEXITSTATUS(status);
  if (WIFSIGNALED(status)) out.signal = WTERMSIG(status);
  int err = 0;
  if (read_exact(pipes.execerr[0], &err, sizeof err)) out.exec_errno = err;
  close_fd(pipes.execerr[0]);
  out.oom_killed = oom_kills(options_.oom_events_fd) > before.oom_kills;
}

void Box::kill_leftovers(pid_t pgid) {
  if (options_.isolate) {
    ::kill(-1, SIGKILL);  // from pid 1: every other process of the box's PID namespace
  } else {
    ::kill(-pgid, SIGKILL);
  }
  // Reap everything: the run's processes and whatever they left, reparented to us.
  for (;;) {
    pid_t r = ::waitpid(-1, nullptr, options_.isolate ? 0 : WNOHANG);
    if (r > 0 || (r < 0 && errno == EINTR)) continue;
    break;
  }
}

}  // namespace r1::sandbox::box
