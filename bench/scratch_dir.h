// A benchmark's scratch folder under the system's temporary directory, removed with everything in it
// when the benchmark ends (or throws).
#pragma once

#include <unistd.h>

#include <filesystem>
#include <string>

namespace r1::bench {

struct ScratchDir {
  std::filesystem::path path;
  // <tmp>/r1-bench-<name>-<pid>, created empty.
  explicit ScratchDir(const std::string& name)
      : path(std::filesystem::temp_directory_path() / ("r1-bench-" + name + "-" + std::to_string(::getpid()))) {
    std::filesystem::remove_all(path);
    std::filesystem::create_directories(path);
  }
  ~ScratchDir() {
    std::error_code ec;
    std::filesystem::remove_all(path, ec);
  }
  ScratchDir(const ScratchDir&) = delete;
  ScratchDir& operator=(const ScratchDir&) = delete;
};

}  // namespace r1::bench
