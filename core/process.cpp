#include "core/process.h"

#include <fcntl.h>
#include <poll.h>
#include <pthread.h>
#include <signal.h>
#include <sys/prctl.h>
#include <sys/syscall.h>
#include <sys/wait.h>
#include <unistd.h>

#include <algorithm>
#include <cerrno>
#include <climits>
#include <cstdlib>
#include <cstring>
#include <filesystem>
#include <sstream>
#include <utility>

#include "core/log.h"

extern char** environ;

namespace r1 {
namespace {

using Clock = Process::Clock;
constexpr size_t kCutLineBytes = 64 << 10;  // a drained line longer than this is passed on in pieces

// Children with a parent-death signal are forked on this one thread: the kernel sends the signal when
// the thread that forked the child ends, not when the process does, so forking on a short-lived thread
// would kill the child with it. The thread is never stopped (the object is never destroyed), so it
// ends exactly when this process does.
class Spawner {
 public:
  static Spawner& instance() {
    static Spawner* spawner = new Spawner;
    return *spawner;
  }

  // Runs f on the spawner's thread and returns its result.
  pid_t run(const std::function<pid_t()>& f) {
    pid_t result = -1;
    bool finished = false;
    std::unique_lock<std::mutex> lock(mutex_);
    tasks_.push_back([&] {
      pid_t pid = f();
      std::lock_guard<std::mutex> done(mutex_);
      result = pid;
      finished = true;
      cv_.notify_all();
    });
    cv_.notify_all();
    cv_.wait(lock, [&] { return finished; });
    return result;
  }

 private:
  Spawner() : thread_([this] { loop(); }) {}
  void loop() {
    std::unique_lock<std::mutex> lock(mutex_);
    while (true) {
      cv_.wait(lock, [&] { return !tasks_.empty(); });
      auto task = std::move(tasks_.front());
      tasks_.pop_front();
      lock.unlock();
      task();
      lock.lock();
    }
  }
  std::mutex mutex_;
  std::condition_variable cv_;
  std::deque<std::function<void()>> tasks_;
  std::thread thread_;
};

// What the child does between fork and exec, prepared beforehand: only async-signal-safe calls run there.
struct ChildPlan {
  const char* exe = nullptr;
  char* const* argv = nullptr;
  char* const* envp = nullptr;
  int fds[3] = {-1, -1, -1};  // the child's stdin, stdout, stderr; -1: inherited
  int status_fd = -1;         // exec's errno goes here when exec fails
  int death_signal = 0;
  bool own_group = false;
  pid_t parent = 0;
};

[[noreturn]] void exec_child(const ChildPlan& c) {
  if (c.own_group) ::setpgid(0, 0);
  if (c.death_signal) {
    ::prctl(PR_SET_PDEATHSIG, c.death_signal);
    if (::getppid() != c.parent) ::_exit(127);  // the parent died before prctl took effect
  }
  int error = 0;
  for (int i = 0; i < 3 && !error; ++i)
    if (c.fds[i] >= 0 && ::dup2(c.fds[i], i) < 0) error = errno;  // dup2 clears close-on-exec on i
  if (!error) {
    ::execve(c.exe, c.argv, c.envp);
    error = errno;
  }
  [[maybe_unused]] auto n = ::write(c.status_fd, &error, sizeof error);
  ::_exit(127);
}

std::string errno_text(int error) { return std::strerror(error); }

// A close-on-exec descriptor numbered 3 or above, so that dup2 onto 0-2 in the child never clobbers another.
int high_fd(int fd) {
  if (fd < 0 || fd > 2) return fd;
  int moved = ::fcntl(fd, F_DUPFD_CLOEXEC, 3);
  ::close(fd);
  return moved;
}

void close_fd(int& fd) {
  if (fd >= 0) ::close(fd);
  fd = -1;
}

// The lines complete in `buffer` (taken out of it, without "\n" or "\r\n"); a piece longer than
// kCutLineBytes counts as a line, and so does the rest when `flush`.
std::vector<std::string> take_lines(std::string& buffer, bool flush) {
  std::vector<std::string> lines;
  size_t start = 0;
  for (size_t nl; (nl = buffer.find('\n', start)) != std::string::npos; start = nl + 1) {
    size_t end = nl > start && buffer[nl - 1] == '\r' ? nl - 1 : nl;
    lines.push_back(buffer.substr(start, end - start));
  }
  buffer.erase(0, start);
  if (buffer.size() > kCutLineBytes || (flush && !buffer.empty())) lines.push_back(std::exchange(buffer, {}));
  return lines;
}

// poll()'s timeout for a deadline: -1 for none, else the milliseconds left rounded up.
int poll_ms(Clock::time_point deadline) {
  if (deadline == Process::kNoDeadline) return -1;
  auto left = std::chrono::ceil<std::chrono::milliseconds>(deadline - Clock::now()).count();
  return static_cast<int>(std::clamp<long long>(left, 0, INT_MAX));
}

// Blocks SIGPIPE in this thread while a write may raise it, and takes back one the write raised, so
// a child that closed its stdin is an EPIPE here instead of the end of this process.
class SigpipeBlock {
 public:
  SigpipeBlock() {
    sigemptyset(&set_);
    sigaddset(&set_, SIGPIPE);
    pthread_sigmask(SIG_BLOCK, &set_, &old_);
    sigset_t pending;
    sigpending(&pending);
    was_pending_ = sigismember(&pending, SIGPIPE) == 1;
  }
  ~SigpipeBlock() {
    sigset_t pending;
    sigpending(&pending);
    if (!was_pending_ && sigismember(&pending, SIGPIPE) == 1) {
      timespec zero{0, 0};
      sigtimedwait(&set_, nullptr, &zero);
    }
    pthread_sigmask(SIG_SETMASK, &old_, nullptr);
  }

