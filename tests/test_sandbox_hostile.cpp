// Hostile programs against the real sandbox (sandbox/box/): fork and memory bombs, endless loops and
// sleeps, floods of output and files, the network, reads and writes outside the box, killing the
// judge, daemons, ptrace, exit tricks, redefined builtins and asserts, forged results, compile-time
// bombs, symlink escapes, huge argv and environments, a thousand threads.
//
// Every case asserts the verdict an honest judge gives, and then, through one helper
// (judge_hostile), that the host is as it was and the sandbox still serves: no stray process of the
// job (a host uid >= 200000 with no running r1-box above it, or the case's marker in a command
// line), no new /tmp/r1-box-* folder or r1-box-* cgroup whose r1-box is gone, the same number of
// mounts, and an honest job judged AC right after. The checks allow for other sandbox jobs running
// beside this binary (ctest -j).
#include <arpa/inet.h>
#include <dirent.h>
#include <netinet/in.h>
#include <signal.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/statvfs.h>
#include <unistd.h>

#include <nlohmann/json.hpp>

#include <catch2/catch.hpp>

#include <cerrno>
#include <chrono>
#include <fstream>
#include <initializer_list>
#include <iomanip>
#include <random>
#include <set>
#include <sstream>
#include <string>
#include <thread>
#include <vector>

#include "sandbox/sandbox.h"

namespace {

using nlohmann::json;

r1::sandbox::Sandbox& sandbox() {
  static r1::sandbox::Sandbox box{r1::sandbox::SandboxOptions{}};
  return box;
}

// A fresh marker per case, to find the case's processes and to make expected outputs unguessable.
std::string marker(const std::string& prefix) {
  static std::mt19937_64 rng{std::random_device{}()};
  std::ostringstream s;
  s << prefix << std::hex << std::setfill('0') << std::setw(16) << rng() << std::setw(16) << rng();
  return s.str();
}

json stdio(const std::string& output, const std::string& input = "") {
  return {{"type", "stdio"}, {"cases", json::array({{{"input", input}, {"output", output}}})}};
}

json function(const std::string& entry_point, const std::string& test) {
  return {{"type", "function"}, {"entry_point", entry_point}, {"test", test}};
}

json assert_main(const std::string& test) { return {{"type", "assert-main"}, {"test", test}}; }

// Small limits keep the file fast; `extra` overrides or adds limits.
json make_job(const std::string& language, const std::string& code, const json& tests, const json& extra = json::object()) {
  json limits = {{"cpu_s", 1}, {"wall_s", 3}, {"memory_mb", 128}, {"output_kb", 64}, {"processes", 32}};
  for (const auto& [k, v] : extra.items()) limits[k] = v;
  return {{"language", language}, {"code", code}, {"tests", tests}, {"limits", limits}};
}

// ---- the host's state ------------------------------------------------------------------------------

std::string read_file(const std::string& path) {
  std::ifstream in(path, std::ios::binary);
  std::stringstream s;
  s << in.rdbuf();
  return s.str();
}

std::vector<std::string> list_dir(const std::string& dir) {
  std::vector<std::string> out;
  if (DIR* d = ::opendir(dir.c_str())) {
    while (dirent* e = ::readdir(d)) out.emplace_back(e->d_name);
    ::closedir(d);
  }
  return out;
}

bool starts_with(const std::string& s, const std::string& prefix) { return s.rfind(prefix, 0) == 0; }

bool all_digits(const std::string& s) { return !s.empty() && s.find_first_not_of("0123456789") == std::string::npos; }

size_t mount_count() {
  std::ifstream in("/proc/self/mountinfo");
  std::string line;
  size_t n = 0;
  while (std::getline(in, line)) ++n;
  return n;
}

struct ProcInfo {
  long pid = 0, ppid = 0;
  long long ruid = -1;
  std::string name, cmdline;
};

bool proc_info(long pid, ProcInfo& p) {
  std::string status = read_file("/proc/" + std::to_string(pid) + "/status");
  if (status.empty()) return false;
  p = ProcInfo{};
  p.pid = pid;
  std::istringstream lines(status);
  std::string line;
  while (std::getline(lines, line)) {
    std::istringstream f(line);
    std::string key;
    f >> key;
    if (key == "Name:") std::getline(f >> std::ws, p.name);
    if (key == "PPid:") f >> p.ppid;
    if (key == "Uid:") f >> p.ruid;
  }
  p.cmdline = read_file("/proc/" + std::to_string(pid) + "/cmdline");
  for (char& c : p.cmdline)
    if (c == '\0') c = ' ';
  return true;
}

bool under_live_box(long pid) {
  ProcInfo p;
  for (int depth = 0; depth < 64 && pid > 1 && proc_info(pid, p); ++depth) {
    if (p.name == "r1-box") return true;
    pid = p.ppid;
  }
  return false;
}

// Processes the job may have left: a box uid (the box maps its uids to 200000+ on the host) with no
// running r1-box above it (other jobs may run beside this test), or the case's marker in the command line.
std::vector<std::string> stray_processes(const std::string& mark) {
  std::vector<std::string> out;
  const long self = ::getpid();
  for (const std::string& entry : list_dir("/proc")) {
    if (!all_digits(entry)) continue;
    long pid = std::stol(entry);
    ProcInfo p;
    if (pid == self || !proc_info(pid, p)) continue;
    bool box_uid = p.ruid >= 200000 && !under_live_box(pid);
    bool marked = !mark.empty() && p.cmdline.find(mark) != std::string::npos;
    if (box_uid || marked)
      out.push_back(std::to_string(pid) + " uid " + std::to_string(p.ruid) + " (" + p.name + "): " + p.cmdline.substr(0, 200));
  }
  return out;
}

// The cgroup folders the box makes sit beside our own cgroup, in each controller's hierarchy.
std::vector<std::string> cgroup_parents() {
  std::vector<std::string> dirs;
  std::ifstream in("/proc/self/cgroup");
  std::string line;
  while (std::getline(in, line)) {
    size_t a = line.find(':'), b = line.find(':', a + 1);
    if (a == std::string::npos || b == std::string::npos) continue;
    std::string controllers = line.substr(a + 1, b - a - 1), path = line.substr(b + 1);
    if (path == "/") path.clear();
    if (starts_with(controllers, "name=")) continue;
    if (controllers.empty()) {
      dirs.push_back("/sys/fs/cgroup" + path);
      dirs.push_back("/sys/fs/cgroup/unified" + path);
    } else {
      std::istringstream s(controllers);
      std::string c;
      while (std::getline(s, c, ',')) dirs.push_back("/sys/fs/cgroup/" + c + path);
    }
  }
  return dirs;
}

std::set<std::string> box_cgroups() {
  std::set<std::string> out;
  for (const std::string& dir : cgroup_parents())
    for (const std::string& name : list_dir(dir))
      if (starts_with(name, "r1-box-")) out.insert(dir + "/" + name);
  return out;
}

// r1-box-<pid> cgroups made since `before` whose r1-box is gone (jobs running beside this test keep theirs).
std::vector<std::string> leftover_cgroups(const std::set<std::string>& before) {
  std::vector<std::string> out;
  for (const std::string& path : box_cgroups()) {
    if (before.count(path)) continue;
    std::string pid = path.substr(path.rfind("/r1-box-") + 8);
    ProcInfo p;
    bool live = all_digits(pid) && proc_info(std::stol(pid), p) && p.name == "r1-box";
    if (!live) out.push_back(path);
  }
  return out;
}

std::set<std::string> tmp_box_folders() {
  std::set<std::string> out;
  for (const std::string& name : list_dir("/tmp"))
    if (starts_with(name, "r1-box-")) out.insert("/tmp/" + name);
  return out;
}

std::string joined(const std::vector<std::string>& items) {
  std::string out;
  for (const auto& s : items) out += "\n  " + s;
  return out;
}

json honest_job() { return make_job("python", "print(int(input()) * 2)\n", stdio("42", "21\n")); }

// Judges a hostile job, then checks the host and the sandbox: (1) no stray process, (2) no leftover
// /tmp/r1-box-* folder or r1-box-* cgroup, (3) the same number of mounts, (4) an honest job gets AC.
json judge_hostile(const json& job, const std::string& mark = "") {
  const size_t mounts_before = mount_count();
  const std::set<std::string> tmp_before = tmp_box_folders();
  const std::set<std::string> cgroups_before = box_cgroups();
  const auto start = std::chrono::steady_clock::now();
  json result = sandbox().run_json(job);
  const double seconds = std::chrono::duration<double>(std::chrono::steady_clock::now() - start).count();
  INFO("hostile job's result (" << seconds << " s): " << result.dump());

  // (1) Processes: everything the job started dies with its PID namespace before r1-box returns; a
  // process caught mid-exit gets a moment.
  std::vector<std::string> strays = stray_processes(mark);
  for (int i = 0; i < 40 && !strays.empty(); ++i) {
    std::this_thread::sleep_for(std::chrono::milliseconds(50));
    strays = stray_processes(mark);
  }
  INFO("stray processes:" << joined(strays));
  CHECK(strays.empty());

  // (2) Folders: a job's cgroup is removed before its r1-box exits (a --serve slot's lives as long as its
  // server); the weak mode's temp folder likewise.
  std::vector<std::string> cgroups = leftover_cgroups(cgroups_before);
  INFO("leftover cgroups:" << joined(cgroups));
  CHECK(cgroups.empty());
  std::vector<std::string> new_tmp;
  for (const std::string& t : tmp_box_folders())
    if (!tmp_before.count(t)) new_tmp.push_back(t);
  INFO("leftover temp folders:" << joined(new_tmp));
  CHECK(new_tmp.empty());

  // (3) Mounts: the box mounts only inside its own mount namespace.
  CHECK(mount_count() == mounts_before);

  // (4) The sandbox still serves.
  json honest = sandbox().run_json(honest_job());
  INFO("honest job after it: " << honest.dump());
  CHECK(honest.value("verdict", "") == "AC");
  return result;
}

std::string verdict(const json& r) { return r.value("verdict", "?"); }

bool one_of(const std::string& v, std::initializer_list<const char*> allowed) {
  for (const char* a : allowed)
    if (v == a) return true;
  return false;
}

const std::string kFunctionTest = "def check(candidate):\n    assert candidate(1) == 2\n    assert candidate(5) == 6\n";
const std::string kAssertMainTest = "#include <cassert>\nint main() {\n  assert(f(1) == 2);\n  assert(f(5) == 6);\n}\n";

}  // namespace

