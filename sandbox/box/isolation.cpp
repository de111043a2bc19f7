#include "sandbox/box/isolation.h"

#include <fcntl.h>
#include <grp.h>
#include <glob.h>
#include <linux/audit.h>
#include <linux/capability.h>
#include <linux/filter.h>
#include <linux/seccomp.h>
#include <net/if.h>
#include <poll.h>
#include <sched.h>
#include <seccomp.h>
#include <signal.h>
#include <sys/ioctl.h>
#include <sys/mount.h>
#include <sys/prctl.h>
#include <sys/resource.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/statvfs.h>
#include <sys/syscall.h>
#include <sys/wait.h>
#include <unistd.h>

#include <cerrno>
#include <cstdlib>
#include <cstdio>
#include <chrono>
#include <cmath>
#include <cstddef>
#include <cstring>
#include <filesystem>
#include <fstream>
#include <sstream>
#include <stdexcept>

namespace r1::sandbox::box {
namespace {

[[noreturn]] void fail(const std::string& what) {
  throw std::runtime_error(what + ": " + std::strerror(errno));
}

void write_file(const std::string& path, const std::string& data) {
  int fd = ::open(path.c_str(), O_WRONLY | O_CLOEXEC);
  if (fd < 0) fail("open " + path);
  ssize_t n = ::write(fd, data.data(), data.size());
  int saved = errno;
  ::close(fd);
  errno = saved;
  if (n != static_cast<ssize_t>(data.size())) fail("write " + path);
}

std::string read_small_file(const std::string& path) {
  std::ifstream in(path);
  std::stringstream s;
  s << in.rdbuf();
  return s.str();
}

bool write_all(int fd, const char* data, size_t size) {
  while (size > 0) {
    ssize_t n = ::write(fd, data, size);
    if (n < 0 && errno == EINTR) continue;
    if (n <= 0) return false;
    data += n;
    size -= static_cast<size_t>(n);
  }
  return true;
}

bool read_exact(int fd, void* data, size_t size) {
  char* p = static_cast<char*>(data);
  while (size > 0) {
    ssize_t n = ::read(fd, p, size);
    if (n < 0 && errno == EINTR) continue;
    if (n <= 0) return false;
    p += n;
    size -= static_cast<size_t>(n);
  }
  return true;
}

double now_ms() {
  return std::chrono::duration<double, std::milli>(std::chrono::steady_clock::now().time_since_epoch()).count();
}

// ---- cgroups (v1 controllers or the v2 unified tree), best effort -----------------------------------

struct CgroupMounts {
  std::string v1_memory, v1_pids, v2;
};

CgroupMounts find_cgroup_mounts() {
  CgroupMounts m;
  std::ifstream in("/proc/self/mountinfo");
  std::string line;
  while (std::getline(in, line)) {
    // ... mount_point ... - fstype source super_options
    std::istringstream s(line);
    std::string id, parent, devno, root, point, opts;
    s >> id >> parent >> devno >> root >> point >> opts;
    size_t dash = line.find(" - ");
    if (dash == std::string::npos) continue;
    std::istringstream t(line.substr(dash + 3));
    std::string fstype, source, super;
    t >> fstype >> source >> super;
    if (fstype == "cgroup2") m.v2 = point;
    if (fstype == "cgroup") {
      std::string o = "," + super + ",";
      if (o.find(",memory,") != std::string::npos) m.v1_memory = point;
      if (o.find(",pids,") != std::string::npos) m.v1_pids = point;
    }
  }
  return m;
}

// Our own cgroup path for a v1 controller ("memory") or v2 (controller "").
std::string own_cgroup(const std::string& controller) {
  std::ifstream in("/proc/self/cgroup");
  std::string line;
  while (std::getline(in, line)) {
    size_t a = line.find(':'), b = line.find(':', a + 1);
    if (a == std::string::npos || b == std::string::npos) continue;
    std::string ctrls = "," + line.substr(a + 1, b - a - 1) + ",";
    if (controller.empty() ? line.substr(0, a) == "0" && ctrls == ",,"
                           : ctrls.find("," + controller + ",") != std::string::npos)
      return line.substr(b + 1);
  }
  return "";
}

int64_t oom_kills(int fd) {
  if (fd < 0) return 0;
  char buf[1024];
  ssize_t n = ::pread(fd, buf, sizeof buf - 1, 0);
  if (n <= 0) return 0;
  buf[n] = 0;
  const char* p = std::strstr(buf, "oom_kill ");
  return p ? std::atoll(p + 9) : 0;
}

// ---- seccomp ----------------------------------------------------------------------------------------

// What no solution needs: debugging other processes, mounting, kernel modules and keyrings, bpf and
// perf, raw and packet sockets, namespaces, clocks, reboot, and reading other processes' memory.
const char* const kDenied[] = {
    "ptrace", "process_vm_readv", "process_vm_writev", "kcmp", "pidfd_getfd",
    "mount", "umount2", "pivot_root", "chroot", "move_mount", "open_tree", "fsopen", "fsmount", "fsconfig",
    "fspick", "mount_setattr", "name_to_handle_at", "open_by_handle_at",
    "init_module", "finit_module", "delete_module", "kexec_load", "kexec_file_load",
    "add_key", "request_key", "keyctl",
    "bpf", "perf_event_open", "userfaultfd", "io_uring_setup", "io_uring_enter", "io_uring_register",
    "unshare", "setns",
    "reboot", "swapon", "swapoff", "acct", "quotactl", "syslog", "vhangup", "lookup_dcookie",
    "settimeofday", "clock_settime", "clock_adjtime", "adjtimex", "sethostname", "setdomainname",
    "iopl", "ioperm", "mbind", "migrate_pages", "move_pages", "set_mempolicy",
    "fanotify_init", "uselib", "personality", "nfsservctl",
};

scmp_filter_ctx make_seccomp() {
  scmp_filter_ctx ctx = seccomp_init(SCMP_ACT_ALLOW);  // other architectures' syscalls: killed
  if (!ctx) throw std::runtime_error("seccomp_init failed");
  auto deny = [&](int nr) {
    if (nr != __NR_SCMP_ERROR) seccomp_rule_add(ctx, SCMP_ACT_ERRNO(EPERM), nr, 0);
  };
  for (const char* name : kDenied) deny(seccomp_syscall_resolve_name(name));
  // clone3 passes its flags in memory, out of the filter's sight: ENOSYS makes libc fall back to clone.
  int clone3 = seccomp_syscall_resolve_name("clone3");
  if (clone3 != __NR_SCMP_ERROR) seccomp_rule_add(ctx, SCMP_ACT_ERRNO(ENOSYS), clone3, 0);
  for (unsigned long flag : {CLONE_NEWUSER, CLONE_NEWNS, CLONE_NEWPID, CLONE_NEWNET, CLONE_NEWIPC, CLONE_NEWUTS,
                             CLONE_NEWCGROUP}) {
    seccomp_rule_add(ctx, SCMP_ACT_ERRNO(EPERM), SCMP_SYS(clone), 1, SCMP_A0(SCMP_CMP_MASKED_EQ, flag, flag));
  }
  seccomp_rule_add(ctx, SCMP_ACT_ERRNO(EPERM), SCMP_SYS(socket), 1, SCMP_A0(SCMP_CMP_EQ, AF_PACKET));
  seccomp_rule_add(ctx, SCMP_ACT_ERRNO(EPERM), SCMP_SYS(socket), 1, SCMP_A0(SCMP_CMP_EQ, AF_NETLINK));
  seccomp_rule_add(ctx, SCMP_ACT_ERRNO(EPERM), SCMP_SYS(socket), 1, SCMP_A1(SCMP_CMP_MASKED_EQ, 0xf, SOCK_RAW));
  seccomp_rule_add(ctx, SCMP_ACT_ERRNO(EPERM), SCMP_SYS(ioctl), 1, SCMP_A1(SCMP_CMP_EQ, TIOCSTI));
  return ctx;
}

void drop_capabilities() {
  for (int cap = 0; cap <= 63; ++cap) ::prctl(PR_CAPBSET_DROP, cap, 0, 0, 0);
  __user_cap_header_struct header{_LINUX_CAPABILITY_VERSION_3, 0};
  __user_cap_data_struct data[2] = {};
  ::syscall(SYS_capset, &header, data);
}

void mkdirs(const std::string& path) {
  std::string cur;
  std::istringstream s(path);
  std::string part;
  while (std::getline(s, part, '/')) {
    if (part.empty()) continue;
    cur += "/" + part;
    ::mkdir(cur.c_str(), 0755);
  }
}

// Shows host `path` read-only at root+path (a folder or a file; a symlink is copied as a symlink).
void bind_readonly(const std::string& root, const std::string& path) {
  struct stat st {};
  if (::lstat(path.c_str(), &st) != 0) return;  // absent on this host: nothing to show
  std::string target = root + path;
  mkdirs(target.substr(0, target.rfind('/')));
  if (S_ISLNK(st.st_mode)) {
    char link[4096];
    ssize_t n = ::readlink(path.c_str(), link, sizeof link - 1);
    if (n > 0) {
      link[n] = 0;
      ::symlink(link, target.c_str());
    }
    return;
  }
  if (S_ISDIR(st.st_mode)) {
    mkdirs(target);
  } else {
    int fd = ::open(target.c_str(), O_WRONLY | O_CREAT | O_CLOEXEC, 0644);
    if (fd >= 0) ::close(fd);
  }
  if (::mount(path.c_str(), target.c_str(), nullptr, MS_BIND | MS_REC, nullptr) != 0) fail("bind " + path);
  struct statvfs vfs {};
  unsigned long locked = 0;
  if (::statvfs(path.c_str(), &vfs) == 0) {
    if (vfs.f_flag & ST_NODEV) locked |= MS_NODEV;
    if (vfs.f_flag & ST_NOEXEC) locked |= MS_NOEXEC;
  }
  if (::mount(nullptr, target.c_str(), nullptr, MS_REMOUNT | MS_BIND | MS_RDONLY | MS_NOSUID | locked, nullptr) != 0)
    fail("read-only " + path);
}

std::vector<std::string> expand(const std::string& pattern) {
  std::vector<std::string> out;
  glob_t g{};
  if (::glob(pattern.c_str(), GLOB_NOSORT, nullptr, &g) == 0) {
    for (size_t i = 0; i < g.gl_pathc; ++i) out.emplace_back(g.gl_pathv[i]);
  }
  ::globfree(&g);
  return out;
}

void loopback_up() {
  int s = ::socket(AF_INET, SOCK_DGRAM | SOCK_CLOEXEC, 0);
  if (s < 0) return;
  ifreq ifr{};
  std::strncpy(ifr.ifr_name, "lo", IFNAMSIZ - 1);
  if (::ioctl(s, SIOCGIFFLAGS, &ifr) == 0) {
    ifr.ifr_flags |= IFF_UP;
    ::ioctl(s, SIOCSIFFLAGS, &ifr);
  }
  ::close(s);
}


// ---- running one process in the box ----------------------------------------------------------------

InProcessRunner g_runner = nullptr;
int64_t g_runner_extra_mb = 0;

// A forked child's way into a run: where its descriptors come from (the parent's numbering, -1:
// none) and what it may do.
struct ChildSetup {
  int in = -1, out = -1, err = -1, ctl = -1, chan = -1, errpipe = -1;
  int control_fd = 3, channel_fd = 4;
  RunLimits limits;
  const char* work_dir = "/work";
  bool drop_privileges = true, separate_uids = false;
  bool default_signals = true;  // exec'd programs start with default signal dispositions
  scmp_filter_ctx seccomp = nullptr;
  const std::vector<sock_filter>* gate = nullptr;  // a second filter: the gate's (gate_filter)
};

// In a freshly forked child: descriptors, process group, rlimits, cwd, uid, no_new_privs, seccomp.
// Returns the child's copy of errpipe (or -1); _exit()s when a step fails.
int enter_run(const ChildSetup& s) {
  // Move every fd the child keeps above 100 first, so the dup2s below cannot clobber one another.
  auto high = [](int fd) { return fd < 0 ? -1 : ::fcntl(fd, F_DUPFD_CLOEXEC, 100); };
  int hin = high(s.in), hout = high(s.out), herr = high(s.err), hctl = high(s.ctl), hchan = high(s.chan);
  int herrno = high(s.errpipe);
  ::dup2(hin, 0);
  ::dup2(hout, 1);
  ::dup2(herr, 2);
  if (hctl >= 0) ::dup2(hctl, s.control_fd);
  if (hchan >= 0) ::dup2(hchan, s.channel_fd);
  for (int fd = 3; fd < 100; ++fd)
    if (!(hctl >= 0 && fd == s.control_fd) && !(hchan >= 0 && fd == s.channel_fd)) ::close(fd);
  if (herrno >= 0) {
    ::close_range(100, static_cast<unsigned>(herrno - 1), 0);
    ::close_range(static_cast<unsigned>(herrno + 1), ~0U, 0);
  } else {
    ::close_range(100, ~0U, 0);
  }
  sigset_t none;
  sigemptyset(&none);
  ::sigprocmask(SIG_SETMASK, &none, nullptr);
  if (s.default_signals)
    for (int sig = 1; sig < NSIG; ++sig) ::signal(sig, SIG_DFL);
  ::setpgid(0, 0);
  ::prctl(PR_SET_PDEATHSIG, SIGKILL, 0, 0, 0);
  const RunLimits& l = s.limits;
  auto limit = [](int resource, rlim_t soft, rlim_t hard) {
    rlimit r{soft, hard};
    ::setrlimit(resource, &r);
  };
  rlim_t cpu = static_cast<rlim_t>(std::ceil(l.cpu_seconds));
  limit(RLIMIT_CPU, cpu, cpu + 1);
  limit(RLIMIT_AS, static_cast<rlim_t>(l.memory_mb) << 20, static_cast<rlim_t>(l.memory_mb) << 20);
  limit(RLIMIT_STACK, static_cast<rlim_t>(l.stack_mb) << 20, static_cast<rlim_t>(l.stack_mb) << 20);
  limit(RLIMIT_FSIZE, static_cast<rlim_t>(l.file_size_mb) << 20, static_cast<rlim_t>(l.file_size_mb) << 20);
  limit(RLIMIT_NOFILE, static_cast<rlim_t>(l.open_files), static_cast<rlim_t>(l.open_files));
  limit(RLIMIT_NPROC, static_cast<rlim_t>(l.processes), static_cast<rlim_t>(l.processes));
  limit(RLIMIT_CORE, 0, 0);
  limit(RLIMIT_MEMLOCK, 0, 0);
  limit(RLIMIT_MSGQUEUE, 0, 0);
  if (::chdir(s.work_dir) != 0) _exit(126);
  if (s.drop_privileges) {
    if (s.separate_uids) {
      const gid_t g = kCandidateUid;
      if (::setgroups(0, nullptr) != 0 || ::setresgid(g, g, g) != 0 ||
          ::setresuid(kCandidateUid, kCandidateUid, kCandidateUid) != 0)
        _exit(125);
    } else {
      drop_capabilities();
    }
  }
  ::prctl(PR_SET_NO_NEW_PRIVS, 1, 0, 0, 0);
  if (s.seccomp && seccomp_load(s.seccomp) != 0) _exit(124);
  if (s.gate) {
    sock_fprog prog{static_cast<unsigned short>(s.gate->size()), const_cast<sock_filter*>(s.gate->data())};
    if (::prctl(PR_SET_SECCOMP, SECCOMP_MODE_FILTER, &prog) != 0) _exit(124);
  }
  return herrno;
}


// The gate's filter: every system call that could read, write or duplicate the control or channel
// socket is refused (EPERM) unless made from the instruction at `ip`; AF_UNIX sockets (which could
// carry a copy of them elsewhere, SCM_RIGHTS) cannot be made at all.
std::vector<sock_filter> gate_filter(int ctl, int chan, uint64_t ip) {
#if defined(__x86_64__)
  struct FdArg {
    long nr;
    int arg;
  };
  const FdArg fd_args[] = {
      {SYS_read, 0},      {SYS_write, 0},      {SYS_pread64, 0},  {SYS_pwrite64, 0},  {SYS_readv, 0},
      {SYS_writev, 0},    {SYS_preadv, 0},     {SYS_pwritev, 0},  {SYS_preadv2, 0},   {SYS_pwritev2, 0},
      {SYS_recvfrom, 0},  {SYS_recvmsg, 0},    {SYS_recvmmsg, 0}, {SYS_sendto, 0},    {SYS_sendmsg, 0},
      {SYS_sendmmsg, 0},  {SYS_dup, 0},        {SYS_dup2, 0},     {SYS_dup3, 0},      {SYS_fcntl, 0},
      {SYS_splice, 0},    {SYS_splice, 2},     {SYS_sendfile, 0}, {SYS_sendfile, 1},  {SYS_copy_file_range, 0},
      {SYS_copy_file_range, 2}, {SYS_tee, 0},  {SYS_tee, 1},      {SYS_vmsplice, 0},
  };
  // Jump targets are resolved at the end: each entry remembers which label its true/false branch means.
  enum Label { kNext = -1, kAllow = -2, kCheckIp = -3, kDeny = -4, kAllowAfterCheck = -5 };
  struct Insn {
    sock_filter f;
    int jt_label = 0, jf_label = 0;  // 0: a literal offset
  };
  std::vector<Insn> p;
  auto stmt = [&](uint16_t code, uint32_t k) { p.push_back({BPF_STMT(code, k), 0, 0}); };
  auto jump = [&](uint32_t k, int jt, int jf) { p.push_back({BPF_JUMP(BPF_JMP | BPF_JEQ | BPF_K, k, 0, 0), jt, jf}); };
  const uint32_t nr_at = offsetof(seccomp_data, nr), arch_at = offsetof(seccomp_data, arch);
  auto arg_at = [](int i) { return static_cast<uint32_t>(offsetof(seccomp_data, args) + 8 * i); };  // low half
  std::vector<size_t> block_starts;
  stmt(BPF_LD | BPF_W | BPF_ABS, arch_at);
  jump(AUDIT_ARCH_X86_64, kNext, kAllow);  // other ABIs: the main filter kills them
  // x32 system calls (number | 0x40000000) would slip past the numbers below: refused.
  stmt(BPF_LD | BPF_W | BPF_ABS, nr_at);
  p.push_back({BPF_JUMP(BPF_JMP | BPF_JGE | BPF_K, 0x40000000u, 0, 0), kDeny, kNext});
  for (const FdArg& a : fd_args) {
    block_starts.push_back(p.size());
    stmt(BPF_LD | BPF_W | BPF_ABS, nr_at);
    jump(static_cast<uint32_t>(a.nr), kNext, 1000);  // 1000: the next block
    stmt(BPF_LD | BPF_W | BPF_ABS, arg_at(a.arg));
    jump(static_cast<uint32_t>(ctl), kCheckIp, kNext);
    jump(static_cast<uint32_t>(chan), kCheckIp, 1000);
  }
  for (long nr : {static_cast<long>(SYS_socket), static_cast<long>(SYS_socketpair)}) {
    block_starts.push_back(p.size());
    stmt(BPF_LD | BPF_W | BPF_ABS, nr_at);
    jump(static_cast<uint32_t>(nr), kNext, 1000);
    stmt(BPF_LD | BPF_W | BPF_ABS, arg_at(0));
    jump(AF_UNIX, kDeny, 1000);
  }
  block_starts.push_back(p.size());
  const size_t allow = p.size();
  stmt(BPF_RET | BPF_K, SECCOMP_RET_ALLOW);
  const size_t check_ip = p.size();
  stmt(BPF_LD | BPF_W | BPF_ABS, static_cast<uint32_t>(offsetof(seccomp_data, instruction_pointer)));
  jump(static_cast<uint32_t>(ip & 0xffffffffu), kNext, kDeny);
  stmt(BPF_LD | BPF_W | BPF_ABS, static_cast<uint32_t>(offsetof(seccomp_data, instruction_pointer) + 4));
  jump(static_cast<uint32_t>(ip >> 32), kAllowAfterCheck, kDeny);  // jumps only go forward
  const size_t allow_after_check = p.size();
  stmt(BPF_RET | BPF_K, SECCOMP_RET_ALLOW);
  const size_t deny = p.size();
  stmt(BPF_RET | BPF_K, SECCOMP_RET_ERRNO | (EPERM & SECCOMP_RET_DATA));
  // Resolve: offsets count from the instruction after the jump.
  std::vector<sock_filter> out;
  for (size_t i = 0; i < p.size(); ++i) {
    sock_filter f = p[i].f;
    auto resolve = [&](int label) -> uint8_t {
      size_t target = i + 1;
      if (label == kAllow) target = allow;
      if (label == kAllowAfterCheck) target = allow_after_check;
      if (label == kCheckIp) target = check_ip;
      if (label == kDeny) target = deny;
      if (label == 1000) {
        target = allow;
        for (size_t b : block_starts)
          if (b > i) {
            target = b;
            break;
          }
      }
      size_t off = target - (i + 1);
      if (target < i + 1 || off > 255) throw std::runtime_error("the gate's filter does not fit BPF's jumps");
      return static_cast<uint8_t>(off);
    };
    if (BPF_CLASS(f.code) == BPF_JMP) {
      f.jt = resolve(p[i].jt_label);
      f.jf = resolve(p[i].jf_label);
    }
    out.push_back(f);
  }
  return out;
#else
  (void)ctl;
  (void)chan;
  (void)ip;
  throw std::runtime_error("gated runs need x86-64");
#endif
}

// The relay's spawn service: pid 1 asks for an in-process run; the relay forks it from its own
// (job-free) memory into the box's namespaces and reports its exit. One run at a time.
struct SpawnRequest {
  RunLimits limits;
  int32_t entry = 0;
  int32_t control_fd = 3, channel_fd = 4;
  uint8_t has_ctl = 0, has_chan = 0, drop_privileges = 1, use_seccomp = 1;
  char work_dir[240] = {};
  // followed by the arguments, each ending in '\0'
};
struct SpawnReply {
  int32_t pid = -1;  // in the relay's PID namespace (the box's own in weak mode)
  int32_t error = 0;
};
struct SpawnExit {
  int32_t status = 0;
  double cpu_ms = 0;
  int64_t max_rss_kb = 0;
};

bool send_with_fds(int sock, const void* a, size_t na, const void* b, size_t nb, const int* fds, int nfds) {
  iovec iov[2] = {{const_cast<void*>(a), na}, {const_cast<void*>(b), nb}};
  msghdr msg{};
  msg.msg_iov = iov;
  msg.msg_iovlen = nb > 0 ? 2 : 1;
  alignas(cmsghdr) char control[CMSG_SPACE(sizeof(int) * 8)] = {};
  if (nfds > 0) {
    msg.msg_control = control;
    msg.msg_controllen = CMSG_SPACE(sizeof(int) * static_cast<size_t>(nfds));
    cmsghdr* c = CMSG_FIRSTHDR(&msg);
    c->cmsg_level = SOL_SOCKET;
    c->cmsg_type = SCM_RIGHTS;
    c->cmsg_len = CMSG_LEN(sizeof(int) * static_cast<size_t>(nfds));
    std::memcpy(CMSG_DATA(c), fds, sizeof(int) * static_cast<size_t>(nfds));
  }
  for (;;) {
    ssize_t n = ::sendmsg(sock, &msg, MSG_NOSIGNAL);
    if (n < 0 && errno == EINTR) continue;
    return n == static_cast<ssize_t>(na + nb);
  }
}

// One message (<= size bytes) and up to max_fds descriptors; the message's length, 0 at end of file.
ssize_t recv_with_fds(int sock, void* buf, size_t size, int* fds, int max_fds, int* nfds) {
  iovec iov{buf, size};
  msghdr msg{};
  msg.msg_iov = &iov;
  msg.msg_iovlen = 1;
  alignas(cmsghdr) char control[CMSG_SPACE(sizeof(int) * 8)] = {};
  msg.msg_control = control;
  msg.msg_controllen = sizeof control;
  *nfds = 0;
  ssize_t n;
  while ((n = ::recvmsg(sock, &msg, MSG_CMSG_CLOEXEC)) < 0 && errno == EINTR) {
  }
  for (cmsghdr* c = CMSG_FIRSTHDR(&msg); c; c = CMSG_NXTHDR(&msg, c)) {
    if (c->cmsg_level != SOL_SOCKET || c->cmsg_type != SCM_RIGHTS) continue;
    int count = static_cast<int>((c->cmsg_len - CMSG_LEN(0)) / sizeof(int));
    for (int i = 0; i < count; ++i) {
      int fd;
      std::memcpy(&fd, CMSG_DATA(c) + i * sizeof(int), sizeof fd);
      if (*nfds < max_fds) {
        fds[(*nfds)++] = fd;
      } else {
        ::close(fd);
      }
    }
  }
  return n;
}

void serve_spawns(int sock, bool separate_uids) {
  std::vector<char> buf(1 << 16);
  for (;;) {
    int fds[5];
    int nfds = 0;
    ssize_t n = recv_with_fds(sock, buf.data(), buf.size(), fds, 5, &nfds);
    if (n <= 0) return;  // pid 1 is gone
    SpawnRequest req;
    SpawnReply reply;
    std::vector<std::string> argv;
    std::memcpy(&req, buf.data(), std::min(sizeof req, static_cast<size_t>(n)));
    for (size_t at = sizeof req; at < static_cast<size_t>(n);) {
      size_t end = at;
      while (end < static_cast<size_t>(n) && buf[end] != 0) ++end;
      argv.emplace_back(buf.data() + at, end - at);
      at = end + 1;
    }
    const int wanted = 3 + req.has_ctl + req.has_chan;
    if (static_cast<size_t>(n) < sizeof req || nfds != wanted || !g_runner) reply.error = EINVAL;
    pid_t pid = -1;
    if (reply.error == 0) {
      pid = ::fork();
      if (pid == 0) {
        ::close(sock);
        ChildSetup s;
        s.in = fds[0];
        s.out = fds[1];
        s.err = fds[2];
        int next = 3;
        if (req.has_ctl) s.ctl = fds[next++];
        if (req.has_chan) s.chan = fds[next++];
        s.control_fd = req.control_fd;
        s.channel_fd = req.channel_fd;
        s.limits = req.limits;
        req.work_dir[sizeof req.work_dir - 1] = 0;
        s.work_dir = req.work_dir;
        s.drop_privileges = req.drop_privileges != 0;
        s.separate_uids = separate_uids;
        s.default_signals = false;  // the interpreter's own (SIGPIPE ignored, as python3 has it)
        s.seccomp = req.use_seccomp ? make_seccomp() : nullptr;
        enter_run(s);
        g_runner(req.entry, argv);
        _exit(127);
      }
      if (pid < 0) reply.error = errno;
    }
    for (int i = 0; i < nfds; ++i) ::close(fds[i]);
    int pidfd = pid > 0 ? static_cast<int>(::syscall(SYS_pidfd_open, pid, 0)) : -1;
    reply.pid = pid;
    send_with_fds(sock, &reply, sizeof reply, nullptr, 0, &pidfd, pidfd >= 0 ? 1 : 0);
    if (pidfd >= 0) ::close(pidfd);
    if (pid <= 0) continue;
    SpawnExit done;
    rusage usage{};
    int status = 0;
    while (::wait4(pid, &status, 0, &usage) < 0 && errno == EINTR) {
    }
    auto ms = [](const timeval& t) { return t.tv_sec * 1000.0 + t.tv_usec / 1000.0; };
    done.status = status;
    done.cpu_ms = ms(usage.ru_utime) + ms(usage.ru_stime);
    done.max_rss_kb = usage.ru_maxrss;
    send_with_fds(sock, &done, sizeof done, nullptr, 0, nullptr, 0);
  }
}

}  // namespace

// ---- cgroups ----

struct CgroupImpl {
  std::vector<std::string> dirs;  // created folders, removed at the end
  std::string memory_dir, pids_dir, version;
  bool v2 = false;
  int oom_fd = -1;

