// The one `r1` executable. Subcommands register themselves (see command.h); errors from any of
// them end here as a single "r1: error: ..." line and a non-zero exit status.
#include <CLI/CLI.hpp>

#include <cstdio>
#include <exception>

#include "cli/command.h"
#include "core/error.h"
#include "core/log.h"
#include "core/stop.h"

namespace r1::cli {
GlobalOptions& global_options() {
  static GlobalOptions options;
  return options;
}
}  // namespace r1::cli

int main(int argc, char** argv) {
  CLI::App app{"r1: reinforcement-learning post-training of language models (GRPO, R1-Zero, R1)", "r1"};
  app.set_version_flag("--version", "r1 0.1.0");
  app.require_subcommand(1);
  bool quiet = false, verbose = false;
  app.add_flag("-q,--quiet", quiet, "Only print errors");
  app.add_flag("-v,--verbose", verbose, "Print debug messages");
  app.add_option("--threads", r1::cli::global_options().threads, "Worker threads (default: one per core)")
      ->check(CLI::NonNegativeNumber);
  app.parse_complete_callback([&] {
    r1::log::set_level(quiet ? r1::log::Level::error : verbose ? r1::log::Level::debug : r1::log::Level::info);
  });

  r1::cli::add_tokenize_commands(app);
  r1::cli::add_chat_command(app);
  r1::cli::add_bench_command(app);
  r1::cli::add_info_command(app);
  r1::cli::add_reward_command(app);
  r1::cli::add_reward_server_command(app);
  r1::cli::add_verify_math_command(app);
  r1::cli::add_sandbox_command(app);
  r1::cli::add_model_commands(app);
  r1::cli::add_rollout_command(app);
  r1::cli::add_run_command(app);
  r1::cli::add_eval_command(app);

  try {
    app.parse(argc, argv);
  } catch (const CLI::ParseError& e) {
    return app.exit(e);
  } catch (const r1::Stopped& e) {  // SIGINT / SIGTERM: stopped where it could resume
    std::fprintf(stderr, "r1: %s\n", e.what());
    return 128 + e.signal();
  } catch (const r1::Error& e) {
    std::fprintf(stderr, "r1: error: %s\n", e.what());
    return 1;
  } catch (const std::exception& e) {
    std::fprintf(stderr, "r1: error: %s\n", e.what());
    return 1;
  }
  return 0;
}
