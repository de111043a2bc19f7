#include "tools/python_tool.h"

#include <algorithm>
#include <cmath>
#include <cstdio>

#include "core/error.h"
#include "sandbox/runner.h"

namespace r1::tools {
namespace {

using nlohmann::json;

// Runs in __main__: earlier cells with their output swallowed, then the new one. Only names starting
// with _r1 are added to the program's globals.
const char* const kRunner = R"PY(def _r1_run(earlier, cell):
    import sys
    class Sink:
        def write(self, text):
            return len(text)
        def flush(self):
            pass
    ns = globals()
    out, err = sys.stdout, sys.stderr
    sys.stdout = sys.stderr = Sink()
    try:
        for i, source in enumerate(earlier):
            try:
                exec(compile(source, "<cell %d>" % (i + 1), "exec"), ns)
            except BaseException:
                pass
    finally:
        sys.stdout, sys.stderr = out, err
    name = "<cell %d>" % (len(earlier) + 1)
    try:
        exec(compile(cell, name, "exec"), ns)
    except SystemExit:
        raise
    except BaseException as e:
        import linecache, traceback
        for i, source in enumerate(earlier + [cell]):
            linecache.cache["<cell %d>" % (i + 1)] = (len(source), None, source.splitlines(True), "<cell %d>" % (i + 1))
        tb = e.__traceback__
        while tb is not None and tb.tb_frame.f_code.co_filename != name:
            tb = tb.tb_next
        sys.stdout.flush()
        traceback.print_exception(type(e), e, tb)
        sys.exit(1)
)PY";

std::string literal(const std::string& s) {
  // A JSON string is a Python string literal (the same escapes; raw UTF-8 kept as is).
  return json(s).dump(-1, ' ', false, json::error_handler_t::replace);
}

std::string seconds_text(double s) {
  char buf[32];
  std::snprintf(buf, sizeof buf, "%g", s);
  return buf;
}

std::string rstrip(std::string s) {
  size_t end = s.find_last_not_of(" \t\r\n\v\f");
  s.erase(end == std::string::npos ? 0 : end + 1);
  return s;
}

size_t char_start(const std::string& s, size_t at) {  // back to the start of the character at `at`
  while (at > 0 && at < s.size() && (static_cast<unsigned char>(s[at]) & 0xC0) == 0x80) --at;
  return at;
}

}  // namespace

std::string python_program(const std::vector<std::string>& earlier, const std::string& code) {
  std::string program = kRunner;
  program += "_r1_run([";
  for (size_t i = 0; i < earlier.size(); ++i) program += (i ? ", " : "") + literal(earlier[i]);
  program += "], " + literal(code) + ")\n";
  return program;
}

std::string cut_middle(const std::string& text, size_t cap, bool* cut) {
  *cut = text.size() > cap;
  if (!*cut) return text;
  const size_t head = char_start(text, cap / 2);
  const size_t tail_from = char_start(text, text.size() - (cap - cap / 2));
  return text.substr(0, head) + "\n[... " + std::to_string(tail_from - head) + " bytes cut ...]\n" + text.substr(tail_from);
}

PythonTool::PythonTool(PythonToolOptions options, ToolServices services)
    : options_(options), services_(std::move(services)) {}

ToolResult PythonTool::call(const json& arguments, ToolCallContext& context) {
  const std::string code = arguments.value("code", "");
  std::shared_ptr<sandbox::Runner> runner;
  try {
    if (!services_.runner) throw Error("no sandbox was given to the tool host");
    runner = services_.runner();
    if (!runner) throw Error("no sandbox");
  } catch (const std::exception& e) {
    return {std::string("Error: the python tool is unavailable: ") + e.what(), true};
  }
  const bool replay = options_.replay && context.history;
  const double timeout = std::max(0.1, std::min(options_.timeout_s, context.seconds_left));

  sandbox::Job job;
  job.language = "python";
  job.source = python_program(replay ? *context.history : std::vector<std::string>{}, code);
  job.tests = {{"type", "run"}};
  job.limits.cpu_seconds = timeout;
  job.limits.wall_seconds = timeout;
  job.limits.memory_mb = options_.memory_mb;
  // The program is stopped once it printed 64 KiB or twice what the model will see, whichever is more.
  job.limits.output_kb = std::max<int64_t>(64, (2 * options_.max_output_bytes + 1023) / 1024);

  sandbox::Result r;
  try {
    r = runner->run(job);
  } catch (const std::exception& e) {
    return {std::string("Error: the sandbox failed: ") + e.what(), true};
  }

  bool cut = false;
  std::string content = rstrip(cut_middle(r.output, static_cast<size_t>(std::max<int64_t>(options_.max_output_bytes, 64)), &cut));
  cut = cut || r.output_cut;
  auto note = [&](const std::string& line) { content += (content.empty() ? "" : "\n") + line; };
  bool error = cut;
  switch (r.verdict) {
    case sandbox::Verdict::AC:
      if (replay) context.history->push_back(code);
      break;
    case sandbox::Verdict::TLE:
      note("Error: timed out after " + seconds_text(timeout) + " s");
      error = true;
      break;
    case sandbox::Verdict::MLE:
      note("Error: out of memory (the limit is " + std::to_string(options_.memory_mb) + " MB)");
      error = true;
      break;
    case sandbox::Verdict::OLE:
      note(r.output_cut ? "Error: too much output; the program was stopped" : "Error: " + r.message);
      error = true;
      cut = false;  // said already
      break;
    case sandbox::Verdict::RE:
      // The traceback is the output's end; a run killed without one says why.
      if (content.find("Traceback") == std::string::npos && content.find("Error") == std::string::npos)
        note("Error: " + (r.message.empty() ? std::string("the program failed") : r.message));
      error = true;
      break;
    default:
      note("Error: the sandbox could not run the code: " + r.message);
      error = true;
      break;
  }
  if (cut) note("[output cut to " + std::to_string(options_.max_output_bytes) + " bytes]");
  return {content, error};
}

}  // namespace r1::tools
