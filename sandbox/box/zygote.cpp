#include "sandbox/box/zygote.h"

#include <sys/prctl.h>
#include <unistd.h>

#include <cstdio>
#include <exception>
#include <string>
#include <vector>

#include "sandbox/box/box.h"
#include "sandbox/box/cgroup.h"
#include "sandbox/box/io.h"
#include "sandbox/box/judge.h"
#include "sandbox/box/judge_py.h"
#include "sandbox/box/launch.h"
#include "sandbox/box/python_zygote.h"
#include "sandbox/box/spawn.h"

namespace r1::sandbox::box {
namespace {

using nlohmann::json;

// The job in a box: checked, then judged; an SE result for what is wrong with it.
json judge_in_box(const InsideContext& context, const json& job) {
  if (job.is_discarded()) return se("the job is not valid JSON");
  if (const char* bad = validate(job)) return se(bad);
  const Language* lang = find_language(job["language"].get<std::string>());
  if (!lang) return se("unknown language '" + job["language"].get<std::string>() + "'");
  JobLimits limits = read_limits(job);
  Box::Options o;
  o.isolate = job.value("isolation", "namespaces") != "weak";
  o.binds = lang->binds;
  o.disk_mb = limits.disk_mb;
  o.oom_events_fd = context.oom_fd;
  o.separate_uids = context.separate_uids;
  o.spawn_fd = context.spawn_fd;
  Box box(o);
  Judge judge(box, *lang, job, limits);
  return to_json(judge.run());
}

// The box's pid 1: reads the job from the fd in `arg`, judges it, writes the result.
int inside(const InsideContext& context, void* arg) {
  ::prctl(PR_SET_DUMPABLE, 0, 0, 0, 0);  // the candidate cannot read this process's memory (the tests)
  const int job_fd = *static_cast<int*>(arg);
  json result;
  try {
    json job = json::parse(read_to_end(job_fd, 1u << 30), nullptr, false);
    ::close(job_fd);
    result = judge_in_box(context, job);
  } catch (const std::exception& e) {
    result = se(std::string("sandbox: ") + e.what());
  }
  write_all(context.result_fd, result.dump(-1, ' ', false, json::error_handler_t::replace));
  return 0;
}

void run_python_entry(int entry, const std::vector<std::string>& argv) {
  python_run(static_cast<PythonEntry>(entry), argv);
}

// Starts the interpreter the Python runs are forked from; without it, each starts python3.
void start_python() {
  std::vector<std::string> preload;
  for (const char* name : {"python"}) {
    const Language* l = find_language(name);
    if (l && l->in_process) preload.insert(preload.end(), l->preload.begin(), l->preload.end());
  }
  std::string error;
  if (python_start(preload, kJudgePy, &error)) {
    set_in_process_runner(run_python_entry, python_address_space_mb());
  } else {
    std::fprintf(stderr, "r1-box: %s; each Python run starts python3 instead\n", error.c_str());
  }
}

// One box for one request: the job is read and the result written by the box's pid 1.
ZygoteReply serve_request(const ZygoteRequest& req, Cgroup& slot, int job_fd, int result_fd) {
  ZygoteReply reply;
  Launch options;
  options.isolate = req.isolate != 0;
  options.slot = slot.active() ? &slot : nullptr;
  options.cgroup_memory_mb = req.cgroup_memory_mb;
  options.cgroup_pids = req.cgroup_pids;
  options.watchdog_seconds = req.watchdog_seconds;
  options.result_fd = result_fd;
  try {
    Launched done = launch(options, inside, &job_fd);
    reply.watchdog_fired = done.watchdog_fired;
    reply.peak_memory_kb = done.peak_memory_kb;
  } catch (const std::exception& e) {
    std::snprintf(reply.error, sizeof reply.error, "%s", e.what());
  }
  return reply;
}

}  // namespace

int zygote_main() {
  Cgroup slot;
  slot.create(256, 64);
  if (slot.active()) slot.join();
  start_python();
  for (;;) {
    ZygoteRequest req;
    int fds[2];
    int nfds = 0;
    ssize_t n = recv_message(3, &req, sizeof req, fds, 2, &nfds);
    if (n <= 0) return 0;  // the server is gone
    ZygoteReply reply;
    if (n != static_cast<ssize_t>(sizeof req) || nfds != 2) {
      std::snprintf(reply.error, sizeof reply.error, "a malformed request to the zygote");
    } else {
      reply = serve_request(req, slot, fds[0], fds[1]);
    }
    for (int i = 0; i < nfds; ++i) ::close(fds[i]);
    if (!send_message(3, &reply, sizeof reply, nullptr, 0)) return 0;
  }
}

}  // namespace r1::sandbox::box
