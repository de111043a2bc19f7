// Answer extraction and the verify_math entry point of the math verifier (math.h); the parser is
// math_parse.cpp, the equivalence of parsed answers math_compare.cpp.
#include <algorithm>
#include <cctype>
#include <mutex>
#include <optional>

#include "rewards/math.h"
#include "rewards/math_compare.h"
#include "rewards/math_extract.h"
#include "rewards/math_lex.h"
#include "rewards/math_parse.h"
#include "rewards/math_plain.h"

namespace r1::rewards {
namespace {

using math::Value;

// The answer text of a prediction, which is a whole completion or just an answer: extraction applies
// when it finds something other than the final statement (a bare "1/2" is its own answer, not its
// last number "2"). nullopt when a completion states no answer.
std::optional<std::string> prediction_answer(std::string_view prediction, const MathOptions& options) {
  MathOptions marked = options;
  marked.extraction.erase(std::remove(marked.extraction.begin(), marked.extraction.end(), Extraction::kLastNumber),
                          marked.extraction.end());
  std::string found = extract_answer(prediction, marked);
  if (!found.empty()) return found;
  // No tag, box or "the answer is": the prediction is the answer if it reads as one (math, a choice,
  // short text, or refused as too large); prose with numbers or formulas in it is answered by its
  // final statement; anything else stays as written and is judged (and refused) as such.
  bool prose = prediction.find_first_of("0123456789$") != std::string_view::npos && math::reads_as_text(prediction);
  if (!prose) return std::string(prediction);
  return math::final_statement(prediction);
}

// A predicted "3,75" is also read with a decimal comma (3.75): a lone comma between digits that does
// not group thousands ("2,500" does, so it is 2500 only). Either reading may match; a bare "2,5" is
// never 25. A gold answer is read one way only: datasets write lists with commas ("-2,1").
std::optional<std::string> decimal_comma_reading(std::string_view text) {
  std::string t;
  for (char c : text) {
    if (c != ' ' && c != '$') t.push_back(c);
  }
  size_t sign = !t.empty() && (t[0] == '-' || t[0] == '+') ? 1 : 0;
  size_t comma = t.find(',');
  auto digits = [](std::string_view d) { return !d.empty() && d.find_first_not_of("0123456789") == std::string_view::npos; };
  if (comma == std::string::npos || !digits(std::string_view(t).substr(sign, comma - sign)) ||
      !digits(std::string_view(t).substr(comma + 1))) {
    return std::nullopt;
  }
  if (math::is_thousands_number(t)) return std::nullopt;
  t[comma] = '.';
  return t;
}

}  // namespace

std::string extract_answer(std::string_view completion, const MathOptions& options) {
  bool boxes = std::find(options.extraction.begin(), options.extraction.end(), Extraction::kBoxed) != options.extraction.end();
  if (boxes && math::ends_inside_box(completion)) return "";  // cut off while writing its answer
  for (Extraction rule : options.extraction) {
    std::optional<std::string> found;
    switch (rule) {
      case Extraction::kAnswerTag: found = math::answer_tag(completion, options.answer_tag); break;
      case Extraction::kBoxed: found = math::boxed_answer(completion); break;
      case Extraction::kAnswerIs: found = math::answer_is(completion); break;
      case Extraction::kLastNumber: found = math::final_statement(completion); break;
    }
    if (found) return *found;
  }
  return "";
}

namespace {

// GiNaC is not thread-safe: its expressions share nodes (and global constants such as 0 and 1)
// through plain, non-atomic reference counts, so two threads verifying at once corrupt them and
// crash (seen under the GRPO trainer's reward pool). Every GiNaC object lives inside one
// verify_math_locked call, so one lock around it makes it safe. What needs no GiNaC runs before
// the lock, in parallel: extraction, the clean-up and tokens (math_lex.h's prepare), and plain
// numbers (math_plain.h), most of what rewards see.
std::timed_mutex& ginac_mutex() {
  static std::timed_mutex m;
  return m;
}

// Takes the GiNaC lock by the caller's deadline (false: it passed first). The lock is held for
// ~10-50 us, less than putting a thread to sleep and waking it costs, so a waiter spins a while
// before it sleeps: on 2 threads, sleeping at once made two threads slower than one (0.8x), spinning
// up to 100 us made them 1.4-1.6x (r1 bench rewards, docs/benchmarks.md).
bool lock_ginac(std::unique_lock<std::timed_mutex>& lock, const Deadline& deadline) {
  constexpr auto kSpin = std::chrono::microseconds(100);
  auto spin_until = std::min(Deadline::Clock::now() + kSpin, deadline.at());
  do {
    if (lock.try_lock()) return true;
#if defined(__x86_64__) || defined(__i386__)
    __builtin_ia32_pause();
#endif
  } while (Deadline::Clock::now() < spin_until);
  if (deadline.at() == Deadline::Clock::time_point::max()) {
    lock.lock();
    return true;
  }
  return lock.try_lock_until(deadline.at());
}

// An answer prepared before the lock (math_lex.h's prepare: normalised, tokenised): its reading, or
// why it has none, and its decimal-comma reading when it has one.
struct Answer {
  std::optional<math::Prepared> reading;
  std::optional<math::ParseError> error;
  std::optional<math::Prepared> comma_reading;
};

Answer prepare_answer(const std::string& text, bool comma_reading) {
  Answer a;
  try {
    a.reading = math::prepare(text);
  } catch (const math::ParseError& e) {
    a.error = e;
  }
  if (std::optional<std::string> comma = comma_reading ? decimal_comma_reading(text) : std::nullopt) {
    try {
      a.comma_reading = math::prepare(*comma);
    } catch (const math::ParseError&) {
    }
  }
  return a;
}

MathVerdict verify_math_locked(const Answer& gold, const Answer& pred, bool blank, const MathOptions& options,
                               const Deadline& deadline);

// Verifies extracted answers: plain numbers without GiNaC, the rest under the lock.
MathVerdict verify_extracted(const std::string& gold_text, const std::string& pred_text, const MathOptions& options,
                             const Deadline& deadline) {
  Answer gold_answer = prepare_answer(gold_text, false), pred_answer = prepare_answer(pred_text, true);
  if (options.numeric_tolerance == 0 && gold_answer.reading && pred_answer.reading) {
    std::optional<MathVerdict> plain = math::compare_plain(gold_answer.reading->normalized, pred_answer.reading->normalized);
    if (plain) return *plain;
  }
  std::unique_lock<std::timed_mutex> lock(ginac_mutex(), std::defer_lock);
  if (!lock_ginac(lock, deadline)) {
    MathVerdict v;
    v.reason = "timeout";
    return v;
  }
  bool blank = pred_text.find_first_not_of(" \t\r\n") == std::string::npos;
  return verify_math_locked(gold_answer, pred_answer, blank, options, deadline);
}

}  // namespace

MathVerdict verify_math(std::string_view gold, std::string_view prediction, const MathOptions& options,
                        const Deadline& deadline) {
  std::string gold_text = math::all_boxes(gold).value_or(std::string(gold));
  std::optional<std::string> pred_text = prediction_answer(prediction, options);
  if (!pred_text) {
    MathVerdict v;
    v.reason = "no answer found";
    return v;
  }
  return verify_extracted(gold_text, *pred_text, options, deadline);
}

namespace {

// One reading of an answer: its value and the fewest significant digits of its decimals.
struct Reading {
  Value value;
  int digits = 0;
};

Reading read(math::Parser& parser, const math::Prepared& prepared) {
  Reading r;
  r.value = parser.read(prepared);
  r.digits = parser.decimal_digits();
  return r;
}

std::string refusal(const math::ParseError& e) {
  switch (e.kind) {
    case math::ParseError::kTooLarge: return e.message;
    case math::ParseError::kApproximation: return "approximation";
    case math::ParseError::kUnreadable: break;
  }
  return "unreadable answer: " + e.message;
}

MathVerdict verify_math_locked(const Answer& gold, const Answer& pred, bool blank, const MathOptions& options,
                               const Deadline& deadline) {
  math::use_high_precision();
  MathVerdict verdict;
  try {
    math::Parser parser(deadline);
    std::vector<Reading> golds, preds;
    try {
      if (gold.error) throw *gold.error;
      golds.push_back(read(parser, *gold.reading));
    } catch (const math::ParseError& e) {
      verdict.reason = "gold answer unreadable: " + e.message;
      return verdict;
    }
    verdict.gold_parsed = math::to_string(golds[0].value);
    if (blank) {
      verdict.reason = "empty answer";
      return verdict;
    }
    try {
      if (pred.error) throw *pred.error;
      preds.push_back(read(parser, *pred.reading));
    } catch (const math::ParseError& e) {
      verdict.reason = refusal(e);
      verdict.pred_parsed = e.message;
      return verdict;
    }
    verdict.pred_parsed = math::to_string(preds[0].value);
    if (pred.comma_reading) {  // only the prediction's: a gold "-2,1" is a list, never -2.1
      try {
        preds.push_back(read(parser, *pred.comma_reading));
      } catch (const math::ParseError&) {
      }
    }
    bool false_equation = false;
    for (const Reading& g : golds) {
      for (const Reading& p : preds) {
        int digits = p.digits == 0 ? g.digits : g.digits == 0 ? p.digits : std::min(g.digits, p.digits);
        math::Comparison c = math::compare_answers(g.value, p.value, parser, deadline, digits, options.numeric_tolerance);
        if (c.equal) {
          verdict.correct = true;
          return verdict;
        }
        false_equation = false_equation || c.false_equation;
      }
    }
    verdict.reason = false_equation                                                         ? "a false equation"
                     : math::is_approximation(golds[0].value, preds[0].value, preds[0].digits) ? "approximation"
                                                                                             : "not equal";
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