// ---- bombs ---------------------------------------------------------------------------------------------

TEST_CASE("hostile: Python fork bomb", "[sandbox][hostile]") {
  json r = judge_hostile(make_job("python",
                                  "import os\n"
                                  "while True:\n"
                                  "    try:\n"
                                  "        os.fork()\n"
                                  "    except OSError:\n"
                                  "        pass\n",
                                  stdio("42"), {{"wall_s", 2}}));
  CHECK(verdict(r) == "TLE");
}

TEST_CASE("hostile: C fork bomb", "[sandbox][hostile]") {
  json r = judge_hostile(make_job("c", "#include <unistd.h>\nint main(void) { for (;;) fork(); }\n", stdio("42"),
                                  {{"wall_s", 2}}));
  CHECK(verdict(r) == "TLE");
}

TEST_CASE("hostile: memory bomb", "[sandbox][hostile]") {
  json r = judge_hostile(make_job("python",
                                  "chunks = []\n"
                                  "while True:\n"
                                  "    chunks.append(bytearray(1 << 20))\n",
                                  stdio("42")));
  CHECK(verdict(r) == "MLE");
}

TEST_CASE("hostile: infinite loop", "[sandbox][hostile]") {
  json r = judge_hostile(make_job("python", "while True:\n    pass\n", stdio("42")));
  CHECK(verdict(r) == "TLE");
}

TEST_CASE("hostile: sleeping forever", "[sandbox][hostile]") {
  json r = judge_hostile(make_job("python", "import time\ntime.sleep(1000)\nprint(42)\n", stdio("42"), {{"wall_s", 2}}));
  CHECK(verdict(r) == "TLE");
  CHECK(r["wall_ms"].get<double>() < 4000);
}

TEST_CASE("hostile: a gigabyte of output", "[sandbox][hostile]") {
  json r = judge_hostile(make_job("python",
                                  "import sys\n"
                                  "block = 'x' * (1 << 20)\n"
                                  "for _ in range(1024):\n"
                                  "    sys.stdout.write(block)\n",
                                  stdio("42")));
  CHECK(verdict(r) == "OLE");
}

