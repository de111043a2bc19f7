// The process of one local rollout worker, as the rollout client (client.h) runs it:
// `<r1> ... rollout serve --port 0 ...` through r1::Process (core/process.h), in its own process group
// (a terminal's Ctrl-C reaches the trainer, which stops its workers) and with SIGTERM as its
// parent-death signal (no worker outlives a crashed trainer). Its first stdout line is its address;
// every later line, and every stderr line, is logged under the worker's tag, a "[r1 LEVEL] " prefix
// keeping its level; the last stderr lines go into the errors about a start that failed. No gRPC.
#pragma once

#include <memory>
#include <string>
#include <vector>

#include "core/process.h"

namespace r1::rollout {

class LocalProcess {
 public:
  // Starts the worker; throws r1::Error "could not start rollout worker `<command>`: <why>".
  // `env`: "KEY=VALUE" set on top of this process's environment (the worker's token travels there,
  // never on a command line every user of the machine can read).
  LocalProcess(const std::string& exe, const std::vector<std::string>& args, std::string tag,
               std::vector<std::string> env = {});

  const std::string& command() const { return command_; }  // in backquotes, for messages
  int pid() const { return process_->pid(); }

  // The first stdout line; throws r1::Error when the worker exits, closes stdout or stays silent
  // for timeout_s first, or interrupt() is called.
  std::string first_line(double timeout_s);
  // Ends a first_line() waiting now or called later (the client is closing).
  void interrupt() { process_->interrupt(); }

  bool exited() { return !process_->running(); }
  // "exited with status 1", "was killed by signal 9 (Killed)", "is running".
  std::string exit_description() { return process_->describe_exit(); }
  // SIGTERM, SIGKILL after grace_s, reaped. Idempotent.
  void stop(double grace_s) { process_->stop(grace_s); }

 private:
  std::string tail() const;

  const std::string command_, tag_;
  std::unique_ptr<Process> process_;
};

// The port of "listening on <host>:<port>"; r1::Error naming the command and the line otherwise.
int parse_port(const std::string& line, const std::string& command);

}  // namespace r1::rollout
