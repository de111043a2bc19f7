// A tool plugin (tools/tool_plugin_abi.h) that misbehaves on demand, for tests/test_tool_custom.cpp:
// arguments {"mode": "echo", "text": ...} | {"mode": "pid"} | {"mode": "crash"} (SIGSEGV) |
// {"mode": "exit"} (exit(4)) | {"mode": "hang"} | {"mode": "big", "size": N} ("x" * N, "é" * N with
// "utf8": true) | {"mode": "fail"} (an error content).
#include <nlohmann/json.hpp>

#include <csignal>
#include <cstdio>
#include <cstdlib>
#include <string>
#include <unistd.h>

#include "tools/tool_plugin_abi.h"

namespace {
long long write(const std::string& text, char* out, size_t out_size) {
  if (out_size > 0) std::snprintf(out, out_size, "%s", text.c_str());
  return static_cast<long long>(text.size());
}
}  // namespace

extern "C" {

int r1_tool_v1_abi_version(void) { return R1_TOOL_ABI_VERSION; }

void* r1_tool_v1_create(const char* config_json, char* error, size_t error_size) {
  const auto config = nlohmann::json::parse(config_json, nullptr, false);
  if (config.is_object() && config.value("refuse", false)) {
    std::snprintf(error, error_size, "refused: the config says so");
    return nullptr;
  }
  return new int(0);
}

long long r1_tool_v1_call(void* state, const char* name, const char* arguments_json, const char* trajectory, char* out,
                          size_t out_size, int* is_error) {
  const auto args = nlohmann::json::parse(arguments_json);
  const std::string mode = args.value("mode", "echo");
  *is_error = 0;
  if (mode == "crash") std::raise(SIGSEGV);
  if (mode == "exit") std::exit(4);
  if (mode == "hang") ::sleep(60);
  if (mode == "pid") return write(std::to_string(::getpid()) + " " + name + " " + trajectory, out, out_size);
  if (mode == "fail") {
    *is_error = 1;
    return write("Error: it failed", out, out_size);
  }
  if (mode == "big") {
    std::string text;
    const int n = args.value("size", 100000);
    for (int i = 0; i < n; ++i) text += args.value("utf8", false) ? "é" : "x";
    return write(text, out, out_size);
  }
  return write(args.value("text", ""), out, out_size);
}

void r1_tool_v1_destroy(void* state) { delete static_cast<int*>(state); }

}  // extern "C"