TEST_CASE("hostile: filling the disk", "[sandbox][hostile]") {
  struct statvfs before {}, after {};
  REQUIRE(::statvfs("/tmp", &before) == 0);
  const std::string code =
      "import os\n"
      "n = 0\n"
      "try:\n"
      "    while True:\n"
      "        with open('fill%d' % n, 'wb') as f:\n"
      "            f.write(b'x' * (1 << 20))\n"
      "        n += 1\n"
      "except OSError:\n"
      "    pass\n"
      "print('full after', n, 'MiB')\n";
  json r = judge_hostile(make_job("python", code, stdio("42"), {{"disk_mb", 256}}));
  REQUIRE(::statvfs("/tmp", &after) == 0);
  CHECK(verdict(r) == "WA");
  // The 256 MiB went to the box's tmpfs, not the host's disk (slack for other writers on this machine).
  const double lost_mb = (static_cast<double>(before.f_bavail) * before.f_frsize -
                          static_cast<double>(after.f_bavail) * after.f_frsize) / (1 << 20);
  INFO("the host's /tmp lost " << lost_mb << " MiB");
  CHECK(lost_mb < 128);
}

// ---- the network -------------------------------------------------------------------------------------

TEST_CASE("hostile: connecting to the host's loopback and the outside", "[sandbox][hostile]") {
  int listener = ::socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC | SOCK_NONBLOCK, 0);
  REQUIRE(listener >= 0);
  sockaddr_in addr{};
  addr.sin_family = AF_INET;
  addr.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
  addr.sin_port = 0;
  REQUIRE(::bind(listener, reinterpret_cast<sockaddr*>(&addr), sizeof addr) == 0);
  REQUIRE(::listen(listener, 16) == 0);
  socklen_t len = sizeof addr;
  REQUIRE(::getsockname(listener, reinterpret_cast<sockaddr*>(&addr), &len) == 0);
  const int port = ntohs(addr.sin_port);

  const std::string code =
      "import socket\n"
      "def attempt(host, port):\n"
      "    try:\n"
      "        socket.create_connection((host, port), timeout=1).close()\n"
      "        return 'connected'\n"
      "    except OSError:\n"
      "        return 'refused'\n"
      "print(attempt('127.0.0.1', " + std::to_string(port) + "))\n"
      "print(attempt('1.1.1.1', 80))\n";
  json r = judge_hostile(make_job("python", code, stdio("refused\nrefused")));
  CHECK(verdict(r) == "AC");
  // Nothing reached the listener.
  int conn = ::accept4(listener, nullptr, nullptr, SOCK_CLOEXEC);
  int err = errno;
  CHECK(conn < 0);
  CHECK((err == EAGAIN || err == EWOULDBLOCK));
  if (conn >= 0) ::close(conn);
  ::close(listener);
}

// ---- the host's files ----------------------------------------------------------------------------------

TEST_CASE("hostile: reading outside the sandbox", "[sandbox][hostile]") {
  const std::string code =
      "import glob, os\n"
      "got = []\n"
      "def attempt(path):\n"
      "    try:\n"
      "        if os.path.isdir(path):\n"
      "            got.append(path + ': ' + ','.join(os.listdir(path)))\n"
      "        else:\n"
      "            with open(path, 'rb') as f:\n"
      "                got.append(path + ': ' + repr(f.read(64)))\n"
      "    except OSError:\n"
      "        pass\n"
      "for path in ['/etc/shadow', '/etc/passwd', '/root', '/home', '" R1_SOURCE_DIR "', '" R1_SOURCE_DIR
      "/CMakeLists.txt',\n"
      "             '/proc/1/environ', '/proc/1/cmdline', '/proc/1/root/etc/shadow', '/proc/1/mem']:\n"
      "    attempt(path)\n"
      "me = os.getpid()\n"
      "for path in glob.glob('/proc/[0-9]*/environ'):\n"
      "    if path != '/proc/%d/environ' % me:\n"
      "        attempt(path)\n"
      "print('\\n'.join(got) if got else 'none')\n";
  json r = judge_hostile(make_job("python", code, stdio("none")));
  CHECK(verdict(r) == "AC");  // "none": every attempt failed
}

TEST_CASE("hostile: writing, renaming and deleting outside the sandbox", "[sandbox][hostile]") {
  const std::string passwd_before = read_file("/etc/passwd");
  const std::string code =
      "import os\n"
      "done = []\n"
      "def attempt(name, action):\n"
      "    try:\n"
      "        action()\n"
      "        done.append(name)\n"
      "    except OSError:\n"
      "        pass\n"
      "def create():\n"
      "    with open('/usr/bin/evil', 'w') as f:\n"
      "        f.write('#!/bin/sh\\necho evil\\n')\n"
      "def append_passwd():\n"
      "    with open('/etc/passwd', 'a') as f:\n"
      "        f.write('evil::0:0::/:/bin/sh\\n')\n"
      "attempt('create /usr/bin/evil', create)\n"
      "attempt('remove /usr/bin/python3', lambda: os.remove('/usr/bin/python3'))\n"
      "attempt('rename /usr/bin/python3', lambda: os.rename('/usr/bin/python3', '/usr/bin/python4'))\n"
      "attempt('chmod /usr/bin/python3', lambda: os.chmod('/usr/bin/python3', 0o777))\n"
      "attempt('write /etc/passwd', append_passwd)\n"
      "attempt('mkdir /evil', lambda: os.mkdir('/evil'))\n"
      "attempt('rmdir /usr/lib', lambda: os.rmdir('/usr/lib'))\n"
      "attempt('link into /usr/bin', lambda: os.symlink('/work/x', '/usr/bin/evil'))\n"
      "print('\\n'.join(done) if done else 'none')\n";
  json r = judge_hostile(make_job("python", code, stdio("none")));
  CHECK(verdict(r) == "AC");  // "none": every attempt failed
  struct stat st {};
  CHECK(::stat("/usr/bin/python3", &st) == 0);
  CHECK(::lstat("/usr/bin/evil", &st) != 0);
  CHECK(::lstat("/usr/bin/python4", &st) != 0);
  CHECK(::lstat("/evil", &st) != 0);
  CHECK(read_file("/etc/passwd") == passwd_before);
}

