// r1-box: judges one job in a fresh sandbox. Reads the job (JSON) on stdin, writes the result (JSON)
// on stdout. `r1-box --probe` prints which protections this machine allows.
//
// The job's shape is the one `r1 sandbox run` takes (docs/sandbox.md), plus "isolation":
// "namespaces" (default) or "weak" (no namespaces; only when the user opted into it).
// The sandbox pool (sandbox/sandbox.h) keeps one `r1-box --serve` per slot, which execs its zygote
// (`r1-box --zygote`, zygote.h) and hands it each job's pipes. r1-box is single-threaded, so its
// fork()s are safe, and everything a job starts dies with the job's PID namespace.
#include <unistd.h>

#include <nlohmann/json.hpp>

#include <csignal>
#include <cstdio>
#include <exception>
#include <iostream>
#include <iterator>
#include <string>

#include "sandbox/box/job.h"
#include "sandbox/box/probe.h"
#include "sandbox/box/zygote.h"

namespace r1::sandbox::box {
namespace {

using nlohmann::json;

json judge_job(Zygote& zygote, const json& job) {
  try {
    return zygote.judge(job);
  } catch (const std::exception& e) {
    return se(std::string("sandbox: ") + e.what());
  }
}

std::string dump(const json& result) { return result.dump(-1, ' ', false, json::error_handler_t::replace); }

int print_probe() {
  auto p = probe();
  json j = {{"user_ns", p.user_ns},           {"pid_ns", p.pid_ns},
            {"net_ns", p.net_ns},             {"mount_ns", p.mount_ns},
            {"ipc_ns", p.ipc_ns},             {"uts_ns", p.uts_ns},
            {"seccomp", p.seccomp},           {"cgroup_memory", p.cgroup_memory},
            {"cgroup_pids", p.cgroup_pids},   {"cgroup_version", p.cgroup_version},
            {"separate_uids", p.separate_uids}, {"missing", p.missing}};
  std::cout << j.dump() << "\n";
  return 0;
}

// One job per line on stdin, one result per line on stdout, for as long as stdin is open. The
// sandbox pool keeps one server per slot; its zygote forks every job's box inside the slot's cgroup.
int serve() {
  Zygote zygote;
  std::string line;
  while (std::getline(std::cin, line)) {
    json job = json::parse(line, nullptr, false);
    json result = job.is_discarded() ? se("the job is not valid JSON") : judge_job(zygote, job);
    std::cout << dump(result) << std::endl;
  }
  return 0;
}

int judge_stdin() {
  std::string input((std::istreambuf_iterator<char>(std::cin)), std::istreambuf_iterator<char>());
  json job = json::parse(input, nullptr, false);
  Zygote zygote;
  json result = job.is_discarded() ? se("the job is not valid JSON") : judge_job(zygote, job);
  std::cout << dump(result) << "\n";
  return 0;
}

}  // namespace
}  // namespace r1::sandbox::box

int main(int argc, char** argv) {
  namespace box = r1::sandbox::box;
  std::signal(SIGPIPE, SIG_IGN);
  const std::string mode = argc > 1 ? argv[1] : "";
  if (mode == "--zygote") {
    ::close_range(4, ~0U, 0);
    return box::zygote_main();
  }
  // Whatever started this program may have left descriptors open (the pool's own pipes are
  // close-on-exec, core/process.h); a box that inherited another job's pipe ends would keep that job
  // from ever seeing end-of-file.
  ::close_range(3, ~0U, 0);
  if (mode == "--probe") return box::print_probe();
  if (mode == "--serve") return box::serve();
  if (argc > 1) {
    std::fprintf(stderr,
                 "usage: r1-box [--probe | --serve]\n  Judges one sandbox job: reads it as JSON on stdin, writes the result as "
                 "JSON on stdout.\n  --probe  print which protections this machine allows\n"
                 "  --serve  judge one job per line of stdin, one result per line of stdout\n");
    return mode == "--help" ? 0 : 2;
  }
  return box::judge_stdin();
}
