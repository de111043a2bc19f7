// The plugin tool kind (tool_plugin_abi.h): loaded with dlopen into this process ("in_process": true,
// and what r1-plugin-host --tool runs), or run in r1-plugin-host by default (external_tool.cpp).
#include <dlfcn.h>

#include <filesystem>
#include <vector>

#include "core/error.h"
#include "tools/custom_tool.h"
#include "tools/tool_plugin_abi.h"

namespace r1::tools {

std::unique_ptr<Tool> make_hosted_plugin_tool(const ToolSpec& spec, const std::string& path);  // external_tool.cpp

ToolPlugin::ToolPlugin(const std::string& path, const nlohmann::json& config) : path_(path) {
  handle_ = dlopen(path.c_str(), RTLD_NOW | RTLD_LOCAL);
  if (!handle_) throw Error("tool plugin " + path + ": cannot load: " + dlerror());
  auto fail = [&](const std::string& message) {
    dlclose(handle_);
    handle_ = nullptr;
    throw Error("tool plugin " + path + ": " + message);
  };
  auto symbol = [&](const char* name) {
    void* p = dlsym(handle_, name);
    if (!p) fail(std::string("missing symbol ") + name + " (see tools/tool_plugin_abi.h)");
    return p;
  };
  auto version = reinterpret_cast<int (*)()>(symbol("r1_tool_v1_abi_version"));
  auto create = reinterpret_cast<void* (*)(const char*, char*, size_t)>(symbol("r1_tool_v1_create"));
  call_ = reinterpret_cast<decltype(call_)>(symbol("r1_tool_v1_call"));
  destroy_ = reinterpret_cast<void (*)(void*)>(symbol("r1_tool_v1_destroy"));
  if (int v = version(); v != R1_TOOL_ABI_VERSION)
    fail("ABI version " + std::to_string(v) + ", r1 speaks " + std::to_string(R1_TOOL_ABI_VERSION));
  char error[512] = {};
  state_ = create(config.dump().c_str(), error, sizeof error);
  error[sizeof error - 1] = '\0';
  if (!state_) fail(std::string("create failed: ") + (error[0] ? error : "no message"));
}

ToolPlugin::~ToolPlugin() {
  if (state_) destroy_(state_);
  if (handle_) dlclose(handle_);
}

ToolResult ToolPlugin::call(const std::string& name, const std::string& arguments_json, const std::string& trajectory,
                            int64_t cap, bool* cut) const {
  std::vector<char> out(static_cast<size_t>(std::max<int64_t>(cap, 0)) + 1, '\0');
  int is_error = 0;
  const long long n = call_(state_, name.c_str(), arguments_json.c_str(), trajectory.c_str(), out.data(), out.size(), &is_error);
  out.back() = '\0';
  *cut = n >= static_cast<long long>(out.size());
  std::string content(out.data());
  if (n < 0 && content.empty()) content = "Error: the tool plugin failed (status " + std::to_string(n) + ")";
  if (*cut) {  // never end inside a UTF-8 character: drop a last character missing its tail
    size_t start = content.size();
    while (start > 0 && (static_cast<unsigned char>(content[start - 1]) & 0xC0) == 0x80) --start;
    if (start > 0) {
      const unsigned char lead = static_cast<unsigned char>(content[start - 1]);
      const size_t length = lead >= 0xF0 ? 4 : lead >= 0xE0 ? 3 : lead >= 0xC0 ? 2 : 1;
      if (content.size() - (start - 1) < length) content.resize(start - 1);
    }
  }
  return {std::move(content), n < 0 || is_error != 0};
}

namespace {

class InProcessPluginTool : public Tool {
 public:
  InProcessPluginTool(const ToolSpec& spec, const std::string& path)
      : name_(spec.name), options_(spec.custom), plugin_(path, spec.custom.config) {}

  ToolResult call(const nlohmann::json& arguments, ToolCallContext& context) override {
    try {
      bool cut = false;
      ToolResult r = plugin_.call(name_, arguments.dump(-1, ' ', false, nlohmann::json::error_handler_t::replace),
                                  context.trajectory, options_.max_output_bytes, &cut);
      return capped_result(std::move(r.content), r.error, options_.max_output_bytes, cut);
    } catch (const std::exception& e) {
      return {std::string("Error: the tool plugin failed: ") + e.what(), true};
    }
  }

 private:
  std::string name_;
  CustomToolOptions options_;
  ToolPlugin plugin_;
};

}  // namespace

std::unique_ptr<Tool> make_plugin_tool(const ToolSpec& spec) {
  // A relative path is the caller's: the host runs in the same folder, but say it whole.
  std::error_code ec;
  const std::filesystem::path whole = std::filesystem::absolute(spec.custom.path, ec);
  const std::string path = ec ? spec.custom.path : whole.string();
  if (spec.custom.in_process) return std::make_unique<InProcessPluginTool>(spec, path);
  return make_hosted_plugin_tool(spec, path);
}

}  // namespace r1::tools
