// The Python interpreter inside r1-box, started once per sandbox slot and forked for every Python run.
//
// Starting CPython costs ~8 ms of CPU here and `import typing` another ~11 ms; a slot's zygote pays
// both once. Each run is a fork of the zygote that has entered a fresh box (namespaces, rlimits,
// seccomp, the candidate's uid: run_child.h, spawn.h), so no run sees another's state. The zygote is
// started from a fresh exec and never reads a job, so nothing of any job is in the memory a run
// inherits (docs/sandbox.md, "The Python zygote").
#pragma once

#include <string>
#include <vector>

namespace r1::sandbox::box {

// What a forked run executes.
enum class PythonEntry : int {
  kJudge = 1,   // the function-test judge (judge.py, compiled once); argv: SOLUTION_PATH CANDIDATE_UID
  kScript = 2,  // a program as __main__, like `python3 -I -S -B FILE`; argv: FILE
};

// Initialises the interpreter (isolated, no site, no .pyc writing: `python3 -I -S -B`), imports
// `preload` (failures are skipped) and compiles the judge. False, with *error, when it cannot.
bool python_start(const std::vector<std::string>& preload, const std::string& judge_source, std::string* error);
bool python_started();
// The interpreter's address space in MiB, counted on top of a run's memory limit.
int64_t python_address_space_mb();

// In a forked child, after the box has been entered: runs `entry` and exits the process with the
// exit status `python3` would give (0, 1 for an uncaught exception, SystemExit's code).
[[noreturn]] void python_run(PythonEntry entry, const std::vector<std::string>& argv);

}  // namespace r1::sandbox::box