TEST_CASE("hostile: symlink escapes", "[sandbox][hostile]") {
  const std::string code =
      "import os\n"
      "got = []\n"
      "def attempt(path):\n"
      "    try:\n"
      "        if os.path.isdir(path):\n"
      "            got.append(path + ': ' + ','.join(os.listdir(path)))\n"
      "        else:\n"
      "            with open(path, 'rb') as f:\n"
      "                got.append(path + ': ' + repr(f.read(64)))\n"
      "    except OSError:\n"
      "        pass\n"
      "for name, target in [('x', '/etc/shadow'), ('r', '/proc/1/root'), ('c', '/proc/1/cwd'),\n"
      "                     ('s', '/proc/1/root/etc/shadow'), ('u', '/proc/self/root/../../etc/shadow')]:\n"
      "    try:\n"
      "        os.symlink(target, name)\n"
      "    except OSError:\n"
      "        continue\n"
      "    attempt(name)\n"
      "    attempt(name + '/etc/shadow')\n"
      "print('\\n'.join(got) if got else 'none')\n";
  json r = judge_hostile(make_job("python", code, stdio("none")));
  CHECK(verdict(r) == "AC");  // "none": every attempt failed
}

// ---- other processes -----------------------------------------------------------------------------------

TEST_CASE("hostile: killing the parent and every process", "[sandbox][hostile]") {
  SECTION("Python, stdio") {
    // A Python run is forked by the box's relay, outside its PID namespace: getppid() is 0 there,
    // and kill(0) would be the program's own process group.
    json r = judge_hostile(make_job("python",
                                    "import os\n"
                                    "for target in (1, os.getppid() or 1, -1):\n"
                                    "    try:\n"
                                    "        os.kill(target, 9)\n"
                                    "    except OSError:\n"
                                    "        pass\n"
                                    "print('survived')\n",
                                    stdio("42")));
    CHECK(verdict(r) == "WA");
  }
  SECTION("C, stdio") {
    json r = judge_hostile(make_job("c",
                                    "#include <signal.h>\n#include <stdio.h>\n#include <unistd.h>\n"
                                    "int main(void) { kill(1, SIGKILL); kill(getppid(), SIGKILL); kill(-1, SIGKILL);\n"
                                    "  puts(\"survived\"); return 0; }\n",
                                    stdio("42")));
    CHECK(verdict(r) == "WA");
  }
  SECTION("Python, function: the judge is the parent") {
    json r = judge_hostile(make_job("python",
                                    "import os\n"
                                    "def f(x):\n"
                                    "    for target in (1, os.getppid() or 1, -1):\n"
                                    "        try:\n"
                                    "            os.kill(target, 9)\n"
                                    "        except OSError:\n"
                                    "            pass\n"
                                    "    return 0\n",
                                    function("f", kFunctionTest)));
    CHECK(verdict(r) == "WA");
    CHECK(r["total"] == 2);
  }
}

// The candidate that kills itself crashed: RE. The judge reads any SIGKILL as the CPU limit.
TEST_CASE("hostile: a function that kills itself is a runtime error", "[sandbox][hostile]") {
  json r = judge_hostile(make_job("python", "import os\ndef f(x):\n    os.kill(os.getpid(), 9)\n",
                                  function("f", kFunctionTest)));
  CHECK(verdict(r) == "RE");
}

TEST_CASE("hostile: a daemon left running after the job", "[sandbox][hostile]") {
  const std::string mark = marker("r1daemon");
  const std::string code =
      "import os\n"
      "if os.fork() == 0:\n"
      "    os.setsid()\n"
      "    if os.fork() == 0:\n"
      "        os.execv('/usr/bin/python3', ['/usr/bin/python3', '-c', 'import time; time.sleep(1000)', '" + mark + "'])\n"
      "    os._exit(0)\n"
      "print('daemon started')\n";
  json r = judge_hostile(make_job("python", code, stdio("42")), mark);
  CHECK(verdict(r) == "WA");
  CHECK(stray_processes(mark).empty());
}

TEST_CASE("hostile: ptrace", "[sandbox][hostile]") {
  const std::string code =
      "#include <stdio.h>\n#include <sys/ptrace.h>\n#include <unistd.h>\n"
      "int main(void) {\n"
      "  long me = ptrace(PTRACE_TRACEME, 0, 0, 0);\n"
      "  long parent = ptrace(PTRACE_ATTACH, getppid(), 0, 0);\n"
      "  long init = ptrace(PTRACE_ATTACH, 1, 0, 0);\n"
      "  printf(\"%s %s %s\\n\", me == 0 ? \"traceme-ok\" : \"traceme-failed\",\n"
      "         parent == 0 ? \"attach-ok\" : \"attach-failed\", init == 0 ? \"attach1-ok\" : \"attach1-failed\");\n"
      "  return 0;\n"
      "}\n";
  json r = judge_hostile(make_job("c", code, stdio("traceme-failed attach-failed attach1-failed")));
  CHECK(verdict(r) == "AC");  // every ptrace failed
}

// ---- cheating the judge ----------------------------------------------------------------------------------

TEST_CASE("hostile: exit tricks in function tests", "[sandbox][hostile]") {
  const char* codes[] = {
      "import sys\nsys.exit(0)\ndef f(x):\n    return 0\n",
      "exit(0)\ndef f(x):\n    return 0\n",
      "import os\nos._exit(0)\ndef f(x):\n    return 0\n",
      "def f(x):\n    import sys\n    sys.exit()\n",
      "def f(x):\n    import os\n    os._exit(0)\n",
      "def f(x):\n    exit(0)\n",
      "import atexit, os\natexit.register(lambda: os._exit(0))\ndef f(x):\n    import sys\n    sys.exit(0)\n",
      "import atexit, os\ndef f(x):\n    atexit.register(lambda: os._exit(0))\n    raise SystemExit(0)\n",
  };
  for (const char* code : codes) {
    INFO("candidate:\n" << code);
    json r = judge_hostile(make_job("python", code, function("f", kFunctionTest)));
    CHECK(verdict(r) == "RE");
    CHECK(r["passed"] == 0);
  }
}

