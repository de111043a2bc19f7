#include "rollout/local_workers.h"

#include <csignal>
#include <cstring>
#include <sstream>
#include <utility>

#include "core/error.h"
#include "core/log.h"

namespace r1::rollout {
namespace {

constexpr size_t kStderrTail = 6;  // lines kept for error messages

std::string quote_command(const std::string& exe, const std::vector<std::string>& args) {
  std::string s = exe;
  for (const auto& a : args) s += " " + a;
  return "`" + s + "`";
}

std::string format_s(double s) {
  std::ostringstream out;
  out << s << " s";
  return out.str();
}

// Worker lines carrying r1's own "[r1 LEVEL] " prefix keep their level; the prefix is taken off.
log::Level take_level(std::string& line) {
  static const std::pair<const char*, log::Level> levels[] = {
      {"[r1 debug] ", log::Level::debug}, {"[r1 info] ", log::Level::info},
      {"[r1 warn] ", log::Level::warn},   {"[r1 error] ", log::Level::error}};
  for (const auto& [prefix, level] : levels)
    if (line.rfind(prefix, 0) == 0) {
      line.erase(0, std::strlen(prefix));
      return level;
    }
  return log::Level::info;
}

std::function<void(const std::string&)> forward_to_log(const std::string& tag) {
  return [tag](const std::string& text) {
    std::string line = text;
    log::Level level = take_level(line);
    log::write(level, tag + ": " + line);
  };
}

}  // namespace

LocalProcess::LocalProcess(const std::string& exe, const std::vector<std::string>& args, std::string tag,
                           std::vector<std::string> env)
    : command_(quote_command(exe, args)), tag_(std::move(tag)) {
  ProcessSpec spec;
  spec.exe = exe;
  spec.args = args;
  spec.env = std::move(env);
  spec.name = tag_;
  spec.in = ProcessSpec::Stream::null;
  spec.out = ProcessSpec::Stream::pipe;
  spec.err = ProcessSpec::Stream::pipe;
  spec.on_stderr_line = forward_to_log(tag_);
  spec.stderr_tail_lines = kStderrTail;
  spec.death_signal = SIGTERM;
  spec.own_process_group = true;
  try {
    process_ = std::make_unique<Process>(std::move(spec));
  } catch (const SpawnError& e) {
    throw Error("could not start rollout worker " + command_ + ": " + e.cause());
  }
}

std::string LocalProcess::first_line(double timeout_s) {
  const auto deadline = Process::Clock::now() + std::chrono::duration_cast<Process::Clock::duration>(
                                                    std::chrono::duration<double>(timeout_s));
  std::string line;
  switch (process_->read_line(line, deadline)) {
    case Process::Io::ok:
      process_->forward_stdout(forward_to_log(tag_));
      return line;
    case Process::Io::interrupted:
      throw Error("the start of rollout worker " + command_ + " was interrupted: the client is closing");
    case Process::Io::timeout:
      throw Error("rollout worker " + command_ + " printed no address within " + format_s(timeout_s) + tail());
    case Process::Io::closed:
      break;
  }
  // Let it finish exiting and its last stderr lines arrive.
  process_->wait_exit(Process::Clock::now() + std::chrono::seconds(2));
  throw Error("rollout worker " + command_ + " " + (exited() ? exit_description() : "closed its stdout") +
              " before printing its address" + tail());
}

std::string LocalProcess::tail() const {
  auto lines = process_->stderr_tail();
  if (lines.empty()) return "; it printed nothing on stderr";
  std::string s = "; its stderr ends: ";
  for (size_t i = 0; i < lines.size(); ++i) {
    take_level(lines[i]);
    s += (i ? " | " : "") + lines[i];
  }
  return s;
}

int parse_port(const std::string& line, const std::string& command) {
  const std::string prefix = "listening on ";
  size_t colon = line.rfind(':');
  int port = 0;
  if (line.rfind(prefix, 0) == 0 && colon != std::string::npos && colon + 1 < line.size()) {
    try {
      size_t used = 0;
      port = std::stoi(line.substr(colon + 1), &used);
      if (colon + 1 + used != line.size()) port = 0;
    } catch (const std::exception&) {
      port = 0;
    }
  }
  if (port <= 0 || port > 65535)
    throw Error("rollout worker " + command + " printed \"" + line + "\" instead of \"listening on <host>:<port>\"");
  return port;
}

}  // namespace r1::rollout
