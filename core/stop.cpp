// SIGINT / SIGTERM as a request to stop: see stop.h.
#include "core/stop.h"

#include <unistd.h>

#include <atomic>
#include <csignal>
#include <cstring>

namespace r1 {
namespace {

std::atomic<int> requested{0};
std::atomic<int> loops{0};  // StopPoints alive
static_assert(std::atomic<int>::is_always_lock_free, "the handler may only touch a lock-free atomic");

void on_signal(int sig) {
  int none = 0;
  if (loops.load() > 0 && requested.compare_exchange_strong(none, sig)) {
    const char* text = sig == SIGINT ? "\nr1: SIGINT: stopping after the step in progress, with its checkpoint (again: at once)\n"
                                     : "\nr1: SIGTERM: stopping after the step in progress, with its checkpoint (again: at once)\n";
    ssize_t ignored = ::write(STDERR_FILENO, text, std::strlen(text));
    (void)ignored;
    return;
  }
  std::signal(sig, SIG_DFL);  // no loop to stop, or the second signal: what it does by default, now
  std::raise(sig);
}

}  // namespace

void install_stop_handlers() {
  struct sigaction action {};
  action.sa_handler = on_signal;
  sigemptyset(&action.sa_mask);
  action.sa_flags = SA_RESTART;  // reads and writes in progress carry on; loops poll at their safe points
  sigaction(SIGINT, &action, nullptr);
  sigaction(SIGTERM, &action, nullptr);
}

int stop_requested() { return requested.load(); }

StopPoints::StopPoints() { ++loops; }
StopPoints::~StopPoints() { --loops; }

void clear_stop_request() { requested.store(0); }

std::string signal_name(int sig) {
  if (sig == SIGINT) return "SIGINT";
  if (sig == SIGTERM) return "SIGTERM";
  return "signal " + std::to_string(sig);
}

}  // namespace r1
