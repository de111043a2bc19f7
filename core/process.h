// A supervised child process: started from an executable and its arguments with the standard streams
// a caller chooses, talked to over pipes with deadlines, stopped (a signal, a grace period, SIGKILL)
// and always reaped. The rollout client's local workers, the sandbox's r1-box helpers and external
// reward programs all run through it. No LibTorch, no gRPC.
//
// - Output pipes are drained by one reader thread per process, so a child never blocks on a full
//   pipe: stdout into a buffer that read_line()/read_to_end() take from (or, after forward_stdout(),
//   line by line to a callback), stderr line by line to a callback with the last lines kept for
//   error messages. The same thread reaps the child the moment it exits (a pidfd, where the kernel
//   has them; else a poll every 200 ms).
// - Every descriptor is close-on-exec, so a child started meanwhile on another thread never holds a
//   copy of another child's pipe (which would hide that child's end-of-file).
// - A parent-death signal (PR_SET_PDEATHSIG) fires when the *thread* that forked the child ends, not
//   the process; children that ask for one are therefore forked on one long-lived thread (process.cpp).
// - Writes never raise SIGPIPE: a child that closed its stdin is Io::closed.
//
// Thread-safe, except that restart() and the destructor must not run beside other calls on the same
// object. Callbacks run on the reader thread and must not stop or destroy their own process.
#pragma once

#include <chrono>
#include <csignal>
#include <condition_variable>
#include <cstddef>
#include <deque>
#include <functional>
#include <mutex>
#include <optional>
#include <string>
#include <string_view>
#include <thread>
#include <vector>

#include "core/error.h"

namespace r1 {

struct ProcessSpec {
  enum class Stream { null, pipe, inherit };  // /dev/null, a pipe to this process, this process's own
  std::string exe;                  // a path, or a bare name looked up on $PATH
  std::vector<std::string> args;    // after argv[0], which is `exe`
  std::vector<std::string> env;     // "KEY=VALUE", set on top of this process's environment
  std::string name;                 // in messages and log lines; "" names it by its command in backquotes
  Stream in = Stream::null;         // pipe: write() and close_stdin()
  Stream out = Stream::pipe;        // pipe: read_line(), read_to_end(), forward_stdout()
  Stream err = Stream::null;        // pipe: drained, each line to on_stderr_line, the last ones kept
  std::function<void(const std::string&)> on_stderr_line;  // on the reader thread
  size_t stderr_tail_lines = 6;     // kept for stderr_tail()
  size_t max_line_bytes = 1 << 20;  // a longer stdout line is an r1::Error in read_line()
  int death_signal = 0;             // sent to the child when this process dies (0: none)
  bool own_process_group = false;   // the child leads its own group: a terminal's Ctrl-C reaches only us,
                                    // and stop() ends the whole group (what the child started too)
};

// The child could not be started: `cause` is the bare reason ("/x/y: No such file or directory"), what()
// the whole line ("could not start <name>: <cause>").
class SpawnError : public Error {
 public:
  SpawnError(const std::string& name, std::string cause)
      : Error("could not start " + name + ": " + cause), cause_(std::move(cause)) {}
  const std::string& cause() const { return cause_; }

 private:
  std::string cause_;
};

class Process {
 public:
  using Clock = std::chrono::steady_clock;
  static constexpr Clock::time_point kNoDeadline = Clock::time_point::max();

  // The outcome of one read or write.
  enum class Io { ok, timeout, closed, interrupted };
  struct ExitStatus {
    int code = -1;   // >= 0: exited with this status
    int signal = 0;  // > 0: killed by this signal
  };

  // Starts the child; throws SpawnError when it cannot (no such program, not executable, no pipes).
  explicit Process(ProcessSpec spec);
  // stop(0) (SIGTERM, then SIGKILL at once) and reaps: no zombie, no descriptor left open.
  ~Process();
  Process(const Process&) = delete;
  Process& operator=(const Process&) = delete;

  const std::string& name() const { return spec_.name; }
  int pid() const { return pid_; }
  int restarts() const { return restarts_; }

  // Writes all of `data` to the child's stdin. closed: the child closed its stdin (or exited).
  Io write(std::string_view data, Clock::time_point deadline = kNoDeadline);
  // Closes the child's stdin: it reads end-of-file once it has read what was written.
  void close_stdin();
  // The next stdout line, without its "\n" (nor a "\r" before it). closed: stdout ended before a whole
  // line (a partial one stays for read_to_end()); interrupted: interrupt() was called. Throws r1::Error
  // when the child writes a line over spec.max_line_bytes.
  Io read_line(std::string& line, Clock::time_point deadline = kNoDeadline);
  // Appends everything left on stdout to `out` until it ends (closed) or the deadline passes (timeout).
  Io read_to_end(std::string& out, Clock::time_point deadline = kNoDeadline);
  // From now on every stdout line (those already buffered first) goes to `sink` on the reader thread;
  // read_line() sees none of them.
  void forward_stdout(std::function<void(const std::string&)> sink);
  // Makes the reads waiting now, and every later one, return Io::interrupted.
  void interrupt();

  // The last stderr lines (at most spec.stderr_tail_lines), oldest first.
  std::vector<std::string> stderr_tail() const;

  // Non-blocking; reaps the child when it has exited.
  bool running();
  std::optional<ExitStatus> exit_status();
  // "exited with status 1", "was killed by signal 9 (Killed)", "is running".
  std::string describe_exit();
  // Waits until the child has exited and been reaped, and its output pipes are drained; false on timeout.
  bool wait_exit(Clock::time_point deadline = kNoDeadline);

  // Sends `first_signal` (0: none, e.g. after close_stdin()), then SIGKILL if the child has not exited
  // within grace_s; reaps it and ends the reader thread. Idempotent. Logs a warning when SIGKILL follows
  // a signal after a grace period.
  void stop(double grace_s, int first_signal = SIGTERM);
  // stop(grace_s), then the same command started afresh (restarts() counts them). Throws SpawnError,
  // leaving a process that is not running.
  void restart(double grace_s = 0);

 private:
  void spawn();
  void close_fds();
  void reader_loop();
  void take_stdout(const char* data, size_t size);
  void take_stderr(std::string& buffer, const char* data, size_t size, bool flush);
  void try_reap_locked();
  void wake_reader();

  ProcessSpec spec_;
  int pid_ = -1;
  int restarts_ = 0;
  int in_fd_ = -1, out_fd_ = -1, err_fd_ = -1, pidfd_ = -1, wake_[2] = {-1, -1};

  mutable std::mutex mutex_;
  std::condition_variable cv_;      // output arrived, stdout ended, the child exited, interrupt()
  std::mutex deliver_mutex_;        // keeps forwarded stdout lines in order
  std::string out_buffer_;
  std::function<void(const std::string&)> out_sink_;
  std::deque<std::string> err_tail_;
  bool out_closed_ = false, exited_ = false, interrupted_ = false, reader_done_ = false, stop_reader_ = false;
  int wait_status_ = 0;
  std::thread reader_;
};

// A program as a shell finds it: a name with a '/' as is, a bare name through $PATH ("" if not found).
std::string find_program(const std::string& name);

// One of r1's helper programs (r1-plugin-host): $`env_var` when set; else `name` beside the running
// program, or in the folder `sibling` next to the running program's folder (build/cli beside
// build/tests); else `built`, where the build put it; "" when none is executable.
std::string find_helper(const std::string& name, const char* env_var, const std::string& sibling, const std::string& built);

}  // namespace r1
