#include "sandbox/box/root.h"

#include <fcntl.h>
#include <glob.h>
#include <net/if.h>
#include <sys/ioctl.h>
#include <sys/mount.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/statvfs.h>
#include <sys/syscall.h>
#include <unistd.h>

#include <cstring>
#include <sstream>

#include "sandbox/box/io.h"

namespace r1::sandbox::box {
namespace {

// Where pid 1 builds the new root, in its private mount namespace (nothing here is visible to the host),
// before pivoting into it.
const char* const kNewRoot = "/tmp";

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

void mount_root_tmpfs(const std::string& root) {
  if (::mount(nullptr, "/", nullptr, MS_REC | MS_PRIVATE, nullptr) != 0) fail("make / private");
  if (::mount("r1-box", root.c_str(), "tmpfs", MS_NOSUID | MS_NODEV, "size=16m,nr_inodes=4096,mode=0755") != 0)
    fail("mount the root tmpfs");
}

void bind_host_paths(const std::string& root, const std::vector<std::string>& binds) {
  // Merged-/usr hosts have /bin, /lib... as symlinks into /usr; copy them as symlinks.
  for (const char* top : {"/bin", "/sbin", "/lib", "/lib32", "/lib64", "/libx32"}) {
    struct stat st {};
    if (::lstat(top, &st) == 0 && S_ISLNK(st.st_mode)) bind_readonly(root, top);
  }
  for (const std::string& pattern : binds)
    for (const std::string& path : expand(pattern)) bind_readonly(root, path);
}

void make_dev(const std::string& root) {
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
}

void mount_proc(const std::string& root) {
  mkdirs(root + "/proc");
  // hidepid: the candidate sees only its own processes (not the judge's, not pid 1's).
  if (::mount("proc", (root + "/proc").c_str(), "proc", MS_NOSUID | MS_NODEV | MS_NOEXEC, "hidepid=2") != 0)
    fail("mount /proc");
}

void make_work_and_harness(const std::string& root, const Layout& layout, int64_t disk_mb, uid_t candidate_uid) {
  mkdirs(root + layout.harness);
  mkdirs(root + layout.work);
  ::symlink(layout.work.c_str(), (root + "/tmp").c_str());
  // The work tmpfs belongs to the candidate; its size bounds what the candidate can write.
  std::string opts = "size=" + std::to_string(disk_mb) + "m,nr_inodes=4096,mode=0755,uid=" +
                     std::to_string(candidate_uid) + ",gid=" + std::to_string(candidate_uid);
  if (::mount("r1-work", (root + layout.work).c_str(), "tmpfs", MS_NOSUID | MS_NODEV, opts.c_str()) != 0)
    fail("mount the work tmpfs");
}

void pivot_into(const std::string& root) {
  const std::string old = root + "/.old";
  mkdirs(old);
  if (::syscall(SYS_pivot_root, root.c_str(), old.c_str()) != 0) fail("pivot_root");
  if (::chdir("/") != 0) fail("chdir /");
  if (::umount2("/.old", MNT_DETACH) != 0) fail("detach the host's root");
  ::rmdir("/.old");
}

}  // namespace

void setup_root(const Layout& layout, const std::vector<std::string>& binds, int64_t disk_mb, uid_t candidate_uid) {
  const std::string root = kNewRoot;
  mount_root_tmpfs(root);
  bind_host_paths(root, binds);
  make_dev(root);
  mount_proc(root);
  make_work_and_harness(root, layout, disk_mb, candidate_uid);
  pivot_into(root);
  ::sethostname("sandbox", 7);
  loopback_up();
}

Layout make_weak_root() {
  char tmpl[] = "/tmp/r1-box-XXXXXX";
  if (!::mkdtemp(tmpl)) fail("mkdtemp");
  Layout layout;
  layout.root = tmpl;
  layout.work = layout.root + "/work";
  layout.harness = layout.root + "/r1";
  ::mkdir(layout.work.c_str(), 0755);
  ::mkdir(layout.harness.c_str(), 0755);
  return layout;
}

}  // namespace r1::sandbox::box
