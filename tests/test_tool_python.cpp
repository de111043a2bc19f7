// tools/python_tool: calls run in the real sandbox. Notebook state replayed from call to call (or
// none), output cut at its cap, a hang stopped at the timeout, a traceback for an exception, and
// hostile code answered with an error message, never a crash.
#include <catch2/catch.hpp>
#include <nlohmann/json.hpp>

#include <chrono>

#include "sandbox/sandbox.h"
#include "tools/python_tool.h"

using nlohmann::json;
using r1::tools::PythonTool;
using r1::tools::PythonToolOptions;
using r1::tools::ToolCallContext;
using r1::tools::ToolResult;

namespace {

std::shared_ptr<r1::sandbox::Runner> sandbox() {
  static auto shared = r1::sandbox::shared_sandbox();  // refuses to start where it cannot isolate: the suite fails loudly
  return shared();
}

r1::tools::ToolServices services() { return {[] { return sandbox(); }}; }

struct Notebook {
  PythonTool tool;
  std::vector<std::string> cells;
  explicit Notebook(PythonToolOptions o = {}) : tool(o, services()) {}
  ToolResult run(const std::string& code) {
    ToolCallContext context;
    context.history = &cells;
    return tool.call(json{{"code", code}}, context);
  }
};

}  // namespace

TEST_CASE("python tool: replayed state carries variables and functions from call to call", "[tools][python]") {
  Notebook nb;
  ToolResult a = nb.run("x = 20\ndef twice(v):\n    return 2 * v\nprint('defined')\n");
  CHECK(a.content == "defined");
  CHECK_FALSE(a.error);
  // The earlier cell runs again silently: its print is not repeated.
  ToolResult b = nb.run("print(twice(x) + 2)");
  CHECK(b.content == "42");
  CHECK_FALSE(b.error);
  // A failing cell is not kept; the state before it is.
  ToolResult c = nb.run("x = 99\nraise KeyError('nope')");
  CHECK(c.error);
  CHECK(c.content.ends_with("KeyError: 'nope'"));
  CHECK(nb.run("print(x)").content == "20");
  CHECK(nb.cells.size() == 3);
  // Imports carry over too; sys.stdout is the real one again after the replay.
  CHECK_FALSE(nb.run("import math as m").error);
  CHECK(nb.run("import sys\nprint(m.factorial(5), sys.stdout.__class__.__name__)").content == "120 TextIOWrapper");
}

TEST_CASE("python tool: state none runs each call alone", "[tools][python]") {
  PythonToolOptions o;
  o.replay = false;
  Notebook nb(o);
  CHECK(nb.run("y = 5\nprint(y)").content == "5");
  ToolResult r = nb.run("print(y)");
  CHECK(r.error);
  CHECK(r.content.ends_with("NameError: name 'y' is not defined"));
  CHECK(nb.cells.empty());
}

TEST_CASE("python tool: an exception's traceback names the cell's own lines", "[tools][python]") {
  Notebook nb;
  REQUIRE_FALSE(nb.run("def f(v):\n    return 1 / v\n").error);
  ToolResult r = nb.run("print('before')\nf(0)\n");
  CHECK(r.error);
  CHECK(r.content.starts_with("before\nTraceback (most recent call last):\n  File \"<cell 2>\", line 2, in <module>\n"));
  CHECK(r.content.find("File \"<cell 1>\", line 2, in f\n    return 1 / v") != std::string::npos);
  CHECK(r.content.ends_with("ZeroDivisionError: division by zero"));
  CHECK(r.content.find("_r1_run") == std::string::npos);  // the runner's own frames are not shown
  ToolResult syntax = nb.run("print('unclosed'");
  CHECK(syntax.error);
  CHECK(syntax.content.find("SyntaxError") != std::string::npos);
  CHECK(syntax.content.find("<cell 2>") != std::string::npos);
  // sys.exit with a status: an error saying so; sys.exit(0) is a success.
  ToolResult exit3 = nb.run("import sys\nprint('bye')\nsys.exit(3)");
  CHECK(exit3.error);
  CHECK(exit3.content.starts_with("bye\nError: exit status 3"));
  CHECK_FALSE(nb.run("import sys\nsys.exit(0)").error);
}

