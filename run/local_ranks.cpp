// The one-machine launcher: see local_ranks.h.
#include "run/local_ranks.h"

#include <arpa/inet.h>
#include <netinet/in.h>
#include <sys/socket.h>
#include <unistd.h>

#include <algorithm>
#include <chrono>
#include <csignal>
#include <memory>
#include <thread>

#include "core/error.h"
#include "core/log.h"
#include "core/process.h"
#include "core/stop.h"

namespace r1::run {

int free_local_port() {
  const int fd = ::socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
  if (fd < 0) throw Error("cannot open a socket to find a free port");
  sockaddr_in addr{};
  addr.sin_family = AF_INET;
  addr.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
  addr.sin_port = 0;
  socklen_t len = sizeof addr;
  const bool ok = ::bind(fd, reinterpret_cast<sockaddr*>(&addr), sizeof addr) == 0 &&
                  ::getsockname(fd, reinterpret_cast<sockaddr*>(&addr), &len) == 0;
  ::close(fd);
  if (!ok) throw Error("cannot find a free port on 127.0.0.1");
  return ntohs(addr.sin_port);
}

int run_local_ranks(const LocalRanks& job) {
  if (job.nproc < 1) throw ConfigError("--nproc-per-node: must be >= 1");
  const int port = free_local_port();
  std::vector<std::unique_ptr<Process>> ranks;
  for (int r = 0; r < job.nproc; ++r) {
    ProcessSpec spec;
    spec.exe = job.exe;
    if (job.threads_per_rank > 0) spec.args = {"--threads", std::to_string(job.threads_per_rank)};
    spec.args.insert(spec.args.end(), job.args.begin(), job.args.end());
    spec.env = {"RANK=" + std::to_string(r), "WORLD_SIZE=" + std::to_string(job.nproc), "LOCAL_RANK=" + std::to_string(r),
                "LOCAL_WORLD_SIZE=" + std::to_string(job.nproc), "GROUP_RANK=0", "MASTER_ADDR=127.0.0.1",
                "MASTER_PORT=" + std::to_string(port)};
    spec.name = "rank " + std::to_string(r);
    spec.out = ProcessSpec::Stream::inherit;
    spec.err = ProcessSpec::Stream::inherit;
    spec.death_signal = SIGTERM;  // the launcher gone: its ranks go too
    spec.own_process_group = true;  // a terminal's Ctrl-C reaches the launcher, which passes it on once
    ranks.push_back(std::make_unique<Process>(spec));
  }
  log::info() << "launched " << job.nproc << " ranks on 127.0.0.1:" << port;
  // SIGINT / SIGTERM: every rank is asked once (SIGTERM) to stop after its step, with a checkpoint, and
  // the launcher waits for them; a second signal ends the launcher, and its ranks then at once.
  install_stop_handlers();
  const StopPoints stop_points;
  int forwarded = 0;
  // Wait for every rank; the first failure stops the others. A rank killed by a signal is named first:
  // the ranks that lose their peer exit with an error moments later, and the poll may see both at once.
  for (;;) {
    if (const int sig = stop_requested(); sig && !forwarded) {
      forwarded = sig;
      for (auto& rank : ranks)
        if (rank->running()) ::kill(rank->pid(), SIGTERM);
    }
    bool all_done = true;
    std::vector<int> failed;
    for (int r = 0; r < job.nproc; ++r) {
      const auto status = ranks[static_cast<size_t>(r)]->exit_status();
      if (!status) all_done = false;
      else if (status->code != 0 && !(forwarded && (status->code == 128 + SIGTERM || status->signal == SIGTERM)))
        failed.push_back(r);  // a rank the forwarded signal stopped (gracefully, or at once outside a loop) did not fail
    }
    if (!failed.empty()) {
      std::stable_partition(failed.begin(), failed.end(),
                            [&](int r) { return ranks[static_cast<size_t>(r)]->exit_status()->signal > 0; });
      std::string how;
      for (int r : failed)
        how += (how.empty() ? "" : "; ") + std::string("rank ") + std::to_string(r) + " " + ranks[static_cast<size_t>(r)]->describe_exit();
      log::error() << how << "; stopping the other ranks";
      for (auto& other : ranks) other->stop(job.grace_s);
      throw Error(how);
    }
    if (all_done && forwarded)
      throw Stopped("stopped by " + signal_name(forwarded) + ": every rank has stopped (a training stage after the same "
                    "step, with its checkpoint): run the same command again to resume", forwarded);
    if (all_done) return 0;
    std::this_thread::sleep_for(std::chrono::milliseconds(100));
  }
}

}  // namespace r1::run
