// Reflection phrases: see reflection.h.
#include "run/reflection.h"

#include <algorithm>

#include "core/error.h"

namespace r1::run {
namespace {

char lower(char c) { return c >= 'A' && c <= 'Z' ? static_cast<char>(c - 'A' + 'a') : c; }

}  // namespace

bool reflects(std::string_view completion, const std::vector<std::string>& phrases) {
  for (const std::string& phrase : phrases) {
    if (phrase.empty() || phrase.size() > completion.size()) continue;
    const auto it = std::search(completion.begin(), completion.end(), phrase.begin(), phrase.end(),
                                [](char a, char b) { return lower(a) == lower(b); });
    if (it != completion.end()) return true;
  }
  return false;
}

void check_reflection_phrases(const std::vector<std::string>& phrases, const std::string& where) {
  for (size_t i = 0; i < phrases.size(); ++i)
    if (phrases[i].find_first_not_of(" \t\r\n") == std::string::npos)
      throw ConfigError(where + "[" + std::to_string(i) + "]: an empty phrase would match every completion");
}

}  // namespace r1::run