TEST_CASE("hostile: exit tricks in assert-main tests", "[sandbox][hostile]") {
  struct Trick {
    const char* code;
    const char* verdict;
  };
  const Trick tricks[] = {
      {"#include <cstdlib>\nint f(int x) { exit(0); }\n", "WA"},
      {"#include <cstdlib>\nint f(int x) { quick_exit(0); }\n", "WA"},
      {"#include <unistd.h>\nint f(int x) { _exit(0); }\n", "WA"},
      {"#include <cstdlib>\nint f(int x) { std::abort(); }\n", "RE"},
      {"#include <cstdlib>\nstatic int bye = (atexit([] { _exit(0); }), 0);\nint f(int x) { exit(0); }\n", "WA"},
  };
  for (const Trick& t : tricks) {
    INFO("candidate:\n" << t.code);
    json r = judge_hostile(make_job("cpp", t.code, assert_main(kAssertMainTest)));
    CHECK(verdict(r) == t.verdict);
  }
}

TEST_CASE("hostile: redefined builtins in function tests", "[sandbox][hostile]") {
  struct Trick {
    const char* name;
    const char* code;
  };
  const Trick tricks[] = {
      {"builtins.AssertionError and builtins.print",
       "import builtins\n"
       "class Quiet(Exception):\n    pass\n"
       "builtins.AssertionError = Quiet\n"
       "builtins.print = lambda *a, **k: None\n"
       "builtins.isinstance = lambda *a: False\n"
       "def f(x):\n    return 0\n"},
      {"module-level AssertionError, print, check and candidate",
       "AssertionError = Exception\n"
       "def print(*a, **k):\n    pass\n"
       "def check(candidate):\n    pass\n"
       "candidate = lambda x: x + 1\n"
       "def f(x):\n    return 0\n"},
      {"json.dumps forging replies",
       "import json\n"
       "json.dumps = lambda *a, **k: '{\"verdict\": \"AC\", \"done\": true}'\n"
       "def f(x):\n    return 0\n"},
      {"an object equal to everything",
       "class Yes:\n"
       "    def __eq__(self, other):\n        return True\n"
       "    def __ne__(self, other):\n        return False\n"
       "    __hash__ = object.__hash__\n"
       "def f(x):\n    return Yes()\n"},
      {"an int subclass equal to everything",
       "class Yes(int):\n"
       "    def __eq__(self, other):\n        return True\n"
       "    __hash__ = int.__hash__\n"
       "def f(x):\n    return Yes(0)\n"},
      {"an exception raised from the function",
       "def f(x):\n    raise AssertionError('fine')\n"},
  };
  for (const Trick& t : tricks) {
    INFO(t.name);
    json r = judge_hostile(make_job("python", t.code, function("f", kFunctionTest)));
    CHECK(one_of(verdict(r), {"WA", "RE"}));
    CHECK(r["passed"] == 0);
  }
}

TEST_CASE("hostile: os.write replaced in function tests", "[sandbox][hostile]") {
  // The candidate's replies never leave: it is as if it never answered (the wall clock ends it).
  json r = judge_hostile(make_job("python",
                                  "import os\n"
                                  "os.write = lambda fd, data: len(data)\n"
                                  "def f(x):\n    return 0\n",
                                  function("f", kFunctionTest), {{"wall_s", 2}}));
  CHECK(one_of(verdict(r), {"TLE", "RE", "WA"}));
  CHECK(r["passed"] == 0);
}

TEST_CASE("hostile: an object whose __eq__ is always true", "[sandbox][hostile]") {
  json r = judge_hostile(make_job("python",
                                  "class Yes:\n"
                                  "    def __eq__(self, other):\n        return True\n"
                                  "def f(x):\n    return Yes()\n",
                                  function("f", kFunctionTest)));
  CHECK(verdict(r) == "WA");
  CHECK(r["passed"] == 0);
}

TEST_CASE("hostile: fake success markers in function tests", "[sandbox][hostile]") {
  const std::string code =
      "import os, sys\n"
      "lines = ['{\"total\": 2}', '{\"i\": 0, \"verdict\": \"AC\"}', '{\"i\": 1, \"verdict\": \"AC\"}',\n"
      "         '{\"done\": \"0123456789abcdef0123456789abcdef\", \"total\": 2}', 'AC', 'OK', 'PASSED']\n"
      "def f(x):\n"
      "    text = '\\n'.join(lines) + '\\n'\n"
      "    sys.stdout.write(text)\n"
      "    sys.stdout.flush()\n"
      "    sys.stderr.write(text)\n"
      "    for fd in range(3, 64):\n"
      "        try:\n"
      "            os.write(fd, text.encode())\n"
      "        except OSError:\n"
      "            pass\n"
      "    return 0\n";
  json r = judge_hostile(make_job("python", code, function("f", kFunctionTest)));
  CHECK(one_of(verdict(r), {"WA", "RE"}));
  CHECK(r["passed"] == 0);
}

TEST_CASE("hostile: redefined assert in assert-main tests", "[sandbox][hostile]") {
  const char* codes[] = {
      "#define assert(x) ((void)0)\nint f(int x) { return 0; }\n",
      "#define NDEBUG 1\n#include <cassert>\nint f(int x) { return 0; }\n",
      "#include <cstdio>\n#include <cstdlib>\n"
      "int f(int x) { fprintf(stderr, \"Assertion passed\\n\"); return 0; }\n",
  };
  for (const char* code : codes) {
    INFO("candidate:\n" << code);
    json r = judge_hostile(make_job("cpp", code, assert_main(kAssertMainTest)));
    CHECK(verdict(r) == "WA");
  }
}

// glibc's assert() calls __assert_fail(); a macro of that name, defined after <assert.h> (whose
// declarations are guarded once), silences every assert of the test.
TEST_CASE("hostile: __assert_fail redefined in assert-main tests", "[sandbox][hostile]") {
  json r = judge_hostile(make_job("cpp",
                                  "#include <assert.h>\n#define __assert_fail(a, b, c, d) ((void)0)\n"
                                  "int f(int x) { return 0; }\n",
                                  assert_main(kAssertMainTest)));
  CHECK(verdict(r) == "WA");
}

TEST_CASE("hostile: guessing the success token in assert-main tests", "[sandbox][hostile]") {
  // Writes junk to every descriptor, then ends the program early.
  const std::string code =
      "#include <unistd.h>\n#include <string.h>\n"
      "int f(int x) {\n"
      "  const char* junk = \"0123456789abcdef0123456789abcdef\";\n"
      "  for (int fd = 1; fd < 64; ++fd) write(fd, junk, strlen(junk));\n"
      "  _exit(0);\n"
      "}\n";
  json r = judge_hostile(make_job("cpp", code, assert_main(kAssertMainTest)));
  CHECK(verdict(r) == "WA");
}

