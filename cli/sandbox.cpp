// r1 sandbox run: JSON lines of jobs in, JSON lines of results out, in order (docs/sandbox.md).
// r1 sandbox info: which protections this machine gives the sandbox.
#include <CLI/CLI.hpp>

#include <fstream>
#include <iostream>
#include <map>

#include "cli/command.h"
#include "core/error.h"
#include "core/log.h"
#include "core/progress.h"
#include "sandbox/sandbox.h"

namespace r1::cli {
namespace {

struct SandboxCommandOptions {
  std::string input = "-", output = "-";
  size_t jobs = 0;
  bool weak = false;
};

sandbox::SandboxOptions sandbox_options(const SandboxCommandOptions& opt) {
  sandbox::SandboxOptions o;
  o.workers = opt.jobs ? opt.jobs : static_cast<size_t>(global_options().threads);
  o.allow_weak_isolation = opt.weak;
  return o;
}

void run_sandbox(const SandboxCommandOptions& opt) {
  sandbox::Sandbox box(sandbox_options(opt));
  std::ifstream in_file;
  if (opt.input != "-") {
    in_file.open(opt.input, std::ios::binary);
    if (!in_file) throw Error(opt.input + ": cannot open");
  }
  std::ofstream out_file;
  if (opt.output != "-") {
    out_file.open(opt.output, std::ios::binary | std::ios::trunc);
    if (!out_file) throw Error(opt.output + ": cannot create");
  }
  std::istream& in = opt.input == "-" ? std::cin : in_file;
  std::ostream& out = opt.output == "-" ? std::cout : out_file;
  const std::string source = opt.input == "-" ? "<stdin>" : opt.input;
  Progress progress("sandbox", 0, "jobs");
  size_t line_no = 0, done = 0;
  std::map<std::string, size_t> verdicts;
  // Each input line gets a slot: a job to judge, or (malformed) its SE result, written in place.
  std::vector<nlohmann::json> batch, results;
  std::vector<size_t> slot_of_job;
  auto flush = [&] {
    std::vector<nlohmann::json> jobs;
    for (size_t i : slot_of_job) jobs.push_back(std::move(batch[i]));
    size_t before = done;
    auto judged = box.run_batch(jobs, [&](size_t d, size_t) { progress.update(0, before + d); });
    for (size_t k = 0; k < judged.size(); ++k) results[slot_of_job[k]] = std::move(judged[k]);
    for (const auto& r : results) {
      out << r.dump(-1, ' ', false, nlohmann::json::error_handler_t::replace) << '\n';
      ++verdicts[r.value("verdict", "SE")];
    }
    out.flush();
    done += results.size();
    batch.clear();
    results.clear();
    slot_of_job.clear();
  };
  std::string line;
  while (std::getline(in, line)) {
    ++line_no;
    if (line.find_first_not_of(" \t\r") == std::string::npos) continue;  // blank lines get no result
    nlohmann::json job = nlohmann::json::parse(line, nullptr, false);
    std::string why = job.is_discarded() ? "malformed JSON" : sandbox::validate_job(job);
    if (why.empty()) {
      slot_of_job.push_back(batch.size());
      results.emplace_back();
    } else {
      results.push_back(sandbox::se_result(source + ":" + std::to_string(line_no) + ": " + why));
    }
    batch.push_back(std::move(job));
    if (batch.size() == 4 * box.workers()) flush();
  }
  flush();
  progress.finish();
  std::string summary;
  for (const auto& [v, n] : verdicts) summary += " " + v + " " + std::to_string(n);
  log::info() << "sandbox: " << done << " jobs:" << summary;
}

}  // namespace

void add_sandbox_command(CLI::App& app) {
  auto opt = std::make_shared<SandboxCommandOptions>();
  auto* cmd = app.add_subcommand("sandbox", "Run untrusted code against tests in an isolated sandbox");
  cmd->require_subcommand(1);
  auto* run = cmd->add_subcommand("run", "Judge JSON lines of jobs; write JSON lines of results, in order");
  run->add_option("--input", opt->input, "JSON-lines file of jobs (default: stdin)");
  run->add_option("--output", opt->output, "where results go (default: stdout)");
  run->add_option("-j,--jobs", opt->jobs, "jobs judged at once (default: --threads, else one per core)");
  run->add_flag("--unsafe-weak-isolation", opt->weak,
                "Run even where namespaces or seccomp are missing: only rlimits and a temp folder stand between "
                "the code and this machine");
  run->callback([opt] { run_sandbox(*opt); });
  auto* info = cmd->add_subcommand("info", "Print which protections this machine gives the sandbox");
  info->callback([] {
    std::string box = sandbox::find_box();
    sandbox::Protections p = sandbox::probe_protections(box);
    std::cout << "r1-box: " << box << "\n" << p.describe();
    std::cout << (p.strong() ? "untrusted code: allowed\n"
                             : "untrusted code: REFUSED (unless --unsafe-weak-isolation)\n");
  });
}

}  // namespace r1::cli
