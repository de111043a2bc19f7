// Errors inside r1's libraries are exceptions of type r1::Error (or a subclass); the `r1` front end
// catches them at the top level, prints one line ("r1: error: ...") and exits non-zero. Messages name
// what is at fault: the file, the line, the JSON key path or the tensor, so a user can fix it without
// reading code. Across process boundaries (gRPC) status codes travel instead, never exceptions.
#pragma once

#include <stdexcept>
#include <string>

namespace r1 {

class Error : public std::runtime_error {
 public:
  using std::runtime_error::runtime_error;
};

// A configuration or input-format error: unknown key, wrong type, malformed line.
class ConfigError : public Error {
 public:
  using Error::Error;
};

}  // namespace r1
