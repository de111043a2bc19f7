// One writer per run folder: `r1 run` (rank 0 of a job) holds an exclusive lock on <run>/.lock for as
// long as it runs, so a second `r1 run` on the same folder (two terminals, two jobs that are not ranks
// of one) is refused at once instead of interleaving metrics.jsonl lines. The lock is flock(2): the
// kernel drops it when the process ends, however it ends, so a crashed run never leaves it behind.
#pragma once

#include <string>

namespace r1::run {

class RunLock {
 public:
  // Creates `dir` if needed and takes the lock; throws r1::Error naming the folder and the holder
  // (pid and host written in the lock file) when another process has it.
  explicit RunLock(const std::string& dir);
  ~RunLock();
  RunLock(const RunLock&) = delete;
  RunLock& operator=(const RunLock&) = delete;

 private:
  int fd_ = -1;
};

}  // namespace r1::run