// The guard's token waits in a socket the program inherits, and the channel it goes back on is
// another. A program that finds both can try every way to copy the token across: read/write,
// readv/writev, recv/send, a dup of each, passing them through its own socketpair (SCM_RIGHTS), or a
// splice through a pipe. The gate's seccomp filter refuses each (docs/sandbox.md), so the guard at the
// end of the test's main never ran and the verdict is WA, never AC.
namespace {

const char* kStealPrelude =
    "#include <fcntl.h>\n#include <poll.h>\n#include <string.h>\n#include <sys/socket.h>\n#include <sys/stat.h>\n"
    "#include <sys/uio.h>\n#include <unistd.h>\n"
    "static int channel_like(int fd) {\n"
    "  struct stat st;\n"
    "  return fstat(fd, &st) == 0 && (S_ISFIFO(st.st_mode) || S_ISSOCK(st.st_mode));\n"
    "}\n"
    "static int readable(int fd) { struct pollfd p = {fd, POLLIN, 0}; return poll(&p, 1, 0) == 1 && (p.revents & POLLIN); }\n"
    "static int pass_through_socketpair(int fd) {\n"
    "  int sv[2];\n"
    "  if (socketpair(AF_UNIX, SOCK_STREAM, 0, sv) != 0) return -1;\n"
    "  char c = 0; struct iovec io = {&c, 1};\n"
    "  char ctl[CMSG_SPACE(sizeof(int))]; memset(ctl, 0, sizeof ctl);\n"
    "  struct msghdr m; memset(&m, 0, sizeof m); m.msg_iov = &io; m.msg_iovlen = 1; m.msg_control = ctl;\n"
    "  m.msg_controllen = sizeof ctl;\n"
    "  struct cmsghdr* h = CMSG_FIRSTHDR(&m); h->cmsg_level = SOL_SOCKET; h->cmsg_type = SCM_RIGHTS;\n"
    "  h->cmsg_len = CMSG_LEN(sizeof(int)); memcpy(CMSG_DATA(h), &fd, sizeof fd);\n"
    "  if (sendmsg(sv[0], &m, 0) != 1) return -1;\n"
    "  if (recvmsg(sv[1], &m, 0) != 1) return -1;\n"
    "  int got; memcpy(&got, CMSG_DATA(CMSG_FIRSTHDR(&m)), sizeof got); return got;\n"
    "}\n"
    "static long take(int fd, char* buf, long size, int how) {\n"
    "  if (how == 1) { struct iovec io = {buf, (size_t)size}; return readv(fd, &io, 1); }\n"
    "  if (how == 2) return recv(fd, buf, size, MSG_DONTWAIT);\n"
    "  if (how == 3) { int d = dup(fd); return d < 0 ? -1 : read(d, buf, size); }\n"
    "  if (how == 4) { int d = pass_through_socketpair(fd); return d < 0 ? -1 : read(d, buf, size); }\n"
    "#ifdef __cplusplus\n"
    "  if (how == 5) { int p[2]; if (pipe(p) != 0) return -1; long n = splice(fd, 0, p[1], 0, size, SPLICE_F_NONBLOCK);\n"
    "                  return n <= 0 ? -1 : read(p[0], buf, n); }\n"
    "#endif\n"
    "  return read(fd, buf, size);\n"
    "}\n"
    "static void give(int fd, const char* buf, long n, int how) {\n"
    "  long w;\n"
    "  if (how == 1) { struct iovec io = {(void*)buf, (size_t)n}; w = writev(fd, &io, 1); }\n"
    "  else if (how == 2) w = send(fd, buf, n, MSG_DONTWAIT);\n"
    "  else if (how == 3) { int d = dup(fd); w = d < 0 ? -1 : write(d, buf, n); }\n"
    "  else if (how == 4) { int d = pass_through_socketpair(fd); w = d < 0 ? -1 : write(d, buf, n); }\n"
    "  else w = write(fd, buf, n);\n"
    "  (void)w;\n"
    "}\n"
    "static void steal(int how) {\n"
    "  char token[64];\n"
    "  long n = 0;\n"
    "  for (int fd = 3; fd < 1024 && n <= 0; ++fd)\n"
    "    if (channel_like(fd) && readable(fd)) n = take(fd, token, sizeof token, how);\n"
    "  for (int fd = 3; fd < 1024 && n > 0; ++fd)\n"
    "    if (channel_like(fd) && !readable(fd)) give(fd, token, n, how);\n"
    "  _exit(0);\n"
    "}\n";

}  // namespace

TEST_CASE("hostile: stealing the success token in assert-main tests", "[sandbox][hostile]") {
  const char* ways[] = {"read and write", "readv and writev", "recv and send", "a dup of each",
                        "a copy through a socketpair", "a splice through a pipe"};
  for (int how = 0; how < 6; ++how) {
    SECTION(ways[how]) {
      const std::string code = std::string(kStealPrelude) + "int f(int x) { steal(" + std::to_string(how) + "); return x + 1; }\n";
      json r = judge_hostile(make_job("cpp", code, assert_main(kAssertMainTest)));
      CHECK(verdict(r) == "WA");
      CHECK(r["detail"] == "the program ended before its tests finished");
      json c = judge_hostile(make_job("c", code, assert_main(kAssertMainTest)));
      CHECK(verdict(c) == "WA");
    }
  }
}

TEST_CASE("hostile: finding the expected output of a stdio test", "[sandbox][hostile]") {
  const std::string expected = marker("R1EXPECTED");
  const std::string code =
      "import os, re, sys\n"
      "pattern = re.compile(rb'R1EXPECTED[0-9a-f]+')\n"
      "found = []\n"
      "def look(path):\n"
      "    try:\n"
      "        with open(path, 'rb') as f:\n"
      "            found.extend(pattern.findall(f.read(1 << 22)))\n"
      "    except OSError:\n"
      "        pass\n"
      "found.extend(pattern.findall(sys.stdin.buffer.read()))\n"
      "for top in ['.', '/work', '/tmp', '/r1', '/dev/shm', '/run', '/etc', '/']:\n"
      "    try:\n"
      "        names = os.listdir(top)\n"
      "    except OSError:\n"
      "        continue\n"
      "    for name in names:\n"
      "        path = os.path.join(top, name)\n"
      "        if os.path.isfile(path):\n"
      "            look(path)\n"
      "for pid in os.listdir('/proc'):\n"
      "    if pid.isdigit():\n"
      "        for what in ['cmdline', 'environ', 'mem']:\n"
      "            look('/proc/%s/%s' % (pid, what))\n"
      "for path in ['/proc/1/cmdline', '/proc/1/environ', '/proc/%d/cmdline' % os.getppid(),\n"
      "             '/proc/%d/environ' % os.getppid()]:\n"
      "    look(path)\n"
      "for fd in range(3, 64):\n"
      "    try:\n"
      "        found.extend(pattern.findall(os.read(fd, 1 << 20)))\n"
      "    except OSError:\n"
      "        pass\n"
      "print(found[0].decode() if found else 'nothing found')\n";
  json r = judge_hostile(make_job("python", code, stdio(expected, "the input\n")));
  CHECK(verdict(r) == "WA");
}

