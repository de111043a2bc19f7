// The external-program reward (plugin.h): one long-running child process per reward (core/process.h),
// JSON lines over pipes, a deadline on every write and reply, so a silent or stuck program costs at most
// the time budget.
#include <chrono>
#include <mutex>

#include "core/error.h"
#include "core/log.h"
#include "core/process.h"
#include "rewards/plugin.h"

namespace r1::rewards {
namespace {

class Child {
 public:
  explicit Child(const std::vector<std::string>& command) {
    if (find_program(command[0]).empty()) throw Error("reward program '" + command[0] + "' not found on PATH");
    ProcessSpec spec;
    spec.exe = command[0];
    spec.args.assign(command.begin() + 1, command.end());
    spec.name = "reward program";
    spec.in = ProcessSpec::Stream::pipe;
    spec.out = ProcessSpec::Stream::pipe;
    spec.err = ProcessSpec::Stream::null;
    spec.max_line_bytes = 1 << 20;
    try {
      process_ = std::make_unique<Process>(std::move(spec));
    } catch (const SpawnError& e) {
      throw Error("reward program '" + command[0] + "' did not start: " + e.cause());
    }
  }
  ~Child() { process_->stop(0, SIGKILL); }

  // Writes a line and reads a line before the deadline. Returns false on timeout; throws on death.
  bool exchange(const std::string& line, const Deadline& deadline, std::string& reply) {
    switch (process_->write(line + "\n", deadline.at())) {
      case Process::Io::ok: break;
      case Process::Io::timeout: return false;
      default: throw Error("reward program closed its input (" + status() + ")");
    }
    switch (process_->read_line(reply, deadline.at())) {
      case Process::Io::ok: return true;
      case Process::Io::timeout: return false;
      default: throw Error("reward program exited (" + status() + ")");
    }
  }

 private:
  std::string status() {
    process_->wait_exit(Process::Clock::now() + std::chrono::milliseconds(50));
    auto exit = process_->exit_status();
    if (!exit) return "still running";
    return exit->code >= 0 ? "exit status " + std::to_string(exit->code) : "killed";
  }

  std::unique_ptr<Process> process_;
};

class ExternalReward : public Reward {
 public:
  ExternalReward(std::string id, ExternalOptions options) : id_(std::move(id)), options_(std::move(options)) {
    if (options_.command.empty()) throw ConfigError(id_ + ".command: must name a program");
  }
  const std::string& name() const override { return id_; }

  Score score(const Sample& sample, const Components&, const Deadline& deadline) const override {
    std::lock_guard<std::mutex> lock(mutex_);
    if (!child_) {
      child_ = std::make_unique<Child>(options_.command);
      if (++starts_ > 1) log::warn() << "reward '" << id_ << "': restarted its program (start " << starts_ << ")";
    }
    std::string reply;
    bool answered;
    try {
      answered = child_->exchange(sample_to_json(sample).dump(), deadline, reply);
    } catch (const Error&) {
      child_.reset();  // dead: started again for the next sample
      throw;
    }
    if (!answered) {
      child_.reset();  // too slow: killed, so a late reply can never be read as the next sample's
      throw DeadlineExceeded{};
    }
    nlohmann::json j;
    try {
      j = nlohmann::json::parse(reply);
    } catch (const std::exception&) {
      throw Error("malformed reply from reward program: " + reply.substr(0, 80));
    }
    if (!j.is_object() || !j.contains("reward") || !j["reward"].is_number()) {
      throw Error("reward program reply needs a number \"reward\": " + reply.substr(0, 80));
    }
    Score s;
    s.value = j["reward"].get<double>();
    if (j.contains("reason") && j["reason"].is_string()) s.reason = j["reason"].get<std::string>();
    return s;
  }

 private:
  std::string id_;
  ExternalOptions options_;
  mutable std::mutex mutex_;
  mutable std::unique_ptr<Child> child_;
  mutable int starts_ = 0;
};

}  // namespace

std::unique_ptr<Reward> make_external_reward(const std::string& id, ExternalOptions options) {
  return std::make_unique<ExternalReward>(id, std::move(options));
}

}  // namespace r1::rewards
