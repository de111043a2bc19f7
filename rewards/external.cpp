// The external-program reward (plugin.h): one long-running child process per reward, JSON lines over
// pipes, a deadline on every reply. Boost.Process starts the child; reads and writes go through the
// raw pipe ends with poll() so a silent or stuck program costs at most the time budget.
#include <poll.h>
#include <signal.h>
#include <unistd.h>

#include <boost/process.hpp>

#include <cstdlib>
#include <mutex>

#include "core/error.h"
#include "core/log.h"
#include "rewards/plugin.h"

namespace r1::rewards {
namespace {

namespace bp = boost::process;

// A program name as the shell finds it: a path as is, a bare name through $PATH ("" if not found).
std::string find_program(const std::string& name) {
  if (name.find('/') != std::string::npos) return name;
  const char* path = std::getenv("PATH");
  std::string dirs = path ? path : "/usr/bin:/bin";
  for (size_t b = 0; b <= dirs.size();) {
    size_t e = dirs.find(':', b);
    if (e == std::string::npos) e = dirs.size();
    std::string candidate = (e > b ? dirs.substr(b, e - b) : ".") + "/" + name;
    if (::access(candidate.c_str(), X_OK) == 0) return candidate;
    b = e + 1;
  }
  return "";
}

class Child {
 public:
  explicit Child(const std::vector<std::string>& command) {
    std::vector<std::string> args(command.begin() + 1, command.end());
    std::string exe = find_program(command[0]);
    if (exe.empty()) throw Error("reward program '" + command[0] + "' not found on PATH");
    try {
      child_ = bp::child(bp::exe = exe, bp::args = args, bp::std_in < to_child_, bp::std_out > from_child_,
                         bp::std_err > bp::null);
    } catch (const std::exception& e) {
      throw Error("reward program '" + command[0] + "' did not start: " + e.what());
    }
    // Our copies of the child's ends must go, or we would never see end-of-file when it dies.
    ::close(to_child_.native_source());
    to_child_.assign_source(-1);
    ::close(from_child_.native_sink());
    from_child_.assign_sink(-1);
  }
  ~Child() {
    std::error_code ec;
    if (child_.running(ec)) child_.terminate(ec);
    child_.wait(ec);
  }

  // Writes a line and reads a line before the deadline. Returns false on timeout; throws on death.
  bool exchange(const std::string& line, const Deadline& deadline, std::string& reply) {
    std::string out = line + "\n";
    size_t written = 0;
    while (written < out.size()) {
      if (!wait(to_child_.native_sink(), POLLOUT, deadline)) return false;
      ssize_t n = ::write(to_child_.native_sink(), out.data() + written, out.size() - written);
      if (n < 0 && errno == EINTR) continue;
      if (n <= 0) throw Error("reward program closed its input (" + status() + ")");
      written += static_cast<size_t>(n);
    }
    for (;;) {
      if (auto nl = buffer_.find('\n'); nl != std::string::npos) {
        reply = buffer_.substr(0, nl);
        buffer_.erase(0, nl + 1);
        return true;
      }
      if (buffer_.size() > (1 << 20)) throw Error("reward program wrote a reply line over 1 MB");
      if (!wait(from_child_.native_source(), POLLIN, deadline)) return false;
      char chunk[4096];
      ssize_t n = ::read(from_child_.native_source(), chunk, sizeof chunk);
      if (n < 0 && errno == EINTR) continue;
      if (n <= 0) throw Error("reward program exited (" + status() + ")");
      buffer_.append(chunk, static_cast<size_t>(n));
    }
  }

 private:
  static bool wait(int fd, short events, const Deadline& deadline) {
    for (;;) {
      auto left = std::chrono::duration_cast<std::chrono::milliseconds>(deadline.at() - Deadline::Clock::now()).count();
      if (left <= 0) return false;
      pollfd p{fd, events, 0};
      int r = ::poll(&p, 1, static_cast<int>(std::min<long long>(left, 60000)));
      if (r > 0) return true;  // ready, or an error/hang-up the read or write will report
      if (r < 0 && errno != EINTR) return false;
    }
  }
  std::string status() {
    std::error_code ec;
    for (int i = 0; i < 50 && child_.running(ec); ++i) ::usleep(1000);
    if (child_.running(ec)) return "still running";
    child_.wait(ec);
    int code = child_.exit_code();
    return code >= 0 ? "exit status " + std::to_string(code) : "killed";
  }

  bp::pipe to_child_, from_child_;
  bp::child child_;
  std::string buffer_;
};

class ExternalReward : public Reward {
 public:
  ExternalReward(std::string id, ExternalOptions options) : id_(std::move(id)), options_(std::move(options)) {
    if (options_.command.empty()) throw ConfigError(id_ + ".command: must name a program");
    ::signal(SIGPIPE, SIG_IGN);  // a dead child must be an error here, not the end of r1
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
