// A long-running program spoken to in JSON lines (core/process.h underneath): one request line on its
// stdin, one reply line on its stdout, each exchange with a deadline. External reward programs and the
// reward plugin host (rewards/external.cpp), external tools and the tool plugin host
// (tools/external_tool.cpp) run through it. No LibTorch, no gRPC.
//
// - Each request carries an "id"; a reply echoing another id is a stale one (for an earlier request that
//   timed out) and is passed over. A program whose replies carry no id must answer each request with
//   exactly one line: has_unasked_line() finds a line waiting before a request is sent, and the caller
//   restarts it rather than let that line be read as the next request's reply.
// - A program that announces itself (ready_line) first writes {"ready": true}, or {"error": "..."}
//   and exits; the constructor waits for that line (30 s).
// - The program leads its own process group: the destructor kills the whole group (SIGKILL), so a
//   child it started that ignores SIGTERM does not outlive it.
//
// Not thread-safe: callers serialise exchanges on one LineChild.
#pragma once

#include <nlohmann/json.hpp>

#include <cstdint>
#include <memory>
#include <string>
#include <vector>

#include "core/process.h"

namespace r1 {

struct LineChildOptions {
  std::vector<std::string> command;  // program and arguments; a bare program name is looked up on $PATH
  std::string what = "program";      // how messages name it: "reward program", "tool 'search'"
  bool ready_line = false;           // the program first writes {"ready": true} (or {"error": ...})
  size_t max_line_bytes = 1 << 20;   // a longer reply line is an r1::Error (LineTooLong)
};

// A reply line over LineChildOptions::max_line_bytes (the rest of it is unread: restart the program).
class LineTooLong : public Error {
 public:
  using Error::Error;
};

class LineChild {
 public:
  using Clock = Process::Clock;

  // Starts the program (and waits for its ready line). Throws r1::Error: "<what> 'x' not found on PATH",
  // "<what> 'x' did not start: ...", the program's own {"error": ...} message.
  explicit LineChild(const LineChildOptions& options);
  ~LineChild();
  LineChild(const LineChild&) = delete;
  LineChild& operator=(const LineChild&) = delete;

  // Writes `line` (a request carrying "id": id) and reads its reply before the deadline: false on
  // timeout. Throws r1::Error when the program closed its input or exited ("<what> exited (exit status
  // 3)"), writes a line that is not JSON ("malformed reply from <what>: ..."), or one over the cap
  // (LineTooLong). Replies echoing another id are skipped.
  bool exchange(uint64_t id, const std::string& line, Clock::time_point deadline, nlohmann::json& reply, std::string& text);

  // Reads, without waiting, the lines the program wrote that no request asked for: those echoing an id
  // are stale replies, dropped; true when one carries no id (the next reply could not be told from it).
  bool has_unasked_line();

  // "exit status 3", "killed by signal 11 (Segmentation fault)", "still running".
  std::string status();
  int pid() const { return process_->pid(); }

 private:
  void await_ready();

  std::string what_;
  std::unique_ptr<Process> process_;
};

}  // namespace r1
