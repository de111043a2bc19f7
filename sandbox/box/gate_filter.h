// The assert-main gate's seccomp filter (a second, hand-written BPF program): a gated run's control and
// channel sockets can only be touched by a system call made from one instruction address, so a program
// that scans its descriptors for the proof-of-success token gets EPERM (docs/sandbox.md).
#pragma once

#include <linux/filter.h>

#include <cstdint>
#include <vector>

namespace r1::sandbox::box {

// Whether gated runs are available here (x86-64: the gate is four moves and a syscall instruction).
bool gate_supported();

// Every system call that could read, write or duplicate descriptor `ctl` or `chan` is refused (EPERM)
// unless made from the instruction at `ip`; AF_UNIX sockets (which could carry a copy of them
// elsewhere, SCM_RIGHTS) cannot be made at all. Throws std::runtime_error off x86-64.
std::vector<sock_filter> gate_filter(int ctl, int chan, uint64_t ip);

}  // namespace r1::sandbox::box
