// r1-box's pure parts, without a box: the shared I/O helpers, how a run's ending and output become a
// verdict, and the job's limits and result JSON. The box itself is tested end to end in
// test_sandbox.cpp and test_sandbox_hostile.cpp.
#include <catch2/catch.hpp>
#include <nlohmann/json.hpp>

#include <fcntl.h>
#include <signal.h>
#include <sys/socket.h>
#include <sys/wait.h>
#include <unistd.h>

#include <cstdlib>
#include <stdexcept>
#include <string>

#include "sandbox/box/io.h"
#include "sandbox/box/job.h"
#include "sandbox/box/verdict.h"

namespace box = r1::sandbox::box;
using nlohmann::json;

TEST_CASE("box io: whole writes, exact reads, reads to end of file with a cap", "[box]") {
  int p[2];
  REQUIRE(::pipe(p) == 0);
  const std::string data(100000, 'x');
  pid_t pid = ::fork();
  if (pid == 0) {
    ::close(p[0]);
    bool ok = box::write_all(p[1], "abcd", 4) && box::write_all(p[1], data);
    _exit(ok ? 0 : 1);
  }
  ::close(p[1]);
  char head[4];
  REQUIRE(box::read_exact(p[0], head, 4));
  CHECK(std::string(head, 4) == "abcd");
  // The cap keeps what arrives while fewer than 1000 bytes are kept; the rest is read and dropped.
  std::string rest = box::read_to_end(p[0], 1000);
  CHECK(rest.size() >= 1000);
  CHECK(rest.size() < data.size());
  CHECK(rest.find_first_not_of('x') == std::string::npos);
  char more;
  CHECK_FALSE(box::read_exact(p[0], &more, 1));  // end of file
  ::close(p[0]);
  int status = 0;
  ::waitpid(pid, &status, 0);
  CHECK(WIFEXITED(status));
  CHECK(WEXITSTATUS(status) == 0);
}

TEST_CASE("box io: messages carry a tail and descriptors", "[box]") {
  int sv[2];
  REQUIRE(::socketpair(AF_UNIX, SOCK_SEQPACKET | SOCK_CLOEXEC, 0, sv) == 0);
  int p[2];
  REQUIRE(::pipe(p) == 0);
  const int head = 42;
  REQUIRE(box::send_message(sv[0], &head, sizeof head, std::string("a\0b", 3), &p[1], 1));
  char buf[64];
  int fds[2] = {-1, -1};
  int nfds = 0;
  ssize_t n = box::recv_message(sv[1], buf, sizeof buf, fds, 2, &nfds);
  REQUIRE(n == static_cast<ssize_t>(sizeof head + 3));
  CHECK(std::string(buf + sizeof head, 3) == std::string("a\0b", 3));
  REQUIRE(nfds == 1);
  CHECK((::fcntl(fds[0], F_GETFD) & FD_CLOEXEC) != 0);
  REQUIRE(box::write_all(fds[0], "hi", 2));  // the received descriptor is the pipe's writing end
  char got[2];
  REQUIRE(box::read_exact(p[0], got, 2));
  CHECK(std::string(got, 2) == "hi");
  ::close(sv[0]);
  CHECK(box::recv_message(sv[1], buf, sizeof buf, fds, 2, &nfds) == 0);  // end of file
  for (int fd : {sv[1], p[0], p[1], fds[0]}) ::close(fd);
}

TEST_CASE("box io: files are created without following a symlink, and failures name the file", "[box]") {
  char tmpl[] = "/tmp/r1-test-box-XXXXXX";
  REQUIRE(::mkdtemp(tmpl));
  const std::string dir = tmpl;
  box::create_file(dir + "/a", "hello", 0644);
  CHECK(box::read_small_file(dir + "/a") == "hello");
  REQUIRE(::symlink((dir + "/a").c_str(), (dir + "/link").c_str()) == 0);
  CHECK_THROWS_WITH(box::create_file(dir + "/link", "x", 0644), Catch::Contains("create " + dir + "/link"));
  CHECK(box::read_small_file(dir + "/a") == "hello");
  CHECK_THROWS_WITH(box::write_file(dir + "/absent", "x"), Catch::Contains("open " + dir + "/absent"));
  CHECK(box::read_small_file(dir + "/absent").empty());
  std::system(("rm -rf " + dir).c_str());
}

