// Answer extraction and the verify_math entry point of the math verifier (math.h); the parser is
// math_parse.cpp, the equivalence of parsed answers math_compare.cpp.
#include <algorithm>
#include <cctype>
#include <mutex>
#include <optional>

#include "rewards/math.h"
#include "rewards/math_compare.h"
#include "rewards/math_parse.h"

namespace r1::rewards {
namespace {

using math::Value;

// Content of the last \boxed{...} or \fbox{...} (nested braces), or nullopt.
std::optional<std::string> last_boxed(std::string_view text) {
  size_t best = std::string_view::npos;
  size_t best_len = 0;
  for (std::string_view cmd : {"\\boxed", "\\fbox"}) {
    size_t at = text.rfind(cmd);
    if (at != std::string_view::npos && (best == std::string_view::npos || at > best)) {
      best = at;
      best_len = cmd.size();
    }
  }
  if (best == std::string_view::npos) return std::nullopt;
  size_t i = best + best_len;
  while (i < text.size() && text[i] == ' ') ++i;
  if (i >= text.size()) return std::nullopt;
  if (text[i] != '{') {  // \boxed 5
    size_t e = i;
    while (e < text.size() && !std::isspace(static_cast<unsigned char>(text[e])) && text[e] != '$') ++e;
    return std::string(text.substr(i, e - i));
  }
  int depth = 0;
  for (size_t k = i; k < text.size(); ++k) {
    if (text[k] == '{') ++depth;
    else if (text[k] == '}' && --depth == 0) return std::string(text.substr(i + 1, k - i - 1));
  }
  return std::nullopt;  // unbalanced
}

std::optional<std::string> last_answer_tag(std::string_view text, const std::string& tag) {
  std::string open = "<" + tag + ">", close = "</" + tag + ">";
  size_t b = text.rfind(open);
  if (b == std::string_view::npos) return std::nullopt;
  size_t e = text.find(close, b + open.size());
  if (e == std::string_view::npos) return std::nullopt;
  std::string_view inner = text.substr(b + open.size(), e - b - open.size());
  if (auto boxed = last_boxed(inner)) return boxed;
  return std::string(inner);
}

std::optional<std::string> answer_is(std::string_view text) {
  std::string lower;
  lower.reserve(text.size());
  for (char c : text) lower.push_back(static_cast<char>(std::tolower(static_cast<unsigned char>(c))));
  size_t at = std::string::npos;
  size_t len = 0;
  for (std::string_view phrase : {"the final answer is", "the answer is", "final answer:", "answer:"}) {
    size_t p = lower.rfind(phrase);
    if (p != std::string::npos && (at == std::string::npos || p > at)) {
      at = p;
      len = phrase.size();
    }
  }
  if (at == std::string::npos) return std::nullopt;
  std::string_view rest = text.substr(at + len);
  // Up to the end of the sentence: a newline, or a full stop followed by a space or the end.
  size_t end = rest.size();
  for (size_t k = 0; k < rest.size(); ++k) {
    if (rest[k] == '\n') {
      end = k;
      break;
    }
    if (rest[k] == '.' && (k + 1 == rest.size() || std::isspace(static_cast<unsigned char>(rest[k + 1])))) {
      bool decimal = k > 0 && std::isdigit(static_cast<unsigned char>(rest[k - 1])) && k + 1 < rest.size() &&
                     std::isdigit(static_cast<unsigned char>(rest[k + 1]));
      if (!decimal) {
        end = k;
        break;
      }
    }
  }
  std::string out(rest.substr(0, end));
  if (auto boxed = last_boxed(out)) return boxed;
  return out;
}

std::optional<std::string> last_number(std::string_view text) {
  size_t e = text.size();
  while (e > 0 && !std::isdigit(static_cast<unsigned char>(text[e - 1]))) --e;
  if (e == 0) return std::nullopt;
  size_t b = e;
  while (b > 0 && (std::isdigit(static_cast<unsigned char>(text[b - 1])) || text[b - 1] == '.' || text[b - 1] == ',' ||
                   text[b - 1] == '/')) {
    --b;
  }
  while (b < e && (text[b] == '.' || text[b] == ',' || text[b] == '/')) ++b;
  if (b > 0 && text[b - 1] == '-') --b;
  return std::string(text.substr(b, e - b));
}

// The answer text of a prediction, which is a whole completion or just an answer: extraction applies
// when it finds something other than the last number (a bare "1/2" is its own answer, not its last
// number "2").
std::string prediction_answer(std::string_view prediction, const MathOptions& options, const Deadline& deadline) {
  MathOptions no_number = options;
  no_number.extraction.erase(std::remove(no_number.extraction.begin(), no_number.extraction.end(), Extraction::kLastNumber),
                             no_number.extraction.end());
  std::string pred_text = extract_answer(prediction, no_number);
  if (pred_text.empty()) {
    // No tag, box or "the answer is": the prediction is the answer if it reads as one (math, a
    // choice, short text, or refused as too large); prose with numbers in it is answered by its last
    // number; anything else stays as it is and is judged (and refused) as written.
    math::Parser probe_parser(deadline);
    bool prose = false;
    try {
      Value v = probe_parser.parse(prediction);
      prose = v.kind == Value::kText && v.text.find_first_of("0123456789") != std::string::npos;
    } catch (...) {
    }
    if (prose) {
      // Prose: its last inline formula ($...$ or \(...\)), else its last number.
      std::string_view text = prediction;
      size_t close = text.rfind('$');
      size_t open = close == std::string_view::npos || close == 0 ? std::string_view::npos : text.rfind('$', close - 1);
      size_t paren_close = text.rfind("\\)");
      size_t paren_open = paren_close == std::string_view::npos ? std::string_view::npos : text.rfind("\\(", paren_close);
      if (paren_open != std::string_view::npos && (open == std::string_view::npos || paren_open > open)) {
        pred_text = std::string(text.substr(paren_open + 2, paren_close - paren_open - 2));
      } else if (open != std::string_view::npos) {
        pred_text = std::string(text.substr(open + 1, close - open - 1));
      } else {
        pred_text = extract_answer(prediction, options);
      }
    } else {
      pred_text = std::string(prediction);
    }
  }
  return pred_text;
}

}  // namespace

std::string extract_answer(std::string_view completion, const MathOptions& options) {
  for (Extraction rule : options.extraction) {
    std::optional<std::string> found;
    switch (rule) {
      case Extraction::kAnswerTag: found = last_answer_tag(completion, options.answer_tag); break;
      case Extraction::kBoxed: found = last_boxed(completion); break;
      case Extraction::kAnswerIs: found = answer_is(completion); break;
      case Extraction::kLastNumber: found = last_number(completion); break;
    }
    if (found) return *found;
  }
  return "";
}

namespace {

// GiNaC is not thread-safe: its expressions share nodes (and global constants such as 0 and 1)
// through plain, non-atomic reference counts, so two threads verifying at once corrupt them and
// crash (seen under the GRPO trainer's reward pool). Every GiNaC object lives inside one
// verify_math call, so one lock around the call makes it safe. Verifications take ~0.1 ms; a caller
// whose deadline passes while it waits gets a timeout verdict.
std::timed_mutex& ginac_mutex() {
  static std::timed_mutex m;
  return m;
}

MathVerdict verify_math_locked(std::string_view gold, std::string_view prediction, const MathOptions& options,
                               const Deadline& deadline);

}  // namespace

MathVerdict verify_math(std::string_view gold, std::string_view prediction, const MathOptions& options,
                        const Deadline& deadline) {
  std::unique_lock<std::timed_mutex> lock(ginac_mutex(), std::defer_lock);
  if (deadline.at() == Deadline::Clock::time_point::max()) {
    lock.lock();
  } else if (!lock.try_lock_until(deadline.at())) {
    MathVerdict v;
    v.reason = "timeout";
    return v;
  }
  return verify_math_locked(gold, prediction, options, deadline);
}

namespace {

MathVerdict verify_math_locked(std::string_view gold, std::string_view prediction, const MathOptions& options,
                               const Deadline& deadline) {
  math::use_high_precision();
  MathVerdict verdict;
  std::string gold_text = last_boxed(gold).value_or(std::string(gold));
  std::string pred_text = prediction_answer(prediction, options, deadline);
  try {
    math::Parser parser(deadline);
    Value g;
    try {
      g = parser.parse(gold_text);
    } catch (const math::ParseError& e) {
      verdict.reason = "gold answer unreadable: " + e.message;
      return verdict;
    }
    verdict.gold_parsed = math::to_string(g);
    int gold_digits = parser.decimal_digits();
    if (pred_text.find_first_not_of(" \t\r\n") == std::string::npos) {
      verdict.reason = "empty answer";
      return verdict;
    }
    Value p;
    try {
      p = parser.parse(pred_text);
    } catch (const math::ParseError& e) {
      verdict.reason = e.too_large ? e.message : "unreadable answer: " + e.message;
      return verdict;
    }
    int pred_digits = parser.decimal_digits();
    verdict.pred_parsed = math::to_string(p);
    int digits = pred_digits == 0 ? gold_digits : gold_digits == 0 ? pred_digits : std::min(gold_digits, pred_digits);
    verdict.correct = math::answers_equal(g, p, parser, deadline, digits);
    if (!verdict.correct) verdict.reason = "not equal";
  } catch (const DeadlineExceeded&) {
    verdict.correct = false;
    verdict.reason = "timeout";
  } catch (const std::exception& e) {
    verdict.correct = false;
    verdict.reason = std::string("error: ") + e.what();
  }
  return verdict;
}

}  // namespace

Score MathReward::score(const Sample& sample, const Components&, const Deadline& deadline) const {
  auto it = sample.reference.find(options_.answer_field);
  if (it == sample.reference.end() || (!it->is_string() && !it->is_number())) {
    throw std::runtime_error("the sample has no reference field '" + options_.answer_field + "'");
  }
  std::string gold = it->is_string() ? it->get<std::string>() : it->dump();
  MathOptions options = options_;
  std::string answer = extract_answer(sample.completion, options);
  Score s;
  if (answer.empty()) {
    s.reason = "no answer found";
    return s;
  }
  MathVerdict v = verify_math(gold, answer, options, deadline);
  if (v.reason == "timeout") throw DeadlineExceeded{};
  s.value = v.correct ? 1.0 : 0.0;
  s.reason = v.reason;
  return s;
}

}  // namespace r1::rewards
