// The python tool: a call's `code` runs in r1's sandbox (sandbox::Runner, a "run" job: the program
// once, its output back) and what it printed is the tool message. No LibTorch.
//
// State ("state" in its options):
//   replay (default)  notebook semantics: the trajectory's earlier successful cells run again first,
//                     their output suppressed (sys.stdout and sys.stderr swapped for a sink), so
//                     variables, functions and imports carry over. Side effects replay too: the time,
//                     random numbers, files written in /work (a fresh box each call). A replayed cell
//                     that now raises is skipped silently. Replayed cells count against timeout_s.
//   none              each call stands alone.
// Limits: timeout_s (wall clock and CPU), memory_mb, max_output_bytes (the model sees the head and the
// tail of a longer output and a note; the program is stopped once it has printed 64 KiB or twice the
// cap). The content is the output with trailing whitespace removed; a failed call (an exception: its
// traceback; a timeout: "Error: timed out after 5 s"; out of memory; output cut) is marked error.
#pragma once

#include <memory>
#include <mutex>
#include <string>
#include <vector>

#include "tools/tool.h"
#include "tools/tool_config.h"

namespace r1::tools {

class PythonTool : public Tool {
 public:
  PythonTool(PythonToolOptions options, ToolServices services);
  ToolResult call(const nlohmann::json& arguments, ToolCallContext& context) override;

 private:
  PythonToolOptions options_;
  ToolServices services_;
};

// The program one call runs: `earlier` replayed silently (a cell that raises is skipped), then `code`
// as "<cell N>", an exception's traceback printed from the cell's own frames (with its source lines)
// and exit status 1. Cells run in __main__'s namespace.
std::string python_program(const std::vector<std::string>& earlier, const std::string& code);

// `text` with at most `cap` bytes kept: the head and the tail, "[... N bytes cut ...]" between them
// (never inside a UTF-8 character). *cut says whether anything was.
std::string cut_middle(const std::string& text, size_t cap, bool* cut);

}  // namespace r1::tools
