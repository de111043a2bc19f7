// Reflection phrases: see reflection.h.
#include "run/reflection.h"

#include "core/text.h"

#include "core/error.h"

namespace r1::run {

bool reflects(std::string_view completion, const std::vector<std::string>& phrases) {
  return contains_any_phrase(completion, phrases);  // one matcher for the trainer's steps and the eval
}

void check_reflection_phrases(const std::vector<std::string>& phrases, const std::string& where) {
  for (size_t i = 0; i < phrases.size(); ++i)
    if (phrases[i].find_first_not_of(" \t\r\n") == std::string::npos)
      throw ConfigError(where + "[" + std::to_string(i) + "]: an empty phrase would match every completion");
}

}  // namespace r1::run
