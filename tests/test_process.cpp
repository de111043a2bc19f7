// core/process: a supervised child over pipes with deadlines, its stderr tail and exit status, stop()
// escalating to SIGKILL, restart, and no zombie or descriptor left behind.
#include <catch2/catch.hpp>

#include <dirent.h>
#include <signal.h>
#include <sys/wait.h>
#include <unistd.h>

#include <chrono>
#include <cstdlib>
#include <memory>
#include <string>
#include <thread>
#include <vector>

#include "core/clock.h"
#include "core/process.h"

using r1::Process;
using r1::ProcessSpec;
using r1::Clock;
using r1::seconds_since;
using namespace std::chrono_literals;

namespace {

ProcessSpec sh(const std::string& script) {
  ProcessSpec spec;
  spec.exe = "/bin/sh";
  spec.args = {"-c", script};
  return spec;
}

int open_fds() {
  int n = 0;
  DIR* dir = ::opendir("/proc/self/fd");
  while (::readdir(dir)) ++n;
  ::closedir(dir);
  return n;
}

bool reaped(int pid) { return ::waitpid(pid, nullptr, WNOHANG) == -1 && errno == ECHILD; }

}  // namespace

TEST_CASE("process: a line round trip through /bin/cat", "[process]") {
  ProcessSpec spec;
  spec.exe = "/bin/cat";
  spec.in = ProcessSpec::Stream::pipe;
  Process cat(spec);
  CHECK(cat.name() == "`/bin/cat`");
  std::string line;
  for (std::string text : {"hello", "a longer line with spaces", ""}) {
    REQUIRE(cat.write(text + "\n") == Process::Io::ok);
    REQUIRE(cat.read_line(line, Clock::now() + 5s) == Process::Io::ok);
    CHECK(line == text);
  }
  REQUIRE(cat.write("crlf\r\n") == Process::Io::ok);
  REQUIRE(cat.read_line(line, Clock::now() + 5s) == Process::Io::ok);
  CHECK(line == "crlf");
  cat.close_stdin();
  CHECK(cat.read_line(line, Clock::now() + 5s) == Process::Io::closed);
  REQUIRE(cat.wait_exit(Clock::now() + 5s));
  CHECK(cat.exit_status()->code == 0);
}

TEST_CASE("process: a read on a silent child times out at its deadline", "[process]") {
  ProcessSpec spec;
  spec.exe = "/bin/sleep";
  spec.args = {"30"};
  Process sleeper(spec);
  std::string line;
  auto start = Clock::now();
  CHECK(sleeper.read_line(line, start + 300ms) == Process::Io::timeout);
  double took = seconds_since(start);
  CHECK(took >= 0.3);
  CHECK(took < 2.0);
  CHECK(sleeper.running());
}

TEST_CASE("process: interrupt() ends a waiting read and every later one", "[process]") {
  Process sleeper(sh("exec sleep 30"));
  Process::Io got = Process::Io::ok;
  std::string line;
  std::thread reader([&] { got = sleeper.read_line(line); });
  std::this_thread::sleep_for(100ms);
  sleeper.interrupt();
  reader.join();
  CHECK(got == Process::Io::interrupted);
  CHECK(sleeper.read_line(line) == Process::Io::interrupted);
}

TEST_CASE("process: stderr is drained, its last lines kept", "[process]") {
  auto spec = sh("for i in 1 2 3 4 5 6 7 8; do echo line$i >&2; done");
  spec.err = ProcessSpec::Stream::pipe;
  spec.stderr_tail_lines = 3;
  std::vector<std::string> seen;
  spec.on_stderr_line = [&](const std::string& line) { seen.push_back(line); };
  Process p(spec);
  REQUIRE(p.wait_exit(Clock::now() + 5s));
  CHECK(p.stderr_tail() == std::vector<std::string>{"line6", "line7", "line8"});
  CHECK(seen.size() == 8);
}

TEST_CASE("process: exit status and its description", "[process]") {
  Process three(sh("exit 3"));
  REQUIRE(three.wait_exit(Clock::now() + 5s));
  CHECK_FALSE(three.running());
  CHECK(three.exit_status()->code == 3);
  CHECK(three.exit_status()->signal == 0);
  CHECK(three.describe_exit() == "exited with status 3");

  Process killed(sh("kill -9 $$"));
  REQUIRE(killed.wait_exit(Clock::now() + 5s));
  CHECK(killed.exit_status()->signal == SIGKILL);
  CHECK(killed.describe_exit().rfind("was killed by signal 9 (", 0) == 0);

  Process sleeper(sh("exec sleep 30"));
  CHECK(sleeper.describe_exit() == "is running");
  CHECK_FALSE(sleeper.exit_status());
}

TEST_CASE("process: stop() kills a child that ignores SIGTERM once the grace has passed", "[process]") {
  Process stubborn(sh("trap '' TERM; echo ready; exec sleep 30"));
  std::string line;
  REQUIRE(stubborn.read_line(line, Clock::now() + 5s) == Process::Io::ok);
  REQUIRE(line == "ready");
  auto start = Clock::now();
  stubborn.stop(0.5);
  double took = seconds_since(start);
  CHECK(took >= 0.5);
  CHECK(took < 5.0);
  REQUIRE(stubborn.exit_status());
  CHECK(stubborn.exit_status()->signal == SIGKILL);
  CHECK(reaped(stubborn.pid()));

  Process polite(sh("echo ready; exec sleep 30"));
  REQUIRE(polite.read_line(line, Clock::now() + 5s) == Process::Io::ok);
  start = Clock::now();
  polite.stop(10);
  CHECK(seconds_since(start) < 5.0);  // SIGTERM was enough
  CHECK(polite.exit_status()->signal == SIGTERM);
}

