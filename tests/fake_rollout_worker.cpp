// fake_rollout_worker: the FakeRollout of fake_rollout_worker.h behind the local worker's command line
// (rollout/worker_options.h's worker_command, then the test's own flags),
//   fake_rollout_worker [-q] rollout serve --model M [--host 127.0.0.1] [--port P] [--token T] [--delay-ms N] [--version V]
//                                     [--exit-early | --silent | --bad-line]
// with the token, as `r1 rollout serve` takes it, from --token or else $R1_ROLLOUT_TOKEN.
// It prints "listening on 127.0.0.1:<port>" as its first stdout line and serves until SIGTERM or
// SIGINT. --exit-early exits with status 3 before listening, --silent never prints its address,
// --bad-line prints something else first; each says so on stderr.
#include <signal.h>
#include <unistd.h>

#include <cstdio>
#include <cstdlib>
#include <string>

#include "tests/fake_rollout_worker.h"

int main(int argc, char** argv) {
  // Blocked before gRPC starts its threads, so only sigwait below sees them.
  sigset_t stop;
  sigemptyset(&stop);
  sigaddset(&stop, SIGTERM);
  sigaddset(&stop, SIGINT);
  pthread_sigmask(SIG_BLOCK, &stop, nullptr);

  r1::test::FakeConfig config;
  int port = 0;
  if (const char* t = std::getenv("R1_ROLLOUT_TOKEN")) config.token = t;
  std::string mode;
  for (int i = 1; i < argc; ++i) {
    std::string a = argv[i];
    auto value = [&]() -> std::string {
      if (i + 1 >= argc) {
        std::fprintf(stderr, "fake worker: %s needs a value\n", a.c_str());
        std::exit(2);
      }
      return argv[++i];
    };
    if (a == "rollout" || a == "serve" || a == "-q") continue;
    if (a == "--model") {
      value();  // the fake serves no model
      continue;
    }
    if (a == "--port") port = std::stoi(value());
    else if (a == "--token") config.token = value();
    else if (a == "--host") {
      if (value() != "127.0.0.1") {
        std::fprintf(stderr, "fake worker: it listens on 127.0.0.1 only\n");
        return 2;
      }
    }
    else if (a == "--delay-ms") config.delay_ms = std::stoi(value());
    else if (a == "--version") config.version = std::stoull(value());
    else if (a == "--exit-early" || a == "--silent" || a == "--bad-line") mode = a;
    else {
      std::fprintf(stderr, "fake worker: unknown argument %s\n", a.c_str());
      return 2;
    }
  }
  std::fprintf(stderr, "fake worker pid %d\n", static_cast<int>(::getpid()));
  if (mode == "--exit-early") {
    std::fprintf(stderr, "fake worker: told to exit before listening\n");
    return 3;
  }
  r1::test::FakeServer server(config, port);
  if (!server.server) {
    std::fprintf(stderr, "fake worker: could not listen\n");
    return 1;
  }
  if (mode == "--silent") {
    std::fprintf(stderr, "fake worker: keeping quiet about port %d\n", server.port);
  } else if (mode == "--bad-line") {
    std::printf("ready at port %d\n", server.port);
  } else {
    std::printf("listening on 127.0.0.1:%d\n", server.port);
  }
  std::fflush(stdout);
  int sig = 0;
  sigwait(&stop, &sig);
  server.shutdown(1000);
  return 0;
}
