#include "core/line_child.h"

#include <cstring>

namespace r1 {

LineChild::LineChild(const LineChildOptions& o) : what_(o.what) {
  const std::vector<std::string>& command = o.command;
  if (command.empty()) throw Error(what_ + ": no command");
  if (find_program(command[0]).empty()) throw Error(what_ + " '" + command[0] + "' not found on PATH");
  ProcessSpec spec;
  spec.exe = command[0];
  spec.args.assign(command.begin() + 1, command.end());
  spec.name = what_;
  spec.in = ProcessSpec::Stream::pipe;
  spec.out = ProcessSpec::Stream::pipe;
  spec.err = ProcessSpec::Stream::null;
  spec.max_line_bytes = o.max_line_bytes;
  spec.own_process_group = true;
  try {
    process_ = std::make_unique<Process>(std::move(spec));
  } catch (const SpawnError& e) {
    throw Error(what_ + " '" + command[0] + "' did not start: " + e.cause());
  }
  if (o.ready_line) await_ready();
}

LineChild::~LineChild() { process_->stop(0, SIGKILL); }

bool LineChild::exchange(uint64_t id, const std::string& line, Clock::time_point deadline, nlohmann::json& reply,
                         std::string& text) {
  switch (process_->write(line + "\n", deadline)) {
    case Process::Io::ok: break;
    case Process::Io::timeout: return false;
    default: throw Error(what_ + " closed its input (" + status() + ")");
  }
  for (;;) {
    Process::Io io;
    try {
      io = process_->read_line(text, deadline);
    } catch (const Error& e) {
      throw LineTooLong(what_ + " wrote a line over the limit (" + e.what() + ")");
    }
    switch (io) {
      case Process::Io::ok: break;
      case Process::Io::timeout: return false;
      default: throw Error(what_ + " exited (" + status() + ")");
    }
    try {
      reply = nlohmann::json::parse(text);
    } catch (const std::exception&) {
      throw Error("malformed reply from " + what_ + ": " + text.substr(0, 80));
    }
    if (reply.is_object() && reply.contains("id") && reply["id"] != id) continue;  // a stale reply
    return true;
  }
}

bool LineChild::has_unasked_line() {
  std::string text;
  for (;;) {
    Process::Io io;
    try {
      io = process_->read_line(text, Clock::now());
    } catch (const Error&) {
      return true;  // a line over the cap nobody asked for
    }
    if (io != Process::Io::ok) return false;
    const nlohmann::json j = nlohmann::json::parse(text, nullptr, false);
    if (!j.is_object() || !j.contains("id")) return true;
  }
}

void LineChild::await_ready() {
  std::string text;
  const Process::Io io = process_->read_line(text, Clock::now() + std::chrono::seconds(30));
  if (io != Process::Io::ok) throw Error(what_ + " did not start (" + status() + ")");
  const nlohmann::json j = nlohmann::json::parse(text, nullptr, false);
  if (j.is_object() && j.contains("error") && j["error"].is_string()) throw Error(j["error"].get<std::string>());
  if (!j.is_object() || j.value("ready", false) != true) throw Error(what_ + " did not say it was ready: " + text.substr(0, 80));
}

std::string LineChild::status() {
  process_->wait_exit(Clock::now() + std::chrono::milliseconds(50));
  auto exit = process_->exit_status();
  if (!exit) return "still running";
  if (exit->code >= 0) return "exit status " + std::to_string(exit->code);
  return "killed by signal " + std::to_string(exit->signal) + " (" + strsignal(exit->signal) + ")";
}

}  // namespace r1
