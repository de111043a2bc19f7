// The languages r1-box runs. Adding one is one entry in kLanguages (languages.cpp): its source file
// name, compile command (none for an interpreter), run command, and the host paths it needs to see.
#pragma once

#include <string>
#include <vector>

namespace r1::sandbox::box {

struct Language {
  std::string name;
  std::vector<std::string> aliases;
  std::string source_file;             // written into the work folder
  std::vector<std::string> compile;    // run in the work folder; empty for interpreted languages
  std::vector<std::string> link_flags; // appended after the sources
  std::vector<std::string> run;        // argv of a test run
  std::vector<std::string> binds;      // host paths (globs) shown read-only in the box
  // Python only: runs are forks of a per-slot interpreter (python_zygote.h) that imported these.
  bool in_process = false;
  std::vector<std::string> preload;
};

const Language* find_language(const std::string& name);
std::string language_names();

}  // namespace r1::sandbox::box