  bool make(const std::string& dir) {
    if (::mkdir(dir.c_str(), 0755) != 0 && errno != EEXIST) return false;
    dirs.push_back(dir);
    return true;
  }
  static bool try_write(const std::string& path, const std::string& value) {
    try {
      write_file(path, value);
      return true;
    } catch (const std::exception&) {
      return false;
    }
  }

  void create(int64_t memory_mb, int64_t pids) {
    CgroupMounts m = find_cgroup_mounts();
    std::string name = "/r1-box-" + std::to_string(::getpid());
    if (!m.v1_memory.empty() || !m.v1_pids.empty()) {
      version = "v1";
      if (!m.v1_memory.empty() && memory_mb > 0) {
        std::string dir = m.v1_memory + own_cgroup("memory") + name;
        if (make(dir) && try_write(dir + "/memory.limit_in_bytes", std::to_string(memory_mb << 20))) {
          try_write(dir + "/memory.memsw.limit_in_bytes", std::to_string(memory_mb << 20));  // absent without swap accounting
          memory_dir = dir;
          oom_fd = ::open((dir + "/memory.oom_control").c_str(), O_RDONLY | O_CLOEXEC);
        }
      }
      if (!m.v1_pids.empty() && pids > 0) {
        std::string dir = m.v1_pids + own_cgroup("pids") + name;
        if (make(dir) && try_write(dir + "/pids.max", std::to_string(pids))) pids_dir = dir;
      }
    } else if (!m.v2.empty()) {
      version = "v2";
      v2 = true;
      std::string dir = m.v2 + own_cgroup("") + name;
      if (make(dir)) {
        if (memory_mb > 0 && try_write(dir + "/memory.max", std::to_string(memory_mb << 20))) {
          try_write(dir + "/memory.swap.max", "0");
          memory_dir = dir;
          oom_fd = ::open((dir + "/memory.events").c_str(), O_RDONLY | O_CLOEXEC);
        }
        if (pids > 0 && try_write(dir + "/pids.max", std::to_string(pids))) pids_dir = dir;
      }
    }
  }