TEST_CASE("hostile: finding the expected value of a function test", "[sandbox][hostile]") {
  // The test code lives in the judge, which forks the candidate before it reads the test: the value is
  // nowhere the candidate can look, its own memory included.
  const std::string expected = marker("R1EXPECTED");
  const std::string code =
      "import gc, os, re\n"
      "pattern = re.compile(rb'R1EXPECTED[0-9a-f]{16,}')\n"
      "def look(path):\n"
      "    try:\n"
      "        with open(path, 'rb') as f:\n"
      "            return pattern.findall(f.read(1 << 22))\n"
      "    except OSError:\n"
      "        return []\n"
      "def memory():\n"
      "    found = []\n"
      "    try:\n"
      "        with open('/proc/self/maps') as maps, open('/proc/self/mem', 'rb', 0) as mem:\n"
      "            for line in maps:\n"
      "                span, perms = line.split()[:2]\n"
      "                if not perms.startswith('r'):\n"
      "                    continue\n"
      "                lo, hi = (int(v, 16) for v in span.split('-'))\n"
      "                while lo < hi:\n"
      "                    n = min(hi - lo, 1 << 20)\n"
      "                    try:\n"
      "                        mem.seek(lo)\n"
      "                        found += pattern.findall(mem.read(n))\n"
      "                    except (OSError, ValueError, OverflowError):\n"
      "                        pass\n"
      "                    lo += n\n"
      "    except OSError:\n"
      "        pass\n"
      "    return found\n"
      "def f(x):\n"
      "    found = []\n"
      "    for pid in ['1', str(os.getppid()), 'self']:\n"
      "        for what in ['cmdline', 'environ']:\n"
      "            found += look('/proc/%s/%s' % (pid, what))\n"
      "    for name in os.listdir('/r1'):\n"
      "        found += look('/r1/' + name)\n"
      "    for name in os.listdir('.'):\n"
      "        found += look(name)\n"
      "    for fd in range(0, 64):\n"
      "        try:\n"
      "            blocking = os.get_blocking(fd)\n"
      "        except OSError:\n"
      "            continue\n"
      "        try:\n"
      "            os.set_blocking(fd, False)\n"
      "            found += pattern.findall(os.read(fd, 1 << 20))\n"
      "        except OSError:\n"
      "            pass\n"
      "        finally:\n"
      "            os.set_blocking(fd, blocking)\n"
      "    for obj in gc.get_objects():\n"
      "        values = obj.values() if isinstance(obj, dict) else obj if isinstance(obj, (list, tuple)) else []\n"
      "        for v in values:\n"
      "            if isinstance(v, str):\n"
      "                found += pattern.findall(v.encode('utf-8', 'replace'))\n"
      "    found += memory()\n"
      "    return found[0].decode() if found else 'nothing found'\n";
  const std::string test = "def check(candidate):\n    assert candidate(0) == '" + expected + "'\n";
  json r = judge_hostile(make_job("python", code, function("f", test)));
  CHECK(verdict(r) == "WA");
}

// ---- compile-time bombs --------------------------------------------------------------------------------

TEST_CASE("hostile: including /dev/zero", "[sandbox][hostile]") {
  json r = judge_hostile(make_job("cpp", "#include \"/dev/zero\"\nint main() {}\n", stdio("42"),
                                  {{"compile_memory_mb", 512}}));
  CHECK(verdict(r) == "CE");
}

TEST_CASE("hostile: deep template recursion", "[sandbox][hostile]") {
  json r = judge_hostile(make_job("cpp",
                                  "template <int N> struct R { static const int v = R<N + 1>::v; };\n"
                                  "int main() { return R<0>::v; }\n",
                                  stdio("42")));
  CHECK(verdict(r) == "CE");
}

TEST_CASE("hostile: a 1 GB initialized static array", "[sandbox][hostile]") {
  json r = judge_hostile(make_job("cpp", "#include <cstdio>\nchar a[1 << 30] = {1};\nint main() { std::puts(\"42\"); return a[0] - 1; }\n",
                                  stdio("42")));
  CHECK(one_of(verdict(r), {"CE", "MLE", "RE", "OLE", "TLE"}));
}

TEST_CASE("hostile: a 1 GB zero-initialized static array", "[sandbox][hostile]") {
  // Prints the right answer if it ever runs: a memory limit of 128 MiB must keep it from running.
  json r = judge_hostile(make_job("cpp",
                                  "#include <cstdio>\nchar a[1 << 30];\n"
                                  "int main(int argc, char**) { a[argc] = 1; std::puts(\"42\"); return a[1] - 1; }\n",
                                  stdio("42")));
  CHECK(one_of(verdict(r), {"MLE", "RE"}));
}

// ---- exec and threads ----------------------------------------------------------------------------------

TEST_CASE("hostile: huge argv and environment", "[sandbox][hostile]") {
  SECTION("100 MB of arguments") {
    json r = judge_hostile(make_job("python",
                                    "import os\n"
                                    "try:\n"
                                    "    os.execv('/usr/bin/python3', ['/usr/bin/python3', '-c', 'print(42)'] + ['A' * 100000] * 1000)\n"
                                    "except OSError as e:\n"
                                    "    print('execv failed:', e)\n",
                                    stdio("42"), {{"memory_mb", 512}}));
    CHECK(one_of(verdict(r), {"WA", "RE", "MLE"}));
  }
  SECTION("100 MB of environment") {
    json r = judge_hostile(make_job("python",
                                    "import os\n"
                                    "env = {'K%d' % i: 'V' * 100000 for i in range(1000)}\n"
                                    "try:\n"
                                    "    os.execve('/usr/bin/python3', ['/usr/bin/python3', '-c', 'print(42)'], env)\n"
                                    "except OSError as e:\n"
                                    "    print('execve failed:', e)\n",
                                    stdio("42"), {{"memory_mb", 512}}));
    CHECK(one_of(verdict(r), {"WA", "RE", "MLE"}));
  }
}

