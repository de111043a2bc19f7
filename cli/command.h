// Each `r1` subcommand lives in its own file and registers itself on the CLI11 app through one
// function declared here. Handlers throw r1::Error on failure; main() prints it as one line.
#pragma once

namespace CLI {
class App;
}
namespace r1::rewards {
struct RewardServices;
}

namespace r1::cli {

// Options every command sees (set by main before the handler runs).
struct GlobalOptions {
  int threads = 0;  // 0 = one per core
};
GlobalOptions& global_options();

// What rewards use from outside, for commands that score in this process (reward, reward-server,
// eval): the sandbox, started only if a set names the code kind (where it cannot isolate, that kind is
// refused with the reason and a pointer to `r1 sandbox info`).
rewards::RewardServices reward_services();

void add_tokenize_commands(CLI::App& app);  // tokenize, detokenize
void add_chat_command(CLI::App& app);       // render-chat
void add_bench_command(CLI::App& app);      // bench tokenizer
void add_info_command(CLI::App& app);       // info
void add_reward_command(CLI::App& app);     // reward
void add_reward_server_command(CLI::App& app);  // reward-server
void add_verify_math_command(CLI::App& app);  // verify-math
void add_sandbox_command(CLI::App& app);      // sandbox run|info
void add_model_commands(CLI::App& app);       // model init, generate
void add_model_memory_command(CLI::App& model);  // model memory (model_memory.cpp)
void add_rollout_command(CLI::App& app);      // rollout serve
void add_run_command(CLI::App& app);          // run RECIPE
void add_eval_command(CLI::App& app);         // eval --model DIR --data FILE --k K

}  // namespace r1::cli
