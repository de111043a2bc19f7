#include "sandbox/box/gate_filter.h"

#include <linux/audit.h>
#include <linux/seccomp.h>
#include <sys/socket.h>
#include <sys/syscall.h>

#include <cerrno>
#include <cstddef>
#include <stdexcept>

namespace r1::sandbox::box {

bool gate_supported() {
#if defined(__x86_64__)
  return true;
#else
  return false;
#endif
}

#if defined(__x86_64__)
namespace {

// Jump targets are resolved at the end: each instruction remembers which label its true/false branch
// means. kNextBlock: the first instruction of the next block (one system call's check).
enum Label { kLiteral = 0, kNext = -1, kAllow = -2, kCheckIp = -3, kDeny = -4, kAllowAfterCheck = -5, kNextBlock = 1000 };

struct Insn {
  sock_filter f;
  int jt_label = kLiteral, jf_label = kLiteral;
};

// The program with symbolic jumps, and where its labels are.
struct GateProgram {
  std::vector<Insn> p;
  std::vector<size_t> block_starts;
  size_t allow = 0, check_ip = 0, allow_after_check = 0, deny = 0;

  void stmt(uint16_t code, uint32_t k) { p.push_back({BPF_STMT(code, k), kLiteral, kLiteral}); }
  void jump(uint32_t k, int jt, int jf) { p.push_back({BPF_JUMP(BPF_JMP | BPF_JEQ | BPF_K, k, 0, 0), jt, jf}); }
};

struct FdArg {
  long nr;
  int arg;  // which argument is a descriptor
};
const FdArg kFdArgs[] = {
    {SYS_read, 0},      {SYS_write, 0},      {SYS_pread64, 0},  {SYS_pwrite64, 0},  {SYS_readv, 0},
    {SYS_writev, 0},    {SYS_preadv, 0},     {SYS_pwritev, 0},  {SYS_preadv2, 0},   {SYS_pwritev2, 0},
    {SYS_recvfrom, 0},  {SYS_recvmsg, 0},    {SYS_recvmmsg, 0}, {SYS_sendto, 0},    {SYS_sendmsg, 0},
    {SYS_sendmmsg, 0},  {SYS_dup, 0},        {SYS_dup2, 0},     {SYS_dup3, 0},      {SYS_fcntl, 0},
    {SYS_splice, 0},    {SYS_splice, 2},     {SYS_sendfile, 0}, {SYS_sendfile, 1},  {SYS_copy_file_range, 0},
    {SYS_copy_file_range, 2}, {SYS_tee, 0},  {SYS_tee, 1},      {SYS_vmsplice, 0},
};

GateProgram emit_gate(int ctl, int chan, uint64_t ip) {
  GateProgram g;
  const uint32_t nr_at = offsetof(seccomp_data, nr), arch_at = offsetof(seccomp_data, arch);
  auto arg_at = [](int i) { return static_cast<uint32_t>(offsetof(seccomp_data, args) + 8 * i); };  // low half
  g.stmt(BPF_LD | BPF_W | BPF_ABS, arch_at);
  g.jump(AUDIT_ARCH_X86_64, kNext, kAllow);  // other ABIs: the main filter kills them
  // x32 system calls (number | 0x40000000) would slip past the numbers below: refused.
  g.stmt(BPF_LD | BPF_W | BPF_ABS, nr_at);
  g.p.push_back({BPF_JUMP(BPF_JMP | BPF_JGE | BPF_K, 0x40000000u, 0, 0), kDeny, kNext});
  for (const FdArg& a : kFdArgs) {
    g.block_starts.push_back(g.p.size());
    g.stmt(BPF_LD | BPF_W | BPF_ABS, nr_at);
    g.jump(static_cast<uint32_t>(a.nr), kNext, kNextBlock);
    g.stmt(BPF_LD | BPF_W | BPF_ABS, arg_at(a.arg));
    g.jump(static_cast<uint32_t>(ctl), kCheckIp, kNext);
    g.jump(static_cast<uint32_t>(chan), kCheckIp, kNextBlock);
  }
  for (long nr : {static_cast<long>(SYS_socket), static_cast<long>(SYS_socketpair)}) {
    g.block_starts.push_back(g.p.size());
    g.stmt(BPF_LD | BPF_W | BPF_ABS, nr_at);
    g.jump(static_cast<uint32_t>(nr), kNext, kNextBlock);
    g.stmt(BPF_LD | BPF_W | BPF_ABS, arg_at(0));
    g.jump(AF_UNIX, kDeny, kNextBlock);
  }
  g.block_starts.push_back(g.p.size());
  g.allow = g.p.size();
  g.stmt(BPF_RET | BPF_K, SECCOMP_RET_ALLOW);
  g.check_ip = g.p.size();
  g.stmt(BPF_LD | BPF_W | BPF_ABS, static_cast<uint32_t>(offsetof(seccomp_data, instruction_pointer)));
  g.jump(static_cast<uint32_t>(ip & 0xffffffffu), kNext, kDeny);
  g.stmt(BPF_LD | BPF_W | BPF_ABS, static_cast<uint32_t>(offsetof(seccomp_data, instruction_pointer) + 4));
  g.jump(static_cast<uint32_t>(ip >> 32), kAllowAfterCheck, kDeny);  // jumps only go forward
  g.allow_after_check = g.p.size();
  g.stmt(BPF_RET | BPF_K, SECCOMP_RET_ALLOW);
  g.deny = g.p.size();
  g.stmt(BPF_RET | BPF_K, SECCOMP_RET_ERRNO | (EPERM & SECCOMP_RET_DATA));
  return g;
}

// The offset of instruction i's jump to `label`: offsets count from the instruction after the jump.
uint8_t jump_offset(const GateProgram& g, size_t i, int label) {
  size_t target = i + 1;
  if (label == kAllow) target = g.allow;
  if (label == kAllowAfterCheck) target = g.allow_after_check;
  if (label == kCheckIp) target = g.check_ip;
  if (label == kDeny) target = g.deny;
  if (label == kNextBlock) {
    target = g.allow;
    for (size_t b : g.block_starts)
      if (b > i) {
        target = b;
        break;
      }
  }
  size_t off = target - (i + 1);
  if (target < i + 1 || off > 255) throw std::runtime_error("the gate's filter does not fit BPF's jumps");
  return static_cast<uint8_t>(off);
}

std::vector<sock_filter> resolve_jumps(const GateProgram& g) {
  std::vector<sock_filter> out;
  for (size_t i = 0; i < g.p.size(); ++i) {
    sock_filter f = g.p[i].f;
    if (BPF_CLASS(f.code) == BPF_JMP) {
      f.jt = jump_offset(g, i, g.p[i].jt_label);
      f.jf = jump_offset(g, i, g.p[i].jf_label);
    }
    out.push_back(f);
  }
  return out;
}

}  // namespace

std::vector<sock_filter> gate_filter(int ctl, int chan, uint64_t ip) { return resolve_jumps(emit_gate(ctl, chan, ip)); }

#else

std::vector<sock_filter> gate_filter(int, int, uint64_t) { throw std::runtime_error("gated runs need x86-64"); }

#endif

}  // namespace r1::sandbox::box
