// A graceful stop on SIGINT or SIGTERM for long work (`r1 run`): the first signal asks the running
// loop to stop at its next safe point — after the step in progress, with a checkpoint of it written —
// and a second one ends the process at once. Loops poll stop_requested() between steps and end by
// throwing Stopped, which `r1` turns into its one line and exit status 128 + the signal (130 for
// Ctrl-C, 143 for SIGTERM), as a shell expects of a command a signal stopped.
#pragma once

#include <string>

#include "core/error.h"

namespace r1 {

// Handles SIGINT and SIGTERM from now on (idempotent). The first says on stderr what it will do.
void install_stop_handlers();
// 0, or the signal that asked the process to stop.
int stop_requested();
// "SIGINT", "SIGTERM", "signal N".
std::string signal_name(int signal);
// Forgets a request (tests).
void clear_stop_request();

// While one lives (a training loop that polls between steps), the first signal is a request to stop;
// outside them there is no safe point to wait for, and a signal ends the process at once, as by
// default (a stage that only samples keeps nothing a rerun would not redo).
class StopPoints {
 public:
  StopPoints();
  ~StopPoints();
  StopPoints(const StopPoints&) = delete;
  StopPoints& operator=(const StopPoints&) = delete;
};

class Stopped : public Error {
 public:
  Stopped(const std::string& what, int signal) : Error(what), signal_(signal) {}
  int signal() const { return signal_; }

 private:
  int signal_;
};

}  // namespace r1