TEST_CASE("hostile: a thousand threads", "[sandbox][hostile]") {
  const std::string code =
      "import threading\n"
      "gate = threading.Event()\n"
      "started = []\n"
      "for _ in range(1000):\n"
      "    t = threading.Thread(target=gate.wait)\n"
      "    try:\n"
      "        t.start()\n"
      "    except RuntimeError:\n"
      "        continue\n"
      "    started.append(t)\n"
      "gate.set()\n"
      "for t in started:\n"
      "    t.join()\n"
      "print(len(started))\n";
  json r = judge_hostile(make_job("python", code, stdio("1000"), {{"memory_mb", 256}}));
  CHECK(one_of(verdict(r), {"WA", "RE"}));
}

// ---- what a run's memory holds ---------------------------------------------------------------------
//
// Python runs are forks of the slot's interpreter (the zygote). The candidate reads all of its own
// writable and anonymous memory (ctypes over /proc/self/maps) for markers of the form R1LEAK + 32 hex digits: it must find
// the one it made itself (the scan works) and none of the test code, the expected output, or an
// earlier job's tests, which were judged by the same slot.
namespace {

const char* kScanMemory =
    "import ctypes, re\n"
    "def scan():\n"
    "    found = set()\n"
    "    pattern = re.compile(rb'R1LEAK[0-9a-f]{32}')\n"
    "    for line in open('/proc/self/maps'):\n"
    "        f = line.split()\n"
    "        path = f[5] if len(f) > 5 else ''\n"
    "        # data lives in writable or anonymous memory; read-only file mappings are code and constants\n"
    "        if 'r' not in f[1] or path in ('[vvar]', '[vsyscall]') or ('w' not in f[1] and path):\n"
    "            continue\n"
    "        a, b = (int(x, 16) for x in f[0].split('-'))\n"
    "        try:\n"
    "            data = ctypes.string_at(a, b - a)\n"
    "        except Exception:\n"
    "            continue\n"
    "        found.update(m.decode() for m in pattern.findall(data))\n"
    "    return sorted(found)\n";

std::string hex32(uint64_t x) {
  std::ostringstream s;
  s << std::hex << std::setfill('0') << std::setw(32) << x;
  return s.str();
}

}  // namespace

TEST_CASE("hostile: a run's memory holds no test, expected output or earlier job", "[sandbox][hostile]") {
  r1::sandbox::SandboxOptions one;
  one.workers = 1;  // every job on the same slot, forked from the same zygote
  r1::sandbox::Sandbox slot(one);
  std::string earlier = marker("R1LEAK").substr(0, 6 + 32), test_marker = marker("R1LEAK").substr(0, 6 + 32),
              output_marker = marker("R1LEAK").substr(0, 6 + 32);
  const uint64_t own = 0x5eed1234abcdULL;
  const std::string own_marker = "R1LEAK" + hex32(own);
  json limits = {{"memory_mb", 512}, {"cpu_s", 5}, {"wall_s", 10}};
  // An earlier job, with its marker in both its test and its expected output.
  json first = make_job("python", "def f(x):\n    return x + 1\n",
                        function("f", "# " + earlier + "\n" + kFunctionTest), limits);
  json first_stdio = make_job("python", "print(1)", stdio(earlier), limits);
  // The function candidate returns what it found; the test expects exactly its own marker.
  json second = make_job("python",
                         std::string(kScanMemory) + "def f(x):\n    mine = 'R1LEAK' + format(x, '032x')\n"
                                                    "    return scan()\n",
                         function("f", "# " + test_marker + "\ndef check(candidate):\n    assert candidate(" +
                                           std::to_string(own) + ") == ['" + own_marker + "']\n"),
                         limits);
  // The stdio candidate exits 3 when it finds anything but its own marker, else prints its findings.
  json third = make_job("python",
                        std::string(kScanMemory) + "import sys\nmine = 'R1LEAK' + format(" + std::to_string(own) +
                            ", '032x')\nfound = scan()\nif found != [mine]:\n    sys.stderr.write(repr(found))\n"
                            "    sys.exit(3)\nprint(' '.join(found))\n",
                        stdio(output_marker), limits);
  auto results = slot.run_batch({first, first_stdio, second, third});
  REQUIRE(results.size() == 4);
  CHECK(verdict(results[0]) == "AC");
  CHECK(verdict(results[1]) == "WA");
  INFO(results[2].dump());
  CHECK(verdict(results[2]) == "AC");
  INFO(results[3].dump());
  CHECK(verdict(results[3]) == "WA");  // its own marker only: not the expected output
  CHECK(results[3]["detail"].get<std::string>().find("line 1 differs") != std::string::npos);
}

// A zygote killed between jobs (from outside the sandbox) costs nothing: its server starts another for
// the next job, which is judged, and removes the cgroup the dead one could not.
TEST_CASE("hostile: a zygote killed between jobs", "[sandbox][hostile]") {
  REQUIRE(sandbox().run_json(honest_job()).value("verdict", "") == "AC");
  std::vector<long> killed;
  for (const std::string& name : list_dir("/proc")) {
    if (!all_digits(name)) continue;
    ProcInfo z, server;
    if (!proc_info(std::stol(name), z) || z.cmdline.find("--zygote") == std::string::npos) continue;
    // Only this binary's: zygote -> server (r1-box --serve) -> this process.
    if (!proc_info(z.ppid, server) || server.ppid != static_cast<long>(::getpid())) continue;
    if (::kill(static_cast<pid_t>(z.pid), SIGKILL) == 0) killed.push_back(z.pid);
  }
  REQUIRE(!killed.empty());
  std::this_thread::sleep_for(std::chrono::milliseconds(100));
  for (int i = 0; i < 4; ++i) {  // every slot's server meets its dead zygote
    json r = judge_hostile(honest_job());
    CHECK(verdict(r) == "AC");
  }
  for (const std::string& dir : box_cgroups())
    for (long pid : killed) CHECK(dir.find("/r1-box-" + std::to_string(pid)) == std::string::npos);
}
