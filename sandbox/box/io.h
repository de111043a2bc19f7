// The descriptor and file I/O every part of r1-box uses: whole writes and exact reads that retry on
// EINTR, reads to end of file, small files, and messages with descriptors attached.
#pragma once

#include <sys/types.h>

#include <cstddef>
#include <string>

namespace r1::sandbox::box {

// Throws std::runtime_error("<what>: <strerror(errno)>"): the system call behind `what` failed.
[[noreturn]] void fail(const std::string& what);

// Writes all of `data`; false when the descriptor refuses (an error, or no reader left).
bool write_all(int fd, const void* data, size_t size);
bool write_all(int fd, const std::string& data);
// Reads exactly `size` bytes; false at an early end of file or on an error.
bool read_exact(int fd, void* data, size_t size);
// Reads to end of file, keeping what arrives while fewer than `cap` bytes are kept (the rest is read
// and dropped, so the writer never blocks).
std::string read_to_end(int fd, size_t cap);

// Writes an existing file (a cgroup or /proc file) in one write(2), as the kernel takes them; throws.
void write_file(const std::string& path, const std::string& data);
// Creates (or truncates) `path` with `mode`, refusing a symlink there, and writes `data`; throws.
void create_file(const std::string& path, const std::string& data, mode_t mode);
// A small file's whole text ("" when it cannot be read).
std::string read_small_file(const std::string& path);

// A message on a SOCK_SEQPACKET socket with descriptors attached (SCM_RIGHTS, at most 8); `tail`, when
// given, is sent after `data` in the same message.
bool send_message(int sock, const void* data, size_t size, const int* fds, int nfds);
bool send_message(int sock, const void* data, size_t size, const std::string& tail, const int* fds, int nfds);
// One message of at most `size` bytes and up to max_fds descriptors (received close-on-exec; more are
// closed); the message's length, 0 at end of file, -1 on error.
ssize_t recv_message(int sock, void* data, size_t size, int* fds, int max_fds, int* nfds);

}  // namespace r1::sandbox::box
