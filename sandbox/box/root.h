// The box's private root, built by pid 1 of fresh namespaces: a tmpfs holding read-only binds of the
// language's host paths, the harmless devices, a /proc showing only the candidate's own processes, the
// read-only harness folder and the candidate's work tmpfs; the host's root is then detached. In weak
// mode, a temp folder stands in for it.
#pragma once

#include <sys/types.h>

#include <cstdint>
#include <string>
#include <vector>

namespace r1::sandbox::box {

// Where the box's files are, seen from inside it.
struct Layout {
  std::string root = "/";       // "/" inside the namespaces; a temp folder in weak mode
  std::string work = "/work";   // the candidate's writable tmpfs (its cwd, $HOME, $TMPDIR)
  std::string harness = "/r1";  // read-only harness files
};

// Builds the root and pivots into it; `binds` are host paths (globs allowed), the work tmpfs holds
// disk_mb and belongs to candidate_uid. Throws std::runtime_error when a step fails.
void setup_root(const Layout& layout, const std::vector<std::string>& binds, int64_t disk_mb, uid_t candidate_uid);

// Weak mode: a fresh temp folder with work/ and r1/ in it (remove layout.root when done). Throws.
Layout make_weak_root();

}  // namespace r1::sandbox::box