 private:
  sigset_t set_, old_;
  bool was_pending_ = false;
};

std::string format_seconds(double s) {
  std::ostringstream out;
  out << s << " s";
  return out.str();
}

}  // namespace

std::string find_program(const std::string& name) {
  if (name.find('/') != std::string::npos) return name;
  const char* path = std::getenv("PATH");
  std::string dirs = path ? path : "/usr/bin:/bin";
  for (size_t b = 0; b <= dirs.size();) {
    size_t e = dirs.find(':', b);
    if (e == std::string::npos) e = dirs.size();
    std::string candidate = (e > b ? dirs.substr(b, e - b) : ".") + "/" + name;
    if (::access(candidate.c_str(), X_OK) == 0) return candidate;
    b = e + 1;
  }
  return "";
}

std::string find_helper(const std::string& name, const char* env_var, const std::string& sibling, const std::string& built) {
  if (const char* env = std::getenv(env_var); env && *env) return env;
  std::error_code ec;
  const auto self = std::filesystem::read_symlink("/proc/self/exe", ec);
  if (!ec) {
    for (const auto& dir : {self.parent_path(), self.parent_path().parent_path() / sibling}) {
      const auto candidate = dir / name;
      if (::access(candidate.c_str(), X_OK) == 0) return candidate.string();
    }
  }
  if (!built.empty() && ::access(built.c_str(), X_OK) == 0) return built;
  return "";
}

Process::Process(ProcessSpec spec) : spec_(std::move(spec)) {
  if (spec_.name.empty()) {
    spec_.name = "`" + spec_.exe;
    for (const auto& a : spec_.args) spec_.name += " " + a;
    spec_.name += "`";
  }
  spawn();
}

Process::~Process() {
  stop(0);
  close_fds();
}

// Pipes and /dev/null for the chosen streams, the argument and environment arrays, a fork (on the
// spawner's thread when a parent-death signal is asked for), and a status pipe that tells an exec
// failure from a start: it closes on exec, or carries exec's errno. One function, longer than most,
// because every descriptor it opens must be closed on each of its failure paths.
void Process::spawn() {
  const std::string exe = find_program(spec_.exe);
  if (exe.empty()) throw SpawnError(spec_.name, "'" + spec_.exe + "' not found on PATH");

  std::vector<std::string> arg_strings{exe};
  arg_strings.insert(arg_strings.end(), spec_.args.begin(), spec_.args.end());
  std::vector<char*> argv;
  for (auto& a : arg_strings) argv.push_back(a.data());
  argv.push_back(nullptr);
  std::vector<std::string> env_strings;
  std::vector<char*> envp;
  if (!spec_.env.empty()) {
    auto key = [](const std::string& kv) { return kv.substr(0, kv.find('=')); };
    for (char** e = environ; e && *e; ++e) {
      bool overridden = false;
      for (const auto& kv : spec_.env) overridden = overridden || key(kv) == key(*e);
      if (!overridden) env_strings.emplace_back(*e);
    }
    env_strings.insert(env_strings.end(), spec_.env.begin(), spec_.env.end());
    for (auto& kv : env_strings) envp.push_back(kv.data());
    envp.push_back(nullptr);
  }

  // Every descriptor opened here; the child's ends are closed in this process once it has forked.
  int child_ends[3] = {-1, -1, -1}, status[2] = {-1, -1};
  auto close_all = [&] {
    for (int& fd : child_ends) close_fd(fd);
    close_fd(status[0]);
    close_fd(status[1]);
    close_fds();
  };
  auto fail = [&](const std::string& what) {
    int error = errno;
    close_all();
    throw SpawnError(spec_.name, what + ": " + errno_text(error));
  };
  const ProcessSpec::Stream streams[3] = {spec_.in, spec_.out, spec_.err};
  int* parent_ends[3] = {&in_fd_, &out_fd_, &err_fd_};
  for (int i = 0; i < 3; ++i) {
    if (streams[i] == ProcessSpec::Stream::inherit) continue;
    if (streams[i] == ProcessSpec::Stream::null) {
      child_ends[i] = high_fd(::open("/dev/null", O_RDWR | O_CLOEXEC));
      if (child_ends[i] < 0) fail("/dev/null");
      continue;
    }
    int p[2];
    if (::pipe2(p, O_CLOEXEC) != 0) fail("pipe2");
    const int child_end = i == 0 ? p[0] : p[1], parent_end = i == 0 ? p[1] : p[0];
    child_ends[i] = high_fd(child_end);
    *parent_ends[i] = parent_end;
    if (child_ends[i] < 0) fail("fcntl");
  }
  if (in_fd_ >= 0) ::fcntl(in_fd_, F_SETFL, ::fcntl(in_fd_, F_GETFL) | O_NONBLOCK);  // write() keeps its deadline
  if (::pipe2(status, O_CLOEXEC) != 0) fail("pipe2");
  status[1] = high_fd(status[1]);
  if (::pipe2(wake_, O_CLOEXEC | O_NONBLOCK) != 0) fail("pipe2");

  ChildPlan plan;
  plan.exe = exe.c_str();
  plan.argv = argv.data();
  plan.envp = envp.empty() ? environ : envp.data();
  for (int i = 0; i < 3; ++i) plan.fds[i] = child_ends[i];
  plan.status_fd = status[1];
  plan.death_signal = spec_.death_signal;
  plan.own_group = spec_.own_process_group;
  plan.parent = ::getpid();
  auto do_fork = [&plan]() -> pid_t {
    pid_t pid = ::fork();
    if (pid == 0) exec_child(plan);
    return pid;
  };
  pid_t pid = spec_.death_signal ? Spawner::instance().run(do_fork) : do_fork();
  if (pid < 0) fail("fork");
  for (int& fd : child_ends) close_fd(fd);
  close_fd(status[1]);

  int exec_error = 0;
  ssize_t got;
  while ((got = ::read(status[0], &exec_error, sizeof exec_error)) < 0 && errno == EINTR) {
  }
  close_fd(status[0]);
  if (got > 0) {
    while (::waitpid(pid, nullptr, 0) < 0 && errno == EINTR) {
    }
    close_all();
    throw SpawnError(spec_.name, exe + ": " + errno_text(exec_error));
  }

  std::lock_guard<std::mutex> lock(mutex_);
  pid_ = pid;
#ifdef SYS_pidfd_open
  pidfd_ = static_cast<int>(::syscall(SYS_pidfd_open, pid_, 0));  // -1 on old kernels: polled instead
#endif
  if (out_fd_ >= 0 || err_fd_ >= 0) reader_ = std::thread([this] { reader_loop(); });
  else reader_done_ = true;
}

void Process::close_fds() {
  for (int* fd : {&in_fd_, &out_fd_, &err_fd_, &pidfd_, &wake_[0], &wake_[1]}) close_fd(*fd);
}

void Process::wake_reader() {
  char byte = 1;
  if (wake_[1] >= 0) {
    [[maybe_unused]] auto n = ::write(wake_[1], &byte, 1);
  }
}

// Reaps the child if it has exited. A child reaped elsewhere (ECHILD) counts as exited.
void Process::try_reap_locked() {
  if (exited_ || pid_ <= 0) return;
  int status = 0;
  pid_t r = ::waitpid(pid_, &status, WNOHANG);
  if (r == pid_ || (r < 0 && errno == ECHILD)) {
    exited_ = true;
    wait_status_ = status;
    cv_.notify_all();
  }
}

// Drains stdout and stderr until both end, reaping the child when it exits. Pipes still open 200 ms
// after the exit belong to a process the child started; the loop ends then anyway.
void Process::reader_loop() {
  std::string err_buffer;
  bool out_open = out_fd_ >= 0, err_open = err_fd_ >= 0;
  std::optional<Clock::time_point> exit_seen;
  std::vector<char> chunk(64 << 10);
  while (true) {
    bool gone, want_out;
    {
      std::lock_guard<std::mutex> lock(mutex_);
      if (stop_reader_) break;
      try_reap_locked();
      gone = exited_;
      // A full buffer nobody reads stops the reading: the child waits on its pipe, not our memory.
      want_out = out_open && (out_sink_ || out_buffer_.size() <= spec_.max_line_bytes);
    }
    if (gone && !exit_seen) exit_seen = Clock::now();
    if (gone && ((!out_open && !err_open) || Clock::now() - *exit_seen > std::chrono::milliseconds(200))) break;
    pollfd p[4];
    int n = 0, out_at = -1, err_at = -1;
    if (want_out) out_at = n, p[n++] = {out_fd_, POLLIN, 0};
    if (err_open) err_at = n, p[n++] = {err_fd_, POLLIN, 0};
    const int wake_at = n;
    p[n++] = {wake_[0], POLLIN, 0};
    if (!gone && pidfd_ >= 0) p[n++] = {pidfd_, POLLIN, 0};
    int r = ::poll(p, n, gone ? 50 : (pidfd_ >= 0 ? -1 : 200));
    if (r < 0 && errno != EINTR) break;
    if (r <= 0) continue;
    if (p[wake_at].revents) {
      char drain[64];
      while (::read(wake_[0], drain, sizeof drain) > 0) {
      }
    }
    if (out_at >= 0 && p[out_at].revents) {
      ssize_t got = ::read(out_fd_, chunk.data(), chunk.size());
      if (got > 0) {
        take_stdout(chunk.data(), static_cast<size_t>(got));
      } else if (got == 0 || errno != EINTR) {
        out_open = false;
        take_stdout(nullptr, 0);
      }
    }
    if (err_at >= 0 && p[err_at].revents) {
      ssize_t got = ::read(err_fd_, chunk.data(), chunk.size());
      if (got > 0) take_stderr(err_buffer, chunk.data(), static_cast<size_t>(got), false);
      else if (got == 0 || errno != EINTR) err_open = false;
    }
  }
  take_stderr(err_buffer, nullptr, 0, true);
  take_stdout(nullptr, 0);
  std::lock_guard<std::mutex> lock(mutex_);
  reader_done_ = true;
  cv_.notify_all();
}

// size 0: stdout has ended (a last line without "\n" goes to the sink, if any).
void Process::take_stdout(const char* data, size_t size) {
  std::vector<std::string> lines;
  std::function<void(const std::string&)> sink;
  {
    std::lock_guard<std::mutex> lock(mutex_);
    if (size) out_buffer_.append(data, size);
    else out_closed_ = true;
    if (out_sink_) {
      sink = out_sink_;
      lines = take_lines(out_buffer_, size == 0);
    }
    cv_.notify_all();
  }
  if (lines.empty()) return;
  std::lock_guard<std::mutex> order(deliver_mutex_);
  for (const auto& line : lines) sink(line);
}

void Process::take_stderr(std::string& buffer, const char* data, size_t size, bool flush) {
  buffer.append(data ? data : "", size);
  for (auto& line : take_lines(buffer, flush)) {
    {
      std::lock_guard<std::mutex> lock(mutex_);
      err_tail_.push_back(line);
      while (err_tail_.size() > spec_.stderr_tail_lines) err_tail_.pop_front();
    }
    if (spec_.on_stderr_line) spec_.on_stderr_line(line);
  }
}

Process::Io Process::write(std::string_view data, Clock::time_point deadline) {
  if (spec_.in != ProcessSpec::Stream::pipe) throw Error(spec_.name + ": its stdin is not a pipe");
  if (in_fd_ < 0) return Io::closed;
  SigpipeBlock no_sigpipe;
  for (size_t done = 0; done < data.size();) {
    ssize_t n = ::write(in_fd_, data.data() + done, data.size() - done);
    if (n >= 0) {
      done += static_cast<size_t>(n);
      continue;
    }
    if (errno == EINTR) continue;
    if (errno != EAGAIN) return Io::closed;
    int ms = poll_ms(deadline);
    if (ms == 0) return Io::timeout;
    pollfd p{in_fd_, POLLOUT, 0};
    if (::poll(&p, 1, ms) < 0 && errno != EINTR) return Io::closed;
  }
  return Io::ok;
}

void Process::close_stdin() { close_fd(in_fd_); }

Process::Io Process::read_line(std::string& line, Clock::time_point deadline) {
  if (spec_.out != ProcessSpec::Stream::pipe) throw Error(spec_.name + ": its stdout is not a pipe");
  std::unique_lock<std::mutex> lock(mutex_);
  while (true) {
    if (size_t nl = out_buffer_.find('\n'); nl != std::string::npos) {
      const bool was_full = out_buffer_.size() > spec_.max_line_bytes;
      line.assign(out_buffer_, 0, nl > 0 && out_buffer_[nl - 1] == '\r' ? nl - 1 : nl);
      out_buffer_.erase(0, nl + 1);
      lock.unlock();
      if (was_full) wake_reader();
      return Io::ok;
    }
    if (out_buffer_.size() > spec_.max_line_bytes)
      throw Error(spec_.name + " wrote a line over " + std::to_string(spec_.max_line_bytes) + " bytes on stdout");
    if (interrupted_) return Io::interrupted;
    if (out_closed_) return Io::closed;
    if (Clock::now() >= deadline) return Io::timeout;
    if (deadline == kNoDeadline) cv_.wait(lock);
    else cv_.wait_until(lock, deadline);
  }
}

Process::Io Process::read_to_end(std::string& out, Clock::time_point deadline) {
  if (spec_.out != ProcessSpec::Stream::pipe) throw Error(spec_.name + ": its stdout is not a pipe");
  std::unique_lock<std::mutex> lock(mutex_);
  while (true) {
    if (!out_buffer_.empty()) {
      const bool was_full = out_buffer_.size() > spec_.max_line_bytes;
      out += std::exchange(out_buffer_, {});
      if (was_full) wake_reader();
    }
    if (out_closed_) return Io::closed;
    if (interrupted_) return Io::interrupted;
    if (Clock::now() >= deadline) return Io::timeout;
    if (deadline == kNoDeadline) cv_.wait(lock);
    else cv_.wait_until(lock, deadline);
  }
}

void Process::forward_stdout(std::function<void(const std::string&)> sink) {
  std::lock_guard<std::mutex> order(deliver_mutex_);
  std::vector<std::string> lines;
  {
    std::lock_guard<std::mutex> lock(mutex_);
    out_sink_ = std::move(sink);
    lines = take_lines(out_buffer_, out_closed_);
    sink = out_sink_;
  }
  for (const auto& line : lines) sink(line);
  wake_reader();  // it may have stopped reading a full buffer
}

void Process::interrupt() {
  std::lock_guard<std::mutex> lock(mutex_);
  interrupted_ = true;
  cv_.notify_all();
}

std::vector<std::string> Process::stderr_tail() const {
  std::lock_guard<std::mutex> lock(mutex_);
  return {err_tail_.begin(), err_tail_.end()};
}

bool Process::running() { return !exit_status(); }

std::optional<Process::ExitStatus> Process::exit_status() {
  std::lock_guard<std::mutex> lock(mutex_);
  try_reap_locked();
  if (!exited_) return std::nullopt;
  ExitStatus s;
  if (WIFEXITED(wait_status_)) s.code = WEXITSTATUS(wait_status_);
  if (WIFSIGNALED(wait_status_)) s.signal = WTERMSIG(wait_status_);
  return s;
}

std::string Process::describe_exit() {
  auto s = exit_status();
  if (!s) return "is running";
  if (s->code >= 0) return "exited with status " + std::to_string(s->code);
  if (s->signal > 0) return "was killed by signal " + std::to_string(s->signal) + " (" + ::strsignal(s->signal) + ")";
  return "ended";
}

// Polls in slices of 10 ms as well, for a child without a reader thread to reap it.
bool Process::wait_exit(Clock::time_point deadline) {
  std::unique_lock<std::mutex> lock(mutex_);
  while (true) {
    try_reap_locked();
    if (pid_ <= 0 || (exited_ && reader_done_)) return true;
    auto now = Clock::now();
    if (now >= deadline) return false;
    cv_.wait_until(lock, std::min(deadline, now + std::chrono::milliseconds(10)));
  }
}

void Process::stop(double grace_s, int first_signal) {
  if (pid_ <= 0) return;
  auto after = [](double s) {
    return Clock::now() + std::chrono::duration_cast<Clock::duration>(std::chrono::duration<double>(s));
  };
  // A child that leads its own process group is stopped with everything it started: the signals go
  // to the group, and once the leader is gone what is left of the group is killed (a grandchild that
  // ignores SIGTERM must not outlive us with parent PID 1). The group's id stays taken while any
  // member lives, so it names no one else.
  const bool group = spec_.own_process_group;
  bool signalled = false;
  {
    std::lock_guard<std::mutex> lock(mutex_);  // held while signalling: a reaped pid is never signalled
    try_reap_locked();
    if (first_signal && group) signalled = ::kill(-pid_, first_signal) == 0;
    else if (!exited_ && first_signal) signalled = ::kill(pid_, first_signal) == 0;
  }
  if (!wait_exit(after(grace_s))) {
    if (signalled && grace_s > 0)
      log::warn() << spec_.name << " (pid " << pid_ << ") did not stop within " << format_seconds(grace_s) << " of "
                  << (first_signal == SIGTERM ? std::string("SIGTERM") : "signal " + std::to_string(first_signal))
                  << "; killing it";
    {
      std::lock_guard<std::mutex> lock(mutex_);
      try_reap_locked();
      if (group) ::kill(-pid_, SIGKILL);
      else if (!exited_) ::kill(pid_, SIGKILL);
    }
    if (!wait_exit(after(30))) log::error() << spec_.name << " (pid " << pid_ << ") survived SIGKILL for 30 s";
  }
  if (group) ::kill(-pid_, SIGKILL);  // the leader is gone: the rest of its group goes too
  {
    std::lock_guard<std::mutex> lock(mutex_);
    stop_reader_ = true;
  }
  wake_reader();
  if (reader_.joinable()) reader_.join();
}

void Process::restart(double grace_s) {
  stop(grace_s);
  close_fds();
  {
    std::lock_guard<std::mutex> lock(mutex_);
    pid_ = -1;
    out_buffer_.clear();
    out_sink_ = nullptr;
    err_tail_.clear();
    out_closed_ = exited_ = interrupted_ = reader_done_ = stop_reader_ = false;
    wait_status_ = 0;
  }
  ++restarts_;
  try {
    spawn();
  } catch (...) {
    std::lock_guard<std::mutex> lock(mutex_);  // not running, and nothing to wait for
    exited_ = reader_done_ = out_closed_ = true;
    throw;
  }
}

}  // namespace r1
