// The external tool kind, and the out-of-process plugin (a plugin in r1-plugin-host --tool speaks the
// same lines): programs spoken to in JSON lines (core/line_child.h), started on first use, restarted after
// a crash, a timeout or garbage. Concurrent calls share a small pool of processes ("processes", default
// 1): a call takes a free one, waiting while all are busy (the wait counts against its timeout), so one
// program is only ever spoken to by one call at a time.
#include <algorithm>
#include <atomic>
#include <chrono>
#include <condition_variable>
#include <cstdio>
#include <mutex>
#include <vector>

#include <unistd.h>

#include "core/error.h"
#include "core/line_child.h"
#include "core/log.h"
#include "tools/custom_tool.h"

namespace r1::tools {
namespace {

using nlohmann::json;
using Clock = LineChild::Clock;

struct ChildSetup {
  std::vector<std::string> command;
  std::string what;          // "tool 'search'", "tool plugin 'calc'"
  bool ready_line = false;   // the plugin host announces itself
  bool start_now = false;    // one process started with the tool (a plugin that does not load is refused)
};

class ExternalTool : public Tool {
 public:
  ExternalTool(const ToolSpec& spec, ChildSetup setup)
      : name_(spec.name), options_(spec.custom), setup_(std::move(setup)),
        slots_(static_cast<size_t>(std::max<int64_t>(1, options_.processes))) {
    const std::string exe = setup_.command.empty() ? "" : find_program(setup_.command[0]);
    if (exe.empty() || ::access(exe.c_str(), X_OK) != 0)
      throw Error(setup_.what + ": program '" + (setup_.command.empty() ? "" : setup_.command[0]) + "' not found on PATH");
    if (setup_.start_now) slots_[0].child = std::make_unique<LineChild>(child_options());
  }

  ToolResult call(const json& arguments, ToolCallContext& context) override {
    const double seconds = call_seconds(options_, context);
    const auto deadline = Clock::now() + std::chrono::duration_cast<Clock::duration>(std::chrono::duration<double>(seconds));
    Slot* slot = acquire(deadline);
    if (!slot) return {timeout_message(seconds) + " (every process of the tool was busy)", true};
    ToolResult result = run(*slot, arguments, context, deadline, seconds);
    release(slot);
    return result;
  }

 private:
  struct Slot {
    std::unique_ptr<LineChild> child;
    bool busy = false;
  };

  LineChildOptions child_options() const {
    LineChildOptions o;
    o.command = setup_.command;
    o.what = setup_.what;
    o.ready_line = setup_.ready_line;
    // JSON escapes can make a line several times its content; a longer line is cut off as an error.
    o.max_line_bytes = static_cast<size_t>(std::clamp<int64_t>(8 * options_.max_output_bytes + 4096, 1 << 20, 64 << 20));
    return o;
  }

  Slot* acquire(Clock::time_point deadline) {
    std::unique_lock<std::mutex> lock(mutex_);
    for (;;) {
      Slot* free = nullptr;
      for (Slot& s : slots_)  // a started process before one still to start
        if (!s.busy && (!free || (s.child && !free->child))) free = &s;
      if (free) {
        free->busy = true;
        return free;
      }
      if (cv_.wait_until(lock, deadline) == std::cv_status::timeout && Clock::now() >= deadline) return nullptr;
    }
  }

  void release(Slot* slot) {
    {
      std::lock_guard<std::mutex> lock(mutex_);
      slot->busy = false;
    }
    cv_.notify_one();
  }

  void restarted(const std::string& why) {
    const int64_t n = ++restarts_;
    if (n <= 3 || n % 100 == 0)
      log::warn() << why << "; it is started again for the next call (" << n << " restarts so far)";
  }

  ToolResult run(Slot& slot, const json& arguments, ToolCallContext& context, Clock::time_point deadline, double seconds) {
    try {
      if (slot.child && slot.child->has_unasked_line()) {  // more lines than requests: its next would be misread
        slot.child.reset();
        restarted(setup_.what + " wrote a line no call asked for (reply once per request)");
      }
      if (!slot.child) slot.child = std::make_unique<LineChild>(child_options());
    } catch (const std::exception& e) {
      slot.child.reset();
      return {"Error: the tool '" + name_ + "' is unavailable: " + e.what(), true};
    }
    const uint64_t id = ++requests_;
    const json request = {{"id", id}, {"name", name_}, {"arguments", arguments}, {"trajectory", context.trajectory}};
    json reply;
    std::string text;
    bool answered = false;
    try {
      answered = slot.child->exchange(id, request.dump(-1, ' ', false, json::error_handler_t::replace), deadline, reply, text);
    } catch (const LineTooLong&) {
      slot.child.reset();
      restarted(setup_.what + " wrote a reply over the line limit");
      return {"Error: the tool's reply was too long (over " + std::to_string(child_options().max_line_bytes) + " bytes)", true};
    } catch (const std::exception& e) {
      slot.child.reset();  // dead, or speaking garbage: a fresh one for the next call
      restarted(e.what());
      return {std::string("Error: ") + e.what(), true};
    }
    if (!answered) {
      slot.child.reset();  // too slow: killed, so its late reply is never read as the next call's
      restarted(setup_.what + " did not reply within the call's timeout");
      return {timeout_message(seconds), true};
    }
    if (!reply.is_object()) return {"Error: the reply of " + setup_.what + " is not a JSON object: " + text.substr(0, 80), true};
    auto content = reply.find("content");
    auto error = reply.find("error");
    if (content == reply.end() || !content->is_string()) {
      if (error != reply.end() && error->is_string()) return {"Error: " + error->get<std::string>(), true};  // {"error": "..."}
      return {"Error: the reply of " + setup_.what + " has no string \"content\": " + text.substr(0, 80), true};
    }
    const bool failed = error != reply.end() && (error->is_boolean() ? error->get<bool>() : !error->is_null());
    return capped_result(content->get<std::string>(), failed, options_.max_output_bytes, reply.value("cut", false) == true);
  }

  std::string name_;
  CustomToolOptions options_;
  ChildSetup setup_;
  std::mutex mutex_;
  std::condition_variable cv_;
  std::vector<Slot> slots_;
  std::atomic<uint64_t> requests_{0};
  std::atomic<int64_t> restarts_{0};
};

}  // namespace

std::unique_ptr<Tool> make_external_tool(const ToolSpec& spec) {
  ChildSetup s;
  s.command = spec.custom.command;
  s.what = "tool '" + spec.name + "'";
  return std::make_unique<ExternalTool>(spec, std::move(s));
}

// A plugin out of process: r1-plugin-host --tool PATH CONFIG_JSON MAX_OUTPUT_BYTES, one started now so a
// plugin that does not load is refused with the config (its {"error": ...} ready line).
std::unique_ptr<Tool> make_hosted_plugin_tool(const ToolSpec& spec, const std::string& path) {
  const std::string host = find_tool_plugin_host();
  if (host.empty())
    throw Error("tool plugin " + path + ": r1-plugin-host (which runs plugins in a process of their own) was not found "
                "beside r1; set R1_PLUGIN_HOST to it, or \"in_process\": true for a plugin you trust");
  ChildSetup s;
  s.command = {host, "--tool", path, spec.custom.config.dump(), std::to_string(spec.custom.max_output_bytes)};
  s.what = "tool plugin '" + spec.name + "'";
  s.ready_line = true;
  s.start_now = true;
  return std::make_unique<ExternalTool>(spec, std::move(s));
}

}  // namespace r1::tools
