// The seccomp-bpf filter every run of the box is under: system calls no solution needs are refused
// (EPERM), by name through libseccomp.
#pragma once

#include <seccomp.h>

namespace r1::sandbox::box {

// A new filter (release with seccomp_release); throws std::runtime_error when libseccomp cannot make one.
scmp_filter_ctx make_seccomp();

}  // namespace r1::sandbox::box
