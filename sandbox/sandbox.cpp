#include "sandbox/sandbox.h"

#include <unistd.h>

#include <atomic>
#include <cmath>
#include <filesystem>
#include <sstream>
#include <thread>

#include "core/error.h"
#include "core/log.h"
#include "core/process.h"
#include "core/thread_pool.h"

#ifndef R1_BOX_BUILD_PATH
#define R1_BOX_BUILD_PATH ""
#endif

namespace r1::sandbox {
using nlohmann::json;

json se_result(const std::string& why) {
  return json{{"verdict", "SE"}, {"passed", 0}, {"total", 0}, {"tests", json::array()}, {"cpu_ms", 0},
              {"wall_ms", 0},    {"max_rss_kb", 0}, {"detail", why}};
}

namespace {

// A result line can be long (one entry per test); no line of r1-box's is refused for its length.
constexpr size_t kMaxBoxLine = size_t{256} << 20;

ProcessSpec box_spec(const std::string& box, std::vector<std::string> args) {
  ProcessSpec spec;
  spec.exe = box;
  spec.args = std::move(args);
  spec.in = ProcessSpec::Stream::pipe;
  spec.out = ProcessSpec::Stream::pipe;
  spec.err = ProcessSpec::Stream::null;
  spec.max_line_bytes = kMaxBoxLine;
  return spec;
}

// Starts r1-box, hands it `input`, returns what it printed once it has exited. Throws SpawnError.
std::string call_box(const std::string& box, const std::vector<std::string>& args, const std::string& input) {
  Process child(box_spec(box, args));
  child.write(input);
  child.close_stdin();
  std::string out;
  child.read_to_end(out);
  child.wait_exit();
  return out;
}

}  // namespace

std::string find_box() {
  if (const char* env = std::getenv("R1_BOX"); env && *env) return env;
  std::error_code ec;
  auto self = std::filesystem::read_symlink("/proc/self/exe", ec);
  if (!ec) {
    for (auto dir : {self.parent_path(), self.parent_path().parent_path() / "sandbox"}) {
      auto candidate = dir / "r1-box";
      if (::access(candidate.c_str(), X_OK) == 0) return candidate.string();
    }
  }
  std::string built = R1_BOX_BUILD_PATH;
  if (!built.empty() && ::access(built.c_str(), X_OK) == 0) return built;
  throw Error("r1-box (the sandbox's helper) was not found beside r1; set R1_BOX to its path");
}

std::string Protections::describe() const {
  auto mark = [](bool on) { return on ? "yes" : "NO"; };
  std::ostringstream s;
  s << "namespaces: user " << mark(user_ns) << ", pid " << mark(pid_ns) << ", network " << mark(net_ns)
    << ", mount " << mark(mount_ns) << ", ipc " << mark(ipc_ns) << ", uts " << mark(uts_ns) << "\n";
  s << "seccomp-bpf filter: " << mark(seccomp) << "\n";
  s << "cgroup" << (cgroup_version.empty() ? "" : " " + cgroup_version) << ": memory " << mark(cgroup_memory)
    << ", pids " << mark(cgroup_pids) << "\n";
  s << "candidate under its own uid: " << mark(separate_uids) << "\n";
  s << "rlimits (cpu, address space, stack, file size, open files, processes): yes\n";
  for (const auto& m : missing) s << "missing: " << m << "\n";
  return s.str();
}

Protections probe_protections(const std::string& box_path) {
  std::string out;
  try {
    out = call_box(box_path, {"--probe"}, "");
  } catch (const SpawnError& e) {
    throw Error("could not start " + box_path + ": " + e.cause());
  }
  json j = json::parse(out, nullptr, false);
  if (!j.is_object()) throw Error(box_path + " --probe printed no protections report");
  Protections p;
  p.user_ns = j.value("user_ns", false);
  p.pid_ns = j.value("pid_ns", false);
  p.net_ns = j.value("net_ns", false);
  p.mount_ns = j.value("mount_ns", false);
  p.ipc_ns = j.value("ipc_ns", false);
  p.uts_ns = j.value("uts_ns", false);
  p.seccomp = j.value("seccomp", false);
  p.cgroup_memory = j.value("cgroup_memory", false);
  p.cgroup_pids = j.value("cgroup_pids", false);
  p.separate_uids = j.value("separate_uids", false);
  p.cgroup_version = j.value("cgroup_version", "");
  if (j.contains("missing") && j["missing"].is_array())
    for (const auto& m : j["missing"])
      if (m.is_string()) p.missing.push_back(m.get<std::string>());
  return p;
}

// A long-lived `r1-box --serve`: one job line in, one result line out. Each slot keeps its own, so a
// job's box is forked inside the slot's cgroup instead of being moved into a new one (~10 ms saved).
struct Sandbox::Server {
  std::unique_ptr<Process> child;  // null until started, and after stop()

