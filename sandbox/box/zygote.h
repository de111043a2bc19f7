// The zygote: one per `r1-box --serve`, started by a fresh exec (`r1-box --zygote`) before any job is
// read, so nothing of any job is in the memory that boxes and in-process runs are forked from. It
// holds the slot's cgroup and the started Python interpreter (python_zygote.h), and launches one box
// per request (launch.h); the job and its result pass through pipes it hands on unread.
#pragma once

#include <sys/types.h>

#include <nlohmann/json.hpp>

#include <cstdint>

namespace r1::sandbox::box {

// The server → zygote request, sent with two descriptors: the job pipe's reading end and the result
// pipe's writing end.
struct ZygoteRequest {
  uint8_t isolate = 1;
  int64_t cgroup_memory_mb = 0, cgroup_pids = 0;
  double watchdog_seconds = 120;
};
struct ZygoteReply {
  uint8_t watchdog_fired = 0;
  int64_t peak_memory_kb = 0;
  char error[400] = {};  // "" when the box ran
};

// `r1-box --zygote`, fd 3 a socket to the server: serves requests until the server closes it.
int zygote_main();

// The server's side of its zygote (zygote_client.cpp): started on first use, started afresh when it died.
class Zygote {
 public:
  ~Zygote() { stop(); }
  // Judges one job in a box of the zygote's; the result object (SE when something failed).
  nlohmann::json judge(const nlohmann::json& job);

 private:
  bool start();
  // Closing the socket ends the zygote, which removes its cgroup; one that does not end is killed.
  void stop();

  int sock_ = -1, out_ = -1;
  pid_t pid_ = -1;
};

}  // namespace r1::sandbox::box
