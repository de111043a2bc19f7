// The sandbox pool: runs untrusted code against tests, N jobs at once, each in a fresh r1-box
// (sandbox/box/: namespaces, a private root, seccomp, rlimits, cgroups). Implements Runner, so the
// code reward uses it; `r1 sandbox run` drives it with JSON lines. No LibTorch.
//
// A job (JSON, the shape `r1 sandbox run` reads; docs/sandbox.md):
//   {"language": "python"|"cpp"|"c", "code": "...", "tests": T, "limits": {"cpu_s": 2, "memory_mb": 256, ...}}
//   T = {"type": "stdio", "cases": [{"input", "output"}...], "float_tolerance"?: 1e-6}
//     | {"type": "function", "entry_point": "name", "test": "def check(candidate): ..."}
//     | {"type": "assert-main", "test": "int main() { assert(...); }"}
//     | {"type": "run", "stdin"?: ""}   (the program once; its output comes back: a tool call)
// A result: {"verdict", "passed", "total", "tests": [{"verdict", "cpu_ms", "wall_ms", "detail"?}...],
//            "cpu_ms", "wall_ms", "max_rss_kb", "detail", "output"? and "output_cut"? (run only)}.
#pragma once

#include <nlohmann/json.hpp>

#include <condition_variable>
#include <functional>
#include <memory>
#include <mutex>
#include <string>
#include <vector>

#include "sandbox/runner.h"

namespace r1::sandbox {

// Which protections this machine allows (from `r1-box --probe`).
struct Protections {
  bool user_ns = false, pid_ns = false, net_ns = false, mount_ns = false, ipc_ns = false, uts_ns = false;
  bool seccomp = false, cgroup_memory = false, cgroup_pids = false, separate_uids = false;
  std::string cgroup_version;
  std::vector<std::string> missing;
  // Namespaces and seccomp: what untrusted code needs. Without them the sandbox refuses to run.
  bool strong() const { return user_ns && pid_ns && net_ns && mount_ns && ipc_ns && uts_ns && seccomp; }
  std::string describe() const;  // a few lines for `r1 sandbox info` and the start-up log
};

struct SandboxOptions {
  size_t workers = 0;  // jobs at once; 0: one per core
  // Run even where namespaces or seccomp are missing, with only rlimits, seccomp (if any) and a temp
  // folder between the code and the machine. The CLI flag's name says what it is: --unsafe-weak-isolation.
  bool allow_weak_isolation = false;
  std::string box_path;  // the r1-box executable; "" finds it (R1_BOX, beside this program, the build tree)
};

class Sandbox : public Runner {
 public:
  struct Server;  // one `r1-box --serve` per slot (sandbox.cpp)
  // Probes the machine; throws r1::Error naming what is missing when it cannot isolate and the
  // weak mode was not asked for.
  explicit Sandbox(SandboxOptions options = {});
  ~Sandbox() override;
  // Blocks until the job is judged; at most `workers` jobs run at once across all callers.
  Result run(const Job& job) override;
  // The same on the JSON job shape; a malformed job gets an SE result naming what is wrong.
  nlohmann::json run_json(const nlohmann::json& job);
  // Judges jobs `workers` at a time and returns the results in order; progress(done, total) after each.
  std::vector<nlohmann::json> run_batch(const std::vector<nlohmann::json>& jobs,
                                        const std::function<void(size_t, size_t)>& progress = {});
  const Protections& protections() const { return protections_; }
  size_t workers() const { return workers_; }
  bool weak() const { return weak_; }

 private:
  nlohmann::json run_box(const nlohmann::json& job, Server& server);
  std::string box_;
  std::vector<std::unique_ptr<Server>> servers_;
  std::vector<size_t> free_slots_;
  Protections protections_;
  size_t workers_;
  bool weak_ = false;
  std::mutex mutex_;
  std::condition_variable slot_free_;
};

// Finds r1-box: $R1_BOX, then beside the running program, then the build tree.
std::string find_box();
Protections probe_protections(const std::string& box_path);

// The result a job gets when it cannot be judged (malformed, or the sandbox failed): SE with `why`.
nlohmann::json se_result(const std::string& why);
// "" when the job is well-formed, else what is wrong with it (key and expected type).
std::string validate_job(const nlohmann::json& job);
nlohmann::json job_to_json(const Job& job);
Result result_from_json(const nlohmann::json& result);
nlohmann::json result_to_json(const Result& result);
Verdict verdict_from_string(const std::string& s);

// A runner provider for the code reward (rewards::RewardServices::code_runner): its first call starts one
// Sandbox with these options and every later call, from any thread, shares it; a sandbox that cannot
// start throws its r1::Error on that call and again on every later one, without retrying.
std::function<std::shared_ptr<Runner>()> shared_sandbox(SandboxOptions options = {});

}  // namespace r1::sandbox
