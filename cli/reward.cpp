// r1 reward --config FILE: JSON lines of samples in ({"prompt", "completion", "target_language",
// "completion_tokens", reference fields...}), JSON lines of scores out ({"reward", "components",
// "reason"}), in input order. Scoring runs on the thread pool with each reward's time budget.
#include <CLI/CLI.hpp>

#include <fstream>
#include <iostream>
#include <map>

#include "cli/command.h"
#include "core/config.h"
#include "core/error.h"
#include "core/jsonl.h"
#include "core/log.h"
#include "rewards/remote.h"
#include "rewards/reward_set.h"
#include "rewards/scorer.h"
#include "sandbox/sandbox.h"

namespace r1::cli {

rewards::RewardServices reward_services() {
  return {sandbox::shared_sandbox({static_cast<size_t>(global_options().threads)})};
}

namespace {

struct RewardCommandOptions {
  std::string config;
  std::string input = "-";
};

void run_reward(const RewardCommandOptions& opt) {
  auto set = std::make_shared<rewards::RewardSet>(rewards::RewardSet::from_json(read_json_file(opt.config), opt.config, reward_services()));
  rewards::BatchScorer scorer(set, static_cast<size_t>(global_options().threads));
  std::ifstream file;
  if (opt.input != "-") {
    file.open(opt.input, std::ios::binary);
    if (!file) throw Error(opt.input + ": cannot open");
  }
  JsonLinesReader reader(opt.input == "-" ? std::cin : file, opt.input == "-" ? "<stdin>" : opt.input);
  std::vector<rewards::Sample> batch;
  std::map<std::string, size_t> failures;
  size_t scored = 0;
  auto flush = [&] {
    rewards::BatchStats stats;
    for (const auto& score : scorer.score(batch, &stats)) std::cout << to_json_line(rewards::score_to_json(score)) << '\n';
    std::cout.flush();
    for (const auto& [component, n] : stats.failures) failures[component] += n;
    scored += batch.size();
    batch.clear();
  };
  nlohmann::json row;
  for (;;) {
    bool more;
    try {
      more = reader.next(row);
      if (more) batch.push_back(rewards::sample_from_json(row));
    } catch (const ConfigError& e) {
      flush();  // everything before the bad line is written first
      std::string what = e.what();
      throw Error(what.rfind(reader.source(), 0) == 0 ? what : reader.where() + what);
    }
    if (!more) break;
    if (batch.size() == 256) flush();
  }
  flush();
  for (const auto& [component, n] : failures) {
    log::warn() << "reward '" << component << "' failed (error or timeout) on " << n << " of " << scored << " samples";
  }
}

}  // namespace

void add_reward_command(CLI::App& app) {
  auto opt = std::make_shared<RewardCommandOptions>();
  auto* cmd = app.add_subcommand("reward", "Score JSON lines of samples with the rewards of a config");
  cmd->add_option("--config", opt->config, "JSON file: a reward set, [{\"kind\": ..., \"weight\": ...}, ...] (docs/rewards.md)")
      ->required();
  cmd->add_option("--input", opt->input, "JSON-lines file of samples (default: stdin)");
  cmd->callback([opt] { run_reward(*opt); });
}

}  // namespace r1::cli

namespace r1::cli {

void add_reward_server_command(CLI::App& app) {
  struct Options {
    std::string config, host = "127.0.0.1", token;
    int port = 0;
  };
  auto opt = std::make_shared<Options>();
  auto* cmd = app.add_subcommand("reward-server", "Serve the rewards of a config over gRPC (proto/reward.proto)");
  cmd->add_option("--config", opt->config, "JSON file: a reward set, [{\"kind\": ...}, ...]")->required();
  cmd->add_option("--host", opt->host, "Address to bind (default 127.0.0.1)");
  cmd->add_option("--port", opt->port, "Port (0: pick a free one; printed on the first line)")->check(CLI::Range(0, 65535));
  cmd->add_option("--token", opt->token, "Shared token every call must carry (r1-token metadata)");
  cmd->callback([opt] {
    auto set = std::make_shared<rewards::RewardSet>(rewards::RewardSet::from_json(read_json_file(opt->config), opt->config, reward_services()));
    rewards::RewardServer server(set, opt->host, opt->port, opt->token, static_cast<size_t>(global_options().threads));
    std::cout << "port " << server.port() << std::endl;
    log::info() << "serving rewards of " << opt->config << " on " << opt->host << ":" << server.port();
    server.wait();
  });
}

}  // namespace r1::cli