TEST_CASE("box verdict: outputs compare by line, trailing blanks ignored, numbers within a tolerance", "[box]") {
  CHECK(box::compare_output("1 2 \n3\n\n\n", "1 2\n3", 0).empty());
  CHECK(box::compare_output("1\r\n2\r\n", "1\n2\n", 0).empty());
  CHECK(box::compare_output("1\n3\n", "1\n2\n", 0) == "line 2 differs");
  CHECK(box::compare_output("1\n", "1\n2\n", 0) == "the output has 1 lines, the expected output 2");
  CHECK(box::compare_output("0.3333333", "0.333333333", 0) == "line 1 differs");
  CHECK(box::compare_output("0.3333333", "0.333333333", 1e-6).empty());
  CHECK(box::compare_output("1000.1", "1000", 1e-3).empty());  // relative to |expected| above 1
  CHECK(box::compare_output("nan", "nan", 1e-6).empty());      // identical tokens match
  CHECK(box::compare_output("inf", "1e999", 1e-6) == "line 1 differs");
  CHECK(box::compare_output("a b", "a", 1e-6) == "line 1 differs");
}

TEST_CASE("box verdict: a run's ending names the limit it hit", "[box]") {
  box::RunLimits l;
  l.cpu_seconds = 2;
  l.memory_mb = 256;
  l.output_kb = 1024;
  std::string why;
  box::RunOutcome ok;
  ok.exit_code = 0;
  CHECK(box::abnormal(ok, l, &why).empty());
  box::RunOutcome r = ok;
  r.output_exceeded = true;
  r.signal = SIGKILL;
  CHECK(box::abnormal(r, l, &why) == "OLE");
  CHECK(why == "more than 1024 KiB of output");
  r = ok;
  r.wall_timeout = true;
  CHECK(box::abnormal(r, l, &why) == "TLE");
  r = ok;
  r.signal = SIGKILL;
  r.cpu_ms = 1950;  // killed at 95% of the CPU limit or more: the limit
  CHECK(box::abnormal(r, l, &why) == "TLE");
  CHECK(why.rfind("CPU limit of 2", 0) == 0);
  r.cpu_ms = 100;
  CHECK(box::abnormal(r, l, &why) == "RE");
  r = ok;
  r.oom_killed = true;
  CHECK(box::abnormal(r, l, &why) == "MLE");
  CHECK(why == "memory limit of 256 MiB");
  r = ok;
  r.exit_code = 1;
  r.err = "Traceback ...\nMemoryError\n";
  CHECK(box::abnormal(r, l, &why) == "MLE");
  r.err = "boom";
  CHECK(box::abnormal(r, l, &why) == "RE");
  CHECK(why == "exit status 1: boom");
  r = ok;
  r.signal = SIGXFSZ;
  CHECK(box::abnormal(r, l, &why) == "OLE");
  r = ok;
  r.exec_errno = ENOENT;
  CHECK(box::abnormal(r, l, &why) == "SE");
  CHECK(box::tail(std::string(10, 'a') + "bc", 2) == "...bc");
  CHECK(box::tail("abc", 5) == "abc");
}

TEST_CASE("box job: validation, limits with their defaults, and the result object", "[box]") {
  CHECK(std::string(box::validate(json::array())) == "a job must be a JSON object");
  CHECK(std::string(box::validate(json{{"language", "c"}})) == "the job has no \"code\" string");
  CHECK(box::validate(json{{"language", "c"}, {"code", ""}, {"tests", json::object()}}) == nullptr);

  box::JobLimits d = box::read_limits(json::object());
  CHECK(d.run.cpu_seconds == 2);
  CHECK(d.run.wall_seconds == 10);
  CHECK(d.compile.memory_mb == 2048);
  CHECK(d.compile.processes == 32);
  box::JobLimits l = box::read_limits(json{{"limits", {{"cpu_s", 5}, {"processes", 4}, {"disk_mb", 8}}}});
  CHECK(l.run.wall_seconds == 15);  // 3x the CPU limit when above 10 s
  CHECK(l.compile.processes == 16);
  CHECK(l.run.file_size_mb == 8);

  box::Judged j;
  j.total = 3;
  j.tests = {{"AC", "", 1, 2}, {"WA", "line 1 differs", 1, 2}, {"SK", "not run", 0, 0}};
  json out = box::to_json(j);
  CHECK(out["verdict"] == "WA");
  CHECK(out["passed"] == 1);
  CHECK(out["detail"] == "line 1 differs");
  CHECK(box::to_json(box::Judged{})["detail"] == "no tests");
  json se = box::se("why");
  CHECK(se["verdict"] == "SE");
  CHECK(se["detail"] == "why");
  CHECK(se["tests"].empty());
}