TEST_CASE("process: the destructor leaves no zombie and no descriptor", "[process]") {
  const int fds_before = open_fds();
  int pid = 0;
  {
    auto spec = sh("echo out; echo err >&2; exec sleep 30");
    spec.in = ProcessSpec::Stream::pipe;
    spec.err = ProcessSpec::Stream::pipe;
    Process p(spec);
    pid = p.pid();
    std::string line;
    REQUIRE(p.read_line(line, Clock::now() + 5s) == Process::Io::ok);
    CHECK(open_fds() > fds_before);
  }
  CHECK(reaped(pid));
  CHECK(::kill(pid, 0) == -1);
  CHECK(open_fds() == fds_before);
}

TEST_CASE("process: restart() after a crash starts the command afresh", "[process]") {
  ProcessSpec spec;
  spec.exe = "cat";  // through $PATH
  spec.in = ProcessSpec::Stream::pipe;
  Process cat(spec);
  const int first = cat.pid();
  ::kill(first, SIGKILL);
  REQUIRE(cat.wait_exit(Clock::now() + 5s));
  CHECK_FALSE(cat.running());
  CHECK(cat.write("lost\n") == Process::Io::closed);  // an error, not SIGPIPE ending the test
  cat.restart();
  CHECK(cat.restarts() == 1);
  CHECK(cat.pid() != first);
  CHECK(reaped(first));
  CHECK(cat.running());
  std::string line;
  REQUIRE(cat.write("again\n") == Process::Io::ok);
  REQUIRE(cat.read_line(line, Clock::now() + 5s) == Process::Io::ok);
  CHECK(line == "again");
}

TEST_CASE("process: a program that cannot start is one line naming it", "[process]") {
  ProcessSpec missing;
  missing.exe = "/nonexistent/r1-program";
  missing.args = {"--flag"};
  try {
    Process p(missing);
    FAIL("started a missing program");
  } catch (const r1::SpawnError& e) {
    CHECK(std::string(e.what()) ==
          "could not start `/nonexistent/r1-program --flag`: /nonexistent/r1-program: No such file or directory");
    CHECK(e.cause() == "/nonexistent/r1-program: No such file or directory");
  }
  ProcessSpec bare;
  bare.exe = "r1-no-such-program";
  bare.name = "the helper";
  CHECK_THROWS_WITH(Process(bare), "could not start the helper: 'r1-no-such-program' not found on PATH");
  ProcessSpec not_executable;
  not_executable.exe = "/etc/hostname";
  CHECK_THROWS_AS(Process(not_executable), r1::Error);
}

TEST_CASE("process: environment, whole output, forwarded lines, long lines", "[process]") {
  auto env = sh("echo \"$R1_PROCESS_TEST $HOME\"");
  env.env = {"R1_PROCESS_TEST=42", "HOME=/nowhere"};
  Process with_env(env);
  std::string line;
  REQUIRE(with_env.read_line(line, Clock::now() + 5s) == Process::Io::ok);
  CHECK(line == "42 /nowhere");

  Process printf_(sh("printf 'a\\nb'"));
  std::string all;
  CHECK(printf_.read_to_end(all, Clock::now() + 5s) == Process::Io::closed);
  CHECK(all == "a\nb");

  Process three(sh("echo first; echo second; echo third"));
  REQUIRE(three.read_line(line, Clock::now() + 5s) == Process::Io::ok);
  CHECK(line == "first");
  std::vector<std::string> rest;
  three.forward_stdout([&](const std::string& l) { rest.push_back(l); });
  REQUIRE(three.wait_exit(Clock::now() + 5s));
  CHECK(rest == std::vector<std::string>{"second", "third"});

  auto spec = sh("head -c 5000 /dev/zero | tr '\\0' a; exec sleep 30");
  spec.max_line_bytes = 1000;
  Process runaway(spec);
  CHECK_THROWS_WITH(runaway.read_line(line, Clock::now() + 5s),
                    Catch::Contains("wrote a line over 1000 bytes on stdout"));
}

TEST_CASE("process: a child with a parent-death signal outlives the thread that started it", "[process]") {
  ProcessSpec spec;
  spec.exe = "/bin/sleep";
  spec.args = {"30"};
  spec.death_signal = SIGTERM;
  spec.own_process_group = true;
  std::unique_ptr<Process> p;
  std::thread starter([&] { p = std::make_unique<Process>(spec); });
  starter.join();
  std::this_thread::sleep_for(200ms);
  CHECK(p->running());
  CHECK(::getpgid(p->pid()) == p->pid());
  p->stop(5);
  CHECK(p->exit_status()->signal == SIGTERM);
}

TEST_CASE("process: a restart that cannot start leaves a process that is not running", "[process]") {
  const std::string copy = "/tmp/r1-test-process-sleep-" + std::to_string(::getpid());
  REQUIRE(std::system(("cp /bin/sleep " + copy).c_str()) == 0);
  ProcessSpec spec;
  spec.exe = copy;
  spec.args = {"30"};
  Process p(spec);
  CHECK(p.running());
  ::unlink(copy.c_str());
  CHECK_THROWS_WITH(p.restart(), Catch::Contains(copy + ": No such file or directory"));
  CHECK_FALSE(p.running());
}
