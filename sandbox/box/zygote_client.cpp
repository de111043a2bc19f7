// The server's side of its zygote: sizes each job's box, hands the zygote the job's pipes, and turns
// its reply and the box's result into the job's result.
#include <fcntl.h>
#include <signal.h>
#include <sys/socket.h>
#include <sys/wait.h>
#include <unistd.h>

#include <algorithm>
#include <cerrno>
#include <cstdlib>
#include <string>
#include <vector>

#include "sandbox/box/cgroup.h"
#include "sandbox/box/io.h"
#include "sandbox/box/job.h"
#include "sandbox/box/languages.h"
#include "sandbox/box/zygote.h"

namespace r1::sandbox::box {
namespace {

using nlohmann::json;

// The box a job needs: its cgroup holds the compiler or every run at once, and the watchdog allows
// the compile and every case's wall-clock limit.
ZygoteRequest request_for(const json& job, const Language& lang) {
  const JobLimits l = read_limits(job);
  ZygoteRequest req;
  req.isolate = job.value("isolation", "namespaces") != "weak";
  req.cgroup_memory_mb = std::max(l.compile.memory_mb, l.run.memory_mb * 2 + 128) + 64 +
                         (lang.in_process ? 128 : 0);  // the interpreter the runs are forked from
  req.cgroup_pids = l.compile.processes + l.run.processes + 16;
  size_t cases = job["tests"].contains("cases") && job["tests"]["cases"].is_array() ? job["tests"]["cases"].size() : 1;
  req.watchdog_seconds =
      l.compile.wall_seconds + static_cast<double>(std::max<size_t>(cases, 1)) * (l.run.wall_seconds + 1) + 10;
  return req;
}

}  // namespace

json Zygote::judge(const json& job) {
  if (const char* bad = validate(job)) return se(bad);
  const Language* lang = find_language(job["language"].get<std::string>());
  if (!lang) return se("unknown language '" + job["language"].get<std::string>() + "' (known: " + language_names() + ")");
  const ZygoteRequest req = request_for(job, *lang);
  if (sock_ < 0 && !start()) return se("the sandbox could not start its zygote");
  int job_pipe[2], result_pipe[2];
  if (::pipe2(job_pipe, O_CLOEXEC) != 0) return se("sandbox: pipe failed");
  if (::pipe2(result_pipe, O_CLOEXEC) != 0) {
    ::close(job_pipe[0]);
    ::close(job_pipe[1]);
    return se("sandbox: pipe failed");
  }
  int give[2] = {job_pipe[0], result_pipe[1]};
  bool sent = send_message(sock_, &req, sizeof req, give, 2);
  if (!sent) {  // a zygote that died between jobs (killed from outside): start another, once
    stop();
    sent = start() && send_message(sock_, &req, sizeof req, give, 2);
  }
  ::close(job_pipe[0]);
  ::close(result_pipe[1]);
  if (sent) write_all(job_pipe[1], job.dump(-1, ' ', false, json::error_handler_t::replace));
  ::close(job_pipe[1]);
  std::string text = sent ? read_to_end(result_pipe[0], 64u << 20) : "";
  ::close(result_pipe[0]);
  ZygoteReply reply;
  int none = 0;
  if (!sent || recv_message(sock_, &reply, sizeof reply, nullptr, 0, &none) != static_cast<ssize_t>(sizeof reply)) {
    stop();  // started afresh for the next job
    return se("the sandbox's zygote died");
  }
  reply.error[sizeof reply.error - 1] = 0;
  if (reply.error[0]) return se(std::string("sandbox: ") + reply.error);
  if (reply.watchdog_fired) return se("the job outran the sandbox's watchdog");
  json result = json::parse(text, nullptr, false);
  if (!result.is_object()) return se("the sandbox's judge died without a result");
  if (reply.peak_memory_kb > 0) result["peak_memory_kb"] = reply.peak_memory_kb;
  return result;
}

bool Zygote::start() {
  int sv[2];
  if (::socketpair(AF_UNIX, SOCK_SEQPACKET | SOCK_CLOEXEC, 0, sv) != 0) return false;
  int in[2], out[2];
  if (::pipe2(in, O_CLOEXEC) != 0 || ::pipe2(out, O_CLOEXEC) != 0) return false;
  char self[4096];
  ssize_t len = ::readlink("/proc/self/exe", self, sizeof self - 1);
  if (len <= 0) return false;
  self[len] = 0;
  // The runs' environment: nothing of the host's (the zygote's environment is the one they see).
  std::vector<std::string> env = {"PATH=/usr/local/bin:/usr/bin:/bin", "HOME=/work", "TMPDIR=/work",
                                  "LANG=C.UTF-8", "LC_ALL=C.UTF-8"};
  if (const char* p = std::getenv("R1_BOX_PROFILE")) env.push_back(std::string("R1_BOX_PROFILE=") + p);
  std::vector<char*> envp;
  for (auto& e : env) envp.push_back(e.data());
  envp.push_back(nullptr);
  char arg0[] = "r1-box", arg1[] = "--zygote";
  char* argv[] = {arg0, arg1, nullptr};
  pid_t pid = ::fork();
  if (pid == 0) {
    // stdin and stdout: pipes, as a run's are, so the interpreter sets its streams up the same way.
    ::dup2(in[0], 0);
    ::dup2(out[1], 1);
    ::dup2(sv[1], 3);
    ::close(in[1]);  // stdin reads end of file
    // No parent-death signal: when the server goes, the zygote reads end of file on its socket and
    // exits by itself, removing the slot's cgroup on the way.
    ::execve(self, argv, envp.data());
    _exit(127);
  }
  ::close(sv[1]);
  ::close(in[0]);
  ::close(in[1]);
  ::close(out[1]);
  if (pid < 0) {
    ::close(sv[0]);
    ::close(out[0]);
    return false;
  }
  sock_ = sv[0];
  out_ = out[0];
  pid_ = pid;
  return true;
}

void Zygote::stop() {
  if (sock_ >= 0) ::close(sock_);
  if (out_ >= 0) ::close(out_);
  sock_ = out_ = -1;
  if (pid_ > 0) {
    for (int i = 0; i < 500; ++i) {
      pid_t r = ::waitpid(pid_, nullptr, WNOHANG);
      if (r == pid_ || (r < 0 && errno != EINTR)) {
        remove_cgroups_of(pid_);  // already gone if it ended by itself; left behind if it was killed
        pid_ = -1;
        return;
      }
      ::usleep(2000);
    }
    ::kill(pid_, SIGKILL);
    while (::waitpid(pid_, nullptr, 0) < 0 && errno == EINTR) {
    }
    remove_cgroups_of(pid_);
  }
  pid_ = -1;
}

}  // namespace r1::sandbox::box
