// The external-program reward (plugin.h): one long-running child process per reward (core/line_child.h
// on core/process.h), JSON lines over pipes, a deadline on every write and reply, so a silent or stuck program costs at most
// the time budget. Each request carries an "id"; a reply that echoes another id is a stale one (for an
// earlier sample) and is passed over, and a program whose replies carry no id must answer each request
// with exactly one line: a line waiting before a request is sent means it broke that rule, and it is
// restarted rather than let its extra line be read as the next sample's score. The program leads its own
// process group, so stopping it stops whatever it started.
#include <chrono>
#include <cstring>
#include <cmath>
#include <mutex>

#include "core/error.h"
#include "core/log.h"
#include "core/line_child.h"
#include "rewards/plugin.h"

namespace r1::rewards {
namespace {

// The program, started afresh after a crash, a timeout or garbage (core/line_child.h).
LineChildOptions child_options(const ExternalOptions& o) {
  LineChildOptions c;
  c.command = o.command;
  c.what = o.what;
  c.ready_line = o.ready_line;
  return c;
}

class ExternalReward : public Reward {
 public:
  ExternalReward(std::string id, ExternalOptions options) : id_(std::move(id)), options_(std::move(options)) {
    if (options_.command.empty()) throw ConfigError(id_ + ".command: must name a program");
    if (options_.ready_line) {  // started now: one that cannot start is refused with the reward set
      child_ = std::make_unique<LineChild>(child_options(options_));
      starts_ = 1;
    }
  }
  const std::string& name() const override { return id_; }

  Score score(const Sample& sample, const Components&, const Deadline& deadline) const override {
    std::lock_guard<std::mutex> lock(mutex_);
    if (!child_) {
      child_ = std::make_unique<LineChild>(child_options(options_));
      if (++starts_ > 1) log::warn() << "reward '" << id_ << "': restarted its " << options_.what << " (start " << starts_ << ")";
    }
    if (child_->has_unasked_line()) {  // more lines than requests: its next line would be misread
      child_.reset();
      if (unasked_++ % 100 == 0)
        log::warn() << "reward '" << id_ << "': its program wrote a line no sample asked for; restarted (" << unasked_
                    << " times so far; reply once per request, echoing the request's \"id\")";
      child_ = std::make_unique<LineChild>(child_options(options_));
      ++starts_;
    }
    const uint64_t id = ++requests_;
    nlohmann::json request = sample_to_json(sample);
    request["id"] = id;
    nlohmann::json j;
    std::string text;
    bool answered;
    try {
      answered = child_->exchange(id, request.dump(), deadline.at(), j, text);
    } catch (const Error& e) {
      child_.reset();  // dead or speaking garbage: started again for the next sample
      if (options_.max_crashes_in_a_row > 0 && ++crashes_in_a_row_ >= options_.max_crashes_in_a_row)
        throw RewardFatal("reward '" + id_ + "': its " + options_.what + " failed " + std::to_string(crashes_in_a_row_) +
                          " times in a row (last: " + e.what() + "); the run stops rather than score every sample 0");
      throw;
    }
    crashes_in_a_row_ = 0;
    if (!answered) {
      child_.reset();  // too slow: killed, so a late reply can never be read as the next sample's
      throw DeadlineExceeded{};
    }
    if (j.is_object() && j.contains("error") && j["error"].is_string()) throw Error(j["error"].get<std::string>());
    // JSON has no NaN or infinity: "nan", "inf" and "-inf" stand for them (RewardSet then scores them 0).
    const nlohmann::json* reward = j.is_object() && j.contains("reward") ? &j["reward"] : nullptr;
    double value = 0;
    if (reward && reward->is_number()) value = reward->get<double>();
    else if (reward && *reward == "nan") value = std::nan("");
    else if (reward && (*reward == "inf" || *reward == "-inf")) value = (*reward == "inf" ? 1 : -1) * HUGE_VAL;
    else throw Error(options_.what + " reply needs a number \"reward\": " + text.substr(0, 80));
    Score s;
    s.value = value;
    if (j.contains("reason") && j["reason"].is_string()) s.reason = j["reason"].get<std::string>();
    return s;
  }

 private:
  std::string id_;
  ExternalOptions options_;
  mutable std::mutex mutex_;
  mutable std::unique_ptr<LineChild> child_;
  mutable int starts_ = 0;
  mutable uint64_t requests_ = 0;
  mutable uint64_t unasked_ = 0;
  mutable int crashes_in_a_row_ = 0;
};

}  // namespace

std::unique_ptr<Reward> make_external_reward(const std::string& id, ExternalOptions options) {
  return std::make_unique<ExternalReward>(id, std::move(options));
}

}  // namespace r1::rewards