  bool joined = false;

  void add(pid_t pid) {
    std::string p = std::to_string(pid);
    if (!memory_dir.empty()) try_write(memory_dir + "/cgroup.procs", p);
    if (!pids_dir.empty() && pids_dir != memory_dir) try_write(pids_dir + "/cgroup.procs", p);
  }

  int64_t peak_kb() const { return read_kb(v2 ? "/memory.peak" : "/memory.max_usage_in_bytes"); }
  int64_t usage_kb() const { return read_kb(v2 ? "/memory.current" : "/memory.usage_in_bytes"); }
  int64_t read_kb(const char* file) const {
    if (memory_dir.empty()) return 0;
    std::string s = read_small_file(memory_dir + file);
    try {
      return std::stoll(s) / 1024;
    } catch (...) {
      return 0;
    }
  }

  ~CgroupImpl() {
    if (oom_fd >= 0) ::close(oom_fd);
    if (joined) {
      // A cgroup with a member cannot be removed: step back out into the parent first.
      std::string p = std::to_string(::getpid());
      for (const std::string& dir : {memory_dir, pids_dir})
        if (!dir.empty()) try_write(dir.substr(0, dir.rfind('/')) + "/cgroup.procs", p);
    }
    for (auto it = dirs.rbegin(); it != dirs.rend(); ++it) {
      // The box's processes are dead, but their exit may still be in flight: retry briefly.
      for (int i = 0; i < 200 && ::rmdir(it->c_str()) != 0 && errno == EBUSY; ++i) ::usleep(1000);
    }
  }
};


// ---- probe ------------------------------------------------------------------------------------------

Protections probe() {
  Protections p;
  struct Try {
    int flag;
    bool* ok;
    const char* name;
  };
  // Each namespace in a child of its own: a failure names the one that is missing.
  auto try_unshare = [](int flags) {
    pid_t pid = ::fork();
    if (pid == 0) _exit(::unshare(flags) == 0 ? 0 : 1);
    int status = 0;
    ::waitpid(pid, &status, 0);
    return WIFEXITED(status) && WEXITSTATUS(status) == 0;
  };
  p.user_ns = try_unshare(CLONE_NEWUSER);
  if (!p.user_ns) p.missing.push_back("user namespaces (kernel.unprivileged_userns_clone or user.max_user_namespaces)");
  Try rest[] = {{CLONE_NEWPID, &p.pid_ns, "PID namespaces"},     {CLONE_NEWNET, &p.net_ns, "network namespaces"},
                {CLONE_NEWNS, &p.mount_ns, "mount namespaces"},   {CLONE_NEWIPC, &p.ipc_ns, "IPC namespaces"},
                {CLONE_NEWUTS, &p.uts_ns, "UTS namespaces"}};
  for (const Try& t : rest) {
    *t.ok = p.user_ns && try_unshare(CLONE_NEWUSER | t.flag);
    if (!*t.ok) p.missing.push_back(t.name);
  }
  {
    pid_t pid = ::fork();
    if (pid == 0) {
      ::prctl(PR_SET_NO_NEW_PRIVS, 1, 0, 0, 0);
      scmp_filter_ctx ctx = make_seccomp();
      _exit(seccomp_load(ctx) == 0 ? 0 : 1);
    }
    int status = 0;
    ::waitpid(pid, &status, 0);
    p.seccomp = WIFEXITED(status) && WEXITSTATUS(status) == 0;
    if (!p.seccomp) p.missing.push_back("seccomp-bpf filters");
  }
  {
    CgroupImpl cg;
    cg.create(64, 16);
    p.cgroup_version = cg.version;
    p.cgroup_memory = !cg.memory_dir.empty();
    p.cgroup_pids = !cg.pids_dir.empty();
    if (!p.cgroup_memory) p.missing.push_back("a writable cgroup memory controller (rlimits still bound memory)");
    if (!p.cgroup_pids) p.missing.push_back("a writable cgroup pids controller (RLIMIT_NPROC still bounds processes)");
  }
  p.separate_uids = p.user_ns && ::geteuid() == 0;
  return p;
}

// ---- launch -----------------------------------------------------------------------------------------

Cgroup::Cgroup() : impl_(std::make_unique<CgroupImpl>()) {}
Cgroup::~Cgroup() = default;
void Cgroup::create(int64_t memory_mb, int64_t pids) { impl_->create(memory_mb, pids); }
void Cgroup::join() {
  impl_->add(::getpid());
  impl_->joined = true;
}
void Cgroup::set_limits(int64_t memory_mb, int64_t pids) {
  if (!impl_->memory_dir.empty() && memory_mb > 0) {
    const std::string m = std::to_string(memory_mb << 20);
    // v1 keeps memsw >= memory: order the writes so neither is refused.
    if (!impl_->v2) {
      CgroupImpl::try_write(impl_->memory_dir + "/memory.memsw.limit_in_bytes", "-1");
      CgroupImpl::try_write(impl_->memory_dir + "/memory.limit_in_bytes", m);
      CgroupImpl::try_write(impl_->memory_dir + "/memory.memsw.limit_in_bytes", m);
      CgroupImpl::try_write(impl_->memory_dir + "/memory.max_usage_in_bytes", "0");  // resets the peak
    } else {
      CgroupImpl::try_write(impl_->memory_dir + "/memory.max", m);
    }
  }
  if (!impl_->pids_dir.empty() && pids > 0) CgroupImpl::try_write(impl_->pids_dir + "/pids.max", std::to_string(pids));
}
int Cgroup::oom_fd() const { return impl_->oom_fd; }
int64_t Cgroup::peak_kb() const { return impl_->peak_kb(); }
bool Cgroup::active() const { return !impl_->memory_dir.empty() || !impl_->pids_dir.empty(); }

static void mark(const char* what) {
  static const bool on = std::getenv("R1_BOX_PROFILE") != nullptr;
  static double last = now_ms();
  if (!on) return;
  double t = now_ms();
  std::fprintf(stderr, "[r1-box %d] %-24s +%.2f ms\n", ::getpid(), what, t - last);
  last = t;
}

bool send_message(int sock, const void* data, size_t size, const int* fds, int nfds) {
  return send_with_fds(sock, data, size, nullptr, 0, fds, nfds);
}
ssize_t recv_message(int sock, void* data, size_t size, int* fds, int max_fds, int* nfds) {
  return recv_with_fds(sock, data, size, fds, max_fds, nfds);
}

void remove_cgroups_of(pid_t pid) {
  CgroupMounts m = find_cgroup_mounts();
  const std::string name = "/r1-box-" + std::to_string(pid);
  std::vector<std::string> dirs;
  if (!m.v1_memory.empty()) dirs.push_back(m.v1_memory + own_cgroup("memory") + name);
  if (!m.v1_pids.empty()) dirs.push_back(m.v1_pids + own_cgroup("pids") + name);
  if (!m.v2.empty()) dirs.push_back(m.v2 + own_cgroup("") + name);
  for (const std::string& dir : dirs)
    for (int i = 0; i < 200 && ::rmdir(dir.c_str()) != 0 && errno == EBUSY; ++i) ::usleep(1000);
}

bool gate_supported() {
#if defined(__x86_64__)
  return true;
#else
  return false;
#endif
}

void set_in_process_runner(InProcessRunner runner, int64_t extra_address_space_mb) {
  g_runner = runner;
  g_runner_extra_mb = extra_address_space_mb;
}

Launched launch(const Launch& options, int (*inside)(const InsideContext&, void*), void* arg) {
  mark("launch");
  // A job's own cgroup, unless it runs inside a slot's (the serve mode: joined once, since moving a
  // process into a cgroup waits for an RCU grace period, ~10 ms, while forking into one is free).
  CgroupImpl own;
  CgroupImpl& cgroup = options.slot ? *options.slot->impl_ : own;
  // The slot's cgroup also holds its server (the zygote): the job's peak is counted above that.
  int64_t baseline_kb = 0;
  if (options.slot) {
    options.slot->set_limits(options.cgroup_memory_mb, options.cgroup_pids);
    baseline_kb = cgroup.usage_kb();
  } else {
    own.create(options.cgroup_memory_mb, options.cgroup_pids);
  }
  const bool pass_through = options.result_fd >= 0;
  int result[2] = {-1, options.result_fd}, ready[2], go[2], spawn[2];
  if ((!pass_through && ::pipe2(result, O_CLOEXEC) != 0) || ::pipe2(ready, O_CLOEXEC) != 0 ||
      ::pipe2(go, O_CLOEXEC) != 0 || ::socketpair(AF_UNIX, SOCK_SEQPACKET | SOCK_CLOEXEC, 0, spawn) != 0)
    fail("pipe");
  const bool root_host = ::geteuid() == 0;
  const bool separate = options.isolate && root_host;

  pid_t relay = ::fork();
  if (relay < 0) fail("fork");
  if (relay == 0) {
    if (result[0] >= 0) ::close(result[0]);
    ::close(ready[0]);
    ::close(go[1]);
    ::prctl(PR_SET_PDEATHSIG, SIGKILL, 0, 0, 0);
    if (options.isolate &&
        ::unshare(CLONE_NEWUSER | CLONE_NEWNS | CLONE_NEWPID | CLONE_NEWNET | CLONE_NEWIPC | CLONE_NEWUTS) != 0) {
      _exit(111);
    }
    char c = 'r';
    if (!write_all(ready[1], &c, 1) || !read_exact(go[0], &c, 1)) _exit(112);
    // Become the namespace's root, whom the maps just defined (on the host: an unprivileged uid).
    if (options.isolate) {
      if (separate) ::setgroups(0, nullptr);
      if (::setresgid(0, 0, 0) != 0 || ::setresuid(0, 0, 0) != 0) _exit(113);
    }
    pid_t init = ::fork();
    if (init == 0) {
      ::close(ready[1]);
      ::close(spawn[0]);
      ::prctl(PR_SET_PDEATHSIG, SIGKILL, 0, 0, 0);
      InsideContext context;
      context.result_fd = result[1];
      context.oom_fd = cgroup.oom_fd;
      context.separate_uids = separate;
      context.spawn_fd = spawn[1];
      _exit(inside(context, arg));
    }
    write_all(ready[1], reinterpret_cast<const char*>(&init), sizeof init);
    ::close(ready[1]);
    ::close(result[1]);
    ::close(spawn[1]);
    if (init > 0) serve_spawns(spawn[0], separate);
    int status = 0;
    while (init > 0 && ::waitpid(init, &status, 0) < 0 && errno == EINTR) {
    }
    _exit(WIFEXITED(status) ? WEXITSTATUS(status) : 128 + WTERMSIG(status));
  }
  if (!pass_through) ::close(result[1]);
  ::close(ready[1]);
  ::close(go[0]);
  ::close(spawn[0]);
  ::close(spawn[1]);
  if (!options.slot) cgroup.add(relay);
  char c = 0;
  mark("forked relay");
  if (!read_exact(ready[0], &c, 1)) {
    ::waitpid(relay, nullptr, 0);
    errno = EPERM;
    fail("creating the sandbox's namespaces");
  }
  if (options.isolate) {
    std::string proc = "/proc/" + std::to_string(relay);
    if (separate) {
      // Inside root and the candidate map to two unprivileged host uids of their own.
      const unsigned base = 200000u + 2u * static_cast<unsigned>(::getpid() % 1000000);
      std::string map = "0 " + std::to_string(base) + " 1\n" + std::to_string(kCandidateUid) + " " +
                        std::to_string(base + 1) + " 1\n";
      write_file(proc + "/uid_map", map);
      write_file(proc + "/gid_map", map);
    } else {
      write_file(proc + "/setgroups", "deny");
      write_file(proc + "/uid_map", "0 " + std::to_string(::geteuid()) + " 1\n");
      write_file(proc + "/gid_map", "0 " + std::to_string(::getegid()) + " 1\n");
    }
  }
  mark("namespaces + maps");
  c = 'g';
  write_all(go[1], &c, 1);
  ::close(go[1]);
  pid_t init = -1;
  read_exact(ready[0], &init, sizeof init);
  ::close(ready[0]);

  Launched out;
  const double deadline = now_ms() + options.watchdog_seconds * 1000.0;
  // Wait for the result's end of file (it is ours to read), or for the relay's exit (passed through).
  int waited = pass_through ? static_cast<int>(::syscall(SYS_pidfd_open, relay, 0)) : result[0];
  char buf[65536];
  for (;;) {
    if (waited < 0) break;
    pollfd pfd{waited, POLLIN, 0};
    int wait = static_cast<int>(std::max(0.0, deadline - now_ms()));
    int n = ::poll(&pfd, 1, wait);
    if (n < 0 && errno == EINTR) continue;
    if (n == 0) {
      out.watchdog_fired = true;
      if (init > 0) ::kill(init, SIGKILL);
      ::kill(relay, SIGKILL);
      break;
    }
    if (pass_through) break;
    ssize_t r = ::read(result[0], buf, sizeof buf);
    if (r < 0 && errno == EINTR) continue;
    if (r <= 0) break;
    if (out.result.size() < (64u << 20)) out.result.append(buf, static_cast<size_t>(r));
  }
  if (waited >= 0) ::close(waited);
  mark("result read");
  int status = 0;
  while (::waitpid(relay, &status, 0) < 0 && errno == EINTR) {
  }
  mark("relay reaped");
  out.peak_memory_kb = std::max<int64_t>(0, cgroup.peak_kb() - baseline_kb);
  return out;
}

// ---- the box ----------------------------------------------------------------------------------------

Box::Box(Options options) : options_(std::move(options)) {
  mark("init started");
  separate_uids_ = options_.isolate && options_.separate_uids;
  candidate_uid_ = separate_uids_ ? kCandidateUid : 0;
  if (options_.isolate) {
    setup_root();
  } else {
    char tmpl[] = "/tmp/r1-box-XXXXXX";
    if (!::mkdtemp(tmpl)) fail("mkdtemp");
    weak_root_ = tmpl;
    layout_.root = weak_root_;
    layout_.work = weak_root_ + "/work";
    layout_.harness = weak_root_ + "/r1";
    ::mkdir(layout_.work.c_str(), 0755);
    ::mkdir(layout_.harness.c_str(), 0755);
    ::prctl(PR_SET_CHILD_SUBREAPER, 1, 0, 0, 0);
  }
  mark("root set up");
  if (options_.use_seccomp) seccomp_ctx_ = make_seccomp();
  mark("seccomp built");
}

Box::~Box() {
  if (seccomp_ctx_) seccomp_release(static_cast<scmp_filter_ctx>(seccomp_ctx_));
  if (!weak_root_.empty()) {
    std::error_code ec;
    std::filesystem::remove_all(weak_root_, ec);
  }
}

void Box::setup_root() {
  // Called in pid 1 of the new namespaces. Nothing here is visible to the host.
  if (::mount(nullptr, "/", nullptr, MS_REC | MS_PRIVATE, nullptr) != 0) fail("make / private");
  const std::string root = "/tmp";
  if (::mount("r1-box", root.c_str(), "tmpfs", MS_NOSUID | MS_NODEV, "size=16m,nr_inodes=4096,mode=0755") != 0)
    fail("mount the root tmpfs");
  // Merged-/usr hosts have /bin, /lib... as symlinks into /usr; copy them as symlinks.
  for (const char* top : {"/bin", "/sbin", "/lib", "/lib32", "/lib64", "/libx32"}) {
    struct stat st {};
    if (::lstat(top, &st) == 0 && S_ISLNK(st.st_mode)) bind_readonly(root, top);
  }
  for (const std::string& pattern : options_.binds)
    for (const std::string& path : expand(pattern)) bind_readonly(root, path);

  mkdirs(root + "/dev");
  for (const char* dev : {"null", "zero", "full", "random", "urandom"}) {
    std::string host = std::string("/dev/") + dev, target = root + host;
    int fd = ::open(target.c_str(), O_WRONLY | O_CREAT | O_CLOEXEC, 0666);
    if (fd >= 0) ::close(fd);
    if (::mount(host.c_str(), target.c_str(), nullptr, MS_BIND, nullptr) != 0) fail("bind " + host);
  }
  ::symlink("/proc/self/fd", (root + "/dev/fd").c_str());
  ::symlink("/proc/self/fd/0", (root + "/dev/stdin").c_str());
  ::symlink("/proc/self/fd/1", (root + "/dev/stdout").c_str());
  ::symlink("/proc/self/fd/2", (root + "/dev/stderr").c_str());

  mkdirs(root + "/proc");
  // hidepid: the candidate sees only its own processes (not the judge's, not pid 1's).
  if (::mount("proc", (root + "/proc").c_str(), "proc", MS_NOSUID | MS_NODEV | MS_NOEXEC, "hidepid=2") != 0)
    fail("mount /proc");

  mkdirs(root + layout_.harness);
  mkdirs(root + layout_.work);
  ::symlink(layout_.work.c_str(), (root + "/tmp").c_str());
  // The work tmpfs belongs to the candidate; its size bounds what the candidate can write.
  std::string opts = "size=" + std::to_string(options_.disk_mb) + "m,nr_inodes=4096,mode=0755,uid=" +
                     std::to_string(candidate_uid_) + ",gid=" + std::to_string(candidate_uid_);
  if (::mount("r1-work", (root + layout_.work).c_str(), "tmpfs", MS_NOSUID | MS_NODEV, opts.c_str()) != 0)
    fail("mount the work tmpfs");

  const std::string old = root + "/.old";
  mkdirs(old);
  if (::syscall(SYS_pivot_root, root.c_str(), old.c_str()) != 0) fail("pivot_root");
  if (::chdir("/") != 0) fail("chdir /");
  if (::umount2("/.old", MNT_DETACH) != 0) fail("detach the host's root");
  ::rmdir("/.old");
  ::sethostname("sandbox", 7);
  loopback_up();
}

void Box::write_work_file(const std::string& name, const std::string& data) {
  std::string path = layout_.work + "/" + name;
  int fd = ::open(path.c_str(), O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC | O_NOFOLLOW, 0644);
  if (fd < 0) fail("create " + path);
  bool ok = write_all(fd, data.data(), data.size());
  ::close(fd);
  if (!ok) fail("write " + path);
}

void Box::write_harness_file(const std::string& name, const std::string& data) {
  std::string path = layout_.harness + "/" + name;
  int fd = ::open(path.c_str(), O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC | O_NOFOLLOW, 0444);
  if (fd < 0) fail("create " + path);
  bool ok = write_all(fd, data.data(), data.size());
  ::close(fd);
  if (!ok) fail("write " + path);
}

void Box::kill_leftovers(pid_t pgid) {
  if (options_.isolate) {
    ::kill(-1, SIGKILL);  // from pid 1: every other process of the box's PID namespace
  } else {
    ::kill(-pgid, SIGKILL);
  }
  // Reap everything: the run's processes and whatever they left, reparented to us.
  for (;;) {
    pid_t r = ::waitpid(-1, nullptr, options_.isolate ? 0 : WNOHANG);
    if (r > 0 || (r < 0 && errno == EINTR)) continue;
    break;
  }
}

RunOutcome Box::run(const RunSpec& spec) {
  mark("run");
  RunOutcome out;
  int in[2], o[2], e[2], ctl[2] = {-1, -1}, chan[2] = {-1, -1}, execerr[2];
  if (::pipe2(in, O_CLOEXEC) || ::pipe2(o, O_CLOEXEC) || ::pipe2(e, O_CLOEXEC) || ::pipe2(execerr, O_CLOEXEC))
    fail("pipe");
  // A gated run's control and channel are sockets: unlike a pipe, a socket cannot be opened again
  // through /proc/self/fd, so the gate's filter sees every way to its data.
  const bool gated = spec.gate_ip != 0;
  auto channel = [&](int fds[2]) {
    return gated ? ::socketpair(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0, fds) : ::pipe2(fds, O_CLOEXEC);
  };
  std::vector<sock_filter> gate;
  if (spec.control) {
    if (channel(ctl)) fail("pipe");
    if (static_cast<int64_t>(spec.control->size()) >= 65536)
      ::fcntl(ctl[1], F_SETPIPE_SZ, static_cast<int>(spec.control->size() + 4096));
    if (!write_all(ctl[1], spec.control->data(), spec.control->size()))
      throw std::runtime_error("the test data is larger than a pipe can hold");
    ::close(ctl[1]);
    ctl[1] = -1;
  }
  if (spec.result_channel && channel(chan)) fail("pipe");
  if (gated) gate = gate_filter(spec.control ? spec.control_fd : -1, spec.result_channel ? spec.channel_fd : -1,
                                spec.gate_ip);
  rusage before{};
  ::getrusage(RUSAGE_CHILDREN, &before);
  const int64_t oom_before = oom_kills(options_.oom_events_fd);

  std::vector<std::string> env = {"PATH=/usr/local/bin:/usr/bin:/bin", "HOME=" + layout_.work,
                                  "TMPDIR=" + layout_.work, "LANG=C.UTF-8", "LC_ALL=C.UTF-8"};
  std::vector<char*> envp, argv;
  for (auto& s : env) envp.push_back(s.data());
  envp.push_back(nullptr);
  std::vector<std::string> args = spec.argv;
  for (auto& s : args) argv.push_back(s.data());
  argv.push_back(nullptr);
  const double start = now_ms();

  // An in-process run (the Python zygote) is forked by the relay; anything else is exec'd from here.
  const bool in_process = spec.in_process_entry != 0 && options_.spawn_fd >= 0 && g_runner != nullptr && !gated;
  pid_t pid = -1;
  int pidfd = -1;
  if (in_process) {
    SpawnRequest req;
    req.limits = spec.limits;
    req.limits.memory_mb += g_runner_extra_mb;
    req.entry = spec.in_process_entry;
    req.control_fd = spec.control_fd;
    req.channel_fd = spec.channel_fd;
    req.has_ctl = ctl[0] >= 0;
    req.has_chan = chan[1] >= 0;
    req.drop_privileges = spec.drop_privileges;
    req.use_seccomp = seccomp_ctx_ != nullptr;
    std::snprintf(req.work_dir, sizeof req.work_dir, "%s", layout_.work.c_str());
    std::string args;
    for (const std::string& a : spec.in_process_argv) {
      args.append(a);
      args.push_back('\0');
    }
    int fds[5] = {in[0], o[1], e[1]};
    int nfds = 3;
    if (ctl[0] >= 0) fds[nfds++] = ctl[0];
    if (chan[1] >= 0) fds[nfds++] = chan[1];
    if (!send_with_fds(options_.spawn_fd, &req, sizeof req, args.data(), args.size(), fds, nfds))
      fail("ask the relay for a run");
    SpawnReply reply;
    int got = 0;
    ssize_t n = recv_with_fds(options_.spawn_fd, &reply, sizeof reply, &pidfd, 1, &got);
    if (n != static_cast<ssize_t>(sizeof reply) || reply.error != 0 || got != 1) {
      if (got == 1) ::close(pidfd);
      errno = n == static_cast<ssize_t>(sizeof reply) && reply.error != 0 ? reply.error : EPROTO;
      fail("start an in-process run");
    }
    pid = reply.pid;
  } else {
    pid = ::fork();
    if (pid < 0) fail("fork");
    if (pid == 0) {
      ChildSetup s;
      s.in = in[0];
      s.out = o[1];
      s.err = e[1];
      s.ctl = ctl[0];
      s.chan = chan[1];
      s.errpipe = execerr[1];
      s.control_fd = spec.control_fd;
      s.channel_fd = spec.channel_fd;
      s.limits = spec.limits;
      s.work_dir = layout_.work.c_str();
      s.drop_privileges = spec.drop_privileges;
      s.separate_uids = separate_uids_;
      s.seccomp = static_cast<scmp_filter_ctx>(seccomp_ctx_);
      if (gated) s.gate = &gate;
      int herrno = enter_run(s);
      ::execve(argv[0], argv.data(), envp.data());
      int err = errno;
      write_all(herrno, reinterpret_cast<const char*>(&err), sizeof err);
      _exit(127);
    }
    pidfd = static_cast<int>(::syscall(SYS_pidfd_open, pid, 0));
  }
  ::close(in[0]);
  ::close(o[1]);
  ::close(e[1]);
  ::close(execerr[1]);
  if (ctl[0] >= 0) ::close(ctl[0]);
  if (chan[1] >= 0) ::close(chan[1]);
  ::fcntl(in[1], F_SETFL, O_NONBLOCK);

  size_t stdin_at = 0;
  if (spec.stdin_data.empty()) {
    ::close(in[1]);
    in[1] = -1;
  }
  const double deadline = start + spec.limits.wall_seconds * 1000.0;
  const size_t out_cap = static_cast<size_t>(spec.limits.output_kb) * 1024;
  char buf[65536];
  int open_outputs = 2 + (chan[0] >= 0 ? 1 : 0);
  bool exited = false;
  auto kill_now = [&] { ::kill(options_.isolate ? -1 : -pid, SIGKILL); };
  while (!exited || open_outputs > 0) {
    pollfd fds[5];
    int n = 0;
    int idx_out = -1, idx_err = -1, idx_chan = -1, idx_in = -1, idx_pid = -1;
    if (o[0] >= 0) fds[idx_out = n++] = {o[0], POLLIN, 0};
    if (e[0] >= 0) fds[idx_err = n++] = {e[0], POLLIN, 0};
    if (chan[0] >= 0) fds[idx_chan = n++] = {chan[0], POLLIN, 0};
    if (in[1] >= 0) fds[idx_in = n++] = {in[1], POLLOUT, 0};
    if (!exited && pidfd >= 0) fds[idx_pid = n++] = {pidfd, POLLIN, 0};
    int wait = static_cast<int>(std::max(0.0, deadline - now_ms()));
    if (exited) wait = std::min(wait, 1000);
    int r = ::poll(fds, static_cast<nfds_t>(n), wait);
    if (r < 0 && errno == EINTR) continue;
    if (r == 0) {
      if (!exited) out.wall_timeout = true;
      kill_now();
      exited = true;
      // Everything is dead: the pipes reach EOF (or never will, if a stray kept them: give up).
      if (now_ms() > deadline + 2000) break;
      continue;
    }
    auto drain = [&](int& fd, std::string& into, size_t cap, bool is_stdout) {
      ssize_t k = ::read(fd, buf, sizeof buf);
      if (k < 0 && errno == EINTR) return;
      if (k <= 0) {
        ::close(fd);
        fd = -1;
        --open_outputs;
        return;
      }
      size_t room = cap > into.size() ? cap - into.size() : 0;
      into.append(buf, std::min(room, static_cast<size_t>(k)));
      if (is_stdout && static_cast<size_t>(k) > room && !out.output_exceeded) {
        out.output_exceeded = true;
        kill_now();
      }
    };
    if (idx_out >= 0 && fds[idx_out].revents) drain(o[0], out.out, out_cap, true);
    if (idx_err >= 0 && fds[idx_err].revents) drain(e[0], out.err, 64 * 1024, false);
    if (idx_chan >= 0 && fds[idx_chan].revents) drain(chan[0], out.channel, 16u << 20, false);
    if (idx_in >= 0 && fds[idx_in].revents) {
      if (fds[idx_in].revents & (POLLERR | POLLHUP)) {
        ::close(in[1]);
        in[1] = -1;
      } else {
        ssize_t k = ::write(in[1], spec.stdin_data.data() + stdin_at, spec.stdin_data.size() - stdin_at);
        if (k > 0) stdin_at += static_cast<size_t>(k);
        if (stdin_at >= spec.stdin_data.size() || (k < 0 && errno != EAGAIN && errno != EINTR)) {
          ::close(in[1]);
          in[1] = -1;
        }
      }
    }
    if (idx_pid >= 0 && fds[idx_pid].revents) {
      exited = true;
      kill_now();  // daemons and stray children: nothing outlives the run
    }
  }
  for (int* fd : {&o[0], &e[0], &chan[0], &in[1]})
    if (*fd >= 0) ::close(*fd);
  if (pidfd >= 0) ::close(pidfd);
  out.wall_ms = now_ms() - start;

  int status = 0;
  rusage usage{};
  double relayed_cpu_ms = 0;
  if (in_process) {
    // The relay reaped it: its status, and the CPU time of it and the children it waited for.
    SpawnExit done;
    int none = 0;
    if (recv_with_fds(options_.spawn_fd, &done, sizeof done, nullptr, 0, &none) == static_cast<ssize_t>(sizeof done)) {
      status = done.status;
      relayed_cpu_ms = done.cpu_ms;
      usage.ru_maxrss = done.max_rss_kb;
    } else {
      status = SIGKILL;  // the relay is gone: the box is being torn down
    }
  } else {
    while (::wait4(pid, &status, 0, &usage) < 0 && errno == EINTR) {
    }
  }
  kill_leftovers(pid);
  rusage after{};
  ::getrusage(RUSAGE_CHILDREN, &after);
  auto ms = [](const timeval& t) { return t.tv_sec * 1000.0 + t.tv_usec / 1000.0; };
  out.cpu_ms = relayed_cpu_ms + ms(after.ru_utime) + ms(after.ru_stime) - ms(before.ru_utime) - ms(before.ru_stime);
  out.max_rss_kb = usage.ru_maxrss;
  if (WIFEXITED(status)) out.exit_code = WEXITSTATUS(status);
  if (WIFSIGNALED(status)) out.signal = WTERMSIG(status);
  int err = 0;
  if (read_exact(execerr[0], &err, sizeof err)) out.exec_errno = err;
  ::close(execerr[0]);
  out.oom_killed = oom_kills(options_.oom_events_fd) > oom_before;
  mark("run done");
  return out;
}

}  // namespace r1::sandbox::box
