#include "sandbox/box/spawn.h"

#include <sys/resource.h>
#include <sys/syscall.h>
#include <sys/wait.h>
#include <unistd.h>

#include <algorithm>
#include <cerrno>
#include <cstring>

#include "sandbox/box/io.h"
#include "sandbox/box/seccomp_filter.h"

namespace r1::sandbox::box {
namespace {

InProcessRunner g_runner = nullptr;
int64_t g_runner_extra_mb = 0;

// Splits a request message into the request and its '\0'-ended arguments; false when it is too short.
bool parse_request(const std::vector<char>& buf, size_t n, SpawnRequest* req, std::vector<std::string>* argv) {
  std::memcpy(req, buf.data(), std::min(sizeof *req, n));
  for (size_t at = sizeof *req; at < n;) {
    size_t end = at;
    while (end < n && buf[end] != 0) ++end;
    argv->emplace_back(buf.data() + at, end - at);
    at = end + 1;
  }
  return n >= sizeof *req;
}

// Forks the run: the child enters the box with the request's descriptors and limits and runs the
// in-process runner. The pid, or -1 with errno.
pid_t fork_run(int sock, SpawnRequest& req, const std::vector<std::string>& argv, const int* fds,
               bool separate_uids) {
  pid_t pid = ::fork();
  if (pid != 0) return pid;
  ::close(sock);
  ChildSetup s;
  s.in = fds[0];
  s.out = fds[1];
  s.err = fds[2];
  int next = 3;
  if (req.has_ctl) s.ctl = fds[next++];
  if (req.has_chan) s.chan = fds[next++];
  s.control_fd = req.control_fd;
  s.channel_fd = req.channel_fd;
  s.limits = req.limits;
  req.work_dir[sizeof req.work_dir - 1] = 0;
  s.work_dir = req.work_dir;
  s.drop_privileges = req.drop_privileges != 0;
  s.separate_uids = separate_uids;
  s.default_signals = false;  // the interpreter's own (SIGPIPE ignored, as python3 has it)
  s.seccomp = req.use_seccomp ? make_seccomp() : nullptr;
  enter_run(s);
  g_runner(req.entry, argv);
  _exit(127);
}

// Waits for the run and sends its status, CPU time and peak RSS.
void report_exit(int sock, pid_t pid) {
  SpawnExit done;
  rusage usage{};
  int status = 0;
  while (::wait4(pid, &status, 0, &usage) < 0 && errno == EINTR) {
  }
  auto ms = [](const timeval& t) { return t.tv_sec * 1000.0 + t.tv_usec / 1000.0; };
  done.status = status;
  done.cpu_ms = ms(usage.ru_utime) + ms(usage.ru_stime);
  done.max_rss_kb = usage.ru_maxrss;
  send_message(sock, &done, sizeof done, nullptr, 0);
}

}  // namespace

void set_in_process_runner(InProcessRunner runner, int64_t extra_address_space_mb) {
  g_runner = runner;
  g_runner_extra_mb = extra_address_space_mb;
}
bool has_in_process_runner() { return g_runner != nullptr; }
int64_t in_process_extra_mb() { return g_runner_extra_mb; }

void serve_spawns(int sock, bool separate_uids) {
  std::vector<char> buf(1 << 16);
  for (;;) {
    int fds[5];
    int nfds = 0;
    ssize_t n = recv_message(sock, buf.data(), buf.size(), fds, 5, &nfds);
    if (n <= 0) return;  // pid 1 is gone
    SpawnRequest req;
    SpawnReply reply;
    std::vector<std::string> argv;
    const bool whole = parse_request(buf, static_cast<size_t>(n), &req, &argv);
    const int wanted = 3 + req.has_ctl + req.has_chan;
    if (!whole || nfds != wanted || !g_runner) reply.error = EINVAL;
    pid_t pid = -1;
    if (reply.error == 0) {
      pid = fork_run(sock, req, argv, fds, separate_uids);
      if (pid < 0) reply.error = errno;
    }
    for (int i = 0; i < nfds; ++i) ::close(fds[i]);
    int pidfd = pid > 0 ? static_cast<int>(::syscall(SYS_pidfd_open, pid, 0)) : -1;
    reply.pid = pid;
    send_message(sock, &reply, sizeof reply, &pidfd, pidfd >= 0 ? 1 : 0);
    if (pidfd >= 0) ::close(pidfd);
    if (pid > 0) report_exit(sock, pid);
  }
}

pid_t request_spawn(int sock, const SpawnRequest& req, const std::vector<std::string>& argv, const int* fds,
                    int nfds, int* pidfd) {
  std::string args;
  for (const std::string& a : argv) {
    args.append(a);
    args.push_back('\0');
  }
  if (!send_message(sock, &req, sizeof req, args, fds, nfds)) fail("ask the relay for a run");
  SpawnReply reply;
  int got = 0;
  ssize_t n = recv_message(sock, &reply, sizeof reply, pidfd, 1, &got);
  if (n != static_cast<ssize_t>(sizeof reply) || reply.error != 0 || got != 1) {
    if (got == 1) ::close(*pidfd);
    errno = n == static_cast<ssize_t>(sizeof reply) && reply.error != 0 ? reply.error : EPROTO;
    fail("start an in-process run");
  }
  return reply.pid;
}

bool await_spawn_exit(int sock, SpawnExit* done) {
  int none = 0;
  return recv_message(sock, done, sizeof *done, nullptr, 0, &none) == static_cast<ssize_t>(sizeof *done);
}

}  // namespace r1::sandbox::box
