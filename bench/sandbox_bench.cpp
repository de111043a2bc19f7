#include "bench/sandbox_bench.h"

#include <fcntl.h>
#include <spawn.h>
#include <sys/wait.h>
#include <unistd.h>

#include <atomic>
#include <chrono>
#include <cstdio>
#include <filesystem>
#include <fstream>
#include <functional>
#include <map>
#include <thread>

#include "core/error.h"
#include "core/jsonl.h"
#include "core/thread_pool.h"
#include "sandbox/sandbox.h"

extern char** environ;

namespace r1::bench {
namespace {

using nlohmann::json;
using Clock = std::chrono::steady_clock;

double seconds_since(Clock::time_point t) { return std::chrono::duration<double>(Clock::now() - t).count(); }

// Runs argv with stdin from a file and stdout/stderr to /dev/null; the exit status.
int run_bare(const std::vector<std::string>& argv, const std::string& stdin_path) {
  posix_spawn_file_actions_t actions;
  posix_spawn_file_actions_init(&actions);
  posix_spawn_file_actions_addopen(&actions, 0, stdin_path.empty() ? "/dev/null" : stdin_path.c_str(), O_RDONLY, 0);
  posix_spawn_file_actions_addopen(&actions, 1, "/dev/null", O_WRONLY, 0);
  posix_spawn_file_actions_addopen(&actions, 2, "/dev/null", O_WRONLY, 0);
  std::vector<char*> args;
  for (const auto& a : argv) args.push_back(const_cast<char*>(a.c_str()));
  args.push_back(nullptr);
  pid_t pid = 0;
  int rc = posix_spawn(&pid, args[0], &actions, nullptr, args.data(), environ);
  posix_spawn_file_actions_destroy(&actions);
  if (rc != 0) return -1;
  int status = 0;
  waitpid(pid, &status, 0);
  return WIFEXITED(status) ? WEXITSTATUS(status) : -1;
}

// n tasks over `workers` threads; the wall time.
double timed_parallel(size_t n, size_t workers, const std::function<void(size_t)>& task) {
  std::atomic<size_t> next{0};
  auto start = Clock::now();
  std::vector<std::thread> threads;
  for (size_t t = 0; t < workers; ++t)
    threads.emplace_back([&] {
      for (size_t i; (i = next++) < n;) task(i);
    });
  for (auto& t : threads) t.join();
  return seconds_since(start);
}

// Small competitive-programming programs with their input and expected output.
struct CppProgram {
  const char* code;
  const char* input;
  const char* output;
};
const CppProgram kCpp[] = {
    {"#include <cstdio>\nint main(){long long a,b;if(scanf(\"%lld %lld\",&a,&b)!=2)return 1;printf(\"%lld\\n\",a+b);}",
     "20 22\n", "42\n"},
    {"#include <iostream>\n#include <vector>\n#include <algorithm>\nint main(){int n;std::cin>>n;std::vector<int> v(n);"
     "for(auto&x:v)std::cin>>x;std::sort(v.begin(),v.end());for(int x:v)std::cout<<x<<' ';std::cout<<'\\n';}",
     "5\n3 1 4 1 5\n", "1 1 3 4 5\n"},
    {"#include <cstdio>\nint main(){int n;scanf(\"%d\",&n);long long f[90]={0,1};for(int i=2;i<=n;i++)f[i]=f[i-1]+f[i-2];"
     "printf(\"%lld\\n\",f[n]);}",
     "50\n", "12586269025\n"},
    {"#include <string>\n#include <iostream>\n#include <algorithm>\nint main(){std::string s;std::cin>>s;"
     "std::reverse(s.begin(),s.end());std::cout<<s<<\"\\n\";}",
     "sandbox\n", "xobdnas\n"},
};

}  // namespace

void run_sandbox_bench(const SandboxBenchOptions& options) {
  sandbox::SandboxOptions so;
  so.workers = options.workers;
  sandbox::Sandbox box(so);
  const size_t workers = box.workers();
  std::string data = std::string(R1_SOURCE_DIR) + "/tests/data/humaneval.jsonl";
  std::ifstream in(data, std::ios::binary);
  if (!in) throw Error(data + ": cannot open");
  JsonLinesReader reader(in, data);
  std::vector<json> rows;
  json row;
  while (reader.next(row)) rows.push_back(row);

  std::string dir = "/tmp/r1_bench_sandbox_" + std::to_string(::getpid());
  std::filesystem::create_directories(dir);
  std::printf("r1 bench sandbox (%zu jobs at once; protections: %s)\n", workers,
              box.protections().strong() ? "namespaces, seccomp, rlimits, cgroups" : "WEAK");

  // ---- Python: HumanEval canonical solutions, function tests ----
  std::vector<json> py_jobs;
  for (size_t i = 0; i < options.python_jobs; ++i) {
    const json& r = rows[i % rows.size()];
    std::string code = r["prompt"].get<std::string>() + r["canonical_solution"].get<std::string>();
    py_jobs.push_back({{"language", "python"},
                       {"code", code},
                       {"tests", {{"type", "function"}, {"entry_point", r["entry_point"]}, {"test", r["test"]}}}});
    std::ofstream(dir + "/py" + std::to_string(i % rows.size()) + ".py")
        << code << "\n\n" << r["test"].get<std::string>() << "\n\ncheck(" << r["entry_point"].get<std::string>() << ")\n";
  }
  std::map<std::string, size_t> verdicts;
  auto t0 = Clock::now();
  auto py_results = box.run_batch(py_jobs);
  double py_sandbox = seconds_since(t0);
  for (const auto& r : py_results) ++verdicts[r.value("verdict", "SE")];
  std::atomic<size_t> bare_failed{0};
  double py_bare = timed_parallel(options.python_jobs, workers, [&](size_t i) {
    if (run_bare({"/usr/bin/python3", dir + "/py" + std::to_string(i % rows.size()) + ".py"}, "") != 0) ++bare_failed;
  });
  double py_rate = static_cast<double>(options.python_jobs) / py_sandbox;
  std::printf("  python     %zu function-test jobs (HumanEval): %6.1f jobs/s sandboxed, %6.1f jobs/s bare"
              "   overhead %.2fx   (goal: >= 40 jobs/s, <= 1.3x)\n",
              options.python_jobs, py_rate, static_cast<double>(options.python_jobs) / py_bare, py_sandbox / py_bare);

  // ---- C++: compile and run against stdin/stdout ----
  std::vector<json> cpp_jobs;
  const size_t kinds = sizeof kCpp / sizeof kCpp[0];
  for (size_t i = 0; i < options.cpp_jobs; ++i) {
    const CppProgram& p = kCpp[i % kinds];
    cpp_jobs.push_back({{"language", "cpp"},
                        {"code", p.code},
                        {"tests", {{"type", "stdio"}, {"cases", json::array({{{"input", p.input}, {"output", p.output}}})}}}});
  }
  for (size_t k = 0; k < kinds; ++k) {
    std::ofstream(dir + "/c" + std::to_string(k) + ".cpp") << kCpp[k].code;
    std::ofstream(dir + "/c" + std::to_string(k) + ".in") << kCpp[k].input;
  }
  t0 = Clock::now();
  auto cpp_results = box.run_batch(cpp_jobs);
  double cpp_sandbox = seconds_since(t0);
  for (const auto& r : cpp_results) ++verdicts[r.value("verdict", "SE")];
  double cpp_bare = timed_parallel(options.cpp_jobs, workers, [&](size_t i) {
    size_t k = i % kinds;
    std::string exe = dir + "/bin" + std::to_string(i);
    if (run_bare({"/usr/bin/g++", "-std=gnu++17", "-O2", "-pipe", "-o", exe, dir + "/c" + std::to_string(k) + ".cpp", "-lm"}, "") != 0 ||
        run_bare({exe}, dir + "/c" + std::to_string(k) + ".in") != 0)
      ++bare_failed;
  });
  std::printf("  c++        %zu compile-and-run jobs:             %6.2f jobs/s sandboxed, %6.2f jobs/s bare"
              "   overhead %.2fx\n",
              options.cpp_jobs, static_cast<double>(options.cpp_jobs) / cpp_sandbox,
              static_cast<double>(options.cpp_jobs) / cpp_bare, cpp_sandbox / cpp_bare);
  std::string summary;
  for (const auto& [v, n] : verdicts) summary += " " + v + " " + std::to_string(n);
  std::printf("  verdicts  %s   (every job should be AC; bare runs failed: %zu)\n", summary.c_str(), bare_failed.load());
  std::filesystem::remove_all(dir);
}

}  // namespace r1::bench