TEST_CASE("python tool: 100 MB of output is cut to the cap, a hang stops at the timeout", "[tools][python]") {
  PythonToolOptions o;
  o.max_output_bytes = 1000;
  o.timeout_s = 1;
  Notebook nb(o);
  ToolResult big = nb.run("import sys\nfor _ in range(1600):\n    sys.stdout.write('y' * 65536)\nprint('done')");
  CHECK(big.error);
  CHECK(big.content.size() < 1000 + 200);
  CHECK(big.content.starts_with(std::string(400, 'y')));
  CHECK(big.content.find("bytes cut ...]") != std::string::npos);
  CHECK(big.content.ends_with("Error: too much output; the program was stopped"));

  // One print of 100 MB (a 100 MB string, encoded once more to be written: room for both), cut to
  // the default cap of 2048 bytes.
  PythonToolOptions roomy;
  roomy.memory_mb = 1024;
  roomy.timeout_s = 30;
  ToolResult one = Notebook(roomy).run("print('y' * (100 << 20))");
  CHECK(one.error);
  CHECK(one.content.starts_with(std::string(1000, 'y')));
  CHECK(one.content.size() < 2048 + 200);
  CHECK(one.content.ends_with("Error: too much output; the program was stopped"));

  // Long but under the sandbox's stop: the head and the tail, and a note.
  ToolResult lines = nb.run("for i in range(2000): print(i)");
  CHECK(lines.error);
  CHECK(lines.content.starts_with("0\n1\n2\n"));
  CHECK(lines.content.find("1999\n[output cut to 1000 bytes]") != std::string::npos);

  const auto start = std::chrono::steady_clock::now();
  ToolResult hang = nb.run("print('working', flush=True)\nwhile True: pass");
  const double seconds = std::chrono::duration<double>(std::chrono::steady_clock::now() - start).count();
  CHECK(hang.error);
  CHECK(hang.content == "working\nError: timed out after 1 s");
  CHECK(seconds < 4);
  ToolResult sleeper = nb.run("import time\ntime.sleep(60)");
  CHECK(sleeper.content == "Error: timed out after 1 s");

  PythonToolOptions small;
  small.memory_mb = 64;
  Notebook tight(small);
  ToolResult mem = tight.run("x = bytearray(512 << 20)");
  CHECK(mem.error);
  CHECK(mem.content.find("Error: out of memory (the limit is 64 MB)") != std::string::npos);
}

TEST_CASE("python tool: hostile code gets the sandbox's treatment", "[tools][python][hostile]") {
  PythonToolOptions o;
  o.timeout_s = 2;
  Notebook nb(o);
  ToolResult bomb = nb.run("import os\nwhile True:\n    try:\n        os.fork()\n    except OSError:\n        pass\n");
  CHECK(bomb.error);
  ToolResult shadow = nb.run("print(open('/etc/shadow').read())");
  CHECK(shadow.error);
  CHECK((shadow.content.find("FileNotFoundError") != std::string::npos || shadow.content.find("PermissionError") != std::string::npos));
  ToolResult net = nb.run("import socket\nsocket.create_connection(('1.1.1.1', 80), timeout=1)\nprint('connected')");
  CHECK(net.error);
  CHECK(net.content.find("connected") == std::string::npos);
  ToolResult kill = nb.run("import os, signal\nos.kill(-1, signal.SIGKILL)\nprint('still here')");
  CHECK(kill.error);
  ToolResult parent = nb.run("import os, signal\nos.kill(os.getppid(), signal.SIGKILL)\nprint('ppid', os.getppid())");
  CHECK(parent.content.find("still") == std::string::npos);
  // The tool, the sandbox and this process are all still here.
  CHECK(nb.run("print(6 * 7)").content == "42");
}

TEST_CASE("python tool: a sandbox that cannot start is an error message", "[tools][python]") {
  PythonTool tool({}, {[]() -> std::shared_ptr<r1::sandbox::Runner> { throw std::runtime_error("no namespaces here"); }});
  ToolCallContext context;
  ToolResult r = tool.call(json{{"code", "print(1)"}}, context);
  CHECK(r.error);
  CHECK(r.content == "Error: the python tool is unavailable: no namespaces here");
}

TEST_CASE("python tool: the program a call runs", "[tools][python]") {
  const std::string p = r1::tools::python_program({"a = \"q\\n\"", "b = 'é'"}, "print(a, b)");
  CHECK(p.ends_with("_r1_run([\"a = \\\"q\\\\n\\\"\", \"b = 'é'\"], \"print(a, b)\")\n"));
  bool cut = false;
  CHECK(r1::tools::cut_middle("abcdef", 10, &cut) == "abcdef");
  CHECK_FALSE(cut);
  CHECK(r1::tools::cut_middle(std::string(50, 'a') + std::string(50, 'b'), 20, &cut) == "aaaaaaaaaa\n[... 80 bytes cut ...]\nbbbbbbbbbb");
  CHECK(cut);
  // Never inside a UTF-8 character.
  const std::string e = r1::tools::cut_middle(std::string(20, 'x') + "ééééééééé" + std::string(20, 'z'), 21, &cut);
  CHECK(e.find("\xc3\n") == std::string::npos);
  CHECK(e.find("\n\xa9") == std::string::npos);
}