  bool alive() const { return child != nullptr; }
  void start(const std::string& box) { child = std::make_unique<Process>(box_spec(box, {"--serve"})); }
  // End of input ends a server; one still running 5 s later is killed.
  void stop() {
    if (!child) return;
    child->close_stdin();
    child->stop(5, 0);
    child.reset();
  }
};

Sandbox::~Sandbox() {
  for (auto& s : servers_) s->stop();
}

Sandbox::Sandbox(SandboxOptions options)
    : box_(options.box_path.empty() ? find_box() : options.box_path),
      workers_(options.workers ? options.workers : hardware_threads()) {
  for (size_t i = 0; i < workers_; ++i) {
    servers_.push_back(std::make_unique<Server>());
    free_slots_.push_back(workers_ - 1 - i);
  }
  protections_ = probe_protections(box_);
  if (!protections_.strong()) {
    std::string missing;
    for (const auto& m : protections_.missing) missing += (missing.empty() ? "" : "; ") + m;
    if (!options.allow_weak_isolation)
      throw Error("the sandbox cannot isolate untrusted code on this machine (missing: " + missing +
                  "); refusing to run it. --unsafe-weak-isolation runs it with rlimits and a temp folder only");
    weak_ = true;
    log::warn() << "sandbox: WEAK ISOLATION: untrusted code runs without " << missing;
  }
}

std::string validate_job(const json& job) {
  if (!job.is_object()) return "a job must be a JSON object";
  for (const char* key : {"language", "code"})
    if (!job.contains(key) || !job[key].is_string()) return std::string("\"") + key + "\" must be a string";
  if (!job.contains("tests") || !job["tests"].is_object()) return "\"tests\" must be an object";
  const json& t = job["tests"];
  std::string type = t.contains("type") && t["type"].is_string() ? t["type"].get<std::string>() : "";
  if (type == "stdio") {
    if (!t.contains("cases") || !t["cases"].is_array()) return "tests.cases must be an array";
    for (size_t i = 0; i < t["cases"].size(); ++i) {
      const json& c = t["cases"][i];
      if (!c.is_object() || !c.contains("output") || !c["output"].is_string() ||
          (c.contains("input") && !c["input"].is_string()))
        return "tests.cases[" + std::to_string(i) + "] must be {\"input\": string, \"output\": string}";
    }
    if (t.contains("float_tolerance") && (!t["float_tolerance"].is_number() || t["float_tolerance"].get<double>() < 0))
      return "tests.float_tolerance must be a number >= 0";
  } else if (type == "function") {
    if (!t.contains("entry_point") || !t["entry_point"].is_string()) return "tests.entry_point must be a string";
    if (!t.contains("test") || !t["test"].is_string()) return "tests.test must be a string";
  } else if (type == "assert-main") {
    if (!t.contains("test") || !t["test"].is_string()) return "tests.test must be a string";
  } else if (type == "run") {
    if (t.contains("stdin") && !t["stdin"].is_string()) return "tests.stdin must be a string";
  } else {
    return "tests.type must be \"stdio\", \"function\", \"assert-main\" or \"run\"";
  }
  if (job.contains("limits")) {
    if (!job["limits"].is_object()) return "\"limits\" must be an object";
    for (const auto& [key, value] : job["limits"].items()) {
      static const char* known[] = {"cpu_s",   "wall_s",    "memory_mb",     "output_kb",        "disk_mb",
                                    "processes", "open_files", "compile_cpu_s", "compile_wall_s", "compile_memory_mb"};
      bool ok = false;
      for (const char* k : known) ok = ok || key == k;
      if (!ok) return "unknown limit \"" + key + "\"";
      if (!value.is_number() || value.get<double>() <= 0) return "limits." + key + " must be a positive number";
    }
    const json& l = job["limits"];
    if (l.value("memory_mb", 256.0) > 16384 || l.value("cpu_s", 2.0) > 600 || l.value("wall_s", 10.0) > 1800 ||
        l.value("disk_mb", 64.0) > 4096 || l.value("processes", 32.0) > 4096 || l.value("open_files", 64.0) > 4096)
      return "a limit is beyond what the sandbox allows (memory_mb <= 16384, cpu_s <= 600, wall_s <= 1800, "
             "disk_mb <= 4096, processes and open_files <= 4096)";
    if (l.value("open_files", 64.0) < 16) return "limits.open_files must be at least 16";
  }
  return "";
}

json Sandbox::run_box(const json& job, Server& server) {
  std::string why = validate_job(job);
  if (!why.empty()) return se_result(why);
  json request = job;
  request["isolation"] = weak_ ? "weak" : "namespaces";
  const std::string line = request.dump(-1, ' ', false, json::error_handler_t::replace);
  // A server that died (killed from outside, a crash) is restarted once for the job.
  for (int attempt = 0; attempt < 2; ++attempt) {
    try {
      if (!server.alive()) server.start(box_);
    } catch (const SpawnError& e) {
      return se_result("could not start r1-box: " + e.cause());
    }
    std::string out;
    if (server.child->write(line + "\n") == Process::Io::ok && server.child->read_line(out) == Process::Io::ok) {
      json result = json::parse(out, nullptr, false);
      if (result.is_object() && result.contains("verdict")) return result;
    }
    server.stop();
  }
  return se_result("r1-box died without a result");
}

json Sandbox::run_json(const json& job) {
  size_t slot;
  {
    std::unique_lock<std::mutex> lock(mutex_);
    slot_free_.wait(lock, [&] { return !free_slots_.empty(); });
    slot = free_slots_.back();
    free_slots_.pop_back();
  }
  json result;
  try {
    result = run_box(job, *servers_[slot]);
  } catch (const std::exception& e) {
    result = se_result(e.what());
  }
  {
    std::lock_guard<std::mutex> lock(mutex_);
    free_slots_.push_back(slot);
  }
  slot_free_.notify_one();
  return result;
}

std::vector<json> Sandbox::run_batch(const std::vector<json>& jobs, const std::function<void(size_t, size_t)>& progress) {
  std::vector<json> results(jobs.size());
  std::atomic<size_t> next{0}, done{0};
  std::mutex progress_mutex;
  auto work = [&] {
    for (size_t i; (i = next++) < jobs.size();) {
      results[i] = run_json(jobs[i]);
      size_t d = ++done;
      if (progress) {
        std::lock_guard<std::mutex> lock(progress_mutex);
        progress(d, jobs.size());
      }
    }
  };
  std::vector<std::thread> threads;
  for (size_t t = 0; t < std::min(workers_, jobs.size()); ++t) threads.emplace_back(work);
  for (auto& t : threads) t.join();
  return results;
}

Result Sandbox::run(const Job& job) { return result_from_json(run_json(job_to_json(job))); }

Verdict verdict_from_string(const std::string& s) {
  static const std::pair<const char*, Verdict> table[] = {{"AC", Verdict::AC},   {"WA", Verdict::WA},
                                                          {"TLE", Verdict::TLE}, {"MLE", Verdict::MLE},
                                                          {"OLE", Verdict::OLE}, {"RE", Verdict::RE},
                                                          {"CE", Verdict::CE},   {"SE", Verdict::SE}};
  for (const auto& [name, v] : table)
    if (s == name) return v;
  return Verdict::SE;
}

json job_to_json(const Job& job) {
  json limits = {{"cpu_s", job.limits.cpu_seconds},  {"wall_s", job.limits.wall_seconds},
                 {"memory_mb", job.limits.memory_mb}, {"output_kb", job.limits.output_kb},
                 {"disk_mb", job.limits.disk_mb},     {"processes", job.limits.processes}};
  return json{{"language", job.language}, {"code", job.source}, {"tests", job.tests}, {"limits", limits}};
}

Result result_from_json(const json& j) {
  Result r;
  r.verdict = verdict_from_string(j.value("verdict", "SE"));
  r.passed = j.value("passed", 0);
  r.total = j.value("total", 0);
  r.cpu_ms = j.value("cpu_ms", 0.0);
  r.wall_ms = j.value("wall_ms", 0.0);
  r.max_rss_kb = j.value("max_rss_kb", int64_t{0});
  r.message = j.value("detail", "");
  r.output = j.value("output", "");
  r.output_cut = j.value("output_cut", false);
  if (j.contains("tests") && j["tests"].is_array()) {
    for (const json& t : j["tests"]) {
      TestResult tr;
      tr.verdict = verdict_from_string(t.value("verdict", "SE"));
      tr.detail = t.value("detail", "");
      tr.cpu_ms = t.value("cpu_ms", 0.0);
      tr.wall_ms = t.value("wall_ms", 0.0);
      r.tests.push_back(tr);
    }
  }
  return r;
}

json result_to_json(const Result& r) {
  json tests = json::array();
  for (const TestResult& t : r.tests) {
    json x = {{"verdict", to_string(t.verdict)}, {"cpu_ms", t.cpu_ms}, {"wall_ms", t.wall_ms}};
    if (!t.detail.empty()) x["detail"] = t.detail;
    tests.push_back(x);
  }
  json out{{"verdict", to_string(r.verdict)}, {"passed", r.passed}, {"total", r.total}, {"tests", tests},
           {"cpu_ms", r.cpu_ms}, {"wall_ms", r.wall_ms}, {"max_rss_kb", r.max_rss_kb}, {"detail", r.message}};
  if (!r.output.empty() || r.output_cut) {
    out["output"] = r.output;
    out["output_cut"] = r.output_cut;
  }
  return out;
}

std::function<std::shared_ptr<Runner>()> shared_sandbox(SandboxOptions options) {
  struct Shared {
    std::mutex mutex;
    SandboxOptions options;
    std::shared_ptr<Sandbox> sandbox;
    std::string failure;  // why it could not start ("" while untried or started)
  };
  auto shared = std::make_shared<Shared>();
  shared->options = std::move(options);
  return [shared]() -> std::shared_ptr<Runner> {
    std::lock_guard<std::mutex> lock(shared->mutex);
    if (!shared->failure.empty()) throw Error(shared->failure);
    if (!shared->sandbox) {
      try {
        shared->sandbox = std::make_shared<Sandbox>(shared->options);
      } catch (const Error& e) {
        shared->failure = e.what();
        throw;
      }
    }
    return shared->sandbox;
  };
}

}  // namespace r1::sandbox
