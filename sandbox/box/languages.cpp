#include "sandbox/box/languages.h"

namespace r1::sandbox::box {
namespace {

// The dynamic loader, its cache and the shared libraries every program needs.
#define R1_RUNTIME "/usr/lib/*-linux-gnu", "/usr/lib64", "/etc/ld.so.cache"
// A C/C++ toolchain: drivers, assembler and linker (in /usr/bin), the compiler proper, headers.
#define R1_TOOLCHAIN "/usr/bin", "/usr/lib/gcc", "/usr/libexec/gcc", "/usr/include", "/usr/lib/bfd-plugins"

const std::vector<Language> kLanguages = {
    {"python", {"py", "python3"}, "solution.py", {}, {},
     // -I: no user site or PYTHON* variables; -S: no site packages (and a faster start); -B: no .pyc files.
     {"/usr/bin/python3", "-I", "-S", "-B", "solution.py"},
     {"/usr/bin/python3*", "/usr/lib/python3*", R1_RUNTIME},
     // What solutions commonly import (typing alone costs ~11 ms a run). Not `random`'s state: each
     // run reseeds it.
     true,
     {"typing", "collections", "collections.abc", "math", "cmath", "re", "itertools", "functools", "heapq",
      "bisect", "string", "operator", "copy", "fractions", "decimal", "datetime", "dataclasses", "hashlib",
      "statistics", "random", "json", "array", "_ast"}},
    {"cpp", {"c++", "cc", "cxx"}, "solution.cpp",
     {"/usr/bin/g++", "-std=gnu++17", "-O2", "-pipe", "-o", "solution", "solution.cpp"}, {"-lm"},
     {"./solution"},
     {R1_TOOLCHAIN, R1_RUNTIME}, false, {}},
    {"c", {}, "solution.c",
     {"/usr/bin/gcc", "-std=gnu11", "-O2", "-pipe", "-o", "solution", "solution.c"}, {"-lm"},
     {"./solution"},
     {R1_TOOLCHAIN, R1_RUNTIME}, false, {}},
};

}  // namespace

const Language* find_language(const std::string& name) {
  for (const Language& l : kLanguages) {
    if (l.name == name) return &l;
    for (const std::string& a : l.aliases)
      if (a == name) return &l;
  }
  return nullptr;
}

std::string language_names() {
  std::string out;
  for (const Language& l : kLanguages) out += (out.empty() ? "" : ", ") + l.name;
  return out;
}

}  // namespace r1::sandbox::box
